//! `no_synced_groups`: an active, linked SCIM record that is a member of no SCIM-synced group.

use super::undetermined::reads_field;
use super::{Finding, Index, Kind, Subject, Undetermined, who};
use crate::model::ScimGroup;

/// The fields this kind reads ([`super::undetermined`]): the record's `active`, link and `groups`.
pub const READS: &[&str] = &["active", "atlassian-external", "groups", "accountType"];

pub fn detect(index: &Index<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    for r in index
        .records
        .iter()
        .copied()
        .filter(|r| r.active() == Some(true))
    {
        if r.account_id().is_none() || index.grouped.contains(&(r.directory_id(), r.scim_id())) {
            continue;
        }
        let summary = format!(
            "{} is provisioned but in no synced group, so the IdP grants no product access.",
            who(r)
        );
        let accounts = index.linked_account(r).map(|a| a.account_id());
        out.push(Finding::new(Kind::NoSyncedGroups, [r], accounts, summary));
    }
    out
}

/// What this kind cannot decide beyond its listed subjects: while a group's members cannot be
/// read, any record of its directory may be in it.
pub fn undetermined(groups: &[ScimGroup], u: &mut Undetermined) {
    for g in groups {
        let members: Vec<&String> = g
            .unknown
            .iter()
            .filter(|f| reads_field(&["members"], f))
            .collect();
        if !members.is_empty() {
            u.add(
                Kind::NoSyncedGroups,
                Subject::Directory(g.directory_id.clone()),
                members.into_iter().cloned(),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;
    use crate::model::ScimGroup;

    #[test]
    fn membership_from_groups_or_own_attribute() {
        let mut via_group = linked("r1", "a@example.com", "a1");
        via_group.groups.clear();
        let own_attr = linked("r2", "b@example.com", "a2");
        let mut none = linked("r10", "gus@example.com", "a10");
        none.groups.clear();
        let group = ScimGroup {
            directory_id: "d1".into(),
            group_id: "g1".into(),
            display_name: None,
            external_id: None,
            members: vec!["r1".into()],
            unknown: Vec::new(),
        };
        let accounts = [
            account("a1", "a@example.com"),
            account("a2", "b@example.com"),
            account("a10", "gus@example.com"),
        ];
        let found = run_with(
            Kind::NoSyncedGroups,
            &[via_group, own_attr, none],
            &[group],
            &accounts,
            &Default::default(),
        );
        assert_eq!(found.len(), 1);
        assert_eq!(ids(&found[0]), (vec!["r10"], vec!["a10"]));
    }
}
