//! The identity provider as a third source (../shared/idp-api.md): what it intends to provision
//! and how provisioning went. One client per IdP kind (`entra`, `okta`), each producing an
//! [`crate::model::idp::IdpSide`] through the shared HTTP layer; completeness as idp-api.md §5.
//! Callers use [`Credential`], [`pull`] and [`check_online`], which dispatch on the kind, so a new
//! kind (Okta) changes no caller.

pub mod entra;
pub mod listing;
pub mod okta;
pub mod settings;
pub mod token;

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};

pub use settings::{IdpKind, IdpScope, IdpSettings};

use crate::http::{ApiError, HttpEvents, HttpSettings, HttpStats};
use crate::model::idp::IdpSide;
use crate::model::{DataQuality, DataQualityNote, SourceStatus};

/// The source name of a directory's IdP in statuses, errors and data-quality notes.
pub fn origin(directory_name: &str) -> String {
    format!("idp:{directory_name}")
}

/// The credentials of one `[atlassian.directories.idp]` section, read once (at config load) and
/// kept: they cache the access token across pulls.
#[derive(Debug)]
pub enum Credential {
    Entra(entra::Credential),
    Okta(okta::Credential),
}

impl Credential {
    /// Reads the section's secret or key files; the error is (key within the section, why),
    /// never a value.
    pub fn load(s: &IdpSettings) -> Result<Self, (String, String)> {
        match s.kind {
            IdpKind::Entra => entra::Credential::load(s).map(Credential::Entra),
            IdpKind::Okta => okta::Credential::load(s).map(Credential::Okta),
        }
    }

    /// What kind of credential this is (no value).
    pub fn describe(&self) -> String {
        match self {
            Credential::Entra(c) => c.describe(),
            Credential::Okta(c) => c.describe(),
        }
    }
}

/// One IdP pull: the side and its source status (`records` = users, `groups` = assigned groups),
/// with the pull's HTTP counts to merge into `PullMeta` (the metrics got each event already).
#[derive(Debug, Clone)]
pub struct IdpPull {
    pub side: IdpSide,
    pub status: SourceStatus,
    /// Retries the IdP pull needed.
    pub retries: u64,
    /// Requests by (api, status class).
    pub api_requests: BTreeMap<(&'static str, &'static str), u64>,
    /// Retries by (api, reason).
    pub api_retries: BTreeMap<(&'static str, &'static str), u64>,
    /// api → seconds a throttle held it.
    pub throttled: BTreeMap<&'static str, f64>,
}

/// What an IdP pull takes from scimdrift's history, read by the cycle before the pull.
#[derive(Debug, Clone, Default)]
pub struct Known {
    /// When the provisioning log was last read to its end (`None`: never).
    pub logs_since: Option<DateTime<Utc>>,
    /// The `externalId`s of the directory's active SCIM records as of the latest complete
    /// snapshot: those no IdP user joins are looked up before they are called orphans
    /// (scenarios.md, "Deleted, looked up"; idp-api.md §1.2).
    pub external_ids: Vec<String>,
}

/// Pulls the IdP side of one directory (see [`entra::pull`]). Runs beside the Atlassian pull.
#[allow(clippy::too_many_arguments)]
pub async fn pull(
    s: &IdpSettings,
    cred: &Credential,
    http: &HttpSettings,
    directory_id: &str,
    origin: &str,
    known: &Known,
    now: DateTime<Utc>,
    events: Arc<dyn HttpEvents>,
) -> IdpPull {
    match cred {
        Credential::Entra(c) => {
            entra::pull(s, c, http, directory_id, origin, known, now, events).await
        }
        Credential::Okta(c) => {
            okta::pull(s, c, http, directory_id, origin, known, now, events).await
        }
    }
}

/// `check-config --online`: signs in and reads one page of each call the pull makes; a 403
/// names the permission to grant. The text says what was found.
pub async fn check_online(
    s: &IdpSettings,
    cred: &Credential,
    http: &HttpSettings,
    origin: &str,
    events: Option<Arc<dyn HttpEvents>>,
) -> Result<String, ApiError> {
    match cred {
        Credential::Entra(c) => {
            let client = entra::Client::new(s, c, http, origin, events)?;
            client.check_online().await.map(|c| c.to_string())
        }
        Credential::Okta(c) => {
            let client = okta::Client::new(s, c, http, origin, events)?;
            client.check_online().await.map(|c| c.to_string())
        }
    }
}

/// The side and its status; the first error says why it is incomplete (the others are logged).
pub(crate) fn finish(
    side: IdpSide,
    origin: &str,
    errors: Vec<ApiError>,
    notes: Vec<DataQualityNote>,
    stats: Option<&HttpStats>,
) -> IdpPull {
    for e in &errors {
        tracing::warn!(source = origin, "IdP pull incomplete: {e}");
    }
    let error = errors.first().map(|first| match errors.len() {
        1 => first.to_string(),
        n => format!("{first} (and {} more errors)", n - 1),
    });
    // What the shrink guard watches beside the users: the users the IdP means to keep
    // provisioned (a drop opens "no longer intended / deleted / disabled" findings).
    let intended = (error.is_none() && !side.scope_all).then(|| {
        side.users
            .iter()
            // A user whose intent is unknown may be intended: never counted as a drop.
            .filter(|u| {
                (u.intended
                    || u.unknown
                        .iter()
                        .any(|f| f == crate::model::idp::IdpUser::INTENT))
                    && !u.deleted
                    && u.enabled != Some(false)
            })
            .count()
    });
    let status = SourceStatus {
        source: origin.to_string(),
        directory_id: Some(side.directory_id.clone()),
        records: side.users.len(),
        groups: Some(side.groups.len()),
        complete: error.is_none(),
        error,
        account_types: None,
        logs: Some(side.logs.clone()),
        intended,
        listings: None,
        held: false,
        data_quality: DataQuality::gather(notes),
    };
    type Counts = std::collections::BTreeMap<(&'static str, &'static str), u64>;
    let copy = |m: &std::sync::Mutex<Counts>| m.lock().map(|m| m.clone()).unwrap_or_default();
    IdpPull {
        side,
        status,
        retries: stats.map_or(0, HttpStats::total_retries),
        api_requests: stats.map(|s| copy(&s.requests)).unwrap_or_default(),
        api_retries: stats.map(|s| copy(&s.retries)).unwrap_or_default(),
        throttled: stats.map(HttpStats::throttled_seconds).unwrap_or_default(),
    }
}
