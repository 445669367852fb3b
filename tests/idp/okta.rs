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
        ("group_not_provisioned", "high", &[], &[], &["group:OG1"]),
        (
            "group_membership_missing",
            "medium",
            &["R27"],
            &["A27"],
            &["O5", "group:OG2"],
        ),
        (
            "group_membership_extra",
            "high",
            &["R26"],
            &["A26"],
            &["O4", "group:OG2"],
        ),
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
                || f.groups.iter().any(|g| g.directory_id == d2)
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

/// The Okta source of an outcome.
fn okta_source(o: &scimdrift::cycle::Outcome) -> scimdrift::model::SourceStatus {
    o.pull
        .sources
        .iter()
        .find(|s| s.source == "idp:okta")
        .cloned()
        .expect("the Okta source is pulled")
}

/// Replaces the service app credential of the Okta section with an SSWS API token file.
fn use_api_token(env: &mut Env) -> String {
    let token = env.sim.world().okta[0].api_token.clone();
    let path = env.dir.path().join("okta-token");
    std::fs::write(&path, format!("{token}\n")).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    rewrite_config(env, |text| {
        let kept: Vec<String> = text
            .lines()
            .filter(|l| {
                !(l.starts_with("client_id = \"0oa")
                    || l.starts_with("private_key_file = ")
                    || l.starts_with("key_id = "))
            })
            .map(str::to_string)
            .collect();
        kept.join("\n").replacen(
            "kind = \"okta\"\n",
            &format!(
                "kind = \"okta\"\napi_token_file = {:?}\n",
                path.display().to_string()
            ),
            1,
        ) + "\n"
    });
    token
}

#[tokio::test]
async fn an_api_token_pulls_the_same_side() {
    let mut env = okta_env(SimOptions::default()).await;
    use_api_token(&mut env);
    for _ in 0..3 {
        let o = env.pull().await;
        assert!(okta_source(&o).complete, "{:?}", okta_source(&o).error);
    }
    assert_eq!(open_okta(&env), expected_okta());
    assert!(
        env.sim.okta_issued_tokens().is_empty(),
        "SSWS needs no token"
    );
}

#[tokio::test]
async fn a_service_app_requiring_dpop_is_refused_with_how_to_turn_it_off() {
    let env = okta_env(SimOptions::default()).await;
    let dir = id(&env, "D2");
    assert!(
        env.sim
            .update_okta(&dir, |o| o.service_app.dpop_required = true)
    );
    let o = env.pull().await;
    let s = okta_source(&o);
    assert!(!s.complete);
    let error = s.error.unwrap();
    assert!(
        error.contains(
            "clear 'Require Demonstrating Proof of Possession (DPoP) header in token requests'"
        ),
        "{error}"
    );
    assert!(error.contains("invalid_dpop_proof"), "{error}");
    // check-config --online says the same, and exits non-zero.
    let out = cli_env(&env, &["check-config", "--online"], &[]).await;
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains("Require Demonstrating Proof of Possession"),
        "{text}"
    );
    // No finding comes from an incomplete IdP pull.
    env.pull().await;
    assert!(open_okta(&env).is_empty());
}

#[tokio::test]
async fn rate_and_concurrency_429s_are_waited_out() {
    let mut options = SimOptions::default();
    options.okta.rate_limit_every = Some(11);
    options.okta.concurrency_limit_every = Some(7);
    options.okta.rate_limit_reset = 0;
    options.okta.page_cap = 4;
    let env = okta_env(options).await;
    let mut retried = 0;
    for _ in 0..3 {
        let o = env.pull().await;
        assert!(okta_source(&o).complete, "{:?}", okta_source(&o).error);
        retried += o
            .pull
            .api_retries
            .iter()
            .filter(|((api, reason), _)| api.starts_with("okta") && *reason == "rate_limited")
            .map(|(_, n)| n)
            .sum::<u64>();
    }
    assert!(retried >= 3, "{retried} rate-limited retries");
    assert_eq!(open_okta(&env), expected_okta());
}

#[tokio::test]
async fn a_forbidden_log_leaves_log_facts_unknown_and_the_push_state_decides() {
    let mut options = SimOptions::default();
    options.okta.logs_forbidden = true;
    let env = okta_env(options).await;
    for _ in 0..3 {
        let o = env.pull().await;
        let s = okta_source(&o);
        assert!(s.complete, "{:?}", s.error);
        assert!(
            matches!(&s.logs, Some(scimdrift::model::idp::LogFacts::Unknown { reason }) if reason.contains("okta.logs.read")),
            "{:?}",
            s.logs
        );
    }
    // syncState ERROR decides the finding; nothing explains it.
    assert_eq!(open_okta(&env), expected_okta());
    let o4 = id(&env, "O4");
    let all = env.store().findings().unwrap();
    let f = all
        .iter()
        .find(|f| f.kind.as_str() == "provisioning_error" && f.idp_users.iter().any(|u| u.id == o4))
        .unwrap();
    assert!(f.provisioning.is_none());
    assert!(
        f.summary.contains("the log does not say why"),
        "{}",
        f.summary
    );
}

#[tokio::test]
async fn events_naming_only_the_app_user_are_attributed_by_its_username() {
    let mut options = SimOptions::default();
    options.okta.events_app_user_only = true;
    let env = okta_env(options).await;
    for _ in 0..3 {
        env.pull().await;
    }
    let o4 = id(&env, "O4");
    let all = env.store().findings().unwrap();
    let f = all
        .iter()
        .find(|f| f.kind.as_str() == "provisioning_error" && f.idp_users.iter().any(|u| u.id == o4))
        .unwrap();
    let p = f
        .provisioning
        .as_ref()
        .expect("attributed by the AppUser's alternateId");
    assert_eq!(
        p.error_code.as_deref(),
        Some("application.provision.user.push_profile")
    );
}

#[tokio::test]
async fn an_unreadable_sync_state_keeps_the_push_error_as_it_was() {
    let env = okta_env(SimOptions::default()).await;
    for _ in 0..3 {
        env.pull().await;
    }
    assert_eq!(open_okta(&env), expected_okta());
    env.sim.set_okta_options(|o| o.omit_sync_state = true);
    // O4's push is fixed meanwhile: with syncState unreadable, that is not seen.
    let dir = id(&env, "D2");
    let o4 = id(&env, "O4");
    env.sim.update_okta(&dir, |o| {
        o.app_user_mut(&o4).unwrap().sync_state = Some("SYNCHRONIZED".into());
    });
    for _ in 0..2 {
        let o = env.pull().await;
        let s = okta_source(&o);
        assert!(s.complete);
        assert!(
            s.data_quality.notes.iter().any(|n| n.field == "syncState"),
            "{:?}",
            s.data_quality
        );
    }
    assert_eq!(
        open_okta(&env),
        expected_okta(),
        "unknown is never evidence"
    );
    // Readable again, it resolves.
    env.sim.set_okta_options(|o| o.omit_sync_state = false);
    env.pull().await;
    let mut want = expected_okta();
    want.retain(|f| f.0 != "provisioning_error");
    assert_eq!(open_okta(&env), want);
}

#[tokio::test]
async fn an_inactive_app_or_create_users_off_is_stalled_and_unknown_features_decide_nothing() {
    let env = okta_env(SimOptions::default()).await;
    let dir = id(&env, "D2");
    env.sim.update_okta(&dir, |o| {
        o.app.features.retain(|f| f != "PUSH_NEW_USERS");
    });
    for _ in 0..2 {
        env.pull().await;
    }
    let stalled = |env: &Env| -> Vec<FindingView> {
        with_status(env, Status::Open)
            .into_iter()
            .filter(|f| {
                f.kind.as_str() == "provisioning_stalled" && f.summary.contains("Atlassian Cloud")
            })
            .collect()
    };
    let found = stalled(&env);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].summary.contains("PUSH_NEW_USERS is off"),
        "{}",
        found[0].summary
    );
    env.sim.update_okta(&dir, |o| {
        o.app.features.push("PUSH_NEW_USERS".into());
        o.app.status = "INACTIVE".into();
    });
    for _ in 0..2 {
        env.pull().await;
    }
    let found = stalled(&env);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].summary.contains("status INACTIVE"),
        "{}",
        found[0].summary
    );
    // Active again, but its features unreadable: whether it creates users is unknown, so the
    // finding keeps its state; readable, it resolves.
    env.sim
        .update_okta(&dir, |o| o.app.status = "ACTIVE".into());
    env.sim.set_okta_options(|o| o.omit_app_features = true);
    env.pull().await;
    assert_eq!(stalled(&env).len(), 1, "unknown is never evidence");
    env.sim.set_okta_options(|o| o.omit_app_features = false);
    env.pull().await;
    assert!(stalled(&env).is_empty());
}

#[tokio::test]
async fn the_report_shows_the_apps_health_and_okta_fixes_in_the_admin_consoles_words() {
    let env = okta_env(SimOptions::default()).await;
    let dir = id(&env, "D2");
    env.sim.update_okta(&dir, |o| {
        o.app.features.retain(|f| f != "PUSH_USER_DEACTIVATION")
    });
    for _ in 0..3 {
        env.pull().await;
    }
    let out = cli_env(&env, &["report", "--format", "json"], &[]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let okta = v["idp"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["idp"] == "okta")
        .expect("Okta's health");
    assert_eq!(okta["status"], "ACTIVE");
    assert_eq!(okta["app"]["label"], "Atlassian Cloud");
    let warnings = okta["warnings"].to_string();
    assert!(
        warnings.contains("Deactivate Users (PUSH_USER_DEACTIVATION) is off: leavers keep access"),
        "{warnings}"
    );
    // O2's finding: Okta console steps, no Graph request, no Force Sync.
    let o2 = id(&env, "O2");
    let finding = v["people"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["findings"].as_array().unwrap().iter())
        .find(|f| f["kind"] == "idp_disabled_scim_active" && f.to_string().contains(&o2))
        .expect("O2's finding in the report");
    let steps = finding["portal_steps"].to_string();
    assert!(steps.contains("Okta Admin Console"), "{steps}");
    assert!(steps.contains("is suspended"), "{steps}");
    assert!(
        finding["idp_requests"]
            .as_array()
            .is_none_or(|r| r.is_empty()),
        "{finding}"
    );
    let md = cli_env(&env, &["report", "--format", "markdown"], &[]).await;
    let md = String::from_utf8_lossy(&md.stdout);
    assert!(
        md.contains("Deactivate Users (PUSH\\_USER\\_DEACTIVATION) is off")
            || md.contains("Deactivate Users (PUSH_USER_DEACTIVATION) is off"),
        "{md}"
    );
    assert!(!md.to_lowercase().contains("force sync") || md.contains("never the app's Force Sync"));
}

#[tokio::test]
async fn the_apps_status_and_push_features_are_exported() {
    let env = okta_env(SimOptions::default()).await;
    let dir = id(&env, "D2");
    env.sim.update_okta(&dir, |o| {
        o.app.features.retain(|f| f != "PUSH_USER_DEACTIVATION")
    });
    let metrics = scimdrift::metrics::Metrics::new();
    scimdrift::cycle::run(&env.settings, &metrics)
        .await
        .unwrap();
    let text = metrics.render();
    for line in [
        "scimdrift_idp_app_status{directory=\"okta\",status=\"ACTIVE\"} 1",
        "scimdrift_idp_app_status{directory=\"okta\",status=\"INACTIVE\"} 0",
        "scimdrift_idp_app_feature{directory=\"okta\",feature=\"PUSH_NEW_USERS\"} 1",
        "scimdrift_idp_app_feature{directory=\"okta\",feature=\"PUSH_USER_DEACTIVATION\"} 0",
        "scimdrift_api_requests_total{api=\"okta\",code_class=\"2xx\"}",
    ] {
        assert!(text.contains(line), "{line} missing:\n{text}");
    }
    // Okta has no job: no job status series for its directory.
    assert!(
        !text.contains("scimdrift_idp_job_status{directory=\"okta\""),
        "{text}"
    );
    // Features unreadable: their series go (unknown is no evidence either way).
    env.sim.set_okta_options(|o| o.omit_app_features = true);
    scimdrift::cycle::run(&env.settings, &metrics)
        .await
        .unwrap();
    let text = metrics.render();
    assert!(
        !text.contains("scimdrift_idp_app_feature{directory=\"okta\""),
        "{text}"
    );
}

/// Every TEXT and BLOB cell of every table of the store.
fn cells(env: &Env) -> Vec<(String, String)> {
    let conn = rusqlite::Connection::open(env.db_path()).unwrap();
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut out = Vec::new();
    for table in &tables {
        let mut stmt = conn.prepare(&format!("SELECT * FROM \"{table}\"")).unwrap();
        let columns = stmt.column_count();
        let mut rows = stmt.query([]).unwrap();
        while let Some(row) = rows.next().unwrap() {
            for i in 0..columns {
                let text = match row.get_ref(i).unwrap() {
                    rusqlite::types::ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
                    rusqlite::types::ValueRef::Blob(b) => String::from_utf8_lossy(b).into_owned(),
                    _ => continue,
                };
                out.push((format!("table {table} column {i}"), text));
            }
        }
    }
    out
}

/// No SSWS token, private key, client assertion or access token in any output, log line, metric,
/// report or database cell — including when Okta refuses them.
#[tokio::test]
async fn no_okta_credential_reaches_logs_outputs_metrics_reports_or_the_database() {
    let mut env = okta_env(SimOptions::default()).await;
    let debug = [("RUST_LOG", "debug")];
    let mut captured: Vec<(String, String)> = Vec::new();
    let mut keep = |what: &str, out: &std::process::Output| {
        captured.push((
            format!("{what} stdout"),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        ));
        captured.push((
            format!("{what} stderr"),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ));
    };
    // The service app: three pulls (findings open), the report, the findings.
    for _ in 0..3 {
        let out = cli_env(&env, &["once", "--format", "json"], &debug).await;
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        keep("once (service app)", &out);
    }
    for args in [
        &["findings", "--format", "json", "--status", "all"][..],
        &["report", "--format", "json"][..],
        &["report", "--format", "html"][..],
        &["check-config", "--online"][..],
    ] {
        let out = cli_env(&env, args, &debug).await;
        keep(&args.join(" "), &out);
    }
    // Refused: DPoP required, then a revoked token mid-pull.
    let dir = id(&env, "D2");
    env.sim
        .update_okta(&dir, |o| o.service_app.dpop_required = true);
    let out = cli_env(&env, &["once", "--format", "json"], &debug).await;
    assert_eq!(out.status.code(), Some(1));
    keep("once (dpop)", &out);
    env.sim
        .update_okta(&dir, |o| o.service_app.dpop_required = false);
    env.sim.set_okta_options(|o| o.revoke_first_token = true);
    let out = cli_env(&env, &["once", "--format", "json"], &debug).await;
    assert_eq!(out.status.code(), Some(0), "one new token and one retry");
    keep("once (revoked)", &out);
    // An SSWS token, and a wrong one.
    let token = use_api_token(&mut env);
    let out = cli_env(&env, &["once", "--format", "json"], &debug).await;
    assert_eq!(out.status.code(), Some(0));
    keep("once (ssws)", &out);
    let metrics = scimdrift::metrics::Metrics::new();
    scimdrift::cycle::run(&env.settings, &metrics)
        .await
        .unwrap();
    let rendered = metrics.render();
    env.sim.update_okta(&dir, |o| {
        o.api_token = "00sim-rotated-token-value-000000000".into()
    });
    let out = cli_env(&env, &["once", "--format", "json"], &debug).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("E0000011"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    keep("once (wrong ssws)", &out);
    captured.push(("metrics".into(), rendered));
    captured.extend(cells(&env));

    let tokens = env.sim.okta_issued_tokens();
    let assertions = env.sim.okta_received_assertions();
    assert!(tokens.len() >= 2, "{} tokens", tokens.len());
    assert!(assertions.len() >= 3);
    let mut secrets = vec![token];
    secrets.extend(tokens);
    for a in &assertions {
        secrets.push(a.clone());
        secrets.push(a.rsplit('.').next().unwrap().to_string());
    }
    secrets.extend(
        scimdrift::sim::ENTRA_TEST_KEY_PEM
            .lines()
            .filter(|l| !l.starts_with("-----") && l.len() > 20)
            .map(str::to_string),
    );
    assert!(
        captured
            .iter()
            .any(|(w, t)| w.ends_with("stderr") && t.contains("DEBUG"))
    );
    assert!(
        captured
            .iter()
            .any(|(_, t)| t.contains("idp_disabled_scim_active"))
    );
    for (what, text) in &captured {
        for s in &secrets {
            assert!(
                !text.contains(s.as_str()),
                "a secret ({} chars) appears in {what}",
                s.len()
            );
        }
    }
}

/// The group findings of the Okta scenarios.
fn okta_group_findings() -> BTreeSet<Labelled> {
    expected_okta()
        .into_iter()
        .filter(|f| f.0.starts_with("group_"))
        .collect()
}

#[tokio::test]
async fn unreadable_group_pushes_leave_the_group_findings_as_they_were() {
    use scimdrift::sim::{Api, FaultKind, FaultRule, Faults};
    let env = okta_env(SimOptions::default()).await;
    for _ in 0..3 {
        env.pull().await;
    }
    assert_eq!(open_okta(&env), expected_okta());
    // The mappings answer 403 from now on, and meanwhile the world is fixed: not seen.
    env.sim
        .set_faults(Faults::rules([FaultRule::new(FaultKind::Status(403))
            .on(Api::Okta)
            .path_contains("group-push")]));
    let dir = id(&env, "D2");
    env.sim.update_okta(&dir, |o| o.push_mappings.clear());
    for _ in 0..2 {
        let o = env.pull().await;
        let s = okta_source(&o);
        assert!(
            s.complete,
            "the group facts are a sub-source: {:?}",
            s.error
        );
    }
    assert_eq!(
        open_okta(&env),
        expected_okta(),
        "unknown is never evidence"
    );
    let out = cli_env(&env, &["report", "--format", "json"], &[]).await;
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        report.contains("could not be read by the last IdP pull"),
        "{report}"
    );
    // Readable again, and no group pushed: the group findings resolve.
    env.sim.set_faults(Faults::default());
    env.pull().await;
    let open = open_okta(&env);
    assert!(
        okta_group_findings().iter().all(|f| !open.contains(f)),
        "{open:#?}"
    );
}

#[tokio::test]
async fn a_pushed_group_gone_mid_pull_decides_nothing_about_itself() {
    use scimdrift::sim::{Api, FaultKind, FaultRule, Faults};
    let env = okta_env(SimOptions::default()).await;
    for _ in 0..3 {
        env.pull().await;
    }
    let og2 = id(&env, "OG2");
    env.sim
        .set_faults(Faults::rules([FaultRule::new(FaultKind::Status(404))
            .on(Api::Okta)
            .path_contains(format!("/groups/{og2}"))]));
    // Meanwhile O5 leaves OG2 and O4 joins it: unseen while OG2 answers 404.
    let dir = id(&env, "D2");
    let o4 = id(&env, "O4");
    env.sim.update_okta(&dir, |o| {
        let g = o.groups.iter_mut().find(|g| g.id == og2).unwrap();
        g.members = vec![o4.clone()];
    });
    for _ in 0..2 {
        let o = env.pull().await;
        assert!(okta_source(&o).complete);
    }
    assert_eq!(open_okta(&env), expected_okta());
    env.sim.set_faults(Faults::default());
    env.pull().await;
    let open = open_okta(&env);
    let og2_findings: Vec<_> = open
        .iter()
        .filter(|f| f.4.iter().any(|x| x == "group:OG2"))
        .collect();
    assert!(og2_findings.is_empty(), "{og2_findings:#?}");
}

/// An `externalId` Okta resolves as a login short name answers with another user's id: that is
/// not the record's user (an orphan stays an orphan, and no user is listed twice); an `externalId`
/// that is no path segment (`.`) is never sent.
#[tokio::test]
async fn a_lookup_answers_only_for_the_id_asked_and_hostile_ids_are_never_sent() {
    use scimdrift::sim::SimUser;
    let env = okta_env(SimOptions::default()).await;
    let r28 = id(&env, "R28");
    env.sim.update_world(|w| {
        let d2 = &mut w.directories[1];
        if let Some(u) = d2.user_mut(&r28) {
            u.external_id = Some("zed".into());
        }
        let mut dot = SimUser::new(
            "dot-record",
            "dot@example.com",
            "Dot",
            "Slash",
            chrono::Utc::now(),
        );
        dot.external_id = Some(".".into());
        d2.users.push(dot);
    });
    let before = env.sim.requests().len();
    for _ in 0..3 {
        let o = env.pull().await;
        assert!(o.pull.all_complete(), "{:?}", o.pull.sources);
        assert!(o.recorded.complete);
    }
    let sent: Vec<String> = env
        .sim
        .requests()
        .into_iter()
        .skip(before)
        .filter(|r| r.path.contains("/api/v1/users"))
        .map(|r| r.path)
        .collect();
    assert!(sent.iter().any(|p| p.ends_with("/users/zed")), "{sent:?}");
    assert!(
        !sent
            .iter()
            .any(|p| p.ends_with("/users/") || p.ends_with("/users")),
        "{sent:?}"
    );
    let open = open_okta(&env);
    assert!(
        open.contains(&(
            "orphan_scim_record".into(),
            "high".into(),
            vec!["R28".into()],
            vec!["A28".into()],
            vec![]
        )),
        "{open:#?}"
    );
    // O4 is one user, once.
    let o4 = id(&env, "O4");
    let store = env.store();
    let users = store.idp_users().unwrap();
    assert_eq!(users.iter().filter(|u| u.id == o4).count(), 1);
}

/// Okta failing to authenticate to Atlassian's SCIM API (the System Log's
/// `application.integration.authentication_failure`) is said in the report until a push succeeds
/// after it.
#[tokio::test]
async fn the_report_says_when_okta_cannot_authenticate_to_atlassian() {
    use scimdrift::sim::SimOktaEvent;
    let env = okta_env(SimOptions::default()).await;
    let dir = id(&env, "D2");
    let at = chrono::Utc::now() - chrono::Duration::minutes(30);
    env.sim.update_okta(&dir, |o| {
        o.events.push(SimOktaEvent {
            uuid: "auth-failure-1".into(),
            published: at,
            event_type: "application.integration.authentication_failure".into(),
            result: "FAILURE".into(),
            reason: Some("Authentication failed: HTTP 401 Unauthorized".into()),
            user_id: String::new(),
        });
        o.sort();
    });
    env.pull().await;
    let report = || async {
        let out = cli_env(&env, &["report", "--format", "json"], &[]).await;
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let v = report().await;
    let okta = v["idp"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["idp"] == "okta")
        .unwrap()
        .clone();
    let failure = okta["app"]["authentication_failure"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(failure.contains("HTTP 401 Unauthorized"), "{okta}");
    assert!(
        okta["warnings"]
            .to_string()
            .contains("could not authenticate to Atlassian"),
        "{okta}"
    );
    // A push that succeeds afterwards: the warning goes.
    let o4 = id(&env, "O4");
    env.sim.update_okta(&dir, |o| {
        o.events.push(SimOktaEvent {
            uuid: "push-after".into(),
            published: chrono::Utc::now() - chrono::Duration::minutes(1),
            event_type: "application.provision.user.push".into(),
            result: "SUCCESS".into(),
            reason: None,
            user_id: o4.clone(),
        });
        o.sort();
    });
    env.pull().await;
    let v = report().await;
    let okta = v["idp"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["idp"] == "okta")
        .unwrap()
        .clone();
    assert!(
        okta["app"].get("authentication_failure").is_none(),
        "{okta}"
    );
}

/// The simulator serves the app's assigned groups (idp-api.md §4), `limit` clamped to 20–200.
#[tokio::test]
async fn the_simulator_lists_the_apps_groups() {
    let env = okta_env(SimOptions::default()).await;
    let o = env.sim.world().okta[0].clone();
    let url = format!(
        "{}/api/v1/apps/{}/groups?limit=1",
        env.sim.okta_base_url(&o.org),
        o.app.id
    );
    let client = reqwest::Client::new();
    let reply = client
        .get(&url)
        .header("Authorization", format!("SSWS {}", o.api_token))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    assert!(reply.headers().contains_key("x-rate-limit-remaining"));
    let body: serde_json::Value = reply.json().await.unwrap();
    let ids: Vec<&str> = body
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|g| g["id"].as_str())
        .collect();
    assert!(!ids.is_empty() && ids.len() <= o.app_groups.len(), "{body}");
    assert!(ids.iter().all(|id| o.app_groups.iter().any(|g| g == id)));
    let refused = client
        .get(&url)
        .header("Authorization", "SSWS not-the-token")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["errorCode"], "E0000011");
}

/// The grace rule holds for Okta as for Entra: pulls seconds apart never span
/// `idp_grace_minutes`, so no Okta finding opens however many there are.
#[tokio::test]
async fn no_okta_finding_opens_within_the_grace_span() {
    let mut env =
        Env::start_with_idp(World::okta_scenarios(Utc::now()), SimOptions::default()).await;
    env.extend_config("\n[detect]\nidp_grace_minutes = 60\n");
    for _ in 0..3 {
        let o = env.pull().await;
        assert!(o.pull.all_complete(), "{:?}", o.pull.sources);
    }
    assert!(open_okta(&env).is_empty(), "{:#?}", open_okta(&env));
}

/// A pushed group's member who is no app user joins a record only by its id: a record that shares
/// its login (made by hand, or by an earlier IdP) stays an orphan, whatever the group does.
#[tokio::test]
async fn a_group_member_outside_the_app_never_takes_a_record_by_its_login() {
    use scimdrift::sim::{SimOktaUser, SimUser};
    let env = okta_env(SimOptions::default()).await;
    let dir = id(&env, "D2");
    env.sim.update_okta(&dir, |o| {
        o.users.push(SimOktaUser {
            id: "00ujanegroupmember01".into(),
            status: "ACTIVE".into(),
            login: "jane@example.com".into(),
            email: "jane@example.com".into(),
            first_name: "Jane".into(),
            last_name: "Roe".into(),
        });
        let g = o
            .groups
            .iter_mut()
            .find(|g| g.name == "confluence-users")
            .unwrap();
        g.members.push("00ujanegroupmember01".into());
        o.sort();
    });
    env.sim.update_world(|w| {
        let mut jane = SimUser::new("jane-record", "jane@example.com", "Jane", "Roe", Utc::now());
        jane.external_id = Some("e-jane".into());
        w.directories[1].users.push(jane);
    });
    for _ in 0..3 {
        assert!(env.pull().await.pull.all_complete());
    }
    let open = with_status(&env, Status::Open);
    let about_jane: Vec<&str> = open
        .iter()
        .filter(|f| f.scim_users.iter().any(|u| u.scim_id == "jane-record"))
        .map(|f| f.kind.as_str())
        .collect();
    assert!(about_jane.contains(&"orphan_scim_record"), "{about_jane:?}");
    assert!(
        !about_jane.contains(&"idp_disabled_scim_active"),
        "{about_jane:?}"
    );
}

/// A push going to ERROR pushes no membership: its open membership findings keep their state
/// (never resolved by it), and the group is not provisioned.
#[tokio::test]
async fn a_push_in_error_holds_its_membership_findings() {
    let env = okta_env(SimOptions::default()).await;
    for _ in 0..3 {
        env.pull().await;
    }
    assert_eq!(open_okta(&env), expected_okta());
    let (dir, og2) = (id(&env, "D2"), id(&env, "OG2"));
    env.sim.update_okta(&dir, |o| {
        let m = o
            .push_mappings
            .iter_mut()
            .find(|m| m.source_group_id == og2)
            .unwrap();
        m.status = "ERROR".into();
        m.error_summary = Some("Failed on pushing group Jira Okta: HTTP 500".into());
    });
    for _ in 0..2 {
        env.pull().await;
    }
    let open = open_okta(&env);
    let mut want = expected_okta();
    want.insert((
        "group_not_provisioned".into(),
        "high".into(),
        vec![],
        vec![],
        vec!["group:OG2".into()],
    ));
    assert_eq!(
        open, want,
        "the membership findings of OG2 held, its push not provisioned"
    );
}

/// A directory that switches IdP keeps no series of the other: an Entra job's cycle time would
/// only age (and page), an Okta app's INACTIVE would keep firing.
#[test]
fn switching_the_idp_drops_the_other_kinds_gauges() {
    use scimdrift::model::idp::{IdpApp, ProvisioningJob};
    let m = scimdrift::metrics::Metrics::new();
    let job: ProvisioningJob = serde_json::from_value(serde_json::json!({
        "job_id": "j1", "template_id": null, "status": "Active", "schedule_state": "Active",
        "interval_seconds": 2400, "last_execution": null, "last_successful_execution": null,
        "successive_failures": 0, "quarantine": null, "steady_state_last_achieved": null
    }))
    .unwrap();
    let app = IdpApp {
        id: "0oa1".into(),
        label: None,
        status: Some("INACTIVE".into()),
        features: Some(vec!["PUSH_NEW_USERS".into()]),
    };
    scimdrift::cycle::export_idp_health(&m, "d", Some(&job), None);
    assert!(
        m.render()
            .contains("scimdrift_idp_job_interval_seconds{directory=\"d\"}")
    );
    scimdrift::cycle::export_idp_health(&m, "d", None, Some(&app));
    let text = m.render();
    assert!(
        !text.contains("scimdrift_idp_job_status{directory=\"d\""),
        "{text}"
    );
    assert!(
        !text.contains("scimdrift_idp_job_interval_seconds{directory=\"d\"}"),
        "{text}"
    );
    assert!(text.contains("scimdrift_idp_app_status{directory=\"d\",status=\"INACTIVE\"} 1"));
    scimdrift::cycle::export_idp_health(&m, "d", Some(&job), None);
    let text = m.render();
    assert!(
        !text.contains("scimdrift_idp_app_status{directory=\"d\""),
        "{text}"
    );
    assert!(
        !text.contains("scimdrift_idp_app_feature{directory=\"d\""),
        "{text}"
    );
}
