//! Paging of the two list shapes: SCIM `ListResponse` (startIndex/totalResults) and the Organizations
//! API's cursor chain. A source is complete only when every page arrived and parsed, the totals add up
//! and the chain ended; otherwise the caller gets the count that arrived plus the error that stopped
//! it. Each page goes to a sink as it arrives (items with their raw JSON): no source is held in memory.

use std::collections::HashSet;

use reqwest::Method;
use serde::Deserialize;
use serde_json::value::RawValue;

use super::error::ApiError;
use super::fields::{Parsed, kind_of, lenient_count};
use super::http::{Api, Call, HttpLayer};
use crate::model::DataQualityNote;
use crate::secret::Secret;

/// What one paged read did: how many items arrived, the fields it could not read and, if it stopped
/// early, why.
#[derive(Debug, Default)]
pub struct Paged {
    pub count: usize,
    /// One note per record and field that could not be read (the records were kept).
    pub notes: Vec<DataQualityNote>,
    pub error: Option<ApiError>,
}

/// One parsed item with the raw JSON it came from.
pub type Item<T> = (T, String);

/// Where pages go as they arrive.
pub trait PageSink<T> {
    /// Takes one page's items (waiting if the consumer is behind).
    fn accept(&self, items: Vec<Item<T>>) -> impl std::future::Future<Output = ()> + Send;
}

/// Parses one page's items into `items`, their field notes into `notes`; an error names the item
/// (index, and id when it has one) and what made it uncountable. `seen` catches ids repeated across
/// pages: an error when `duplicates_are_errors`, else skipped (keep the first).
fn parse_page<T>(
    origin: &str,
    raw_items: &[&RawValue],
    parse: &impl Fn(&RawValue) -> Result<Parsed<T>, String>,
    seen: &mut HashSet<String>,
    duplicates_are_errors: bool,
    notes: &mut Vec<DataQualityNote>,
) -> Result<Vec<Item<T>>, String> {
    let mut items = Vec::with_capacity(raw_items.len());
    for (i, raw) in raw_items.iter().enumerate() {
        let p = parse(raw).map_err(|e| format!("item {i}: {e}"))?;
        if seen.insert(p.id.clone()) {
            notes.extend(p.notes.into_iter().map(|n| DataQualityNote {
                source: origin.to_string(),
                id: p.id.clone(),
                field: n.field,
                problem: n.problem,
            }));
            items.push((p.item, raw.get().to_string()));
        } else if duplicates_are_errors {
            return Err(format!("item {i}: id {:?} is listed twice", p.id));
        }
    }
    Ok(items)
}

#[derive(Deserialize)]
struct ListResponse<'a> {
    /// A number, or a number sent as a string (lenient).
    #[serde(rename = "totalResults")]
    total_results: Option<serde_json::Value>,
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
    parse: impl Fn(&RawValue) -> Result<Parsed<T>, String>,
    sink: &impl PageSink<T>,
) -> Paged {
    let mut count = 0usize;
    let mut notes = Vec::new();
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
                    format!("invalid JSON: {e}"),
                ));
            }
        };
        let total = match list.total_results.as_ref().map(lenient_count) {
            Some(Some(t)) => t,
            Some(None) => {
                break Some(ApiError::malformed(
                    origin,
                    &page,
                    "totalResults is not a count",
                ));
            }
            None => {
                break Some(ApiError::malformed(
                    origin,
                    &page,
                    "page has no totalResults",
                ));
            }
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
        let items = match parse_page(origin, &resources, &parse, &mut seen, true, &mut notes) {
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
    Paged {
        count,
        notes,
        error,
    }
}

#[derive(Deserialize)]
struct CursorPage<'a> {
    #[serde(borrow)]
    data: Option<Vec<&'a RawValue>>,
    links: Option<serde_json::Value>,
}

/// The next cursor of a page's `links`: `Ok(None)` only for `next: null` (the end of the chain); a
/// missing `links` or `next`, an empty string or another type is an error (atlassian-api.md §2, §5).
fn next_cursor(links: Option<&serde_json::Value>) -> Result<Option<String>, String> {
    let Some(links) = links.filter(|l| !l.is_null()) else {
        return Err("page has no links".into());
    };
    let Some(obj) = links.as_object() else {
        return Err(format!("links is {}, expected an object", kind_of(links)));
    };
    match obj.get("next") {
        None => Err("links has no `next` (only `next: null` ends the chain)".into()),
        Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(s)) if s.trim().is_empty() => {
            Err("links.next is an empty string (only `next: null` ends the chain)".into())
        }
        Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(format!(
            "links.next is {}, expected a cursor string or null",
            kind_of(other)
        )),
    }
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
    parse: impl Fn(&RawValue) -> Result<Parsed<T>, String>,
    sink: &impl PageSink<T>,
) -> Paged {
    let origin = source.origin;
    let mut count = 0usize;
    let mut notes = Vec::new();
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
                    format!("invalid JSON: {e}"),
                ));
            }
        };
        let Some(data) = parsed.data else {
            break Some(ApiError::malformed(origin, &page, "page has no data"));
        };
        let next = match next_cursor(parsed.links.as_ref()) {
            Ok(next) => next,
            Err(e) => break Some(ApiError::malformed(origin, &page, e)),
        };
        let items = match parse_page(origin, &data, &parse, &mut seen_ids, false, &mut notes) {
            Ok(items) => items,
            Err(e) => break Some(ApiError::malformed(origin, &page, e)),
        };
        count += items.len();
        if !items.is_empty() {
            sink.accept(items).await;
        }
        match next {
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
    Paged {
        count,
        notes,
        error,
    }
}
