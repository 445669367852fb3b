//! `group_membership_missing`: an intended, enabled IdP user who is a direct member of a pushed
//! group, and whose own SCIM record is active, is not in that group's SCIM group (scenarios.md
//! "Group findings").

use super::idp_index::label;
use super::{Finding, IdpIndex, Index, Kind, who};

/// The fields this kind reads: [`super::group_join::MEMBERSHIP_READS`].
pub const READS: &[&str] = super::group_join::MEMBERSHIP_READS;

pub fn detect(x: &IdpIndex<'_>, index: &Index<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    for p in x.groups.iter().filter(|p| p.scim.is_some()) {
        for u in p.members.iter().filter(|u| IdpIndex::wanted(u)) {
            let Some(own) = x.records_of.get(u.id.as_str()) else {
                continue; // no record at all: assigned_not_provisioned's
            };
            for (r, key) in own.iter().filter(|(r, _)| r.active() == Some(true)) {
                if p.scim_has(r.scim_id(), r.groups()) {
                    continue;
                }
                let account = index.linked_account(*r).map(|a| a.account_id());
                out.push(Finding::group(
                    Kind::GroupMembershipMissing,
                    p.reference(),
                    [*r],
                    account,
                    format!(
                        "{} is in the IdP group {} but {} is not in its SCIM group, so they lack the product access it grants{}.",
                        label(u),
                        p.label(),
                        if who(*r).eq_ignore_ascii_case(label(u)) {
                            "their SCIM record".to_string()
                        } else {
                            format!("their SCIM record {}", who(*r))
                        },
                        key.note()
                    ),
                )
                .with_idp_users([*u]));
            }
        }
    }
    out
}
