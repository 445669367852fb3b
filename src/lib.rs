//! scimdrift: detects drift between an identity provider's SCIM directories and an Atlassian Cloud
//! organization's accounts. See ARCHITECTURE.md for the code map and the layers: a module imports
//! only from layers below it (checked by tests/tidy.rs).

pub mod app;
pub mod atlassian;
pub mod detect;
pub mod escape;
pub mod fields;
pub mod findings;
pub mod groups;
pub mod http;
pub mod idp;
pub mod ignore;
pub mod metrics;
pub mod model;
pub mod person;
pub mod pull;
pub mod remediate;
pub mod report;
pub mod secret;
pub mod section;
pub mod shrink;
pub mod sim;
pub mod store;

pub use app::{bench, cli, config, cycle, daemon, demo, output, query, server};
