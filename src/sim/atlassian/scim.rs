//! `/scim/directory/{dir}/…`: Users (list, get, delete) and Groups (list).

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, SecondsFormat, SubsecRound, Utc};
use serde::Serialize;

use crate::sim::kit::faults::Api;
use crate::sim::kit::respond::{
    Failure, JSON, Params, QueryPairs, Reply, SCIM_JSON, SuccessStyle, bytes_response, success,
};
use crate::sim::state::SimState;
use crate::sim::world::{
    SimDirectory, SimEmail, SimGroup, SimGroupRef, SimMember, SimName, SimUser,
};

const LIST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
const USER_SCHEMAS: [&str; 3] = [
    "urn:ietf:params:scim:schemas:core:2.0:User",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
    "urn:scim:schemas:extension:atlassian-external:1.0",
];
const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ListWire<T> {
    schemas: [&'static str; 1],
    total_results: usize,
    start_index: usize,
    items_per_page: usize,
    #[serde(rename = "Resources")]
    resources: Vec<T>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct MetaWire {
    resource_type: &'static str,
    created: String,
    last_modified: String,
    location: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LinkWire<'a> {
    atlassian_account_id: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct UserWire<'a> {
    schemas: [&'static str; 3],
    id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    external_id: Option<&'a str>,
    user_name: &'a str,
    emails: &'a [SimEmail],
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a SimName>,
    #[serde(skip_serializing_if = "Option::is_none")]
    display_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    active: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    groups: Option<&'a [SimGroupRef]>,
    meta: MetaWire,
    #[serde(
        rename = "urn:scim:schemas:extension:atlassian-external:1.0",
        skip_serializing_if = "Option::is_none"
    )]
    link: Option<LinkWire<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct GroupWire<'a> {
    schemas: [&'static str; 1],
    id: &'a str,
    display_name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    external_id: Option<&'a str>,
    members: &'a [SimMember],
    meta: MetaWire,
}

fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

fn user_wire<'a>(base: &str, dir: &str, user: &'a SimUser) -> UserWire<'a> {
    UserWire {
        schemas: USER_SCHEMAS,
        id: &user.id,
        external_id: user.external_id.as_deref(),
        user_name: &user.user_name,
        emails: &user.emails,
        name: user.name.as_ref(),
        display_name: user.display_name.as_deref(),
        active: user.active,
        groups: user.groups.as_deref(),
        meta: MetaWire {
            resource_type: "User",
            created: timestamp(user.created),
            last_modified: timestamp(user.last_modified),
            location: format!("{base}/scim/directory/{dir}/Users/{}", user.id),
        },
        link: user.atlassian_account_id.as_deref().map(|id| LinkWire {
            atlassian_account_id: id,
        }),
    }
}

fn group_wire<'a>(base: &str, dir: &str, group: &'a SimGroup) -> GroupWire<'a> {
    GroupWire {
        schemas: [GROUP_SCHEMA],
        id: &group.id,
        display_name: &group.display_name,
        external_id: group.external_id.as_deref(),
        members: &group.members,
        meta: MetaWire {
            resource_type: "Group",
            created: timestamp(group.created),
            last_modified: timestamp(group.last_modified),
            location: format!("{base}/scim/directory/{dir}/Groups/{}", group.id),
        },
    }
}

/// `startIndex` / `count` / `filter` of a list request.
struct ListQuery {
    /// 1-based.
    start: usize,
    /// Already capped.
    count: usize,
    filter: Option<Filter>,
}

/// A single `attr eq "value"` filter; `attr` lower-cased.
#[derive(Debug, PartialEq, Eq)]
struct Filter {
    attr: String,
    value: String,
}

impl ListQuery {
    fn parse(query: &QueryPairs, cap: usize, filterable: &[&str]) -> Result<Self, Failure> {
        let number = |name: &str| -> Result<Option<i64>, Failure> {
            query
                .get(name)
                .map(|v| v.trim().parse::<i64>())
                .transpose()
                .map_err(|_| {
                    Failure::new(Api::Scim, 400, format!("{name} must be an integer"))
                        .scim_type("invalidValue")
                })
        };
        // SCIM (RFC 7644 §3.4.2.4): startIndex below 1 means 1, a negative count means 0.
        let start = number("startIndex")?.unwrap_or(1).max(1);
        let count =
            number("count")?.map_or(cap, |c| usize::try_from(c.max(0)).unwrap_or(0).min(cap));
        let filter = match query.get("filter") {
            None => None,
            Some(raw) => Some(
                parse_filter(raw)
                    .filter(|f| filterable.contains(&f.attr.as_str()))
                    .ok_or_else(|| {
                        Failure::new(Api::Scim, 400, "unsupported filter")
                            .scim_type("invalidFilter")
                    })?,
            ),
        };
        Ok(Self {
            start: usize::try_from(start).unwrap_or(usize::MAX),
            count,
            filter,
        })
    }

    /// The total and the page of `all` (filtered by `keep` when a filter is present).
    fn select<'a, T>(
        &self,
        all: &'a [T],
        keep: impl Fn(&Filter, &T) -> bool,
    ) -> (usize, Vec<&'a T>) {
        let skip = self.start - 1;
        match &self.filter {
            None => (all.len(), all.iter().skip(skip).take(self.count).collect()),
            Some(filter) => {
                let matching: Vec<&T> = all.iter().filter(|t| keep(filter, t)).collect();
                let total = matching.len();
                (
                    total,
                    matching.into_iter().skip(skip).take(self.count).collect(),
                )
            }
        }
    }
}

fn parse_filter(raw: &str) -> Option<Filter> {
    let (attr, rest) = raw.trim().split_once(char::is_whitespace)?;
    let (op, rest) = rest.trim_start().split_once(char::is_whitespace)?;
    if !op.eq_ignore_ascii_case("eq") {
        return None;
    }
    let quoted = rest.trim().strip_prefix('"')?.strip_suffix('"')?;
    let mut value = String::with_capacity(quoted.len());
    let mut chars = quoted.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => value.push(chars.next()?),
            '"' => return None,
            c => value.push(c),
        }
    }
    Some(Filter {
        attr: attr.to_ascii_lowercase(),
        value,
    })
}

fn directory_not_found() -> Failure {
    Failure::new(Api::Scim, 404, "directory not found")
}

fn user_not_found(id: &str) -> Failure {
    Failure::new(Api::Scim, 404, format!("user {id} not found"))
}

fn serialized(content_type: &'static str, body: &impl Serialize) -> Reply {
    serde_json::to_vec(body)
        .map(|bytes| bytes_response(StatusCode::OK, content_type, bytes))
        .map_err(|e| Failure::new(Api::Scim, 500, e.to_string()))
}

fn scim_type(state: &SimState) -> &'static str {
    if state.options().scim_plain_json {
        JSON
    } else {
        SCIM_JSON
    }
}

/// `GET /scim/directory/{dir}/Users`.
pub(crate) async fn list_users(
    State(state): State<Arc<SimState>>,
    Params(dir): Params<String>,
    query: QueryPairs,
) -> Reply {
    let cap = state.options().scim_page_cap;
    let content_type = scim_type(&state);
    let query = ListQuery::parse(&query, cap, &["username", "externalid"])?;
    let world = state.world();
    let directory = world.directory(&dir).ok_or_else(directory_not_found)?;
    let (total, page) = query.select(&directory.users, |f, u: &SimUser| match f.attr.as_str() {
        "username" => u.user_name.eq_ignore_ascii_case(&f.value),
        _ => u.external_id.as_deref() == Some(f.value.as_str()),
    });
    serialized(
        content_type,
        &ListWire {
            schemas: [LIST_SCHEMA],
            total_results: total,
            start_index: query.start,
            items_per_page: page.len(),
            resources: page
                .into_iter()
                .map(|u| user_wire(&state.base_url, &dir, u))
                .collect(),
        },
    )
}

/// `GET /scim/directory/{dir}/Groups`.
pub(crate) async fn list_groups(
    State(state): State<Arc<SimState>>,
    Params(dir): Params<String>,
    query: QueryPairs,
) -> Reply {
    let cap = state.options().scim_page_cap;
    let content_type = scim_type(&state);
    let query = ListQuery::parse(&query, cap, &["displayname", "externalid"])?;
    let world = state.world();
    let directory = world.directory(&dir).ok_or_else(directory_not_found)?;
    let (total, page) = query.select(&directory.groups, |f, g: &SimGroup| match f.attr.as_str() {
        "displayname" => g.display_name.eq_ignore_ascii_case(&f.value),
        _ => g.external_id.as_deref() == Some(f.value.as_str()),
    });
    serialized(
        content_type,
        &ListWire {
            schemas: [LIST_SCHEMA],
            total_results: total,
            start_index: query.start,
            items_per_page: page.len(),
            resources: page
                .into_iter()
                .map(|g| group_wire(&state.base_url, &dir, g))
                .collect(),
        },
    )
}

/// `GET /scim/directory/{dir}/Users/{id}`.
pub(crate) async fn get_user(
    State(state): State<Arc<SimState>>,
    Params((dir, id)): Params<(String, String)>,
) -> Reply {
    let content_type = scim_type(&state);
    let world = state.world();
    let directory: &SimDirectory = world.directory(&dir).ok_or_else(directory_not_found)?;
    let user = directory.user(&id).ok_or_else(|| user_not_found(&id))?;
    serialized(content_type, &user_wire(&state.base_url, &dir, user))
}

/// `DELETE /scim/directory/{dir}/Users/{id}`: removes the record (and so its link and group
/// memberships); a linked managed account is deactivated.
pub(crate) async fn delete_user(
    State(state): State<Arc<SimState>>,
    Params((dir, id)): Params<(String, String)>,
) -> Reply {
    let now = Utc::now().trunc_subsecs(6);
    let mut world = state.world_mut();
    let directory = world.directory_mut(&dir).ok_or_else(directory_not_found)?;
    let removed = directory
        .remove_user(&id, now)
        .ok_or_else(|| user_not_found(&id))?;
    if let Some(account) = removed
        .atlassian_account_id
        .and_then(|a| world.account_mut(&a))
        && account.is_managed()
    {
        account.deactivate(now);
    }
    Ok(success(SuccessStyle::NoContent))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_eq_filters() {
        let f = parse_filter(r#"userName eq "ana@example.com""#);
        assert_eq!(
            f,
            Some(Filter {
                attr: "username".into(),
                value: "ana@example.com".into()
            })
        );
        let f = parse_filter(r#" externalId  EQ  "a\"b" "#);
        assert_eq!(
            f,
            Some(Filter {
                attr: "externalid".into(),
                value: "a\"b".into()
            })
        );
        assert_eq!(parse_filter(r#"userName co "ana""#), None);
        assert_eq!(parse_filter(r#"userName eq ana"#), None);
        assert_eq!(parse_filter(""), None);
        assert_eq!(parse_filter(r#"userName eq "a"b""#), None);
    }
}
