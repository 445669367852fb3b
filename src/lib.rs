//! scimdrift: detects drift between an identity provider's SCIM directories and an Atlassian Cloud
//! organization's accounts. See ARCHITECTURE.md for the code map.

pub mod atlassian;
pub mod bench;
pub mod cli;
pub mod config;
pub mod cycle;
pub mod daemon;
pub mod demo;
pub mod detect;
pub mod escape;
pub mod findings;
pub mod ignore;
pub mod metrics;
pub mod model;
pub mod output;
pub mod person;
pub mod pull;
pub mod query;
pub mod remediate;
pub mod report;
pub mod secret;
pub mod section;
pub mod server;
pub mod shrink;
pub mod sim;
pub mod store;
