//! Paging of the two list shapes: SCIM `ListResponse` (startIndex/totalResults) and the Organizations
//! API's cursor chain. A source is complete only when every page arrived and parsed, the totals add up
//! and the chain ended; otherwise the caller gets the count that arrived plus the error that stopped
//! it. Each page goes to a sink as it arrives (items with their raw JSON): no source is held in memory,
//! only a hash of each id served ([`SeenIds`]), so that an id listed twice is caught.

use std::collections::HashSet;

use reqwest::Method;
use serde::Deserialize;
use serde_json::value::RawValue;

pub use crate::fields::json_error;
use crate::fields::{Parsed, SeenIds, kind_of, lenient_count};
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

/// Parses one page's items, their field notes into `notes`; an error names the item (index, and id
/// when it has one) and what made it uncountable: no object, no id, or an id `seen` already holds
/// (listed twice on this page or an earlier one: which copy is true is unknown, §5).
fn parse_page<T>(
    origin: &str,
    raw_items: &[&RawValue],
    parse: &impl Fn(&RawValue) -> Result<Parsed<T>, String>,
    seen: &mut SeenIds,
    notes: &mut Vec<DataQualityNote>,
) -> Result<Vec<Item<T>>, String> {
    let mut items = Vec::with_capacity(raw_items.len());
    for (i, raw) in raw_items.iter().enumerate() {
        let p = parse(raw).map_err(|e| format!("item {i}: {}", unquote_values(&e)))?;
        if !seen.first_time(&p.id) {
            return Err(format!("item {i}: id {:?} is listed twice", p.id));
        }
        notes.extend(p.notes.into_iter().map(|n| DataQualityNote {
            source: origin.to_string(),
            id: p.id.clone(),
            field: n.field,
            problem: n.problem,
        }));
        items.push((p.item, raw.get().to_string()));
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
    /// The page's length as the server states it (a count, possibly a string); may be absent.
    #[serde(rename = "itemsPerPage")]
    items_per_page: Option<serde_json::Value>,
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
    let mut read = ScimRead::new(page_size);
    let what = path.rsplit('/').next().unwrap_or_default();
    let call = |start: &u64| Call {
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
        page: format!("{what} startIndex={start}"),
        not_found_ok: false,
    };
    let error = read_list(http, &mut read, 1, call, &parse, sink).await;
    Paged {
        count: read.count,
        notes: read.notes,
        error,
    }
}

/// A page's items and the page to read next (`None` at the end), or why the page is refused.
type PageItems<T, K> = Result<(Vec<Item<T>>, Option<K>), String>;

/// One list's reading in the two steps [`read_list`] takes each page in: its envelope (the
/// items still raw, and which page it points at next), then its items.
trait ListRead<T> {
    /// What names a page: a SCIM `startIndex`, a cursor.
    type Key: Clone + PartialEq;
    /// A page's envelope, borrowing its body.
    type Envelope<'b>;
    /// The page's envelope, checked.
    fn envelope<'b>(
        &mut self,
        body: &'b [u8],
        parse: &impl Fn(&RawValue) -> Result<Parsed<T>, String>,
    ) -> Result<Self::Envelope<'b>, String>;
    /// The page this one points at, asked for while its items are read (`None` at the end).
    fn ahead(&self, page: &Self::Envelope<'_>) -> Option<Self::Key>;
    /// The page's items, every check made, and the page to read next (`None` at the end).
    fn items(
        &mut self,
        origin: &str,
        page: Self::Envelope<'_>,
        parse: &impl Fn(&RawValue) -> Result<Parsed<T>, String>,
    ) -> PageItems<T, Self::Key>;
}

/// Reads a list from page `first` to its end (or its first error), in order: each page's items
/// go to `sink`. The next page is asked for as soon as this page's envelope names it, while its
/// items are parsed and handed on (the server prepares one page while the client reads the
/// other); it is used only when the page read whole names the same one, and dropped otherwise.
async fn read_list<'c, T, R: ListRead<T>>(
    http: &HttpLayer,
    read: &mut R,
    first: R::Key,
    call: impl Fn(&R::Key) -> Call<'c>,
    parse: &impl Fn(&RawValue) -> Result<Parsed<T>, String>,
    sink: &impl PageSink<T>,
) -> Option<ApiError> {
    let mut this = call(&first);
    let mut reply = fetch(http, &this).await;
    loop {
        let body = match reply {
            Ok(r) => r.body,
            Err(e) => return Some(e),
        };
        let malformed = |e: String| Some(ApiError::malformed(this.origin, &this.page, e));
        let envelope = match read.envelope(&body, parse) {
            Ok(page) => page,
            Err(e) => return malformed(e),
        };
        let ahead = read.ahead(&envelope);
        let next_call = ahead.as_ref().map(&call);
        let prefetch = async {
            match &next_call {
                Some(c) => Some(fetch(http, c).await),
                None => None,
            }
        };
        let mut prefetch = Box::pin(prefetch);
        let mut early = None;
        let worked = {
            let work = async {
                let (items, next) = read.items(this.origin, envelope, parse)?;
                if !items.is_empty() {
                    sink.accept(items).await;
                }
                Ok::<_, String>(next)
            };
            let mut work = std::pin::pin!(work);
            loop {
                tokio::select! {
                    // The request first: it is on its way before the items are parsed.
                    biased;
                    r = &mut prefetch, if early.is_none() => early = Some(r),
                    r = &mut work => break r,
                }
            }
        };
        let next = match worked {
            Err(e) => return malformed(e),
            Ok(None) => return None,
            Ok(Some(next)) => next,
        };
        let asked = if ahead.as_ref() == Some(&next) {
            match early {
                Some(r) => r,
                None => prefetch.await,
            }
        } else {
            // Another page is next: the one asked ahead goes (and its permit with it).
            drop(prefetch);
            None
        };
        this = call(&next);
        reply = match asked {
            Some(r) => r,
            None => fetch(http, &this).await,
        };
    }
}

/// One page of a list: a 404 is no answer a list gives.
async fn fetch(http: &HttpLayer, call: &Call<'_>) -> Result<crate::http::Reply, ApiError> {
    http.send(call)
        .await?
        .ok_or_else(|| ApiError::malformed(call.origin, &call.page, "unexpected 404"))
}

/// The state of one SCIM list read: what arrived so far, checked page by page.
#[derive(Debug)]
pub struct ScimRead {
    /// The `count` each page is asked for.
    requested: u64,
    /// `totalResults` of the first page: every later page must say the same.
    pub expected: Option<u64>,
    /// Records received.
    pub count: usize,
    seen: SeenIds,
    pub notes: Vec<DataQualityNote>,
}

impl ScimRead {
    /// A read whose pages are asked for `count` records each.
    pub fn new(count: usize) -> Self {
        ScimRead {
            requested: count as u64,
            expected: None,
            count: 0,
            seen: SeenIds::default(),
            notes: Vec::new(),
        }
    }

    /// Takes one page's body (atlassian-api.md §1, §5): its new items and the `startIndex` of the
    /// next page, `None` once every record arrived. An error when the page is malformed, lists an
    /// id already listed, holds more `Resources` than its `itemsPerPage` or the `count` asked (the
    /// next `startIndex`, counted from what arrived, would skip records never read), or the totals
    /// do not add up.
    pub fn page<T>(
        &mut self,
        origin: &str,
        body: &[u8],
        parse: &impl Fn(&RawValue) -> Result<Parsed<T>, String>,
    ) -> Result<(Vec<Item<T>>, Option<u64>), String> {
        let page = self.envelope(body, parse)?;
        let ahead = ListRead::<T>::ahead(self, &page);
        let (items, next) = self.items(origin, page, parse)?;
        // What `read_list` asks for ahead is the page a page read whole names (every test of the
        // readers goes through here).
        debug_assert_eq!(ahead, next, "the page asked ahead is not the next");
        Ok((items, next))
    }
}

/// A SCIM page's envelope, checked ([`ScimRead::page`]): its resources, still raw.
pub struct ScimEnvelope<'b> {
    total: u64,
    resources: Vec<&'b RawValue>,
}

impl<T> ListRead<T> for ScimRead {
    type Key = u64;
    type Envelope<'b> = ScimEnvelope<'b>;

    fn envelope<'b>(
        &mut self,
        body: &'b [u8],
        parse: &impl Fn(&RawValue) -> Result<Parsed<T>, String>,
    ) -> Result<ScimEnvelope<'b>, String> {
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
        let per_page = match list.items_per_page.as_ref().filter(|v| !v.is_null()) {
            None => None,
            Some(v) => Some(lenient_count(v).ok_or("itemsPerPage is not a count")?),
        };
        let resources = match list.resources {
            Some(r) => r,
            None if total == 0 => Vec::new(),
            None => return Err("page has no Resources".into()),
        };
        let (limit, stated) = match per_page {
            Some(n) if n < self.requested => (n, "its itemsPerPage"),
            _ => (self.requested, "the count asked"),
        };
        if resources.len() as u64 > limit {
            let beyond = resources
                .get(limit as usize)
                .and_then(|raw| parse(raw).ok())
                .map_or("has no usable id".to_string(), |p| {
                    format!("is id {:?}", p.id)
                });
            return Err(format!(
                "page holds {} Resources, more than {stated} ({limit}): the next startIndex would \
                 skip records (item {limit} {beyond})",
                resources.len()
            ));
        }
        Ok(ScimEnvelope { total, resources })
    }

    fn ahead(&self, page: &ScimEnvelope<'_>) -> Option<u64> {
        // Every resource becomes an item when the page reads whole (or the page is an error).
        let received = self.count as u64 + page.resources.len() as u64;
        (received < page.total && !page.resources.is_empty()).then_some(received + 1)
    }

    fn items(
        &mut self,
        origin: &str,
        page: ScimEnvelope<'_>,
        parse: &impl Fn(&RawValue) -> Result<Parsed<T>, String>,
    ) -> Result<(Vec<Item<T>>, Option<u64>), String> {
        let ScimEnvelope { total, resources } = page;
        let items = parse_page(origin, &resources, parse, &mut self.seen, &mut self.notes)?;
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

/// Reads every page of an Organizations API cursor list; `sink` receives each page's items.
pub async fn cursor_list<T>(
    http: &HttpLayer,
    key: &Secret,
    source: &CursorSource<'_>,
    parse: impl Fn(&RawValue) -> Result<Parsed<T>, String>,
    sink: &impl PageSink<T>,
) -> Paged {
    let origin = source.origin;
    let mut read = CursorRead::default();
    let call = |cursor: &Option<String>| {
        let page = match cursor {
            None => "first page".to_string(),
            Some(c) => format!("cursor={}", c.chars().take(64).collect::<String>()),
        };
        let (method, query, json) = match source.style {
            CursorRequest::PostBody => {
                let mut body = serde_json::json!({ "limit": source.limit });
                if let Some(c) = cursor {
                    body["cursor"] = serde_json::Value::String(c.clone());
                }
                (Method::POST, Vec::new(), Some(body))
            }
            CursorRequest::GetQuery => {
                let mut q = vec![("limit", source.limit.to_string())];
                if let Some(c) = cursor {
                    q.push(("cursor", c.clone()));
                }
                (Method::GET, q, None)
            }
        };
        Call {
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
            page,
            not_found_ok: false,
        }
    };
    let error = read_list(http, &mut read, None, call, &parse, sink).await;
    Paged {
        count: read.count,
        notes: read.notes,
        error,
    }
}

/// The state of one cursor list read (atlassian-api.md §2, §5).
#[derive(Debug, Default)]
pub struct CursorRead {
    /// Items received.
    pub count: usize,
    seen_ids: SeenIds,
    /// The cursors followed (one per page: few).
    seen_cursors: HashSet<String>,
    pub notes: Vec<DataQualityNote>,
}

impl CursorRead {
    /// Takes one page's body: its new items and the next cursor, `None` only at `links.next:
    /// null`; an error when the page is malformed, lists an id already listed (the first copy is
    /// no truer than the second), or its `next` is a cursor already followed (the chain loops
    /// back).
    pub fn page<T>(
        &mut self,
        origin: &str,
        body: &[u8],
        parse: &impl Fn(&RawValue) -> Result<Parsed<T>, String>,
    ) -> Result<(Vec<Item<T>>, Option<String>), String> {
        let page = self.envelope(body, parse)?;
        let ahead = ListRead::<T>::ahead(self, &page);
        let (items, next) = self.items(origin, page, parse)?;
        debug_assert_eq!(ahead, next, "the page asked ahead is not the next");
        Ok((items, next.flatten()))
    }
}

/// A cursor page's envelope ([`CursorRead::page`]): its items, still raw, and its `links.next`.
pub struct CursorEnvelope<'b> {
    data: Vec<&'b RawValue>,
    next: Option<String>,
}

/// A page of a cursor list is named by its cursor (`None`: the first page).
impl<T> ListRead<T> for CursorRead {
    type Key = Option<String>;
    type Envelope<'b> = CursorEnvelope<'b>;

    fn envelope<'b>(
        &mut self,
        body: &'b [u8],
        _: &impl Fn(&RawValue) -> Result<Parsed<T>, String>,
    ) -> Result<CursorEnvelope<'b>, String> {
        let parsed: CursorPage = serde_json::from_slice(body).map_err(|e| json_error(&e))?;
        let Some(data) = parsed.data else {
            return Err("page has no data".into());
        };
        let next = next_cursor(parsed.links.as_ref())?;
        Ok(CursorEnvelope { data, next })
    }

    fn ahead(&self, page: &CursorEnvelope<'_>) -> Option<Option<String>> {
        // A cursor already followed is an error ([`ListRead::items`]): never asked for again.
        page.next
            .clone()
            .filter(|n| !self.seen_cursors.contains(n))
            .map(Some)
    }

    fn items(
        &mut self,
        origin: &str,
        page: CursorEnvelope<'_>,
        parse: &impl Fn(&RawValue) -> Result<Parsed<T>, String>,
    ) -> Result<(Vec<Item<T>>, Option<Option<String>>), String> {
        let CursorEnvelope { data, next } = page;
        let items = parse_page(origin, &data, parse, &mut self.seen_ids, &mut self.notes)?;
        self.count += items.len();
        if let Some(n) = &next
            && !self.seen_cursors.insert(n.clone())
        {
            return Err("links.next is a cursor already followed: the chain loops back".into());
        }
        Ok((items, next.map(Some)))
    }
}

/// The I/O half of the readers against the simulator over loopback: every page reaches the sink,
/// the next page is the one the reader asked for, and errors name the page.
#[cfg(test)]
mod over_http {
    use std::sync::Mutex;

    use chrono::Utc;

    use super::*;
    use crate::atlassian::accounts::parse_account;
    use crate::atlassian::scim::parse_user;
    use crate::http::HttpSettings;
    use crate::model::{Account, ScimRecord};
    use crate::sim::{self, Api, FaultKind, FaultRule, Faults, SimHandle, SimOptions, World};

    /// The ids the sink received, in order.
    #[derive(Default)]
    struct Collect(Mutex<Vec<String>>);

    impl PageSink<ScimRecord> for Collect {
        async fn accept(&self, items: Vec<Item<ScimRecord>>) {
            let ids = items.into_iter().map(|(r, _)| r.scim_id);
            self.0.lock().unwrap().extend(ids);
        }
    }

    impl PageSink<Account> for Collect {
        async fn accept(&self, items: Vec<Item<Account>>) {
            let ids = items.into_iter().map(|(a, _)| a.account_id);
            self.0.lock().unwrap().extend(ids);
        }
    }

    /// 25 people, served 10 a page.
    async fn sim() -> (SimHandle, HttpLayer) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let options = SimOptions {
            scim_page_cap: 10,
            accounts_page_cap: 10,
            ..SimOptions::default()
        };
        let sim = sim::start(listener, World::healthy(25, 1, Utc::now()), options)
            .await
            .unwrap();
        let http = HttpLayer::new(&sim.base_url(), &HttpSettings::default()).unwrap();
        (sim, http)
    }

    #[tokio::test]
    async fn scim_list_sends_every_page_to_the_sink() {
        let (sim, http) = sim().await;
        let dir = sim.world().directories[0].clone();
        let key = Secret::new(dir.token.clone());
        let path = format!("/scim/directory/{}/Users", dir.id);
        let read = async |sink: &Collect| {
            let parse = |r: &RawValue| parse_user(&dir.id, r);
            scim_list(&http, &key, "scim:d", &path, 100, parse, sink).await
        };
        let sink = Collect::default();
        let before = sim.request_count(Api::Scim);
        let paged = read(&sink).await;
        assert!(paged.error.is_none(), "{:?}", paged.error);
        let want: Vec<String> = dir.users.iter().map(|u| u.id.clone()).collect();
        assert_eq!((paged.count, sink.0.into_inner().unwrap()), (25, want));
        // One request per page of 10 (each asked for ahead of its turn), none past the end.
        assert_eq!(sim.request_count(Api::Scim) - before, 3);

        sim.set_faults(Faults::rules([FaultRule::new(FaultKind::MissingResources)
            .on(Api::Scim)
            .skip(1)
            .once()]));
        let sink = Collect::default();
        let paged = read(&sink).await;
        assert_eq!(paged.count, 10);
        assert_eq!(sink.0.into_inner().unwrap().len(), 10);
        assert_eq!(
            paged.error.unwrap().to_string(),
            "scim:d (Users startIndex=11): page has no Resources"
        );
    }

    /// A page whose items fail drops the request asked ahead for the next page: counted (it may
    /// have reached the server) as `cancelled`, not as an answer.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_page_asked_ahead_then_dropped_is_counted_cancelled() {
        let (sim, http) = sim().await;
        let dir = sim.world().directories[0].clone();
        let key = Secret::new(dir.token.clone());
        let path = format!("/scim/directory/{}/Users", dir.id);
        sim.set_faults(Faults::rules([
            FaultRule::new(FaultKind::SetField {
                id: Some(dir.users[0].id.clone()),
                field: "id".into(),
                value: serde_json::json!(null),
            })
            .on(Api::Scim)
            .once(),
            // The page asked ahead is still in flight when the first one fails.
            FaultRule::new(FaultKind::Delay(std::time::Duration::from_secs(2)))
                .on(Api::Scim)
                .skip(1)
                .once(),
        ]));
        let parse = |r: &RawValue| parse_user(&dir.id, r);
        let sink = Collect::default();
        let paged = scim_list(&http, &key, "scim:d", &path, 100, parse, &sink).await;
        let e = paged.error.expect("the first page fails").to_string();
        assert!(e.starts_with("scim:d (Users startIndex=1): item 0"), "{e}");
        assert_eq!(sink.0.into_inner().unwrap().len(), 0);
        let counted = http.stats.requests.lock().unwrap().clone();
        assert_eq!(
            (
                counted.get(&("scim", "2xx")),
                counted.get(&("scim", "cancelled"))
            ),
            (Some(&1), Some(&1)),
            "{counted:?}"
        );
    }

    #[tokio::test]
    async fn cursor_list_follows_the_chain_in_both_styles() {
        let (sim, http) = sim().await;
        let world = sim.world();
        let key = Secret::new(world.org_api_key.clone());
        let want: Vec<String> = world
            .accounts
            .iter()
            .map(|a| a.account_id.clone())
            .collect();
        let list = format!("/admin/v2/orgs/{}/directories/-/users", world.org_id);
        let search = format!("{list}/search");
        for (style, path) in [
            (CursorRequest::PostBody, &search),
            (CursorRequest::GetQuery, &list),
        ] {
            let source = CursorSource {
                origin: "accounts",
                path: path.clone(),
                style,
                limit: 100,
            };
            let sink = Collect::default();
            let before = sim.request_count(Api::Accounts);
            let paged = cursor_list(&http, &key, &source, parse_account, &sink).await;
            assert!(paged.error.is_none(), "{style:?}: {:?}", paged.error);
            assert_eq!(paged.count, 25, "{style:?}");
            assert_eq!(sink.0.into_inner().unwrap(), want, "{style:?}");
            // One request per page of 10, none past `next: null`.
            assert_eq!(sim.request_count(Api::Accounts) - before, 3, "{style:?}");
        }
        sim.set_faults(Faults::rules([FaultRule::new(FaultKind::MissingResources)
            .on(Api::Accounts)
            .skip(1)
            .once()]));
        let source = CursorSource {
            origin: "accounts",
            path: list,
            style: CursorRequest::GetQuery,
            limit: 100,
        };
        let paged = cursor_list(&http, &key, &source, parse_account, &Collect::default()).await;
        let e = paged.error.unwrap().to_string();
        assert!(
            e.starts_with("accounts (cursor=") && e.ends_with("page has no data"),
            "{e}"
        );
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;
    use serde_json::{Value, json};

    use super::tests::{accounts, cursor_body, scim_body, users};
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

    /// How many records each SCIM page is asked for, and distinct ids `u0`, `u1`, … split in
    /// order into pages of 1 to that many.
    fn scim_pages() -> impl Strategy<Value = (usize, Vec<Vec<String>>)> {
        (1usize..5)
            .prop_flat_map(|asked| (Just(asked), prop::collection::vec(1..=asked, 0..8)))
            .prop_map(|(asked, lens)| (asked, split(&lens)))
    }

    fn split(lens: &[usize]) -> Vec<Vec<String>> {
        let mut n = 0;
        lens.iter()
            .map(|len| {
                n += len;
                (n - len..n).map(|i| format!("u{i}")).collect()
            })
            .collect()
    }

    /// Serves `pages` (each with its `itemsPerPage`, if stated) as one SCIM listing of `total`
    /// records to a reader asking `asked` per page: the ids read when it ends at the last page,
    /// else the first error. Each next page must start where the reader says.
    fn read_scim(
        asked: usize,
        total: u64,
        pages: &[(Option<u64>, Vec<String>)],
    ) -> Result<Vec<String>, String> {
        let mut read = ScimRead::new(asked);
        let mut got = Vec::new();
        for (k, (per_page, ids)) in pages.iter().enumerate() {
            let (items, next) = users(&mut read, &scim_body(total, *per_page, ids))?;
            got.extend(items);
            if read.count != got.len() {
                return Err(format!("counted {} of {} received", read.count, got.len()));
            }
            match next {
                None if k + 1 == pages.len() => return Ok(got),
                None => return Err("ended before the last page".into()),
                Some(start) if start != got.len() as u64 + 1 => {
                    return Err(format!("asked for startIndex {start} after {}", got.len()));
                }
                Some(_) => {}
            }
        }
        Err("wanted more pages".into())
    }

    /// Serves `pages` (ids, then `links.next`) to one cursor reader: the ids read when it ends at
    /// the last page, else the first error.
    fn read_cursor(pages: &[(Vec<String>, Option<String>)]) -> Result<Vec<String>, String> {
        let mut read = CursorRead::default();
        let mut got = Vec::new();
        for (k, (ids, next)) in pages.iter().enumerate() {
            let (items, said) = accounts(&mut read, &cursor_body(ids, next.as_deref()))?;
            got.extend(items);
            if said != *next || read.count != got.len() {
                return Err(format!("returned {said:?} and counted {}", read.count));
            }
            if said.is_none() {
                return if k + 1 == pages.len() {
                    Ok(got)
                } else {
                    Err("ended early".into())
                };
            }
        }
        Err("wanted more pages".into())
    }

    /// Pages of `lens` items (0 allowed) with cursors `c1`, `c2`, … and `next: null` last.
    fn cursor_pages(lens: &[usize]) -> Vec<(Vec<String>, Option<String>)> {
        let n = lens.len();
        split(lens)
            .into_iter()
            .enumerate()
            .map(|(k, ids)| (ids, (k + 1 < n).then(|| format!("c{}", k + 1))))
            .collect()
    }

    /// The same pages with the id at global position `to` replaced by the one at `from`.
    fn with_copy(pages: &mut [Vec<String>], from: usize, to: usize) -> String {
        let flat: Vec<String> = pages.iter().flatten().cloned().collect();
        let copy = flat[from].clone();
        let mut i = 0;
        for page in pages.iter_mut() {
            for id in page.iter_mut() {
                if i == to {
                    *id = copy.clone();
                }
                i += 1;
            }
        }
        copy
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
            let mut read = ScimRead::new(5);
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

        /// Pages that list distinct ids, none longer than asked or than it states, whose count
        /// is `totalResults`: the reader accepts them and returns every id once, in order.
        #[test]
        fn scim_accepts_pages_that_add_up((asked, pages) in scim_pages(), stated in any::<bool>()) {
            let all: Vec<String> = pages.iter().flatten().cloned().collect();
            let mut served: Vec<_> = pages
                .into_iter()
                .map(|ids| (stated.then_some(ids.len() as u64), ids))
                .collect();
            if served.is_empty() {
                served.push((stated.then_some(0), Vec::new()));
            }
            prop_assert_eq!(read_scim(asked, all.len() as u64, &served), Ok(all));
        }

        /// One id listed twice anywhere (on one page or two; the counts still adding up, a
        /// record missing instead): an error naming that id.
        #[test]
        fn scim_refuses_an_id_listed_twice(
            (asked, mut pages) in scim_pages(),
            from in any::<prop::sample::Index>(),
            to in any::<prop::sample::Index>(),
        ) {
            let n = pages.iter().flatten().count();
            prop_assume!(n >= 2);
            let (from, to) = (from.index(n), to.index(n));
            prop_assume!(from != to);
            let copy = with_copy(&mut pages, from, to);
            let served: Vec<_> = pages.into_iter().map(|ids| (None, ids)).collect();
            let e = read_scim(asked, n as u64, &served).unwrap_err();
            prop_assert!(e.ends_with(&format!("id {copy:?} is listed twice")), "{}", e);
        }

        /// A page longer than the count asked, or than its own `itemsPerPage`: an error, though
        /// the extra records are real (distinct) ones.
        #[test]
        fn scim_refuses_a_page_longer_than_asked_or_stated(
            (asked, pages) in scim_pages(),
            which in any::<prop::sample::Index>(),
            understated in any::<bool>(),
        ) {
            prop_assume!(!pages.is_empty());
            let n = pages.iter().flatten().count();
            let p = which.index(pages.len());
            let mut served: Vec<_> = pages.into_iter().map(|ids| (None, ids)).collect();
            let want = if understated {
                served[p].0 = Some(served[p].1.len() as u64 - 1);
                "more than its itemsPerPage"
            } else {
                while served[p].1.len() <= asked {
                    let extra = format!("extra{}", served[p].1.len());
                    served[p].1.push(extra);
                }
                "more than the count asked"
            };
            let e = read_scim(asked, n as u64, &served).unwrap_err();
            prop_assert!(e.contains(want), "{}", e);
        }

        /// Distinct ids whose count is not `totalResults`: never accepted.
        #[test]
        fn scim_refuses_totals_that_do_not_add_up((asked, pages) in scim_pages(), more in any::<bool>()) {
            let n = pages.iter().flatten().count() as u64;
            prop_assume!(more || n > 0);
            let total = if more { n + 1 } else { n - 1 };
            let mut served: Vec<_> = pages.into_iter().map(|ids| (None, ids)).collect();
            if served.is_empty() {
                served.push((None, Vec::new()));
            }
            prop_assert!(read_scim(asked, total, &served).is_err());
        }

        /// A cursor chain of distinct ids ending at `next: null`: every id once, in order.
        #[test]
        fn cursor_accepts_a_chain_of_distinct_ids(lens in prop::collection::vec(0usize..4, 1..8)) {
            let pages = cursor_pages(&lens);
            let all: Vec<String> = pages.iter().flat_map(|(ids, _)| ids.clone()).collect();
            prop_assert_eq!(read_cursor(&pages), Ok(all));
        }

        /// One id listed twice anywhere in the chain: an error naming it.
        #[test]
        fn cursor_refuses_an_id_listed_twice(
            lens in prop::collection::vec(0usize..4, 1..8),
            from in any::<prop::sample::Index>(),
            to in any::<prop::sample::Index>(),
        ) {
            let n: usize = lens.iter().sum();
            prop_assume!(n >= 2);
            let (from, to) = (from.index(n), to.index(n));
            prop_assume!(from != to);
            let pages = cursor_pages(&lens);
            let mut ids: Vec<Vec<String>> = pages.iter().map(|(ids, _)| ids.clone()).collect();
            let copy = with_copy(&mut ids, from, to);
            let pages: Vec<_> = ids.into_iter().zip(pages.into_iter().map(|(_, next)| next)).collect();
            let e = read_cursor(&pages).unwrap_err();
            prop_assert!(e.ends_with(&format!("id {copy:?} is listed twice")), "{}", e);
        }

        /// A `links.next` naming a cursor already followed (or the page's own): an error.
        #[test]
        fn cursor_refuses_a_chain_that_loops_back(
            lens in prop::collection::vec(0usize..4, 2..8),
            at in any::<prop::sample::Index>(),
            back in any::<prop::sample::Index>(),
        ) {
            let mut pages = cursor_pages(&lens);
            // Page k (k ≥ 1) was reached by c1 … ck; its next goes back to one of them.
            let k = 1 + at.index(pages.len() - 1);
            pages[k].1 = Some(format!("c{}", 1 + back.index(k)));
            let e = read_cursor(&pages).unwrap_err();
            prop_assert!(e.contains("cursor already followed"), "{}", e);
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
    use serde_json::json;

    use super::*;
    use crate::atlassian::accounts::parse_account;
    use crate::atlassian::scim::parse_user;

    /// A SCIM `ListResponse` of users with these ids.
    pub(super) fn scim_body(total: u64, per_page: Option<u64>, ids: &[String]) -> Vec<u8> {
        let resources: Vec<_> = ids
            .iter()
            .map(|id| json!({"id": id, "userName": format!("{id}@example.com"), "active": true}))
            .collect();
        let mut page = json!({"totalResults": total, "Resources": resources});
        if let Some(n) = per_page {
            page["itemsPerPage"] = json!(n);
        }
        serde_json::to_vec(&page).unwrap()
    }

    /// An Organizations API page of accounts with these ids.
    pub(super) fn cursor_body(ids: &[String], next: Option<&str>) -> Vec<u8> {
        let data: Vec<_> = ids
            .iter()
            .map(|id| json!({"accountId": id, "accountStatus": "active", "membershipStatus": "active"}))
            .collect();
        serde_json::to_vec(&json!({"data": data, "links": {"next": next}})).unwrap()
    }

    /// One SCIM page through the reader: the ids it returned and the next `startIndex`.
    pub(super) fn users(
        read: &mut ScimRead,
        body: &[u8],
    ) -> Result<(Vec<String>, Option<u64>), String> {
        let (items, next) = read.page("scim:d", body, &|r: &RawValue| parse_user("d1", r))?;
        Ok((items.into_iter().map(|(u, _)| u.scim_id).collect(), next))
    }

    /// One cursor page through the reader: the ids it returned and the next cursor.
    pub(super) fn accounts(
        read: &mut CursorRead,
        body: &[u8],
    ) -> Result<(Vec<String>, Option<String>), String> {
        let (items, next) = read.page("accounts", body, &parse_account)?;
        Ok((items.into_iter().map(|(a, _)| a.account_id).collect(), next))
    }

    fn ids(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_complete_scim_read_returns_every_record_once_in_order() {
        let mut read = ScimRead::new(2);
        let (got, next) = users(&mut read, &scim_body(3, Some(2), &ids(&["u1", "u2"]))).unwrap();
        assert_eq!((got, next, read.count), (ids(&["u1", "u2"]), Some(3), 2));
        let (got, next) = users(&mut read, &scim_body(3, Some(1), &ids(&["u3"]))).unwrap();
        assert_eq!((got, next, read.count), (ids(&["u3"]), None, 3));
        assert_eq!(read.expected, Some(3));
        // A short page is no error: the next one starts after what arrived.
        let mut read = ScimRead::new(5);
        let (_, next) = users(&mut read, &scim_body(4, Some(1), &ids(&["u1"]))).unwrap();
        assert_eq!(next, Some(2));
        // An empty directory: no Resources at all, or none listed.
        for body in [
            json!({"totalResults": 0}),
            json!({"totalResults": "0", "Resources": []}),
        ] {
            let got = users(&mut ScimRead::new(5), &serde_json::to_vec(&body).unwrap());
            assert_eq!(got.unwrap(), (Vec::new(), None), "{body}");
        }
    }

    #[test]
    fn a_scim_page_longer_than_asked_or_stated_is_an_error() {
        // As long as asked and as stated: fine.
        let full = scim_body(3, Some(2), &ids(&["u1", "u2"]));
        assert!(users(&mut ScimRead::new(2), &full).is_ok());
        let e = users(
            &mut ScimRead::new(2),
            &scim_body(9, Some(3), &ids(&["u1", "u2", "u3"])),
        )
        .unwrap_err();
        assert_eq!(
            e,
            "page holds 3 Resources, more than the count asked (2): the next startIndex would skip records (item 2 is id \"u3\")"
        );
        // Stated and asked the same: named as asked.
        let e = users(
            &mut ScimRead::new(2),
            &scim_body(9, Some(2), &ids(&["u1", "u2", "u3"])),
        )
        .unwrap_err();
        assert!(e.contains("more than the count asked (2)"), "{e}");
        let e = users(
            &mut ScimRead::new(100),
            &scim_body(9, Some(1), &ids(&["u1", "u2"])),
        )
        .unwrap_err();
        assert!(
            e.starts_with("page holds 2 Resources, more than its itemsPerPage (1)"),
            "{e}"
        );
        assert!(e.contains("item 1 is id \"u2\""), "{e}");
        // A stated length the page keeps, as a string; absent or null: only the count asked.
        let body = json!({"totalResults": 2, "itemsPerPage": " 2", "Resources": [{"id": "a"}, {"id": "b"}]});
        assert!(users(&mut ScimRead::new(2), &serde_json::to_vec(&body).unwrap()).is_ok());
        for per_page in [None, Some(json!(null))] {
            let mut body =
                json!({"totalResults": 3, "Resources": [{"id": "a"}, {"id": "b"}, {"id": "c"}]});
            if let Some(v) = per_page {
                body["itemsPerPage"] = v;
            }
            let body = serde_json::to_vec(&body).unwrap();
            assert!(users(&mut ScimRead::new(3), &body).is_ok());
            assert!(
                users(&mut ScimRead::new(2), &body)
                    .unwrap_err()
                    .contains("the count asked (2)")
            );
        }
        let body = json!({"totalResults": 1, "itemsPerPage": "one", "Resources": [{"id": "a"}]});
        assert_eq!(
            users(&mut ScimRead::new(2), &serde_json::to_vec(&body).unwrap()).unwrap_err(),
            "itemsPerPage is not a count"
        );
    }

    #[test]
    fn a_scim_id_listed_twice_is_an_error_on_one_page_or_across_pages() {
        let e = users(
            &mut ScimRead::new(5),
            &scim_body(3, None, &ids(&["u1", "u2", "u1"])),
        )
        .unwrap_err();
        assert_eq!(e, "item 2: id \"u1\" is listed twice");
        // Across pages, the counts adding up (u3 replaced by a second u1): still an error.
        let mut read = ScimRead::new(2);
        users(&mut read, &scim_body(3, None, &ids(&["u1", "u2"]))).unwrap();
        let e = users(&mut read, &scim_body(3, None, &ids(&["u1"]))).unwrap_err();
        assert_eq!(e, "item 0: id \"u1\" is listed twice");
    }

    #[test]
    fn scim_totals_must_add_up() {
        let page = |total| scim_body(total, None, &ids(&["u1", "u2"]));
        assert_eq!(
            users(&mut ScimRead::new(5), &page(1)).unwrap_err(),
            "received 2 records but totalResults is 1"
        );
        let mut read = ScimRead::new(2);
        users(&mut read, &page(5)).unwrap();
        let e = users(&mut read, &scim_body(6, None, &ids(&["u3"]))).unwrap_err();
        assert_eq!(e, "totalResults changed during the pull (from 5 to 6)");
        let mut read = ScimRead::new(2);
        users(&mut read, &page(5)).unwrap();
        let e = users(&mut read, &scim_body(5, None, &[])).unwrap_err();
        assert_eq!(e, "empty page after 2 of 5 records");
        for (body, want) in [
            (json!({"Resources": []}), "page has no totalResults"),
            (
                json!({"totalResults": -1, "Resources": []}),
                "totalResults is not a count",
            ),
            (json!({"totalResults": 2}), "page has no Resources"),
        ] {
            let got = users(&mut ScimRead::new(5), &serde_json::to_vec(&body).unwrap());
            assert_eq!(got.unwrap_err(), want, "{body}");
        }
        let e = users(&mut ScimRead::new(5), b"{\"totalResults\": 1, ").unwrap_err();
        assert!(e.starts_with("truncated JSON"), "{e}");
    }

    #[test]
    fn a_record_with_an_unreadable_field_is_kept_and_noted() {
        let body = json!({"totalResults": 1, "Resources": [{"id": "u1", "active": true, "displayName": 5}]});
        let mut read = ScimRead::new(5);
        let got = users(&mut read, &serde_json::to_vec(&body).unwrap()).unwrap();
        assert_eq!(got, (ids(&["u1"]), None));
        assert_eq!(read.notes.len(), 1);
        let note = &read.notes[0];
        assert_eq!(
            (note.source.as_str(), note.id.as_str(), note.field.as_str()),
            ("scim:d", "u1", "displayName")
        );
        // No id: uncountable, named by position.
        let body = json!({"totalResults": 2, "Resources": [{"id": "u1"}, {"userName": "x"}]});
        let e = users(&mut ScimRead::new(5), &serde_json::to_vec(&body).unwrap()).unwrap_err();
        assert!(e.starts_with("item 1: "), "{e}");
    }

    #[test]
    fn a_cursor_read_returns_every_item_and_follows_next_to_null() {
        let mut read = CursorRead::default();
        let got = accounts(&mut read, &cursor_body(&ids(&["a1", "a2"]), Some("c1"))).unwrap();
        assert_eq!(
            (got, read.count),
            ((ids(&["a1", "a2"]), Some("c1".into())), 2)
        );
        // A page may be short, or empty, and still have a next.
        let got = accounts(&mut read, &cursor_body(&[], Some("c2"))).unwrap();
        assert_eq!((got, read.count), ((Vec::new(), Some("c2".into())), 2));
        let got = accounts(&mut read, &cursor_body(&ids(&["a3"]), None)).unwrap();
        assert_eq!((got, read.count), ((ids(&["a3"]), None), 3));
    }

    #[test]
    fn an_account_listed_twice_is_an_error_on_one_page_or_across_pages() {
        let e = accounts(
            &mut CursorRead::default(),
            &cursor_body(&ids(&["a1", "a1"]), None),
        )
        .unwrap_err();
        assert_eq!(e, "item 1: id \"a1\" is listed twice");
        let mut read = CursorRead::default();
        accounts(&mut read, &cursor_body(&ids(&["a1", "a2"]), Some("c1"))).unwrap();
        let e = accounts(&mut read, &cursor_body(&ids(&["a3", "a2"]), None)).unwrap_err();
        assert_eq!(e, "item 1: id \"a2\" is listed twice");
    }

    #[test]
    fn a_cursor_already_followed_is_an_error() {
        let mut read = CursorRead::default();
        accounts(&mut read, &cursor_body(&ids(&["a1"]), Some("c1"))).unwrap();
        accounts(&mut read, &cursor_body(&ids(&["a2"]), Some("c2"))).unwrap();
        let e = accounts(&mut read, &cursor_body(&ids(&["a3"]), Some("c1"))).unwrap_err();
        assert_eq!(
            e,
            "links.next is a cursor already followed: the chain loops back"
        );
        // The page's own cursor.
        let mut read = CursorRead::default();
        accounts(&mut read, &cursor_body(&ids(&["a1"]), Some("c1"))).unwrap();
        assert!(accounts(&mut read, &cursor_body(&ids(&["a2"]), Some("c1"))).is_err());
        // Each read has its own cursors.
        let mut other = CursorRead::default();
        assert!(accounts(&mut other, &cursor_body(&ids(&["a1"]), Some("c1"))).is_ok());
    }

    #[test]
    fn a_cursor_page_without_data_or_a_usable_next_is_an_error() {
        for (body, want) in [
            (json!({"links": {"next": null}}), "page has no data"),
            (json!({"data": []}), "page has no links"),
            (json!({"data": [], "links": {}}), "links has no `next`"),
            (
                json!({"data": [], "links": {"next": " "}}),
                "links.next is an empty string",
            ),
            (
                json!({"data": [], "links": {"next": 3}}),
                "links.next is a number",
            ),
            (json!({"data": [], "links": []}), "links is an array"),
        ] {
            let e = accounts(
                &mut CursorRead::default(),
                &serde_json::to_vec(&body).unwrap(),
            )
            .unwrap_err();
            assert!(e.starts_with(want), "{body}: {e}");
        }
    }

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
