//! `group_not_provisioned`: a pushed IdP group has no SCIM group in the directory, or (Okta) its
//! push mapping is in `ERROR`, so every member lacks the access it grants (scenarios.md "Group
//! findings"). One finding per group, not one `group_membership_missing` per member.

use super::{Finding, IdpIndex, Kind};

/// The fields this kind reads ([`super::undetermined`]): the group's `securityEnabled`, and the
/// SCIM groups' `externalId` and `displayName` (the join).
pub const READS: &[&str] = &["securityEnabled", "externalId", "displayName"];

pub fn detect(x: &IdpIndex<'_>) -> Vec<Finding> {
    x.groups
        .iter()
        .filter(|p| p.scim.is_none() && p.ambiguous.is_none())
        .map(|p| {
            let members = p.members.len();
            let s = if members == 1 { "" } else { "s" };
            let summary = match &p.group.push_error {
                Some(error) => format!(
                    "The IdP's push of the group {} ({members} direct member{s}) is in ERROR, so it pushes no memberships and its members lack the product access it grants: {error}",
                    p.label()
                ),
                None => format!(
                    "The IdP pushes the group {} ({members} direct member{s}) but the directory has no SCIM group for it, so its members lack the product access it grants.",
                    p.label()
                ),
            };
            Finding::group(Kind::GroupNotProvisioned, p.reference(), [], [], summary)
        })
        .collect()
}
