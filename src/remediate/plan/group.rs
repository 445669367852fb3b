//! A finding's unlinks and its `move_email` go together: an account half unlinked frees no email
//! and can never be moved, so either every unlink of the finding (and its move, when it is sent
//! too and the caps leave room for all of them) is allowed in a cycle, or none is. A move left
//! out follows in a later cycle, once a snapshot shows the account unlinked.

use std::collections::HashMap;

use super::{Step, verdict};
use crate::model::ScimRecord;
use crate::remediate::policy::{Action, Mode};

/// The guard's name.
pub const GUARD: super::Guard = super::Guard::UnlinkGroup;

/// One finding's unlinks, and its move when that is sent in the same cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Group {
    /// Cap units the whole group needs.
    pub size: usize,
    /// The finding's apply-mode move belongs to it (its unlinks are all apply-mode too).
    pub with_move: bool,
}

impl Group {
    /// Whether `s` is one of the group's steps.
    pub fn has(&self, s: &Step) -> bool {
        unlink(s) || (self.with_move && s.action == Action::MoveEmail && s.mode == Mode::Apply)
    }
}

/// An unlink with a record to unlink (a step without targets only says why there is none).
fn unlink(s: &Step) -> bool {
    s.action == Action::Unlink && !s.targets.is_empty()
}

#[derive(Default)]
struct Tally {
    unlinks: usize,
    all_apply: bool,
    moves: usize,
    /// Why one of the group's steps is blocked.
    broken: Option<String>,
}

fn blocked_because(s: &Step) -> String {
    let guards: Vec<&str> = s.blocked_by().iter().map(|v| v.guard.as_str()).collect();
    let what = match s.targets.first().and_then(|t| t.scim_id.as_deref()) {
        Some(id) if s.action == Action::Unlink => format!("the unlink of record {id}"),
        _ => format!("the finding's {}", s.action),
    };
    format!("{what} is blocked ({})", guards.join(", "))
}

/// Blocks every step of a finding's group when one is blocked, and a `move_email` whose account
/// stays linked (its unlinks blocked or dry-run, or none planned). The move joins the group when
/// all of it fits in `room` cap units. `after_caps`: judge by `allowed` (the final pass) instead of
/// the guards so far. Returns the unblocked groups, so the caps can be reserved for a whole group.
pub(super) fn tie(
    steps: &mut [&mut Step],
    records: &[ScimRecord],
    room: usize,
    after_caps: bool,
) -> HashMap<String, Group> {
    let passes = |s: &Step| {
        if after_caps {
            s.allowed
        } else {
            s.guards.iter().all(|g| g.passed)
        }
    };
    let mut tally: HashMap<String, Tally> = HashMap::new();
    for s in steps.iter().filter(|s| unlink(s)) {
        let t = tally.entry(s.finding_id.clone()).or_insert(Tally {
            all_apply: true,
            ..Tally::default()
        });
        t.unlinks += 1;
        t.all_apply &= s.mode == Mode::Apply;
        if t.broken.is_none() && !passes(s) {
            t.broken = Some(blocked_because(s));
        }
    }
    let joins = |t: &Tally, s: &Step| {
        t.all_apply && s.action == Action::MoveEmail && s.mode == Mode::Apply && t.unlinks < room
    };
    for s in steps.iter() {
        if let Some(t) = tally.get_mut(&s.finding_id)
            && joins(t, s)
        {
            t.moves += 1;
            if t.broken.is_none() && !passes(s) {
                t.broken = Some(blocked_because(s));
            }
        }
    }
    for s in steps.iter_mut().filter(|s| passes(s)) {
        let why = match (s.action, tally.get(&s.finding_id)) {
            (Action::Unlink, Some(Tally { broken: Some(why), .. })) if unlink(s) => {
                format!("{why}: the finding's unlinks and move go together, so none is sent")
            }
            (Action::MoveEmail, Some(Tally { broken: Some(why), .. })) => {
                format!("{why}: the account stays linked, so it is not moved")
            }
            (Action::MoveEmail, Some(Tally { all_apply: false, .. })) if s.mode == Mode::Apply => {
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
    tally
        .into_iter()
        .filter(|(_, t)| t.broken.is_none())
        .map(|(id, t)| {
            let group = Group {
                size: t.unlinks + t.moves,
                with_move: t.moves > 0,
            };
            (id, group)
        })
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
