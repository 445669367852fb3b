//! HTTP clients for the Atlassian Cloud APIs scimdrift reads (see ../shared/atlassian-api.md).
//! All of them go through one shared [`http::HttpLayer`]: timeouts, retries, rate limits, budgets.

pub mod accounts;
pub mod error;
pub mod fields;
pub mod http;
pub mod paging;
pub mod provisioning;
pub mod scim;
pub mod settings;

pub use error::{ApiError, ErrorKind};
pub use http::{Api, HttpLayer, RetryPolicy};
