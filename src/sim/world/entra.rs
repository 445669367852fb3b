//! The simulated Entra ID side of the world: tenants, their users, groups, the "Atlassian Cloud"
//! enterprise app (its service principal, assignments and provisioning job) and the provisioning
//! log (`shared/idp-api.md` §1).
//!
//! These types belong to the simulator alone; the Graph wire format is produced from them by the
//! route modules. Enum-like fields are strings so a test can serve unknown values.

use chrono::{DateTime, Duration, Utc};

use super::mix;

/// `appRoleId` of the default access role ("Default Access").
pub const DEFAULT_APP_ROLE_ID: &str = "00000000-0000-0000-0000-000000000000";

/// The `@odata.type` of a user member.
pub const ODATA_USER: &str = "#microsoft.graph.user";
/// The `@odata.type` of a group member.
pub const ODATA_GROUP: &str = "#microsoft.graph.group";

/// An Entra ID tenant whose "Atlassian Cloud" app provisions into one SCIM directory of the org.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimEntra {
    pub tenant_id: String,
    /// The SCIM directory (its id) the app's provisioning job writes to.
    pub directory_id: String,
    /// scimdrift's own app registration: client credentials accepted by the token endpoint.
    pub client_id: String,
    pub client_secret: String,
    /// The credential registered for client assertions: a `CERTIFICATE` PEM (signature and the
    /// `x5t#S256` / `x5t` thumbprint are checked) or a `PUBLIC KEY` PEM (signature only). `None`:
    /// assertions are refused.
    pub client_certificate_pem: Option<String>,
    /// The object id of the "Atlassian Cloud" service principal (one of `service_principals`).
    pub app_service_principal_id: String,
    pub service_principals: Vec<SimServicePrincipal>,
    pub users: Vec<SimEntraUser>,
    pub groups: Vec<SimEntraGroup>,
    /// `auditLogs/provisioning`, in any order (served newest first).
    pub provisioning_log: Vec<SimProvisioningEvent>,
    /// Soft-deleted users (`directory/deletedItems`, kept 30 days in Entra), with when each was
    /// deleted: gone from `/users`, their assignments and group memberships.
    pub deleted_users: Vec<(SimEntraUser, DateTime<Utc>)>,
}

impl SimEntra {
    /// The "Atlassian Cloud" service principal.
    pub fn app(&self) -> Option<&SimServicePrincipal> {
        self.service_principal(&self.app_service_principal_id)
    }

    /// The "Atlassian Cloud" service principal, mutable.
    pub fn app_mut(&mut self) -> Option<&mut SimServicePrincipal> {
        let id = self.app_service_principal_id.clone();
        self.service_principals.iter_mut().find(|s| s.id == id)
    }

    /// The service principal with object id `id`.
    pub fn service_principal(&self, id: &str) -> Option<&SimServicePrincipal> {
        self.service_principals.iter().find(|s| s.id == id)
    }

    /// The app's provisioning job (the first).
    pub fn job(&self) -> Option<&SimSyncJob> {
        self.app()?.jobs.first()
    }

    /// The app's provisioning job (the first), mutable.
    pub fn job_mut(&mut self) -> Option<&mut SimSyncJob> {
        self.app_mut()?.jobs.first_mut()
    }

    /// The user with object id `id`.
    pub fn user(&self, id: &str) -> Option<&SimEntraUser> {
        self.users.iter().find(|u| u.id == id)
    }

    /// Soft-deletes user `id` at `at` (as an admin deleting a leaver does): it moves to
    /// `deleted_users` and loses its app assignments and group memberships. False when unknown.
    pub fn soft_delete(&mut self, id: &str, at: DateTime<Utc>) -> bool {
        let Some(i) = self.users.iter().position(|u| u.id == id) else {
            return false;
        };
        let user = self.users.remove(i);
        for sp in &mut self.service_principals {
            sp.assignments.retain(|a| a.principal_id != id);
        }
        for g in &mut self.groups {
            g.members.retain(|m| m.id != id);
        }
        self.deleted_users.push((user, at));
        true
    }

    /// The user with object id `id`, mutable.
    pub fn user_mut(&mut self, id: &str) -> Option<&mut SimEntraUser> {
        self.users.iter_mut().find(|u| u.id == id)
    }

    /// The group with object id `id`.
    pub fn group(&self, id: &str) -> Option<&SimEntraGroup> {
        self.groups.iter().find(|g| g.id == id)
    }

    /// The group with object id `id`, mutable.
    pub fn group_mut(&mut self, id: &str) -> Option<&mut SimEntraGroup> {
        self.groups.iter_mut().find(|g| g.id == id)
    }

    /// Assigns `principal_id` (a `User`, `Group` or `ServicePrincipal`) to the app with the
    /// default access role, created `created`.
    pub fn assign(
        &mut self,
        principal_id: &str,
        principal_type: &str,
        display_name: &str,
        created: DateTime<Utc>,
    ) {
        let tenant = self.tenant_id.clone();
        let Some(app) = self.app_mut() else {
            return;
        };
        let n = app.assignments.len();
        let id = assignment_id(&tenant, &app.id, n);
        app.assignments.push(SimAssignment {
            id,
            app_role_id: DEFAULT_APP_ROLE_ID.into(),
            principal_id: principal_id.into(),
            principal_type: principal_type.into(),
            principal_display_name: display_name.into(),
            created,
        });
    }

    /// Removes every assignment of `principal_id` to the app.
    pub fn unassign(&mut self, principal_id: &str) {
        if let Some(app) = self.app_mut() {
            app.assignments.retain(|a| a.principal_id != principal_id);
        }
    }

    /// Whether the user is *intended* (idp-api.md §1.2): assigned to the app directly, or a
    /// direct member of an assigned security-enabled group. Disabled users may be intended.
    pub fn is_intended(&self, user_id: &str) -> bool {
        self.is_intended_among(user_id, self.app().map(|a| a.assignments.as_slice()))
    }

    /// [`is_intended`](Self::is_intended) over the given assignments only.
    pub(crate) fn is_intended_among(
        &self,
        user_id: &str,
        assignments: Option<&[SimAssignment]>,
    ) -> bool {
        assignments.unwrap_or_default().iter().any(|a| {
            (a.principal_type == "User" && a.principal_id == user_id)
                || (a.principal_type == "Group"
                    && self.group(&a.principal_id).is_some_and(|g| {
                        g.security_enabled && g.members.iter().any(|m| m.is_user(user_id))
                    }))
        })
    }

    /// Appends a provisioning log event with a fresh id.
    pub fn log(&mut self, mut event: SimProvisioningEvent) {
        if event.id.is_empty() {
            event.id = format!(
                "{}-{:08x}",
                self.tenant_id.get(..8).unwrap_or("log"),
                self.provisioning_log.len()
            );
        }
        self.provisioning_log.push(event);
    }
}

fn assignment_id(tenant: &str, sp: &str, n: usize) -> String {
    // Graph's assignment ids are opaque base64url strings.
    let seed = tenant
        .bytes()
        .chain(sp.bytes())
        .fold(n as u64, |acc, b| mix(acc ^ u64::from(b)));
    let (a, b) = (mix(seed), mix(seed ^ 0xa55a));
    base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        [a.to_be_bytes(), b.to_be_bytes()].concat(),
    )
}

/// An app role of a service principal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimAppRole {
    pub id: String,
    pub value: Option<String>,
    pub display_name: String,
    pub is_enabled: bool,
}

/// One `appRoleAssignedTo` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimAssignment {
    pub id: String,
    pub app_role_id: String,
    pub principal_id: String,
    /// `User` | `Group` | `ServicePrincipal`.
    pub principal_type: String,
    pub principal_display_name: String,
    pub created: DateTime<Utc>,
}

/// A service principal (an enterprise app instance in the tenant).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimServicePrincipal {
    pub id: String,
    pub app_id: String,
    pub display_name: String,
    pub account_enabled: bool,
    pub app_role_assignment_required: bool,
    pub app_roles: Vec<SimAppRole>,
    /// Who is assigned to this app (`appRoleAssignedTo`).
    pub assignments: Vec<SimAssignment>,
    /// Its provisioning jobs (`synchronization/jobs`).
    pub jobs: Vec<SimSyncJob>,
}

/// An Entra user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimEntraUser {
    pub id: String,
    pub user_principal_name: String,
    /// `None` serves `null` (no Exchange mailbox).
    pub mail: Option<String>,
    pub other_mails: Vec<String>,
    /// `None` serves `null` (lenient: unknown, never false).
    pub account_enabled: Option<bool>,
    pub display_name: String,
    pub given_name: Option<String>,
    pub surname: Option<String>,
    /// `Member` | `Guest`.
    pub user_type: String,
}

impl SimEntraUser {
    /// An enabled member whose UPN and mail are `email`.
    pub fn new(id: impl Into<String>, email: &str, given: &str, family: &str) -> Self {
        Self {
            id: id.into(),
            user_principal_name: email.to_owned(),
            mail: Some(email.to_owned()),
            other_mails: Vec::new(),
            account_enabled: Some(true),
            display_name: format!("{given} {family}"),
            given_name: Some(given.to_owned()),
            surname: Some(family.to_owned()),
            user_type: "Member".into(),
        }
    }
}

/// A member of an Entra group: a user, a group (nested) or another directory object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimEntraMember {
    pub id: String,
    /// `#microsoft.graph.user` | `#microsoft.graph.group` | e.g. `#microsoft.graph.device`;
    /// `None` serves the member without `@odata.type` (lenient).
    pub odata_type: Option<String>,
}

impl SimEntraMember {
    pub fn user(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            odata_type: Some(ODATA_USER.into()),
        }
    }

    pub fn group(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            odata_type: Some(ODATA_GROUP.into()),
        }
    }

    /// Whether this member is the user `id` (a member without a type counts as a user).
    pub fn is_user(&self, id: &str) -> bool {
        self.id == id && self.odata_type.as_deref().is_none_or(|t| t == ODATA_USER)
    }

    pub fn is_group(&self) -> bool {
        self.odata_type.as_deref() == Some(ODATA_GROUP)
    }
}

/// An Entra group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimEntraGroup {
    pub id: String,
    pub display_name: String,
    /// Only security-enabled groups confer intent.
    pub security_enabled: bool,
    pub mail_enabled: bool,
    /// Direct members.
    pub members: Vec<SimEntraMember>,
    /// The SCIM group (its id, in the tenant's directory) this group is pushed as: provision on
    /// demand adds the users it provisions to the SCIM groups of their assigned groups.
    pub scim_group_id: Option<String>,
}

/// A job execution (`lastExecution`, `lastSuccessfulExecution`, …).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimExecution {
    pub time_began: DateTime<Utc>,
    pub time_ended: DateTime<Utc>,
    /// `Succeeded` | `Failed` | `EntryLevelErrors`.
    pub state: String,
    pub count_escrowed: u64,
    pub count_exported: u64,
    /// `(code, message)` of a failed execution.
    pub error: Option<(String, String)>,
}

impl SimExecution {
    /// A succeeded run that ended `ended` after `minutes` minutes.
    pub fn succeeded(ended: DateTime<Utc>, minutes: i64, exported: u64) -> Self {
        Self {
            time_began: ended - Duration::minutes(minutes),
            time_ended: ended,
            state: "Succeeded".into(),
            count_escrowed: 0,
            count_exported: exported,
            error: None,
        }
    }
}

/// A quarantined job's `status.quarantine`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimQuarantine {
    pub current_began: DateTime<Utc>,
    pub next_attempt: DateTime<Utc>,
    pub series_began: DateTime<Utc>,
    pub series_count: u64,
    /// One of [`QUARANTINE_REASONS`] (or anything else).
    pub reason: String,
    pub error_code: String,
    pub error_message: String,
    pub tenant_actionable: bool,
}

/// The quarantine reasons of idp-api.md §1.3.
pub const QUARANTINE_REASONS: [&str; 8] = [
    "EncounteredBaseEscrowThreshold",
    "EncounteredTotalEscrowThreshold",
    "EncounteredEscrowProportionThreshold",
    "EncounteredQuarantineException",
    "Unknown",
    "QuarantinedOnDemand",
    "TooManyDeletes",
    "IngestionInterrupted",
];

/// A job's state, set consistently by [`SimSyncJob::set_state`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JobState {
    Active,
    Paused,
    NotRun,
    NotConfigured,
    /// Quarantined for this reason (see [`QUARANTINE_REASONS`]).
    Quarantine(String),
}

/// One attribute mapping of the job's schema.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimAttributeMapping {
    pub target: String,
    /// `Attribute` | `Constant` | `Function`.
    pub source_type: String,
    pub source_name: String,
    pub expression: Option<String>,
    /// 0: not a matching attribute; 1: the first match key.
    pub matching_priority: u32,
}

/// One synchronization rule of the job's schema (the user object mapping only).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimSyncRule {
    pub id: String,
    pub name: String,
    pub source_object: String,
    pub target_object: String,
    pub mappings: Vec<SimAttributeMapping>,
}

impl SimSyncRule {
    /// The default Atlassian mapping: `objectId→externalId`, `userPrincipalName→userName`
    /// (match key), `mail→emails[type eq "work"].value`, plus display and name attributes.
    pub fn atlassian_default(id: impl Into<String>) -> Self {
        let attr = |source: &str, target: &str, priority: u32| SimAttributeMapping {
            target: target.into(),
            source_type: "Attribute".into(),
            source_name: source.into(),
            expression: None,
            matching_priority: priority,
        };
        Self {
            id: id.into(),
            name: "USER_INBOUND_USER".into(),
            source_object: "User".into(),
            target_object: "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User".into(),
            mappings: vec![
                attr("userPrincipalName", "userName", 1),
                SimAttributeMapping {
                    target: "active".into(),
                    source_type: "Function".into(),
                    source_name: "Not".into(),
                    expression: Some("Not([IsSoftDeleted])".into()),
                    matching_priority: 0,
                },
                attr("displayName", "displayName", 0),
                attr("mail", "emails[type eq \"work\"].value", 0),
                attr("givenName", "name.givenName", 0),
                attr("surname", "name.familyName", 0),
                attr("objectId", "externalId", 0),
            ],
        }
    }
}

/// A provisioning job (`synchronization/jobs`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimSyncJob {
    pub id: String,
    pub template_id: String,
    /// ISO-8601 duration, e.g. `PT40M`.
    pub schedule_interval: String,
    /// `Active` | `Disabled` | `Paused`.
    pub schedule_state: String,
    /// `NotConfigured` | `NotRun` | `Active` | `Paused` | `Quarantine`.
    pub status_code: String,
    pub count_successive_complete_failures: u64,
    pub escrows_pruned: bool,
    pub last_execution: Option<SimExecution>,
    pub last_successful_execution: Option<SimExecution>,
    pub last_successful_execution_with_exports: Option<SimExecution>,
    pub quarantine: Option<SimQuarantine>,
    pub steady_state_first_achieved: Option<DateTime<Utc>>,
    pub steady_state_last_achieved: Option<DateTime<Utc>>,
    /// The schema's synchronization rules (the first user rule's id is provision on demand's
    /// `ruleId`).
    pub rules: Vec<SimSyncRule>,
}

impl SimSyncJob {
    /// The id of the rule mapping users (`ruleId` of provision on demand).
    pub fn user_rule_id(&self) -> Option<&str> {
        self.rules
            .iter()
            .find(|r| r.source_object == "User")
            .map(|r| r.id.as_str())
    }

    /// Sets `status.code`, `schedule.state` and `quarantine` consistently; `now` dates a new
    /// quarantine (series began 2 days ago, next attempt in a day). `NotRun` also clears the
    /// executions.
    pub fn set_state(&mut self, state: JobState, now: DateTime<Utc>) {
        let (code, schedule) = match &state {
            JobState::Active => ("Active", "Active"),
            JobState::Paused => ("Paused", "Paused"),
            JobState::NotRun => ("NotRun", "Active"),
            JobState::NotConfigured => ("NotConfigured", "Disabled"),
            JobState::Quarantine(_) => ("Quarantine", "Active"),
        };
        self.status_code = code.into();
        self.schedule_state = schedule.into();
        self.quarantine = match state {
            JobState::Quarantine(reason) => Some(SimQuarantine {
                current_began: now - Duration::hours(3),
                next_attempt: now + Duration::hours(21),
                series_began: now - Duration::days(2),
                series_count: 3,
                error_code: "SystemForCrossDomainIdentityManagementServiceIncompatible".into(),
                error_message: format!(
                    "The provisioning job was quarantined ({reason}): too many entries failed \
                     to export to the target system."
                ),
                reason,
                tenant_actionable: true,
            }),
            _ => None,
        };
        if self.status_code == "NotRun" {
            self.last_execution = None;
            self.last_successful_execution = None;
            self.last_successful_execution_with_exports = None;
            self.steady_state_first_achieved = None;
            self.steady_state_last_achieved = None;
        }
    }

    /// Sets the last execution's `state` (`Succeeded` | `Failed` | `EntryLevelErrors` | …),
    /// creating one that ended at `now` if there is none; a succeeded or entry-level-errors run
    /// is also the last successful one.
    pub fn set_execution_state(&mut self, state: &str, now: DateTime<Utc>) {
        let mut run = self
            .last_execution
            .clone()
            .unwrap_or_else(|| SimExecution::succeeded(now, 2, 0));
        run.state = state.into();
        run.error = (state == "Failed").then(|| {
            (
                "SystemForCrossDomainIdentityManagementServiceUnavailable".into(),
                "The SCIM endpoint did not answer.".into(),
            )
        });
        run.count_escrowed = u64::from(state == "EntryLevelErrors") * 2;
        if matches!(state, "Succeeded" | "EntryLevelErrors") {
            self.last_successful_execution = Some(run.clone());
        }
        self.last_execution = Some(run);
    }
}

/// One `auditLogs/provisioning` event (a `provisioningObjectSummary`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimProvisioningEvent {
    /// Empty: [`SimEntra::log`] assigns one.
    pub id: String,
    pub activity: DateTime<Utc>,
    pub job_id: String,
    pub cycle_id: String,
    pub change_id: String,
    /// `create` | `update` | `disable` | `delete` | `stagedDelete` | `other`.
    pub action: String,
    /// `success` | `failure` | `skipped` | `warning`.
    pub status: String,
    pub error_code: Option<String>,
    pub reason: Option<String>,
    pub additional_details: Option<String>,
    pub error_category: Option<String>,
    pub recommended_action: Option<String>,
    /// The Entra user's id.
    pub source_id: String,
    pub source_display_name: String,
    /// The SCIM record's id, or `""` when none.
    pub target_id: String,
    pub target_display_name: String,
    pub service_principal_id: String,
    pub service_principal_name: String,
    /// `initiatedBy.displayName`, e.g. `Azure AD Provisioning Service`.
    pub initiated_by: String,
}

impl SimProvisioningEvent {
    /// A successful `action` for the user, at `at`, by the tenant's app job.
    pub fn success(
        tenant: &SimEntra,
        action: &str,
        source: (&str, &str),
        target_id: &str,
        at: DateTime<Utc>,
    ) -> Self {
        let (sp_id, sp_name, job_id) = tenant
            .app()
            .map(|a| {
                (
                    a.id.clone(),
                    a.display_name.clone(),
                    a.jobs.first().map(|j| j.id.clone()).unwrap_or_default(),
                )
            })
            .unwrap_or_default();
        let stamp = at.timestamp();
        Self {
            id: String::new(),
            activity: at,
            job_id,
            cycle_id: format!("cycle-{:x}", stamp / 2400),
            change_id: format!("change-{stamp:x}-{}", source.0.len()),
            action: action.into(),
            status: "success".into(),
            error_code: None,
            reason: None,
            additional_details: None,
            error_category: None,
            recommended_action: None,
            source_id: source.0.into(),
            source_display_name: source.1.into(),
            target_id: target_id.into(),
            target_display_name: source.1.into(),
            service_principal_id: sp_id,
            service_principal_name: sp_name,
            initiated_by: "Azure AD Provisioning Service".into(),
        }
    }

    /// The same event as a failure with `error_code` and `reason`.
    pub fn failed(self, error_code: &str, reason: &str) -> Self {
        Self {
            status: "failure".into(),
            error_code: Some(error_code.into()),
            reason: Some(reason.into()),
            error_category: Some("NonServiceFailure".into()),
            recommended_action: Some("Check the target application's records.".into()),
            ..self
        }
    }
}
