//! The seeded world gives exactly the IdP kinds; fixing the world resolves exactly those
//! findings, and one that comes back waits the grace again; nested-only users; `scope = "all"`;
//! the history grows with change, not with pulls.

use chrono::Utc;
use scimdrift::findings::Status;
use scimdrift::sim::SimUser;

use super::*;

#[tokio::test]
async fn the_seeded_world_gives_exactly_the_idp_kinds_after_two_pulls() {
    let env = idp_env(0).await;
    let first = env.pull().await;
    assert!(first.recorded.complete);
    let idp = first
        .pull
        .sources
        .iter()
        .find(|s| s.source == "idp:entra")
        .expect("the IdP source is pulled");
    assert!(idp.complete, "{:?}", idp.error);
    // One pull is never enough: the IdP pushes asynchronously.
    let after_one = labelled(&env, &env.store().findings().unwrap());
    assert!(idp_only(after_one.clone()).is_empty(), "{after_one:#?}");
    // The Atlassian side is there at once, R14's deactivation among it.
    assert!(after_one.contains(&(
        "deactivated_idp_active".into(),
        "high".into(),
        vec!["R14".into()],
        vec!["A14".into()],
        vec![]
    )));

    env.pull().await;
    let all = env.store().findings().unwrap();
    assert_eq!(idp_only(labelled(&env, &all)), expected_idp());
    // The provisioning object explains the failed push; the deleted user's id is in the detail.
    let e5_error = all
        .iter()
        .find(|f| {
            f.kind.as_str() == "provisioning_error"
                && f.idp_users
                    .iter()
                    .any(|u| Some(u.id.as_str()) == env.sim.world().label("E5"))
        })
        .unwrap();
    let p = e5_error.provisioning.as_ref().expect("provisioning object");
    assert_eq!(p.status, "failure");
    assert!(
        p.reason.as_deref().unwrap_or("").contains("already exists"),
        "{p:?}"
    );
    let deleted = all
        .iter()
        .find(|f| {
            f.scim_users
                .iter()
                .any(|u| Some(u.scim_id.as_str()) == env.sim.world().label("R13"))
        })
        .unwrap();
    assert!(
        deleted
            .summary
            .contains(env.sim.world().label("E3").unwrap())
    );
    assert!(all.iter().all(|f| f.status == Status::Open));
}

/// Fixing E1 (the sim provisions it) and E2 (enabled again) resolves exactly their findings; E2
/// disabled again is an opening like the first: it waits for two complete IdP pulls again.
#[tokio::test]
async fn a_fixed_world_resolves_exactly_those_findings_and_a_return_waits_again() {
    let env = idp_env(0).await;
    env.pull().await;
    env.pull().await;
    assert_eq!(open_idp(&env), expected_idp());
    let (dir, e1, e2) = (d1(&env), id(&env, "E1"), id(&env, "E2"));

    env.sim.update_world(|w| {
        let mut r = SimUser::new("scim-ivy-0001", "ivy@example.com", "Ivy", "Lam", Utc::now());
        r.external_id = Some(e1.clone());
        w.directory_mut(&dir).unwrap().users.push(r);
    });
    let enable = |on: bool| {
        let e2 = e2.clone();
        assert!(env.sim.update_entra(&dir, move |t| {
            t.user_mut(&e2).unwrap().account_enabled = Some(on);
        }));
    };
    enable(true);
    let fixed = env.pull().await;
    assert!(fixed.pull.all_complete(), "{:?}", fixed.pull.sources);
    let resolved = set(&[
        ("assigned_not_provisioned", "high", &[], &[], &["E1"]),
        (
            "idp_disabled_scim_active",
            "critical",
            &["R12"],
            &["A12"],
            &["E2"],
        ),
    ]);
    assert_eq!(
        idp_only(labelled(&env, &with_status(&env, Status::Resolved))),
        resolved
    );
    let still: BTreeSet<_> = expected_idp().difference(&resolved).cloned().collect();
    assert_eq!(open_idp(&env), still);

    // E2 disabled again: one complete IdP pull is not enough to reopen it...
    enable(false);
    env.pull().await;
    assert_eq!(open_idp(&env), still);
    // ...the second is (grace 0), and it is the same finding, reopened.
    env.pull().await;
    let again: BTreeSet<_> = expected_idp()
        .into_iter()
        .filter(|f| !(f.0 == "assigned_not_provisioned" && f.4 == vec!["E1".to_string()]))
        .collect();
    assert_eq!(open_idp(&env), again);
    let reopened = count(
        &env,
        "SELECT COUNT(*) FROM finding_events e JOIN findings f ON f.id = e.finding_id
         WHERE f.kind = 'idp_disabled_scim_active' AND e.event = 'reopened'",
    );
    assert_eq!(reopened, 1);
}

/// E8 reaches the app only through N1 (nested): `nested_group_only`. A nested user who is also a
/// direct member of the assigned group is intended: not nested-only, and (without a record)
/// assigned but not provisioned.
#[tokio::test]
async fn a_nested_user_who_is_also_a_direct_member_is_intended() {
    let env = idp_env(0).await;
    let (dir, e8) = (d1(&env), id(&env, "E8"));
    let main = group_id(&env, "Atlassian Users");
    assert!(env.sim.update_entra(&dir, |t| {
        let g = t.group_mut(&main).unwrap();
        g.members
            .push(scimdrift::sim::SimEntraMember::user(e8.clone()));
    }));
    env.pull().await;
    env.pull().await;
    let mut expected = expected_idp();
    expected.remove(
        &set(&[("nested_group_only", "low", &[], &[], &["E8"])])
            .into_iter()
            .next()
            .unwrap(),
    );
    expected.extend(set(&[(
        "assigned_not_provisioned",
        "high",
        &[],
        &[],
        &["E8"],
    )]));
    assert_eq!(open_idp(&env), expected);
    let all = env.store().findings().unwrap();
    let e8_view = all
        .iter()
        .flat_map(|f| &f.idp_users)
        .find(|u| u.id == e8)
        .unwrap();
    assert!(e8_view.intended);
}

/// `scope = "all"`: assignment-based intent is not computed; only the job and the log are used.
#[tokio::test]
async fn scope_all_raises_only_the_job_and_log_kinds() {
    let mut env = idp_env(0).await;
    idp_setting(&mut env, "scope = \"all\"");
    env.pull().await;
    env.pull().await;
    assert_eq!(
        open_idp(&env),
        set(&[
            ("provisioning_error", "high", &[], &["A15"], &["E5"]),
            ("provisioning_error", "high", &["R16"], &["A16"], &["E6"]),
            ("provisioning_stalled", "high", &[], &[], &[]),
        ])
    );
}

/// Switching an assigned-scope directory to `scope = "all"`: the intent kinds are no longer
/// computed, so the open ones are resolved (not left open for ever, never re-evaluated); the job
/// and log kinds stay open.
#[tokio::test]
async fn switching_to_scope_all_resolves_the_intent_kinds() {
    let mut env = idp_env(0).await;
    env.pull().await;
    env.pull().await;
    assert_eq!(open_idp(&env), expected_idp());
    idp_setting(&mut env, "scope = \"all\"");
    let o = env.pull().await;
    assert!(o.pull.all_complete());
    let kept = set(&[
        ("provisioning_error", "high", &[], &["A15"], &["E5"]),
        ("provisioning_error", "high", &["R16"], &["A16"], &["E6"]),
        ("provisioning_stalled", "high", &[], &[], &[]),
    ]);
    assert_eq!(open_idp(&env), kept);
    let resolved = idp_only(labelled(&env, &with_status(&env, Status::Resolved)));
    let gone: BTreeSet<_> = expected_idp().difference(&kept).cloned().collect();
    assert_eq!(resolved, gone);
}

/// A directory whose `idp` section is removed keeps no IdP finding open that nothing would ever
/// evaluate again: they are resolved, as the Atlassian findings of a removed directory are.
#[tokio::test]
async fn removing_the_idp_section_resolves_its_findings() {
    let mut env = idp_env(0).await;
    env.pull().await;
    env.pull().await;
    assert_eq!(open_idp(&env), expected_idp());
    rewrite_config(&mut env, |text| {
        let start = text.find("\n[atlassian.directories.idp]\n").unwrap();
        let end = start + text[start..].find("login_base_url = ").unwrap();
        let end = end + text[end..].find('\n').unwrap();
        format!("{}{}", &text[..start], &text[end..])
    });
    assert!(
        env.settings
            .atlassian
            .directories
            .iter()
            .all(|d| d.idp.is_none())
    );
    let o = env.pull().await;
    assert!(o.pull.all_complete(), "{:?}", o.pull.sources);
    assert!(open_idp(&env).is_empty(), "{:#?}", open_idp(&env));
    assert_eq!(
        idp_only(labelled(&env, &with_status(&env, Status::Resolved))),
        expected_idp()
    );
}

/// Two unchanged IdP pulls add no IdP rows; enabling one user adds exactly one user version; one
/// member joining a group adds exactly one version of that group's member set.
#[tokio::test]
async fn the_history_grows_with_change_not_with_pulls() {
    let env = idp_env(0).await;
    let rows = |env: &Env| {
        [
            "idp_user_versions",
            "idp_side_versions",
            "idp_events",
            "idp_candidates",
            "idp_group_versions",
        ]
        .map(|t| count(env, &format!("SELECT COUNT(*) FROM {t}")))
    };
    env.pull().await;
    let first = rows(&env);
    assert!(first[0] > 30, "{first:?}");
    // One version per assigned group: Atlassian Users, N2 and the three group seeds.
    assert_eq!(first[4], 5, "{first:?}");
    env.pull().await;
    env.pull().await;
    assert_eq!(rows(&env), first);
    let (dir, e2) = (d1(&env), id(&env, "E2"));
    assert!(env.sim.update_entra(&dir, |t| {
        t.user_mut(&e2).unwrap().account_enabled = Some(true);
    }));
    let o = env.pull().await;
    assert!(o.pull.all_complete());
    let after = rows(&env);
    assert_eq!(after[0], first[0] + 1, "{after:?}");
    assert_eq!(after[1..3], first[1..3]);
    assert_eq!(after[4], first[4], "no group changed");
    assert_eq!(
        count(
            &env,
            "SELECT COUNT(*) FROM idp_user_versions WHERE valid_to IS NULL"
        ),
        first[0]
    );

    // E13 joins Atlassian Finance: one new version of that group, the old one closed.
    let (gf, e13, e11) = (id(&env, "GF"), id(&env, "E13"), id(&env, "E11"));
    assert!(env.sim.update_entra(&dir, |t| {
        t.group_mut(&gf)
            .unwrap()
            .members
            .push(scimdrift::sim::SimEntraMember::user(&e13));
    }));
    assert!(env.pull().await.pull.all_complete());
    let moved = rows(&env);
    assert_eq!(moved[4], first[4] + 1, "{moved:?}");
    let current = "SELECT COUNT(*) FROM idp_group_versions WHERE valid_to IS NULL";
    assert_eq!(count(&env, current), first[4]);
    let conn = rusqlite::Connection::open(env.db_path()).unwrap();
    let (raw, count): (String, i64) = conn
        .query_row(
            "SELECT raw, member_count FROM idp_group_versions WHERE group_id = ?1 AND valid_to IS NULL",
            [&gf],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&raw).unwrap();
    assert_eq!((count, v["member_count"].clone()), (2, 2.into()));
    assert_eq!(v["display_name"], "Atlassian Finance");
    // The members themselves: the users whose current version lists the group.
    let mut stmt = conn
        .prepare("SELECT user_id, raw FROM idp_user_versions WHERE valid_to IS NULL")
        .unwrap();
    let mut members: Vec<String> = stmt
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .filter(|(_, raw)| {
            let u: serde_json::Value = serde_json::from_str(raw).unwrap();
            u["groups"]
                .as_array()
                .unwrap()
                .iter()
                .any(|g| g == &serde_json::json!(gf))
        })
        .map(|(id, _)| id)
        .collect();
    members.sort();
    let mut want = vec![e11, e13];
    want.sort();
    assert_eq!(members, want);
}
