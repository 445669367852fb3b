//! The Okta fake's knobs (idp-api.md §4).

use std::time::Duration;

/// How `Link` headers are sent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LinkStyle {
    /// One `link` header per relation (Okta's own).
    #[default]
    Separate,
    /// One comma-joined `Link` line.
    Joined,
}

/// Okta's knobs; the default is a well-behaved org.
#[derive(Clone, Debug, PartialEq)]
pub struct OktaOptions {
    pub link_style: LinkStyle,
    /// Most items served per page, whatever `limit` asks.
    pub page_cap: usize,
    /// Pages hold half the `limit` (at least one) and still carry a `next` link.
    pub short_pages: bool,
    /// `expand=user` embeds `_embedded.user`; off, the client reads each user by id.
    pub embed_users: bool,
    /// App users carry no `syncState`.
    pub omit_sync_state: bool,
    /// The app is served without `features` (unreadable).
    pub omit_app_features: bool,
    /// `/api/v1/logs` answers `403 E0000006`.
    pub logs_forbidden: bool,
    /// Log events name the user only by its `AppUser` target (the app username).
    pub events_app_user_only: bool,
    /// Every n-th API request (token endpoint excluded) is a `429 E0000047` with
    /// `X-Rate-Limit-Remaining: 0` and a reset `rate_limit_reset` after the `Date`.
    pub rate_limit_every: Option<u64>,
    /// Every n-th API request is a concurrency `429` (`X-Rate-Limit-Limit` and `-Remaining` 0).
    pub concurrency_limit_every: Option<u64>,
    /// Seconds from the reply's `Date` to `X-Rate-Limit-Reset` on a rate-limit 429.
    pub rate_limit_reset: u64,
    /// `expires_in` of issued access tokens.
    pub token_lifetime: Duration,
    /// The first access token used after the knobs change is revoked: that request is refused
    /// `401 E0000011` (a token revoked mid-pull).
    pub revoke_first_token: bool,
}

impl Default for OktaOptions {
    fn default() -> Self {
        OktaOptions {
            link_style: LinkStyle::Separate,
            page_cap: 1000,
            short_pages: false,
            embed_users: true,
            omit_sync_state: false,
            omit_app_features: false,
            logs_forbidden: false,
            events_app_user_only: false,
            rate_limit_every: None,
            concurrency_limit_every: None,
            rate_limit_reset: 1,
            token_lifetime: Duration::from_secs(3600),
            revoke_first_token: false,
        }
    }
}
