//! Unknown is never evidence: unit tests per case and the property over random worlds (issue 19,
//! item 1): for any world and any finding it gives, making any field that finding's kind reads
//! unknown (with whatever value the parser would leave) never drops the finding undecided — it is
//! found again or named undetermined.

use std::collections::{HashMap, HashSet};

use proptest::prelude::*;

use super::test_support::*;
use super::{DetectSettings, Finding, IdpInput, Input, Kind, detect_all};
use crate::model::idp::{IdpSide, IdpUser, LogFacts, Mapping};
use crate::model::{Account, ScimGroup, ScimRecord};

fn idp_user(id: &str, email: &str) -> IdpUser {
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
        assigned_directly: true,
        groups: Vec::new(),
        nested_only: false,
        deleted: false,
        scim_external_id: Some(id.into()),
        scim_user_name: Some(email.into()),
        email: Some(email.into()),
        unknown: Vec::new(),
        deleted_at: Default::default(),
    }
}

fn side(users: Vec<IdpUser>) -> IdpInput {
    IdpInput {
        side: IdpSide {
            groups_unread: None,
            app: None,
            failures: Default::default(),
            directory_id: "d1".into(),
            kind: "entra".into(),
            scope_all: false,
            users,
            groups: Vec::new(),
            job: None,
            mapping: Mapping::entra_default("test"),
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

#[derive(Debug, Clone)]
struct World {
    records: Vec<ScimRecord>,
    groups: Vec<ScimGroup>,
    accounts: Vec<Account>,
    idp: Vec<IdpInput>,
    /// The links of the previous snapshot (history), for records whose link is unknown now.
    previous_links: HashMap<super::RecordRef, String>,
}

impl World {
    fn run(&self) -> super::Detection {
        let since = HashMap::new();
        let input = Input {
            records: &self.records.iter().collect(),
            groups: &self.groups,
            accounts: &self.accounts.iter().collect(),
            inactive_since: &since,
            previous_links: &self.previous_links,
            idp: &self.idp,
            now: now(),
        };
        detect_all(&input, &DetectSettings::default())
    }
}

fn found(d: &super::Detection, kind: Kind) -> Vec<&Finding> {
    d.findings.iter().filter(|f| f.kind == kind).collect()
}

/// The leaver (issue 19): `active: null` on a leaver's record leaves `idp_inactive_account_active`
/// undetermined — not found, not resolved.
#[test]
fn a_leaver_whose_active_is_unknown_stays_undetermined() {
    let mut r = linked("r1", "fay@example.com", "a1");
    r.active = Some(false);
    let mut w = World {
        records: vec![r],
        groups: Vec::new(),
        accounts: vec![account("a1", "fay@example.com")],
        idp: Vec::new(),
        previous_links: HashMap::new(),
    };
    let before = w.run();
    let leaver = found(&before, Kind::IdpInactiveAccountActive)[0].clone();
    w.records[0].active = None;
    w.records[0].unknown = vec!["active".into()];
    let after = w.run();
    assert!(found(&after, Kind::IdpInactiveAccountActive).is_empty());
    assert_eq!(after.undetermined.of(&leaver), ["active"]);
    // Another kind that does not read `active` is decided as before.
    assert!(
        after
            .undetermined
            .fields(Kind::DanglingLink, &leaver.records, &[], &[], &[], None)
            .is_empty()
    );
}

/// An account whose status is unknown neither opens nor resolves what reads it.
#[test]
fn an_unknown_account_status_is_never_a_verdict() {
    let mut a = account("a1", "gus@example.com");
    a.account_status = "unknown".into();
    a.unknown = vec!["accountStatus".into()];
    let mut r = linked("r1", "gus@example.com", "a1");
    r.active = Some(false);
    let w = World {
        records: vec![r],
        groups: Vec::new(),
        accounts: vec![a],
        idp: Vec::new(),
        previous_links: HashMap::new(),
    };
    let d = w.run();
    assert!(found(&d, Kind::IdpInactiveAccountActive).is_empty());
    let refs = [super::RecordRef {
        directory_id: "d1".into(),
        scim_id: "r1".into(),
    }];
    assert_eq!(
        d.undetermined.fields(
            Kind::IdpInactiveAccountActive,
            &refs,
            &["a1".into()],
            &[],
            &[],
            None
        ),
        ["accountStatus"]
    );
}

/// A disabled IdP user whose `accountEnabled` became unreadable: `idp_disabled_scim_active` is
/// undetermined; an unknown intent likewise.
#[test]
fn unknown_enabled_or_intent_keeps_the_idp_finding() {
    let mut u = idp_user("u1", "ana@example.com");
    u.enabled = Some(false);
    let mut r = linked("r1", "ana@example.com", "a1");
    r.external_id = Some("u1".into());
    let mut w = World {
        records: vec![r],
        groups: Vec::new(),
        accounts: vec![account("a1", "ana@example.com")],
        idp: vec![side(vec![u])],
        previous_links: HashMap::new(),
    };
    let f = found(&w.run(), Kind::IdpDisabledScimActive)[0].clone();
    w.idp[0].side.users[0].enabled = None;
    w.idp[0].side.users[0].unknown = vec!["accountEnabled".into()];
    let d = w.run();
    assert!(found(&d, Kind::IdpDisabledScimActive).is_empty());
    assert_eq!(d.undetermined.of(&f), ["accountEnabled"]);

    // No longer intended, then its intent unknown.
    let user = &mut w.idp[0].side.users[0];
    user.enabled = Some(true);
    user.intended = false;
    user.unknown.clear();
    let f = found(&w.run(), Kind::IdpDisabledScimActive)[0].clone();
    w.idp[0].side.users[0].unknown = vec![IdpUser::INTENT.into()];
    let d = w.run();
    assert!(found(&d, Kind::IdpDisabledScimActive).is_empty());
    assert_eq!(d.undetermined.of(&f), ["intent"]);
}

/// A group whose members are unreadable leaves every `no_synced_groups` of its directory
/// undetermined (anyone may be in it); another directory is decided.
#[test]
fn unreadable_group_members_undetermine_the_directory() {
    let mut r = linked("r1", "bo@example.com", "a1");
    r.groups.clear();
    let mut other = r.clone();
    other.directory_id = "d2".into();
    let g = ScimGroup {
        directory_id: "d1".into(),
        group_id: "g1".into(),
        display_name: None,
        external_id: None,
        members: Vec::new(),
        unknown: vec!["members".into()],
    };
    let w = World {
        records: vec![r, other],
        groups: vec![g],
        accounts: vec![account("a1", "bo@example.com")],
        idp: Vec::new(),
        previous_links: HashMap::new(),
    };
    let d = w.run();
    let dirs: Vec<&str> = found(&d, Kind::NoSyncedGroups)
        .iter()
        .map(|f| f.records[0].directory_id.as_str())
        .collect();
    assert_eq!(dirs, ["d2"]);
}

/// An assigned, enabled user joined to a record whose `active` is unknown: that record may be the
/// active one, so `assigned_not_provisioned` is undetermined for the user.
#[test]
fn a_joined_record_of_unknown_state_undetermines_the_intended_user() {
    let u = idp_user("u1", "cy@example.com");
    let mut r = linked("r1", "cy@example.com", "a1");
    r.external_id = Some("u1".into());
    r.active = None;
    r.unknown = vec!["active".into()];
    let w = World {
        records: vec![r],
        groups: Vec::new(),
        accounts: vec![account("a1", "cy@example.com")],
        idp: vec![side(vec![u.clone()])],
        previous_links: HashMap::new(),
    };
    let d = w.run();
    assert!(found(&d, Kind::AssignedNotProvisioned).is_empty());
    let refs = [super::IdpRef::of(&u)];
    assert_eq!(
        d.undetermined.fields(
            Kind::AssignedNotProvisioned,
            &[],
            &[],
            &refs,
            &[],
            Some("d1")
        ),
        ["active"]
    );
}

// ---- The property ------------------------------------------------------------------------------

const EMAILS: [&str; 4] = [
    "ana@example.com",
    "bo@example.com",
    "cy@example.com",
    "dee@example.com",
];

fn arb_account(i: usize) -> impl Strategy<Value = Account> {
    (
        0..EMAILS.len() + 1,
        0..3usize,
        0..3usize,
        0..3usize,
        0..3usize,
    )
        .prop_map(move |(e, st, ms, claim, ty)| Account {
            account_type: [None, Some("atlassian".into()), Some("app".into())][ty].clone(),
            account_status: ["active", "inactive", "closed"][st].into(),
            membership_status: ["active", "suspended", "no_membership"][ms].into(),
            claim_status: [Some("managed".into()), Some("unmanaged".into()), None][claim].clone(),
            email: EMAILS.get(e).map(|e| e.to_string()),
            ..account(&format!("a{i}"), "x@example.com")
        })
}

fn arb_record(i: usize) -> impl Strategy<Value = ScimRecord> {
    (
        0..EMAILS.len() + 1,
        0..3usize,
        0..7usize,
        any::<bool>(),
        0..5usize,
        any::<bool>(),
    )
        .prop_map(move |(e, active, link, grouped, ext, d2)| {
            let email = EMAILS.get(e).copied().unwrap_or("nomail");
            let mut r = record(&format!("s{i}"), email);
            if e == EMAILS.len() {
                r.email = None;
            }
            r.directory_id = if d2 { "d2" } else { "d1" }.into();
            r.active = [Some(true), Some(false), Some(true)][active];
            r.account_id = match link {
                0..=4 => Some(format!("a{link}")),
                5 => Some("ghost".into()),
                _ => None,
            };
            if !grouped {
                r.groups.clear();
            }
            r.external_id = (ext < 4).then(|| format!("u{ext}"));
            r.last_modified = Some("2025-01-01T00:00:00Z".into());
            r
        })
}

fn arb_idp_user(i: usize) -> impl Strategy<Value = IdpUser> {
    (
        0..EMAILS.len(),
        0..3usize,
        any::<bool>(),
        0..6usize,
        any::<bool>(),
    )
        .prop_map(move |(e, enabled, intended, deleted, nested)| {
            let mut u = idp_user(&format!("u{i}"), EMAILS[e]);
            u.enabled = [Some(true), Some(false), Some(true)][enabled];
            u.intended = intended;
            u.deleted = deleted == 0;
            u.nested_only = nested && !intended;
            u
        })
}

fn arb_world() -> impl Strategy<Value = World> {
    let accounts = (0..5usize).map(arb_account).collect::<Vec<_>>();
    let records = (0..6usize).map(arb_record).collect::<Vec<_>>();
    let users = (0..4usize).map(arb_idp_user).collect::<Vec<_>>();
    (
        accounts,
        records,
        users,
        proptest::collection::vec(0..6usize, 0..3),
        any::<bool>(),
    )
        .prop_map(|(accounts, records, users, members, with_idp)| World {
            groups: vec![ScimGroup {
                directory_id: "d1".into(),
                group_id: "g1".into(),
                display_name: None,
                external_id: None,
                members: members.into_iter().map(|m| format!("s{m}")).collect(),
                unknown: Vec::new(),
            }],
            records,
            accounts,
            idp: if with_idp {
                vec![side(users)]
            } else {
                Vec::new()
            },
            previous_links: HashMap::new(),
        })
}

/// Every field a subject can have unknown, as the parsers name them.
const RECORD_FIELDS: [&str; 7] = [
    "active",
    "atlassian-external.atlassianAccountId",
    "emails.value",
    "userName",
    "externalId",
    "groups",
    "meta.lastModified",
];
const ACCOUNT_FIELDS: [&str; 5] = [
    "accountStatus",
    "membershipStatus",
    "email",
    "claimStatus",
    "accountType",
];
const IDP_FIELDS: [&str; 4] = ["accountEnabled", "intent", "mail", "userPrincipalName"];

/// Makes `field` unknown on a record, with one of the values a parser may leave (`v` picks).
fn unknown_record(r: &mut ScimRecord, field: &str, v: usize) {
    match field {
        "active" => r.active = None,
        "atlassian-external.atlassianAccountId" => {
            r.account_id = None;
            r.link_unknown = true;
        }
        "emails.value" => r.email = [None, Some(r.user_name.clone())][v % 2].clone(),
        "userName" => r.user_name = ["", "odd"][v % 2].into(),
        "externalId" => r.external_id = None,
        "groups" => r.groups.clear(),
        _ => r.last_modified = None,
    }
    r.unknown.push(field.into());
}

fn unknown_account(a: &mut Account, field: &str, v: usize) {
    match field {
        "accountStatus" => a.account_status = ["unknown", "frozen"][v % 2].into(),
        "membershipStatus" => a.membership_status = ["unknown", "frozen"][v % 2].into(),
        "email" => a.email = None,
        "claimStatus" => a.claim_status = None,
        _ => a.account_type = [None, Some("robot".into())][v % 2].clone(),
    }
    a.unknown.push(field.into());
}

fn unknown_idp_user(u: &mut IdpUser, field: &str, v: usize) {
    match field {
        "accountEnabled" => u.enabled = None,
        "intent" => u.intended = false,
        "mail" => {
            u.mail = None;
            u.email = [None, u.user_principal_name.clone()][v % 2].clone();
        }
        _ => {
            u.user_principal_name = None;
            u.scim_user_name = None;
            if v.is_multiple_of(2) {
                u.email = u.mail.clone();
            }
        }
    }
    u.unknown.push(field.into());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Issue 19, item 1: a finding of pull k, with any field its kind reads made unknown on any
    /// subject it lists in pull k+1, is found again or undetermined — never resolved.
    #[test]
    fn unknown_never_resolves_a_finding(w in arb_world(), v in 0..4usize) {
        let before = w.run();
        for f in &before.findings {
            let reads = f.kind.reads();
            let mut variants: Vec<(String, World)> = Vec::new();
            for r in &f.records {
                for field in RECORD_FIELDS.iter().filter(|x| super::undetermined::reads_field(reads, x)) {
                    let mut w2 = w.clone();
                    for rec in w2.records.iter_mut().filter(|x| x.directory_id == r.directory_id && x.scim_id == r.scim_id) {
                        if let Some(a) = &rec.account_id {
                            w2.previous_links.insert(r.clone(), a.clone());
                        }
                        unknown_record(rec, field, v);
                    }
                    variants.push((format!("{} {field}", r.scim_id), w2));
                }
            }
            for a in &f.accounts {
                for field in ACCOUNT_FIELDS.iter().filter(|x| super::undetermined::reads_field(reads, x)) {
                    let mut w2 = w.clone();
                    for acc in w2.accounts.iter_mut().filter(|x| &x.account_id == a) {
                        unknown_account(acc, field, v);
                    }
                    variants.push((format!("{a} {field}"), w2));
                }
            }
            for u in &f.idp_users {
                for field in IDP_FIELDS.iter().filter(|x| super::undetermined::reads_field(reads, x)) {
                    let mut w2 = w.clone();
                    for user in w2.idp.iter_mut().flat_map(|x| x.side.users.iter_mut()).filter(|x| x.id == u.id) {
                        unknown_idp_user(user, field, v);
                    }
                    variants.push((format!("{} {field}", u.id), w2));
                }
            }
            for (what, w2) in variants {
                let after = w2.run();
                let again = after.findings.iter().any(|g| g.id() == f.id());
                prop_assert!(
                    again || !after.undetermined.of(f).is_empty(),
                    "{:?} resolved by an unknown {}", f, what
                );
                // Nothing is opened by an unknown either: a finding of k+1 that k did not have is
                // the remainder of one of k now undetermined, which the store does not open
                // (`store::findings::reconcile`).
                for g in &after.findings {
                    prop_assert!(
                        before.findings.iter().any(|x| x.id() == g.id())
                            || before.findings.iter().any(|x| x.kind == g.kind
                                && !after.undetermined.of(x).is_empty()
                                && shares_subject(x, g)),
                        "{:?} opened by an unknown {} (before: {:?})", g, what, before.findings.iter().filter(|x| x.kind == g.kind).collect::<Vec<_>>()
                    );
                }
            }
        }
    }
}

/// Whether two findings list a common record, account or IdP user.
fn shares_subject(a: &Finding, b: &Finding) -> bool {
    a.records.iter().any(|r| b.records.contains(r))
        || a.accounts.iter().any(|x| b.accounts.contains(x))
        || a.idp_users.iter().any(|u| b.idp_users.contains(u))
}

/// An unreadable account status never lowers a leaver's severity (it may still give access).
#[test]
fn an_unknown_status_never_under_ranks() {
    let mut u = idp_user("u1", "ana@example.com");
    u.enabled = Some(false);
    let mut r = linked("r1", "ana@example.com", "a1");
    r.external_id = Some("u1".into());
    let mut a = account("a1", "ana@example.com");
    a.account_status = "frozen".into();
    a.unknown = vec!["accountStatus".into()];
    let w = World {
        records: vec![r],
        groups: Vec::new(),
        accounts: vec![a],
        idp: vec![side(vec![u])],
        previous_links: HashMap::new(),
    };
    // The kind does not read the status to decide; its severity treats an unknown one as access.
    let d = w.run();
    let f = found(&d, Kind::IdpDisabledScimActive);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].severity, super::Severity::Critical);
}
