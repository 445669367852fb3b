//! Deleted, looked up (issue 20, item 1; scenarios.md "IdP findings"; idp-api.md §1.2): an active
//! SCIM record whose `externalId` no IdP user joined is looked up — `GET /users/{id}`, then
//! `GET /directory/deletedItems/{id}` — before it is called an orphan, so a leaver deleted before
//! scimdrift's first pull is never under-ranked.

use chrono::{Duration, Utc};
use scimdrift::sim::SimUser;

use super::*;

/// E2 (disabled, R12 still active with access) is soft-deleted before scimdrift ever pulled: R12's
/// finding is the critical `idp_disabled_scim_active` with the deletion time, not an orphan.
#[tokio::test]
async fn a_leaver_soft_deleted_before_the_first_pull_is_critical() {
    let env = idp_env(0).await;
    let (dir, e2) = (d1(&env), id(&env, "E2"));
    let deleted_at = Utc::now() - Duration::days(3);
    assert!(
        env.sim
            .update_entra(&dir, |t| assert!(t.soft_delete(&e2, deleted_at)))
    );
    // The first pull stores the records; the lookups need them, so the second pull looks up and
    // the third (grace 0, two consecutive complete IdP pulls) opens.
    for _ in 0..3 {
        let o = env.pull().await;
        assert!(o.pull.all_complete(), "{:?}", o.pull.sources);
    }
    let open = open_idp(&env);
    let want: Labelled = (
        "idp_disabled_scim_active".into(),
        "critical".into(),
        vec!["R12".into()],
        vec!["A12".into()],
        vec!["E2".into()],
    );
    assert!(open.contains(&want), "{open:#?}");
    assert!(
        !open
            .iter()
            .any(|f| f.0 == "orphan_scim_record" && f.2 == ["R12"]),
        "{open:#?}"
    );
    let r12 = id(&env, "R12");
    let f = with_status(&env, Status::Open)
        .into_iter()
        .find(|f| {
            f.kind.as_str() == "idp_disabled_scim_active"
                && f.scim_users.iter().any(|u| u.scim_id == r12)
        })
        .unwrap();
    let day = deleted_at.format("%Y-%m-%d").to_string();
    assert!(
        f.summary.contains(&e2) && f.summary.contains("deleted on") && f.summary.contains(&day),
        "{}",
        f.summary
    );
    let looked_up = env
        .sim
        .requests()
        .iter()
        .any(|r| r.path.ends_with(&format!("/directory/deletedItems/{e2}")) && r.status == 200);
    assert!(looked_up, "no deletedItems read for E2");
}

/// An `externalId` Entra does not know at all is an orphan, high while its account has access; a
/// non-GUID `externalId` is never looked up (Graph answers 400 for it).
#[tokio::test]
async fn only_an_id_entra_never_had_is_an_orphan_and_non_guids_are_not_looked_up() {
    let env = idp_env(0).await;
    let dir = d1(&env);
    env.sim.update_world(|w| {
        let d = w.directory_mut(&dir).unwrap();
        // A second active record, linked to nothing, whose externalId is a GUID Entra never had.
        let mut odd = SimUser::new(
            "scim-odd-0001",
            "odd@example.com",
            "Odd",
            "Number",
            Utc::now(),
        );
        odd.external_id = Some(GUID.into());
        d.users.push(odd);
    });
    for _ in 0..3 {
        let o = env.pull().await;
        assert!(o.pull.all_complete(), "{:?}", o.pull.sources);
    }
    let open = open_idp(&env);
    let want: Labelled = (
        "orphan_scim_record".into(),
        "high".into(),
        vec!["R19".into()],
        vec!["A19".into()],
        vec![],
    );
    assert!(open.contains(&want), "{open:#?}");
    // The unlinked odd record has no account with access: medium.
    assert!(
        open.iter().any(|f| f.0 == "orphan_scim_record"
            && f.1 == "medium"
            && f.2 == ["unlabelled:scim-odd-0001"]),
        "{open:#?}"
    );
    let requests = env.sim.requests();
    for path in [
        format!("/users/{GUID}"),
        format!("/directory/deletedItems/{GUID}"),
    ] {
        assert!(
            requests
                .iter()
                .any(|r| r.path.ends_with(&path) && r.status == 404),
            "{path} was not looked up"
        );
    }
    // R19's externalId (`e-1900`) is no GUID: never looked up.
    assert!(
        !requests.iter().any(|r| r.path.contains("e-1900")),
        "a non-GUID externalId was looked up"
    );
}

const GUID: &str = "0b5c2d9e-1111-4222-8333-944455556666";

/// Issue 20, item 4: a stale second record sharing E6's userName is no IdP kind's — E6's
/// `provisioning_error` lists only R16 (joined by `externalId`), the stale record is
/// `duplicate_email`'s — so deleting it (the documented fix) leaves the IdP finding as it was.
#[tokio::test]
async fn a_stale_second_record_is_duplicate_emails_not_the_idp_findings() {
    let env = idp_env(0).await;
    let dir = d1(&env);
    let r16 = id(&env, "R16");
    let ned = env
        .sim
        .world()
        .directory(&dir)
        .unwrap()
        .users
        .iter()
        .find(|u| u.id == r16)
        .map(|u| u.user_name.clone())
        .unwrap();
    env.sim.update_world(|w| {
        let mut stale = SimUser::new("scim-stale-0001", &ned, "Ned", "Old", Utc::now());
        stale.external_id = Some(GUID.into());
        w.directory_mut(&dir).unwrap().users.push(stale);
    });
    for _ in 0..2 {
        let o = env.pull().await;
        assert!(o.pull.all_complete(), "{:?}", o.pull.sources);
    }
    let open = with_status(&env, Status::Open);
    let error_of_e6: Vec<_> = open
        .iter()
        .filter(|f| {
            f.kind.as_str() == "provisioning_error" && f.scim_users.iter().any(|u| u.scim_id == r16)
        })
        .collect();
    assert_eq!(error_of_e6.len(), 1);
    let before = error_of_e6[0].clone();
    assert_eq!(before.scim_users.len(), 1, "{:?}", before.scim_users);
    assert!(
        !open.iter().any(|f| f.kind.is_idp()
            && f.scim_users.iter().any(|u| u.scim_id == "scim-stale-0001")),
        "the stale record is in an IdP finding"
    );
    assert!(
        open.iter().any(|f| f.kind.as_str() == "duplicate_email"
            && f.scim_users.iter().any(|u| u.scim_id == "scim-stale-0001")),
        "the stale record is duplicate_email's"
    );
    // The documented fix: delete the stale record. The IdP finding is the same, still open.
    env.sim.update_world(|w| {
        w.directory_mut(&dir)
            .unwrap()
            .users
            .retain(|u| u.id != "scim-stale-0001");
    });
    env.pull().await;
    let after = with_status(&env, Status::Open)
        .into_iter()
        .find(|f| f.id == before.id)
        .expect("the IdP finding resolved with the stale record");
    assert_eq!(after.seen_count, before.seen_count + 1);
}

/// The usual leaver: disabled, then deleted. The critical finding is one finding throughout (it
/// lists the IdP user in both states), never resolved and re-opened after the grace span.
#[tokio::test]
async fn disabled_then_deleted_is_one_finding() {
    let env = idp_env(0).await;
    env.pull().await;
    env.pull().await;
    let (dir, e2) = (d1(&env), id(&env, "E2"));
    let before = with_status(&env, Status::Open)
        .into_iter()
        .find(|f| {
            f.kind.as_str() == "idp_disabled_scim_active" && f.idp_users.iter().any(|u| u.id == e2)
        })
        .unwrap();
    assert!(
        env.sim
            .update_entra(&dir, |t| assert!(t.soft_delete(&e2, Utc::now())))
    );
    env.pull().await;
    let after = with_status(&env, Status::Open)
        .into_iter()
        .find(|f| f.id == before.id)
        .expect("the leaver's finding resolved when the user was deleted");
    assert_eq!(after.seen_count, before.seen_count + 1);
    assert!(after.summary.contains("deleted"), "{}", after.summary);
    assert!(idp_only(labelled(&env, &with_status(&env, Status::Resolved))).is_empty());
}
