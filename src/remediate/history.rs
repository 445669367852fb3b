//! What the audit log tells the planner: which actions failed or succeeded before (never repeated
//! automatically), which suspensions are scimdrift's own, and which unlinks still await their move.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};

use super::plan::{Target, Unlinked, target_action_key};
use crate::store::{AuditRow, Store, StoreError};

/// The planner's view of the audit log.
#[derive(Debug, Default)]
pub struct History {
    /// Action keys and target-action keys of refused calls.
    pub failed: HashSet<String>,
    /// Action keys and target-action keys of calls that took effect.
    pub succeeded: HashSet<String>,
    /// Accounts scimdrift suspended and no one gave access back to since.
    pub suspended_by_us: HashSet<String>,
    /// Successful unlinks that carry their contest, oldest first.
    pub unlinked: Vec<Unlinked>,
}

fn targets(row: &AuditRow) -> Vec<Target> {
    serde_json::from_value(row.targets.clone()).unwrap_or_default()
}

/// Both keys a row blocks: the action on its finding and targets, and the action on its targets
/// whatever the finding (a finding's identity can change while the target stays the same).
fn keys(row: &AuditRow) -> [String; 2] {
    [
        row.action_key.clone(),
        target_action_key(&row.action, &targets(row)),
    ]
}

/// Reads the history as of `now`. A 401 failure older than a day no longer counts (a key problem).
pub fn read(store: &Store, now: DateTime<Utc>) -> Result<History, StoreError> {
    let mut h = History::default();
    let auth_expiry = crate::model::stamp_millis(now - chrono::Duration::hours(24));
    for row in store.audit_failures(&auth_expiry)? {
        h.failed.extend(keys(&row));
    }
    // Per account, only scimdrift's latest suspend or restore counts as done, so it can follow
    // the IdP back and forth (suspend a leaver, restore the rehire, suspend again).
    let mut access: HashMap<String, AuditRow> = HashMap::new();
    for row in store.audit_successes()? {
        match row.action.as_str() {
            "suspend" | "restore" => {
                for t in targets(&row) {
                    if let Some(a) = t.account_id {
                        access.insert(a, row.clone());
                    }
                }
            }
            action => {
                if action == "unlink" {
                    let contest = row
                        .contest
                        .clone()
                        .and_then(|c| serde_json::from_value(c).ok());
                    let account = targets(&row).into_iter().find_map(|t| t.account_id);
                    if let (Some(contest), Some(account_id)) = (contest, account) {
                        h.unlinked.push(Unlinked {
                            finding_id: row.finding_id.clone(),
                            account_id,
                            contest,
                            at: row.started_at.clone(),
                        });
                    }
                }
                h.succeeded.extend(keys(&row));
            }
        }
    }
    for (account, row) in access {
        h.succeeded.extend(keys(&row));
        // A suspension stays ours only while no later snapshot showed the account with access:
        // once someone restored it, a new suspension is theirs (e.g. a deliberate hold).
        if row.action == "suspend" && !store.account_had_access_after(&account, row.snapshot_id)? {
            h.suspended_by_us.insert(account);
        }
    }
    Ok(h)
}
