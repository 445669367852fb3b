//! Okta as the IdP (idp-api.md §2, scenarios.md's Okta terms), end to end against the
//! simulator's Okta: D2 of `World::okta_scenarios` is provisioned by Okta, signed in with a
//! service app (`private_key_jwt`), one seed per Okta-applicable kind.

use chrono::Utc;
use scimdrift::sim::{LinkStyle, SimOptions, World};

use super::*;

/// The Okta findings of `World::okta_scenarios` (see `sim/okta/seed.rs`).
pub fn expected_okta() -> BTreeSet<Labelled> {
    set(&[
        ("assigned_not_provisioned", "high", &[], &[], &["O1"]),
        (
            "idp_disabled_scim_active",
            "critical",
            &["R23"],
            &["A23"],
            &["O2"],
        ),
        (
            "idp_disabled_scim_active",
            "critical",
            &["R24"],
            &["A24"],
            &["O3"],
        ),
        ("provisioning_error", "high", &["R26"], &["A26"], &["O4"]),
        ("idp_email_mismatch", "medium", &["R27"], &["A27"], &["O5"]),
        ("orphan_scim_record", "high", &["R28"], &["A28"], &[]),
    ])
}

pub async fn okta_env(options: SimOptions) -> Env {
    let mut env = Env::start_with_idp(World::okta_scenarios(Utc::now()), options).await;
    env.extend_config("\n[detect]\nidp_grace_minutes = 0\n");
    env
}

/// The open IdP findings about D2 (Okta's directory), labelled.
fn open_okta(env: &Env) -> BTreeSet<Labelled> {
    let d2 = env.sim.world().label("D2").unwrap().to_string();
    let open: Vec<FindingView> = with_status(env, Status::Open)
        .into_iter()
        .filter(|f| {
            f.scim_users.iter().any(|u| u.directory_id == d2)
                || f.idp_users.iter().any(|u| u.directory == "okta")
                || f.scim_users.is_empty() && f.idp_users.is_empty() && f.summary.contains("Okta")
        })
        .collect();
    idp_only(labelled(env, &open))
}

#[tokio::test]
async fn every_okta_kind_exactly_once_it_held_in_two_complete_pulls() {
    let env = okta_env(SimOptions::default()).await;
    let first = env.pull().await;
    let okta = first
        .pull
        .sources
        .iter()
        .find(|s| s.source == "idp:okta")
        .expect("the Okta source is pulled");
    assert!(okta.complete, "{:?}", okta.error);
    assert!(open_okta(&env).is_empty(), "nothing after one pull");
    // The first pull stores the records; the second looks up the active ones no app user joined
    // (O3, deactivated, is found only so); the third opens what held in two complete pulls.
    env.pull().await;
    let mut without_o3 = expected_okta();
    without_o3.retain(|f| f.4 != ["O3"]);
    assert_eq!(open_okta(&env), without_o3);
    env.pull().await;
    assert_eq!(open_okta(&env), expected_okta());
    // The Entra side of D1 is untouched by Okta's.
    let entra: BTreeSet<Labelled> = open_idp(&env)
        .into_iter()
        .filter(|f| !expected_okta().contains(f))
        .collect();
    assert_eq!(entra, expected_idp());
    // The push failure is explained by the latest FAILURE event.
    let all = env.store().findings().unwrap();
    let o4 = env.sim.world().label("O4").unwrap().to_string();
    let error = all
        .iter()
        .find(|f| f.kind.as_str() == "provisioning_error" && f.idp_users.iter().any(|u| u.id == o4))
        .unwrap();
    let p = error.provisioning.as_ref().expect("provisioning object");
    assert_eq!(p.status, "failure");
    assert_eq!(
        p.error_code.as_deref(),
        Some("application.provision.user.push_profile")
    );
    assert!(
        p.reason
            .as_deref()
            .unwrap_or("")
            .contains("Errors reported by remote server")
    );
    // An Okta user is named by its login.
    let u = &error.idp_users[0];
    assert_eq!(u.idp, "okta");
    assert_eq!(u.user_principal_name.as_deref(), Some("zed@example.com"));
}

/// A deactivated user drops out of the app's users: only the record's `externalId` finds it.
#[tokio::test]
async fn a_deactivated_user_is_found_only_by_its_external_id() {
    let env = okta_env(SimOptions::default()).await;
    env.pull().await;
    let before = env.sim.requests().len();
    env.pull().await;
    let lookups: Vec<String> = env
        .sim
        .requests()
        .into_iter()
        .skip(before)
        .filter(|r| r.path.contains("/api/v1/users/"))
        .map(|r| r.path)
        .collect();
    let o3 = env.sim.world().label("O3").unwrap().to_string();
    assert!(lookups.iter().any(|p| p.ends_with(&o3)), "{lookups:?}");
    assert!(
        lookups.iter().any(|p| p.ends_with("00ugone0000000000000")),
        "{lookups:?}"
    );
    // Every active record an app user joined is not looked up.
    assert_eq!(lookups.len(), 2, "{lookups:?}");
}

#[tokio::test]
async fn both_link_forms_and_short_pages_read_the_same_side() {
    let mut options = SimOptions::default();
    options.okta.link_style = LinkStyle::Joined;
    options.okta.short_pages = true;
    options.okta.page_cap = 8;
    let env = okta_env(options).await;
    for _ in 0..3 {
        env.pull().await;
    }
    assert_eq!(open_okta(&env), expected_okta());
    let pages = env
        .sim
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/users") && r.path.contains("/apps/"))
        .count();
    let app_users = env.sim.world().okta[0].app_users.len();
    assert!(app_users > 8, "{app_users}");
    assert_eq!(
        pages,
        3 * app_users.div_ceil(4),
        "pages of 4 app users, three pulls"
    );
}
