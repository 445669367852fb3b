//! What every Graph and token request passes (called from the simulator's gate, after counting
//! and before logging): the access token, the counted knobs, permission knobs, the per-tenant
//! windows (reports, provision on demand), the shared fault rules, and the
//! `x-ms-throttle-limit-percentage` header.

use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::wire::GraphError;
use crate::sim::kit::after::apply_after;
use crate::sim::kit::auth::bearer;
use crate::sim::kit::faults::{Api, Preempt, RequestFacts, RetryAfterStyle};
use crate::sim::kit::respond::take_unshaped;
use crate::sim::state::SimState;
use crate::sim::state::entra_options::GraphFamily;
use crate::sim::state::entra_runtime::{TokenRefusal, Verdict};

/// The tenant a Graph request's token was issued for (set by the gate).
#[derive(Clone, Debug)]
pub(crate) struct Caller {
    pub tenant_id: String,
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = GraphError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, GraphError> {
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or_else(|| GraphError::invalid_token("Access token is empty."))
    }
}

/// The permission family of a Graph path (`/graph/v1.0/…`).
pub(crate) fn family(path: &str) -> Option<GraphFamily> {
    let rest = path.strip_prefix("/graph/v1.0/")?;
    let segments: Vec<&str> = rest.split('/').collect();
    Some(match segments.as_slice() {
        [
            "servicePrincipals",
            _,
            "synchronization",
            "jobs",
            _,
            "provisionOnDemand",
        ] => GraphFamily::ProvisionOnDemand,
        ["servicePrincipals", _, "synchronization", ..] => GraphFamily::Synchronization,
        ["servicePrincipals", ..] => GraphFamily::ServicePrincipals,
        ["groups", ..] => GraphFamily::Groups,
        ["users", ..] => GraphFamily::Users,
        ["auditLogs", ..] => GraphFamily::AuditLogs,
        _ => return None,
    })
}

/// Answers or forwards one Entra request (`api` is an Entra API).
pub(crate) async fn guarded(
    state: &SimState,
    api: Api,
    mut request: Request,
    next: Next,
) -> Response {
    let admitted = if api == Api::EntraToken {
        Ok(None)
    } else {
        state.entra().arrived(api);
        admit(state, api, request.uri().path(), request.headers()).map(Some)
    };
    let mut response = match admitted {
        Err(refusal) => refusal.into_response(),
        Ok(caller) => {
            let decision = state.engine().decide(&RequestFacts {
                api,
                directory: None,
                method: request.method(),
                path: request.uri().path(),
            });
            if !decision.delay.is_zero() {
                tokio::time::sleep(decision.delay).await;
            }
            match preempted(state, api, &request, decision.preempt) {
                Some(response) => response,
                None => {
                    if let Some(caller) = caller {
                        request.extensions_mut().insert(caller);
                    }
                    let response = next.run(request).await;
                    let mut response = apply_after(api, response, &decision.after).await;
                    match take_unshaped(&mut response) {
                        Some(f) => error_for(Some(f.api.unwrap_or(api)), f.status, &f.message),
                        None => response,
                    }
                }
            }
        }
    };
    let percentage = state.options().entra.throttle_limit_percentage;
    if api != Api::EntraToken
        && let Some(p) = percentage
        && let Ok(value) = HeaderValue::from_str(&p.to_string())
    {
        response.headers_mut().insert(
            HeaderName::from_static("x-ms-throttle-limit-percentage"),
            value,
        );
    }
    response
}

/// An error with `status` in the shape of Entra API `api` (Graph's, or the token endpoint's).
fn error_for(api: Option<Api>, status: u16, message: &str) -> Response {
    if api == Some(Api::EntraToken) {
        super::wire::aadsts_for(status, message)
    } else {
        super::wire::graph_error(status, super::wire::graph_code(status), message)
    }
}

/// Why the gate answers a Graph request itself.
enum Refusal {
    Error(GraphError),
    /// `429` with this `Retry-After`.
    Throttled(Option<u64>),
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::Error(error) => error.into_response(),
            Refusal::Throttled(seconds) => throttled(seconds),
        }
    }
}

/// Token, counted knobs, permissions, windows; `Err` is the answer.
fn admit(state: &SimState, api: Api, path: &str, headers: &HeaderMap) -> Result<Caller, Refusal> {
    let options = state.options().entra.clone();
    let verdict = state.entra().admit(
        bearer(headers),
        options.expire_token_after,
        options.throttle_burst,
    );
    let tenant_id = match verdict {
        Verdict::Serve { tenant_id } => tenant_id,
        Verdict::Refused(why) => {
            let message = match why {
                TokenRefusal::Missing => "Access token is empty.",
                TokenRefusal::Unknown => "Invalid access token: the token is not recognized.",
                TokenRefusal::Expired => "Lifetime validation failed, the token is expired.",
            };
            return Err(Refusal::Error(GraphError::invalid_token(message)));
        }
        Verdict::Revoked => {
            return Err(Refusal::Error(GraphError::invalid_token(
                "Lifetime validation failed, the token is expired.",
            )));
        }
        Verdict::Burst => return Err(Refusal::Throttled(options.retry_after_seconds)),
    };
    let family = family(path);
    let forbidden = family.is_some_and(|f| options.forbidden.contains(&f))
        || (family == Some(GraphFamily::AuditLogs) && options.logs_forbidden);
    if forbidden {
        return Err(Refusal::Error(GraphError::forbidden()));
    }
    let window = match api {
        Api::GraphReports => Some(("reports", options.reports_limit, options.reports_window)),
        Api::GraphProvisionOnDemand => Some((
            "provisionOnDemand",
            options.on_demand_limit,
            options.on_demand_window,
        )),
        _ => None,
    };
    if let Some((name, limit, length)) = window
        && let Err(wait) = state.entra().take_window(&tenant_id, name, limit, length)
    {
        let seconds = options
            .retry_after_seconds
            .map(|_| wait.as_secs_f64().ceil().max(1.0) as u64);
        return Err(Refusal::Throttled(seconds));
    }
    Ok(Caller { tenant_id })
}

/// The answer of a fault rule ([`Faults`](crate::sim::Faults)) that replaces the handler.
fn preempted(
    state: &SimState,
    api: Api,
    request: &Request,
    preempt: Option<Preempt>,
) -> Option<Response> {
    match preempt? {
        Preempt::Status(code) => Some(error_for(Some(api), code, "injected failure")),
        Preempt::EchoAuthorization(code, encoding) => {
            let sent = request
                .headers()
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            Some(error_for(
                Some(api),
                code,
                &crate::sim::kit::faults::echo_message(sent, encoding),
            ))
        }
        Preempt::StatusMessage(code, message) => Some(error_for(Some(api), code, &message)),
        Preempt::RateLimit(style) => Some(if api == Api::EntraToken {
            error_for(Some(api), 429, "too many requests")
        } else {
            let seconds = state.options().entra.retry_after_seconds;
            throttled(seconds.filter(|_| style != RetryAfterStyle::None))
        }),
    }
}

/// Graph's `429 TooManyRequests`, with `Retry-After: <seconds>` when given.
fn throttled(retry_after: Option<u64>) -> Response {
    let mut response = GraphError::throttled().into_response();
    if let Some(seconds) = retry_after
        && let Ok(value) = HeaderValue::from_str(&seconds.to_string())
    {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_follow_the_permission_table() {
        let sp = "/graph/v1.0/servicePrincipals/s1";
        assert_eq!(family(sp), Some(GraphFamily::ServicePrincipals));
        assert_eq!(
            family(&format!("{sp}/appRoleAssignedTo")),
            Some(GraphFamily::ServicePrincipals)
        );
        assert_eq!(
            family(&format!("{sp}/synchronization/jobs/j/schema")),
            Some(GraphFamily::Synchronization)
        );
        assert_eq!(
            family(&format!("{sp}/synchronization/jobs/j/provisionOnDemand")),
            Some(GraphFamily::ProvisionOnDemand)
        );
        assert_eq!(
            family("/graph/v1.0/groups/g/members"),
            Some(GraphFamily::Groups)
        );
        assert_eq!(family("/graph/v1.0/users"), Some(GraphFamily::Users));
        assert_eq!(
            family("/graph/v1.0/auditLogs/provisioning"),
            Some(GraphFamily::AuditLogs)
        );
        assert_eq!(family("/graph/v1.0/me"), None);
        assert_eq!(family("/scim/directory/x"), None);
    }
}
