//! Faults of the Graph side: a token refused mid-pull, 429 bursts with and without
//! `Retry-After`, the reports window, a group deleted mid-pull, a provisioning log refused with
//! 403.

use std::time::Duration;

use chrono::Utc;
use scimdrift::cycle;
use scimdrift::findings::{FindingView, Status};
use scimdrift::metrics::Metrics;
use scimdrift::sim::{Api, SimOptions, SimProvisioningEvent, World};

use super::*;

fn token_requests(env: &Env) -> usize {
    env.sim
        .requests()
        .iter()
        .filter(|r| r.api == Some(Api::EntraToken))
        .count()
}

/// The token is refused (401, revoked) after N Graph requests, wherever N falls in the pull (the
/// service principal, the concurrent reads, the user look-ups): the pull stays complete with
/// exactly one more token request.
#[tokio::test]
async fn a_token_refused_mid_pull_is_fetched_again_once() {
    let env = idp_env(0).await;
    let graph = |env: &Env| {
        env.sim
            .requests()
            .iter()
            .filter(|r| matches!(r.api, Some(Api::Graph | Api::GraphReports)))
            .count() as u32
    };
    env.pull().await;
    let per_pull = graph(&env);
    assert!(per_pull > 8, "{per_pull} Graph requests");
    // Four pulls in all, one log read retried at most: the reports window (5 / 10 s) is not
    // what this test is about.
    for n in [0, per_pull / 2, per_pull - 1] {
        env.sim
            .set_entra_options(|o| o.expire_token_after = Some(n));
        let (tokens, refused) = (
            token_requests(&env),
            env.sim
                .requests()
                .iter()
                .filter(|r| r.status == 401)
                .count(),
        );
        let o = env.pull().await;
        assert!(o.pull.all_complete(), "after {n}: {:?}", o.pull.sources);
        assert_eq!(token_requests(&env) - tokens, 2, "after {n} requests");
        let now_refused = env
            .sim
            .requests()
            .iter()
            .filter(|r| r.status == 401)
            .count();
        assert!(now_refused > refused, "the knob fired after {n}");
    }
}

fn rate_limited(o: &cycle::Outcome, api: &'static str) -> u64 {
    o.pull
        .api_retries
        .get(&(api, "rate_limited"))
        .copied()
        .unwrap_or(0)
}

async fn burst(retry_after: Option<u64>) {
    let env = idp_env(0).await;
    env.sim.set_entra_options(|o| {
        o.throttle_burst = 2;
        o.retry_after_seconds = retry_after;
    });
    let metrics = Metrics::new();
    let o = cycle::run(&env.settings, &metrics).await.unwrap();
    assert!(o.pull.all_complete(), "{:?}", o.pull.sources);
    // The service principal is the first Graph read: it takes the whole burst.
    assert_eq!(rate_limited(&o, "graph"), 2);
    assert!(o.pull.retries >= 2);
    let text = metrics.render();
    assert!(
        text.contains("scimdrift_api_retries_total{api=\"graph\",reason=\"rate_limited\"} 2"),
        "{text}"
    );
    let throttled = env
        .sim
        .requests()
        .iter()
        .filter(|r| r.status == 429)
        .count();
    assert_eq!(throttled, 2);
}

#[tokio::test]
async fn a_429_burst_with_retry_after_is_waited_out() {
    let started = std::time::Instant::now();
    burst(Some(1)).await;
    // Retry-After: 1 was honoured twice.
    assert!(started.elapsed() >= Duration::from_secs(2));
}

#[tokio::test]
async fn a_429_burst_without_retry_after_backs_off() {
    burst(None).await;
}

/// Provisioning logs over several pages, in two pulls in a row: the reports API never gets more
/// than 5 requests in any 10 s window (Graph's limit per app and tenant), pulls included.
#[tokio::test]
async fn the_reports_window_holds_across_pages_and_pulls() {
    let mut options = SimOptions::default();
    options.entra.page_size_cap = Some(2);
    let env = idp_env_with(options, 0).await;
    // Two recent events: the first pull reads 5 pages, the second (from the last read on) 1.
    let (dir, e11) = (d1(&env), id(&env, "E11"));
    env.sim.update_entra(&dir, |t| {
        for m in 0..2 {
            let e = SimProvisioningEvent::success(
                t,
                "update",
                (&e11, "Tess Ruiz"),
                "",
                Utc::now() - chrono::Duration::minutes(m),
            );
            t.log(e);
        }
    });
    for _ in 0..2 {
        let o = env.pull().await;
        assert!(o.pull.all_complete(), "{:?}", o.pull.sources);
        assert_eq!(rate_limited(&o, "graph_reports"), 0);
    }
    let arrivals = env.sim.entra_arrivals(Api::GraphReports);
    assert!(arrivals.len() >= 6, "{} log requests", arrivals.len());
    for (i, t) in arrivals.iter().enumerate() {
        let within = arrivals[i..]
            .iter()
            .take_while(|u| u.duration_since(*t) < Duration::from_secs(10))
            .count();
        assert!(within <= 5, "{within} log requests within 10 s");
    }
}

/// The IdP findings as the store has them, by id (JSON: every field, `seen_count` included).
fn idp_views(env: &Env) -> Vec<serde_json::Value> {
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

/// An assigned group answering 404 mid-pull: the IdP source is incomplete, the snapshot is not;
/// the Atlassian findings are exactly those without an IdP; the open IdP findings stay as they
/// were; nothing of the IdP side is written; `once` exits 1 and names the source.
#[tokio::test]
async fn a_group_deleted_mid_pull_leaves_the_idp_side_as_it_was() {
    let env = idp_env(0).await;
    env.pull().await;
    env.pull().await;
    assert_eq!(open_idp(&env), expected_idp());
    let before = idp_views(&env);
    let state = "SELECT last_complete_snapshot FROM idp_state";
    let last_complete = count(&env, state);

    let main = group_id(&env, "Atlassian Users");
    env.sim
        .set_entra_options(|o| o.deleted_groups = vec![main.clone()]);
    let (code, once) = once_json(&env).await;
    assert_eq!(code, Some(1), "{once:#}");
    assert_eq!(once["complete"], true);
    assert_eq!(once["all_sources_complete"], false);
    let idp = json_source(&once, "idp:entra");
    assert_eq!(idp["complete"], false);
    let error = idp["error"].as_str().unwrap();
    assert!(error.contains(&main) && error.contains("404"), "{error}");
    assert_eq!(json_source(&once, "scim:entra")["complete"], true);
    let snapshot = once["snapshot_id"].as_i64().unwrap();

    assert_eq!(idp_views(&env), before);
    assert_eq!(count(&env, state), last_complete);
    for sql in [
        "SELECT COUNT(*) FROM idp_user_versions WHERE valid_from = ?1 OR valid_to = ?1",
        "SELECT COUNT(*) FROM idp_side_versions WHERE valid_from = ?1 OR valid_to = ?1",
        "SELECT COUNT(*) FROM idp_events WHERE snapshot_id = ?1",
    ] {
        assert_eq!(count(&env, &sql.replace("?1", &snapshot.to_string())), 0);
    }
    // The Atlassian findings are those of the same world without an IdP.
    let plain = Env::start(
        World::idp_scenarios_with_healthy(30, 5, Utc::now()),
        SimOptions::default(),
    )
    .await;
    plain.pull().await;
    let without = atlassian_only(labelled(&plain, &with_status(&plain, Status::Open)));
    let with = atlassian_only(labelled(&env, &with_status(&env, Status::Open)));
    assert!(!with.is_empty());
    assert_eq!(with, without);
}

/// The provisioning log refused with 403 (an unlicensed tenant): the pull is complete, log facts
/// unknown (and `once` says so); `provisioning_error` stays as it was, the other kinds are still
/// evaluated; once the log is readable again, it is evaluated again.
#[tokio::test]
async fn a_forbidden_log_leaves_provisioning_errors_as_they_were() {
    let env = idp_env(0).await;
    env.pull().await;
    env.pull().await;
    let errors = |env: &Env| -> Vec<serde_json::Value> {
        idp_views(env)
            .into_iter()
            .filter(|f| f["kind"] == "provisioning_error")
            .collect()
    };
    let before = errors(&env);
    assert_eq!(before.len(), 2);
    // What explains E5's assigned_not_provisioned (its failed push) is a log fact too.
    let explained = |env: &Env| -> Vec<serde_json::Value> {
        idp_views(env)
            .into_iter()
            .filter(|f| f["kind"] == "assigned_not_provisioned")
            .map(|f| f["provisioning"].clone())
            .collect()
    };
    let explanations = explained(&env);
    assert!(explanations.iter().any(|p| p["status"] == "failure"));
    // E6's push now succeeds, and E2 is enabled again.
    let (dir, e2, e6, r16) = (d1(&env), id(&env, "E2"), id(&env, "E6"), id(&env, "R16"));
    env.sim.update_entra(&dir, |t| {
        let e = SimProvisioningEvent::success(t, "update", (&e6, "Ned Kerr"), &r16, Utc::now());
        t.log(e);
        t.user_mut(&e2).unwrap().account_enabled = Some(true);
    });
    env.sim.set_entra_options(|o| o.logs_forbidden = true);

    let (code, once) = once_json(&env).await;
    assert_eq!(code, Some(0), "{once:#}");
    assert_eq!(once["all_sources_complete"], true);
    let idp = json_source(&once, "idp:entra");
    assert_eq!(idp["complete"], true);
    assert_eq!(idp["logs"]["state"], "unknown", "{idp:#}");
    assert!(
        idp["logs"]["reason"]
            .as_str()
            .unwrap()
            .contains("AuditLog.Read.All"),
        "{idp:#}"
    );
    assert_eq!(errors(&env), before);
    assert_eq!(explained(&env), explanations);
    let resolved = idp_only(labelled(&env, &with_status(&env, Status::Resolved)));
    assert_eq!(
        resolved,
        set(&[(
            "idp_disabled_scim_active",
            "critical",
            &["R12"],
            &["A12"],
            &["E2"]
        )])
    );
    let text = env.cli(&["once"]).await;
    let stdout = String::from_utf8_lossy(&text.stdout);
    assert!(
        stdout.contains("provisioning log unread") && stdout.contains("AuditLog.Read.All"),
        "{stdout}"
    );
    assert_eq!(errors(&env), before);

    // Readable again: E6's error is resolved by its newer success.
    env.sim.set_entra_options(|o| o.logs_forbidden = false);
    let (code, once) = once_json(&env).await;
    assert_eq!(code, Some(0));
    assert_eq!(json_source(&once, "idp:entra")["logs"]["state"], "known");
    let resolved = idp_only(labelled(&env, &with_status(&env, Status::Resolved)));
    assert!(
        resolved.contains(
            &set(&[("provisioning_error", "high", &["R16"], &["A16"], &["E6"])])
                .into_iter()
                .next()
                .unwrap()
        )
    );
}

/// Issue 20, items 6 and 7: what the accidental-deletions threshold holds (the last run's
/// `countEscrowed`) and how many users the log's latest events skipped show in the report and the
/// metrics before the job is quarantined for them; a provisioning failure whose code only ends in
/// `EntryConflict` (an app's own prefix) is still paired with its email conflict.
#[tokio::test]
async fn held_deletions_skips_and_a_prefixed_conflict_code_are_shown() {
    let env = idp_env(0).await;
    let (dir, e11, e5) = (d1(&env), id(&env, "E11"), id(&env, "E5"));
    assert!(env.sim.update_entra(&dir, |t| {
        let job = &mut t.app_mut().unwrap().jobs[0];
        job.last_execution.as_mut().unwrap().count_escrowed = 12;
        let mut skipped =
            SimProvisioningEvent::success(t, "update", (&e11, "Tess Ruiz"), "", Utc::now());
        skipped.status = "skipped".into();
        t.log(skipped);
        let conflict = SimProvisioningEvent::success(t, "create", (&e5, "Mo"), "", Utc::now())
            .failed("ContosoEntryConflict", "Conflict.");
        t.log(conflict);
    }));
    let metrics = Metrics::new();
    let o = cycle::run(&env.settings, &metrics).await.unwrap();
    assert!(o.pull.all_complete(), "{:?}", o.pull.sources);
    let text = metrics.render();
    assert!(
        text.contains("scimdrift_idp_job_escrowed{directory=\"entra\"} 12"),
        "{text}"
    );
    let out = env.cli(&["report", "--format", "json"]).await;
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let h = &report["idp"][0];
    assert_eq!(h["job"]["escrowed"], 12, "{h:#}");
    assert_eq!(h["skipped_users"], 1, "{h:#}");
    let md = env.cli(&["report", "--format", "markdown"]).await;
    let md = String::from_utf8_lossy(&md.stdout);
    assert!(
        md.contains("12 change(s) held") && md.contains("1 user(s) skipped"),
        "{md}"
    );
    // E5's latest failure has only the prefixed code: still the IdP's view of an email conflict.
    env.pull().await;
    let e5_error = with_status(&env, Status::Open)
        .into_iter()
        .find(|f| f.kind.as_str() == "provisioning_error" && f.idp_users.iter().any(|u| u.id == e5))
        .unwrap();
    assert!(
        e5_error.summary.contains("email_conflict"),
        "{}",
        e5_error.summary
    );
}
