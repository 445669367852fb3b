//! Plans from the CLI: review, staleness, policy errors.

use crate::support::*;

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
async fn a_reviewed_plan_allowing_part_of_a_group_sends_none_of_it() {
    let env = a4_linked_twice(false).await;
    let mut reviewed =
        scimdrift::app::remediation::make_plan(&env.settings, &env.store(), chrono::Utc::now())
            .unwrap();
    assert_eq!(reviewed.to_apply().count(), 3);
    // The reviewer unticks one of A4's two unlinks.
    let step = reviewed
        .steps
        .iter_mut()
        .find(|s| s.allowed && s.action.as_str() == "unlink")
        .unwrap();
    step.allowed = false;
    let a = scimdrift::app::remediation::apply_reviewed(&env.settings, &reviewed, &Metrics::new())
        .await
        .unwrap();
    assert_eq!(a, Applied::default());
    assert!(mutations(&env).is_empty());
}
