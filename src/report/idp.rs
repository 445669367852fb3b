//! The IdP in the daily report: each directory's provisioning job health (from its last complete
//! IdP pull), the IdP users beside each person's records and accounts, and the Entra fix of every
//! IdP kind: the Entra admin center path and the exact Microsoft Graph request (idp-api.md §1),
//! ids filled in from the store and the configuration, a token only ever named. Pure but for the
//! inputs `build` reads.

use std::collections::{HashMap, HashSet};

use super::model::*;
use crate::detect::Kind;
use crate::findings::{FindingView, IdpUserView};
use crate::model::idp::{IdpUser, ProvisioningJob, Stall};
use crate::model::normalize_email;
use crate::store::{IdpSideState, SnapshotInfo};

/// What the report knows of one directory's IdP app from the configuration (never a secret).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdpApp {
    /// `entra`.
    pub kind: String,
    /// The Atlassian Cloud enterprise app's service principal object id, when configured.
    pub service_principal_id: Option<String>,
    /// Its application (client) id, when configured instead.
    pub app_id: Option<String>,
    /// The provisioning job, when configured.
    pub job_id: Option<String>,
    /// The Graph base URL (`https://graph.microsoft.com/v1.0`, or a national cloud's).
    pub graph_base_url: String,
}

/// What an IdP fix needs of one directory: the app, the stored job and the mapping's rule.
#[derive(Debug, Clone, Default)]
pub struct IdpFixInfo {
    pub app: IdpApp,
    /// The job's id (stored, else configured).
    pub job_id: Option<String>,
    /// The job's status code.
    pub job_status: Option<String>,
    pub quarantine_reason: Option<String>,
    /// The user rule's id (`ruleId` of provision on demand).
    pub rule_id: Option<String>,
}

const ENTRA: &str = "Entra admin center";
const APP: &str = "Enterprise applications → Atlassian Cloud";
const WRITE_TOKEN: &str =
    "Graph token with Synchronization.ReadWrite.All (not scimdrift's read-only app)";
const READ_TOKEN: &str = "Graph token with Application.Read.All and Synchronization.Read.All";

fn step(path: &str, note: String) -> PortalStep {
    PortalStep {
        console: ENTRA.into(),
        path: path.into(),
        note,
    }
}

fn app_path(rest: &str) -> String {
    format!("{APP} → {rest}")
}

/// Percent-encodes one path segment (ids are opaque).
fn seg(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A `'`-quoted OData string literal.
fn odata(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// How a person reads an IdP user: the UPN, else the email, else the id.
fn who(u: &IdpUserView) -> String {
    u.user_principal_name
        .clone()
        .or_else(|| u.email.clone())
        .unwrap_or_else(|| u.id.clone())
}

/// Collects the Graph requests and portal steps of one finding, deduplicated, in order.
struct Graph<'a> {
    info: &'a IdpFixInfo,
    requests: Vec<FixRequest>,
    steps: Vec<PortalStep>,
}

impl Graph<'_> {
    fn push(&mut self, method: &str, path: String, body: Option<String>, key: &str, note: String) {
        let r = FixRequest {
            api: GRAPH_API.into(),
            base_url: self
                .info
                .app
                .graph_base_url
                .trim_end_matches('/')
                .to_string(),
            method: method.into(),
            path,
            body,
            key: key.into(),
            note,
        };
        if !self.requests.contains(&r) {
            self.requests.push(r);
        }
    }

    fn step(&mut self, path: &str, note: String) {
        let s = step(path, note);
        if !self.steps.contains(&s) {
            self.steps.push(s);
        }
    }

    /// `{spId}`, or the configured id; adds the lookup when unknown.
    fn sp(&mut self) -> String {
        if let Some(id) = &self.info.app.service_principal_id {
            return seg(id);
        }
        let filter = match &self.info.app.app_id {
            Some(app) => format!("appId eq {}", odata(app)),
            None => "displayName eq 'Atlassian Cloud'".into(),
        };
        self.push(
            "GET",
            format!("/servicePrincipals?$filter={filter}&$select=id,appId,displayName"),
            None,
            READ_TOKEN,
            "find {spId}: the Atlassian Cloud enterprise app's object id".into(),
        );
        "{spId}".into()
    }

    /// `{jobId}`, or the known id; adds the lookup when unknown.
    fn job(&mut self, sp: &str) -> String {
        if let Some(id) = &self.info.job_id {
            return seg(id);
        }
        self.push(
            "GET",
            format!("/servicePrincipals/{sp}/synchronization/jobs"),
            None,
            READ_TOKEN,
            "find {jobId}: the app's provisioning job".into(),
        );
        "{jobId}".into()
    }

    /// `{ruleId}`, or the mapping's; adds the schema read when unknown.
    fn rule(&mut self, sp: &str, job: &str) -> String {
        if let Some(id) = &self.info.rule_id {
            return id.clone();
        }
        self.push(
            "GET",
            format!("/servicePrincipals/{sp}/synchronization/jobs/{job}/schema"),
            None,
            READ_TOKEN,
            "find {ruleId}: the id of the synchronizationRule whose objectMappings map User".into(),
        );
        "{ruleId}".into()
    }

    /// Provision one user on demand (idp-api.md §1.4).
    fn provision_on_demand(&mut self, u: &IdpUserView, note: String) {
        let sp = self.sp();
        let job = self.job(&sp);
        let rule = self.rule(&sp, &job);
        let body = serde_json::json!({"parameters": [{
            "subjects": [{"objectId": u.id, "objectTypeName": "User"}],
            "ruleId": rule,
        }]})
        .to_string();
        self.push(
            "POST",
            format!("/servicePrincipals/{sp}/synchronization/jobs/{job}/provisionOnDemand"),
            Some(body),
            WRITE_TOKEN,
            note,
        );
    }

    fn on_demand_step(&mut self, u: &IdpUserView, what: &str) {
        self.step(
            &app_path("Provisioning → Provision on demand"),
            format!("search {}, select it, then Provision ({what})", who(u)),
        );
    }
}

/// Whether a provisioning event says Atlassian refused an email another account holds ("already
/// exists", or a code ending in `EntryConflict`).
pub fn says_already_exists(p: &crate::findings::ProvisioningView) -> bool {
    crate::model::idp::is_email_conflict(p.reason.as_deref(), p.error_code.as_deref())
}

/// What the quarantine `reason` means and what to fix before restarting.
fn quarantine_cause(reason: Option<&str>) -> &'static str {
    match reason.unwrap_or("") {
        "EncounteredBaseEscrowThreshold"
        | "EncounteredTotalEscrowThreshold"
        | "EncounteredEscrowProportionThreshold" => {
            "too many users failed to provision (escrows): fix the failures the Provisioning logs show first"
        }
        "EncounteredQuarantineException" => {
            "the whole job failed, usually Atlassian refusing the SCIM token: Provisioning → Admin Credentials → Test Connection, and put in a new directory API key if it fails"
        }
        "TooManyDeletes" => {
            "more deletions than the accidental-deletions threshold: review the pending deletions before letting them through"
        }
        "QuarantinedOnDemand" => "an administrator quarantined it",
        _ => "see the job's error and the Provisioning logs",
    }
}

/// The portal steps and Graph requests that fix IdP finding `f` of a directory with IdP `info`
/// (Entra only). Atlassian kinds get none here.
pub fn fix(f: &FindingView, info: Option<&IdpFixInfo>) -> (Vec<PortalStep>, Vec<FixRequest>) {
    let Some(info) = info.filter(|i| i.app.kind == "entra") else {
        return (Vec::new(), Vec::new());
    };
    let mut g = Graph {
        info,
        requests: Vec::new(),
        steps: Vec::new(),
    };
    let users: Vec<&IdpUserView> = f.idp_users.iter().collect();
    match f.kind {
        Kind::AssignedNotProvisioned => {
            for u in &users {
                let holder = f.accounts.iter().find_map(|a| a.email.as_deref());
                let when = match holder {
                    Some(e) => format!(
                        "once the Atlassian account holding {e} is resolved (see its row), or the create fails with \"already exists\""
                    ),
                    None => "now".into(),
                };
                g.on_demand_step(u, "the result shows Atlassian's answer");
                g.provision_on_demand(u, format!("create {} in Atlassian {when}", who(u)));
            }
        }
        Kind::ProvisioningError => {
            for u in &users {
                g.step(
                    &app_path("Provisioning logs"),
                    format!(
                        "filter by {}: the failed event's Troubleshooting & Recommendations tab says why",
                        who(u)
                    ),
                );
                let after = if f.provisioning.as_ref().is_some_and(says_already_exists) {
                    "once the email is free in Atlassian (the account holding it: the email_conflict shown with it, or the account's row)"
                } else {
                    "once the cause is fixed"
                };
                g.on_demand_step(u, "to retry now instead of waiting for the next cycle");
                g.provision_on_demand(u, format!("retry {} {after}", who(u)));
            }
        }
        Kind::IdpEmailMismatch => {
            for u in &users {
                g.step(
                    "Users → All users → the user → Properties",
                    format!(
                        "check {}'s email is the one Atlassian should have (the mapping sends it as the SCIM email)",
                        who(u)
                    ),
                );
                g.on_demand_step(u, "pushes the email now");
                g.provision_on_demand(u, format!("push {}'s current email to Atlassian", who(u)));
            }
        }
        Kind::IdpDisabledScimActive => {
            for u in &users {
                if u.enabled == Some(false) {
                    g.step(
                        &app_path("Provisioning logs"),
                        format!(
                            "filter by {}: the disable should be sent on the job's next cycle (disabled users cannot be provisioned on demand); if no cycle completes, see the job at the top of the report",
                            who(u)
                        ),
                    );
                } else {
                    g.step(
                        &app_path("Users and groups"),
                        format!(
                            "if {} should keep access: Add user/group to assign them again",
                            who(u)
                        ),
                    );
                    g.on_demand_step(u, "an unassigned user is disabled in Atlassian");
                    g.provision_on_demand(
                        u,
                        format!(
                            "if {} left: send the disable now (an unassigned user is disabled)",
                            who(u)
                        ),
                    );
                }
            }
            if users.is_empty() {
                g.step(
                    "Users → Deleted users",
                    "the IdP user was deleted: restore it only if that was a mistake; otherwise suspend the Atlassian account (below)".into(),
                );
            }
        }
        Kind::NestedGroupOnly => {
            for u in &users {
                g.step(
                    &app_path("Users and groups → Add user/group"),
                    format!(
                        "assign {} (or the nested group itself): Entra provisions only direct members of assigned groups",
                        who(u)
                    ),
                );
                let sp = g.sp();
                let body = serde_json::json!({
                    "principalId": u.id,
                    "resourceId": sp,
                    "appRoleId": "{appRoleId}",
                })
                .to_string();
                g.push(
                    "POST",
                    format!("/servicePrincipals/{sp}/appRoleAssignedTo"),
                    Some(body),
                    "Graph token with AppRoleAssignment.ReadWrite.All",
                    format!(
                        "assign {} to the app ({{appRoleId}}: the role the other assignments hold; 00000000-0000-0000-0000-000000000000 is default access)",
                        who(u)
                    ),
                );
                g.provision_on_demand(u, format!("then create {} in Atlassian now", who(u)));
            }
        }
        Kind::GroupNotProvisioned => {
            let name = f.group_name();
            g.step(
                &app_path("Provisioning → Provision on demand"),
                format!("select the group {name} and a few of its members, then Provision: the result shows Atlassian's answer (or Restart provisioning for a full cycle)"),
            );
            g.step(
                &app_path("Provisioning logs"),
                format!("filter by {name}: a create that failed with \"already exists\" means a group of that name was made in Atlassian by hand: rename or remove it there first (admin hub: Directory → Groups)"),
            );
        }
        Kind::GroupMembershipMissing | Kind::GroupMembershipExtra => {
            let name = f.group_name();
            let what = if f.kind == Kind::GroupMembershipMissing {
                "adds the membership in Atlassian now"
            } else {
                "removes the membership the IdP no longer has (check the person is out of the group in Entra first)"
            };
            for u in &users {
                g.step(
                    &app_path("Provisioning → Provision on demand"),
                    format!("select the group {name} and its member {}: {what}; or wait for the next cycle (Restart provisioning if none completes)", who(u)),
                );
            }
        }
        Kind::OrphanScimRecord => {
            g.step(
                &app_path("Users and groups → Add user/group"),
                "if the person should have access: assign their Entra user (it then takes over the record when its externalId matches); otherwise suspend the account (below)".into(),
            );
        }
        Kind::ProvisioningStalled => {
            let sp_needed = !matches!(info.job_status.as_deref(), Some("NotConfigured") | None)
                || info.job_id.is_some();
            match info.job_status.as_deref() {
                Some("Quarantine") => {
                    g.step(
                        &app_path("Provisioning"),
                        format!(
                            "fix the cause first: {}",
                            quarantine_cause(info.quarantine_reason.as_deref())
                        ),
                    );
                    g.step(
                        &app_path("Provisioning → Restart provisioning"),
                        "restarts the job out of quarantine (a full cycle follows)".into(),
                    );
                    let sp = g.sp();
                    let job = g.job(&sp);
                    g.push(
                        "POST",
                        format!("/servicePrincipals/{sp}/synchronization/jobs/{job}/restart"),
                        Some(
                            serde_json::json!({"criteria": {"resetScope": "Watermark, Escrows, QuarantineState"}})
                                .to_string(),
                        ),
                        WRITE_TOKEN,
                        "restart out of quarantine, as the admin center's Restart provisioning does (resetScope Full would also clear the connector cache and force pending deletions)".into(),
                    );
                }
                Some("Paused" | "NotRun") => {
                    g.step(
                        &app_path("Provisioning → Start provisioning"),
                        "starts the job (Provisioning Status: On, then Save)".into(),
                    );
                    let sp = g.sp();
                    let job = g.job(&sp);
                    g.push(
                        "POST",
                        format!("/servicePrincipals/{sp}/synchronization/jobs/{job}/start"),
                        None,
                        WRITE_TOKEN,
                        "start the paused job".into(),
                    );
                }
                Some("Active") => {
                    g.step(
                        &app_path("Provisioning → View provisioning details"),
                        "the current cycle's progress; a first cycle of a large tenant can take hours. If it is stuck, Restart provisioning".into(),
                    );
                    let sp = g.sp();
                    let job = g.job(&sp);
                    g.push(
                        "GET",
                        format!("/servicePrincipals/{sp}/synchronization/jobs/{job}"),
                        None,
                        READ_TOKEN,
                        "the job's status.lastExecution and its error".into(),
                    );
                }
                _ if sp_needed => {
                    g.step(
                        &app_path("Provisioning"),
                        "see the job's status and error, then Start or Restart provisioning".into(),
                    );
                }
                _ => {
                    g.step(
                        &app_path("Provisioning → Get started"),
                        "set Provisioning Mode to Automatic with Atlassian's SCIM base URL and the directory API key, then start provisioning".into(),
                    );
                }
            }
        }
        _ => {}
    }
    (g.steps, g.requests)
}

/// The fix info of each directory (by configured name) with a configured IdP.
pub fn fix_infos(
    apps: &HashMap<String, IdpApp>,
    sides: &[IdpSideState],
    names: &HashMap<String, String>,
) -> HashMap<String, IdpFixInfo> {
    apps.iter()
        .map(|(dir, app)| {
            let side = sides.iter().find(|s| &s.directory_id == dir);
            let job = side.and_then(|s| s.job.as_ref());
            let name = names.get(dir).cloned().unwrap_or_else(|| dir.clone());
            (
                name,
                IdpFixInfo {
                    app: app.clone(),
                    job_id: job.map(|j| j.job_id.clone()).or(app.job_id.clone()),
                    job_status: match (side, job) {
                        (Some(_), None) => Some("NotConfigured".into()),
                        (_, j) => j.map(|j| j.status.clone()),
                    },
                    quarantine_reason: job
                        .and_then(|j| j.quarantine.as_ref())
                        .map(|q| q.reason.clone()),
                    rule_id: side
                        .and_then(|s| s.mapping.as_ref())
                        .and_then(|m| m.rule_id.clone()),
                },
            )
        })
        .collect()
}

fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut t: String = s.chars().take(max).collect();
    t.push('…');
    t
}

/// The job health of each directory with a configured IdP, ordered by directory name.
pub fn health(
    apps: &HashMap<String, IdpApp>,
    sides: &[IdpSideState],
    latest: Option<&SnapshotInfo>,
    names: &HashMap<String, String>,
) -> Vec<IdpHealth> {
    let mut out: Vec<IdpHealth> = apps
        .iter()
        .map(|(dir, app)| {
            let name = names.get(dir).cloned().unwrap_or_else(|| dir.clone());
            let side = sides.iter().find(|s| &s.directory_id == dir);
            let latest_source = latest.and_then(|l| {
                l.sources.iter().find(|s| {
                    s.source.starts_with("idp:") && s.directory_id.as_deref() == Some(dir)
                })
            });
            one(&name, dir, app, side, latest_source)
        })
        .collect();
    out.sort_by(|a, b| a.directory.cmp(&b.directory));
    out
}

/// Adds to each directory's health what its IdP users tell (the current ones): the intended users
/// whose enabled state is unknown, and those not provisioned by design (members of an assigned
/// group that confers no intent), each named.
pub fn attach_user_counts(health: &mut [IdpHealth], users: &[IdpUser], sides: &[IdpSideState]) {
    let label = |u: &IdpUser| {
        u.email
            .clone()
            .or_else(|| u.user_principal_name.clone())
            .unwrap_or_else(|| u.id.clone())
    };
    for h in health.iter_mut() {
        let of_dir = || users.iter().filter(|u| u.directory_id == h.directory_id);
        let unknown: Vec<&IdpUser> = of_dir()
            .filter(|u| u.intended && !u.deleted && u.enabled.is_none())
            .collect();
        h.intended_enabled_unknown = unknown.len();
        h.intended_enabled_unknown_users = unknown
            .iter()
            .take(IdpHealth::NAMED)
            .map(|u| label(u))
            .collect();
        let Some(side) = sides.iter().find(|s| s.directory_id == h.directory_id) else {
            continue;
        };
        let no_intent: HashMap<&str, &str> = side
            .groups
            .iter()
            .filter(|g| g.security_enabled == Some(false))
            .map(|g| (g.id.as_str(), g.display_name.as_deref().unwrap_or(&g.id)))
            .collect();
        let mut by_design: Vec<ByDesign> = of_dir()
            .filter(|u| !u.intended && !u.deleted)
            .flat_map(|u| {
                u.groups
                    .iter()
                    .filter_map(|g| no_intent.get(g.as_str()))
                    .map(|g| ByDesign {
                        user: label(u),
                        group: g.to_string(),
                    })
            })
            .collect();
        by_design.sort_by(|a, b| a.user.cmp(&b.user).then(a.group.cmp(&b.group)));
        h.not_provisioned_by_design_total = by_design.len();
        by_design.truncate(IdpHealth::NAMED);
        h.not_provisioned_by_design = by_design;
    }
}

fn one(
    name: &str,
    dir: &str,
    app: &IdpApp,
    side: Option<&IdpSideState>,
    latest: Option<&crate::store::SourceInfo>,
) -> IdpHealth {
    let mut warnings = Vec::new();
    let pulled = side.and_then(|s| s.last_complete_at.clone());
    if pulled.is_none() {
        warnings.push(format!(
            "No complete pull of the IdP of {name} yet: its job and users are unknown, and no IdP finding is raised."
        ));
    }
    if let Some(l) = latest.filter(|l| !l.complete) {
        warnings.push(format!(
            "The latest pull of the IdP of {name} was INCOMPLETE ({}): this shows the last complete one, and its IdP findings are as they were.",
            cut(l.error.as_deref().unwrap_or("incomplete"), 300)
        ));
    }
    let job = side.and_then(|s| s.job.as_ref());
    let okta_app = side.and_then(|s| s.app.as_ref());
    let status = match (side, job, okta_app) {
        (None, _, _) => "not_pulled".to_string(),
        (Some(_), _, Some(a)) => a.status.clone().unwrap_or_else(|| "unknown".into()),
        (Some(_), None, None) => "NotConfigured".to_string(),
        (Some(_), Some(j), None) => j.status.clone(),
    };
    let stalled = match (side, job, okta_app) {
        (None, _, _) => None,
        (Some(_), _, Some(a)) => match a.stall() {
            Ok(Some(Stall::NotActive(s))) => Some(format!("the app is not active (status {s})")),
            Ok(Some(Stall::FeatureOff(f))) => {
                Some(format!("{f} is off: Okta creates no user in Atlassian"))
            }
            Ok(_) => None,
            Err(field) => Some(format!("unknown: the app's {field} could not be read")),
        },
        (Some(_), None, None) => Some("no provisioning job is configured for the app".to_string()),
        (Some(s), Some(j), None) => stalled(j, s.last_complete_at.as_deref()),
    };
    let authentication_failure = side
        .and_then(|s| s.latest_app_failure.as_ref())
        .filter(|e| e.action == crate::model::idp::ProvisioningEvent::APP_AUTHENTICATION_FAILURE)
        .map(|e| {
            format!(
                "{}: {}",
                super::build::display_time(&e.at),
                cut(e.reason.as_deref().unwrap_or("no reason given"), 300)
            )
        });
    let app_health = okta_app.map(|a| IdpAppHealth {
        id: a.id.clone(),
        label: a.label.clone(),
        status: a.status.clone().unwrap_or_else(|| "unknown".into()),
        features: a.features.clone(),
        features_off: a.features_off(),
        authentication_failure: authentication_failure.clone(),
    });
    if let Some(a) = &app_health {
        for off in &a.features_off {
            warnings.push(format!("{name}: {off}."));
        }
        if let Some(f) = &a.authentication_failure {
            warnings.push(format!(
                "{name}: Okta could not authenticate to Atlassian's SCIM API (last seen {f}): nothing is pushed until it can; put the directory's current API key in the app's Provisioning → Integration and Test API Credentials."
            ));
        }
    }
    let logs_readable = side.and_then(IdpSideState::logs_read_in_last_pull);
    if logs_readable == Some(false) {
        let per_user =
            side.is_some_and(|s| s.failures == crate::model::idp::FailureSource::UserState);
        warnings.push(if per_user {
            format!(
                "The System Log of {name} could not be read by the last IdP pull (often a 403: the service app needs okta.logs.read and an admin role covering the System Log; the daemon's log says why): failed pushes still show (by the app users' sync state), unexplained."
            )
        } else {
            format!(
                "The provisioning log of {name} could not be read by the last IdP pull (often a 403: the tenant needs Entra ID P1/P2 and the app AuditLog.Read.All; the daemon's log says why): provisioning_error findings are as they were."
            )
        });
    }
    let mapping = side.and_then(|s| s.mapping.as_ref()).map(|m| IdpMapping {
        derived: m.derived,
        external_id: m.external_id.clone(),
        user_name: m.user_name.clone(),
        email: m.email.clone(),
        rule_id: m.rule_id.clone(),
        note: m.note.clone(),
    });
    if let Some(m) = mapping.as_ref().filter(|m| !m.derived) {
        warnings.push(format!(
            "The attribute mapping of {name} was assumed, not read ({} → externalId, {} → userName, {} → email){}.",
            m.external_id,
            m.user_name,
            m.email,
            m.note
                .as_deref()
                .map(|n| format!(": {n}"))
                .unwrap_or_default()
        ));
    }
    // Group findings rest on whether the job pushes groups: say when that was assumed.
    let assumed_pushed = side.is_some_and(|s| {
        !s.scope_all
            && s.mapping.as_ref().is_none_or(|m| m.groups_pushed.is_none())
            && s.groups.iter().any(|g| g.security_enabled == Some(true))
    });
    if assumed_pushed {
        warnings.push(format!(
            "Whether the provisioning job of {name} pushes groups could not be read from its schema: groups are assumed pushed, so its group findings (group_not_provisioned above all) rest on that assumption."
        ));
    }
    if let Some(why) = side.and_then(|s| s.groups_unread.as_deref()) {
        warnings.push(format!(
            "The pushed groups of {name} could not be read by the last IdP pull ({}): its group findings are as they were.",
            cut(why, 300)
        ));
    }
    let groups = side.map(|s| s.groups.as_slice()).unwrap_or_default();
    IdpHealth {
        directory: name.to_string(),
        directory_id: dir.to_string(),
        idp: side
            .map(|s| s.kind.clone())
            .filter(|k| !k.is_empty())
            .unwrap_or_else(|| app.kind.clone()),
        scope_all: side.is_some_and(|s| s.scope_all),
        last_complete_pull: pulled,
        latest_pull_complete: latest.map(|l| l.complete),
        latest_pull_error: latest.and_then(|l| l.error.clone()),
        job: job.map(|j| {
            let q = j.quarantine.as_ref().filter(|_| j.status == "Quarantine");
            let error = q
                .and_then(|q| error_text(q.error_code.as_deref(), q.error_message.as_deref()))
                .or_else(|| {
                    j.last_execution.as_ref().and_then(|e| {
                        error_text(e.error_code.as_deref(), e.error_message.as_deref())
                    })
                });
            IdpJob {
                job_id: j.job_id.clone(),
                status: j.status.clone(),
                quarantine_reason: q.map(|q| q.reason.clone()),
                quarantined_since: q
                    .and_then(|q| q.series_began.clone().or(q.current_began.clone())),
                next_attempt: q.and_then(|q| q.next_attempt.clone()),
                error: error.map(|e| cut(&e, 300)),
                last_completed_cycle: j
                    .last_completed_cycle()
                    .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
                last_execution_state: j.last_execution.as_ref().and_then(|e| e.state.clone()),
                escrowed: j.last_execution.as_ref().and_then(|e| e.count_escrowed),
                interval_minutes: j.interval_seconds.filter(|s| *s > 0).map(|s| s / 60),
                schedule_state: j.schedule_state.clone(),
            }
        }),
        app: app_health,
        status,
        stalled,
        stalled_finding: None,
        logs_readable,
        logs_read_at: side.and_then(|s| s.logs_read_at.clone()),
        mapping,
        intended_users: side.map_or(0, |s| s.intended_users),
        intended_enabled_users: side.map_or(0, |s| s.intended_enabled_users),
        intended_enabled_unknown: 0,
        intended_enabled_unknown_users: Vec::new(),
        not_provisioned_by_design: Vec::new(),
        not_provisioned_by_design_total: 0,
        skipped_users: side.map_or(0, |s| s.skipped_users),
        assigned_groups: groups.len(),
        security_enabled_groups: groups
            .iter()
            .filter(|g| g.security_enabled == Some(true))
            .count(),
        warnings,
    }
}

fn error_text(code: Option<&str>, message: Option<&str>) -> Option<String> {
    match (code, message) {
        (Some(c), Some(m)) => Some(format!("{c}: {m}")),
        (Some(x), None) | (None, Some(x)) => Some(x.to_string()),
        (None, None) => None,
    }
}

/// Why the job is not healthy as of its last complete IdP pull (`at`), as `provisioning_stalled`
/// judges it; `None` when it is.
fn stalled(job: &ProvisioningJob, at: Option<&str>) -> Option<String> {
    Some(match job.stall(at.and_then(crate::model::parse_utc))? {
        Stall::Quarantined(q) => format!(
            "quarantined ({})",
            q.map_or("reason unknown", |q| q.reason.as_str())
        ),
        Stall::Paused => "paused".into(),
        Stall::NotActive(other) => format!("not active (status {other})"),
        Stall::FeatureOff(feature) => format!("{feature} is off"),
        Stall::NeverCompleted => "it has never completed a cycle".into(),
        Stall::Late {
            interval_seconds, ..
        } => format!(
            "no completed cycle for more than 3 intervals of {} minutes",
            interval_seconds / 60
        ),
    })
}

/// The view of a stored IdP user beside a person.
fn person_user(u: &IdpUser, kind: &str, names: &HashMap<String, String>) -> PersonIdpUser {
    PersonIdpUser {
        directory: names
            .get(&u.directory_id)
            .cloned()
            .unwrap_or_else(|| u.directory_id.clone()),
        idp: kind.to_string(),
        id: u.id.clone(),
        user_principal_name: u.user_principal_name.clone(),
        email: u.email.clone(),
        display_name: u.display_name.clone(),
        enabled: u.enabled,
        intended: u.intended,
        deleted: u.deleted,
        nested_only: u.nested_only,
        scim_external_id: u.scim_external_id.clone(),
    }
}

/// Sets each person's IdP users: those its findings name, those whose mapped email is one of the
/// person's emails, and those whose mapped `externalId` is one of its records' (same directory).
pub fn attach_users(
    people: &mut [Person],
    users: &[IdpUser],
    sides: &[IdpSideState],
    names: &HashMap<String, String>,
) {
    let kind_of: HashMap<&str, &str> = sides
        .iter()
        .map(|s| (s.directory_id.as_str(), s.kind.as_str()))
        .collect();
    let by_id: HashMap<(&str, &str), &IdpUser> = users
        .iter()
        .map(|u| ((u.directory_id.as_str(), u.id.as_str()), u))
        .collect();
    let mut by_email: HashMap<String, Vec<&IdpUser>> = HashMap::new();
    for u in users {
        if let Some(e) = u
            .email
            .as_deref()
            .map(normalize_email)
            .filter(|e| !e.is_empty())
        {
            by_email.entry(e).or_default().push(u);
        }
    }
    let mut by_external: HashMap<(&str, &str), Vec<&IdpUser>> = HashMap::new();
    for u in users {
        if let Some(x) = u.scim_external_id.as_deref() {
            by_external
                .entry((u.directory_id.as_str(), x))
                .or_default()
                .push(u);
        }
    }
    let name_to_id: HashMap<&str, &str> = names
        .iter()
        .map(|(id, name)| (name.as_str(), id.as_str()))
        .collect();
    for p in people.iter_mut() {
        let mut out: Vec<PersonIdpUser> = Vec::new();
        let mut seen: HashSet<(String, String)> = HashSet::new();
        let mut add = |v: PersonIdpUser| {
            if seen.insert((v.directory.clone(), v.id.clone())) {
                out.push(v);
            }
        };
        for v in p.findings.iter().flat_map(|f| &f.idp_users) {
            let dir = name_to_id.get(v.directory.as_str()).copied().unwrap_or("");
            match by_id.get(&(dir, v.id.as_str())) {
                Some(u) => add(person_user(u, &v.idp, names)),
                None => add(PersonIdpUser {
                    directory: v.directory.clone(),
                    idp: v.idp.clone(),
                    id: v.id.clone(),
                    user_principal_name: v.user_principal_name.clone(),
                    email: v.email.clone(),
                    display_name: None,
                    enabled: v.enabled,
                    intended: v.intended,
                    deleted: false,
                    nested_only: false,
                    scim_external_id: None,
                }),
            }
        }
        let emails: Vec<String> = p
            .email
            .iter()
            .chain(&p.other_emails)
            .map(|e| normalize_email(e))
            .collect();
        for e in &emails {
            for u in by_email.get(e).into_iter().flatten() {
                let kind = kind_of.get(u.directory_id.as_str()).copied().unwrap_or("");
                add(person_user(u, kind, names));
            }
        }
        for r in p.subjects.iter().filter_map(|s| s.scim_user.as_ref()) {
            let Some(x) = r.external_id.as_deref() else {
                continue;
            };
            for u in by_external
                .get(&(r.directory_id.as_str(), x))
                .into_iter()
                .flatten()
            {
                let kind = kind_of.get(u.directory_id.as_str()).copied().unwrap_or("");
                add(person_user(u, kind, names));
            }
        }
        p.idp_users = out;
    }
}

/// Links each open `provisioning_error` whose event says "already exists" with the open
/// `email_conflict` findings about the same email (both ways), so the report shows them together.
pub fn relate_conflicts(open: &mut [ReportFinding]) {
    let emails = |f: &ReportFinding| -> HashSet<String> {
        f.scim_users
            .iter()
            .filter_map(|u| u.email.as_deref())
            .chain(f.accounts.iter().filter_map(|a| a.email.as_deref()))
            .chain(f.idp_users.iter().filter_map(|u| u.email.as_deref()))
            .map(normalize_email)
            .filter(|e| !e.is_empty())
            .collect()
    };
    let errors: Vec<(usize, HashSet<String>)> = open
        .iter()
        .enumerate()
        .filter(|(_, f)| {
            f.kind == Kind::ProvisioningError
                && f.provisioning.as_ref().is_some_and(says_already_exists)
        })
        .map(|(i, f)| (i, emails(f)))
        .collect();
    let conflicts: Vec<(usize, HashSet<String>)> = open
        .iter()
        .enumerate()
        .filter(|(_, f)| f.kind == Kind::EmailConflict)
        .map(|(i, f)| (i, emails(f)))
        .collect();
    for (e, e_mails) in &errors {
        for (c, c_mails) in &conflicts {
            let Some(email) = e_mails.intersection(c_mails).min() else {
                continue;
            };
            let (err_id, conflict_id) = (open[*e].id.clone(), open[*c].id.clone());
            open[*e].related.push(RelatedFinding {
                id: conflict_id,
                kind: Kind::EmailConflict,
                note: format!(
                    "the IdP's view of the email_conflict about {email}: Atlassian refused the create because another account holds the email; fix that conflict, then retry"
                ),
            });
            open[*c].related.push(RelatedFinding {
                id: err_id,
                kind: Kind::ProvisioningError,
                note: format!(
                    "the IdP's provisioning log shows the same conflict about {email} (\"already exists\")"
                ),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::findings::Status;

    fn info(sp: Option<&str>, job: Option<&str>, rule: Option<&str>) -> IdpFixInfo {
        IdpFixInfo {
            app: IdpApp {
                kind: "entra".into(),
                service_principal_id: sp.map(String::from),
                app_id: Some("app-1".into()),
                job_id: None,
                graph_base_url: "https://graph.microsoft.com/v1.0".into(),
            },
            job_id: job.map(String::from),
            job_status: Some("Quarantine".into()),
            quarantine_reason: Some("EncounteredQuarantineException".into()),
            rule_id: rule.map(String::from),
        }
    }

    fn finding(kind: Kind) -> FindingView {
        FindingView {
            id: "f".into(),
            kind,
            severity: kind.severity(),
            status: Status::Open,
            first_seen: String::new(),
            last_seen: String::new(),
            resolved_at: None,
            seen_count: 1,
            scim_users: Vec::new(),
            accounts: Vec::new(),
            idp_users: vec![IdpUserView {
                directory: "entra".into(),
                idp: "entra".into(),
                id: "u-1".into(),
                user_principal_name: Some("ivy@example.com".into()),
                email: Some("ivy@example.com".into()),
                enabled: Some(true),
                intended: true,
            }],
            groups: Vec::new(),
            provisioning: None,
            summary: String::new(),
            suggested_fix: String::new(),
            suppressed_by: None,
            undetermined: Vec::new(),
        }
    }

    fn lines(r: &[FixRequest]) -> Vec<String> {
        r.iter()
            .map(|r| format!("{} {}", r.method, r.path))
            .collect()
    }

    #[test]
    fn provision_on_demand_names_the_user_and_the_rule() {
        let i = info(Some("sp-1"), Some("job.1"), Some("rule-1"));
        let (steps, r) = fix(&finding(Kind::AssignedNotProvisioned), Some(&i));
        assert_eq!(
            lines(&r),
            ["POST /servicePrincipals/sp-1/synchronization/jobs/job.1/provisionOnDemand"]
        );
        assert_eq!(r[0].api, GRAPH_API);
        assert_eq!(r[0].base_url, "https://graph.microsoft.com/v1.0");
        let body: serde_json::Value = serde_json::from_str(r[0].body.as_deref().unwrap()).unwrap();
        assert_eq!(body["parameters"][0]["subjects"][0]["objectId"], "u-1");
        assert_eq!(
            body["parameters"][0]["subjects"][0]["objectTypeName"],
            "User"
        );
        assert_eq!(body["parameters"][0]["ruleId"], "rule-1");
        assert!(r[0].key.contains("Synchronization.ReadWrite.All"));
        assert_eq!(
            steps[0].path,
            "Enterprise applications → Atlassian Cloud → Provisioning → Provision on demand"
        );
        assert!(steps[0].note.contains("ivy@example.com"));
    }

    #[test]
    fn unknown_ids_stay_placeholders_with_their_lookups() {
        let i = info(None, None, None);
        let (_, r) = fix(&finding(Kind::ProvisioningError), Some(&i));
        assert_eq!(
            lines(&r),
            [
                "GET /servicePrincipals?$filter=appId eq 'app-1'&$select=id,appId,displayName",
                "GET /servicePrincipals/{spId}/synchronization/jobs",
                "GET /servicePrincipals/{spId}/synchronization/jobs/{jobId}/schema",
                "POST /servicePrincipals/{spId}/synchronization/jobs/{jobId}/provisionOnDemand",
            ]
        );
    }

    #[test]
    fn a_quarantined_job_is_restarted_like_the_portal_does() {
        let i = info(Some("sp-1"), Some("job-1"), None);
        let mut f = finding(Kind::ProvisioningStalled);
        f.idp_users.clear();
        let (steps, r) = fix(&f, Some(&i));
        assert_eq!(
            lines(&r),
            ["POST /servicePrincipals/sp-1/synchronization/jobs/job-1/restart"]
        );
        assert_eq!(
            r[0].body.as_deref(),
            Some(r#"{"criteria":{"resetScope":"Watermark, Escrows, QuarantineState"}}"#)
        );
        assert!(
            steps
                .iter()
                .any(|s| s.path.ends_with("Provisioning → Restart provisioning"))
        );
        assert!(steps[0].note.contains("Test Connection"));
    }

    #[test]
    fn only_entra_gets_entra_fixes() {
        let mut i = info(Some("sp-1"), Some("job-1"), Some("r"));
        i.app.kind = "okta".into();
        assert!(
            fix(&finding(Kind::AssignedNotProvisioned), Some(&i))
                .1
                .is_empty()
        );
        assert!(
            fix(&finding(Kind::AssignedNotProvisioned), None)
                .1
                .is_empty()
        );
    }

    #[test]
    fn ids_are_escaped() {
        let i = info(Some("sp/1"), Some("job 1"), Some("r"));
        let (_, r) = fix(&finding(Kind::AssignedNotProvisioned), Some(&i));
        assert_eq!(
            r[0].path,
            "/servicePrincipals/sp%2F1/synchronization/jobs/job%201/provisionOnDemand"
        );
    }
}
