//! What every Atlassian API request passes (after the simulator's gate counted it): the key (the
//! directory's on SCIM, the org's elsewhere) and the org id, the admin API quota with its
//! `X-RateLimit-*` headers, the fault rules, and every error in the Atlassian shapes.

use std::time::{Duration, SystemTime};

use axum::extract::Request;
use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use chrono::{SecondsFormat, TimeDelta, Utc};

use super::respond::{error_for, shape};
use crate::sim::kit::after::apply_after;
use crate::sim::kit::auth::bearer;
use crate::sim::kit::faults::{Api, Preempt, RequestFacts, RetryAfterStyle};
use crate::sim::kit::respond::{Failure, take_unshaped};
use crate::sim::state::SimState;

/// Answers or forwards one request to Atlassian API `api` (its path naming `org` and
/// `directory`, if any).
pub(crate) async fn guarded(
    state: &SimState,
    api: Api,
    org: Option<&str>,
    directory: Option<&str>,
    request: Request,
    next: Next,
) -> Response {
    if let Err(failure) = authorize(state, api, org, directory, request.headers()) {
        return shape(&failure);
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
        directory,
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
                &crate::sim::kit::faults::echo_message(sent, encoding),
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
            let mut response = apply_after(api, response, &decision.after).await;
            match take_unshaped(&mut response) {
                Some(f) => shape(&Failure {
                    api: f.api.or(Some(api)),
                    ..f
                }),
                None => response,
            }
        }
    };
    if let Some(q) = quota {
        rate_limit_headers(response.headers_mut(), q.limit, q.remaining, q.reset_in);
    }
    response
}

/// Checks the bearer key (the directory's on SCIM, the org's elsewhere), then the org id.
fn authorize(
    state: &SimState,
    api: Api,
    org: Option<&str>,
    directory: Option<&str>,
    headers: &HeaderMap,
) -> Result<(), Failure> {
    let world = state.world();
    let expected = match api {
        Api::Scim => directory
            .and_then(|d| world.directory(d))
            .map(|d| d.token.as_str()),
        _ => Some(world.org_api_key.as_str()),
    };
    match (bearer(headers), expected) {
        (None, _) => {
            return Err(Failure::new(api, 401, "Unauthorized: no bearer token"));
        }
        (Some(given), Some(expected)) if given == expected => {}
        _ => {
            return Err(Failure::new(api, 401, "Unauthorized: invalid API key"));
        }
    }
    match org {
        Some(org) if org != world.org_id => Err(Failure::new(api, 404, "organization not found")),
        _ => Ok(()),
    }
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
