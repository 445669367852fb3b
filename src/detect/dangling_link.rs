//! `dangling_link`: a SCIM record is linked to an account id the org does not have.

use super::{Finding, Index, Kind, who};

/// The fields this kind reads ([`super::undetermined`]): the record's link.
pub const READS: &[&str] = &["atlassian-external"];

pub fn detect(index: &Index<'_>) -> Vec<Finding> {
    index
        .records
        .iter().copied()
        .filter_map(|r| {
            let id = r.account_id()?;
            if index.exists(id) {
                return None;
            }
            let summary = format!(
                "The record for {} is linked to account id {id}, which the organization does not have.",
                who(r)
            );
            Some(Finding::new(Kind::DanglingLink, [r], [], summary))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;

    #[test]
    fn link_to_unknown_account() {
        let found = run(
            Kind::DanglingLink,
            &[
                linked("r11", "hal@example.com", "gone-11"),
                linked("r1", "a@example.com", "a1"),
            ],
            &[account("a1", "a@example.com")],
        );
        assert_eq!(found.len(), 1);
        assert_eq!(ids(&found[0]), (vec!["r11"], vec![]));
        assert!(found[0].summary.contains("gone-11"));
    }
}
