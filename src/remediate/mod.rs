//! Guarded auto-remediation: a policy ([`policy`]), a pure planner with its guards ([`plan`]), the
//! calls ([`actions`]) and a crash-safe applier with an audit log ([`apply`]). Off by default. The
//! runs that tie them to the configuration, the store and the lock are in `app::remediation`.

pub mod actions;
pub mod apply;
pub mod history;
pub mod lock;
pub mod plan;
pub mod policy;
mod render;

pub use apply::{Applied, AuditResult, SkipReason};
pub use plan::{Plan, Step};
pub use policy::{Action, Mode, RemediationConfig, Scope};
pub use render::{audit_text, plan_text, target_text};

use crate::metrics::Metrics;

/// Creates the remediation series (every action × result, every guard) at zero.
pub fn init_metrics(m: &Metrics) {
    for action in Action::ALL {
        for result in apply::AuditResult::ALL {
            m.remediation_actions
                .with_label_values(&[action.as_str(), result.as_str()]);
        }
        for reason in apply::SkipReason::ALL {
            m.remediation_steps.with_label_values(&[
                action.as_str(),
                AuditResult::Skipped.as_str(),
                reason.as_str(),
            ]);
        }
    }
    for guard in plan::Guard::ALL {
        m.remediation_blocked.with_label_values(&[guard.as_str()]);
    }
}
