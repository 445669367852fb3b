//! Applying a plan: reconcile earlier intents, re-check each target just before its call, write
//! the intent, call, record the result. `dry_run` steps are only recorded.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use chrono::Utc;
use serde::Serialize;

use super::actions::{Remote, is_refusal, status_of};
use super::plan::{Plan, Step};
use super::policy::{Action, Mode};
use crate::atlassian::ErrorKind;
use crate::metrics::Metrics;
use crate::model::stamp_millis;
use crate::store::{DryRunStep, NewAudit, Store, StoreError};

mod check;

use check::{Answer, Reader, changed, send, took_effect};

/// Counts of one apply run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Applied {
    pub success: u64,
    pub failure: u64,
    pub skipped: u64,
    /// Dry-run steps that would run in this plan (recorded in the audit only when they changed).
    pub dry_run: u64,
    /// Audit rows written because the dry-run plan changed: a step appeared, disappeared, or its
    /// guards' verdict changed.
    #[serde(default)]
    pub dry_run_changes: u64,
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
async fn recheck(step: &Step, reader: &mut Reader<'_>) -> Option<(SkipReason, String)> {
    match changed(step, reader).await {
        Ok(why) => why.map(|w| (SkipReason::TargetChanged, w)),
        Err(e) => Some((
            SkipReason::TargetUnreadable,
            format!("the target could not be re-read: {e}"),
        )),
    }
}

/// Why an allowed `apply` step was not sent: the `reason` label of
/// `scimdrift_remediation_steps_total{result="skipped"}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    /// Read again just before the call, the target no longer shows the finding.
    TargetChanged,
    /// The target could not be read again.
    TargetUnreadable,
    /// Another step of the same finding's unlinks and move did not hold or failed.
    GroupGivenUp,
    /// Several org user directories and no `remediation.org_directory_id` (suspend / restore).
    OrgDirectoryAmbiguous,
    /// The org's user directories could not be listed (suspend / restore).
    OrgDirectoryUnreadable,
}

impl SkipReason {
    /// Every reason, for the metric's series.
    pub const ALL: [SkipReason; 5] = [
        SkipReason::TargetChanged,
        SkipReason::TargetUnreadable,
        SkipReason::GroupGivenUp,
        SkipReason::OrgDirectoryAmbiguous,
        SkipReason::OrgDirectoryUnreadable,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::TargetChanged => "target_changed",
            SkipReason::TargetUnreadable => "target_unreadable",
            SkipReason::GroupGivenUp => "group_given_up",
            SkipReason::OrgDirectoryAmbiguous => "org_directory_ambiguous",
            SkipReason::OrgDirectoryUnreadable => "org_directory_unreadable",
        }
    }

    /// A configuration problem rather than a change in the org: logged as an error.
    fn is_configuration(self) -> bool {
        matches!(
            self,
            SkipReason::OrgDirectoryAmbiguous | SkipReason::OrgDirectoryUnreadable
        )
    }
}

/// How a remediation step ended, as the audit's `result` column and the metric's `result` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditResult {
    Success,
    /// Refused (4xx), or failed with its outcome unknown (the intent stays open).
    Failure,
    /// Planned, recorded, never sent (`dry_run` mode).
    DryRun,
    /// Not sent: the target changed since the snapshot, or its group was given up.
    Skipped,
    /// An interrupted call that reconciliation found had no effect.
    NotApplied,
}

impl AuditResult {
    /// Every result, for the metric's series.
    pub const ALL: [AuditResult; 5] = [
        AuditResult::Success,
        AuditResult::Failure,
        AuditResult::DryRun,
        AuditResult::Skipped,
        AuditResult::NotApplied,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AuditResult::Success => "success",
            AuditResult::Failure => "failure",
            AuditResult::DryRun => "dry_run",
            AuditResult::Skipped => "skipped",
            AuditResult::NotApplied => "not_applied",
        }
    }
}

/// The one place a step's ending is counted (`scimdrift_remediation_actions_total`, the run's
/// totals; a skipped one also in `scimdrift_remediation_steps_total` by its reason) and logged; the
/// audit row is written by the caller just before.
fn ended(
    metrics: &Metrics,
    out: &mut Applied,
    action: &str,
    finding: &str,
    result: AuditResult,
    what: &str,
) {
    ended_because(metrics, out, action, finding, result, None, what)
}

/// A skipped step's ending, with its reason.
fn skipped(
    metrics: &Metrics,
    out: &mut Applied,
    action: &str,
    finding: &str,
    reason: SkipReason,
    what: &str,
) {
    let result = AuditResult::Skipped;
    ended_because(metrics, out, action, finding, result, Some(reason), what)
}

fn ended_because(
    metrics: &Metrics,
    out: &mut Applied,
    action: &str,
    finding: &str,
    result: AuditResult,
    reason: Option<SkipReason>,
    what: &str,
) {
    metrics
        .remediation_actions
        .with_label_values(&[action, result.as_str()])
        .inc();
    if let Some(r) = reason {
        metrics
            .remediation_steps
            .with_label_values(&[action, result.as_str(), r.as_str()])
            .inc();
    }
    match result {
        AuditResult::Success => {
            out.success += 1;
            tracing::warn!(
                action,
                finding,
                result = result.as_str(),
                "remediation applied: {what}"
            );
        }
        AuditResult::Failure => {
            out.failure += 1;
            tracing::error!(
                action,
                finding,
                result = result.as_str(),
                "remediation failed: {what}"
            );
        }
        AuditResult::DryRun => {
            out.dry_run += 1;
            tracing::info!(action, finding, result = result.as_str(), "dry run: {what}");
        }
        AuditResult::Skipped => {
            out.skipped += 1;
            let loud = reason.is_some_and(SkipReason::is_configuration);
            let reason = reason.map_or("", SkipReason::as_str);
            if loud {
                tracing::error!(
                    action,
                    finding,
                    result = result.as_str(),
                    reason,
                    "remediation skipped (fix the configuration): {what}"
                );
            } else {
                tracing::info!(
                    action,
                    finding,
                    result = result.as_str(),
                    reason,
                    "remediation skipped: {what}"
                );
            }
        }
        AuditResult::NotApplied => {
            tracing::warn!(
                action,
                finding,
                result = result.as_str(),
                "remediation not applied: {what}"
            );
        }
    }
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
        let at = stamp_millis(Utc::now());
        match took_effect(&row, &mut reader).await {
            Ok(done) => {
                let refused = row.http_status.filter(|s| (400..500).contains(s));
                let (result, detail) = match (done, refused) {
                    (true, _) => (
                        AuditResult::Success,
                        "reconciled after an interrupted call: the target shows it took effect",
                    ),
                    // Refused after a retry and no effect: a failure (not retried automatically).
                    (false, Some(_)) => (
                        AuditResult::Failure,
                        "reconciled: refused with a 4xx after a retry, and the target shows no effect",
                    ),
                    (false, None) => (
                        AuditResult::NotApplied,
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
                    Some(result.as_str()),
                    status,
                    Some(&detail),
                )?;
                // Counted as the result it settles on; the run's totals count this run's calls.
                ended(
                    metrics,
                    &mut Applied::default(),
                    &row.action,
                    &row.finding_id,
                    result,
                    &detail,
                );
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

/// The guards that blocked a step, comma-separated; empty when it would run.
fn verdict_of(step: &Step) -> String {
    let blocked: Vec<&str> = step.blocked_by().iter().map(|v| v.guard.as_str()).collect();
    blocked.join(",")
}

/// Audits the dry-run steps of `plan` that changed since the last run: a step that appeared, one
/// whose guards' verdict changed (which guards block it, not their details), one no longer
/// planned. An unchanged dry-run plan writes nothing, however many cycles run.
fn record_dry_runs(
    store: &Db,
    plan: &Plan,
    snapshot_id: i64,
    metrics: &Metrics,
    out: &mut Applied,
) -> anyhow::Result<()> {
    let before: HashMap<String, DryRunStep> = db(store, |s| s.dry_runs())?
        .into_iter()
        .map(|d| (d.action_key.clone(), d))
        .collect();
    let at = stamp_millis(Utc::now());
    let key = |parts: &[&str]| {
        let text = parts.join("|");
        format!("{:016x}", xxhash_rust::xxh3::xxh3_64(text.as_bytes()))
    };
    let snapshot = snapshot_id.to_string();
    // The values the audit rows borrow, built first.
    struct Change<'p> {
        step: Option<&'p Step>,
        old: Option<&'p DryRunStep>,
        idempotency_key: String,
        action_key: String,
        targets: serde_json::Value,
        contest: Option<serde_json::Value>,
        reason: String,
        detail: String,
    }
    let mut changes: Vec<Change> = Vec::new();
    let mut put = Vec::new();
    let mut now_planned = HashSet::new();
    for step in plan.steps.iter().filter(|s| s.mode == Mode::DryRun) {
        let action_key = step.action_key();
        let verdict = verdict_of(step);
        if step.allowed {
            out.dry_run += 1;
        }
        now_planned.insert(action_key.clone());
        let old = before.get(&action_key);
        if old.is_some_and(|o| o.verdict == verdict) {
            continue;
        }
        let targets = serde_json::to_value(&step.targets).unwrap_or_default();
        let what = if step.allowed {
            "would run".to_string()
        } else {
            let why: Vec<String> = step
                .blocked_by()
                .iter()
                .map(|v| format!("{}: {}", v.guard, v.detail))
                .collect();
            format!("would be blocked ({})", why.join("; "))
        };
        let detail = match old {
            None => format!("dry run, planned: {what}"),
            Some(o) if o.verdict.is_empty() => {
                format!("dry run, verdict changed: it would have run, now it {what}")
            }
            Some(o) => format!(
                "dry run, verdict changed: it was blocked by {}, now it {what}",
                o.verdict
            ),
        };
        put.push(DryRunStep {
            action_key: action_key.clone(),
            finding_id: step.finding_id.clone(),
            kind: step.kind.as_str().to_string(),
            action: step.action.as_str().to_string(),
            targets_json: targets.to_string(),
            verdict: verdict.clone(),
        });
        changes.push(Change {
            step: Some(step),
            old: None,
            idempotency_key: key(&[
                &action_key,
                &snapshot,
                "dry_run",
                old.map_or("-", |o| o.verdict.as_str()),
                &verdict,
                &at,
            ]),
            action_key,
            targets,
            contest: step
                .contest
                .as_ref()
                .and_then(|c| serde_json::to_value(c).ok()),
            reason: step.reason.clone(),
            detail,
        });
    }
    let mut drop = Vec::new();
    for old in before
        .values()
        .filter(|o| !now_planned.contains(&o.action_key))
    {
        drop.push(old.action_key.clone());
        changes.push(Change {
            step: None,
            old: Some(old),
            idempotency_key: key(&[
                &old.action_key,
                &snapshot,
                "withdrawn",
                &old.verdict,
                &at,
            ]),
            action_key: old.action_key.clone(),
            targets: serde_json::from_str(&old.targets_json).unwrap_or_default(),
            contest: None,
            reason: "no longer planned".into(),
            detail: "dry run, no longer planned: the finding was resolved, suppressed or is no longer open, or the rule changed (removed, or now in apply mode)".into(),
        });
    }
    if changes.is_empty() {
        return Ok(());
    }
    let audits: Vec<(NewAudit, String)> = changes
        .iter()
        .map(|c| {
            let (finding_id, kind, action) = match (c.step, c.old) {
                (Some(s), _) => (s.finding_id.as_str(), s.kind.as_str(), s.action.as_str()),
                (None, Some(o)) => (o.finding_id.as_str(), o.kind.as_str(), o.action.as_str()),
                (None, None) => ("", "", ""),
            };
            let row = NewAudit {
                idempotency_key: &c.idempotency_key,
                snapshot_id,
                finding_id,
                kind,
                action,
                mode: Mode::DryRun.as_str(),
                action_key: &c.action_key,
                targets: &c.targets,
                reason: &c.reason,
                at: &at,
                contest: c.contest.as_ref(),
            };
            (row, c.detail.clone())
        })
        .collect();
    let written = db(store, |s| s.dry_run_change(&audits, &put, &drop))?;
    out.dry_run_changes += written.iter().filter(|w| **w).count() as u64;
    // Counted and logged once each, as written (a row already there was recorded before).
    for (c, _) in changes.iter().zip(&written).filter(|(_, w)| **w) {
        match c.step {
            // A step that would run: counted as a dry-run action when it appears or changes.
            Some(step) if step.allowed => {
                let (action, finding) = (step.action.as_str(), step.finding_id.as_str());
                let dry = AuditResult::DryRun;
                metrics
                    .remediation_actions
                    .with_label_values(&[action, dry.as_str()])
                    .inc();
                tracing::info!(
                    action,
                    finding,
                    result = dry.as_str(),
                    "{}: {}",
                    c.detail,
                    step.reason
                );
            }
            Some(step) => tracing::info!(
                action = step.action.as_str(),
                finding = %step.finding_id,
                "{}",
                c.detail
            ),
            None => tracing::info!(
                action = c.old.map_or("", |o| o.action.as_str()),
                finding = c.old.map_or("", |o| o.finding_id.as_str()),
                "{}",
                c.detail
            ),
        }
    }
    Ok(())
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
    record_dry_runs(store, plan, snapshot_id, metrics, &mut out)?;
    let mut reader = Reader::new(remote);
    // A finding's unlinks and move go together: findings whose group was given up, and why.
    let mut given_up: HashMap<&str, (SkipReason, String)> = HashMap::new();
    let mut group_checked: HashSet<&str> = HashSet::new();
    for step in plan.steps.iter().filter(|s| s.allowed) {
        let key = step.idempotency_key(snapshot_id);
        let targets = serde_json::to_value(&step.targets).unwrap_or_default();
        let action_key = step.action_key();
        let contest = step
            .contest
            .as_ref()
            .and_then(|c| serde_json::to_value(c).ok());
        let at = stamp_millis(Utc::now());
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
        let (action, finding) = (step.action.as_str(), step.finding_id.as_str());
        if step.mode != Mode::Apply {
            continue;
        }
        let grouped = step.action.frees_email();
        if db(store, |s| s.audit_has(&key))? {
            // Handled by an earlier run on this snapshot (maybe cut short): the rest of its group
            // waits for a snapshot that shows what that run did.
            if grouped {
                given_up.entry(step.finding_id.as_str()).or_insert_with(|| {
                    (SkipReason::GroupGivenUp, "an earlier run on this snapshot already handled part of this finding's unlinks and move: the rest waits for the next snapshot".into())
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
                if let Some((_, w)) = recheck(other, &mut reader).await {
                    why = Some((
                        SkipReason::GroupGivenUp,
                        format!(
                            "another unlink of this finding (record {}) no longer holds ({w}): the finding's unlinks go together, so none is sent",
                            other
                                .targets
                                .first()
                                .and_then(|t| t.scim_id.as_deref())
                                .unwrap_or("")
                        ),
                    ));
                    break;
                }
            }
        }
        if matches!(step.action, Action::Suspend | Action::Restore)
            && why.is_none()
            && let Err(e) = reader.org_directory().await
        {
            let reason = if e.kind == ErrorKind::Ambiguous {
                SkipReason::OrgDirectoryAmbiguous
            } else {
                SkipReason::OrgDirectoryUnreadable
            };
            why = Some((reason, format!("the org user directory is unknown: {e}")));
        }
        if let Some((reason, why)) = why {
            if grouped {
                given_up
                    .entry(step.finding_id.as_str())
                    .or_insert_with(|| (SkipReason::GroupGivenUp, why.clone()));
            }
            let result = AuditResult::Skipped;
            db(store, |s| {
                s.audit_insert(&row, Some(result.as_str()), Some(&why))
            })?;
            skipped(metrics, &mut out, action, finding, reason, &why);
            continue;
        }
        if !db(store, |s| s.audit_insert(&row, None, None))? {
            continue;
        }
        let result = send(step, &mut reader).await;
        crash_hook();
        let at = stamp_millis(Utc::now());
        if grouped && !matches!(&result, Ok(sent) if sent.answer == Answer::Done) {
            given_up.insert(
                step.finding_id.as_str(),
                (SkipReason::GroupGivenUp, "an earlier unlink of this finding failed: the rest of its unlinks and its move are not sent".into()),
            );
        }
        match result {
            Ok(sent) if sent.answer == Answer::Done => {
                let (status, detail) = (sent.status, sent.detail.as_deref());
                let success = AuditResult::Success;
                finish(
                    store,
                    &key,
                    &at,
                    Some(success.as_str()),
                    Some(status),
                    detail,
                )?;
                let what = match detail {
                    Some(d) => format!("HTTP {status}, {d}: {}", step.reason),
                    None => format!("HTTP {status}: {}", step.reason),
                };
                ended(metrics, &mut out, action, finding, success, &what);
            }
            Ok(sent) if sent.answer == Answer::Refused => {
                // Answered 200 but refused (provision on demand `Failure` / `Skipped`): a refusal,
                // never repeated automatically.
                let msg = sent.detail.unwrap_or_else(|| "refused".into());
                let failure = AuditResult::Failure;
                finish(
                    store,
                    &key,
                    &at,
                    Some(failure.as_str()),
                    Some(sent.status),
                    Some(&msg),
                )?;
                ended(
                    metrics,
                    &mut out,
                    action,
                    finding,
                    failure,
                    &format!("refused: {msg}"),
                );
            }
            Ok(sent) => {
                // Answered, but the reply does not say whether it took effect: reconciled by
                // reading state, like a lost reply. No status is kept (it was no refusal).
                let msg = format!(
                    "outcome unknown, to be reconciled: HTTP {} with {}",
                    sent.status,
                    sent.detail.as_deref().unwrap_or("an unreadable reply")
                );
                finish(store, &key, &at, None, None, Some(&msg))?;
                metrics.remediation_intents_open.inc();
                ended(
                    metrics,
                    &mut out,
                    action,
                    finding,
                    AuditResult::Failure,
                    &msg,
                );
            }
            Err(e) if is_refusal(&e) => {
                let msg = e.to_string();
                let failure = AuditResult::Failure;
                finish(
                    store,
                    &key,
                    &at,
                    Some(failure.as_str()),
                    status_of(&e),
                    Some(&msg),
                )?;
                ended(
                    metrics,
                    &mut out,
                    action,
                    finding,
                    failure,
                    &format!("refused: {msg}"),
                );
            }
            Err(e) => {
                // The call may or may not have taken effect: the intent stays open for reconciliation.
                // A 4xx's status stays on the intent: settled as a failure if there was no effect.
                let msg = format!("outcome unknown, to be reconciled: {e}");
                finish(store, &key, &at, None, status_of(&e), Some(&msg))?;
                metrics.remediation_intents_open.inc();
                ended(
                    metrics,
                    &mut out,
                    action,
                    finding,
                    AuditResult::Failure,
                    &msg,
                );
            }
        }
    }
    Ok(out)
}
