//! Unit tests of the IdP kinds over hand-built IdP sides (scenarios.md "IdP findings").

use std::collections::{HashMap, HashSet};

use super::test_support::*;
use super::{DetectSettings, Finding, IdpInput, Input, Kind, Severity, detect};
use crate::model::idp::{
    Execution, IdpSide, IdpUser, LogFacts, Mapping, ProvisioningEvent, ProvisioningJob, Quarantine,
};
use crate::model::{Account, ScimRecord};

fn user(id: &str, email: &str) -> IdpUser {
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
        groups: vec!["g".into()],
        nested_only: false,
        deleted: false,
        scim_external_id: Some(id.into()),
        scim_user_name: Some(email.into()),
        email: Some(email.into()),
        unknown: Vec::new(),
        deleted_at: Default::default(),
    }
}

fn healthy_job() -> ProvisioningJob {
    ProvisioningJob {
        job_id: "scim.1".into(),
        template_id: None,
        status: "Active".into(),
        schedule_state: Some("Active".into()),
        interval_seconds: Some(2400),
        last_execution: None,
        last_successful_execution: Some(Execution {
            began: None,
            ended: Some("2026-05-31T23:30:00Z".into()),
            state: Some("Succeeded".into()),
            error_code: None,
            error_message: None,
            count_escrowed: Default::default(),
        }),
        successive_failures: Some(0),
        quarantine: None,
        steady_state_last_achieved: None,
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
            job: Some(healthy_job()),
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

/// An active record linked to `account` whose externalId is `external`.
fn rec(id: &str, email: &str, external: &str, account: &str) -> ScimRecord {
    ScimRecord {
        external_id: Some(external.into()),
        ..linked(id, email, account)
    }
}

fn run_idp(
    kind: Kind,
    idp: &IdpInput,
    records: &[ScimRecord],
    accounts: &[Account],
) -> Vec<Finding> {
    let settings = DetectSettings {
        disabled: Kind::ALL.into_iter().filter(|k| *k != kind).collect(),
        ..DetectSettings::default()
    };
    let since = HashMap::new();
    let input = Input {
        idp: std::slice::from_ref(idp),
        records: &records.iter().collect(),
        groups: &[],
        accounts: &accounts.iter().collect(),
        inactive_since: &since,
        previous_links: &HashMap::new(),
        now: now(),
    };
    detect(&input, &settings)
}

fn idp_ids(f: &Finding) -> Vec<&str> {
    f.idp_users.iter().map(|u| u.id.as_str()).collect()
}

#[test]
fn a_healthy_side_raises_nothing() {
    let idp = side(vec![user("u1", "ana@example.com")]);
    let records = [rec("r1", "ana@example.com", "u1", "a1")];
    let accounts = [account("a1", "ana@example.com")];
    for kind in Kind::ALL.into_iter().filter(|k| k.is_idp()) {
        assert!(
            run_idp(kind, &idp, &records, &accounts).is_empty(),
            "{kind}"
        );
    }
}

#[test]
fn assigned_but_never_arrived() {
    let mut unassigned = user("u3", "cy@example.com");
    unassigned.intended = false;
    let mut disabled = user("u4", "di@example.com");
    disabled.enabled = Some(false);
    let idp = side(vec![
        user("u1", "ivy@example.com"),
        unassigned,
        disabled,
        user("u2", "mo@example.com"),
    ]);
    let accounts = [account("a15", "mo@example.com")];
    let mut found = run_idp(Kind::AssignedNotProvisioned, &idp, &[], &accounts);
    found.sort_by(|a, b| a.idp_users.cmp(&b.idp_users));
    assert_eq!(found.len(), 2);
    assert_eq!(idp_ids(&found[0]), ["u1"]);
    assert!(found[0].accounts.is_empty() && found[0].records.is_empty());
    assert_eq!(
        (idp_ids(&found[1]), ids(&found[1]).1),
        (vec!["u2"], vec!["a15"])
    );
    // Its identity includes the IdP user and the directory.
    assert_ne!(found[0].id(), found[1].id());
    assert!(
        !found[0].summary.contains("only an inactive one"),
        "{}",
        found[0].summary
    );
    assert!(
        found[1]
            .summary
            .contains("account a15 already holds the email")
    );
    // An inactive record does not count as provisioned, and is listed.
    let mut old = rec("r9", "ivy@example.com", "u1", "a9");
    old.active = Some(false);
    let found = run_idp(
        Kind::AssignedNotProvisioned,
        &side(vec![user("u1", "ivy@example.com")]),
        std::slice::from_ref(&old),
        &[],
    );
    assert_eq!(ids(&found[0]).0, ["r9"]);
    assert!(
        found[0].summary.contains("(only an inactive one)"),
        "{}",
        found[0].summary
    );
    // An inactive record whose join key cannot be read cannot be anyone's active record: it leaves
    // the directory's findings decided.
    let mut unreadable = rec("r8", "zed@example.com", "zz", "a8");
    unreadable.active = Some(false);
    unreadable.unknown = vec!["externalId".into()];
    let found = run_idp(
        Kind::AssignedNotProvisioned,
        &side(vec![user("u1", "ivy@example.com")]),
        &[old, unreadable],
        &[],
    );
    assert_eq!(found.len(), 1, "{found:?}");
}

#[test]
fn disabled_deleted_or_unassigned_but_still_active_in_scim() {
    let mut disabled = user("u2", "jon@example.com");
    disabled.enabled = Some(false);
    let mut deleted = user("u3", "kai@example.com");
    deleted.deleted = true;
    deleted.enabled = None;
    let mut unassigned = user("u4", "kim@example.com");
    unassigned.intended = false;
    let idp = side(vec![disabled, deleted, unassigned]);
    let records = [
        rec("r12", "jon@example.com", "u2", "a12"),
        rec("r13", "kai@example.com", "u3", "a13"),
        rec("r14", "kim@example.com", "u4", "a14"),
    ];
    let mut a14 = account("a14", "kim@example.com");
    a14.account_status = "inactive".into();
    let accounts = [
        account("a12", "jon@example.com"),
        account("a13", "kai@example.com"),
        a14,
    ];
    let found = run_idp(Kind::IdpDisabledScimActive, &idp, &records, &accounts);
    let by: HashMap<&str, &Finding> = found.iter().map(|f| (ids(f).0[0], f)).collect();
    assert_eq!(found.len(), 3);
    assert_eq!(idp_ids(by["r12"]), ["u2"]);
    assert_eq!(by["r12"].severity, Severity::Critical);
    // Deleted: listed (so disabled-then-deleted is one finding), the id in the detail.
    assert_eq!(idp_ids(by["r13"]), ["u3"]);
    assert!(by["r13"].summary.contains("u3"));
    // No access on the linked account: high.
    assert_eq!(by["r14"].severity, Severity::High);
    assert_eq!(idp_ids(by["r14"]), ["u4"]);
}

#[test]
fn a_user_an_earlier_pull_saw_is_deleted_not_orphan() {
    let mut idp = side(vec![]);
    idp.ever_seen.insert("gone-1".into());
    let records = [
        rec("r1", "a@example.com", "gone-1", "a1"),
        rec("r2", "b@example.com", "never-2", "a2"),
    ];
    let accounts = [
        account("a1", "a@example.com"),
        account("a2", "b@example.com"),
    ];
    let disabled = run_idp(Kind::IdpDisabledScimActive, &idp, &records, &accounts);
    assert_eq!(disabled.len(), 1);
    assert_eq!(ids(&disabled[0]), (vec!["r1"], vec!["a1"]));
    // The id gone from the IdP is listed: the same finding as while it was there, deleted.
    assert_eq!(idp_ids(&disabled[0]), ["gone-1"]);
    let orphans = run_idp(Kind::OrphanScimRecord, &idp, &records, &accounts);
    assert_eq!(orphans.len(), 1);
    assert_eq!(ids(&orphans[0]), (vec!["r2"], vec!["a2"]));
}

#[test]
fn a_weaker_key_joins_and_is_named() {
    // The IdP re-created the user: a new object id, same UPN.
    let mut u = user("new-id", "pia@example.com");
    u.enabled = Some(false);
    let idp = side(vec![u]);
    let records = [rec("r1", "pia@example.com", "old-id", "a1")];
    let found = run_idp(
        Kind::IdpDisabledScimActive,
        &idp,
        &records,
        &[account("a1", "pia@example.com")],
    );
    assert_eq!(found.len(), 1);
    assert!(
        found[0].summary.contains("matched by userName"),
        "{}",
        found[0].summary
    );
    assert!(run_idp(Kind::OrphanScimRecord, &idp, &records, &[]).is_empty());
}

#[test]
fn provisioning_errors_need_the_log_and_the_latest_event() {
    let event = |id: &str, at: &str, status: &str, reason: &str| ProvisioningEvent {
        id: id.into(),
        at: at.into(),
        job_id: None,
        cycle_id: None,
        action: "create".into(),
        status: status.into(),
        error_code: (status == "failure").then(|| "EntryConflict".to_string()),
        reason: Some(reason.into()),
        user_id: Some("u1".into()),
        target_id: None,
    };
    let mut idp = side(vec![user("u1", "mo@example.com")]);
    let failure = event(
        "e2",
        "2026-05-31T10:00:00Z",
        "failure",
        "Resource [USER]: with email[mo@example.com] already exists.",
    );
    idp.latest_events = HashMap::from([("u1".to_string(), failure.clone())]);
    let accounts = [account("a15", "mo@example.com")];
    let found = run_idp(Kind::ProvisioningError, &idp, &[], &accounts);
    assert_eq!(found.len(), 1);
    assert_eq!(ids(&found[0]).1, ["a15"]);
    assert_eq!(found[0].event.as_ref(), Some(&failure));
    assert!(found[0].summary.contains("email_conflict"));
    // A later success clears it.
    idp.latest_events = HashMap::from([(
        "u1".to_string(),
        event("e3", "2026-05-31T11:00:00Z", "success", ""),
    )]);
    assert!(run_idp(Kind::ProvisioningError, &idp, &[], &accounts).is_empty());
    // Log facts unknown: not evaluated.
    idp.latest_events = HashMap::from([("u1".to_string(), failure.clone())]);
    idp.logs_known = false;
    assert!(run_idp(Kind::ProvisioningError, &idp, &[], &accounts).is_empty());
    // ...but the stored failure still explains why the user is not provisioned.
    let found = run_idp(Kind::AssignedNotProvisioned, &idp, &[], &accounts);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].event.as_ref(), Some(&failure));
}

#[test]
fn stalled_jobs() {
    let mut idp = side(vec![]);
    assert!(run_idp(Kind::ProvisioningStalled, &idp, &[], &[]).is_empty());
    let job = idp.side.job.as_mut().unwrap();
    job.status = "Quarantine".into();
    job.quarantine = Some(Quarantine {
        reason: "EncounteredEscrowProportionThreshold".into(),
        series_began: Some("2026-05-30T00:00:00Z".into()),
        current_began: None,
        next_attempt: None,
        error_code: None,
        error_message: None,
    });
    let found = run_idp(Kind::ProvisioningStalled, &idp, &[], &[]);
    assert_eq!(found.len(), 1);
    assert!(
        found[0]
            .summary
            .contains("EncounteredEscrowProportionThreshold")
    );
    assert_eq!(found[0].directory_id.as_deref(), Some("d1"));
    // Active, but the last completed cycle is older than 3 intervals (2 h at 40 min).
    let job = idp.side.job.as_mut().unwrap();
    job.status = "Active".into();
    job.last_successful_execution.as_mut().unwrap().ended = Some("2026-05-31T21:00:00Z".into());
    assert_eq!(run_idp(Kind::ProvisioningStalled, &idp, &[], &[]).len(), 1);
    // An EntryLevelErrors run is a completed cycle.
    job_mut(&mut idp).last_execution = Some(Execution {
        began: None,
        ended: Some("2026-05-31T23:50:00Z".into()),
        state: Some("EntryLevelErrors".into()),
        error_code: None,
        error_message: None,
        count_escrowed: Default::default(),
    });
    assert!(run_idp(Kind::ProvisioningStalled, &idp, &[], &[]).is_empty());
    job_mut(&mut idp).status = "Paused".into();
    assert_eq!(run_idp(Kind::ProvisioningStalled, &idp, &[], &[]).len(), 1);
}

fn job_mut(idp: &mut IdpInput) -> &mut ProvisioningJob {
    idp.side.job.as_mut().unwrap()
}

#[test]
fn email_mismatch_and_nested_only() {
    let mut renamed = user("u7", "pia.lind@example.com");
    renamed.scim_user_name = Some("pia@example.com".into());
    let mut nested = user("u8", "quinn@example.com");
    nested.intended = false;
    nested.nested_only = true;
    let idp = side(vec![renamed, nested]);
    let records = [rec("r17", "pia@example.com", "u7", "a17")];
    let accounts = [account("a17", "pia@example.com")];
    let found = run_idp(Kind::IdpEmailMismatch, &idp, &records, &accounts);
    assert_eq!(found.len(), 1);
    assert_eq!(
        (ids(&found[0]), idp_ids(&found[0])),
        ((vec!["r17"], vec!["a17"]), vec!["u7"])
    );
    let found = run_idp(Kind::NestedGroupOnly, &idp, &records, &accounts);
    assert_eq!(found.len(), 1);
    assert_eq!(idp_ids(&found[0]), ["u8"]);
    assert!(
        found[0]
            .summary
            .starts_with("quinn@example.com is in the app's groups only through a nested group"),
        "{}",
        found[0].summary
    );
    // Neither assigned nor nested (simply not in the app), or nested but assigned directly too:
    // not this kind.
    let mut outside = user("u9", "out@example.com");
    outside.intended = false;
    let mut both = user("u10", "both@example.com");
    both.nested_only = true;
    let found = run_idp(Kind::NestedGroupOnly, &side(vec![outside, both]), &[], &[]);
    assert!(found.is_empty(), "{found:?}");
}

#[test]
fn an_idp_user_is_named_by_its_email_else_its_upn_else_its_id() {
    let mut u = user("u1", "ana@example.com");
    u.user_principal_name = Some("ana.upn@example.com".into());
    assert_eq!(super::idp_index::label(&u), "ana@example.com");
    u.email = None;
    assert_eq!(super::idp_index::label(&u), "ana.upn@example.com");
    u.user_principal_name = None;
    assert_eq!(super::idp_index::label(&u), "u1");
}

#[test]
fn scope_all_uses_only_the_job_and_the_log() {
    let mut idp = side(vec![user("u1", "ivy@example.com")]);
    idp.side.scope_all = true;
    assert!(run_idp(Kind::AssignedNotProvisioned, &idp, &[], &[]).is_empty());
    let records = [rec("r1", "x@example.com", "nobody", "a1")];
    assert!(run_idp(Kind::OrphanScimRecord, &idp, &records, &[]).is_empty());
    job_mut(&mut idp).status = "Paused".into();
    assert_eq!(run_idp(Kind::ProvisioningStalled, &idp, &[], &[]).len(), 1);
}

#[test]
fn atlassian_kinds_keep_their_identity() {
    // The id of an Atlassian finding does not change with the IdP fields (they are empty).
    let records: crate::model::compact::Records =
        [&record("r1", "a@example.com")].into_iter().collect();
    let f = Finding::new(Kind::DanglingLink, records.iter(), [], String::new());
    let mut g = f.clone();
    g.summary = "other".into();
    assert_eq!(f.id(), g.id());
    assert!(f.idp_users.is_empty() && f.directory_id.is_none());
}

/// Issue 20, item 4 (scenarios.md): a finding lists only the user's own record, the one joined by
/// the strongest key; a stale second record that only shares the userName is no IdP kind's (it is
/// `duplicate_email`'s), so deleting it neither resolves nor changes the finding.
#[test]
fn a_finding_lists_the_users_own_record_only() {
    let mut idp = side(vec![user("u1", "mo@example.com")]);
    let failure = ProvisioningEvent {
        id: "e1".into(),
        at: "2026-05-31T10:00:00Z".into(),
        job_id: None,
        cycle_id: None,
        action: "update".into(),
        status: "failure".into(),
        error_code: Some("Timeout".into()),
        reason: None,
        user_id: Some("u1".into()),
        target_id: None,
    };
    idp.latest_events = HashMap::from([("u1".to_string(), failure)]);
    let own = rec("r1", "mo@example.com", "u1", "a1");
    // The stale record: same userName, an old object id as externalId, still active.
    let stale = rec("r2", "mo@example.com", "old-object-id", "a2");
    let accounts = [
        account("a1", "mo@example.com"),
        account("a2", "old@example.com"),
    ];
    let with_stale = [own.clone(), stale];
    for kind in [
        Kind::ProvisioningError,
        Kind::OrphanScimRecord,
        Kind::IdpDisabledScimActive,
    ] {
        let both = run_idp(kind, &idp, &with_stale, &accounts);
        let alone = run_idp(kind, &idp, std::slice::from_ref(&own), &accounts);
        let ids = |f: &[Finding]| f.iter().map(Finding::id).collect::<Vec<_>>();
        assert_eq!(
            ids(&both),
            ids(&alone),
            "{kind}: the stale record changed it"
        );
    }
    let found = run_idp(Kind::ProvisioningError, &idp, &with_stale, &accounts);
    assert_eq!(ids(&found[0]).0, ["r1"]);
    // Without its own record, the weaker key is the user's best: the stale one is theirs.
    let stale_only = [rec("r2", "mo@example.com", "old-object-id", "a2")];
    let found = run_idp(Kind::ProvisioningError, &idp, &stale_only, &accounts);
    assert_eq!(ids(&found[0]).0, ["r2"]);
}

/// Runs every kind over one IdP side and returns the whole detection (findings and what could not
/// be decided).
fn detect_everything(
    idp: &IdpInput,
    records: &[ScimRecord],
    accounts: &[Account],
) -> super::Detection {
    let since = HashMap::new();
    let input = Input {
        idp: std::slice::from_ref(idp),
        records: &records.iter().collect(),
        groups: &[],
        accounts: &accounts.iter().collect(),
        inactive_since: &since,
        previous_links: &HashMap::new(),
        now: now(),
    };
    super::detect_all(&input, &DetectSettings::default())
}

#[test]
fn an_orphan_is_high_while_its_account_gives_access_else_medium() {
    let idp = side(vec![user("u1", "ana@example.com")]);
    let records = [
        rec("r1", "ana@example.com", "u1", "a1"),
        rec("r2", "rui@example.com", "e-1900", "a2"),
        rec("r3", "sal@example.com", "e-1901", "a3"),
    ];
    let mut suspended = account("a3", "sal@example.com");
    suspended.membership_status = "suspended".into();
    let accounts = [
        account("a1", "ana@example.com"),
        account("a2", "rui@example.com"),
        suspended,
    ];
    let mut found = run_idp(Kind::OrphanScimRecord, &idp, &records, &accounts);
    found.sort_by(|a, b| a.records.cmp(&b.records));
    assert_eq!(
        found.len(),
        2,
        "a user without unknown fields decides the directory: {found:?}"
    );
    assert_eq!(
        (ids(&found[0]).0, found[0].severity),
        (vec!["r2"], Severity::High)
    );
    assert!(
        found[0]
            .summary
            .contains("keeps access through the linked account")
    );
    assert_eq!(
        (ids(&found[1]).0, found[1].severity),
        (vec!["r3"], Severity::Medium)
    );
    assert!(
        !found[1].summary.contains("keeps access"),
        "{}",
        found[1].summary
    );
}

#[test]
fn an_unknown_join_key_leaves_undecided_only_what_it_could_join() {
    // u2's mapped email cannot be read: any record not joined by externalId may be u2's.
    let mut blind = user("u2", "bo@example.com");
    blind.unknown = vec!["mail".into()];
    let idp = side(vec![user("u1", "ana@example.com"), blind]);
    let records = [
        rec("r1", "ana@example.com", "u1", "a1"),
        rec("r2", "rui@example.com", "e-1900", "a2"),
    ];
    let accounts = [
        account("a1", "ana@example.com"),
        account("a2", "rui@example.com"),
    ];
    let d = detect_everything(&idp, &records, &accounts);
    assert!(
        !d.findings.iter().any(|f| f.kind == Kind::OrphanScimRecord),
        "no orphan is decided while a user's join key is unknown: {:?}",
        d.findings
    );
    let fields = |kind: Kind, record: &ScimRecord, user: Option<&crate::model::idp::IdpUser>| {
        d.undetermined.fields(
            kind,
            &[super::RecordRef::of_record(record)],
            &[],
            &user.map(super::IdpRef::of).into_iter().collect::<Vec<_>>(),
            &[],
            None,
        )
    };
    // Joined by externalId: decided; not joined: undecided, for the join kinds.
    assert!(fields(Kind::IdpDisabledScimActive, &records[0], None).is_empty());
    assert_eq!(
        fields(Kind::IdpDisabledScimActive, &records[1], None),
        ["mail"]
    );
    assert!(
        fields(
            Kind::IdpDisabledScimActive,
            &records[0],
            Some(&idp.side.users[0])
        )
        .is_empty()
    );
    assert_eq!(
        fields(
            Kind::AssignedNotProvisioned,
            &records[0],
            Some(&idp.side.users[1])
        ),
        ["mail"],
        "u2 has no record joined by externalId"
    );
}
