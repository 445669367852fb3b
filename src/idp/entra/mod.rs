//! The Microsoft Entra ID client (idp-api.md §1, §3, §5): Microsoft Graph v1.0 through the shared
//! HTTP layer. [`pull`] reads the app's intent, users, job, mapping and provisioning log into an
//! [`IdpSide`] with its completeness; [`Client`] also serves `check-config --online`, the re-read
//! before a provision on demand, and the provision on demand itself.

pub mod credential;
pub mod graph;
pub mod parse;
mod pull;
pub mod side;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use reqwest::Method;
use serde_json::json;

pub use credential::Credential;
pub use parse::{OnDemand, ServicePrincipal};
pub use pull::{EntraPull, pull};

use crate::http::{ApiError, ErrorKind, HttpEvents, HttpLayer, HttpSettings};
use crate::idp::IdpSettings;
use graph::{Duplicates, Graph, Target, What, odata_str, seg};

/// `$select` of a service principal.
const SP_SELECT: &str = "id,appId,displayName";

/// One Entra tenant's Graph, for one pull or one remediation run (the HTTP layer's retry budget,
/// deadline and provision-on-demand window are per client).
pub struct Client<'a> {
    graph: Graph<'a>,
    s: &'a IdpSettings,
    concurrency: usize,
    sp: tokio::sync::OnceCell<ServicePrincipal>,
}

/// What `check-config --online` learnt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnlineCheck {
    pub credential: String,
    pub service_principal_id: String,
    pub display_name: Option<String>,
    /// The provisioning job scimdrift reads (`None`: the service principal has none).
    pub job_id: Option<String>,
    /// What works but limits scimdrift (the provisioning log unreadable).
    pub warnings: Vec<String>,
}

impl std::fmt::Display for OnlineCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "signed in with a {}; service principal {} ({}); provisioning job {}",
            self.credential,
            self.display_name.as_deref().unwrap_or("(no name)"),
            self.service_principal_id,
            self.job_id.as_deref().unwrap_or("(none)")
        )?;
        for w in &self.warnings {
            write!(f, "; warning: {w}")?;
        }
        Ok(())
    }
}

/// The re-read before a provision on demand (idp-api.md §5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Intent {
    /// `GET /users/{id}` answered (a 404 is `false`: deleted).
    pub exists: bool,
    /// `accountEnabled`; `None` when unknown (or deleted).
    pub enabled: Option<bool>,
    /// Assigned directly, or a direct member of an assigned security-enabled group; always true
    /// with `scope = "all"` (the job's scoping filter decides, assignments are not read).
    pub intended: bool,
    pub assigned_directly: bool,
    /// The assigned security-enabled groups the user is a direct member of.
    pub via_groups: Vec<String>,
}

impl<'a> Client<'a> {
    /// A client over a new HTTP layer (base URL = `graph_base_url`).
    pub fn new(
        s: &'a IdpSettings,
        cred: &'a Credential,
        http: &HttpSettings,
        origin: &'a str,
        events: Option<Arc<dyn HttpEvents>>,
    ) -> Result<Self, ApiError> {
        let mut layer = HttpLayer::new(&s.graph_base_url, http).map_err(|e| ApiError {
            origin: origin.to_string(),
            ..e
        })?;
        if let Some(events) = events {
            layer = layer.with_events(events);
        }
        // Graph's windows (reports, provision on demand) are per app and tenant: shared by every
        // client of this app, whichever pull, directory or run.
        let layer = layer.with_window_key(&format!(
            "{} {} {}",
            s.graph_base_url, s.tenant_id, s.client_id
        ));
        Ok(Client {
            graph: Graph::new(layer, &s.graph_base_url, cred, origin)?,
            s,
            concurrency: http.concurrency.max(1),
            sp: tokio::sync::OnceCell::new(),
        })
    }

    fn origin(&self) -> &str {
        self.graph.origin
    }

    fn error(&self, page: &str, kind: ErrorKind, message: String) -> ApiError {
        ApiError::new(self.origin(), page, kind, message)
    }

    /// The requests and retries this client made, by API.
    pub fn http(&self) -> &HttpLayer {
        &self.graph.http
    }

    /// The app's service principal: by `service_principal_id`, else by `app_id`
    /// (`$filter=appId eq '…'`), else by `displayName eq 'Atlassian Cloud'`; not exactly one
    /// match is an error naming the setting. Read once per client.
    pub async fn service_principal(&self) -> Result<ServicePrincipal, ApiError> {
        self.sp
            .get_or_try_init(|| self.resolve_service_principal())
            .await
            .cloned()
    }

    async fn resolve_service_principal(&self) -> Result<ServicePrincipal, ApiError> {
        let what = What::ServicePrincipal;
        if let Some(id) = &self.s.service_principal_id {
            let page = "service principal";
            let target = Target::Path(
                format!("/servicePrincipals/{}", seg(id)),
                vec![("$select", SP_SELECT.into())],
            );
            let Some(v) = self.graph.get(what, target, page, true).await? else {
                return Err(self.error(
                    page,
                    ErrorKind::NotFound,
                    format!(
                        "service principal {id} (service_principal_id) was not found in tenant {}: use the enterprise app's object id",
                        self.s.tenant_id
                    ),
                ));
            };
            return parse::service_principal(&v)
                .map(|p| p.item)
                .map_err(|e| ApiError::malformed(self.origin(), page, e));
        }
        let (filter, setting) = match &self.s.app_id {
            Some(app) => (format!("appId eq '{}'", odata_str(app)), "app_id"),
            None => (
                "displayName eq 'Atlassian Cloud'".to_string(),
                "service_principal_id or app_id",
            ),
        };
        let target = Target::Path(
            "/servicePrincipals".into(),
            vec![("$filter", filter.clone()), ("$select", SP_SELECT.into())],
        );
        let found = self
            .graph
            .list(what, target, "service principal", Duplicates::Error, |v| {
                parse::service_principal(v).map(Some)
            })
            .await?;
        let n = found.items.len();
        match (found.items.into_iter().next(), n) {
            (Some(sp), 1) => Ok(sp),
            (_, 0) => Err(self.error(
                "service principal",
                ErrorKind::NotFound,
                format!(
                    "no service principal matches {filter} in tenant {}: check {setting}",
                    self.s.tenant_id
                ),
            )),
            _ => Err(self.error(
                "service principal",
                ErrorKind::Malformed,
                format!(
                    "{n} service principals match {filter}: set service_principal_id to the Atlassian Cloud enterprise app's object id"
                ),
            )),
        }
    }

    /// The provisioning jobs of the service principal and the one scimdrift reads: `job_id`
    /// when set (an error when it is not among them), else the only one; several and no
    /// `job_id` is an error naming `job_id`; none is `Ok(None)`.
    pub async fn job(
        &self,
        sp: &ServicePrincipal,
    ) -> Result<
        (
            Option<crate::model::idp::ProvisioningJob>,
            Vec<crate::model::DataQualityNote>,
        ),
        ApiError,
    > {
        let target = Target::Path(
            format!("/servicePrincipals/{}/synchronization/jobs", seg(&sp.id)),
            vec![],
        );
        let jobs = self
            .graph
            .list(
                What::Jobs,
                target,
                "synchronization/jobs",
                Duplicates::Error,
                |v| parse::job(v).map(Some),
            )
            .await?;
        let ids: Vec<&str> = jobs.items.iter().map(|j| j.job_id.as_str()).collect();
        let page = "synchronization/jobs";
        let chosen = match (&self.s.job_id, jobs.items.len()) {
            (Some(want), _) => match jobs.items.iter().position(|j| &j.job_id == want) {
                Some(i) => Some(i),
                None => {
                    return Err(self.error(
                        page,
                        ErrorKind::NotFound,
                        format!(
                            "job_id {want} is not a provisioning job of service principal {} (its jobs: {})",
                            sp.id,
                            if ids.is_empty() { "none".into() } else { ids.join(", ") }
                        ),
                    ));
                }
            },
            (None, 0) => None,
            (None, 1) => Some(0),
            (None, n) => {
                return Err(self.error(
                    page,
                    ErrorKind::Malformed,
                    format!(
                        "service principal {} has {n} provisioning jobs ({}): set job_id to the one provisioning Atlassian",
                        sp.id,
                        ids.join(", ")
                    ),
                ));
            }
        };
        let job = chosen.map(|i| jobs.items[i].clone());
        Ok((job, jobs.notes))
    }

    /// `check-config --online`: a token, the service principal, the job, and one page of each
    /// read the pull needs (so a missing permission shows here, named); an unreadable
    /// provisioning log is a warning.
    pub async fn check_online(&self) -> Result<OnlineCheck, ApiError> {
        self.graph.token().await?;
        let sp = self.service_principal().await?;
        let (job, _) = self.job(&sp).await?;
        let one = |path: String, q: Vec<(&'static str, String)>| Target::Path(path, q);
        self.graph
            .get(
                What::Users,
                one(
                    "/users".into(),
                    vec![("$select", "id".into()), ("$top", "1".into())],
                ),
                "users",
                false,
            )
            .await?;
        if self.s.scope == crate::idp::IdpScope::Assigned {
            let first = self
                .graph
                .get(
                    What::Assignments,
                    one(
                        format!("/servicePrincipals/{}/appRoleAssignedTo", seg(&sp.id)),
                        vec![],
                    ),
                    "appRoleAssignedTo",
                    false,
                )
                .await?;
            // One assigned group's members, as the pull reads them (GroupMember.Read.All).
            let group = first.as_ref().and_then(|v| {
                v.get("value")?.as_array()?.iter().find_map(|a| {
                    (a.get("principalType")?.as_str()? == "Group")
                        .then(|| a.get("principalId")?.as_str().map(str::to_string))
                        .flatten()
                })
            });
            if let Some(gid) = group {
                self.graph
                    .get(
                        What::Members,
                        one(
                            format!("/groups/{}/members", seg(&gid)),
                            vec![("$select", "id".into()), ("$top", "1".into())],
                        ),
                        "groups/members",
                        true,
                    )
                    .await?;
            }
        }
        let mut warnings = Vec::new();
        let logs = one(
            "/auditLogs/provisioning".into(),
            vec![
                (
                    "$filter",
                    format!("servicePrincipal/id eq '{}'", odata_str(&sp.id)),
                ),
                ("$top", "1".into()),
            ],
        );
        if let Err(e) = self
            .graph
            .get(What::Logs, logs, "auditLogs/provisioning", false)
            .await
        {
            warnings.push(format!(
                "provisioning logs cannot be read, so provisioning errors stay unknown: {e}"
            ));
        }
        Ok(OnlineCheck {
            credential: self.graph.cred.describe(),
            service_principal_id: sp.id,
            display_name: sp.display_name,
            job_id: job.map(|j| j.job_id),
            warnings,
        })
    }

    /// The re-read before a provision on demand (idp-api.md §5): the user
    /// (`GET /users/{id}?$select=id,accountEnabled`; 404 = gone) and its intent (a direct
    /// assignment, or direct membership of an assigned security-enabled group).
    pub async fn read_intent(&self, user_id: &str) -> Result<Intent, ApiError> {
        let sp = self.service_principal().await?;
        let page = format!("users/{user_id}");
        let target = Target::Path(
            format!("/users/{}", seg(user_id)),
            vec![("$select", "id,accountEnabled".into())],
        );
        let user = self.graph.get(What::User, target, &page, true).await?;
        let enabled = user.as_ref().and_then(|u| {
            let mut notes = Vec::new();
            crate::fields::Fields::new(u, &mut notes)
                .ok()
                .and_then(|mut f| f.boolean("accountEnabled"))
        });
        if self.s.scope == crate::idp::IdpScope::All {
            // The job's scoping filter decides, not assignments: intent is not computed, so it
            // never blocks (the user must still exist and be enabled).
            return Ok(Intent {
                exists: user.is_some(),
                enabled,
                intended: true,
                assigned_directly: false,
                via_groups: Vec::new(),
            });
        }
        let assignments = self.assignments(&sp).await?;
        let a = side::assigned(&assignments.items);
        let assigned_directly = a.users.contains(user_id);
        let mut via_groups = Vec::new();
        if user.is_some() && !a.groups.is_empty() {
            // The user's own direct memberships, intersected with the assigned groups: a few
            // requests, whatever the number of assigned groups (not every group's members).
            let label = format!("users/{user_id}/memberOf");
            let target = Target::Path(
                format!("/users/{}/memberOf", seg(user_id)),
                vec![("$select", "id".into()), ("$top", "999".into())],
            );
            let member_of = match self
                .graph
                .list(What::MemberOf, target, &label, Duplicates::Error, |v| {
                    parse::member(v).map(Some)
                })
                .await
            {
                // Deleted between the two reads: gone, as a 404 on the user says.
                Err(e) if e.kind == ErrorKind::NotFound => {
                    return Ok(Intent {
                        exists: false,
                        enabled: None,
                        intended: assigned_directly,
                        assigned_directly,
                        via_groups: Vec::new(),
                    });
                }
                other => other?,
            };
            for m in &member_of.items {
                if !a.groups.contains(&m.id)
                    || matches!(m.kind, parse::MemberKind::User)
                    || via_groups.contains(&m.id)
                {
                    continue;
                }
                if self.group(&m.id).await?.security_enabled == Some(true) {
                    via_groups.push(m.id.clone());
                }
            }
        }
        Ok(Intent {
            exists: user.is_some(),
            enabled,
            intended: assigned_directly || !via_groups.is_empty(),
            assigned_directly,
            via_groups,
        })
    }

    /// `POST …/jobs/{jobId}/provisionOnDemand` for one user (idp-api.md §1.4). `Ok` with the
    /// decoded result (`Failure`/`Skipped` is Entra refusing: see [`OnDemand::refused`]). An error
    /// carries the layer's `uncertain_retries`: after a 5xx or a timeout the call may have taken
    /// effect, so a 4xx then is no refusal (as for every remediation call); a 401 is retried
    /// with a fresh token only when no attempt's outcome is unknown.
    pub async fn provision_on_demand(
        &self,
        user_id: &str,
        job_id: &str,
        rule_id: &str,
    ) -> Result<OnDemand, ApiError> {
        let sp = self.service_principal().await?;
        let page = format!("provisionOnDemand user {user_id}");
        let target = Target::Path(
            format!(
                "/servicePrincipals/{}/synchronization/jobs/{}/provisionOnDemand",
                seg(&sp.id),
                seg(job_id)
            ),
            vec![],
        );
        let body = json!({"parameters": [{
            "subjects": [{"objectId": user_id, "objectTypeName": "User"}],
            "ruleId": rule_id,
        }]});
        let reply = self
            .graph
            .send(
                What::ProvisionOnDemand,
                Method::POST,
                &target,
                Some(body),
                &page,
                false,
            )
            .await?
            .ok_or_else(|| ApiError::malformed(self.origin(), &page, "unexpected 404"))?;
        parse::on_demand(&reply.body).map_err(|e| ApiError::malformed(self.origin(), &page, e))
    }

    pub(crate) async fn assignments(
        &self,
        sp: &ServicePrincipal,
    ) -> Result<graph::Listed<parse::Assignment>, ApiError> {
        let target = Target::Path(
            format!("/servicePrincipals/{}/appRoleAssignedTo", seg(&sp.id)),
            vec![],
        );
        self.graph
            .list(
                What::Assignments,
                target,
                "appRoleAssignedTo",
                Duplicates::Error,
                |v| parse::assignment(v).map(Some),
            )
            .await
    }

    /// An assigned group; a 404 (deleted mid-pull) is an error: its members are unknown.
    pub(crate) async fn group(&self, gid: &str) -> Result<parse::Group, ApiError> {
        let page = format!("groups/{gid}");
        let target = Target::Path(
            format!("/groups/{}", seg(gid)),
            vec![("$select", "id,displayName,securityEnabled".into())],
        );
        let v = self
            .graph
            .get(What::Group, target, &page, true)
            .await?
            .ok_or_else(|| self.gone(&page, gid))?;
        parse::group(&v)
            .map(|p| p.item)
            .map_err(|e| ApiError::malformed(self.origin(), &page, e))
    }

    /// `GET /groups/{id}` when `id` may not be a group: `None` for a 404.
    pub(crate) async fn try_group(&self, gid: &str) -> Result<Option<parse::Group>, ApiError> {
        let page = format!("groups/{gid}");
        let target = Target::Path(
            format!("/groups/{}", seg(gid)),
            vec![("$select", "id,displayName,securityEnabled".into())],
        );
        let Some(v) = self.graph.get(What::Group, target, &page, true).await? else {
            return Ok(None);
        };
        parse::group(&v)
            .map(|p| Some(p.item))
            .map_err(|e| ApiError::malformed(self.origin(), &page, e))
    }

    fn gone(&self, page: &str, gid: &str) -> ApiError {
        self.error(
            page,
            ErrorKind::NotFound,
            format!("assigned group {gid} answered 404 (deleted during the pull?): its members are unknown"),
        )
    }

    /// A group's `members` or `transitiveMembers` (`$select=id&$top=999`); a 404 is an error.
    pub(crate) async fn members(
        &self,
        gid: &str,
        what: What,
    ) -> Result<graph::Listed<parse::Member>, ApiError> {
        let label = format!("groups/{gid}/{}", what.label());
        let target = Target::Path(
            format!("/groups/{}/{}", seg(gid), what.label()),
            vec![("$select", "id".into()), ("$top", "999".into())],
        );
        self.graph
            .list(what, target, &label, Duplicates::Error, |v| {
                parse::member(v).map(Some)
            })
            .await
            .map_err(|e| {
                if e.kind == ErrorKind::NotFound {
                    ApiError {
                        retries: e.retries,
                        ..self.gone(&label, gid)
                    }
                } else {
                    e
                }
            })
    }
}
