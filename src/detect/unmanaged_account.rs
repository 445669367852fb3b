//! `unmanaged_account`: a managed account with access that no SCIM record links to.

use super::undetermined::LINK;
use super::{Finding, Index, Kind, Subject, Undetermined};

/// The fields this kind reads ([`super::undetermined`]): the account's statuses, claim status and type.
pub const READS: &[&str] = &[
    "accountStatus",
    "membershipStatus",
    "claimStatus",
    "accountType",
];

pub fn detect(index: &Index<'_>) -> Vec<Finding> {
    index
        .accounts
        .iter()
        .filter(|a| {
            a.claim_status() == Some("managed")
                && a.has_access()
                && !index.records_by_account.contains_key(a.account_id())
                && !index.maybe_linked(**a)
        })
        .map(|a| {
            let summary = format!(
                "Account {} ({}) has access but no identity provider manages it.",
                a.account_id(),
                a.email().unwrap_or("email hidden")
            );
            Finding::new(Kind::UnmanagedAccount, [], [a.account_id()], summary)
        })
        .collect()
}

/// What this kind cannot decide beyond its listed subjects: an account a record with an unknown
/// link may be linked to (it carries the account's email).
pub fn undetermined(index: &Index<'_>, u: &mut Undetermined) {
    for a in index.accounts.iter().filter(|a| index.maybe_linked(**a)) {
        u.add(
            Kind::UnmanagedAccount,
            Subject::Account(a.account_id().to_string()),
            [LINK],
        );
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;

    #[test]
    fn managed_unlinked_account_with_access() {
        let mut unmanaged_claim = account("a2", "x@gmail.example");
        unmanaged_claim.claim_status = Some("unmanaged".into());
        let mut deactivated = account("a3", "y@example.com");
        deactivated.account_status = "inactive".into();
        let found = run(
            Kind::UnmanagedAccount,
            &[linked("r1", "a@example.com", "a1")],
            &[
                account("a1", "a@example.com"),
                unmanaged_claim,
                deactivated,
                account("a5", "cy@example.org"),
            ],
        );
        assert_eq!(found.len(), 1);
        assert_eq!(ids(&found[0]), (vec![], vec!["a5"]));
    }

    #[test]
    fn an_account_a_record_of_unknown_link_may_be_linked_to_is_undetermined() {
        // The record carrying a5's email has an unreadable link: a5 may be linked, so it is
        // neither raised nor resolved as unmanaged; a6 is decided.
        let mut r = record("r5", "cy@example.org");
        r.link_unknown = true;
        let records = [r];
        let accounts = [
            account("a5", "cy@example.org"),
            account("a6", "di@example.org"),
        ];
        let d = detect_one(
            Kind::UnmanagedAccount,
            &records,
            &[],
            &accounts,
            &std::collections::HashMap::new(),
        );
        let accounts_of: Vec<Vec<&str>> = d.findings.iter().map(|f| ids(f).1).collect();
        assert_eq!(accounts_of, [vec!["a6"]]);
        let fields = |a: &str| {
            d.undetermined.fields(
                Kind::UnmanagedAccount,
                &[],
                &[a.to_string()],
                &[],
                &[],
                None,
            )
        };
        assert_eq!(fields("a5"), [super::super::undetermined::LINK]);
        assert!(fields("a6").is_empty());
    }
}
