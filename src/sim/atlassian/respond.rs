//! The Atlassian APIs' error shapes (atlassian-api.md): SCIM's, the admin APIs', the shared
//! `401/403`, user management's `403`; and [`shape`], which renders a [`Failure`] in them.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

use crate::sim::kit::faults::Api;
use crate::sim::kit::respond::{Failure, JSON, SCIM_JSON, json_response};

/// A failure of an Atlassian API (or of no API: the admin shape) in its API's shape.
pub(crate) fn shape(f: &Failure) -> Response {
    match (f.api, f.scim_type) {
        (Some(Api::Scim), Some(t)) => {
            let status = StatusCode::from_u16(f.status).unwrap_or(StatusCode::BAD_REQUEST);
            scim_error(status, Some(t), &f.message)
        }
        _ => error_for(f.api, f.status, &f.message),
    }
}

/// SCIM's error shape (`status` is a string).
pub(crate) fn scim_error(status: StatusCode, scim_type: Option<&str>, detail: &str) -> Response {
    let mut body = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
        "status": status.as_u16().to_string(),
        "detail": detail,
    });
    if let Some(t) = scim_type {
        body["scimType"] = json!(t);
    }
    json_response(status, SCIM_JSON, &body)
}

/// The admin APIs' error shape: `[{"code", "message"}]`.
pub(crate) fn admin_error(status: StatusCode, code: &str, message: &str) -> Response {
    json_response(status, JSON, &json!([{"code": code, "message": message}]))
}

/// The `401/403` shape shared by all APIs: `{"error", "traceId"}`.
pub(crate) fn auth_error(status: StatusCode, message: &str) -> Response {
    let trace_id = format!("{:016x}", rand::random::<u64>());
    json_response(
        status,
        JSON,
        &json!({"error": message, "traceId": trace_id}),
    )
}

/// The user management API's `403`.
pub(crate) fn forbidden_key() -> Response {
    json_response(StatusCode::FORBIDDEN, JSON, &json!({"key": "forbidden"}))
}

/// An error with `status` in the shape the Atlassian `api` uses for it (no API: the admin
/// shape).
pub(crate) fn error_for(api: Option<Api>, status: u16, message: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    match (api, status) {
        (_, StatusCode::UNAUTHORIZED) | (Some(Api::Scim), StatusCode::FORBIDDEN) => {
            auth_error(status, message)
        }
        (Some(Api::UserManagement), StatusCode::FORBIDDEN) => forbidden_key(),
        (Some(Api::Scim), _) => scim_error(status, None, message),
        _ => admin_error(status, code_for(status), message),
    }
}

fn code_for(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "invalid_request",
        403 => "forbidden",
        404 => "not_found",
        405 => "method_not_allowed",
        409 => "conflict",
        429 => "too_many_requests",
        500..=599 => "internal_error",
        _ => "error",
    }
}
