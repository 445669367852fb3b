//! Guarded remediation against the simulator, by theme: each action's real effect, every guard
//! with the count of mutating requests the simulator received, failures and crashes, plans from
//! the CLI, and the unlink group. Shared set-up in `support`.

#[path = "../common/mod.rs"]
mod common;

mod actions;
mod failures;
mod groups;
mod guards;
mod on_demand;
mod plans;
mod support;
