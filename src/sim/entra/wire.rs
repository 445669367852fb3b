//! Graph's wire conventions: the error shape, the token endpoint's (AADSTS) error shape, paging
//! (`$top`, `@odata.nextLink` with an opaque `$skiptoken`, `@odata.count`), `$select`, and
//! `field eq 'value'` filters.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value, json};

use crate::sim::kit::respond::{JSON, QueryPairs, json_response};
use crate::sim::world::mix;

/// The most `$top` Graph accepts.
pub(crate) const MAX_TOP: usize = 999;
/// The page size of a list asked without `$top`.
pub(crate) const DEFAULT_PAGE: usize = 100;
/// Graph's own prefix for `@odata.context`.
pub(crate) const METADATA: &str = "https://graph.microsoft.com/v1.0/$metadata";

/// Graph's timestamp format (`2024-01-31T18:25:03Z`).
pub(crate) fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A Graph error: `{"error":{"code","message","innerError":{"date","request-id",
/// "client-request-id"}}}`.
#[derive(Debug)]
pub(crate) struct GraphError {
    pub status: u16,
    pub code: String,
    pub message: String,
}

impl GraphError {
    pub(crate) fn new(status: u16, code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            code: code.into(),
            message: message.into(),
        }
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }

    pub(crate) fn not_found(what: &str) -> Self {
        Self::new(
            404,
            "Request_ResourceNotFound",
            format!(
                "Resource '{what}' does not exist or one of its queried reference-property objects are not present."
            ),
        )
    }

    pub(crate) fn forbidden() -> Self {
        Self::new(
            403,
            "Authorization_RequestDenied",
            "Insufficient privileges to complete the operation.",
        )
    }

    pub(crate) fn invalid_token(message: &str) -> Self {
        Self::new(401, "InvalidAuthenticationToken", message)
    }

    pub(crate) fn throttled() -> Self {
        Self::new(
            429,
            "TooManyRequests",
            "Too many requests. Please retry after the time given in Retry-After.",
        )
    }
}

impl IntoResponse for GraphError {
    fn into_response(self) -> Response {
        graph_error(self.status, &self.code, &self.message)
    }
}

/// Graph's error shape with a fresh request id.
pub(crate) fn graph_error(status: u16, code: &str, message: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = json!({"error": {
        "code": code,
        "message": message,
        "innerError": {
            "date": stamp(Utc::now()),
            "request-id": random_guid(),
            "client-request-id": random_guid(),
        }
    }});
    json_response(status, JSON, &body)
}

/// The Graph error code for a status without a more specific one.
pub(crate) fn graph_code(status: u16) -> &'static str {
    match status {
        400 => "BadRequest",
        401 => "InvalidAuthenticationToken",
        403 => "Authorization_RequestDenied",
        404 => "Request_ResourceNotFound",
        405 => "Request_BadRequest",
        429 => "TooManyRequests",
        503 => "serviceNotAvailable",
        500..=599 => "generalException",
        _ => "UnknownError",
    }
}

/// The token endpoint's error: `{"error","error_description":"AADSTS<code>: …","error_codes",
/// "timestamp","trace_id","correlation_id"}`.
pub(crate) fn aadsts_error(status: u16, error: &str, code: u32, message: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    let (trace, correlation) = (random_guid(), random_guid());
    let now = Utc::now();
    let body = json!({
        "error": error,
        "error_description": format!(
            "AADSTS{code}: {message} Trace ID: {trace} Correlation ID: {correlation} Timestamp: {}",
            now.format("%Y-%m-%d %H:%M:%SZ")
        ),
        "error_codes": [code],
        "timestamp": now.format("%Y-%m-%d %H:%M:%SZ").to_string(),
        "trace_id": trace,
        "correlation_id": correlation,
    });
    let mut response = json_response(status, JSON, &body);
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The token endpoint's error for a status without a more specific one.
pub(crate) fn aadsts_for(status: u16, message: &str) -> Response {
    match status {
        401 => aadsts_error(401, "invalid_client", 7000215, message),
        429 => aadsts_error(429, "temporarily_unavailable", 50196, message),
        500..=599 => aadsts_error(status, "temporarily_unavailable", 90033, message),
        _ => aadsts_error(status, "invalid_request", 900144, message),
    }
}

pub(crate) fn random_guid() -> String {
    let (a, b) = (rand::random::<u64>(), rand::random::<u64>());
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        0x8000 | (b >> 48 & 0x3fff),
        b & 0xffff_ffff_ffff
    )
}

/// Percent-encodes a query component the way Graph writes its links (`$`, `'`, `(`, `)`, `,`,
/// `/`, `:` kept; space as `%20`).
pub(crate) fn encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z'
            | b'a'..=b'z'
            | b'0'..=b'9'
            | b'-'
            | b'_'
            | b'.'
            | b'~'
            | b'$'
            | b'\''
            | b'('
            | b')'
            | b','
            | b'/'
            | b':' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// One page of a list: where it starts, how long it is, whether `@odata.count` was asked.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Paging {
    pub offset: usize,
    pub size: usize,
    pub count: bool,
}

impl Paging {
    /// Reads `$top` (1–999, else `400`), `$count` and `$skiptoken` (keyed by `key`); the page
    /// size is `$top` (or 100) capped by `cap`.
    pub(crate) fn parse(
        query: &QueryPairs,
        key: u64,
        cap: Option<usize>,
    ) -> Result<Self, GraphError> {
        let top = match query.get("$top") {
            None => None,
            Some(raw) => match raw.trim().parse::<usize>() {
                Ok(n) if (1..=MAX_TOP).contains(&n) => Some(n),
                _ => {
                    return Err(GraphError::new(
                        400,
                        "Request_UnsupportedQuery",
                        format!(
                            "Invalid page size specified: '{raw}'. Must be between 1 and {MAX_TOP} inclusive."
                        ),
                    ));
                }
            },
        };
        let offset = match query.get("$skiptoken") {
            None => 0,
            Some(token) => decode_skip(key, token).ok_or_else(|| {
                GraphError::new(
                    400,
                    "Directory_InvalidSkipToken",
                    "The specified page token value has expired or is invalid.",
                )
            })?,
        };
        let count = query
            .get("$count")
            .is_some_and(|c| c.trim().eq_ignore_ascii_case("true"));
        let size = top
            .unwrap_or(DEFAULT_PAGE)
            .min(cap.unwrap_or(usize::MAX))
            .max(1);
        Ok(Self {
            offset,
            size,
            count,
        })
    }

    /// The index range of this page among `total` items.
    pub(crate) fn window(&self, total: usize) -> std::ops::Range<usize> {
        let start = self.offset.min(total);
        start..start.saturating_add(self.size).min(total)
    }

    /// The list body: `@odata.context`, `@odata.count` (page 1, if asked), `value`, and an
    /// absolute `@odata.nextLink` when items remain (`url` is the request's `base + path`,
    /// `query` its parameters, re-sent without the old `$skiptoken`).
    pub(crate) fn body(
        &self,
        context: &str,
        url: &str,
        query: &QueryPairs,
        key: u64,
        total: usize,
        items: Vec<Value>,
    ) -> Value {
        let end = self.window(total).end;
        let mut body = Map::new();
        body.insert(
            "@odata.context".into(),
            format!("{METADATA}#{context}").into(),
        );
        if self.count && self.offset == 0 {
            body.insert("@odata.count".into(), total.into());
        }
        if end < total {
            body.insert(
                "@odata.nextLink".into(),
                next_link(url, query, key, end).into(),
            );
        }
        body.insert("value".into(), Value::Array(items));
        Value::Object(body)
    }
}

/// The `@odata.nextLink` of the page at `offset` (`url` the request's `base + path`, `query` its
/// parameters, re-sent without the old `$skiptoken`).
pub(crate) fn next_link(url: &str, query: &QueryPairs, key: u64, offset: usize) -> String {
    let mut link = format!("{url}?");
    for (k, v) in query.0.iter().filter(|(k, _)| k != "$skiptoken") {
        link.push_str(&format!("{}={}&", encode_component(k), encode_component(v)));
    }
    link.push_str(&format!("$skiptoken={}", encode_skip(key, offset)));
    link
}

/// An opaque skip token: the offset masked with the server's key, plus a check value.
pub(crate) fn encode_skip(key: u64, offset: usize) -> String {
    let offset = offset as u64;
    let check = mix(mix(key ^ 0x51c1) ^ offset) as u32;
    format!("X'{:016x}{check:08x}'", offset ^ key.rotate_left(17))
}

pub(crate) fn decode_skip(key: u64, token: &str) -> Option<usize> {
    let hex = token.strip_prefix("X'")?.strip_suffix('\'')?;
    if hex.len() != 24 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let offset = u64::from_str_radix(hex.get(..16)?, 16).ok()? ^ key.rotate_left(17);
    let check = u32::from_str_radix(hex.get(16..)?, 16).ok()?;
    (check == mix(mix(key ^ 0x51c1) ^ offset) as u32)
        .then(|| usize::try_from(offset).ok())
        .flatten()
}

/// The `$select` list, checked against the properties `known` (`400` on an unknown one).
pub(crate) fn select(
    query: &QueryPairs,
    known: &[&str],
    type_name: &str,
) -> Result<Option<Vec<String>>, GraphError> {
    let Some(raw) = query.get("$select") else {
        return Ok(None);
    };
    let mut fields = Vec::new();
    for field in raw.split(',').map(str::trim).filter(|f| !f.is_empty()) {
        if !known.contains(&field) {
            return Err(GraphError::new(
                400,
                "Request_BadRequest",
                format!("Could not find a property named '{field}' on type '{type_name}'."),
            ));
        }
        fields.push(field.to_owned());
    }
    Ok(Some(fields))
}

/// Keeps only the selected fields of `object` (and any `@odata.*` annotation); with no
/// `$select`, keeps `default` (all fields when `default` is empty).
pub(crate) fn project(object: Value, selected: Option<&[String]>, default: &[&str]) -> Value {
    let Value::Object(map) = object else {
        return object;
    };
    let keep = |k: &str| {
        k.starts_with("@odata.")
            || match selected {
                Some(fields) => fields.iter().any(|f| f == k),
                None => default.is_empty() || default.contains(&k),
            }
    };
    Value::Object(map.into_iter().filter(|(k, _)| keep(k)).collect())
}

/// Parses `field eq 'value'` (OData: `''` escapes a quote); `None` if `raw` is anything else.
pub(crate) fn parse_eq(raw: &str) -> Option<(String, String)> {
    let (field, rest) = raw.trim().split_once(' ')?;
    let rest = rest.trim_start().strip_prefix("eq ")?.trim();
    let value = unquote(rest)?;
    Some((field.to_owned(), value))
}

/// `'it''s'` → `it's`; `None` if not a single well-formed quoted string.
pub(crate) fn unquote(s: &str) -> Option<String> {
    let inner = s.strip_prefix('\'')?.strip_suffix('\'')?;
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\'' && chars.next() != Some('\'') {
            return None;
        }
        out.push(c);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skip_tokens_round_trip_and_reject_tampering() {
        let key = 0xfeed_beef_0123_4567;
        let t = encode_skip(key, 1998);
        assert_eq!(decode_skip(key, &t), Some(1998));
        assert_eq!(decode_skip(key ^ 4, &t), None);
        assert_eq!(decode_skip(key, "X'00'"), None);
        assert_eq!(decode_skip(key, "1998"), None);
        assert_eq!(decode_skip(key, "é"), None);
    }

    #[test]
    fn eq_filters() {
        assert_eq!(
            parse_eq("appId eq 'abc'"),
            Some(("appId".into(), "abc".into()))
        );
        assert_eq!(
            parse_eq("displayName eq 'Bo''s app'"),
            Some(("displayName".into(), "Bo's app".into()))
        );
        assert_eq!(parse_eq("displayName eq 'a'b'"), None);
        assert_eq!(parse_eq("appId ne 'abc'"), None);
        assert_eq!(parse_eq("appId eq abc"), None);
        assert_eq!(parse_eq(""), None);
    }

    #[test]
    fn components_keep_odata_punctuation() {
        assert_eq!(
            encode_component("servicePrincipal/id eq 'a b'"),
            "servicePrincipal/id%20eq%20'a%20b'"
        );
        assert_eq!(encode_component("$top"), "$top");
        assert_eq!(encode_component("a&b=c+d"), "a%26b%3Dc%2Bd");
    }
}
