//! Each action's real effect on the simulator, and the daemon remediating on its own.

use crate::support::*;

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

/// The dry-run rows of the audit log, oldest first.
fn dry_rows(env: &Env) -> Vec<scimdrift::store::AuditRow> {
    let mut rows: Vec<_> = env
        .store()
        .audit(0)
        .unwrap()
        .into_iter()
        .filter(|r| r.mode == "dry_run")
        .collect();
    rows.reverse();
    rows
}

#[tokio::test]
async fn an_unchanged_dry_run_plan_is_audited_once_then_its_changes_only() {
    let mut env = Env::scenarios(20).await;
    env.extend_config(&policy_in(
        &env,
        &rule("idp_inactive_account_active", "suspend", "dry_run", 2),
        "",
    ));
    // Pull 1: planned, blocked by its confirmations. Pull 2: would run. Pulls 3-5: unchanged.
    let mut would_run = Vec::new();
    for _ in 0..5 {
        env.pull().await;
        would_run.push(remediate(&env).await.dry_run);
    }
    assert_eq!(
        would_run,
        [0, 1, 1, 1, 1],
        "the plan's steps that would run"
    );
    let rows = dry_rows(&env);
    assert_eq!(
        rows.len(),
        2,
        "appeared, then its verdict changed: {rows:#?}"
    );
    let detail = |i: usize| rows[i].detail.clone().unwrap_or_default();
    assert!(
        detail(0).contains("planned: would be blocked (confirmations"),
        "{}",
        detail(0)
    );
    assert!(
        detail(1).contains("it was blocked by confirmations, now it would run"),
        "{}",
        detail(1)
    );
    assert!(rows.iter().all(|r| r.result.as_deref() == Some("dry_run")));
    assert!(mutations(&env).is_empty());

    // The leaver's access is removed by hand: the step disappears, once.
    let a9 = label(&env, "A9");
    env.sim
        .update_world(|w| w.account_mut(&a9).unwrap().suspend());
    for _ in 0..3 {
        env.pull().await;
        assert_eq!(remediate(&env).await.dry_run, 0);
    }
    let rows = dry_rows(&env);
    assert_eq!(rows.len(), 3, "{rows:#?}");
    assert!(
        rows[2]
            .detail
            .as_deref()
            .unwrap_or("")
            .contains("no longer planned"),
        "{:?}",
        rows[2]
    );
    assert_eq!(rows[2].finding_id, rows[0].finding_id);
    assert_eq!(
        rows[2].targets, rows[0].targets,
        "the withdrawn step names its targets"
    );
}

#[tokio::test]
async fn two_org_directories_without_org_directory_id_skip_loudly_and_are_counted() {
    let mut env = Env::scenarios(20).await;
    // The scenario org has two user directories; no org_directory_id.
    env.extend_config(
        "\n[remediation]\nenabled = true\nmax_actions_per_cycle = 5\nmax_percent_of_population = 100.0\nspike_threshold = 50\n[[remediation.rules]]\nkind = \"idp_inactive_account_active\"\naction = \"suspend\"\nmode = \"apply\"\nmin_confirmations = 1\n",
    );
    env.pull().await;
    let metrics = Metrics::new();
    remediate::init_metrics(&metrics);
    let a = scimdrift::app::remediation::run_cycle(&env.settings, &metrics)
        .await
        .unwrap();
    assert_eq!((a.success, a.skipped), (0, 1), "{a:?}");
    assert!(mutations(&env).is_empty());
    let audit = env.store().audit(0).unwrap();
    let detail = audit[0].detail.as_deref().unwrap_or("");
    assert!(detail.contains("remediation.org_directory_id"), "{detail}");
    for d in ["D1", "D2"] {
        assert!(detail.contains(&label(&env, d)), "lists {d}: {detail}");
    }
    let text = metrics.render();
    let line = |reason: &str| {
        format!(
            "scimdrift_remediation_steps_total{{action=\"suspend\",reason=\"{reason}\",result=\"skipped\"}}"
        )
    };
    assert!(
        text.contains(&format!("{} 1", line("org_directory_ambiguous"))),
        "{text}"
    );
    assert!(
        text.contains(&format!("{} 0", line("target_changed"))),
        "{text}"
    );
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
    let plan =
        scimdrift::app::remediation::make_plan(&env.settings, &env.store(), chrono::Utc::now())
            .unwrap();
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
    let plan =
        scimdrift::app::remediation::make_plan(&env.settings, &env.store(), chrono::Utc::now())
            .unwrap();
    assert_eq!(plan.blocked.get("already_done"), Some(&1), "{plan:#?}");
    // Later the admin suspends her on purpose while the IdP has her active: a hold, not ours.
    env.sim
        .update_world(|w| w.account_mut(&a9).unwrap().suspend());
    set_r9_active(&env, true);
    env.pull().await;
    env.pull().await;
    assert_eq!(remediate(&env).await.success, 0);
    let plan =
        scimdrift::app::remediation::make_plan(&env.settings, &env.store(), chrono::Utc::now())
            .unwrap();
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
async fn restore_is_not_planned_for_a_deactivated_account() {
    let mut env = Env::scenarios(20).await;
    env.extend_config(&policy_in(
        &env,
        &rule("deactivated_idp_active", "restore", "apply", 2),
        "",
    ));
    env.pull().await;
    env.pull().await;
    let plan =
        scimdrift::app::remediation::make_plan(&env.settings, &env.store(), chrono::Utc::now())
            .unwrap();
    assert_eq!(plan.blocked.get("target"), Some(&1));
    remediate(&env).await;
    assert!(mutations(&env).is_empty());
    assert!(env.store().audit(0).unwrap().is_empty());
}
