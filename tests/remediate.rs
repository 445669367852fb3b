//! Guarded remediation against the simulator: each action's real effect, and every guard with the
//! count of mutating requests the simulator received.

mod common;

use common::Env;
use scimdrift::config::Settings;
use scimdrift::detect::Kind;
use scimdrift::findings::{FindingView, Status};
use scimdrift::metrics::Metrics;
use scimdrift::remediate::{self, Applied};
use scimdrift::sim::{FaultKind, FaultRule, Faults, LoggedRequest};
use scimdrift::store::NewAudit;

/// Requests that change something (reads: GET, accounts search, links for email).
fn mutations(env: &Env) -> Vec<LoggedRequest> {
    env.sim
        .requests()
        .into_iter()
        .filter(|r| r.method != "GET")
        .filter(|r| {
            !r.path.ends_with("/users/search") && !r.path.ends_with("get-scim-links-for-email")
        })
        .collect()
}

/// An enabled policy; the scenario org has two directories, so suspend/restore name D1.
fn policy_in(env: &Env, rules: &str, extra: &str) -> String {
    format!(
        "\n[remediation]\nenabled = true\nmax_actions_per_cycle = 5\nmax_percent_of_population = 100.0\nspike_threshold = 50\norg_directory_id = \"{}\"\n{extra}\n{rules}",
        label(env, "D1")
    )
}

fn rule(kind: &str, action: &str, mode: &str, confirmations: u32) -> String {
    format!(
        "[[remediation.rules]]\nkind = \"{kind}\"\naction = \"{action}\"\nmode = \"{mode}\"\nmin_confirmations = {confirmations}\n"
    )
}

fn suspend_rule(confirmations: u32) -> String {
    rule(
        "idp_inactive_account_active",
        "suspend",
        "apply",
        confirmations,
    )
}

async fn remediate(env: &Env) -> Applied {
    remediate::run_cycle(&env.settings, &Metrics::new())
        .await
        .unwrap()
}

fn open_of(env: &Env, kind: Kind) -> Vec<FindingView> {
    env.store()
        .findings()
        .unwrap()
        .into_iter()
        .filter(|f| f.kind == kind && f.status == Status::Open)
        .collect()
}

fn label(env: &Env, l: &str) -> String {
    env.sim.world().labels[l].clone()
}

/// Writes an `apply` intent without a result, as a crash before the result would leave it.
fn insert_intent(
    store: &scimdrift::store::Store,
    key: &str,
    action: &str,
    action_key: &str,
    targets: &serde_json::Value,
) {
    let row = NewAudit {
        idempotency_key: key,
        snapshot_id: 1,
        finding_id: "f",
        kind: "stale_inactive_link",
        action,
        mode: "apply",
        action_key,
        targets,
        reason: "test",
        at: "2026-01-01T00:00:00.000Z",
        contest: None,
    };
    assert!(store.audit_insert(&row, None, None).unwrap());
}

#[tokio::test]
async fn disabled_by_default_sends_nothing() {
    let mut env = Env::scenarios(20).await;
    env.extend_config(&format!("\n[remediation]\n{}", suspend_rule(1)));
    assert!(!env.settings.remediation.enabled);
    env.pull().await;
    let a = remediate(&env).await;
    assert_eq!(a, Applied::default());
    assert!(mutations(&env).is_empty());
    assert!(env.store().audit(0).unwrap().is_empty());
}

#[tokio::test]
async fn suspend_fixes_the_leaver_after_the_confirmations_and_nothing_else() {
    let mut env = Env::scenarios(200).await;
    env.extend_config(&policy_in(&env, &suspend_rule(3), ""));
    for _ in 0..2 {
        env.pull().await;
        remediate(&env).await;
        assert!(
            mutations(&env).is_empty(),
            "nothing before the 3rd snapshot"
        );
    }
    env.pull().await;
    let a = remediate(&env).await;
    assert_eq!(a.success, 1);
    let m = mutations(&env);
    assert_eq!(m.len(), 1, "{m:?}");
    assert!(
        m[0].path
            .ends_with(&format!("/users/{}/suspend", label(&env, "A9")))
    );
    let world = env.sim.world();
    assert_eq!(
        world.labelled_account("A9").unwrap().membership_status,
        "suspended"
    );
    env.pull().await;
    assert!(open_of(&env, Kind::IdpInactiveAccountActive).is_empty());
    let audit = env.store().audit(0).unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].result.as_deref(), Some("success"));
    assert!(matches!(audit[0].http_status, Some(200 | 204)));
    // Nothing more to do on the next cycle.
    remediate(&env).await;
    assert_eq!(mutations(&env).len(), 1);
}

#[tokio::test]
async fn a_gap_resets_the_confirmations() {
    let mut env = Env::scenarios(20).await;
    env.extend_config(&policy_in(&env, &suspend_rule(2), ""));
    env.pull().await;
    let r9 = label(&env, "R9");
    // The IdP re-activates R9 for one snapshot: the finding resolves, then comes back at count 1.
    env.sim
        .update_world(|w| w.user_mut(&r9).unwrap().active = Some(true));
    env.pull().await;
    env.sim
        .update_world(|w| w.user_mut(&r9).unwrap().active = Some(false));
    env.pull().await;
    remediate(&env).await;
    assert!(mutations(&env).is_empty());
    env.pull().await;
    remediate(&env).await;
    assert_eq!(mutations(&env).len(), 1);
}

#[tokio::test]
async fn dry_run_is_recorded_and_never_sent() {
    let mut env = Env::scenarios(20).await;
    env.extend_config(&policy_in(
        &env,
        &rule("idp_inactive_account_active", "suspend", "dry_run", 1),
        "",
    ));
    env.pull().await;
    let a = remediate(&env).await;
    assert_eq!(a.dry_run, 1);
    assert!(mutations(&env).is_empty());
    let audit = env.store().audit(0).unwrap();
    assert_eq!(audit[0].result.as_deref(), Some("dry_run"));
}

#[tokio::test]
async fn an_incomplete_snapshot_is_never_acted_on() {
    let mut env = Env::scenarios(20).await;
    env.extend_config(&policy_in(&env, &suspend_rule(1), ""));
    env.pull().await;
    env.sim.set_faults(Faults::rules([
        FaultRule::new(FaultKind::Status(400)).on(scimdrift::sim::Api::Scim)
    ]));
    assert!(!env.pull().await.recorded.complete);
    env.sim.set_faults(Faults::default());
    let plan = remediate::make_plan(&env.settings, &env.store(), chrono::Utc::now()).unwrap();
    assert!(
        plan.checks
            .iter()
            .any(|c| c.guard == "snapshot" && !c.passed)
    );
    remediate(&env).await;
    assert!(mutations(&env).is_empty());
}

#[tokio::test]
async fn delete_scim_record_resolves_the_stale_link() {
    let mut env = Env::scenarios(20).await;
    env.extend_config(&policy_in(
        &env,
        &rule("stale_inactive_link", "delete_scim_record", "apply", 2),
        "",
    ));
    env.pull().await;
    env.pull().await;
    assert_eq!(remediate(&env).await.success, 1);
    let m = mutations(&env);
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].method, "DELETE");
    assert!(env.sim.world().labelled_user("R7").is_none());
    env.pull().await;
    assert!(open_of(&env, Kind::StaleInactiveLink).is_empty());
}

#[tokio::test]
async fn delete_in_scim_db_resolves_the_stale_link() {
    let mut env = Env::scenarios(20).await;
    env.extend_config(&policy_in(
        &env,
        &rule("stale_inactive_link", "delete_in_scim_db", "apply", 2),
        "",
    ));
    env.pull().await;
    env.pull().await;
    assert_eq!(remediate(&env).await.success, 1);
    let m = mutations(&env);
    assert_eq!(m.len(), 1);
    assert!(m[0].path.ends_with("/onlyDeleteUserInDB"));
    assert!(env.sim.world().labelled_user("R7").is_none());
    env.pull().await;
    assert!(open_of(&env, Kind::StaleInactiveLink).is_empty());
}

#[tokio::test]
async fn dangling_link_record_is_deleted() {
    let mut env = Env::scenarios(20).await;
    env.extend_config(&policy_in(
        &env,
        &rule("dangling_link", "delete_scim_record", "apply", 2),
        "",
    ));
    env.pull().await;
    env.pull().await;
    assert_eq!(remediate(&env).await.success, 1);
    assert!(env.sim.world().labelled_user("R11").is_none());
    env.pull().await;
    assert!(open_of(&env, Kind::DanglingLink).is_empty());
}

#[tokio::test]
async fn unlink_and_move_email_resolve_the_email_conflict() {
    let mut env = Env::scenarios(20).await;
    let rules = rule("email_conflict", "unlink", "apply", 2)
        + &rule("email_conflict", "move_email", "apply", 2);
    env.extend_config(&policy_in(
        &env,
        &rules,
        "never_touch = [\"ana@example.com\"]",
    ));
    env.pull().await;
    env.pull().await;
    let a = remediate(&env).await;
    assert_eq!(a.success, 2, "{a:?}");
    let world = env.sim.world();
    assert_eq!(
        world.labelled_user("R4").unwrap().atlassian_account_id,
        None
    );
    let a4 = world.labelled_account("A4").unwrap();
    assert!(
        a4.email.as_deref().unwrap().starts_with("bo.new+moved-"),
        "{a4:?}"
    );
    env.pull().await;
    let left: Vec<_> = open_of(&env, Kind::EmailConflict)
        .into_iter()
        .filter(|f| f.accounts.iter().any(|a| a.account_id == label(&env, "A4")))
        .collect();
    assert!(left.is_empty());
}

#[tokio::test]
async fn restore_gives_access_back() {
    let mut env = Env::scenarios(20).await;
    let a8 = label(&env, "A8");
    env.sim.update_world(|w| {
        let a = w.account_mut(&a8).unwrap();
        a.reactivate();
        a.suspend();
    });
    let base = std::fs::read_to_string(&env.config).unwrap();
    let restore = rule("deactivated_idp_active", "restore", "apply", 2);
    env.extend_config(&policy_in(&env, &restore, ""));
    env.pull().await;
    env.pull().await;
    // An admin suspended A8, not scimdrift: left alone by default.
    assert_eq!(remediate(&env).await.success, 0);
    assert!(mutations(&env).is_empty());
    let plan = remediate::make_plan(&env.settings, &env.store(), chrono::Utc::now()).unwrap();
    assert_eq!(plan.blocked.get("own_suspension"), Some(&1));
    std::fs::write(&env.config, base).unwrap();
    env.extend_config(&policy_in(&env, &restore, "restore_any_suspension = true"));
    assert_eq!(remediate(&env).await.success, 1);
    assert_eq!(
        env.sim.world().account(&a8).unwrap().membership_status,
        "active"
    );
    env.pull().await;
    assert!(open_of(&env, Kind::DeactivatedIdpActive).is_empty());
}

#[tokio::test]
async fn restore_gives_back_what_scimdrift_suspended() {
    let mut env = Env::scenarios(20).await;
    let rules = format!(
        "{}{}",
        suspend_rule(1),
        rule("deactivated_idp_active", "restore", "apply", 2)
    );
    env.extend_config(&policy_in(&env, &rules, ""));
    env.pull().await;
    assert_eq!(remediate(&env).await.success, 1, "fay is suspended");
    // The IdP takes fay back: her access is restored, by scimdrift, after the confirmations.
    set_r9_active(&env, true);
    env.pull().await;
    assert_eq!(
        open_of(&env, Kind::DeactivatedIdpActive).len(),
        2,
        "eli (deactivated by an admin) and now fay"
    );
    assert_eq!(remediate(&env).await.success, 0, "one confirmation only");
    env.pull().await;
    assert_eq!(remediate(&env).await.success, 1);
    let a9 = label(&env, "A9");
    assert_eq!(
        env.sim.world().account(&a9).unwrap().membership_status,
        "active"
    );
    assert_eq!(mutations(&env).len(), 2);
    // Fay leaves again: scimdrift follows the IdP back (its latest act on her was the restore).
    set_r9_active(&env, false);
    env.pull().await;
    assert_eq!(remediate(&env).await.success, 1);
    assert_eq!(
        env.sim.world().account(&a9).unwrap().membership_status,
        "suspended"
    );
}

fn set_r9_active(env: &Env, active: bool) {
    let r9 = label(env, "R9");
    env.sim
        .update_world(|w| w.user_mut(&r9).unwrap().active = Some(active));
}

#[tokio::test]
async fn a_suspension_restored_by_an_admin_is_no_longer_scimdrifts() {
    let mut env = Env::scenarios(20).await;
    let rules = suspend_rule(1) + &rule("deactivated_idp_active", "restore", "apply", 2);
    env.extend_config(&policy_in(&env, &rules, ""));
    env.pull().await;
    assert_eq!(remediate(&env).await.success, 1, "fay is suspended");
    // An admin gives fay her access back (say, a contract extension): scimdrift does not fight it.
    let a9 = label(&env, "A9");
    env.sim
        .update_world(|w| w.account_mut(&a9).unwrap().restore());
    env.pull().await;
    assert_eq!(remediate(&env).await.success, 0);
    let plan = remediate::make_plan(&env.settings, &env.store(), chrono::Utc::now()).unwrap();
    assert_eq!(plan.blocked.get("already_done"), Some(&1), "{plan:#?}");
    // Later the admin suspends her on purpose while the IdP has her active: a hold, not ours.
    env.sim
        .update_world(|w| w.account_mut(&a9).unwrap().suspend());
    set_r9_active(&env, true);
    env.pull().await;
    env.pull().await;
    assert_eq!(remediate(&env).await.success, 0);
    let plan = remediate::make_plan(&env.settings, &env.store(), chrono::Utc::now()).unwrap();
    let fay = plan
        .steps
        .iter()
        .find(|s| {
            s.action == remediate::Action::Restore
                && s.targets
                    .iter()
                    .any(|t| t.account_id.as_deref() == Some(a9.as_str()))
        })
        .expect("a restore step for fay");
    let blocked: Vec<_> = fay.blocked_by().iter().map(|g| g.guard.as_str()).collect();
    assert_eq!(blocked, ["own_suspension"], "{fay:#?}");
    assert_eq!(mutations(&env).len(), 1, "only the first suspend");
}

#[tokio::test]
async fn a_failure_settled_by_an_operator_keeps_blocking() {
    let mut env = Env::scenarios(20).await;
    env.extend_config(&policy_in(&env, &suspend_rule(1), ""));
    env.pull().await;
    let plan = remediate::make_plan(&env.settings, &env.store(), chrono::Utc::now()).unwrap();
    let store = env.store();
    // Under another finding id, on the same account: the target-level key blocks too.
    let key = plan.steps[0]
        .action_key()
        .replacen(&plan.steps[0].finding_id, "other-finding", 1);
    let targets = serde_json::to_value(&plan.steps[0].targets).unwrap();
    insert_intent(&store, "timed-out", "suspend", &key, &targets);
    // The call's last answer was a 401 after a 5xx (outcome unknown): a key problem, which would
    // expire after a day if scimdrift had recorded the refusal itself.
    let at = "2026-01-01T00:00:00.000Z";
    assert!(
        store
            .audit_finish("timed-out", at, None, Some(401), Some("outcome unknown"))
            .unwrap()
    );
    assert!(
        store
            .audit_settle("timed-out", at, "failure", "checked")
            .unwrap()
    );
    let row = &store.audit(0).unwrap()[0];
    assert_eq!(row.http_status, None);
    assert!(
        row.detail
            .as_deref()
            .unwrap()
            .ends_with("checked (the call was last answered HTTP 401)"),
        "{row:?}"
    );
    // The applier's own result can no longer overwrite the operator's.
    assert!(
        !store
            .audit_finish("timed-out", at, Some("success"), Some(200), None)
            .unwrap()
    );
    let plan = remediate::make_plan(&env.settings, &store, chrono::Utc::now()).unwrap();
    assert_eq!(plan.blocked.get("previous_failure"), Some(&1), "{plan:#?}");
    remediate(&env).await;
    assert!(mutations(&env).is_empty());
}

/// Deprovisions `n` healthy users in the IdP: `n` more leavers.
fn deprovision_healthy(env: &Env, n: usize) {
    set_healthy_active(env, n, false);
}

/// Sets `active` on the first `n` healthy linked users of the IdP (always the same ones).
fn set_healthy_active(env: &Env, n: usize, active: bool) {
    let labelled: Vec<String> = env.sim.world().labels.values().cloned().collect();
    env.sim.update_world(|w| {
        let users = w.directories[0]
            .users
            .iter_mut()
            .filter(|u| !labelled.contains(&u.id) && u.atlassian_account_id.is_some())
            .take(n);
        for u in users {
            u.active = Some(active);
        }
    });
}

#[tokio::test]
async fn a_mass_reopen_stays_blocked_after_its_first_cycle() {
    let mut env = Env::scenarios(200).await;
    env.extend_config(
        &policy_in(&env, &suspend_rule(2), "")
            .replace("spike_threshold = 50", "spike_threshold = 3"),
    );
    // Three leavers appear one per pull (no spike), come back, then all leave again at once.
    for n in 1..=3 {
        deprovision_healthy(&env, n);
        env.pull().await;
    }
    set_healthy_active(&env, 3, true);
    env.pull().await;
    assert_eq!(
        open_of(&env, Kind::IdpInactiveAccountActive).len(),
        1,
        "only fay"
    );
    deprovision_healthy(&env, 3);
    env.pull().await;
    let metrics = Metrics::new();
    remediate::run_cycle(&env.settings, &metrics).await.unwrap();
    assert_eq!(
        metrics.remediation_breaker_tripped.get(),
        1,
        "the reopen is a spike"
    );
    assert!(mutations(&env).is_empty());
    // One cycle later the reopened findings are confirmed, and still blocked: only fay goes.
    env.pull().await;
    let a = remediate(&env).await;
    assert_eq!(a.success, 1);
    assert_eq!(mutations(&env).len(), 1);
    let plan = remediate::make_plan(&env.settings, &env.store(), chrono::Utc::now()).unwrap();
    assert!(!plan.breaker_tripped);
    assert_eq!(plan.blocked.get("breaker"), Some(&3), "{plan:#?}");
}

#[tokio::test]
async fn caps_are_respected_exactly() {
    let mut env = Env::scenarios(200).await;
    env.extend_config(
        &policy_in(&env, &suspend_rule(1), "")
            .replace("max_actions_per_cycle = 5", "max_actions_per_cycle = 2"),
    );
    deprovision_healthy(&env, 3);
    env.pull().await;
    assert_eq!(open_of(&env, Kind::IdpInactiveAccountActive).len(), 4);
    let a = remediate(&env).await;
    assert_eq!(a.success, 2);
    assert_eq!(mutations(&env).len(), 2);
    let plan = remediate::make_plan(&env.settings, &env.store(), chrono::Utc::now()).unwrap();
    assert!(plan.blocked.contains_key("cap_per_cycle"));
}

#[tokio::test]
async fn population_cap_is_respected_exactly() {
    let mut env = Env::scenarios(200).await;
    env.extend_config(&policy_in(&env, &suspend_rule(1), "").replace(
        "max_percent_of_population = 100.0",
        "max_percent_of_population = 1.0",
    ));
    deprovision_healthy(&env, 4);
    env.pull().await;
    let accounts = env.store().latest_complete().unwrap().unwrap().accounts;
    let cap = (accounts as f64 / 100.0).floor() as usize;
    assert!(cap < 5);
    remediate(&env).await;
    assert_eq!(mutations(&env).len(), cap);
}

#[tokio::test]
async fn the_spike_breaker_stops_everything() {
    let mut env = Env::scenarios(20).await;
    // The first pull opens 2 duplicate_email findings: a spike at a threshold of 2.
    env.extend_config(
        &policy_in(&env, &suspend_rule(1), "")
            .replace("spike_threshold = 50", "spike_threshold = 2"),
    );
    env.pull().await;
    let metrics = Metrics::new();
    remediate::run_cycle(&env.settings, &metrics).await.unwrap();
    assert!(mutations(&env).is_empty());
    assert_eq!(metrics.remediation_breaker_tripped.get(), 1);
    assert!(
        metrics
            .render()
            .contains("scimdrift_remediation_blocked_total{guard=\"breaker\"} 1")
    );
}

#[tokio::test]
async fn never_touch_is_respected() {
    let mut env = Env::scenarios(20).await;
    env.extend_config(&policy_in(
        &env,
        &suspend_rule(1),
        "never_touch = [\"FAY@example.com\"]",
    ));
    env.pull().await;
    remediate(&env).await;
    assert!(mutations(&env).is_empty());
    let plan = remediate::make_plan(&env.settings, &env.store(), chrono::Utc::now()).unwrap();
    assert_eq!(plan.blocked.get("never_touch"), Some(&1));
}

#[tokio::test]
async fn a_target_fixed_since_the_snapshot_is_skipped() {
    let mut env = Env::scenarios(20).await;
    env.extend_config(&policy_in(&env, &suspend_rule(1), ""));
    env.pull().await;
    let r9 = label(&env, "R9");
    env.sim
        .update_world(|w| w.user_mut(&r9).unwrap().active = Some(true));
    let a = remediate(&env).await;
    assert_eq!(a.skipped, 1);
    assert!(mutations(&env).is_empty());
    assert_eq!(
        env.store().audit(0).unwrap()[0].result.as_deref(),
        Some("skipped")
    );
}

#[tokio::test]
async fn a_crash_after_the_call_is_reconciled_not_resent() {
    let mut env = Env::scenarios(20).await;
    env.extend_config(&policy_in(&env, &suspend_rule(1), ""));
    env.settings.atlassian.http.max_retries = 0;
    env.pull().await;
    env.sim.set_faults(Faults::rules([FaultRule::new(
        FaultKind::StatusAfterApply(500),
    )
    .path_contains("/suspend")]));
    let a = remediate(&env).await;
    assert_eq!(a.failure, 1);
    let pending = env.store().audit_pending().unwrap();
    assert_eq!(pending.len(), 1, "the intent stays without a result");
    env.sim.set_faults(Faults::default());
    // The next run reads A9's state instead of calling again.
    let a = remediate(&env).await;
    assert_eq!(a.reconciled, 1);
    assert_eq!(mutations(&env).len(), 1);
    let row = &env.store().audit(0).unwrap()[0];
    assert_eq!(row.result.as_deref(), Some("success"));
    assert!(row.detail.as_deref().unwrap().contains("reconciled"));
}

#[tokio::test]
async fn an_intent_left_by_a_crash_before_the_call_is_not_repeated() {
    let mut env = Env::scenarios(20).await;
    env.extend_config(&policy_in(
        &env,
        &rule("stale_inactive_link", "delete_scim_record", "dry_run", 2),
        "",
    ));
    env.pull().await;
    let (d1, r7, a7) = (label(&env, "D1"), label(&env, "R7"), label(&env, "A7"));
    let targets = serde_json::json!([{"account_id": a7, "directory_id": d1, "scim_id": r7}]);
    let store = env.store();
    insert_intent(
        &store,
        "crashed",
        "delete_scim_record",
        "f|delete_scim_record|x",
        &targets,
    );
    let metrics = Metrics::new();
    let (settled, left) = remediate::reconcile(&env.settings, &metrics).await.unwrap();
    assert_eq!((settled, left), (1, 0));
    assert!(mutations(&env).is_empty());
    let counted = |result: &str| {
        metrics
            .remediation_actions
            .with_label_values(&["delete_scim_record", result])
            .get()
    };
    assert_eq!((counted("not_applied"), counted("failure")), (1, 0));
    let row = store
        .audit(0)
        .unwrap()
        .into_iter()
        .find(|r| r.idempotency_key == "crashed")
        .unwrap();
    assert_eq!(row.result.as_deref(), Some("not_applied"));
    assert!(env.sim.world().labelled_user("R7").is_some());
}

#[tokio::test]
async fn a_403_is_recorded_as_failed_and_not_retried() {
    let mut env = Env::scenarios(20).await;
    env.extend_config(&policy_in(&env, &suspend_rule(1), ""));
    env.pull().await;
    env.sim.set_faults(Faults::rules([
        FaultRule::new(FaultKind::Status(403)).path_contains("/suspend")
    ]));
    let a = remediate(&env).await;
    assert_eq!(a.failure, 1);
    let row = &env.store().audit(0).unwrap()[0];
    assert_eq!(row.result.as_deref(), Some("failure"));
    assert_eq!(row.http_status, Some(403));
    env.pull().await;
    remediate(&env).await;
    assert_eq!(mutations(&env).len(), 1, "one attempt, never retried");
    let plan = remediate::make_plan(&env.settings, &env.store(), chrono::Utc::now()).unwrap();
    assert_eq!(plan.blocked.get("previous_failure"), Some(&1));
}

#[tokio::test]
async fn plan_and_apply_from_the_cli_refuse_a_stale_plan() {
    let mut env = Env::scenarios(20).await;
    env.extend_config(&policy_in(&env, &suspend_rule(1), ""));
    env.pull().await;
    let file = env.dir.path().join("plan.json");
    let out = env
        .cli(&["remediate", "plan", "--output", file.to_str().unwrap()])
        .await;
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("+ will suspend"), "{text}");
    assert!(text.contains("Plan: 1 to apply"), "{text}");
    env.pull().await;
    let out = env
        .cli(&["remediate", "apply", "--plan", file.to_str().unwrap()])
        .await;
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("stale"));
    assert!(mutations(&env).is_empty());
    // A fresh plan applies.
    let out = env
        .cli(&["remediate", "plan", "--output", file.to_str().unwrap()])
        .await;
    assert!(out.status.success());
    let out = env
        .cli(&["remediate", "apply", "--plan", file.to_str().unwrap()])
        .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(mutations(&env).len(), 1);
    // The audit lists it, without any key.
    let out = env.cli(&["audit", "--format", "json"]).await;
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["actions"][0]["action"], "suspend");
    assert_eq!(json["actions"][0]["result"], "success");
    let text = String::from_utf8_lossy(&out.stdout);
    let world = env.sim.world();
    assert!(!text.contains(&world.org_api_key));
    for d in &world.directories {
        assert!(!text.contains(&d.token));
    }
    // The report shows it.
    let out = env.cli(&["report", "--format", "md"]).await;
    let md = String::from_utf8_lossy(&out.stdout);
    assert!(md.contains("### Actions taken"), "{md}");
}

#[tokio::test]
async fn bad_policies_are_config_errors_naming_the_key() {
    let env = Env::scenarios(0).await;
    let base = std::fs::read_to_string(&env.config).unwrap();
    let policy = |rules: &str| policy_in(&env, rules, "");
    for (policy, key) in [
        (
            policy(&rule("no_such_kind", "suspend", "apply", 3)),
            "remediation.rules[0].kind",
        ),
        (
            policy(&rule("unmanaged_account", "suspend", "apply", 3)),
            "remediation.rules[0].action",
        ),
        (
            policy(&rule(
                "stale_inactive_link",
                "delete_scim_record",
                "apply",
                1,
            )),
            "remediation.rules[0].min_confirmations",
        ),
        (
            policy(&suspend_rule(3)).replace("spike_threshold = 50", "spike_threshold = 1"),
            "remediation.spike_threshold",
        ),
    ] {
        std::fs::write(&env.config, format!("{base}{policy}")).unwrap();
        let e = Settings::load(Some(&env.config)).unwrap_err();
        assert_eq!(e.key, key, "{e}");
    }
}

#[tokio::test]
async fn the_daemon_suspends_a_leaver_of_a_single_directory_org() {
    use scimdrift::sim::{SimOptions, World};
    let mut env = Env::start(
        World::healthy(30, 7, chrono::Utc::now()),
        SimOptions::default(),
    )
    .await;
    deprovision_healthy(&env, 1);
    env.extend_config(
        "\n[remediation]\nenabled = true\nmax_percent_of_population = 100.0\n[[remediation.rules]]\nkind = \"idp_inactive_account_active\"\naction = \"suspend\"\nmode = \"apply\"\nmin_confirmations = 1\n",
    );
    let settings = env.settings.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(scimdrift::daemon::run(settings, listener, None, async {
        let _ = stopped.await;
    }));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while mutations(&env).is_empty() && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let _ = stop.send(());
    task.await.unwrap().unwrap();
    let m = mutations(&env);
    assert_eq!(m.len(), 1, "{m:?}");
    assert!(m[0].path.ends_with("/suspend"));
    let suspended = env
        .sim
        .world()
        .accounts
        .iter()
        .filter(|a| a.membership_status == "suspended")
        .count();
    assert_eq!(suspended, 1);
    assert_eq!(
        env.store().audit(0).unwrap()[0].result.as_deref(),
        Some("success")
    );
}

#[tokio::test]
async fn a_process_killed_between_call_and_result_is_reconciled_on_restart() {
    let mut env = Env::scenarios(20).await;
    env.extend_config(&policy_in(&env, &suspend_rule(1), ""));
    env.pull().await;
    let file = env.dir.path().join("plan.json");
    let out = env
        .cli(&["remediate", "plan", "--output", file.to_str().unwrap()])
        .await;
    assert!(out.status.success());
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_scimdrift"))
        .arg("--config")
        .arg(&env.config)
        .args(["remediate", "apply", "--plan", file.to_str().unwrap()])
        .env_remove("SCIMDRIFT_CONFIG")
        .env("SCIMDRIFT_TEST_CRASH_AFTER_CALL", "1")
        .output()
        .await
        .unwrap();
    assert!(!out.status.success(), "the hook killed the process");
    assert_eq!(mutations(&env).len(), 1);
    assert_eq!(env.store().audit_pending().unwrap().len(), 1);
    // Restart: the same plan again reconciles the intent and does not call a second time.
    let out = env
        .cli(&["remediate", "apply", "--plan", file.to_str().unwrap()])
        .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 reconciled"));
    assert_eq!(mutations(&env).len(), 1);
    let rows = env.store().audit(0).unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].result.as_deref(), Some("success"));
}

#[tokio::test]
async fn plan_text_shows_blocked_guards() {
    let mut env = Env::scenarios(20).await;
    let rules = suspend_rule(3) + &rule("stale_inactive_link", "delete_scim_record", "dry_run", 2);
    env.extend_config(&policy_in(&env, &rules, ""));
    env.pull().await;
    env.pull().await;
    let out = env.cli(&["remediate", "plan"]).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("- blocked: suspend"), "{text}");
    assert!(text.contains("blocked by confirmations"), "{text}");
    assert!(
        text.contains("~ would (dry run) delete_scim_record"),
        "{text}"
    );
    remediate(&env).await;
    let out = env.cli(&["report", "--format", "html"]).await;
    let html = String::from_utf8_lossy(&out.stdout);
    assert!(html.contains("Planned in dry run") && html.contains("Blocked by a guard"));
}

#[tokio::test]
async fn restore_is_not_planned_for_a_deactivated_account() {
    let mut env = Env::scenarios(20).await;
    env.extend_config(&policy_in(
        &env,
        &rule("deactivated_idp_active", "restore", "apply", 2),
        "",
    ));
    env.pull().await;
    env.pull().await;
    let plan = remediate::make_plan(&env.settings, &env.store(), chrono::Utc::now()).unwrap();
    assert_eq!(plan.blocked.get("target"), Some(&1));
    remediate(&env).await;
    assert!(mutations(&env).is_empty());
    assert!(env.store().audit(0).unwrap().is_empty());
}

/// Links a second record, in D2, to `account` (a copy of R7 with `active`).
fn add_linked_record(env: &Env, account: &str, active: bool) {
    let account = account.to_string();
    env.sim.update_world(|w| {
        let mut u = scimdrift::sim::SimUser::new(
            "extra-record",
            "dee2@example.com",
            "Dee",
            "Two",
            chrono::Utc::now() - chrono::Duration::days(100),
        );
        u.active = Some(active);
        u.atlassian_account_id = Some(account);
        w.directories[1].users.push(u);
    });
}

fn stale_delete_rule() -> String {
    rule("stale_inactive_link", "delete_scim_record", "apply", 2)
}

#[tokio::test]
async fn stale_link_delete_is_not_planned_while_another_linked_record_is_active() {
    let mut env = Env::scenarios(20).await;
    env.extend_config(&policy_in(&env, &stale_delete_rule(), ""));
    add_linked_record(&env, &label(&env, "A7"), true);
    env.pull().await;
    env.pull().await;
    let plan = remediate::make_plan(&env.settings, &env.store(), chrono::Utc::now()).unwrap();
    let step = plan
        .steps
        .iter()
        .find(|s| s.kind == Kind::StaleInactiveLink)
        .expect("a stale step");
    assert!(!step.allowed);
    assert!(
        step.reason.contains("deactivates the linked account"),
        "{}",
        step.reason
    );
    remediate(&env).await;
    assert!(mutations(&env).is_empty());
    assert!(env.sim.world().labelled_user("R7").is_some());
}

#[tokio::test]
async fn stale_link_delete_is_skipped_when_the_account_got_access_back() {
    let mut env = Env::scenarios(20).await;
    env.extend_config(&policy_in(&env, &stale_delete_rule(), ""));
    env.pull().await;
    env.pull().await;
    let file = env.dir.path().join("plan.json");
    let out = env
        .cli(&["remediate", "plan", "--output", file.to_str().unwrap()])
        .await;
    assert!(out.status.success());
    // An admin reactivates A7 between the snapshot and the call: a DELETE would deactivate it.
    let a7 = label(&env, "A7");
    env.sim
        .update_world(|w| w.account_mut(&a7).unwrap().reactivate());
    let out = env
        .cli(&["remediate", "apply", "--plan", file.to_str().unwrap()])
        .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(mutations(&env).is_empty());
    let row = &env.store().audit(0).unwrap()[0];
    assert_eq!(row.result.as_deref(), Some("skipped"));
    assert!(
        row.detail.as_deref().unwrap().contains("has access"),
        "{row:?}"
    );
    assert_eq!(
        env.sim.world().account(&a7).unwrap().account_status,
        "active"
    );
}

#[tokio::test]
async fn an_edited_plan_file_cannot_switch_off_the_recheck() {
    let mut env = Env::scenarios(20).await;
    env.extend_config(&policy_in(&env, &stale_delete_rule(), ""));
    env.pull().await;
    env.pull().await;
    let file = env.dir.path().join("plan.json");
    let out = env
        .cli(&["remediate", "plan", "--output", file.to_str().unwrap()])
        .await;
    assert!(out.status.success());
    // Edit the step's kind, which the re-check branches on; then the IdP re-activates R7.
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains("\"stale_inactive_link\""));
    std::fs::write(
        &file,
        text.replace("\"stale_inactive_link\"", "\"duplicate_email\""),
    )
    .unwrap();
    let r7 = label(&env, "R7");
    env.sim
        .update_world(|w| w.user_mut(&r7).unwrap().active = Some(true));
    let out = env
        .cli(&["remediate", "apply", "--plan", file.to_str().unwrap()])
        .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(mutations(&env).is_empty());
    assert!(env.sim.world().labelled_user("R7").is_some());
}

#[tokio::test]
async fn the_recheck_refuses_an_unexpected_kind() {
    let mut env = Env::scenarios(20).await;
    env.extend_config(&policy_in(&env, &stale_delete_rule(), ""));
    env.pull().await;
    env.pull().await;
    let mut plan = remediate::make_plan(&env.settings, &env.store(), chrono::Utc::now()).unwrap();
    let step = plan
        .steps
        .iter_mut()
        .find(|s| s.allowed && s.kind == Kind::StaleInactiveLink)
        .unwrap();
    step.kind = Kind::DuplicateEmail;
    let r7 = label(&env, "R7");
    env.sim
        .update_world(|w| w.user_mut(&r7).unwrap().active = Some(true));
    let a = remediate::apply_plan_unchecked(&env.settings, &plan, &Metrics::new())
        .await
        .unwrap();
    assert_eq!(a.skipped, 1);
    assert!(mutations(&env).is_empty());
    let row = &env.store().audit(0).unwrap()[0];
    assert_eq!(row.detail.as_deref(), Some("unexpected kind for action"));
}

#[tokio::test]
async fn a_retried_delete_answered_404_is_reconciled_not_a_failure() {
    let mut env = Env::scenarios(20).await;
    env.extend_config(&policy_in(
        &env,
        &rule("dangling_link", "delete_scim_record", "apply", 2),
        "",
    ));
    env.settings.atlassian.http.max_retries = 2;
    env.settings.atlassian.http.retry_base_delay_ms = 1;
    env.pull().await;
    env.pull().await;
    // The DELETE takes effect but its reply is lost (500); the retry is answered 404.
    env.sim.set_faults(Faults::rules([FaultRule::new(
        FaultKind::StatusAfterApply(500),
    )
    .path_contains(format!("/Users/{}", label(&env, "R11")))
    .method(reqwest::Method::DELETE)
    .once()]));
    let a = remediate(&env).await;
    assert_eq!(a.failure, 1);
    assert_eq!(
        env.store().audit_pending().unwrap().len(),
        1,
        "outcome unknown"
    );
    assert!(env.sim.world().labelled_user("R11").is_none());
    env.sim.set_faults(Faults::default());
    let a = remediate(&env).await;
    assert_eq!(a.reconciled, 1);
    let row = &env.store().audit(0).unwrap()[0];
    assert_eq!(row.result.as_deref(), Some("success"));
    let plan = remediate::make_plan(&env.settings, &env.store(), chrono::Utc::now()).unwrap();
    assert!(!plan.blocked.contains_key("previous_failure"));
}

#[tokio::test]
async fn a_401_failure_expires_after_a_day_but_a_403_never() {
    let mut env = Env::scenarios(20).await;
    env.extend_config(&policy_in(&env, &suspend_rule(1), ""));
    env.pull().await;
    let plan = remediate::make_plan(&env.settings, &env.store(), chrono::Utc::now()).unwrap();
    let key = plan.steps[0].action_key();
    let store = env.store();
    // Replaces the audit with one refusal answered `status`, `hours` ago.
    let refused = |status: u16, hours: i64| {
        rusqlite::Connection::open(&env.settings.store.path)
            .unwrap()
            .execute("DELETE FROM remediation_audit", [])
            .unwrap();
        insert_intent(&store, "refused", "suspend", &key, &serde_json::json!([]));
        let at = (chrono::Utc::now() - chrono::Duration::hours(hours))
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let detail = format!("HTTP {status}");
        let finished =
            store.audit_finish("refused", &at, Some("failure"), Some(status), Some(&detail));
        assert!(finished.unwrap());
        remediate::make_plan(&env.settings, &store, chrono::Utc::now()).unwrap()
    };
    assert_eq!(refused(403, 1).blocked.get("previous_failure"), Some(&1));
    // A 403 (a refusal about the target itself) keeps blocking: a 4xx is not retried.
    assert_eq!(refused(403, 25).blocked.get("previous_failure"), Some(&1));
    assert_eq!(refused(401, 1).blocked.get("previous_failure"), Some(&1));
    // A 401 (the key, e.g. while it was rotated) stops blocking after a day.
    assert!(!refused(401, 25).blocked.contains_key("previous_failure"));
}

#[tokio::test]
async fn delete_in_scim_db_counts_each_record_toward_the_caps() {
    let mut env = Env::scenarios(20).await;
    env.extend_config(
        &policy_in(
            &env,
            &rule("stale_inactive_link", "delete_in_scim_db", "apply", 2),
            "",
        )
        .replace("max_actions_per_cycle = 5", "max_actions_per_cycle = 1"),
    );
    add_linked_record(&env, &label(&env, "A7"), false);
    env.pull().await;
    env.pull().await;
    let plan = remediate::make_plan(&env.settings, &env.store(), chrono::Utc::now()).unwrap();
    assert!(
        plan.blocked.contains_key("cap_per_cycle"),
        "{:?}",
        plan.blocked
    );
    remediate(&env).await;
    assert!(mutations(&env).is_empty());
}

#[tokio::test]
async fn applying_twice_on_one_snapshot_respects_the_caps() {
    let mut env = Env::scenarios(200).await;
    env.extend_config(
        &policy_in(&env, &suspend_rule(1), "")
            .replace("max_actions_per_cycle = 5", "max_actions_per_cycle = 2"),
    );
    deprovision_healthy(&env, 3);
    env.pull().await;
    // The first call is refused (403), which frees its slot for a later plan of the same snapshot.
    env.sim
        .set_faults(Faults::rules([FaultRule::new(FaultKind::Status(403))
            .path_contains("/suspend")
            .once()]));
    let a = remediate(&env).await;
    assert_eq!((a.success, a.failure), (1, 1));
    // Same snapshot again: the 2 calls already made use up the cap.
    assert_eq!(remediate(&env).await.success, 0);
    assert_eq!(mutations(&env).len(), 2);
}

#[tokio::test]
async fn move_email_waits_until_the_account_is_unlinked() {
    let mut env = Env::scenarios(20).await;
    env.extend_config(&policy_in(
        &env,
        &rule("email_conflict", "move_email", "apply", 2),
        "",
    ));
    env.pull().await;
    env.pull().await;
    let a = remediate(&env).await;
    assert_eq!(a, Applied::default());
    let mut plan = remediate::make_plan(&env.settings, &env.store(), chrono::Utc::now()).unwrap();
    let step = plan
        .steps
        .iter_mut()
        .find(|s| s.blocked_by().iter().any(|g| g.guard == "unlink_group"))
        .expect("the move is blocked by its unlinks");
    assert_eq!(step.blocked_by().len(), 1, "{step:#?}");
    // Past the planner (a plan built elsewhere), the re-check before the call still refuses it.
    step.allowed = true;
    let a = remediate::apply_plan_unchecked(&env.settings, &plan, &Metrics::new())
        .await
        .unwrap();
    assert_eq!(a.skipped, 1, "{a:?}");
    assert!(mutations(&env).is_empty());
    let row = &env.store().audit(0).unwrap()[0];
    assert!(
        row.detail.as_deref().unwrap().contains("SCIM links"),
        "{row:?}"
    );
}

#[tokio::test]
async fn once_per_target_covers_a_records_linked_account() {
    let mut env = Env::scenarios(20).await;
    // email_conflict and duplicate_email would both unlink R4 (linked to A4): the first finding
    // acts (its unlink, then its move of A4), the other is blocked.
    let rules = rule("email_conflict", "unlink", "apply", 2)
        + &rule("duplicate_email", "unlink", "apply", 2)
        + &rule("duplicate_email", "move_email", "apply", 2);
    env.extend_config(&policy_in(&env, &rules, ""));
    env.pull().await;
    env.pull().await;
    let plan = remediate::make_plan(&env.settings, &env.store(), chrono::Utc::now()).unwrap();
    assert_eq!(
        plan.blocked.get("once_per_target"),
        Some(&1),
        "{:?}",
        plan.blocked
    );
    let allowed: Vec<_> = plan.steps.iter().filter(|s| s.allowed).collect();
    assert_eq!(allowed.len(), 2, "{allowed:#?}");
    assert_eq!(allowed[0].finding_id, allowed[1].finding_id);
}

/// The scenario world pulled once with a suspend rule and quick retries; its first suspend call
/// is answered `first`, every later one 403.
async fn leaver_suspend_answered_then_403(first: FaultKind) -> Env {
    let mut env = Env::scenarios(20).await;
    env.extend_config(&policy_in(&env, &suspend_rule(1), ""));
    env.settings.atlassian.http.max_retries = 2;
    env.settings.atlassian.http.retry_base_delay_ms = 1;
    env.pull().await;
    env.sim.set_faults(Faults::rules([
        FaultRule::new(first).path_contains("/suspend").once(),
        FaultRule::new(FaultKind::Status(403))
            .path_contains("/suspend")
            .skip(1),
    ]));
    env
}

#[tokio::test]
async fn a_4xx_after_a_5xx_without_effect_is_settled_as_a_failure_and_not_resent() {
    // The first suspend is answered 503 (not executed), the retry 403.
    let env = leaver_suspend_answered_then_403(FaultKind::Status(503)).await;
    let a = remediate(&env).await;
    assert_eq!(a.failure, 1);
    let pending = env.store().audit_pending().unwrap();
    assert_eq!(pending.len(), 1, "outcome unknown after the 503");
    assert_eq!(pending[0].http_status, Some(403));
    // Next cycle: reconciled as a failure (fay is not suspended), and not sent again.
    env.pull().await;
    let a = remediate(&env).await;
    assert_eq!(a.reconciled, 1);
    assert_eq!(a.success + a.failure, 0);
    let rows = env.store().audit(0).unwrap();
    assert_eq!(rows[0].result.as_deref(), Some("failure"), "{rows:#?}");
    assert_eq!(rows[0].http_status, Some(403));
    assert_eq!(
        mutations(&env).len(),
        2,
        "the 503 and the 403, nothing more"
    );
    let plan = remediate::make_plan(&env.settings, &env.store(), chrono::Utc::now()).unwrap();
    assert_eq!(plan.blocked.get("previous_failure"), Some(&1));
}

#[tokio::test]
async fn a_4xx_after_only_429s_is_a_refusal_at_once() {
    let rate_limited = FaultKind::RateLimit(scimdrift::sim::RetryAfterStyle::None);
    let env = leaver_suspend_answered_then_403(rate_limited).await;
    let a = remediate(&env).await;
    assert_eq!(a.failure, 1);
    assert!(env.store().audit_pending().unwrap().is_empty());
    let row = &env.store().audit(0).unwrap()[0];
    assert_eq!(row.result.as_deref(), Some("failure"));
    assert_eq!(row.http_status, Some(403));
}

#[tokio::test]
async fn an_intent_without_evidence_stays_open() {
    let mut env = Env::scenarios(20).await;
    env.extend_config(&policy_in(&env, &suspend_rule(1), ""));
    env.pull().await;
    let a4 = label(&env, "A4");
    // A move whose account now hides its email, and an intent whose targets are unreadable.
    env.sim
        .update_world(|w| w.account_mut(&a4).unwrap().email = None);
    let moved = serde_json::json!([{"account_id": a4, "email": "bo.new@example.com"}]);
    insert_intent(&env.store(), "hidden-email", "move_email", "k1", &moved);
    let garbled = serde_json::json!({"account_id": "x"});
    insert_intent(&env.store(), "garbled", "suspend", "k2", &garbled);
    let e = remediate::run_cycle(&env.settings, &Metrics::new())
        .await
        .unwrap_err();
    assert!(
        format!("{e:#}").contains("2 remediation intent(s)"),
        "{e:#}"
    );
    assert_eq!(env.store().audit_pending().unwrap().len(), 2);
    assert!(mutations(&env).is_empty());
}

#[tokio::test]
async fn an_intent_that_cannot_be_read_back_is_settled_by_an_operator() {
    let mut env = Env::scenarios(20).await;
    env.extend_config(&policy_in(&env, &suspend_rule(1), ""));
    env.pull().await;
    // An intent on a directory no longer configured: reconciliation cannot read its record.
    let targets = serde_json::json!([{"directory_id": "removed-dir", "scim_id": "r-1"}]);
    insert_intent(
        &env.store(),
        "0123456789abcdef",
        "delete_scim_record",
        "k",
        &targets,
    );
    let metrics = Metrics::new();
    let e = remediate::run_cycle(&env.settings, &metrics)
        .await
        .unwrap_err();
    assert!(format!("{e:#}").contains("audit settle"), "{e:#}");
    assert!(
        mutations(&env).is_empty(),
        "nothing applied while it is open"
    );
    assert_eq!(metrics.remediation_intents_open.get(), 1);
    let out = env.cli(&["audit"]).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("PENDING 0123456789abcdef"), "{text}");
    // A wrong key, or no note, is refused (exit 2) and changes nothing.
    let settle = |key: &'static str, result: &'static str, note: &'static str| {
        let env = &env;
        async move {
            let args = ["audit", "settle", key, "--result", result, "--note", note];
            env.cli(&args).await
        }
    };
    let out = settle("nope", "failure", "x").await;
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("0123456789abcdef"));
    let out = settle("0123456789abcdef", "failure", " ").await;
    assert_eq!(out.status.code(), Some(2));
    let note = "checked in admin hub: the record is still there";
    let out = settle("0123456789abcdef", "not_applied", note).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let row = &env.store().audit(0).unwrap()[0];
    assert_eq!(row.result.as_deref(), Some("not_applied"));
    let detail = row.detail.as_deref().unwrap();
    assert!(
        detail.contains("settled by an operator: checked"),
        "{detail}"
    );
    // Settled once only; remediation goes on.
    let out = settle("0123456789abcdef", "success", "x").await;
    assert_eq!(out.status.code(), Some(2));
    let a = remediate::run_cycle(&env.settings, &metrics).await.unwrap();
    assert_eq!(a.success, 1, "fay is suspended");
    assert_eq!(metrics.remediation_intents_open.get(), 0);
}

/// Email-conflict / duplicate-email rules for `kind`: unlink, then move.
fn conflict_rules(env: &Env, kind: &str) -> String {
    let rules = rule(kind, "unlink", "apply", 2) + &rule(kind, "move_email", "apply", 2);
    policy_in(env, &rules, "never_touch = [\"ana@example.com\"]")
}

#[tokio::test]
async fn a_move_left_for_a_later_cycle_still_follows_its_unlink() {
    for kind in ["email_conflict", "duplicate_email"] {
        let mut env = Env::scenarios(20).await;
        // One action per cycle: unlink and move can never go together.
        env.extend_config(
            &conflict_rules(&env, kind)
                .replace("max_actions_per_cycle = 5", "max_actions_per_cycle = 1"),
        );
        env.pull().await;
        env.pull().await;
        // Cycle 1: the cap lets the unlink through, not the move.
        let a = remediate(&env).await;
        assert_eq!(a.success, 1, "{kind}: {a:?}");
        let world = env.sim.world();
        assert_eq!(
            world.labelled_user("R4").unwrap().atlassian_account_id,
            None
        );
        let email = |env: &Env| {
            env.sim
                .world()
                .labelled_account("A4")
                .unwrap()
                .email
                .clone()
        };
        assert_eq!(email(&env).as_deref(), Some("bo.new@example.com"));
        // Cycle 2: A4 has no link left, the finding alone no longer names it: the audit does.
        env.pull().await;
        let a = remediate(&env).await;
        assert_eq!(a.success, 1, "{kind}: {a:?}");
        assert!(email(&env).unwrap().starts_with("bo.new+moved-"), "{kind}");
        let rows = env.store().audit(0).unwrap();
        assert_eq!(rows[0].action, "move_email");
        assert!(
            rows[0].reason.contains("finishes the unlink"),
            "{}",
            rows[0].reason
        );
        // Nothing more to do: the next cycles send nothing.
        env.pull().await;
        remediate(&env).await;
        assert_eq!(mutations(&env).len(), 2, "{kind}");
    }
}

#[tokio::test]
async fn an_unlink_is_skipped_when_the_email_is_no_longer_contested() {
    let mut env = Env::scenarios(20).await;
    env.extend_config(&conflict_rules(&env, "email_conflict"));
    env.pull().await;
    env.pull().await;
    // The IdP fixed R3 (the contesting record) since the snapshot: it no longer claims bo.new.
    let r3 = label(&env, "R3");
    env.sim.update_world(|w| {
        let u = w.user_mut(&r3).unwrap();
        u.user_name = "bo.other@example.com".into();
        for e in &mut u.emails {
            e.value = "bo.other@example.com".into();
        }
    });
    let a = remediate(&env).await;
    assert_eq!(a.skipped, 2, "the unlink and its move: {a:?}");
    assert!(mutations(&env).is_empty());
    let rows = env.store().audit(0).unwrap();
    let row = rows.iter().find(|r| r.action == "unlink").unwrap();
    assert!(
        row.detail
            .as_deref()
            .unwrap()
            .contains("no longer carries the email"),
        "{row:?}"
    );
    assert!(row.contest.is_some(), "the audit keeps what was contested");
}

#[tokio::test]
async fn findings_released_at_once_by_an_ignore_rule_are_a_spike() {
    let mut env = Env::scenarios(200).await;
    let base = std::fs::read_to_string(&env.config).unwrap();
    let policy = policy_in(&env, &suspend_rule(1), "")
        .replace("spike_threshold = 50", "spike_threshold = 2");
    let ignore = "\n[[ignore]]\nkind = \"idp_inactive_account_active\"\nemail_domain = \"example.com\"\nreason = \"offboarding wave, handled by HR\"\n";
    env.extend_config(&format!("{ignore}{policy}"));
    // Three leavers appear one per pull, all suppressed: no spike, nothing acted on.
    env.pull().await;
    for n in 1..=2 {
        deprovision_healthy(&env, n);
        env.pull().await;
    }
    assert_eq!(remediate(&env).await.success, 0);
    // The rule goes: three findings are released at once.
    std::fs::write(&env.config, &base).unwrap();
    env.extend_config(&policy);
    let metrics = Metrics::new();
    remediate::run_cycle(&env.settings, &metrics).await.unwrap();
    assert_eq!(metrics.remediation_breaker_tripped.get(), 1, "released now");
    env.pull().await;
    remediate(&env).await;
    env.pull().await;
    remediate(&env).await;
    assert!(mutations(&env).is_empty());
    let plan = remediate::make_plan(&env.settings, &env.store(), chrono::Utc::now()).unwrap();
    assert!(!plan.breaker_tripped);
    assert_eq!(plan.blocked.get("breaker"), Some(&3), "{plan:#?}");
}

#[tokio::test]
async fn one_process_remediates_at_a_time() {
    let mut env = Env::scenarios(20).await;
    env.extend_config(&policy_in(&env, &suspend_rule(1), ""));
    env.pull().await;
    // Another process (say `remediate apply`) holds the store's remediation lock.
    let held = remediate::lock::RemediationLock::acquire(
        &env.settings.store.path,
        std::time::Duration::ZERO,
    )
    .await
    .unwrap();
    let metrics = Metrics::new();
    let cycle = remediate::run_cycle(&env.settings, &metrics);
    tokio::pin!(cycle);
    let waited = tokio::time::timeout(std::time::Duration::from_millis(400), &mut cycle).await;
    assert!(waited.is_err(), "the cycle waits for the lock");
    assert!(mutations(&env).is_empty());
    drop(held);
    assert_eq!(cycle.await.unwrap().success, 1);
}

#[tokio::test]
async fn an_operator_settles_only_while_no_process_remediates() {
    let env = Env::scenarios(20).await;
    insert_intent(
        &env.store(),
        "in-flight",
        "suspend",
        "k",
        &serde_json::json!([]),
    );
    let held = remediate::lock::RemediationLock::acquire(
        &env.settings.store.path,
        std::time::Duration::ZERO,
    )
    .await
    .unwrap();
    let settle = remediate::settle(&env.settings, "in-flight", "not_applied", "checked");
    tokio::pin!(settle);
    let waited = tokio::time::timeout(std::time::Duration::from_millis(400), &mut settle).await;
    assert!(waited.is_err(), "settle waits for the remediating process");
    assert_eq!(env.store().audit_pending().unwrap().len(), 1);
    drop(held);
    settle.await.unwrap();
    assert!(env.store().audit_pending().unwrap().is_empty());
}

/// A4 (`bo.new@example.com`) is also linked from a newer record in D1 with the same email, so
/// `email_conflict` {R3; A4} needs two unlinks before its move.
fn link_a4_from_d1_too(env: &Env) {
    let a4 = label(env, "A4");
    env.sim.update_world(|w| {
        let mut u = scimdrift::sim::SimUser::new(
            "extra-a4",
            "bo.new@example.com",
            "Bo",
            "New",
            chrono::Utc::now() - chrono::Duration::days(1),
        );
        u.atlassian_account_id = Some(a4);
        w.directories[0].users.push(u);
    });
}

fn unlink_and_move_rules(extra: &str) -> String {
    let with = |r: String| r + extra + "\n";
    with(rule("email_conflict", "unlink", "apply", 2))
        + &with(rule("email_conflict", "move_email", "apply", 2))
}

/// The scenario world with A4 linked twice, unlink and move rules for `email_conflict` (scoped to
/// D1 when `scope_d1`), pulled twice (confirmed).
async fn a4_linked_twice(scope_d1: bool) -> Env {
    let mut env = Env::scenarios(20).await;
    link_a4_from_d1_too(&env);
    let scope = if scope_d1 {
        format!("directories = [\"{}\"]", label(&env, "D1"))
    } else {
        String::new()
    };
    env.extend_config(&policy_in(&env, &unlink_and_move_rules(&scope), ""));
    env.pull().await;
    env.pull().await;
    env
}

#[tokio::test]
async fn every_link_of_the_account_is_removed_before_its_move() {
    let env = a4_linked_twice(false).await;
    let a = remediate(&env).await;
    assert_eq!(a.success, 3, "{a:?}");
    assert_eq!(mutations(&env).len(), 3);
    let world = env.sim.world();
    assert_eq!(world.user("extra-a4").unwrap().atlassian_account_id, None);
    assert_eq!(
        world.labelled_user("R4").unwrap().atlassian_account_id,
        None
    );
    let a4 = world.labelled_account("A4").unwrap();
    assert!(a4.email.as_deref().unwrap().contains("+moved-"), "{a4:?}");
}

#[tokio::test]
async fn an_unlink_out_of_scope_blocks_the_findings_other_unlinks_and_move() {
    let env = a4_linked_twice(true).await;
    let plan = remediate::make_plan(&env.settings, &env.store(), chrono::Utc::now()).unwrap();
    assert_eq!(
        plan.blocked.get("directories"),
        Some(&1),
        "{:?}",
        plan.blocked
    );
    assert_eq!(
        plan.blocked.get("unlink_group"),
        Some(&2),
        "{:?}",
        plan.blocked
    );
    let a = remediate(&env).await;
    assert_eq!(a, Applied::default());
    assert!(mutations(&env).is_empty());
}

#[tokio::test]
async fn an_unlink_that_no_longer_holds_at_apply_time_stops_the_whole_group() {
    let env = a4_linked_twice(false).await;
    // After the snapshot, the IdP gives the D1 record another email.
    env.sim.update_world(|w| {
        let u = w.user_mut("extra-a4").unwrap();
        u.user_name = "bo.other@example.com".into();
        u.emails = vec![scimdrift::sim::SimEmail::work("bo.other@example.com")];
    });
    let a = remediate(&env).await;
    assert_eq!(a.success, 0, "{a:?}");
    assert_eq!(a.skipped, 3, "{a:?}");
    assert!(mutations(&env).is_empty());
    let rows = env.store().audit(0).unwrap();
    assert!(
        rows.iter()
            .any(|r| r.detail.as_deref().unwrap_or("").contains("go together")),
        "{rows:#?}"
    );
}

#[tokio::test]
async fn a_refusal_echoing_the_key_never_reaches_the_audit_or_the_logs() {
    let mut env = Env::scenarios(20).await;
    env.extend_config(&policy_in(&env, &suspend_rule(1), ""));
    env.pull().await;
    env.sim.set_faults(Faults::rules([FaultRule::new(
        FaultKind::EchoAuthorization(403),
    )
    .path_contains("/suspend")]));
    let file = env.dir.path().join("plan.json");
    let file = file.to_str().unwrap();
    assert!(
        env.cli(&["remediate", "plan", "--output", file])
            .await
            .status
            .success()
    );
    let out = env.cli(&["remediate", "apply", "--plan", file]).await;
    assert_eq!(out.status.code(), Some(1), "a call failed");
    let output = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let row = &env.store().audit(0).unwrap()[0];
    assert_eq!(row.http_status, Some(403));
    let detail = row.detail.as_deref().unwrap();
    assert!(
        detail.contains("Authorization: Bearer [redacted]"),
        "{detail}"
    );
    let key = env.sim.world().org_api_key.clone();
    assert!(!output.contains(&key) && !detail.contains(&key));
    let db = std::fs::read(env.db_path()).unwrap();
    let wal = std::fs::read(env.db_path().with_extension("db-wal")).unwrap_or_default();
    for bytes in [db, wal] {
        assert!(!bytes.windows(key.len()).any(|w| w == key.as_bytes()));
    }
}

#[tokio::test]
async fn a_reviewed_plan_allowing_part_of_a_group_sends_none_of_it() {
    let env = a4_linked_twice(false).await;
    let mut reviewed =
        remediate::make_plan(&env.settings, &env.store(), chrono::Utc::now()).unwrap();
    assert_eq!(reviewed.to_apply().count(), 3);
    // The reviewer unticks one of A4's two unlinks.
    let step = reviewed
        .steps
        .iter_mut()
        .find(|s| s.allowed && s.action.as_str() == "unlink")
        .unwrap();
    step.allowed = false;
    let a = remediate::apply_reviewed(&env.settings, &reviewed, &Metrics::new())
        .await
        .unwrap();
    assert_eq!(a, Applied::default());
    assert!(mutations(&env).is_empty());
}

#[tokio::test]
async fn a_refused_unlink_stops_the_rest_of_its_group() {
    let env = a4_linked_twice(false).await;
    env.sim
        .set_faults(Faults::rules([FaultRule::new(FaultKind::Status(403))
            .path_contains("/unlink")
            .once()]));
    let a = remediate(&env).await;
    assert_eq!((a.failure, a.success, a.skipped), (1, 0, 2), "{a:?}");
    assert_eq!(mutations(&env).len(), 1, "only the refused unlink was sent");
    let world = env.sim.world();
    assert!(
        world
            .user("extra-a4")
            .unwrap()
            .atlassian_account_id
            .is_some()
    );
    assert!(
        world
            .labelled_user("R4")
            .unwrap()
            .atlassian_account_id
            .is_some()
    );
}

#[tokio::test]
async fn a_rerun_after_a_crash_mid_group_sends_none_of_the_rest() {
    let env = a4_linked_twice(false).await;
    // The first unlink's intent was written, then the process died before the call.
    let plan = remediate::make_plan(&env.settings, &env.store(), chrono::Utc::now()).unwrap();
    let first = plan.to_apply().next().unwrap();
    assert_eq!(first.action.as_str(), "unlink");
    let key = first.idempotency_key(plan.snapshot_id.unwrap());
    let targets = serde_json::to_value(&first.targets).unwrap();
    insert_intent(&env.store(), &key, "unlink", &first.action_key(), &targets);
    // Same snapshot: the intent is reconciled (not applied), and nothing of the group is sent.
    let a = remediate(&env).await;
    assert_eq!((a.reconciled, a.success), (1, 0), "{a:?}");
    assert!(mutations(&env).is_empty());
    // The next snapshot plans the whole group again.
    env.pull().await;
    let a = remediate(&env).await;
    assert_eq!(a.success, 3, "{a:?}");
}
