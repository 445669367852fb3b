//! The report's remediation section: the actions taken (the audit log's apply rows of the period),
//! and from the last plan its dry-run steps and what it blocked.

use super::model::{Remediation, RemediationEntry};
use crate::remediate::{Mode, Plan, plan::Target, target_text};
use crate::store::{AuditRow, Store};

fn targets(value: &serde_json::Value) -> String {
    let list: Vec<Target> = serde_json::from_value(value.clone()).unwrap_or_default();
    list.iter().map(target_text).collect::<Vec<_>>().join("; ")
}

fn entry(r: &AuditRow) -> RemediationEntry {
    RemediationEntry {
        at: r.started_at.clone(),
        action: r.action.clone(),
        kind: r.kind.clone(),
        finding_id: r.finding_id.clone(),
        targets: targets(&r.targets),
        result: r.result.clone().unwrap_or_else(|| "pending".into()),
        detail: match &r.detail {
            Some(d) => format!("{} ({d})", r.reason),
            None => r.reason.clone(),
        },
    }
}

/// Builds the section: apply rows since `since` (RFC 3339); the last plan's dry-run and blocked steps.
pub fn section(
    store: &Store,
    policy: &crate::remediate::RemediationConfig,
    since: &str,
) -> anyhow::Result<Remediation> {
    let active_rules = policy.rules.iter().filter(|r| r.mode != Mode::Off).count();
    let configured = policy.enabled && active_rules > 0;
    let note = if configured {
        format!(
            "Automatic remediation is enabled with {active_rules} active rule(s) (at most {} actions per cycle, {}% of the population; spike threshold {}).",
            policy.max_actions_per_cycle, policy.max_percent_of_population, policy.spike_threshold
        )
    } else {
        "No automatic remediation configured: every fix above is for a person to apply.".into()
    };
    // Dry runs are audited only when the plan changes: what they would do is the last plan's.
    let taken: Vec<_> = store
        .audit_since(since)?
        .iter()
        .filter(|r| r.mode != Mode::DryRun.as_str())
        .map(entry)
        .collect();
    let plan = store
        .latest_plan()?
        .and_then(|json| serde_json::from_str::<Plan>(&json).ok());
    let (dry, blocked) = match &plan {
        Some(p) => (dry_runs_of(p), blocked_of(p)),
        None => (Vec::new(), Vec::new()),
    };
    Ok(Remediation {
        configured,
        note,
        actions: taken,
        dry_run: dry,
        blocked,
    })
}

/// A step of the last plan, as the report lists it.
fn plan_entry(
    plan: &Plan,
    s: &crate::remediate::Step,
    result: &str,
    detail: String,
) -> RemediationEntry {
    RemediationEntry {
        at: plan.created_at.clone(),
        action: s.action.to_string(),
        kind: s.kind.to_string(),
        finding_id: s.finding_id.clone(),
        targets: s
            .targets
            .iter()
            .map(target_text)
            .collect::<Vec<_>>()
            .join("; "),
        result: result.into(),
        detail,
    }
}

/// The last plan's dry-run steps that would run.
fn dry_runs_of(plan: &Plan) -> Vec<RemediationEntry> {
    plan.steps
        .iter()
        .filter(|s| s.allowed && s.mode == Mode::DryRun)
        .map(|s| plan_entry(plan, s, "dry_run", s.reason.clone()))
        .collect()
}

/// The last plan's blocked steps, with the guards that blocked them.
fn blocked_of(plan: &Plan) -> Vec<RemediationEntry> {
    plan.steps
        .iter()
        .filter(|s| !s.allowed)
        .map(|s| {
            let why = s
                .blocked_by()
                .iter()
                .map(|g| format!("{}: {}", g.guard, g.detail))
                .collect::<Vec<_>>()
                .join("; ");
            plan_entry(plan, s, "blocked", why)
        })
        .collect()
}
