//! A faithful local fake of the Atlassian Cloud APIs (see `shared/atlassian-api.md`): SCIM
//! directories, org accounts, user provisioning and user management, with real effects on an
//! in-memory [`World`], fault knobs ([`Faults`]) and a request log for tests. The same server
//! fakes Microsoft Graph and Entra ID's token endpoint (`shared/idp-api.md` §1: `{base}/graph/v1.0`
//! and `{base}/entra-login`) over the world's Entra tenants, knobs in [`EntraOptions`].
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use scimdrift::sim::{self, SimOptions, World};
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let sim = sim::start(listener, World::scenarios(chrono::Utc::now()), SimOptions::default()).await?;
//! println!("{}", sim.config_snippet());
//! sim.shutdown().await;
//! # Ok(()) }
//! ```

// Layers, each importing only from those above it in this list (a tidy test checks it): the
// shared kit; the world model; its seeds and the shared state (knobs, run-time state); the faked
// APIs, one folder per vendor; then the gate and the server (this file).
mod atlassian;
mod entra;
mod gate;
mod kit;
mod okta;
mod seed;
mod state;
mod world;

#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, patch, post, put};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use kit::auth::{
    ENTRA_TEST_CERT_PEM, ENTRA_TEST_KEY_PEM, ENTRA_TEST_OTHER_KEY_PEM, ENTRA_TEST_PUBLIC_KEY_PEM,
    JWT_BEARER,
};
pub use kit::faults::{Api, BadNext, Encoding, FaultKind, FaultRule, Faults, RetryAfterStyle};
pub use kit::log::LoggedRequest;
pub use kit::respond::SuccessStyle;
pub use seed::entra::ATLASSIAN_USER_RULE_ID;
pub use seed::okta::OKTA_TEST_KID;
pub use seed::scenarios::GONE_ACCOUNT_ID;
pub use state::entra_options::{EntraOptions, GraphFamily, SchemaStyle};
pub use state::okta_options::{LinkStyle, OktaOptions};
pub use state::options::SimOptions;
pub use world::entra::{
    DEFAULT_APP_ROLE_ID, JobState, ODATA_GROUP, ODATA_USER, QUARANTINE_REASONS, SimAppRole,
    SimAssignment, SimAttributeMapping, SimEntra, SimEntraGroup, SimEntraMember, SimEntraUser,
    SimExecution, SimProvisioningEvent, SimQuarantine, SimServicePrincipal, SimSyncJob,
    SimSyncRule,
};
pub use world::okta::{
    SimAppUser, SimOkta, SimOktaApp, SimOktaEvent, SimOktaGroup, SimOktaUser, SimPushMapping,
    SimServiceApp,
};
pub use world::{
    GROUP_MEMBER_LIMIT, SimAccount, SimDirectory, SimEmail, SimGroup, SimGroupRef, SimMember,
    SimName, SimUser, World, normalize_email,
};

use atlassian::{orgs, provisioning, scim, user_mgmt};
use kit::respond::Failure;
use state::SimState;

/// The env var holding the org API key in [`SimHandle::config_snippet`].
pub const ORG_KEY_ENV: &str = "SCIMDRIFT_ORG_API_KEY";
/// The env var holding the Okta API token in [`SimHandle::config_snippet_with_idp`].
pub const OKTA_TOKEN_ENV: &str = "SCIMDRIFT_OKTA_TOKEN";
/// The env var holding the Entra client secret in [`SimHandle::config_snippet_with_idp`].
pub const ENTRA_SECRET_ENV: &str = "SCIMDRIFT_ENTRA_SECRET";

/// A running simulator. Clones share the same server.
#[derive(Clone)]
pub struct SimHandle {
    state: Arc<SimState>,
    addr: SocketAddr,
    server: Arc<Mutex<Option<Server>>>,
}

struct Server {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

/// Serves the simulator on `listener` in a spawned task.
pub async fn start(
    listener: TcpListener,
    world: World,
    options: SimOptions,
) -> std::io::Result<SimHandle> {
    let addr = listener.local_addr()?;
    let host = if addr.ip().is_unspecified() {
        "127.0.0.1".to_owned()
    } else {
        addr.ip().to_string()
    };
    let base_url = match addr {
        SocketAddr::V6(_) if !addr.ip().is_unspecified() => {
            format!("http://[{host}]:{}", addr.port())
        }
        _ => format!("http://{host}:{}", addr.port()),
    };
    let state = Arc::new(SimState::new(world, options, base_url));
    let app = router(state.clone());
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let serve = axum::serve(listener, app).with_graceful_shutdown(async {
            let _ = stopped.await;
        });
        if let Err(error) = serve.await {
            tracing::warn!(%error, "simulator server stopped");
        }
    });
    Ok(SimHandle {
        state,
        addr,
        server: Arc::new(Mutex::new(Some(Server { stop, task }))),
    })
}

fn router(state: Arc<SimState>) -> Router {
    const ORG: &str = "/admin/v2/orgs/{org}";
    const PROV: &str = "/admin/user-provisioning/v1/org/{org}";
    Router::new()
        .route("/scim/directory/{dir}/Users", get(scim::list_users))
        .route(
            "/scim/directory/{dir}/Users/{id}",
            get(scim::get_user).delete(scim::delete_user),
        )
        .route("/scim/directory/{dir}/Groups", get(scim::list_groups))
        .route(&format!("{ORG}/directories"), get(orgs::list_directories))
        .route(&format!("{ORG}/directories/-/users"), get(orgs::list_users))
        .route(
            &format!("{ORG}/directories/-/users/search"),
            post(orgs::search_users),
        )
        .route(
            &format!("{ORG}/directories/{{dir}}/users/{{account}}/suspend"),
            post(orgs::suspend),
        )
        .route(
            &format!("{ORG}/directories/{{dir}}/users/{{account}}/restore"),
            post(orgs::restore),
        )
        .route(
            &format!("{PROV}/user/{{account}}/get-scim-links"),
            get(provisioning::scim_links),
        )
        .route(
            &format!("{PROV}/get-scim-links-for-email"),
            post(provisioning::scim_links_for_email),
        )
        .route(
            &format!("{PROV}/scimDirectoryId/{{dir}}/scimUserId/{{scim}}/unlink"),
            patch(provisioning::unlink),
        )
        .route(
            &format!("{PROV}/user/{{account}}/onlyDeleteUserInDB"),
            delete(provisioning::only_delete_in_db),
        )
        .merge(entra::routes())
        .merge(okta::routes())
        .route("/users/{account}/manage/email", put(user_mgmt::set_email))
        .route(
            "/users/{account}/manage/lifecycle/disable",
            post(user_mgmt::disable),
        )
        .route(
            "/users/{account}/manage/lifecycle/enable",
            post(user_mgmt::enable),
        )
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            gate::gate,
        ))
        .with_state(state)
}

/// No route: the API's gate gives the `404` its API's shape.
async fn not_found(_uri: Uri) -> Response {
    Failure {
        api: None,
        status: 404,
        message: "no such endpoint".into(),
        scim_type: None,
    }
    .into_response()
}

/// A route without the method: the API's gate gives the `405` its API's shape.
async fn method_not_allowed(_uri: Uri) -> Response {
    Failure {
        api: None,
        status: 405,
        message: "method not allowed".into(),
        scim_type: None,
    }
    .into_response()
}

/// What the Entra fake issued and saw, for tests (never part of the world).
impl SimHandle {
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
    pub fn entra_arrivals(&self, api: Api) -> Vec<std::time::Instant> {
        self.state.entra().arrivals(api)
    }

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

impl SimHandle {
    /// The address the simulator listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        self.state.base_url.clone()
    }

    /// A snapshot of the current state.
    pub fn world(&self) -> World {
        self.state.world().clone()
    }

    /// Mutates the state in place (e.g. between two pulls).
    pub fn update_world(&self, f: impl FnOnce(&mut World)) {
        f(&mut self.state.world_mut());
    }

    /// Replaces the fault knobs and restarts their counters.
    pub fn set_faults(&self, faults: Faults) {
        self.state.update_options(|o| o.faults = faults);
    }

    /// Changes the options; fault counters restart only if the faults changed.
    pub fn set_options(&self, f: impl FnOnce(&mut SimOptions)) {
        self.state.update_options(f);
    }

    /// The current options.
    pub fn options(&self) -> SimOptions {
        self.state.options().clone()
    }

    /// Requests received for `api` so far (including rejected ones).
    pub fn request_count(&self, api: Api) -> u64 {
        self.state.request_count(api)
    }

    /// Every request answered so far, oldest first.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.state.requests()
    }

    /// The `[atlassian]` TOML section pointing scimdrift at this simulator (no IdP tables: see
    /// [`config_toml_with_idp`](Self::config_toml_with_idp)).
    pub fn config_toml(&self) -> String {
        self.toml(false)
    }

    /// [`config_toml`](Self::config_toml) with, right after each directory an Entra tenant
    /// provisions into, its `[atlassian.directories.idp]` table: `kind = "entra"`, `tenant_id`,
    /// `client_id`, `client_secret_env`, `service_principal_id`, `scope = "assigned"`,
    /// `graph_base_url = "{base}/graph/v1.0"`, `login_base_url = "{base}/entra-login"`.
    pub fn config_toml_with_idp(&self) -> String {
        self.toml(true)
    }

    fn toml(&self, with_idp: bool) -> String {
        let world = self.state.world();
        let mut toml = format!(
            "[atlassian]\nbase_url = {}\norg_id = {}\norg_api_key_env = {}\naccounts_endpoint = \"search\"\n",
            toml_string(&self.state.base_url),
            toml_string(&world.org_id),
            toml_string(ORG_KEY_ENV),
        );
        for d in &world.directories {
            toml.push_str(&format!(
                "\n[[atlassian.directories]]\nid = {}\nname = {}\ntoken_env = {}\n",
                toml_string(&d.id),
                toml_string(&d.name),
                toml_string(&directory_env(&d.name)),
            ));
            let tenant = world.entra.iter().position(|t| t.directory_id == d.id);
            if let Some(i) = tenant.filter(|_| with_idp) {
                let t = &world.entra[i];
                toml.push_str(&format!(
                    "\n[atlassian.directories.idp]\nkind = \"entra\"\ntenant_id = {}\nclient_id = {}\nclient_secret_env = {}\nservice_principal_id = {}\nscope = \"assigned\"\ngraph_base_url = {}\nlogin_base_url = {}\n",
                    toml_string(&t.tenant_id),
                    toml_string(&t.client_id),
                    toml_string(&entra_secret_env(&world, i)),
                    toml_string(&t.app_service_principal_id),
                    toml_string(&self.graph_base_url()),
                    toml_string(&self.entra_login_base_url()),
                ));
            }
            let okta = world.okta.iter().position(|o| o.directory_id == d.id);
            if let Some(i) = okta.filter(|_| with_idp && tenant.is_none()) {
                let o = &world.okta[i];
                toml.push_str(&format!(
                    "\n[atlassian.directories.idp]\nkind = \"okta\"\ndomain = \"{}.okta.example\"\nbase_url = {}\napp_id = {}\napi_token_env = {}\nscope = \"assigned\"\n",
                    o.org,
                    toml_string(&self.okta_base_url(&o.org)),
                    toml_string(&o.app.id),
                    toml_string(&okta_token_env(&world, i)),
                ));
            }
        }
        toml
    }

    /// `export VAR='value'` lines for the (fake) keys named in [`config_toml`](Self::config_toml).
    pub fn env_exports(&self) -> String {
        let world = self.state.world();
        let mut lines = format!("export {ORG_KEY_ENV}={}\n", shell_quote(&world.org_api_key));
        for d in &world.directories {
            lines.push_str(&format!(
                "export {}={}\n",
                directory_env(&d.name),
                shell_quote(&d.token)
            ));
        }
        lines
    }

    /// [`env_exports`](Self::env_exports) plus each Entra tenant's client secret
    /// (`export SCIMDRIFT_ENTRA_SECRET=…` for the first).
    pub fn env_exports_with_idp(&self) -> String {
        let mut lines = self.env_exports();
        let world = self.state.world();
        for (i, t) in world.entra.iter().enumerate() {
            if world.directory(&t.directory_id).is_some() {
                lines.push_str(&format!(
                    "export {}={}\n",
                    entra_secret_env(&world, i),
                    shell_quote(&t.client_secret)
                ));
            }
        }
        for (i, o) in world.okta.iter().enumerate() {
            if world.directory(&o.directory_id).is_some() {
                lines.push_str(&format!(
                    "export {}={}\n",
                    okta_token_env(&world, i),
                    shell_quote(&o.api_token)
                ));
            }
        }
        lines
    }

    /// [`config_toml_with_idp`](Self::config_toml_with_idp), then the
    /// [`env_exports_with_idp`](Self::env_exports_with_idp) lines: what `scimdrift sim` prints.
    pub fn config_snippet(&self) -> String {
        self.config_snippet_with_idp()
    }

    /// [`config_toml_with_idp`](Self::config_toml_with_idp), then the
    /// [`env_exports_with_idp`](Self::env_exports_with_idp) lines. (Kept apart from
    /// [`config_snippet`](Self::config_snippet) until the config accepts `idp` tables.)
    pub fn config_snippet_with_idp(&self) -> String {
        format!(
            "{}\n# Simulator keys (fake):\n{}",
            self.config_toml_with_idp(),
            self.env_exports_with_idp()
        )
    }

    /// `{base}/graph/v1.0`: the Graph base URL of the Entra fake.
    pub fn graph_base_url(&self) -> String {
        format!("{}/graph/v1.0", self.state.base_url)
    }

    /// `{base}/entra-login`: token endpoints are `{this}/{tenant}/oauth2/v2.0/token`.
    pub fn entra_login_base_url(&self) -> String {
        format!("{}/entra-login", self.state.base_url)
    }

    /// Tenant `tenant_id`'s token URL (also the `aud` its client assertions must carry).
    pub fn entra_token_url(&self, tenant_id: &str) -> String {
        format!(
            "{}/{tenant_id}/oauth2/v2.0/token",
            self.entra_login_base_url()
        )
    }

    /// The only scope the token endpoint accepts: `{base}/.default`.
    pub fn entra_scope(&self) -> String {
        format!("{}/.default", self.state.base_url)
    }

    /// Mutates the Entra tenant provisioning into directory `directory_id`; `false` if none.
    pub fn update_entra(&self, directory_id: &str, f: impl FnOnce(&mut SimEntra)) -> bool {
        let mut world = self.state.world_mut();
        match world.entra_for_mut(directory_id) {
            Some(tenant) => {
                f(tenant);
                true
            }
            None => false,
        }
    }

    /// Mutates the Okta org provisioning into directory `directory_id`; `false` if none.
    pub fn update_okta(&self, directory_id: &str, f: impl FnOnce(&mut SimOkta)) -> bool {
        let mut world = self.state.world_mut();
        match world.okta_for_mut(directory_id) {
            Some(o) => {
                f(o);
                true
            }
            None => false,
        }
    }

    /// Changes the Okta knobs (their counted knobs restart if anything changed).
    pub fn set_okta_options(&self, f: impl FnOnce(&mut OktaOptions)) {
        self.state.update_options(|o| f(&mut o.okta));
    }

    /// Changes the Entra knobs (their counted knobs restart if anything changed).
    pub fn set_entra_options(&self, f: impl FnOnce(&mut EntraOptions)) {
        self.state.update_options(|o| f(&mut o.entra));
    }

    /// Stops serving: in-flight requests finish (up to 5 s), then the server task ends.
    pub async fn shutdown(self) {
        let server = self
            .server
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(Server { stop, mut task }) = server {
            let _ = stop.send(());
            if tokio::time::timeout(Duration::from_secs(5), &mut task)
                .await
                .is_err()
            {
                task.abort();
            }
        }
    }
}

/// `SCIMDRIFT_DIR_<NAME>`: the name upper-cased, other characters than `A-Z0-9` as `_`.
pub fn directory_env(name: &str) -> String {
    let suffix: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("SCIMDRIFT_DIR_{suffix}")
}

/// The env var of Okta org `index`'s API token: [`OKTA_TOKEN_ENV`] for the first,
/// `…_<DIRECTORY NAME>` for others.
fn okta_token_env(world: &World, index: usize) -> String {
    if index == 0 {
        return OKTA_TOKEN_ENV.to_owned();
    }
    let name = world
        .okta
        .get(index)
        .and_then(|o| world.directory(&o.directory_id))
        .map(|d| d.name.clone())
        .unwrap_or_else(|| index.to_string());
    format!(
        "{OKTA_TOKEN_ENV}_{}",
        directory_env(&name).trim_start_matches("SCIMDRIFT_DIR_")
    )
}

/// The env var of tenant `index`'s client secret: [`ENTRA_SECRET_ENV`] for the first,
/// `…_<DIRECTORY NAME>` for others.
fn entra_secret_env(world: &World, index: usize) -> String {
    if index == 0 {
        return ENTRA_SECRET_ENV.to_owned();
    }
    let name = world
        .entra
        .get(index)
        .and_then(|t| world.directory(&t.directory_id))
        .map(|d| d.name.as_str())
        .unwrap_or("other");
    let suffix = directory_env(name)
        .trim_start_matches("SCIMDRIFT_DIR_")
        .to_owned();
    format!("{ENTRA_SECRET_ENV}_{suffix}")
}

fn toml_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}
