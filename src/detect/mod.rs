//! Detection: pure functions from one complete snapshot to findings. No I/O, no clock reads (`now` is
//! an input). One file per finding kind; the catalogue is ../shared/scenarios.md.

mod dangling_link;
mod deactivated_idp_active;
mod duplicate_email;
mod email_conflict;
mod email_mismatch;
mod idp_inactive_account_active;
mod index;
mod no_synced_groups;
mod stale_inactive_link;
mod unlinked_scim_user;
mod unmanaged_account;

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use index::Index;

use crate::model::{Account, ScimGroup, ScimRecord};

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
}

impl Kind {
    /// Every kind, in catalogue order.
    pub const ALL: [Kind; 10] = [
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
    ];

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
        }
    }

    /// The catalogue severity.
    pub fn severity(self) -> Severity {
        match self {
            Kind::IdpInactiveAccountActive => Severity::Critical,
            Kind::DuplicateEmail | Kind::EmailConflict | Kind::DeactivatedIdpActive => {
                Severity::High
            }
            Kind::EmailMismatch | Kind::UnlinkedScimUser | Kind::DanglingLink => Severity::Medium,
            Kind::UnmanagedAccount | Kind::StaleInactiveLink | Kind::NoSyncedGroups => {
                Severity::Low
            }
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
    fn of(r: &ScimRecord) -> Self {
        RecordRef {
            directory_id: r.directory_id.clone(),
            scim_id: r.scim_id.clone(),
        }
    }
}

/// One finding: a kind and the records and accounts it is about (sorted, so identity is stable).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub kind: Kind,
    pub records: Vec<RecordRef>,
    pub accounts: Vec<String>,
    /// One sentence a person understands.
    pub summary: String,
}

impl Finding {
    /// Builds a finding with its subjects sorted and deduplicated.
    pub fn new<'a>(
        kind: Kind,
        records: impl IntoIterator<Item = &'a ScimRecord>,
        accounts: impl IntoIterator<Item = &'a str>,
        summary: String,
    ) -> Self {
        let records: BTreeSet<RecordRef> = records.into_iter().map(RecordRef::of).collect();
        let accounts: BTreeSet<String> = accounts.into_iter().map(str::to_string).collect();
        Finding {
            kind,
            records: records.into_iter().collect(),
            accounts: accounts.into_iter().collect(),
            summary,
        }
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
        format!(
            "{}-{:016x}",
            self.kind.as_str(),
            xxhash_rust::xxh3::xxh3_64(key.as_bytes())
        )
    }

    pub fn severity(&self) -> Severity {
        self.kind.severity()
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
    /// Kinds turned off.
    pub disabled: Vec<Kind>,
}

impl Default for DetectSettings {
    fn default() -> Self {
        DetectSettings {
            stale_after_days: 30,
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

/// One complete snapshot, the detectors' whole input.
pub struct Input<'a> {
    pub records: &'a [ScimRecord],
    pub groups: &'a [ScimGroup],
    pub accounts: &'a [Account],
    /// When each inactive record became inactive, from scimdrift's history.
    pub inactive_since: &'a HashMap<RecordRef, InactiveSince>,
    pub now: DateTime<Utc>,
}

/// Runs every enabled detector; findings come sorted by severity (most severe first), then kind, then id.
pub fn detect(input: &Input<'_>, settings: &DetectSettings) -> Vec<Finding> {
    let index = Index::build(input);
    let mut findings = Vec::new();
    for kind in Kind::ALL {
        if settings.disabled.contains(&kind) {
            continue;
        }
        let found = match kind {
            Kind::DuplicateEmail => duplicate_email::detect(&index),
            Kind::EmailConflict => email_conflict::detect(&index),
            Kind::EmailMismatch => email_mismatch::detect(&index),
            Kind::UnlinkedScimUser => unlinked_scim_user::detect(&index),
            Kind::DanglingLink => dangling_link::detect(&index),
            Kind::DeactivatedIdpActive => deactivated_idp_active::detect(&index),
            Kind::IdpInactiveAccountActive => idp_inactive_account_active::detect(&index),
            Kind::UnmanagedAccount => unmanaged_account::detect(&index),
            Kind::StaleInactiveLink => {
                stale_inactive_link::detect(&index, input, settings.stale_after_days)
            }
            Kind::NoSyncedGroups => no_synced_groups::detect(&index),
        };
        findings.extend(found);
    }
    findings.sort_by(|a, b| {
        b.severity()
            .cmp(&a.severity())
            .then(a.kind.cmp(&b.kind))
            .then_with(|| a.records.cmp(&b.records))
            .then_with(|| a.accounts.cmp(&b.accounts))
    });
    findings
}

/// A short label for a record in summaries: its email, else its userName, else its SCIM id.
pub(crate) fn who(r: &ScimRecord) -> &str {
    r.email
        .as_deref()
        .filter(|e| !e.is_empty())
        .unwrap_or(if r.user_name.is_empty() {
            &r.scim_id
        } else {
            &r.user_name
        })
}

#[cfg(test)]
pub(crate) mod test_support;
