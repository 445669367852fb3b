//! The middleware every request passes: classification, counting, auth, quota, faults, logging.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::{SecondsFormat, TimeDelta, Utc};
use serde_json::Value;

use super::faults::{Api, BadNext, FaultKind, Preempt, RequestFacts, RetryAfterStyle};
use super::options::LoggedRequest;
use super::respond::{Failure, error_for};
use super::state::SimState;

/// Which API a path belongs to, and the org / directory it names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Route {
    pub api: Api,
    pub org: Option<String>,
    pub directory: Option<String>,
}

impl Route {
    /// Classifies a request path; `None` for paths outside every API.
    pub(crate) fn classify(path: &str) -> Option<Route> {
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let route = |api, org: Option<&str>, directory: Option<&str>| Route {
            api,
            org: org.map(str::to_owned),
            directory: directory.filter(|d| *d != "-").map(str::to_owned),
        };
        Some(match segments.as_slice() {
            ["scim", "directory", dir, ..] => route(Api::Scim, None, Some(dir)),
            ["admin", "v2", "orgs", org, "directories", dir, ..] => {
                route(Api::Accounts, Some(org), Some(dir))
            }
            ["admin", "v2", "orgs", org, ..] => route(Api::Accounts, Some(org), None),
            [
                "admin",
                "user-provisioning",
                "v1",
                "org",
                org,
                "scimDirectoryId",
                dir,
                ..,
            ] => route(Api::Provisioning, Some(org), Some(dir)),
            ["admin", "user-provisioning", "v1", "org", org, ..] => {
                route(Api::Provisioning, Some(org), None)
            }
            ["users", ..] => route(Api::UserManagement, None, None),
            ["entra-login", ..] => route(Api::EntraToken, None, None),
            ["graph", "v1.0", "auditLogs", ..] => route(Api::GraphReports, None, None),
            [
                "graph",
                "v1.0",
                "servicePrincipals",
                _,
                "synchronization",
                "jobs",
                _,
                "provisionOnDemand",
            ] => route(Api::GraphProvisionOnDemand, None, None),
            ["graph", ..] => route(Api::Graph, None, None),
            ["okta", org, "oauth2", ..] => route(Api::OktaToken, Some(org), None),
            ["okta", org, "api", "v1", "logs", ..] => route(Api::OktaLogs, Some(org), None),
            ["okta", org, ..] => route(Api::Okta, Some(org), None),
            _ => return None,
        })
    }
}

/// The middleware: answers or forwards the request, then logs it (never its headers).
pub(crate) async fn gate(
    State(state): State<Arc<SimState>>,
    request: Request,
    next: Next,
) -> Response {
    let method = request.method().to_string();
    let path = request.uri().path().to_owned();
    let query = request.uri().query().map(str::to_owned);
    let route = Route::classify(&path);
    let response = match &route {
        Some(route) => guarded(&state, route, request, next).await,
        None => error_for(None, 404, "no such endpoint"),
    };
    let status = response.status().as_u16();
    tracing::debug!(%method, %path, status, "simulator request");
    state.record(LoggedRequest {
        method,
        path,
        query,
        api: route.map(|r| r.api),
        status,
    });
    response
}

async fn guarded(state: &SimState, route: &Route, request: Request, next: Next) -> Response {
    let api = route.api;
    state.count(api);
    if api.is_entra() {
        return super::entra::gate::guarded(state, api, request, next).await;
    }
    if api.is_okta() {
        let org = route.org.clone().unwrap_or_default();
        return super::okta::gate::guarded(state, api, &org, request, next).await;
    }
    if let Err(failure) = authorize(state, route, request.headers()) {
        return failure.into_response();
    }
    let quota = api.is_admin().then(|| state.take_quota());
    if let Some(q) = quota.as_ref().filter(|q| q.exceeded) {
        let mut response = error_for(Some(api), 429, "rate limit exceeded");
        let retry_after = q.reset_in.as_secs_f64().ceil().max(1.0) as u64;
        rate_limit_headers(response.headers_mut(), q.limit, 0, q.reset_in);
        set_header(
            response.headers_mut(),
            header::RETRY_AFTER,
            &retry_after.to_string(),
        );
        return response;
    }

    let decision = state.engine().decide(&RequestFacts {
        api,
        directory: route.directory.as_deref(),
        method: request.method(),
        path: request.uri().path(),
    });
    if !decision.delay.is_zero() {
        tokio::time::sleep(decision.delay).await;
    }
    let mut response = match decision.preempt {
        Some(Preempt::Status(code)) => error_for(Some(api), code, "injected failure"),
        Some(Preempt::EchoAuthorization(code, encoding)) => {
            let sent = request
                .headers()
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            error_for(
                Some(api),
                code,
                &crate::sim::faults::echo_message(sent, encoding),
            )
        }
        Some(Preempt::StatusMessage(code, message)) => error_for(Some(api), code, &message),
        Some(Preempt::RateLimit(style)) => {
            let (wait, seconds) = {
                let options = state.options();
                (options.rate_limit_wait, options.retry_after_seconds)
            };
            let limit = quota.as_ref().map_or(0, |q| q.limit);
            return injected_rate_limit(api, style, wait, seconds, limit);
        }
        None => {
            let response = next.run(request).await;
            apply_after(api, response, &decision.after).await
        }
    };
    if let Some(q) = quota {
        rate_limit_headers(response.headers_mut(), q.limit, q.remaining, q.reset_in);
    }
    response
}

/// Checks the bearer key (the directory's on SCIM, the org's elsewhere), then the org id.
fn authorize(state: &SimState, route: &Route, headers: &HeaderMap) -> Result<(), Failure> {
    let world = state.world();
    let expected = match route.api {
        Api::Scim => route
            .directory
            .as_deref()
            .and_then(|d| world.directory(d))
            .map(|d| d.token.as_str()),
        _ => Some(world.org_api_key.as_str()),
    };
    match (bearer(headers), expected) {
        (None, _) => {
            return Err(Failure::new(
                route.api,
                401,
                "Unauthorized: no bearer token",
            ));
        }
        (Some(given), Some(expected)) if given == expected => {}
        _ => {
            return Err(Failure::new(
                route.api,
                401,
                "Unauthorized: invalid API key",
            ));
        }
    }
    match &route.org {
        Some(org) if *org != world.org_id => {
            Err(Failure::new(route.api, 404, "organization not found"))
        }
        _ => Ok(()),
    }
}

pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

fn injected_rate_limit(
    api: Api,
    style: RetryAfterStyle,
    wait: Duration,
    seconds: u64,
    limit: u32,
) -> Response {
    let mut response = error_for(Some(api), 429, "rate limit exceeded");
    let headers = response.headers_mut();
    if style != RetryAfterStyle::None {
        rate_limit_headers(headers, limit.max(1), 0, wait);
    }
    match style {
        RetryAfterStyle::Seconds => set_header(headers, header::RETRY_AFTER, &seconds.to_string()),
        RetryAfterStyle::HttpDate => {
            let date = httpdate::fmt_http_date(SystemTime::now() + wait);
            set_header(headers, header::RETRY_AFTER, &date);
        }
        RetryAfterStyle::ResetOnly | RetryAfterStyle::None => {}
    }
    response
}

fn rate_limit_headers(headers: &mut HeaderMap, limit: u32, remaining: u32, reset_in: Duration) {
    let reset = Utc::now() + TimeDelta::from_std(reset_in).unwrap_or_default();
    let reset = reset.to_rfc3339_opts(SecondsFormat::Millis, true);
    set_header(
        headers,
        HeaderName::from_static("x-ratelimit-limit"),
        &limit.to_string(),
    );
    set_header(
        headers,
        HeaderName::from_static("x-ratelimit-remaining"),
        &remaining.to_string(),
    );
    set_header(
        headers,
        HeaderName::from_static("x-ratelimit-reset"),
        &reset,
    );
}

fn set_header(headers: &mut HeaderMap, name: HeaderName, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        headers.insert(name, value);
    }
}

/// Applies body faults to an executed request's answer.
pub(crate) async fn apply_after(api: Api, response: Response, faults: &[FaultKind]) -> Response {
    if faults.is_empty() {
        return response;
    }
    if let Some(code) = faults.iter().find_map(|f| match f {
        FaultKind::StatusAfterApply(code) => Some(*code),
        _ => None,
    }) {
        return error_for(
            Some(api),
            code,
            "injected failure after the request took effect",
        );
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = to_bytes(body, usize::MAX).await else {
        return error_for(Some(api), 500, "could not buffer the response");
    };
    let mut bytes = bytes.to_vec();
    for fault in faults {
        match fault {
            FaultKind::MissingResources => edit_json(&mut bytes, |page| {
                page.remove("Resources");
                page.remove("data");
                page.remove("value");
            }),
            FaultKind::TotalResultsDrift(n) => edit_json(&mut bytes, |page| {
                if let Some(total) = page.get("totalResults").and_then(Value::as_i64) {
                    page.insert("totalResults".into(), (total + n).into());
                }
            }),
            FaultKind::StringBooleans => edit_resources(&mut bytes, |r| {
                if let Some(b) = r.get("active").and_then(Value::as_bool) {
                    let text = if b { "True" } else { "False" };
                    r.insert("active".into(), text.into());
                }
            }),
            FaultKind::SetField { id, field, value } => edit_resources(&mut bytes, |r| {
                let item_id = r
                    .get("id")
                    .or_else(|| r.get("accountId"))
                    .and_then(Value::as_str);
                if id.is_none() || item_id == id.as_deref() {
                    r.insert(field.clone(), value.clone());
                }
            }),
            FaultKind::WithoutMeta => edit_resources(&mut bytes, |r| {
                r.remove("meta");
            }),
            FaultKind::RepeatItem { id, set } => edit_json(&mut bytes, |page| {
                let mut added = 0;
                for items in item_lists(page) {
                    let found = items.iter().position(|item| {
                        let item_id = item.get("id").or_else(|| item.get("accountId"));
                        item_id.and_then(Value::as_str) == Some(id.as_str())
                    });
                    if let Some(i) = found {
                        let mut copy = items[i].clone();
                        if let Value::Object(copy) = &mut copy {
                            copy.extend(set.clone());
                        }
                        items.insert(i, copy);
                        added += 1;
                    }
                }
                count_more(page, added);
            }),
            FaultKind::InjectItem { item, counted } => edit_json(&mut bytes, |page| {
                let mut added = 0;
                for items in item_lists(page) {
                    items.insert(0, item.clone());
                    added += 1;
                }
                if *counted {
                    count_more(page, added);
                }
            }),
            FaultKind::EmptyPage => edit_json(&mut bytes, |page| {
                if page.contains_key("Resources") {
                    page.insert("totalResults".into(), 0.into());
                    page.insert("itemsPerPage".into(), 0.into());
                    page.remove("Resources");
                }
                if page.contains_key("value") {
                    page.insert("value".into(), Value::Array(Vec::new()));
                    page.remove("@odata.nextLink");
                }
                if page.contains_key("data") {
                    page.insert("data".into(), Value::Array(Vec::new()));
                    page.insert(
                        "links".into(),
                        serde_json::json!({"self": null, "prev": null, "next": null}),
                    );
                }
            }),
            FaultKind::BadLinksNext(how) => edit_json(&mut bytes, |page| match how {
                BadNext::NoLinks => {
                    page.remove("links");
                }
                BadNext::ThisPage => {
                    if let Some(Value::Object(links)) = page.get_mut("links") {
                        let this = links.get("self").cloned().unwrap_or(Value::Null);
                        links.insert("next".into(), this);
                    }
                }
                BadNext::Missing | BadNext::Empty => {
                    if let Some(Value::Object(links)) = page.get_mut("links") {
                        links.remove("next");
                        if *how == BadNext::Empty {
                            links.insert("next".into(), "".into());
                        }
                    }
                }
            }),
            _ => {}
        }
    }
    if faults.contains(&FaultKind::MalformedJson) {
        if bytes.is_empty() {
            bytes = b"{,}".to_vec();
        } else {
            bytes.insert(1, b',');
        }
        if parts.status == StatusCode::NO_CONTENT {
            parts.status = StatusCode::OK;
        }
    }
    if faults.contains(&FaultKind::TruncatedBody) {
        bytes.truncate((bytes.len() / 2).max(1));
    }
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(bytes))
}

/// The item arrays of a page (`Resources`, `data` or Graph's `value`).
fn item_lists(page: &mut serde_json::Map<String, Value>) -> impl Iterator<Item = &mut Vec<Value>> {
    page.iter_mut()
        .filter(|(key, _)| matches!(key.as_str(), "Resources" | "data" | "value"))
        .filter_map(|(_, v)| v.as_array_mut())
}

/// A SCIM page's `itemsPerPage` grown by `n`.
fn count_more(page: &mut serde_json::Map<String, Value>, n: u64) {
    if let Some(per_page) = page.get("itemsPerPage").and_then(Value::as_u64) {
        page.insert("itemsPerPage".into(), (per_page + n).into());
    }
}

/// Edits every item of a page (`Resources`, `data` or Graph's `value`).
fn edit_resources(bytes: &mut Vec<u8>, mut edit: impl FnMut(&mut serde_json::Map<String, Value>)) {
    edit_json(bytes, |page| {
        for items in item_lists(page) {
            for item in items.iter_mut().filter_map(Value::as_object_mut) {
                edit(item);
            }
        }
    });
}

fn edit_json(bytes: &mut Vec<u8>, edit: impl FnOnce(&mut serde_json::Map<String, Value>)) {
    if let Ok(Value::Object(mut page)) = serde_json::from_slice::<Value>(bytes) {
        edit(&mut page);
        if let Ok(edited) = serde_json::to_vec(&page) {
            *bytes = edited;
        }
    }
}
