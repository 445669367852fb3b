//! The daily job: build the report, store it (a rerun the same day replaces it), apply retention,
//! then deliver. The report is stored before any delivery, so a failed delivery never loses it.

use chrono::{DateTime, Days, NaiveDate, Utc};
use serde::Serialize;

use crate::config::Settings;
use crate::metrics::Metrics;
use crate::report::{self, DeliveryResult, Report, StoredReports};
use crate::store::Store;

/// What a report needs from the settings.
pub fn context(settings: &Settings) -> anyhow::Result<report::Context> {
    Ok(report::Context {
        org_id: settings.atlassian.org_id.clone(),
        tz: settings.schedule.tz(),
        pull_interval: settings.schedule.pull_interval(),
        directory_names: settings.directory_names(),
        ignore_rules: settings.ignore_rules()?,
        remediation: settings.remediation.clone(),
        idp_apps: settings
            .atlassian
            .directories
            .iter()
            .filter_map(|d| {
                let i = d.idp.as_ref()?;
                Some((
                    d.id.clone(),
                    report::IdpApp {
                        kind: i.kind.as_str().to_string(),
                        service_principal_id: i.service_principal_id.clone(),
                        app_id: i.app_id.clone(),
                        job_id: i.job_id.clone(),
                        graph_base_url: i.graph_base_url.clone(),
                    },
                ))
            })
            .collect(),
        links: report::Links {
            public_url: settings
                .report
                .public_url
                .clone()
                .or_else(|| settings.server.public_url.clone()),
            admin_hub: settings.report.admin_hub_url.clone(),
            entra_admin: settings.report.entra_admin_url.clone(),
        },
    })
}

/// Builds the report of `now` from the store ([`report::build`] with the settings' context).
pub fn build(
    store: &Store,
    settings: &Settings,
    since: Option<NaiveDate>,
    now: DateTime<Utc>,
) -> anyhow::Result<Report> {
    report::build(store, &context(settings)?, since, now)
}

/// The report's day for `now` in the schedule's time zone.
pub fn report_date(settings: &Settings, now: DateTime<Utc>) -> NaiveDate {
    report::report_date(settings.schedule.tz(), now)
}

/// What one daily run did.
#[derive(Debug, Clone, Serialize)]
pub struct DailyOutcome {
    pub date: NaiveDate,
    /// The complete snapshot the report shows.
    pub snapshot_id: Option<i64>,
    /// One line for logs: open/new/resolved counts and warnings.
    pub headline: String,
    /// Stored reports deleted by retention (`report.keep_days`).
    pub deleted_reports: usize,
    /// One entry per configured channel.
    pub deliveries: Vec<DeliveryResult>,
    #[serde(skip)]
    pub report: Report,
}

/// Builds, stores and delivers the report of `now`. Errors are store or configuration errors (the
/// report could not be built or stored); delivery failures are in the outcome, never errors.
pub async fn run_daily(
    settings: &Settings,
    metrics: &Metrics,
    now: DateTime<Utc>,
) -> anyhow::Result<DailyOutcome> {
    let owned = settings.clone();
    let (report, deleted) =
        tokio::task::spawn_blocking(move || store_report(&owned, now)).await??;
    tracing::info!(
        date = %report.date,
        snapshot_id = report.freshness.snapshot_id,
        deleted_reports = deleted,
        headline = %report.headline(),
        "daily report stored"
    );
    let deliveries = report::deliver(&report, &settings.report, metrics).await;
    Ok(DailyOutcome {
        date: report.date,
        snapshot_id: report.freshness.snapshot_id,
        headline: report.headline(),
        deleted_reports: deleted,
        deliveries,
        report,
    })
}

/// Builds and stores the report, then deletes reports older than `keep_days` days.
fn store_report(settings: &Settings, now: DateTime<Utc>) -> anyhow::Result<(Report, usize)> {
    let store = Store::open(&settings.store.path)?;
    let report = build(&store, settings, None, now)?;
    store.put_report(&report)?;
    // Keeps the reports of the last `keep_days` days, today included.
    let keep = u64::from(settings.report.keep_days.saturating_sub(1));
    let deleted = match report.date.checked_sub_days(Days::new(keep)) {
        Some(cutoff) => store.delete_reports_before(cutoff)?,
        None => 0,
    };
    Ok((report, deleted))
}
