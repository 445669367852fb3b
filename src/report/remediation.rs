//! The report's remediation section, from the audit log (the period's rows) and the last plan.

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

/// Builds the section: rows since `since` (RFC 3339) and the blocked steps of the last plan.
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
    let rows = store.audit_since(since)?;
    let (dry, taken): (Vec<_>, Vec<_>) =
        rows.iter().map(entry).partition(|e| e.result == "dry_run");
    let blocked = match store.latest_plan()? {
        Some(json) => serde_json::from_str::<Plan>(&json)
            .map(|p| blocked_of(&p))
            .unwrap_or_default(),
        None => Vec::new(),
    };
    Ok(Remediation {
        configured,
        note,
        actions: taken,
        dry_run: dry,
        blocked,
    })
}

fn blocked_of(plan: &Plan) -> Vec<RemediationEntry> {
    plan.steps
        .iter()
        .filter(|s| !s.allowed)
        .map(|s| RemediationEntry {
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
            result: "blocked".into(),
            detail: s
                .blocked_by()
                .iter()
                .map(|g| format!("{}: {}", g.guard, g.detail))
                .collect::<Vec<_>>()
                .join("; "),
        })
        .collect()
}
