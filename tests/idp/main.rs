//! The IdP as a third source, end to end against the simulator's Microsoft Graph, by theme: the
//! seeded world gives exactly the IdP kinds of scenarios.md and follows the world as it changes
//! (`kinds`), the grace rule (`grace`), faults of the Graph side (`faults`), and credentials
//! that never leak (`secrets`). Shared set-up here.

#[path = "../common/mod.rs"]
mod common;

mod faults;
mod grace;
mod groups;
mod ids_and_pages;
mod kinds;
mod lookups;
mod okta;
mod secrets;
mod shrink;
mod unknown;

use std::collections::BTreeSet;
use std::process::Output;

use chrono::Utc;
use common::Env;
use scimdrift::findings::{FindingView, Status};
use scimdrift::sim::{SimOptions, World};

/// (kind, severity, records, accounts, IdP users), each list of sim labels, sorted; a group
/// finding's IdP group is among the IdP users as `group:<label>`.
pub type Labelled = (String, String, Vec<String>, Vec<String>, Vec<String>);

/// A sim id as its label (`R12`, `E2`, …), or `unlabelled:<id>`.
pub fn label_of(env: &Env, id: &str) -> String {
    env.sim
        .world()
        .labels
        .iter()
        .find(|(_, v)| v.as_str() == id)
        .map(|(k, _)| k.clone())
        .unwrap_or_else(|| format!("unlabelled:{id}"))
}

pub fn labelled(env: &Env, findings: &[FindingView]) -> BTreeSet<Labelled> {
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
                sorted(
                    f.idp_users
                        .iter()
                        .map(|u| label(&u.id))
                        .chain(
                            f.groups
                                .iter()
                                .map(|g| format!("group:{}", label(&g.idp_group_id))),
                        )
                        .collect(),
                ),
            )
        })
        .collect()
}

/// (kind, severity, records, accounts, IdP users) as written in a test.
pub type Row<'a> = (
    &'a str,
    &'a str,
    &'a [&'a str],
    &'a [&'a str],
    &'a [&'a str],
);

pub fn set(list: &[Row<'_>]) -> BTreeSet<Labelled> {
    let owned = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    list.iter()
        .map(|(k, s, r, a, i)| (k.to_string(), s.to_string(), owned(r), owned(a), owned(i)))
        .collect()
}

/// The IdP findings of `World::idp_scenarios` (scenarios.md "IdP findings", one seed per kind).
pub fn expected_idp() -> BTreeSet<Labelled> {
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
            &["E3"],
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
        ("orphan_scim_record", "high", &["R19"], &["A19"], &[]),
        ("provisioning_stalled", "high", &[], &[], &[]),
        ("group_not_provisioned", "high", &[], &[], &["group:GA"]),
        (
            "group_membership_missing",
            "medium",
            &["R21"],
            &["A21"],
            &["E12", "group:GD"],
        ),
        (
            "group_membership_extra",
            "high",
            &["R22"],
            &["A22"],
            &["E13", "group:GF"],
        ),
    ])
}

pub const IDP_KINDS: [&str; 10] = [
    "assigned_not_provisioned",
    "idp_disabled_scim_active",
    "provisioning_error",
    "provisioning_stalled",
    "idp_email_mismatch",
    "nested_group_only",
    "orphan_scim_record",
    "group_not_provisioned",
    "group_membership_missing",
    "group_membership_extra",
];

pub fn idp_only(all: BTreeSet<Labelled>) -> BTreeSet<Labelled> {
    all.into_iter()
        .filter(|f| IDP_KINDS.contains(&f.0.as_str()))
        .collect()
}

pub fn atlassian_only(all: BTreeSet<Labelled>) -> BTreeSet<Labelled> {
    all.into_iter()
        .filter(|f| !IDP_KINDS.contains(&f.0.as_str()))
        .collect()
}

/// The findings of the store with `status`.
pub fn with_status(env: &Env, status: Status) -> Vec<FindingView> {
    env.store()
        .findings()
        .unwrap()
        .into_iter()
        .filter(|f| f.status == status)
        .collect()
}

/// The open IdP findings, labelled.
pub fn open_idp(env: &Env) -> BTreeSet<Labelled> {
    idp_only(labelled(env, &with_status(env, Status::Open)))
}

/// The IdP scenario world (30 healthy users) with `[detect] idp_grace_minutes`.
pub async fn idp_env(grace_minutes: i64) -> Env {
    idp_env_with(SimOptions::default(), grace_minutes).await
}

pub async fn idp_env_with(options: SimOptions, grace_minutes: i64) -> Env {
    let mut env = Env::start_with_idp(
        World::idp_scenarios_with_healthy(30, 5, Utc::now()),
        options,
    )
    .await;
    env.extend_config(&format!(
        "\n[detect]\nidp_grace_minutes = {grace_minutes}\n"
    ));
    env
}

/// The id of the directory the scenario tenant provisions into (D1).
pub fn d1(env: &Env) -> String {
    env.sim.world().entra[0].directory_id.clone()
}

/// The id of the scenario tenant's group `name`.
pub fn group_id(env: &Env, name: &str) -> String {
    env.sim.world().entra[0]
        .groups
        .iter()
        .find(|g| g.display_name == name)
        .map(|g| g.id.clone())
        .unwrap_or_else(|| panic!("no group {name}"))
}

/// A sim label's id.
pub fn id(env: &Env, label: &str) -> String {
    env.sim
        .world()
        .label(label)
        .unwrap_or_else(|| panic!("no label {label}"))
        .to_string()
}

/// Rewrites the written config: `f` gets its text; the settings are reloaded.
pub fn rewrite_config(env: &mut Env, f: impl FnOnce(String) -> String) {
    let text = std::fs::read_to_string(&env.config).unwrap();
    std::fs::write(&env.config, f(text)).unwrap();
    env.settings = scimdrift::config::Settings::load(Some(&env.config)).unwrap();
}

/// Adds `line` to the `[atlassian.directories.idp]` table (after its `kind` line).
pub fn idp_setting(env: &mut Env, line: &str) {
    rewrite_config(env, |text| {
        assert!(text.contains("kind = \"entra\"\n"), "{text}");
        text.replacen(
            "kind = \"entra\"\n",
            &format!("kind = \"entra\"\n{line}\n"),
            1,
        )
    });
}

/// The scimdrift binary with this config and extra environment variables.
pub async fn cli_env(env: &Env, args: &[&str], vars: &[(&str, &str)]) -> Output {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_scimdrift"));
    cmd.arg("--config")
        .arg(&env.config)
        .args(args)
        .env_remove("SCIMDRIFT_CONFIG")
        .env_remove("RUST_LOG");
    for (k, v) in vars {
        cmd.env(k, v);
    }
    cmd.output().await.unwrap()
}

/// `once --format json` as JSON, with its exit code.
pub async fn once_json(env: &Env) -> (Option<i32>, serde_json::Value) {
    let out = env.cli(&["once", "--format", "json"]).await;
    let json = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code(), json)
}

/// The source `name` of a `once --format json` document.
pub fn json_source<'a>(once: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    once["sources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["source"] == name)
        .unwrap_or_else(|| panic!("no source {name} in {once:#}"))
}

/// Rows of `sql` (one integer).
pub fn count(env: &Env, sql: &str) -> i64 {
    let conn = rusqlite::Connection::open(env.db_path()).unwrap();
    conn.query_row(sql, [], |r| r.get(0)).unwrap()
}
