//! Text output: the plan (Terraform-style) and the audit log. Values from outside are escaped
//! for the terminal ([`crate::escape::line`]).

use std::fmt::Write;

use super::plan::{Plan, Target};
use super::policy::Mode;
use crate::escape::line;
use crate::store::AuditRow;

/// One target, readable (escaped for a terminal).
pub fn target_text(t: &Target) -> String {
    let dir = || line(t.directory.as_deref().unwrap_or("?")).into_owned();
    if let Some(u) = &t.idp {
        let record = match (t.scim_id.as_deref(), t.account_id.as_deref()) {
            (Some(s), Some(a)) => format!(", record {} linked to {}", line(s), line(a)),
            (Some(s), None) => format!(", record {}", line(s)),
            _ => String::new(),
        };
        return format!(
            "{} user {} <{}> for {} (job {}, rule {}{record})",
            line(&u.kind),
            line(&u.user_id),
            line(
                u.user_principal_name
                    .as_deref()
                    .or(t.email.as_deref())
                    .unwrap_or("?")
            ),
            dir(),
            line(&u.job_id),
            line(&u.rule_id),
        );
    }
    match (
        t.scim_id.as_deref().map(line),
        t.account_id.as_deref().map(line),
    ) {
        (Some(s), Some(a)) => format!("record {s} in {} (linked to {a})", dir()),
        (Some(s), None) => format!("record {s} in {}", dir()),
        (None, Some(a)) => format!(
            "account {a} <{}>",
            line(t.email.as_deref().unwrap_or("hidden"))
        ),
        (None, None) => "nothing".into(),
    }
}

/// The plan as people review it: what would happen, why, and which guards blocked what.
pub fn plan_text(plan: &Plan) -> String {
    let mut s = String::new();
    let snap = plan
        .snapshot_id
        .map_or("none".to_string(), |id| id.to_string());
    let _ = writeln!(
        s,
        "Remediation plan for snapshot {snap} ({})\n",
        plan.created_at
    );
    for c in &plan.checks {
        let mark = if c.passed { "ok     " } else { "BLOCKED" };
        let _ = writeln!(
            s,
            "  {mark} {}: {}",
            line(c.guard.as_str()),
            line(&c.detail)
        );
    }
    let _ = writeln!(s);
    if plan.steps.is_empty() {
        let _ = writeln!(s, "No rule applies to any open finding.");
    }
    for step in &plan.steps {
        let sign = match (step.allowed, step.mode) {
            (true, Mode::Apply) => "  + will",
            (true, _) => "  ~ would (dry run)",
            (false, _) => "  - blocked:",
        };
        let _ = writeln!(
            s,
            "{sign} {} ({}, finding {})",
            step.action, step.kind, step.finding_id
        );
        for t in &step.targets {
            let _ = writeln!(s, "      target: {}", target_text(t));
        }
        if let Some(e) = &step.new_email {
            let _ = writeln!(s, "      new email: {}", line(e));
        }
        let _ = writeln!(s, "      why: {}", line(&step.reason));
        for g in step.blocked_by() {
            let _ = writeln!(
                s,
                "      blocked by {}: {}",
                line(g.guard.as_str()),
                line(&g.detail)
            );
        }
    }
    let apply = plan.to_apply().count();
    let dry = plan
        .steps
        .iter()
        .filter(|s| s.allowed && s.mode == Mode::DryRun)
        .count();
    let blocked = plan.steps.len() - apply - dry;
    let _ = writeln!(
        s,
        "\nPlan: {apply} to apply, {dry} dry run, {blocked} blocked{}.",
        if plan.breaker_tripped {
            " (spike breaker tripped)"
        } else {
            ""
        }
    );
    s
}

/// The audit log, one line per row, newest first.
pub fn audit_text(rows: &[AuditRow]) -> String {
    if rows.is_empty() {
        return "No remediation actions recorded.\n".into();
    }
    let mut s = String::new();
    for r in rows {
        let targets: Vec<Target> = serde_json::from_value(r.targets.clone()).unwrap_or_default();
        let targets: Vec<String> = targets.iter().map(target_text).collect();
        let _ = writeln!(
            s,
            "{}  {:<18} {:<8} {:<12} {}  snapshot {}  http {}  {}{}",
            line(&r.started_at),
            line(&r.action),
            line(&r.mode),
            r.result.as_deref().map_or_else(
                || format!("PENDING {}", line(&r.idempotency_key)),
                |x| line(x).into_owned()
            ),
            targets.join("; "),
            r.snapshot_id,
            r.http_status.map_or("-".into(), |h| h.to_string()),
            line(&r.reason),
            r.detail
                .as_deref()
                .map(|d| format!(" ({})", line(d)))
                .unwrap_or_default()
        );
    }
    let open = rows.iter().filter(|r| r.result.is_none()).count();
    if open > 0 {
        let _ = writeln!(
            s,
            "\n{open} intent(s) without a result: reconciliation reads them back before each apply. If it cannot, check the target in Atlassian, then: scimdrift audit settle KEY --result success|failure|not_applied --note \"what you checked\""
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_from_outside_are_escaped_for_the_terminal() {
        let t = Target {
            account_id: Some("acc\u{1b}[2J".into()),
            email: Some("ana\u{1b}]0;owned\u{7}\u{202e}@example.com".into()),
            ..Target::default()
        };
        assert_eq!(
            target_text(&t),
            "account acc\\u{1b}[2J <ana\\u{1b}]0;owned\\u{7}\\u{202e}@example.com>"
        );
    }
}
