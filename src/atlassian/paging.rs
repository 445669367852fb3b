//! Paging of the two list shapes: SCIM `ListResponse` (startIndex/totalResults) and the Organizations
//! API's cursor chain. A source is complete only when every page arrived and parsed, the totals add up
//! and the chain ended; otherwise the caller gets what arrived plus the error that stopped it.

use std::collections::HashSet;

use reqwest::Method;
use serde::Deserialize;
use serde_json::value::RawValue;

use super::error::ApiError;
use super::http::{Api, Call, HttpLayer};
use crate::secret::Secret;

/// What one paged read produced: the items that arrived and, if it stopped early, why.
#[derive(Debug)]
pub struct Paged<T> {
    pub items: Vec<T>,
    pub error: Option<ApiError>,
}

#[derive(Deserialize)]
struct ListResponse<'a> {
    #[serde(rename = "totalResults")]
    total_results: Option<u64>,
    #[serde(rename = "Resources", borrow)]
    resources: Option<Vec<&'a RawValue>>,
}

/// Reads every page of a SCIM list endpoint. `parse` turns one resource into an item and its id.
pub async fn scim_list<T>(
    http: &HttpLayer,
    key: &Secret,
    origin: &str,
    path: &str,
    page_size: usize,
    parse: impl Fn(&RawValue) -> Result<(String, T), String>,
) -> Paged<T> {
    let mut items = Vec::new();
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
        for (i, raw) in resources.iter().enumerate() {
            match parse(raw) {
                Ok((id, item)) => {
                    if !seen.insert(id.clone()) {
                        return Paged {
                            items,
                            error: Some(ApiError::malformed(
                                origin,
                                &page,
                                format!("duplicate id {id:?} across pages"),
                            )),
                        };
                    }
                    items.push(item);
                }
                Err(e) => {
                    return Paged {
                        items,
                        error: Some(ApiError::malformed(
                            origin,
                            &page,
                            format!("resource {i}: {e}"),
                        )),
                    };
                }
            }
        }
        let received = items.len() as u64;
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
    Paged { items, error }
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
pub enum CursorRequest {
    /// `POST` with `{"limit", "cursor"}` in the body.
    PostBody,
    /// `GET` with `limit` and `cursor` in the query.
    GetQuery,
}

/// Reads every page of an Organizations API cursor list.
pub async fn cursor_list<T>(
    http: &HttpLayer,
    key: &Secret,
    origin: &str,
    path: &str,
    style: CursorRequest,
    limit: usize,
    parse: impl Fn(&RawValue) -> Result<(String, T), String>,
) -> Paged<T> {
    let mut items = Vec::new();
    let mut seen_ids = HashSet::new();
    let mut seen_cursors = HashSet::new();
    let mut cursor: Option<String> = None;
    let error = loop {
        let page = match &cursor {
            None => "first page".to_string(),
            Some(c) => format!("cursor={}", c.chars().take(64).collect::<String>()),
        };
        let (method, query, json) = match style {
            CursorRequest::PostBody => {
                let mut body = serde_json::json!({ "limit": limit });
                if let Some(c) = &cursor {
                    body["cursor"] = serde_json::Value::String(c.clone());
                }
                (Method::POST, Vec::new(), Some(body))
            }
            CursorRequest::GetQuery => {
                let mut q = vec![("limit", limit.to_string())];
                if let Some(c) = &cursor {
                    q.push(("cursor", c.clone()));
                }
                (Method::GET, q, None)
            }
        };
        let call = Call {
            api: Api::Accounts,
            method,
            path: path.to_string(),
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
        for (i, raw) in data.iter().enumerate() {
            match parse(raw) {
                Ok((id, item)) => {
                    // The same account may be listed once per user directory: keep the first.
                    if seen_ids.insert(id) {
                        items.push(item);
                    }
                }
                Err(e) => {
                    return Paged {
                        items,
                        error: Some(ApiError::malformed(origin, &page, format!("item {i}: {e}"))),
                    };
                }
            }
        }
        let Some(links) = parsed.links else {
            break Some(ApiError::malformed(origin, &page, "page has no links"));
        };
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
    Paged { items, error }
}
