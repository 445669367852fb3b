//! The application layer, on top of every other module: the command line, the daemon and its HTTP
//! server, the cycle they share, rendering, the demo and the benchmarks. Nothing below imports it.

pub mod bench;
pub mod cli;
pub mod cycle;
pub mod daemon;
pub mod daily;
pub mod demo;
pub mod output;
pub mod query;
pub mod remediation;
pub mod server;
