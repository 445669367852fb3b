//! Finding lifecycle: reconciling each complete snapshot's findings with the stored ones, reading them
//! back, and the inactive-since times the detectors take from history.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};
use rusqlite::{Connection, params};
use serde::{Deserialize, Serialize};

use super::{Store, StoreError};
use crate::detect::Severity;
use crate::detect::{InactiveSince, Kind, RecordRef};
use crate::findings::{
    AccountView, Current, FindingView, GroupView, IdpUserView, ProvisioningView, ScimUserView,
    Status,
};

/// Counts of one reconciliation, per kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Reconciled {
    /// New findings plus resolved ones that came back.
    pub opened: BTreeMap<Kind, u64>,
    pub resolved: BTreeMap<Kind, u64>,
    /// Open (not suppressed) after this snapshot.
    pub open: BTreeMap<Kind, u64>,
    pub suppressed: BTreeMap<Kind, u64>,
    /// Open or suppressed findings this snapshot could not decide (kept as they were, counted in
    /// `open` or `suppressed` too).
    pub undetermined: BTreeMap<Kind, u64>,
}

#[derive(Default, Serialize, Deserialize)]
struct SubjectsJson {
    scim_users: Vec<ScimUserView>,
    accounts: Vec<AccountView>,
    #[serde(default)]
    idp_users: Vec<IdpUserView>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    groups: Vec<GroupView>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    provisioning: Option<ProvisioningView>,
}

/// Reconciles `current` (the findings of complete snapshot `snapshot_id`) into the findings table.
pub(super) fn reconcile(
    conn: &Connection,
    snapshot_id: i64,
    at: &str,
    current: &[Current],
    idp: &super::Evaluated,
    undetermined: &crate::detect::Undetermined,
) -> rusqlite::Result<Reconciled> {
    // id → (stored status, kind) of every stored finding whose absence now means resolved: an IdP
    // finding only when this pull evaluated its kind for its directory (a complete IdP pull).
    let mut known: HashMap<String, (String, String)> = HashMap::new();
    let mut unevaluated: HashSet<String> = HashSet::new();
    {
        let mut stmt = conn.prepare("SELECT id, status, kind, idp_directory FROM findings")?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                (r.get(1)?, r.get(2)?),
                r.get::<_, Option<String>>(3)?,
            ))
        })?;
        for row in rows {
            let (id, entry, dir): (String, (String, String), Option<String>) = row?;
            let evaluated = match (dir, entry.1.parse::<Kind>()) {
                (Some(dir), Ok(kind)) if kind.is_idp() => {
                    idp.get(&dir).is_some_and(|ev| ev.covers(kind))
                }
                _ => true,
            };
            if !evaluated {
                unevaluated.insert(id.clone());
            }
            known.insert(id, entry);
        }
    }
    let mut event = conn.prepare(
        "INSERT INTO finding_events (finding_id, snapshot_id, at, event) VALUES (?1, ?2, ?3, ?4)",
    )?;
    let mut insert = conn.prepare(
        "INSERT INTO findings (id, kind, severity, status, summary, subjects_json, suppression_json, first_seen,
             first_seen_snapshot, last_seen, last_seen_snapshot, seen_count, idp_directory)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?8, ?9, 1, ?10)",
    )?;
    let mut seen_again = conn.prepare(
        "UPDATE findings SET status = ?2, summary = ?3, subjects_json = ?4, suppression_json = ?5, last_seen = ?6,
             last_seen_snapshot = ?7, seen_count = seen_count + 1, severity = ?8, undetermined_json = NULL
         WHERE id = ?1",
    )?;
    let mut reopen = conn.prepare(
        "UPDATE findings SET status = ?2, summary = ?3, subjects_json = ?4, suppression_json = ?5, last_seen = ?6,
             last_seen_snapshot = ?7, seen_count = 1, resolved_at = NULL, resolved_snapshot = NULL,
             times_opened = times_opened + 1, severity = ?8, undetermined_json = NULL WHERE id = ?1",
    )?;
    // Unknown is never evidence: the stored findings not seen now that this snapshot could not
    // decide keep their state; a new finding of the same kind sharing a subject with one (the
    // same finding less the undecided part) is not opened either.
    let seen_now: HashSet<&str> = current.iter().map(|c| c.id.as_str()).collect();
    // id → (kind, the unknown fields, whether it was undetermined already).
    let mut kept: HashMap<String, (Kind, Vec<String>, bool)> = HashMap::new();
    let mut kept_subjects: HashSet<(Kind, SubjectKey)> = HashSet::new();
    if !undetermined.is_empty() {
        for (id, (status, kind)) in &known {
            let Ok(kind) = kind.parse::<Kind>() else {
                continue;
            };
            if status == "resolved" || seen_now.contains(id.as_str()) || unevaluated.contains(id) {
                continue;
            }
            let (subjects, was_undetermined) = stored_subjects(conn, id)?;
            let fields = subjects.undetermined(kind, undetermined);
            if !fields.is_empty() {
                kept_subjects.extend(subjects.keys().into_iter().map(|k| (kind, k)));
                kept.insert(id.clone(), (kind, fields, was_undetermined));
            }
        }
    }
    let mut out = Reconciled::default();
    let mut present = HashSet::with_capacity(current.len());
    for c in current {
        if !present.insert(c.id.as_str()) {
            continue;
        }
        let new = matches!(
            known.get(&c.id).map(|(s, _)| s.as_str()),
            None | Some("resolved")
        );
        if new
            && !kept_subjects.is_empty()
            && Subjects::of_current(c)
                .keys()
                .into_iter()
                .any(|k| kept_subjects.contains(&(c.kind, k)))
        {
            continue;
        }
        let status = if c.suppressed.is_some() {
            Status::Suppressed
        } else {
            Status::Open
        };
        let subjects = serde_json::to_string(&SubjectsJson {
            scim_users: c.scim_users.clone(),
            accounts: c.accounts.clone(),
            idp_users: c.idp_users.clone(),
            groups: c.groups.clone(),
            provisioning: c.provisioning.clone(),
        })
        .unwrap_or_else(|_| "{}".into());
        let suppression = c
            .suppressed
            .as_ref()
            .and_then(|s| serde_json::to_string(s).ok());
        let args = params![
            c.id,
            status.as_str(),
            c.summary,
            subjects,
            suppression,
            at,
            snapshot_id,
            c.severity.as_str()
        ];
        match known.get(&c.id).map(|(s, _)| s.as_str()) {
            Some("resolved") => {
                reopen.execute(args)?;
                event.execute(params![c.id, snapshot_id, at, "reopened"])?;
                *out.opened.entry(c.kind).or_default() += 1;
            }
            Some(before) => {
                seen_again.execute(args)?;
                // An ignore rule that expired (or was removed) releases the finding: for the
                // remediation breaker that is an opening like any other.
                if before == "suppressed" && status == Status::Open {
                    event.execute(params![c.id, snapshot_id, at, "unsuppressed"])?;
                }
            }
            None => {
                insert.execute(params![
                    c.id,
                    c.kind.as_str(),
                    c.severity.as_str(),
                    status.as_str(),
                    c.summary,
                    subjects,
                    suppression,
                    at,
                    snapshot_id,
                    c.idp_directory
                ])?;
                event.execute(params![c.id, snapshot_id, at, "opened"])?;
                *out.opened.entry(c.kind).or_default() += 1;
            }
        }
        let bucket = if status == Status::Suppressed {
            &mut out.suppressed
        } else {
            &mut out.open
        };
        *bucket.entry(c.kind).or_default() += 1;
    }
    let mut resolve = conn.prepare(
        "UPDATE findings SET status = 'resolved', resolved_at = ?2, resolved_snapshot = ?3 WHERE id = ?1",
    )?;
    let gone = known.iter().filter(|(id, (status, _))| {
        status != "resolved" && !present.contains(id.as_str()) && !unevaluated.contains(*id)
    });
    for (id, (status, kind)) in gone {
        if let Some((k, fields, was_undetermined)) = kept.get(id) {
            let k = *k;
            let json = serde_json::to_string(&fields).unwrap_or_else(|_| "[]".into());
            conn.execute(
                "UPDATE findings SET undetermined_json = ?2 WHERE id = ?1",
                params![id, json],
            )?;
            if !was_undetermined {
                event.execute(params![id, snapshot_id, at, "undetermined"])?;
            }
            *out.undetermined.entry(k).or_default() += 1;
            let bucket = if status == "suppressed" {
                &mut out.suppressed
            } else {
                &mut out.open
            };
            *bucket.entry(k).or_default() += 1;
            continue;
        }
        resolve.execute(params![id, at, snapshot_id])?;
        event.execute(params![id, snapshot_id, at, "resolved"])?;
        if let Ok(k) = kind.parse::<Kind>() {
            *out.resolved.entry(k).or_default() += 1;
        }
    }
    conn.execute(
        "UPDATE snapshots SET findings_reconciled = 1 WHERE id = ?1",
        [snapshot_id],
    )?;
    Ok(out)
}

/// One finding's lifecycle ([`Store::finding_lifecycles`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Lifecycle {
    pub severity: Severity,
    /// Suppressed now (by an ignore rule).
    pub suppressed: bool,
    /// `(at, event)`: `opened`, `reopened`, `unsuppressed`, `undetermined`, `resolved`.
    pub events: Vec<(String, String)>,
}

/// The subjects a finding lists, by identity.
struct Subjects {
    records: Vec<RecordRef>,
    accounts: Vec<String>,
    idp_users: Vec<crate::detect::IdpRef>,
    groups: Vec<crate::detect::GroupRef>,
    directory: Option<String>,
}

/// One subject, as a key: `r`, `a`, `u` or `g` and its id.
type SubjectKey = (char, String);

impl Subjects {
    fn of_views(
        users: &[ScimUserView],
        accounts: &[AccountView],
        idp_users: &[IdpUserView],
        groups: &[GroupView],
        directory: Option<&str>,
    ) -> Self {
        Subjects {
            records: users
                .iter()
                .map(|u| RecordRef {
                    directory_id: u.directory_id.clone(),
                    scim_id: u.scim_id.clone(),
                })
                .collect(),
            accounts: accounts.iter().map(|a| a.account_id.clone()).collect(),
            // An IdP finding names users of its own directory's IdP only.
            idp_users: directory
                .iter()
                .flat_map(|d| {
                    idp_users.iter().map(|u| crate::detect::IdpRef {
                        directory_id: d.to_string(),
                        id: u.id.clone(),
                    })
                })
                .collect(),
            groups: groups.iter().map(GroupView::reference).collect(),
            directory: directory.map(str::to_string),
        }
    }

    fn of_current(c: &Current) -> Self {
        Self::of_views(
            &c.scim_users,
            &c.accounts,
            &c.idp_users,
            &c.groups,
            c.idp_directory.as_deref(),
        )
    }

    /// The subjects as keys. A group finding's record, account and user keys are each paired with
    /// its IdP group (so one undecided membership never holds back another member's finding, nor
    /// the same person's in another group); a group finding naming nobody is keyed by its group.
    fn keys(&self) -> Vec<SubjectKey> {
        let mut keys: Vec<SubjectKey> = self
            .records
            .iter()
            .map(|r| ('r', format!("{}\u{1f}{}", r.directory_id, r.scim_id)))
            .chain(self.accounts.iter().map(|a| ('a', a.clone())))
            .chain(
                self.idp_users
                    .iter()
                    .map(|u| ('u', format!("{}\u{1f}{}", u.directory_id, u.id))),
            )
            .collect();
        if self.groups.is_empty() {
            return keys;
        }
        let groups: Vec<String> = self
            .groups
            .iter()
            .map(|g| format!("{}\u{1f}{}", g.directory_id, g.idp_group_id))
            .collect();
        if keys.is_empty() {
            return groups.into_iter().map(|g| ('g', g)).collect();
        }
        keys = keys
            .into_iter()
            .flat_map(|(c, k)| groups.iter().map(move |g| (c, format!("{k}\u{1e}{g}"))))
            .collect();
        keys
    }

    /// The unknown fields that leave a finding of `kind` listing these subjects undetermined.
    fn undetermined(&self, kind: Kind, u: &crate::detect::Undetermined) -> Vec<String> {
        u.fields(
            kind,
            &self.records,
            &self.accounts,
            &self.idp_users,
            &self.groups,
            self.directory.as_deref(),
        )
    }
}

/// The subjects stored finding `id` lists (none when its JSON cannot be read), and whether it was
/// undetermined already.
fn stored_subjects(conn: &Connection, id: &str) -> rusqlite::Result<(Subjects, bool)> {
    let (json, directory, was_undetermined): (String, Option<String>, bool) = conn.query_row(
        "SELECT subjects_json, idp_directory, undetermined_json IS NOT NULL FROM findings WHERE id = ?1",
        [id],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    let s: SubjectsJson = serde_json::from_str(&json).unwrap_or_default();
    Ok((
        Subjects::of_views(
            &s.scim_users,
            &s.accounts,
            &s.idp_users,
            &s.groups,
            directory.as_deref(),
        ),
        was_undetermined,
    ))
}

/// A snapshot that opened (or reopened) a finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opening {
    pub finding_id: String,
    pub kind: Kind,
    pub snapshot_id: i64,
}

/// When each of `inactive` (the records inactive as of `snapshot_id`, by directory and SCIM id)
/// became inactive, as seen in the history: the start of the snapshot whose version began the
/// current inactive streak — [`InactiveSince::Observed`] when an earlier version showed it not
/// inactive, else [`InactiveSince::FirstSeen`] (inactive since scimdrift first saw it; the detector
/// prefers `meta.lastModified` then). Each record's versions are read through the history index:
/// no pass over the whole table (it filled the page cache at every pull).
pub(super) fn inactive_since<'k>(
    conn: &Connection,
    snapshot_id: i64,
    inactive: impl IntoIterator<Item = (&'k str, &'k str)>,
) -> rusqlite::Result<HashMap<RecordRef, InactiveSince>> {
    let mut stmt = conn.prepare_cached(
        "SELECT v.active, s.started_at
         FROM scim_user_versions v JOIN snapshots s ON s.id = v.valid_from
         WHERE v.directory_id = ?1 AND v.scim_id = ?2 AND v.valid_from <= ?3
         ORDER BY v.valid_from DESC",
    )?;
    let parse = |t: &str| {
        DateTime::parse_from_rfc3339(t)
            .ok()
            .map(|at| at.with_timezone(&Utc))
    };
    let mut out = HashMap::new();
    for (directory_id, scim_id) in inactive {
        // Newest first: walk back through the inactive streak until a version not inactive.
        let mut rows = stmt.query(rusqlite::params![directory_id, scim_id, snapshot_id])?;
        let mut streak_start: Option<String> = None;
        let mut observed = false;
        while let Some(row) = rows.next()? {
            match row.get::<_, Option<bool>>(0)? {
                Some(false) => streak_start = Some(row.get(1)?),
                // Unknown is never evidence: a version whose `active` could not be read neither
                // ends nor starts the streak (the record may have been inactive all along).
                None => {}
                Some(true) => {
                    observed = true;
                    break;
                }
            }
        }
        if let Some(at) = streak_start.as_deref().and_then(parse) {
            let since = if observed {
                InactiveSince::Observed(at)
            } else {
                InactiveSince::FirstSeen(at)
            };
            let key = RecordRef {
                directory_id: directory_id.to_string(),
                scim_id: scim_id.to_string(),
            };
            out.insert(key, since);
        }
    }
    Ok(out)
}

impl Store {
    /// Every stored finding (all statuses), most severe first.
    pub fn findings(&self) -> Result<Vec<FindingView>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT id, kind, status, summary, subjects_json, suppression_json, first_seen, last_seen,
                        resolved_at, seen_count, severity, undetermined_json
                 FROM findings",
            )
            .map_err(self.err("cannot read findings"))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, Option<String>>(5)?,
                    r.get::<_, String>(6)?,
                    r.get::<_, String>(7)?,
                    r.get::<_, Option<String>>(8)?,
                    r.get::<_, i64>(9)?,
                    r.get::<_, String>(10)?,
                    r.get::<_, Option<String>>(11)?,
                ))
            })
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .map_err(self.err("cannot read findings"))?;
        let mut out = Vec::with_capacity(rows.len());
        for (
            id,
            kind,
            status,
            summary,
            subjects,
            suppression,
            first_seen,
            last_seen,
            resolved_at,
            seen_count,
            severity,
            undetermined,
        ) in rows
        {
            // A row this build cannot read (a kind from a newer version) is skipped, not fatal.
            let Ok(kind) = kind.parse::<Kind>() else {
                continue;
            };
            let subjects: SubjectsJson = serde_json::from_str(&subjects).unwrap_or_default();
            let severity = severity
                .parse::<Severity>()
                .ok()
                .filter(|s| kind.severities().contains(s))
                .unwrap_or(kind.severity());
            let status = match status.as_str() {
                "resolved" => Status::Resolved,
                "suppressed" => Status::Suppressed,
                _ => Status::Open,
            };
            out.push(FindingView {
                id,
                kind,
                severity,
                status,
                first_seen,
                last_seen,
                resolved_at,
                seen_count,
                scim_users: subjects.scim_users,
                accounts: subjects.accounts,
                idp_users: subjects.idp_users,
                groups: subjects.groups,
                provisioning: subjects.provisioning,
                summary,
                suggested_fix: kind.suggested_fix().to_string(),
                suppressed_by: suppression.and_then(|s| serde_json::from_str(&s).ok()),
                // Only an open finding can be undetermined (a resolved one was decided since).
                undetermined: undetermined
                    .filter(|_| status != Status::Resolved)
                    .and_then(|u| serde_json::from_str(&u).ok())
                    .unwrap_or_default(),
            });
        }
        out.sort_by(|a, b| {
            b.severity
                .cmp(&a.severity)
                .then(a.kind.cmp(&b.kind))
                .then_with(|| a.id.cmp(&b.id))
        });
        Ok(out)
    }

    /// Every time a finding was opened, reopened or released by an ignore rule, resolved findings
    /// included: what the remediation spike breaker groups by snapshot.
    pub fn finding_openings(&self) -> Result<Vec<Opening>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT e.finding_id, f.kind, e.snapshot_id FROM finding_events e
                 JOIN findings f ON f.id = e.finding_id
                 WHERE e.event IN ('opened', 'reopened', 'unsuppressed')",
            )
            .map_err(self.err("cannot read finding events"))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            })
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .map_err(self.err("cannot read finding events"))?;
        Ok(rows
            .into_iter()
            .filter_map(|(finding_id, kind, snapshot_id)| {
                Some(Opening {
                    finding_id,
                    kind: kind.parse().ok()?,
                    snapshot_id,
                })
            })
            .collect())
    }

    /// The lifecycle events of one finding: (snapshot id, time, event), oldest first.
    /// Every finding's lifecycle for the report's trend: its severity, whether it is suppressed
    /// now, and its events `(at, event)` in the order they were written.
    pub fn finding_lifecycles(&self) -> Result<Vec<Lifecycle>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT f.id, f.severity, f.status, e.at, e.event FROM finding_events e
                 JOIN findings f ON f.id = e.finding_id ORDER BY f.id, e.rowid",
            )
            .map_err(self.err("cannot read finding events"))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                ))
            })
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .map_err(self.err("cannot read finding events"))?;
        let mut out: Vec<Lifecycle> = Vec::new();
        let mut last_id = String::new();
        for (id, severity, status, at, event) in rows {
            // A row this build cannot read is left out of the trend.
            let Ok(severity) = severity.parse() else {
                continue;
            };
            if id != last_id || out.is_empty() {
                out.push(Lifecycle {
                    severity,
                    suppressed: status == "suppressed",
                    events: Vec::new(),
                });
                last_id = id;
            }
            if let Some(l) = out.last_mut() {
                l.events.push((at, event));
            }
        }
        Ok(out)
    }

    pub fn finding_events(&self, id: &str) -> Result<Vec<(i64, String, String)>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT snapshot_id, at, event FROM finding_events WHERE finding_id = ?1 ORDER BY rowid")
            .map_err(self.err("cannot read finding events"))?;
        stmt.query_map([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .and_then(|rows| rows.collect())
            .map_err(self.err("cannot read finding events"))
    }
}
