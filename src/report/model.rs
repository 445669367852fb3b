//! The report document. Its JSON (`scimdrift report --format json`, the `reports` table, webhook
//! payloads) is a contract: fields may be added, none renamed or removed without bumping
//! [`REPORT_VERSION`]. See docs/report.md (*JSON shape*) for the shape.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::detect::{Kind, Severity};
use crate::findings::{AccountView, IdpUserView, ProvisioningView, ScimUserView, Status};
use crate::ignore::Suppression;

/// Version of the JSON shape.
pub const REPORT_VERSION: u32 = 1;

/// One daily findings report, built from the store alone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub report_version: u32,
    pub org_id: String,
    /// The report's day (in the schedule's time zone).
    pub date: NaiveDate,
    /// RFC 3339, UTC.
    pub generated_at: String,
    pub period: Period,
    pub freshness: Freshness,
    pub summary: Summary,
    /// Open findings grouped by person, most severe person first.
    pub people: Vec<Person>,
    /// Findings resolved since the compared point.
    pub resolved: Vec<ReportFinding>,
    /// Findings an ignore rule suppresses (with the rule's reason and expiry).
    pub suppressed: Vec<ReportFinding>,
    /// Unmanaged accounts whose display name equals a synced account's (maybe one person, two emails).
    pub hints: Vec<NameHint>,
    pub remediation: Remediation,
    /// Fields the last complete pull could not read (left unknown, records kept).
    #[serde(default)]
    pub data_quality: DataQualitySection,
    /// The health of each configured IdP's provisioning job, per directory (shown at the top).
    #[serde(default)]
    pub idp: Vec<IdpHealth>,
    /// Where the report links to: the daemon's `/person`, admin hub, the IdP's admin console.
    #[serde(default)]
    pub links: Links,
    /// Open findings by severity at the end of each of the last 30 days, oldest first (suppressed
    /// ones left out).
    #[serde(default)]
    pub trend: Vec<TrendDay>,
    /// Each pushed IdP group beside the SCIM group it joined (scenarios.md "Group findings"),
    /// the groups with open findings first.
    #[serde(default)]
    pub groups: Vec<GroupRow>,
}

/// One pushed IdP group of the Groups section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupRow {
    /// The directory's configured name.
    pub directory: String,
    pub idp_group_id: String,
    /// The IdP group's name.
    pub name: Option<String>,
    /// The SCIM group it joined, its name, and the key that joined them (`None`: not provisioned).
    pub scim_group_id: Option<String>,
    pub scim_name: Option<String>,
    pub joined_by: Option<crate::detect::GroupKey>,
    /// Two SCIM groups match it by the same key (or it shares a name join with another IdP
    /// group): joined to none, and no group finding decides it.
    #[serde(default)]
    pub ambiguous: bool,
    /// Direct user members in the IdP; members of the SCIM group.
    pub idp_members: usize,
    pub scim_members: usize,
    /// Open `group_membership_missing` and `group_membership_extra` findings about it.
    pub missing: usize,
    pub extra: usize,
    /// An open `group_not_provisioned` is about it.
    pub not_provisioned: bool,
}

/// One group of a person (see [`crate::groups`]).
pub use crate::groups::PersonGroup;

/// Open findings by severity at the end of one day (the report's day: at generation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrendDay {
    pub date: NaiveDate,
    pub critical: usize,
    pub high: usize,
    pub medium: usize,
    pub low: usize,
}

impl TrendDay {
    pub fn total(&self) -> usize {
        self.critical + self.high + self.medium + self.low
    }
}

/// The bases of the report's links, from the configuration (`[report] public_url` or `[server]
/// public_url`, `[report] admin_hub_url`, `[report] entra_admin_url`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Links {
    /// The daemon's public base URL; `None`: the report names the `scimdrift person` command
    /// instead of linking (a relative link goes nowhere in an e-mail or a saved file).
    pub public_url: Option<String>,
    /// Atlassian Administration, `https://admin.atlassian.com` by default.
    pub admin_hub: String,
    /// The Microsoft Entra admin center, `https://entra.microsoft.com` by default.
    pub entra_admin: String,
}

impl Default for Links {
    fn default() -> Self {
        Links {
            public_url: None,
            admin_hub: "https://admin.atlassian.com".into(),
            entra_admin: "https://entra.microsoft.com".into(),
        }
    }
}

fn url_component(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

impl Links {
    /// The daemon's page of one person, absolute; `None` without a public URL.
    pub fn person(&self, email: &str) -> Option<String> {
        self.public_url.as_deref().map(|base| {
            format!(
                "{}/person?email={}",
                base.trim_end_matches('/'),
                url_component(email)
            )
        })
    }

    /// An account's page in admin hub: the managed account's profile (Directory → Managed
    /// accounts) when managed, else its page under Directory → Users.
    pub fn account(&self, org_id: &str, account_id: &str, managed: bool) -> String {
        let page = if managed { "members" } else { "users" };
        format!(
            "{}/o/{}/{page}/{}",
            self.admin_hub.trim_end_matches('/'),
            url_component(org_id),
            url_component(account_id)
        )
    }

    /// An IdP user's page in its admin console (`entra`: the Entra admin center's user profile);
    /// `None` for an IdP kind without one.
    pub fn idp_user(&self, idp: &str, user_id: &str) -> Option<String> {
        (idp == "entra").then(|| {
            format!(
                "{}/#view/Microsoft_AAD_UsersAndTenants/UserProfileMenuBlade/~/overview/userId/{}",
                self.entra_admin.trim_end_matches('/'),
                url_component(user_id)
            )
        })
    }
}

/// The IdP behind one SCIM directory and its provisioning job, as the directory's last complete
/// IdP pull recorded it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IdpHealth {
    /// The directory's configured name.
    pub directory: String,
    pub directory_id: String,
    /// `entra`.
    pub idp: String,
    /// `idp.scope = "all"`: intent is not computed from assignments.
    pub scope_all: bool,
    /// When the last complete IdP pull finished; `None` before the first.
    pub last_complete_pull: Option<String>,
    /// The latest pull's IdP source: complete or not, with its error.
    pub latest_pull_complete: Option<bool>,
    pub latest_pull_error: Option<String>,
    /// `None`: no complete IdP pull yet, or the IdP has no job for the app (`status` says which).
    pub job: Option<IdpJob>,
    /// The app, for an IdP without a job object (Okta): its status and push features.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app: Option<IdpAppHealth>,
    /// `NotConfigured`, `NotRun`, `Active`, `Paused`, `Quarantine`, `unknown`, or `not_pulled`
    /// before the first complete IdP pull.
    pub status: String,
    /// Whether the job is healthy: `None` when it is, else why not (as `provisioning_stalled` says).
    pub stalled: Option<String>,
    /// The anchor of the person entry listing the open `provisioning_stalled` finding, if any.
    pub stalled_finding: Option<String>,
    /// Whether the provisioning log was read by the last complete IdP pull (`None` before the
    /// first); when not, log-derived findings (`provisioning_error`) are as they were.
    pub logs_readable: Option<bool>,
    /// When the log was last read to its end.
    pub logs_read_at: Option<String>,
    pub mapping: Option<IdpMapping>,
    /// IdP users intended (assigned directly or through a direct group membership), and of
    /// those the enabled ones.
    pub intended_users: usize,
    pub intended_enabled_users: usize,
    /// Intended users whose enabled state is unknown (`accountEnabled` null or unreadable):
    /// neither enabled nor disabled, raising no finding; their count and the first
    /// [`IdpHealth::NAMED`] of them (email, else UPN, else object id).
    #[serde(default)]
    pub intended_enabled_unknown: usize,
    #[serde(default)]
    pub intended_enabled_unknown_users: Vec<String>,
    /// Users not provisioned by design: direct members of an assigned group that confers no
    /// intent (not security-enabled, e.g. a Microsoft 365 group) and not intended otherwise
    /// (idp-api.md §1.2), per user with the group; the first [`IdpHealth::NAMED`].
    #[serde(default)]
    pub not_provisioned_by_design: Vec<ByDesign>,
    /// How many users are not provisioned by design in all.
    #[serde(default)]
    pub not_provisioned_by_design_total: usize,
    /// IdP users whose latest provisioning log event is `skipped`.
    #[serde(default)]
    pub skipped_users: usize,
    /// App-assigned groups, and of those the security-enabled ones (only they confer intent).
    pub assigned_groups: usize,
    pub security_enabled_groups: usize,
    /// Loud notes: no complete IdP pull, the latest one incomplete, the log unreadable, the
    /// mapping assumed.
    pub warnings: Vec<String>,
}

impl IdpHealth {
    /// Users named per list (the counts are whole).
    pub const NAMED: usize = 50;
}

/// An Okta app's provisioning health (idp-api.md §2.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdpAppHealth {
    pub id: String,
    pub label: Option<String>,
    /// `ACTIVE`, `INACTIVE`, … or `unknown`.
    pub status: String,
    /// The provisioning features on; `None` when unreadable.
    pub features: Option<Vec<String>>,
    /// One sentence per push feature that is off, saying what it costs.
    pub features_off: Vec<String>,
    /// The latest time Okta could not authenticate to Atlassian's SCIM API, with its reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authentication_failure: Option<String>,
}

/// A user the IdP does not provision by design, and the assigned group that confers no intent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ByDesign {
    /// Email, else UPN, else object id.
    pub user: String,
    /// The group's display name, else its id.
    pub group: String,
}

/// The provisioning job's state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IdpJob {
    pub job_id: String,
    /// `status.code` as the IdP sent it.
    pub status: String,
    /// The quarantine's reason, when quarantined.
    pub quarantine_reason: Option<String>,
    /// When the quarantine series began (else its current span), when quarantined.
    pub quarantined_since: Option<String>,
    pub next_attempt: Option<String>,
    /// The quarantine's or the last execution's error (code: message).
    pub error: Option<String>,
    /// When the job last completed a cycle (`Succeeded` or `EntryLevelErrors`).
    pub last_completed_cycle: Option<String>,
    /// The last execution's state (`Succeeded`, `Failed`, `EntryLevelErrors`).
    pub last_execution_state: Option<String>,
    /// Changes the last run held back (`countEscrowed`): deletions beyond the accidental-deletions
    /// threshold wait here before the job is quarantined for them.
    #[serde(default)]
    pub escrowed: Option<u64>,
    /// The cycle interval in minutes, as the IdP says (`None`: not said; 40 assumed).
    pub interval_minutes: Option<i64>,
    /// `schedule.state` (`Active`, `Disabled`, `Paused`).
    pub schedule_state: Option<String>,
}

/// The attribute mapping the joins use: read from the job's schema, or assumed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IdpMapping {
    /// True when read from the job's schema; false when the defaults were assumed (`note` says why).
    pub derived: bool,
    pub external_id: String,
    pub user_name: String,
    pub email: String,
    pub rule_id: Option<String>,
    pub note: Option<String>,
}

/// An IdP user beside a person's records and accounts (joined by the mapped email, the
/// record's `externalId`, or named by a finding).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PersonIdpUser {
    /// The directory's configured name.
    pub directory: String,
    /// `entra`.
    pub idp: String,
    /// The IdP's user id (Entra object id).
    pub id: String,
    pub user_principal_name: Option<String>,
    /// The email the job's mapping sends.
    pub email: Option<String>,
    pub display_name: Option<String>,
    /// `None`: unknown (the IdP sent null).
    pub enabled: Option<bool>,
    pub intended: bool,
    pub deleted: bool,
    /// Reachable only through a nested group (not provisioned by Entra).
    pub nested_only: bool,
    /// What the mapping sends as SCIM `externalId`.
    pub scim_external_id: Option<String>,
}

/// One step in an admin console (Entra admin center), for a fix made by hand.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortalStep {
    /// `Entra admin center`.
    pub console: String,
    /// The navigation path, `→`-separated.
    pub path: String,
    /// What to do there.
    pub note: String,
}

/// The data-quality notes of the last complete pull: counts by source and field, the first notes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DataQualitySection {
    /// Notes in all.
    pub total: u64,
    /// `[{source, field, records}]`, one row per source and field.
    pub by_field: Vec<UnreadableField>,
    /// The first notes of each source: `[{source, id, field, problem}]`.
    pub notes: Vec<crate::model::DataQualityNote>,
}

/// How many records of a source had one field unreadable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnreadableField {
    pub source: String,
    pub field: String,
    pub records: u64,
}

/// What the report compares with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Period {
    /// The instant compared with (RFC 3339): the compared report's `generated_at`, or a time.
    pub from: String,
    /// `generated_at` of this report.
    pub to: String,
    pub basis: Basis,
    /// The day of the compared report, when `basis` is a report.
    pub compared_report: Option<NaiveDate>,
}

/// How "new" and "resolved" were decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Basis {
    /// Against the findings listed open in a stored report.
    Report,
    /// From the findings' history (opened / resolved times) since `from`: no report to compare with.
    History,
}

/// How current the data is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Freshness {
    /// The last complete snapshot: the data this report shows.
    pub snapshot_id: Option<i64>,
    pub last_complete_at: Option<String>,
    pub age_minutes: Option<i64>,
    /// Data older than this (3 pull intervals) is flagged.
    pub expected_within_minutes: i64,
    /// The sources of the last complete snapshot.
    pub sources: Vec<SourceCount>,
    /// The most recent pull, complete or not.
    pub latest_pull: Option<LatestPull>,
    /// Loud warnings: no complete pull, latest pull incomplete, data too old.
    pub warnings: Vec<String>,
}

/// Record counts of one source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceCount {
    /// `scim:<directory name>` or `accounts`.
    pub source: String,
    pub directory_id: Option<String>,
    pub records: i64,
    pub groups: Option<i64>,
}

/// The most recent pull.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LatestPull {
    pub snapshot_id: i64,
    pub finished_at: String,
    pub complete: bool,
    /// (source, error) of each failed source.
    pub failed_sources: Vec<SourceError>,
}

/// A source that failed in a pull.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceError {
    pub source: String,
    pub error: String,
}

/// Counts at the top of the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Open (not suppressed) findings.
    pub open: usize,
    pub suppressed: usize,
    /// Open findings opened since the compared point.
    pub new: usize,
    pub resolved: usize,
    /// Open findings that were already open at the compared point.
    pub still_open: usize,
    /// Age of the oldest open finding, days.
    pub oldest_open_days: Option<i64>,
    /// People (groups of findings) with open findings.
    pub people: usize,
    /// Every severity, most severe first.
    pub by_severity: Vec<SeverityCount>,
    /// Kinds with an open or suppressed finding, most severe first.
    pub by_kind: Vec<KindCount>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeverityCount {
    pub severity: Severity,
    pub open: usize,
    pub new: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KindCount {
    pub kind: Kind,
    pub severity: Severity,
    pub open: usize,
    pub new: usize,
    pub suppressed: usize,
}

/// The open findings about one person: the records and accounts of findings sharing an email.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Person {
    /// HTML anchor, stable for the same email (`p-ana-example-com`).
    pub anchor: String,
    /// The email the person is listed under (the IdP's, when there is one).
    pub email: Option<String>,
    /// Other emails of the same findings.
    pub other_emails: Vec<String>,
    /// Display names seen on the records and accounts.
    pub names: Vec<String>,
    /// The most severe finding's severity.
    pub severity: Severity,
    /// The records and accounts side by side: a record and the account it links to share a row.
    pub subjects: Vec<SubjectRow>,
    /// The person's IdP users (by the mapped email, a record's `externalId`, or a finding).
    #[serde(default)]
    pub idp_users: Vec<PersonIdpUser>,
    /// The person's groups on both sides: the pushed IdP groups their IdP users are in, and the
    /// SCIM groups their records are in, the missing and extra ones marked.
    #[serde(default)]
    pub groups: Vec<PersonGroup>,
    /// Most severe first.
    pub findings: Vec<ReportFinding>,
}

impl Person {
    /// How the report titles the person: the email; for the findings of an IdP job (no one's
    /// email), the job's directory.
    pub fn title(&self) -> String {
        if let Some(e) = &self.email {
            return e.clone();
        }
        let group = self
            .findings
            .iter()
            .find_map(|f| f.groups.first())
            .filter(|_| self.subjects.is_empty() && self.idp_users.is_empty());
        if let Some(g) = group {
            let name = g.display_name.as_deref().unwrap_or(&g.idp_group_id);
            return format!("IdP group {name} of {}", g.directory);
        }
        let job = self
            .findings
            .iter()
            .find_map(|f| f.idp_directory.as_deref())
            .filter(|_| self.subjects.is_empty() && self.idp_users.is_empty());
        match job {
            Some(dir) => format!("IdP provisioning job of {dir}"),
            None => "(no email)".into(),
        }
    }
}

/// One row of a person's subjects: a SCIM record, the account it links to, or both.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubjectRow {
    pub scim_user: Option<ScimUserView>,
    pub account: Option<AccountView>,
}

/// Where a finding stands relative to the compared point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    New,
    StillOpen,
    Resolved,
    Suppressed,
}

impl Change {
    pub fn as_str(self) -> &'static str {
        match self {
            Change::New => "new",
            Change::StillOpen => "still_open",
            Change::Resolved => "resolved",
            Change::Suppressed => "suppressed",
        }
    }
}

/// One finding with its fix.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportFinding {
    pub id: String,
    pub kind: Kind,
    pub severity: Severity,
    pub status: Status,
    pub change: Change,
    pub first_seen: String,
    pub last_seen: String,
    pub resolved_at: Option<String>,
    /// Whole days since `first_seen`.
    pub age_days: Option<i64>,
    pub seen_count: i64,
    pub summary: String,
    /// The catalogue's fix steps, for people.
    pub fix_steps: String,
    /// The API requests that fix it, ids filled in (never a key).
    pub requests: Vec<FixRequest>,
    pub scim_users: Vec<ScimUserView>,
    pub accounts: Vec<AccountView>,
    /// IdP users (empty for the Atlassian kinds).
    #[serde(default)]
    pub idp_users: Vec<IdpUserView>,
    /// The IdP group a group finding is about (empty for the other kinds).
    #[serde(default)]
    pub groups: Vec<crate::findings::GroupView>,
    /// The provisioning log event that explains it, when one does.
    #[serde(default)]
    pub provisioning: Option<ProvisioningView>,
    /// The directory (configured name) whose IdP an IdP finding is about.
    #[serde(default)]
    pub idp_directory: Option<String>,
    /// Steps in the IdP's admin console (Entra admin center) that fix it by hand.
    #[serde(default)]
    pub portal_steps: Vec<PortalStep>,
    /// Ids of open findings shown together with this one (a `provisioning_error` saying
    /// "already exists" and the `email_conflict` about the same email), with why.
    #[serde(default)]
    pub related: Vec<RelatedFinding>,
    pub suppressed_by: Option<Suppression>,
    /// The fields the latest complete snapshot could not read that this finding's kind reads:
    /// undetermined, it kept its state (unknown is never evidence). Absent when decided.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub undetermined: Vec<String>,
    /// Anchor of the person it is listed under (open findings only).
    pub person: Option<String>,
}

/// A finding shown together with another.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelatedFinding {
    pub id: String,
    pub kind: Kind,
    pub note: String,
}

/// One HTTP request against the Atlassian APIs or Microsoft Graph, as an admin would send it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FixRequest {
    /// `atlassian` or `graph` (Microsoft Graph).
    #[serde(default = "atlassian_api")]
    pub api: String,
    /// The API's base URL: `https://api.atlassian.com`, or the configured Graph base
    /// (`https://graph.microsoft.com/v1.0`).
    #[serde(default = "atlassian_base_url")]
    pub base_url: String,
    pub method: String,
    /// Path under `base_url`; `{directoryId}` (`{spId}`, `{jobId}`, …) stays a placeholder when
    /// unknown.
    pub path: String,
    /// JSON body, when the request has one.
    pub body: Option<String>,
    /// Which key authorizes it (named, never shown).
    pub key: String,
    /// What it does, or when to send it.
    pub note: String,
}

/// The `api` of an Atlassian request.
pub const ATLASSIAN_API: &str = "atlassian";
/// The `api` of a Microsoft Graph request.
pub const GRAPH_API: &str = "graph";
/// The base URL of the Atlassian APIs.
pub const ATLASSIAN_BASE_URL: &str = "https://api.atlassian.com";

fn atlassian_api() -> String {
    ATLASSIAN_API.into()
}

fn atlassian_base_url() -> String {
    ATLASSIAN_BASE_URL.into()
}

impl FixRequest {
    /// `(Graph)` or `(Atlassian)`: which API a request goes to, for people.
    pub fn api_label(&self) -> &'static str {
        if self.api == GRAPH_API {
            "Graph"
        } else {
            "Atlassian"
        }
    }
}

/// An unmanaged account whose display name equals a synced account's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NameHint {
    pub name: String,
    pub unmanaged: HintAccount,
    pub synced: Vec<HintAccount>,
}

/// An account in a hint, with the records linking to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HintAccount {
    pub account: AccountView,
    pub added_to_org: Option<String>,
    pub linked_records: Vec<ScimUserView>,
}

/// The remediation section: actions taken in the period, dry-run steps, and what the last plan blocked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Remediation {
    pub configured: bool,
    pub note: String,
    /// Calls sent (or skipped at apply) in the period, from the audit log.
    #[serde(default)]
    pub actions: Vec<RemediationEntry>,
    /// Steps recorded in dry-run mode in the period.
    #[serde(default)]
    pub dry_run: Vec<RemediationEntry>,
    /// Steps the last plan blocked, with the guards that blocked them.
    #[serde(default)]
    pub blocked: Vec<RemediationEntry>,
}

/// One remediation line of the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RemediationEntry {
    pub at: String,
    pub action: String,
    pub kind: String,
    pub finding_id: String,
    /// The targets, readable.
    pub targets: String,
    /// success | failure | skipped | not_applied | pending | dry_run | blocked
    pub result: String,
    /// The reason, the error or the blocking guards.
    pub detail: String,
}

impl Report {
    /// Every finding of the report: open (by person), resolved, suppressed.
    pub fn all_findings(&self) -> impl Iterator<Item = &ReportFinding> {
        self.people
            .iter()
            .flat_map(|p| p.findings.iter())
            .chain(self.resolved.iter())
            .chain(self.suppressed.iter())
    }

    /// Ids of the findings open in this report.
    pub fn open_ids(&self) -> std::collections::HashSet<&str> {
        self.people
            .iter()
            .flat_map(|p| p.findings.iter())
            .map(|f| f.id.as_str())
            .collect()
    }

    /// A one-line summary for chat and mail subjects.
    pub fn headline(&self) -> String {
        let sev = self
            .summary
            .by_severity
            .iter()
            .filter(|s| s.open > 0)
            .map(|s| format!("{} {}", s.open, s.severity))
            .collect::<Vec<_>>();
        let mut line = format!(
            "{} open finding{}",
            self.summary.open,
            if self.summary.open == 1 { "" } else { "s" }
        );
        if !sev.is_empty() {
            line.push_str(&format!(" ({})", sev.join(", ")));
        }
        line.push_str(&format!(
            "; {} new, {} resolved",
            self.summary.new, self.summary.resolved
        ));
        if !self.freshness.warnings.is_empty() {
            line.push_str("; WARNING: data may be stale or incomplete");
        }
        line
    }
}

/// The parts of a text scimdrift wrote, with `code` marked by backticks: `(is_code, text)` in
/// order. A text with an odd number of backticks is one plain part (a value from outside may hold
/// one).
pub(crate) fn code_spans(text: &str) -> Vec<(bool, &str)> {
    if text.matches('`').count() % 2 == 1 {
        return vec![(false, text)];
    }
    text.split('`')
        .enumerate()
        .filter(|(_, part)| !part.is_empty())
        .map(|(i, part)| (i % 2 == 1, part))
        .collect()
}
