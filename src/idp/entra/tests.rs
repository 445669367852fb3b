//! The client end to end against a tiny Graph fake (axum, loopback): token caching and the
//! 401 refresh, paging, the nextLink origin check, completeness, the log as a sub-source, the
//! provision on demand. The simulator (src/sim) gets the black-box tests.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::*;
use crate::idp::IdpScope;
use crate::model::idp::LogFacts;
use crate::secret::Secret;

const SECRET: &str = "right-secret-value-0042";

#[derive(Default)]
struct Fake {
    base: Mutex<String>,
    tokens: AtomicUsize,
    /// Refuse the next Graph request's token (401), once.
    revoke_once: AtomicBool,
    logs_forbidden: AtomicBool,
    /// The origin of another server to point appRoleAssignedTo's nextLink at.
    foreign: Mutex<Option<String>>,
    members_404: AtomicBool,
    two_jobs: AtomicBool,
    /// Graph requests: (method, path and query, bearer).
    seen: Mutex<Vec<(String, String, String)>>,
}

struct NoEvents;

impl HttpEvents for NoEvents {
    fn request(&self, _: &'static str, _: &'static str) {}
    fn retry(&self, _: &'static str, _: &'static str) {}
}

fn reply(status: StatusCode, v: Value) -> Response {
    (
        status,
        [("content-type", "application/json")],
        v.to_string(),
    )
        .into_response()
}

fn user(id: &str, mail: Value, enabled: Value) -> Value {
    json!({"id": id, "userPrincipalName": format!("{id}@contoso.example"), "mail": mail,
           "accountEnabled": enabled, "displayName": id, "userType": "Member", "otherMails": []})
}

async fn handle(
    State(f): State<Arc<Fake>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    let query: HashMap<String, String> =
        url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    let base = f.base.lock().unwrap().clone();
    if path.ends_with("/oauth2/v2.0/token") {
        let form: HashMap<String, String> =
            url::form_urlencoded::parse(&body).into_owned().collect();
        let ok = form.get("grant_type").map(String::as_str) == Some("client_credentials")
            && form.get("scope").is_some_and(|s| s.ends_with("/.default"))
            && (form.get("client_secret").map(String::as_str) == Some(SECRET)
                || form.contains_key("client_assertion"));
        if !ok {
            return reply(
                StatusCode::UNAUTHORIZED,
                json!({"error": "invalid_client",
                       "error_description": "AADSTS7000215: Invalid client secret provided. Trace ID: t",
                       "error_codes": [7000215]}),
            );
        }
        let n = f.tokens.fetch_add(1, Ordering::SeqCst) + 1;
        return reply(
            StatusCode::OK,
            json!({"token_type": "Bearer", "expires_in": 3599, "access_token": format!("tok-{n}-abcdef")}),
        );
    }
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    f.seen.lock().unwrap().push((
        method.to_string(),
        uri.path_and_query()
            .map(|p| p.to_string())
            .unwrap_or_default(),
        bearer.clone(),
    ));
    if headers
        .get("x-ms-throttle-priority")
        .and_then(|v| v.to_str().ok())
        != Some("Low")
    {
        return reply(
            StatusCode::BAD_REQUEST,
            json!({"error": {"code": "NoPriority"}}),
        );
    }
    let current = format!("Bearer tok-{}-abcdef", f.tokens.load(Ordering::SeqCst));
    if bearer != current || f.revoke_once.swap(false, Ordering::SeqCst) {
        return reply(
            StatusCode::UNAUTHORIZED,
            json!({"error": {"code": "InvalidAuthenticationToken", "message": "Access token has expired or is not yet valid."}}),
        );
    }
    let Some(rest) = path.strip_prefix("/graph/v1.0") else {
        return reply(StatusCode::NOT_FOUND, json!({}));
    };
    let graph = format!("{base}/graph/v1.0");
    let not_found = || {
        reply(
            StatusCode::NOT_FOUND,
            json!({"error": {"code": "Request_ResourceNotFound", "message": "does not exist"}}),
        )
    };
    let value = |items: Value| reply(StatusCode::OK, json!({"value": items}));
    match (method.as_str(), rest) {
        ("GET", "/servicePrincipals/sp-1") => reply(
            StatusCode::OK,
            json!({"id": "sp-1", "appId": "app-1", "displayName": "Atlassian Cloud"}),
        ),
        ("GET", "/servicePrincipals") => {
            if query.get("$filter").map(String::as_str) == Some("appId eq 'app-1'") {
                value(json!([{"id": "sp-1", "appId": "app-1", "displayName": "Atlassian Cloud"}]))
            } else {
                value(json!([]))
            }
        }
        ("GET", "/servicePrincipals/sp-1/appRoleAssignedTo") => {
            if query.contains_key("$skiptoken") {
                value(json!([
                    {"id": "a3", "principalId": "g-m365", "principalType": "Group"},
                    {"id": "a4", "principalId": "u-gone", "principalType": "User"},
                    {"id": "a5", "principalId": "sp-x", "principalType": "ServicePrincipal"},
                ]))
            } else {
                let origin = f.foreign.lock().unwrap().clone().unwrap_or(base.clone());
                let next = format!(
                    "{origin}/graph/v1.0/servicePrincipals/sp-1/appRoleAssignedTo?$skiptoken=2"
                );
                reply(
                    StatusCode::OK,
                    json!({"value": [
                        {"id": "a1", "principalId": "u-direct", "principalType": "User", "appRoleId": "00000000-0000-0000-0000-000000000000"},
                        {"id": "a2", "principalId": "g-sec", "principalType": "Group"},
                    ], "@odata.nextLink": next}),
                )
            }
        }
        ("GET", "/groups/g-sec") => reply(
            StatusCode::OK,
            json!({"id": "g-sec", "displayName": "Atlassian users", "securityEnabled": true}),
        ),
        ("GET", "/groups/g-m365") => reply(
            StatusCode::OK,
            json!({"id": "g-m365", "displayName": "Team", "securityEnabled": false}),
        ),
        ("GET", "/groups/g-sec/members") if f.members_404.load(Ordering::SeqCst) => not_found(),
        ("GET", "/groups/g-sec/members") => value(json!([
            {"@odata.type": "#microsoft.graph.user", "id": "u-member"},
            {"id": "u-untyped"},
            {"@odata.type": "#microsoft.graph.group", "id": "g-nested"},
            {"@odata.type": "#microsoft.graph.device", "id": "dev-1"},
        ])),
        ("GET", "/groups/g-sec/transitiveMembers") => value(json!([
            {"@odata.type": "#microsoft.graph.user", "id": "u-member"},
            {"id": "u-untyped"},
            {"@odata.type": "#microsoft.graph.group", "id": "g-nested"},
            {"@odata.type": "#microsoft.graph.user", "id": "u-nested"},
        ])),
        ("GET", "/groups/g-m365/members") => {
            value(json!([{"@odata.type": "#microsoft.graph.user", "id": "u-m365"}]))
        }
        ("GET", "/users/u-member/memberOf") => value(json!([
            {"@odata.type": "#microsoft.graph.group", "id": "g-sec"},
            {"@odata.type": "#microsoft.graph.group", "id": "g-unassigned"},
        ])),
        ("GET", "/users/u-m365/memberOf") => {
            value(json!([{"@odata.type": "#microsoft.graph.group", "id": "g-m365"}]))
        }
        ("GET", "/users/u-direct/memberOf") => value(json!([])),
        ("GET", "/users/u-vanishing/memberOf") => not_found(),
        ("GET", "/users") => {
            let first = !query.contains_key("$skiptoken")
                && query.get("$top").map(String::as_str) != Some("1");
            if first
                && !query
                    .get("$select")
                    .is_some_and(|s| s.starts_with("id,userPrincipalName,mail,"))
            {
                return reply(
                    StatusCode::BAD_REQUEST,
                    json!({"error": {"code": "BadSelect"}}),
                );
            }
            if query.contains_key("$skiptoken") {
                value(json!([
                    user("u-nested", json!("nested@contoso.example"), json!(true)),
                    user("u-m365", json!("m365@contoso.example"), json!(true)),
                    {"id": "u-guest", "userPrincipalName": "ana_fabrikam.com#EXT#@contoso.example",
                     "mail": null, "accountEnabled": true, "userType": "Guest"},
                ]))
            } else {
                reply(
                    StatusCode::OK,
                    json!({"value": [
                        user("u-direct", json!("direct@contoso.example"), json!(true)),
                        user("u-member", json!(null), json!(true)),
                        user("u-untyped", json!("untyped@contoso.example"), json!(null)),
                    ], "@odata.nextLink": format!("{graph}/users?$select=id&$top=999&$skiptoken=p2")}),
                )
            }
        }
        ("GET", "/users/u-gone") => not_found(),
        ("GET", "/users/u-direct") => reply(
            StatusCode::OK,
            json!({"id": "u-direct", "accountEnabled": false}),
        ),
        ("GET", "/users/u-member" | "/users/u-m365") => {
            reply(StatusCode::OK, json!({"id": "u", "accountEnabled": true}))
        }
        ("GET", "/servicePrincipals/sp-1/synchronization/jobs") => {
            let job = |id: &str| {
                json!({"id": id, "templateId": "atlassianCloud",
                       "schedule": {"interval": "PT40M", "state": "Active"},
                       "status": {"code": "Active", "countSuccessiveCompleteFailures": 0,
                                  "lastExecution": null, "quarantine": null,
                                  "lastSuccessfulExecution": {"timeBegan": "2024-05-01T10:00:00Z", "timeEnded": "2024-05-01T10:01:00Z", "state": "Succeeded"},
                                  "steadyStateLastAchievedTime": "0001-01-01T00:00:00Z"}})
            };
            if f.two_jobs.load(Ordering::SeqCst) {
                value(json!([job("job-1"), job("job-2")]))
            } else {
                value(json!([job("job-1")]))
            }
        }
        ("GET", "/servicePrincipals/sp-1/synchronization/jobs/job-1/schema") => reply(
            StatusCode::OK,
            json!({"synchronizationRules": [{"id": "rule-7", "objectMappings": [{
            "sourceObjectName": "User", "enabled": true, "attributeMappings": [
                {"targetAttributeName": "externalId", "source": {"type": "Attribute", "name": "objectId"}},
                {"targetAttributeName": "userName", "source": {"type": "Attribute", "name": "userPrincipalName"}, "matchingPriority": 1},
                {"targetAttributeName": "emails[type eq \"work\"].value", "source": {"type": "Attribute", "name": "mail"}},
            ]}]}]}),
        ),
        ("GET", "/auditLogs/provisioning") => {
            if f.logs_forbidden.load(Ordering::SeqCst) {
                return reply(
                    StatusCode::FORBIDDEN,
                    json!({"error": {"code": "Authentication_RequestFromNonPremiumTenantOrB2CTenant", "message": "Neither tenant is B2C or tenant doesn't have premium license"}}),
                );
            }
            let filter = query.get("$filter").cloned().unwrap_or_default();
            if !query.contains_key("$skiptoken")
                && !query.contains_key("$top")
                && !filter.starts_with("servicePrincipal/id eq 'sp-1' and activityDateTime gt 20")
            {
                return reply(
                    StatusCode::BAD_REQUEST,
                    json!({"error": {"code": "BadFilter"}}),
                );
            }
            let ev = |id: &str, status: &str| {
                json!({"id": id, "activityDateTime": "2024-05-01T10:01:00Z", "provisioningAction": "create",
                       "provisioningStatusInfo": {"status": status},
                       "sourceIdentity": {"id": "u-member"}, "targetIdentity": {"id": ""},
                       "servicePrincipal": {"id": "sp-1"}, "initiatedBy": {"initiatingType": "system"}})
            };
            if query.contains_key("$skiptoken") {
                value(json!([ev("e2", "failure"), ev("e3", "success")]))
            } else {
                reply(
                    StatusCode::OK,
                    json!({"value": [ev("e1", "success"), ev("e2", "failure")],
                           "@odata.nextLink": format!("{graph}/auditLogs/provisioning?$skiptoken=l2")}),
                )
            }
        }
        ("POST", "/servicePrincipals/sp-1/synchronization/jobs/job-1/provisionOnDemand") => {
            let b: Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(b["parameters"][0]["ruleId"], "rule-7");
            assert_eq!(b["parameters"][0]["subjects"][0]["objectTypeName"], "User");
            let who = b["parameters"][0]["subjects"][0]["objectId"]
                .as_str()
                .unwrap()
                .to_string();
            let key = json!({"result": "Success", "details": {}});
            let v = json!({"statusInfo": {"status": "success"}, "targetIdentity": {"id": format!("scim-{who}")}});
            reply(
                StatusCode::OK,
                json!({"key": key.to_string(), "value": v.to_string()}),
            )
        }
        _ => not_found(),
    }
}

async fn serve(f: Arc<Fake>) -> String {
    let app = axum::Router::new().fallback(handle).with_state(f.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    *f.base.lock().unwrap() = base.clone();
    tokio::spawn(async move { axum::serve(listener, app).await.ok() });
    base
}

fn settings(base: &str) -> IdpSettings {
    let mut s: IdpSettings = toml::from_str(&format!(
        r#"kind = "entra"
tenant_id = "contoso.example"
client_id = "11111111-2222-3333-4444-555555555555"
service_principal_id = "sp-1"
graph_base_url = "{base}/graph/v1.0"
login_base_url = "{base}/login""#
    ))
    .unwrap();
    s.client_secret_env = None;
    s
}

fn http() -> HttpSettings {
    HttpSettings {
        retry_base_delay_ms: 1,
        retry_max_delay_seconds: 0.05,
        timeout_seconds: 5.0,
        ..HttpSettings::default()
    }
}

async fn run(s: &IdpSettings, cred: &Credential) -> EntraPull {
    let now = chrono::Utc::now();
    pull(
        s,
        cred,
        &http(),
        "dir-1",
        "idp:prod",
        &crate::idp::Known::default(),
        now,
        Arc::new(NoEvents),
    )
    .await
}

#[tokio::test]
async fn a_complete_pull_computes_intent() {
    let f = Arc::new(Fake::default());
    let base = serve(f.clone()).await;
    let s = settings(&base);
    let cred = Credential::from_secret(&s, Secret::new(SECRET));
    let p = run(&s, &cred).await;
    assert!(p.status.complete, "{:?}", p.status.error);
    assert_eq!(p.status.source, "idp:prod");
    assert_eq!(p.status.directory_id.as_deref(), Some("dir-1"));
    assert_eq!(p.status.groups, Some(2));
    let side = &p.side;
    assert_eq!(p.status.records, side.users.len());
    let by = |id: &str| {
        side.users
            .iter()
            .find(|u| u.id == id)
            .unwrap_or_else(|| panic!("{id}"))
    };
    assert!(by("u-direct").intended && by("u-direct").assigned_directly);
    assert!(by("u-member").intended);
    assert_eq!(
        by("u-member").email.as_deref(),
        Some("u-member@contoso.example"),
        "mail null: the UPN"
    );
    assert!(by("u-untyped").intended && by("u-untyped").enabled.is_none());
    assert!(!by("u-m365").intended && by("u-m365").groups == ["g-m365"]);
    assert!(by("u-nested").nested_only);
    assert!(by("u-gone").deleted && by("u-gone").intended);
    assert_eq!(
        by("u-guest").scim_user_name.as_deref(),
        Some("ana@fabrikam.com")
    );
    assert_eq!(side.users.len(), 7);
    assert_eq!(side.groups[0].nested_groups, ["g-nested"]);
    assert!(side.mapping.derived);
    assert_eq!(side.mapping.rule_id.as_deref(), Some("rule-7"));
    let job = side.job.as_ref().unwrap();
    assert_eq!(
        (job.job_id.as_str(), job.interval_seconds),
        ("job-1", Some(2400))
    );
    assert!(matches!(side.logs, LogFacts::Known { .. }));
    let ids: Vec<_> = side.events.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, ["e1", "e2", "e3"], "deduplicated by id");
    assert_eq!(p.api_requests.get(&("entra_token", "2xx")), Some(&1));
    assert!(p.api_requests.get(&("graph_reports", "2xx")) == Some(&2));
    // One token for the whole pull; the m365 group's transitive members are never read.
    assert_eq!(f.tokens.load(Ordering::SeqCst), 1);
    let seen = f.seen.lock().unwrap();
    assert!(
        !seen
            .iter()
            .any(|(_, p, _)| p.contains("g-m365/transitiveMembers"))
    );
    assert!(
        seen.iter()
            .any(|(_, p, _)| p.starts_with("/graph/v1.0/users/u-gone"))
    );
    assert!(
        !seen
            .iter()
            .any(|(_, p, _)| p.starts_with("/graph/v1.0/users/u-direct"))
    );
}

/// Three pulls read the provisioning log twice each: the sixth read waits for Graph's reports
/// window (5 per 10 s, `http::Api::window`), on tokio's paused clock rather than the wall clock.
#[tokio::test(start_paused = true)]
async fn the_token_is_cached_across_pulls_and_refreshed_once_on_a_401() {
    let f = Arc::new(Fake::default());
    let base = serve(f.clone()).await;
    let s = settings(&base);
    let cred = Credential::from_secret(&s, Secret::new(SECRET));
    assert!(run(&s, &cred).await.status.complete);
    assert!(run(&s, &cred).await.status.complete);
    assert_eq!(f.tokens.load(Ordering::SeqCst), 1, "reused across pulls");
    f.revoke_once.store(true, Ordering::SeqCst);
    let p = run(&s, &cred).await;
    assert!(p.status.complete, "{:?}", p.status.error);
    assert_eq!(f.tokens.load(Ordering::SeqCst), 2, "refreshed once");
}

#[tokio::test]
async fn a_refused_secret_names_tenant_client_and_code_never_the_secret() {
    let f = Arc::new(Fake::default());
    let base = serve(f.clone()).await;
    let s = settings(&base);
    let cred = Credential::from_secret(&s, Secret::new("wrong-secret-value-1234"));
    let p = run(&s, &cred).await;
    assert!(!p.status.complete);
    let e = p.status.error.unwrap();
    assert!(
        e.contains("contoso.example") && e.contains("11111111-2222-3333-4444-555555555555"),
        "{e}"
    );
    assert!(e.contains("AADSTS7000215"), "{e}");
    assert!(!e.contains("wrong-secret"), "{e}");
    assert!(
        f.seen.lock().unwrap().is_empty(),
        "no Graph call without a token"
    );
}

#[tokio::test]
async fn a_certificate_credential_signs_in() {
    let f = Arc::new(Fake::default());
    let base = serve(f.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let (pem, _) = credential::tests::rsa_key();
    std::fs::write(dir.path().join("key.pem"), pem).unwrap();
    std::fs::write(
        dir.path().join("cert.pem"),
        credential::tests::cert_pem(b"der"),
    )
    .unwrap();
    let mut s = settings(&base);
    s.certificate_file = Some(dir.path().join("cert.pem"));
    s.private_key_file = Some(dir.path().join("key.pem"));
    let cred = Credential::load(&s).unwrap();
    assert!(run(&s, &cred).await.status.complete);
}

#[tokio::test]
async fn unreadable_logs_are_unknown_not_incomplete() {
    let f = Arc::new(Fake::default());
    let base = serve(f.clone()).await;
    let s = settings(&base);
    let cred = Credential::from_secret(&s, Secret::new(SECRET));
    f.logs_forbidden.store(true, Ordering::SeqCst);
    let p = run(&s, &cred).await;
    assert!(p.status.complete, "{:?}", p.status.error);
    let LogFacts::Unknown { reason } = &p.side.logs else {
        panic!("{:?}", p.side.logs)
    };
    assert!(
        reason.contains(
            "grant the app AuditLog.Read.All (admin consent; the tenant also needs Entra ID P1/P2)"
        ),
        "{reason}"
    );
}

#[tokio::test]
async fn what_makes_the_pull_incomplete() {
    type Knob = fn(&Fake, &mut IdpSettings);
    let cases: Vec<(Knob, &str)> = vec![
        (
            |f, _| f.members_404.store(true, Ordering::SeqCst),
            "assigned group g-sec answered 404",
        ),
        (
            |f, _| f.two_jobs.store(true, Ordering::SeqCst),
            "set job_id",
        ),
        (
            |_, s| s.job_id = Some("job-9".into()),
            "job_id job-9 is not a provisioning job",
        ),
        (
            |_, s| {
                s.service_principal_id = None;
                s.app_id = Some("app-2".into());
            },
            "check app_id",
        ),
        (
            |_, s| s.service_principal_id = Some("sp-9".into()),
            "(service_principal_id) was not found",
        ),
    ];
    for (knob, want) in cases {
        let f = Arc::new(Fake::default());
        let base = serve(f.clone()).await;
        let mut s = settings(&base);
        knob(&f, &mut s);
        let cred = Credential::from_secret(&s, Secret::new(SECRET));
        let p = run(&s, &cred).await;
        assert!(!p.status.complete, "{want}");
        let e = p.status.error.unwrap_or_default();
        assert!(e.contains(want), "{want}: {e}");
    }
    // A nextLink to another origin is not followed: that server never sees the token.
    let f = Arc::new(Fake::default());
    let other = Arc::new(Fake::default());
    let base = serve(f.clone()).await;
    *f.foreign.lock().unwrap() = Some(serve(other.clone()).await);
    let s = settings(&base);
    let cred = Credential::from_secret(&s, Secret::new(SECRET));
    let p = run(&s, &cred).await;
    let e = p.status.error.unwrap_or_default();
    assert!(
        !p.status.complete && e.contains("not the configured Graph origin"),
        "{e}"
    );
    assert!(other.seen.lock().unwrap().is_empty());
    assert_eq!(other.tokens.load(Ordering::SeqCst), 0);
    // By app id, and scope "all": no assignments read, nothing intended.
    let f = Arc::new(Fake::default());
    let base = serve(f.clone()).await;
    let mut s = settings(&base);
    s.service_principal_id = None;
    s.app_id = Some("app-1".into());
    s.scope = IdpScope::All;
    let cred = Credential::from_secret(&s, Secret::new(SECRET));
    let p = run(&s, &cred).await;
    assert!(p.status.complete, "{:?}", p.status.error);
    assert!(p.side.scope_all && p.side.users.iter().all(|u| !u.intended));
    assert!(
        !f.seen
            .lock()
            .unwrap()
            .iter()
            .any(|(_, p, _)| p.contains("appRoleAssignedTo"))
    );
}

#[tokio::test]
async fn read_intent_and_provision_on_demand() {
    let f = Arc::new(Fake::default());
    let base = serve(f.clone()).await;
    let s = settings(&base);
    let cred = Credential::from_secret(&s, Secret::new(SECRET));
    let client = Client::new(&s, &cred, &http(), "idp:prod", None).unwrap();
    let i = client.read_intent("u-direct").await.unwrap();
    assert!(i.exists && i.intended && i.assigned_directly && i.enabled == Some(false));
    // Through the user's own memberships: an assigned security group is intent, an assigned
    // Microsoft 365 group is not, an unassigned group is ignored; no group's member list is read.
    let i = client.read_intent("u-member").await.unwrap();
    assert!(i.intended && !i.assigned_directly, "{i:?}");
    assert_eq!(i.via_groups, ["g-sec"]);
    let i = client.read_intent("u-m365").await.unwrap();
    assert!(!i.intended && i.via_groups.is_empty(), "{i:?}");
    // Deleted between the user read and its memberships: gone, not an error.
    let i = client.read_intent("u-vanishing").await.unwrap();
    assert!(!i.exists && i.enabled.is_none(), "{i:?}");
    assert!(
        !f.seen
            .lock()
            .unwrap()
            .iter()
            .any(|(_, p, _)| p.ends_with("/members")),
        "the re-read reads no group's member list"
    );
    let i = client.read_intent("u-gone").await.unwrap();
    assert!(!i.exists && i.intended && i.enabled.is_none());
    let check = client.check_online().await.unwrap();
    assert_eq!(check.job_id.as_deref(), Some("job-1"));
    assert!(check.warnings.is_empty());
    assert!(check.to_string().contains("Atlassian Cloud"));
    f.revoke_once.store(true, Ordering::SeqCst);
    let r = client
        .provision_on_demand("u-member", "job-1", "rule-7")
        .await
        .unwrap();
    assert!(r.succeeded());
    assert_eq!(r.scim_id.as_deref(), Some("scim-u-member"));
    f.logs_forbidden.store(true, Ordering::SeqCst);
    let text = crate::idp::check_online(
        &s,
        &crate::idp::Credential::Entra(cred),
        &http(),
        "idp:prod",
        None,
    )
    .await
    .unwrap();
    assert!(
        text.contains("warning: provisioning logs cannot be read")
            && text.contains("AuditLog.Read.All"),
        "{text}"
    );
}
