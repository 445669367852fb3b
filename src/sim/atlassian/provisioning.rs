//! `/admin/user-provisioning/v1/org/{org}/…`: SCIM links, unlink, delete-only-in-SCIM-DB.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{SubsecRound, Utc};
use serde::{Deserialize, Serialize};

use crate::sim::kit::faults::Api;
use crate::sim::kit::respond::{Failure, JSON, Params, Reply, json_response, parse_body, success};
use crate::sim::state::SimState;
use crate::sim::world::{SimUser, World};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LinkWire<'a> {
    scim_user_id: &'a str,
    atlassian_account_id: Option<&'a str>,
    org_id: &'a str,
    directory_id: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LinksWire<'a> {
    scim_links: Vec<LinkWire<'a>>,
}

fn links(world: &World, keep: impl Fn(&SimUser) -> bool) -> Response {
    let scim_links = world
        .directories
        .iter()
        .flat_map(|d| d.users.iter().filter(|u| keep(u)).map(move |u| (d, u)))
        .map(|(d, u)| LinkWire {
            scim_user_id: &u.id,
            atlassian_account_id: u.atlassian_account_id.as_deref(),
            org_id: &world.org_id,
            directory_id: &d.id,
        })
        .collect();
    json_response(StatusCode::OK, JSON, &LinksWire { scim_links })
}

fn not_found(message: &str) -> Failure {
    Failure::new(Api::Provisioning, 404, message)
}

/// `GET /user/{accountId}/get-scim-links`: the records linked to the account, in every directory.
pub(crate) async fn scim_links(
    State(state): State<Arc<SimState>>,
    Params((_org, account)): Params<(String, String)>,
) -> Reply {
    let world = state.world();
    Ok(links(&world, |u| {
        u.atlassian_account_id.as_deref() == Some(account.as_str())
    }))
}

#[derive(Deserialize, Default)]
struct EmailBody {
    email: Option<String>,
}

/// `POST /get-scim-links-for-email`: the records carrying the email, linked or not.
pub(crate) async fn scim_links_for_email(State(state): State<Arc<SimState>>, body: Bytes) -> Reply {
    let body: EmailBody = parse_body(Api::Provisioning, &body)?;
    let email = body
        .email
        .filter(|e| !e.trim().is_empty())
        .ok_or_else(|| Failure::new(Api::Provisioning, 400, "email is required"))?;
    let world = state.world();
    Ok(links(&world, |u| u.has_email(&email)))
}

/// `PATCH /scimDirectoryId/{dir}/scimUserId/{scimUserId}/unlink`: the record stays, unlinked.
pub(crate) async fn unlink(
    State(state): State<Arc<SimState>>,
    Params((_org, dir, scim_id)): Params<(String, String, String)>,
) -> Reply {
    let style = state.options().success_style;
    let mut world = state.world_mut();
    let directory = world
        .directory_mut(&dir)
        .ok_or_else(|| not_found(&format!("directory {dir} not found")))?;
    let user = directory
        .user_mut(&scim_id)
        .ok_or_else(|| not_found(&format!("SCIM user {scim_id} not found")))?;
    if user.atlassian_account_id.take().is_some() {
        user.last_modified = Utc::now().trunc_subsecs(6);
    }
    Ok(success(style))
}

/// `DELETE /user/{accountId}/onlyDeleteUserInDB`: deletes the account's linked records in every
/// directory (and their group memberships); the account itself is untouched. Managed only.
pub(crate) async fn only_delete_in_db(
    State(state): State<Arc<SimState>>,
    Params((_org, account_id)): Params<(String, String)>,
) -> Reply {
    let style = state.options().success_style;
    let now = Utc::now().trunc_subsecs(6);
    let mut world = state.world_mut();
    let account = world
        .account(&account_id)
        .ok_or_else(|| not_found(&format!("user {account_id} not found")))?;
    if !account.is_managed() {
        return Err(Failure::new(
            Api::Provisioning,
            403,
            "the account is not managed by the org",
        ));
    }
    for directory in &mut world.directories {
        let linked: Vec<String> = directory
            .users
            .iter()
            .filter(|u| u.atlassian_account_id.as_deref() == Some(account_id.as_str()))
            .map(|u| u.id.clone())
            .collect();
        for id in linked {
            directory.remove_user(&id, now);
        }
    }
    Ok(success(style))
}
