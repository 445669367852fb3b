//! `provisioning_stalled`: the directory's provisioning job is quarantined, paused or not active,
//! or had no completed cycle (`Succeeded` or `EntryLevelErrors`) for 3 of its intervals.

use chrono::{DateTime, Utc};

use super::{Finding, IdpIndex, Kind, Subject, Undetermined};
use crate::model::idp::{ProvisioningJob, Stall};

/// The fields this kind reads ([`super::undetermined`]): no subject's field (the job, or the app's
/// `status` and `features`, which [`undetermined`] reads across the directory).
pub const READS: &[&str] = &[];

pub fn detect(x: &IdpIndex<'_>, now: DateTime<Utc>) -> Vec<Finding> {
    let side = &x.input.side;
    let (what, why) = match (&side.app, &side.job) {
        // An IdP without a job object (Okta): the app's status and features say.
        (Some(app), _) => match app.stall() {
            Ok(Some(stall)) => (
                format!("app {}", app.label.as_deref().unwrap_or(&app.id)),
                describe(stall),
            ),
            Ok(None) | Err(_) => return Vec::new(),
        },
        (None, None) => (
            "the provisioning job".to_string(),
            "no provisioning job is configured for the app".to_string(),
        ),
        (None, Some(job)) => match stalled(job, now) {
            Some(why) => (format!("job {}", job.job_id), why),
            None => return Vec::new(),
        },
    };
    vec![Finding::idp(
        Kind::ProvisioningStalled,
        x.directory_id,
        [],
        [],
        [],
        format!("Provisioning from the IdP is stalled ({what}): {why}."),
    )]
}

/// What this kind cannot decide: whether the app provisions, when its `status` or `features`
/// could not be read (an open finding keeps its state).
pub fn undetermined(x: &IdpIndex<'_>, u: &mut Undetermined) {
    if let Some(app) = &x.input.side.app
        && let Err(field) = app.stall()
    {
        u.add(
            Kind::ProvisioningStalled,
            Subject::Directory(x.directory_id.to_string()),
            [field],
        );
    }
}

/// Why the job is stalled, `None` when it is healthy.
pub fn stalled(job: &ProvisioningJob, now: DateTime<Utc>) -> Option<String> {
    Some(describe(job.stall(Some(now))?))
}

/// A stall in the finding's words.
fn describe(stall: Stall<'_>) -> String {
    match stall {
        Stall::Quarantined(q) => {
            let reason = q.map(|q| q.reason.as_str()).unwrap_or("reason unknown");
            let since = q
                .and_then(|q| q.series_began.as_deref().or(q.current_began.as_deref()))
                .map(|t| format!(" since {t}"))
                .unwrap_or_default();
            format!("the job is quarantined{since} ({reason})")
        }
        Stall::Paused => "the job is paused".into(),
        Stall::NotActive(other) => format!("it is not active (status {other})"),
        Stall::FeatureOff(feature) => format!(
            "{feature} is off: the app creates no user in Atlassian (turn on Create Users in the app's Provisioning tab, To App)"
        ),
        Stall::NeverCompleted => "the job has never completed a cycle".into(),
        Stall::Late {
            last,
            interval_seconds,
        } => format!(
            "no completed cycle since {} (more than 3 intervals of {} minutes)",
            last.to_rfc3339(),
            interval_seconds / 60
        ),
    }
}
