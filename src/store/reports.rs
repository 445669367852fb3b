//! Stored daily reports: one row per day holding the report's JSON, so every format can be rendered
//! again later (`/report/YYYY-MM-DD`, comparisons with the previous report). The store keeps the
//! JSON as text; the report module reads and writes its shape.

use chrono::NaiveDate;
use rusqlite::{OptionalExtension, params};

use super::{Store, StoreError};

fn date_key(date: NaiveDate) -> String {
    date.format("%Y-%m-%d").to_string()
}

/// Which stored report to read.
#[derive(Debug, Clone, Copy)]
pub enum ReportDay {
    /// The report of that day.
    On(NaiveDate),
    /// The most recent one.
    Latest,
    /// The most recent one of a day before this one.
    Before(NaiveDate),
}

impl Store {
    /// Stores a report's JSON under its `date`, replacing a report of the same day.
    pub fn put_report_json(
        &self,
        date: NaiveDate,
        generated_at: &str,
        snapshot_id: Option<i64>,
        json: &str,
    ) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT INTO reports (date, generated_at, snapshot_id, report_json) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (date) DO UPDATE SET generated_at = excluded.generated_at,
                     snapshot_id = excluded.snapshot_id, report_json = excluded.report_json",
                params![date_key(date), generated_at, snapshot_id, json],
            )
            .map_err(self.err("cannot store the report"))?;
        Ok(())
    }

    /// The JSON of a stored report, if there is one.
    pub fn report_json(&self, day: ReportDay) -> Result<Option<String>, StoreError> {
        let (sql, arg) = match day {
            ReportDay::On(d) => (
                "SELECT report_json FROM reports WHERE date = ?1",
                date_key(d),
            ),
            ReportDay::Latest => (
                "SELECT report_json FROM reports WHERE ?1 = ?1 ORDER BY date DESC LIMIT 1",
                String::new(),
            ),
            ReportDay::Before(d) => (
                "SELECT report_json FROM reports WHERE date < ?1 ORDER BY date DESC LIMIT 1",
                date_key(d),
            ),
        };
        self.conn
            .query_row(sql, [arg], |r| r.get(0))
            .optional()
            .map_err(self.err("cannot read the report"))
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

    /// A stored value this build cannot decode, as a store error naming what.
    pub fn decode_error(&self, context: &'static str, e: serde_json::Error) -> StoreError {
        StoreError::Sqlite {
            path: self.path.clone(),
            context,
            source: rusqlite::Error::FromSqlConversionFailure(
                0,
                rusqlite::types::Type::Text,
                e.into(),
            ),
        }
    }
}
