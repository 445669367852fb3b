//! One test per guard, on hand-made findings.

use std::collections::{HashMap, HashSet};

use chrono::{Duration, TimeZone, Utc};

use super::*;
use crate::findings::{AccountView, FindingView, ScimUserView, Status};
use crate::model::Account;
use crate::remediate::policy::{RemediationConfig, RuleConfig};
use crate::store::{SnapshotInfo, State};

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, 8, 0, 0).unwrap()
}

fn snapshot(id: i64, complete: bool, age_seconds: i64) -> SnapshotInfo {
    SnapshotInfo {
        snapshot_id: id,
        started_at: String::new(),
        finished_at: (now() - Duration::seconds(age_seconds)).to_rfc3339(),
        duration_seconds: 1.0,
        complete,
        scim_records: 0,
        accounts: 0,
        retries: 0,
        versions_added: 0,
        versions_closed: 0,
        held: false,
        shrink: None,
        sources: vec![],
    }
}

fn leaver(n: usize, seen: i64) -> FindingView {
    let email = format!("p{n}@example.com");
    FindingView {
        id: format!("idp_inactive_account_active-{n}"),
        kind: Kind::IdpInactiveAccountActive,
        severity: Kind::IdpInactiveAccountActive.severity(),
        status: Status::Open,
        first_seen: format!("2026-11-{:02}T00:00:00Z", n + 1),
        last_seen: String::new(),
        resolved_at: None,
        seen_count: seen,
        scim_users: vec![ScimUserView {
            directory_id: "d1".into(),
            directory: "entra".into(),
            scim_id: format!("r{n}"),
            external_id: None,
            email: Some(email.clone()),
            display_name: None,
            active: Some(false),
            account_id: Some(format!("a{n}")),
        }],
        accounts: vec![AccountView {
            account_id: format!("a{n}"),
            email: Some(email),
            name: None,
            account_status: "active".into(),
            membership_status: "active".into(),
            claim_status: Some("managed".into()),
        }],
        idp_users: Vec::new(),
        groups: Vec::new(),
        provisioning: None,
        summary: String::new(),
        suggested_fix: String::new(),
        suppressed_by: None,
        undetermined: Vec::new(),
    }
}

fn population(n: usize) -> State {
    let accounts = (0..n)
        .map(|i| Account {
            account_id: format!("x{i}"),
            account_type: None,
            account_status: "active".into(),
            membership_status: "active".into(),
            status: None,
            claim_status: None,
            management_source: None,
            email: None,
            name: None,
            added_to_org: None,
            deactivated_on: None,
            unknown: Vec::new(),
        })
        .collect();
    State {
        accounts,
        ..Default::default()
    }
}

struct Case {
    policy: RemediationConfig,
    findings: Vec<FindingView>,
    latest: SnapshotInfo,
    complete: SnapshotInfo,
    state: State,
    failed: HashSet<String>,
    succeeded: HashSet<String>,
    suspended_by_us: HashSet<String>,
    unlinked: Vec<Unlinked>,
    already_used: usize,
    /// Openings beyond the one each finding has at its `first_seen` (reopens).
    reopened: Vec<Opening>,
    idp: IdpFacts,
}

impl Case {
    fn new(findings: Vec<FindingView>) -> Case {
        Case {
            policy: RemediationConfig {
                enabled: true,
                max_percent_of_population: 100.0,
                rules: vec![RuleConfig {
                    kind: "idp_inactive_account_active".into(),
                    action: "suspend".into(),
                    mode: Mode::Apply,
                    min_confirmations: 2,
                    directories: vec![],
                    never_touch: vec![],
                }],
                ..Default::default()
            },
            findings,
            latest: snapshot(2, true, 10),
            complete: snapshot(2, true, 10),
            state: population(100),
            failed: HashSet::new(),
            succeeded: HashSet::new(),
            suspended_by_us: HashSet::new(),
            unlinked: Vec::new(),
            already_used: 0,
            reopened: Vec::new(),
            idp: IdpFacts::default(),
        }
    }

    /// Each finding opened by the snapshot that finished at its `first_seen` (the complete one,
    /// or an earlier one per distinct time), plus the reopens.
    fn openings(&self) -> Vec<Opening> {
        let mut times: Vec<&str> = self
            .findings
            .iter()
            .map(|f| f.first_seen.as_str())
            .collect();
        times.sort();
        times.dedup();
        let snapshot_of = |at: &str| {
            if at == self.complete.finished_at {
                self.complete.snapshot_id
            } else {
                -1 - times.iter().position(|t| *t == at).unwrap_or(0) as i64
            }
        };
        self.findings
            .iter()
            .map(|f| Opening {
                finding_id: f.id.clone(),
                kind: f.kind,
                snapshot_id: snapshot_of(&f.first_seen),
            })
            .chain(self.reopened.iter().cloned())
            .collect()
    }

    fn plan(&self) -> Plan {
        let rules = self.policy.rules().unwrap();
        let names = HashMap::new();
        let openings = self.openings();
        plan(&Inputs {
            now: now(),
            pull_interval: Duration::minutes(15),
            latest: Some(&self.latest),
            latest_complete: Some(&self.complete),
            findings: &self.findings,
            openings: &openings,
            state: &self.state,
            policy: &self.policy,
            rules: &rules,
            failed: &self.failed,
            succeeded: &self.succeeded,
            suspended_by_us: &self.suspended_by_us,
            unlinked: &self.unlinked,
            already_used: self.already_used,
            directory_names: &names,
            idp: &self.idp,
        })
    }
}

fn allowed(p: &Plan) -> usize {
    p.steps.iter().filter(|s| s.allowed).count()
}

/// Nothing is allowed, and the first step's reason says `why`.
fn assert_blocked_because(p: &Plan, why: &str) {
    assert_eq!(allowed(p), 0, "{p:#?}");
    let reason = &p.steps[0].reason;
    assert!(reason.contains(why), "{reason}");
}

#[test]
fn a_confirmed_leaver_is_planned() {
    let p = Case::new(vec![leaver(1, 2)]).plan();
    assert_eq!(allowed(&p), 1);
    assert_eq!(p.to_apply().count(), 1);
    assert_eq!(p.steps[0].targets[0].account_id.as_deref(), Some("a1"));
    assert!(p.blocked.is_empty());
}

#[test]
fn disabled_blocks_everything() {
    let mut c = Case::new(vec![leaver(1, 5)]);
    c.policy.enabled = false;
    let p = c.plan();
    assert_eq!(allowed(&p), 0);
    assert_eq!(p.blocked.get("enabled"), Some(&1));
}

#[test]
fn confirmations_are_required() {
    let p = Case::new(vec![leaver(1, 1)]).plan();
    assert_eq!(p.blocked.get("confirmations"), Some(&1));
}

/// Unknown is never evidence: a confirmed leaver whose finding the latest snapshot could not
/// decide (its `active` unreadable) is never acted on, and the step says why.
#[test]
fn an_undetermined_finding_is_never_acted_on() {
    let mut f = leaver(1, 5);
    f.undetermined = vec!["active".into()];
    let p = Case::new(vec![f, leaver(2, 5)]).plan();
    assert_eq!(allowed(&p), 1, "the decided leaver is still planned");
    assert_eq!(p.blocked.get("determined"), Some(&1));
    let step = p
        .steps
        .iter()
        .find(|s| s.finding_id.ends_with("-1"))
        .unwrap();
    let v = step
        .guards
        .iter()
        .find(|g| g.guard == Guard::Determined)
        .unwrap();
    assert!(!v.passed && v.detail.contains("active"), "{v:?}");
}

#[test]
fn an_incomplete_latest_snapshot_blocks() {
    let mut c = Case::new(vec![leaver(1, 3)]);
    c.latest = snapshot(3, false, 5);
    assert_eq!(c.plan().blocked.get("snapshot"), Some(&1));
}

#[test]
fn an_old_snapshot_blocks() {
    let mut c = Case::new(vec![leaver(1, 3)]);
    c.complete = snapshot(2, true, 16 * 60);
    c.latest = c.complete.clone();
    assert_eq!(c.plan().blocked.get("snapshot"), Some(&1));
}

#[test]
fn the_breaker_trips_on_a_spike_of_new_findings() {
    let mut c = Case::new(vec![leaver(1, 3), leaver(2, 1), leaver(3, 1)]);
    c.policy.spike_threshold = 2;
    let p = c.plan();
    assert!(p.breaker_tripped, "two new findings reach a threshold of 2");
    assert_eq!(allowed(&p), 0);
    c.policy.spike_threshold = 3;
    assert!(!c.plan().breaker_tripped);
}

#[test]
fn caps_per_cycle_and_per_population() {
    let findings: Vec<_> = (1..=6).map(|n| leaver(n, 3)).collect();
    let mut c = Case::new(findings);
    c.policy.max_actions_per_cycle = 4;
    let p = c.plan();
    assert_eq!(allowed(&p), 4);
    assert_eq!(p.blocked.get("cap_per_cycle"), Some(&2));
    c.policy.max_percent_of_population = 3.0; // 3% of 100 accounts
    let p = c.plan();
    assert_eq!(allowed(&p), 3);
    assert_eq!(p.blocked.get("cap_population"), Some(&3));
    // The oldest findings go first.
    assert!(p.steps[0].allowed && p.steps[0].finding_id.ends_with("-1"));
}

#[test]
fn directory_scope_is_respected() {
    let mut c = Case::new(vec![leaver(1, 3)]);
    c.policy.rules[0].directories = vec!["okta".into()];
    assert_eq!(c.plan().blocked.get("directories"), Some(&1));
    c.policy.rules[0].directories = vec!["entra".into()];
    assert_eq!(allowed(&c.plan()), 1);
    // The verdict says what the scope is: the rule's directories, or all of them.
    let detail = |p: &Plan| {
        p.steps[0]
            .guards
            .iter()
            .find(|g| g.guard == Guard::Directories)
            .map(|g| g.detail.clone())
            .unwrap()
    };
    assert_eq!(detail(&c.plan()), "in scope (entra)");
    c.policy.rules[0].directories = vec![];
    assert_eq!(detail(&c.plan()), "all directories in scope");
}

#[test]
fn never_touch_global_and_per_rule() {
    let mut c = Case::new(vec![leaver(1, 3), leaver(2, 3)]);
    c.policy.never_touch = vec!["P1@Example.com".into()];
    c.policy.rules[0].never_touch = vec!["a2".into()];
    let p = c.plan();
    assert_eq!(allowed(&p), 0);
    assert_eq!(p.blocked.get("never_touch"), Some(&2));
}

#[test]
fn never_twice_on_one_target() {
    let mut second = leaver(1, 3);
    second.id = "idp_inactive_account_active-other".into();
    let p = Case::new(vec![leaver(1, 3), second]).plan();
    assert_eq!(allowed(&p), 1);
    assert_eq!(p.blocked.get("once_per_target"), Some(&1));
}

#[test]
fn an_earlier_failure_is_not_retried() {
    let mut c = Case::new(vec![leaver(1, 3)]);
    let key = c.plan().steps[0].action_key();
    c.failed.insert(key);
    assert_eq!(c.plan().blocked.get("previous_failure"), Some(&1));
}

#[test]
fn dry_run_steps_are_planned_but_not_applied() {
    let mut c = Case::new(vec![leaver(1, 3)]);
    c.policy.rules[0].mode = Mode::DryRun;
    let p = c.plan();
    assert_eq!(allowed(&p), 1);
    assert_eq!(p.to_apply().count(), 0);
    c.policy.rules[0].mode = Mode::Off;
    assert!(c.plan().steps.is_empty());
}

#[test]
fn keys_are_stable_and_distinct_per_snapshot() {
    let p = Case::new(vec![leaver(1, 3)]).plan();
    let s = &p.steps[0];
    assert_eq!(s.idempotency_key(2), s.idempotency_key(2));
    assert_ne!(s.idempotency_key(2), s.idempotency_key(3));
}

#[test]
fn placeholder_fills_the_template() {
    assert_eq!(
        placeholder(
            "{local}+moved-{date}@{domain}",
            "bo.new@example.com",
            "a4",
            now()
        ),
        "bo.new+moved-20261124@example.com"
    );
}

#[test]
fn findings_born_in_a_spike_stay_blocked_in_later_cycles() {
    // Three leavers opened by one earlier snapshot, now confirmed: still never auto-remediated.
    let findings: Vec<_> = (1..=3)
        .map(|n| {
            let mut f = leaver(n, 3);
            f.first_seen = "2026-11-20T00:00:00Z".into();
            f
        })
        .collect();
    let mut c = Case::new(findings);
    c.policy.spike_threshold = 3;
    let p = c.plan();
    assert!(!p.breaker_tripped, "not the latest snapshot's spike");
    assert_eq!(allowed(&p), 0);
    assert_eq!(p.blocked.get("breaker"), Some(&3));
    let why = &p.steps[0].blocked_by()[0].detail;
    assert!(
        why.contains("opened in a spike of 3 idp_inactive_account_active findings"),
        "{why}"
    );
    c.policy.spike_threshold = 4;
    assert_eq!(allowed(&c.plan()), 3);
}

#[test]
fn a_mass_reopen_is_a_spike_in_later_cycles_too() {
    // Three leavers first seen on different days, resolved, then all reopened by snapshot 1.
    let mut c = Case::new((1..=3).map(|n| leaver(n, 3)).collect());
    c.reopened = (1..=3)
        .map(|n| Opening {
            finding_id: format!("idp_inactive_account_active-{n}"),
            kind: Kind::IdpInactiveAccountActive,
            snapshot_id: 1,
        })
        .collect();
    c.policy.spike_threshold = 3;
    let p = c.plan();
    assert!(!p.breaker_tripped, "the spike was an earlier snapshot's");
    assert_eq!(allowed(&p), 0);
    assert_eq!(p.blocked.get("breaker"), Some(&3));
    assert!(p.steps[0].blocked_by()[0].detail.contains("by snapshot 1"));
    // The same reopen by the latest snapshot trips the whole plan.
    for o in &mut c.reopened {
        o.snapshot_id = c.complete.snapshot_id;
    }
    assert!(c.plan().breaker_tripped);
    c.policy.spike_threshold = 4;
    assert_eq!(allowed(&c.plan()), 3);
}

#[test]
fn a_spike_of_the_latest_snapshot_trips_the_breaker() {
    let mut c = Case::new(vec![leaver(1, 3), leaver(2, 3)]);
    for f in &mut c.findings {
        f.first_seen = c.complete.finished_at.clone();
    }
    c.policy.spike_threshold = 1;
    let p = c.plan();
    assert!(p.breaker_tripped);
    assert_eq!(allowed(&p), 0);
}

#[test]
fn earlier_calls_on_the_snapshot_count_toward_the_caps() {
    let findings: Vec<_> = (1..=6).map(|n| leaver(n, 3)).collect();
    let mut c = Case::new(findings);
    c.policy.max_actions_per_cycle = 4;
    c.already_used = 3;
    assert_eq!(allowed(&c.plan()), 1);
}

fn record(scim_id: &str, account: Option<&str>, created: Option<&str>) -> crate::model::ScimRecord {
    crate::model::ScimRecord {
        directory_id: "d1".into(),
        scim_id: scim_id.into(),
        external_id: None,
        user_name: "ana@example.com".into(),
        email: Some("ana@example.com".into()),
        display_name: None,
        active: Some(true),
        account_id: account.map(str::to_string),
        groups: vec![],
        created: created.map(str::to_string),
        link_unknown: false,
        last_modified: None,
        unknown: Vec::new(),
    }
}

fn user(scim_id: &str, account: Option<&str>) -> ScimUserView {
    ScimUserView {
        directory_id: "d1".into(),
        directory: "entra".into(),
        scim_id: scim_id.into(),
        external_id: None,
        email: Some("ana@example.com".into()),
        display_name: None,
        active: Some(true),
        account_id: account.map(str::to_string),
    }
}

/// `email_conflict` {r2; a1}: r2 (created `mine`) cannot link because a1 (linked from r1, created
/// `holder`) holds the email; an unlink rule.
fn conflict_case(mine: Option<&str>, holder: Option<&str>) -> Case {
    let mut f = leaver(1, 3);
    f.id = "email_conflict-1".into();
    f.kind = Kind::EmailConflict;
    f.scim_users = vec![user("r2", None)];
    f.accounts[0].email = Some("Ana@example.com".into());
    let mut c = Case::new(vec![f]);
    c.policy.rules[0].kind = "email_conflict".into();
    c.policy.rules[0].action = "unlink".into();
    c.state.records = vec![record("r1", Some("a1"), holder), record("r2", None, mine)];
    c
}

#[test]
fn email_conflict_never_moves_the_older_records_account() {
    let old = Some("2022-01-01T00:00:00.123Z");
    let new = Some("2026-01-01T00:00:00.123456Z");
    assert_blocked_because(&conflict_case(new, old).plan(), "older record");
    let p = conflict_case(old, new).plan();
    assert_eq!(allowed(&p), 1);
    assert_eq!(p.steps[0].targets[0].account_id.as_deref(), Some("a1"));
    for (mine, holder) in [(old, old), (None, new), (old, None)] {
        let p = conflict_case(mine, holder).plan();
        assert_eq!(allowed(&p), 0);
        assert_eq!(p.steps[0].reason, "cannot tell which record is newer");
    }
}

/// `duplicate_email` {r3, r4; a3, a4}, both holding ana@example.com; an unlink rule.
fn duplicate_case(r3: Option<&str>, r4: Option<&str>) -> Case {
    let mut f = leaver(1, 3);
    f.id = "duplicate_email-1".into();
    f.kind = Kind::DuplicateEmail;
    f.scim_users = vec![user("r3", Some("a3")), user("r4", Some("a4"))];
    f.accounts[0].email = Some("ana@example.com".into());
    let mut a4 = f.accounts[0].clone();
    a4.account_id = "a4".into();
    f.accounts[0].account_id = "a3".into();
    f.accounts.push(a4);
    let mut c = Case::new(vec![f]);
    c.policy.rules[0].kind = "duplicate_email".into();
    c.policy.rules[0].action = "unlink".into();
    c.state.records = vec![record("r3", Some("a3"), r3), record("r4", Some("a4"), r4)];
    c
}

#[test]
fn duplicate_email_frees_the_email_only_for_an_active_older_record() {
    let mut c = duplicate_case(Some("2023-01-01T00:00:00Z"), Some("2026-01-01T00:00:00Z"));
    assert_eq!(
        c.plan().steps[0]
            .contest
            .as_ref()
            .unwrap()
            .record
            .scim_id
            .as_deref(),
        Some("r3")
    );
    // The older record is a leaver's: the active newer account is never moved (or unlinked) for it.
    c.findings[0].scim_users[0].active = Some(false);
    for action in ["move_email", "unlink"] {
        c.policy.rules[0].action = action.into();
        assert_blocked_because(&c.plan(), "active");
    }
}

#[test]
fn unlink_needs_the_account_to_hold_the_contested_email() {
    let mut c = duplicate_case(Some("2023-01-01T00:00:00Z"), Some("2026-01-01T00:00:00Z"));
    c.policy.rules[0].action = "unlink".into();
    assert_eq!(allowed(&c.plan()), 1);
    c.findings[0].accounts[1].email = Some("ana.c@example.com".into());
    assert_blocked_because(&c.plan(), "frees nothing");
}

#[test]
fn a_failure_or_success_on_the_same_target_blocks_under_another_finding_too() {
    let mut c = Case::new(vec![leaver(1, 3)]);
    c.failed.insert("suspend|account:a1".into());
    assert_eq!(c.plan().blocked.get("previous_failure"), Some(&1));
    c.failed.clear();
    c.succeeded.insert("suspend|account:a1".into());
    assert_eq!(c.plan().blocked.get("already_done"), Some(&1));
}

#[test]
fn duplicate_email_needs_a_strictly_newer_record() {
    let case = |r3: Option<&str>, r4: Option<&str>| duplicate_case(r3, r4).plan();
    let p = case(Some("2023-01-01T00:00:00Z"), Some("2026-01-01T00:00:00Z"));
    assert_eq!(allowed(&p), 1);
    assert_eq!(p.steps[0].targets[0].account_id.as_deref(), Some("a4"));
    for (r3, r4) in [
        (
            Some("2026-01-01T00:00:00Z"),
            Some("2026-01-01T00:00:00.000Z"),
        ),
        (None, Some("2026-01-01T00:00:00Z")),
    ] {
        let p = case(r3, r4);
        assert_eq!(allowed(&p), 0);
        assert_eq!(p.steps[0].reason, "cannot tell which record is newer");
    }
}

#[test]
fn one_finding_cannot_act_twice_on_a_record_and_its_account() {
    // stale_inactive_link R1 → A1 (deactivated): delete_scim_record and delete_in_scim_db both touch it.
    let mut f = leaver(1, 3);
    f.id = "stale_inactive_link-1".into();
    f.kind = Kind::StaleInactiveLink;
    f.accounts[0].account_status = "inactive".into();
    let mut c = Case::new(vec![f]);
    c.policy.rules[0].kind = "stale_inactive_link".into();
    c.policy.rules[0].action = "delete_scim_record".into();
    let mut second = c.policy.rules[0].clone();
    second.action = "delete_in_scim_db".into();
    c.policy.rules.push(second);
    let mut r1 = record("r1", Some("a1"), None);
    r1.active = Some(false);
    c.state.records = vec![r1];
    c.state.accounts[0].account_id = "a1".into();
    c.state.accounts[0].account_status = "inactive".into();
    let p = c.plan();
    assert_eq!(p.steps.len(), 2);
    assert_eq!(allowed(&p), 1, "{:#?}", p.steps);
    assert_eq!(p.blocked.get("once_per_target"), Some(&1));
}

#[test]
fn delete_in_scim_db_never_hides_a_leaver_who_keeps_access() {
    // A stale link whose account still has access: deleting its SCIM records would turn a
    // critical idp_inactive_account_active into a quiet unmanaged_account.
    let mut f = leaver(1, 3);
    f.kind = Kind::StaleInactiveLink;
    f.id = "stale_inactive_link-1".into();
    let mut c = Case::new(vec![f]);
    c.policy.rules = vec![RuleConfig {
        kind: "stale_inactive_link".into(),
        action: "delete_in_scim_db".into(),
        mode: Mode::Apply,
        min_confirmations: 2,
        directories: vec![],
        never_touch: vec![],
    }];
    let account = |status: &str| Account {
        account_id: "a1".into(),
        account_type: None,
        account_status: status.into(),
        membership_status: "active".into(),
        status: None,
        claim_status: Some("managed".into()),
        management_source: None,
        email: Some("p1@example.com".into()),
        name: None,
        added_to_org: None,
        deactivated_on: None,
        unknown: Vec::new(),
    };
    c.state.records.push(crate::model::ScimRecord {
        directory_id: "d1".into(),
        scim_id: "r1".into(),
        external_id: None,
        user_name: "p1@example.com".into(),
        email: Some("p1@example.com".into()),
        display_name: None,
        active: Some(false),
        account_id: Some("a1".into()),
        groups: vec![],
        created: None,
        link_unknown: false,
        last_modified: None,
        unknown: Vec::new(),
    });
    c.state.accounts.push(account("active"));
    let p = c.plan();
    assert_eq!(allowed(&p), 0, "the account still has access");
    c.state.accounts.pop();
    c.state.accounts.push(account("inactive"));
    assert_eq!(
        allowed(&c.plan()),
        1,
        "a deactivated account's stale records may go"
    );
}

#[test]
fn a_spike_does_not_shrink_when_some_of_it_is_fixed_by_hand() {
    let findings: Vec<_> = (1..=3)
        .map(|n| {
            let mut f = leaver(n, 3);
            f.first_seen = "2026-11-20T00:00:00Z".into();
            if n == 3 {
                f.status = Status::Resolved;
            }
            f
        })
        .collect();
    let mut c = Case::new(findings);
    c.policy.spike_threshold = 2;
    let p = c.plan();
    assert_eq!(
        allowed(&p),
        0,
        "2 open findings of a 3-finding spike stay blocked"
    );
    assert_eq!(p.blocked.get("breaker"), Some(&2));
}

#[test]
fn duplicate_email_never_moves_an_account_an_older_record_elsewhere_links() {
    // R4 (newest) links A4, but A4 is also linked from a 2019 record in another directory with
    // another email: A4 is the account with history and must not be moved.
    let mut c = duplicate_case(Some("2023-01-01T00:00:00Z"), Some("2026-01-01T00:00:00Z"));
    let mut elsewhere = record("r9", Some("a4"), Some("2019-01-01T00:00:00Z"));
    elsewhere.directory_id = "d2".into();
    elsewhere.email = Some("bo.old@example.org".into());
    c.state.records.push(elsewhere);
    assert_blocked_because(&c.plan(), "older record");
}

#[test]
fn a_successful_action_is_never_repeated_automatically() {
    let mut c = Case::new(vec![leaver(1, 3), leaver(2, 3)]);
    let first = c.plan();
    c.succeeded.insert(first.steps[0].action_key());
    let p = c.plan();
    assert_eq!(allowed(&p), 1);
    assert_eq!(p.blocked.get("already_done"), Some(&1));
}

fn suspended_admin_case() -> Case {
    let mut f = leaver(1, 3);
    f.id = "deactivated_idp_active-1".into();
    f.kind = Kind::DeactivatedIdpActive;
    f.scim_users[0].active = Some(true);
    f.accounts[0].membership_status = "suspended".into();
    let mut c = Case::new(vec![f]);
    c.policy.rules[0].kind = "deactivated_idp_active".into();
    c.policy.rules[0].action = "restore".into();
    c
}

#[test]
fn restore_only_undoes_scimdrifts_own_suspensions_by_default() {
    let mut c = suspended_admin_case();
    let p = c.plan();
    assert_eq!(allowed(&p), 0);
    assert_eq!(p.blocked.get("own_suspension"), Some(&1));
    c.suspended_by_us.insert("a1".into());
    assert_eq!(allowed(&c.plan()), 1);
    c.suspended_by_us.clear();
    c.policy.restore_any_suspension = true;
    assert_eq!(allowed(&c.plan()), 1);
}

#[test]
fn email_steps_carry_the_contest_and_move_only_the_holder_of_the_email() {
    let mut c = conflict_case(Some("2022-01-01T00:00:00Z"), Some("2026-01-01T00:00:00Z"));
    let p = c.plan();
    let contest = p.steps[0].contest.as_ref().unwrap();
    assert_eq!(contest.email, "ana@example.com");
    assert_eq!(contest.record.scim_id.as_deref(), Some("r2"));
    // The holder's email changed since: nothing to move.
    c.findings[0].accounts[0].email = Some("someone.else@example.com".into());
    assert_blocked_because(&c.plan(), "does not hold");
}

#[test]
fn a_move_finishes_an_earlier_unlink_only_while_still_due() {
    // a1 was unlinked from r1 by an earlier cycle: no record links it any more.
    let mut c = conflict_case(Some("2022-01-01T00:00:00Z"), Some("2026-01-01T00:00:00Z"));
    c.policy.rules[0].action = "move_email".into();
    c.state.records[0].account_id = None;
    let blocked = c.plan();
    assert_eq!(allowed(&blocked), 0, "the finding alone no longer names a1");
    let mut a1 = population(1).accounts.remove(0);
    a1.account_id = "a1".into();
    a1.email = Some("ana@example.com".into());
    c.state.accounts.push(a1);
    c.unlinked.push(Unlinked {
        finding_id: "email_conflict-1".into(),
        account_id: "a1".into(),
        contest: Contest {
            email: "ana@example.com".into(),
            record: Target {
                directory_id: Some("d1".into()),
                scim_id: Some("r2".into()),
                ..Default::default()
            },
        },
        at: "2026-11-23T08:00:00.000Z".into(),
    });
    let p = c.plan();
    assert_eq!(allowed(&p), 1);
    assert!(p.steps[0].reason.contains("finishes the unlink"));
    // Re-linked since, or the email moved already: nothing to do.
    c.state.records[0].account_id = Some("a1".into());
    c.state.records[0].created = Some("2026-01-01T00:00:00Z".into());
    c.state.accounts.last_mut().unwrap().email = Some("ana+moved@example.com".into());
    c.findings[0].accounts[0].email = Some("ana+moved@example.com".into());
    assert_eq!(allowed(&c.plan()), 0);
}

/// `conflict_case` where a1 is also linked from r1b in directory d2 (same email, newer), with an
/// unlink rule and a move_email rule.
fn two_directory_conflict() -> Case {
    let mut c = conflict_case(Some("2022-01-01T00:00:00Z"), Some("2026-01-01T00:00:00Z"));
    let mut r1b = record("r1b", Some("a1"), Some("2026-02-01T00:00:00Z"));
    r1b.directory_id = "d2".into();
    c.state.records.push(r1b);
    let mut mv = c.policy.rules[0].clone();
    mv.action = "move_email".into();
    c.policy.rules.push(mv);
    c
}

fn allowed_actions(p: &Plan) -> Vec<Action> {
    p.steps
        .iter()
        .filter(|s| s.allowed)
        .map(|s| s.action)
        .collect()
}

#[test]
fn a_findings_unlinks_and_move_go_together() {
    let c = two_directory_conflict();
    let p = c.plan();
    assert_eq!(
        allowed_actions(&p),
        [Action::Unlink, Action::Unlink, Action::MoveEmail],
        "{p:#?}"
    );
}

#[test]
fn one_unlink_out_of_scope_blocks_the_others_and_the_move() {
    let mut c = two_directory_conflict();
    for r in &mut c.policy.rules {
        r.directories = vec!["d1".into()];
    }
    let p = c.plan();
    assert!(allowed_actions(&p).is_empty(), "{p:#?}");
    assert_eq!(p.blocked.get("directories"), Some(&1));
    assert_eq!(p.blocked.get(group::GUARD.as_str()), Some(&2));
    let tied = p
        .steps
        .iter()
        .find(|s| s.action == Action::MoveEmail)
        .unwrap();
    let why = &tied.blocked_by()[0].detail;
    assert!(why.contains("r1b") && why.contains("directories"), "{why}");
}

#[test]
fn an_account_also_linked_from_a_record_with_another_email_is_not_unlinked() {
    let mut c = two_directory_conflict();
    c.state.records[2].email = Some("bo@example.org".into());
    let p = c.plan();
    assert!(allowed_actions(&p).is_empty(), "{p:#?}");
    assert!(p.steps[0].reason.contains("another email"), "{p:#?}");
    let mv = p
        .steps
        .iter()
        .find(|s| s.action == Action::MoveEmail)
        .unwrap();
    assert!(mv.blocked_by()[0].detail.contains("no unlink"), "{mv:#?}");
}

#[test]
fn a_move_of_a_linked_account_needs_its_unlinks_sent_in_the_same_cycle() {
    let mut c = two_directory_conflict();
    c.policy.rules[0].mode = Mode::DryRun;
    let p = c.plan();
    assert_eq!(allowed_actions(&p), [Action::Unlink, Action::Unlink]);
    assert_eq!(p.to_apply().count(), 0);
    // Without an unlink rule at all.
    c.policy.rules.remove(0);
    let p = c.plan();
    assert!(allowed_actions(&p).is_empty());
    assert_eq!(p.blocked.get(group::GUARD.as_str()), Some(&1));
}

#[test]
fn the_caps_take_a_findings_unlinks_and_move_whole_or_not_at_all() {
    let mut c = two_directory_conflict();
    c.policy.max_actions_per_cycle = 3;
    assert_eq!(allowed(&c.plan()), 3);
    // No cycle could take all three: the move is left for the next one.
    c.policy.max_actions_per_cycle = 2;
    let p = c.plan();
    assert_eq!(
        allowed_actions(&p),
        [Action::Unlink, Action::Unlink],
        "{p:#?}"
    );
    assert_eq!(p.blocked.get("cap_per_cycle"), Some(&1));
    // Not even the unlinks fit: none of them, and no move.
    c.policy.max_actions_per_cycle = 1;
    let p = c.plan();
    assert!(allowed_actions(&p).is_empty(), "{p:#?}");
    assert_eq!(p.blocked.get("cap_per_cycle"), Some(&2));
    assert_eq!(p.blocked.get(group::GUARD.as_str()), Some(&1));
    // Room for all three, but another finding used one unit: all wait for the next cycle.
    c.policy.max_actions_per_cycle = 3;
    c.already_used = 1;
    let p = c.plan();
    assert!(allowed_actions(&p).is_empty(), "{p:#?}");
    c.already_used = 0;
    // Without a move rule, the unlinks alone are the group.
    c.policy.rules.pop();
    assert_eq!(allowed(&c.plan()), 2);
}

#[test]
fn a_blocked_move_holds_back_its_unlinks() {
    let mut c = two_directory_conflict();
    c.policy.rules[1].min_confirmations = 5;
    let p = c.plan();
    assert!(allowed_actions(&p).is_empty(), "{p:#?}");
    assert_eq!(p.blocked.get("confirmations"), Some(&1));
    assert_eq!(p.blocked.get(group::GUARD.as_str()), Some(&2));
    // A dry-run move does not hold them back (it is only recorded).
    c.policy.rules[1].mode = Mode::DryRun;
    c.policy.rules[1].min_confirmations = 2;
    assert_eq!(c.plan().to_apply().count(), 2);
}

#[test]
fn an_account_holding_the_idp_users_email_blocks_provision_on_demand() {
    use super::email_holder_blocks;
    let mut holder = population(1).accounts.remove(0);
    holder.claim_status = Some("managed".into());
    // The account the user's own record links to: never a conflict.
    assert!(!email_holder_blocks(&holder, Some("x0"), false, true, true));
    // A managed account no record links to, for a user without a linked record: Atlassian links
    // the new record to it, unless the IdP already reported "already exists".
    assert!(!email_holder_blocks(&holder, None, true, false, false));
    assert!(email_holder_blocks(&holder, None, true, false, true));
    // Linked elsewhere, unmanaged, or the user's record linked to another account: a conflict.
    assert!(email_holder_blocks(&holder, None, true, true, false));
    assert!(email_holder_blocks(
        &holder,
        Some("other"),
        false,
        false,
        false
    ));
    holder.claim_status = Some("unmanaged".into());
    assert!(email_holder_blocks(&holder, None, true, false, false));
}

/// A `duplicate_email` whose unlink succeeded in an earlier cycle is resolved (the unlink changed
/// its identity), yet its move may still be due: the plan finishes it under the finding's own
/// `move_email` rule, and only for that kind (an `email_conflict` stays open while its move is due).
#[test]
fn a_resolved_duplicate_email_still_gets_the_move_its_unlink_began() {
    let mut c = duplicate_case(Some("2023-01-01T00:00:00Z"), Some("2026-01-01T00:00:00Z"));
    c.findings[0].status = Status::Resolved;
    // a4 (the newer record r4's) was unlinked by an earlier cycle; r3 still claims the email.
    c.state.records[1].account_id = None;
    let mut a4 = population(1).accounts.remove(0);
    a4.account_id = "a4".into();
    a4.email = Some("ana@example.com".into());
    c.state.accounts.push(a4);
    let unlinked = |finding_id: &str| Unlinked {
        finding_id: finding_id.into(),
        account_id: "a4".into(),
        contest: Contest {
            email: "ana@example.com".into(),
            record: Target {
                directory_id: Some("d1".into()),
                scim_id: Some("r3".into()),
                ..Default::default()
            },
        },
        at: "2026-11-23T08:00:00.000Z".into(),
    };
    c.unlinked.push(unlinked("duplicate_email-1"));
    // The unlink rule first: the move is found by its action, not by its place.
    let mut mv = c.policy.rules[0].clone();
    mv.action = "move_email".into();
    c.policy.rules.push(mv);
    let steps = |p: &Plan| -> Vec<(String, Action)> {
        p.steps
            .iter()
            .map(|s| (s.finding_id.clone(), s.action))
            .collect()
    };
    let finished = vec![("duplicate_email-1".to_string(), Action::MoveEmail)];
    let p = c.plan();
    assert_eq!(steps(&p), finished, "{p:#?}");
    assert!(p.steps[0].allowed, "{p:#?}");
    assert_eq!(p.steps[0].targets[0].account_id.as_deref(), Some("a4"));
    // The same unlink recorded under a resolved email_conflict, with a move rule of its own.
    let mut conflict = c.findings[0].clone();
    conflict.id = "email_conflict-9".into();
    conflict.kind = Kind::EmailConflict;
    c.findings.push(conflict);
    c.unlinked.push(unlinked("email_conflict-9"));
    let mut conflict_mv = c.policy.rules[1].clone();
    conflict_mv.kind = "email_conflict".into();
    c.policy.rules.push(conflict_mv);
    assert_eq!(steps(&c.plan()), finished);
    // The finding's move rule off: nothing to finish.
    c.policy.rules[1].mode = Mode::Off;
    assert!(c.plan().steps.is_empty());
}

/// Guards are named in plans, the audit and `remediation_blocked{guard}` by one name each.
#[test]
fn each_guard_has_one_name_everywhere() {
    let names: HashSet<String> = Guard::ALL.iter().map(|g| g.to_string()).collect();
    assert_eq!(names.len(), Guard::ALL.len());
    for g in Guard::ALL {
        assert_eq!(g.to_string(), g.as_str());
    }
    assert_eq!(Guard::CapPerCycle.to_string(), "cap_per_cycle");
}

/// A target's key names what is acted on: the IdP user, else the record, else the account; the
/// keys `once_per_target` checks add the record's account and the IdP user's own record.
#[test]
fn a_target_is_keyed_by_what_is_acted_on() {
    let account = Target {
        account_id: Some("a1".into()),
        ..Default::default()
    };
    assert_eq!(account.key(), "account:a1");
    assert_eq!(account.keys(), ["account:a1"]);
    let record = Target {
        directory_id: Some("d1".into()),
        scim_id: Some("r1".into()),
        ..Default::default()
    };
    assert_eq!(record.key(), "scim:d1/r1");
    let linked = Target {
        account_id: Some("a1".into()),
        ..record.clone()
    };
    assert_eq!(linked.key(), "scim:d1/r1");
    assert_eq!(linked.keys(), ["scim:d1/r1", "account:a1"]);
    let idp = Target {
        idp: Some(IdpTarget {
            user_id: "u1".into(),
            ..Default::default()
        }),
        ..linked.clone()
    };
    assert_eq!(idp.keys(), ["idp:d1/u1", "scim:d1/r1", "account:a1"]);
    assert_eq!(Target::default().key(), "none");
}

/// The audit shows each target with its email at the snapshot.
#[test]
fn a_step_names_its_targets_email() {
    let p = Case::new(vec![leaver(1, 2)]).plan();
    let t = &p.steps[0].targets[0];
    assert_eq!(
        (t.account_id.as_deref(), t.email.as_deref()),
        (Some("a1"), Some("p1@example.com"))
    );
}

/// A cap unit per call, but `delete_in_scim_db` costs one per record it deletes (at least one);
/// the audit counts a sent call the same way from its stored targets.
#[test]
fn delete_in_scim_db_costs_one_unit_per_record() {
    let record = |id: &str| Target {
        directory_id: Some("d1".into()),
        scim_id: Some(id.into()),
        account_id: Some("a1".into()),
        ..Default::default()
    };
    let account = Target {
        account_id: Some("a1".into()),
        ..Default::default()
    };
    let mut step = Case::new(vec![leaver(1, 2)]).plan().steps.remove(0);
    for (action, targets, cost) in [
        (
            Action::DeleteInScimDb,
            vec![record("r1"), record("r2"), record("r3")],
            3,
        ),
        (Action::DeleteInScimDb, vec![account.clone()], 1),
        (Action::DeleteInScimDb, vec![], 1),
        (
            Action::DeleteScimRecord,
            vec![record("r1"), record("r2")],
            1,
        ),
        (Action::Suspend, vec![account.clone()], 1),
    ] {
        step.action = action;
        step.targets = targets;
        assert_eq!(step.cost(), cost, "{action:?}");
        let stored = serde_json::to_value(&step.targets).unwrap();
        assert_eq!(call_cost(action.as_str(), &stored), cost, "{action:?}");
    }
    assert_eq!(
        call_cost("delete_in_scim_db", &serde_json::json!("not a list")),
        1
    );
}

/// Every step lists each guard it met once, in the order it meets them; a finding born in a
/// spike has its own breaker verdict in place of the plan-wide one.
#[test]
fn a_step_lists_each_guard_once_in_order() {
    let mut spiked: Vec<_> = (1..=3)
        .map(|n| {
            let mut f = leaver(n, 3);
            f.first_seen = "2026-11-20T00:00:00Z".into();
            f
        })
        .collect();
    spiked.push(leaver(4, 3));
    let mut c = Case::new(spiked);
    c.policy.spike_threshold = 3;
    let p = c.plan();
    let want = [
        Guard::Enabled,
        Guard::Snapshot,
        Guard::Breaker,
        Guard::Target,
        Guard::Confirmations,
        Guard::Determined,
        Guard::Directories,
        Guard::NeverTouch,
        Guard::PreviousFailure,
        Guard::AlreadyDone,
        Guard::OncePerTarget,
        Guard::CapPerCycle,
        Guard::CapPopulation,
    ];
    for s in &p.steps {
        let met: Vec<Guard> = s.guards.iter().map(|g| g.guard).collect();
        assert_eq!(met, want, "{}", s.finding_id);
    }
    let breaker_passed = |n: usize| {
        let id = format!("idp_inactive_account_active-{n}");
        let s = p.steps.iter().find(|s| s.finding_id == id).unwrap();
        s.guards
            .iter()
            .any(|g| g.guard == Guard::Breaker && g.passed)
    };
    assert!(!breaker_passed(1), "born in the spike");
    assert!(breaker_passed(4));
}

/// Only one finding's own unlinks may be followed by its own unlink or move on the same target:
/// another finding's unlink of an account already acted on waits for the next cycle.
#[test]
fn another_findings_unlink_of_the_same_account_waits() {
    let mut c = conflict_case(Some("2022-01-01T00:00:00Z"), Some("2026-01-01T00:00:00Z"));
    let mut second = c.findings[0].clone();
    second.id = "email_conflict-2".into();
    c.findings.push(second);
    let p = c.plan();
    assert_eq!(p.steps.len(), 2);
    assert_eq!(allowed(&p), 1, "{p:#?}");
    assert_eq!(p.blocked.get("once_per_target"), Some(&1));
}

/// A source of directory `dir` in a snapshot.
fn source_info(dir: &str, source: &str, complete: bool) -> crate::store::SourceInfo {
    crate::store::SourceInfo {
        source: source.into(),
        directory_id: Some(dir.into()),
        records: 1,
        groups: None,
        complete,
        error: (!complete).then(|| "Graph answered 503".into()),
        data_quality: Default::default(),
        account_types: None,
        intended: None,
        held: false,
        listings: None,
    }
}

/// `assigned_not_provisioned` for IdP user u1 of directory d1, with a provision_on_demand rule and
/// the stored IdP side it needs; the latest snapshot's sources are `sources`.
fn on_demand_case(sources: Vec<crate::store::SourceInfo>) -> Case {
    use crate::findings::IdpUserView;
    use crate::model::idp::IdpUser;
    use crate::store::{StoredIdpSide, StoredIdpUser};
    let mut f = leaver(1, 3);
    f.id = "assigned_not_provisioned-1".into();
    f.kind = Kind::AssignedNotProvisioned;
    f.scim_users = Vec::new();
    f.accounts = Vec::new();
    f.idp_users = vec![IdpUserView {
        directory: "d1".into(),
        idp: "entra".into(),
        id: "u1".into(),
        user_principal_name: Some("new@example.com".into()),
        email: Some("new@example.com".into()),
        enabled: Some(true),
        intended: true,
    }];
    let mut c = Case::new(vec![f]);
    c.policy.rules[0].kind = "assigned_not_provisioned".into();
    c.policy.rules[0].action = "provision_on_demand".into();
    c.idp.sides.insert(
        "d1".into(),
        StoredIdpSide {
            kind: "entra".into(),
            job_id: Some("job-1".into()),
            rule_id: Some("rule-1".into()),
            scope_all: false,
        },
    );
    let user = IdpUser {
        scim_id: None,
        sync_state: None,
        status: None,
        directory_id: "d1".into(),
        id: "u1".into(),
        user_principal_name: Some("new@example.com".into()),
        mail: Some("new@example.com".into()),
        display_name: None,
        user_type: Some("Member".into()),
        enabled: Some(true),
        intended: true,
        assigned_directly: true,
        groups: Vec::new(),
        nested_only: false,
        deleted: false,
        scim_external_id: None,
        scim_user_name: None,
        email: Some("new@example.com".into()),
        unknown: Vec::new(),
        deleted_at: Default::default(),
    };
    c.idp.users.insert(
        ("d1".into(), "u1".into()),
        StoredIdpUser {
            user,
            latest_event: None,
        },
    );
    c.complete.sources = sources;
    c.latest = c.complete.clone();
    c
}

/// idp-api.md §5: an incomplete IdP pull never triggers an action. A provision on demand needs
/// its own directory's IdP source complete in the snapshot; the step's `snapshot` verdict says
/// why not, and it stays the step's only failing guard.
#[test]
fn provision_on_demand_needs_its_directorys_idp_source_complete() {
    let scim = || source_info("d1", "scim:entra", true);
    let p = on_demand_case(vec![scim(), source_info("d1", "idp:entra", true)]).plan();
    assert_eq!(allowed(&p), 1, "{p:#?}");
    for (sources, why) in [
        (
            vec![scim(), source_info("d1", "idp:entra", false)],
            "the IdP source idp:entra of directory d1 was incomplete in snapshot 2 (Graph answered 503)",
        ),
        (
            vec![
                source_info("d2", "idp:okta", true),
                source_info("d1", "idp:entra", false),
            ],
            "incomplete in snapshot 2",
        ),
        (
            vec![scim(), source_info("d2", "idp:okta", true)],
            "snapshot 2 has no IdP source for directory d1",
        ),
    ] {
        let p = on_demand_case(sources).plan();
        let step = &p.steps[0];
        let failed: Vec<&Verdict> = step.blocked_by();
        assert_eq!(failed.len(), 1, "{step:#?}");
        assert_eq!(failed[0].guard, Guard::Snapshot);
        assert!(failed[0].detail.contains(why), "{}", failed[0].detail);
        let snapshots = step.guards.iter().filter(|g| g.guard == Guard::Snapshot);
        assert_eq!(snapshots.count(), 1);
    }
    // Other actions do not read the IdP source.
    let mut c = Case::new(vec![leaver(1, 3)]);
    c.complete.sources = vec![source_info("d1", "idp:entra", false)];
    c.latest = c.complete.clone();
    assert_eq!(allowed(&c.plan()), 1);
}
