//! One pull: every SCIM directory (users and groups) and the org's accounts, fetched concurrently
//! into one snapshot that is complete only if every source is (atlassian-api.md §5).

use std::time::Instant;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::atlassian::accounts::{self, AccountsClient};
use crate::atlassian::scim::ScimClient;
use crate::atlassian::{ApiError, HttpLayer};
use crate::config::{ConfigError, Settings};
use crate::model::{Account, ScimGroup, ScimRecord};
use crate::secret::Secret;

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
}

/// Everything one pull fetched. Only a complete pull may be used as the current state.
#[derive(Debug, Clone)]
pub struct Pull {
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub duration_seconds: f64,
    pub sources: Vec<SourceStatus>,
    pub records: Vec<ScimRecord>,
    pub groups: Vec<ScimGroup>,
    pub accounts: Vec<Account>,
    /// Retries the pull needed, all APIs together.
    pub retries: u64,
}

impl Pull {
    /// True when every page of every source arrived and parsed.
    pub fn complete(&self) -> bool {
        self.sources.iter().all(|s| s.complete)
    }
}

/// The keys a pull needs, read once from their env vars or files.
pub struct Keys {
    pub org: Secret,
    pub directories: Vec<Secret>,
}

impl Keys {
    /// Reads every key the settings name.
    pub fn load(settings: &Settings) -> Result<Keys, ConfigError> {
        Ok(Keys {
            org: settings.org_api_key()?,
            directories: (0..settings.atlassian.directories.len())
                .map(|i| settings.directory_token(i))
                .collect::<Result<_, _>>()?,
        })
    }
}

/// Runs one pull of every source, concurrently.
pub async fn run(settings: &Settings, keys: &Keys) -> Result<Pull, ApiError> {
    let a = &settings.atlassian;
    let http = HttpLayer::new(&a.base_url, &a.http)?;
    let started_at = Utc::now();
    let clock = Instant::now();

    let directory_pulls = a.directories.iter().zip(&keys.directories).map(|(d, key)| {
        let client = ScimClient {
            http: &http,
            directory_id: &d.id,
            origin: format!("scim:{}", d.name),
            key,
            page_size: a.http.scim_page_size,
        };
        async move {
            let (users, groups) = tokio::join!(client.users(), client.groups());
            let error = users
                .error
                .as_ref()
                .or(groups.error.as_ref())
                .map(ToString::to_string);
            let status = SourceStatus {
                source: client.origin.clone(),
                directory_id: Some(d.id.clone()),
                records: users.items.len(),
                groups: Some(groups.items.len()),
                complete: error.is_none(),
                error,
            };
            (status, users.items, groups.items)
        }
    });
    let accounts_client = AccountsClient {
        http: &http,
        org_id: &a.org_id,
        key: &keys.org,
        endpoint: a.accounts_endpoint,
        page_size: a.http.accounts_page_size,
    };
    let (directories, accounts) = tokio::join!(
        futures::future::join_all(directory_pulls),
        accounts_client.accounts()
    );

    let mut pull = Pull {
        started_at,
        finished_at: Utc::now(),
        duration_seconds: clock.elapsed().as_secs_f64(),
        sources: Vec::with_capacity(directories.len() + 1),
        records: Vec::new(),
        groups: Vec::new(),
        accounts: Vec::new(),
        retries: http.stats.total_retries(),
    };
    for (status, users, groups) in directories {
        pull.sources.push(status);
        pull.records.extend(users);
        pull.groups.extend(groups);
    }
    let error = accounts.error.map(|e| e.to_string());
    pull.sources.push(SourceStatus {
        source: accounts::ORIGIN.to_string(),
        directory_id: None,
        records: accounts.items.len(),
        groups: None,
        complete: error.is_none(),
        error,
    });
    pull.accounts = accounts.items;
    for s in &pull.sources {
        match &s.error {
            None => tracing::info!(source = %s.source, records = s.records, "source complete"),
            Some(e) => {
                tracing::warn!(source = %s.source, records = s.records, "source incomplete: {e}")
            }
        }
    }
    Ok(pull)
}
