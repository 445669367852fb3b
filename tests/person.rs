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
    assert!(
        text.contains(
            "account: active · membership: active → account: active · membership: suspended"
        ),
        "{text}"
    );
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

/// An IdP environment after two complete pulls (no grace): the IdP scenarios of
/// `sim::idp_scenarios`.
async fn idp_env() -> Env {
    let mut env = Env::start_with_idp(
        scimdrift::sim::World::idp_scenarios_with_healthy(3, 5, chrono::Utc::now()),
        scimdrift::sim::SimOptions::default(),
    )
    .await;
    env.extend_config("\n[detect]\nidp_grace_minutes = 0\n");
    assert!(env.pull().await.recorded.complete);
    assert!(env.pull().await.recorded.complete);
    env
}

async fn person_json(env: &Env, who: &str) -> serde_json::Value {
    let out = env.cli(&["person", who, "--format", "json"]).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{who}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn kinds(h: &serde_json::Value) -> Vec<String> {
    h["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["kind"].as_str().unwrap().to_string())
        .collect()
}

/// A person the IdP intends who never arrived (E1 ivy: no record, no account) is found by email,
/// by IdP user id and by UPN, with the IdP side and the finding; text and JSON alike.
#[tokio::test]
async fn an_idp_only_person_is_found_by_every_identifier() {
    let env = idp_env().await;
    let world = env.sim.world();
    let e1 = world.labels["E1"].clone();
    let upn = world.entra[0]
        .users
        .iter()
        .find(|u| u.id == e1)
        .map(|u| u.user_principal_name.clone())
        .unwrap();
    for who in ["ivy@example.com", e1.as_str(), upn.as_str()] {
        let h = person_json(&env, who).await;
        assert_eq!(h["email"], who);
        let users = h["idp_users"].as_array().unwrap();
        assert_eq!(users.len(), 1, "{who}: {users:#?}");
        let u = &users[0];
        assert_eq!(u["id"], e1.as_str());
        assert_eq!(u["idp"], "entra");
        assert_eq!(u["directory"], "entra");
        let v = &u["versions"][0];
        assert_eq!(v["enabled"], true);
        assert_eq!(v["intended"], true);
        assert_eq!(v["assigned"], "directly");
        assert_eq!(v["email"], "ivy@example.com");
        assert!(v["to"].is_null());
        assert!(h["records"].as_array().unwrap().is_empty());
        assert!(
            kinds(&h).contains(&"assigned_not_provisioned".to_string()),
            "{who}"
        );
        let text = env.cli(&["person", who]).await;
        assert_eq!(text.status.code(), Some(0));
        let text = String::from_utf8_lossy(&text.stdout);
        assert!(
            text.contains(&format!("entra user {e1} in entra")),
            "{text}"
        );
        assert!(
            text.contains("enabled, intended (directly), ivy@example.com"),
            "{text}"
        );
        assert!(text.contains("assigned_not_provisioned"), "{text}");
    }
}

/// The IdP user's provisioning events, with their errors (E5 mo: an `EntryConflict`), beside the
/// account that holds the email; found by the account id too. A SCIM id finds the record's IdP user
/// (E2 jon, disabled) through its email and `externalId`.
#[tokio::test]
async fn the_idp_side_and_its_errors_are_part_of_the_history() {
    let env = idp_env().await;
    let world = env.sim.world();
    let l = |k: &str| world.labels[k].clone();
    for who in [l("E5"), l("A15")] {
        let h = person_json(&env, &who).await;
        let users = h["idp_users"].as_array().unwrap();
        assert!(
            users.iter().any(|u| u["id"] == l("E5").as_str()),
            "{who}: {h:#}"
        );
        let events = users[0]["events"].as_array().unwrap();
        let conflict = events
            .iter()
            .find(|e| e["error_code"] == "EntryConflict")
            .unwrap_or_else(|| panic!("{events:#?}"));
        assert_eq!(conflict["status"], "failure");
        assert!(
            conflict["reason"]
                .as_str()
                .unwrap()
                .contains("already exists")
        );
        let at = conflict["at"].as_str().unwrap();
        assert!(at.len() == 20 && at.ends_with('Z'), "{at}");
        let accounts: Vec<&str> = h["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["account_id"].as_str().unwrap())
            .collect();
        assert_eq!(accounts, [l("A15").as_str()], "{who}");
        let k = kinds(&h);
        assert!(k.contains(&"provisioning_error".to_string()), "{k:?}");
    }
    let h = person_json(&env, &l("R12")).await;
    assert_eq!(h["records"][0]["scim_id"], l("R12").as_str());
    assert_eq!(h["accounts"][0]["account_id"], l("A12").as_str());
    let e2 = &h["idp_users"][0];
    assert_eq!(e2["id"], l("E2").as_str());
    assert_eq!(e2["versions"][0]["enabled"], false);
    assert!(kinds(&h).contains(&"idp_disabled_scim_active".to_string()));
    let text = env.cli(&["person", &l("E5")]).await;
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("failure: EntryConflict — "), "{text}");
    // An IdP user id in upper case is the same id.
    let h = person_json(&env, &l("E2").to_uppercase()).await;
    assert_eq!(h["idp_users"][0]["id"], l("E2").as_str());
}

/// An account whose email is hidden, looked up by its id, still brings its linked record and the
/// record's IdP user.
#[tokio::test]
async fn an_account_with_a_hidden_email_is_found_by_its_id_with_what_it_links() {
    let env = idp_env().await;
    let world = env.sim.world();
    let l = |k: &str| world.labels[k].clone();
    let a12 = l("A12");
    env.sim
        .update_world(|w| w.account_mut(&a12).unwrap().email = None);
    assert!(env.pull().await.recorded.complete);
    let h = person_json(&env, &a12).await;
    let records: Vec<&str> = h["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["scim_id"].as_str().unwrap())
        .collect();
    assert!(records.contains(&l("R12").as_str()), "{h:#}");
    assert!(
        h["idp_users"]
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u["id"] == l("E2").as_str()),
        "{h:#}"
    );
}

/// `/person` answers a page to a browser and JSON to programs: the same history, escaped, with a
/// search box; an IdP-only person by id over HTTP.
#[tokio::test]
async fn the_endpoint_is_a_page_for_browsers_and_json_for_programs() {
    let env = idp_env().await;
    let e1 = env.sim.world().labels["E1"].clone();
    let state = Arc::new(AppState {
        settings: env.settings.clone().into(),
        metrics: Arc::new(Metrics::new()),
        last_complete: Mutex::new(None),
        held: Mutex::new(None),
        token: None,
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
    let browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
    let url = format!("{base}/person?email={e1}");
    let page = client
        .get(&url)
        .header("accept", browser)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let page = page.text().await.unwrap();
    assert!(page.contains("<form class=\"search\""), "a search box");
    assert!(page.contains(&e1) && page.contains("assigned_not_provisioned"));
    assert!(page.contains("ivy@example.com"));
    // Programs: JSON without Accept, with ?format=json even from a browser; the same as the CLI.
    let plain: serde_json::Value = client.get(&url).send().await.unwrap().json().await.unwrap();
    let forced: serde_json::Value = client
        .get(format!("{url}&format=json"))
        .header("accept", browser)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(plain, forced);
    assert_eq!(plain, person_json(&env, &e1).await);
    // Unknown: 404 either way, the page still offering the search box.
    let missing = client
        .get(format!("{base}/person?id=nobody"))
        .header("accept", browser)
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    assert!(
        missing
            .text()
            .await
            .unwrap()
            .contains("<form class=\"search\"")
    );
    // A hostile query is escaped.
    let hostile = client
        .get(format!("{base}/person?q=%3Cscript%3Ealert(1)%3C/script%3E"))
        .header("accept", browser)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!hostile.contains("<script>"), "{hostile}");
    assert!(hostile.contains("&lt;script&gt;"));
    server.abort();
}

/// A person's groups now, on both sides: uma is in the IdP's Atlassian Designers but not in its SCIM
/// group (missing), vic is still in Atlassian Finance's SCIM group after leaving it in the IdP
/// (extra); both are in Atlassian Users on both sides. JSON, text and the page alike.
#[tokio::test]
async fn a_persons_groups_on_both_sides_with_the_missing_and_extra_ones_marked() {
    let env = idp_env().await;
    let group = |h: &serde_json::Value, name: &str| -> serde_json::Value {
        h["groups"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["name"] == name)
            .unwrap_or_else(|| panic!("{name} not in {}", h["groups"]))
            .clone()
    };
    let uma = person_json(&env, "uma@example.com").await;
    let designers = group(&uma, "Atlassian Designers");
    assert_eq!(designers["in_idp"], true);
    assert_eq!(designers["in_scim"], false);
    assert_eq!(designers["mark"], "missing");
    assert_eq!(designers["directory"], "entra");
    let users = group(&uma, "Atlassian Users");
    assert_eq!(
        (users["in_idp"].clone(), users["in_scim"].clone()),
        (true.into(), true.into())
    );
    assert!(users["mark"].is_null());
    // Not in the IdP's Atlassian Finance and not in its SCIM group: not listed.
    assert!(
        uma["groups"]
            .as_array()
            .unwrap()
            .iter()
            .all(|g| g["name"] != "Atlassian Finance")
    );

    let vic = person_json(&env, "vic@example.com").await;
    let finance = group(&vic, "Atlassian Finance");
    assert_eq!(finance["in_idp"], false);
    assert_eq!(finance["in_scim"], true);
    assert_eq!(finance["mark"], "extra");
    assert_eq!(
        finance["scim_group_id"],
        env.sim.world().labels["G4"].as_str()
    );

    let text = env.cli(&["person", "uma@example.com"]).await;
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("Atlassian Designers (entra): in the IdP group, not in the SCIM group  MISSING in Atlassian"),
        "{text}"
    );
    let page = scimdrift::report::render_person(
        &scimdrift::person::history(
            &env.store(),
            "vic@example.com",
            &scimdrift::person::Directories {
                names: env.settings.directory_names(),
                idp_kinds: Default::default(),
            },
        )
        .unwrap(),
        "vic@example.com",
    );
    assert!(
        page.contains("EXTRA: left the IdP group"),
        "the page shows the groups"
    );
}
