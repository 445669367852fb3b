//! `deactivated_idp_active`: an active SCIM record is linked to an account that is deactivated
//! (`accountStatus` `inactive`/`closed`) or suspended (`membershipStatus` `suspended`).

use super::{Finding, Index, Kind, who};

/// The fields this kind reads ([`super::undetermined`]): the record's `active` and link; the account's statuses and type.
pub const READS: &[&str] = &[
    "active",
    "atlassian-external",
    "accountStatus",
    "membershipStatus",
    "accountType",
];

pub fn detect(index: &Index<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    for r in index
        .records
        .iter()
        .copied()
        .filter(|r| r.active() == Some(true))
    {
        let Some(a) = index.linked_account(r) else {
            continue;
        };
        let state = match (a.account_status(), a.membership_status()) {
            ("inactive", _) => "deactivated",
            ("closed", _) => "closed",
            (_, "suspended") => "suspended",
            _ => continue,
        };
        let summary = format!(
            "The IdP says {} is active, but their account {} is {state} in Atlassian.",
            who(r),
            a.account_id()
        );
        out.push(Finding::new(
            Kind::DeactivatedIdpActive,
            [r],
            [a.account_id()],
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
    fn deactivated_closed_or_suspended() {
        let mut a1 = account("a1", "a@example.com");
        a1.account_status = "inactive".into();
        let mut a2 = account("a2", "b@example.com");
        a2.account_status = "closed".into();
        let mut a3 = account("a3", "c@example.com");
        a3.membership_status = "suspended".into();
        let a4 = account("a4", "d@example.com");
        let mut r5 = linked("r5", "e@example.com", "a1");
        r5.active = Some(false);
        let found = run(
            Kind::DeactivatedIdpActive,
            &[
                linked("r1", "a@example.com", "a1"),
                linked("r2", "b@example.com", "a2"),
                linked("r3", "c@example.com", "a3"),
                linked("r4", "d@example.com", "a4"),
                r5,
            ],
            &[a1, a2, a3, a4],
        );
        let got: Vec<_> = found.iter().map(ids).collect();
        assert_eq!(
            got,
            vec![
                (vec!["r1"], vec!["a1"]),
                (vec!["r2"], vec!["a2"]),
                (vec!["r3"], vec!["a3"])
            ]
        );
    }
}
