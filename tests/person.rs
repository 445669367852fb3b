//! `scimdrift person EMAIL` and `/person?email=`: one person's whole history, from the store.

mod common;

use std::sync::{Arc, Mutex};

use common::Env;
use scimdrift::metrics::Metrics;
use scimdrift::secret::Secret;
use scimdrift::server::AppState;

/// The leaver of scenario 6 (R9 inactive, A9 with access), suspended by remediation, then seen
/// suspended: the whole story in one history.
#[tokio::test]
async fn the_leavers_whole_story() {
    let mut env = Env::scenarios(5).await;
    let world = env.sim.world();
    env.extend_config(&format!(
        "\n[remediation]\nenabled = true\nmax_percent_of_population = 100.0\norg_directory_id = \"{}\"\n\n\
         [[remediation.rules]]\nkind = \"idp_inactive_account_active\"\naction = \"suspend\"\nmode = \"apply\"\nmin_confirmations = 1\n",
        world.labels["D1"]
    ));
    let (r9, a9) = (world.labels["R9"].clone(), world.labels["A9"].clone());
    assert!(env.pull().await.recorded.complete);
    scimdrift::app::remediation::run_cycle(&env.settings, &Metrics::new())
        .await
        .unwrap();
    assert!(env.pull().await.recorded.complete);

    let out = env
        .cli(&["person", "  FAY@Example.com ", "--format", "json"])
        .await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let h: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(h["email"], "  FAY@Example.com ");
    let records = h["records"].as_array().unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["scim_id"], r9.as_str());
    assert_eq!(records[0]["directory"], world.directories[0].name.as_str());
    let versions = records[0]["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 1, "the record did not change");
    assert_eq!(versions[0]["active"], false);
    assert_eq!(versions[0]["account_id"], a9.as_str());
    assert!(versions[0]["to"].is_null());
    let accounts = h["accounts"].as_array().unwrap();
    assert_eq!(accounts.len(), 1);
    assert_eq!(accounts[0]["account_id"], a9.as_str());
    let av = accounts[0]["versions"].as_array().unwrap();
    assert_eq!(av.len(), 2, "{av:?}");
    assert_eq!(av[0]["membership_status"], "active");
    assert_eq!(av[0]["to"], av[1]["from"]);
    assert_eq!(av[1]["membership_status"], "suspended");
    assert!(av[1]["to"].is_null());
    let findings = h["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert_eq!(findings[0]["kind"], "idp_inactive_account_active");
    assert_eq!(findings[0]["status"], "resolved");
    assert!(findings[0]["resolved_at"].is_string());
    let events: Vec<&str> = findings[0]["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(events, ["opened", "resolved"]);
    let actions = h["actions"].as_array().unwrap();
    assert_eq!(actions.len(), 1, "{actions:?}");
    assert_eq!(actions[0]["action"], "suspend");
    assert_eq!(actions[0]["result"], "success");
    assert!(actions[0]["at"].is_string());
    // Every time is RFC 3339 in UTC to the second.
    let times = [
        &versions[0]["from"],
        &av[1]["from"],
        &findings[0]["first_seen"],
        &findings[0]["resolved_at"],
        &findings[0]["events"][0]["at"],
        &actions[0]["at"],
    ];
    for t in times {
        let t = t.as_str().unwrap();
        assert!(
            chrono::DateTime::parse_from_rfc3339(t).is_ok() && t.len() == 20 && t.ends_with('Z'),
            "{t}"
        );
    }

    // The text form tells the same story as a timeline, its times to the second in UTC.
    let text = env.cli(&["person", "fay@example.com"]).await;
    let text = String::from_utf8_lossy(&text.stdout);
    let line = text
        .lines()
        .find(|l| l.contains("remediation suspend"))
        .unwrap();
    let at = line.trim().get(..23).unwrap_or_default();
    assert!(
        chrono::NaiveDateTime::parse_from_str(at, "%Y-%m-%d %H:%M:%S UTC").is_ok(),
        "{line}"
    );
    assert!(text.contains("timeline"), "{text}");
    assert!(text.contains("active/active → active/suspended"), "{text}");
    assert!(
        text.contains("remediation suspend (apply): success"),
        "{text}"
    );
    assert!(
        text.contains("idp_inactive_account_active (critical"),
        "{text}"
    );

    // Nobody the store knows: exit 1.
    let none = env.cli(&["person", "nobody@example.com"]).await;
    assert_eq!(none.status.code(), Some(1));
}

/// A record linked to an account that carried the email is part of the history, even with another
/// email (scenario 2: bo.new's record linked to the account still named bo.old).
#[tokio::test]
async fn linked_records_and_accounts_are_included() {
    let env = Env::scenarios(5).await;
    env.pull().await;
    let world = env.sim.world();
    let out = env
        .cli(&["person", "bo.old@example.com", "--format", "json"])
        .await;
    let h: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ids: Vec<&str> = h["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["scim_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [world.labels["R3"].as_str()]);
    let accounts: Vec<&str> = h["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["account_id"].as_str().unwrap())
        .collect();
    assert_eq!(accounts, [world.labels["A3"].as_str()]);
    let kinds: Vec<&str> = h["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"email_mismatch"), "{kinds:?}");
}

#[tokio::test]
async fn the_endpoint_needs_the_token_and_serves_the_same_json() {
    let env = Env::scenarios(5).await;
    env.pull().await;
    let state = Arc::new(AppState {
        settings: env.settings.clone().into(),
        metrics: Arc::new(Metrics::new()),
        last_complete: Mutex::new(None),
        held: Mutex::new(None),
        token: Some(Secret::new("t0ken")),
        metrics_cache: Mutex::new(None),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(scimdrift::server::run(
        listener,
        state,
        std::future::pending(),
    ));
    let client = reqwest::Client::new();
    let url = format!("{base}/person?email=fay%40example.com");
    assert_eq!(client.get(&url).send().await.unwrap().status(), 401);
    let r = client.get(&url).bearer_auth("t0ken").send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let served: serde_json::Value = r.json().await.unwrap();
    let cli = env
        .cli(&["person", "fay@example.com", "--format", "json"])
        .await;
    let printed: serde_json::Value = serde_json::from_slice(&cli.stdout).unwrap();
    assert_eq!(served, printed);
    let missing = client
        .get(format!("{base}/person?email=nobody%40example.com"))
        .bearer_auth("t0ken")
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let bad = client
        .get(format!("{base}/person"))
        .bearer_auth("t0ken")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    server.abort();
}
