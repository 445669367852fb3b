//! The normalized records a pull produces and the detectors read. The store keeps them beside the raw
//! JSON each came from; the raw JSON itself never stays in memory past the page it arrived in.

pub mod compact;
pub mod idp;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One SCIM directory user, as the identity provider pushed it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScimRecord {
    /// The SCIM directory the record lives in.
    pub directory_id: String,
    /// The SCIM `id` (not the account id).
    pub scim_id: String,
    pub external_id: Option<String>,
    pub user_name: String,
    /// The primary email (see scenarios.md, "Email comparison"), as sent; compare with [`normalize_email`].
    pub email: Option<String>,
    pub display_name: Option<String>,
    /// `None` when the IdP did not send `active`: unknown, neither active nor inactive.
    pub active: Option<bool>,
    /// The linked Atlassian account, `None` when unlinked (or when the link could not be read:
    /// see `link_unknown`).
    pub account_id: Option<String>,
    /// The link attribute arrived unreadable: linked or not is unknown, so no finding that depends
    /// on the link is raised about this record (a data-quality note says why). Not stored: the
    /// stored raw JSON keeps what arrived.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub link_unknown: bool,
    /// The fields this pull could not read (absent or `null` `active` included), as the
    /// data-quality notes name them (`active`, `emails.value`, …): unknown, never evidence. Not
    /// stored: the stored raw JSON keeps what arrived.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unknown: Vec<String>,
    /// Group ids from the record's own `groups` attribute.
    pub groups: Vec<String>,
    pub created: Option<String>,
    pub last_modified: Option<String>,
}

/// One SCIM group of a directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScimGroup {
    pub directory_id: String,
    pub group_id: String,
    pub display_name: Option<String>,
    pub external_id: Option<String>,
    /// SCIM ids of the members.
    pub members: Vec<String>,
    /// The fields this pull could not read (`members`, `members.value`, …): who is in the group
    /// is then unknown.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unknown: Vec<String>,
}

/// One account of the organization (Organizations API v2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Account {
    pub account_id: String,
    pub account_type: Option<String>,
    /// `active`, `inactive` (deactivated), `closed`, or an unknown value stored as-is.
    pub account_status: String,
    /// `active`, `suspended`, `no_membership`, or an unknown value stored as-is.
    pub membership_status: String,
    pub status: Option<String>,
    /// `managed` or `unmanaged`.
    pub claim_status: Option<String>,
    pub management_source: Option<String>,
    /// Absent when hidden.
    pub email: Option<String>,
    pub name: Option<String>,
    pub added_to_org: Option<String>,
    pub deactivated_on: Option<String>,
    /// The fields this pull could not read (`accountStatus` with an unexpected or no value
    /// included), as the data-quality notes name them. Not stored.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unknown: Vec<String>,
}

impl Account {
    /// Active account with active membership: the person can log in and use products.
    pub fn has_access(&self) -> bool {
        has_access(&self.account_status, &self.membership_status)
    }

    /// Definitely without access: deactivated, closed, suspended or without membership. An
    /// unknown or unreadable status is neither with nor without access: never a reason to delete
    /// or deactivate, never a reason to drop a leaver finding.
    pub fn lacks_access(&self) -> bool {
        lacks_access(&self.account_status, &self.membership_status)
    }

    /// An account of a person: `accountType` `atlassian` or absent. `app` (integrations, bots) and
    /// `customer` (service-desk portal customers) accounts are counted, never subjects of findings
    /// (scenarios.md, "Who is a person"); nor is an account whose `accountType` was unreadable.
    pub fn is_person(&self) -> bool {
        is_person(self.account_type.as_deref(), &self.unknown)
    }

    /// The `accountType` label for counts and metrics, from a bounded set: `atlassian` (also when
    /// absent), `app`, `customer`, or `other` for any other value (never the value itself).
    pub fn type_label(&self) -> &'static str {
        match self.account_type.as_deref() {
            None | Some("atlassian") => "atlassian",
            Some("app") => "app",
            Some("customer") => "customer",
            Some(_) => "other",
        }
    }
}

fn has_access(account_status: &str, membership_status: &str) -> bool {
    account_status == "active" && membership_status == "active"
}

fn lacks_access(account_status: &str, membership_status: &str) -> bool {
    matches!(account_status, "inactive" | "closed")
        || matches!(membership_status, "suspended" | "no_membership")
}

fn is_person(account_type: Option<&str>, unknown: &[String]) -> bool {
    // An unreadable type is unknown, not absent: never taken for a person's.
    matches!(account_type, None | Some("atlassian")) && !unknown.iter().any(|f| f == "accountType")
}

/// A field scimdrift could not read in one record or account: the field is left unknown, the record
/// kept (scenarios.md, "what the APIs may send"). `problem` says what kind of value arrived, never
/// the value itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldNote {
    /// The field as the API names it, dotted (`active`, `meta.lastModified`, `emails.value`).
    pub field: String,
    /// What arrived, e.g. `expected a boolean, got a string other than "true"/"false"`.
    pub problem: String,
}

/// The data-quality notes of one source in one pull: counted in full, the first
/// [`DataQuality::KEPT`] kept.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataQuality {
    /// Notes in all (one per record and field).
    pub total: u64,
    /// Notes by field.
    pub by_field: std::collections::BTreeMap<String, u64>,
    /// The first notes, in the order they arrived.
    pub notes: Vec<DataQualityNote>,
}

impl DataQuality {
    /// Notes kept per source and pull.
    pub const KEPT: usize = 100;

    /// Gathers `notes`, keeping the first [`Self::KEPT`].
    pub fn gather(notes: impl IntoIterator<Item = DataQualityNote>) -> Self {
        let mut dq = DataQuality::default();
        for n in notes {
            dq.total += 1;
            *dq.by_field.entry(n.field.clone()).or_default() += 1;
            if dq.notes.len() < Self::KEPT {
                dq.notes.push(n);
            }
        }
        dq
    }

    pub fn is_empty(&self) -> bool {
        self.total == 0
    }
}

/// A data-quality note of one pull: a [`FieldNote`] with the source and the record's id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataQualityNote {
    /// `scim:<name>` or `accounts`.
    pub source: String,
    /// The SCIM id, group id or account id.
    pub id: String,
    pub field: String,
    pub problem: String,
}

/// One population of a source that shrank (see `shrink`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shrink {
    pub source: String,
    /// What shrank: `records` (users or accounts) or `people` (the accounts of people alone).
    pub what: String,
    pub from: u64,
    pub to: u64,
}

impl std::fmt::Display for Shrink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} shrank from {} to {}",
            self.source, self.what, self.from, self.to
        )
    }
}

/// What to do with a pull that is complete by the paging rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// No source shrank: the snapshot becomes current.
    Current,
    /// Held: stored, not current, nothing closed, no finding changed.
    Held(Vec<Shrink>),
    /// The shrink was seen by enough consecutive pulls: current.
    Confirmed(Vec<Shrink>),
    /// An operator accepted the shrink (`once --accept-shrink`): current.
    Accepted(Vec<Shrink>),
}

impl Verdict {
    /// The shrunk populations, if any.
    pub fn shrinks(&self) -> &[Shrink] {
        match self {
            Verdict::Current => &[],
            Verdict::Held(s) | Verdict::Confirmed(s) | Verdict::Accepted(s) => s,
        }
    }

    /// `held`, `confirmed` or `accepted`; `None` when nothing shrank.
    pub fn label(&self) -> Option<&'static str> {
        match self {
            Verdict::Current => None,
            Verdict::Held(_) => Some("held"),
            Verdict::Confirmed(_) => Some("confirmed"),
            Verdict::Accepted(_) => Some("accepted"),
        }
    }

    /// One line for logs, `once`, `/readyz` and the report.
    pub fn describe(&self) -> String {
        let list = join_shrinks(self.shrinks());
        match self {
            Verdict::Current => String::new(),
            Verdict::Held(_) => format!(
                "held: {list}; the previous complete snapshot stays current (run `scimdrift once --accept-shrink` if the drop is real)"
            ),
            Verdict::Confirmed(_) => format!("shrink confirmed by consecutive pulls: {list}"),
            Verdict::Accepted(_) => format!("shrink accepted by the operator: {list}"),
        }
    }
}

/// How one source fared. Serialized as in the `once --format json` contract.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SourceStatus {
    /// `scim:<name>` or `accounts`.
    pub source: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub directory_id: Option<String>,
    /// Records (users or accounts) received.
    pub records: usize,
    /// SCIM groups received (SCIM sources only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub groups: Option<usize>,
    pub complete: bool,
    pub error: Option<String>,
    /// Accounts by `accountType` (the accounts source only; absent counts as `atlassian`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_types: Option<BTreeMap<String, u64>>,
    /// An IdP source's provisioning log (a sub-source, idp-api.md §5): `known` (read to its end)
    /// or `unknown` with why, when log-derived facts stay as they were. `None` for the others.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logs: Option<idp::LogFacts>,
    /// An IdP source's intended users that are neither deleted nor disabled (what the shrink guard
    /// watches, beside `records`); `None` for the other sources, an incomplete IdP pull and
    /// `scope = "all"` (no intent is computed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub intended: Option<usize>,
    /// An IdP source's listings as read (what the shrink guard watches beside `records` and
    /// `intended`): `users listed` (by the `/users` listing itself, not re-read one by one),
    /// `assignments`, `group members` (direct members of the assigned groups). `None` for the
    /// other sources and an incomplete IdP pull.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listings: Option<BTreeMap<String, u64>>,
    /// An IdP source complete by the paging rules but held by the shrink guard: it is then
    /// `complete: false` with the shrink in `error`, and treated as an incomplete IdP pull (its
    /// directory's IdP findings stay as they were).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub held: bool,
    /// Fields that could not be read (the records were kept). Rendered by `once` on its own.
    #[serde(skip)]
    pub data_quality: DataQuality,
}

/// What a pull did (the records themselves went to the store as they arrived).
#[derive(Debug, Clone)]
pub struct PullMeta {
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub duration_seconds: f64,
    pub sources: Vec<SourceStatus>,
    /// Retries the pull needed, all APIs together.
    pub retries: u64,
    /// Requests by (api, status class).
    pub api_requests: BTreeMap<(&'static str, &'static str), u64>,
    /// Retries by (api, reason).
    pub api_retries: BTreeMap<(&'static str, &'static str), u64>,
    /// api → seconds a throttle (a 429 and the wait it asked) held every request to that API,
    /// counted once however many requests were in flight.
    pub throttled: BTreeMap<&'static str, f64>,
    /// The provisioning job (or Okta app) each complete IdP source read, by source
    /// (`idp:<directory name>`). Incomplete IdP sources are not listed.
    pub idp_jobs: BTreeMap<String, idp::ProvisioningHealth>,
}

impl SourceStatus {
    /// The source prefix of an IdP source (`idp:<directory name>`).
    pub const IDP_PREFIX: &'static str = "idp:";

    /// An IdP source: its completeness gates only the IdP findings of its directory.
    pub fn is_idp(&self) -> bool {
        self.source.starts_with(Self::IDP_PREFIX)
    }
}

impl PullMeta {
    /// True when every page of every Atlassian source arrived and parsed: the snapshot can become
    /// current. An incomplete IdP source does not make the snapshot incomplete; it only leaves
    /// that directory's IdP findings as they were (idp-api.md §5).
    pub fn complete(&self) -> bool {
        let mut atlassian = self.sources.iter().filter(|s| !s.is_idp()).peekable();
        atlassian.peek().is_some() && atlassian.all(|s| s.complete)
    }

    /// True when every source, the IdPs included, is complete (`once` exits 1 otherwise).
    pub fn all_complete(&self) -> bool {
        self.complete() && self.sources.iter().all(|s| s.complete)
    }

    /// The IdP source of directory `directory_id`, if one was pulled and it is complete.
    pub fn idp_complete(&self, directory_id: &str) -> bool {
        self.sources
            .iter()
            .any(|s| s.is_idp() && s.complete && s.directory_id.as_deref() == Some(directory_id))
    }

    /// SCIM records received, all directories.
    pub fn scim_records(&self) -> usize {
        self.sources
            .iter()
            .filter(|s| s.groups.is_some() && !s.is_idp())
            .map(|s| s.records)
            .sum()
    }

    /// Accounts received.
    pub fn accounts(&self) -> usize {
        self.sources
            .iter()
            .filter(|s| s.groups.is_none() && !s.is_idp())
            .map(|s| s.records)
            .sum()
    }
}

/// One parsed item with the raw JSON it came from.
pub type Item<T> = (T, String);

/// Where pages go as they arrive.
pub trait PageSink<T> {
    /// Takes one page's items (waiting if the consumer is behind).
    fn accept(&self, items: Vec<Item<T>>) -> impl std::future::Future<Output = ()> + Send;
}

/// The audit's time format: RFC 3339 in UTC with milliseconds and `Z`, so times compare as text.
pub fn stamp_millis(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The one format of a time shown to people (reports, `person`, `/readyz`, logs): to the second,
/// in UTC, `2026-12-06 14:03:09 UTC`.
pub fn human_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// A time for programs (JSON, CSV): RFC 3339 in UTC to the second, `2026-12-06T14:03:09Z`.
pub fn rfc3339_seconds(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// A stored time (RFC 3339) as [`rfc3339_seconds`]; anything else as it is.
pub fn to_seconds(t: &str) -> String {
    parse_utc(t)
        .map(rfc3339_seconds)
        .unwrap_or_else(|| t.to_string())
}

/// An RFC 3339 time as an instant in UTC; `None` when it is not one.
pub fn parse_utc(t: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(t)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Shrunk populations as one list: `accounts records shrank from 318 to 0; …`.
pub fn join_shrinks(shrinks: &[Shrink]) -> String {
    shrinks
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Email comparison rule: trim surrounding white space and lower-case (Unicode-aware); nothing else.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// [`normalize_email`] without a copy when `email` is already normalized (the common case):
/// detection's indexes borrow their keys.
pub fn normalized_email(email: &str) -> std::borrow::Cow<'_, str> {
    let folded = |c: char| {
        let mut lower = c.to_lowercase();
        lower.next() == Some(c) && lower.next().is_none()
    };
    let trimmed = email.trim().len() == email.len();
    let lower = if email.is_ascii() {
        !email.bytes().any(|b| b.is_ascii_uppercase())
    } else {
        email.chars().all(folded)
    };
    if trimmed && lower {
        std::borrow::Cow::Borrowed(email)
    } else {
        std::borrow::Cow::Owned(normalize_email(email))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_normalized_email_is_borrowed_and_equal_to_the_copy() {
        for e in [
            "ana@example.com",
            " ana@example.com",
            "Ana@example.com",
            "élodie@example.com",
            "ÉLODIE@example.com",
            "ǅemal@example.com",
            "",
        ] {
            let n = normalized_email(e);
            assert_eq!(n, normalize_email(e), "{e:?}");
            let borrowed = matches!(n, std::borrow::Cow::Borrowed(_));
            assert_eq!(borrowed, normalize_email(e) == e, "{e:?}");
        }
    }

    #[test]
    fn emails_fold_case_and_space_only() {
        assert_eq!(normalize_email("  Ana@Example.COM\n"), "ana@example.com");
        assert_eq!(normalize_email("ÉLODIE@example.com"), "élodie@example.com");
        assert_ne!(
            normalize_email("a.b+x@example.com"),
            normalize_email("ab@example.com")
        );
    }
}
