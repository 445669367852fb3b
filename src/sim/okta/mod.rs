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
//! Each org provisions one SCIM directory of the [`World`](crate::sim::World) (`world.okta`), so
//! Okta state and SCIM records can disagree on purpose. Knobs: [`OktaOptions`]; requests are
//! logged as [`Api::OktaToken`](crate::sim::Api::OktaToken), [`Api::Okta`](crate::sim::Api::Okta)
//! and [`Api::OktaLogs`](crate::sim::Api::OktaLogs) (never a token or assertion).

pub(crate) mod api;
pub(crate) mod gate;
mod model;
mod options;
pub(crate) mod runtime;
pub(crate) mod seed;
pub(crate) mod token;
mod wire;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};

pub use model::{
    SimAppUser, SimOkta, SimOktaApp, SimOktaEvent, SimOktaGroup, SimOktaUser, SimPushMapping,
    SimServiceApp,
};
pub use options::{LinkStyle, OktaOptions};
pub use seed::OKTA_TEST_KID;

use super::state::SimState;

/// What the Okta fake issued and saw, for tests (never part of the world).
impl crate::sim::SimHandle {
    /// Every access token the Okta token endpoint issued so far.
    pub fn okta_issued_tokens(&self) -> Vec<String> {
        self.state.okta().issued()
    }

    /// Every client assertion the Okta token endpoint received so far (refused ones too).
    pub fn okta_received_assertions(&self) -> Vec<String> {
        self.state.okta().assertions()
    }

    /// Org `org`'s `base_url` (`{base}/okta/{org}`).
    pub fn okta_base_url(&self, org: &str) -> String {
        format!("{}/okta/{org}", self.base_url())
    }
}

/// The Okta routes, merged into the simulator's router.
pub(crate) fn routes() -> Router<Arc<SimState>> {
    const API: &str = "/okta/{org}/api/v1";
    Router::new()
        .route("/okta/{org}/oauth2/v1/token", post(token::token))
        .route(&format!("{API}/apps"), get(api::apps))
        .route(&format!("{API}/apps/{{id}}"), get(api::app))
        .route(&format!("{API}/apps/{{id}}/users"), get(api::app_users))
        .route(
            &format!("{API}/apps/{{id}}/group-push/mappings"),
            get(api::push_mappings),
        )
        .route(&format!("{API}/users/{{id}}"), get(api::user))
        .route(&format!("{API}/groups/{{id}}"), get(api::group))
        .route(&format!("{API}/groups/{{id}}/users"), get(api::group_users))
        .route(&format!("{API}/logs"), get(api::logs))
}
