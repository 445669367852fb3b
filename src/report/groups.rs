//! The report's groups (scenarios.md "Group findings"): each pushed IdP group beside the SCIM group
//! it joined, with its open missing and extra memberships (the Groups section), and each person's
//! groups on both sides, the missing and extra ones marked. The join is detection's
//! ([`crate::detect::pushed_groups`]). Pure.

use std::collections::{BTreeSet, HashMap, HashSet};

use super::model::{GroupRow, Person, PersonGroup};
use crate::detect::{GroupKey, Kind};
use crate::model::ScimGroup;
use crate::model::idp::IdpUser;
use crate::store::{IdpSideState, State};

/// One pushed IdP group as of the last complete pulls, joined to its SCIM group.
pub struct Joined {
    pub directory_id: String,
    pub idp_group_id: String,
    pub name: Option<String>,
    pub scim: Option<(String, String, GroupKey)>,
    /// Two SCIM groups match it (or two IdP groups one SCIM group): joined to none, undecided.
    pub ambiguous: bool,
    /// IdP user ids of the direct members.
    pub idp_members: HashSet<String>,
    /// SCIM ids in the joined SCIM group (its `members`, and records naming it in `groups`).
    pub scim_members: HashSet<String>,
}

/// The pushed groups of every directory whose IdP side is stored, joined to `state`'s SCIM groups.
pub fn joined(sides: &[IdpSideState], users: &[IdpUser], state: &State) -> Vec<Joined> {
    // SCIM group id → the records naming it in their own `groups`, built once (linear).
    let mut naming: HashMap<(&str, &str), Vec<&str>> = HashMap::new();
    for r in &state.records {
        for g in &r.groups {
            naming
                .entry((r.directory_id.as_str(), g.as_str()))
                .or_default()
                .push(r.scim_id.as_str());
        }
    }
    let mut out = Vec::new();
    for s in sides.iter().filter(|s| !s.scope_all) {
        let mine: Vec<IdpUser> = users
            .iter()
            .filter(|u| u.directory_id == s.directory_id)
            .cloned()
            .collect();
        let side = crate::groups::side_of(s, mine);
        let scim_groups: Vec<_> = state
            .groups
            .iter()
            .filter(|g| g.directory_id == s.directory_id)
            .collect();
        for p in crate::detect::pushed_groups(&side, &scim_groups) {
            let scim_members = match p.scim {
                Some((g, _)) => naming
                    .get(&(s.directory_id.as_str(), g.group_id.as_str()))
                    .into_iter()
                    .flatten()
                    .map(|id| id.to_string())
                    .chain(g.members.iter().cloned())
                    .collect(),
                None => HashSet::new(),
            };
            out.push(Joined {
                directory_id: s.directory_id.clone(),
                idp_group_id: p.group.id.clone(),
                name: p.group.display_name.clone(),
                scim: p.scim.map(|(g, key)| {
                    (
                        g.group_id.clone(),
                        g.display_name.clone().unwrap_or_default(),
                        key,
                    )
                }),
                ambiguous: p.ambiguous.is_some(),
                idp_members: p.members.iter().map(|u| u.id.clone()).collect(),
                scim_members,
            });
        }
    }
    out
}

fn name_of(names: &HashMap<String, String>, id: &str) -> String {
    names.get(id).cloned().unwrap_or_else(|| id.to_string())
}

/// The open group findings of `people` by (directory name, IdP group id): (missing, extra, not
/// provisioned).
fn open_counts(people: &[Person]) -> HashMap<(String, String), (usize, usize, bool)> {
    let mut out: HashMap<(String, String), (usize, usize, bool)> = HashMap::new();
    for f in people.iter().flat_map(|p| &p.findings) {
        for g in &f.groups {
            let e = out
                .entry((g.directory.clone(), g.idp_group_id.clone()))
                .or_default();
            match f.kind {
                Kind::GroupMembershipMissing => e.0 += 1,
                Kind::GroupMembershipExtra => e.1 += 1,
                Kind::GroupNotProvisioned => e.2 = true,
                _ => {}
            }
        }
    }
    out
}

/// The Groups section: every pushed group, those with open findings first.
pub fn section(
    pushed: &[Joined],
    people: &[Person],
    names: &HashMap<String, String>,
) -> Vec<GroupRow> {
    let counts = open_counts(people);
    let mut rows: Vec<GroupRow> = pushed
        .iter()
        .map(|j| {
            let directory = name_of(names, &j.directory_id);
            let (missing, extra, not_provisioned) = counts
                .get(&(directory.clone(), j.idp_group_id.clone()))
                .copied()
                .unwrap_or_default();
            GroupRow {
                directory,
                idp_group_id: j.idp_group_id.clone(),
                name: j.name.clone(),
                scim_group_id: j.scim.as_ref().map(|s| s.0.clone()),
                scim_name: j.scim.as_ref().map(|s| s.1.clone()),
                joined_by: j.scim.as_ref().map(|s| s.2),
                ambiguous: j.ambiguous,
                idp_members: j.idp_members.len(),
                scim_members: j.scim_members.len(),
                missing,
                extra,
                not_provisioned,
            }
        })
        .collect();
    rows.sort_by(|a, b| {
        let trouble = |r: &GroupRow| (r.not_provisioned, r.missing + r.extra);
        trouble(b)
            .cmp(&trouble(a))
            .then_with(|| a.directory.cmp(&b.directory))
            .then_with(|| a.name.cmp(&b.name))
            .then_with(|| a.idp_group_id.cmp(&b.idp_group_id))
    });
    rows
}

/// Sets each person's groups: the pushed groups (from `pushed`, built once) their IdP users or
/// records are in, and the other SCIM groups their records are in, marked `missing` / `extra` by
/// their open group findings. Each person costs their own memberships, not the directory's.
pub fn attach(
    people: &mut [Person],
    pushed: &[Joined],
    users: &[IdpUser],
    state: &State,
    names: &HashMap<String, String>,
) {
    let id_of: HashMap<&str, &str> = names
        .iter()
        .map(|(id, name)| (name.as_str(), id.as_str()))
        .collect();
    let user_by_id: HashMap<(&str, &str), &IdpUser> = users
        .iter()
        .map(|u| ((u.directory_id.as_str(), u.id.as_str()), u))
        .collect();
    let by_idp: HashMap<(&str, &str), &Joined> = pushed
        .iter()
        .map(|j| ((j.directory_id.as_str(), j.idp_group_id.as_str()), j))
        .collect();
    let by_scim: HashMap<(&str, &str), &Joined> = pushed
        .iter()
        .filter_map(|j| Some(((j.directory_id.as_str(), j.scim.as_ref()?.0.as_str()), j)))
        .collect();
    // (directory, SCIM id) → the SCIM groups the record is in (listed, or named in its own groups).
    let mut groups_of: HashMap<(&str, &str), Vec<&ScimGroup>> = HashMap::new();
    let group_by_id: HashMap<(&str, &str), &ScimGroup> = state
        .groups
        .iter()
        .map(|g| ((g.directory_id.as_str(), g.group_id.as_str()), g))
        .collect();
    for g in &state.groups {
        for m in &g.members {
            groups_of
                .entry((g.directory_id.as_str(), m.as_str()))
                .or_default()
                .push(g);
        }
    }
    for r in &state.records {
        for gid in &r.groups {
            if let Some(g) = group_by_id.get(&(r.directory_id.as_str(), gid.as_str())) {
                groups_of
                    .entry((r.directory_id.as_str(), r.scim_id.as_str()))
                    .or_default()
                    .push(g);
            }
        }
    }
    for p in people.iter_mut() {
        let users: Vec<&IdpUser> = p
            .idp_users
            .iter()
            .filter_map(|u| {
                let dir = id_of.get(u.directory.as_str()).copied()?;
                user_by_id.get(&(dir, u.id.as_str())).copied()
            })
            .collect();
        let records: Vec<(&str, &str)> = p
            .subjects
            .iter()
            .filter_map(|s| s.scim_user.as_ref())
            .map(|r| (r.directory_id.as_str(), r.scim_id.as_str()))
            .collect();
        let marks: HashMap<(String, String), &str> = p
            .findings
            .iter()
            .filter_map(|f| {
                let mark = match f.kind {
                    Kind::GroupMembershipMissing => "missing",
                    Kind::GroupMembershipExtra => "extra",
                    _ => return None,
                };
                let g = f.groups.first()?;
                Some(((g.directory_id.clone(), g.idp_group_id.clone()), mark))
            })
            .collect();
        // The pushed groups that concern the person, in a stable order; the other SCIM groups.
        let mut concerned: BTreeSet<(&str, &str)> = BTreeSet::new();
        for u in &users {
            for g in &u.groups {
                if by_idp.contains_key(&(u.directory_id.as_str(), g.as_str())) {
                    concerned.insert((u.directory_id.as_str(), g.as_str()));
                }
            }
        }
        let mut others: BTreeSet<(&str, &str)> = BTreeSet::new();
        for r in &records {
            for g in groups_of.get(r).into_iter().flatten() {
                let key = (g.directory_id.as_str(), g.group_id.as_str());
                match by_scim.get(&key) {
                    Some(j) => {
                        concerned.insert((j.directory_id.as_str(), j.idp_group_id.as_str()));
                    }
                    None => {
                        others.insert(key);
                    }
                }
            }
        }
        for (dir, gid) in marks.keys() {
            if let Some((d, g)) = by_idp
                .get_key_value(&(dir.as_str(), gid.as_str()))
                .map(|(k, _)| *k)
            {
                concerned.insert((d, g));
            }
        }
        let mut out = Vec::new();
        for key in concerned {
            let j = by_idp[&key];
            let in_idp = users
                .iter()
                .any(|u| u.directory_id == j.directory_id && j.idp_members.contains(&u.id));
            let in_scim = records
                .iter()
                .any(|(d, r)| *d == j.directory_id && j.scim_members.contains(*r));
            out.push(PersonGroup {
                directory: name_of(names, &j.directory_id),
                name: j
                    .name
                    .clone()
                    .or_else(|| j.scim.as_ref().map(|s| s.1.clone()))
                    .unwrap_or_else(|| j.idp_group_id.clone()),
                idp_group_id: Some(j.idp_group_id.clone()),
                scim_group_id: j.scim.as_ref().map(|s| s.0.clone()),
                in_idp: Some(in_idp),
                in_scim,
                mark: marks
                    .get(&(j.directory_id.clone(), j.idp_group_id.clone()))
                    .map(|m| m.to_string()),
            });
        }
        for (dir, gid) in others {
            let g = group_by_id[&(dir, gid)];
            out.push(PersonGroup {
                directory: name_of(names, dir),
                name: g.display_name.clone().unwrap_or_else(|| g.group_id.clone()),
                idp_group_id: None,
                scim_group_id: Some(g.group_id.clone()),
                in_idp: None,
                in_scim: true,
                mark: None,
            });
        }
        p.groups = out;
    }
}
