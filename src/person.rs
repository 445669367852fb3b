//! One person's whole history — the question behind every support ticket ("why can't this person
//! log in?"): every version of their IdP users (enabled, intended, how assigned, their
//! provisioning events), SCIM records and accounts, every finding about them with its lifecycle,
//! every remediation action, from the store alone (no API calls). A person is looked up by email,
//! SCIM id, account id, IdP user id or UPN. Its JSON (`scimdrift person WHO --format json`,
//! `/person?email=`) is a contract.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Serialize;

use crate::findings::FindingView;
use crate::store::{AccountVersion, IdpUserVersion, RecordVersion, Store, StoreError};

/// The directories as the configuration names them, by directory id.
#[derive(Debug, Clone, Default)]
pub struct Directories {
    /// Configured names.
    pub names: HashMap<String, String>,
    /// The IdP kind (`entra`) of the directories with an `[atlassian.directories.idp]`.
    pub idp_kinds: HashMap<String, String>,
}

impl Directories {
    fn name(&self, id: &str) -> String {
        self.names
            .get(id)
            .cloned()
            .unwrap_or_else(|| id.to_string())
    }
}

/// Everything the store knows about one person.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PersonHistory {
    /// What was asked about, as given (an email, or an id).
    pub email: String,
    pub records: Vec<RecordHistory>,
    pub accounts: Vec<AccountHistory>,
    pub findings: Vec<PersonFinding>,
    pub actions: Vec<PersonAction>,
    /// The person's IdP users (by id, email or UPN, a record's `externalId`, or a finding).
    pub idp_users: Vec<IdpUserHistory>,
    /// Their groups now (as of the latest complete snapshot) on both sides: the pushed IdP groups
    /// their IdP users are direct members of beside the SCIM groups their records are in, the
    /// missing and extra ones marked by open group findings (scenarios.md "Group findings").
    pub groups: Vec<crate::groups::PersonGroup>,
}

impl PersonHistory {
    /// The store knows nothing of whom it was asked about.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty() && self.accounts.is_empty() && self.idp_users.is_empty()
    }
}

/// One IdP user's versions, oldest first, and its provisioning events.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IdpUserHistory {
    /// The directory's configured name (its id when no longer configured).
    pub directory: String,
    pub directory_id: String,
    /// The IdP kind (`entra`); `null` when the directory no longer has an IdP configured.
    pub idp: Option<String>,
    /// The IdP's user id (Entra object id).
    pub id: String,
    pub versions: Vec<IdpVersionView>,
    /// Its provisioning events, oldest first.
    pub events: Vec<IdpEventView>,
}

/// One version of an IdP user: valid from the snapshot at `from` until the one at `to` (`null`:
/// current).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IdpVersionView {
    pub from: String,
    pub to: Option<String>,
    /// `null`: unknown (never read as disabled).
    pub enabled: Option<bool>,
    /// Assigned to the app, directly or as a direct member of an assigned group.
    pub intended: bool,
    /// The email the job's mapping sends.
    pub email: Option<String>,
    pub user_principal_name: Option<String>,
    pub deleted: bool,
    /// `directly`, `group`, `directly and group`, or `not assigned`.
    pub assigned: String,
    /// The assigned groups the user is a direct member of (ids).
    pub groups: Vec<String>,
}

/// One provisioning event of an IdP user (Entra provisioning log).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IdpEventView {
    pub at: String,
    /// `success`, `failure`, `skipped`, `warning`, or as sent.
    pub status: String,
    /// `create`, `update`, `disable`, `delete`, …, as sent.
    pub action: String,
    pub error_code: Option<String>,
    pub reason: Option<String>,
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

/// Builds the history of whom `who` names (an email, a SCIM id, an account id, an IdP user id or
/// UPN: [`Store::person_keys`]) from the store.
pub fn history(store: &Store, who: &str, dirs: &Directories) -> Result<PersonHistory, StoreError> {
    let mut keys = store.person_keys(who)?;
    let all_findings = store.findings()?;
    // The IdP users the person's findings name (an IdP user who never arrived has no record).
    let named = |f: &FindingView| -> Vec<(String, String)> {
        f.idp_users
            .iter()
            .map(|u| {
                let dir = dirs
                    .names
                    .iter()
                    .find(|(_, name)| **name == u.directory)
                    .map_or(u.directory.clone(), |(id, _)| id.clone());
                (dir, u.id.clone())
            })
            .collect()
    };
    let extra: Vec<(String, String)> = all_findings
        .iter()
        .filter(|f| {
            f.scim_users.iter().any(|u| {
                keys.records
                    .contains(&(u.directory_id.clone(), u.scim_id.clone()))
            }) || f
                .accounts
                .iter()
                .any(|a| keys.accounts.contains(&a.account_id))
        })
        .flat_map(named)
        .collect();
    keys.idp_users.extend(extra);
    let (record_versions, account_versions) = store.versions_of(&keys)?;
    let records = group_records(record_versions, &dirs.names);
    let accounts = group_accounts(account_versions);
    let idp_users = group_idp_users(store, store.idp_versions_of(&keys)?, dirs)?;
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
            || named(f).iter().any(|k| keys.idp_users.contains(k))
    };
    // Open group findings mark the person's groups.
    let marks: HashMap<(String, String), &'static str> = all_findings
        .iter()
        .filter(|f| f.status == crate::findings::Status::Open && about(f))
        .filter_map(|f| {
            let mark = match f.kind {
                crate::detect::Kind::GroupMembershipMissing => "missing",
                crate::detect::Kind::GroupMembershipExtra => "extra",
                _ => return None,
            };
            let g = f.groups.first()?;
            Some(((g.directory_id.clone(), g.idp_group_id.clone()), mark))
        })
        .collect();
    let groups = groups_now(store, &records, &idp_users, &marks, dirs)?;
    let mut findings = Vec::new();
    for f in all_findings.into_iter().filter(|f| about(f)) {
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
        email: who.to_string(),
        records,
        accounts,
        findings,
        actions,
        idp_users,
        groups,
    })
}

/// The person's groups as of the latest complete snapshot, per directory of their current records
/// and IdP users ([`crate::groups::of_person`]).
fn groups_now(
    store: &Store,
    records: &[RecordHistory],
    idp_users: &[IdpUserHistory],
    marks: &HashMap<(String, String), &str>,
    dirs: &Directories,
) -> Result<Vec<crate::groups::PersonGroup>, StoreError> {
    let Some(latest) = store.latest_complete()? else {
        return Ok(Vec::new());
    };
    let keys: Vec<(String, String)> = records
        .iter()
        .map(|r| (r.directory_id.clone(), r.scim_id.clone()))
        .collect();
    let current = store.scim_records_at(latest.snapshot_id, &keys)?;
    // The IdP users' current versions: their id and the assigned groups they are in.
    let users: Vec<crate::model::idp::IdpUser> = idp_users
        .iter()
        .filter_map(|u| {
            let now = u.versions.last().filter(|v| v.to.is_none())?;
            Some(crate::model::idp::IdpUser {
                scim_id: None,
                sync_state: None,
                status: None,
                directory_id: u.directory_id.clone(),
                id: u.id.clone(),
                user_principal_name: now.user_principal_name.clone(),
                mail: None,
                display_name: None,
                user_type: None,
                enabled: now.enabled,
                intended: now.intended,
                assigned_directly: false,
                groups: now.groups.clone(),
                nested_only: false,
                deleted: now.deleted,
                deleted_at: None,
                scim_external_id: None,
                scim_user_name: None,
                email: now.email.clone(),
                unknown: Vec::new(),
            })
        })
        .collect();
    let directories: std::collections::BTreeSet<&str> = current
        .iter()
        .map(|r| r.directory_id.as_str())
        .chain(users.iter().map(|u| u.directory_id.as_str()))
        .collect();
    if directories.is_empty() {
        return Ok(Vec::new());
    }
    let sides = store.idp_sides()?;
    let scim_groups = store.scim_groups_at(latest.snapshot_id)?;
    let mut out = Vec::new();
    for dir in directories {
        let side = sides
            .iter()
            .find(|s| s.directory_id == dir && !s.scope_all)
            .map(|s| {
                let mine = users.iter().filter(|u| u.directory_id == dir).cloned();
                crate::groups::side_of(s, mine.collect())
            });
        let in_dir: Vec<&crate::model::ScimGroup> = scim_groups
            .iter()
            .filter(|g| g.directory_id == dir)
            .collect();
        let mine: Vec<&crate::model::ScimRecord> =
            current.iter().filter(|r| r.directory_id == dir).collect();
        let here: HashMap<String, &str> = marks
            .iter()
            .filter(|((d, _), _)| d == dir)
            .map(|((_, g), m)| (g.clone(), *m))
            .collect();
        out.extend(crate::groups::of_person(
            &dirs.name(dir),
            side.as_ref(),
            &in_dir,
            &mine,
            &here,
        ));
    }
    Ok(out)
}

/// A stored time as RFC 3339 to the second, as every time of the contract is; anything else as
/// it is.
fn seconds(t: String) -> String {
    crate::model::to_seconds(&t)
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

fn group_idp_users(
    store: &Store,
    versions: Vec<IdpUserVersion>,
    dirs: &Directories,
) -> Result<Vec<IdpUserHistory>, StoreError> {
    let mut by_key: BTreeMap<(String, String), Vec<IdpVersionView>> = BTreeMap::new();
    for v in versions {
        let assigned = match (v.assigned_directly, v.groups.is_empty()) {
            (true, true) => "directly",
            (true, false) => "directly and group",
            (false, false) => "group",
            (false, true) => "not assigned",
        };
        by_key
            .entry((v.directory_id, v.user_id))
            .or_default()
            .push(IdpVersionView {
                from: seconds(v.from),
                to: v.to.map(seconds),
                enabled: v.enabled,
                intended: v.intended,
                email: v.email,
                user_principal_name: v.user_principal_name,
                deleted: v.deleted,
                assigned: assigned.into(),
                groups: v.groups,
            });
    }
    let mut out = Vec::new();
    for ((directory_id, id), versions) in by_key {
        let events = store
            .idp_events_of(&directory_id, &id)?
            .into_iter()
            .map(|e| IdpEventView {
                at: seconds(e.at),
                status: e.status,
                action: e.action,
                error_code: e.error_code,
                reason: e.reason,
            })
            .collect();
        out.push(IdpUserHistory {
            directory: dirs.name(&directory_id),
            idp: dirs.idp_kinds.get(&directory_id).cloned(),
            directory_id,
            id,
            versions,
            events,
        });
    }
    Ok(out)
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
                let status = format!(
                    "account: {} · membership: {}",
                    v.account_status, v.membership_status
                );
                let what = match previous {
                    None => format!(
                        "account {} first seen: {status}, email {}",
                        a.account_id,
                        v.email.as_deref().unwrap_or("hidden")
                    ),
                    Some(p) => {
                        let mut changes = Vec::new();
                        let before = format!(
                            "account: {} · membership: {}",
                            p.account_status, p.membership_status
                        );
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
        for u in &self.idp_users {
            let idp = u.idp.as_deref().unwrap_or("IdP");
            let mut previous: Option<&IdpVersionView> = None;
            for v in &u.versions {
                let state = |v: &IdpVersionView| {
                    let enabled = match v.enabled {
                        Some(true) => "enabled",
                        Some(false) => "disabled",
                        None => "enabled unknown",
                    };
                    let intent = if v.deleted {
                        "deleted"
                    } else if v.intended {
                        "intended"
                    } else {
                        "not intended"
                    };
                    format!("{enabled}, {intent}")
                };
                let what = match previous {
                    None => format!(
                        "{idp} user {} in {} first seen: {}, assigned {}, email {}",
                        u.id,
                        u.directory,
                        state(v),
                        v.assigned,
                        v.email.as_deref().unwrap_or("none")
                    ),
                    Some(p) => {
                        let mut changes = Vec::new();
                        if state(p) != state(v) {
                            changes.push(format!("{} → {}", state(p), state(v)));
                        }
                        if p.assigned != v.assigned {
                            changes.push(format!("assigned {} → {}", p.assigned, v.assigned));
                        }
                        if p.email != v.email {
                            changes.push(format!(
                                "email {} → {}",
                                p.email.as_deref().unwrap_or("none"),
                                v.email.as_deref().unwrap_or("none")
                            ));
                        }
                        if changes.is_empty() {
                            changes.push("other attributes changed".into());
                        }
                        format!("{idp} user {}: {}", u.id, changes.join(", "))
                    }
                };
                out.push(TimelineEntry {
                    at: v.from.clone(),
                    what,
                });
                previous = Some(v);
            }
            if let Some(last) = u.versions.last()
                && let Some(to) = &last.to
            {
                out.push(TimelineEntry {
                    at: to.clone(),
                    what: format!("{idp} user {} no longer listed", u.id),
                });
            }
            for e in &u.events {
                let error = [e.error_code.as_deref(), e.reason.as_deref()]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join(" — ");
                out.push(TimelineEntry {
                    at: e.at.clone(),
                    what: format!(
                        "{idp} provisioning {} of user {}: {}{}",
                        e.action,
                        u.id,
                        e.status,
                        if error.is_empty() {
                            String::new()
                        } else {
                            format!(" ({error})")
                        }
                    ),
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
