//! Simulator settings, changeable at run time through
//! [`SimHandle::set_options`](super::SimHandle::set_options).

use std::time::Duration;

use super::entra_options::EntraOptions;
use super::okta_options::OktaOptions;
use crate::sim::kit::faults::Faults;
use crate::sim::kit::respond::SuccessStyle;

/// Serving knobs. `Default` mimics Atlassian.
#[derive(Clone, Debug, PartialEq)]
pub struct SimOptions {
    /// Most SCIM resources served per page, whatever `count` asks (Atlassian: 100).
    pub scim_page_cap: usize,
    /// Most accounts served per page, whatever `limit` asks.
    pub accounts_page_cap: usize,
    /// Serve accounts pages about half as long as they could be, `next` still present (lenient).
    pub accounts_short_pages: bool,
    /// Serve SCIM as `application/json` instead of `application/scim+json`.
    pub scim_plain_json: bool,
    /// How suspend/restore, provisioning and user-management mutations answer success.
    pub success_style: SuccessStyle,
    /// How far ahead a fault `429` puts `X-RateLimit-Reset` (and an HTTP-date `Retry-After`).
    pub rate_limit_wait: Duration,
    /// The `Retry-After` of a [`RetryAfterStyle::Seconds`](super::RetryAfterStyle::Seconds) `429`.
    pub retry_after_seconds: u64,
    /// Admin API quota: this many requests per `quota_window`, then `429` until the window ends.
    /// Every admin answer reports it in `X-RateLimit-*`.
    pub quota_limit: u32,
    pub quota_window: Duration,
    /// The initial fault knobs (see [`SimHandle::set_faults`](super::SimHandle::set_faults)).
    /// They apply to the Entra APIs too (in Graph's error shapes).
    pub faults: Faults,
    /// The Entra ID / Microsoft Graph knobs.
    pub entra: EntraOptions,
    /// The Okta knobs.
    pub okta: OktaOptions,
}

impl Default for SimOptions {
    fn default() -> Self {
        Self {
            scim_page_cap: 100,
            accounts_page_cap: 50,
            accounts_short_pages: false,
            scim_plain_json: false,
            success_style: SuccessStyle::NoContent,
            rate_limit_wait: Duration::from_secs(1),
            retry_after_seconds: 1,
            quota_limit: 100_000,
            quota_window: Duration::from_secs(60),
            faults: Faults::default(),
            entra: EntraOptions::default(),
            okta: OktaOptions::default(),
        }
    }
}
