//! One person's whole history — the question behind every support ticket ("why can't this person
//! log in?"): every version of their SCIM records and accounts, every finding about them with its
//! lifecycle, every remediation action, from the store alone (no API calls). Its JSON
//! (`scimdrift person EMAIL --format json`, `/person?email=`) is a contract.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Serialize;

use crate::findings::FindingView;
use crate::store::{AccountVersion, RecordVersion, Store, StoreError};

/// Everything the store knows about one email.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PersonHistory {
    /// The email asked about, as given.
    pub email: String,
    pub records: Vec<RecordHistory>,
    pub accounts: Vec<AccountHistory>,
    pub findings: Vec<PersonFinding>,
    pub actions: Vec<PersonAction>,
}

/// One SCIM record's versions, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecordHistory {
    /// The directory's configured name (its id when no longer configured).
    pub directory: String,
    pub directory_id: String,
    pub scim_id: String,
    pub versions: Vec<RecordVersionView>,
}

/// One version of a record: valid from the snapshot at `from` until the one at `to` (`null`:
/// current).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecordVersionView {
    pub from: String,
    pub to: Option<String>,
    pub active: Option<bool>,
    pub email: Option<String>,
    pub account_id: Option<String>,
}

/// One account's versions, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AccountHistory {
    pub account_id: String,
    pub versions: Vec<AccountVersionView>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AccountVersionView {
    pub from: String,
    pub to: Option<String>,
    pub email: Option<String>,
    pub account_status: String,
    pub membership_status: String,
}

/// A finding about the person, with its lifecycle events.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PersonFinding {
    pub id: String,
    pub kind: String,
    pub severity: String,
    pub status: String,
    pub first_seen: String,
    pub resolved_at: Option<String>,
    pub summary: String,
    /// `[{at, event}]`: opened, resolved, reopened, unsuppressed; oldest first.
    pub events: Vec<FindingEvent>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FindingEvent {
    pub at: String,
    pub event: String,
}

/// A remediation step about the person (dry runs included).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PersonAction {
    pub action: String,
    /// success, failure, skipped, dry_run, not_applied; `pending` while the outcome is unknown.
    pub result: String,
    /// When the step started (RFC 3339).
    pub at: String,
    pub finding_id: String,
    pub mode: String,
    pub detail: Option<String>,
}

/// Builds the history of `email` from the store. `names` maps directory ids to configured names.
pub fn history(
    store: &Store,
    email: &str,
    names: &HashMap<String, String>,
) -> Result<PersonHistory, StoreError> {
    let (record_versions, account_versions) = store.history_of_email(email)?;
    let records = group_records(record_versions, names);
    let accounts = group_accounts(account_versions);
    let record_ids: HashSet<(&str, &str)> = records
        .iter()
        .map(|r| (r.directory_id.as_str(), r.scim_id.as_str()))
        .collect();
    let account_ids: HashSet<&str> = accounts.iter().map(|a| a.account_id.as_str()).collect();
    let about = |f: &FindingView| {
        f.scim_users
            .iter()
            .any(|u| record_ids.contains(&(u.directory_id.as_str(), u.scim_id.as_str())))
            || f.accounts
                .iter()
                .any(|a| account_ids.contains(a.account_id.as_str()))
    };
    let mut findings = Vec::new();
    for f in store.findings()?.into_iter().filter(|f| about(f)) {
        let events = store
            .finding_events(&f.id)?
            .into_iter()
            .map(|(_, at, event)| FindingEvent {
                at: seconds(at),
                event,
            })
            .collect();
        findings.push(PersonFinding {
            id: f.id,
            kind: f.kind.as_str().to_string(),
            severity: f.severity.as_str().to_string(),
            status: f.status.as_str().to_string(),
            first_seen: seconds(f.first_seen),
            resolved_at: f.resolved_at.map(seconds),
            summary: f.summary,
            events,
        });
    }
    findings.sort_by(|a, b| a.first_seen.cmp(&b.first_seen).then(a.id.cmp(&b.id)));
    let finding_ids: HashSet<&str> = findings.iter().map(|f| f.id.as_str()).collect();
    let mut actions: Vec<PersonAction> = store
        .audit(usize::MAX)?
        .into_iter()
        .filter(|row| {
            finding_ids.contains(row.finding_id.as_str())
                || mentions(&row.targets, &account_ids, &record_ids)
        })
        .map(|row| PersonAction {
            action: row.action,
            result: row.result.unwrap_or_else(|| "pending".into()),
            at: seconds(row.started_at),
            finding_id: row.finding_id,
            mode: row.mode,
            detail: row.detail,
        })
        .collect();
    actions.sort_by(|a, b| a.at.cmp(&b.at));
    Ok(PersonHistory {
        email: email.to_string(),
        records,
        accounts,
        findings,
        actions,
    })
}

/// A stored time as RFC 3339 to the second, as every time of the contract is; anything else as
/// it is.
fn seconds(t: String) -> String {
    crate::model::parse_utc(&t)
        .map(crate::model::rfc3339_seconds)
        .unwrap_or(t)
}

/// True when an audit row's targets name one of the person's accounts or records.
fn mentions(
    targets: &serde_json::Value,
    accounts: &HashSet<&str>,
    records: &HashSet<(&str, &str)>,
) -> bool {
    let strings: Vec<&str> = match targets {
        serde_json::Value::Object(m) => m.values().filter_map(|v| v.as_str()).collect(),
        _ => Vec::new(),
    };
    strings.iter().any(|s| accounts.contains(s))
        || records
            .iter()
            .any(|(d, s)| strings.contains(d) && strings.contains(s))
}

fn group_records(
    versions: Vec<RecordVersion>,
    names: &HashMap<String, String>,
) -> Vec<RecordHistory> {
    let mut by_key: BTreeMap<(String, String), Vec<RecordVersionView>> = BTreeMap::new();
    for v in versions {
        by_key
            .entry((v.directory_id, v.scim_id))
            .or_default()
            .push(RecordVersionView {
                from: seconds(v.from),
                to: v.to.map(seconds),
                active: v.active,
                email: v.email,
                account_id: v.account_id,
            });
    }
    by_key
        .into_iter()
        .map(|((directory_id, scim_id), versions)| RecordHistory {
            directory: names
                .get(&directory_id)
                .cloned()
                .unwrap_or_else(|| directory_id.clone()),
            directory_id,
            scim_id,
            versions,
        })
        .collect()
}

fn group_accounts(versions: Vec<AccountVersion>) -> Vec<AccountHistory> {
    let mut by_id: BTreeMap<String, Vec<AccountVersionView>> = BTreeMap::new();
    for v in versions {
        by_id
            .entry(v.account_id)
            .or_default()
            .push(AccountVersionView {
                from: seconds(v.from),
                to: v.to.map(seconds),
                email: v.email,
                account_status: v.account_status,
                membership_status: v.membership_status,
            });
    }
    by_id
        .into_iter()
        .map(|(account_id, versions)| AccountHistory {
            account_id,
            versions,
        })
        .collect()
}

/// One line of the timeline: when, and what happened.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct TimelineEntry {
    pub at: String,
    pub what: String,
}

impl PersonHistory {
    /// Every change, finding event and action as one timeline, oldest first.
    pub fn timeline(&self) -> Vec<TimelineEntry> {
        let mut out = Vec::new();
        let state = |b: Option<bool>| match b {
            Some(true) => "active",
            Some(false) => "inactive",
            None => "active unknown",
        };
        for r in &self.records {
            let mut previous: Option<&RecordVersionView> = None;
            for v in &r.versions {
                let what = match previous {
                    None => format!(
                        "SCIM record {}/{} first seen: {}, email {}, {}",
                        r.directory,
                        r.scim_id,
                        state(v.active),
                        v.email.as_deref().unwrap_or("none"),
                        v.account_id
                            .as_deref()
                            .map(|a| format!("linked to {a}"))
                            .unwrap_or_else(|| "unlinked".into())
                    ),
                    Some(p) => {
                        let mut changes = Vec::new();
                        if p.active != v.active {
                            changes.push(format!("{} → {}", state(p.active), state(v.active)));
                        }
                        if p.email != v.email {
                            changes.push(format!(
                                "email {} → {}",
                                p.email.as_deref().unwrap_or("none"),
                                v.email.as_deref().unwrap_or("none")
                            ));
                        }
                        if p.account_id != v.account_id {
                            changes.push(format!(
                                "link {} → {}",
                                p.account_id.as_deref().unwrap_or("none"),
                                v.account_id.as_deref().unwrap_or("none")
                            ));
                        }
                        if changes.is_empty() {
                            changes.push("other attributes changed".into());
                        }
                        format!(
                            "SCIM record {}/{}: {}",
                            r.directory,
                            r.scim_id,
                            changes.join(", ")
                        )
                    }
                };
                out.push(TimelineEntry {
                    at: v.from.clone(),
                    what,
                });
                previous = Some(v);
            }
            if let Some(last) = r.versions.last()
                && let Some(to) = &last.to
            {
                out.push(TimelineEntry {
                    at: to.clone(),
                    what: format!("SCIM record {}/{} gone", r.directory, r.scim_id),
                });
            }
        }
        for a in &self.accounts {
            let mut previous: Option<&AccountVersionView> = None;
            for v in &a.versions {
                let status = format!("{}/{}", v.account_status, v.membership_status);
                let what = match previous {
                    None => format!(
                        "account {} first seen: {status}, email {}",
                        a.account_id,
                        v.email.as_deref().unwrap_or("hidden")
                    ),
                    Some(p) => {
                        let mut changes = Vec::new();
                        let before = format!("{}/{}", p.account_status, p.membership_status);
                        if before != status {
                            changes.push(format!("{before} → {status}"));
                        }
                        if p.email != v.email {
                            changes.push(format!(
                                "email {} → {}",
                                p.email.as_deref().unwrap_or("hidden"),
                                v.email.as_deref().unwrap_or("hidden")
                            ));
                        }
                        if changes.is_empty() {
                            changes.push("other attributes changed".into());
                        }
                        format!("account {}: {}", a.account_id, changes.join(", "))
                    }
                };
                out.push(TimelineEntry {
                    at: v.from.clone(),
                    what,
                });
                previous = Some(v);
            }
            if let Some(last) = a.versions.last()
                && let Some(to) = &last.to
            {
                out.push(TimelineEntry {
                    at: to.clone(),
                    what: format!("account {} gone from the org", a.account_id),
                });
            }
        }
        for f in &self.findings {
            for e in &f.events {
                out.push(TimelineEntry {
                    at: e.at.clone(),
                    what: format!("finding {} ({}, {}) {}", f.kind, f.severity, f.id, e.event),
                });
            }
        }
        for a in &self.actions {
            out.push(TimelineEntry {
                at: a.at.clone(),
                what: format!(
                    "remediation {} ({}): {}{}",
                    a.action,
                    a.mode,
                    a.result,
                    a.detail
                        .as_deref()
                        .map(|d| format!(" — {d}"))
                        .unwrap_or_default()
                ),
            });
        }
        out.sort();
        out
    }
}
