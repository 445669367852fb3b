//! `unlinked_scim_user`: an active SCIM record has no linked account.

use super::{Finding, Index, Kind, who};

/// The fields this kind reads ([`super::undetermined`]): the record's `active` and link.
pub const READS: &[&str] = &["active", "atlassian-external"];

pub fn detect(index: &Index<'_>) -> Vec<Finding> {
    index
        .records
        .iter()
        .copied()
        .filter(|r| r.active() == Some(true) && r.account_id().is_none())
        .map(|r| {
            let summary = format!(
                "The IdP's active record for {} is not linked to any Atlassian account.",
                who(r)
            );
            Finding::new(Kind::UnlinkedScimUser, [r], [], summary)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;

    #[test]
    fn only_active_unlinked_records() {
        let mut inactive = record("r2", "b@example.com");
        inactive.active = Some(false);
        let mut unknown = record("r3", "c@example.com");
        unknown.active = None;
        let found = run(
            Kind::UnlinkedScimUser,
            &[
                record("r1", "a@example.com"),
                inactive,
                unknown,
                linked("r4", "d@example.com", "a4"),
            ],
            &[account("a4", "d@example.com")],
        );
        assert_eq!(found.len(), 1);
        assert_eq!(ids(&found[0]), (vec!["r1"], vec![]));
    }
}
