//! Remediation runs: plan from the store, apply under the remediation lock, reconcile open intents,
//! settle by an operator. Ties the `remediate` parts to the configuration, the store and the
//! metrics; the daemon, the CLI and the demo call these.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use chrono::{DateTime, Utc};

use crate::atlassian::HttpLayer;
use crate::atlassian::Keys;
use crate::config::Settings;
use crate::findings;
use crate::metrics::Metrics;
use crate::remediate::{Applied, Plan, Step, actions, apply, history, lock, plan};
use crate::store::Store;

/// The keys and the HTTP layer the calls go through.
struct Session {
    keys: Keys,
    http: HttpLayer,
    events: std::sync::Arc<dyn crate::http::HttpEvents>,
}

impl Session {
    /// Every request and retry is counted in `metrics` as it happens.
    fn open(settings: &Settings, metrics: &Metrics) -> anyhow::Result<Session> {
        let events: std::sync::Arc<dyn crate::http::HttpEvents> =
            std::sync::Arc::new(metrics.clone());
        Ok(Session {
            keys: settings.keys()?,
            http: HttpLayer::new(&settings.atlassian.base_url, &settings.atlassian.http)?
                .with_events(events.clone()),
            events,
        })
    }

    fn remote<'a>(&'a self, settings: &'a Settings) -> actions::Remote<'a> {
        actions::Remote {
            http: &self.http,
            atlassian: &settings.atlassian,
            org_directory_id: settings.remediation.org_directory_id.as_deref(),
            keys: &self.keys,
            events: Some(self.events.clone()),
        }
    }
}

/// Suspend / restore rules whose org user directory cannot be chosen: the org has several (or no)
/// user directories and `remediation.org_directory_id` is not set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AmbiguousDirectory {
    /// Names the key and lists the directories ([`actions::ambiguous_directories`]).
    pub message: String,
    /// A rule in `apply` mode is affected (it would skip every step); else only dry runs are.
    pub applies: bool,
}

/// Checks that every enabled suspend / restore rule can name its org user directory: without
/// `remediation.org_directory_id`, lists the org's user directories (one API call; none when no
/// such rule is on, or the key is set). `Ok(None)`: fine; an error: the list could not be read.
pub async fn check_org_directory(
    settings: &Settings,
    metrics: &Metrics,
) -> anyhow::Result<Option<AmbiguousDirectory>> {
    let needing = rules_needing_directory(settings)?;
    if needing.is_empty() {
        return Ok(None);
    }
    let session = Session::open(settings, metrics)?;
    let list = session.remote(settings).org_directories().await?;
    if list.len() == 1 {
        return Ok(None);
    }
    Ok(Some(AmbiguousDirectory {
        message: actions::ambiguous_directories(&list),
        applies: needing
            .iter()
            .any(|r| r.mode == crate::remediate::Mode::Apply),
    }))
}

/// The enabled suspend / restore rules that must find their org user directory (none when
/// `remediation.org_directory_id` names it, or remediation is off).
fn rules_needing_directory(
    settings: &Settings,
) -> anyhow::Result<Vec<crate::remediate::policy::Rule>> {
    let remediation = &settings.remediation;
    if !remediation.enabled || remediation.org_directory_id.is_some() {
        return Ok(Vec::new());
    }
    let rules = remediation
        .rules()
        .map_err(|(k, m)| anyhow::anyhow!("remediation.{k}: {m}"))?;
    Ok(rules
        .into_iter()
        .filter(|r| {
            matches!(
                r.action,
                crate::remediate::Action::Suspend | crate::remediate::Action::Restore
            ) && r.mode != crate::remediate::Mode::Off
        })
        .collect())
}

/// Offline, what [`check_org_directory`] would check online: `Some` note when an enabled suspend /
/// restore rule relies on the org having exactly one user directory.
pub fn org_directory_note(settings: &Settings) -> Option<String> {
    let relies = rules_needing_directory(settings).is_ok_and(|r| !r.is_empty());
    relies.then(|| {
        "remediation: suspend / restore rules without remediation.org_directory_id need the org to have exactly one user directory; `check-config --online` checks it".to_string()
    })
}

/// Plans from the store (no API calls) as of `now`.
pub fn make_plan(settings: &Settings, store: &Store, now: DateTime<Utc>) -> anyhow::Result<Plan> {
    let rules = settings
        .remediation
        .rules()
        .map_err(|(k, m)| anyhow::anyhow!("remediation.{k}: {m}"))?;
    let ignore = settings.ignore_rules()?;
    let latest = store.snapshots(1)?.into_iter().next();
    let latest_complete = store.latest_complete()?;
    let mut openings = store.finding_openings()?;
    let mut findings = store.findings()?;
    for f in &mut findings {
        let was_suppressed = f.status == findings::Status::Suppressed;
        f.apply_rules(&ignore, now.date_naive());
        // Released by an ignore rule that expired since the last pull: opened by the latest
        // snapshot for the breaker (the next pull records it as an `unsuppressed` event).
        if let (true, findings::Status::Open, Some(s)) =
            (was_suppressed, f.status, &latest_complete)
        {
            openings.push(crate::store::Opening {
                finding_id: f.id.clone(),
                kind: f.kind,
                snapshot_id: s.snapshot_id,
            });
        }
    }
    let state = match &latest_complete {
        Some(s) => store.state_at(s.snapshot_id)?,
        None => Default::default(),
    };
    let history = history::read(store, now)?;
    let already_used = match &latest_complete {
        Some(s) => store
            .audit_calls_for_snapshot(s.snapshot_id)?
            .iter()
            .map(|r| plan::call_cost(&r.action, &r.targets))
            .sum(),
        None => 0,
    };
    let names: HashMap<String, String> = settings.directory_names();
    let idp = match &latest_complete {
        Some(s) => idp_facts(store, &rules, &findings, &names, s.snapshot_id)?,
        None => plan::IdpFacts::default(),
    };
    let interval = chrono::Duration::from_std(settings.schedule.pull_interval())
        .unwrap_or(chrono::Duration::minutes(15));
    Ok(plan::plan(&plan::Inputs {
        now,
        pull_interval: interval,
        latest: latest.as_ref(),
        latest_complete: latest_complete.as_ref(),
        findings: &findings,
        openings: &openings,
        state: &state,
        policy: &settings.remediation,
        rules: &rules,
        failed: &history.failed,
        succeeded: &history.succeeded,
        suspended_by_us: &history.suspended_by_us,
        unlinked: &history.unlinked,
        already_used,
        directory_names: &names,
        idp: &idp,
    }))
}

/// The stored IdP sides and users the `provision_on_demand` rules need: those named by the open
/// findings of their kinds, as of snapshot `snapshot_id`.
fn idp_facts(
    store: &Store,
    rules: &[crate::remediate::policy::Rule],
    findings: &[findings::FindingView],
    names: &HashMap<String, String>,
    snapshot_id: i64,
) -> anyhow::Result<plan::IdpFacts> {
    let mut facts = plan::IdpFacts::default();
    let wanted = |f: &findings::FindingView| {
        f.status == findings::Status::Open
            && rules.iter().any(|r| {
                r.kind == f.kind && r.action == crate::remediate::Action::ProvisionOnDemand
            })
    };
    for f in findings.iter().filter(|f| wanted(f)) {
        for u in &f.idp_users {
            // The view names the directory; its id is the key of the stored side.
            let dir = names
                .iter()
                .find(|(_, name)| **name == u.directory)
                .map(|(id, _)| id.clone())
                .unwrap_or_else(|| u.directory.clone());
            if !facts.sides.contains_key(&dir)
                && let Some(side) = store.idp_side_at(&dir, snapshot_id)?
            {
                facts.sides.insert(dir.clone(), side);
            }
            let key = (dir, u.id.clone());
            if !facts.users.contains_key(&key)
                && let Some(user) = store.idp_user_at(&key.0, &key.1, snapshot_id)?
            {
                facts.users.insert(key, user);
            }
        }
    }
    Ok(facts)
}

/// Stores the plan as the latest and counts its blocked steps and breaker in the metrics.
pub fn record_plan(store: &Store, plan: &Plan, metrics: &Metrics) -> anyhow::Result<()> {
    store.put_plan(
        plan.snapshot_id,
        &plan.created_at,
        &serde_json::to_string(plan)?,
    )?;
    for (guard, n) in &plan.blocked {
        metrics
            .remediation_blocked
            .with_label_values(&[guard])
            .inc_by(*n);
    }
    metrics
        .remediation_breaker_tripped
        .set(i64::from(plan.breaker_tripped));
    if plan.breaker_tripped {
        let why = plan
            .checks
            .iter()
            .find(|c| c.guard == plan::Guard::Breaker)
            .map(|c| c.detail.as_str())
            .unwrap_or("");
        tracing::error!("remediation spike breaker tripped: {why}");
    }
    Ok(())
}

/// Applies the allowed steps of `plan` as given (dry-run steps recorded only), reconciling
/// first. Unchecked against a fresh plan: only for tests of the apply-time re-check; everything
/// else goes through [`run_cycle`] or [`apply_reviewed`].
#[doc(hidden)]
pub async fn apply_plan_unchecked(
    settings: &Settings,
    plan: &Plan,
    metrics: &Metrics,
) -> anyhow::Result<Applied> {
    anyhow::ensure!(
        settings.remediation.enabled,
        "remediation.enabled is false: nothing is applied"
    );
    let _lock = lock(settings).await?;
    let (reconciled, _) = reconcile_locked(settings, metrics).await?;
    let mut applied = apply_locked(settings, plan, metrics).await?;
    applied.reconciled += reconciled;
    Ok(applied)
}

/// How long a remediating process waits for another to finish.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(120);
/// How long `audit settle` waits for a remediating process.
const SETTLE_LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

async fn lock(settings: &Settings) -> anyhow::Result<lock::RemediationLock> {
    lock::RemediationLock::acquire(&settings.store.path, LOCK_WAIT).await
}

async fn apply_locked(
    settings: &Settings,
    plan: &Plan,
    metrics: &Metrics,
) -> anyhow::Result<Applied> {
    let session = Session::open(settings, metrics)?;
    let store = Mutex::new(Store::open(&settings.store.path)?);
    apply::apply(&store, &session.remote(settings), plan, metrics).await
}

/// Settles intents left without a result (daemon start-up); never repeats a call.
pub async fn reconcile(settings: &Settings, metrics: &Metrics) -> anyhow::Result<(u64, u64)> {
    let _lock = lock(settings).await?;
    reconcile_locked(settings, metrics).await
}

async fn reconcile_locked(settings: &Settings, metrics: &Metrics) -> anyhow::Result<(u64, u64)> {
    let store = Mutex::new(Store::open(&settings.store.path)?);
    let pending = store
        .lock()
        .map_err(|_| anyhow::anyhow!("store lock poisoned"))?
        .audit_pending()?;
    if pending.is_empty() {
        metrics.remediation_intents_open.set(0);
        return Ok((0, 0));
    }
    let session = Session::open(settings, metrics)?;
    apply::reconcile(&store, &session.remote(settings), metrics).await
}

/// `audit settle`: an operator records the result of an open intent (sends nothing). Waits a
/// little for a remediating process (whose result for the intent would otherwise race the note).
pub async fn settle(
    settings: &Settings,
    key: &str,
    result: &str,
    note: &str,
) -> anyhow::Result<()> {
    anyhow::ensure!(!note.trim().is_empty(), "--note must say what was checked");
    let _lock = lock::RemediationLock::acquire(&settings.store.path, SETTLE_LOCK_WAIT).await?;
    let store = Store::open(&settings.store.path)?;
    let detail = format!("settled by an operator: {}", note.trim());
    if store.audit_settle(
        key,
        &crate::model::stamp_millis(Utc::now()),
        result,
        &detail,
    )? {
        tracing::warn!(key, result, "remediation intent settled by an operator");
        return Ok(());
    }
    let open: Vec<String> = store
        .audit_pending()?
        .into_iter()
        .map(|r| r.idempotency_key)
        .collect();
    anyhow::bail!(
        "{key} is not an open remediation intent (open intents: {})",
        if open.is_empty() {
            "none".to_string()
        } else {
            open.join(", ")
        }
    )
}

/// The daemon's step after a complete cycle: plan, record, apply (when enabled).
pub async fn run_cycle(settings: &Settings, metrics: &Metrics) -> anyhow::Result<Applied> {
    if !settings.remediation.enabled {
        return Ok(Applied::default());
    }
    let _lock = lock(settings).await?;
    // Settle earlier intents first, so the plan sees their results (a failure blocks a resend).
    let (reconciled, _) = reconcile_locked(settings, metrics).await?;
    let plan = {
        let store = Store::open(&settings.store.path)?;
        let plan = make_plan(settings, &store, Utc::now())?;
        record_plan(&store, &plan, metrics)?;
        plan
    };
    let mut applied = apply_locked(settings, &plan, metrics).await?;
    applied.reconciled += reconciled;
    tracing::info!(
        snapshot_id = ?plan.snapshot_id,
        steps = plan.steps.len(),
        blocked = plan.steps.iter().filter(|s| !s.allowed).count(),
        breaker_tripped = plan.breaker_tripped,
        success = applied.success,
        failure = applied.failure,
        skipped = applied.skipped,
        dry_run = applied.dry_run,
        reconciled = applied.reconciled,
        "remediation finished"
    );
    Ok(applied)
}

/// `remediate apply --plan`: applies a reviewed plan only if it is still current. Steps run only
/// when the plan file allowed them and a fresh plan of the same snapshot allows them identically.
pub async fn apply_reviewed(
    settings: &Settings,
    reviewed: &Plan,
    metrics: &Metrics,
) -> anyhow::Result<Applied> {
    anyhow::ensure!(
        settings.remediation.enabled,
        "remediation.enabled is false: nothing is applied"
    );
    let _lock = lock(settings).await?;
    let (reconciled, _) = reconcile_locked(settings, metrics).await?;
    let fresh = {
        let store = Store::open(&settings.store.path)?;
        make_plan(settings, &store, Utc::now())?
    };
    anyhow::ensure!(
        reviewed.snapshot_id.is_some() && reviewed.snapshot_id == fresh.snapshot_id,
        "the plan is stale: it was made for snapshot {:?}, the latest complete snapshot is {:?}; run `scimdrift remediate plan` again",
        reviewed.snapshot_id,
        fresh.snapshot_id
    );
    if let Some(failed) = fresh.checks.iter().find(|c| !c.passed) {
        anyhow::bail!("refused: {} guard: {}", failed.guard, failed.detail);
    }
    // Only the fresh plan's own steps are sent (never the file's objects): a step runs when the
    // fresh plan allows it and the reviewed file allowed the same identity.
    let snapshot = fresh.snapshot_id.unwrap_or_default();
    let identity = |s: &Step| {
        format!(
            "{}|{}|{:?}",
            s.idempotency_key(snapshot),
            s.kind.as_str(),
            s.new_email
        )
    };
    let reviewed_ok: HashSet<String> = reviewed
        .steps
        .iter()
        .filter(|s| s.allowed)
        .map(identity)
        .collect();
    let mut plan = fresh.clone();
    for s in &mut plan.steps {
        if s.allowed && !reviewed_ok.contains(&identity(s)) {
            tracing::warn!(finding = %s.finding_id, action = %s.action, "step not allowed by the reviewed plan: not applied");
            s.allowed = false;
        }
    }
    // A finding's unlinks and move go together: the file allowing only part of them allows none.
    let cut: HashSet<String> = plan
        .steps
        .iter()
        .zip(&fresh.steps)
        .filter(|(now, was)| was.allowed && !now.allowed && now.action.frees_email())
        .map(|(s, _)| s.finding_id.clone())
        .collect();
    for s in &mut plan.steps {
        if s.allowed && s.action.frees_email() && cut.contains(&s.finding_id) {
            tracing::warn!(finding = %s.finding_id, action = %s.action, "the reviewed plan allows only part of this finding's unlinks and move: not applied");
            s.allowed = false;
        }
    }
    let mut applied = apply_locked(settings, &plan, metrics).await?;
    applied.reconciled += reconciled;
    Ok(applied)
}
