//! `scimdrift run`: the long-running daemon. Cron jobs (tokio-cron-scheduler) trigger pull → detect
//! cycles and the daily report; a cycle still running when the next is due is skipped (logged and
//! counted). The HTTP server exposes metrics and findings. Shutdown (SIGTERM/SIGINT) stops the
//! scheduler, lets the running cycle finish within a bound or aborts it (its transaction rolls back),
//! and returns. systemd `Type=notify` is supported: READY, WATCHDOG, STOPPING.

use std::future::Future;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use chrono::Utc;
use tokio::net::TcpListener;
use tokio::sync::{OwnedMutexGuard, watch};
use tokio::task::JoinHandle;
use tokio_cron_scheduler::{Job, JobScheduler};

use crate::config::Settings;
use crate::metrics::Metrics;
use crate::secret::Secret;
use crate::server::{self, AppState};
use crate::store::Store;

/// The bearer token for `/findings`, `/report` and `/person` ([`Settings::server_token`]).
pub fn server_token(settings: &Settings) -> anyhow::Result<Option<Secret>> {
    Ok(settings.server_token()?)
}

/// Everything the jobs share.
#[derive(Clone)]
struct Daemon {
    metrics: Arc<Metrics>,
    app: Arc<AppState>,
    /// Held by the running cycle; a cycle that cannot take it is skipped.
    running: Arc<tokio::sync::Mutex<()>>,
    /// The running cycle, for shutdown.
    current: Arc<Mutex<Option<JoinHandle<()>>>>,
    /// Unix time of the scheduler's last heartbeat tick (the watchdog pings only while it ticks).
    heartbeat: Arc<AtomicI64>,
}

impl Daemon {
    /// The settings in force (shared with the HTTP server; a reload replaces them).
    fn settings(&self) -> Arc<Settings> {
        self.app.settings.get()
    }

    /// Starts a cycle unless one is running.
    fn trigger(&self, why: &'static str) {
        let Ok(guard) = self.running.clone().try_lock_owned() else {
            self.metrics.cycle_skipped.inc();
            tracing::warn!(
                trigger = why,
                "previous cycle still running: this one is skipped"
            );
            return;
        };
        let this = self.clone();
        let handle = tokio::spawn(async move { this.cycle(guard).await });
        if let Ok(mut current) = self.current.lock() {
            *current = Some(handle);
        }
    }

    async fn cycle(&self, _running: OwnedMutexGuard<()>) {
        // The cycle runs in its own task, so a panic in it is an error outcome (logged and
        // counted like any failed cycle), not a silent end of this one; the daemon keeps running.
        let settings = self.settings();
        let (settings, metrics) = (settings.clone(), self.metrics.clone());
        let outcome =
            match catch_panic(async move { crate::cycle::run(&settings, &metrics).await }).await {
                Ok(result) => result.ok(),
                Err(panic) => {
                    self.metrics.pull_runs.with_label_values(&["error"]).inc();
                    tracing::error!("cycle failed: it panicked: {panic}");
                    None
                }
            };
        // Only a current (complete, not held) snapshot is acted on.
        if let Some(outcome) = &outcome {
            notify(&[sd_notify::NotifyState::Status(&status_line(outcome))]);
        }
        if let Some(outcome) = outcome
            && self.app.note_pull(&outcome)
            && self.settings().remediation.enabled
        {
            let (settings, metrics) = (self.settings(), self.metrics.clone());
            match catch_panic(async move {
                crate::app::remediation::run_cycle(&settings, &metrics).await
            })
            .await
            {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::error!("remediation failed: {e:#}"),
                Err(panic) => tracing::error!("remediation failed: it panicked: {panic}"),
            }
        }
        let settings = self.settings();
        let metrics = self.metrics.clone();
        let _ =
            tokio::task::spawn_blocking(move || refresh_store_gauges(&settings, &metrics)).await;
        release_free_memory();
    }

    /// Waits for the running cycle up to `bound`, then aborts it. Returns whether it finished.
    async fn finish_running_cycle(&self, bound: Duration) -> bool {
        let handle = self.current.lock().ok().and_then(|mut c| c.take());
        let Some(mut handle) = handle else {
            return true;
        };
        if handle.is_finished() {
            return true;
        }
        tracing::info!(
            bound_seconds = bound.as_secs_f64(),
            "waiting for the running cycle to finish"
        );
        match tokio::time::timeout(bound, &mut handle).await {
            Ok(_) => true,
            Err(_) => {
                handle.abort();
                let _ = handle.await;
                tracing::warn!(
                    "the running cycle was aborted at shutdown; its snapshot was rolled back"
                );
                false
            }
        }
    }
}

/// Runs `work` in its own task and turns a panic into `Err` with its message. Dropping the returned
/// future (the cycle aborted at shutdown) aborts the task too.
async fn catch_panic<T: Send + 'static>(
    work: impl Future<Output = T> + Send + 'static,
) -> Result<T, String> {
    struct AbortOnDrop<T>(JoinHandle<T>);
    impl<T> Drop for AbortOnDrop<T> {
        fn drop(&mut self) {
            self.0.abort();
        }
    }
    let mut task = AbortOnDrop(tokio::spawn(work));
    match (&mut task.0).await {
        Ok(value) => Ok(value),
        Err(e) if e.is_panic() => {
            let payload = e.into_panic();
            Err(payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "no message".into()))
        }
        Err(_) => Err("the task was cancelled".into()),
    }
}

/// Sets the gauges read from the store: current findings and database size.
fn refresh_store_gauges(settings: &Settings, metrics: &Metrics) {
    let path = &settings.store.path;
    let size = [path.clone(), path.with_extension("db-wal")]
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum::<u64>();
    metrics.db_size.set(size as i64);
    let rules = settings.ignore_rules().unwrap_or_default();
    let today = Utc::now().date_naive();
    match Store::read(path, |s| s.findings()) {
        Ok(mut all) => {
            for f in &mut all {
                f.apply_rules(&rules, today);
            }
            crate::findings::export_metrics(metrics, &all);
        }
        Err(e) => tracing::warn!("cannot read findings for the metrics: {e}"),
    }
    let names = settings.directory_names();
    match Store::read(path, |s| s.idp_sides()) {
        Ok(sides) => {
            for side in &sides {
                if let Some(name) = names.get(&side.directory_id) {
                    metrics
                        .idp_skipped_users
                        .with_label_values(&[name.as_str()])
                        .set(side.skipped_users as i64);
                }
            }
        }
        Err(e) => tracing::warn!("cannot read the IdP sides for the metrics: {e}"),
    }
}

/// Sets the IdP job gauges of each directory with a configured IdP from the store (its last
/// complete IdP pull); a directory never pulled completely gets none.
fn restore_idp_jobs(settings: &Settings, store: &Store, metrics: &Metrics) {
    let names = settings.directory_names();
    // Each directory with an IdP, and the kind configured for it now.
    let configured: std::collections::BTreeMap<&str, &str> = settings
        .atlassian
        .directories
        .iter()
        .filter_map(|d| Some((d.id.as_str(), d.idp.as_ref()?.kind.as_str())))
        .collect();
    let sides = store.idp_sides().unwrap_or_else(|e| {
        tracing::warn!("cannot read the IdP jobs for the metrics: {e}");
        Vec::new()
    });
    for (dir, kind) in &configured {
        let Some(name) = names.get(*dir) else {
            continue;
        };
        // A side stored by another IdP kind (the directory switched) says nothing of this one.
        match sides
            .iter()
            .find(|s| s.directory_id == *dir && (s.kind.is_empty() || s.kind == *kind))
        {
            Some(side) => {
                crate::cycle::export_idp_health(metrics, name, side.job.as_ref(), side.app.as_ref())
            }
            // Not pulled completely yet: every status series at 0, none current.
            None => {
                for status in crate::model::idp::ProvisioningJob::STATUSES {
                    metrics
                        .idp_job_status
                        .with_label_values(&[name.as_str(), status])
                        .set(0);
                }
            }
        }
    }
}

/// Hands memory freed after a large cycle back to the OS, so the idle daemon stays small.
fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free heap pages; it has no preconditions.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Runs the daemon on `listener` until `shutdown` resolves.
pub async fn run(
    settings: Settings,
    listener: TcpListener,
    token: Option<Secret>,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    run_reloadable(settings, listener, token, shutdown, None).await
}

/// Where a reload reads the configuration from, and the signal that asks for one.
pub struct Reload {
    /// The configuration file (`None`: the environment only).
    pub file: Option<std::path::PathBuf>,
    /// Resolves once per SIGHUP.
    pub signal: std::pin::Pin<Box<dyn futures::Stream<Item = ()> + Send>>,
}

/// A stream of SIGHUPs, the handler installed now (so a SIGHUP during start-up is not fatal).
#[cfg(unix)]
pub fn hangups() -> std::io::Result<std::pin::Pin<Box<dyn futures::Stream<Item = ()> + Send>>> {
    use tokio::signal::unix::{SignalKind, signal};
    let hup = signal(SignalKind::hangup())?;
    Ok(Box::pin(futures::stream::unfold(
        hup,
        |mut hup| async move { hup.recv().await.map(|()| ((), hup)) },
    )))
}

/// Loads and checks the configuration a reload would put in force: everything `run` checks at
/// start (the keys, the server token) must pass, or the old configuration stays.
async fn load_for_reload(
    file: Option<&std::path::Path>,
    metrics: &Metrics,
) -> anyhow::Result<Settings> {
    let settings = Settings::load(file)?;
    settings.check_secrets()?;
    server_token(&settings)?;
    check_org_directory(&settings, metrics).await?;
    Ok(settings)
}

/// How long a reload waits for the org user directory check (one API call) before it accepts the
/// configuration with a warning: a slow Atlassian never holds a reload (or SIGTERM) for long.
const DIRECTORY_CHECK_WAIT: Duration = Duration::from_secs(15);

/// On reload: a suspend / restore rule in `apply` mode that could not name its org user directory
/// refuses the configuration; one in dry run is a warning, as is a failed or slow read.
async fn check_org_directory(settings: &Settings, metrics: &Metrics) -> anyhow::Result<()> {
    let checked = tokio::time::timeout(
        DIRECTORY_CHECK_WAIT,
        crate::app::remediation::check_org_directory(settings, metrics),
    )
    .await
    .unwrap_or_else(|_| {
        Err(anyhow::anyhow!(
            "no answer within {} s",
            DIRECTORY_CHECK_WAIT.as_secs()
        ))
    });
    match checked {
        Ok(Some(a)) if a.applies => anyhow::bail!(
            "{}; until then the suspend / restore rules in apply mode would skip every step",
            a.message
        ),
        Ok(Some(a)) => tracing::warn!(
            "{}; the dry-run suspend / restore rules could not be applied as they are",
            a.message
        ),
        Ok(None) => {}
        Err(e) => tracing::warn!(
            "cannot list the org's user directories to check remediation.org_directory_id: {e:#}"
        ),
    }
    Ok(())
}

/// The `STATUS=` line systemd shows for the last cycle.
fn status_line(o: &crate::cycle::Outcome) -> String {
    let at = o.pull.finished_at.format("%Y-%m-%dT%H:%M:%SZ");
    let id = o.recorded.snapshot_id;
    if o.recorded.held {
        format!("last pull #{id} at {at} HELD: {}", o.shrink.describe())
    } else if !o.recorded.complete {
        let failed: Vec<&str> = o
            .pull
            .sources
            .iter()
            .filter(|s| !s.complete)
            .map(|s| s.source.as_str())
            .collect();
        format!("last pull #{id} at {at} INCOMPLETE ({})", failed.join(", "))
    } else {
        let open: u64 = o
            .findings
            .as_ref()
            .map(|f| f.open.values().sum())
            .unwrap_or(0);
        format!(
            "last pull #{id} at {at} complete in {:.1} s: {open} open findings",
            o.pull.duration_seconds
        )
    }
}

/// Like [`run`]; with `reload`, each SIGHUP re-reads the configuration, checks it as `run` would,
/// and puts it in force (the schedule is rebuilt), or logs why not and keeps the old one.
/// `[server]` changes need a restart.
pub async fn run_reloadable(
    settings: Settings,
    listener: TcpListener,
    token: Option<Secret>,
    shutdown: impl Future<Output = ()>,
    reload: Option<Reload>,
) -> anyhow::Result<()> {
    let settings = Arc::new(settings);
    let metrics = Arc::new(Metrics::new());
    crate::http::init_metrics(&metrics);
    crate::remediate::init_metrics(&metrics);
    crate::findings::export_metrics(&metrics, &[]);
    let interval = settings.schedule.pull_interval();
    metrics.pull_interval.set(interval.as_secs_f64());

    // The state as the store has it, so a restart is ready at once if the last pull is recent.
    let store = Store::open(&settings.store.path)?;
    let (current, held_since) = store.shrink_baseline()?;
    let last = current.and_then(|s| chrono::DateTime::parse_from_rfc3339(&s.finished_at).ok());
    let latest_held = held_since.into_iter().next();
    let held = crate::server::held_message(latest_held.as_ref());
    // The IdP jobs as the last complete IdP pulls recorded them, until the first cycle reads them.
    restore_idp_jobs(&settings, &store, &metrics);
    drop(store);
    // A restart while held shows it at once, as /readyz does.
    for s in latest_held.iter().flat_map(|h| h.shrinks()) {
        metrics
            .snapshot_held
            .with_label_values(&[s.source.as_str()])
            .set(1);
    }
    if let Some(at) = last {
        metrics
            .last_complete_pull
            .set(at.timestamp_millis() as f64 / 1000.0);
    }
    {
        let (s, m) = (settings.clone(), metrics.clone());
        tokio::task::spawn_blocking(move || refresh_store_gauges(&s, &m)).await?;
    }
    let app = Arc::new(AppState {
        settings: crate::config::SharedSettings::new(settings.clone()),
        metrics: metrics.clone(),
        last_complete: Mutex::new(last.map(|t| t.with_timezone(&Utc))),
        held: Mutex::new(held),
        token,
        metrics_cache: Mutex::new(None),
    });
    let daemon = Daemon {
        metrics: metrics.clone(),
        app: app.clone(),
        running: Arc::new(tokio::sync::Mutex::new(())),
        current: Arc::new(Mutex::new(None)),
        heartbeat: Arc::new(AtomicI64::new(Utc::now().timestamp())),
    };

    let addr = listener.local_addr()?;
    let (stop_server, server_stopped) = watch::channel(false);
    let server = tokio::spawn(server::run(listener, app, async move {
        let mut rx = server_stopped;
        let _ = rx.wait_for(|stop| *stop).await;
    }));
    let mut scheduler = schedule(&daemon).await?;
    tracing::info!(%addr, interval_seconds = interval.as_secs(), "scimdrift daemon listening");
    notify(&[sd_notify::NotifyState::Ready]);
    // Intents a crash left without a result are settled by reading their targets, never resent.
    // After the ready notice: it may wait for the remediation lock and for slow reads.
    let reconciling = settings.remediation.enabled.then(|| {
        let (settings, metrics) = (settings.clone(), metrics.clone());
        tokio::spawn(async move {
            // After the ready notice, like reconciliation: it reads the org (a slow Atlassian must
            // not hold the start). Each skipped step is counted and alerted on too.
            if let Err(e) = check_org_directory(&settings, &metrics).await {
                tracing::error!("remediation cannot act as configured: {e:#}");
            }
            if let Err(e) = crate::app::remediation::reconcile(&settings, &metrics).await {
                tracing::error!("cannot reconcile remediation intents at start-up: {e:#}");
            }
        })
    });

    let watchdog = tokio::spawn(watchdog(daemon.heartbeat.clone()));
    daemon.trigger("start-up");

    tokio::pin!(shutdown);
    let (file, mut hups) = match reload {
        Some(r) => (r.file, Some(r.signal)),
        None => (None, None),
    };
    loop {
        let hup = async {
            match hups.as_mut() {
                Some(h) => futures::StreamExt::next(h).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = &mut shutdown => break,
            Some(()) = hup => {
                if let Some(new) = reload_now(&daemon, file.as_deref()).await
                    && new.schedule_changed
                {
                    if let Err(e) = scheduler.shutdown().await {
                        tracing::warn!("scheduler shutdown: {e}");
                    }
                    scheduler = schedule(&daemon).await?;
                }
            }
        }
    }
    tracing::info!("shutting down");
    notify(&[sd_notify::NotifyState::Stopping]);
    if let Err(e) = scheduler.shutdown().await {
        tracing::warn!("scheduler shutdown: {e}");
    }
    watchdog.abort();
    if let Some(r) = reconciling {
        r.abort();
    }
    let bound = crate::config::duration_secs(daemon.settings().schedule.shutdown_timeout_seconds);
    daemon.finish_running_cycle(bound).await;
    let _ = stop_server.send(true);
    let _ = server.await;
    tracing::info!("stopped");
    Ok(())
}

/// What a successful reload changed.
struct Reloaded {
    schedule_changed: bool,
}

/// Re-reads the configuration; puts it in force when it passes every check, else logs why and
/// keeps the old one. Logged and counted here, once.
async fn reload_now(daemon: &Daemon, file: Option<&std::path::Path>) -> Option<Reloaded> {
    let old = daemon.settings();
    match load_for_reload(file, &daemon.metrics).await {
        Err(e) => {
            daemon
                .metrics
                .config_reloads
                .with_label_values(&["failure"])
                .inc();
            tracing::error!(
                "configuration reload refused, the running configuration stays in force: {e:#}"
            );
            notify(&[sd_notify::NotifyState::Status(
                "configuration reload refused: see the log",
            )]);
            None
        }
        Ok(new) => {
            let json = |v: &dyn erased_serde_value::Ser| v.value();
            let schedule_changed = json(&old.schedule) != json(&new.schedule);
            if json(&old.server) != json(&new.server) {
                tracing::warn!(
                    "[server] changed: the listen address and token take effect after a restart"
                );
            }
            daemon
                .metrics
                .pull_interval
                .set(new.schedule.pull_interval().as_secs_f64());
            daemon.app.settings.set(Arc::new(new));
            daemon
                .metrics
                .config_reloads
                .with_label_values(&["success"])
                .inc();
            tracing::info!(schedule_changed, "configuration reloaded");
            Some(Reloaded { schedule_changed })
        }
    }
}

/// Comparing sections by their serialized form (the settings types have no `PartialEq`).
mod erased_serde_value {
    pub trait Ser {
        fn value(&self) -> serde_json::Value;
    }
    impl<T: serde::Serialize> Ser for T {
        fn value(&self) -> serde_json::Value {
            serde_json::to_value(self).unwrap_or_default()
        }
    }
}

/// Adds the cron jobs and starts the scheduler.
async fn schedule(daemon: &Daemon) -> anyhow::Result<JobScheduler> {
    let scheduler = JobScheduler::new()
        .await
        .context("cannot start the scheduler")?;
    let settings = daemon.settings();
    let tz = settings.schedule.tz();
    let d = daemon.clone();
    let pull = Job::new_async_tz(settings.schedule.pull.as_str(), tz, move |_, _| {
        let d = d.clone();
        Box::pin(async move { d.trigger("schedule") })
    })
    .context("schedule.pull")?;
    scheduler
        .add(pull)
        .await
        .context("cannot add the pull job")?;
    let d = daemon.clone();
    let report = Job::new_async_tz(settings.schedule.report.as_str(), tz, move |_, _| {
        let d = d.clone();
        Box::pin(async move { d.daily_report().await })
    })
    .context("schedule.report")?;
    scheduler
        .add(report)
        .await
        .context("cannot add the report job")?;
    let beat = daemon.heartbeat.clone();
    let heartbeat = Job::new_async("*/5 * * * * *", move |_, _| {
        let beat = beat.clone();
        Box::pin(async move { beat.store(Utc::now().timestamp(), Ordering::Relaxed) })
    })
    .context("heartbeat job")?;
    scheduler
        .add(heartbeat)
        .await
        .context("cannot add the heartbeat job")?;
    scheduler
        .start()
        .await
        .context("cannot start the scheduler")?;
    Ok(scheduler)
}

impl Daemon {
    /// The daily report job: build, store, deliver (failures are retried, counted and logged by
    /// the report module; the report stays stored and served either way).
    async fn daily_report(&self) {
        match crate::app::daily::run_daily(&self.settings(), &self.metrics, Utc::now()).await {
            Ok(outcome) => tracing::info!(
                date = %outcome.date,
                snapshot_id = ?outcome.snapshot_id,
                deleted_reports = outcome.deleted_reports,
                deliveries_failed = outcome.deliveries.iter().filter(|d| !d.ok).count(),
                "daily report stored: {}",
                outcome.headline
            ),
            Err(e) => tracing::error!("daily report failed: {e:#}"),
        }
    }
}

/// Pings the systemd watchdog at half its interval, only while the scheduler's heartbeat is fresh.
async fn watchdog(heartbeat: Arc<AtomicI64>) {
    let Some(interval) = sd_notify::watchdog_enabled() else {
        return;
    };
    let period = (interval / 2).max(Duration::from_millis(500));
    let stale_after = interval.as_secs().max(15) as i64;
    loop {
        tokio::time::sleep(period).await;
        let age = Utc::now().timestamp() - heartbeat.load(Ordering::Relaxed);
        if age <= stale_after {
            notify(&[sd_notify::NotifyState::Watchdog]);
        } else {
            tracing::error!(
                age_seconds = age,
                "scheduler heartbeat is stale: not pinging the watchdog"
            );
        }
    }
}

/// Tells systemd, when it is listening (`NOTIFY_SOCKET`).
fn notify(state: &[sd_notify::NotifyState<'_>]) {
    if std::env::var_os("NOTIFY_SOCKET").is_some()
        && let Err(e) = sd_notify::notify(state)
    {
        tracing::warn!("sd_notify failed: {e}");
    }
}

/// Resolves on SIGTERM or SIGINT. The handlers are installed when this is called (not when first
/// polled), so a signal that arrives during start-up is not lost to the default action.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let term = signal(SignalKind::terminate()).ok();
        let int = signal(SignalKind::interrupt()).ok();
        async move {
            let wait = |s: Option<tokio::signal::unix::Signal>| async move {
                match s {
                    Some(mut s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                _ = wait(term) => {},
                _ = wait(int) => {},
            }
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use super::catch_panic;

    #[tokio::test]
    async fn a_panic_in_the_task_becomes_an_error_with_its_message() {
        let hours = 1e300;
        let r = catch_panic(async move {
            // What an unchecked setting did to a cycle before validation bounded it.
            std::time::Duration::from_secs_f64(hours).as_secs()
        })
        .await;
        let message = r.unwrap_err();
        assert!(message.contains("too big"), "{message}");
        let r = catch_panic::<u8>(async { panic!("boom {}", 7) }).await;
        assert_eq!(r, Err("boom 7".to_string()));
        assert_eq!(catch_panic(async { 5 }).await, Ok(5));
    }

    #[tokio::test]
    async fn dropping_the_wait_aborts_the_task() {
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let wait = catch_panic(async move {
            tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
            drop(tx);
        });
        // Polled once (the task starts), then dropped: the task must be aborted, dropping `tx`.
        let _ = tokio::time::timeout(std::time::Duration::from_millis(10), wait).await;
        let received = tokio::time::timeout(std::time::Duration::from_secs(5), rx).await;
        assert!(
            matches!(received, Ok(Err(_))),
            "the abort drops the task and its sender"
        );
    }
}
