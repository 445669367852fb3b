//! `[atlassian]`: where the APIs are, which keys to use, and the HTTP layer's settings. Owned here,
//! gathered by `config`.

use std::path::PathBuf;

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::section::{check_count, check_seconds};

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

impl AtlassianSettings {
    /// Checks the section (`base_url` by [`crate::section::check_url`], the org, the directories,
    /// the HTTP layer's ranges) and fills in the default key variables, so the effective
    /// configuration shows where each key comes from. The error is (key within the section,
    /// message).
    pub fn validate(&mut self) -> Result<(), (String, String)> {
        fn err(key: impl Into<String>, message: impl Into<String>) -> (String, String) {
            (key.into(), message.into())
        }
        let a = &*self;
        crate::section::check_url(&a.base_url).map_err(|m| err("base_url", m))?;
        if a.org_id.trim().is_empty() {
            return Err(err(
                "org_id",
                "required: the organization id from admin hub",
            ));
        }
        if a.org_api_key_env.is_some() && a.org_api_key_file.is_some() {
            return Err(err(
                "org_api_key_env",
                "set either org_api_key_env or org_api_key_file, not both",
            ));
        }
        if a.directories.is_empty() {
            return Err(err(
                "directories",
                "expected at least one [[atlassian.directories]] entry with id and name",
            ));
        }
        let mut ids = HashSet::new();
        let mut names = HashSet::new();
        for (i, d) in a.directories.iter().enumerate() {
            let key = |k: &str| format!("directories[{i}].{k}");
            if d.id.trim().is_empty() {
                return Err(err(key("id"), "required: the SCIM directory id"));
            }
            if d.name.is_empty()
                || !d
                    .name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
            {
                return Err(err(
                    key("name"),
                    format!(
                        "expected a short label of lower-case letters, digits, `_` or `-` (got {:?})",
                        d.name
                    ),
                ));
            }
            if !ids.insert(d.id.clone()) {
                return Err(err(
                    key("id"),
                    format!("directory id {:?} is listed twice", d.id),
                ));
            }
            if !names.insert(d.name.clone()) {
                return Err(err(
                    key("name"),
                    format!("directory name {:?} is used twice", d.name),
                ));
            }
            if d.token_env.is_some() && d.token_file.is_some() {
                return Err(err(
                    key("token_env"),
                    "set either token_env or token_file, not both",
                ));
            }
        }
        let h = &a.http;
        let http = |k: &str| format!("http.{k}");
        for (key, value, min, max) in [
            ("timeout_seconds", h.timeout_seconds, 0.001, 3600.0),
            (
                "retry_max_delay_seconds",
                h.retry_max_delay_seconds,
                0.0,
                3600.0,
            ),
            (
                "retry_budget_seconds",
                h.retry_budget_seconds,
                0.0,
                86_400.0,
            ),
            (
                "pull_deadline_seconds",
                h.pull_deadline_seconds,
                1.0,
                86_400.0,
            ),
        ] {
            check_seconds(value, min, max).map_err(|m| err(http(key), m))?;
        }
        for (key, value, min, max) in [
            ("max_retries", u64::from(h.max_retries), 0, 100),
            ("retry_base_delay_ms", h.retry_base_delay_ms, 0, 60_000),
            ("concurrency", h.concurrency as u64, 1, 64),
            ("scim_page_size", h.scim_page_size as u64, 1, 1000),
            ("accounts_page_size", h.accounts_page_size as u64, 1, 1000),
            ("max_page_bytes", h.max_page_bytes, 1024, 4 << 30),
        ] {
            check_count(value, min, max).map_err(|m| err(http(key), m))?;
        }
        // Defaults for the secret references, so the effective config shows where keys come from.
        if self.org_api_key_file.is_none() && self.org_api_key_env.is_none() {
            self.org_api_key_env = Some("SCIMDRIFT_ORG_API_KEY".into());
        }
        for d in &mut self.directories {
            if d.token_env.is_none() && d.token_file.is_none() {
                d.token_env = Some(format!(
                    "SCIMDRIFT_DIR_{}",
                    d.name.to_uppercase().replace('-', "_")
                ));
            }
        }
        Ok(())
    }
}
