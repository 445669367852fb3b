//! `email_mismatch`: a SCIM record is linked to an existing account whose email differs.

use super::{Finding, Index, Kind, who};

/// The fields this kind reads ([`super::undetermined`]): the record's emails and link; the account's email and type.
pub const READS: &[&str] = &[
    "emails",
    "userName",
    "atlassian-external",
    "email",
    "accountType",
];

pub fn detect(index: &Index<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    for r in index.records.iter().copied() {
        let (Some(email), Some(a)) = (r.email_key(), index.linked_account(r)) else {
            continue;
        };
        let (Some(account_email), Some(account_key)) = (a.email(), a.email_key()) else {
            continue;
        };
        if email != account_key {
            let summary = format!(
                "The IdP says {} but the linked account {} still has {account_email}: an email update did not reach Atlassian.",
                who(r),
                a.account_id()
            );
            out.push(Finding::new(
                Kind::EmailMismatch,
                [r],
                [a.account_id()],
                summary,
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;

    #[test]
    fn linked_account_with_other_email() {
        let found = run(
            Kind::EmailMismatch,
            &[
                linked("r3", "bo.new@example.com", "a3"),
                linked("r4", "Same@Example.com", "a4"),
            ],
            &[
                account("a3", "bo.old@example.com"),
                account("a4", "same@example.com"),
            ],
        );
        assert_eq!(found.len(), 1);
        assert_eq!(ids(&found[0]), (vec!["r3"], vec!["a3"]));
    }

    #[test]
    fn hidden_email_or_missing_account_is_not_a_mismatch() {
        let mut hidden = account("a1", "x@example.com");
        hidden.email = None;
        let found = run(
            Kind::EmailMismatch,
            &[
                linked("r1", "x@example.com", "a1"),
                linked("r2", "y@example.com", "gone"),
            ],
            &[hidden],
        );
        assert!(found.is_empty());
    }
}
