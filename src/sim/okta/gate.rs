//! What every Okta request passes (called from the simulator's gate, after counting and before
//! logging): the counted rate-limit knobs, the credential (SSWS or an issued access token) and
//! its scopes, the System Log refusal knob, the shared fault rules, and `X-Rate-Limit-*` on every
//! API answer.

use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

use super::wire::{self, rate_limit_headers};
use crate::sim::kit::after::apply_after;
use crate::sim::kit::faults::{Api, Preempt, RequestFacts};
use crate::sim::kit::respond::take_unshaped;
use crate::sim::state::SimState;
use crate::sim::state::okta_runtime::{Caller, Refused};

/// Requests per window the fake reports in `X-Rate-Limit-Limit`.
const LIMIT: u64 = 600;

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Response> {
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or_else(|| wire::error(401, "Invalid token provided"))
    }
}

/// The scope an API path (`/okta/{org}/api/v1/…`) needs.
pub(crate) fn scope(path: &str) -> Option<&'static str> {
    let rest = path.split("/api/v1/").nth(1)?;
    Some(match rest.split('/').next()? {
        "apps" => "okta.apps.read",
        "users" => "okta.users.read",
        "groups" => "okta.groups.read",
        "logs" => "okta.logs.read",
        _ => return None,
    })
}

fn now_epoch() -> u64 {
    chrono::Utc::now().timestamp().max(0) as u64
}

/// Answers or forwards one Okta request for `org`.
pub(crate) async fn guarded(
    state: &SimState,
    api: Api,
    org: &str,
    mut request: Request,
    next: Next,
) -> Response {
    if api != Api::OktaToken {
        let options = state.options().okta.clone();
        let n = state.okta().count();
        if options
            .concurrency_limit_every
            .is_some_and(|k| k > 0 && n.is_multiple_of(k))
        {
            let mut r = wire::error(
                429,
                "API call exceeded rate limit due to too many requests.",
            );
            rate_limit_headers(r.headers_mut(), 0, 0, now_epoch() + 60);
            return r;
        }
        if options
            .rate_limit_every
            .is_some_and(|k| k > 0 && n.is_multiple_of(k))
        {
            let mut r = wire::error(
                429,
                "API call exceeded rate limit due to too many requests.",
            );
            rate_limit_headers(
                r.headers_mut(),
                LIMIT,
                0,
                now_epoch() + options.rate_limit_reset,
            );
            return r;
        }
        let (known, api_token) = {
            let world = state.world();
            let o = world.okta.iter().find(|o| o.org == org);
            (o.is_some(), o.map(|o| o.api_token.clone()))
        };
        if !known {
            return wire::error(404, "Not found: Resource not found: org");
        }
        let authorization = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let caller = match state.okta().admit(
            authorization,
            org,
            api_token.as_deref(),
            options.revoke_first_token,
        ) {
            Ok(c) => c,
            Err(Refused::Missing) => return wire::error(401, "Invalid session"),
            Err(Refused::Invalid) => return wire::error(401, "Invalid token provided"),
        };
        let path = request.uri().path().to_string();
        let needed = scope(&path);
        if let (Some(scopes), Some(needed)) = (&caller.scopes, needed)
            && !scopes.iter().any(|s| s == needed)
        {
            let mut r = wire::error(
                403,
                "You do not have permission to perform the requested action",
            );
            if let Ok(v) = HeaderValue::from_str(&format!(
                "Bearer authorization_uri=\"http://okta\", realm=\"http://okta\", scope=\"{needed}\", error=\"insufficient_scope\", error_description=\"The access token provided does not contain the required scopes.\""
            )) {
                r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
            }
            return r;
        }
        if api == Api::OktaLogs && options.logs_forbidden {
            return wire::error(
                403,
                "You do not have permission to perform the requested action",
            );
        }
        request.extensions_mut().insert(caller);
    }
    let decision = state.engine().decide(&RequestFacts {
        api,
        directory: None,
        method: request.method(),
        path: request.uri().path(),
    });
    if !decision.delay.is_zero() {
        tokio::time::sleep(decision.delay).await;
    }
    let mut response = match decision.preempt {
        Some(Preempt::Status(code)) => wire::error(code, "injected failure"),
        Some(Preempt::StatusMessage(code, message)) => wire::error(code, &message),
        Some(Preempt::EchoAuthorization(code, encoding)) => {
            let sent = request
                .headers()
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            wire::error(code, &crate::sim::kit::faults::echo_message(sent, encoding))
        }
        Some(Preempt::RateLimit(_)) => {
            let mut r = wire::error(
                429,
                "API call exceeded rate limit due to too many requests.",
            );
            rate_limit_headers(r.headers_mut(), LIMIT, 0, now_epoch() + 1);
            return r;
        }
        None => {
            let response = next.run(request).await;
            let mut response = apply_after(api, response, &decision.after).await;
            match take_unshaped(&mut response) {
                Some(f) => wire::error(f.status, &f.message),
                None => response,
            }
        }
    };
    if api != Api::OktaToken && !response.headers().contains_key("x-rate-limit-limit") {
        rate_limit_headers(response.headers_mut(), LIMIT, LIMIT - 1, now_epoch() + 60);
    }
    response
}
