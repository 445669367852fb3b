//! The simulator's request log.

use super::faults::Api;

/// One request the simulator answered (never its headers).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoggedRequest {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    /// `None` for paths outside every API.
    pub api: Option<Api>,
    pub status: u16,
}
