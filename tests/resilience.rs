//! What the APIs may send (scenarios.md, "Who is a person; what the APIs may send"): an odd field
//! never blinds the org, a source that suddenly shrinks is held, never read as truth. Black-box
//! against the simulator over loopback.

mod common;

use chrono::Utc;
use common::Env;
use scimdrift::findings::Status;
use scimdrift::metrics::Metrics;
use scimdrift::sim::{Api, BadNext, FaultKind, FaultRule, Faults, SimAccount, World};

fn faults(rules: impl IntoIterator<Item = FaultRule>) -> Faults {
    Faults::rules(rules)
}

/// Open findings as (kind, SCIM ids, account ids), sorted.
fn open_findings(env: &Env) -> Vec<(String, Vec<String>, Vec<String>)> {
    let mut out: Vec<_> = env
        .store()
        .findings()
        .unwrap()
        .into_iter()
        .filter(|f| f.status == Status::Open)
        .map(|f| {
            (
                f.kind.as_str().to_string(),
                f.scim_users.iter().map(|u| u.scim_id.clone()).collect(),
                f.accounts.iter().map(|a| a.account_id.clone()).collect(),
            )
        })
        .collect();
    out.sort();
    out
}

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[tokio::test]
async fn entra_string_booleans_are_read_as_booleans() {
    let env = Env::scenarios(10).await;
    let baseline = env.pull().await;
    assert!(baseline.recorded.complete);
    let expected = open_findings(&env);
    assert!(
        expected
            .iter()
            .any(|f| f.0 == "idp_inactive_account_active")
    );

    env.sim.set_faults(faults([
        FaultRule::new(FaultKind::StringBooleans).on(Api::Scim)
    ]));
    let o = env.pull().await;
    assert!(o.recorded.complete, "{:?}", o.pull.sources);
    assert!(o.pull.sources.iter().all(|s| s.data_quality.is_empty()));
    assert_eq!(
        open_findings(&env),
        expected,
        "the same findings as with JSON booleans"
    );
    let r9 = &env.sim.world().labels["R9"];
    let state = env.store().state_at(o.recorded.snapshot_id).unwrap();
    let rec = state.records.iter().find(|r| &r.scim_id == r9).unwrap();
    assert_eq!(rec.active, Some(false));
}

#[tokio::test]
async fn one_unreadable_field_leaves_it_unknown_and_keeps_the_org_visible() {
    let env = Env::scenarios(10).await;
    let world = env.sim.world();
    let (r8, r9) = (world.labels["R8"].clone(), world.labels["R9"].clone());
    let dir_key = world.directories[0].token.clone();
    env.sim.set_faults(faults([
        // An unreadable `active` on the leaver, and a key where a boolean belongs on R8.
        FaultRule::new(FaultKind::SetField {
            id: Some(r9.clone()),
            field: "active".into(),
            value: "yes".into(),
        })
        .on(Api::Scim),
        FaultRule::new(FaultKind::SetField {
            id: Some(r8.clone()),
            field: "active".into(),
            value: format!("Bearer {dir_key}").into(),
        })
        .on(Api::Scim),
    ]));
    let metrics = Metrics::new();
    let o = scimdrift::cycle::run(&env.settings, &metrics)
        .await
        .unwrap();
    assert!(o.recorded.complete, "{:?}", o.pull.sources);
    let d1 = format!("scim:{}", world.directories[0].name);
    let dq = &o
        .pull
        .sources
        .iter()
        .find(|s| s.source == d1)
        .unwrap()
        .data_quality;
    assert_eq!(dq.total, 2);
    let mut ids: Vec<&str> = dq.notes.iter().map(|n| n.id.as_str()).collect();
    ids.sort();
    let mut want = vec![r8.as_str(), r9.as_str()];
    want.sort();
    assert_eq!(ids, want);
    assert!(dq.notes.iter().all(|n| n.field == "active"));
    // The leaver's state is unknown, so the leaver finding is not raised from a guess; everyone
    // else's findings are computed as usual.
    let found = open_findings(&env);
    assert!(!found.iter().any(|f| f.0 == "idp_inactive_account_active"));
    assert!(found.iter().any(|f| f.0 == "dangling_link"));
    assert!(found.iter().any(|f| f.0 == "unmanaged_account"));
    let state = env.store().state_at(o.recorded.snapshot_id).unwrap();
    let rec = state.records.iter().find(|r| r.scim_id == r9).unwrap();
    assert_eq!(rec.active, None);
    // The metric, by source and field.
    let text = metrics.render();
    let line = format!("scimdrift_unreadable_fields{{field=\"active\",source=\"{d1}\"}} 2");
    assert!(text.contains(&line), "{line} not in\n{text}");

    // `once`: text and JSON name source, id and field; the key sent as a value is never shown.
    let out = env.cli(&["once", "--format", "json"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let notes = json["data_quality"].as_array().unwrap();
    assert_eq!(notes.len(), 2);
    assert_eq!(json["data_quality_total"], 2);
    for n in notes {
        assert_eq!(n["source"], d1.as_str());
        assert_eq!(n["field"], "active");
        assert!(
            n["problem"]
                .as_str()
                .unwrap()
                .contains("expected a boolean")
        );
    }
    let text = env.cli(&["once"]).await;
    let shown = stdout(&text);
    assert!(shown.contains("data quality: 2 field(s)"), "{shown}");
    assert!(shown.contains(&r9), "{shown}");
    let report = env.cli(&["report", "--format", "markdown"]).await;
    let report_text = stdout(&report);
    assert!(report_text.contains("## Data quality"), "{report_text}");
    for (what, text) in [
        ("once json", stdout(&out)),
        ("once", shown),
        ("report", report_text),
        ("stderr", String::from_utf8_lossy(&text.stderr).into_owned()),
    ] {
        assert!(!text.contains(&dir_key), "the key leaked into {what}");
    }
}

#[tokio::test]
async fn inactive_records_without_meta_count_from_the_first_snapshot_that_saw_them() {
    let env = Env::scenarios(5).await;
    env.sim.set_faults(faults([
        FaultRule::new(FaultKind::WithoutMeta).on(Api::Scim)
    ]));
    let first = env.pull().await;
    assert!(first.recorded.complete);
    // R7 has been inactive for 45 days, but nothing says so: not stale yet.
    assert!(
        !open_findings(&env)
            .iter()
            .any(|f| f.0 == "stale_inactive_link")
    );
    // Pretend the first snapshot was taken 40 days ago (history is what tells the time).
    let ago = (Utc::now() - chrono::Duration::days(40)).to_rfc3339();
    rusqlite::Connection::open(env.db_path())
        .unwrap()
        .execute(
            "UPDATE snapshots SET started_at = ?1 WHERE id = ?2",
            rusqlite::params![ago, first.recorded.snapshot_id],
        )
        .unwrap();
    let second = env.pull().await;
    assert!(second.recorded.complete);
    // Every inactive, linked record (R1, R7, R9) has been inactive for 40 days as far as anyone
    // can tell now.
    let labels = &env.sim.world().labels;
    let mut want: Vec<String> = ["R1", "R7", "R9"]
        .iter()
        .map(|l| labels[*l].clone())
        .collect();
    want.sort();
    let mut stale: Vec<String> = open_findings(&env)
        .into_iter()
        .filter(|f| f.0 == "stale_inactive_link")
        .flat_map(|f| f.1)
        .collect();
    stale.sort();
    assert_eq!(stale, want);
}

#[tokio::test]
async fn app_and_customer_accounts_are_counted_never_reported() {
    let env = Env::scenarios(5).await;
    env.pull().await;
    let before = open_findings(&env);
    let gus_email = "gus@example.com";
    env.sim.update_world(|w| {
        let mut bot = SimAccount::managed("bot-1", "jira-bot@example.com", "Jira Bot", Utc::now());
        bot.account_type = "app".into();
        let mut customer = SimAccount::managed("cust-1", gus_email, "Gus (portal)", Utc::now());
        customer.account_type = "customer".into();
        w.accounts.push(bot);
        w.accounts.push(customer);
    });
    let metrics = Metrics::new();
    let o = scimdrift::cycle::run(&env.settings, &metrics)
        .await
        .unwrap();
    assert!(o.recorded.complete);
    assert_eq!(
        open_findings(&env),
        before,
        "no finding about an app or customer account"
    );
    let accounts = o
        .pull
        .sources
        .iter()
        .find(|s| s.source == "accounts")
        .unwrap();
    let types = accounts.account_types.as_ref().unwrap();
    assert_eq!(types.get("app"), Some(&1));
    assert_eq!(types.get("customer"), Some(&1));
    let text = metrics.render();
    assert!(
        text.contains("scimdrift_accounts{account_type=\"app\"} 1"),
        "{text}"
    );
    let out = env.cli(&["once"]).await;
    assert!(
        stdout(&out).contains("app 1, customer 1: counted, not people"),
        "{}",
        stdout(&out)
    );
}

#[tokio::test]
async fn an_empty_accounts_page_is_held_and_changes_nothing() {
    let env = Env::scenarios(20).await;
    let first = env.pull().await;
    assert!(first.recorded.complete);
    let findings = open_findings(&env);
    let state = env.store().state_at(first.recorded.snapshot_id).unwrap();
    let n = env.sim.world().accounts.len();

    env.sim.set_faults(faults([
        FaultRule::new(FaultKind::EmptyPage).on(Api::Accounts)
    ]));
    let metrics = Metrics::new();
    let o = scimdrift::cycle::run(&env.settings, &metrics)
        .await
        .unwrap();
    assert!(o.pull.complete(), "complete by the paging rules");
    assert!(o.recorded.held && !o.recorded.complete);
    assert_eq!(o.recorded.versions_closed, 0);
    assert!(o.findings.is_none());
    assert_eq!(
        o.shrink.shrinks()[0].to_string(),
        format!("accounts records shrank from {n} to 0")
    );
    assert!(
        metrics
            .render()
            .contains("scimdrift_snapshot_held{source=\"accounts\"} 1")
    );
    let store = env.store();
    assert_eq!(
        store.latest_complete().unwrap().unwrap().snapshot_id,
        first.recorded.snapshot_id
    );
    assert_eq!(store.state_at(first.recorded.snapshot_id).unwrap(), state);
    assert_eq!(open_findings(&env), findings, "no finding changed");

    // `once` says so and exits 1, every time: a drop to zero is never confirmed automatically.
    for _ in 0..3 {
        let out = env.cli(&["once"]).await;
        assert_eq!(out.status.code(), Some(1));
        let text = stdout(&out);
        assert!(text.contains("HELD"), "{text}");
        assert!(
            text.contains(&format!("accounts records shrank from {n} to 0")),
            "{text}"
        );
    }
    let json = env.cli(&["once", "--format", "json"]).await;
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["held"], true);
    assert_eq!(v["shrink"]["verdict"], "held");
    assert_eq!(v["shrink"]["sources"][0]["to"], 0);
    let snaps = stdout(&env.cli(&["snapshots"]).await);
    assert!(
        snaps.contains("HELD") && snaps.contains("shrink held"),
        "{snaps}"
    );
    assert_eq!(open_findings(&env), findings);
}

#[tokio::test]
async fn a_scim_directory_answering_zero_is_held() {
    let env = Env::scenarios(20).await;
    env.pull().await;
    let findings = open_findings(&env);
    let d1 = env.sim.world().directories[0].id.clone();
    env.sim
        .set_faults(faults([FaultRule::new(FaultKind::EmptyPage)
            .on(Api::Scim)
            .in_directory(d1)
            .path_contains("/Users")]));
    let o = env.pull().await;
    assert!(o.recorded.held, "{:?}", o.pull.sources);
    assert_eq!(open_findings(&env), findings);
}

#[tokio::test]
async fn a_real_shrink_is_confirmed_by_consecutive_pulls_or_accepted() {
    let mut env = Env::start(World::healthy(200, 5, Utc::now()), Default::default()).await;
    env.extend_config("\n[pull]\nconfirm_shrink_pulls = 3\n");
    assert!(env.pull().await.recorded.complete);
    // 50 people leave (their records are deleted from SCIM).
    env.sim.update_world(|w| {
        let d = &mut w.directories[0];
        let ids: Vec<String> = d.users.iter().take(50).map(|u| u.id.clone()).collect();
        for id in ids {
            d.remove_user(&id, Utc::now());
        }
    });
    assert!(env.pull().await.recorded.held);
    assert!(env.pull().await.recorded.held);
    let third = env.pull().await;
    assert!(
        third.recorded.complete,
        "confirmed by the third pull showing it"
    );
    assert_eq!(third.shrink.label(), Some("confirmed"));
    assert!(third.recorded.versions_closed >= 50);

    // Another drop, accepted by an operator at once.
    env.sim.update_world(|w| {
        let d = &mut w.directories[0];
        let ids: Vec<String> = d.users.iter().take(50).map(|u| u.id.clone()).collect();
        for id in ids {
            d.remove_user(&id, Utc::now());
        }
    });
    let held = env.cli(&["once"]).await;
    assert_eq!(held.status.code(), Some(1));
    let accepted = env.cli(&["once", "--accept-shrink"]).await;
    assert_eq!(accepted.status.code(), Some(0), "{}", stdout(&accepted));
    assert!(
        stdout(&accepted).contains("accepted"),
        "{}",
        stdout(&accepted)
    );
    let snaps = env.store().snapshots(1).unwrap();
    assert!(snaps[0].complete);
    assert_eq!(snaps[0].shrink.as_ref().unwrap().verdict, "accepted");
}

#[tokio::test]
async fn only_links_next_null_ends_a_cursor_chain() {
    for how in [BadNext::Missing, BadNext::Empty, BadNext::NoLinks] {
        let env = Env::scenarios(5).await;
        env.sim.set_faults(faults([
            FaultRule::new(FaultKind::BadLinksNext(how)).on(Api::Accounts)
        ]));
        let o = env.pull().await;
        let accounts = o
            .pull
            .sources
            .iter()
            .find(|s| s.source == "accounts")
            .unwrap();
        assert!(!accounts.complete, "{how:?}");
        let e = accounts.error.as_deref().unwrap();
        assert!(e.contains("links"), "{how:?}: {e}");
        assert!(!o.recorded.complete);
    }
}

/// A linked, active, healthy person whose link field arrives unreadable (a number) must not be
/// reported as "not linked" nor as "cannot own its email" (the account holding the email is its own).
#[tokio::test]
async fn an_unreadable_link_is_unknown_not_unlinked() {
    let env = Env::start(World::healthy(20, 5, Utc::now()), Default::default()).await;
    let first = env.pull().await;
    assert!(first.recorded.complete);
    let before = open_findings(&env);
    let u = env.sim.world().directories[0].users[0].clone();
    assert!(u.atlassian_account_id.is_some());
    env.sim
        .set_faults(Faults::rules([FaultRule::new(FaultKind::SetField {
            id: Some(u.id.clone()),
            field: "urn:scim:schemas:extension:atlassian-external:1.0".into(),
            value: serde_json::json!({"atlassianAccountId": 602}),
        })
        .on(Api::Scim)]));
    let o = env.pull().await;
    assert!(o.recorded.complete, "{:?}", o.pull.sources);
    let after = open_findings(&env);
    let new: Vec<_> = after.iter().filter(|f| !before.contains(f)).collect();
    assert!(
        new.is_empty(),
        "an unreadable link raised findings about a person who did not change: {new:?}"
    );
}

/// A leaver (record inactive, account with access) whose account's `accountStatus` arrives
/// unreadable (a boolean): the leaver's state is unknown; the open leaver finding must not be
/// resolved as if the account had lost access.
#[tokio::test]
async fn an_unreadable_account_status_keeps_the_leaver_finding() {
    let env = Env::scenarios(10).await;
    let first = env.pull().await;
    assert!(first.recorded.complete);
    let before = open_findings(&env);
    let leaver: Vec<_> = before
        .iter()
        .filter(|f| f.0 == "idp_inactive_account_active")
        .cloned()
        .collect();
    assert!(!leaver.is_empty());
    let account = leaver[0].2[0].clone();
    env.sim
        .set_faults(Faults::rules([FaultRule::new(FaultKind::SetField {
            id: Some(account.clone()),
            field: "accountStatus".into(),
            value: serde_json::json!(true),
        })
        .on(Api::Accounts)]));
    let o = env.pull().await;
    assert!(o.recorded.complete, "{:?}", o.pull.sources);
    let after = open_findings(&env);
    let new: Vec<_> = after.iter().filter(|f| !before.contains(f)).collect();
    let gone: Vec<_> = before.iter().filter(|f| !after.contains(f)).collect();
    assert!(
        gone.is_empty() && new.is_empty(),
        "an unreadable accountStatus changed findings: resolved {gone:?}, opened {new:?}"
    );
}

/// `accountType` is an enum the API may extend: an unexpected value is stored as-is, and becomes a
/// Prometheus label value and CLI text verbatim (unbounded cardinality; a key a proxy echoed into the
/// field is shown).
#[tokio::test]
async fn an_account_type_value_never_reaches_metrics_or_output() {
    let env = Env::scenarios(5).await;
    let world = env.sim.world();
    let key = world.org_api_key.clone();
    let victim = world.accounts[0].account_id.clone();
    env.sim
        .set_faults(Faults::rules([FaultRule::new(FaultKind::SetField {
            id: Some(victim),
            field: "accountType".into(),
            value: serde_json::json!(format!("Bearer {key}")),
        })
        .on(Api::Accounts)]));
    let metrics = scimdrift::metrics::Metrics::new();
    let o = scimdrift::cycle::run(&env.settings, &metrics)
        .await
        .unwrap();
    assert!(o.recorded.complete);
    let text = metrics.render();
    let out = env.cli(&["once"]).await;
    let shown = String::from_utf8_lossy(&out.stdout).into_owned();
    let in_metrics = text.contains(&key);
    let in_once = shown.contains(&key);
    assert!(
        !in_metrics && !in_once,
        "the org key sent as accountType leaked: metrics {in_metrics}, once {in_once}"
    );
}

/// An org with many JSM portal customers: every person account vanishes from the accounts API at
/// once (all of them), yet the guard counts customers too, so the pull is current.
#[tokio::test]
async fn every_person_account_vanishing_is_held_whatever_the_customers() {
    let env = Env::scenarios(40).await;
    env.sim.update_world(|w| {
        for i in 0..2000 {
            let mut c = SimAccount::managed(
                format!("cust-{i}"),
                &format!("cust{i}@customers.example"),
                "Customer",
                Utc::now(),
            );
            c.account_type = "customer".into();
            w.accounts.push(c);
        }
    });
    assert!(env.pull().await.recorded.complete);
    let before = open_findings(&env);
    let people = env
        .sim
        .world()
        .accounts
        .iter()
        .filter(|a| a.account_type == "atlassian")
        .count();
    env.sim
        .update_world(|w| w.accounts.retain(|a| a.account_type != "atlassian"));
    let o = env.pull().await;
    let after = open_findings(&env);
    assert!(
        o.recorded.held,
        "all {people} person accounts vanished and the pull became current (verdict {:?}); findings before {:?} after {:?}",
        o.shrink,
        before.len(),
        after.len()
    );
}

/// Unknown is never evidence, the pull after too: a record inactive for 40 days whose `active` was
/// unreadable for one pull is still inactive since 40 days when it reads `false` again — the
/// unknown version neither ends nor restarts the streak, so `stale_inactive_link` stays open.
#[tokio::test]
async fn an_unknown_active_in_between_neither_ends_nor_restarts_the_inactive_streak() {
    let env = Env::scenarios(5).await;
    let r7 = env.sim.world().labels["R7"].clone();
    let without_meta = || FaultRule::new(FaultKind::WithoutMeta).on(Api::Scim);
    env.sim.set_faults(faults([without_meta()]));
    let first = env.pull().await;
    let ago = (Utc::now() - chrono::Duration::days(40)).to_rfc3339();
    rusqlite::Connection::open(env.db_path())
        .unwrap()
        .execute(
            "UPDATE snapshots SET started_at = ?1 WHERE id = ?2",
            rusqlite::params![ago, first.recorded.snapshot_id],
        )
        .unwrap();
    env.pull().await;
    let stale_of_r7 = |env: &Env| {
        open_findings(env)
            .into_iter()
            .any(|f| f.0 == "stale_inactive_link" && f.1.contains(&r7))
    };
    assert!(stale_of_r7(&env), "inactive for 40 days: stale");
    env.sim.set_faults(faults([
        without_meta(),
        FaultRule::new(FaultKind::SetField {
            id: Some(r7.clone()),
            field: "active".into(),
            value: serde_json::Value::Null,
        })
        .on(Api::Scim),
    ]));
    env.pull().await;
    assert!(stale_of_r7(&env), "kept while unknown");
    env.sim.set_faults(faults([without_meta()]));
    env.pull().await;
    assert!(
        stale_of_r7(&env),
        "resolved once `active` read false again: the unknown version restarted the streak"
    );
}
