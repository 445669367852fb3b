//! The group kinds end to end (scenarios.md "Group findings"): the JSON contract's `groups`, the
//! joins by `externalId` and `displayName`, fixing the world resolves them, a schema that maps no
//! groups raises none.

use scimdrift::findings::Status;
use scimdrift::sim::{SchemaStyle, SimOptions};

use super::*;

fn group_rows(env: &Env) -> BTreeSet<Labelled> {
    labelled(env, &with_status(env, Status::Open))
        .into_iter()
        .filter(|f| f.0.starts_with("group_"))
        .collect()
}

#[tokio::test]
async fn the_json_names_the_idp_group_its_scim_group_and_the_key_that_joined_them() {
    let env = idp_env(0).await;
    env.pull().await;
    env.pull().await;
    let out = env.cli(&["findings", "--format", "json"]).await;
    assert!(out.status.code().is_some_and(|c| c <= 1), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let findings = v["findings"].as_array().unwrap();
    let of_kind = |kind: &str| -> &serde_json::Value {
        findings
            .iter()
            .find(|f| f["kind"] == kind)
            .unwrap_or_else(|| panic!("no {kind}"))
    };
    let group = |kind: &str| of_kind(kind)["groups"].as_array().unwrap().clone();

    let missing = group("group_membership_missing");
    assert_eq!(missing.len(), 1);
    let g = &missing[0];
    assert_eq!(g["directory"], "entra");
    assert_eq!(g["idp_group_id"], id(&env, "GD"));
    assert_eq!(g["scim_group_id"], id(&env, "G3"));
    assert_eq!(g["display_name"], "Atlassian Designers");
    assert_eq!(g["joined_by"], "externalId");
    // The IdP group's id is part of the finding's identity.
    let f = of_kind("group_membership_missing");
    assert!(
        f["id"]
            .as_str()
            .unwrap()
            .starts_with("group_membership_missing-")
    );
    assert_eq!(f["scim_users"][0]["email"], "uma@example.com");
    assert_eq!(f["idp_users"][0]["id"], id(&env, "E12"));

    let extra = group("group_membership_extra");
    assert_eq!(extra[0]["scim_group_id"], id(&env, "G4"));
    assert_eq!(extra[0]["joined_by"], "displayName");

    let never = group("group_not_provisioned");
    assert_eq!(never[0]["idp_group_id"], id(&env, "GA"));
    assert!(never[0]["scim_group_id"].is_null() && never[0]["joined_by"].is_null());

    // Every other finding carries an empty list.
    for f in findings
        .iter()
        .filter(|f| !f["kind"].as_str().unwrap().starts_with("group_"))
    {
        assert_eq!(f["groups"], serde_json::json!([]), "{f}");
    }
}

#[tokio::test]
async fn fixing_the_groups_resolves_exactly_the_group_findings() {
    let env = idp_env(0).await;
    env.pull().await;
    env.pull().await;
    assert_eq!(group_rows(&env).len(), 3, "{:#?}", group_rows(&env));
    let dir = id(&env, "D1");
    let (g3, r21, e13, gf) = (
        id(&env, "G3"),
        id(&env, "R21"),
        id(&env, "E13"),
        id(&env, "GF"),
    );
    // Push R21 into G3, put E13 back into Atlassian Finance, push Atlassian Admins.
    let ga = id(&env, "GA");
    env.sim.update_world(|w| {
        let d = w.directories.iter_mut().find(|d| d.id == dir).unwrap();
        let g = d.groups.iter().position(|g| g.id == g3).unwrap();
        let u = d.users.iter().position(|u| u.id == r21).unwrap();
        d.add_member(g, u);
        let admins = w.add_group(0, "Atlassian Admins", 99, Utc::now());
        w.directories[0].groups[admins].external_id = Some(ga.clone());
    });
    assert!(env.sim.update_entra(&dir, |t| {
        t.group_mut(&gf)
            .unwrap()
            .members
            .push(scimdrift::sim::SimEntraMember::user(&e13));
    }));
    let fixed = env.pull().await;
    assert!(fixed.pull.all_complete(), "{:?}", fixed.pull.sources);
    assert!(group_rows(&env).is_empty(), "{:#?}", group_rows(&env));
    // The rest of the IdP findings are untouched.
    let rest: BTreeSet<Labelled> = expected_idp()
        .into_iter()
        .filter(|f| !f.0.starts_with("group_"))
        .collect();
    assert_eq!(open_idp(&env), rest);
    let resolved = labelled(&env, &with_status(&env, Status::Resolved));
    assert_eq!(
        resolved
            .iter()
            .filter(|f| f.0.starts_with("group_"))
            .count(),
        3,
        "{resolved:#?}"
    );
}

#[tokio::test]
async fn a_schema_that_maps_no_groups_raises_no_group_finding() {
    let mut options = SimOptions::default();
    options.entra.schema = SchemaStyle::GroupsNotMapped;
    let env = idp_env_with(options, 0).await;
    env.pull().await;
    let second = env.pull().await;
    assert!(second.pull.all_complete(), "{:?}", second.pull.sources);
    assert!(group_rows(&env).is_empty(), "{:#?}", group_rows(&env));
    // The other IdP kinds are there as ever.
    let rest: BTreeSet<Labelled> = expected_idp()
        .into_iter()
        .filter(|f| !f.0.starts_with("group_"))
        .collect();
    assert_eq!(open_idp(&env), rest);
}

/// One member's unreadable `groups` keeps that member's finding as it was, and never holds back
/// another member's: vic joins Atlassian Designers in the IdP while uma's record cannot be read.
#[tokio::test]
async fn an_undecided_membership_holds_back_no_other_members_finding() {
    use scimdrift::sim::{Api, FaultKind, FaultRule, Faults};
    let env = idp_env(0).await;
    env.pull().await;
    env.pull().await;
    let (dir, gd, e13, r21) = (d1(&env), id(&env, "GD"), id(&env, "E13"), id(&env, "R21"));
    env.sim
        .set_faults(Faults::rules([FaultRule::new(FaultKind::SetField {
            id: Some(r21.clone()),
            field: "groups".into(),
            value: serde_json::json!({"value": "g"}),
        })
        .on(Api::Scim)]));
    assert!(env.sim.update_entra(&dir, |t| {
        t.group_mut(&gd)
            .unwrap()
            .members
            .push(scimdrift::sim::SimEntraMember::user(&e13));
    }));
    for _ in 0..2 {
        assert!(env.pull().await.pull.all_complete());
    }
    let missing: Vec<_> = env
        .store()
        .findings()
        .unwrap()
        .into_iter()
        .filter(|f| f.kind.as_str() == "group_membership_missing" && f.status == Status::Open)
        .collect();
    let who = |f: &scimdrift::findings::FindingView| f.scim_users[0].email.clone().unwrap();
    // vic's is opened; uma's stays open, undetermined by her unreadable `groups`.
    assert_eq!(missing.len(), 2, "{missing:#?}");
    let uma = missing
        .iter()
        .find(|f| who(f) == "uma@example.com")
        .unwrap();
    assert_eq!(uma.undetermined, ["groups"]);
    assert!(
        missing
            .iter()
            .any(|f| who(f) == "vic@example.com" && f.undetermined.is_empty())
    );
}
