//! Graph's directory reads (idp-api.md §1.2): service principals, `appRoleAssignedTo`, groups and
//! their (transitive) members, users.
//!
//! - `GET /servicePrincipals/{id}`, `GET /servicePrincipals?$filter=appId eq '…'` or
//!   `displayName eq '…'` (a `value` list; other filters `400`).
//! - `GET /servicePrincipals/{id}/appRoleAssignedTo`: `[{id, appRoleId, principalId,
//!   principalType, principalDisplayName, resourceId, resourceDisplayName, createdDateTime}]`
//!   (the newest `replication_lag` hidden).
//! - `GET /groups/{id}` (`id, displayName, securityEnabled, mailEnabled, groupTypes, …`),
//!   `…/members` and `…/transitiveMembers` (`{"@odata.type", id, …}`; transitive adds the members
//!   of nested groups, and the nested groups themselves). `deleted_groups` answer `404`.
//! - `GET /users` (`$top` ≤ 999; without `$select` Graph's default set, which lacks
//!   `accountEnabled`), `GET /users/{id}` (`404 Request_ResourceNotFound` when absent).
//!
//! Every list is paged ([`Paging`]); `$select` names unknown to the type answer `400`.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use axum::extract::{OriginalUri, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::gate::Caller;
use super::wire::{GraphError, METADATA, Paging, next_link, parse_eq, project, select, stamp};
use crate::sim::kit::respond::{JSON, Params, QueryPairs, json_response};
use crate::sim::state::SimState;
use crate::sim::state::entra_options::EntraOptions;
use crate::sim::world::World;
use crate::sim::world::entra::{ODATA_GROUP, ODATA_USER, SimEntra, SimEntraMember, SimEntraUser};

/// A Graph handler's answer.
pub(crate) type GraphReply = Result<Response, GraphError>;

/// The caller's tenant in `world`.
pub(crate) fn tenant<'a>(world: &'a World, caller: &Caller) -> Result<&'a SimEntra, GraphError> {
    world
        .entra
        .iter()
        .find(|t| t.tenant_id == caller.tenant_id)
        .ok_or_else(|| GraphError::invalid_token("The token's tenant no longer exists."))
}

/// `200` with a JSON body.
pub(crate) fn ok(body: &Value) -> Response {
    json_response(StatusCode::OK, JSON, body)
}

/// The absolute URL of the request's path (for `@odata.nextLink`).
pub(crate) fn self_url(state: &SimState, uri: &OriginalUri) -> String {
    format!("{}{}", state.base_url, uri.0.path())
}

/// A single object with `@odata.context`, projected by `$select`.
fn single(context: &str, object: Value, selected: Option<&[String]>, default: &[&str]) -> Response {
    let mut object = project(object, selected, default);
    if let Value::Object(map) = &mut object {
        map.insert(
            "@odata.context".into(),
            format!("{METADATA}#{context}").into(),
        );
    }
    ok(&object)
}

/// A page of `items` (already the whole list) as Graph serves it.
pub(crate) fn page_of(
    state: &SimState,
    uri: &OriginalUri,
    query: &QueryPairs,
    context: &str,
    total: usize,
    items: impl FnOnce(std::ops::Range<usize>) -> Vec<Value>,
) -> GraphReply {
    let (cap, loops) = {
        let options = state.options();
        (options.entra.page_size_cap, options.entra.next_link_loops)
    };
    let paging = Paging::parse(query, state.cursor_key, cap)?;
    let values = items(paging.window(total));
    let mut body = paging.body(
        context,
        &self_url(state, uri),
        query,
        state.cursor_key,
        total,
        values,
    );
    if loops && paging.offset > 0 {
        let again = next_link(
            &self_url(state, uri),
            query,
            state.cursor_key,
            paging.offset,
        );
        body["@odata.nextLink"] = again.into();
    }
    Ok(ok(&body))
}

const SP_FIELDS: [&str; 9] = [
    "id",
    "appId",
    "displayName",
    "appDisplayName",
    "accountEnabled",
    "appRoleAssignmentRequired",
    "appRoles",
    "servicePrincipalType",
    "tags",
];

fn sp_json(sp: &crate::sim::world::entra::SimServicePrincipal) -> Value {
    let roles: Vec<Value> = sp
        .app_roles
        .iter()
        .map(|r| {
            json!({
                "allowedMemberTypes": ["User"],
                "description": r.display_name,
                "displayName": r.display_name,
                "id": r.id,
                "isEnabled": r.is_enabled,
                "origin": "Application",
                "value": r.value,
            })
        })
        .collect();
    json!({
        "id": sp.id,
        "appId": sp.app_id,
        "displayName": sp.display_name,
        "appDisplayName": sp.display_name,
        "accountEnabled": sp.account_enabled,
        "appRoleAssignmentRequired": sp.app_role_assignment_required,
        "appRoles": roles,
        "servicePrincipalType": "Application",
        "tags": ["WindowsAzureActiveDirectoryIntegratedApp"],
    })
}

/// `GET /servicePrincipals/{id}`.
pub(crate) async fn service_principal(
    State(state): State<Arc<SimState>>,
    caller: Caller,
    Params(id): Params<String>,
    query: QueryPairs,
) -> GraphReply {
    let selected = select(&query, &SP_FIELDS, "microsoft.graph.servicePrincipal")?;
    let world = state.world();
    let sp = tenant(&world, &caller)?
        .service_principal(&id)
        .ok_or_else(|| GraphError::not_found(&id))?;
    Ok(single(
        "servicePrincipals/$entity",
        sp_json(sp),
        selected.as_deref(),
        &[],
    ))
}

/// `GET /servicePrincipals?$filter=appId eq '…'` (or `displayName eq '…'`).
pub(crate) async fn service_principals(
    State(state): State<Arc<SimState>>,
    caller: Caller,
    uri: OriginalUri,
    query: QueryPairs,
) -> GraphReply {
    let selected = select(&query, &SP_FIELDS, "microsoft.graph.servicePrincipal")?;
    let filter = match query.get("$filter") {
        None => None,
        Some(raw) => Some(
            parse_eq(raw)
                .filter(|(field, _)| field == "appId" || field == "displayName")
                .ok_or_else(|| {
                    GraphError::new(
                        400,
                        "Request_UnsupportedQuery",
                        format!("Unsupported or invalid query filter clause specified: '{raw}'."),
                    )
                })?,
        ),
    };
    let world = state.world();
    let t = tenant(&world, &caller)?;
    let matching: Vec<_> = t
        .service_principals
        .iter()
        .filter(|sp| match &filter {
            None => true,
            Some((field, value)) if field == "appId" => sp.app_id.eq_ignore_ascii_case(value),
            Some((_, value)) => sp.display_name == *value,
        })
        .collect();
    page_of(
        &state,
        &uri,
        &query,
        "servicePrincipals",
        matching.len(),
        |range| {
            matching[range]
                .iter()
                .map(|sp| project(sp_json(sp), selected.as_deref(), &[]))
                .collect()
        },
    )
}

/// `GET /servicePrincipals/{id}/appRoleAssignedTo`.
pub(crate) async fn assigned_to(
    State(state): State<Arc<SimState>>,
    caller: Caller,
    Params(id): Params<String>,
    uri: OriginalUri,
    query: QueryPairs,
) -> GraphReply {
    let lag = state.options().entra.replication_lag;
    let world = state.world();
    let sp = tenant(&world, &caller)?
        .service_principal(&id)
        .ok_or_else(|| GraphError::not_found(&id))?;
    let visible = visible_assignments(&sp.assignments, lag);
    page_of(
        &state,
        &uri,
        &query,
        &format!("servicePrincipals('{id}')/appRoleAssignedTo"),
        visible.len(),
        |range| {
            visible[range]
                .iter()
                .map(|a| {
                    json!({
                        "id": a.id,
                        "deletedDateTime": null,
                        "appRoleId": a.app_role_id,
                        "createdDateTime": stamp(a.created),
                        "principalDisplayName": a.principal_display_name,
                        "principalId": a.principal_id,
                        "principalType": a.principal_type,
                        "resourceDisplayName": sp.display_name,
                        "resourceId": sp.id,
                    })
                })
                .collect()
        },
    )
}

/// The assignments without the newest `lag` (by creation time), in their stored order.
pub(crate) fn visible_assignments(
    all: &[crate::sim::world::entra::SimAssignment],
    lag: usize,
) -> Vec<crate::sim::world::entra::SimAssignment> {
    if lag == 0 {
        return all.to_vec();
    }
    let mut order: Vec<usize> = (0..all.len()).collect();
    order.sort_by(|a, b| all[*b].created.cmp(&all[*a].created).then(b.cmp(a)));
    let hidden: HashSet<usize> = order.into_iter().take(lag).collect();
    all.iter()
        .enumerate()
        .filter(|(i, _)| !hidden.contains(i))
        .map(|(_, a)| a.clone())
        .collect()
}

const GROUP_FIELDS: [&str; 7] = [
    "id",
    "displayName",
    "securityEnabled",
    "mailEnabled",
    "groupTypes",
    "description",
    "mailNickname",
];

fn group_json(g: &crate::sim::world::entra::SimEntraGroup) -> Value {
    json!({
        "id": g.id,
        "displayName": g.display_name,
        "securityEnabled": g.security_enabled,
        "mailEnabled": g.mail_enabled,
        "groupTypes": if g.mail_enabled && !g.security_enabled { vec!["Unified"] } else { Vec::new() },
        "description": null,
        "mailNickname": g.display_name.replace(' ', "").to_lowercase(),
    })
}

fn deleted(options: &EntraOptions, id: &str) -> bool {
    options.deleted_groups.iter().any(|g| g == id)
}

/// `GET /groups/{id}`.
pub(crate) async fn group(
    State(state): State<Arc<SimState>>,
    caller: Caller,
    Params(id): Params<String>,
    query: QueryPairs,
) -> GraphReply {
    let selected = select(&query, &GROUP_FIELDS, "microsoft.graph.group")?;
    if deleted(&state.options().entra, &id) {
        return Err(GraphError::not_found(&id));
    }
    let world = state.world();
    let g = tenant(&world, &caller)?
        .group(&id)
        .ok_or_else(|| GraphError::not_found(&id))?;
    Ok(single(
        "groups/$entity",
        group_json(g),
        selected.as_deref(),
        &[],
    ))
}

/// `GET /groups/{id}/members`.
pub(crate) async fn members(
    state: State<Arc<SimState>>,
    caller: Caller,
    params: Params<String>,
    uri: OriginalUri,
    query: QueryPairs,
) -> GraphReply {
    list_members(&state, &caller, &params.0, &uri, &query, false)
}

/// `GET /groups/{id}/transitiveMembers`.
pub(crate) async fn transitive_members(
    state: State<Arc<SimState>>,
    caller: Caller,
    params: Params<String>,
    uri: OriginalUri,
    query: QueryPairs,
) -> GraphReply {
    list_members(&state, &caller, &params.0, &uri, &query, true)
}

fn list_members(
    state: &SimState,
    caller: &Caller,
    id: &str,
    uri: &OriginalUri,
    query: &QueryPairs,
    transitive: bool,
) -> GraphReply {
    let options = state.options().entra.clone();
    if deleted(&options, id) {
        return Err(GraphError::not_found(id));
    }
    let selected: Option<Vec<String>> = query.get("$select").map(|s| {
        s.split(',')
            .map(|f| f.trim().to_owned())
            .filter(|f| !f.is_empty())
            .collect()
    });
    let world = state.world();
    let t = tenant(&world, caller)?;
    let group = t.group(id).ok_or_else(|| GraphError::not_found(id))?;
    let members: Vec<&SimEntraMember> = if transitive {
        transitive_of(t, group)
    } else {
        group.members.iter().collect()
    };
    page_of(
        state,
        uri,
        query,
        "directoryObjects",
        members.len(),
        |range| {
            let page = &members[range];
            let only_ids = selected
                .as_ref()
                .is_some_and(|s| s.iter().all(|f| f == "id"));
            let users: HashMap<&str, &SimEntraUser> = if only_ids {
                HashMap::new()
            } else {
                let wanted: HashSet<&str> = page.iter().map(|m| m.id.as_str()).collect();
                t.users
                    .iter()
                    .filter(|u| wanted.contains(u.id.as_str()))
                    .map(|u| (u.id.as_str(), u))
                    .collect()
            };
            page.iter()
                .map(|m| {
                    let mut object = match (m.odata_type.as_deref(), users.get(m.id.as_str())) {
                        (Some(ODATA_USER) | None, Some(u)) => user_json(u, &options),
                        (Some(ODATA_GROUP), _) => t
                            .group(&m.id)
                            .map(group_json)
                            .unwrap_or_else(|| json!({"id": m.id})),
                        _ => json!({"id": m.id}),
                    };
                    if let (Some(kind), Value::Object(map)) = (&m.odata_type, &mut object) {
                        map.insert("@odata.type".into(), kind.clone().into());
                    }
                    project(object, selected.as_deref(), &[])
                })
                .collect()
        },
    )
}

/// Every member reachable from `group` (nested groups included, each once, cycles cut).
fn transitive_of<'a>(
    t: &'a SimEntra,
    group: &'a crate::sim::world::entra::SimEntraGroup,
) -> Vec<&'a SimEntraMember> {
    let mut out = Vec::new();
    let mut seen: HashSet<&str> = HashSet::from([group.id.as_str()]);
    let mut queue = VecDeque::from([group]);
    while let Some(g) = queue.pop_front() {
        for m in &g.members {
            if !seen.insert(m.id.as_str()) {
                continue;
            }
            out.push(m);
            if m.is_group()
                && let Some(nested) = t.group(&m.id)
            {
                queue.push_back(nested);
            }
        }
    }
    out
}

const USER_FIELDS: [&str; 16] = [
    "id",
    "userPrincipalName",
    "mail",
    "otherMails",
    "accountEnabled",
    "displayName",
    "givenName",
    "surname",
    "userType",
    "businessPhones",
    "jobTitle",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "employeeLeaveDateTime",
    "createdDateTime",
];

/// Graph's default `user` properties (without `$select`).
const USER_DEFAULT: [&str; 11] = [
    "businessPhones",
    "displayName",
    "givenName",
    "jobTitle",
    "mail",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "surname",
    "userPrincipalName",
    "id",
];

pub(crate) fn user_json(u: &SimEntraUser, options: &EntraOptions) -> Value {
    let null_mail = options.null_mail.contains(&u.id);
    let null_enabled = options.null_account_enabled.contains(&u.id);
    json!({
        "id": u.id,
        "userPrincipalName": u.user_principal_name,
        "mail": if null_mail { None } else { u.mail.as_deref() },
        "otherMails": u.other_mails,
        "accountEnabled": if null_enabled { None } else { u.account_enabled },
        "displayName": u.display_name,
        "givenName": u.given_name,
        "surname": u.surname,
        "userType": u.user_type,
        "businessPhones": [],
        "jobTitle": null,
        "mobilePhone": null,
        "officeLocation": null,
        "preferredLanguage": null,
        "employeeLeaveDateTime": null,
        "createdDateTime": null,
    })
}

/// `GET /users`.
pub(crate) async fn users(
    State(state): State<Arc<SimState>>,
    caller: Caller,
    uri: OriginalUri,
    query: QueryPairs,
) -> GraphReply {
    let selected = select(&query, &USER_FIELDS, "microsoft.graph.user")?;
    if let Some(raw) = query.get("$filter") {
        return Err(GraphError::new(
            400,
            "Request_UnsupportedQuery",
            format!("Unsupported or invalid query filter clause specified: '{raw}'."),
        ));
    }
    let options = state.options().entra.clone();
    let world = state.world();
    let t = tenant(&world, &caller)?;
    page_of(&state, &uri, &query, "users", t.users.len(), |range| {
        t.users[range]
            .iter()
            .map(|u| project(user_json(u, &options), selected.as_deref(), &USER_DEFAULT))
            .collect()
    })
}

/// `GET /users/{id}`.
pub(crate) async fn user(
    State(state): State<Arc<SimState>>,
    caller: Caller,
    Params(id): Params<String>,
    query: QueryPairs,
) -> GraphReply {
    let selected = select(&query, &USER_FIELDS, "microsoft.graph.user")?;
    let options = state.options().entra.clone();
    let world = state.world();
    let u = tenant(&world, &caller)?
        .user(&id)
        .ok_or_else(|| GraphError::not_found(&id))?;
    Ok(single(
        "users/$entity",
        user_json(u, &options),
        selected.as_deref(),
        &USER_DEFAULT,
    ))
}

/// `GET /directory/deletedItems/{id}` (idp-api.md §1.2): a soft-deleted user with its
/// `deletedDateTime`; 404 for any other id, and 400 for one that is not a GUID, as Graph answers.
pub(crate) async fn deleted_item(
    State(state): State<Arc<SimState>>,
    caller: Caller,
    Params(id): Params<String>,
) -> GraphReply {
    if !is_guid(&id) {
        return Err(GraphError::bad_request(format!(
            "Invalid object identifier '{id}'."
        )));
    }
    let options = state.options().entra.clone();
    let world = state.world();
    let (u, at) = tenant(&world, &caller)?
        .deleted_users
        .iter()
        .find(|(u, _)| u.id == id)
        .ok_or_else(|| GraphError::not_found(&id))?;
    let mut v = user_json(u, &options);
    if let Value::Object(map) = &mut v {
        map.insert("@odata.type".into(), "#microsoft.graph.user".into());
        map.insert(
            "deletedDateTime".into(),
            at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true).into(),
        );
    }
    Ok(single("directory/deletedItems/$entity", v, None, &[]))
}

/// Graph's object ids: `8-4-4-4-12` hex digits.
fn is_guid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 5
        && parts
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(p, n)| p.len() == n && p.chars().all(|c| c.is_ascii_hexdigit()))
}

/// `GET /users/{id}/memberOf`: the groups the user is a direct member of (paged; each with
/// `@odata.type`; `$select` applies). 404 for an unknown user.
pub(crate) async fn member_of(
    State(state): State<Arc<SimState>>,
    caller: Caller,
    Params(id): Params<String>,
    uri: OriginalUri,
    query: QueryPairs,
) -> GraphReply {
    let selected: Option<Vec<String>> = query.get("$select").map(|s| {
        s.split(',')
            .map(|f| f.trim().to_owned())
            .filter(|f| !f.is_empty())
            .collect()
    });
    let world = state.world();
    let t = tenant(&world, &caller)?;
    t.user(&id).ok_or_else(|| GraphError::not_found(&id))?;
    let groups: Vec<_> = t
        .groups
        .iter()
        .filter(|g| g.members.iter().any(|m| m.id == id))
        .collect();
    page_of(
        &state,
        &uri,
        &query,
        "directoryObjects",
        groups.len(),
        |range| {
            groups[range]
                .iter()
                .map(|g| {
                    let mut object = group_json(g);
                    if let Value::Object(map) = &mut object {
                        map.insert("@odata.type".into(), ODATA_GROUP.into());
                    }
                    project(object, selected.as_deref(), &[])
                })
                .collect()
        },
    )
}
