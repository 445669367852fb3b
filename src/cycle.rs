//! One cycle: pull every source into the store and, when the snapshot is complete, detect and
//! reconcile the findings in the same transaction. The daemon and `once` share it.

use std::collections::HashMap;

use chrono::Utc;

use crate::config::Settings;
use crate::findings::{self, Context};
use crate::pull::{self, Keys, PullMeta};
use crate::store::{Reconciled, Recorded, Recorder, Store};

/// What a cycle did.
#[derive(Debug)]
pub struct Outcome {
    pub pull: PullMeta,
    pub recorded: Recorded,
    /// Finding counts; `None` for an incomplete snapshot (which changes no finding).
    pub findings: Option<Reconciled>,
}

/// Pulls, stores and analyses one snapshot. Errors are configuration or store errors; API failures
/// make the snapshot incomplete instead.
pub async fn pull_and_store(settings: &Settings) -> anyhow::Result<Outcome> {
    let keys = Keys::load(settings)?;
    let rules = settings.ignore_rules()?;
    let store = Store::open(&settings.store.path)?;
    let recorder = Recorder::start(store);
    let meta = pull::run(settings, &keys, &recorder.sink()).await;

    let now = Utc::now();
    crate::ignore::log_expired(&rules, now.date_naive());
    let ctx = Context {
        settings: settings.detect_settings(),
        rules,
        directory_names: settings
            .atlassian
            .directories
            .iter()
            .map(|d| (d.id.clone(), d.name.clone()))
            .collect::<HashMap<_, _>>(),
        now,
    };
    let analyse = Box::new(move |pop: &crate::store::Population, since: &_| {
        findings::evaluate(&pop.records, &pop.groups, &pop.accounts, since, &ctx)
    });
    let finished = recorder.finish(meta.clone(), Some(analyse)).await?;
    let recorded = finished.recorded;
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
        pull: meta,
        recorded,
        findings: finished.reconciled,
    })
}
