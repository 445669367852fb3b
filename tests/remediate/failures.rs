//! Failures, crashes and reconciliation: nothing is ever sent twice.

use crate::support::*;

#[tokio::test]
async fn a_failure_settled_by_an_operator_keeps_blocking() {
    let mut env = Env::scenarios(20).await;
    env.extend_config(&policy_in(&env, &suspend_rule(1), ""));
    env.pull().await;
    let plan =
        scimdrift::app::remediation::make_plan(&env.settings, &env.store(), chrono::Utc::now())
            .unwrap();
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
    let plan =
        scimdrift::app::remediation::make_plan(&env.settings, &store, chrono::Utc::now()).unwrap();
    assert_eq!(plan.blocked.get("previous_failure"), Some(&1), "{plan:#?}");
    remediate(&env).await;
    assert!(mutations(&env).is_empty());
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
    let (settled, left) = scimdrift::app::remediation::reconcile(&env.settings, &metrics)
        .await
        .unwrap();
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
    let plan =
        scimdrift::app::remediation::make_plan(&env.settings, &env.store(), chrono::Utc::now())
            .unwrap();
    assert_eq!(plan.blocked.get("previous_failure"), Some(&1));
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
    let plan =
        scimdrift::app::remediation::make_plan(&env.settings, &env.store(), chrono::Utc::now())
            .unwrap();
    assert!(!plan.blocked.contains_key("previous_failure"));
}

#[tokio::test]
async fn a_401_failure_expires_after_a_day_but_a_403_never() {
    let mut env = Env::scenarios(20).await;
    env.extend_config(&policy_in(&env, &suspend_rule(1), ""));
    env.pull().await;
    let plan =
        scimdrift::app::remediation::make_plan(&env.settings, &env.store(), chrono::Utc::now())
            .unwrap();
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
        scimdrift::app::remediation::make_plan(&env.settings, &store, chrono::Utc::now()).unwrap()
    };
    assert_eq!(refused(403, 1).blocked.get("previous_failure"), Some(&1));
    // A 403 (a refusal about the target itself) keeps blocking: a 4xx is not retried.
    assert_eq!(refused(403, 25).blocked.get("previous_failure"), Some(&1));
    assert_eq!(refused(401, 1).blocked.get("previous_failure"), Some(&1));
    // A 401 (the key, e.g. while it was rotated) stops blocking after a day.
    assert!(!refused(401, 25).blocked.contains_key("previous_failure"));
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
    let plan =
        scimdrift::app::remediation::make_plan(&env.settings, &env.store(), chrono::Utc::now())
            .unwrap();
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
    let e = scimdrift::app::remediation::run_cycle(&env.settings, &Metrics::new())
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
    let e = scimdrift::app::remediation::run_cycle(&env.settings, &metrics)
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
    let a = scimdrift::app::remediation::run_cycle(&env.settings, &metrics)
        .await
        .unwrap();
    assert_eq!(a.success, 1, "fay is suspended");
    assert_eq!(metrics.remediation_intents_open.get(), 0);
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
    let cycle = scimdrift::app::remediation::run_cycle(&env.settings, &metrics);
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
    let settle =
        scimdrift::app::remediation::settle(&env.settings, "in-flight", "not_applied", "checked");
    tokio::pin!(settle);
    let waited = tokio::time::timeout(std::time::Duration::from_millis(400), &mut settle).await;
    assert!(waited.is_err(), "settle waits for the remediating process");
    assert_eq!(env.store().audit_pending().unwrap().len(), 1);
    drop(held);
    settle.await.unwrap();
    assert!(env.store().audit_pending().unwrap().is_empty());
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
