//! Applying a plan: reconcile earlier intents, re-check each target just before its call, write
//! the intent, call, record the result. `dry_run` steps are only recorded.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::actions::{Remote, is_refusal, status_of};
use super::plan::{Plan, Step};
use super::policy::{Action, Mode};
use crate::metrics::Metrics;
use crate::store::{NewAudit, Store, StoreError};

mod check;

use check::{Reader, changed, send, took_effect};

/// Counts of one apply run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Applied {
    pub success: u64,
    pub failure: u64,
    pub skipped: u64,
    pub dry_run: u64,
    /// Intents of earlier runs settled by reading the target.
    pub reconciled: u64,
}

/// The store behind a lock, so the async code stays `Send`.
pub type Db = Mutex<Store>;

fn db<T>(db: &Db, f: impl FnOnce(&Store) -> Result<T, StoreError>) -> anyhow::Result<T> {
    let store = db
        .lock()
        .map_err(|_| anyhow::anyhow!("the store lock is poisoned"))?;
    Ok(f(&store)?)
}

/// Records an intent's result, unless an operator settled it meanwhile (theirs stands).
fn finish(
    store: &Db,
    key: &str,
    at: &str,
    result: Option<&str>,
    status: Option<u16>,
    detail: Option<&str>,
) -> anyhow::Result<()> {
    if !db(store, |s| s.audit_finish(key, at, result, status, detail))? {
        tracing::warn!(
            key,
            "the intent already has a result (settled by an operator meanwhile): it stands"
        );
    }
    Ok(())
}

/// Why `step` no longer holds (or its target could not be re-read); `None` when it still holds.
async fn recheck(step: &Step, reader: &mut Reader<'_>) -> Option<String> {
    changed(step, reader)
        .await
        .unwrap_or_else(|e| Some(format!("the target could not be re-read: {e}")))
}

fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Test hook (debug builds only): with `SCIMDRIFT_TEST_CRASH_AFTER_CALL` set, the process dies
/// between the call and its result, as under `kill -9`.
fn crash_hook() {
    #[cfg(debug_assertions)]
    if std::env::var_os("SCIMDRIFT_TEST_CRASH_AFTER_CALL").is_some() {
        std::process::abort();
    }
}

/// Settles intents without a result by reading each target's state; never repeats the call.
/// Returns (settled, still pending).
pub async fn reconcile(
    store: &Db,
    remote: &Remote<'_>,
    metrics: &Metrics,
) -> anyhow::Result<(u64, u64)> {
    let pending = db(store, |s| s.audit_pending())?;
    metrics.remediation_intents_open.set(pending.len() as i64);
    if pending.is_empty() {
        return Ok((0, 0));
    }
    let mut reader = Reader::new(remote);
    let (mut settled, mut left) = (0, 0);
    for row in pending {
        let at = stamp(Utc::now());
        match took_effect(&row, &mut reader).await {
            Ok(done) => {
                let refused = row.http_status.filter(|s| (400..500).contains(s));
                let (result, detail) = match (done, refused) {
                    (true, _) => (
                        "success",
                        "reconciled after an interrupted call: the target shows it took effect",
                    ),
                    // Refused after a retry and no effect: a failure (not retried automatically).
                    (false, Some(_)) => (
                        "failure",
                        "reconciled: refused with a 4xx after a retry, and the target shows no effect",
                    ),
                    (false, None) => (
                        "not_applied",
                        "reconciled after an interrupted call: it did not take effect (not repeated)",
                    ),
                };
                let status = refused.and_then(|s| u16::try_from(s).ok());
                // The call's own error stays in the row, before the reconciliation's verdict.
                let detail = match &row.detail {
                    Some(earlier) => format!("{earlier}; {detail}"),
                    None => detail.to_string(),
                };
                finish(
                    store,
                    &row.idempotency_key,
                    &at,
                    Some(result),
                    status,
                    Some(&detail),
                )?;
                metrics
                    .remediation_actions
                    .with_label_values(&[row.action.as_str(), result])
                    .inc();
                tracing::warn!(action = %row.action, finding = %row.finding_id, result, "remediation intent reconciled");
                settled += 1;
            }
            Err(e) => {
                tracing::error!(action = %row.action, finding = %row.finding_id, "cannot reconcile a remediation intent: {e}");
                left += 1;
            }
        }
    }
    metrics.remediation_intents_open.set(left as i64);
    Ok((settled, left))
}

/// Records the dry-run steps and sends the allowed `apply` steps of `plan`; refused while an
/// intent is open (the caller reconciles first).
pub async fn apply(
    store: &Db,
    remote: &Remote<'_>,
    plan: &Plan,
    metrics: &Metrics,
) -> anyhow::Result<Applied> {
    let mut out = Applied::default();
    // The caller reconciles first (so the plan sees the results); what is still open blocks all.
    let left = db(store, |s| s.audit_pending())?.len();
    anyhow::ensure!(
        left == 0,
        "{left} remediation intent(s) could not be reconciled (their targets could not be read): nothing is applied until they are; see `scimdrift audit`, check the targets, then `scimdrift audit settle KEY --result …`"
    );
    let Some(snapshot_id) = plan.snapshot_id else {
        return Ok(out);
    };
    let mut reader = Reader::new(remote);
    // A finding's unlinks and move go together: findings whose group was given up, and why.
    let mut given_up: HashMap<&str, String> = HashMap::new();
    let mut group_checked: HashSet<&str> = HashSet::new();
    for step in plan.steps.iter().filter(|s| s.allowed) {
        let key = step.idempotency_key(snapshot_id);
        let targets = serde_json::to_value(&step.targets).unwrap_or_default();
        let action_key = step.action_key();
        let contest = step
            .contest
            .as_ref()
            .and_then(|c| serde_json::to_value(c).ok());
        let at = stamp(Utc::now());
        let row = NewAudit {
            idempotency_key: &key,
            snapshot_id,
            finding_id: &step.finding_id,
            kind: step.kind.as_str(),
            action: step.action.as_str(),
            mode: step.mode.as_str(),
            action_key: &action_key,
            targets: &targets,
            reason: &step.reason,
            at: &at,
            contest: contest.as_ref(),
        };
        let label = |result: &str| {
            metrics
                .remediation_actions
                .with_label_values(&[step.action.as_str(), result])
                .inc()
        };
        if step.mode == Mode::DryRun {
            if db(store, |s| s.audit_insert(&row, Some("dry_run"), None))? {
                label("dry_run");
                out.dry_run += 1;
                tracing::info!(action = %step.action, finding = %step.finding_id, "dry run: {}", step.reason);
            }
            continue;
        }
        if step.mode != Mode::Apply {
            continue;
        }
        let grouped = step.action.frees_email();
        if db(store, |s| s.audit_has(&key))? {
            // Handled by an earlier run on this snapshot (maybe cut short): the rest of its group
            // waits for a snapshot that shows what that run did.
            if grouped {
                given_up.entry(step.finding_id.as_str()).or_insert_with(|| {
                    "an earlier run on this snapshot already handled part of this finding's unlinks and move: the rest waits for the next snapshot".into()
                });
            }
            continue;
        }
        let mut why = recheck(step, &mut reader).await;
        if grouped && why.is_none() {
            why = given_up.get(step.finding_id.as_str()).cloned();
        }
        // Before a finding's first unlink, every other unlink of it must still hold too.
        if step.action == Action::Unlink
            && why.is_none()
            && group_checked.insert(step.finding_id.as_str())
        {
            let others = plan.steps.iter().filter(|o| {
                o.allowed
                    && o.mode == Mode::Apply
                    && o.action == Action::Unlink
                    && o.finding_id == step.finding_id
                    && !std::ptr::eq(*o, step)
            });
            for other in others {
                if let Some(w) = recheck(other, &mut reader).await {
                    why = Some(format!(
                        "another unlink of this finding (record {}) no longer holds ({w}): the finding's unlinks go together, so none is sent",
                        other
                            .targets
                            .first()
                            .and_then(|t| t.scim_id.as_deref())
                            .unwrap_or("")
                    ));
                    break;
                }
            }
        }
        if let Some(why) = why {
            if grouped {
                given_up
                    .entry(step.finding_id.as_str())
                    .or_insert_with(|| why.clone());
            }
            db(store, |s| s.audit_insert(&row, Some("skipped"), Some(&why)))?;
            label("skipped");
            out.skipped += 1;
            tracing::info!(action = %step.action, finding = %step.finding_id, "remediation skipped: {why}");
            continue;
        }
        if matches!(step.action, Action::Suspend | Action::Restore)
            && let Err(e) = reader.org_directory().await
        {
            let why = format!("the org user directory is unknown: {e}");
            db(store, |s| s.audit_insert(&row, Some("skipped"), Some(&why)))?;
            label("skipped");
            out.skipped += 1;
            tracing::error!(action = %step.action, finding = %step.finding_id, "remediation skipped: {why}");
            continue;
        }
        if !db(store, |s| s.audit_insert(&row, None, None))? {
            continue;
        }
        let result = send(step, &mut reader).await;
        crash_hook();
        let at = stamp(Utc::now());
        if grouped && result.is_err() {
            given_up.insert(
                step.finding_id.as_str(),
                "an earlier unlink of this finding failed: the rest of its unlinks and its move are not sent".into(),
            );
        }
        match result {
            Ok(status) => {
                finish(store, &key, &at, Some("success"), Some(status), None)?;
                label("success");
                out.success += 1;
                tracing::warn!(action = %step.action, finding = %step.finding_id, status, "remediation applied: {}", step.reason);
            }
            Err(e) if is_refusal(&e) => {
                let msg = e.to_string();
                finish(store, &key, &at, Some("failure"), status_of(&e), Some(&msg))?;
                label("failure");
                out.failure += 1;
                tracing::error!(action = %step.action, finding = %step.finding_id, "remediation refused: {msg}");
            }
            Err(e) => {
                // The call may or may not have taken effect: the intent stays open for reconciliation.
                // A 4xx's status stays on the intent: settled as a failure if there was no effect.
                let msg = format!("outcome unknown, to be reconciled: {e}");
                finish(store, &key, &at, None, status_of(&e), Some(&msg))?;
                metrics.remediation_intents_open.inc();
                label("failure");
                out.failure += 1;
                tracing::error!(action = %step.action, finding = %step.finding_id, "remediation call failed: {msg}");
            }
        }
    }
    Ok(out)
}
