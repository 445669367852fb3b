//! The shrink guard over the IdP source: a complete Graph answer showing the app's intended users
//! suddenly gone (every assignment missing from `appRoleAssignedTo`) is held like a shrunk
//! Atlassian source — for the directory's IdP findings only: no "no longer assigned" finding
//! opens, nothing is resolved, the Atlassian side stays current, `once` exits 1 and says why.

use scimdrift::findings::Status;

use super::*;

fn open_of(env: &Env, kind: &str) -> usize {
    with_status(env, Status::Open)
        .iter()
        .filter(|f| f.kind.as_str() == kind)
        .count()
}

#[tokio::test]
async fn a_drop_of_intended_users_is_held_for_the_idp_findings_only() {
    let env = idp_env(0).await;
    env.pull().await;
    env.pull().await;
    assert_eq!(open_idp(&env), expected_idp());
    let disabled_before = open_of(&env, "idp_disabled_scim_active");

    // An IdP pull that is incomplete in between is no baseline: the last complete one is.
    let main = group_id(&env, "Atlassian Users");
    env.sim
        .set_entra_options(|o| o.deleted_groups = vec![main.clone()]);
    let o = env.pull().await;
    assert!(o.recorded.complete && !o.pull.all_complete());
    env.sim.set_entra_options(|o| o.deleted_groups.clear());

    // Every assignment is missing from an otherwise complete answer.
    env.sim.set_entra_options(|o| o.replication_lag = 100_000);
    let (code, once) = once_json(&env).await;
    assert_eq!(code, Some(1), "{once:#}");
    assert_eq!(once["complete"], true, "the Atlassian side stays current");
    assert_eq!(once["all_sources_complete"], false);
    let idp = json_source(&once, "idp:entra");
    assert_eq!(idp["complete"], false, "{idp:#}");
    assert_eq!(idp["held"], true, "{idp:#}");
    let error = idp["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("intended users shrank from") && error.contains("to 0"),
        "{error}"
    );
    // A drop to zero is never confirmed by pulls alone.
    for _ in 0..4 {
        let o = env.pull().await;
        assert!(o.recorded.complete, "{:?}", o.pull.sources);
        assert!(!o.pull.all_complete());
    }
    assert_eq!(open_idp(&env), expected_idp(), "no IdP finding changed");
    assert_eq!(open_of(&env, "idp_disabled_scim_active"), disabled_before);

    // The operator accepts it: the drop is the IdP's state now (and, after the grace, its
    // findings open).
    let out = env.cli(&["once", "--accept-shrink"]).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    env.pull().await;
    assert!(
        open_of(&env, "idp_disabled_scim_active") > disabled_before + 20,
        "{:#?}",
        open_idp(&env)
    );
}

/// A drop that is not to zero is confirmed by `[pull] confirm_shrink_pulls` consecutive pulls
/// that agree, as for every source.
#[tokio::test]
async fn a_partial_drop_is_confirmed_by_consecutive_pulls() {
    let env = idp_env(0).await;
    env.pull().await;
    env.pull().await;
    let disabled_before = open_of(&env, "idp_disabled_scim_active");
    let (dir, main) = (d1(&env), group_id(&env, "Atlassian Users"));
    // The main group loses 20 of its members (more than 10 % and more than 10 users).
    assert!(env.sim.update_entra(&dir, |t| {
        let g = t.groups.iter_mut().find(|g| g.id == main).unwrap();
        let users: Vec<String> = g
            .members
            .iter()
            .filter(|m| m.odata_type.as_deref() == Some("#microsoft.graph.user"))
            .take(20)
            .map(|m| m.id.clone())
            .collect();
        assert_eq!(users.len(), 20);
        g.members.retain(|m| !users.contains(&m.id));
    }));
    for n in 1..=2 {
        let o = env.pull().await;
        assert!(o.recorded.complete);
        assert!(!o.pull.all_complete(), "pull {n} after the drop is held");
    }
    assert_eq!(open_of(&env, "idp_disabled_scim_active"), disabled_before);
    let third = env.pull().await;
    assert!(third.pull.all_complete(), "{:?}", third.pull.sources);
    // Confirmed: the first complete IdP pull of the new state; the second opens them (grace 0).
    env.pull().await;
    // (E2, disabled, is among the 20 and already had its finding.)
    assert_eq!(
        open_of(&env, "idp_disabled_scim_active"),
        disabled_before + 19
    );
}

/// Issue 19, item 3: an emptied `/users` listing is not believed although every intended user is
/// found again by the one-by-one reads (`records` and the intended count barely move): the
/// listing itself is guarded, so the IdP source is held, users outside the intended set keep
/// their findings, and `once` names the listing.
#[tokio::test]
async fn an_emptied_users_listing_is_held_although_re_reads_find_the_intended() {
    use scimdrift::sim::{Api, FaultKind, FaultRule, Faults};
    let env = idp_env(0).await;
    env.pull().await;
    env.pull().await;
    assert_eq!(open_idp(&env), expected_idp());
    env.sim
        .set_faults(Faults::rules([FaultRule::new(FaultKind::EmptyPage)
            .on(Api::Graph)
            .path_contains("/v1.0/users")]));
    let (code, once) = once_json(&env).await;
    assert_eq!(code, Some(1), "{once:#}");
    let idp = json_source(&once, "idp:entra");
    assert_eq!(idp["held"], true, "{idp:#}");
    let error = idp["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("users listed shrank from") && error.contains("to 0"),
        "{error}"
    );
    assert_eq!(open_idp(&env), expected_idp(), "no IdP finding changed");
    assert!(
        idp_only(labelled(&env, &with_status(&env, Status::Resolved))).is_empty(),
        "an emptied listing resolved a finding"
    );
    // Listed again: the source is used again.
    env.sim.set_faults(Faults::default());
    let o = env.pull().await;
    assert!(o.pull.all_complete(), "{:?}", o.pull.sources);
    let listings = o
        .pull
        .sources
        .iter()
        .find(|s| s.is_idp())
        .and_then(|s| s.listings.clone())
        .unwrap();
    assert!(
        listings["users listed"] > 0 && listings["assignments"] > 0,
        "{listings:?}"
    );
    assert!(listings.contains_key("group members"));
}
