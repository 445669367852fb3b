//! `duplicate_email`: 2+ SCIM records (any directories) share an email and are not all linked to the
//! same account. Lists all records sharing it and their linked accounts that exist in the org.

use std::collections::HashSet;

use super::{Finding, Index, Kind};

/// The fields this kind reads ([`super::undetermined`]): records: their emails (`userName` stands in) and links.
pub const READS: &[&str] = &["emails", "userName", "atlassian-external", "accountType"];

pub fn detect(index: &Index<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    for (email, records) in &index.records_by_email {
        if records.len() < 2 {
            continue;
        }
        let links: HashSet<Option<&str>> = records.iter().map(|r| r.account_id()).collect();
        if links.len() == 1 && !links.contains(&None) {
            continue;
        }
        let accounts = records
            .iter()
            .filter_map(|r| index.linked_account(*r))
            .map(|a| a.account_id());
        let summary = format!(
            "{} SCIM records carry {email} but are not linked to one account, so the IdP and Atlassian disagree on who this person is.",
            records.len()
        );
        out.push(Finding::new(
            Kind::DuplicateEmail,
            records.iter().copied(),
            accounts,
            summary,
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;

    #[test]
    fn rehire_gives_one_finding_with_both_records() {
        let mut r2 = record("r2", "ANA@example.com ");
        r2.directory_id = "d2".into();
        let found = run(
            Kind::DuplicateEmail,
            &[
                linked("r1", "ana@example.com", "a1"),
                r2,
                linked("r3", "ok@example.com", "a3"),
            ],
            &[
                account("a1", "ana@example.com"),
                account("a3", "ok@example.com"),
            ],
        );
        assert_eq!(found.len(), 1);
        assert_eq!(ids(&found[0]), (vec!["r1", "r2"], vec!["a1"]));
    }

    #[test]
    fn same_account_from_two_directories_is_not_drift() {
        let mut r2 = linked("r2", "bo@example.com", "a1");
        r2.directory_id = "d2".into();
        let found = run(
            Kind::DuplicateEmail,
            &[linked("r1", "bo@example.com", "a1"), r2],
            &[account("a1", "bo@example.com")],
        );
        assert!(found.is_empty());
    }

    #[test]
    fn only_existing_accounts_are_listed_and_tags_are_significant() {
        let found = run(
            Kind::DuplicateEmail,
            &[
                linked("r1", "cy@example.com", "a1"),
                linked("r2", "cy@example.com", "gone"),
                record("r3", "cy+x@example.com"),
            ],
            &[account("a1", "cy@example.com")],
        );
        assert_eq!(found.len(), 1);
        assert_eq!(ids(&found[0]), (vec!["r1", "r2"], vec!["a1"]));
    }
}
