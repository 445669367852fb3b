//! The application layer, on top of every other module: the configuration that gathers every
//! module's section, the command line, the daemon and its HTTP server, the cycle they share, the
//! remediation runs and the daily report job, rendering, the demo and the benchmarks. Nothing below
//! imports it.

pub mod bench;
pub mod cli;
pub mod config;
pub mod cycle;
pub mod daemon;
pub mod daily;
pub mod demo;
pub mod journal;
pub mod mixin;
pub mod output;
pub mod progress;
pub mod query;
pub mod remediation;
pub mod schedule;
pub mod server;
