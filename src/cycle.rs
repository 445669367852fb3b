//! One cycle: pull every source, then record the snapshot. The daemon and `once` share it.

use crate::config::Settings;
use crate::pull::{self, Keys, Pull};
use crate::store::{Recorded, Store};

/// What a cycle did.
#[derive(Debug)]
pub struct Outcome {
    pub pull: Pull,
    pub recorded: Recorded,
}

/// Pulls and stores one snapshot. Errors are configuration, setup or store errors; API failures
/// make the snapshot incomplete instead.
pub async fn pull_and_store(settings: &Settings) -> anyhow::Result<Outcome> {
    let keys = Keys::load(settings)?;
    let mut store = Store::open(&settings.store.path)?;
    let pull = pull::run(settings, &keys).await?;
    let recorded = store.record_pull(&pull)?;
    if recorded.complete {
        tracing::info!(
            snapshot_id = recorded.snapshot_id,
            added = recorded.versions_added,
            closed = recorded.versions_closed,
            "complete snapshot stored"
        );
    } else {
        tracing::warn!(
            snapshot_id = recorded.snapshot_id,
            "incomplete snapshot stored; the previous complete snapshot stays current"
        );
    }
    Ok(Outcome { pull, recorded })
}
