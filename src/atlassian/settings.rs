//! `[atlassian]`: where the APIs are, which keys to use, and the HTTP layer's settings. Owned here,
//! gathered by `config`.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// `[atlassian]`: where the APIs are and which keys to use.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AtlassianSettings {
    #[serde(default = "default_base_url")]
    pub base_url: String,
    #[serde(default)]
    pub org_id: String,
    pub org_api_key_env: Option<String>,
    pub org_api_key_file: Option<PathBuf>,
    #[serde(default)]
    pub accounts_endpoint: AccountsEndpoint,
    #[serde(default)]
    pub directories: Vec<DirectorySettings>,
    #[serde(default)]
    pub http: HttpSettings,
}

/// Which Organizations API v2 call lists the accounts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccountsEndpoint {
    /// `POST …/directories/-/users/search`
    #[default]
    Search,
    /// `GET …/directories/-/users`
    List,
}

/// `[[atlassian.directories]]`: one SCIM directory.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DirectorySettings {
    #[serde(default)]
    pub id: String,
    /// Label used in metrics and reports.
    #[serde(default)]
    pub name: String,
    pub token_env: Option<String>,
    pub token_file: Option<PathBuf>,
}

/// `[atlassian.http]`: timeouts, retries and concurrency of the shared HTTP layer.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct HttpSettings {
    /// Timeout of one request, seconds.
    pub timeout_seconds: f64,
    /// Retries of one request (429, 5xx, timeouts, resets) before giving up.
    pub max_retries: u32,
    /// First back-off delay, milliseconds; doubles each retry, with jitter.
    pub retry_base_delay_ms: u64,
    /// Longest single wait, seconds (also caps Retry-After / X-RateLimit-Reset).
    pub retry_max_delay_seconds: f64,
    /// Total time one pull may spend waiting on retries, seconds.
    pub retry_budget_seconds: f64,
    /// Requests in flight per API.
    pub concurrency: usize,
    /// `count` asked of SCIM (Atlassian serves at most 100).
    pub scim_page_size: usize,
    /// `limit` asked of the accounts API.
    pub accounts_page_size: usize,
    /// Largest body one page may have, bytes; a larger page fails (the source is incomplete).
    pub max_page_bytes: u64,
    /// Longest one pull may take, seconds: past it every further request fails at once.
    pub pull_deadline_seconds: f64,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            timeout_seconds: 30.0,
            max_retries: 5,
            retry_base_delay_ms: 500,
            retry_max_delay_seconds: 60.0,
            retry_budget_seconds: 300.0,
            concurrency: 4,
            scim_page_size: 100,
            accounts_page_size: 100,
            max_page_bytes: 64 * 1024 * 1024,
            pull_deadline_seconds: 1800.0,
        }
    }
}

fn default_base_url() -> String {
    "https://api.atlassian.com".to_string()
}

/// A number of seconds as a `Duration`, never panicking: NaN and negatives are zero, and anything
/// beyond a year (or infinite) is a year. Validation keeps settings far inside this; this is the
/// defence in depth at every conversion.
pub fn duration_secs(seconds: f64) -> std::time::Duration {
    const YEAR: f64 = 365.0 * 86_400.0;
    if seconds.is_nan() || seconds <= 0.0 {
        return std::time::Duration::ZERO;
    }
    std::time::Duration::try_from_secs_f64(seconds.min(YEAR))
        .unwrap_or(std::time::Duration::from_secs(YEAR as u64))
}
