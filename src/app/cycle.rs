//! One cycle: pull every source into the store and, when the snapshot is complete, detect and
//! reconcile the findings in the same transaction. The daemon and `once` share it. Each cycle emits
//! its log line and its metrics here, in one place.

use chrono::Utc;

use crate::config::Settings;
use crate::findings::{self, Context};
use crate::metrics::Metrics;
use crate::model::Verdict;
use crate::model::idp::ProvisioningJob;
use crate::pull::{self, PullMeta};
use crate::shrink;
use crate::store::{Reconciled, Recorded, Recorder, Store};

/// What a cycle did.
#[derive(Debug)]
pub struct Outcome {
    pub pull: PullMeta,
    pub recorded: Recorded,
    /// Finding counts; `None` for an incomplete or held snapshot (which changes no finding).
    pub findings: Option<Reconciled>,
    /// The shrink guard's verdict (`Current` for an incomplete pull).
    pub shrink: Verdict,
    /// The shrink guard's verdict on each IdP source that shrank (by source), judged apart: a held
    /// one is an incomplete IdP source in `pull` (its `held` set), not a held snapshot.
    pub idp_shrinks: Vec<(String, Verdict)>,
    /// The pushed groups' memberships of each directory whose IdP pull is complete (empty for an
    /// incomplete or held snapshot).
    pub group_members: Vec<crate::detect::GroupMembers>,
}

/// Pulls, stores and analyses one snapshot, without metrics (for one-shot commands).
pub async fn pull_and_store(settings: &Settings) -> anyhow::Result<Outcome> {
    run(settings, &Metrics::new()).await
}

/// Like [`pull_and_store`], with `accept_shrink`: an operator's acceptance of a shrunk source
/// (`once --accept-shrink`), which makes the fresh pull current whatever shrank; and the pull's
/// progress told to `progress` as it happens.
pub async fn pull_and_store_with(
    settings: &Settings,
    accept_shrink: bool,
    progress: std::sync::Arc<dyn pull::Progress>,
) -> anyhow::Result<Outcome> {
    let metrics = Metrics::new();
    let result = pull_store_detect(settings, accept_shrink, &metrics, progress).await;
    observe(&metrics, &result);
    result
}

/// Pulls, stores and analyses one snapshot, then logs and counts it. Errors are configuration or
/// store errors; API failures make the snapshot incomplete instead.
pub async fn run(settings: &Settings, metrics: &Metrics) -> anyhow::Result<Outcome> {
    let result = pull_store_detect(
        settings,
        false,
        metrics,
        std::sync::Arc::new(pull::NoProgress),
    )
    .await;
    observe(metrics, &result);
    result
}

async fn pull_store_detect(
    settings: &Settings,
    accept_shrink: bool,
    metrics: &Metrics,
    progress: std::sync::Arc<dyn pull::Progress>,
) -> anyhow::Result<Outcome> {
    let keys = settings.keys()?;
    let rules = settings.ignore_rules()?;
    let store = Store::open(&settings.store.path)?;
    let (current, held) = store.shrink_baseline()?;
    let mut known = std::collections::HashMap::new();
    let mut idp_baselines = std::collections::HashMap::new();
    for d in settings
        .atlassian
        .directories
        .iter()
        .filter(|d| d.idp.is_some())
    {
        known.insert(
            d.id.clone(),
            crate::idp::Known {
                logs_since: store.idp_logs_read_at(&d.id)?,
                external_ids: store.active_external_ids(&d.id)?,
            },
        );
        idp_baselines.insert(d.id.clone(), store.idp_shrink_baseline(&d.id)?);
    }
    let recorder = Recorder::start(store);
    let mut meta = pull::run(
        &settings.atlassian,
        &keys,
        &recorder.sink(),
        std::sync::Arc::new(metrics.clone()),
        &known,
        progress,
    )
    .await;
    let verdict = if meta.complete() {
        let held: Vec<_> = held.iter().map(shrink::counts_of_snapshot).collect();
        shrink::assess(
            &settings.pull,
            current.as_ref().map(shrink::counts_of_snapshot).as_ref(),
            &held,
            &shrink::counts_of_pull(&meta),
            accept_shrink,
        )
    } else {
        Verdict::Current
    };
    let idp_shrinks = if meta.complete() && !matches!(verdict, Verdict::Held(_)) {
        judge_idp_sources(settings, &mut meta, &idp_baselines, accept_shrink)
    } else {
        Vec::new()
    };

    let now = Utc::now();
    crate::ignore::log_expired(&rules, now.date_naive());
    let ctx = Context {
        settings: settings.detect_settings(),
        rules,
        directory_names: settings.directory_names(),
        now,
    };
    let idp_directories: std::collections::HashSet<String> = settings
        .atlassian
        .directories
        .iter()
        .filter(|d| d.idp.is_some())
        .map(|d| d.id.clone())
        .collect();
    let group_members = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let members_out = group_members.clone();
    let analyse = Box::new(
        move |pop: &crate::store::Population, history: &crate::detect::History| {
            let evaluation = findings::evaluate(
                &pop.records,
                &pop.groups,
                &pop.accounts,
                history,
                &pop.idp,
                &ctx,
            );
            if let Ok(mut out) = members_out.lock() {
                *out = evaluation.group_members;
            }
            crate::store::Analysis {
                current: evaluation.current,
                undetermined: evaluation.undetermined,
                idp_grace_minutes: ctx.settings.idp_grace_minutes,
                idp_directories,
                now: ctx.now,
            }
        },
    );
    let finished = recorder
        .finish(meta.clone(), Some(analyse), verdict.clone())
        .await?;
    Ok(Outcome {
        pull: meta,
        recorded: finished.recorded,
        findings: finished.reconciled,
        shrink: verdict,
        idp_shrinks,
        group_members: std::mem::take(
            &mut *group_members.lock().unwrap_or_else(|e| e.into_inner()),
        ),
    })
}

/// The shrink guard over each complete IdP source, apart from the snapshot: one whose users or
/// intended users dropped beyond the `[pull]` thresholds (and not yet confirmed or accepted) is
/// held — marked incomplete, so its side is not stored, its directory's IdP findings stay as they
/// were, no action is taken on them, and `once` exits 1 saying why. The Atlassian side is not held.
fn judge_idp_sources(
    settings: &Settings,
    meta: &mut PullMeta,
    baselines: &std::collections::HashMap<
        String,
        (
            Option<crate::store::SourceInfo>,
            Vec<crate::store::SourceInfo>,
        ),
    >,
    accept_shrink: bool,
) -> Vec<(String, Verdict)> {
    let mut out = Vec::new();
    for s in meta.sources.iter_mut().filter(|s| s.is_idp() && s.complete) {
        let Some((current, held)) = s.directory_id.as_ref().and_then(|d| baselines.get(d)) else {
            continue;
        };
        let v = shrink::assess_idp(&settings.pull, current.as_ref(), held, s, accept_shrink);
        if matches!(v, Verdict::Held(_)) {
            s.complete = false;
            s.held = true;
            s.error = Some(format!(
                "held by the shrink guard: {}; this IdP source is treated as incomplete (its directory's IdP findings stay as they were) until consecutive pulls confirm the drop or `scimdrift once --accept-shrink` accepts it",
                crate::model::join_shrinks(v.shrinks())
            ));
            meta.idp_jobs.remove(&s.source);
        }
        if v.label().is_some() {
            out.push((s.source.clone(), v));
        }
    }
    out
}

/// The log line and the metrics of one cycle.
fn observe(m: &Metrics, result: &anyhow::Result<Outcome>) {
    let o = match result {
        Ok(o) => o,
        Err(e) => {
            m.pull_runs.with_label_values(&["error"]).inc();
            tracing::error!("cycle failed: {e:#}");
            return;
        }
    };
    let (pull, rec) = (&o.pull, &o.recorded);
    m.pull_runs
        .with_label_values(&[if rec.complete {
            "complete"
        } else if rec.held {
            "held"
        } else {
            "incomplete"
        }])
        .inc();
    m.pull_duration.observe(pull.duration_seconds);
    if rec.complete {
        m.last_complete_pull
            .set(pull.finished_at.timestamp_millis() as f64 / 1000.0);
    }
    m.unreadable_fields.reset();
    for s in &pull.sources {
        let source = s.source.as_str();
        m.source_up
            .with_label_values(&[source])
            .set(i64::from(s.complete));
        // The last complete count stays on the dashboard through an outage or a held pull: a
        // drop to 0 must not read as "users disappeared".
        // An incomplete IdP source leaves the snapshot complete: it must not zero its count either.
        if rec.complete && s.complete {
            m.source_records
                .with_label_values(&[source])
                .set(s.records as i64);
        }
        m.source_records_last_attempt
            .with_label_values(&[source])
            .set(s.records as i64);
        // Only a pull that was judged (current or held) says whether the source is held; an
        // incomplete one leaves the gauge as it was.
        if s.complete && (rec.complete || rec.held) {
            let held = o.shrink.shrinks().iter().any(|x| x.source == s.source) && rec.held;
            m.snapshot_held
                .with_label_values(&[source])
                .set(i64::from(held));
        }
        // An IdP source held on its own (judged only when the snapshot is complete).
        if s.is_idp() && rec.complete && (s.complete || s.held) {
            m.snapshot_held
                .with_label_values(&[source])
                .set(i64::from(s.held));
        }
        if s.complete {
            for (field, n) in &s.data_quality.by_field {
                m.unreadable_fields
                    .with_label_values(&[source, field.as_str()])
                    .set(*n as i64);
            }
            if let Some(types) = &s.account_types {
                m.accounts_by_type.reset();
                for t in ["atlassian", "app", "customer"] {
                    m.accounts_by_type.with_label_values(&[t]).set(0);
                }
                for (t, n) in types {
                    m.accounts_by_type
                        .with_label_values(&[t.as_str()])
                        .set(*n as i64);
                }
            }
        }
    }
    // The job of each IdP read completely, whatever the Atlassian sources did (it is the IdP's
    // own state); an incomplete IdP source leaves its gauges as they were.
    for (source, health) in &pull.idp_jobs {
        if let Some(directory) = source.strip_prefix(crate::model::SourceStatus::IDP_PREFIX) {
            export_idp_health(m, directory, health.job.as_ref(), health.app.as_ref());
        }
    }
    // The pushed groups' memberships, from each complete IdP pull (an incomplete one leaves them);
    // when every IdP source is complete, a directory no longer pushing groups (mapping off,
    // `scope = "all"`, its IdP removed) drops out.
    if rec.complete
        && pull
            .sources
            .iter()
            .filter(|s| s.is_idp())
            .all(|s| s.complete)
    {
        m.group_members.reset();
    }
    for g in &o.group_members {
        let Some(s) = pull
            .sources
            .iter()
            .find(|s| s.is_idp() && s.directory_id.as_deref() == Some(&g.directory_id))
        else {
            continue;
        };
        let directory = s
            .source
            .strip_prefix(crate::model::SourceStatus::IDP_PREFIX)
            .unwrap_or(&s.source);
        for (side, n) in [("idp", g.idp), ("scim", g.scim)] {
            m.group_members
                .with_label_values(&[directory, side])
                .set(n as i64);
        }
    }
    let sum =
        |map: &std::collections::BTreeMap<crate::detect::Kind, u64>| map.values().sum::<u64>();
    let undetermined = o.findings.as_ref().map_or(0, |f| sum(&f.undetermined));
    let (open, new, resolved, suppressed) = match &o.findings {
        Some(f) => {
            for (kind, n) in &f.opened {
                m.findings_opened
                    .with_label_values(&[kind.as_str()])
                    .inc_by(*n);
            }
            for (kind, n) in &f.resolved {
                m.findings_resolved
                    .with_label_values(&[kind.as_str()])
                    .inc_by(*n);
            }
            (
                sum(&f.open),
                sum(&f.opened),
                sum(&f.resolved),
                sum(&f.suppressed),
            )
        }
        None => (0, 0, 0, 0),
    };
    let failed: Vec<&str> = pull
        .sources
        .iter()
        .filter(|s| !s.complete)
        .map(|s| s.source.as_str())
        .collect();
    for (source, v) in &o.idp_shrinks {
        if matches!(v, Verdict::Held(_)) {
            tracing::error!(
                snapshot_id = rec.snapshot_id,
                source = %source,
                held = true,
                "IdP source held by the shrink guard: {}; its directory's IdP findings stay as they were (run `scimdrift once --accept-shrink` if the drop is real)",
                crate::model::join_shrinks(v.shrinks())
            );
        } else {
            tracing::warn!(snapshot_id = rec.snapshot_id, source = %source, "{}", v.describe());
        }
    }
    if rec.held {
        tracing::error!(
            snapshot_id = rec.snapshot_id,
            complete = false,
            held = true,
            duration_seconds = pull.duration_seconds,
            "cycle finished with a held snapshot: {}",
            o.shrink.describe()
        );
    } else if rec.complete {
        if o.shrink.label().is_some() {
            tracing::warn!(snapshot_id = rec.snapshot_id, "{}", o.shrink.describe());
        }
        tracing::info!(
            snapshot_id = rec.snapshot_id,
            complete = true,
            duration_seconds = pull.duration_seconds,
            scim_records = pull.scim_records(),
            accounts = pull.accounts(),
            retries = pull.retries,
            throttled_seconds = pull.throttled.values().sum::<f64>(),
            versions_added = rec.versions_added,
            versions_closed = rec.versions_closed,
            findings_open = open,
            findings_new = new,
            findings_resolved = resolved,
            findings_suppressed = suppressed,
            findings_undetermined = undetermined,
            "cycle finished"
        );
    } else {
        tracing::warn!(
            snapshot_id = rec.snapshot_id,
            complete = false,
            duration_seconds = pull.duration_seconds,
            retries = pull.retries,
            failed_sources = %failed.join(","),
            "cycle finished with an incomplete snapshot; the previous complete snapshot stays current"
        );
    }
}

/// Sets the IdP gauges of `directory` (its configured name): an Okta `app`'s status and push
/// features ([`export_idp_app`]), else the provisioning `job`'s ([`export_idp_job`]).
pub fn export_idp_health(
    m: &Metrics,
    directory: &str,
    job: Option<&ProvisioningJob>,
    app: Option<&crate::model::idp::IdpApp>,
) {
    match app {
        Some(app) => export_idp_app(m, directory, app),
        None => export_idp_job(m, directory, job),
    }
}

/// Sets the Okta app gauges of `directory`: its status (every status of the bounded set gets a
/// series, 1 for the current one) and each named push feature, 1 on and 0 off (none while the
/// features are unknown).
pub fn export_idp_app(m: &Metrics, directory: &str, app: &crate::model::idp::IdpApp) {
    use crate::model::idp::IdpApp;
    // A directory that switched from Entra: its job's series go (their cycle time would only age).
    for status in ProvisioningJob::STATUSES {
        let _ = m.idp_job_status.remove_label_values(&[directory, status]);
    }
    let _ = m
        .idp_last_successful_cycle
        .remove_label_values(&[directory]);
    let _ = m.idp_job_interval.remove_label_values(&[directory]);
    let _ = m.idp_quarantined_since.remove_label_values(&[directory]);
    let _ = m.idp_job_escrowed.remove_label_values(&[directory]);
    let current = app.status_label();
    for status in IdpApp::STATUSES {
        m.idp_app_status
            .with_label_values(&[directory, status])
            .set(i64::from(status == current));
    }
    for (feature, _) in IdpApp::NAMED_FEATURES {
        match app.has(feature) {
            Some(on) => m
                .idp_app_feature
                .with_label_values(&[directory, feature])
                .set(i64::from(on)),
            None => {
                let _ = m.idp_app_feature.remove_label_values(&[directory, feature]);
            }
        }
    }
}

/// Sets the IdP job gauges of `directory` (its configured name) from its provisioning `job`
/// (`None`: the IdP has no job for the app, `NotConfigured`). Every status of the bounded set
/// gets a series: 1 for the current one, 0 for the others.
pub fn export_idp_job(m: &Metrics, directory: &str, job: Option<&ProvisioningJob>) {
    // A directory that switched from Okta: its app's series go.
    for status in crate::model::idp::IdpApp::STATUSES {
        let _ = m.idp_app_status.remove_label_values(&[directory, status]);
    }
    for (feature, _) in crate::model::idp::IdpApp::NAMED_FEATURES {
        let _ = m.idp_app_feature.remove_label_values(&[directory, feature]);
    }
    let current = job.map_or("NotConfigured", ProvisioningJob::status_label);
    for status in ProvisioningJob::STATUSES {
        m.idp_job_status
            .with_label_values(&[directory, status])
            .set(i64::from(status == current));
    }
    let seconds = |t: chrono::DateTime<Utc>| t.timestamp_millis() as f64 / 1000.0;
    m.idp_last_successful_cycle
        .with_label_values(&[directory])
        .set(
            job.and_then(ProvisioningJob::last_completed_cycle)
                .map_or(0.0, seconds),
        );
    m.idp_job_interval.with_label_values(&[directory]).set(
        job.map_or(ProvisioningJob::DEFAULT_INTERVAL_SECONDS, |j| {
            j.interval_or_default()
        }),
    );
    let quarantined = job
        .filter(|j| j.status_label() == "Quarantine")
        .and_then(|j| j.quarantine.as_ref())
        .and_then(|q| q.series_began.as_deref().or(q.current_began.as_deref()))
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map_or(0.0, |t| seconds(t.with_timezone(&Utc)));
    m.idp_quarantined_since
        .with_label_values(&[directory])
        .set(quarantined);
    let escrowed = job
        .and_then(|j| j.last_execution.as_ref())
        .and_then(|e| e.count_escrowed)
        .unwrap_or(0);
    m.idp_job_escrowed
        .with_label_values(&[directory])
        .set(escrowed.min(i64::MAX as u64) as i64);
}
