//! The IdP as a third source, end to end against the simulator's Microsoft Graph: the seeded world
//! gives exactly the IdP kinds of scenarios.md, after the grace rule.

mod common;

use std::collections::BTreeSet;

use chrono::Utc;
use common::Env;
use scimdrift::findings::{FindingView, Status};
use scimdrift::sim::{SimOptions, World};

/// (kind, severity, records, accounts, IdP users), each list of sim labels, sorted.
type Labelled = (String, String, Vec<String>, Vec<String>, Vec<String>);

fn labelled(env: &Env, findings: &[FindingView]) -> BTreeSet<Labelled> {
    let world = env.sim.world();
    let label = |id: &str| {
        world
            .labels
            .iter()
            .find(|(_, v)| v.as_str() == id)
            .map(|(k, _)| k.clone())
            .unwrap_or_else(|| format!("unlabelled:{id}"))
    };
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    findings
        .iter()
        .map(|f| {
            (
                f.kind.to_string(),
                f.severity.to_string(),
                sorted(f.scim_users.iter().map(|u| label(&u.scim_id)).collect()),
                sorted(f.accounts.iter().map(|a| label(&a.account_id)).collect()),
                sorted(f.idp_users.iter().map(|u| label(&u.id)).collect()),
            )
        })
        .collect()
}

/// (kind, severity, records, accounts, IdP users) as written in a test.
type Row<'a> = (
    &'a str,
    &'a str,
    &'a [&'a str],
    &'a [&'a str],
    &'a [&'a str],
);

fn set(list: &[Row<'_>]) -> BTreeSet<Labelled> {
    let owned = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    list.iter()
        .map(|(k, s, r, a, i)| (k.to_string(), s.to_string(), owned(r), owned(a), owned(i)))
        .collect()
}

/// The IdP findings of `World::idp_scenarios` (scenarios.md "IdP findings", one seed per kind).
fn expected_idp() -> BTreeSet<Labelled> {
    set(&[
        ("assigned_not_provisioned", "high", &[], &[], &["E1"]),
        ("assigned_not_provisioned", "high", &[], &["A15"], &["E5"]),
        (
            "idp_disabled_scim_active",
            "critical",
            &["R12"],
            &["A12"],
            &["E2"],
        ),
        (
            "idp_disabled_scim_active",
            "critical",
            &["R13"],
            &["A13"],
            &[],
        ),
        (
            "idp_disabled_scim_active",
            "high",
            &["R14"],
            &["A14"],
            &["E4"],
        ),
        ("provisioning_error", "high", &[], &["A15"], &["E5"]),
        ("provisioning_error", "high", &["R16"], &["A16"], &["E6"]),
        ("idp_email_mismatch", "medium", &["R17"], &["A17"], &["E7"]),
        ("nested_group_only", "low", &[], &[], &["E8"]),
        ("orphan_scim_record", "medium", &["R19"], &["A19"], &[]),
        ("provisioning_stalled", "high", &[], &[], &[]),
    ])
}

fn idp_only(all: BTreeSet<Labelled>) -> BTreeSet<Labelled> {
    let idp_kinds = [
        "assigned_not_provisioned",
        "idp_disabled_scim_active",
        "provisioning_error",
        "provisioning_stalled",
        "idp_email_mismatch",
        "nested_group_only",
        "orphan_scim_record",
    ];
    all.into_iter()
        .filter(|f| idp_kinds.contains(&f.0.as_str()))
        .collect()
}

async fn idp_env(grace_minutes: i64) -> Env {
    let mut env = Env::start_with_idp(
        World::idp_scenarios_with_healthy(30, 5, Utc::now()),
        SimOptions::default(),
    )
    .await;
    env.extend_config(&format!(
        "\n[detect]\nidp_grace_minutes = {grace_minutes}\n"
    ));
    env
}

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

#[tokio::test]
async fn nothing_within_the_grace_span() {
    let env = idp_env(90).await;
    env.pull().await;
    env.pull().await;
    let all = labelled(&env, &env.store().findings().unwrap());
    assert!(idp_only(all.clone()).is_empty(), "{all:#?}");
}
