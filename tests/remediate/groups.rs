//! A finding's unlinks and move go together (the unlink group).

use crate::support::*;

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
    let mut plan =
        scimdrift::app::remediation::make_plan(&env.settings, &env.store(), chrono::Utc::now())
            .unwrap();
    let step = plan
        .steps
        .iter_mut()
        .find(|s| {
            s.blocked_by()
                .iter()
                .any(|g| g.guard.as_str() == "unlink_group")
        })
        .expect("the move is blocked by its unlinks");
    assert_eq!(step.blocked_by().len(), 1, "{step:#?}");
    // Past the planner (a plan built elsewhere), the re-check before the call still refuses it.
    step.allowed = true;
    let a =
        scimdrift::app::remediation::apply_plan_unchecked(&env.settings, &plan, &Metrics::new())
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
    let plan =
        scimdrift::app::remediation::make_plan(&env.settings, &env.store(), chrono::Utc::now())
            .unwrap();
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
    let plan =
        scimdrift::app::remediation::make_plan(&env.settings, &env.store(), chrono::Utc::now())
            .unwrap();
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
