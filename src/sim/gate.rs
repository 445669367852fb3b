//! The middleware every request passes: classification, counting and logging, then the gate of
//! the request's API (Atlassian's, Entra's or Okta's), which authorizes, applies the faults and
//! gives every error its API's shape.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

use super::kit::faults::Api;
use super::kit::log::LoggedRequest;
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
        None => super::atlassian::respond::error_for(None, 404, "no such endpoint"),
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
    super::atlassian::gate::guarded(
        state,
        api,
        route.org.as_deref(),
        route.directory.as_deref(),
        request,
        next,
    )
    .await
}
