//! One person's groups on both sides (scenarios.md "Group findings"), for the report and
//! `scimdrift person`: the pushed IdP groups their IdP users are direct members of, joined to the
//! SCIM groups ([`crate::detect::pushed_groups`]), and the SCIM groups their records are in, the
//! missing and extra ones marked by their open group findings. Pure.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::model::idp::IdpSide;
use crate::model::{ScimGroup, ScimRecord};

/// One group of a person: an IdP group they are in, or a SCIM group one of their records is in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonGroup {
    /// The directory's configured name.
    pub directory: String,
    /// The IdP group's name, else the SCIM group's, else an id.
    pub name: String,
    pub idp_group_id: Option<String>,
    pub scim_group_id: Option<String>,
    /// A direct member of the pushed IdP group (`None`: the SCIM group is no pushed group's).
    pub in_idp: Option<bool>,
    /// One of the person's records is in the SCIM group.
    pub in_scim: bool,
    /// `missing` or `extra` when an open group finding of the person says so.
    pub mark: Option<String>,
}

/// The person's groups in one directory (named `directory`). `side`: the directory's IdP side
/// holding only the person's IdP users (`None`: no IdP side); `scim_groups`: the directory's SCIM
/// groups; `records`: the person's current records there; `marks`: IdP group id → `missing` or
/// `extra`.
pub fn of_person(
    directory: &str,
    side: Option<&IdpSide>,
    scim_groups: &[&ScimGroup],
    records: &[&ScimRecord],
    marks: &HashMap<String, &str>,
) -> Vec<PersonGroup> {
    let pushed = side.map_or_else(Vec::new, |s| crate::detect::pushed_groups(s, scim_groups));
    let mut out = Vec::new();
    let mut joined: HashSet<&str> = HashSet::new();
    for p in &pushed {
        if let Some((s, _)) = p.scim {
            joined.insert(&s.group_id);
        }
        let in_idp = !p.members.is_empty();
        let in_scim = records.iter().any(|r| p.scim_has(&r.scim_id, &r.groups));
        let mark = marks.get(&p.group.id);
        if !(in_idp || in_scim || mark.is_some()) {
            continue;
        }
        out.push(PersonGroup {
            directory: directory.to_string(),
            name: p
                .group
                .display_name
                .clone()
                .or_else(|| p.scim.and_then(|(s, _)| s.display_name.clone()))
                .unwrap_or_else(|| p.group.id.clone()),
            idp_group_id: Some(p.group.id.clone()),
            scim_group_id: p.scim.map(|(s, _)| s.group_id.clone()),
            in_idp: Some(in_idp),
            in_scim,
            mark: mark.map(|m| m.to_string()),
        });
    }
    for g in scim_groups
        .iter()
        .filter(|g| !joined.contains(g.group_id.as_str()))
    {
        let member = records
            .iter()
            .any(|r| g.members.contains(&r.scim_id) || r.groups.contains(&g.group_id));
        if member {
            out.push(PersonGroup {
                directory: directory.to_string(),
                name: g.display_name.clone().unwrap_or_else(|| g.group_id.clone()),
                idp_group_id: None,
                scim_group_id: Some(g.group_id.clone()),
                in_idp: None,
                in_scim: true,
                mark: None,
            });
        }
    }
    out
}

/// The stored IdP side of a directory as detection takes it, holding `users` (all of them for the
/// Groups section, or one person's).
pub fn side_of(s: &crate::store::IdpSideState, users: Vec<crate::model::idp::IdpUser>) -> IdpSide {
    IdpSide {
        groups_unread: None,
        app: None,
        failures: Default::default(),
        directory_id: s.directory_id.clone(),
        kind: s.kind.clone(),
        scope_all: s.scope_all,
        users,
        groups: s.groups.clone(),
        job: None,
        mapping: s
            .mapping
            .clone()
            .unwrap_or_else(|| crate::model::idp::Mapping::entra_default("not stored")),
        events: Vec::new(),
        logs: crate::model::idp::LogFacts::Unknown {
            reason: String::new(),
        },
    }
}
