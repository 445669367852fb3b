//! Every guard, with the count of mutating requests the simulator received.

use crate::support::*;

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
async fn an_incomplete_snapshot_is_never_acted_on() {
    let mut env = Env::scenarios(20).await;
    env.extend_config(&policy_in(&env, &suspend_rule(1), ""));
    env.pull().await;
    env.sim.set_faults(Faults::rules([
        FaultRule::new(FaultKind::Status(400)).on(scimdrift::sim::Api::Scim)
    ]));
    assert!(!env.pull().await.recorded.complete);
    env.sim.set_faults(Faults::default());
    let plan =
        scimdrift::app::remediation::make_plan(&env.settings, &env.store(), chrono::Utc::now())
            .unwrap();
    assert!(
        plan.checks
            .iter()
            .any(|c| c.guard.as_str() == "snapshot" && !c.passed)
    );
    remediate(&env).await;
    assert!(mutations(&env).is_empty());
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
    scimdrift::app::remediation::run_cycle(&env.settings, &metrics)
        .await
        .unwrap();
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
    let plan =
        scimdrift::app::remediation::make_plan(&env.settings, &env.store(), chrono::Utc::now())
            .unwrap();
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
    let plan =
        scimdrift::app::remediation::make_plan(&env.settings, &env.store(), chrono::Utc::now())
            .unwrap();
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
    scimdrift::app::remediation::run_cycle(&env.settings, &metrics)
        .await
        .unwrap();
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
    let plan =
        scimdrift::app::remediation::make_plan(&env.settings, &env.store(), chrono::Utc::now())
            .unwrap();
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
async fn stale_link_delete_is_not_planned_while_another_linked_record_is_active() {
    let mut env = Env::scenarios(20).await;
    env.extend_config(&policy_in(&env, &stale_delete_rule(), ""));
    add_linked_record(&env, &label(&env, "A7"), true);
    env.pull().await;
    env.pull().await;
    let plan =
        scimdrift::app::remediation::make_plan(&env.settings, &env.store(), chrono::Utc::now())
            .unwrap();
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
async fn the_recheck_refuses_an_unexpected_kind() {
    let mut env = Env::scenarios(20).await;
    env.extend_config(&policy_in(&env, &stale_delete_rule(), ""));
    env.pull().await;
    env.pull().await;
    let mut plan =
        scimdrift::app::remediation::make_plan(&env.settings, &env.store(), chrono::Utc::now())
            .unwrap();
    let step = plan
        .steps
        .iter_mut()
        .find(|s| s.allowed && s.kind == Kind::StaleInactiveLink)
        .unwrap();
    step.kind = Kind::DuplicateEmail;
    let r7 = label(&env, "R7");
    env.sim
        .update_world(|w| w.user_mut(&r7).unwrap().active = Some(true));
    let a =
        scimdrift::app::remediation::apply_plan_unchecked(&env.settings, &plan, &Metrics::new())
            .await
            .unwrap();
    assert_eq!(a.skipped, 1);
    assert!(mutations(&env).is_empty());
    let row = &env.store().audit(0).unwrap()[0];
    assert_eq!(row.detail.as_deref(), Some("unexpected kind for action"));
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
    let plan =
        scimdrift::app::remediation::make_plan(&env.settings, &env.store(), chrono::Utc::now())
            .unwrap();
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
    let plan =
        scimdrift::app::remediation::make_plan(&env.settings, &env.store(), chrono::Utc::now())
            .unwrap();
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
    scimdrift::app::remediation::run_cycle(&env.settings, &metrics)
        .await
        .unwrap();
    assert_eq!(metrics.remediation_breaker_tripped.get(), 1, "released now");
    env.pull().await;
    remediate(&env).await;
    env.pull().await;
    remediate(&env).await;
    assert!(mutations(&env).is_empty());
    let plan =
        scimdrift::app::remediation::make_plan(&env.settings, &env.store(), chrono::Utc::now())
            .unwrap();
    assert!(!plan.breaker_tripped);
    assert_eq!(plan.blocked.get("breaker"), Some(&3), "{plan:#?}");
}

/// A7 is an account whose linked record R7 is inactive and stale. An admin reactivated A7 (it has
/// access), but the accounts API sends its `accountStatus` unreadable (a boolean). The SCIM DELETE
/// deactivates a managed account, so it is allowed "only when the account has no access": an
/// unknown status is not "no access".
#[tokio::test]
async fn an_unknown_account_status_never_lets_a_delete_deactivate_it() {
    let mut env = Env::scenarios(20).await;
    env.extend_config(&policy_in(&env, &stale_delete_rule(), ""));
    let a7 = label(&env, "A7");
    env.sim
        .update_world(|w| w.account_mut(&a7).unwrap().reactivate());
    env.sim
        .set_faults(Faults::rules([FaultRule::new(FaultKind::SetField {
            id: Some(a7.clone()),
            field: "accountStatus".into(),
            value: serde_json::json!(true),
        })
        .on(scimdrift::sim::Api::Accounts)]));
    env.pull().await;
    env.pull().await;
    let plan =
        scimdrift::app::remediation::make_plan(&env.settings, &env.store(), chrono::Utc::now())
            .unwrap();
    let steps: Vec<_> = plan
        .steps
        .iter()
        .filter(|s| s.kind == Kind::StaleInactiveLink)
        .map(|s| (s.allowed, s.reason.clone()))
        .collect();
    assert!(steps.iter().all(|(allowed, _)| !allowed), "{steps:?}");
    remediate(&env).await;
    let sent = mutations(&env);
    assert_eq!(
        env.sim.world().account(&a7).unwrap().account_status,
        "active",
        "the account with access was deactivated by the SCIM DELETE; requests: {:?}",
        sent.iter()
            .map(|r| format!("{} {}", r.method, r.path))
            .collect::<Vec<_>>()
    );
    assert!(
        sent.is_empty(),
        "{:?}",
        sent.iter()
            .map(|r| format!("{} {}", r.method, r.path))
            .collect::<Vec<_>>()
    );
}
