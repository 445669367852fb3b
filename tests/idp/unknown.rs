//! Unknown is never evidence (issue 19, items 1 and 4), black-box against the simulator: a value
//! scimdrift cannot read — on a SCIM record, an Entra user or an assignment — never resolves a
//! finding and never blinds the rest of the source. The finding keeps its state, says which field
//! it could not read (`findings --format json`: `undetermined`), and is decided again once the
//! field is readable.

use scimdrift::findings::{FindingView, Status};
use scimdrift::sim::{Api, FaultKind, FaultRule, Faults};

use super::*;

fn finding(env: &Env, id: &str) -> FindingView {
    env.store()
        .findings()
        .unwrap()
        .into_iter()
        .find(|f| f.id == id)
        .unwrap()
}

fn set_field(id: Option<&str>, field: &str, value: serde_json::Value, api: Api) -> FaultRule {
    FaultRule::new(FaultKind::SetField {
        id: id.map(str::to_string),
        field: field.into(),
        value,
    })
    .on(api)
}

/// The `findings --format json` entry of finding `id`.
async fn json_of(env: &Env, id: &str) -> serde_json::Value {
    let out = env.cli(&["findings", "--format", "json"]).await;
    // 1: a critical finding is open (the leaver), as scripts expect.
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let all: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let list = all
        .as_array()
        .cloned()
        .or_else(|| all["findings"].as_array().cloned())
        .unwrap_or_default();
    list.into_iter()
        .find(|f| f["id"] == id)
        .unwrap_or_else(|| panic!("{id} not in {all}"))
}

/// The leaver of issue 19: `"active": null` (or `"yes"`, `1`, `""`) on their SCIM record leaves
/// the critical `idp_inactive_account_active` open — not resolved, not counted as seen — with
/// `undetermined: ["active"]` and a data-quality note; readable again, it is seen again.
#[tokio::test]
async fn an_unreadable_active_never_resolves_the_leaver() {
    let env = idp_env(0).await;
    env.pull().await;
    let leaver = with_status(&env, Status::Open)
        .into_iter()
        .find(|f| f.kind.as_str() == "idp_inactive_account_active")
        .expect("the scenario world has a leaver");
    let record = leaver.scim_users[0].scim_id.clone();
    for value in [serde_json::Value::Null, "yes".into(), 1.into(), "".into()] {
        env.sim.set_faults(Faults::rules([set_field(
            Some(&record),
            "active",
            value.clone(),
            Api::Scim,
        )]));
        let before = finding(&env, &leaver.id);
        let o = env.pull().await;
        assert!(o.recorded.complete, "{value}: {:?}", o.pull.sources);
        let note = o
            .pull
            .sources
            .iter()
            .flat_map(|s| &s.data_quality.notes)
            .any(|n| n.id == record && n.field == "active");
        assert!(note, "{value}: no data-quality note");
        let after = finding(&env, &leaver.id);
        assert_eq!(
            after.status,
            Status::Open,
            "{value}: resolved by an unknown"
        );
        assert_eq!(
            after.seen_count, before.seen_count,
            "{value}: counted as seen"
        );
        assert_eq!(after.last_seen, before.last_seen);
        assert_eq!(after.undetermined, ["active"]);
        let json = json_of(&env, &leaver.id).await;
        assert_eq!(json["undetermined"], serde_json::json!(["active"]));
        assert_eq!(json["status"], "open");
    }
    // The gauge ops see: one leaver finding kept undetermined.
    let metrics = scimdrift::metrics::Metrics::new();
    scimdrift::findings::export_metrics(&metrics, &env.store().findings().unwrap());
    let text = metrics.render();
    let line = "scimdrift_findings_undetermined{kind=\"idp_inactive_account_active\"} 1";
    assert!(text.contains(line), "{line} not in\n{text}");
    // `once` says it is complete (exit 0): nothing failed, one value was unreadable.
    let once = env.cli(&["once"]).await;
    assert_eq!(once.status.code(), Some(0), "{once:?}");

    env.sim.set_faults(Faults::default());
    let seen = finding(&env, &leaver.id).seen_count;
    env.pull().await;
    let decided = finding(&env, &leaver.id);
    assert_eq!(decided.status, Status::Open);
    assert!(decided.undetermined.is_empty());
    assert_eq!(decided.seen_count, seen + 1);
    let json = json_of(&env, &leaver.id).await;
    assert!(json.get("undetermined").is_none(), "{json}");
}

/// An Entra user whose `accountEnabled` is null keeps the critical `idp_disabled_scim_active`
/// open; unreadable on every user, no IdP finding resolves, and the source stays complete.
#[tokio::test]
async fn an_unreadable_account_enabled_never_resolves_an_idp_finding() {
    let env = idp_env(0).await;
    env.pull().await;
    env.pull().await;
    assert_eq!(open_idp(&env), expected_idp());
    let (dir, e2) = (d1(&env), id(&env, "E2"));
    let disabled = with_status(&env, Status::Open)
        .into_iter()
        .find(|f| f.idp_users.iter().any(|u| u.id == e2))
        .unwrap();
    assert_eq!(disabled.kind.as_str(), "idp_disabled_scim_active");

    assert!(env.sim.update_entra(&dir, |t| {
        t.user_mut(&e2).unwrap().account_enabled = None;
    }));
    let o = env.pull().await;
    assert!(o.pull.all_complete(), "{:?}", o.pull.sources);
    let after = finding(&env, &disabled.id);
    assert_eq!(after.status, Status::Open);
    assert_eq!(after.undetermined, ["accountEnabled"]);
    assert_eq!(after.seen_count, disabled.seen_count, "not counted as seen");
    assert_eq!(
        open_idp(&env),
        expected_idp(),
        "nothing resolved, nothing opened"
    );

    // Unreadable on every Graph user: still no IdP finding resolves.
    env.sim.set_faults(Faults::rules([set_field(
        None,
        "accountEnabled",
        "maybe".into(),
        Api::Graph,
    )]));
    let o = env.pull().await;
    let idp = o.pull.sources.iter().find(|s| s.is_idp()).unwrap();
    assert!(idp.complete, "{:?}", idp.error);
    assert!(idp.data_quality.by_field.contains_key("accountEnabled"));
    assert_eq!(open_idp(&env), expected_idp());
    assert!(
        idp_only(labelled(&env, &with_status(&env, Status::Resolved))).is_empty(),
        "an unknown resolved an IdP finding"
    );
}

/// One assignment whose `principalType` has the wrong JSON type no longer makes the IdP source
/// incomplete: its user's intent is unknown (a note says why), that user's finding keeps its
/// state, and every other IdP finding is decided as before.
#[tokio::test]
async fn one_odd_assignment_never_blinds_the_idp_side() {
    let env = idp_env(0).await;
    env.pull().await;
    env.pull().await;
    assert_eq!(open_idp(&env), expected_idp());
    let e1 = id(&env, "E1");
    let assignment = env.sim.world().entra[0]
        .app()
        .unwrap()
        .assignments
        .iter()
        .find(|a| a.principal_id == e1)
        .map(|a| a.id.clone())
        .expect("E1 is assigned directly");
    env.sim.set_faults(Faults::rules([set_field(
        Some(&assignment),
        "principalType",
        5.into(),
        Api::Graph,
    )]));
    let o = env.pull().await;
    let idp = o.pull.sources.iter().find(|s| s.is_idp()).unwrap();
    assert!(idp.complete, "{:?}", idp.error);
    assert!(
        idp.data_quality
            .notes
            .iter()
            .any(|n| n.id == assignment && n.field == "principalType"),
        "{:?}",
        idp.data_quality
    );
    assert_eq!(
        open_idp(&env),
        expected_idp(),
        "nothing resolved, nothing opened"
    );
    let e1_finding = with_status(&env, Status::Open)
        .into_iter()
        .find(|f| {
            f.kind.as_str() == "assigned_not_provisioned" && f.idp_users.iter().any(|u| u.id == e1)
        })
        .unwrap();
    assert_eq!(e1_finding.undetermined, ["intent"]);
    // The others were decided (seen again).
    assert!(
        with_status(&env, Status::Open)
            .iter()
            .filter(|f| f.id != e1_finding.id && IDP_KINDS.contains(&f.kind.as_str()))
            .all(|f| f.undetermined.is_empty())
    );
}

/// Issue 20, items 2 and 3: the report names the intended users whose enabled state is unknown
/// (a null `accountEnabled` is unknown, never false) and, per user with the group, those not
/// provisioned by design (E10, a member of the assigned Microsoft 365 group `M365 Atlassian` only).
#[tokio::test]
async fn the_report_names_unknown_enabled_states_and_users_not_provisioned_by_design() {
    let env = idp_env(0).await;
    let (dir, e1) = (d1(&env), id(&env, "E1"));
    assert!(env.sim.update_entra(&dir, |t| {
        t.user_mut(&e1).unwrap().account_enabled = None;
    }));
    env.pull().await;
    let out = env.cli(&["report", "--format", "json"]).await;
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let h = &report["idp"][0];
    assert_eq!(h["intended_enabled_unknown"], 1, "{h:#}");
    assert_eq!(
        h["intended_enabled_unknown_users"],
        serde_json::json!(["ivy@example.com"])
    );
    let by_design = h["not_provisioned_by_design"].as_array().unwrap();
    assert!(
        by_design
            .iter()
            .any(|b| b["user"] == "sam@example.com" && b["group"] == "M365 Atlassian"),
        "{h:#}"
    );
    assert_eq!(h["not_provisioned_by_design_total"], by_design.len());
    let md = env.cli(&["report", "--format", "markdown"]).await;
    let md = String::from_utf8_lossy(&md.stdout);
    assert!(
        md.contains("1 unknown") && md.contains("ivy@example.com"),
        "{md}"
    );
    assert!(md.contains("sam@example.com — via M365 Atlassian"), "{md}");
    let html = env.cli(&["report", "--format", "html"]).await;
    let html = String::from_utf8_lossy(&html.stdout);
    assert!(
        html.contains("not provisioned by design") && html.contains("of unknown enabled state")
    );

    // Null for every user: every intended user is named unknown, none counted enabled.
    env.sim.set_faults(Faults::rules([set_field(
        None,
        "accountEnabled",
        serde_json::Value::Null,
        Api::Graph,
    )]));
    env.pull().await;
    let out = env.cli(&["report", "--format", "json"]).await;
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let h = &report["idp"][0];
    assert_eq!(h["intended_enabled_users"], 0, "{h:#}");
    assert!(h["intended_enabled_unknown"].as_u64().unwrap() > 5, "{h:#}");
}

/// An odd *group* assignment (its `principalType` null) is read as the group it is: its members
/// stay intended, the shrink guard sees no drop, and no IdP finding changes.
#[tokio::test]
async fn an_odd_group_assignment_is_read_as_a_group_and_holds_nothing() {
    let env = idp_env(0).await;
    env.pull().await;
    env.pull().await;
    assert_eq!(open_idp(&env), expected_idp());
    let group = group_id(&env, "Atlassian Users");
    let assignment = env.sim.world().entra[0]
        .app()
        .unwrap()
        .assignments
        .iter()
        .find(|a| a.principal_id == group)
        .map(|a| a.id.clone())
        .unwrap();
    env.sim.set_faults(Faults::rules([set_field(
        Some(&assignment),
        "principalType",
        serde_json::Value::Null,
        Api::Graph,
    )]));
    let o = env.pull().await;
    let idp = o.pull.sources.iter().find(|s| s.is_idp()).unwrap();
    assert!(idp.complete && !idp.held, "{:?}", idp.error);
    assert_eq!(
        open_idp(&env),
        expected_idp(),
        "nothing resolved, nothing opened"
    );
    assert!(
        with_status(&env, Status::Open)
            .iter()
            .filter(|f| IDP_KINDS.contains(&f.kind.as_str()))
            .all(|f| f.undetermined.is_empty()),
        "the group's members are decided"
    );
}
