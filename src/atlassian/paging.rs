//! Paging of the two list shapes: SCIM `ListResponse` (startIndex/totalResults) and the Organizations
//! API's cursor chain. A source is complete only when every page arrived and parsed, the totals add up
//! and the chain ended; otherwise the caller gets the count that arrived plus the error that stopped
//! it. Each page goes to a sink as it arrives (items with their raw JSON): no source is held in memory.

use std::collections::HashSet;

use reqwest::Method;
use serde::Deserialize;
use serde_json::value::RawValue;

use super::error::ApiError;
use super::http::{Api, Call, HttpLayer};
use crate::secret::Secret;

/// What one paged read did: how many items arrived and, if it stopped early, why.
#[derive(Debug)]
pub struct Paged {
    pub count: usize,
    pub error: Option<ApiError>,
}

/// One parsed item with the raw JSON it came from.
pub type Item<T> = (T, String);

/// Where pages go as they arrive.
pub trait PageSink<T> {
    /// Takes one page's items (waiting if the consumer is behind).
    fn accept(&self, items: Vec<Item<T>>) -> impl std::future::Future<Output = ()> + Send;
}

/// Parses one page's items: `Ok` with the new items, or the error naming the item. `seen` catches
/// ids repeated across pages: an error when `duplicates_are_errors`, else skipped (keep the first).
fn parse_page<T>(
    raw_items: &[&RawValue],
    parse: &impl Fn(&RawValue) -> Result<(String, T), String>,
    seen: &mut HashSet<String>,
    duplicates_are_errors: bool,
) -> Result<Vec<Item<T>>, String> {
    let mut items = Vec::with_capacity(raw_items.len());
    for (i, raw) in raw_items.iter().enumerate() {
        let (id, item) = parse(raw).map_err(|e| format!("item {i}: {}", unquote_values(&e)))?;
        if seen.insert(id.clone()) {
            items.push((item, raw.get().to_string()));
        } else if duplicates_are_errors {
            return Err(format!("duplicate id {id:?} across pages"));
        }
    }
    Ok(items)
}

/// A parse error without the values it quotes (`invalid type: string "…", expected …`): a value
/// may be a key a proxy echoed, and errors reach logs, the store and the audit.
fn unquote_values(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    loop {
        let hit = [
            "string \"",
            "character `",
            "unknown variant `",
            "unknown field `",
        ]
        .iter()
        .filter_map(|m| rest.find(m).map(|i| (i, *m)))
        .min();
        let Some((i, marker)) = hit else { break };
        let start = i + marker.len();
        out.push_str(&rest[..start]);
        let close = &marker[marker.len() - 1..];
        let tail = &rest[start..];
        // A quoted value may itself hold the quote: it ends before the `, expected` that follows.
        let end = tail
            .find(&format!("{close}, expected"))
            .or_else(|| tail.find(close))
            .unwrap_or(tail.len());
        out.push('…');
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

#[derive(Deserialize)]
struct ListResponse<'a> {
    #[serde(rename = "totalResults")]
    total_results: Option<u64>,
    #[serde(rename = "Resources", borrow)]
    resources: Option<Vec<&'a RawValue>>,
}

/// Reads every page of a SCIM list endpoint. `parse` turns one resource into an item and its id;
/// `sink` receives each page's items.
pub async fn scim_list<T>(
    http: &HttpLayer,
    key: &Secret,
    origin: &str,
    path: &str,
    page_size: usize,
    parse: impl Fn(&RawValue) -> Result<(String, T), String>,
    sink: &impl PageSink<T>,
) -> Paged {
    let mut count = 0usize;
    let mut seen = HashSet::new();
    let mut expected: Option<u64> = None;
    let mut start = 1u64;
    let error = loop {
        let page = format!("startIndex={start}");
        let call = Call {
            api: Api::Scim,
            method: Method::GET,
            path: path.to_string(),
            query: vec![
                ("startIndex", start.to_string()),
                ("count", page_size.to_string()),
            ],
            json: None,
            key,
            origin,
            page: page.clone(),
            not_found_ok: false,
        };
        let reply = match http.send(&call).await {
            Ok(Some(r)) => r,
            Ok(None) => break Some(ApiError::malformed(origin, &page, "unexpected 404")),
            Err(e) => break Some(e),
        };
        let list: ListResponse = match serde_json::from_slice(&reply.body) {
            Ok(l) => l,
            Err(e) => {
                break Some(ApiError::malformed(
                    origin,
                    &page,
                    format!("invalid JSON: {}", unquote_values(&e.to_string())),
                ));
            }
        };
        let Some(total) = list.total_results else {
            break Some(ApiError::malformed(
                origin,
                &page,
                "page has no totalResults",
            ));
        };
        match expected {
            None => expected = Some(total),
            Some(t) if t != total => {
                break Some(ApiError::malformed(
                    origin,
                    &page,
                    format!("totalResults changed during the pull (from {t} to {total})"),
                ));
            }
            Some(_) => {}
        }
        let resources = match list.resources {
            Some(r) => r,
            None if total == 0 => Vec::new(),
            None => break Some(ApiError::malformed(origin, &page, "page has no Resources")),
        };
        let items = match parse_page(&resources, &parse, &mut seen, true) {
            Ok(items) => items,
            Err(e) => break Some(ApiError::malformed(origin, &page, e)),
        };
        count += items.len();
        if !items.is_empty() {
            sink.accept(items).await;
        }
        let received = count as u64;
        if received >= total {
            break (received > total).then(|| {
                ApiError::malformed(
                    origin,
                    &page,
                    format!("received {received} records but totalResults is {total}"),
                )
            });
        }
        if resources.is_empty() {
            break Some(ApiError::malformed(
                origin,
                &page,
                format!("empty page after {received} of {total} records"),
            ));
        }
        start += resources.len() as u64;
    };
    Paged { count, error }
}

#[derive(Deserialize)]
struct CursorPage<'a> {
    #[serde(borrow)]
    data: Option<Vec<&'a RawValue>>,
    links: Option<Links>,
}

#[derive(Deserialize)]
struct Links {
    next: Option<String>,
}

/// How to ask for one page of a cursor list.
#[derive(Debug, Clone, Copy)]
pub enum CursorRequest {
    /// `POST` with `{"limit", "cursor"}` in the body.
    PostBody,
    /// `GET` with `limit` and `cursor` in the query.
    GetQuery,
}

/// One cursor list endpoint.
pub struct CursorSource<'a> {
    pub origin: &'a str,
    pub path: String,
    pub style: CursorRequest,
    pub limit: usize,
}

/// Reads every page of an Organizations API cursor list; `sink` receives each page's items. An item
/// listed twice (once per user directory) is kept once.
pub async fn cursor_list<T>(
    http: &HttpLayer,
    key: &Secret,
    source: &CursorSource<'_>,
    parse: impl Fn(&RawValue) -> Result<(String, T), String>,
    sink: &impl PageSink<T>,
) -> Paged {
    let origin = source.origin;
    let mut count = 0usize;
    let mut seen_ids = HashSet::new();
    let mut seen_cursors = HashSet::new();
    let mut cursor: Option<String> = None;
    let error = loop {
        let page = match &cursor {
            None => "first page".to_string(),
            Some(c) => format!("cursor={}", c.chars().take(64).collect::<String>()),
        };
        let (method, query, json) = match source.style {
            CursorRequest::PostBody => {
                let mut body = serde_json::json!({ "limit": source.limit });
                if let Some(c) = &cursor {
                    body["cursor"] = serde_json::Value::String(c.clone());
                }
                (Method::POST, Vec::new(), Some(body))
            }
            CursorRequest::GetQuery => {
                let mut q = vec![("limit", source.limit.to_string())];
                if let Some(c) = &cursor {
                    q.push(("cursor", c.clone()));
                }
                (Method::GET, q, None)
            }
        };
        let call = Call {
            api: Api::Accounts,
            method,
            path: source.path.clone(),
            query,
            json,
            key,
            origin,
            page: page.clone(),
            not_found_ok: false,
        };
        let reply = match http.send(&call).await {
            Ok(Some(r)) => r,
            Ok(None) => break Some(ApiError::malformed(origin, &page, "unexpected 404")),
            Err(e) => break Some(e),
        };
        let parsed: CursorPage = match serde_json::from_slice(&reply.body) {
            Ok(p) => p,
            Err(e) => {
                break Some(ApiError::malformed(
                    origin,
                    &page,
                    format!("invalid JSON: {}", unquote_values(&e.to_string())),
                ));
            }
        };
        let Some(data) = parsed.data else {
            break Some(ApiError::malformed(origin, &page, "page has no data"));
        };
        let Some(links) = parsed.links else {
            break Some(ApiError::malformed(origin, &page, "page has no links"));
        };
        let items = match parse_page(&data, &parse, &mut seen_ids, false) {
            Ok(items) => items,
            Err(e) => break Some(ApiError::malformed(origin, &page, e)),
        };
        count += items.len();
        if !items.is_empty() {
            sink.accept(items).await;
        }
        match links.next.filter(|n| !n.is_empty()) {
            None => break None,
            Some(next) => {
                if !seen_cursors.insert(next.clone()) {
                    break Some(ApiError::malformed(
                        origin,
                        &page,
                        "cursor chain loops back",
                    ));
                }
                cursor = Some(next);
            }
        }
    };
    Paged { count, error }
}

#[cfg(test)]
mod tests {
    use super::unquote_values;

    #[test]
    fn parse_errors_never_quote_values() {
        let e = serde_json::from_str::<Vec<u64>>(r#"["Bearer tok-\"x\"-secret", 1]"#).unwrap_err();
        let text = unquote_values(&e.to_string());
        assert!(!text.contains("tok") && !text.contains("secret"), "{text}");
        assert!(
            text.starts_with("invalid type: string \"…\", expected u64"),
            "{text}"
        );
        assert_eq!(
            unquote_values("missing field `totalResults`"),
            "missing field `totalResults`"
        );
        assert_eq!(
            unquote_values("unknown variant `s3cr3t`, expected one of `a`"),
            "unknown variant `…`, expected one of `a`"
        );
    }
}
