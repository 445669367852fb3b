//! The one error type of the API clients. It names the source and the page, never a secret.

use std::fmt;

/// What went wrong, for callers that branch on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorKind {
    /// 401: the key was refused.
    Unauthorized,
    /// 403: the key lacks a permission.
    Forbidden,
    /// 404 on a single-record read: the record does not exist.
    NotFound,
    /// Any other non-success status that is not retried (400, 409, …).
    Status(u16),
    /// 429/5xx/timeouts still failing after the allowed retries.
    RetriesExhausted,
    /// The pull's retry budget is spent.
    BudgetExhausted,
    /// The body is not what the contract promises (truncated, malformed, missing fields, totals).
    Malformed,
    /// The request could not be sent or the reply not read (not retried any more).
    Transport,
    /// The reply is valid but does not single out what the call needs (e.g. several org user
    /// directories and no `remediation.org_directory_id`): a configuration question.
    Ambiguous,
}

/// An API failure: `origin` is the source (`scim:entra`, `accounts`, `provisioning`), `page` the page
/// or record (`startIndex=101`, `cursor=…`, `first page`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub origin: String,
    pub page: String,
    pub kind: ErrorKind,
    pub message: String,
    /// Retries made before this error.
    pub retries: u32,
    /// Of those, retries after an attempt whose outcome is unknown (a 5xx, a timeout, a broken
    /// connection): after one, a non-GET call may have taken effect. A 429 was not processed.
    pub uncertain_retries: u32,
}

impl ApiError {
    /// Builds an error for `origin` at `page`. The message is redacted
    /// ([`crate::secret::redact`]): no registered secret or `Bearer` token leaves in it.
    pub fn new(origin: &str, page: &str, kind: ErrorKind, message: impl Into<String>) -> Self {
        ApiError {
            origin: origin.to_string(),
            page: crate::secret::redact(page),
            kind,
            message: crate::secret::redact(&message.into()),
            retries: 0,
            uncertain_retries: 0,
        }
    }

    /// A malformed reply.
    pub fn malformed(origin: &str, page: &str, message: impl Into<String>) -> Self {
        Self::new(origin, page, ErrorKind::Malformed, message)
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Redacted again: a message may have been replaced after construction.
        let text = format!("{} ({}): {}", self.origin, self.page, self.message);
        f.write_str(&crate::secret::redact(&text))
    }
}

impl std::error::Error for ApiError {}
