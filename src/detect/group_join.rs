//! The pushed IdP groups of one directory and their join to its SCIM groups (scenarios.md "Group
//! findings"). *Pushed*: assigned to the app, security-enabled, and the job's schema maps groups
//! (or could not be read: assumed). *Join*: the SCIM group whose `externalId` is the IdP group's id,
//! else — only when no SCIM group of the directory carries that id — the one whose `displayName`
//! equals the group's name case-insensitively; at most one.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use super::undetermined::reads_field;
use super::{GroupRef, IdpIndex, Kind, Subject, Undetermined};
use crate::model::ScimGroup;
use crate::model::idp::{AssignedGroup, IdpSide, IdpUser};

/// The fields the membership kinds (`group_membership_missing`, `group_membership_extra`) read
/// ([`super::undetermined`]): the IdP user's `accountEnabled` and intent, the record's `active`,
/// own `groups`, link and join keys, the SCIM group's `members`.
pub const MEMBERSHIP_READS: &[&str] = &[
    "accountEnabled",
    crate::model::idp::IdpUser::OKTA_STATUS,
    "intent",
    "active",
    "groups",
    "members",
    super::undetermined::LINK,
    super::undetermined::RECORD_JOIN[0],
    super::undetermined::RECORD_JOIN[1],
    super::undetermined::RECORD_JOIN[2],
    "accountType",
];

/// Which key joined an IdP group to a SCIM group (the `joined_by` of the JSON contract).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum GroupKey {
    /// The SCIM group's `externalId` is the IdP group's id (Entra's default group mapping).
    #[serde(rename = "externalId")]
    ExternalId,
    /// The names are equal, case-insensitively (Okta pushes the group's name).
    #[serde(rename = "displayName")]
    DisplayName,
}

impl GroupKey {
    pub fn as_str(self) -> &'static str {
        match self {
            GroupKey::ExternalId => "externalId",
            GroupKey::DisplayName => "displayName",
        }
    }
}

/// One pushed IdP group with the SCIM group it joined.
#[derive(Debug)]
pub struct PushedGroup<'a> {
    pub group: &'a AssignedGroup,
    /// The joined SCIM group and the key that joined it; `None` when none matched, or when two
    /// matched (`ambiguous`).
    pub scim: Option<(&'a ScimGroup, GroupKey)>,
    /// Two or more SCIM groups matched by the same key: no join, and no group finding decides.
    pub ambiguous: Option<GroupKey>,
    /// The IdP users that are direct members.
    pub members: Vec<&'a IdpUser>,
    /// The SCIM ids the joined SCIM group lists as members.
    scim_members: HashSet<&'a str>,
    directory_id: &'a str,
}

impl<'a> PushedGroup<'a> {
    /// The group as a finding names it.
    pub fn reference(&self) -> GroupRef {
        GroupRef {
            directory_id: self.directory_id.to_string(),
            idp_group_id: self.group.id.clone(),
            scim_group_id: self.scim.map(|(s, _)| s.group_id.clone()),
            display_name: self.group.display_name.clone(),
            joined_by: self.scim.map(|(_, k)| k),
        }
    }

    /// Whether the record `scim_id` whose own `groups` attribute lists `groups` is in the joined
    /// SCIM group: listed in its `members`, or naming it in its own `groups` (atlassian-api.md,
    /// SCIM groups). False when no SCIM group joined.
    pub fn scim_has<G: AsRef<str>>(
        &self,
        scim_id: &str,
        groups: impl IntoIterator<Item = G>,
    ) -> bool {
        self.scim.is_some_and(|(s, _)| {
            self.scim_members.contains(scim_id)
                || groups.into_iter().any(|g| g.as_ref() == s.group_id)
        })
    }

    /// A short label: the group's name, else its id.
    pub fn label(&self) -> &str {
        self.group.display_name.as_deref().unwrap_or(&self.group.id)
    }
}

/// The pushed groups of `side`, joined to `scim_groups` (the directory's). Empty when the schema
/// maps no groups. A group whose `securityEnabled` is unknown is left out ([`undetermined`] says).
pub fn pushed<'a>(side: &'a IdpSide, scim_groups: &[&'a ScimGroup]) -> Vec<PushedGroup<'a>> {
    if side.mapping.groups_pushed == Some(false) {
        return Vec::new();
    }
    let mut by_external: HashMap<String, Vec<&ScimGroup>> = HashMap::new();
    let mut by_name: HashMap<String, Vec<&ScimGroup>> = HashMap::new();
    for g in scim_groups {
        if let Some(x) = g.external_id.as_deref().filter(|x| !x.trim().is_empty()) {
            by_external
                .entry(x.trim().to_lowercase())
                .or_default()
                .push(g);
        }
        if let Some(n) = g.display_name.as_deref().filter(|n| !n.trim().is_empty()) {
            by_name.entry(n.trim().to_lowercase()).or_default().push(g);
        }
    }
    let mut members: HashMap<&str, Vec<&IdpUser>> = HashMap::new();
    for u in &side.users {
        for g in &u.groups {
            members.entry(g.as_str()).or_default().push(u);
        }
    }
    // A SCIM group carrying an assigned group's id is that group's: never joined to another by
    // name (Entra allows two groups of one name).
    let claimed: std::collections::HashSet<*const ScimGroup> = side
        .groups
        .iter()
        .filter_map(|g| by_external.get(&g.id.trim().to_lowercase()))
        .flatten()
        .map(|g| *g as *const ScimGroup)
        .collect();
    let mut joins: Vec<Join<'_>> = side
        .groups
        .iter()
        .filter(|g| g.security_enabled == Some(true))
        .map(|g| {
            let (candidates, key): (Vec<&ScimGroup>, GroupKey) =
                match by_external.get(&g.id.trim().to_lowercase()) {
                    Some(c) => (c.clone(), GroupKey::ExternalId),
                    None => {
                        let name = g.display_name.as_deref().map(|n| n.trim().to_lowercase());
                        let found = name
                            .and_then(|n| by_name.get(&n))
                            .map(|c| {
                                c.iter()
                                    .copied()
                                    .filter(|s| !claimed.contains(&(*s as *const ScimGroup)))
                                    .collect()
                            })
                            .unwrap_or_default();
                        (found, GroupKey::DisplayName)
                    }
                };
            match candidates.as_slice() {
                [one] => (g, Some((*one, key)), None),
                [_, _, ..] => (g, None, Some(key)),
                [] => (g, None, None),
            }
        })
        .collect();
    // At most one IdP group per SCIM group: two joined to one by name decide neither.
    let mut by_scim: HashMap<*const ScimGroup, usize> = HashMap::new();
    for (_, scim, _) in &joins {
        if let Some((s, GroupKey::DisplayName)) = scim {
            *by_scim.entry(*s as *const ScimGroup).or_default() += 1;
        }
    }
    for j in &mut joins {
        if let Some((s, GroupKey::DisplayName)) = j.1
            && by_scim.get(&(s as *const ScimGroup)).copied().unwrap_or(0) > 1
        {
            j.1 = None;
            j.2 = Some(GroupKey::DisplayName);
        }
    }
    // A push in ERROR (Okta) pushes no membership: the group is not provisioned, whatever SCIM
    // group its name matches (often the Atlassian-made one the error says "already exists").
    for j in joins.iter_mut().filter(|j| j.0.push_error.is_some()) {
        j.1 = None;
        j.2 = None;
    }
    joins
        .into_iter()
        .map(|(g, scim, ambiguous)| PushedGroup {
            group: g,
            scim,
            ambiguous,
            members: members.remove(g.id.as_str()).unwrap_or_default(),
            scim_members: scim
                .map(|(s, _)| s.members.iter().map(String::as_str).collect())
                .unwrap_or_default(),
            directory_id: &side.directory_id,
        })
        .collect()
}

/// An IdP group, the SCIM group it joined and how, or the key two matched by.
type Join<'a> = (
    &'a AssignedGroup,
    Option<(&'a ScimGroup, GroupKey)>,
    Option<GroupKey>,
);

/// What the group kinds cannot decide in `x`'s directory (unknown is never evidence): a group
/// whose `securityEnabled` is unknown (pushed or not); a join two SCIM groups match; every group
/// while a SCIM group's `externalId` or `displayName` is unknown (it may be any group's); and the
/// memberships of a joined SCIM group whose `members` are unknown.
pub fn undetermined(x: &IdpIndex<'_>, kinds: &[Kind], u: &mut Undetermined) {
    let side = &x.input.side;
    if side.scope_all || side.mapping.groups_pushed == Some(false) {
        return;
    }
    let group_kinds: Vec<Kind> = kinds.iter().copied().filter(|k| k.is_group()).collect();
    // The pushed groups themselves are unknown (Okta's group-push mappings unreadable): every
    // group finding of the directory keeps its state.
    if side.groups_unread.is_some() {
        for &kind in &group_kinds {
            u.add(
                kind,
                Subject::Directory(x.directory_id.to_string()),
                ["group pushes"],
            );
        }
    }
    let subject = |id: &str| Subject::Group(x.directory_id.to_string(), id.to_string());
    for g in side.groups.iter().filter(|g| g.security_enabled.is_none()) {
        for &kind in &group_kinds {
            u.add(kind, subject(&g.id), ["securityEnabled"]);
        }
    }
    let join_unknowns: HashSet<&String> = x
        .scim_groups
        .iter()
        .flat_map(|g| g.unknown.iter())
        .filter(|f| reads_field(&["externalId", "displayName"], f))
        .collect();
    for &kind in &group_kinds {
        u.add(
            kind,
            Subject::Directory(x.directory_id.to_string()),
            join_unknowns.iter().map(|f| f.to_string()),
        );
    }
    for p in &x.groups {
        // A push in ERROR pushes no membership: whether its members' memberships arrived cannot be
        // told until it pushes again (an open membership finding keeps its state).
        if p.group.push_error.is_some() {
            for &kind in group_kinds
                .iter()
                .filter(|k| **k != Kind::GroupNotProvisioned)
            {
                u.add(kind, subject(&p.group.id), ["push mapping (ERROR)"]);
            }
        }
        // No SCIM group carries its id and its name is unknown: the name join cannot be tried.
        if p.scim.is_none() && p.ambiguous.is_none() && p.group.display_name.is_none() {
            for &kind in &group_kinds {
                u.add(kind, subject(&p.group.id), ["displayName"]);
            }
        }
        if let Some(key) = p.ambiguous {
            for &kind in &group_kinds {
                u.add(
                    kind,
                    subject(&p.group.id),
                    [format!("{} (two SCIM groups match)", key.as_str())],
                );
            }
        }
        let Some((s, _)) = p.scim else { continue };
        let members: Vec<&String> = s
            .unknown
            .iter()
            .filter(|f| reads_field(&["members"], f))
            .collect();
        for &kind in group_kinds
            .iter()
            .filter(|k| **k != Kind::GroupNotProvisioned)
        {
            u.add(
                kind,
                subject(&p.group.id),
                members.iter().map(|f| f.to_string()),
            );
        }
    }
}
