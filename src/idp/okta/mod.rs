//! The Okta client (idp-api.md §2, §3, §5): Okta's Management API v1 through the shared HTTP
//! layer. [`pull`] reads the Atlassian Cloud app, its users (intent, push state), the users it no
//! longer has (by the SCIM records' `externalId`), and the System Log into an
//! [`crate::model::idp::IdpSide`] with its completeness; [`Client`] also serves
//! `check-config --online`. Okta has no API to retry a push (§2.4): nothing here writes.

pub mod api;
pub mod credential;
pub mod parse;
mod pull;

use std::sync::Arc;

pub use credential::Credential;
pub use pull::pull;

use crate::http::{Api, ApiError, ErrorKind, HttpEvents, HttpLayer, HttpSettings};
use crate::idp::IdpSettings;
use crate::model::idp::IdpApp;
use api::{Okta, Target, What, seg};

/// One Okta org's API, for one pull (the HTTP layer's retry budget and deadline are per client).
pub struct Client<'a> {
    api: Okta<'a>,
    s: &'a IdpSettings,
    concurrency: usize,
}

/// What `check-config --online` learnt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnlineCheck {
    pub credential: String,
    pub app: IdpApp,
    /// What works but limits scimdrift (a provisioning feature off, the System Log unreadable).
    pub warnings: Vec<String>,
}

impl std::fmt::Display for OnlineCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "signed in ({}); app {} ({}), status {}",
            self.credential,
            self.app.label.as_deref().unwrap_or("(no label)"),
            self.app.id,
            self.app.status.as_deref().unwrap_or("unknown")
        )?;
        for w in &self.warnings {
            write!(f, "; warning: {w}")?;
        }
        Ok(())
    }
}

impl<'a> Client<'a> {
    /// A client over a new HTTP layer (base URL = `base_url` or `https://{domain}`).
    pub fn new(
        s: &'a IdpSettings,
        cred: &'a Credential,
        http: &HttpSettings,
        origin: &'a str,
        events: Option<Arc<dyn HttpEvents>>,
    ) -> Result<Self, ApiError> {
        let base = s.okta_base();
        let mut layer = HttpLayer::new(&base, http).map_err(|e| ApiError {
            origin: origin.to_string(),
            ..e
        })?;
        if let Some(events) = events {
            layer = layer.with_events(events);
        }
        // Okta's concurrency limit is per org: at most 4 in flight to it from this process, every
        // API, directory and pull together (idp-api.md §2.5).
        let layer = layer.with_shared_limit(
            &format!("okta {base}"),
            &[Api::OktaToken, Api::Okta, Api::OktaLogs],
        );
        Ok(Client {
            api: Okta::new(layer, &base, cred, origin)?,
            s,
            concurrency: http.concurrency.clamp(1, 4),
        })
    }

    fn origin(&self) -> &str {
        self.api.origin
    }

    /// The requests and retries this client made, by API.
    pub fn http(&self) -> &HttpLayer {
        &self.api.http
    }

    fn app_id(&self) -> &str {
        self.s.app_id.as_deref().unwrap_or_default()
    }

    /// The Atlassian Cloud app (`GET /api/v1/apps/{app_id}`); a 404 is an error naming `app_id`.
    pub async fn app(&self) -> Result<(IdpApp, Vec<crate::model::FieldNote>), ApiError> {
        let page = "app";
        let target = Target::Path(format!("/api/v1/apps/{}", seg(self.app_id())), vec![]);
        let Some(v) = self.api.get(What::App, target, page, true).await? else {
            return Err(ApiError::new(
                self.origin(),
                page,
                ErrorKind::NotFound,
                format!(
                    "app {} (app_id) was not found in the Okta org: use the Atlassian Cloud app's id (0oa…, in its Admin Console URL)",
                    self.app_id()
                ),
            ));
        };
        let p = parse::app(&v).map_err(|e| ApiError::malformed(self.origin(), page, e))?;
        Ok((p.item, p.notes))
    }

    /// `check-config --online`: signs in and reads one page of each call the pull makes; a 403
    /// names the scope and role to grant; a System Log refusal is a warning (log facts would be
    /// unknown, the pull still complete).
    pub async fn check_online(&self) -> Result<OnlineCheck, ApiError> {
        self.api.sign_in().await?;
        let (app, _) = self.app().await?;
        let one = |path: String, q: Vec<(&'static str, String)>| Target::Path(path, q);
        let app_path = format!("/api/v1/apps/{}", seg(self.app_id()));
        let first = self
            .api
            .get(
                What::AppUsers,
                one(
                    format!("{app_path}/users"),
                    vec![("limit", "1".into()), ("expand", "user".into())],
                ),
                "apps/users",
                false,
            )
            .await?;
        let user = first.as_ref().and_then(|v| {
            v.as_array()?
                .first()?
                .get("id")?
                .as_str()
                .map(str::to_string)
        });
        if let Some(id) = user {
            self.api
                .get(
                    What::User,
                    one(format!("/api/v1/users/{}", seg(&id)), vec![]),
                    "users/{id}",
                    true,
                )
                .await?;
        }
        let mut warnings = app.features_off();
        match self
            .api
            .get(
                What::PushMappings,
                one(
                    format!("{app_path}/group-push/mappings"),
                    vec![("limit", "1".into())],
                ),
                "group-push/mappings",
                true,
            )
            .await
        {
            Err(e) => warnings.push(format!(
                "group-push mappings unreadable, group findings off: {e}"
            )),
            // One pushed group's members, as the pull reads them (okta.groups.read).
            Ok(first) => {
                let group = first.as_ref().and_then(|v| {
                    v.as_array()?
                        .first()?
                        .get("sourceGroupId")?
                        .as_str()
                        .map(str::to_string)
                });
                if let Some(gid) = group.filter(|g| pull::path_safe(g))
                    && let Err(e) = self
                        .api
                        .get(
                            What::GroupUsers,
                            one(
                                format!("/api/v1/groups/{}/users", seg(&gid)),
                                vec![("limit", "1".into())],
                            ),
                            "groups/users",
                            true,
                        )
                        .await
                {
                    warnings.push(format!(
                        "a pushed group's members are unreadable, its group findings stay as they were: {e}"
                    ));
                }
            }
        }
        let now = chrono::Utc::now();
        let logs = one(
            "/api/v1/logs".into(),
            vec![
                (
                    "since",
                    (now - chrono::Duration::hours(1))
                        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                ),
                (
                    "until",
                    now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                ),
                ("limit", "1".into()),
                ("filter", pull::log_filter(self.app_id())),
            ],
        );
        if let Err(e) = self.api.get(What::Logs, logs, "logs", false).await {
            warnings.push(format!(
                "the System Log is unreadable, provisioning failures will go unexplained: {e}"
            ));
        }
        Ok(OnlineCheck {
            credential: self.api.cred.describe(),
            app,
            warnings,
        })
    }
}
