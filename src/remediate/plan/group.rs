//! A finding's unlinks and its `move_email` go together: an account half unlinked frees no email
//! and can never be moved, so either every unlink of the finding is allowed or none is.

use std::collections::HashMap;

use super::{Step, verdict};
use crate::model::ScimRecord;
use crate::remediate::policy::{Action, Mode};

/// The guard's name.
pub const GUARD: &str = "unlink_group";

/// An unlink with a record to unlink (a step without targets only says why there is none).
fn member(s: &Step) -> bool {
    s.action == Action::Unlink && !s.targets.is_empty()
}

/// One finding's unlinks.
#[derive(Default)]
struct Group {
    size: usize,
    /// Why one of them is blocked.
    broken: Option<String>,
    all_apply: bool,
}

/// Blocks every unlink of a finding when one is blocked, and a `move_email` whose account stays
/// linked (its unlinks blocked, dry-run, or not planned). `after_caps`: judge by `allowed` (the
/// final pass) instead of the guards so far. Returns the size of each unblocked group, so the caps
/// can be reserved for a whole group at once.
pub(super) fn tie(
    steps: &mut [&mut Step],
    records: &[ScimRecord],
    after_caps: bool,
) -> HashMap<String, usize> {
    let passes = |s: &Step| {
        if after_caps {
            s.allowed
        } else {
            s.guards.iter().all(|g| g.passed)
        }
    };
    let mut groups: HashMap<String, Group> = HashMap::new();
    for s in steps.iter().filter(|s| member(s)) {
        let g = groups.entry(s.finding_id.clone()).or_insert(Group {
            all_apply: true,
            ..Group::default()
        });
        g.size += 1;
        g.all_apply &= s.mode == Mode::Apply;
        if g.broken.is_none() && !passes(s) {
            let record = s.targets[0].scim_id.as_deref().unwrap_or("");
            let guards: Vec<&str> = s.blocked_by().iter().map(|v| v.guard.as_str()).collect();
            g.broken = Some(format!(
                "the unlink of record {record} is blocked ({})",
                guards.join(", ")
            ));
        }
    }
    for s in steps.iter_mut().filter(|s| passes(s)) {
        let group = groups.get(&s.finding_id);
        let why = match (s.action, group) {
            (Action::Unlink, Some(Group { broken: Some(why), .. })) if member(s) => {
                format!("{why}: the finding's unlinks go together, so none is sent")
            }
            (Action::MoveEmail, Some(Group { broken: Some(why), .. })) => {
                format!("{why}: the account stays linked, so it is not moved")
            }
            (Action::MoveEmail, Some(Group { all_apply: false, .. })) if s.mode == Mode::Apply => {
                "the finding's unlinks are dry-run: the account stays linked, so it is not moved"
                    .into()
            }
            (Action::MoveEmail, None) if still_linked(s, records) => {
                "the account is linked from a SCIM record and no unlink of it is planned: it cannot be moved yet".into()
            }
            _ => continue,
        };
        s.guards.push(verdict(GUARD, false, why));
        s.allowed = false;
    }
    groups
        .into_iter()
        .filter(|(_, g)| g.broken.is_none())
        .map(|(id, g)| (id, g.size))
        .collect()
}

fn still_linked(s: &Step, records: &[ScimRecord]) -> bool {
    let Some(account) = s.targets.first().and_then(|t| t.account_id.as_deref()) else {
        return false;
    };
    records
        .iter()
        .any(|r| r.account_id.as_deref() == Some(account))
}
