//! `[atlassian.http]`: the shared HTTP layer's settings (timeouts, retries, concurrency, caps), for
//! every source. Owned here; the `[atlassian]` section embeds it.

use serde::{Deserialize, Serialize};

use crate::section::{check_count, check_seconds};

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

impl HttpSettings {
    /// Checks the ranges; the error is (key within the section, message).
    pub fn validate(&self) -> Result<(), (String, String)> {
        let h = self;
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
            check_seconds(value, min, max).map_err(|m| (key.to_string(), m))?;
        }
        for (key, value, min, max) in [
            ("max_retries", u64::from(h.max_retries), 0, 100),
            ("retry_base_delay_ms", h.retry_base_delay_ms, 0, 60_000),
            ("concurrency", h.concurrency as u64, 1, 64),
            ("scim_page_size", h.scim_page_size as u64, 1, 1000),
            ("accounts_page_size", h.accounts_page_size as u64, 1, 1000),
            ("max_page_bytes", h.max_page_bytes, 1024, 4 << 30),
        ] {
            check_count(value, min, max).map_err(|m| (key.to_string(), m))?;
        }
        Ok(())
    }
}
