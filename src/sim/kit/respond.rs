//! What every simulated API answers with: JSON bodies, the success of a mutation, an error answer
//! ([`Failure`]) and the extractors whose rejections are one. A [`Failure`] carries its API,
//! status and message unshaped: the API's own gate gives it that API's error shape
//! ([`take_unshaped`]), so nothing here knows a vendor's format.

use axum::extract::{FromRequestParts, Path, Query};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use super::faults::Api;

/// The SCIM media type.
pub(crate) const SCIM_JSON: &str = "application/scim+json";
/// The plain JSON media type.
pub(crate) const JSON: &str = "application/json";

/// A handler's answer.
pub(crate) type Reply = Result<Response, Failure>;

/// An error answer, rendered in the shape its API uses for its status (by that API's gate).
#[derive(Debug, Clone)]
pub(crate) struct Failure {
    /// `None`: the API of the request's route (an extractor's rejection).
    pub api: Option<Api>,
    pub status: u16,
    pub message: String,
    pub scim_type: Option<&'static str>,
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

/// The mark of a response that is a [`Failure`] not yet in its API's shape.
#[derive(Clone)]
struct Unshaped(Failure);

impl IntoResponse for Failure {
    /// The status alone, the failure kept for the API's gate to shape ([`take_unshaped`]).
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = status.into_response();
        response.extensions_mut().insert(Unshaped(self));
        response
    }
}

/// The failure `response` stands for, if it is one not yet shaped; the API's gate renders it.
pub(crate) fn take_unshaped(response: &mut Response) -> Option<Failure> {
    response.extensions_mut().remove::<Unshaped>().map(|u| u.0)
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
        Err(e) => Failure {
            api: None,
            status: 500,
            message: e.to_string(),
            scim_type: None,
        }
        .into_response(),
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

/// An extractor's rejection: `400`, in the shape of the route's API (its gate knows which).
fn rejection(_parts: &Parts, message: String) -> Failure {
    Failure {
        api: None,
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
