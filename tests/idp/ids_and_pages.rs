//! Ids and pages of the Graph listings (idp-api.md §5: every list to the end of its nextLinks,
//! no duplicate ids): a user, an assignment or a group member listed twice, on one page or two,
//! and an `@odata.nextLink` already followed make the IdP source incomplete, the error naming the
//! page and the id; the IdP side and its findings stay as they were (the critical
//! `idp_disabled_scim_active` of a disabled user is not resolved by an enabled copy of it).

use scimdrift::sim::{Api, FaultKind, FaultRule, Faults};
use serde_json::{Value, json};

use super::*;

/// The IdP findings as JSON, in id order (status, seen count and all).
fn idp_views(env: &Env) -> Vec<Value> {
    let mut v: Vec<FindingView> = env
        .store()
        .findings()
        .unwrap()
        .into_iter()
        .filter(|f| IDP_KINDS.contains(&f.kind.as_str()))
        .collect();
    v.sort_by(|a, b| a.id.cmp(&b.id));
    v.iter().map(|f| serde_json::to_value(f).unwrap()).collect()
}

/// The IdP scenario world after two complete pulls: every IdP finding open.
async fn settled() -> Env {
    let env = idp_env(0).await;
    env.pull().await;
    env.pull().await;
    assert_eq!(open_idp(&env), expected_idp());
    env
}

/// `once` with whatever fault is set: exit 1, the snapshot complete but the IdP source not, its
/// error holding each of `needles`; the IdP findings and the last complete IdP pull unchanged.
async fn idp_incomplete(env: &Env, needles: &[&str]) {
    let before = idp_views(env);
    let state = "SELECT last_complete_snapshot FROM idp_state";
    let last_complete = count(env, state);
    let (code, once) = once_json(env).await;
    assert_eq!(code, Some(1), "{once:#}");
    assert_eq!(once["complete"], true);
    assert_eq!(once["all_sources_complete"], false);
    let idp = json_source(&once, "idp:entra");
    assert_eq!(idp["complete"], false, "{idp:#}");
    let error = idp["error"].as_str().unwrap();
    for needle in needles {
        assert!(error.contains(needle), "{needle:?} not in {error}");
    }
    assert_eq!(idp_views(env), before);
    assert_eq!(open_idp(env), expected_idp());
    assert_eq!(count(env, state), last_complete);
}

fn fields(v: Value) -> serde_json::Map<String, Value> {
    v.as_object().unwrap().clone()
}

#[tokio::test]
async fn a_graph_user_listed_twice_leaves_the_idp_side_as_it_was() {
    let env = settled().await;
    // E2 is disabled (the critical idp_disabled_scim_active): an enabled copy listed first.
    let e2 = id(&env, "E2");
    env.sim
        .set_faults(Faults::rules([FaultRule::new(FaultKind::RepeatItem {
            id: e2.clone(),
            set: fields(json!({"accountEnabled": true})),
        })
        .on(Api::Graph)
        .path_contains("/users")]));
    idp_incomplete(
        &env,
        &["(users page 1)", &format!("id {e2:?} is listed twice")],
    )
    .await;

    // Across pages: the first user listed again on page 2, differing.
    let first = env.sim.world().entra[0].users[0].clone();
    env.sim.set_entra_options(|o| o.page_size_cap = Some(10));
    env.sim
        .set_faults(Faults::rules([FaultRule::new(FaultKind::InjectItem {
            item: json!({
                "id": first.id,
                "userPrincipalName": first.user_principal_name,
                "accountEnabled": first.account_enabled != Some(true),
            }),
            counted: false,
        })
        .on(Api::Graph)
        .path_contains("/users")
        .skip(1)
        .once()]));
    idp_incomplete(
        &env,
        &[
            "(users page 2)",
            &format!("item 0: id {:?} is listed twice", first.id),
        ],
    )
    .await;
}

#[tokio::test]
async fn an_assignment_or_member_listed_twice_leaves_the_idp_side_as_it_was() {
    let env = settled().await;
    let tenant = env.sim.world().entra[0].clone();
    let assignment = tenant.app().unwrap().assignments[0].id.clone();
    env.sim
        .set_faults(Faults::rules([FaultRule::new(FaultKind::RepeatItem {
            id: assignment.clone(),
            set: fields(json!({"principalType": "User"})),
        })
        .on(Api::Graph)
        .path_contains("/appRoleAssignedTo")]));
    idp_incomplete(
        &env,
        &[
            "(appRoleAssignedTo page 1)",
            &format!("id {assignment:?} is listed twice"),
        ],
    )
    .await;

    let group = group_id(&env, "Atlassian Users");
    let member = tenant
        .groups
        .iter()
        .find(|g| g.id == group)
        .unwrap()
        .members[0]
        .id
        .clone();
    env.sim
        .set_faults(Faults::rules([FaultRule::new(FaultKind::RepeatItem {
            id: member.clone(),
            set: serde_json::Map::new(),
        })
        .on(Api::Graph)
        .path_contains(format!("/groups/{group}/members"))]));
    idp_incomplete(
        &env,
        &[
            &format!("(groups/{group}/members page 1)"),
            &format!("id {member:?} is listed twice"),
        ],
    )
    .await;
}

#[tokio::test]
async fn a_next_link_already_followed_leaves_the_idp_side_as_it_was() {
    let env = settled().await;
    env.sim.set_entra_options(|o| {
        o.page_size_cap = Some(10);
        o.next_link_loops = true;
    });
    idp_incomplete(
        &env,
        &["page 2)", "@odata.nextLink repeats an earlier page"],
    )
    .await;
}
