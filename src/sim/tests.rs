//! Tests of the simulator: seeded worlds, and every API over loopback HTTP.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::{Duration, Instant};

use axum::http::Method;
use chrono::{DateTime, Utc};
use reqwest::{Client, RequestBuilder, Response, StatusCode};
use serde_json::{Value, json};

use super::*;

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-24T06:00:00Z")
        .map(|t| t.with_timezone(&Utc))
        .unwrap()
}

async fn start_sim(world: World, options: SimOptions) -> SimHandle {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    start(listener, world, options).await.unwrap()
}

/// A test client holding the keys of a running simulator.
struct TestClient {
    http: Client,
    sim: SimHandle,
    world: World,
}

impl TestClient {
    async fn new(world: World, options: SimOptions) -> Self {
        let sim = start_sim(world, options).await;
        Self {
            http: Client::new(),
            world: sim.world(),
            sim,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.sim.base_url())
    }

    fn dir(&self, label: &str) -> &SimDirectory {
        self.world
            .directory(self.world.label(label).unwrap())
            .unwrap()
    }

    fn scim(&self, label: &str, path: &str) -> RequestBuilder {
        let dir = self.dir(label);
        self.http
            .get(self.url(&format!("/scim/directory/{}{path}", dir.id)))
            .bearer_auth(&dir.token)
    }

    fn org(&self, method: Method, path: &str) -> RequestBuilder {
        let path = path.replace("{org}", &self.world.org_id);
        self.http
            .request(method, self.url(&path))
            .bearer_auth(&self.world.org_api_key)
    }

    fn label(&self, label: &str) -> String {
        self.world.label(label).unwrap().to_owned()
    }
}

async fn json(response: Response) -> Value {
    response.json().await.unwrap()
}

// ---------------------------------------------------------------- seeded worlds

#[test]
fn scenario_world_has_every_label_and_group_rule() {
    let world = World::scenarios(now());
    for label in ["D1", "D2", "G1", "G2"] {
        assert!(world.label(label).is_some(), "{label}");
    }
    for r in 1..=11 {
        let user = world
            .labelled_user(&format!("R{r}"))
            .unwrap_or_else(|| panic!("R{r}"));
        let grouped = world.directories.iter().any(|d| {
            d.groups
                .iter()
                .any(|g| g.members.iter().any(|m| m.value == user.id))
        }) || user.groups.as_ref().is_some_and(|g| !g.is_empty());
        assert_eq!(grouped, r != 10, "R{r} group membership");
    }
    for a in [1, 3, 4, 5, 6, 7, 8, 9, 10] {
        assert!(world.labelled_account(&format!("A{a}")).is_some(), "A{a}");
    }
    assert!(world.label("A2").is_none());
    assert_eq!(world.directories[0].name, "entra");
    assert_eq!(world.directories[1].name, "okta");
    assert_eq!(world.directories[0].users.len(), 9 + 20);
    assert_eq!(world.directories[1].users.len(), 2 + 5);
    assert_eq!(world.accounts.len(), 9 + 25);
    assert_eq!(World::scenarios(now()), world, "deterministic");
    let r1 = world.labelled_user("R1").unwrap();
    assert_eq!(
        (r1.active, r1.external_id.as_deref()),
        (Some(false), Some("e-100"))
    );
    assert_eq!(
        r1.last_modified.date_naive(),
        (now() - chrono::Duration::days(10)).date_naive()
    );
    assert_eq!(
        world
            .labelled_user("R11")
            .unwrap()
            .atlassian_account_id
            .as_deref(),
        Some(GONE_ACCOUNT_ID)
    );
    let (a5, a6) = (
        world.labelled_account("A5").unwrap(),
        world.labelled_account("A6").unwrap(),
    );
    assert_eq!(a5.name, a6.name);
}

/// A direct reading of the finding catalogue of scenarios.md, to check the seeded worlds.
pub(super) fn catalogue_findings(
    world: &World,
    now: DateTime<Utc>,
) -> BTreeSet<(String, Vec<String>, Vec<String>)> {
    let records: Vec<&SimUser> = world.directories.iter().flat_map(|d| &d.users).collect();
    let primary = |u: &SimUser| {
        u.emails
            .iter()
            .find(|e| e.primary)
            .or(u.emails.first())
            .map(|e| e.value.clone())
            .or_else(|| u.user_name.contains('@').then(|| u.user_name.clone()))
            .map(|e| normalize_email(&e))
    };
    let members: HashSet<&str> = world
        .directories
        .iter()
        .flat_map(|d| &d.groups)
        .flat_map(|g| &g.members)
        .map(|m| m.value.as_str())
        .collect();
    let grouped = |u: &SimUser| {
        members.contains(u.id.as_str()) || u.groups.as_ref().is_some_and(|g| !g.is_empty())
    };
    let account_email = |a: &SimAccount| a.email.as_deref().map(normalize_email);
    let mut by_account_email: HashMap<String, Vec<&SimAccount>> = HashMap::new();
    for a in &world.accounts {
        if let Some(e) = account_email(a) {
            by_account_email.entry(e).or_default().push(a);
        }
    }
    let mut links_to: HashMap<&str, Vec<&SimUser>> = HashMap::new();
    for u in &records {
        if let Some(a) = u.atlassian_account_id.as_deref() {
            links_to.entry(a).or_default().push(u);
        }
    }
    let by_id: HashMap<&str, &SimAccount> = world
        .accounts
        .iter()
        .map(|a| (a.account_id.as_str(), a))
        .collect();
    let mut out = BTreeSet::new();
    let mut add = |kind: &str, mut r: Vec<String>, mut a: Vec<String>| {
        r.sort();
        a.sort();
        out.insert((kind.to_owned(), r, a));
    };
    let mut by_email: BTreeMap<String, Vec<&SimUser>> = BTreeMap::new();
    for u in &records {
        if let Some(e) = primary(u) {
            by_email.entry(e).or_default().push(u);
        }
    }
    for group in by_email.values().filter(|g| g.len() > 1) {
        let links: HashSet<Option<&str>> = group
            .iter()
            .map(|u| u.atlassian_account_id.as_deref())
            .collect();
        if links.len() > 1 || links.contains(&None) {
            let accounts = links
                .iter()
                .flatten()
                .filter(|a| by_id.contains_key(*a))
                .map(|a| a.to_string());
            add(
                "duplicate_email",
                group.iter().map(|u| u.id.clone()).collect(),
                accounts.collect(),
            );
        }
    }
    for u in &records {
        let active = u.active == Some(true);
        let linked = u
            .atlassian_account_id
            .as_deref()
            .and_then(|a| by_id.get(a).copied());
        let email = primary(u);
        if active {
            for holder in email
                .as_ref()
                .and_then(|e| by_account_email.get(e))
                .into_iter()
                .flatten()
            {
                if u.atlassian_account_id.as_deref() != Some(holder.account_id.as_str()) {
                    add(
                        "email_conflict",
                        vec![u.id.clone()],
                        vec![holder.account_id.clone()],
                    );
                }
            }
        }
        match (&u.atlassian_account_id, linked) {
            (None, _) if active => add("unlinked_scim_user", vec![u.id.clone()], vec![]),
            (Some(_), None) => add("dangling_link", vec![u.id.clone()], vec![]),
            (Some(_), Some(a)) => {
                let ids = (vec![u.id.clone()], vec![a.account_id.clone()]);
                if account_email(a).is_some() && account_email(a) != email {
                    add("email_mismatch", ids.0.clone(), ids.1.clone());
                }
                let blocked = a.account_status != "active" || a.membership_status == "suspended";
                if active && blocked {
                    add("deactivated_idp_active", ids.0.clone(), ids.1.clone());
                }
                if u.active == Some(false) && u.last_modified < now - chrono::Duration::days(30) {
                    add("stale_inactive_link", ids.0.clone(), ids.1.clone());
                }
                if active && !grouped(u) {
                    add("no_synced_groups", ids.0, ids.1);
                }
            }
            _ => {}
        }
    }
    for a in &world.accounts {
        let linked = links_to
            .get(a.account_id.as_str())
            .map(Vec::as_slice)
            .unwrap_or_default();
        if a.has_access() && !linked.is_empty() && linked.iter().all(|u| u.active == Some(false)) {
            let records = linked.iter().map(|u| u.id.clone()).collect();
            add(
                "idp_inactive_account_active",
                records,
                vec![a.account_id.clone()],
            );
        }
        if a.is_managed() && a.has_access() && linked.is_empty() {
            add("unmanaged_account", vec![], vec![a.account_id.clone()]);
        }
    }
    out
}

#[test]
fn scenario_world_yields_exactly_the_expected_findings() {
    let world = World::scenarios_with_healthy(300, 7, now());
    let names: BTreeMap<&str, &str> = world
        .labels
        .iter()
        .map(|(l, id)| (id.as_str(), l.as_str()))
        .collect();
    let label = |ids: &[String]| {
        let mut labels: Vec<&str> = ids
            .iter()
            .map(|id| names.get(id.as_str()).copied().unwrap_or("?"))
            .collect();
        labels.sort();
        labels.join(",")
    };
    let got: BTreeSet<String> = catalogue_findings(&world, now())
        .iter()
        .map(|(k, r, a)| format!("{k} {{{}; {}}}", label(r), label(a)))
        .collect();
    let expected: BTreeSet<String> = [
        "duplicate_email {R1,R2; A1}",
        "unlinked_scim_user {R2; }",
        "email_conflict {R2; A1}",
        "duplicate_email {R3,R4; A3,A4}",
        "email_mismatch {R3; A3}",
        "email_conflict {R3; A4}",
        "unmanaged_account {; A5}",
        "stale_inactive_link {R7; A7}",
        "deactivated_idp_active {R8; A8}",
        "idp_inactive_account_active {R9; A9}",
        "no_synced_groups {R10; A10}",
        "dangling_link {R11; }",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    assert_eq!(got, expected);
}

#[test]
fn healthy_world_is_large_fast_unique_and_clean() {
    let started = Instant::now();
    let world = World::healthy(100_000, 42, now());
    let elapsed = started.elapsed();
    eprintln!("World::healthy(100_000) took {elapsed:?}");
    assert_eq!(world.directories[0].users.len(), 100_000);
    assert_eq!(world.accounts.len(), 100_000);
    let dir = &world.directories[0];
    assert_eq!(dir.groups.len(), 5);
    assert!(
        dir.groups
            .iter()
            .all(|g| g.members.len() <= GROUP_MEMBER_LIMIT)
    );
    assert_eq!(
        dir.users
            .iter()
            .map(|u| &u.id)
            .collect::<HashSet<_>>()
            .len(),
        100_000
    );
    let ids: HashSet<&str> = world
        .accounts
        .iter()
        .map(|a| a.account_id.as_str())
        .collect();
    assert_eq!(ids.len(), 100_000);
    assert!(ids.iter().any(|id| id.starts_with("557058:")));
    assert!(
        ids.iter()
            .filter(|id| !id.contains(':'))
            .all(|id| id.len() == 24)
    );
    assert!(catalogue_findings(&world, now()).is_empty());
    assert_eq!(World::healthy(50, 42, now()), World::healthy(50, 42, now()));
    assert_ne!(World::healthy(50, 42, now()), World::healthy(50, 43, now()));
}

// ---------------------------------------------------------------- SCIM

#[tokio::test]
async fn scim_pages_are_capped_filtered_and_shaped() {
    let api = TestClient::new(World::healthy(250, 1, now()), SimOptions::default()).await;
    let response = api
        .scim("D1", "/Users")
        .query(&[("startIndex", "1"), ("count", "1000")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/scim+json");
    let page = json(response).await;
    assert_eq!(
        (page["totalResults"].as_u64(), page["itemsPerPage"].as_u64()),
        (Some(250), Some(100))
    );
    assert_eq!(page["Resources"].as_array().unwrap().len(), 100);
    let first = &page["Resources"][0];
    assert!(
        first["urn:scim:schemas:extension:atlassian-external:1.0"]["atlassianAccountId"]
            .is_string()
    );
    assert!(
        first["meta"]["location"]
            .as_str()
            .unwrap()
            .starts_with(&api.sim.base_url())
    );

    let last = json(
        api.scim("D1", "/Users")
            .query(&[("startIndex", "201"), ("count", "100")])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(last["Resources"].as_array().unwrap().len(), 50);
    assert_eq!(last["startIndex"], 201);

    let user = &api.dir("D1").users[3];
    let filter = format!("userName eq \"{}\"", user.user_name.to_uppercase());
    let found = json(
        api.scim("D1", "/Users")
            .query(&[("filter", filter)])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(found["totalResults"], 1);
    assert_eq!(found["Resources"][0]["id"], user.id.as_str());

    for (name, value, scim_type) in [
        ("startIndex", "x", "invalidValue"),
        ("filter", "emails.value eq \"a\"", "invalidFilter"),
    ] {
        let response = api
            .scim("D1", "/Users")
            .query(&[(name, value)])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let body = json(response).await;
        assert_eq!(
            (body["status"].as_str(), body["scimType"].as_str()),
            (Some("400"), Some(scim_type))
        );
    }

    let groups = json(api.scim("D1", "/Groups").send().await.unwrap()).await;
    assert_eq!(groups["totalResults"], 1);
    assert_eq!(
        groups["Resources"][0]["members"].as_array().unwrap().len(),
        250
    );

    api.sim.set_options(|o| o.scim_page_cap = 7);
    let page = json(
        api.scim("D1", "/Users")
            .query(&[("count", "100")])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(page["itemsPerPage"], 7);
}

#[tokio::test]
async fn scim_delete_removes_record_and_deactivates_managed_account() {
    let api = TestClient::new(World::scenarios(now()), SimOptions::default()).await;
    let (r9, a9) = (api.label("R9"), api.label("A9"));
    let response = api
        .scim("D1", &format!("/Users/{r9}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let dir = api.dir("D1");
    let url = api.url(&format!("/scim/directory/{}/Users/{r9}", dir.id));
    let response = api
        .http
        .delete(&url)
        .bearer_auth(&dir.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let response = api
        .scim("D1", &format!("/Users/{r9}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(json(response).await["status"], "404");
    let world = api.sim.world();
    assert!(world.user(&r9).is_none());
    assert!(
        world
            .directories
            .iter()
            .flat_map(|d| &d.groups)
            .all(|g| g.members.iter().all(|m| m.value != r9))
    );
    let a9 = world.account(&a9).unwrap();
    assert_eq!(
        (a9.account_status.as_str(), a9.status.as_str()),
        ("inactive", "deactivated")
    );
    assert!(a9.deactivated_on.is_some());
}

// ---------------------------------------------------------------- auth

#[tokio::test]
async fn keys_are_checked_per_api() {
    let api = TestClient::new(World::scenarios(now()), SimOptions::default()).await;
    let d1 = api.dir("D1").clone();
    let d2 = api.dir("D2").clone();
    let scim_url = api.url(&format!("/scim/directory/{}/Users", d1.id));
    let accounts = format!("/admin/v2/orgs/{}/directories/-/users", api.world.org_id);
    let cases = [
        (api.http.get(&scim_url), StatusCode::UNAUTHORIZED),
        (
            api.http.get(&scim_url).bearer_auth(&api.world.org_api_key),
            StatusCode::UNAUTHORIZED,
        ),
        (
            api.http.get(&scim_url).bearer_auth(&d2.token),
            StatusCode::UNAUTHORIZED,
        ),
        (
            api.http.get(&scim_url).bearer_auth(&d1.token),
            StatusCode::OK,
        ),
        (
            api.http.get(api.url(&accounts)).bearer_auth(&d1.token),
            StatusCode::UNAUTHORIZED,
        ),
        (
            api.http
                .get(api.url(&accounts))
                .header("Authorization", "Basic abc"),
            StatusCode::UNAUTHORIZED,
        ),
        (
            api.http
                .get(api.url(&accounts))
                .bearer_auth(&api.world.org_api_key),
            StatusCode::OK,
        ),
        (
            api.org(Method::GET, "/admin/v2/orgs/other-org/directories"),
            StatusCode::NOT_FOUND,
        ),
        (
            api.org(Method::GET, "/users/x/manage/email"),
            StatusCode::METHOD_NOT_ALLOWED,
        ),
    ];
    for (i, (request, expected)) in cases.into_iter().enumerate() {
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), expected, "case {i}");
        if expected == StatusCode::UNAUTHORIZED {
            let body = json(response).await;
            assert!(
                body["error"].is_string() && body["traceId"].is_string(),
                "case {i}: {body}"
            );
            let text = body.to_string();
            assert!(!text.contains(&d1.token) && !text.contains(&api.world.org_api_key));
        }
    }
    let log = api.sim.requests();
    assert_eq!(log.len(), 9);
    assert_eq!(api.sim.request_count(Api::Scim), 4);
    assert!(log.iter().all(|r| !r.path.contains(&api.world.org_api_key)));
}

// ---------------------------------------------------------------- accounts

async fn all_accounts(api: &TestClient, search: bool) -> (Vec<Value>, usize) {
    let (mut accounts, mut pages, mut cursor): (Vec<Value>, usize, Option<String>) =
        (Vec::new(), 0, None);
    loop {
        let request = if search {
            let body = match &cursor {
                Some(c) => json!({"limit": 100, "cursor": c}),
                None => json!({"limit": 100}),
            };
            api.org(
                Method::POST,
                "/admin/v2/orgs/{org}/directories/-/users/search",
            )
            .json(&body)
        } else {
            let mut query = vec![("limit", "100".to_owned())];
            query.extend(cursor.clone().map(|c| ("cursor", c)));
            api.org(Method::GET, "/admin/v2/orgs/{org}/directories/-/users")
                .query(&query)
        };
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert!(response.headers().contains_key("x-ratelimit-remaining"));
        let page = json(response).await;
        pages += 1;
        accounts.extend(page["data"].as_array().unwrap().iter().cloned());
        match page["links"]["next"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return (accounts, pages),
        }
    }
}

#[tokio::test]
async fn accounts_cursor_chains_cover_everyone() {
    let api = TestClient::new(World::healthy(120, 3, now()), SimOptions::default()).await;
    for search in [true, false] {
        let (accounts, pages) = all_accounts(&api, search).await;
        assert_eq!((accounts.len(), pages), (120, 3));
        let ids: HashSet<&str> = accounts
            .iter()
            .map(|a| a["accountId"].as_str().unwrap())
            .collect();
        assert_eq!(ids.len(), 120);
        assert_eq!(accounts[0]["claimStatus"], "managed");
        assert!(
            accounts[0]["managementSource"].is_string() && accounts[0]["deactivatedOn"].is_null()
        );
    }
    api.sim.set_options(|o| o.accounts_short_pages = true);
    let (accounts, pages) = all_accounts(&api, true).await;
    assert_eq!((accounts.len(), pages), (120, 5));

    let bad = api
        .org(Method::GET, "/admin/v2/orgs/{org}/directories/-/users")
        .query(&[("cursor", "nope")]);
    let response = bad.send().await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(json(response).await[0]["code"], "invalid_request");
    let bad = api
        .org(
            Method::POST,
            "/admin/v2/orgs/{org}/directories/-/users/search",
        )
        .body("{\"limit\": \"x\"");
    assert_eq!(bad.send().await.unwrap().status(), StatusCode::BAD_REQUEST);

    let dirs = json(
        api.org(Method::GET, "/admin/v2/orgs/{org}/directories")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(dirs["data"][0]["name"], "entra");
}

#[tokio::test]
async fn suspend_and_restore_change_access() {
    let api = TestClient::new(World::scenarios(now()), SimOptions::default()).await;
    let (d1, a9) = (api.label("D1"), api.label("A9"));
    let path = format!("/admin/v2/orgs/{{org}}/directories/{d1}/users/{a9}/suspend");
    assert_eq!(
        api.org(Method::POST, &path).send().await.unwrap().status(),
        StatusCode::NO_CONTENT
    );
    let account = api.sim.world().account(&a9).cloned().unwrap();
    assert_eq!(
        (account.membership_status.as_str(), account.status.as_str()),
        ("suspended", "suspended")
    );
    let path = path.replace("/suspend", "/restore");
    assert_eq!(
        api.org(Method::POST, &path).send().await.unwrap().status(),
        StatusCode::NO_CONTENT
    );
    assert!(api.sim.world().account(&a9).unwrap().has_access());
    let missing = format!("/admin/v2/orgs/{{org}}/directories/nope/users/{a9}/suspend");
    assert_eq!(
        api.org(Method::POST, &missing)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );
}

// ---------------------------------------------------------------- provisioning & user management

#[tokio::test]
async fn provisioning_links_unlink_and_delete_in_db() {
    let api = TestClient::new(World::scenarios(now()), SimOptions::default()).await;
    let (a6, r5, r6, d1) = (
        api.label("A6"),
        api.label("R5"),
        api.label("R6"),
        api.label("D1"),
    );
    let prov = "/admin/user-provisioning/v1/org/{org}";
    let links = json(
        api.org(Method::GET, &format!("{prov}/user/{a6}/get-scim-links"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let mut ids: Vec<&str> = links["scimLinks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["scimUserId"].as_str().unwrap())
        .collect();
    ids.sort();
    let mut expected = vec![r5.as_str(), r6.as_str()];
    expected.sort();
    assert_eq!(ids, expected);

    let by_email = api
        .org(Method::POST, &format!("{prov}/get-scim-links-for-email"))
        .json(&json!({"email": " ANA@example.com"}));
    let links = json(by_email.send().await.unwrap()).await;
    let links = links["scimLinks"].as_array().unwrap();
    assert_eq!(links.len(), 2);
    assert!(links.iter().any(|l| l["atlassianAccountId"].is_null()));

    let unlink = format!("{prov}/scimDirectoryId/{d1}/scimUserId/{r5}/unlink");
    assert_eq!(
        api.org(Method::PATCH, &unlink)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NO_CONTENT
    );
    let world = api.sim.world();
    assert_eq!(world.user(&r5).unwrap().atlassian_account_id, None);
    assert!(world.user(&r5).unwrap().last_modified > now());

    let delete = format!("{prov}/user/{a6}/onlyDeleteUserInDB");
    api.sim
        .set_options(|o| o.success_style = SuccessStyle::OkEmpty);
    assert_eq!(
        api.org(Method::DELETE, &delete)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    let world = api.sim.world();
    assert!(world.user(&r6).is_none() && world.user(&r5).is_some());
    assert!(world.account(&a6).unwrap().has_access());
    let response = api
        .org(Method::POST, &format!("{prov}/get-scim-links-for-email"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(json(response).await[0]["message"].is_string());
}

#[tokio::test]
async fn user_management_is_for_managed_accounts() {
    let mut world = World::scenarios(now());
    let a5 = world.label("A5").unwrap().to_owned();
    world.account_mut(&a5).unwrap().claim_status = "unmanaged".into();
    let api = TestClient::new(world, SimOptions::default()).await;
    let (a4, a3) = (api.label("A4"), api.label("A3"));
    let email = |id: &str, email: &str| {
        api.org(Method::PUT, &format!("/users/{id}/manage/email"))
            .json(&json!({ "email": email }))
    };
    assert_eq!(
        email(&a4, "bo.new@example.com")
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        email(&a4, "bo.old@example.com")
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::CONFLICT
    );
    assert_eq!(
        email(&a4, "bo@elsewhere.net")
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        email(&a4, "bo.parked@example.com")
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        email(&a3, "bo.new@example.com")
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NO_CONTENT
    );
    let forbidden = email(&a5, "cy2@example.org").send().await.unwrap();
    assert_eq!(forbidden.status(), StatusCode::FORBIDDEN);
    assert_eq!(json(forbidden).await, json!({"key": "forbidden"}));
    let missing = email("nobody", "x@example.com").send().await.unwrap();
    assert_eq!(json(missing).await[0]["code"], "not_found");
    let world = api.sim.world();
    assert_eq!(
        world.account(&a3).unwrap().email.as_deref(),
        Some("bo.new@example.com")
    );

    let disable = api
        .org(
            Method::POST,
            &format!("/users/{a3}/manage/lifecycle/disable"),
        )
        .json(&json!({"message": "bye"}));
    assert_eq!(
        disable.send().await.unwrap().status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        api.sim.world().account(&a3).unwrap().account_status,
        "inactive"
    );
    let enable = api.org(
        Method::POST,
        &format!("/users/{a3}/manage/lifecycle/enable"),
    );
    assert_eq!(
        enable.send().await.unwrap().status(),
        StatusCode::NO_CONTENT
    );
    assert!(api.sim.world().account(&a3).unwrap().has_access());
}

// ---------------------------------------------------------------- faults

#[tokio::test]
async fn status_and_rate_limit_faults_follow_their_rules() {
    let api = TestClient::new(World::healthy(10, 1, now()), SimOptions::default()).await;
    let d1 = api.label("D1");
    api.sim.set_faults(Faults::rules([
        FaultRule::new(FaultKind::Status(503))
            .on(Api::Scim)
            .in_directory(&d1)
            .skip(1)
            .once(),
        FaultRule::new(FaultKind::RateLimit(RetryAfterStyle::ResetOnly))
            .on(Api::Accounts)
            .times(2),
    ]));
    api.sim
        .set_options(|o| o.rate_limit_wait = Duration::from_millis(250));
    let statuses = [
        api.scim("D1", "/Users").send().await.unwrap().status(),
        api.scim("D1", "/Users").send().await.unwrap().status(),
        api.scim("D1", "/Users").send().await.unwrap().status(),
    ];
    assert_eq!(
        statuses,
        [
            StatusCode::OK,
            StatusCode::SERVICE_UNAVAILABLE,
            StatusCode::OK
        ]
    );

    let accounts = || api.org(Method::GET, "/admin/v2/orgs/{org}/directories/-/users");
    let limited = accounts().send().await.unwrap();
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(limited.headers()["x-ratelimit-remaining"], "0");
    assert!(!limited.headers().contains_key("retry-after"));
    let reset = limited.headers()["x-ratelimit-reset"]
        .to_str()
        .unwrap()
        .to_owned();
    let reset = DateTime::parse_from_rfc3339(&reset)
        .unwrap()
        .with_timezone(&Utc);
    let ahead = reset - Utc::now();
    assert!(
        ahead > chrono::Duration::milliseconds(100) && ahead < chrono::Duration::milliseconds(300),
        "{ahead}"
    );
    assert!(json(limited).await[0]["code"].is_string());
    assert_eq!(
        accounts().send().await.unwrap().status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(accounts().send().await.unwrap().status(), StatusCode::OK);

    api.sim.set_faults(Faults {
        rate_limit_every: Some((2, RetryAfterStyle::Seconds)),
        ..Faults::default()
    });
    api.sim.set_options(|o| o.retry_after_seconds = 3);
    assert_eq!(accounts().send().await.unwrap().status(), StatusCode::OK);
    let limited = accounts().send().await.unwrap();
    assert_eq!(limited.headers()["retry-after"], "3");
    api.sim.set_faults(Faults {
        rate_limit_every: Some((1, RetryAfterStyle::HttpDate)),
        ..Faults::default()
    });
    let limited = api.scim("D1", "/Users").send().await.unwrap();
    assert!(httpdate::parse_http_date(limited.headers()["retry-after"].to_str().unwrap()).is_ok());
    assert_eq!(json(limited).await["status"], "429");
}

#[tokio::test]
async fn body_faults_break_pages_as_configured() {
    let api = TestClient::new(World::healthy(30, 1, now()), SimOptions::default()).await;
    api.sim
        .set_faults(Faults::rules([FaultRule::new(FaultKind::TruncatedBody)
            .path_contains("/Users")
            .once()]));
    let response = api.scim("D1", "/Users").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.unwrap();
    assert!(text.starts_with("{\"schemas\"") && serde_json::from_str::<Value>(&text).is_err());

    api.sim.set_faults(Faults::rules([
        FaultRule::new(FaultKind::MalformedJson).once()
    ]));
    let text = api
        .scim("D1", "/Users")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(serde_json::from_str::<Value>(&text).is_err());

    api.sim.set_faults(Faults::rules([
        FaultRule::new(FaultKind::MissingResources)
            .on(Api::Accounts)
            .once(),
        FaultRule::new(FaultKind::TotalResultsDrift(2))
            .on(Api::Scim)
            .skip(1),
    ]));
    let page = json(
        api.org(Method::GET, "/admin/v2/orgs/{org}/directories/-/users")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(page.get("data").is_none() && page["links"].is_object());
    let totals: Vec<Value> = futures::future::join_all((0..3).map(|i| {
        let request = api
            .scim("D1", "/Users")
            .query(&[("startIndex", (1 + 10 * i).to_string())]);
        async move { json(request.send().await.unwrap()).await["totalResults"].clone() }
    }))
    .await;
    let mut totals: Vec<u64> = totals.iter().filter_map(Value::as_u64).collect();
    totals.sort();
    assert_eq!(totals, [30, 32, 32]);

    api.sim.set_faults(Faults::rules([FaultRule::new(
        FaultKind::StatusAfterApply(500),
    )
    .method(Method::DELETE)]));
    let r = api.dir("D1").users[0].id.clone();
    let dir = api.dir("D1");
    let url = api.url(&format!("/scim/directory/{}/Users/{r}", dir.id));
    let response = api
        .http
        .delete(&url)
        .bearer_auth(&dir.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(api.sim.world().user(&r).is_none(), "the delete took effect");
}

/// The listing knobs: a differing copy of an item just before it, an item served on another page
/// injected first, and `links.next` naming the cursor that served the page.
#[tokio::test]
async fn listing_faults_repeat_inject_and_loop_back() {
    let api = TestClient::new(World::healthy(30, 1, now()), SimOptions::default()).await;
    let first = api.dir("D1").users[3].id.clone();
    let mut set = serde_json::Map::new();
    set.insert("active".into(), json!(false));
    api.sim
        .set_faults(Faults::rules([FaultRule::new(FaultKind::RepeatItem {
            id: first.clone(),
            set,
        })
        .on(Api::Scim)
        .once()]));
    let page = json(api.scim("D1", "/Users").send().await.unwrap()).await;
    let resources = page["Resources"].as_array().unwrap();
    assert_eq!((resources.len(), &page["itemsPerPage"]), (31, &json!(31)));
    assert_eq!(
        (&resources[3]["id"], &resources[3]["active"]),
        (&json!(first), &json!(false))
    );
    assert_eq!(
        (&resources[4]["id"], &resources[4]["active"]),
        (&json!(first), &json!(true))
    );

    for counted in [false, true] {
        api.sim
            .set_faults(Faults::rules([FaultRule::new(FaultKind::InjectItem {
                item: json!({"id": "extra"}),
                counted,
            })
            .on(Api::Scim)
            .once()]));
        let page = json(api.scim("D1", "/Users").send().await.unwrap()).await;
        assert_eq!(page["Resources"][0]["id"], "extra");
        assert_eq!(page["Resources"].as_array().unwrap().len(), 31);
        assert_eq!(page["itemsPerPage"], if counted { 31 } else { 30 });
        assert_eq!(page["totalResults"], 30);
    }

    api.sim.set_options(|o| o.accounts_page_cap = 10);
    api.sim
        .set_faults(Faults::rules([FaultRule::new(FaultKind::BadLinksNext(
            BadNext::ThisPage,
        ))
        .on(Api::Accounts)
        .skip(1)
        .once()]));
    let list = "/admin/v2/orgs/{org}/directories/-/users";
    let one = json(api.org(Method::GET, list).send().await.unwrap()).await;
    let followed = one["links"]["next"].as_str().unwrap().to_owned();
    let two = json(
        api.org(Method::GET, list)
            .query(&[("cursor", &followed)])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        two["links"]["next"],
        json!(followed),
        "back to the page itself"
    );
    assert_ne!(two["data"], one["data"]);
}

#[tokio::test]
async fn random_5xx_are_seeded() {
    async fn run(seed: u64) -> Vec<u16> {
        let api = TestClient::new(World::healthy(5, 1, now()), SimOptions::default()).await;
        api.sim.set_faults(Faults {
            error_5xx_rate: 0.5,
            seed,
            ..Faults::default()
        });
        let mut statuses = Vec::new();
        for _ in 0..20 {
            statuses.push(
                api.scim("D1", "/Users")
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16(),
            );
        }
        api.sim.shutdown().await;
        statuses
    }
    let (a, b) = (run(9).await, run(9).await);
    assert_eq!(a, b);
    assert!(a.contains(&200) && a.iter().any(|s| [500, 502, 503, 504].contains(s)));
}

// ---------------------------------------------------------------- handle

#[tokio::test]
async fn config_snippet_names_every_directory_and_key() {
    let sim = start_sim(World::scenarios(now()), SimOptions::default()).await;
    let world = sim.world();
    let snippet = sim.config_snippet();
    assert!(snippet.starts_with(&format!("[atlassian]\nbase_url = \"{}\"\n", sim.base_url())));
    assert!(snippet.contains(&format!("org_id = \"{}\"", world.org_id)));
    assert!(snippet.contains("org_api_key_env = \"SCIMDRIFT_ORG_API_KEY\""));
    assert!(snippet.contains("accounts_endpoint = \"search\""));
    assert!(snippet.contains("name = \"okta\"\ntoken_env = \"SCIMDRIFT_DIR_OKTA\""));
    assert_eq!(snippet.matches("[[atlassian.directories]]").count(), 2);
    assert!(snippet.contains(&format!(
        "export SCIMDRIFT_DIR_ENTRA='{}'",
        world.directories[0].token
    )));
    assert!(sim.config_toml().lines().all(|l| !l.starts_with("export")));
    sim.clone().shutdown().await;
    assert!(Client::new().get(sim.base_url()).send().await.is_err());
}

#[tokio::test]
async fn pulls_100k_users_in_1000_pages() {
    let api = TestClient::new(World::healthy(100_000, 5, now()), SimOptions::default()).await;
    let started = Instant::now();
    let mut seen = 0;
    let mut start = 1;
    loop {
        let response = api
            .scim("D1", "/Users")
            .query(&[("startIndex", start), ("count", 100)])
            .send()
            .await
            .unwrap();
        let bytes = response.bytes().await.unwrap();
        let page: Value = serde_json::from_slice(&bytes).unwrap();
        let n = page["Resources"].as_array().unwrap().len();
        seen += n;
        start += n;
        if n == 0 || seen >= 100_000 {
            break;
        }
    }
    eprintln!("pulled {seen} users in {:?}", started.elapsed());
    assert_eq!(seen, 100_000);
    assert_eq!(api.sim.request_count(Api::Scim), 1000);
}
