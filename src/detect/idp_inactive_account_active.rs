//! `idp_inactive_account_active`: an account has access (or a status scimdrift cannot read, which may
//! give access) and every SCIM record linked to it is inactive: the IdP deprovisioned the person
//! and they keep access.

use super::undetermined::LINK;
use super::{Finding, Index, Kind, Subject, Undetermined};

/// The fields this kind reads ([`super::undetermined`]): the records' `active` and links; the account's statuses and type.
pub const READS: &[&str] = &[
    "active",
    "atlassian-external",
    "accountStatus",
    "membershipStatus",
    "accountType",
];

pub fn detect(index: &Index<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    for (account_id, records) in &index.records_by_account {
        let Some(a) = index.account_by_id.get(account_id) else {
            continue;
        };
        // An unknown status may still give access: the finding stays (a suspend re-reads first).
        // A record whose link could not be read may be linked to it and active: not for sure.
        if a.lacks_access()
            || !records.iter().all(|r| r.active() == Some(false))
            || index.maybe_linked(*a)
        {
            continue;
        }
        let summary = format!(
            "The IdP deprovisioned {} but account {account_id} still has access to Atlassian.",
            a.email().unwrap_or("this person")
        );
        out.push(Finding::new(
            Kind::IdpInactiveAccountActive,
            records.iter().copied(),
            [*account_id],
            summary,
        ));
    }
    out
}

/// What this kind cannot decide beyond its listed subjects: an account a record with an unknown
/// link may be linked to (it carries the account's email), and an account linked to a record whose
/// `active` is unknown (that one may be active).
pub fn undetermined(index: &Index<'_>, u: &mut Undetermined) {
    for a in &index.accounts {
        if index.maybe_linked(*a) {
            u.add(
                Kind::IdpInactiveAccountActive,
                Subject::Account(a.account_id().to_string()),
                [LINK],
            );
        }
    }
    for (account_id, records) in &index.records_by_account {
        if records.iter().any(|r| r.active().is_none()) {
            u.add(
                Kind::IdpInactiveAccountActive,
                Subject::Account(account_id.to_string()),
                ["active"],
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;

    #[test]
    fn leaver_keeps_access() {
        let mut r9 = linked("r9", "fay@example.com", "a9");
        r9.active = Some(false);
        let found = run(
            Kind::IdpInactiveAccountActive,
            &[r9],
            &[account("a9", "fay@example.com")],
        );
        assert_eq!(found.len(), 1);
        assert_eq!(ids(&found[0]), (vec!["r9"], vec!["a9"]));
    }

    #[test]
    fn one_active_or_unknown_record_or_no_access_means_no_finding() {
        let mut off = linked("r1", "a@example.com", "a1");
        off.active = Some(false);
        let mut mut_off2 = linked("r3", "b@example.com", "a2");
        mut_off2.active = Some(false);
        let mut unknown = linked("r4", "b@example.com", "a2");
        unknown.active = None;
        let mut off3 = linked("r5", "c@example.com", "a3");
        off3.active = Some(false);
        let mut suspended = account("a3", "c@example.com");
        suspended.membership_status = "suspended".into();
        let found = run(
            Kind::IdpInactiveAccountActive,
            &[
                off,
                linked("r2", "a@example.com", "a1"),
                mut_off2,
                unknown,
                off3,
            ],
            &[
                account("a1", "a@example.com"),
                account("a2", "b@example.com"),
                suspended,
            ],
        );
        assert!(found.is_empty(), "{found:?}");
    }

    #[test]
    fn an_unknown_status_may_give_access_and_keeps_the_leaver() {
        let mut r = linked("r9", "fay@example.com", "a9");
        r.active = Some(false);
        let mut a = account("a9", "fay@example.com");
        a.account_status = "unknown".into();
        assert!(!a.has_access() && !a.lacks_access());
        assert_eq!(
            run(
                Kind::IdpInactiveAccountActive,
                std::slice::from_ref(&r),
                &[a.clone()]
            )
            .len(),
            1
        );
        a.membership_status = "suspended".into();
        assert!(a.lacks_access());
        assert!(run(Kind::IdpInactiveAccountActive, &[r], &[a]).is_empty());
    }

    #[test]
    fn an_account_linked_to_a_record_of_unknown_state_is_undetermined_not_resolved() {
        // The leaver's account is also linked to a record whose `active` is unreadable: that one
        // may be active, so the finding is neither raised nor resolved (kept as it was).
        let mut r9 = linked("r9", "fay@example.com", "a9");
        r9.active = Some(false);
        let mut r10 = linked("r10", "fay@example.com", "a9");
        r10.active = None;
        let records = [r9, r10];
        let accounts = [account("a9", "fay@example.com")];
        let d = detect_one(
            Kind::IdpInactiveAccountActive,
            &records,
            &[],
            &accounts,
            &std::collections::HashMap::new(),
        );
        assert!(d.findings.is_empty());
        let fields = d.undetermined.fields(
            Kind::IdpInactiveAccountActive,
            &[],
            &["a9".to_string()],
            &[],
            &[],
            None,
        );
        assert_eq!(fields, ["active"]);
        // Another account is not touched by it.
        assert!(
            d.undetermined
                .fields(
                    Kind::IdpInactiveAccountActive,
                    &[],
                    &["a1".to_string()],
                    &[],
                    &[],
                    None
                )
                .is_empty()
        );
    }
}
