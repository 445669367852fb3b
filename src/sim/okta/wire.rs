//! Okta's wire shapes (idp-api.md §2.5): the error body, the token endpoint's error, `Link`
//! paging, rate-limit headers.

use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::sim::state::okta_options::LinkStyle;

/// Okta's error body for `status`, with the `errorCode` of the contract.
pub(crate) fn error(status: u16, summary: &str) -> Response {
    let code = match status {
        400 => "E0000001",
        401 => "E0000011",
        403 => "E0000006",
        404 => "E0000007",
        429 => "E0000047",
        _ => "E0000009",
    };
    error_with(status, code, summary)
}

pub(crate) fn error_with(status: u16, code: &str, summary: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        axum::Json(json!({
            "errorCode": code,
            "errorSummary": summary,
            "errorLink": code,
            "errorId": format!("oae{:016x}", rand::random::<u64>()),
            "errorCauses": [],
        })),
    )
        .into_response()
}

/// The token endpoint's error (`{"error","error_description"}`).
pub(crate) fn oauth_error(status: u16, error: &str, description: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    (
        status,
        axum::Json(json!({"error": error, "error_description": description})),
    )
        .into_response()
}

/// A JSON array page with its `Link` headers (`self`, and `next` when given).
pub(crate) fn page(
    items: Vec<serde_json::Value>,
    self_url: &str,
    next: Option<String>,
    style: LinkStyle,
) -> Response {
    let mut response = axum::Json(serde_json::Value::Array(items)).into_response();
    let links: Vec<String> = std::iter::once(format!("<{self_url}>; rel=\"self\""))
        .chain(next.map(|n| format!("<{n}>; rel=\"next\"")))
        .collect();
    let headers = response.headers_mut();
    match style {
        LinkStyle::Separate => {
            for l in links {
                if let Ok(v) = HeaderValue::from_str(&l) {
                    headers.append(header::LINK, v);
                }
            }
        }
        LinkStyle::Joined => {
            if let Ok(v) = HeaderValue::from_str(&links.join(", ")) {
                headers.insert(header::LINK, v);
            }
        }
    }
    response
}

/// `X-Rate-Limit-*` and `Date` on an answer.
pub(crate) fn rate_limit_headers(
    headers: &mut HeaderMap,
    limit: u64,
    remaining: u64,
    reset_epoch: u64,
) {
    for (name, value) in [
        ("x-rate-limit-limit", limit.to_string()),
        ("x-rate-limit-remaining", remaining.to_string()),
        ("x-rate-limit-reset", reset_epoch.to_string()),
    ] {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(HeaderName::from_static(name), v);
        }
    }
    let date = httpdate::fmt_http_date(std::time::SystemTime::now());
    if let Ok(v) = HeaderValue::from_str(&date) {
        headers.insert(header::DATE, v);
    }
}
