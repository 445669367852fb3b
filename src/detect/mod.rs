//! Detection: pure functions from one complete snapshot to findings. No I/O, no clock reads (`now` is
//! an input). One file per finding kind; the catalogue is ../shared/scenarios.md.

mod assigned_not_provisioned;
mod dangling_link;
mod deactivated_idp_active;
mod duplicate_email;
mod email_conflict;
mod email_mismatch;
pub mod grace;
mod group_join;
mod group_membership_extra;
mod group_membership_missing;
mod group_not_provisioned;
mod idp_disabled_scim_active;
mod idp_email_mismatch;
mod idp_inactive_account_active;
mod idp_index;
mod index;
mod nested_group_only;
mod no_synced_groups;
mod orphan_scim_record;
mod provisioning_error;
mod provisioning_stalled;
mod stale_inactive_link;
mod undetermined;
mod unlinked_scim_user;
mod unmanaged_account;

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use group_join::{GroupKey, PushedGroup, pushed as pushed_groups};
pub use idp_index::{IdpIndex, IdpInput, JoinKey};
pub use index::Index;
pub use undetermined::{Subject, Undetermined};

use crate::model::ScimGroup;
use crate::model::compact::{Accounts, Rec, Records};
use crate::model::idp::{IdpUser, ProvisioningEvent};

/// The kinds of the catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    DuplicateEmail,
    EmailConflict,
    EmailMismatch,
    UnlinkedScimUser,
    DanglingLink,
    DeactivatedIdpActive,
    IdpInactiveAccountActive,
    UnmanagedAccount,
    StaleInactiveLink,
    NoSyncedGroups,
    AssignedNotProvisioned,
    IdpDisabledScimActive,
    ProvisioningError,
    ProvisioningStalled,
    IdpEmailMismatch,
    NestedGroupOnly,
    OrphanScimRecord,
    GroupNotProvisioned,
    GroupMembershipMissing,
    GroupMembershipExtra,
}

impl Kind {
    /// Every kind, in catalogue order (the IdP kinds, then the group kinds, last).
    pub const ALL: [Kind; 20] = [
        Kind::DuplicateEmail,
        Kind::EmailConflict,
        Kind::EmailMismatch,
        Kind::UnlinkedScimUser,
        Kind::DanglingLink,
        Kind::DeactivatedIdpActive,
        Kind::IdpInactiveAccountActive,
        Kind::UnmanagedAccount,
        Kind::StaleInactiveLink,
        Kind::NoSyncedGroups,
        Kind::AssignedNotProvisioned,
        Kind::IdpDisabledScimActive,
        Kind::ProvisioningError,
        Kind::ProvisioningStalled,
        Kind::IdpEmailMismatch,
        Kind::NestedGroupOnly,
        Kind::OrphanScimRecord,
        Kind::GroupNotProvisioned,
        Kind::GroupMembershipMissing,
        Kind::GroupMembershipExtra,
    ];

    /// A kind of the "IdP findings" or "Group findings" tables (scenarios.md): raised only from
    /// complete IdP pulls, after the grace rule, and only for directories with an `idp` configured.
    pub fn is_idp(self) -> bool {
        matches!(
            self,
            Kind::AssignedNotProvisioned
                | Kind::IdpDisabledScimActive
                | Kind::ProvisioningError
                | Kind::ProvisioningStalled
                | Kind::IdpEmailMismatch
                | Kind::NestedGroupOnly
                | Kind::OrphanScimRecord
        ) || self.is_group()
    }

    /// A kind of the "Group findings" table: about an IdP group pushed to the directory.
    pub fn is_group(self) -> bool {
        matches!(
            self,
            Kind::GroupNotProvisioned | Kind::GroupMembershipMissing | Kind::GroupMembershipExtra
        )
    }

    /// An IdP kind that needs the provisioning log (unknown when the log could not be read).
    pub fn needs_logs(self) -> bool {
        self == Kind::ProvisioningError
    }

    /// [`Self::needs_logs`] for a directory's IdP: an IdP keeping a push state per user (Okta)
    /// decides `provisioning_error` without its log (the log only explains it).
    pub fn needs_logs_of(self, side: &crate::model::idp::IdpSide) -> bool {
        self.needs_logs() && side.failures == crate::model::idp::FailureSource::LatestEvent
    }

    /// An IdP kind computed from assignment-based intent or the join (not raised with
    /// `idp.scope = "all"`, where only the job and the log are used).
    pub fn needs_intent(self) -> bool {
        self.is_idp() && !matches!(self, Kind::ProvisioningError | Kind::ProvisioningStalled)
    }

    /// Every severity a finding of this kind can have (the catalogue's, and for
    /// `idp_disabled_scim_active` high when the linked account has no access, for
    /// `orphan_scim_record` medium when it has none).
    pub fn severities(self) -> &'static [Severity] {
        match self {
            Kind::IdpDisabledScimActive => &[Severity::Critical, Severity::High],
            Kind::OrphanScimRecord => &[Severity::High, Severity::Medium],
            k => match k.severity() {
                Severity::Critical => &[Severity::Critical],
                Severity::High => &[Severity::High],
                Severity::Medium => &[Severity::Medium],
                Severity::Low => &[Severity::Low],
            },
        }
    }

    /// The fields this kind's condition reads, as data-quality notes name them: one unknown on a
    /// subject leaves its findings undetermined ([`Undetermined`]). Each kind's own file says.
    pub fn reads(self) -> &'static [&'static str] {
        match self {
            Kind::DuplicateEmail => duplicate_email::READS,
            Kind::EmailConflict => email_conflict::READS,
            Kind::EmailMismatch => email_mismatch::READS,
            Kind::UnlinkedScimUser => unlinked_scim_user::READS,
            Kind::DanglingLink => dangling_link::READS,
            Kind::DeactivatedIdpActive => deactivated_idp_active::READS,
            Kind::IdpInactiveAccountActive => idp_inactive_account_active::READS,
            Kind::UnmanagedAccount => unmanaged_account::READS,
            Kind::StaleInactiveLink => stale_inactive_link::READS,
            Kind::NoSyncedGroups => no_synced_groups::READS,
            Kind::AssignedNotProvisioned => assigned_not_provisioned::READS,
            Kind::IdpDisabledScimActive => idp_disabled_scim_active::READS,
            Kind::ProvisioningError => provisioning_error::READS,
            Kind::ProvisioningStalled => provisioning_stalled::READS,
            Kind::IdpEmailMismatch => idp_email_mismatch::READS,
            Kind::NestedGroupOnly => nested_group_only::READS,
            Kind::OrphanScimRecord => orphan_scim_record::READS,
            Kind::GroupNotProvisioned => group_not_provisioned::READS,
            Kind::GroupMembershipMissing => group_membership_missing::READS,
            Kind::GroupMembershipExtra => group_membership_extra::READS,
        }
    }

    /// The snake_case name used in config, JSON and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::DuplicateEmail => "duplicate_email",
            Kind::EmailConflict => "email_conflict",
            Kind::EmailMismatch => "email_mismatch",
            Kind::UnlinkedScimUser => "unlinked_scim_user",
            Kind::DanglingLink => "dangling_link",
            Kind::DeactivatedIdpActive => "deactivated_idp_active",
            Kind::IdpInactiveAccountActive => "idp_inactive_account_active",
            Kind::UnmanagedAccount => "unmanaged_account",
            Kind::StaleInactiveLink => "stale_inactive_link",
            Kind::NoSyncedGroups => "no_synced_groups",
            Kind::AssignedNotProvisioned => "assigned_not_provisioned",
            Kind::IdpDisabledScimActive => "idp_disabled_scim_active",
            Kind::ProvisioningError => "provisioning_error",
            Kind::ProvisioningStalled => "provisioning_stalled",
            Kind::IdpEmailMismatch => "idp_email_mismatch",
            Kind::NestedGroupOnly => "nested_group_only",
            Kind::OrphanScimRecord => "orphan_scim_record",
            Kind::GroupNotProvisioned => "group_not_provisioned",
            Kind::GroupMembershipMissing => "group_membership_missing",
            Kind::GroupMembershipExtra => "group_membership_extra",
        }
    }

    /// The catalogue severity (`idp_disabled_scim_active`: its most severe; see
    /// [`Finding::severity`]).
    pub fn severity(self) -> Severity {
        match self {
            Kind::IdpInactiveAccountActive | Kind::IdpDisabledScimActive => Severity::Critical,
            Kind::DuplicateEmail
            | Kind::EmailConflict
            | Kind::DeactivatedIdpActive
            | Kind::AssignedNotProvisioned
            | Kind::ProvisioningError
            | Kind::ProvisioningStalled
            | Kind::OrphanScimRecord
            | Kind::GroupNotProvisioned
            | Kind::GroupMembershipExtra => Severity::High,
            Kind::EmailMismatch
            | Kind::UnlinkedScimUser
            | Kind::DanglingLink
            | Kind::IdpEmailMismatch
            | Kind::GroupMembershipMissing => Severity::Medium,
            Kind::UnmanagedAccount
            | Kind::StaleInactiveLink
            | Kind::NoSyncedGroups
            | Kind::NestedGroupOnly => Severity::Low,
        }
    }

    /// The fix steps of the catalogue, for people.
    pub fn suggested_fix(self) -> &'static str {
        match self {
            Kind::DuplicateEmail => {
                "Decide which record is the person's: unlink the newer record's account (or delete the stale record), move the other account to an unused email, then re-push the user from the IdP so the right record links."
            }
            Kind::EmailConflict => {
                "The IdP cannot provision this email because another account holds it: unlink that account from its SCIM record, move it to an unused email, then re-push the user from the IdP."
            }
            Kind::EmailMismatch => {
                "Re-push the user from the IdP so the account gets the record's email; if another account holds that email, move it to an unused email first."
            }
            Kind::UnlinkedScimUser => {
                "Find why Atlassian could not link the record (usually an email held by another account, see email_conflict) and fix that, then re-push the user from the IdP."
            }
            Kind::DanglingLink => "Delete the SCIM record so the IdP re-provisions it cleanly.",
            Kind::DeactivatedIdpActive => {
                "Either restore the account's access in admin hub, or deprovision the user in the IdP; report only by default."
            }
            Kind::IdpInactiveAccountActive => {
                "Suspend the account's access in admin hub now (reversible), then find out why deprovisioning did not reach Atlassian."
            }
            Kind::UnmanagedAccount => {
                "Assign the person to the IdP's Atlassian app so SCIM links the account, or deactivate it if nobody should have it; an account whose name matches a synced one may be the same person under another email."
            }
            Kind::StaleInactiveLink => {
                "Delete the SCIM record (or delete only in the SCIM DB by account id), then reactivate the account in admin hub if the person needs it."
            }
            Kind::NoSyncedGroups => {
                "Add the user to a synced group in the IdP (or check the group push) so they get product access."
            }
            Kind::AssignedNotProvisioned => {
                "Find why the IdP did not push the user (its provisioning log, a quarantined job, an email another account holds), fix the cause, then provision the user on demand (Entra) or Retry its push in Dashboard → Tasks (Okta)."
            }
            Kind::IdpDisabledScimActive => {
                "The IdP did not send active:false: suspend the account's access now if the person left, then restart provisioning or provision the user on demand so the record is deactivated (Entra); Okta sends active:false only with Deactivate Users on, and never for a suspended user: deactivate the account in Atlassian."
            }
            Kind::ProvisioningError => {
                "Read the error in the IdP's provisioning log, fix its cause (for \"already exists\": free the email in Atlassian, see email_conflict), then provision the user on demand (Entra) or Retry it in Dashboard → Tasks (Okta)."
            }
            Kind::ProvisioningStalled => {
                "Open the provisioning job in the IdP, fix the quarantine reason (credentials, escrows, too many deletes) and restart provisioning (Entra); activate the app and turn on Create Users in its Provisioning tab (Okta)."
            }
            Kind::IdpEmailMismatch => {
                "The IdP's email did not reach the SCIM record: check the attribute mapping and provision the user on demand (Entra); Okta pushes it with Update User Attributes on."
            }
            Kind::NestedGroupOnly => {
                "Entra ID does not provision nested groups: assign the user (or the nested group itself) to the app directly."
            }
            Kind::OrphanScimRecord => {
                "No IdP user matches this record: if the person left, deactivate the record and the account's access; if the IdP re-created the user, fix the externalId mapping."
            }
            Kind::GroupNotProvisioned => {
                "The IdP has not pushed this group, so its members lack the product access it grants: provision the group on demand (Entra) or Push Groups → Push now (Okta); for \"already exists\", rename or remove the Atlassian-local group of that name first."
            }
            Kind::GroupMembershipMissing => {
                "The IdP's membership did not reach Atlassian: provision the user (or the group) on demand, or restart provisioning (Entra); Push Groups → Push now (Okta)."
            }
            Kind::GroupMembershipExtra => {
                "The person left this IdP group but keeps its Atlassian group and the access it grants: remove them from the group in the IdP again or provision the group on demand so the removal is pushed; check the access they should have now."
            }
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Kind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Kind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Kind::ALL.iter().map(|k| k.as_str()).collect();
                format!(
                    "unknown finding kind {s:?}; expected one of {}",
                    names.join(", ")
                )
            })
    }
}

/// Severity, ordered: `Low < Medium < High < Critical`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    /// The lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Severity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "low" => Ok(Severity::Low),
            "medium" => Ok(Severity::Medium),
            "high" => Ok(Severity::High),
            "critical" => Ok(Severity::Critical),
            _ => Err(format!(
                "unknown severity {s:?}; expected low, medium, high or critical"
            )),
        }
    }
}

/// A SCIM record named by a finding.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RecordRef {
    pub directory_id: String,
    pub scim_id: String,
}

impl RecordRef {
    pub(crate) fn of(r: Rec<'_>) -> Self {
        RecordRef {
            directory_id: r.directory_id().to_string(),
            scim_id: r.scim_id().to_string(),
        }
    }

    #[cfg(test)]
    pub(crate) fn of_record(r: &crate::model::ScimRecord) -> Self {
        RecordRef {
            directory_id: r.directory_id.clone(),
            scim_id: r.scim_id.clone(),
        }
    }
}

/// An IdP group named by a group finding (its id is part of the finding's identity), with the SCIM
/// group it joined (scenarios.md "Group findings").
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct GroupRef {
    pub directory_id: String,
    pub idp_group_id: String,
    /// The joined SCIM group (`None` for `group_not_provisioned`).
    pub scim_group_id: Option<String>,
    pub display_name: Option<String>,
    /// The key that joined them.
    pub joined_by: Option<GroupKey>,
}

/// An IdP user named by a finding: the directory whose IdP it is and the IdP's user id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct IdpRef {
    pub directory_id: String,
    pub id: String,
}

impl IdpRef {
    pub(crate) fn of(u: &IdpUser) -> Self {
        IdpRef {
            directory_id: u.directory_id.clone(),
            id: u.id.clone(),
        }
    }
}

/// One finding: a kind and the records, accounts and IdP users it is about (sorted, so identity
/// is stable).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub kind: Kind,
    pub records: Vec<RecordRef>,
    pub accounts: Vec<String>,
    /// IdP users (IdP kinds only; empty for the Atlassian kinds).
    #[serde(default)]
    pub idp_users: Vec<IdpRef>,
    /// The IdP group a group finding is about (empty for the other kinds).
    #[serde(default)]
    pub groups: Vec<GroupRef>,
    /// The directory whose IdP an IdP finding is about (part of its identity).
    #[serde(default)]
    pub directory_id: Option<String>,
    /// The kind's severity, or the finding's own (`idp_disabled_scim_active`: high when the
    /// linked account has no access).
    #[serde(default = "default_severity")]
    pub severity: Severity,
    /// The provisioning log event that explains it, when one does.
    #[serde(default)]
    pub event: Option<ProvisioningEvent>,
    /// One sentence a person understands.
    pub summary: String,
}

fn default_severity() -> Severity {
    Severity::Low
}

impl Finding {
    /// Builds a finding with its subjects sorted and deduplicated.
    pub fn new<'a>(
        kind: Kind,
        records: impl IntoIterator<Item = Rec<'a>>,
        accounts: impl IntoIterator<Item = &'a str>,
        summary: String,
    ) -> Self {
        let records: BTreeSet<RecordRef> = records.into_iter().map(RecordRef::of).collect();
        let accounts: BTreeSet<String> = accounts.into_iter().map(str::to_string).collect();
        Finding {
            kind,
            records: records.into_iter().collect(),
            accounts: accounts.into_iter().collect(),
            idp_users: Vec::new(),
            groups: Vec::new(),
            directory_id: None,
            severity: kind.severity(),
            event: None,
            summary,
        }
    }

    /// An IdP finding about `directory_id`'s IdP, naming `users` too.
    pub fn idp<'a>(
        kind: Kind,
        directory_id: &str,
        records: impl IntoIterator<Item = Rec<'a>>,
        accounts: impl IntoIterator<Item = &'a str>,
        users: impl IntoIterator<Item = &'a IdpUser>,
        summary: String,
    ) -> Self {
        let users: BTreeSet<IdpRef> = users.into_iter().map(IdpRef::of).collect();
        Finding {
            idp_users: users.into_iter().collect(),
            directory_id: Some(directory_id.to_string()),
            ..Finding::new(kind, records, accounts, summary)
        }
    }

    /// A group finding about IdP group `group` (scenarios.md "Group findings"), naming records
    /// and accounts ([`Finding::with_idp_users`] adds the IdP users).
    pub fn group<'a>(
        kind: Kind,
        group: GroupRef,
        records: impl IntoIterator<Item = Rec<'a>>,
        accounts: impl IntoIterator<Item = &'a str>,
        summary: String,
    ) -> Self {
        Finding {
            directory_id: Some(group.directory_id.clone()),
            groups: vec![group],
            ..Finding::new(kind, records, accounts, summary)
        }
    }

    /// This finding naming `users` too.
    pub fn with_idp_users<'a>(mut self, users: impl IntoIterator<Item = &'a IdpUser>) -> Self {
        let mut all: BTreeSet<IdpRef> = self.idp_users.drain(..).collect();
        all.extend(users.into_iter().map(IdpRef::of));
        self.idp_users = all.into_iter().collect();
        self
    }

    /// Stable identity: the kind plus the sorted listed ids, hashed.
    pub fn id(&self) -> String {
        let mut key = String::from(self.kind.as_str());
        for r in &self.records {
            key.push('\u{1f}');
            key.push_str(&r.directory_id);
            key.push('/');
            key.push_str(&r.scim_id);
        }
        key.push('\u{1e}');
        for a in &self.accounts {
            key.push('\u{1f}');
            key.push_str(a);
        }
        // The Atlassian kinds keep the identity they always had: these parts are empty for them.
        if let Some(d) = &self.directory_id {
            key.push('\u{1d}');
            key.push_str(d);
        }
        for u in &self.idp_users {
            key.push('\u{1c}');
            key.push_str(&u.directory_id);
            key.push('/');
            key.push_str(&u.id);
        }
        // The IdP group, by its id alone: a SCIM group re-created or renamed is the same finding.
        for g in &self.groups {
            key.push('\u{1b}');
            key.push_str(&g.directory_id);
            key.push('/');
            key.push_str(&g.idp_group_id);
        }
        format!(
            "{}-{:016x}",
            self.kind.as_str(),
            xxhash_rust::xxh3::xxh3_64(key.as_bytes())
        )
    }

    pub fn severity(&self) -> Severity {
        self.severity
    }
}

/// `[detect]`: detector settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct DetectConfig {
    /// An inactive record still linked after this many days is a `stale_inactive_link`.
    pub stale_after_days: i64,
    /// Finding kinds not to detect at all.
    pub disabled_kinds: Vec<String>,
    /// An IdP↔SCIM discrepancy becomes a finding only once it held in two consecutive complete
    /// IdP pulls spanning at least this many minutes (idp-api.md §5).
    pub idp_grace_minutes: i64,
}

impl Default for DetectConfig {
    fn default() -> Self {
        DetectConfig {
            stale_after_days: 30,
            disabled_kinds: Vec::new(),
            idp_grace_minutes: 90,
        }
    }
}

impl DetectConfig {
    /// Checks the section; the error is (key within the section, message).
    pub fn validate(&self) -> Result<(), (String, String)> {
        crate::section::check_count_i64(self.stale_after_days, 0, 36_500)
            .map_err(|m| ("stale_after_days".to_string(), m))?;
        crate::section::check_count_i64(self.idp_grace_minutes, 0, 10_080)
            .map_err(|m| ("idp_grace_minutes".to_string(), m))?;
        for (i, k) in self.disabled_kinds.iter().enumerate() {
            k.parse::<Kind>()
                .map_err(|e| (format!("disabled_kinds[{i}]"), e))?;
        }
        Ok(())
    }

    /// What the detectors read.
    pub fn settings(&self) -> DetectSettings {
        DetectSettings {
            stale_after_days: self.stale_after_days,
            idp_grace_minutes: self.idp_grace_minutes,
            disabled: self
                .disabled_kinds
                .iter()
                .filter_map(|k| k.parse().ok())
                .collect(),
        }
    }
}

/// `[detect]` settings the detectors read.
#[derive(Debug, Clone)]
pub struct DetectSettings {
    /// An inactive record still linked after this many days is a `stale_inactive_link`.
    pub stale_after_days: i64,
    /// The IdP grace span (see [`grace`]).
    pub idp_grace_minutes: i64,
    /// Kinds turned off.
    pub disabled: Vec<Kind>,
}

impl Default for DetectSettings {
    fn default() -> Self {
        DetectSettings {
            stale_after_days: 30,
            idp_grace_minutes: 90,
            disabled: Vec::new(),
        }
    }
}

/// When an inactive record became inactive, as scimdrift's history shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InactiveSince {
    /// The first snapshot of the current inactive streak, after a version that was not inactive:
    /// scimdrift saw it happen.
    Observed(DateTime<Utc>),
    /// Inactive since scimdrift first saw the record: the first complete snapshot that saw it
    /// inactive. Used only when `meta.lastModified` is absent or unusable (scenarios.md).
    FirstSeen(DateTime<Utc>),
}

/// What detection takes from scimdrift's history beside the snapshot (read by the store).
#[derive(Debug, Default)]
pub struct History {
    /// When each inactive record became inactive.
    pub inactive_since: HashMap<RecordRef, InactiveSince>,
    /// The account each record whose link is unknown now was last linked to (it may still be).
    pub previous_links: HashMap<RecordRef, String>,
}

/// One complete snapshot, the detectors' whole input: its records and accounts compact
/// ([`crate::model::compact`]).
pub struct Input<'a> {
    pub records: &'a Records,
    pub groups: &'a [ScimGroup],
    pub accounts: &'a Accounts,
    /// When each inactive record became inactive, from scimdrift's history.
    pub inactive_since: &'a HashMap<RecordRef, InactiveSince>,
    /// The account each record whose link is unknown now was linked to in the previous complete
    /// snapshot, from scimdrift's history: that account may still be linked to it.
    pub previous_links: &'a HashMap<RecordRef, String>,
    /// The IdP side of each directory whose IdP pull is complete (none without an `idp`).
    pub idp: &'a [IdpInput],
    pub now: DateTime<Utc>,
}

/// The memberships of one directory's pushed IdP groups on both sides (the
/// `scimdrift_group_members` gauge): the IdP groups' direct user members, and the members the SCIM
/// groups joined to them list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupMembers {
    pub directory_id: String,
    pub idp: u64,
    pub scim: u64,
}

/// What one detection run decided: the findings, and what it could not decide.
#[derive(Debug, Clone, Default)]
pub struct Detection {
    /// Findings sorted by severity (most severe first), then kind, then subjects. None of them is
    /// undetermined: one whose subjects are is left out (its state is kept, never newly opened).
    pub findings: Vec<Finding>,
    /// The subjects each kind could not decide (unknown is never evidence).
    pub undetermined: Undetermined,
    /// Per directory with a complete IdP pull that pushes groups: its group memberships.
    pub group_members: Vec<GroupMembers>,
}

/// Runs every enabled detector ([`detect_all`]) and returns its findings.
pub fn detect(input: &Input<'_>, settings: &DetectSettings) -> Vec<Finding> {
    detect_all(input, settings).findings
}

/// Runs every enabled detector and judges what it cannot decide: a finding whose kind reads a
/// field unknown in this snapshot, on a subject it lists or across its directory, is undetermined
/// (left out of the findings, named in [`Detection::undetermined`]).
pub fn detect_all(input: &Input<'_>, settings: &DetectSettings) -> Detection {
    let index = Index::build(input);
    let idp: Vec<IdpIndex<'_>> = input
        .idp
        .iter()
        .map(|side| IdpIndex::build(side, &index))
        .collect();
    let kinds: Vec<Kind> = Kind::ALL
        .into_iter()
        .filter(|k| !settings.disabled.contains(k))
        .collect();
    let mut undetermined = Undetermined::of_subjects(
        &kinds,
        input.records,
        input.accounts,
        input.idp.iter().flat_map(|x| x.side.users.iter()),
    );
    for x in &idp {
        undetermined::uncertain_join(x, &mut undetermined);
        group_join::undetermined(x, &kinds, &mut undetermined);
    }
    // Every other kind on a second thread (both read the same indexes; the findings are sorted
    // below, whatever order they come in).
    let run = |skip: usize| {
        let half = kinds.iter().copied().skip(skip).step_by(2);
        run_kinds(half, input, &index, &idp, settings)
    };
    let ((mut findings, noted), (more, more_noted)) =
        both("scimdrift-detect", || run(1), || run(0));
    findings.extend(more);
    undetermined.merge(noted);
    undetermined.merge(more_noted);
    findings.retain(|f| undetermined.of(f).is_empty());
    findings.sort_by(|a, b| {
        b.severity()
            .cmp(&a.severity())
            .then(a.kind.cmp(&b.kind))
            .then_with(|| a.records.cmp(&b.records))
            .then_with(|| a.accounts.cmp(&b.accounts))
            .then_with(|| a.idp_users.cmp(&b.idp_users))
            .then_with(|| a.directory_id.cmp(&b.directory_id))
            .then_with(|| a.groups.cmp(&b.groups))
    });
    let group_members = idp
        .iter()
        .filter(|x| !x.input.side.scope_all && x.input.side.mapping.groups_pushed != Some(false))
        .map(|x| GroupMembers {
            directory_id: x.directory_id.to_string(),
            idp: x.groups.iter().map(|p| p.members.len() as u64).sum(),
            scim: x
                .groups
                .iter()
                .filter_map(|p| p.scim)
                .map(|(s, _)| s.members.len() as u64)
                .sum(),
        })
        .collect();
    Detection {
        findings,
        undetermined,
        group_members,
    }
}

/// Runs `a` on a second thread named `thread` (on this one when none can start) and `b` on this
/// one; a panic in `a` resumes here. Detection runs after the pull, when the fetch has left the
/// other core idle; the store's writer reads the current versions with it.
pub(crate) fn both<A: Send, B>(
    thread: &str,
    a: impl FnOnce() -> A + Send,
    b: impl FnOnce() -> B,
) -> (A, B) {
    // `a` waits here until one thread takes it: the second, or this one when none can start.
    let slot = std::sync::Mutex::new(Some(a));
    let run_a = || slot.lock().ok().and_then(|mut a| a.take()).map(|a| a());
    std::thread::scope(|scope| {
        let second = std::thread::Builder::new()
            .name(thread.into())
            .spawn_scoped(scope, run_a);
        let b = b();
        let a = match second.map(|thread| thread.join()) {
            Ok(Err(panic)) => std::panic::resume_unwind(panic),
            Ok(Ok(Some(a))) => a,
            Ok(Ok(None)) | Err(_) => run_a().expect("a runs once, on one thread or the other"),
        };
        (a, b)
    })
}

/// Runs `kinds` over the indexes: their findings, and what they noted they cannot decide.
fn run_kinds(
    kinds: impl Iterator<Item = Kind>,
    input: &Input<'_>,
    index: &Index<'_>,
    idp: &[IdpIndex<'_>],
    settings: &DetectSettings,
) -> (Vec<Finding>, Undetermined) {
    let mut undetermined = Undetermined::default();
    let mut findings = Vec::new();
    for kind in kinds {
        if kind.is_idp() {
            for x in idp {
                if kind.needs_intent() && x.input.side.scope_all
                    || kind.needs_logs_of(&x.input.side) && !x.input.logs_known
                {
                    continue;
                }
                let u = &mut undetermined;
                findings.extend(match kind {
                    Kind::AssignedNotProvisioned => {
                        assigned_not_provisioned::undetermined(x, u);
                        assigned_not_provisioned::detect(x, index)
                    }
                    Kind::IdpDisabledScimActive => idp_disabled_scim_active::detect(x, index),
                    Kind::ProvisioningError => provisioning_error::detect(x, index),
                    Kind::ProvisioningStalled => {
                        provisioning_stalled::undetermined(x, u);
                        provisioning_stalled::detect(x, input.now)
                    }
                    Kind::IdpEmailMismatch => idp_email_mismatch::detect(x, index),
                    Kind::NestedGroupOnly => nested_group_only::detect(x),
                    Kind::GroupNotProvisioned => group_not_provisioned::detect(x),
                    Kind::GroupMembershipMissing => group_membership_missing::detect(x, index),
                    Kind::GroupMembershipExtra => group_membership_extra::detect(x, index),
                    // What an orphan cannot decide (an IdP user's unknown join key) is
                    // `undetermined::uncertain_join`'s: every orphan candidate is a record not
                    // joined by externalId, which it leaves undetermined for this kind.
                    _ => orphan_scim_record::detect(x, index),
                });
            }
            continue;
        }
        let u = &mut undetermined;
        let found = match kind {
            Kind::DuplicateEmail => duplicate_email::detect(index),
            Kind::EmailConflict => email_conflict::detect(index),
            Kind::EmailMismatch => email_mismatch::detect(index),
            Kind::UnlinkedScimUser => unlinked_scim_user::detect(index),
            Kind::DanglingLink => dangling_link::detect(index),
            Kind::DeactivatedIdpActive => deactivated_idp_active::detect(index),
            Kind::IdpInactiveAccountActive => {
                idp_inactive_account_active::undetermined(index, u);
                idp_inactive_account_active::detect(index)
            }
            Kind::UnmanagedAccount => {
                unmanaged_account::undetermined(index, u);
                unmanaged_account::detect(index)
            }
            Kind::StaleInactiveLink => {
                stale_inactive_link::detect(index, input, settings.stale_after_days)
            }
            Kind::NoSyncedGroups => {
                no_synced_groups::undetermined(input.groups, u);
                no_synced_groups::detect(index)
            }
            _ => Vec::new(),
        };
        findings.extend(found);
    }
    (findings, undetermined)
}

/// A short label for a record in summaries: its email, else its userName, else its SCIM id.
pub(crate) fn who(r: Rec<'_>) -> &str {
    r.email()
        .filter(|e| !e.is_empty())
        .unwrap_or(if r.user_name().is_empty() {
            r.scim_id()
        } else {
            r.user_name()
        })
}

#[cfg(test)]
mod group_tests;
#[cfg(test)]
mod idp_tests;
#[cfg(test)]
mod kind_tests;
#[cfg(test)]
pub(crate) mod test_support;
#[cfg(test)]
mod undetermined_tests;
