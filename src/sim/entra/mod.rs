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
//! [`EntraOptions`]; requests are logged as [`Api::EntraToken`], [`Api::Graph`],
//! [`Api::GraphReports`] and [`Api::GraphProvisionOnDemand`] (never a token, secret or assertion).
//!
//! [`World`]: crate::sim::World
//! [`Api::EntraToken`]: crate::sim::Api::EntraToken
//! [`Api::Graph`]: crate::sim::Api::Graph
//! [`Api::GraphReports`]: crate::sim::Api::GraphReports
//! [`Api::GraphProvisionOnDemand`]: crate::sim::Api::GraphProvisionOnDemand

pub(crate) mod directory;
pub(crate) mod gate;
mod model;
pub(crate) mod on_demand;
mod options;
pub(crate) mod reports;
pub(crate) mod runtime;
pub(crate) mod seed;
pub(crate) mod sync;
pub(crate) mod token;
pub(crate) mod wire;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};

pub use model::{
    DEFAULT_APP_ROLE_ID, JobState, ODATA_GROUP, ODATA_USER, QUARANTINE_REASONS, SimAppRole,
    SimAssignment, SimAttributeMapping, SimEntra, SimEntraGroup, SimEntraMember, SimEntraUser,
    SimExecution, SimProvisioningEvent, SimQuarantine, SimServicePrincipal, SimSyncJob,
    SimSyncRule,
};
pub use options::{EntraOptions, GraphFamily, SchemaStyle};
pub use seed::ATLASSIAN_USER_RULE_ID;
pub use token::JWT_BEARER;

use super::state::SimState;

/// A throw-away RSA private key (PKCS#8 PEM) for signing client assertions in tests. Public:
/// never register it anywhere real.
pub const ENTRA_TEST_KEY_PEM: &str = include_str!("../testdata/entra-test-only-key.pem");
/// The self-signed certificate of [`ENTRA_TEST_KEY_PEM`]; seeded tenants register it.
pub const ENTRA_TEST_CERT_PEM: &str = include_str!("../testdata/entra-test-only-cert.pem");
/// The public key of [`ENTRA_TEST_KEY_PEM`] (`PUBLIC KEY` PEM), for a registration without a
/// certificate (the signature is checked, no thumbprint).
pub const ENTRA_TEST_PUBLIC_KEY_PEM: &str = include_str!("../testdata/entra-test-only-pub.pem");
/// Another throw-away key that no tenant registers (its assertions are refused).
pub const ENTRA_TEST_OTHER_KEY_PEM: &str =
    include_str!("../testdata/entra-test-only-other-key.pem");

/// What the Entra fake issued and saw, for tests (never part of the world).
impl crate::sim::SimHandle {
    /// Every access token the token endpoint issued so far (expired and revoked ones too).
    pub fn entra_issued_tokens(&self) -> Vec<String> {
        self.state.entra().issued()
    }

    /// Every client assertion the token endpoint received so far (refused ones too).
    pub fn entra_received_assertions(&self) -> Vec<String> {
        self.state.entra().assertions()
    }

    /// When each Graph request of `api` (not the token endpoint) arrived, oldest first,
    /// refused ones included.
    pub fn entra_arrivals(&self, api: crate::sim::Api) -> Vec<std::time::Instant> {
        self.state.entra().arrivals(api)
    }
}

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
