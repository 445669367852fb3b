//! `provision_on_demand` (Entra) against the simulator's Graph and SCIM directory: dry run by
//! default, the real effect on E1, the E5 email conflict refused, the re-read before the call, a
//! `Skipped` reply recorded as a refusal, every guard that can block it (with the exact count of
//! requests that change something), the shared 5 / 10 s window, and a crash between the call and
//! its result.

use chrono::Utc;
use scimdrift::app::remediation::{apply_plan_unchecked, make_plan};
use scimdrift::remediate::Plan;
use scimdrift::remediate::plan::Step;
use scimdrift::sim::{Api, SimEntraUser, SimOptions, World};

use crate::support::*;

/// The IdP scenario world with no grace span and `rules` in an enabled policy (`extra` in the
/// `[remediation]` table).
async fn idp_env(rules: &str, extra: &str) -> Env {
    let mut env = Env::start_with_idp(
        World::idp_scenarios_with_healthy(30, 5, Utc::now()),
        SimOptions::default(),
    )
    .await;
    env.extend_config("\n[detect]\nidp_grace_minutes = 0\n");
    let policy = policy_in(&env, rules, extra);
    env.extend_config(&policy);
    env
}

fn on_demand(kind: &str, mode: &str, confirmations: u32) -> String {
    rule(kind, "provision_on_demand", mode, confirmations)
}

/// Provision-on-demand POSTs the simulator received.
fn posts(env: &Env) -> u64 {
    env.sim.request_count(Api::GraphProvisionOnDemand)
}

/// Every request that changes something, Atlassian or Graph (token requests aside).
fn changes(env: &Env) -> Vec<LoggedRequest> {
    mutations(env)
        .into_iter()
        .filter(|r| r.api != Some(Api::EntraToken))
        .collect()
}

fn plan_now(env: &Env) -> Plan {
    make_plan(&env.settings, &env.store(), Utc::now()).unwrap()
}

/// The id of the open finding of `kind` about IdP user `label`.
fn finding_of(env: &Env, kind: Kind, label: &str) -> String {
    let id = env.sim.world().labels[label].clone();
    open_of(env, kind)
        .into_iter()
        .find(|f| f.idp_users.iter().any(|u| u.id == id))
        .unwrap_or_else(|| panic!("no open {kind} finding about {label}"))
        .id
}

fn step_of<'p>(plan: &'p Plan, finding: &str) -> &'p Step {
    plan.steps
        .iter()
        .find(|s| s.finding_id == finding)
        .unwrap_or_else(|| panic!("no step for {finding}: {plan:#?}"))
}

fn verdict<'s>(step: &'s Step, guard: &str) -> &'s str {
    &step
        .guards
        .iter()
        .find(|g| g.guard.as_str() == guard && !g.passed)
        .unwrap_or_else(|| panic!("{guard} does not block {step:#?}"))
        .detail
}

fn e1_id(env: &Env) -> String {
    env.sim.world().labels["E1"].clone()
}

#[tokio::test]
async fn dry_run_by_default_sends_no_post() {
    // A rule without a mode is off; `dry_run` is recorded, never sent.
    let off = "[[remediation.rules]]\nkind = \"assigned_not_provisioned\"\naction = \"provision_on_demand\"\nmin_confirmations = 1\n";
    let env = idp_env(
        &(off.to_string() + &on_demand("idp_email_mismatch", "dry_run", 1)),
        "",
    )
    .await;
    env.pull().await;
    env.pull().await;
    let a = remediate(&env).await;
    assert_eq!(a.dry_run, 1, "E7's mismatch, recorded: {a:?}");
    assert_eq!(a.success + a.failure + a.skipped, 0);
    assert_eq!(posts(&env), 0);
    assert!(changes(&env).is_empty());
    let audit = env.store().audit(0).unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].action, "provision_on_demand");
    assert_eq!(audit[0].result.as_deref(), Some("dry_run"));
}

#[tokio::test]
async fn apply_provisions_e1_and_the_next_pull_resolves_it() {
    let env = idp_env(&on_demand("assigned_not_provisioned", "apply", 1), "").await;
    env.pull().await;
    env.pull().await;
    let e1 = finding_of(&env, Kind::AssignedNotProvisioned, "E1");
    let a = remediate(&env).await;
    assert_eq!((a.success, a.failure, a.skipped), (1, 0, 0), "{a:?}");
    assert_eq!(posts(&env), 1, "E1 only: E5's email is held by A15");
    assert_eq!(changes(&env).len(), 1);
    // The SCIM record exists now, active, with E1's object id as its externalId.
    let world = env.sim.world();
    let record = world.directories[0]
        .users
        .iter()
        .find(|r| r.external_id.as_deref() == Some(e1_id(&env).as_str()))
        .expect("the record was created");
    assert_eq!(record.active, Some(true));
    // The audit: one row, its intent written before the call and completed after it.
    let rows = env.store().audit(0).unwrap();
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    assert_eq!(row.finding_id, e1);
    assert_eq!(row.result.as_deref(), Some("success"));
    assert_eq!(row.http_status, Some(200));
    let detail = row.detail.as_deref().unwrap_or("");
    assert!(detail.contains("result Success"), "{detail}");
    assert!(
        detail.contains(&format!("SCIM id {}", record.id)),
        "{detail}"
    );
    assert!(row.finished_at.as_deref() >= Some(row.started_at.as_str()));
    // The next pull no longer shows E1 unprovisioned; nothing is sent again.
    env.pull().await;
    assert!(
        open_of(&env, Kind::AssignedNotProvisioned)
            .iter()
            .all(|f| f.id != e1)
    );
    remediate(&env).await;
    assert_eq!(posts(&env), 1);
}

#[tokio::test]
async fn the_e5_email_conflict_is_refused_while_a15_holds_the_email() {
    let env = idp_env(
        &(on_demand("assigned_not_provisioned", "apply", 1)
            + &on_demand("provisioning_error", "apply", 1)),
        "",
    )
    .await;
    env.pull().await;
    env.pull().await;
    let plan = plan_now(&env);
    let a15 = label(&env, "A15");
    for kind in [Kind::AssignedNotProvisioned, Kind::ProvisioningError] {
        let step = step_of(&plan, &finding_of(&env, kind, "E5"));
        assert!(!step.allowed);
        let why = verdict(step, "target");
        assert!(
            why.contains(&format!("account {a15} holds mo@example.com")),
            "{why}"
        );
        assert!(why.contains("already exists"), "{why}");
    }
    // The applier refuses it too: a hand-made E5 step (E1's, retargeted) is re-read and skipped.
    let e1_step = step_of(&plan, &finding_of(&env, Kind::AssignedNotProvisioned, "E1")).clone();
    assert!(e1_step.allowed);
    let mut forced = plan.clone();
    let mut e5 = e1_step.clone();
    e5.finding_id = finding_of(&env, Kind::AssignedNotProvisioned, "E5");
    let e5_id = label(&env, "E5");
    let t = &mut e5.targets[0];
    t.email = Some("mo@example.com".into());
    let idp = t.idp.as_mut().unwrap();
    idp.user_id = e5_id.clone();
    idp.external_id = e5_id;
    idp.user_principal_name = Some("mo@example.com".into());
    forced.steps = vec![e5];
    let a = apply_plan_unchecked(&env.settings, &forced, &Metrics::new())
        .await
        .unwrap();
    assert_eq!((a.skipped, a.success, a.failure), (1, 0, 0), "{a:?}");
    assert_eq!(posts(&env), 0, "not one POST while A15 holds the email");
    let row = &env.store().audit(0).unwrap()[0];
    assert_eq!(row.result.as_deref(), Some("skipped"));
    assert!(
        row.detail
            .as_deref()
            .unwrap_or("")
            .contains(&format!("account {a15} holds mo@example.com")),
        "{row:?}"
    );
    // Once A15 no longer holds the email, the planner allows it.
    env.sim.update_world(|w| {
        w.account_mut(&a15).unwrap().email = Some("mo.old@example.com".into());
    });
    // The finding lists the account holding the email: a new identity, open after two pulls.
    env.pull().await;
    env.pull().await;
    let plan = plan_now(&env);
    let step = step_of(&plan, &finding_of(&env, Kind::AssignedNotProvisioned, "E5"));
    assert!(step.allowed, "{step:#?}");
}

#[tokio::test]
async fn a_user_disabled_between_plan_and_apply_is_skipped() {
    let env = idp_env(&on_demand("assigned_not_provisioned", "apply", 1), "").await;
    env.pull().await;
    env.pull().await;
    let plan = plan_now(&env);
    assert_eq!(plan.to_apply().count(), 1);
    let e1 = e1_id(&env);
    assert!(env.sim.update_entra(&label(&env, "D1"), |t| {
        t.user_mut(&e1).unwrap().account_enabled = Some(false);
    }));
    let a = apply_plan_unchecked(&env.settings, &plan, &Metrics::new())
        .await
        .unwrap();
    assert_eq!((a.skipped, a.success, a.failure), (1, 0, 0), "{a:?}");
    assert_eq!(posts(&env), 0);
    assert!(changes(&env).is_empty());
    let row = &env.store().audit(0).unwrap()[0];
    assert_eq!(row.result.as_deref(), Some("skipped"));
    assert!(
        row.detail.as_deref().unwrap_or("").contains("disabled"),
        "{row:?}"
    );
}

#[tokio::test]
async fn a_skipped_reply_is_recorded_as_refused_and_not_repeated() {
    // E6's record is already what Entra would send: `Skipped` / `RedundantExport`.
    let env = idp_env(&on_demand("provisioning_error", "apply", 1), "").await;
    env.pull().await;
    env.pull().await;
    let e6 = finding_of(&env, Kind::ProvisioningError, "E6");
    let a = remediate(&env).await;
    assert_eq!((a.failure, a.success), (1, 0), "{a:?}");
    assert_eq!(posts(&env), 1);
    let row = &env.store().audit(0).unwrap()[0];
    assert_eq!(row.finding_id, e6);
    assert_eq!(row.result.as_deref(), Some("failure"));
    assert_eq!(row.http_status, Some(200));
    let detail = row.detail.as_deref().unwrap_or("");
    assert!(detail.contains("result Skipped"), "{detail}");
    assert!(detail.contains("errorCode RedundantExport"), "{detail}");
    assert!(env.store().audit_pending().unwrap().is_empty());
    let plan = plan_now(&env);
    let step = step_of(&plan, &e6);
    assert!(verdict(step, "previous_failure").contains("not retried"));
    remediate(&env).await;
    env.pull().await;
    remediate(&env).await;
    assert_eq!(posts(&env), 1, "a refusal is never repeated automatically");
}

#[tokio::test]
async fn an_incomplete_idp_source_blocks_it() {
    let mut env = idp_env(&on_demand("assigned_not_provisioned", "apply", 1), "").await;
    env.settings.atlassian.http.max_retries = 0;
    env.pull().await;
    env.pull().await;
    env.sim
        .set_faults(Faults::rules([FaultRule::new(FaultKind::Status(403))
            .on(Api::Graph)
            .path_contains("/users")]));
    let outcome = env.pull().await;
    env.sim.set_faults(Faults::default());
    assert!(outcome.recorded.complete, "the Atlassian side is complete");
    let idp = outcome
        .pull
        .sources
        .iter()
        .find(|s| s.source.starts_with("idp:"))
        .unwrap();
    assert!(!idp.complete);
    let before = posts(&env);
    assert_eq!(before, 0);
    remediate(&env).await;
    assert_eq!(posts(&env), 0);
    assert!(changes(&env).is_empty());
    let plan = plan_now(&env);
    let step = step_of(&plan, &finding_of(&env, Kind::AssignedNotProvisioned, "E1"));
    let why = verdict(step, "snapshot");
    assert!(why.contains("incomplete"), "{why}");
    assert_eq!(plan.to_apply().count(), 0);
}

#[tokio::test]
async fn an_unconfirmed_finding_is_not_provisioned() {
    let env = idp_env(&on_demand("assigned_not_provisioned", "apply", 2), "").await;
    env.pull().await;
    env.pull().await;
    let a = remediate(&env).await;
    assert_eq!(a, Applied::default());
    assert_eq!(posts(&env), 0);
    assert!(changes(&env).is_empty());
    let plan = plan_now(&env);
    let step = step_of(&plan, &finding_of(&env, Kind::AssignedNotProvisioned, "E1"));
    assert!(verdict(step, "confirmations").contains("min_confirmations 2"));
    // Confirmed by the next pull: sent once.
    env.pull().await;
    assert_eq!(remediate(&env).await.success, 1);
    assert_eq!(posts(&env), 1);
}

#[tokio::test]
async fn never_touch_matches_the_idp_users_upn_and_object_id() {
    let mut env = idp_env(
        &on_demand("assigned_not_provisioned", "apply", 1),
        "never_touch = [\"IVY.LAM@corp.example.com\"]",
    )
    .await;
    let e1 = e1_id(&env);
    let id = e1.clone();
    // E1's UPN differs from its mail (which the mapping sends as the email).
    env.sim.update_entra(&label(&env, "D1"), |t| {
        t.user_mut(&id).unwrap().user_principal_name = "ivy.lam@corp.example.com".into();
    });
    env.pull().await;
    env.pull().await;
    assert_eq!(remediate(&env).await, Applied::default());
    assert_eq!(posts(&env), 0);
    assert!(changes(&env).is_empty());
    let finding = finding_of(&env, Kind::AssignedNotProvisioned, "E1");
    let plan = plan_now(&env);
    let why = verdict(step_of(&plan, &finding), "never_touch");
    assert!(why.contains("ivy.lam@corp.example.com"), "{why}");
    // The object id blocks it too (a plan only).
    env.settings.remediation.never_touch = vec![e1.to_uppercase()];
    let plan = plan_now(&env);
    assert!(verdict(step_of(&plan, &finding), "never_touch").contains(&e1));
    // Nothing else blocks it.
    env.settings.remediation.never_touch.clear();
    assert!(step_of(&plan_now(&env), &finding).allowed);
    assert_eq!(posts(&env), 0);
}

#[tokio::test]
async fn max_actions_per_cycle_caps_it() {
    let mut env = idp_env(
        &(on_demand("assigned_not_provisioned", "apply", 1)
            + &on_demand("idp_email_mismatch", "apply", 1)),
        "",
    )
    .await;
    env.settings.remediation.max_actions_per_cycle = 1;
    env.pull().await;
    env.pull().await;
    let a = remediate(&env).await;
    assert_eq!(a.success, 1, "{a:?}");
    assert_eq!(posts(&env), 1);
    assert_eq!(changes(&env).len(), 1);
    let plan = plan_now(&env);
    let step = step_of(&plan, &finding_of(&env, Kind::IdpEmailMismatch, "E7"));
    assert!(verdict(step, "cap_per_cycle").contains("max_actions_per_cycle 1"));
    // Run again on the same snapshot: the call already made counts.
    remediate(&env).await;
    assert_eq!(posts(&env), 1);
}

#[tokio::test]
async fn six_calls_in_one_run_keep_to_the_window_and_never_meet_a_429() {
    let mut env = idp_env(&on_demand("assigned_not_provisioned", "apply", 1), "").await;
    env.settings.remediation.max_actions_per_cycle = 10;
    // Five more users assigned directly, never provisioned: six calls with E1.
    env.sim.update_entra(&label(&env, "D1"), |t| {
        for n in 1..=5 {
            let u = SimEntraUser::new(
                format!("0b5e0000-0000-4000-8000-00000000000{n}"),
                &format!("extra{n}@example.com"),
                "Extra",
                &format!("User{n}"),
            );
            t.assign(
                &u.id,
                "User",
                &u.display_name,
                Utc::now() - chrono::Duration::days(2),
            );
            t.users.push(u);
        }
    });
    env.pull().await;
    env.pull().await;
    let started = std::time::Instant::now();
    let a = remediate(&env).await;
    let took = started.elapsed();
    assert_eq!(a.success, 6, "{a:?}");
    assert_eq!(posts(&env), 6);
    let answers: Vec<u16> = env
        .sim
        .requests()
        .into_iter()
        .filter(|r| r.api == Some(Api::GraphProvisionOnDemand))
        .map(|r| r.status)
        .collect();
    assert!(answers.iter().all(|s| *s == 200), "{answers:?}");
    // One client for the run: the sixth call waited for the 10 s window.
    assert!(took >= std::time::Duration::from_millis(9_900), "{took:?}");
}

#[tokio::test]
async fn a_crash_after_the_call_is_settled_by_reading_the_directory() {
    let env = idp_env(&on_demand("assigned_not_provisioned", "apply", 1), "").await;
    env.pull().await;
    env.pull().await;
    let file = env.dir.path().join("plan.json");
    let out = env
        .cli(&["remediate", "plan", "--output", file.to_str().unwrap()])
        .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
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
    assert_eq!(posts(&env), 1);
    // The intent was written before the call and has no result.
    let pending = env.store().audit_pending().unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].action, "provision_on_demand");
    // Restart: the directory shows E1's active record, so the intent is settled, never resent.
    let out = env
        .cli(&["remediate", "apply", "--plan", file.to_str().unwrap()])
        .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 reconciled"));
    assert_eq!(posts(&env), 1);
    let rows = env.store().audit(0).unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].result.as_deref(), Some("success"));
    assert!(
        rows[0]
            .detail
            .as_deref()
            .unwrap_or("")
            .contains("reconciled"),
        "{:?}",
        rows[0]
    );
}

#[tokio::test]
async fn a_lost_reply_stays_open_until_the_directory_shows_the_user() {
    let mut env = idp_env(&on_demand("assigned_not_provisioned", "apply", 1), "").await;
    env.settings.atlassian.http.max_retries = 0;
    env.pull().await;
    env.pull().await;
    // Entra never got it (a 500 before anything happened): no evidence, the intent stays open.
    env.sim
        .set_faults(Faults::rules([FaultRule::new(FaultKind::Status(500))
            .on(Api::GraphProvisionOnDemand)
            .once()]));
    let a = remediate(&env).await;
    assert_eq!(a.failure, 1, "{a:?}");
    assert_eq!(posts(&env), 1);
    assert_eq!(env.store().audit_pending().unwrap().len(), 1);
    let (settled, left) = scimdrift::app::remediation::reconcile(&env.settings, &Metrics::new())
        .await
        .unwrap();
    assert_eq!(
        (settled, left),
        (0, 1),
        "no record: left open, never resent"
    );
    assert_eq!(posts(&env), 1);
    // Nothing is applied while it is open.
    env.pull().await;
    let run = scimdrift::app::remediation::run_cycle(&env.settings, &Metrics::new()).await;
    assert!(run.is_err(), "{run:?}");
    assert_eq!(posts(&env), 1);
}

#[tokio::test]
async fn a_skipped_reply_to_a_retry_is_no_refusal_and_is_settled_by_state() {
    let mut env = idp_env(&on_demand("assigned_not_provisioned", "apply", 1), "").await;
    env.settings.atlassian.http.max_retries = 1;
    env.settings.atlassian.http.retry_base_delay_ms = 1;
    env.pull().await;
    env.pull().await;
    // The first POST takes effect but its reply is lost (500); the retry is answered `Skipped`
    // (`RedundantExport`): the user is there, so this is no refusal.
    env.sim.set_faults(Faults::rules([FaultRule::new(
        FaultKind::StatusAfterApply(500),
    )
    .on(Api::GraphProvisionOnDemand)
    .once()]));
    let a = remediate(&env).await;
    assert_eq!((a.success, a.failure), (0, 1), "{a:?}");
    assert_eq!(posts(&env), 2);
    let pending = env.store().audit_pending().unwrap();
    assert_eq!(pending.len(), 1);
    let detail = pending[0].detail.as_deref().unwrap_or("");
    assert!(detail.contains("result Skipped"), "{detail}");
    assert!(detail.contains("outcome is unknown"), "{detail}");
    env.sim.set_faults(Faults::default());
    let (settled, left) = scimdrift::app::remediation::reconcile(&env.settings, &Metrics::new())
        .await
        .unwrap();
    assert_eq!((settled, left), (1, 0));
    let row = &env.store().audit(0).unwrap()[0];
    assert_eq!(row.result.as_deref(), Some("success"));
    assert_eq!(
        posts(&env),
        2,
        "settled by reading the directory, never resent"
    );
}

#[tokio::test]
async fn with_scope_all_assignments_are_not_intent() {
    // `scope = "all"`: the job's scoping filter decides, so a provisioning_error of a user the
    // pull did not compute as intended is not refused as "not assigned" (E6's own record links
    // A16, so nothing else blocks it; E5's email is still held by A15).
    let mut env = idp_env(&on_demand("provisioning_error", "apply", 1), "").await;
    let text = std::fs::read_to_string(&env.config).unwrap();
    let text = text.replacen("kind = \"entra\"", "kind = \"entra\"\nscope = \"all\"", 1);
    std::fs::write(&env.config, text).unwrap();
    env.settings = Settings::load(Some(&env.config)).unwrap();
    env.pull().await;
    env.pull().await;
    let e6 = finding_of(&env, Kind::ProvisioningError, "E6");
    let e5 = finding_of(&env, Kind::ProvisioningError, "E5");
    let plan = plan_now(&env);
    let step = step_of(&plan, &e6);
    assert!(
        step.guards.iter().all(|g| g.passed),
        "E6 is not refused under scope all: {step:#?}"
    );
    assert!(verdict(step_of(&plan, &e5), "target").contains("holds"));
    remediate(&env).await;
    assert_eq!(posts(&env), 1, "E6 only");
}
