//! The IdP side of a snapshot (../shared/idp-api.md): what the identity provider intends to
//! provision to its Atlassian Cloud app, its provisioning job, and its provisioning log. Normalized
//! here from Entra ID (and later Okta) so the store and the detectors never see a vendor's shape.

use serde::{Deserialize, Serialize};

/// One IdP user (Entra: a Graph `user`; Okta: an app user with its Okta user), joined to SCIM
/// records as idp-api.md §3 says.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdpUser {
    /// The SCIM directory this IdP provisions into.
    pub directory_id: String,
    /// The IdP's user id (Entra object id).
    pub id: String,
    pub user_principal_name: Option<String>,
    /// Entra `mail` (null without a mailbox).
    pub mail: Option<String>,
    pub display_name: Option<String>,
    /// Entra `userType` (`Member`, `Guest`).
    pub user_type: Option<String>,
    /// Entra `accountEnabled`; `None` when the IdP sent null (unknown, never false).
    pub enabled: Option<bool>,
    /// Assigned to the app directly, or a direct member of an assigned security-enabled group
    /// (scenarios.md "IdP findings", *intended*), whether or not enabled.
    pub intended: bool,
    /// Assigned to the app directly (a `User` app-role assignment).
    pub assigned_directly: bool,
    /// The assigned groups the user is a direct member of.
    pub groups: Vec<String>,
    /// Reachable only through a group nested in an assigned group (Entra does not provision it).
    pub nested_only: bool,
    /// Named by an assignment or a group, but the user read answered 404; or found soft-deleted
    /// when a SCIM record's `externalId` was looked up: deleted in the IdP.
    pub deleted: bool,
    /// When it was deleted (`deletedDateTime` of a soft-deleted user), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<String>,
    /// The SCIM record id the IdP says it provisioned the user as (Okta: the app user's
    /// `externalId`; absent until provisioned): the strongest join key (idp-api.md §3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scim_id: Option<String>,
    /// The user's push state, for an IdP that keeps one per user (Okta app user `syncState`:
    /// `ERROR` is a failed push, idp-api.md §2.2), as sent; `None` for Entra (its failures are in
    /// the log) or when unreadable (then `syncState` is in `unknown`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_state: Option<String>,
    /// The IdP's own status of the user, as sent (Okta: `ACTIVE`, `SUSPENDED`, `DEPROVISIONED`,
    /// …; Entra has none beyond `enabled`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// What the job's attribute mapping sends as SCIM `externalId` (default: the object id).
    pub scim_external_id: Option<String>,
    /// What the mapping sends as SCIM `userName` (default: `userPrincipalName`).
    pub scim_user_name: Option<String>,
    /// What the mapping sends as the SCIM work email (default: `mail`, else `userPrincipalName`).
    pub email: Option<String>,
    /// What this pull could not read about the user, by the Graph field (`accountEnabled`, `mail`,
    /// …), and `intent` when whether the IdP intends the user is unknown (an assignment or an
    /// assigned group that could not be read may carry it): unknown, never evidence.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unknown: Vec<String>,
}

impl IdpUser {
    /// The pseudo-field of an intent that could not be decided ([`IdpUser::unknown`]).
    pub const INTENT: &'static str = "intent";

    /// The field of a per-user push state ([`IdpUser::sync_state`]).
    pub const SYNC_STATE: &'static str = "syncState";

    /// The field of an Okta user's status, which decides *enabled* and *intended*.
    pub const OKTA_STATUS: &'static str = "user.status";

    /// Okta's push states (`syncState`) that are not a failure.
    const NOT_FAILED: [&'static str; 4] = ["DISABLED", "OUT_OF_SYNC", "SYNCING", "SYNCHRONIZED"];

    /// Whether the IdP's last push of the user failed, by its per-user push state: `Some(true)`
    /// for `ERROR`, `Some(false)` for another known state, `None` when the state is unknown (an
    /// unknown value included: stored as sent, never read as "not failed") or the IdP keeps none.
    pub fn push_failed(&self) -> Option<bool> {
        let s = self.sync_state.as_deref()?.trim();
        if s.eq_ignore_ascii_case("ERROR") {
            Some(true)
        } else if Self::NOT_FAILED.iter().any(|k| k.eq_ignore_ascii_case(s)) {
            Some(false)
        } else {
            None
        }
    }
}

/// Where an IdP tells that provisioning a user failed (scenarios.md `provisioning_error`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureSource {
    /// The user's latest provisioning log event (Entra): needs the log.
    #[default]
    LatestEvent,
    /// A per-user push state ([`IdpUser::sync_state`], Okta): the log only explains it.
    UserState,
}

/// The app an IdP provisions Atlassian through, for an IdP without a job object (Okta,
/// idp-api.md §2.2: `GET /api/v1/apps/{appId}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdpApp {
    pub id: String,
    pub label: Option<String>,
    /// `ACTIVE`, `INACTIVE`, `DELETED`, or an unknown value as sent; `None` when unreadable.
    pub status: Option<String>,
    /// The provisioning features on (`PUSH_NEW_USERS`, `PUSH_PROFILE_UPDATES`,
    /// `PUSH_USER_DEACTIVATION`, `GROUP_PUSH`, …); `None` when unreadable.
    pub features: Option<Vec<String>>,
}

impl IdpApp {
    /// Creates users in Atlassian.
    pub const PUSH_NEW_USERS: &'static str = "PUSH_NEW_USERS";
    /// Updates their profiles.
    pub const PUSH_PROFILE_UPDATES: &'static str = "PUSH_PROFILE_UPDATES";
    /// Sends `active:false` when a user is unassigned or deactivated ("Deactivate Users").
    pub const PUSH_USER_DEACTIVATION: &'static str = "PUSH_USER_DEACTIVATION";
    /// Pushes groups.
    pub const GROUP_PUSH: &'static str = "GROUP_PUSH";

    /// The provisioning features whose absence the report states, with the Admin Console's name.
    pub const NAMED_FEATURES: [(&'static str, &'static str); 4] = [
        (Self::PUSH_NEW_USERS, "Create Users"),
        (Self::PUSH_PROFILE_UPDATES, "Update User Attributes"),
        (Self::PUSH_USER_DEACTIVATION, "Deactivate Users"),
        (Self::GROUP_PUSH, "Push Groups"),
    ];

    /// One sentence per provisioning feature that is off, saying what it costs (the report,
    /// `check-config --online`); empty when all are on or the features are unknown.
    pub fn features_off(&self) -> Vec<String> {
        Self::NAMED_FEATURES
            .iter()
            .filter(|(f, _)| self.has(f) == Some(false))
            .map(|(f, name)| match *f {
                Self::PUSH_NEW_USERS => {
                    format!("{name} ({f}) is off: Okta creates no user in Atlassian")
                }
                Self::PUSH_PROFILE_UPDATES => format!(
                    "{name} ({f}) is off: email and name changes in Okta never reach Atlassian"
                ),
                Self::PUSH_USER_DEACTIVATION => format!(
                    "{name} ({f}) is off: leavers keep access until an admin deactivates them in Atlassian (Okta never sends active:false)"
                ),
                _ => format!(
                    "{name} ({f}) is off: Okta pushes no group, so product access by group never follows Okta"
                ),
            })
            .collect()
    }

    /// The bounded set of app status labels (metrics): Okta's, and `unknown` for anything else.
    pub const STATUSES: [&'static str; 4] = ["ACTIVE", "INACTIVE", "DELETED", "unknown"];

    /// The app's status as one of [`Self::STATUSES`].
    pub fn status_label(&self) -> &'static str {
        Self::STATUSES
            .iter()
            .find(|s| **s != "unknown" && self.status.as_deref().map(str::trim) == Some(**s))
            .copied()
            .unwrap_or("unknown")
    }

    /// Whether `feature` is on; `None` when the features are unknown.
    pub fn has(&self, feature: &str) -> Option<bool> {
        self.features
            .as_ref()
            .map(|f| f.iter().any(|x| x.eq_ignore_ascii_case(feature)))
    }

    /// Why the app provisions nothing (scenarios.md `provisioning_stalled` for Okta): its status
    /// is `INACTIVE` or `DELETED`, or `PUSH_NEW_USERS` is off. `Ok(None)` when healthy;
    /// `Err(field)` when what decides it is unknown (an unreadable status or features, or a status
    /// Okta does not document: never read as "not active").
    pub fn stall(&self) -> Result<Option<Stall<'_>>, &'static str> {
        match self.status.as_deref().map(str::trim) {
            Some(s) if s.eq_ignore_ascii_case("ACTIVE") => {}
            Some(s) if s.eq_ignore_ascii_case("INACTIVE") || s.eq_ignore_ascii_case("DELETED") => {
                return Ok(Some(Stall::NotActive(s)));
            }
            _ => return Err("status"),
        }
        match self.has(Self::PUSH_NEW_USERS) {
            None => Err("features"),
            Some(false) => Ok(Some(Stall::FeatureOff(Self::PUSH_NEW_USERS))),
            Some(true) => Ok(None),
        }
    }
}

/// The attribute mapping of the provisioning job's user rule (idp-api.md §1.3): which IdP
/// attribute feeds each SCIM attribute scimdrift joins on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mapping {
    /// Source attribute of SCIM `externalId` (Entra: `objectId`).
    pub external_id: String,
    /// Source attribute of SCIM `userName` (Entra: `userPrincipalName`).
    pub user_name: String,
    /// Source attribute of the SCIM work email (Entra: `mail`).
    pub email: String,
    /// The user rule's id (`ruleId` of provision on demand).
    pub rule_id: Option<String>,
    /// False when the schema could not be read (or named an attribute scimdrift cannot
    /// evaluate) and the defaults were assumed; `note` says why.
    pub derived: bool,
    pub note: Option<String>,
    /// Whether the job pushes groups (idp-api.md §1.3): an enabled `objectMappings` entry whose
    /// `sourceObjectName` is `Group`. `Some(false)`: the schema was read and maps no groups (no
    /// group finding); `None`: not read, groups assumed pushed (scenarios.md "Group findings").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups_pushed: Option<bool>,
}

impl Mapping {
    /// What Okta sends (idp-api.md §3): `externalId` = the Okta user id, `userName` = the app
    /// user's `credentials.userName`, the email = its `profile.email`. Okta's Atlassian app has
    /// no readable schema: read as the documented mapping (`derived` true).
    pub fn okta(groups_pushed: Option<bool>) -> Self {
        Mapping {
            external_id: "id".into(),
            user_name: "credentials.userName".into(),
            email: "profile.email".into(),
            rule_id: None,
            derived: true,
            note: None,
            groups_pushed,
        }
    }

    /// Entra's default mapping for the Atlassian Cloud gallery app, assumed when the schema
    /// cannot be read (`derived` false, with `note`).
    pub fn entra_default(note: impl Into<String>) -> Self {
        Mapping {
            external_id: "objectId".into(),
            user_name: "userPrincipalName".into(),
            email: "mail".into(),
            rule_id: None,
            derived: false,
            note: Some(note.into()),
            groups_pushed: None,
        }
    }
}

/// One run of the provisioning job (`lastExecution`, `lastSuccessfulExecution`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Execution {
    /// RFC 3339; `None` for the year-1 "never" sentinel or an absent time.
    pub began: Option<String>,
    pub ended: Option<String>,
    /// `Succeeded`, `Failed`, `EntryLevelErrors`, or an unknown value as sent.
    pub state: Option<String>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    /// `countEscrowed`: changes the run held back (Entra escrows deletions beyond the
    /// accidental-deletions threshold, and entries it will retry).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count_escrowed: Option<u64>,
}

/// A quarantined job's quarantine (idp-api.md §1.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quarantine {
    /// One of the documented reasons (`QuarantineOnDemand` read as `QuarantinedOnDemand`) or an
    /// unknown value as sent.
    pub reason: String,
    pub series_began: Option<String>,
    pub current_began: Option<String>,
    pub next_attempt: Option<String>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
}

/// The directory's provisioning job (Entra `synchronization/jobs`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProvisioningJob {
    pub job_id: String,
    pub template_id: Option<String>,
    /// `status.code`: `NotConfigured`, `NotRun`, `Active`, `Paused`, `Quarantine`, or unknown.
    pub status: String,
    /// `schedule.state`: `Active`, `Disabled`, `Paused`.
    pub schedule_state: Option<String>,
    /// `schedule.interval` in seconds (ISO-8601 duration parsed).
    pub interval_seconds: Option<i64>,
    pub last_execution: Option<Execution>,
    pub last_successful_execution: Option<Execution>,
    pub successive_failures: Option<i64>,
    pub quarantine: Option<Quarantine>,
    pub steady_state_last_achieved: Option<String>,
}

/// What the metrics export of a complete IdP side: its provisioning job (Entra; `None`: the
/// IdP has none for the app), or its app (Okta, which has no job object).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProvisioningHealth {
    pub job: Option<ProvisioningJob>,
    pub app: Option<IdpApp>,
}

/// Why a provisioning job is stalled ([`ProvisioningJob::stall`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stall<'a> {
    Quarantined(Option<&'a Quarantine>),
    Paused,
    /// Any status other than `Active`, `Paused` and `Quarantine`, as sent.
    NotActive(&'a str),
    NeverCompleted,
    /// A provisioning feature the app needs is off (Okta `PUSH_NEW_USERS`).
    FeatureOff(&'static str),
    /// The last completed cycle ended more than 3 intervals ago.
    Late {
        last: chrono::DateTime<chrono::Utc>,
        interval_seconds: i64,
    },
}

/// One provisioning log event (Entra `auditLogs/provisioning`), deduplicated by `id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProvisioningEvent {
    pub id: String,
    /// `activityDateTime`, RFC 3339.
    pub at: String,
    pub job_id: Option<String>,
    pub cycle_id: Option<String>,
    /// `create`, `update`, `disable`, `delete`, `stagedDelete`, `other`, or unknown, as sent.
    pub action: String,
    /// `success`, `failure`, `skipped`, `warning` (lower-cased), or unknown as sent.
    pub status: String,
    /// `errorInformation.errorCode`, verbatim.
    pub error_code: Option<String>,
    /// `errorInformation.reason` and `additionalDetails`, joined, at most 1000 characters.
    pub reason: Option<String>,
    /// `sourceIdentity.id`: the IdP user.
    pub user_id: Option<String>,
    /// `targetIdentity.id`: the SCIM id, when the target had one.
    pub target_id: Option<String>,
}

impl ProvisioningEvent {
    /// Okta's System Log event of the app failing to authenticate to Atlassian's SCIM API (its
    /// API token refused): about no user (idp-api.md §2.3).
    pub const APP_AUTHENTICATION_FAILURE: &'static str =
        "application.integration.authentication_failure";

    /// A failed event (`failure`).
    pub fn failed(&self) -> bool {
        self.status.eq_ignore_ascii_case("failure")
    }

    /// The failure is Atlassian refusing an email another account holds ("Resource [USER]: with
    /// email[…] already exists", idp-api.md §1.3): see [`is_email_conflict`].
    pub fn is_email_conflict(&self) -> bool {
        is_email_conflict(self.reason.as_deref(), self.error_code.as_deref())
    }
}

/// A provisioning failure that is Atlassian refusing an email another account holds: its text says
/// "already exists", or its error code ends in `EntryConflict` whatever prefix the app gives it
/// (`SystemForCrossDomainIdentityManagementServiceEntryConflict`, `ContosoEntryConflict`;
/// scenarios.md "IdP findings").
pub fn is_email_conflict(reason: Option<&str>, error_code: Option<&str>) -> bool {
    reason.is_some_and(|r| r.to_ascii_lowercase().contains("already exists"))
        || error_code.is_some_and(|c| c.trim().to_ascii_lowercase().ends_with("entryconflict"))
}

/// What the provisioning log tells, for one pull.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum LogFacts {
    /// The log was read to its end since `since`.
    Known { since: String },
    /// The log could not be read (403 / unlicensed tenant, or incomplete): facts derived from it
    /// are unknown; intent is unaffected (idp-api.md §5).
    Unknown { reason: String },
}

/// An app-assigned group (idp-api.md §1.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssignedGroup {
    pub id: String,
    pub display_name: Option<String>,
    /// Only security-enabled groups confer intent; members of the others are not provisioned by
    /// design.
    pub security_enabled: Option<bool>,
    /// Direct user members.
    pub members: usize,
    /// Nested groups (recorded, not intent).
    pub nested_groups: Vec<String>,
    /// Okta: the group's push mapping is in `ERROR` (it pushes no memberships), with its
    /// `errorSummary` (or a placeholder when it had none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub push_error: Option<String>,
}

/// The whole IdP side of one directory in one pull. Complete or not is in the pull's
/// `SourceStatus` (source `idp:<directory name>`); an incomplete side is never stored as state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdpSide {
    pub directory_id: String,
    /// `entra` or `okta`.
    pub kind: String,
    /// `idp.scope = "all"`: assignment-based intent is not computed, only the job and the log
    /// are used.
    pub scope_all: bool,
    /// Every user the IdP side names or the tenant lists (intended or not), by id.
    pub users: Vec<IdpUser>,
    pub groups: Vec<AssignedGroup>,
    pub job: Option<ProvisioningJob>,
    /// The app, for an IdP without a job object (Okta).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app: Option<IdpApp>,
    /// Where a user's failed provisioning shows.
    #[serde(default)]
    pub failures: FailureSource,
    /// Why the pushed groups could not be read (Okta: the group-push mappings unreadable): every
    /// group finding of the directory is undetermined (as it was), the pull stays complete.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups_unread: Option<String>,
    pub mapping: Mapping,
    /// New log events of this read (since the last one, with overlap).
    pub events: Vec<ProvisioningEvent>,
    pub logs: LogFacts,
}

impl ProvisioningJob {
    /// The bounded set of job status labels (metrics, the report): Entra's `status.code` values,
    /// and `unknown` for anything else.
    pub const STATUSES: [&'static str; 6] = [
        "NotConfigured",
        "NotRun",
        "Active",
        "Paused",
        "Quarantine",
        "unknown",
    ];

    /// The interval assumed when the job does not say (Entra cycles about every 40 minutes), as
    /// the `provisioning_stalled` detector does.
    pub const DEFAULT_INTERVAL_SECONDS: i64 = 40 * 60;

    /// The job's interval in seconds, or [`Self::DEFAULT_INTERVAL_SECONDS`].
    pub fn interval_or_default(&self) -> i64 {
        self.interval_seconds
            .filter(|s| *s > 0)
            .unwrap_or(Self::DEFAULT_INTERVAL_SECONDS)
    }

    /// The job's status as one of [`Self::STATUSES`] (an unknown code is `unknown`).
    pub fn status_label(&self) -> &'static str {
        Self::STATUSES
            .iter()
            .find(|s| **s != "unknown" && **s == self.status)
            .copied()
            .unwrap_or("unknown")
    }

    /// When the job last completed a cycle (`Succeeded` or `EntryLevelErrors`, scenarios.md
    /// `provisioning_stalled`): the later end of the last execution and the last successful one.
    pub fn last_completed_cycle(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        [&self.last_successful_execution, &self.last_execution]
            .into_iter()
            .flatten()
            .filter(|e| matches!(e.state.as_deref(), Some("Succeeded" | "EntryLevelErrors")))
            .filter_map(|e| e.ended.as_deref())
            .filter_map(super::parse_utc)
            .max()
    }

    /// Why the job is stalled (scenarios.md `provisioning_stalled`): quarantined, paused or not
    /// active; or, judged at `now`, no completed cycle for more than 3 of its intervals. `None`
    /// when healthy (or, without `now`, when only the cycles could tell). Judged here once for
    /// detection and the report, which word it each their own way.
    pub fn stall(&self, now: Option<chrono::DateTime<chrono::Utc>>) -> Option<Stall<'_>> {
        match self.status.as_str() {
            "Quarantine" => return Some(Stall::Quarantined(self.quarantine.as_ref())),
            "Paused" => return Some(Stall::Paused),
            "Active" => {}
            other => return Some(Stall::NotActive(other)),
        }
        let now = now?;
        let interval_seconds = self.interval_or_default();
        match self.last_completed_cycle() {
            None => Some(Stall::NeverCompleted),
            Some(last)
                if now - last > chrono::Duration::seconds(interval_seconds.saturating_mul(3)) =>
            {
                Some(Stall::Late {
                    last,
                    interval_seconds,
                })
            }
            Some(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::is_email_conflict;

    /// scenarios.md: matched on "already exists" or a code ending in `EntryConflict`, whatever
    /// prefix the app gives it.
    #[test]
    fn an_email_conflict_by_its_text_or_any_prefixed_code() {
        let text = Some("Resource [USER]: with email[mo@example.com] Already Exists.");
        assert!(is_email_conflict(text, None));
        for code in [
            "EntryConflict",
            "SystemForCrossDomainIdentityManagementServiceEntryConflict",
            "ContosoEntryConflict",
            " contosoentryconflict ",
        ] {
            assert!(is_email_conflict(Some("Conflict."), Some(code)), "{code}");
        }
        assert!(!is_email_conflict(
            Some("Timeout"),
            Some("EntryConflictRetry")
        ));
        assert!(!is_email_conflict(Some("Timeout"), Some("Timeout")));
        assert!(!is_email_conflict(None, None));
    }

    #[test]
    fn an_unknown_push_state_or_app_status_decides_nothing() {
        let user = |state: Option<&str>| super::IdpUser {
            sync_state: state.map(str::to_string),
            ..Default::default()
        };
        assert_eq!(user(Some("ERROR")).push_failed(), Some(true));
        assert_eq!(user(Some("SYNCHRONIZED")).push_failed(), Some(false));
        assert_eq!(user(Some("PENDING_RETRY")).push_failed(), None);
        assert_eq!(user(None).push_failed(), None);
        let app = |status: Option<&str>, features: Option<&[&str]>| super::IdpApp {
            id: "0oa1".into(),
            label: None,
            status: status.map(str::to_string),
            features: features.map(|f| f.iter().map(|x| x.to_string()).collect()),
        };
        let push: &[&str] = &["PUSH_NEW_USERS"];
        assert_eq!(app(Some("ACTIVE"), Some(push)).stall(), Ok(None));
        assert!(matches!(
            app(Some("DELETED"), Some(push)).stall(),
            Ok(Some(super::Stall::NotActive("DELETED")))
        ));
        assert_eq!(
            app(Some("ACTIVE_PENDING"), Some(push)).stall(),
            Err("status")
        );
        assert_eq!(app(None, Some(push)).stall(), Err("status"));
        assert_eq!(app(Some("ACTIVE"), None).stall(), Err("features"));
        assert!(matches!(
            app(Some("ACTIVE"), Some(&[])).stall(),
            Ok(Some(super::Stall::FeatureOff("PUSH_NEW_USERS")))
        ));
    }
}
