//! The daily findings report for admins: what changed since the previous report, grouped by person,
//! with the fix (steps and exact API request) for each finding.
//!
//! - [`build`] reads the store (no API calls) into a [`Report`], whose JSON is a documented contract;
//! - [`render`] turns it into HTML (self-contained, escaped), Markdown, CSV or JSON;
//! - [`deliver`] sends it (`[report.delivery]`: webhook, email, directory), retrying each channel
//!   with backoff; the daily job (`app::daily`) builds, stores (retention `report.keep_days`) and
//!   delivers it;
//! - reports are stored in the `reports` table as JSON, read and written through [`StoredReports`].

mod admin_hub;
mod build;
mod config;
mod csv;
mod delivery;
mod fixes;
mod groups;
mod html;
mod idp;
mod markdown;
mod model;
mod okta;
mod people;
mod person_page;
mod remediation;
mod trend;

use chrono::NaiveDate;

use crate::store::{ReportDay, Store, StoreError};

pub use build::{Context, build, report_date};
pub use config::{DeliveryConfig, EmailConfig, ReportConfig, WebhookFormat};
pub use delivery::{Channel, DeliveryResult, deliver, webhook_payload};
pub use idp::IdpApp;
pub use model::*;
pub use person_page::render as render_person;

/// The formats a report renders to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum ReportFormat {
    /// One self-contained HTML file (inline CSS, no scripts or external resources).
    Html,
    /// Markdown, for tickets and chat.
    #[value(name = "md", alias = "markdown")]
    Markdown,
    /// One row per finding per subject (record or account), for spreadsheets.
    Csv,
    /// The report document (stable; see docs/report.md).
    Json,
}

impl ReportFormat {
    /// Every format.
    pub const ALL: [ReportFormat; 4] = [
        ReportFormat::Html,
        ReportFormat::Markdown,
        ReportFormat::Csv,
        ReportFormat::Json,
    ];

    /// The file extension (`html`, `md`, `csv`, `json`).
    pub fn extension(self) -> &'static str {
        match self {
            ReportFormat::Html => "html",
            ReportFormat::Markdown => "md",
            ReportFormat::Csv => "csv",
            ReportFormat::Json => "json",
        }
    }

    /// The HTTP `Content-Type`.
    pub fn content_type(self) -> &'static str {
        match self {
            ReportFormat::Html => "text/html; charset=utf-8",
            ReportFormat::Markdown => "text/markdown; charset=utf-8",
            ReportFormat::Csv => "text/csv; charset=utf-8",
            ReportFormat::Json => "application/json",
        }
    }

    /// The file name of the report of `date`: `scimdrift-report-YYYY-MM-DD.<ext>`.
    pub fn file_name(self, date: chrono::NaiveDate) -> String {
        format!("scimdrift-report-{date}.{}", self.extension())
    }
}

/// Renders `report` in `format`.
pub fn render(report: &Report, format: ReportFormat) -> String {
    match format {
        ReportFormat::Html => html::render(report),
        ReportFormat::Markdown => markdown::render(report),
        ReportFormat::Csv => csv::render(report),
        ReportFormat::Json => {
            let mut s = serde_json::to_string_pretty(report).unwrap_or_else(|_| "{}".into());
            s.push('\n');
            s
        }
    }
}

/// Typed access to the stored reports (the store keeps their JSON).
pub trait StoredReports {
    /// Stores `report` under its date, replacing a report of the same day.
    fn put_report(&self, report: &Report) -> Result<(), StoreError>;
    /// The report of `date`, if one is stored.
    fn report_on(&self, date: NaiveDate) -> Result<Option<Report>, StoreError>;
    /// The most recent stored report.
    fn latest_report(&self) -> Result<Option<Report>, StoreError>;
    /// The most recent report of a day before `date`: what a report of `date` compares with.
    fn report_before(&self, date: NaiveDate) -> Result<Option<Report>, StoreError>;
}

impl StoredReports for Store {
    fn put_report(&self, report: &Report) -> Result<(), StoreError> {
        let json = serde_json::to_string(report)
            .map_err(|e| self.decode_error("cannot encode the report", e))?;
        self.put_report_json(
            report.date,
            &report.generated_at,
            report.freshness.snapshot_id,
            &json,
        )
    }

    fn report_on(&self, date: NaiveDate) -> Result<Option<Report>, StoreError> {
        read_report(self, ReportDay::On(date))
    }

    fn latest_report(&self) -> Result<Option<Report>, StoreError> {
        read_report(self, ReportDay::Latest)
    }

    fn report_before(&self, date: NaiveDate) -> Result<Option<Report>, StoreError> {
        read_report(self, ReportDay::Before(date))
    }
}

/// A row whose JSON this build cannot read is an error naming it, not a panic.
fn read_report(store: &Store, day: ReportDay) -> Result<Option<Report>, StoreError> {
    store
        .report_json(day)?
        .map(|json| {
            serde_json::from_str(&json)
                .map_err(|e| store.decode_error("cannot decode the stored report", e))
        })
        .transpose()
}
