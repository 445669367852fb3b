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
