//! `stale_inactive_link`: an inactive SCIM record still linked to an account for longer than
//! `stale_after_days`: the link blocks reactivating the account in admin hub.

use chrono::{DateTime, Utc};

use super::{Finding, InactiveSince, Index, Input, Kind, RecordRef, who};

/// The fields this kind reads ([`super::undetermined`]): the record's `active`, link and `meta.lastModified`.
pub const READS: &[&str] = &[
    "active",
    "atlassian-external",
    "meta.lastModified",
    "accountType",
];

pub fn detect(index: &Index<'_>, input: &Input<'_>, stale_after_days: i64) -> Vec<Finding> {
    let mut out = Vec::new();
    for r in index
        .records
        .iter()
        .copied()
        .filter(|r| r.active() == Some(false))
    {
        let Some(account_id) = r.account_id() else {
            continue;
        };
        let key = RecordRef::of(r);
        let last_modified = r
            .last_modified()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc));
        // Seen happening beats the IdP's timestamp, which beats "since scimdrift first saw it".
        let since = match input.inactive_since.get(&key) {
            Some(InactiveSince::Observed(at)) => Some(*at),
            Some(InactiveSince::FirstSeen(at)) => last_modified.or(Some(*at)),
            None => last_modified,
        };
        let Some(since) = since else { continue };
        let days = (input.now - since).num_days();
        if days <= stale_after_days {
            continue;
        }
        let summary = format!(
            "The record for {} has been inactive for {days} days but is still linked to account {account_id}, which blocks reactivating it.",
            who(r)
        );
        let accounts = index.linked_account(r).map(|a| a.account_id());
        out.push(Finding::new(
            Kind::StaleInactiveLink,
            [r],
            accounts,
            summary,
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::super::test_support::*;
    use super::*;

    fn inactive(id: &str, days_ago: i64) -> crate::model::ScimRecord {
        let mut r = linked(id, &format!("{id}@example.com"), &format!("a-{id}"));
        r.active = Some(false);
        r.last_modified = Some((now() - chrono::Duration::days(days_ago)).to_rfc3339());
        r
    }

    #[test]
    fn older_than_the_threshold_from_last_modified() {
        let records = [inactive("r7", 45), inactive("r1", 10), inactive("r9", 1)];
        let accounts: Vec<_> = records
            .iter()
            .map(|r| account(r.account_id.as_deref().unwrap(), "x@example.com"))
            .collect();
        let found = run(Kind::StaleInactiveLink, &records, &accounts);
        assert_eq!(found.len(), 1);
        assert_eq!(ids(&found[0]), (vec!["r7"], vec!["a-r7"]));
    }

    #[test]
    fn history_wins_over_last_modified() {
        // lastModified says 45 days, but scimdrift saw it go inactive 5 days ago.
        let r = inactive("r7", 45);
        let mut since = HashMap::new();
        since.insert(
            RecordRef::of_record(&r),
            InactiveSince::Observed(now() - chrono::Duration::days(5)),
        );
        let found = run_with(
            Kind::StaleInactiveLink,
            std::slice::from_ref(&r),
            &[],
            &[account("a-r7", "x@example.com")],
            &since,
        );
        assert!(found.is_empty());
        since.insert(
            RecordRef::of_record(&r),
            InactiveSince::Observed(now() - chrono::Duration::days(31)),
        );
        let found = run_with(
            Kind::StaleInactiveLink,
            &[r],
            &[],
            &[account("a-r7", "x@example.com")],
            &since,
        );
        assert_eq!(found.len(), 1);
    }

    #[test]
    fn without_a_usable_last_modified_since_first_seen_inactive() {
        let mut r = inactive("r7", 0);
        r.last_modified = None;
        let accounts = [account("a-r7", "x@example.com")];
        let check = |since: &HashMap<RecordRef, InactiveSince>| {
            run_with(
                Kind::StaleInactiveLink,
                std::slice::from_ref(&r),
                &[],
                &accounts,
                since,
            )
            .len()
        };
        assert_eq!(check(&HashMap::new()), 0, "no date at all: not yet");
        let first_seen = |days| {
            HashMap::from([(
                RecordRef::of_record(&r),
                InactiveSince::FirstSeen(now() - chrono::Duration::days(days)),
            )])
        };
        assert_eq!(check(&first_seen(29)), 0);
        assert_eq!(check(&first_seen(31)), 1);
        // With a usable lastModified (2 days ago), first-seen history does not override it.
        let mut fresh = r.clone();
        fresh.last_modified = Some((now() - chrono::Duration::days(2)).to_rfc3339());
        let found = run_with(
            Kind::StaleInactiveLink,
            &[fresh],
            &[],
            &accounts,
            &first_seen(40),
        );
        assert!(found.is_empty());
    }
}
