//! One cycle: pull every source, record the snapshot and, when it is complete, detect and reconcile
//! the findings in the same transaction. The daemon and `once` share it.

use std::collections::HashMap;

use chrono::Utc;

use crate::config::Settings;
use crate::findings::{self, Context};
use crate::pull::{self, Keys, Pull};
use crate::store::{Reconciled, Recorded, Store};

/// What a cycle did.
#[derive(Debug)]
pub struct Outcome {
    pub pull: Pull,
    pub recorded: Recorded,
    /// Finding counts; `None` for an incomplete snapshot (which changes no finding).
    pub findings: Option<Reconciled>,
}

/// Pulls, stores and analyses one snapshot. Errors are configuration, setup or store errors; API
/// failures make the snapshot incomplete instead.
pub async fn pull_and_store(settings: &Settings) -> anyhow::Result<Outcome> {
    let keys = Keys::load(settings)?;
    let rules = settings.ignore_rules()?;
    let mut store = Store::open(&settings.store.path)?;
    let pull = pull::run(settings, &keys).await?;
    let now = Utc::now();
    crate::ignore::log_expired(&rules, now.date_naive());
    let detect = settings.detect_settings();
    let names: HashMap<String, String> = settings
        .atlassian
        .directories
        .iter()
        .map(|d| (d.id.clone(), d.name.clone()))
        .collect();
    let ctx = Context {
        settings: &detect,
        rules: &rules,
        directory_names: &names,
        now,
    };
    let (recorded, reconciled) = store.record_cycle(
        &pull,
        Box::new(|since| {
            findings::evaluate(&pull.records, &pull.groups, &pull.accounts, since, &ctx)
        }),
    )?;
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
    Ok(Outcome {
        pull,
        recorded,
        findings: reconciled,
    })
}
