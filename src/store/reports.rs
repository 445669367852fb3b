//! Stored daily reports: one row per day holding the report's JSON, so every format can be rendered
//! again later (`/report/YYYY-MM-DD`, comparisons with the previous report).

use chrono::NaiveDate;
use rusqlite::{OptionalExtension, params};

use super::{Store, StoreError};
use crate::report::Report;

fn date_key(date: NaiveDate) -> String {
    date.format("%Y-%m-%d").to_string()
}

/// A row whose JSON this build cannot read is an error naming the day, not a panic.
fn parse(json: &str) -> rusqlite::Result<Report> {
    serde_json::from_str(json).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, e.into())
    })
}

impl Store {
    /// Stores `report` under its date, replacing a report of the same day.
    pub fn put_report(&self, report: &Report) -> Result<(), StoreError> {
        let json = serde_json::to_string(report).map_err(|e| StoreError::Sqlite {
            path: self.path.clone(),
            context: "cannot encode the report",
            source: rusqlite::Error::ToSqlConversionFailure(e.into()),
        })?;
        self.conn
            .execute(
                "INSERT INTO reports (date, generated_at, snapshot_id, report_json) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (date) DO UPDATE SET generated_at = excluded.generated_at,
                     snapshot_id = excluded.snapshot_id, report_json = excluded.report_json",
                params![
                    date_key(report.date),
                    report.generated_at,
                    report.freshness.snapshot_id,
                    json
                ],
            )
            .map_err(self.err("cannot store the report"))?;
        Ok(())
    }

    /// The report of `date`, if one is stored.
    pub fn report_on(&self, date: NaiveDate) -> Result<Option<Report>, StoreError> {
        self.one_report(
            "SELECT report_json FROM reports WHERE date = ?1",
            [date_key(date)],
        )
    }

    /// The most recent stored report.
    pub fn latest_report(&self) -> Result<Option<Report>, StoreError> {
        self.one_report(
            "SELECT report_json FROM reports ORDER BY date DESC LIMIT 1",
            [],
        )
    }

    /// The most recent report of a day before `date`: what a report of `date` compares with.
    pub fn report_before(&self, date: NaiveDate) -> Result<Option<Report>, StoreError> {
        self.one_report(
            "SELECT report_json FROM reports WHERE date < ?1 ORDER BY date DESC LIMIT 1",
            [date_key(date)],
        )
    }

    /// The days that have a stored report, newest first.
    pub fn report_dates(&self) -> Result<Vec<NaiveDate>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT date FROM reports ORDER BY date DESC")
            .map_err(self.err("cannot list reports"))?;
        let days: Vec<String> = stmt
            .query_map([], |r| r.get(0))
            .and_then(|rows| rows.collect())
            .map_err(self.err("cannot list reports"))?;
        Ok(days
            .iter()
            .filter_map(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
            .collect())
    }

    /// Deletes the reports of days before `date` (retention); returns how many went.
    pub fn delete_reports_before(&self, date: NaiveDate) -> Result<usize, StoreError> {
        self.conn
            .execute("DELETE FROM reports WHERE date < ?1", [date_key(date)])
            .map_err(self.err("cannot delete old reports"))
    }

    fn one_report(
        &self,
        sql: &str,
        args: impl rusqlite::Params,
    ) -> Result<Option<Report>, StoreError> {
        let json: Option<String> = self
            .conn
            .query_row(sql, args, |r| r.get(0))
            .optional()
            .map_err(self.err("cannot read the report"))?;
        json.map(|j| parse(&j))
            .transpose()
            .map_err(self.err("cannot decode the stored report"))
    }
}
