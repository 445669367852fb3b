//! Response shapes (each API's error format) and extractors whose rejections use them.

use axum::extract::{FromRequestParts, Path, Query};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use super::faults::Api;
use super::gate::Route;

/// The SCIM media type.
pub(crate) const SCIM_JSON: &str = "application/scim+json";
/// The plain JSON media type.
pub(crate) const JSON: &str = "application/json";

/// A handler's answer.
pub(crate) type Reply = Result<Response, Failure>;

/// An error answer, rendered in the shape its API uses for its status.
#[derive(Debug)]
pub(crate) struct Failure {
    api: Option<Api>,
    status: u16,
    message: String,
    scim_type: Option<&'static str>,
}

impl Failure {
    pub(crate) fn new(api: Api, status: u16, message: impl Into<String>) -> Self {
        Self {
            api: Some(api),
            status,
            message: message.into(),
            scim_type: None,
        }
    }

    /// Sets SCIM's `scimType`.
    pub(crate) fn scim_type(self, scim_type: &'static str) -> Self {
        Self {
            scim_type: Some(scim_type),
            ..self
        }
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        match (self.api, self.scim_type) {
            (Some(Api::Scim), Some(t)) => {
                let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::BAD_REQUEST);
                scim_error(status, Some(t), &self.message)
            }
            _ => error_for(self.api, self.status, &self.message),
        }
    }
}

/// How a successful mutation without a result answers (all are valid per the API contract).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SuccessStyle {
    /// `204 No Content`.
    #[default]
    NoContent,
    /// `200 OK` with an empty body.
    OkEmpty,
    /// `200 OK` with a small JSON body.
    OkJson,
}

/// The success answer of a mutation.
pub(crate) fn success(style: SuccessStyle) -> Response {
    match style {
        SuccessStyle::NoContent => StatusCode::NO_CONTENT.into_response(),
        SuccessStyle::OkEmpty => StatusCode::OK.into_response(),
        SuccessStyle::OkJson => json_response(StatusCode::OK, JSON, &json!({"result": "ok"})),
    }
}

/// Serializes `body` as JSON with the given content type.
pub(crate) fn json_response(
    status: StatusCode,
    content_type: &'static str,
    body: &impl Serialize,
) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => bytes_response(status, content_type, bytes),
        Err(e) => admin_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            &e.to_string(),
        ),
    }
}

/// A response from already serialized bytes.
pub(crate) fn bytes_response(
    status: StatusCode,
    content_type: &'static str,
    body: Vec<u8>,
) -> Response {
    let mut response = (status, body).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
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

/// An error with `status` in the shape `api` uses for it (unknown APIs use the admin shape; the
/// Entra APIs Graph's or the token endpoint's).
pub(crate) fn error_for(api: Option<Api>, status: u16, message: &str) -> Response {
    if let Some(api) = api.filter(|a| a.is_entra()) {
        return if api == Api::EntraToken {
            super::entra::wire::aadsts_for(status, message)
        } else {
            super::entra::wire::graph_error(status, super::entra::wire::graph_code(status), message)
        };
    }
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

fn rejection(parts: &Parts, message: String) -> Failure {
    let api = Route::classify(parts.uri.path()).map(|r| r.api);
    Failure {
        api,
        status: 400,
        message,
        scim_type: None,
    }
}

/// Path parameters; a rejection answers `400` in the API's shape.
pub(crate) struct Params<T>(pub T);

impl<S, T> FromRequestParts<S> for Params<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = Failure;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Failure> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(Params(value)),
            Err(e) => Err(rejection(parts, e.body_text())),
        }
    }
}

/// Query parameters as pairs; a rejection answers `400` in the API's shape.
pub(crate) struct QueryPairs(pub Vec<(String, String)>);

impl QueryPairs {
    /// The first value of `name`.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

impl<S: Send + Sync> FromRequestParts<S> for QueryPairs {
    type Rejection = Failure;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Failure> {
        match Query::<Vec<(String, String)>>::from_request_parts(parts, state).await {
            Ok(Query(pairs)) => Ok(QueryPairs(pairs)),
            Err(e) => Err(rejection(parts, e.body_text())),
        }
    }
}

/// Parses a JSON request body; an empty body yields `T::default()`.
pub(crate) fn parse_body<T: DeserializeOwned + Default>(
    api: Api,
    body: &[u8],
) -> Result<T, Failure> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body)
        .map_err(|e| Failure::new(api, 400, format!("invalid JSON body: {e}")))
}
