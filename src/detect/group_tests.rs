//! Unit tests of the group kinds over hand-built IdP sides and SCIM groups (scenarios.md "Group
//! findings").

use std::collections::{HashMap, HashSet};

use super::test_support::*;
use super::{DetectSettings, Detection, GroupKey, IdpInput, Input, Kind, Severity, detect_all};
use crate::model::idp::{AssignedGroup, IdpSide, IdpUser, LogFacts, Mapping};
use crate::model::{Account, ScimGroup, ScimRecord};

fn user(id: &str, email: &str, groups: &[&str]) -> IdpUser {
    IdpUser {
        scim_id: None,
        sync_state: None,
        status: None,
        directory_id: "d1".into(),
        id: id.into(),
        user_principal_name: Some(email.into()),
        mail: Some(email.into()),
        display_name: None,
        user_type: Some("Member".into()),
        enabled: Some(true),
        intended: true,
        assigned_directly: false,
        groups: groups.iter().map(|g| g.to_string()).collect(),
        nested_only: false,
        deleted: false,
        deleted_at: None,
        scim_external_id: Some(id.into()),
        scim_user_name: Some(email.into()),
        email: Some(email.into()),
        unknown: Vec::new(),
    }
}

fn group(id: &str, name: &str, security: Option<bool>) -> AssignedGroup {
    AssignedGroup {
        push_error: None,
        id: id.into(),
        display_name: Some(name.into()),
        security_enabled: security,
        members: 0,
        nested_groups: Vec::new(),
    }
}

fn scim_group(id: &str, external: Option<&str>, name: &str, members: &[&str]) -> ScimGroup {
    ScimGroup {
        directory_id: "d1".into(),
        group_id: id.into(),
        display_name: Some(name.into()),
        external_id: external.map(str::to_string),
        members: members.iter().map(|m| m.to_string()).collect(),
        unknown: Vec::new(),
    }
}

fn side(users: Vec<IdpUser>, groups: Vec<AssignedGroup>) -> IdpInput {
    let mut mapping = Mapping::entra_default("test");
    mapping.groups_pushed = Some(true);
    IdpInput {
        side: IdpSide {
            groups_unread: None,
            app: None,
            failures: Default::default(),
            directory_id: "d1".into(),
            kind: "entra".into(),
            scope_all: false,
            users,
            groups,
            job: None,
            mapping,
            events: Vec::new(),
            logs: LogFacts::Known {
                since: "2026-05-25T00:00:00Z".into(),
            },
        },
        latest_events: HashMap::new(),
        logs_known: true,
        ever_seen: HashSet::new(),
    }
}

/// An active record linked to `account`, joined to IdP user `external`, in no group of its own.
fn rec(id: &str, email: &str, external: &str, account: &str) -> ScimRecord {
    let mut r = ScimRecord {
        external_id: Some(external.into()),
        ..linked(id, email, account)
    };
    r.groups.clear();
    r
}

fn run_groups(
    kind: Kind,
    idp: &IdpInput,
    records: &[ScimRecord],
    groups: &[ScimGroup],
    accounts: &[Account],
) -> Detection {
    let settings = DetectSettings {
        disabled: Kind::ALL.into_iter().filter(|k| *k != kind).collect(),
        ..DetectSettings::default()
    };
    let since = HashMap::new();
    let input = Input {
        idp: std::slice::from_ref(idp),
        records: &records.iter().collect(),
        groups,
        accounts: &accounts.iter().collect(),
        inactive_since: &since,
        previous_links: &HashMap::new(),
        now: now(),
    };
    detect_all(&input, &settings)
}

/// Ana (u1, r1) and Bo (u2, r2), both in the IdP group g1 "Engineering".
fn world() -> (IdpInput, Vec<ScimRecord>, Vec<Account>) {
    let idp = side(
        vec![
            user("u1", "ana@example.com", &["g1"]),
            user("u2", "bo@example.com", &["g1"]),
        ],
        vec![group("g1", "Engineering", Some(true))],
    );
    let records = vec![
        rec("r1", "ana@example.com", "u1", "a1"),
        rec("r2", "bo@example.com", "u2", "a2"),
    ];
    let accounts = vec![
        account("a1", "ana@example.com"),
        account("a2", "bo@example.com"),
    ];
    (idp, records, accounts)
}

const GROUP_KINDS: [Kind; 3] = [
    Kind::GroupNotProvisioned,
    Kind::GroupMembershipMissing,
    Kind::GroupMembershipExtra,
];

#[test]
fn a_group_pushed_whole_raises_nothing() {
    let (idp, records, accounts) = world();
    let groups = [scim_group("s1", Some("g1"), "Engineering", &["r1", "r2"])];
    for kind in GROUP_KINDS {
        let d = run_groups(kind, &idp, &records, &groups, &accounts);
        assert!(d.findings.is_empty(), "{kind}: {:?}", d.findings);
        assert!(d.undetermined.is_empty(), "{kind}");
    }
}

#[test]
fn a_member_missing_from_the_scim_group() {
    let (idp, records, accounts) = world();
    let groups = [scim_group("s1", Some("g1"), "Engineering", &["r2"])];
    let d = run_groups(
        Kind::GroupMembershipMissing,
        &idp,
        &records,
        &groups,
        &accounts,
    );
    assert_eq!(d.findings.len(), 1, "{:?}", d.findings);
    let f = &d.findings[0];
    assert_eq!(ids(f), (vec!["r1"], vec!["a1"]));
    assert_eq!(f.idp_users[0].id, "u1");
    assert_eq!(f.severity, Severity::Medium);
    assert_eq!(f.directory_id.as_deref(), Some("d1"));
    let g = &f.groups[0];
    assert_eq!(
        (
            g.idp_group_id.as_str(),
            g.scim_group_id.as_deref(),
            g.joined_by
        ),
        ("g1", Some("s1"), Some(GroupKey::ExternalId))
    );
    assert!(f.summary.contains("Engineering"), "{}", f.summary);
    // The record's own `groups` attribute counts as membership too.
    let mut own = records.clone();
    own[0].groups = vec!["s1".into()];
    let d = run_groups(Kind::GroupMembershipMissing, &idp, &own, &groups, &accounts);
    assert!(d.findings.is_empty(), "{:?}", d.findings);
}

#[test]
fn a_disabled_or_recordless_or_inactive_member_is_not_missing() {
    let (mut idp, mut records, accounts) = world();
    let groups = [scim_group("s1", Some("g1"), "Engineering", &[])];
    idp.side.users[0].enabled = Some(false);
    // Bo has no SCIM record at all: assigned_not_provisioned's, no group kind.
    records.truncate(1);
    let d = run_groups(
        Kind::GroupMembershipMissing,
        &idp,
        &records,
        &groups,
        &accounts,
    );
    assert!(d.findings.is_empty(), "{:?}", d.findings);
    // An inactive record is not missing from anything.
    let (idp, mut records, accounts) = world();
    records[0].active = Some(false);
    records[1].active = Some(false);
    let d = run_groups(
        Kind::GroupMembershipMissing,
        &idp,
        &records,
        &groups,
        &accounts,
    );
    assert!(d.findings.is_empty(), "{:?}", d.findings);
}

#[test]
fn the_join_by_display_name_is_case_insensitive_and_only_without_an_id_match() {
    let (idp, records, accounts) = world();
    let by_name = [scim_group("s7", None, "  ENGINEERING ", &["r2"])];
    let d = run_groups(
        Kind::GroupMembershipMissing,
        &idp,
        &records,
        &by_name,
        &accounts,
    );
    assert_eq!(d.findings.len(), 1);
    assert_eq!(
        d.findings[0].groups[0].joined_by,
        Some(GroupKey::DisplayName)
    );
    assert_eq!(d.findings[0].groups[0].scim_group_id.as_deref(), Some("s7"));
    // A SCIM group carrying the id wins over one with the name.
    let both = [
        scim_group("s7", None, "Engineering", &[]),
        scim_group("s8", Some("G1"), "Platform", &["r1", "r2"]),
    ];
    for kind in GROUP_KINDS {
        let d = run_groups(kind, &idp, &records, &both, &accounts);
        assert!(d.findings.is_empty(), "{kind}: {:?}", d.findings);
    }
}

#[test]
fn a_group_never_pushed_is_one_finding_not_one_per_member() {
    let (idp, records, accounts) = world();
    let other = [scim_group("s9", Some("g-other"), "Sales", &["r1"])];
    let d = run_groups(Kind::GroupNotProvisioned, &idp, &records, &other, &accounts);
    assert_eq!(d.findings.len(), 1, "{:?}", d.findings);
    let f = &d.findings[0];
    assert_eq!(f.severity, Severity::High);
    assert!(f.records.is_empty() && f.accounts.is_empty() && f.idp_users.is_empty());
    assert_eq!(f.groups[0].scim_group_id, None);
    assert_eq!(f.groups[0].joined_by, None);
    assert!(
        f.summary.contains("Engineering") && f.summary.contains("2 direct members"),
        "{}",
        f.summary
    );
    let d = run_groups(
        Kind::GroupMembershipMissing,
        &idp,
        &records,
        &other,
        &accounts,
    );
    assert!(d.findings.is_empty(), "{:?}", d.findings);
}

#[test]
fn a_mover_keeps_the_old_teams_group() {
    let (mut idp, records, accounts) = world();
    // Bo moved out of g1 in the IdP; the SCIM group still lists r2.
    idp.side.users[1].groups.clear();
    let groups = [scim_group("s1", Some("g1"), "Engineering", &["r1", "r2"])];
    let d = run_groups(
        Kind::GroupMembershipExtra,
        &idp,
        &records,
        &groups,
        &accounts,
    );
    assert_eq!(d.findings.len(), 1, "{:?}", d.findings);
    let f = &d.findings[0];
    assert_eq!(ids(f), (vec!["r2"], vec!["a2"]));
    assert_eq!(f.idp_users[0].id, "u2");
    assert_eq!(f.severity, Severity::High);
    // A leaver (disabled, or no longer intended) is idp_disabled_scim_active's, not extra.
    for leave in [
        |u: &mut IdpUser| u.enabled = Some(false),
        |u: &mut IdpUser| u.intended = false,
    ] {
        let mut gone = idp.clone();
        leave(&mut gone.side.users[1]);
        let d = run_groups(
            Kind::GroupMembershipExtra,
            &gone,
            &records,
            &groups,
            &accounts,
        );
        assert!(d.findings.is_empty(), "{:?}", d.findings);
    }
    // A record no IdP user joins is orphan_scim_record's, not extra.
    let mut stray = records.clone();
    stray[1].external_id = Some("nobody".into());
    stray[1].user_name = "nobody".into();
    stray[1].email = Some("nobody@example.com".into());
    let d = run_groups(Kind::GroupMembershipExtra, &idp, &stray, &groups, &accounts);
    assert!(d.findings.is_empty(), "{:?}", d.findings);
}

#[test]
fn groups_not_pushed_raise_nothing() {
    let (mut idp, records, accounts) = world();
    let groups = [scim_group("s9", Some("g-other"), "Sales", &["r1", "r2"])];
    // Not security-enabled: Entra does not push it.
    idp.side.groups[0].security_enabled = Some(false);
    for kind in GROUP_KINDS {
        let d = run_groups(kind, &idp, &records, &groups, &accounts);
        assert!(d.findings.is_empty(), "{kind}: {:?}", d.findings);
    }
    // The schema maps no groups.
    let (mut idp, ..) = world();
    idp.side.mapping.groups_pushed = Some(false);
    for kind in GROUP_KINDS {
        let d = run_groups(kind, &idp, &records, &groups, &accounts);
        assert!(d.findings.is_empty(), "{kind}: {:?}", d.findings);
        assert!(d.undetermined.is_empty(), "{kind}");
    }
    // The schema could not be read: groups are assumed pushed.
    let (mut idp, ..) = world();
    idp.side.mapping.groups_pushed = None;
    let d = run_groups(
        Kind::GroupNotProvisioned,
        &idp,
        &records,
        &groups,
        &accounts,
    );
    assert_eq!(d.findings.len(), 1);
    // idp.scope = "all": no assignment-based intent, no group kind.
    let (mut idp, ..) = world();
    idp.side.scope_all = true;
    let d = run_groups(
        Kind::GroupNotProvisioned,
        &idp,
        &records,
        &groups,
        &accounts,
    );
    assert!(d.findings.is_empty());
}

#[test]
fn a_nested_member_is_not_a_direct_member() {
    let (mut idp, records, accounts) = world();
    idp.side.users[1].groups.clear();
    idp.side.users[1].nested_only = true;
    let groups = [scim_group("s1", Some("g1"), "Engineering", &["r1"])];
    let d = run_groups(
        Kind::GroupMembershipMissing,
        &idp,
        &records,
        &groups,
        &accounts,
    );
    assert!(d.findings.is_empty(), "{:?}", d.findings);
}

#[test]
fn unknown_members_security_or_join_keys_decide_nothing() {
    let (mut idp, records, accounts) = world();
    idp.side.users[1].groups.clear();
    // The SCIM group's members could not be read: neither missing nor extra about it.
    let mut unread = scim_group("s1", Some("g1"), "Engineering", &["r2"]);
    unread.unknown = vec!["members".into()];
    for kind in [Kind::GroupMembershipMissing, Kind::GroupMembershipExtra] {
        let d = run_groups(
            kind,
            &idp,
            &records,
            std::slice::from_ref(&unread),
            &accounts,
        );
        assert!(d.findings.is_empty(), "{kind}: {:?}", d.findings);
        let group = [super::GroupRef {
            directory_id: "d1".into(),
            idp_group_id: "g1".into(),
            scim_group_id: None,
            display_name: None,
            joined_by: None,
        }];
        assert_eq!(
            d.undetermined.fields(kind, &[], &[], &[], &group, None),
            ["members"],
            "{kind}"
        );
    }
    // securityEnabled unknown: whether it is pushed is unknown.
    let (mut idp, ..) = world();
    idp.side.groups[0].security_enabled = None;
    let d = run_groups(Kind::GroupNotProvisioned, &idp, &records, &[], &accounts);
    assert!(d.findings.is_empty());
    assert!(!d.undetermined.is_empty());
    // A SCIM group whose displayName is unknown may be any group's: the directory is undecided.
    let (idp, ..) = world();
    let mut nameless = scim_group("s5", None, "", &[]);
    nameless.display_name = None;
    nameless.unknown = vec!["displayName".into()];
    let d = run_groups(
        Kind::GroupNotProvisioned,
        &idp,
        &records,
        &[nameless],
        &accounts,
    );
    assert!(d.findings.is_empty(), "{:?}", d.findings);
    assert_eq!(
        d.undetermined
            .fields(Kind::GroupNotProvisioned, &[], &[], &[], &[], Some("d1")),
        ["displayName"]
    );
}

#[test]
fn two_scim_groups_of_the_name_join_neither() {
    let (idp, records, accounts) = world();
    let twins = [
        scim_group("s1", None, "Engineering", &[]),
        scim_group("s2", None, "engineering", &[]),
    ];
    for kind in GROUP_KINDS {
        let d = run_groups(kind, &idp, &records, &twins, &accounts);
        assert!(d.findings.is_empty(), "{kind}: {:?}", d.findings);
        assert!(!d.undetermined.is_empty(), "{kind}");
    }
}

#[test]
fn a_group_findings_identity_is_its_idp_group_not_its_scim_group() {
    let (idp, records, accounts) = world();
    let ids_with = |scim: ScimGroup| -> Vec<String> {
        run_groups(
            Kind::GroupMembershipMissing,
            &idp,
            &records,
            &[scim],
            &accounts,
        )
        .findings
        .iter()
        .map(|f| f.id())
        .collect()
    };
    let a = ids_with(scim_group("s1", Some("g1"), "Engineering", &["r2"]));
    let b = ids_with(scim_group("s-new", Some("g1"), "Eng (renamed)", &["r2"]));
    assert_eq!(a.len(), 1);
    assert_eq!(a, b);
    // Two IdP groups with the same member: two findings.
    let mut idp2 = idp.clone();
    idp2.side.groups.push(group("g2", "Design", Some(true)));
    idp2.side.users[0].groups.push("g2".into());
    let groups = [
        scim_group("s1", Some("g1"), "Engineering", &["r2"]),
        scim_group("s2", Some("g2"), "Design", &[]),
    ];
    let d = run_groups(
        Kind::GroupMembershipMissing,
        &idp2,
        &records,
        &groups,
        &accounts,
    );
    let ids: HashSet<String> = d.findings.iter().map(|f| f.id()).collect();
    assert_eq!(ids.len(), 2, "{:?}", d.findings);
}

#[test]
fn a_same_named_group_never_takes_another_groups_scim_group() {
    let (mut idp, records, accounts) = world();
    // g2 "engineering" (never pushed) has the name of g1, whose SCIM group carries g1's id.
    idp.side.groups.push(group("g2", "engineering", Some(true)));
    let groups = [scim_group("s1", Some("g1"), "Engineering", &["r1", "r2"])];
    let d = run_groups(
        Kind::GroupNotProvisioned,
        &idp,
        &records,
        &groups,
        &accounts,
    );
    assert_eq!(d.findings.len(), 1, "{:?}", d.findings);
    assert_eq!(d.findings[0].groups[0].idp_group_id, "g2");
    let d = run_groups(
        Kind::GroupMembershipExtra,
        &idp,
        &records,
        &groups,
        &accounts,
    );
    assert!(d.findings.is_empty(), "{:?}", d.findings);
    // Two IdP groups joining one SCIM group by name: neither decides.
    let (mut idp, ..) = world();
    idp.side.groups = vec![
        group("g1", "Design", Some(true)),
        group("g2", "DESIGN", Some(true)),
    ];
    let one = [scim_group("s1", None, "design", &["r1", "r2"])];
    for kind in GROUP_KINDS {
        let d = run_groups(kind, &idp, &records, &one, &accounts);
        assert!(d.findings.is_empty(), "{kind}: {:?}", d.findings);
    }
    // An IdP group whose name is unknown and whose id no SCIM group carries: undecided.
    let (mut idp, ..) = world();
    idp.side.groups[0].display_name = None;
    let d = run_groups(Kind::GroupNotProvisioned, &idp, &records, &[], &accounts);
    assert!(d.findings.is_empty(), "{:?}", d.findings);
    assert!(!d.undetermined.is_empty());
}
