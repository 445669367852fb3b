//! `/admin/v2/orgs/{org}/…`: accounts (search and list, cursor-paged), directories,
//! suspend / restore.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::sim::kit::faults::Api;
use crate::sim::kit::respond::{
    Failure, JSON, Params, QueryPairs, Reply, json_response, parse_body, success,
};
use crate::sim::state::SimState;
use crate::sim::world::{SimAccount, mix};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AccountWire<'a> {
    account_id: &'a str,
    account_type: &'a str,
    account_status: &'a str,
    membership_status: &'a str,
    status: &'a str,
    claim_status: &'a str,
    management_source: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<&'a str>,
    name: &'a str,
    nickname: &'a str,
    added_to_org: String,
    deactivated_on: Option<String>,
    for_deletion: bool,
}

fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

impl<'a> From<&'a SimAccount> for AccountWire<'a> {
    fn from(a: &'a SimAccount) -> Self {
        Self {
            account_id: &a.account_id,
            account_type: &a.account_type,
            account_status: &a.account_status,
            membership_status: &a.membership_status,
            status: &a.status,
            claim_status: &a.claim_status,
            management_source: a.management_source.as_deref(),
            email: a.email.as_deref(),
            name: &a.name,
            nickname: &a.nickname,
            added_to_org: timestamp(a.added_to_org),
            deactivated_on: a.deactivated_on.map(timestamp),
            for_deletion: a.for_deletion,
        }
    }
}

#[derive(Serialize)]
struct Links {
    #[serde(rename = "self")]
    this: Option<String>,
    prev: Option<String>,
    next: Option<String>,
}

#[derive(Serialize)]
struct PageWire<T> {
    data: Vec<T>,
    links: Links,
}

/// Opaque cursors: offset and limit, masked with the server's key, plus a check value.
fn encode_cursor(key: u64, offset: usize, limit: usize) -> String {
    let (offset, limit) = (offset as u64, limit as u64);
    let check = mix(mix(key) ^ offset ^ (limit << 40)) as u32;
    format!(
        "{:016x}{:08x}{check:08x}",
        offset ^ key,
        limit as u32 ^ (key >> 32) as u32
    )
}

fn decode_cursor(key: u64, cursor: &str) -> Option<(usize, usize)> {
    if cursor.len() != 32 || !cursor.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let offset = u64::from_str_radix(cursor.get(..16)?, 16).ok()? ^ key;
    let limit = u64::from(u32::from_str_radix(cursor.get(16..24)?, 16).ok()? ^ (key >> 32) as u32);
    let check = u32::from_str_radix(cursor.get(24..)?, 16).ok()?;
    (check == mix(mix(key) ^ offset ^ (limit << 40)) as u32)
        .then(|| Some((usize::try_from(offset).ok()?, usize::try_from(limit).ok()?)))
        .flatten()
}

fn bad_request(message: &str) -> Failure {
    Failure::new(Api::Accounts, 400, message)
}

fn not_found(message: &str) -> Failure {
    Failure::new(Api::Accounts, 404, message)
}

/// One page of the org's accounts; a cursor overrides `limit`.
fn accounts_page(state: &SimState, limit: Option<i64>, cursor: Option<&str>) -> Reply {
    let (offset, limit) = match cursor {
        Some(c) => {
            decode_cursor(state.cursor_key, c).ok_or_else(|| bad_request("invalid cursor"))?
        }
        None => match limit {
            None => (0, 100),
            Some(l) if (1..=10_000).contains(&l) => (0, l as usize),
            Some(_) => return Err(bad_request("limit must be between 1 and 10000")),
        },
    };
    let mut per_page = {
        let options = state.options();
        let cap = limit.min(options.accounts_page_cap.max(1));
        if options.accounts_short_pages {
            cap.div_ceil(2)
        } else {
            cap
        }
    };
    per_page = per_page.max(1);
    let world = state.world();
    let total = world.accounts.len();
    let start = offset.min(total);
    let end = start.saturating_add(per_page).min(total);
    let page = PageWire {
        data: world.accounts[start..end]
            .iter()
            .map(AccountWire::from)
            .collect(),
        links: Links {
            this: Some(encode_cursor(state.cursor_key, offset, limit)),
            prev: (offset > 0)
                .then(|| encode_cursor(state.cursor_key, offset.saturating_sub(per_page), limit)),
            next: (end < total).then(|| encode_cursor(state.cursor_key, end, limit)),
        },
    };
    Ok(json_response(StatusCode::OK, JSON, &page))
}

#[derive(Deserialize, Default)]
struct SearchBody {
    limit: Option<i64>,
    cursor: Option<String>,
}

/// `POST /admin/v2/orgs/{org}/directories/-/users/search`.
pub(crate) async fn search_users(State(state): State<Arc<SimState>>, body: Bytes) -> Reply {
    let body: SearchBody = parse_body(Api::Accounts, &body)?;
    accounts_page(&state, body.limit, body.cursor.as_deref())
}

/// `GET /admin/v2/orgs/{org}/directories/-/users?limit&cursor`.
pub(crate) async fn list_users(State(state): State<Arc<SimState>>, query: QueryPairs) -> Reply {
    let cursor = query.get("cursor").filter(|c| !c.is_empty());
    let limit = match (cursor, query.get("limit")) {
        (None, Some(l)) => Some(
            l.trim()
                .parse::<i64>()
                .map_err(|_| bad_request("limit must be an integer"))?,
        ),
        _ => None,
    };
    accounts_page(&state, limit, cursor)
}

/// `GET /admin/v2/orgs/{org}/directories`.
pub(crate) async fn list_directories(State(state): State<Arc<SimState>>) -> Reply {
    let world = state.world();
    let data: Vec<_> = world
        .directories
        .iter()
        .map(|d| json!({"directoryId": d.id, "name": d.name}))
        .collect();
    let body = json!({"data": data, "links": {"self": null, "prev": null, "next": null}});
    Ok(json_response(StatusCode::OK, JSON, &body))
}

/// `POST …/directories/{dir}/users/{account}/suspend`.
pub(crate) async fn suspend(
    state: State<Arc<SimState>>,
    params: Params<(String, String, String)>,
) -> Reply {
    change_access(&state, params.0, SimAccount::suspend)
}

/// `POST …/directories/{dir}/users/{account}/restore`.
pub(crate) async fn restore(
    state: State<Arc<SimState>>,
    params: Params<(String, String, String)>,
) -> Reply {
    change_access(&state, params.0, SimAccount::restore)
}

fn change_access(
    state: &SimState,
    (_org, dir, account): (String, String, String),
    change: fn(&mut SimAccount),
) -> Reply {
    let style = state.options().success_style;
    let mut world = state.world_mut();
    if world.directory(&dir).is_none() {
        return Err(not_found(&format!("directory {dir} not found")));
    }
    let account = world
        .account_mut(&account)
        .ok_or_else(|| not_found(&format!("user {account} not found")))?;
    change(account);
    Ok(success(style))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_tampering() {
        let key = 0x1234_5678_9abc_def0;
        let c = encode_cursor(key, 150, 100);
        assert_eq!(decode_cursor(key, &c), Some((150, 100)));
        assert_eq!(decode_cursor(key ^ 1, &c), None);
        let mut tampered = c.clone().into_bytes();
        tampered[15] = if tampered[15] == b'0' { b'1' } else { b'0' };
        assert_eq!(
            decode_cursor(key, &String::from_utf8(tampered).unwrap()),
            None
        );
        assert_eq!(decode_cursor(key, "c-150"), None);
        assert_eq!(decode_cursor(key, "é"), None);
    }
}
