//! Okta's Management API reads (idp-api.md §2.2–§2.3, §4): the app, app search, app users
//! (`limit` 1–500, `after`, `expand=user`), users by id, groups and their users, group-push
//! mappings, and the System Log (bounded by `until`: the last page has no `next`; polling
//! without it: always a `next`). Lists are served in id order (log events by time), paged by
//! `after`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::response::Response;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use super::wire::{self, page};
use crate::sim::kit::respond::Params;
use crate::sim::state::SimState;
use crate::sim::state::okta_options::OktaOptions;
use crate::sim::state::okta_runtime::Caller;
use crate::sim::world::okta::{SimAppUser, SimOkta, SimOktaEvent, SimOktaUser};

type Q = Query<HashMap<String, String>>;

/// Runs `f` on `org`'s Okta, or answers 404.
fn with_org(
    state: &SimState,
    org: &str,
    f: impl FnOnce(&SimOkta, &OktaOptions) -> Response,
) -> Response {
    let options = state.options().okta.clone();
    let world = state.world();
    match world.okta.iter().find(|o| o.org == org) {
        Some(o) => f(o, &options),
        None => wire::error(404, "Not found: Resource not found: org"),
    }
}

fn user_json(u: &SimOktaUser) -> Value {
    json!({
        "id": u.id,
        "status": u.status,
        "created": "2024-01-01T00:00:00.000Z",
        "profile": {
            "login": u.login,
            "email": u.email,
            "firstName": u.first_name,
            "lastName": u.last_name,
        },
        "_links": {"self": {"href": format!("/api/v1/users/{}", u.id)}},
    })
}

fn app_user_json(
    o: &SimOkta,
    a: &SimAppUser,
    user: Option<&SimOktaUser>,
    options: &OktaOptions,
    expand: bool,
) -> Value {
    let mut v = json!({
        "id": a.user_id,
        "scope": a.scope,
        "status": a.status,
        "statusChanged": "2026-01-01T00:00:00.000Z",
        "created": "2024-01-01T00:00:00.000Z",
        "credentials": {"userName": a.user_name},
        "profile": {"email": a.email},
        "_links": {"app": {"href": format!("/api/v1/apps/{}", o.app.id)}},
    });
    if let Some(x) = &a.external_id {
        v["externalId"] = json!(x);
        v["lastSync"] = json!("2026-12-01T00:00:00.000Z");
    }
    if let Some(s) = a.sync_state.as_ref().filter(|_| !options.omit_sync_state) {
        v["syncState"] = json!(s);
    }
    if expand
        && options.embed_users
        && let Some(u) = user
    {
        v["_embedded"] = json!({"user": user_json(u)});
    }
    v
}

/// The limit asked, clamped to `[min, max]` (default `default`).
fn limit(q: &HashMap<String, String>, min: usize, max: usize, default: usize) -> usize {
    q.get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(default)
        .clamp(min, max)
}

/// One page of the items whose sorted cursor keys are `keys`, after the `after` cursor, with the
/// next link; only the page's items are rendered (`render(i)` for the i-th key), so a page costs
/// its own size whatever the list's (keys are read by binary search: `Keys::At` computes one
/// only when asked).
#[allow(clippy::too_many_arguments)]
fn paged(
    state: &SimState,
    org: &str,
    path: &str,
    q: &HashMap<String, String>,
    options: &OktaOptions,
    keys: Keys<'_>,
    max: usize,
    render: impl Fn(usize) -> Value,
) -> Response {
    let lim = limit(q, 1, max, max.min(200)).min(options.page_cap.max(1));
    let take = if options.short_pages {
        (lim / 2).max(1)
    } else {
        lim
    };
    let start = match q.get("after") {
        Some(a) => keys.partition_point(a),
        None => 0,
    };
    let end = (start + take).min(keys.len());
    let url = |after: Option<&str>| {
        let mut u = url::Url::parse(&format!("{}/okta/{org}{path}", state.base_url))
            .expect("simulator URLs parse");
        {
            let mut pairs = u.query_pairs_mut();
            for (k, v) in q.iter().filter(|(k, _)| k.as_str() != "after") {
                pairs.append_pair(k, v);
            }
            if let Some(a) = after {
                pairs.append_pair("after", a);
            }
        }
        u.to_string()
    };
    let next = (end < keys.len()).then(|| url(Some(&keys.get(end - 1))));
    let body = (start..end).map(render).collect();
    page(
        body,
        &url(q.get("after").map(String::as_str)),
        next,
        options.link_style,
    )
}

/// Okta's `404` for an app id the org does not have.
fn no_such_app(id: &str) -> Response {
    wire::error(
        404,
        &format!("Not found: Resource not found: {id} (AppInstance)"),
    )
}

/// The sorted cursor keys of a list.
enum Keys<'a> {
    Of(&'a [&'a str]),
    /// `n` keys, the i-th computed on demand.
    At(usize, &'a dyn Fn(usize) -> String),
}

impl Keys<'_> {
    fn len(&self) -> usize {
        match self {
            Keys::Of(k) => k.len(),
            Keys::At(n, _) => *n,
        }
    }

    fn get(&self, i: usize) -> String {
        match self {
            Keys::Of(k) => k[i].to_string(),
            Keys::At(_, f) => f(i),
        }
    }

    /// The first position whose key is after `after`.
    fn partition_point(&self, after: &str) -> usize {
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            if self.get(mid).as_str() <= after {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }
}

/// The org's users by id: a binary search when they are kept sorted by id (the seeds keep them
/// so), else a map built for the request.
enum UsersById<'a> {
    Sorted(&'a [SimOktaUser]),
    Map(HashMap<&'a str, &'a SimOktaUser>),
}

impl<'a> UsersById<'a> {
    fn get(&self, id: &str) -> Option<&'a SimOktaUser> {
        match self {
            UsersById::Sorted(users) => users
                .binary_search_by(|u| u.id.as_str().cmp(id))
                .ok()
                .map(|i| &users[i]),
            UsersById::Map(map) => map.get(id).copied(),
        }
    }
}

fn users_by_id(o: &SimOkta) -> UsersById<'_> {
    if o.users.is_sorted_by(|a, b| a.id <= b.id) {
        UsersById::Sorted(&o.users)
    } else {
        UsersById::Map(o.users.iter().map(|u| (u.id.as_str(), u)).collect())
    }
}

pub(crate) async fn app(
    State(state): State<Arc<SimState>>,
    _c: Caller,
    Params((org, id)): Params<(String, String)>,
) -> Response {
    with_org(&state, &org, |o, options| {
        if o.app.id != id {
            return no_such_app(&id);
        }
        let mut v = json!({
            "id": o.app.id,
            "name": "atlassian",
            "label": o.app.label,
            "status": o.app.status,
            "features": o.app.features,
            "signOnMode": "SAML_2_0",
        });
        if options.omit_app_features {
            v.as_object_mut().map(|m| m.remove("features"));
        }
        axum::Json(v).into_response_json()
    })
}

pub(crate) async fn apps(
    State(state): State<Arc<SimState>>,
    _c: Caller,
    Params(org): Params<String>,
    Query(q): Q,
) -> Response {
    with_org(&state, &org, |o, options| {
        let prefix = q.get("q").map(|s| s.to_lowercase()).unwrap_or_default();
        let hit =
            o.app.label.to_lowercase().starts_with(&prefix) || "atlassian".starts_with(&prefix);
        let keys: Vec<&str> = if hit {
            vec![o.app.id.as_str()]
        } else {
            Vec::new()
        };
        paged(
            &state,
            &org,
            "/api/v1/apps",
            &q,
            options,
            Keys::Of(&keys),
            200,
            |_| json!({"id": o.app.id, "name": "atlassian", "label": o.app.label, "status": o.app.status}),
        )
    })
}

pub(crate) async fn app_users(
    State(state): State<Arc<SimState>>,
    _c: Caller,
    Params((org, id)): Params<(String, String)>,
    Query(q): Q,
) -> Response {
    with_org(&state, &org, |o, options| {
        if o.app.id != id {
            return no_such_app(&id);
        }
        let expand = q.get("expand").is_some_and(|e| e == "user");
        let users = users_by_id(o);
        let mut order: Vec<&SimAppUser> = o.app_users.iter().collect();
        if !order.is_sorted_by(|a, b| a.user_id <= b.user_id) {
            order.sort_by(|a, b| a.user_id.cmp(&b.user_id));
        }
        let keys: Vec<&str> = order.iter().map(|a| a.user_id.as_str()).collect();
        paged(
            &state,
            &org,
            &format!("/api/v1/apps/{id}/users"),
            &q,
            options,
            Keys::Of(&keys),
            500,
            |i| {
                app_user_json(
                    o,
                    order[i],
                    users.get(order[i].user_id.as_str()),
                    options,
                    expand,
                )
            },
        )
    })
}

pub(crate) async fn user(
    State(state): State<Arc<SimState>>,
    _c: Caller,
    Params((org, id)): Params<(String, String)>,
) -> Response {
    // Okta resolves a user by its id, its login, or its login's short name.
    let short = |login: &str| login.split('@').next().unwrap_or(login).to_owned();
    with_org(&state, &org, |o, _| {
        match o.users.iter().find(|u| {
            u.id == id
                || u.login.eq_ignore_ascii_case(&id)
                || short(&u.login).eq_ignore_ascii_case(&id)
        }) {
            Some(u) => axum::Json(user_json(u)).into_response_json(),
            None => wire::error(404, &format!("Not found: Resource not found: {id} (User)")),
        }
    })
}

pub(crate) async fn group(
    State(state): State<Arc<SimState>>,
    _c: Caller,
    Params((org, id)): Params<(String, String)>,
) -> Response {
    with_org(&state, &org, |o, _| {
        match o.groups.iter().find(|g| g.id == id) {
        Some(g) => axum::Json(json!({"id": g.id, "type": "OKTA_GROUP", "profile": {"name": g.name, "description": null}})).into_response_json(),
        None => wire::error(404, &format!("Not found: Resource not found: {id} (UserGroup)")),
    }
    })
}

pub(crate) async fn group_users(
    State(state): State<Arc<SimState>>,
    _c: Caller,
    Params((org, id)): Params<(String, String)>,
    Query(q): Q,
) -> Response {
    with_org(&state, &org, |o, options| {
        let Some(g) = o.groups.iter().find(|g| g.id == id) else {
            return wire::error(
                404,
                &format!("Not found: Resource not found: {id} (UserGroup)"),
            );
        };
        // Members in id order (the seeds keep them so); each resolved only on its page (a member
        // that is no user renders as an empty object, never in the seeds).
        let users = users_by_id(o);
        let mut keys: Vec<&str> = g.members.iter().map(String::as_str).collect();
        if !keys.is_sorted() {
            keys.sort_unstable();
        }
        paged(
            &state,
            &org,
            &format!("/api/v1/groups/{id}/users"),
            &q,
            options,
            Keys::Of(&keys),
            1000,
            |i| {
                users
                    .get(keys[i])
                    .map(user_json)
                    .unwrap_or_else(|| json!({}))
            },
        )
    })
}

/// `GET /api/v1/apps/{id}/groups` (`limit` 20–200): the groups assigned to the app.
pub(crate) async fn app_groups(
    State(state): State<Arc<SimState>>,
    _c: Caller,
    Params((org, id)): Params<(String, String)>,
    Query(q): Q,
) -> Response {
    with_org(&state, &org, |o, options| {
        if o.app.id != id {
            return no_such_app(&id);
        }
        let mut keys: Vec<&str> = o.app_groups.iter().map(String::as_str).collect();
        keys.sort_unstable();
        let q = {
            // Okta clamps `limit` to 20–200 here.
            let mut q = q.clone();
            if let Some(l) = q.get("limit").and_then(|l| l.parse::<usize>().ok()) {
                q.insert("limit".into(), l.clamp(20, 200).to_string());
            }
            q
        };
        paged(
            &state,
            &org,
            &format!("/api/v1/apps/{id}/groups"),
            &q,
            options,
            Keys::Of(&keys),
            200,
            |i| {
                json!({"id": keys[i], "priority": i, "lastUpdated": "2026-01-01T00:00:00.000Z",
                    "_links": {"group": {"href": format!("{}/okta/{org}/api/v1/groups/{}", state.base_url, keys[i])}}})
            },
        )
    })
}

pub(crate) async fn push_mappings(
    State(state): State<Arc<SimState>>,
    _c: Caller,
    Params((org, id)): Params<(String, String)>,
    Query(q): Q,
) -> Response {
    with_org(&state, &org, |o, options| {
        if o.app.id != id {
            return no_such_app(&id);
        }
        let mut mappings: Vec<_> = o.push_mappings.iter().collect();
        mappings.sort_by(|a, b| a.id.cmp(&b.id));
        let keys: Vec<&str> = mappings.iter().map(|m| m.id.as_str()).collect();
        paged(
            &state,
            &org,
            &format!("/api/v1/apps/{id}/group-push/mappings"),
            &q,
            options,
            Keys::Of(&keys),
            1000,
            |i| {
                let m = mappings[i];
                json!({"id": m.id, "sourceGroupId": m.source_group_id, "targetGroupId": m.target_group_id,
                    "status": m.status, "errorSummary": m.error_summary, "lastPush": "2026-12-01T00:00:00.000Z"})
            },
        )
    })
}

fn event_json(
    o: &SimOkta,
    e: &SimOktaEvent,
    app_user: Option<&SimAppUser>,
    user: Option<&SimOktaUser>,
    options: &OktaOptions,
) -> Value {
    let user_name = app_user
        .map(|a| a.user_name.clone())
        .or_else(|| user.map(|u| u.login.clone()))
        .unwrap_or_default();
    let mut targets = vec![
        json!({"id": o.app.id, "type": "AppInstance", "alternateId": o.app.label, "displayName": o.app.label}),
    ];
    // An event about the app itself (an authentication failure) names no user.
    if !e.user_id.is_empty() {
        targets.push(json!({"id": app_user.map(|a| a.app_user_id.clone()).unwrap_or_else(|| "0uaunknown".into()), "type": "AppUser", "alternateId": user_name, "displayName": user_name}));
    }
    if !options.events_app_user_only && !e.user_id.is_empty() {
        targets.push(json!({"id": e.user_id, "type": "User", "alternateId": user_name}));
    }
    json!({
        "uuid": e.uuid,
        "published": e.published.to_rfc3339_opts(SecondsFormat::Millis, true),
        "eventType": e.event_type,
        "severity": if e.result == "FAILURE" { "WARN" } else { "INFO" },
        "displayMessage": "Push user to app",
        "outcome": {"result": e.result, "reason": e.reason},
        "target": targets,
        "actor": {"id": "0oa-system", "type": "PublicClientApp"},
    })
}

/// A time parameter; `Err` names the parameter that is not RFC 3339.
fn time(
    q: &HashMap<String, String>,
    key: &'static str,
) -> Result<Option<DateTime<Utc>>, &'static str> {
    match q.get(key) {
        None => Ok(None),
        Some(t) => DateTime::parse_from_rfc3339(t)
            .map(|t| Some(t.with_timezone(&Utc)))
            .map_err(|_| key),
    }
}

/// `GET /api/v1/logs`: `since`/`until` bounds, `filter` on `eventType sw "…"` and
/// `target.id eq "…"` (the two forms the client sends), `after` an index.
pub(crate) async fn logs(
    State(state): State<Arc<SimState>>,
    _c: Caller,
    Params(org): Params<String>,
    Query(q): Q,
) -> Response {
    with_org(&state, &org, |o, options| {
        let now = Utc::now();
        let (since, until) = match (time(&q, "since"), time(&q, "until")) {
            (Ok(s), Ok(u)) => (s.unwrap_or(now - chrono::Duration::minutes(15)), u),
            (Err(key), _) | (_, Err(key)) => {
                return wire::error_with(400, "E0000001", &format!("Api validation failed: {key}"));
            }
        };
        if since < now - chrono::Duration::days(180) {
            return wire::error_with(
                400,
                "E0000053",
                "Invalid date. 'since' must be later than 180 days ago.",
            );
        }
        let filter = q.get("filter").cloned().unwrap_or_default();
        let quoted = |key: &str| {
            filter
                .split(key)
                .nth(1)
                .and_then(|rest| rest.trim().strip_prefix('"'))
                .and_then(|rest| rest.split('"').next())
                .map(str::to_string)
        };
        let prefix = quoted("eventType sw");
        let exact = quoted("eventType eq");
        let target = quoted("target.id eq");
        let mut events: Vec<&SimOktaEvent> = o
            .events
            .iter()
            .filter(|e| e.published >= since && until.is_none_or(|u| e.published < u))
            .filter(|e| {
                (prefix.is_none() && exact.is_none())
                    || prefix
                        .as_ref()
                        .is_some_and(|p| e.event_type.starts_with(p.as_str()))
                    || exact.as_ref().is_some_and(|x| e.event_type == *x)
            })
            .filter(|_| target.as_ref().is_none_or(|t| *t == o.app.id))
            .collect();
        let order = |a: &&SimOktaEvent, b: &&SimOktaEvent| {
            a.published.cmp(&b.published).then(a.uuid.cmp(&b.uuid))
        };
        if !events.is_sorted_by(|a, b| order(a, b).is_le()) {
            events.sort_by(order);
        }
        let key = |i: usize| format!("{i:010}");
        let users = users_by_id(o);
        let app_user = |id: &str| {
            o.app_users
                .binary_search_by(|a| a.user_id.as_str().cmp(id))
                .ok()
                .map(|i| &o.app_users[i])
                .or_else(|| o.app_users.iter().find(|a| a.user_id == id))
        };
        let polling = until.is_none();
        let mut response = paged(
            &state,
            &org,
            "/api/v1/logs",
            &q,
            options,
            Keys::At(events.len(), &key),
            1000,
            |i| {
                let e = events[i];
                let id = e.user_id.as_str();
                event_json(o, e, app_user(id), users.get(id), options)
            },
        );
        if polling
            && !response
                .headers()
                .get_all("link")
                .iter()
                .any(|l| l.to_str().is_ok_and(|l| l.contains("rel=\"next\"")))
        {
            // Polling: Okta always gives a `next` (the client must not follow it forever).
            let next = format!(
                "{}/okta/{org}/api/v1/logs?since={}",
                state.base_url,
                now.to_rfc3339_opts(SecondsFormat::Secs, true)
            );
            if let Ok(v) = axum::http::HeaderValue::from_str(&format!("<{next}>; rel=\"next\"")) {
                response.headers_mut().append(axum::http::header::LINK, v);
            }
        }
        response
    })
}

/// `Json(...).into_response()` spelled once.
trait IntoJsonResponse {
    fn into_response_json(self) -> Response;
}

impl IntoJsonResponse for axum::Json<Value> {
    fn into_response_json(self) -> Response {
        axum::response::IntoResponse::into_response(self)
    }
}
