//! A faithful fake of Okta's Management API v1 and its org authorization server's token endpoint
//! (`shared/idp-api.md` §2, §4, §5), served beside the Atlassian and Graph fakes under
//! `{base}/okta/{org}` (that is an org's `base_url`):
//!
//! - token: `POST /okta/{org}/oauth2/v1/token` ([`token`]): `private_key_jwt` only, DPoP knob,
//!   scopes checked;
//! - API: `/okta/{org}/api/v1/…` with `Authorization: SSWS <token>` or `Bearer <access token>`:
//!   apps, app users, users, groups and their users, group-push mappings, the System Log
//!   ([`api`]), `Link` paging, `X-Rate-Limit-*` on every answer.
//!
//! Each org provisions one SCIM directory of the [`World`](crate::sim::world::World) (`world.okta`), so
//! Okta state and SCIM records can disagree on purpose. Knobs: [`OktaOptions`](crate::sim::state::okta_options::OktaOptions); requests are
//! logged as [`Api::OktaToken`](crate::sim::kit::faults::Api::OktaToken), [`Api::Okta`](crate::sim::kit::faults::Api::Okta)
//! and [`Api::OktaLogs`](crate::sim::kit::faults::Api::OktaLogs) (never a token or assertion).

pub(crate) mod api;
pub(crate) mod gate;
pub(crate) mod token;
pub(crate) mod wire;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};

use crate::sim::state::SimState;

/// The Okta routes, merged into the simulator's router.
pub(crate) fn routes() -> Router<Arc<SimState>> {
    const API: &str = "/okta/{org}/api/v1";
    Router::new()
        .route("/okta/{org}/oauth2/v1/token", post(token::token))
        .route(&format!("{API}/apps"), get(api::apps))
        .route(&format!("{API}/apps/{{id}}"), get(api::app))
        .route(&format!("{API}/apps/{{id}}/users"), get(api::app_users))
        .route(&format!("{API}/apps/{{id}}/groups"), get(api::app_groups))
        .route(
            &format!("{API}/apps/{{id}}/group-push/mappings"),
            get(api::push_mappings),
        )
        .route(&format!("{API}/users/{{id}}"), get(api::user))
        .route(&format!("{API}/groups/{{id}}"), get(api::group))
        .route(&format!("{API}/groups/{{id}}/users"), get(api::group_users))
        .route(&format!("{API}/logs"), get(api::logs))
}
