//! `email_conflict`: an active SCIM record's email is the email of an account other than the one it is
//! linked to (provisioning fails with "Resource [USER]: with email[…] already exists").

use super::{Finding, Index, Kind, who};

/// The fields this kind reads ([`super::undetermined`]): the record's `active`, emails and link; the holders' emails and types.
pub const READS: &[&str] = &[
    "active",
    "emails",
    "userName",
    "atlassian-external",
    "email",
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
        let Some(email) = r.email_key() else { continue };
        let Some(holders) = index.accounts_by_email.get(email) else {
            continue;
        };
        for a in holders
            .iter()
            .filter(|a| r.account_id() != Some(a.account_id()))
        {
            let summary = format!(
                "The IdP's active record for {} cannot own its email: account {} already holds it.",
                who(r),
                a.account_id()
            );
            out.push(Finding::new(
                Kind::EmailConflict,
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
    fn unlinked_record_whose_email_an_account_holds() {
        let mut r1 = linked("r1", "ana@example.com", "a1");
        r1.active = Some(false);
        let found = run(
            Kind::EmailConflict,
            &[r1, record("r2", "Ana@Example.com")],
            &[account("a1", "ana@example.com")],
        );
        assert_eq!(found.len(), 1);
        assert_eq!(ids(&found[0]), (vec!["r2"], vec!["a1"]));
    }

    #[test]
    fn record_linked_to_the_holder_or_inactive_or_unknown_is_fine() {
        let mut inactive = record("r2", "bo@example.com");
        inactive.active = Some(false);
        let mut unknown = record("r3", "bo@example.com");
        unknown.active = None;
        let found = run(
            Kind::EmailConflict,
            &[linked("r1", "bo@example.com", "a1"), inactive, unknown],
            &[account("a1", "bo@example.com")],
        );
        assert!(found.is_empty());
    }
}
