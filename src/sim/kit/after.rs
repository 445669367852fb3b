//! The fault rules that act on an executed request's answer (after it took effect).

use axum::body::{Body, to_bytes};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::faults::{Api, BadNext, FaultKind};
use super::respond::Failure;

/// Applies body faults to an executed request's answer.
pub(crate) async fn apply_after(api: Api, response: Response, faults: &[FaultKind]) -> Response {
    if faults.is_empty() {
        return response;
    }
    if let Some(code) = faults.iter().find_map(|f| match f {
        FaultKind::StatusAfterApply(code) => Some(*code),
        _ => None,
    }) {
        return Failure::new(api, code, "injected failure after the request took effect")
            .into_response();
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = to_bytes(body, usize::MAX).await else {
        return Failure::new(api, 500, "could not buffer the response").into_response();
    };
    let mut bytes = bytes.to_vec();
    for fault in faults {
        match fault {
            FaultKind::MissingResources => edit_json(&mut bytes, |page| {
                page.remove("Resources");
                page.remove("data");
                page.remove("value");
            }),
            FaultKind::TotalResultsDrift(n) => edit_json(&mut bytes, |page| {
                if let Some(total) = page.get("totalResults").and_then(Value::as_i64) {
                    page.insert("totalResults".into(), (total + n).into());
                }
            }),
            FaultKind::StringBooleans => edit_resources(&mut bytes, |r| {
                if let Some(b) = r.get("active").and_then(Value::as_bool) {
                    let text = if b { "True" } else { "False" };
                    r.insert("active".into(), text.into());
                }
            }),
            FaultKind::SetField { id, field, value } => edit_resources(&mut bytes, |r| {
                let item_id = r
                    .get("id")
                    .or_else(|| r.get("accountId"))
                    .and_then(Value::as_str);
                if id.is_none() || item_id == id.as_deref() {
                    r.insert(field.clone(), value.clone());
                }
            }),
            FaultKind::WithoutMeta => edit_resources(&mut bytes, |r| {
                r.remove("meta");
            }),
            FaultKind::RepeatItem { id, set } => edit_json(&mut bytes, |page| {
                let mut added = 0;
                for items in item_lists(page) {
                    let found = items.iter().position(|item| {
                        let item_id = item.get("id").or_else(|| item.get("accountId"));
                        item_id.and_then(Value::as_str) == Some(id.as_str())
                    });
                    if let Some(i) = found {
                        let mut copy = items[i].clone();
                        if let Value::Object(copy) = &mut copy {
                            copy.extend(set.clone());
                        }
                        items.insert(i, copy);
                        added += 1;
                    }
                }
                count_more(page, added);
            }),
            FaultKind::InjectItem { item, counted } => edit_json(&mut bytes, |page| {
                let mut added = 0;
                for items in item_lists(page) {
                    items.insert(0, item.clone());
                    added += 1;
                }
                if *counted {
                    count_more(page, added);
                }
            }),
            FaultKind::EmptyPage => edit_json(&mut bytes, |page| {
                if page.contains_key("Resources") {
                    page.insert("totalResults".into(), 0.into());
                    page.insert("itemsPerPage".into(), 0.into());
                    page.remove("Resources");
                }
                if page.contains_key("value") {
                    page.insert("value".into(), Value::Array(Vec::new()));
                    page.remove("@odata.nextLink");
                }
                if page.contains_key("data") {
                    page.insert("data".into(), Value::Array(Vec::new()));
                    page.insert(
                        "links".into(),
                        serde_json::json!({"self": null, "prev": null, "next": null}),
                    );
                }
            }),
            FaultKind::BadLinksNext(how) => edit_json(&mut bytes, |page| match how {
                BadNext::NoLinks => {
                    page.remove("links");
                }
                BadNext::ThisPage => {
                    if let Some(Value::Object(links)) = page.get_mut("links") {
                        let this = links.get("self").cloned().unwrap_or(Value::Null);
                        links.insert("next".into(), this);
                    }
                }
                BadNext::Missing | BadNext::Empty => {
                    if let Some(Value::Object(links)) = page.get_mut("links") {
                        links.remove("next");
                        if *how == BadNext::Empty {
                            links.insert("next".into(), "".into());
                        }
                    }
                }
            }),
            _ => {}
        }
    }
    if faults.contains(&FaultKind::MalformedJson) {
        if bytes.is_empty() {
            bytes = b"{,}".to_vec();
        } else {
            bytes.insert(1, b',');
        }
        if parts.status == StatusCode::NO_CONTENT {
            parts.status = StatusCode::OK;
        }
    }
    if faults.contains(&FaultKind::TruncatedBody) {
        bytes.truncate((bytes.len() / 2).max(1));
    }
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(bytes))
}

/// The item arrays of a page (`Resources`, `data` or Graph's `value`).
fn item_lists(page: &mut serde_json::Map<String, Value>) -> impl Iterator<Item = &mut Vec<Value>> {
    page.iter_mut()
        .filter(|(key, _)| matches!(key.as_str(), "Resources" | "data" | "value"))
        .filter_map(|(_, v)| v.as_array_mut())
}

/// A SCIM page's `itemsPerPage` grown by `n`.
fn count_more(page: &mut serde_json::Map<String, Value>, n: u64) {
    if let Some(per_page) = page.get("itemsPerPage").and_then(Value::as_u64) {
        page.insert("itemsPerPage".into(), (per_page + n).into());
    }
}

/// Edits every item of a page (`Resources`, `data` or Graph's `value`).
fn edit_resources(bytes: &mut Vec<u8>, mut edit: impl FnMut(&mut serde_json::Map<String, Value>)) {
    edit_json(bytes, |page| {
        for items in item_lists(page) {
            for item in items.iter_mut().filter_map(Value::as_object_mut) {
                edit(item);
            }
        }
    });
}

fn edit_json(bytes: &mut Vec<u8>, edit: impl FnOnce(&mut serde_json::Map<String, Value>)) {
    if let Ok(Value::Object(mut page)) = serde_json::from_slice::<Value>(bytes) {
        edit(&mut page);
        if let Ok(edited) = serde_json::to_vec(&page) {
            *bytes = edited;
        }
    }
}
