//! Detection end to end: the scenario world pulled from the simulator must give exactly the findings
//! of scenarios.md, with their lifecycle across pulls.

mod common;

use std::collections::BTreeSet;

use common::Env;
use scimdrift::findings::{FindingView, Status};
use scimdrift::sim::{Api, FaultKind, FaultRule, Faults};

/// A finding as (kind, sorted record labels, sorted account labels), labels from the sim world.
type Expected = (&'static str, Vec<&'static str>, Vec<&'static str>);

fn labelled(env: &Env, findings: &[FindingView]) -> BTreeSet<(String, Vec<String>, Vec<String>)> {
    let world = env.sim.world();
    let label = |id: &str| {
        world
            .labels
            .iter()
            .find(|(_, v)| v.as_str() == id)
            .map(|(k, _)| k.clone())
            .unwrap_or_else(|| format!("unlabelled:{id}"))
    };
    findings
        .iter()
        .map(|f| {
            let mut r: Vec<String> = f.scim_users.iter().map(|u| label(&u.scim_id)).collect();
            let mut a: Vec<String> = f.accounts.iter().map(|x| label(&x.account_id)).collect();
            r.sort();
            a.sort();
            (f.kind.to_string(), r, a)
        })
        .collect()
}

fn expected() -> BTreeSet<(String, Vec<String>, Vec<String>)> {
    let list: Vec<Expected> = vec![
        ("duplicate_email", vec!["R1", "R2"], vec!["A1"]),
        ("unlinked_scim_user", vec!["R2"], vec![]),
        ("email_conflict", vec!["R2"], vec!["A1"]),
        ("duplicate_email", vec!["R3", "R4"], vec!["A3", "A4"]),
        ("email_mismatch", vec!["R3"], vec!["A3"]),
        ("email_conflict", vec!["R3"], vec!["A4"]),
        ("unmanaged_account", vec![], vec!["A5"]),
        ("stale_inactive_link", vec!["R7"], vec!["A7"]),
        ("deactivated_idp_active", vec!["R8"], vec!["A8"]),
        ("idp_inactive_account_active", vec!["R9"], vec!["A9"]),
        ("no_synced_groups", vec!["R10"], vec!["A10"]),
        ("dangling_link", vec!["R11"], vec![]),
    ];
    list.into_iter()
        .map(|(k, r, a)| {
            (
                k.to_string(),
                r.into_iter().map(String::from).collect(),
                a.into_iter().map(String::from).collect(),
            )
        })
        .collect()
}

fn open(findings: &[FindingView]) -> Vec<FindingView> {
    findings
        .iter()
        .filter(|f| f.status == Status::Open)
        .cloned()
        .collect()
}

#[tokio::test]
async fn scenario_world_gives_exactly_the_catalogue_findings() {
    let env = Env::scenarios(200).await;
    let o = env.pull().await;
    assert!(o.recorded.complete);
    let all = env.store().findings().unwrap();
    assert_eq!(labelled(&env, &all), expected());
    assert!(
        all.iter()
            .all(|f| f.status == Status::Open && f.seen_count == 1)
    );
    let counts = o.findings.unwrap();
    assert_eq!(counts.opened.values().sum::<u64>(), 12);
    // The critical one is first, with its fix.
    assert_eq!(all[0].kind.to_string(), "idp_inactive_account_active");
    assert!(all[0].suggested_fix.contains("Suspend"));
    let r8 = all
        .iter()
        .find(|f| f.kind.to_string() == "deactivated_idp_active")
        .unwrap();
    assert_eq!(r8.scim_users[0].directory, "entra");
    assert_eq!(r8.accounts[0].account_status, "inactive");
}

#[tokio::test]
async fn healthy_population_has_no_findings() {
    let env = Env::start(
        scimdrift::sim::World::healthy(2000, 9, chrono::Utc::now()),
        scimdrift::sim::SimOptions::default(),
    )
    .await;
    let o = env.pull().await;
    assert!(o.recorded.complete);
    let all = env.store().findings().unwrap();
    assert!(all.is_empty(), "{:#?}", &all[..all.len().min(3)]);
}

#[tokio::test]
async fn lifecycle_seen_count_resolve_and_reopen() {
    let env = Env::scenarios(10).await;
    env.pull().await;
    env.pull().await;
    let world = env.sim.world();
    let r10 = world.labels["R10"].clone();
    let g1 = world.labels["G1"].clone();
    let find = |env: &Env| {
        env.store()
            .findings()
            .unwrap()
            .into_iter()
            .find(|f| f.kind.to_string() == "no_synced_groups")
            .unwrap()
    };
    assert_eq!(find(&env).seen_count, 2);

    // An incomplete pull changes nothing.
    env.sim.set_faults(Faults::rules([
        FaultRule::new(FaultKind::Status(503)).on(Api::Accounts)
    ]));
    let bad = env.pull().await;
    assert!(!bad.recorded.complete && bad.findings.is_none());
    assert_eq!(find(&env).seen_count, 2);
    env.sim.set_faults(Faults::default());

    // The IdP adds R10 to a group: the finding resolves.
    let add = |w: &mut scimdrift::sim::World, add: bool| {
        for d in &mut w.directories {
            for g in d.groups.iter_mut().filter(|g| g.id == g1) {
                if add {
                    g.members.push(scimdrift::sim::SimMember {
                        value: r10.clone(),
                        display: None,
                    });
                } else {
                    g.members.retain(|m| m.value != r10);
                }
            }
        }
    };
    env.sim.update_world(|w| add(w, true));
    let o = env.pull().await;
    assert_eq!(
        o.findings.as_ref().unwrap().resolved.values().sum::<u64>(),
        1
    );
    let f = find(&env);
    assert_eq!(f.status, Status::Resolved);
    assert!(f.resolved_at.is_some());
    let first_seen = f.first_seen.clone();

    // Removed again: the same finding reopens, keeping its history.
    env.sim.update_world(|w| add(w, false));
    env.pull().await;
    let f = find(&env);
    assert_eq!(f.status, Status::Open);
    assert_eq!(f.first_seen, first_seen);
    assert_eq!(f.seen_count, 1);
    assert!(f.resolved_at.is_none());
    let events: Vec<String> = env
        .store()
        .finding_events(&f.id)
        .unwrap()
        .into_iter()
        .map(|e| e.2)
        .collect();
    assert_eq!(events, ["opened", "resolved", "reopened"]);
    // The other findings were seen in every complete snapshot.
    let others = open(&env.store().findings().unwrap());
    assert!(
        others
            .iter()
            .filter(|f| f.kind.to_string() != "no_synced_groups")
            .all(|f| f.seen_count == 4)
    );
}

#[tokio::test]
async fn ignore_rules_suppress_without_dropping() {
    let mut env = Env::scenarios(10).await;
    env.extend_config(
        "\n[[ignore]]\nkind = \"unmanaged_account\"\nemail_domain = \"example.org\"\nreason = \"merger accounts, migrating\"\nexpires = \"2099-01-01\"\n\n[[ignore]]\nemail = \"gus@example.com\"\nreason = \"expired rule\"\nexpires = \"2020-01-01\"\n",
    );
    let o = env.pull().await;
    let counts = o.findings.unwrap();
    assert_eq!(counts.suppressed.values().sum::<u64>(), 1);
    let all = env.store().findings().unwrap();
    assert_eq!(all.len(), 12, "suppressed findings are kept");
    let a5 = all
        .iter()
        .find(|f| f.kind.to_string() == "unmanaged_account")
        .unwrap();
    assert_eq!(a5.status, Status::Suppressed);
    let s = a5.suppressed_by.as_ref().unwrap();
    assert_eq!(s.reason, "merger accounts, migrating");
    assert_eq!(s.expires.as_deref(), Some("2099-01-01"));
    let gus = all
        .iter()
        .find(|f| f.kind.to_string() == "no_synced_groups")
        .unwrap();
    assert_eq!(
        gus.status,
        Status::Open,
        "an expired rule no longer matches"
    );
}

#[tokio::test]
async fn stale_link_uses_history_when_scimdrift_saw_it_happen() {
    // R9 went inactive "yesterday" per lastModified; backdate lastModified to 100 days but let
    // scimdrift see it active first: history says it went inactive now, so it is not stale.
    let env = Env::scenarios(5).await;
    let r9 = env.sim.world().labels["R9"].clone();
    let set = |active: bool, days: i64| {
        env.sim.update_world(|w| {
            for d in &mut w.directories {
                if let Some(u) = d.user_mut(&r9) {
                    u.active = Some(active);
                    u.last_modified = chrono::Utc::now() - chrono::Duration::days(days);
                }
            }
        })
    };
    set(true, 100);
    env.pull().await;
    set(false, 100);
    env.pull().await;
    let stale: Vec<_> = env
        .store()
        .findings()
        .unwrap()
        .into_iter()
        .filter(|f| f.kind.to_string() == "stale_inactive_link" && f.status == Status::Open)
        .collect();
    assert!(
        stale.iter().all(|f| f.scim_users[0].scim_id != r9),
        "history beats lastModified"
    );
}

#[tokio::test]
async fn findings_command_json_contract_filters_and_exit_codes() {
    let env = Env::scenarios(10).await;
    // Before any pull: no snapshot, no findings, exit 0.
    let out = env.cli(&["findings", "--format", "json"]).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["snapshot_id"].is_null());
    assert_eq!(v["findings"].as_array().unwrap().len(), 0);

    env.pull().await;
    let world = env.sim.world();
    // The critical idp_inactive_account_active is open: default --fail-on critical exits 1.
    let out = env.cli(&["findings", "--format", "json"]).await;
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["snapshot_id"], 1);
    assert!(v["generated_at"].as_str().unwrap().ends_with('Z'));
    let list = v["findings"].as_array().unwrap();
    assert_eq!(list.len(), 12);
    let f = list
        .iter()
        .find(|f| f["kind"] == "idp_inactive_account_active")
        .unwrap();
    for key in [
        "id",
        "kind",
        "severity",
        "status",
        "first_seen",
        "last_seen",
        "resolved_at",
        "seen_count",
        "scim_users",
        "accounts",
        "summary",
        "suggested_fix",
    ] {
        assert!(f.get(key).is_some(), "missing {key}");
    }
    assert_eq!(f["severity"], "critical");
    assert_eq!(f["status"], "open");
    assert_eq!(f["seen_count"], 1);
    assert!(f["resolved_at"].is_null());
    let user = &f["scim_users"][0];
    assert_eq!(user["scim_id"], world.labels["R9"].as_str());
    assert_eq!(user["directory"], "entra");
    assert_eq!(user["directory_id"], world.labels["D1"].as_str());
    assert_eq!(user["email"], "fay@example.com");
    assert_eq!(user["active"], false);
    assert_eq!(user["account_id"], world.labels["A9"].as_str());
    let acc = &f["accounts"][0];
    assert_eq!(acc["account_id"], world.labels["A9"].as_str());
    assert_eq!(acc["account_status"], "active");
    assert_eq!(acc["membership_status"], "active");

    // Filters: one kind; a severity floor; --fail-on relative to what is selected.
    let out = env
        .cli(&[
            "findings",
            "--format",
            "json",
            "--kind",
            "duplicate_email",
            "--fail-on",
            "high",
        ])
        .await;
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["findings"].as_array().unwrap().len(), 2);
    let out = env
        .cli(&[
            "findings",
            "--format",
            "json",
            "--kind",
            "no_synced_groups",
            "--fail-on",
            "medium",
        ])
        .await;
    assert_eq!(out.status.code(), Some(0));
    let out = env
        .cli(&["findings", "--format", "json", "--min-severity", "high"])
        .await;
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["findings"].as_array().unwrap().len(), 6);
    let out = env
        .cli(&["findings", "--status", "resolved", "--format", "json"])
        .await;
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["findings"].as_array().unwrap().len(), 0);
    let out = env.cli(&["findings", "--kind", "nonsense"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("duplicate_email"),
        "lists the valid kinds"
    );

    // The table fits a 100-column terminal.
    let out = env.cli(&["findings"]).await;
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(table.contains("idp_inactive_account_active"));
    assert!(table.lines().all(|l| l.chars().count() <= 100), "{table}");

    // CSV parses back with one row per finding.
    let out = env
        .cli(&["findings", "--format", "csv", "--status", "all"])
        .await;
    let mut reader = csv::Reader::from_reader(out.stdout.as_slice());
    assert_eq!(reader.records().count(), 12);
}

#[tokio::test]
async fn ignore_rule_added_later_applies_at_read_time() {
    let mut env = Env::scenarios(5).await;
    env.pull().await;
    env.extend_config(
        "\n[[ignore]]\nkind = \"idp_inactive_account_active\"\nemail = \"FAY@example.com\"\nreason = \"leaver on garden leave\"\n",
    );
    let out = env
        .cli(&["findings", "--format", "json", "--status", "suppressed"])
        .await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "a suppressed critical does not fail"
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let list = v["findings"].as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["suppressed_by"]["reason"], "leaver on garden leave");
}

#[tokio::test]
async fn kinds_can_be_turned_off_and_stale_threshold_set() {
    let mut env = Env::scenarios(5).await;
    env.extend_config("\n[detect]\nstale_after_days = 5\ndisabled_kinds = [\"no_synced_groups\", \"unmanaged_account\"]\n");
    env.pull().await;
    let all = env.store().findings().unwrap();
    let kinds: Vec<String> = all.iter().map(|f| f.kind.to_string()).collect();
    assert!(!kinds.contains(&"no_synced_groups".to_string()));
    assert!(!kinds.contains(&"unmanaged_account".to_string()));
    // R1 (inactive 10 days) is now stale too, R9 (1 day) still not.
    let stale: Vec<&str> = all
        .iter()
        .filter(|f| f.kind.to_string() == "stale_inactive_link")
        .map(|f| f.scim_users[0].email.as_deref().unwrap())
        .collect();
    assert_eq!(stale.len(), 2, "{stale:?}");
    assert!(stale.contains(&"ana@example.com") && stale.contains(&"dee@example.com"));
}

#[test]
fn unknown_kind_in_config_names_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(
        &path,
        "[atlassian]\norg_id = \"o\"\n[[atlassian.directories]]\nid = \"d\"\nname = \"entra\"\n[detect]\ndisabled_kinds = [\"typo_kind\"]\n",
    )
    .unwrap();
    let err = scimdrift::config::Settings::load(Some(&path)).unwrap_err();
    assert_eq!(err.key, "detect.disabled_kinds[0]");
    let text = "[atlassian]\norg_id = \"o\"\n[[atlassian.directories]]\nid = \"d\"\nname = \"entra\"\n[[ignore]]\nemail = \"x@example.com\"\n";
    std::fs::write(&path, text).unwrap();
    let err = scimdrift::config::Settings::load(Some(&path)).unwrap_err();
    assert_eq!(err.key, "ignore[0].reason");
}
