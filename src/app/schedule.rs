//! `[schedule]`: when the daemon runs its jobs (cron with seconds, in a time zone) and how long
//! shutdown waits for a running cycle.

use serde::{Deserialize, Serialize};

use crate::section::check_seconds;

/// `[schedule]`: when the daemon runs its jobs (cron with seconds).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct ScheduleConfig {
    /// Pull → detect cycles. Default every 15 minutes.
    pub pull: String,
    /// The daily report. Default 07:00.
    pub report: String,
    /// IANA time zone of both schedules. Default UTC.
    pub timezone: String,
    /// How long shutdown waits for a running cycle before aborting it, seconds.
    pub shutdown_timeout_seconds: f64,
}

impl Default for ScheduleConfig {
    fn default() -> Self {
        ScheduleConfig {
            pull: "0 */15 * * * *".into(),
            report: "0 0 7 * * *".into(),
            timezone: "UTC".into(),
            shutdown_timeout_seconds: 30.0,
        }
    }
}

/// Parses a cron expression with seconds, as the scheduler does.
pub fn parse_cron(expr: &str) -> Result<croner::Cron, String> {
    croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Required)
        .dom_and_dow(true)
        .build()
        .parse(expr)
        .map_err(|e| {
            format!("expected a cron expression with seconds, e.g. \"0 */15 * * * *\" ({e})")
        })
}

impl ScheduleConfig {
    /// The time zone (validated at load).
    pub fn tz(&self) -> chrono_tz::Tz {
        self.timezone.parse().unwrap_or(chrono_tz::UTC)
    }

    /// The interval between two pulls: the gap between the next two occurrences of `pull`.
    pub fn pull_interval(&self) -> std::time::Duration {
        let fallback = std::time::Duration::from_secs(900);
        let Ok(cron) = parse_cron(&self.pull) else {
            return fallback;
        };
        let now = chrono::Utc::now().with_timezone(&self.tz());
        let Ok(a) = cron.find_next_occurrence(&now, false) else {
            return fallback;
        };
        let Ok(b) = cron.find_next_occurrence(&a, false) else {
            return fallback;
        };
        (b - a).to_std().unwrap_or(fallback)
    }
}

/// Checks a (parsed) cron expression fires within the next ten years, twice: a schedule such as
/// `0 0 0 31 2 *` (30 February) parses but would never run.
fn check_fires(expr: &str, tz: chrono_tz::Tz) -> Result<(), String> {
    let cron = parse_cron(expr)?;
    let now = chrono::Utc::now().with_timezone(&tz);
    let never = || {
        format!(
            "the schedule {expr:?} never fires (no date matches it within ten years): check the day and month fields"
        )
    };
    let first = cron
        .find_next_occurrence(&now, false)
        .map_err(|_| never())?;
    let second = cron
        .find_next_occurrence(&first, false)
        .map_err(|_| never())?;
    if second - now > chrono::Duration::days(3660) {
        return Err(never());
    }
    Ok(())
}

impl ScheduleConfig {
    /// Checks the section: both cron expressions parse and fire, the time zone exists, the
    /// shutdown bound is sane. The error is (key within the section, message).
    pub fn validate(&self) -> Result<(), (String, String)> {
        for (key, expr) in [("pull", &self.pull), ("report", &self.report)] {
            parse_cron(expr).map_err(|e| (key.to_string(), e))?;
        }
        let Ok(tz) = self.timezone.parse::<chrono_tz::Tz>() else {
            return Err((
                "timezone".into(),
                format!(
                    "expected an IANA time zone such as \"UTC\" or \"Europe/Berlin\", got {:?}",
                    self.timezone
                ),
            ));
        };
        for (key, expr) in [("pull", &self.pull), ("report", &self.report)] {
            check_fires(expr, tz).map_err(|e| (key.to_string(), e))?;
        }
        check_seconds(self.shutdown_timeout_seconds, 0.0, 3600.0)
            .map_err(|m| ("shutdown_timeout_seconds".to_string(), m))
    }
}
