//! Black-box tests of the Entra fake over loopback HTTP: the token endpoint, Graph reads and
//! paging, knobs, provision on demand, and the seeded worlds.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use jsonwebtoken::jwk::ThumbprintHash;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::header::HeaderMap;
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use tokio::net::TcpListener;

use super::token::{certificate_der, sha1};
use crate::sim::{
    self, Api, ENTRA_TEST_CERT_PEM, ENTRA_TEST_KEY_PEM, ENTRA_TEST_OTHER_KEY_PEM, GraphFamily,
    JWT_BEARER, JobState, SchemaStyle, SimHandle, SimOptions, World, normalize_email,
};

fn now() -> DateTime<Utc> {
    Utc::now()
}

/// A fixed instant, for comparing seeded worlds.
fn fixed_now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-24T06:00:00Z")
        .map(|t| t.with_timezone(&Utc))
        .unwrap()
}

async fn start(world: World) -> SimHandle {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    sim::start(listener, world, SimOptions::default())
        .await
        .unwrap()
}

fn form(pairs: &[(&str, &str)]) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

/// Posts a token request; returns the status and the JSON body.
async fn token_request(sim: &SimHandle, tenant: &str, pairs: &[(&str, &str)]) -> (u16, Value) {
    let response = Client::new()
        .post(sim.entra_token_url(tenant))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(pairs))
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

/// A Graph client of the first tenant, authenticated with its secret.
struct Graph {
    http: Client,
    sim: SimHandle,
    world: World,
    token: String,
}

impl Graph {
    async fn new(world: World) -> Self {
        let sim = start(world).await;
        let world = sim.world();
        let mut graph = Self {
            http: Client::new(),
            sim,
            world,
            token: String::new(),
        };
        graph.refresh().await;
        graph
    }

    fn tenant(&self) -> &sim::SimEntra {
        &self.world.entra[0]
    }

    async fn refresh(&mut self) {
        let t = self.tenant().clone();
        let scope = self.sim.entra_scope();
        let (status, body) = token_request(
            &self.sim,
            &t.tenant_id,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &t.client_id),
                ("client_secret", &t.client_secret),
                ("scope", &scope),
            ],
        )
        .await;
        assert_eq!(status, 200, "{body}");
        self.token = body["access_token"].as_str().unwrap().to_owned();
    }

    fn url(&self, path: &str) -> String {
        if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}{path}", self.sim.graph_base_url())
        }
    }

    async fn get_full(&self, path: &str) -> (u16, HeaderMap, Value) {
        let response = self
            .http
            .get(self.url(path))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.json().await.unwrap_or(Value::Null);
        (status, headers, body)
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        let (status, _, body) = self.get_full(path).await;
        (status, body)
    }

    /// Follows `@odata.nextLink` to the end; returns the items and the number of pages.
    async fn all(&self, path: &str) -> (Vec<Value>, usize) {
        let mut items = Vec::new();
        let mut pages = 0;
        let mut next = Some(self.url(path));
        while let Some(url) = next {
            let (status, body) = self.get(&url).await;
            assert_eq!(status, 200, "{url}: {body}");
            pages += 1;
            items.extend(body["value"].as_array().unwrap().iter().cloned());
            next = body["@odata.nextLink"].as_str().map(str::to_owned);
            assert!(pages < 10_000);
        }
        (items, pages)
    }

    async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        let response = self
            .http
            .post(self.url(path))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await
            .unwrap();
        (
            response.status().as_u16(),
            response.json().await.unwrap_or(Value::Null),
        )
    }

    fn sp(&self) -> String {
        self.tenant().app_service_principal_id.clone()
    }

    fn job(&self) -> String {
        self.tenant().job().unwrap().id.clone()
    }

    async fn provision(&self, object_id: &str) -> (u16, Value) {
        let path = format!(
            "/servicePrincipals/{}/synchronization/jobs/{}/provisionOnDemand",
            self.sp(),
            self.job()
        );
        self.post(
            &path,
            &on_demand_body(object_id, sim::ATLASSIAN_USER_RULE_ID),
        )
        .await
    }
}

fn on_demand_body(object_id: &str, rule: &str) -> Value {
    json!({"parameters": [{"subjects": [{"objectId": object_id, "objectTypeName": "User"}],
                           "ruleId": rule}]})
}

fn assert_graph_error(status: u16, body: &Value, want_status: u16, code: &str) {
    assert_eq!(status, want_status, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    let inner = &body["error"]["innerError"];
    for key in ["date", "request-id", "client-request-id"] {
        assert!(inner[key].is_string(), "{key} in {body}");
    }
}

/// A signed client assertion for `t` with the given claims and thumbprint header.
fn assertion(key_pem: &str, claims: &Value, thumbprint: Option<(&str, String)>) -> String {
    let mut header = Header::new(Algorithm::RS256);
    match thumbprint {
        Some(("x5t#S256", v)) => header.x5t_s256 = Some(v),
        Some((_, v)) => header.x5t = Some(v),
        None => {}
    }
    let key = EncodingKey::from_rsa_pem(key_pem.as_bytes()).unwrap();
    jsonwebtoken::encode(&header, claims, &key).unwrap()
}

fn thumbprints() -> (String, String) {
    let der = certificate_der(ENTRA_TEST_CERT_PEM).unwrap();
    let sha256 = jsonwebtoken::crypto::CryptoProvider::try_get_default()
        .map(|p| (p.key_utils.compute_digest)(&der, ThumbprintHash::SHA256).unwrap())
        .unwrap();
    (
        URL_SAFE_NO_PAD.encode(sha256),
        URL_SAFE_NO_PAD.encode(sha1(&der)),
    )
}

// ---------------------------------------------------------------- token endpoint

#[tokio::test]
async fn token_by_secret_and_by_assertion() {
    let sim = start(World::scenarios(now())).await;
    let t = sim.world().entra[0].clone();
    let scope = sim.entra_scope();
    assert_eq!(scope, format!("{}/.default", sim.base_url()));
    let by_secret = |secret: &str| {
        vec![
            ("grant_type", "client_credentials".to_owned()),
            ("client_id", t.client_id.clone()),
            ("client_secret", secret.to_owned()),
            ("scope", scope.clone()),
        ]
    };
    let send = |v: Vec<(&'static str, String)>, tenant: String| {
        let sim = sim.clone();
        async move {
            let refs: Vec<(&str, &str)> = v.iter().map(|(k, v)| (*k, v.as_str())).collect();
            token_request(&sim, &tenant, &refs).await
        }
    };

    let (status, body) = send(by_secret(&t.client_secret), t.tenant_id.clone()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3599);
    assert_eq!(body["ext_expires_in"], 3599);
    let token = body["access_token"].as_str().unwrap().to_owned();
    assert!(token.len() >= 32 && !token.contains(&t.client_secret));

    let (status, body) = send(by_secret("wrong"), t.tenant_id.clone()).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"], "invalid_client");
    assert_eq!(body["error_codes"], json!([7000215]));
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .starts_with("AADSTS7000215: Invalid client secret provided")
    );
    for key in ["timestamp", "trace_id", "correlation_id"] {
        assert!(body[key].is_string(), "{key}");
    }
    assert!(!body.to_string().contains("wrong"));

    let mut wrong_scope = by_secret(&t.client_secret);
    wrong_scope[3].1 = "https://graph.microsoft.com/.default".into();
    let (status, body) = send(wrong_scope, t.tenant_id.clone()).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_scope"))
    );
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .starts_with("AADSTS")
    );

    let (status, body) = send(by_secret(&t.client_secret), "no-such-tenant".into()).await;
    assert_eq!(
        (status, body["error_codes"][0].as_u64()),
        (400, Some(90002))
    );

    let mut other_client = by_secret(&t.client_secret);
    other_client[1].1 = "someone-else".into();
    let (status, body) = send(other_client, t.tenant_id.clone()).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unauthorized_client"))
    );

    let mut password = by_secret(&t.client_secret);
    password[0].1 = "password".into();
    let (status, body) = send(password, t.tenant_id.clone()).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unsupported_grant_type"))
    );

    // Client assertions.
    let aud = sim.entra_token_url(&t.tenant_id);
    let nowts = Utc::now().timestamp();
    let claims = |aud: &str, iss: &str, exp: i64, jti: Option<&str>| {
        let mut c = json!({"aud": aud, "iss": iss, "sub": iss, "exp": exp, "nbf": nowts - 5,
                           "iat": nowts - 5});
        if let Some(j) = jti {
            c["jti"] = j.into();
        }
        c
    };
    let (s256, s1) = thumbprints();
    let good = claims(&aud, &t.client_id, nowts + 600, Some("j-1"));
    let by_assertion = |jwt: String| {
        vec![
            ("grant_type", "client_credentials".to_owned()),
            ("client_id", t.client_id.clone()),
            ("client_assertion_type", JWT_BEARER.to_owned()),
            ("client_assertion", jwt),
            ("scope", scope.clone()),
        ]
    };
    for thumb in [("x5t#S256", s256.clone()), ("x5t", s1.clone())] {
        let jwt = assertion(ENTRA_TEST_KEY_PEM, &good, Some(thumb));
        let (status, body) = send(by_assertion(jwt), t.tenant_id.clone()).await;
        assert_eq!(status, 200, "{body}");
        assert!(body["access_token"].is_string());
    }
    let refused = [
        (
            "other key",
            assertion(
                ENTRA_TEST_OTHER_KEY_PEM,
                &good,
                Some(("x5t#S256", s256.clone())),
            ),
        ),
        ("no thumbprint", assertion(ENTRA_TEST_KEY_PEM, &good, None)),
        (
            "wrong thumbprint",
            assertion(ENTRA_TEST_KEY_PEM, &good, Some(("x5t", s256.clone()))),
        ),
        (
            "wrong audience",
            assertion(
                ENTRA_TEST_KEY_PEM,
                &claims(
                    "https://login.microsoftonline.com/x/oauth2/v2.0/token",
                    &t.client_id,
                    nowts + 600,
                    Some("j"),
                ),
                Some(("x5t#S256", s256.clone())),
            ),
        ),
        (
            "wrong issuer",
            assertion(
                ENTRA_TEST_KEY_PEM,
                &claims(&aud, "someone-else", nowts + 600, Some("j")),
                Some(("x5t#S256", s256.clone())),
            ),
        ),
        (
            "expired",
            assertion(
                ENTRA_TEST_KEY_PEM,
                &claims(&aud, &t.client_id, nowts - 60, Some("j")),
                Some(("x5t#S256", s256.clone())),
            ),
        ),
        (
            "no jti",
            assertion(
                ENTRA_TEST_KEY_PEM,
                &claims(&aud, &t.client_id, nowts + 600, None),
                Some(("x5t#S256", s256.clone())),
            ),
        ),
        ("garbage", "not.a.jwt".to_owned()),
    ];
    for (why, jwt) in refused {
        let (status, body) = send(by_assertion(jwt.clone()), t.tenant_id.clone()).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (401, Some("invalid_client")),
            "{why}: {body}"
        );
        assert!(
            !body.to_string().contains(&jwt),
            "{why}: the assertion is echoed"
        );
    }
    let mut future_nbf = good.clone();
    future_nbf["nbf"] = (nowts + 300).into();
    let jwt = assertion(
        ENTRA_TEST_KEY_PEM,
        &future_nbf,
        Some(("x5t#S256", s256.clone())),
    );
    assert_eq!(send(by_assertion(jwt), t.tenant_id.clone()).await.0, 401);

    // A public-key registration checks the signature only; no registration refuses.
    assert!(sim.update_entra(&t.directory_id, |t| {
        t.client_certificate_pem = Some(sim::ENTRA_TEST_PUBLIC_KEY_PEM.into());
    }));
    let jwt = assertion(ENTRA_TEST_KEY_PEM, &good, None);
    assert_eq!(
        send(by_assertion(jwt.clone()), t.tenant_id.clone()).await.0,
        200
    );
    let other = assertion(ENTRA_TEST_OTHER_KEY_PEM, &good, None);
    assert_eq!(send(by_assertion(other), t.tenant_id.clone()).await.0, 401);
    sim.update_entra(&t.directory_id, |t| t.client_certificate_pem = None);
    assert_eq!(send(by_assertion(jwt), t.tenant_id.clone()).await.0, 401);

    // The token works on Graph; nothing secret reached the request log.
    let response = Client::new()
        .get(format!("{}/users?$top=1", sim.graph_base_url()))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let log = format!("{:?}", sim.requests());
    assert!(!log.contains(&token) && !log.contains(&t.client_secret));
    assert!(sim.request_count(Api::EntraToken) >= 15);
    assert_eq!(sim.request_count(Api::Graph), 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn graph_refuses_missing_unknown_and_expired_tokens() {
    let mut g = Graph::new(World::scenarios(now())).await;
    let response = g.http.get(g.url("/users")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let body: Value = response.json().await.unwrap();
    assert_graph_error(401, &body, 401, "InvalidAuthenticationToken");
    let real = g.token.clone();
    g.token = "not-a-token".into();
    let (status, body) = g.get("/users").await;
    assert_graph_error(status, &body, 401, "InvalidAuthenticationToken");
    g.token = real;
    assert_eq!(g.get("/users").await.0, 200);

    g.sim.set_entra_options(|o| o.expires_in = 1);
    g.refresh().await;
    assert_eq!(g.get("/users").await.0, 200);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, body) = g.get("/users").await;
    assert_graph_error(status, &body, 401, "InvalidAuthenticationToken");
    g.sim.set_entra_options(|o| o.expires_in = 3599);
    g.refresh().await;

    // Expiry mid-pull: the third request is refused once; the token stays dead.
    g.sim.set_entra_options(|o| o.expire_token_after = Some(2));
    assert_eq!(g.get("/users").await.0, 200);
    assert_eq!(g.get("/users").await.0, 200);
    let (status, body) = g.get("/users").await;
    assert_graph_error(status, &body, 401, "InvalidAuthenticationToken");
    assert_eq!(g.get("/users").await.0, 401);
    g.refresh().await;
    assert_eq!(g.get("/users").await.0, 200);
    assert_eq!(g.get("/users").await.0, 200);
    g.sim.shutdown().await;
}

// ---------------------------------------------------------------- reads and paging

#[tokio::test]
async fn paging_follows_next_link_to_the_end() {
    let g = Graph::new(World::healthy_with_entra(2500, 7, 3, now())).await;
    let (users, pages) = g
        .all("/users?$select=id,userPrincipalName,mail,accountEnabled&$top=999")
        .await;
    assert_eq!((users.len(), pages), (2500, 3));
    let ids: HashSet<&str> = users.iter().map(|u| u["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 2500);
    assert_eq!(users[0].as_object().unwrap().len(), 4, "{}", users[0]);
    assert_eq!(users[0]["accountEnabled"], true);

    let (_, first) = g.get("/users?$top=999&$count=true").await;
    assert_eq!(first["@odata.count"], 2500);
    assert!(
        first["value"][0].get("accountEnabled").is_none(),
        "not in the default set"
    );
    let next = first["@odata.nextLink"].as_str().unwrap();
    assert!(next.starts_with(&g.sim.graph_base_url()) && next.contains("$skiptoken="));
    let (_, second) = g.get(next).await;
    assert!(second.get("@odata.count").is_none());
    assert_eq!(second["value"].as_array().unwrap().len(), 999);

    let (no_top, pages) = g.all("/users").await;
    assert_eq!((no_top.len(), pages), (2500, 25));

    g.sim.set_entra_options(|o| o.page_size_cap = Some(300));
    let (_, pages) = g.all("/users?$top=999&$select=id").await;
    assert_eq!(pages, 9);
    g.sim.set_entra_options(|o| o.page_size_cap = None);

    for bad in ["/users?$top=1000", "/users?$top=0", "/users?$top=x"] {
        let (status, body) = g.get(bad).await;
        assert_graph_error(status, &body, 400, "Request_UnsupportedQuery");
    }
    let (status, body) = g.get("/users?$select=id,shoeSize").await;
    assert_graph_error(status, &body, 400, "Request_BadRequest");
    let tampered = next.replace("$skiptoken=X'", "$skiptoken=X'1");
    assert_eq!(g.get(&tampered).await.0, 400);

    // Assignments (no $top: pages of 100), groups, members.
    let sp = g.sp();
    let (assignments, pages) = g
        .all(&format!("/servicePrincipals/{sp}/appRoleAssignedTo"))
        .await;
    assert_eq!((assignments.len(), pages), (7, 1));
    let groups: Vec<&Value> = assignments
        .iter()
        .filter(|a| a["principalType"] == "Group")
        .collect();
    assert_eq!(groups.len(), 7);
    assert_eq!(assignments[0]["resourceId"], sp.as_str());
    let mut members = 0;
    for a in groups {
        let gid = a["principalId"].as_str().unwrap();
        let (status, group) = g
            .get(&format!(
                "/groups/{gid}?$select=id,displayName,securityEnabled"
            ))
            .await;
        assert_eq!(status, 200);
        assert_eq!(group["securityEnabled"], true);
        assert_eq!(group.as_object().unwrap().len(), 4, "{group}");
        let (list, pages) = g
            .all(&format!("/groups/{gid}/members?$select=id&$top=100"))
            .await;
        assert_eq!(pages, list.len().div_ceil(100).max(1));
        assert!(
            list.iter()
                .all(|m| m["@odata.type"] == "#microsoft.graph.user")
        );
        assert!(list.iter().all(|m| m.as_object().unwrap().len() == 2));
        members += list.len();
    }
    assert_eq!(members, 2500);
    g.sim.shutdown().await;
}

/// `next_link_loops`: every page after the first names, as its next, the link that served it.
#[tokio::test]
async fn next_link_loops_back_to_the_page_itself() {
    let g = Graph::new(World::healthy_with_entra(25, 2, 3, now())).await;
    g.sim.set_entra_options(|o| {
        o.page_size_cap = Some(10);
        o.next_link_loops = true;
    });
    let (_, first) = g.get("/users?$select=id&$top=999").await;
    let followed = first["@odata.nextLink"].as_str().unwrap().to_owned();
    let (_, second) = g.get(&followed).await;
    assert_eq!(second["@odata.nextLink"], json!(followed));
    assert_ne!(second["value"], first["value"]);
}

#[tokio::test]
async fn service_principal_lookups_and_filters() {
    let g = Graph::new(World::scenarios(now())).await;
    let app = g.tenant().app().unwrap().clone();
    let (status, sp) = g.get(&format!("/servicePrincipals/{}", app.id)).await;
    assert_eq!(status, 200);
    assert_eq!(
        (
            sp["appId"].as_str(),
            sp["displayName"].as_str(),
            sp["accountEnabled"].as_bool()
        ),
        (
            Some(app.app_id.as_str()),
            Some("Atlassian Cloud"),
            Some(true)
        )
    );
    assert_eq!(sp["appRoleAssignmentRequired"], true);
    assert!(
        sp["appRoles"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["id"].is_string())
    );
    let (_, found) = g
        .get(&format!(
            "/servicePrincipals?$filter=appId eq '{}'",
            app.app_id
        ))
        .await;
    assert_eq!(found["value"].as_array().unwrap().len(), 1);
    assert_eq!(found["value"][0]["id"], app.id.as_str());
    let (_, found) = g
        .get("/servicePrincipals?$filter=displayName eq 'Atlassian Cloud'")
        .await;
    assert_eq!(found["value"].as_array().unwrap().len(), 1);
    let (_, none) = g.get("/servicePrincipals?$filter=appId eq 'nope'").await;
    assert_eq!(none["value"], json!([]));
    let (status, body) = g
        .get("/servicePrincipals?$filter=startswith(displayName,'Atl')")
        .await;
    assert_graph_error(status, &body, 400, "Request_UnsupportedQuery");
    let (status, body) = g.get("/servicePrincipals/nope").await;
    assert_graph_error(status, &body, 404, "Request_ResourceNotFound");
    let (status, body) = g.get("/users/nope?$select=id,accountEnabled").await;
    assert_graph_error(status, &body, 404, "Request_ResourceNotFound");
    let r9 = g
        .world
        .labelled_user("R9")
        .unwrap()
        .external_id
        .clone()
        .unwrap();
    let (status, user) = g
        .get(&format!("/users/{r9}?$select=id,accountEnabled"))
        .await;
    assert_eq!(
        (status, user["accountEnabled"].as_bool()),
        (200, Some(false))
    );
    assert_eq!(user["id"], r9.as_str());

    // Jobs and schema.
    let (_, jobs) = g
        .get(&format!(
            "/servicePrincipals/{}/synchronization/jobs",
            app.id
        ))
        .await;
    let job = &jobs["value"][0];
    assert_eq!(job["status"]["code"], "Active");
    assert_eq!(job["schedule"]["interval"], "PT40M");
    assert_eq!(
        job["status"]["lastSuccessfulExecution"]["state"],
        "Succeeded"
    );
    assert!(job["status"]["quarantine"].is_null());
    let job_id = job["id"].as_str().unwrap();
    assert!(job_id.starts_with("scim."));
    let (_, schema) = g
        .get(&format!(
            "/servicePrincipals/{}/synchronization/jobs/{job_id}/schema",
            app.id
        ))
        .await;
    let rule = &schema["synchronizationRules"][0];
    assert_eq!(rule["id"], sim::ATLASSIAN_USER_RULE_ID);
    let users = rule["objectMappings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["sourceObjectName"] == "User")
        .unwrap();
    let by_target: HashMap<&str, (&str, u64)> = users["attributeMappings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["targetAttributeName"].as_str().unwrap(),
                (
                    m["source"]["name"].as_str().unwrap(),
                    m["matchingPriority"].as_u64().unwrap(),
                ),
            )
        })
        .collect();
    assert_eq!(by_target["externalId"].0, "objectId");
    assert_eq!(by_target["userName"], ("userPrincipalName", 1));
    assert_eq!(by_target["emails[type eq \"work\"].value"].0, "mail");
    let (status, _) = g
        .get(&format!(
            "/servicePrincipals/{}/synchronization/jobs/nope/schema",
            app.id
        ))
        .await;
    assert_eq!(status, 404);
    g.sim.shutdown().await;
}

// ---------------------------------------------------------------- knobs

#[tokio::test]
async fn knobs_for_errors_and_throttling() {
    let g = Graph::new(World::idp_scenarios(now())).await;
    let sp = g.sp();
    let main = g
        .tenant()
        .groups
        .iter()
        .find(|x| x.display_name == "Atlassian Users")
        .unwrap()
        .id
        .clone();

    g.sim
        .set_entra_options(|o| o.deleted_groups = vec![main.clone()]);
    for path in [
        format!("/groups/{main}"),
        format!("/groups/{main}/members?$select=id&$top=999"),
        format!("/groups/{main}/transitiveMembers?$select=id&$top=999"),
    ] {
        let (status, body) = g.get(&path).await;
        assert_graph_error(status, &body, 404, "Request_ResourceNotFound");
    }
    g.sim.set_entra_options(|o| o.deleted_groups.clear());
    assert_eq!(g.get(&format!("/groups/{main}")).await.0, 200);

    g.sim
        .set_entra_options(|o| o.forbidden = vec![GraphFamily::Users]);
    let (status, body) = g.get("/users").await;
    assert_graph_error(status, &body, 403, "Authorization_RequestDenied");
    assert_eq!(
        body["error"]["message"],
        "Insufficient privileges to complete the operation."
    );
    assert_eq!(g.get(&format!("/groups/{main}")).await.0, 200);
    g.sim.set_entra_options(|o| {
        o.forbidden.clear();
        o.logs_forbidden = true;
    });
    let logs = format!(
        "/auditLogs/provisioning?$filter=servicePrincipal/id eq '{sp}' and activityDateTime gt 2000-01-01T00:00:00Z"
    );
    let (status, body) = g.get(&logs).await;
    assert_graph_error(status, &body, 403, "Authorization_RequestDenied");
    g.sim.set_entra_options(|o| o.logs_forbidden = false);

    // Bursts, with and without Retry-After, and the throttle header.
    g.sim.set_entra_options(|o| {
        o.throttle_burst = 2;
        o.throttle_limit_percentage = Some(0.85);
    });
    for _ in 0..2 {
        let (status, headers, body) = g.get_full("/users?$top=5").await;
        assert_graph_error(status, &body, 429, "TooManyRequests");
        assert_eq!(headers["retry-after"], "1");
        assert_eq!(headers["x-ms-throttle-limit-percentage"], "0.85");
    }
    let (status, headers, _) = g.get_full("/users?$top=5").await;
    assert_eq!(status, 200);
    assert_eq!(headers["x-ms-throttle-limit-percentage"], "0.85");
    g.sim.set_entra_options(|o| {
        o.throttle_burst = 1;
        o.retry_after_seconds = None;
        o.throttle_limit_percentage = None;
    });
    let (status, headers, _) = g.get_full("/users?$top=5").await;
    assert_eq!(status, 429);
    assert!(headers.get("retry-after").is_none());
    assert!(headers.get("x-ms-throttle-limit-percentage").is_none());
    g.sim.set_entra_options(|o| {
        o.throttle_burst = 0;
        o.retry_after_seconds = Some(1);
    });

    // The reports limit: 5 per window per tenant, the 6th refused.
    g.sim
        .set_entra_options(|o| o.reports_window = Duration::from_millis(1500));
    for _ in 0..5 {
        assert_eq!(g.get(&logs).await.0, 200);
    }
    let (status, headers, body) = g.get_full(&logs).await;
    assert_graph_error(status, &body, 429, "TooManyRequests");
    assert!(
        headers["retry-after"]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            >= 1
    );
    assert_eq!(
        g.get("/users?$top=1").await.0,
        200,
        "other families unaffected"
    );
    tokio::time::sleep(Duration::from_millis(1600)).await;
    assert_eq!(g.get(&logs).await.0, 200);

    // Shared fault rules answer in Graph's shape.
    g.sim.set_faults(sim::Faults::rules([sim::FaultRule::new(
        sim::FaultKind::Status(503),
    )
    .on(Api::Graph)
    .once()]));
    let (status, body) = g.get("/users").await;
    assert_graph_error(status, &body, 503, "serviceNotAvailable");
    assert_eq!(g.get("/users").await.0, 200);
    g.sim.shutdown().await;
}

#[tokio::test]
async fn knobs_for_lenient_shapes() {
    let g = Graph::new(World::idp_scenarios(now())).await;
    let sp = g.sp();
    let w = &g.world;
    let (e1, e2) = (
        w.label("E1").unwrap().to_owned(),
        w.label("E2").unwrap().to_owned(),
    );
    g.sim.set_entra_options(|o| {
        o.null_mail = vec![e1.clone()];
        o.null_account_enabled = vec![e2.clone()];
        o.service_principal_as_array = true;
        o.initiating_type_spelling = true;
        o.unknown_enums = true;
        o.replication_lag = 1;
    });
    let (users, _) = g
        .all("/users?$select=id,mail,accountEnabled&$top=999")
        .await;
    let by_id: HashMap<&str, &Value> = users
        .iter()
        .map(|u| (u["id"].as_str().unwrap(), u))
        .collect();
    assert!(by_id[e1.as_str()]["mail"].is_null());
    assert!(by_id[e2.as_str()]["accountEnabled"].is_null());
    let logs = format!(
        "/auditLogs/provisioning?$filter=servicePrincipal/id eq '{sp}' and activityDateTime gt 2000-01-01T00:00:00Z"
    );
    let (events, _) = g.all(&logs).await;
    assert!(!events.is_empty());
    for e in &events {
        assert!(e["servicePrincipal"].is_array());
        assert_eq!(e["initiatedBy"]["initiatingType"], "system");
        assert!(e["initiatedBy"].get("initiatorType").is_none());
        assert_eq!(e["provisioningStatusInfo"]["status"], "unknownFutureValue");
    }
    let (_, jobs) = g
        .get(&format!("/servicePrincipals/{sp}/synchronization/jobs"))
        .await;
    assert_eq!(jobs["value"][0]["status"]["code"], "unknownFutureValue");
    // The newest assignment (E1's, 3 days old) is hidden by the lag.
    let (assignments, _) = g
        .all(&format!("/servicePrincipals/{sp}/appRoleAssignedTo"))
        .await;
    assert!(assignments.iter().all(|a| a["principalId"] != e1.as_str()));
    g.sim.set_entra_options(|o| o.replication_lag = 0);
    let (assignments, _) = g
        .all(&format!("/servicePrincipals/{sp}/appRoleAssignedTo"))
        .await;
    assert!(assignments.iter().any(|a| a["principalId"] == e1.as_str()));

    // Job states, execution states, sentinels, schema.
    let jobs_path = format!("/servicePrincipals/{sp}/synchronization/jobs");
    g.sim.set_entra_options(|o| {
        o.unknown_enums = false;
        o.job_state = Some(JobState::NotRun);
        o.year_one_sentinels = true;
    });
    let (_, jobs) = g.get(&jobs_path).await;
    let status = &jobs["value"][0]["status"];
    assert_eq!(status["code"], "NotRun");
    assert_eq!(
        status["lastSuccessfulExecution"]["timeEnded"],
        "0001-01-01T00:00:00Z"
    );
    assert_eq!(
        status["steadyStateFirstAchievedTime"],
        "0001-01-01T00:00:00Z"
    );
    g.sim.set_entra_options(|o| o.year_one_sentinels = false);
    let (_, jobs) = g.get(&jobs_path).await;
    assert!(jobs["value"][0]["status"]["lastSuccessfulExecution"].is_null());
    for reason in sim::QUARANTINE_REASONS {
        g.sim
            .set_entra_options(|o| o.job_state = Some(JobState::Quarantine(reason.into())));
        let (_, jobs) = g.get(&jobs_path).await;
        let status = &jobs["value"][0]["status"];
        assert_eq!(
            (
                status["code"].as_str(),
                status["quarantine"]["reason"].as_str()
            ),
            (Some("Quarantine"), Some(reason))
        );
    }
    g.sim.set_entra_options(|o| {
        o.job_state = Some(JobState::Paused);
        o.execution_state = Some("EntryLevelErrors".into());
    });
    let (_, jobs) = g.get(&jobs_path).await;
    let job = &jobs["value"][0];
    assert_eq!(
        (
            job["status"]["code"].as_str(),
            job["schedule"]["state"].as_str()
        ),
        (Some("Paused"), Some("Paused"))
    );
    assert_eq!(job["status"]["lastExecution"]["state"], "EntryLevelErrors");
    let job_id = job["id"].as_str().unwrap().to_owned();
    let schema = format!("{jobs_path}/{job_id}/schema");
    g.sim
        .set_entra_options(|o| o.schema = SchemaStyle::EmptyRules);
    assert_eq!(g.get(&schema).await.1["synchronizationRules"], json!([]));
    g.sim
        .set_entra_options(|o| o.schema = SchemaStyle::ServerError);
    let (status, body) = g.get(&schema).await;
    assert_graph_error(status, &body, 500, "generalException");
    g.sim.shutdown().await;
}

#[tokio::test]
async fn provisioning_log_filter_is_strict_and_ordered() {
    let g = Graph::new(World::idp_scenarios(now())).await;
    g.sim.set_entra_options(|o| o.reports_limit = 1000);
    let sp = g.sp();
    let since = (Utc::now() - chrono::Duration::days(4)).format("%Y-%m-%dT%H:%M:%SZ");
    let (events, _) = g
        .all(&format!("/auditLogs/provisioning?$filter=servicePrincipal/id eq '{sp}' and activityDateTime gt {since}&$top=2"))
        .await;
    assert!(events.len() >= 5, "{}", events.len());
    let times: Vec<&str> = events
        .iter()
        .map(|e| e["activityDateTime"].as_str().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "newest first");
    let e5 = g.world.label("E5").unwrap();
    let mo = events
        .iter()
        .find(|e| e["sourceIdentity"]["id"] == e5)
        .unwrap();
    assert_eq!(mo["provisioningAction"], "create");
    assert_eq!(mo["provisioningStatusInfo"]["status"], "failure");
    assert_eq!(
        mo["provisioningStatusInfo"]["errorInformation"]["errorCode"],
        "EntryConflict"
    );
    assert!(
        mo.to_string()
            .contains("Resource [USER]: with email[mo@example.com] already exists.")
    );
    assert_eq!(mo["targetIdentity"]["id"], "");
    assert_eq!(mo["servicePrincipal"]["id"], sp.as_str());
    assert_eq!(mo["initiatedBy"]["initiatorType"], "system");
    let (none, _) = g
        .all("/auditLogs/provisioning?$filter=servicePrincipal/id eq 'other' and activityDateTime gt 2000-01-01T00:00:00Z")
        .await;
    assert!(none.is_empty());
    for bad in [
        format!("servicePrincipal/id eq '{sp}'"),
        format!("ServicePrincipal/id eq '{sp}' and activityDateTime gt {since}"),
        format!("servicePrincipal/id eq '{sp}' and activityDateTime ge {since}"),
    ] {
        let (status, body) = g
            .get(&format!("/auditLogs/provisioning?$filter={bad}"))
            .await;
        assert_graph_error(status, &body, 400, "BadRequest");
    }
    g.sim.shutdown().await;
}

// ---------------------------------------------------------------- provision on demand

#[tokio::test]
async fn provision_on_demand_creates_updates_disables_and_refuses() {
    let g = Graph::new(World::idp_scenarios(now())).await;
    g.sim.set_entra_options(|o| o.on_demand_limit = 1000);
    let label = |l: &str| g.world.label(l).unwrap().to_owned();
    let d1 = g.world.directories[0].clone();
    let scim = |filter: String| {
        let http = g.http.clone();
        let url = format!("{}/scim/directory/{}/Users", g.sim.base_url(), d1.id);
        let token = d1.token.clone();
        async move {
            let response = http
                .get(url)
                .query(&[("filter", filter)])
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            response.json::<Value>().await.unwrap()
        }
    };

    // E1: created, linked to a new managed account, visible through SCIM.
    let (status, body) = g.provision(&label("E1")).await;
    assert_eq!(status, 200, "{body}");
    let key: Value = serde_json::from_str(body["key"].as_str().unwrap()).unwrap();
    let value: Value = serde_json::from_str(body["value"].as_str().unwrap()).unwrap();
    assert_eq!(key["result"], "Success");
    assert_eq!(value["statusInfo"]["status"], "success");
    assert_eq!(value["action"], "Create");
    assert_eq!(value["sourceIdentity"]["id"], label("E1").as_str());
    let scim_id = value["targetIdentity"]["id"].as_str().unwrap().to_owned();
    assert!(!scim_id.is_empty());
    assert!(value["provisioningSteps"].as_array().unwrap().len() >= 2);
    let found = scim(format!("externalId eq \"{}\"", label("E1"))).await;
    assert_eq!(found["totalResults"], 1);
    let record = &found["Resources"][0];
    assert_eq!(record["id"], scim_id.as_str());
    assert_eq!(record["userName"], "ivy@example.com");
    assert_eq!(record["emails"][0]["value"], "ivy@example.com");
    assert_eq!(record["active"], true);
    let world = g.sim.world();
    let account = record["urn:scim:schemas:extension:atlassian-external:1.0"]["atlassianAccountId"]
        .as_str()
        .unwrap();
    let account = world.account(account).unwrap();
    assert!(account.has_access() && account.is_managed());
    assert_eq!(account.email.as_deref(), Some("ivy@example.com"));
    let logged = world.entra[0]
        .provisioning_log
        .iter()
        .rfind(|e| e.source_id == label("E1"))
        .unwrap();
    assert_eq!(
        (logged.action.as_str(), logged.status.as_str()),
        ("create", "success")
    );
    assert_eq!(logged.target_id, scim_id);
    // Again: nothing to export.
    let (_, body) = g.provision(&label("E1")).await;
    let key: Value = serde_json::from_str(body["key"].as_str().unwrap()).unwrap();
    assert_eq!(
        (key["result"].as_str(), key["details"]["errorCode"].as_str()),
        (Some("Skipped"), Some("RedundantExport"))
    );

    // E5: A15 (unmanaged) holds the email: refused, logged as a conflict.
    let (status, body) = g.provision(&label("E5")).await;
    assert_eq!(status, 200);
    let key: Value = serde_json::from_str(body["key"].as_str().unwrap()).unwrap();
    assert_eq!(key["result"], "Failure");
    assert_eq!(key["details"]["errorCode"], "EntryConflict");
    assert!(
        key["details"]["errorMessage"]
            .as_str()
            .unwrap()
            .contains("Resource [USER]: with email[mo@example.com] already exists.")
    );
    assert_eq!(
        scim(format!("externalId eq \"{}\"", label("E5"))).await["totalResults"],
        0
    );
    let last = g.sim.world().entra[0]
        .provisioning_log
        .last()
        .unwrap()
        .clone();
    assert_eq!(
        (
            last.source_id,
            last.status,
            last.error_code.as_deref().map(str::to_owned)
        ),
        (label("E5"), "failure".into(), Some("EntryConflict".into()))
    );

    // E7: renamed: the record and its managed account take the new email.
    let (_, body) = g.provision(&label("E7")).await;
    let value: Value = serde_json::from_str(body["value"].as_str().unwrap()).unwrap();
    assert_eq!(value["action"], "Update");
    let world = g.sim.world();
    let r17 = world.labelled_user("R17").unwrap();
    assert_eq!(
        (r17.user_name.as_str(), r17.emails[0].value.as_str()),
        ("pia.lind@example.com", "pia.lind@example.com")
    );
    assert_eq!(
        world.labelled_account("A17").unwrap().email.as_deref(),
        Some("pia.lind@example.com")
    );

    // E4: no longer intended: its active record is disabled.
    let (_, body) = g.provision(&label("E4")).await;
    let key: Value = serde_json::from_str(body["key"].as_str().unwrap()).unwrap();
    let value: Value = serde_json::from_str(body["value"].as_str().unwrap()).unwrap();
    assert_eq!(
        (key["result"].as_str(), value["action"].as_str()),
        (Some("Success"), Some("Disable"))
    );
    assert_eq!(
        g.sim.world().labelled_user("R14").unwrap().active,
        Some(false)
    );
    // E8: not intended, no record.
    let (_, body) = g.provision(&label("E8")).await;
    let key: Value = serde_json::from_str(body["key"].as_str().unwrap()).unwrap();
    assert_eq!(
        (key["result"].as_str(), key["details"]["errorCode"].as_str()),
        (Some("Skipped"), Some("NotEffectivelyEntitled"))
    );

    // Refusals.
    let (status, body) = g.provision(&label("E2")).await;
    assert_graph_error(status, &body, 400, "BadRequest");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("user is disabled")
    );
    let (status, body) = g.provision(&label("E3")).await;
    assert_graph_error(status, &body, 404, "Request_ResourceNotFound");
    let path = format!(
        "/servicePrincipals/{}/synchronization/jobs/{}/provisionOnDemand",
        g.sp(),
        g.job()
    );
    let (status, body) = g
        .post(&path, &on_demand_body(&label("E6"), "wrong-rule"))
        .await;
    assert_graph_error(status, &body, 400, "BadRequest");
    let wrong_job = format!(
        "/servicePrincipals/{}/synchronization/jobs/scim.nope/provisionOnDemand",
        g.sp()
    );
    let (status, body) = g
        .post(
            &wrong_job,
            &on_demand_body(&label("E6"), sim::ATLASSIAN_USER_RULE_ID),
        )
        .await;
    assert_graph_error(status, &body, 404, "Request_ResourceNotFound");
    let (status, _) = g.post(&path, &json!({"parameters": []})).await;
    assert_eq!(status, 400);

    assert!(g.sim.request_count(Api::GraphProvisionOnDemand) >= 10);
    let logged: Vec<_> = g
        .sim
        .requests()
        .into_iter()
        .filter(|r| r.api == Some(Api::GraphProvisionOnDemand))
        .collect();
    assert!(logged.iter().all(|r| r.method == "POST"));
    g.sim.shutdown().await;
}

#[tokio::test]
async fn provision_on_demand_is_limited_per_window() {
    let g = Graph::new(World::idp_scenarios(now())).await;
    g.sim
        .set_entra_options(|o| o.on_demand_window = Duration::from_millis(1500));
    let e8 = g.world.label("E8").unwrap().to_owned();
    for _ in 0..5 {
        assert_eq!(g.provision(&e8).await.0, 200);
    }
    let (status, body) = g.provision(&e8).await;
    assert_graph_error(status, &body, 429, "TooManyRequests");
    tokio::time::sleep(Duration::from_millis(1600)).await;
    assert_eq!(g.provision(&e8).await.0, 200);
    assert_eq!(g.sim.request_count(Api::GraphProvisionOnDemand), 7);
    g.sim.shutdown().await;
}

#[tokio::test]
async fn provision_on_demand_links_an_unlinked_managed_account() {
    let mut world = World::idp_scenarios(now());
    // E1's email is already held by an unlinked managed account: the new record claims it.
    world.accounts.push(sim::SimAccount::managed(
        "acc-ivy",
        "Ivy@Example.com",
        "Ivy Lam",
        now(),
    ));
    let g = Graph::new(world).await;
    let (_, body) = g.provision(g.world.label("E1").unwrap()).await;
    let value: Value = serde_json::from_str(body["value"].as_str().unwrap()).unwrap();
    let world = g.sim.world();
    let record = world
        .user(value["targetIdentity"]["id"].as_str().unwrap())
        .unwrap();
    assert_eq!(record.atlassian_account_id.as_deref(), Some("acc-ivy"));
    assert_eq!(
        world
            .accounts
            .iter()
            .filter(|a| a
                .email
                .as_deref()
                .is_some_and(|e| normalize_email(e) == "ivy@example.com"))
            .count(),
        1
    );
    g.sim.shutdown().await;
}

// ---------------------------------------------------------------- seeded worlds

/// What a faithful client reads from Graph, and the IdP findings of scenarios.md computed from it
/// and the world's D1 records: `kind {records; accounts; IdP users}` in labels (severity for
/// `idp_disabled_scim_active`).
async fn idp_findings(g: &Graph) -> BTreeSet<String> {
    let sp = g.sp();
    let (assignments, _) = g
        .all(&format!("/servicePrincipals/{sp}/appRoleAssignedTo"))
        .await;
    let (users, _) = g
        .all("/users?$select=id,userPrincipalName,mail,accountEnabled&$top=999")
        .await;
    let users: HashMap<String, Value> = users
        .into_iter()
        .map(|u| (u["id"].as_str().unwrap().to_owned(), u))
        .collect();
    let mut intended: HashSet<String> = HashSet::new();
    let mut named: HashSet<String> = HashSet::new();
    let mut nested: HashSet<String> = HashSet::new();
    for a in &assignments {
        let id = a["principalId"].as_str().unwrap().to_owned();
        match a["principalType"].as_str().unwrap() {
            "User" => {
                intended.insert(id.clone());
                named.insert(id);
            }
            "Group" => {
                let (_, group) = g
                    .get(&format!(
                        "/groups/{id}?$select=id,displayName,securityEnabled"
                    ))
                    .await;
                let (direct, _) = g
                    .all(&format!("/groups/{id}/members?$select=id&$top=999"))
                    .await;
                let (all, _) = g
                    .all(&format!(
                        "/groups/{id}/transitiveMembers?$select=id&$top=999"
                    ))
                    .await;
                let direct: HashSet<String> = direct
                    .iter()
                    .filter(|m| m["@odata.type"] == "#microsoft.graph.user")
                    .map(|m| m["id"].as_str().unwrap().to_owned())
                    .collect();
                named.extend(direct.iter().cloned());
                if group["securityEnabled"] == true {
                    intended.extend(direct.iter().cloned());
                    for m in all
                        .iter()
                        .filter(|m| m["@odata.type"] == "#microsoft.graph.user")
                    {
                        let id = m["id"].as_str().unwrap();
                        if !direct.contains(id) {
                            nested.insert(id.to_owned());
                        }
                    }
                }
            }
            _ => {}
        }
    }
    let mut deleted = HashSet::new();
    for id in &named {
        if !users.contains_key(id) {
            let (status, _) = g
                .get(&format!("/users/{id}?$select=id,accountEnabled"))
                .await;
            assert_eq!(status, 404);
            deleted.insert(id.clone());
        }
    }
    let (_, jobs) = g
        .get(&format!("/servicePrincipals/{sp}/synchronization/jobs"))
        .await;
    let (events, _) = g
        .all(&format!("/auditLogs/provisioning?$filter=servicePrincipal/id eq '{sp}' and activityDateTime gt 2000-01-01T00:00:00Z"))
        .await;
    let mut latest: HashMap<String, &Value> = HashMap::new();
    for e in &events {
        // Newest first: keep the first seen per user.
        latest
            .entry(e["sourceIdentity"]["id"].as_str().unwrap().to_owned())
            .or_insert(e);
    }

    let world = g.sim.world();
    let names: BTreeMap<&str, &str> = world
        .labels
        .iter()
        .map(|(l, id)| (id.as_str(), l.as_str()))
        .collect();
    let label = |ids: &[String]| {
        let mut l: Vec<String> = ids
            .iter()
            .map(|id| {
                names
                    .get(id.as_str())
                    .map_or_else(|| format!("?{id}"), |l| l.to_string())
            })
            .collect();
        l.sort();
        l.join(",")
    };
    let dir = &world.directories[0];
    let primary = |r: &sim::SimUser| normalize_email(&crate::sim::seed::entra::primary_email(r));
    let email_of = |u: &Value| {
        normalize_email(
            u["mail"]
                .as_str()
                .or(u["userPrincipalName"].as_str())
                .unwrap_or_default(),
        )
    };
    let holder = |email: &str| -> Vec<String> {
        world
            .accounts
            .iter()
            .filter(|a| {
                a.email
                    .as_deref()
                    .is_some_and(|e| normalize_email(e) == email)
            })
            .map(|a| a.account_id.clone())
            .collect()
    };
    let linked = |r: &sim::SimUser| -> Vec<String> {
        r.atlassian_account_id
            .iter()
            .filter(|a| world.account(a).is_some())
            .cloned()
            .collect()
    };
    let record_of = |id: &str| {
        dir.users
            .iter()
            .find(|r| r.external_id.as_deref() == Some(id))
    };
    let mut out = BTreeSet::new();
    let mut add = |kind: &str, r: Vec<String>, a: Vec<String>, u: Vec<String>| {
        out.insert(format!(
            "{kind} {{{}; {}; {}}}",
            label(&r),
            label(&a),
            label(&u)
        ));
    };
    for (id, u) in &users {
        let enabled = u["accountEnabled"] == true;
        let record = record_of(id);
        if intended.contains(id) && enabled && record.is_none_or(|r| r.active != Some(true)) {
            add(
                "assigned_not_provisioned",
                record.map(|r| vec![r.id.clone()]).unwrap_or_default(),
                holder(&email_of(u)),
                vec![id.clone()],
            );
        }
        if let Some(r) = record {
            if r.active == Some(true) && (!enabled || !intended.contains(id)) {
                let access = linked(r)
                    .iter()
                    .any(|a| world.account(a).unwrap().has_access());
                let kind = if access {
                    "idp_disabled_scim_active critical"
                } else {
                    "idp_disabled_scim_active high"
                };
                add(kind, vec![r.id.clone()], linked(r), vec![id.clone()]);
            }
            if email_of(u) != primary(r) {
                add(
                    "idp_email_mismatch",
                    vec![r.id.clone()],
                    linked(r),
                    vec![id.clone()],
                );
            }
        }
        if enabled && !intended.contains(id) && nested.contains(id) {
            add("nested_group_only", vec![], vec![], vec![id.clone()]);
        }
        if latest
            .get(id)
            .is_some_and(|e| e["provisioningStatusInfo"]["status"] == "failure")
        {
            add(
                "provisioning_error",
                record.map(|r| vec![r.id.clone()]).unwrap_or_default(),
                holder(&email_of(u)),
                vec![id.clone()],
            );
        }
    }
    for id in &deleted {
        if let Some(r) = record_of(id).filter(|r| r.active == Some(true)) {
            let access = linked(r)
                .iter()
                .any(|a| world.account(a).unwrap().has_access());
            let kind = if access {
                "idp_disabled_scim_active critical"
            } else {
                "idp_disabled_scim_active high"
            };
            add(kind, vec![r.id.clone()], linked(r), vec![]);
        }
    }
    for r in dir.users.iter().filter(|r| r.active == Some(true)) {
        let ext = r.external_id.clone().unwrap_or_default();
        if !users.contains_key(&ext) && !named.contains(&ext) {
            add("orphan_scim_record", vec![r.id.clone()], linked(r), vec![]);
        }
    }
    let code = jobs["value"][0]["status"]["code"]
        .as_str()
        .unwrap_or_default();
    if code != "Active" {
        add("provisioning_stalled", vec![], vec![], vec![]);
    }
    out
}

#[tokio::test]
async fn scenario_tenant_agrees_with_d1() {
    let g = Graph::new(World::scenarios(now())).await;
    assert_eq!(idp_findings(&g).await, BTreeSet::new());
    // R1's user is deleted, R7's not intended, R9's disabled; R10 is assigned directly.
    let t = g.tenant();
    let ext = |l: &str| {
        g.world
            .labelled_user(l)
            .unwrap()
            .external_id
            .clone()
            .unwrap()
    };
    assert!(t.user(&ext("R1")).is_none());
    assert!(!t.is_intended(&ext("R7")) && t.user(&ext("R7")).is_some());
    assert!(t.is_intended(&ext("R9")));
    assert_eq!(t.user(&ext("R9")).unwrap().account_enabled, Some(false));
    let app = t.app().unwrap();
    assert!(
        app.assignments
            .iter()
            .any(|a| a.principal_type == "User" && a.principal_id == ext("R10"))
    );
    assert!(
        app.assignments
            .iter()
            .any(|a| a.principal_type == "ServicePrincipal")
    );
    assert!(t.client_secret.starts_with("sim-entra-secret-"));
    g.sim.shutdown().await;
}

#[tokio::test]
async fn idp_scenarios_serve_what_the_comment_says() {
    let g = Graph::new(World::idp_scenarios(now())).await;
    let got = idp_findings(&g).await;
    let e3 = g.world.label("E3").unwrap().to_owned();
    let expected: BTreeSet<String> = [
        "assigned_not_provisioned {; ; E1}",
        "idp_disabled_scim_active critical {R12; A12; E2}",
        "idp_disabled_scim_active critical {R13; A13; }",
        "idp_disabled_scim_active high {R14; A14; E4}",
        "assigned_not_provisioned {; A15; E5}",
        "provisioning_error {; A15; E5}",
        "provisioning_error {R16; A16; E6}",
        "idp_email_mismatch {R17; A17; E7}",
        "nested_group_only {; ; E8}",
        "orphan_scim_record {R19; A19; }",
        "provisioning_stalled {; ; }",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    assert_eq!(got, expected);
    assert_eq!(
        g.world.labelled_user("R13").unwrap().external_id.as_deref(),
        Some(e3.as_str())
    );
    let (_, jobs) = g
        .get(&format!(
            "/servicePrincipals/{}/synchronization/jobs",
            g.sp()
        ))
        .await;
    let q = &jobs["value"][0]["status"]["quarantine"];
    assert_eq!(q["reason"], "EncounteredEscrowProportionThreshold");
    assert!(q["error"]["code"].is_string() && q["error"]["message"].is_string());
    g.sim.shutdown().await;
}

#[test]
fn idp_scenarios_add_only_the_expected_atlassian_finding() {
    assert_eq!(
        World::idp_scenarios(fixed_now()),
        World::idp_scenarios(fixed_now()),
        "deterministic"
    );
    let world = World::idp_scenarios(now());
    let names: BTreeMap<&str, &str> = world
        .labels
        .iter()
        .map(|(l, id)| (id.as_str(), l.as_str()))
        .collect();
    let base = crate::sim::tests::catalogue_findings(&World::scenarios(now()), now());
    let got = crate::sim::tests::catalogue_findings(&world, now());
    let added: Vec<String> = got
        .difference(&base)
        .map(|(k, r, a)| {
            let l = |ids: &[String]| {
                ids.iter()
                    .map(|i| names.get(i.as_str()).copied().unwrap_or("?"))
                    .collect::<Vec<_>>()
                    .join(",")
            };
            format!("{k} {{{}; {}}}", l(r), l(a))
        })
        .collect();
    assert_eq!(added, vec!["deactivated_idp_active {R14; A14}".to_owned()]);
    assert_eq!(base.len(), 12);
    for label in [
        "E1", "E2", "E3", "E4", "E5", "E6", "E7", "E8", "E10", "E11", "N1", "N2", "R12", "R13",
        "R14", "R16", "R17", "R19", "R20", "A12", "A13", "A14", "A15", "A16", "A17", "A19", "A20",
    ] {
        assert!(world.label(label).is_some(), "{label}");
    }
}

#[test]
fn healthy_with_entra_is_linear_and_agrees() {
    let started = Instant::now();
    let world = World::healthy_with_entra(70_000, 1000, 11, now());
    let elapsed = started.elapsed();
    eprintln!("World::healthy_with_entra(70_000, 1000) took {elapsed:?}");
    let t = &world.entra[0];
    assert_eq!(t.users.len(), 70_000);
    // 1,000 teams of 70, and an all-staff group per block of 20,000 users.
    assert_eq!(t.groups.len(), 1003);
    assert!(t.groups[..1000].iter().all(|g| g.members.len() == 70));
    assert!(t.groups[1000..].iter().all(|g| g.members.len() == 20_000));
    assert_eq!(t.app().unwrap().assignments.len(), 1003);
    // Each group pushed as a SCIM group holding its members' records.
    for g in &t.groups {
        let scim = world.directories[0]
            .groups
            .iter()
            .find(|s| s.external_id.as_deref() == Some(g.id.as_str()))
            .unwrap_or_else(|| panic!("{} not pushed", g.display_name));
        assert_eq!(scim.members.len(), g.members.len(), "{}", g.display_name);
    }
    assert_eq!(t.directory_id, world.directories[0].id);
    let externals: HashSet<&str> = world.directories[0]
        .users
        .iter()
        .filter_map(|u| u.external_id.as_deref())
        .collect();
    assert!(t.users.iter().all(|u| externals.contains(u.id.as_str())));
    assert!(crate::sim::tests::catalogue_findings(&world, now()).is_empty());
}

#[tokio::test]
async fn healthy_with_entra_has_no_idp_findings() {
    let g = Graph::new(World::healthy_with_entra(300, 4, 2, now())).await;
    assert_eq!(idp_findings(&g).await, BTreeSet::new());
    g.sim.shutdown().await;
}

#[tokio::test]
async fn config_snippet_with_idp_names_the_tenant() {
    let sim = start(World::scenarios(now())).await;
    let world = sim.world();
    let t = &world.entra[0];
    assert!(
        sim.config_snippet().contains("[atlassian.directories.idp]"),
        "`scimdrift sim` prints the IdP config"
    );
    let toml_text = sim.config_toml_with_idp();
    let parsed: toml::Table = toml::from_str(&toml_text).unwrap();
    let dirs = parsed["atlassian"]["directories"].as_array().unwrap();
    assert_eq!(dirs.len(), 2);
    let idp = dirs[0]["idp"].as_table().unwrap();
    let get = |k: &str| idp[k].as_str().unwrap().to_owned();
    assert_eq!(get("kind"), "entra");
    assert_eq!(get("tenant_id"), t.tenant_id);
    assert_eq!(get("client_id"), t.client_id);
    assert_eq!(get("client_secret_env"), "SCIMDRIFT_ENTRA_SECRET");
    assert_eq!(get("service_principal_id"), t.app_service_principal_id);
    assert_eq!(get("scope"), "assigned");
    assert_eq!(
        get("graph_base_url"),
        format!("{}/graph/v1.0", sim.base_url())
    );
    assert_eq!(
        get("login_base_url"),
        format!("{}/entra-login", sim.base_url())
    );
    assert_eq!(idp.len(), 8);
    assert!(dirs[1].get("idp").is_none());
    assert_eq!(
        dirs[0]["id"].as_str(),
        Some(world.directories[0].id.as_str())
    );
    let snippet = sim.config_snippet_with_idp();
    assert!(snippet.contains(&format!(
        "export SCIMDRIFT_ENTRA_SECRET='{}'",
        t.client_secret
    )));
    assert!(!sim.config_toml_with_idp().contains(&t.client_secret));
    sim.shutdown().await;
}
