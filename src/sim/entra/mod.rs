//! A faithful fake of Microsoft Graph v1.0 and the Entra ID token endpoint
//! (`shared/idp-api.md` §1, §4, §5), served by the simulator's server beside the Atlassian fake:
//!
//! - token: `POST {base}/entra-login/{tenant}/oauth2/v2.0/token` ([`token`]); the scope must be
//!   `{base}/.default` (the Graph base URL's origin);
//! - Graph: `{base}/graph/v1.0/…` with `Authorization: Bearer <token>`: service principals and
//!   assignments, groups and members, users ([`directory`]), the provisioning job and schema
//!   ([`sync`]), provisioning logs ([`reports`]), provision on demand ([`on_demand`]).
//!
//! A token names its tenant; every Graph read is answered from that tenant of the [`World`]'s
//! `entra` list, and provision on demand writes to the SCIM directory the tenant provisions into,
//! so IdP state and SCIM records live in one world and can disagree on purpose. Knobs:
//! [`EntraOptions`](crate::sim::state::entra_options::EntraOptions); requests are logged as [`Api::EntraToken`], [`Api::Graph`],
//! [`Api::GraphReports`] and [`Api::GraphProvisionOnDemand`] (never a token, secret or assertion).
//!
//! [`World`]: crate::sim::world::World
//! [`Api::EntraToken`]: crate::sim::kit::faults::Api::EntraToken
//! [`Api::Graph`]: crate::sim::kit::faults::Api::Graph
//! [`Api::GraphReports`]: crate::sim::kit::faults::Api::GraphReports
//! [`Api::GraphProvisionOnDemand`]: crate::sim::kit::faults::Api::GraphProvisionOnDemand

pub(crate) mod directory;
pub(crate) mod gate;
pub(crate) mod on_demand;
pub(crate) mod reports;
pub(crate) mod sync;
pub(crate) mod token;
pub(crate) mod wire;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};

use crate::sim::state::SimState;

/// The Entra routes, merged into the simulator's router.
pub(crate) fn routes() -> Router<Arc<SimState>> {
    const SP: &str = "/graph/v1.0/servicePrincipals/{sp}";
    Router::new()
        .route(
            "/entra-login/{tenant}/oauth2/v2.0/token",
            post(token::token),
        )
        .route(
            "/graph/v1.0/servicePrincipals",
            get(directory::service_principals),
        )
        .route(SP, get(directory::service_principal))
        .route(
            &format!("{SP}/appRoleAssignedTo"),
            get(directory::assigned_to),
        )
        .route(&format!("{SP}/synchronization/jobs"), get(sync::jobs))
        .route(
            &format!("{SP}/synchronization/jobs/{{job}}"),
            get(sync::job),
        )
        .route(
            &format!("{SP}/synchronization/jobs/{{job}}/schema"),
            get(sync::schema),
        )
        .route(
            &format!("{SP}/synchronization/jobs/{{job}}/provisionOnDemand"),
            post(on_demand::provision_on_demand),
        )
        .route("/graph/v1.0/groups/{id}", get(directory::group))
        .route("/graph/v1.0/groups/{id}/members", get(directory::members))
        .route(
            "/graph/v1.0/groups/{id}/transitiveMembers",
            get(directory::transitive_members),
        )
        .route("/graph/v1.0/users", get(directory::users))
        .route("/graph/v1.0/users/{id}", get(directory::user))
        .route(
            "/graph/v1.0/directory/deletedItems/{id}",
            get(directory::deleted_item),
        )
        .route("/graph/v1.0/users/{id}/memberOf", get(directory::member_of))
        .route(
            "/graph/v1.0/auditLogs/provisioning",
            get(reports::provisioning),
        )
}
