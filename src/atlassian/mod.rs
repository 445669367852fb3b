//! HTTP clients for the Atlassian Cloud APIs scimdrift reads (see ../shared/atlassian-api.md).
//! All of them go through one shared [`crate::http::HttpLayer`]: timeouts, retries, rate limits, budgets.

pub mod accounts;
pub mod paging;
pub mod provisioning;
pub mod scim;
pub mod settings;

pub use crate::http::{Api, ApiError, ErrorKind, HttpLayer, RetryPolicy};

/// The keys the clients send: the org API key and one directory API key per configured directory
/// (in `[[atlassian.directories]]` order), read once from their env vars or files by `config`.
pub struct Keys {
    pub org: crate::secret::Secret,
    pub directories: Vec<crate::secret::Secret>,
    /// Per directory (same order), the credentials of its `[atlassian.directories.idp]`, if any.
    pub idp: Vec<Option<std::sync::Arc<crate::idp::Credential>>>,
}
