//! Paging of the two list shapes: SCIM `ListResponse` (startIndex/totalResults) and the Organizations
//! API's cursor chain. A source is complete only when every page arrived and parsed, the totals add up
//! and the chain ended; otherwise the caller gets the count that arrived plus the error that stopped
//! it. Each page goes to a sink as it arrives (items with their raw JSON): no source is held in memory.

use std::collections::HashSet;

use reqwest::Method;
use serde::Deserialize;
use serde_json::value::RawValue;

pub use crate::fields::json_error;
use crate::fields::{Parsed, kind_of, lenient_count};
use crate::http::error::ApiError;
use crate::http::{Api, Call, HttpLayer};
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

pub use crate::model::{Item, PageSink};

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
        let p = parse(raw).map_err(|e| format!("item {i}: {}", unquote_values(&e)))?;
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
    let mut read = ScimRead::default();
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
            url: None,
            form: None,
            headers: Vec::new(),
            key,
            bearer: true,
            origin,
            page: page.clone(),
            not_found_ok: false,
        };
        let reply = match fetch(http, &call).await {
            Ok(r) => r,
            Err(e) => break Some(e),
        };
        let (items, next) = match read.page(origin, &reply.body, &parse) {
            Ok(step) => step,
            Err(e) => break Some(ApiError::malformed(origin, &page, e)),
        };
        if !items.is_empty() {
            sink.accept(items).await;
        }
        match next {
            Some(next) => start = next,
            None => break None,
        }
    };
    Paged {
        count: read.count,
        notes: read.notes,
        error,
    }
}

/// One page of a list: a 404 is no answer a list gives.
async fn fetch(http: &HttpLayer, call: &Call<'_>) -> Result<crate::http::Reply, ApiError> {
    http.send(call)
        .await?
        .ok_or_else(|| ApiError::malformed(call.origin, &call.page, "unexpected 404"))
}

/// The state of one SCIM list read: what arrived so far, checked page by page.
#[derive(Debug, Default)]
pub struct ScimRead {
    /// `totalResults` of the first page: every later page must say the same.
    pub expected: Option<u64>,
    /// Records received.
    pub count: usize,
    seen: HashSet<String>,
    pub notes: Vec<DataQualityNote>,
}

impl ScimRead {
    /// Takes one page's body (atlassian-api.md §1, §5): its new items and the `startIndex` of the
    /// next page, `None` once every record arrived; an error when the page is malformed or the
    /// totals do not add up.
    pub fn page<T>(
        &mut self,
        origin: &str,
        body: &[u8],
        parse: &impl Fn(&RawValue) -> Result<Parsed<T>, String>,
    ) -> Result<(Vec<Item<T>>, Option<u64>), String> {
        let list: ListResponse = serde_json::from_slice(body).map_err(|e| json_error(&e))?;
        let total = match list.total_results.as_ref().map(lenient_count) {
            Some(Some(t)) => t,
            Some(None) => return Err("totalResults is not a count".into()),
            None => return Err("page has no totalResults".into()),
        };
        match self.expected {
            None => self.expected = Some(total),
            Some(t) if t != total => {
                return Err(format!(
                    "totalResults changed during the pull (from {t} to {total})"
                ));
            }
            Some(_) => {}
        }
        let resources = match list.resources {
            Some(r) => r,
            None if total == 0 => Vec::new(),
            None => return Err("page has no Resources".into()),
        };
        let items = parse_page(
            origin,
            &resources,
            parse,
            &mut self.seen,
            true,
            &mut self.notes,
        )?;
        self.count += items.len();
        let received = self.count as u64;
        if received > total {
            return Err(format!(
                "received {received} records but totalResults is {total}"
            ));
        }
        if received == total {
            return Ok((items, None));
        }
        if resources.is_empty() {
            return Err(format!("empty page after {received} of {total} records"));
        }
        Ok((items, Some(received + 1)))
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
    let mut read = CursorRead::default();
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
            url: None,
            form: None,
            headers: Vec::new(),
            key,
            bearer: true,
            origin,
            page: page.clone(),
            not_found_ok: false,
        };
        let reply = match fetch(http, &call).await {
            Ok(r) => r,
            Err(e) => break Some(e),
        };
        let (items, next) = match read.page(origin, &reply.body, &parse) {
            Ok(step) => step,
            Err(e) => break Some(ApiError::malformed(origin, &page, e)),
        };
        if !items.is_empty() {
            sink.accept(items).await;
        }
        match next {
            None => break None,
            Some(next) => cursor = Some(next),
        }
    };
    Paged {
        count: read.count,
        notes: read.notes,
        error,
    }
}

/// The state of one cursor list read (atlassian-api.md §2, §5).
#[derive(Debug, Default)]
pub struct CursorRead {
    /// Items received (an item listed twice, once per user directory, counts once).
    pub count: usize,
    seen_ids: HashSet<String>,
    seen_cursors: HashSet<String>,
    pub notes: Vec<DataQualityNote>,
}

impl CursorRead {
    /// Takes one page's body: its new items and the next cursor, `None` only at `links.next:
    /// null`; an error when the page is malformed or the chain loops back.
    pub fn page<T>(
        &mut self,
        origin: &str,
        body: &[u8],
        parse: &impl Fn(&RawValue) -> Result<Parsed<T>, String>,
    ) -> Result<(Vec<Item<T>>, Option<String>), String> {
        let parsed: CursorPage = serde_json::from_slice(body).map_err(|e| json_error(&e))?;
        let Some(data) = parsed.data else {
            return Err("page has no data".into());
        };
        let next = next_cursor(parsed.links.as_ref())?;
        let items = parse_page(
            origin,
            &data,
            parse,
            &mut self.seen_ids,
            false,
            &mut self.notes,
        )?;
        self.count += items.len();
        if let Some(n) = &next
            && !self.seen_cursors.insert(n.clone())
        {
            return Err("cursor chain loops back".into());
        }
        Ok((items, next))
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;
    use serde_json::{Value, json};

    use super::*;
    use crate::atlassian::accounts::parse_account;
    use crate::atlassian::scim::{parse_group, parse_user};

    /// Any JSON value, a few levels deep.
    fn any_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(|f| json!(f)),
            ".{0,12}".prop_map(Value::String),
            prop_oneof![Just("true"), Just(" FALSE "), Just("2024-05-01T09:00:00Z")]
                .prop_map(|s| Value::String(s.into())),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map(
                    prop_oneof![
                        Just("value".to_string()),
                        Just("primary".to_string()),
                        Just("lastModified".to_string()),
                        Just("atlassianAccountId".to_string()),
                        "[a-z]{1,6}"
                    ],
                    inner,
                    0..4
                )
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    const USER_FIELDS: [&str; 10] = [
        "externalId",
        "userName",
        "emails",
        "displayName",
        "name",
        "active",
        "groups",
        "meta",
        "urn:scim:schemas:extension:atlassian-external:1.0",
        "members",
    ];
    const ACCOUNT_FIELDS: [&str; 10] = [
        "accountType",
        "accountStatus",
        "membershipStatus",
        "status",
        "claimStatus",
        "managementSource",
        "email",
        "name",
        "addedToOrg",
        "deactivatedOn",
    ];

    /// An object with `id_key` set to `id` and arbitrary values in the named fields.
    fn record(
        id_key: &'static str,
        fields: &'static [&'static str],
    ) -> impl Strategy<Value = (String, Value)> {
        (
            "[a-z0-9-]{1,10}",
            prop::collection::vec((0..fields.len(), any_json()), 0..8),
        )
            .prop_map(move |(id, values)| {
                let mut obj = serde_json::Map::new();
                obj.insert(id_key.into(), Value::String(id.clone()));
                for (i, v) in values {
                    obj.insert(fields[i].into(), v);
                }
                (id, Value::Object(obj))
            })
    }

    fn raw(v: &Value) -> Box<RawValue> {
        RawValue::from_string(v.to_string()).unwrap()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// Arbitrary JSON in every field never panics and never drops a record that has an id.
        #[test]
        fn a_record_with_an_id_is_always_kept((id, v) in record("id", &USER_FIELDS)) {
            let user = parse_user("d1", &raw(&v)).unwrap();
            prop_assert_eq!(&user.id, &id);
            prop_assert_eq!(&user.item.scim_id, &id);
            let group = parse_group("d1", &raw(&v)).unwrap();
            prop_assert_eq!(&group.id, &id);
            // Notes name fields, once each.
            let mut fields: Vec<&str> = user.notes.iter().map(|n| n.field.as_str()).collect();
            let before = fields.len();
            fields.sort_unstable();
            fields.dedup();
            prop_assert_eq!(before, fields.len());
        }

        #[test]
        fn an_account_with_an_id_is_always_kept((id, v) in record("accountId", &ACCOUNT_FIELDS)) {
            let a = parse_account(&raw(&v)).unwrap();
            prop_assert_eq!(&a.item.account_id, &id);
            // An unreadable status never reads as access.
            if a.notes.iter().any(|n| n.field == "accountStatus" || n.field == "membershipStatus") {
                prop_assert!(!a.item.has_access());
            }
        }

        /// Anything at all never panics.
        #[test]
        fn any_item_parses_or_errs(v in any_json()) {
            let _ = parse_user("d1", &raw(&v));
            let _ = parse_account(&raw(&v));
            let _ = parse_group("d1", &raw(&v));
        }

        /// A SCIM read ends complete only when the distinct ids received equal every page's
        /// totalResults.
        #[test]
        fn scim_complete_only_when_totals_add_up(
            pages in prop::collection::vec(
                (
                    prop_oneof![(0u64..8).prop_map(|n| json!(n)), (0u64..8).prop_map(|n| json!(n.to_string())), any_json()],
                    prop::collection::vec(prop_oneof![(0u8..10).prop_map(|i| json!({"id": format!("u{i}")})), any_json()], 0..5),
                    any::<bool>(),
                ),
                1..6,
            )
        ) {
            let mut read = ScimRead::default();
            let mut totals = Vec::new();
            let mut ids = std::collections::HashSet::new();
            for (total, resources, with_resources) in pages {
                let mut page = serde_json::Map::new();
                page.insert("totalResults".into(), total.clone());
                if with_resources {
                    page.insert("Resources".into(), Value::Array(resources));
                }
                let body = serde_json::to_vec(&Value::Object(page)).unwrap();
                match read.page("scim:d", &body, &|r: &RawValue| parse_user("d1", r)) {
                    Err(_) => break,
                    Ok((items, next)) => {
                        totals.push(lenient_count(&total).unwrap());
                        for (item, _) in &items {
                            prop_assert!(ids.insert(item.scim_id.clone()), "a duplicate was accepted");
                        }
                        if next.is_none() {
                            prop_assert!(totals.iter().all(|t| *t == ids.len() as u64));
                            prop_assert_eq!(read.count, ids.len());
                            break;
                        }
                    }
                }
            }
        }

        /// A cursor read ends only at `links.next: null`.
        #[test]
        fn cursor_ends_only_at_next_null(links in any_json(), data in prop::collection::vec(any_json(), 0..4)) {
            let body = serde_json::to_vec(&json!({"data": data, "links": links})).unwrap();
            let mut read = CursorRead::default();
            if let Ok((_, None)) = read.page("accounts", &body, &parse_account) {
                prop_assert_eq!(links.get("next"), Some(&Value::Null));
            }
        }
    }
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
