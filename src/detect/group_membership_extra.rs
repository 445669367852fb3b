//! `group_membership_extra`: an active SCIM record is in a SCIM group joined to a pushed IdP group
//! while its IdP user is not a direct member of that IdP group — a mover keeps the access of their
//! old team (scenarios.md "Group findings"). The IdP user is one the IdP still means to provision
//! (intended, enabled): a leaver's record (disabled, deleted, no longer intended) is
//! `idp_disabled_scim_active`'s, not one more finding per group it was in.

use std::collections::{HashMap, HashSet};

use super::{Finding, IdpIndex, Index, Kind, who};

/// The fields this kind reads: [`super::group_join::MEMBERSHIP_READS`].
pub const READS: &[&str] = super::group_join::MEMBERSHIP_READS;

pub fn detect(x: &IdpIndex<'_>, index: &Index<'_>) -> Vec<Finding> {
    // Each SCIM group's members are looked up, not every record per group: linear in memberships.
    let by_id: HashMap<&str, usize> = x
        .records
        .iter()
        .enumerate()
        .map(|(i, (r, _))| (r.scim_id(), i))
        .collect();
    let mut naming: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, (r, _)) in x.records.iter().enumerate() {
        for g in r.groups() {
            naming.entry(g).or_default().push(i);
        }
    }
    let mut out = Vec::new();
    for p in &x.groups {
        let Some((s, _)) = p.scim else { continue };
        let members: HashSet<usize> = s
            .members
            .iter()
            .filter_map(|m| by_id.get(m.as_str()).copied())
            .chain(
                naming
                    .get(s.group_id.as_str())
                    .into_iter()
                    .flatten()
                    .copied(),
            )
            .collect();
        let mut members: Vec<usize> = members.into_iter().collect();
        members.sort_unstable();
        for i in members {
            let (r, joined) = &x.records[i];
            let Some((u, key)) = joined else {
                continue; // no IdP user: orphan_scim_record's
            };
            if r.active() != Some(true) || !IdpIndex::wanted(u) || u.groups.contains(&p.group.id) {
                continue;
            }
            let account = index.linked_account(*r).map(|a| a.account_id());
            out.push(
                Finding::group(
                    Kind::GroupMembershipExtra,
                    p.reference(),
                    [*r],
                    account,
                    format!(
                        "{} is in the SCIM group of {} but not in the IdP group any more, so they keep the product access it grants{}.",
                        who(*r),
                        p.label(),
                        key.note()
                    ),
                )
                .with_idp_users([*u]),
            );
        }
    }
    out
}
