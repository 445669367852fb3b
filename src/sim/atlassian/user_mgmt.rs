//! `/users/{accountId}/manage/…`: the user management API (managed accounts only).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use chrono::Utc;
use serde::Deserialize;

use crate::sim::kit::faults::Api;
use crate::sim::kit::respond::{Failure, Params, Reply, parse_body, success};
use crate::sim::state::SimState;
use crate::sim::world::{SimAccount, World, normalize_email};

#[derive(Deserialize, Default)]
struct EmailBody {
    email: Option<String>,
}

/// The managed account `id`, or the API's `404` / `403`.
fn managed<'a>(world: &'a mut World, id: &str) -> Result<&'a mut SimAccount, Failure> {
    let account = world
        .account_mut(id)
        .ok_or_else(|| failure(404, &format!("user {id} not found")))?;
    if account.is_managed() {
        Ok(account)
    } else {
        Err(failure(403, "forbidden"))
    }
}

fn failure(status: u16, message: &str) -> Failure {
    Failure::new(Api::UserManagement, status, message)
}

/// `PUT /users/{accountId}/manage/email` with `{"email"}`: the domain must be verified and the
/// email unused by other accounts.
pub(crate) async fn set_email(
    State(state): State<Arc<SimState>>,
    Params(id): Params<String>,
    body: Bytes,
) -> Reply {
    let body: EmailBody = parse_body(Api::UserManagement, &body)?;
    let email = body.email.map(|e| e.trim().to_owned()).unwrap_or_default();
    let well_formed = email
        .split_once('@')
        .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'));
    if !well_formed {
        return Err(failure(400, "a valid email is required"));
    }
    let style = state.options().success_style;
    let mut world = state.world_mut();
    managed(&mut world, &id)?;
    if !world.is_verified_domain(&email) {
        return Err(failure(
            400,
            "the email's domain is not verified by the org",
        ));
    }
    let wanted = normalize_email(&email);
    let taken = world.accounts.iter().any(|a| {
        a.account_id != id
            && a.email
                .as_deref()
                .is_some_and(|e| normalize_email(e) == wanted)
    });
    if taken {
        return Err(failure(409, "the email is used by another account"));
    }
    managed(&mut world, &id)?.email = Some(email);
    Ok(success(style))
}

/// `POST /users/{accountId}/manage/lifecycle/disable` (optional `{"message"}` body, ignored).
pub(crate) async fn disable(
    State(state): State<Arc<SimState>>,
    Params(id): Params<String>,
) -> Reply {
    let style = state.options().success_style;
    let mut world = state.world_mut();
    managed(&mut world, &id)?.deactivate(Utc::now());
    Ok(success(style))
}

/// `POST /users/{accountId}/manage/lifecycle/enable`.
pub(crate) async fn enable(
    State(state): State<Arc<SimState>>,
    Params(id): Params<String>,
) -> Reply {
    let style = state.options().success_style;
    let mut world = state.world_mut();
    managed(&mut world, &id)?.reactivate();
    Ok(success(style))
}
