//! `provisioning_stalled`: the directory's provisioning job is quarantined, paused or not active,
//! or had no completed cycle (`Succeeded` or `EntryLevelErrors`) for 3 of its intervals.

use chrono::{DateTime, Utc};

use super::{Finding, IdpIndex, Kind};
use crate::model::idp::ProvisioningJob;

/// The job's interval when it does not say (Entra cycles about every 40 minutes).
const DEFAULT_INTERVAL_SECONDS: i64 = 40 * 60;

pub fn detect(x: &IdpIndex<'_>, now: DateTime<Utc>) -> Vec<Finding> {
    let why = match &x.input.side.job {
        None => Some("no provisioning job is configured for the app".to_string()),
        Some(job) => stalled(job, now),
    };
    let Some(why) = why else {
        return Vec::new();
    };
    let job = x
        .input
        .side
        .job
        .as_ref()
        .map(|j| format!("job {}", j.job_id))
        .unwrap_or_else(|| "the provisioning job".into());
    vec![Finding::idp(
        Kind::ProvisioningStalled,
        x.directory_id,
        [],
        [],
        [],
        format!("Provisioning from the IdP is stalled ({job}): {why}."),
    )]
}

/// Why the job is stalled, `None` when it is healthy.
pub fn stalled(job: &ProvisioningJob, now: DateTime<Utc>) -> Option<String> {
    match job.status.as_str() {
        "Quarantine" => {
            let q = job.quarantine.as_ref();
            let reason = q.map(|q| q.reason.as_str()).unwrap_or("reason unknown");
            let since = q
                .and_then(|q| q.series_began.as_deref().or(q.current_began.as_deref()))
                .map(|t| format!(" since {t}"))
                .unwrap_or_default();
            return Some(format!("the job is quarantined{since} ({reason})"));
        }
        "Paused" => return Some("the job is paused".into()),
        "Active" => {}
        other => return Some(format!("the job is not active (status {other})")),
    }
    let interval = job
        .interval_seconds
        .filter(|s| *s > 0)
        .unwrap_or(DEFAULT_INTERVAL_SECONDS);
    let completed = |e: &crate::model::idp::Execution| {
        matches!(e.state.as_deref(), Some("Succeeded" | "EntryLevelErrors"))
            .then(|| e.ended.as_deref().and_then(parse))
            .flatten()
    };
    let last = [&job.last_successful_execution, &job.last_execution]
        .into_iter()
        .flatten()
        .filter_map(completed)
        .max();
    let limit = chrono::Duration::seconds(interval.saturating_mul(3));
    match last {
        Some(t) if now - t <= limit => None,
        Some(t) => Some(format!(
            "no completed cycle since {} (more than 3 intervals of {} minutes)",
            t.to_rfc3339(),
            interval / 60
        )),
        None => Some("the job has never completed a cycle".into()),
    }
}

fn parse(t: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(t)
        .ok()
        .map(|d| d.with_timezone(&Utc))
}
