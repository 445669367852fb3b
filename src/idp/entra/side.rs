//! Intent from what was read (pure): the users Entra provisions to the app (idp-api.md §1.2,
//! scenarios.md "IdP findings"): direct `User` assignments ∪ direct user members of assigned
//! security-enabled groups. Members of an assigned group that is not security-enabled are kept,
//! not intended; users reachable only through a nested group are flagged `nested_only`.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use super::parse::{Assignment, Group, Member, MemberKind, Principal, UserRead};
use crate::model::idp::{AssignedGroup, IdpUser};

/// The app's assignments, by principal.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Assigned {
    pub users: BTreeSet<String>,
    /// Assigned groups, in the order first assigned.
    pub groups: Vec<String>,
    /// Assignments whose principal could not be read ([`Principal::Unknown`]), by principal id
    /// when that was readable: the intent they carry is unknown.
    pub unknown: Vec<Option<String>>,
}

pub fn assigned(assignments: &[Assignment]) -> Assigned {
    let mut a = Assigned::default();
    for x in assignments {
        match (&x.principal, &x.principal_id) {
            (Principal::User, Some(id)) => {
                a.users.insert(id.clone());
            }
            (Principal::Group, Some(id)) if !a.groups.contains(id) => {
                a.groups.push(id.clone());
            }
            (Principal::Unknown, id) => a.unknown.push(id.clone()),
            _ => {}
        }
    }
    a
}

/// Whether a user not intended by any readable path may be intended after all (its intent is
/// unknown, [`IdpUser::INTENT`]): an unreadable assignment names it, or names no listed user
/// (it may be a group holding anyone), or it is a direct member of an assigned group whose
/// `securityEnabled` could not be read.
fn intent_unknown(a: &Assigned, groups: &[GroupRead], listed: &HashSet<&str>, id: &str) -> bool {
    a.unknown.iter().any(|p| match p {
        Some(p) => p == id || !listed.contains(p.as_str()),
        None => true,
    }) || groups.iter().any(|g| {
        g.group.security_enabled.is_none()
            && g.members.iter().any(|m| is_user(m, listed) && m.id == id)
    })
}

/// One assigned group as read: the group, its direct members, and (only for a security-enabled
/// group with a nested or untyped member) its transitive members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRead {
    pub group: Group,
    pub members: Vec<Member>,
    pub transitive: Option<Vec<Member>>,
}

impl GroupRead {
    /// Only a security-enabled group confers intent.
    pub fn confers_intent(&self) -> bool {
        self.group.security_enabled == Some(true)
    }

    /// Whether its transitive members are worth reading (to flag nested-only users).
    pub fn may_nest(&self) -> bool {
        self.confers_intent()
            && self
                .members
                .iter()
                .any(|m| matches!(m.kind, MemberKind::Group | MemberKind::Untyped))
    }
}

/// A member is a user when typed so, or (lenient, no `@odata.type`) when its id is a listed user.
fn is_user(m: &Member, listed: &HashSet<&str>) -> bool {
    match m.kind {
        MemberKind::User => true,
        MemberKind::Untyped => listed.contains(m.id.as_str()),
        MemberKind::Group | MemberKind::Other => false,
    }
}

/// The intended user ids.
pub fn intended(a: &Assigned, groups: &[GroupRead], listed: &HashSet<&str>) -> BTreeSet<String> {
    let mut out = a.users.clone();
    for g in groups.iter().filter(|g| g.confers_intent()) {
        out.extend(
            g.members
                .iter()
                .filter(|m| is_user(m, listed))
                .map(|m| m.id.clone()),
        );
    }
    out
}

/// The IdP users and the assigned groups of the side. `listed` are the users of `/users`;
/// `extra` the intended ones read one by one (`None`: the read answered 404, deleted).
/// `object_id_external` says the mapping sends the object id as `externalId` (then a deleted
/// user still has one). With `scope_all` no intent is computed.
pub fn build(
    directory_id: &str,
    a: &Assigned,
    groups: &[GroupRead],
    listed: Vec<UserRead>,
    extra: Vec<(String, Option<UserRead>)>,
    scope_all: bool,
    object_id_external: bool,
) -> (Vec<IdpUser>, Vec<AssignedGroup>) {
    let mut ids: HashSet<&str> = listed.iter().map(|u| u.id.as_str()).collect();
    ids.extend(
        extra
            .iter()
            .filter(|(_, u)| u.is_some())
            .map(|(id, _)| id.as_str()),
    );
    let intended = if scope_all {
        BTreeSet::new()
    } else {
        intended(a, groups, &ids)
    };
    // user → the assigned groups it is a direct member of.
    let mut member_of: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    let mut nested: HashSet<&str> = HashSet::new();
    let mut out_groups = Vec::with_capacity(groups.len());
    for g in groups {
        let direct: HashSet<&str> = g.members.iter().map(|m| m.id.as_str()).collect();
        let mut users = 0;
        for m in g.members.iter().filter(|m| is_user(m, &ids)) {
            users += 1;
            member_of
                .entry(m.id.as_str())
                .or_default()
                .push(g.group.id.clone());
        }
        for m in g.transitive.iter().flatten() {
            if is_user(m, &ids) && !direct.contains(m.id.as_str()) {
                nested.insert(m.id.as_str());
            }
        }
        out_groups.push(AssignedGroup {
            push_error: None,
            id: g.group.id.clone(),
            display_name: g.group.display_name.clone(),
            security_enabled: g.group.security_enabled,
            members: users,
            nested_groups: g
                .members
                .iter()
                .filter(|m| m.kind == MemberKind::Group)
                .map(|m| m.id.clone())
                .collect(),
        });
    }
    let unknown_intent: HashSet<String> = listed
        .iter()
        .map(|u| u.id.as_str())
        .chain(extra.iter().map(|(id, _)| id.as_str()))
        .filter(|id| !scope_all && !intended.contains(*id) && intent_unknown(a, groups, &ids, id))
        .map(str::to_string)
        .collect();
    let unknown_intent = |id: &str| unknown_intent.contains(id);
    let user = |u: UserRead| {
        let is_intended = intended.contains(&u.id);
        let groups = member_of.get(u.id.as_str()).cloned().unwrap_or_default();
        let mut unknown = u.unknown;
        if unknown_intent(&u.id) {
            unknown.push(IdpUser::INTENT.to_string());
        }
        IdpUser {
            scim_id: None,
            sync_state: None,
            status: None,
            unknown,
            directory_id: directory_id.to_string(),
            nested_only: !is_intended && u.enabled == Some(true) && nested.contains(u.id.as_str()),
            assigned_directly: !scope_all && a.users.contains(&u.id),
            intended: is_intended,
            groups,
            deleted: false,
            id: u.id,
            user_principal_name: u.upn,
            mail: u.mail,
            display_name: u.display_name,
            user_type: u.user_type,
            enabled: u.enabled,
            scim_external_id: u.external_id,
            scim_user_name: u.user_name,
            email: u.email,
            deleted_at: Default::default(),
        }
    };
    let mut users: Vec<IdpUser> = Vec::with_capacity(listed.len() + extra.len());
    let mut extra_users = Vec::new();
    let mut deleted = Vec::new();
    for (id, read) in extra {
        match read {
            Some(u) => extra_users.push(u),
            None => deleted.push(id),
        }
    }
    users.extend(listed.into_iter().chain(extra_users).map(user));
    for id in deleted {
        users.push(IdpUser {
            scim_id: None,
            sync_state: None,
            status: None,
            directory_id: directory_id.to_string(),
            intended: intended.contains(&id),
            assigned_directly: !scope_all && a.users.contains(&id),
            groups: member_of.get(id.as_str()).cloned().unwrap_or_default(),
            nested_only: false,
            deleted: true,
            unknown: if unknown_intent(&id) {
                vec![IdpUser::INTENT.to_string()]
            } else {
                Vec::new()
            },
            user_principal_name: None,
            mail: None,
            display_name: None,
            user_type: None,
            enabled: None,
            scim_external_id: object_id_external.then(|| id.clone()),
            scim_user_name: None,
            email: None,
            id,
            deleted_at: Default::default(),
        });
    }
    (users, out_groups)
}

/// A soft-deleted user a SCIM record's `externalId` led to (scenarios.md, "Deleted, looked up"):
/// deleted, intended by nothing (its assignments went with it), deleted at `at`.
pub fn soft_deleted(directory_id: &str, u: UserRead, at: Option<String>) -> IdpUser {
    IdpUser {
        scim_id: None,
        sync_state: None,
        status: None,
        directory_id: directory_id.to_string(),
        intended: false,
        assigned_directly: false,
        groups: Vec::new(),
        nested_only: false,
        deleted: true,
        deleted_at: at,
        user_principal_name: u.upn,
        mail: u.mail,
        display_name: u.display_name,
        user_type: u.user_type,
        enabled: None,
        scim_external_id: Some(u.id.clone()),
        scim_user_name: u.user_name,
        email: u.email,
        unknown: Vec::new(),
        id: u.id,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: &str, enabled: Option<bool>) -> UserRead {
        UserRead {
            id: id.into(),
            upn: Some(format!("{id}@contoso.example")),
            mail: None,
            display_name: None,
            user_type: Some("Member".into()),
            enabled,
            external_id: Some(id.into()),
            user_name: Some(format!("{id}@contoso.example")),
            email: Some(format!("{id}@contoso.example")),
            unknown: Vec::new(),
        }
    }

    fn m(id: &str, kind: MemberKind) -> Member {
        Member {
            id: id.into(),
            kind,
        }
    }

    fn group(
        id: &str,
        security: Option<bool>,
        members: Vec<Member>,
        transitive: Option<Vec<Member>>,
    ) -> GroupRead {
        GroupRead {
            group: Group {
                id: id.into(),
                display_name: Some(id.to_uppercase()),
                security_enabled: security,
            },
            members,
            transitive,
        }
    }

    #[test]
    fn intent_is_direct_assignments_and_direct_members_of_security_groups() {
        let a = assigned(&[
            Assignment {
                principal_id: Some("u-direct".into()),
                principal: Principal::User,
            },
            Assignment {
                principal_id: Some("g-sec".into()),
                principal: Principal::Group,
            },
            Assignment {
                principal_id: Some("g-m365".into()),
                principal: Principal::Group,
            },
            Assignment {
                principal_id: Some("sp-x".into()),
                principal: Principal::Other,
            },
            Assignment {
                principal_id: Some("u-gone".into()),
                principal: Principal::User,
            },
        ]);
        assert_eq!(a.groups, ["g-sec", "g-m365"]);
        let groups = vec![
            group(
                "g-sec",
                Some(true),
                vec![
                    m("u-member", MemberKind::User),
                    m("u-untyped", MemberKind::Untyped),
                    m("dev-1", MemberKind::Untyped),
                    m("g-nested", MemberKind::Group),
                    m("sp-1", MemberKind::Other),
                ],
                Some(vec![
                    m("u-member", MemberKind::User),
                    m("u-nested", MemberKind::User),
                    m("u-nested-off", MemberKind::User),
                    m("g-nested", MemberKind::Group),
                ]),
            ),
            group(
                "g-m365",
                Some(false),
                vec![m("u-m365", MemberKind::User)],
                None,
            ),
        ];
        let listed = vec![
            user("u-direct", Some(true)),
            user("u-member", None),
            user("u-untyped", Some(false)),
            user("u-nested", Some(true)),
            user("u-nested-off", Some(false)),
            user("u-m365", Some(true)),
            user("u-other", Some(true)),
        ];
        let (users, gs) = build(
            "d1",
            &a,
            &groups,
            listed,
            vec![("u-gone".into(), None)],
            false,
            true,
        );
        let by_id = |id: &str| users.iter().find(|u| u.id == id).unwrap();
        assert!(by_id("u-direct").intended && by_id("u-direct").assigned_directly);
        assert!(by_id("u-member").intended && !by_id("u-member").assigned_directly);
        assert_eq!(
            by_id("u-member").enabled,
            None,
            "null accountEnabled stays unknown"
        );
        assert!(by_id("u-untyped").intended, "untyped but a listed user");
        assert!(!by_id("u-m365").intended);
        assert_eq!(by_id("u-m365").groups, ["g-m365"]);
        assert!(by_id("u-nested").nested_only && !by_id("u-nested").intended);
        assert!(!by_id("u-nested-off").nested_only, "disabled: not flagged");
        assert!(!by_id("u-other").intended && !by_id("u-other").nested_only);
        let gone = by_id("u-gone");
        assert!(gone.deleted && gone.intended && gone.enabled.is_none());
        assert_eq!(gone.scim_external_id.as_deref(), Some("u-gone"));
        assert_eq!(users.len(), 8);
        assert_eq!(gs[0].members, 2);
        assert_eq!(gs[0].nested_groups, ["g-nested"]);
        assert_eq!(gs[1].security_enabled, Some(false));
        assert_eq!(gs[1].members, 1);
        assert!(groups[0].may_nest() && !groups[1].may_nest());
    }

    #[test]
    fn scope_all_computes_no_intent() {
        let a = assigned(&[Assignment {
            principal_id: Some("u1".into()),
            principal: Principal::User,
        }]);
        let (users, _) = build(
            "d1",
            &a,
            &[],
            vec![user("u1", Some(true))],
            vec![],
            true,
            true,
        );
        assert!(!users[0].intended && !users[0].assigned_directly);
    }

    /// Unknown is never evidence (issue 19, item 4): an assignment whose principal could not be
    /// read leaves its user's intent unknown (or everyone's not otherwise intended, when it names
    /// no listed user: it may be a group); an assigned group whose `securityEnabled` is unknown
    /// leaves its members' intent unknown. Users intended by a readable path stay intended.
    #[test]
    fn unreadable_assignments_and_groups_leave_intent_unknown() {
        let intent = |users: &[IdpUser], id: &str| {
            users
                .iter()
                .find(|u| u.id == id)
                .map(|u| (u.intended, u.unknown.contains(&IdpUser::INTENT.to_string())))
                .unwrap()
        };
        let listed = || {
            vec![
                user("u1", Some(true)),
                user("u2", Some(true)),
                user("u3", Some(true)),
            ]
        };
        let direct = Assignment {
            principal_id: Some("u1".into()),
            principal: Principal::User,
        };
        let odd = |id: Option<&str>| Assignment {
            principal_id: id.map(str::to_string),
            principal: Principal::Unknown,
        };
        // Naming a listed user: only that user's intent is unknown.
        let a = assigned(&[direct.clone(), odd(Some("u2"))]);
        let (users, _) = build("d1", &a, &[], listed(), vec![], false, true);
        assert_eq!(intent(&users, "u1"), (true, false));
        assert_eq!(intent(&users, "u2"), (false, true));
        assert_eq!(intent(&users, "u3"), (false, false));
        // Naming no listed user, or nobody readable: anyone not intended may be.
        for id in [Some("g-unknown"), None] {
            let a = assigned(&[direct.clone(), odd(id)]);
            let (users, _) = build("d1", &a, &[], listed(), vec![], false, true);
            assert_eq!(intent(&users, "u1"), (true, false), "{id:?}");
            assert_eq!(intent(&users, "u2"), (false, true), "{id:?}");
            assert_eq!(intent(&users, "u3"), (false, true), "{id:?}");
        }
        // A group of unknown securityEnabled: its members' intent is unknown, no one else's.
        let a = assigned(&[Assignment {
            principal_id: Some("g1".into()),
            principal: Principal::Group,
        }]);
        let g = group("g1", None, vec![m("u2", MemberKind::User)], None);
        let (users, _) = build("d1", &a, &[g], listed(), vec![], false, true);
        assert_eq!(intent(&users, "u2"), (false, true));
        assert_eq!(intent(&users, "u3"), (false, false));
        // With scope = "all" no intent is computed, so none is unknown.
        let a = assigned(&[odd(None)]);
        let (users, _) = build("d1", &a, &[], listed(), vec![], true, true);
        assert!(users.iter().all(|u| u.unknown.is_empty()));
    }
}
