//! `provisioning_stalled`: the directory's provisioning job is quarantined, paused or not active,
//! or had no completed cycle (`Succeeded` or `EntryLevelErrors`) for 3 of its intervals.

use chrono::{DateTime, Utc};

use super::{Finding, IdpIndex, Kind};
use crate::model::idp::{ProvisioningJob, Stall};

/// The fields this kind reads ([`super::undetermined`]): no subject's field (the job alone).
pub const READS: &[&str] = &[];

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
    Some(match job.stall(Some(now))? {
        Stall::Quarantined(q) => {
            let reason = q.map(|q| q.reason.as_str()).unwrap_or("reason unknown");
            let since = q
                .and_then(|q| q.series_began.as_deref().or(q.current_began.as_deref()))
                .map(|t| format!(" since {t}"))
                .unwrap_or_default();
            format!("the job is quarantined{since} ({reason})")
        }
        Stall::Paused => "the job is paused".into(),
        Stall::NotActive(other) => format!("the job is not active (status {other})"),
        Stall::NeverCompleted => "the job has never completed a cycle".into(),
        Stall::Late {
            last,
            interval_seconds,
        } => format!(
            "no completed cycle since {} (more than 3 intervals of {} minutes)",
            last.to_rfc3339(),
            interval_seconds / 60
        ),
    })
}
