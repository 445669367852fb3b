//! The IdP side in the store (idp-api.md; schema v8): a complete IdP pull of a directory adds a
//! version per changed IdP user and per change of its job/mapping/groups, its new log events (once
//! each), and moves the directory's state on; detection then gets the side with its history (the
//! latest event per user, the ids ever seen). The grace rule of IdP findings is applied here, with
//! the candidates it keeps between pulls.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Transaction, params};

use super::write::{Analysis, IDP_GROUPS, IDP_SIDES, IDP_USERS, Live, key_of};
use crate::detect::{IdpInput, Kind, grace};
use crate::findings::Current;
use crate::model::PullMeta;
use crate::model::idp::{
    AssignedGroup, FailureSource, IdpApp, IdpSide, LogFacts, Mapping, ProvisioningEvent,
    ProvisioningJob,
};

/// How one directory's IdP side was evaluated by this pull.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvaluatedIdp {
    /// The directory's previous complete IdP pull (snapshot id), for the grace streak.
    pub previous_pull: Option<i64>,
    /// The provisioning log was read: log-derived kinds were evaluated.
    pub logs_known: bool,
    /// `idp.scope = "all"`: intent-derived kinds are not computed (so none is open).
    pub scope_all: bool,
    /// Where the IdP tells a failed push: a per-user state decides `provisioning_error` without
    /// the log.
    pub failures: FailureSource,
}

impl EvaluatedIdp {
    /// Whether findings of `kind` about this directory were evaluated, so one not found now is
    /// resolved: every kind but the log-derived ones when the log could not be read (they stay as
    /// they were). With `scope = "all"` the intent kinds are evaluated as none: a directory
    /// switched to it keeps no intent finding open that nothing would ever re-evaluate.
    pub fn covers(&self, kind: Kind) -> bool {
        !kind.needs_logs() || self.logs_known || self.failures == FailureSource::UserState
    }
}

/// Directory id → how its IdP side was evaluated; a directory absent had no complete IdP pull.
pub type Evaluated = HashMap<String, EvaluatedIdp>;

/// What recording the IdP sides did.
pub(super) struct RecordedIdp {
    pub inputs: Vec<IdpInput>,
    pub evaluated: Evaluated,
    pub added: u64,
    pub closed: u64,
}

/// Records the complete IdP `sides` of snapshot `snapshot_id`.
pub(super) fn record(
    tx: &Transaction,
    snapshot_id: i64,
    meta: &PullMeta,
    sides: Vec<IdpSide>,
) -> rusqlite::Result<RecordedIdp> {
    let mut rows = Live::load(tx, &IDP_SIDES, None)?;
    let mut out = RecordedIdp {
        inputs: Vec::with_capacity(sides.len()),
        evaluated: Evaluated::new(),
        added: 0,
        closed: 0,
    };
    for mut side in sides {
        let dir = side.directory_id.clone();
        let mut users = Live::load(tx, &IDP_USERS, Some(&dir))?;
        let mut group_rows = Live::load(tx, &IDP_GROUPS, Some(&dir))?;
        let ever_seen: HashSet<String> = tx
            .prepare_cached(
                "SELECT DISTINCT user_id FROM idp_user_versions WHERE directory_id = ?1",
            )?
            .query_map([&dir], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        for u in &side.users {
            let raw = serde_json::to_string(u).unwrap_or_default();
            if let Some(hash) = users.observe(tx, snapshot_id, key_of(&[&dir, &u.id]), &raw)? {
                tx.prepare_cached(
                    "INSERT INTO idp_user_versions (directory_id, user_id, valid_from, hash, user_principal_name,
                         email, enabled, intended, deleted, raw)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                )?
                .execute(params![
                    dir,
                    u.id,
                    snapshot_id,
                    &hash[..],
                    u.user_principal_name,
                    u.email,
                    u.enabled,
                    u.intended,
                    u.deleted,
                    raw
                ])?;
            }
        }
        users.close_vanished(tx, snapshot_id)?;
        for (group, members) in group_members(&side) {
            let raw = serde_json::to_string(&GroupJson {
                display_name: group.display_name.as_deref(),
                member_count: members.len(),
                members_hash: format!(
                    "{:032x}",
                    xxhash_rust::xxh3::xxh3_128(members.join("\n").as_bytes())
                ),
            })
            .unwrap_or_default();
            let key = key_of(&[&dir, &group.id]);
            if let Some(hash) = group_rows.observe(tx, snapshot_id, key, &raw)? {
                tx.prepare_cached(
                    "INSERT INTO idp_group_versions (directory_id, group_id, valid_from, hash,
                         display_name, member_count, raw)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )?
                .execute(params![
                    dir,
                    group.id,
                    snapshot_id,
                    &hash[..],
                    group.display_name,
                    members.len() as i64,
                    raw
                ])?;
            }
        }
        group_rows.close_vanished(tx, snapshot_id)?;
        let side_json = serde_json::to_string(&SideJson {
            app: side.app.clone(),
            failures: side.failures,
            groups: side.groups.clone(),
            groups_unread: side.groups_unread.clone(),
            job: side.job.clone(),
            kind: side.kind.clone(),
            mapping: Some(side.mapping.clone()),
            scope_all: side.scope_all,
        })
        .unwrap_or_default();
        if let Some(hash) = rows.observe(tx, snapshot_id, key_of(&[&dir]), &side_json)? {
            tx.prepare_cached(
                "INSERT INTO idp_side_versions (directory_id, valid_from, hash, job_status, raw)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![
                dir,
                snapshot_id,
                &hash[..],
                side.job.as_ref().map(|j| j.status.as_str()),
                side_json
            ])?;
        }
        for e in std::mem::take(&mut side.events) {
            tx.prepare_cached(
                "INSERT OR IGNORE INTO idp_events (directory_id, id, at, user_id, status, snapshot_id, raw)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![
                dir,
                e.id,
                e.at,
                e.user_id,
                e.status,
                snapshot_id,
                serde_json::to_string(&e).unwrap_or_default()
            ])?;
        }
        let previous_pull: Option<i64> = tx
            .query_row(
                "SELECT last_complete_snapshot FROM idp_state WHERE directory_id = ?1",
                [&dir],
                |r| r.get(0),
            )
            .optional()?;
        let logs_known = matches!(side.logs, LogFacts::Known { .. });
        tx.execute(
            "INSERT INTO idp_state (directory_id, last_complete_snapshot, logs_read_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (directory_id) DO UPDATE SET last_complete_snapshot = excluded.last_complete_snapshot,
                 logs_read_at = COALESCE(excluded.logs_read_at, idp_state.logs_read_at)",
            params![
                dir,
                snapshot_id,
                logs_known.then(|| meta.started_at.to_rfc3339())
            ],
        )?;
        out.added += users.added + group_rows.added;
        out.closed += users.closed + group_rows.closed;
        let latest_events = latest_events(tx, &dir)?;
        out.evaluated.insert(
            dir.clone(),
            EvaluatedIdp {
                previous_pull,
                logs_known,
                scope_all: side.scope_all,
                failures: side.failures,
            },
        );
        out.inputs.push(IdpInput {
            side,
            latest_events,
            logs_known,
            ever_seen,
        });
    }
    out.added += rows.added;
    out.closed += rows.closed;
    Ok(out)
}

/// The raw JSON of an `idp_group_versions` row: the group's name, its member count, and a hash of
/// its direct user members' sorted ids — a version per change of the set, a few dozen bytes
/// whatever its size. Who the members were as of a snapshot is in `idp_user_versions` (each
/// version lists the assigned groups the user is a direct member of), so the set is not copied
/// again here (a 20,000-member group would cost 780 KB per change).
#[derive(serde::Serialize)]
struct GroupJson<'a> {
    display_name: Option<&'a str>,
    member_count: usize,
    members_hash: String,
}

/// Each assigned group of `side` with its direct user members' ids, sorted.
fn group_members(side: &IdpSide) -> Vec<(&AssignedGroup, Vec<&str>)> {
    let mut members: HashMap<&str, Vec<&str>> = HashMap::new();
    for u in &side.users {
        for g in &u.groups {
            members.entry(g.as_str()).or_default().push(u.id.as_str());
        }
    }
    side.groups
        .iter()
        .map(|g| {
            let mut ids = members.remove(g.id.as_str()).unwrap_or_default();
            ids.sort_unstable();
            ids.dedup();
            (g, ids)
        })
        .collect()
}

/// The raw JSON of an `idp_side_versions` row: the side without its users and events. Written by
/// [`record`], read back by the report (`idp_read`) and remediation (`idp_targets`). Fields in
/// alphabetical order: the text (and so the version hash) stays what earlier builds wrote.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub(super) struct SideJson {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app: Option<IdpApp>,
    #[serde(skip_serializing_if = "is_latest_event")]
    pub failures: FailureSource,
    pub groups: Vec<AssignedGroup>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub groups_unread: Option<String>,
    pub job: Option<ProvisioningJob>,
    pub kind: String,
    pub mapping: Option<Mapping>,
    pub scope_all: bool,
}

fn is_latest_event(f: &FailureSource) -> bool {
    *f == FailureSource::LatestEvent
}

/// A provisioning event with its instant (`None`: `activityDateTime` unparsable, before every
/// instant).
pub(super) type Timed = (Option<DateTime<Utc>>, ProvisioningEvent);

/// Whether `e` is later than `than`: by instant (the text of `activityDateTime` may differ in
/// offset or fraction width), then by id for events of the same instant.
pub(super) fn later(e: &ProvisioningEvent, than: Option<&Timed>) -> Option<Timed> {
    let at = crate::model::parse_utc(e.at.trim());
    than.is_none_or(|(t, old)| (at, e.id.as_str()) > (*t, old.id.as_str()))
        .then(|| (at, e.clone()))
}

/// The latest stored provisioning event of each IdP user of `dir`.
fn latest_events(
    tx: &Transaction,
    dir: &str,
) -> rusqlite::Result<HashMap<String, ProvisioningEvent>> {
    let mut out: HashMap<String, Timed> = HashMap::new();
    let mut stmt = tx.prepare_cached(
        "SELECT raw FROM idp_events WHERE directory_id = ?1 AND user_id IS NOT NULL",
    )?;
    let rows = stmt.query_map([dir], |r| r.get::<_, String>(0))?;
    for raw in rows {
        // A row this build cannot read is skipped, not fatal.
        let Ok(e) = serde_json::from_str::<ProvisioningEvent>(&raw?) else {
            continue;
        };
        let Some(user) = e.user_id.clone() else {
            continue;
        };
        if let Some(newer) = later(&e, out.get(&user)) {
            out.insert(user, newer);
        }
    }
    Ok(out.into_iter().map(|(u, (_, e))| (u, e)).collect())
}

impl super::Store {
    /// When the provisioning log of directory `dir` was last read to its end in a recorded pull
    /// (the next read starts there, less an overlap); `None` before the first.
    pub fn idp_logs_read_at(&self, dir: &str) -> Result<Option<DateTime<Utc>>, super::StoreError> {
        logs_read_at(&self.conn, dir).map_err(self.err("cannot read the IdP state"))
    }

    /// The `externalId`s of directory `dir`'s SCIM records that are active (or of unknown state)
    /// as of the latest complete snapshot, sorted: what the IdP pull looks up when no IdP user has
    /// one (scenarios.md, "Deleted, looked up").
    pub fn active_external_ids(&self, dir: &str) -> Result<Vec<String>, super::StoreError> {
        let read = || -> rusqlite::Result<Vec<String>> {
            let mut stmt = self.conn.prepare_cached(
                "SELECT DISTINCT external_id FROM scim_user_versions
                 WHERE directory_id = ?1 AND valid_to IS NULL AND external_id IS NOT NULL
                   AND (active IS NULL OR active = 1)
                 ORDER BY external_id",
            )?;
            stmt.query_map([dir], |r| r.get(0))?.collect()
        };
        read().map_err(self.err("cannot read the SCIM records"))
    }
}

fn logs_read_at(conn: &rusqlite::Connection, dir: &str) -> rusqlite::Result<Option<DateTime<Utc>>> {
    let at: Option<Option<String>> = conn
        .query_row(
            "SELECT logs_read_at FROM idp_state WHERE directory_id = ?1",
            [dir],
            |r| r.get(0),
        )
        .optional()?;
    Ok(at.flatten().as_deref().and_then(crate::model::parse_utc))
}

/// The directories with open IdP findings (or grace candidates) but no `idp` configured any more
/// (`configured` are the directories that have one): each is evaluated as having none, so its
/// IdP findings are resolved and its candidates dropped, as the Atlassian findings of a removed
/// directory are.
pub(super) fn unconfigured(
    tx: &Transaction,
    configured: &HashSet<String>,
    evaluated: &mut Evaluated,
) -> rusqlite::Result<()> {
    let mut dirs: Vec<String> = tx
        .prepare_cached(
            "SELECT DISTINCT idp_directory FROM findings
              WHERE idp_directory IS NOT NULL AND status != 'resolved'
             UNION SELECT DISTINCT directory_id FROM idp_candidates",
        )?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    dirs.retain(|d| !configured.contains(d) && !evaluated.contains_key(d));
    for dir in dirs {
        tx.execute("DELETE FROM idp_candidates WHERE directory_id = ?1", [&dir])?;
        evaluated.insert(
            dir,
            EvaluatedIdp {
                previous_pull: None,
                logs_known: true,
                scope_all: false,
                failures: FailureSource::LatestEvent,
            },
        );
    }
    Ok(())
}

/// The kind of a finding id (`<kind>-<hash>`).
fn kind_of(finding_id: &str) -> Option<Kind> {
    finding_id.rsplit_once('-')?.0.parse().ok()
}

/// Applies the grace rule to the IdP findings of `analysis` (the other findings pass as they
/// are): an IdP finding is kept when already open, or when seen by consecutive complete IdP pulls
/// spanning `idp_grace_minutes`; the candidates are updated for the next pull.
pub(super) fn mature(
    tx: &Transaction,
    snapshot_id: i64,
    analysis: &Analysis,
    evaluated: &Evaluated,
) -> rusqlite::Result<Vec<Current>> {
    let mut open: HashSet<String> = HashSet::new();
    // Finding id → (its directory, its candidate).
    let mut candidates: HashMap<String, (&str, grace::Candidate)> = HashMap::new();
    for dir in evaluated.keys() {
        let mut stmt = tx.prepare_cached(
            "SELECT id FROM findings WHERE idp_directory = ?1 AND status != 'resolved'",
        )?;
        for id in stmt.query_map([dir], |r| r.get::<_, String>(0))? {
            open.insert(id?);
        }
        let mut stmt = tx.prepare_cached(
            "SELECT finding_id, first_seen, last_snapshot FROM idp_candidates WHERE directory_id = ?1",
        )?;
        let rows = stmt.query_map([dir], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
            ))
        })?;
        for row in rows {
            let (finding_id, first_seen, last_snapshot) = row?;
            if let Some(first_seen) = crate::model::parse_utc(&first_seen) {
                candidates.insert(
                    finding_id.clone(),
                    (
                        dir.as_str(),
                        grace::Candidate {
                            finding_id,
                            first_seen,
                            last_snapshot,
                        },
                    ),
                );
            }
        }
    }
    let mut out = Vec::with_capacity(analysis.current.len());
    let mut detected: HashSet<&str> = HashSet::new();
    for c in &analysis.current {
        let Some(dir) = c.idp_directory.as_deref().filter(|_| c.kind.is_idp()) else {
            out.push(c.clone());
            continue;
        };
        let Some(ev) = evaluated.get(dir) else {
            continue;
        };
        detected.insert(&c.id);
        let m = grace::judge(
            &c.id,
            candidates.get(&c.id).map(|(_, c)| c),
            ev.previous_pull,
            snapshot_id,
            analysis.now,
            analysis.idp_grace_minutes,
            open.contains(&c.id),
        );
        tx.prepare_cached(
            "INSERT INTO idp_candidates (finding_id, directory_id, first_seen, last_snapshot) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (finding_id) DO UPDATE SET first_seen = excluded.first_seen,
                 last_snapshot = excluded.last_snapshot",
        )?
        .execute(params![
            c.id,
            dir,
            m.candidate.first_seen.to_rfc3339(),
            snapshot_id
        ])?;
        if m.report {
            out.push(c.clone());
        }
    }
    // A candidate of an evaluated kind not detected now ends its streak.
    for (id, (dir, c)) in &candidates {
        let covered = evaluated
            .get(*dir)
            .zip(kind_of(&c.finding_id))
            .is_some_and(|(ev, kind)| ev.covers(kind));
        if covered && !detected.contains(id.as_str()) {
            tx.execute("DELETE FROM idp_candidates WHERE finding_id = ?1", [id])?;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: &str, at: &str, status: &str) -> ProvisioningEvent {
        ProvisioningEvent {
            id: id.into(),
            at: at.into(),
            job_id: None,
            cycle_id: None,
            action: "update".into(),
            status: status.into(),
            error_code: None,
            reason: None,
            user_id: Some("u1".into()),
            target_id: None,
        }
    }

    #[test]
    fn the_latest_event_is_the_latest_instant_not_the_longest_text() {
        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        super::super::schema::migrate(&mut conn, 0).unwrap();
        conn.execute(
            "INSERT INTO snapshots (started_at, finished_at, duration_seconds, complete, scim_records, accounts, retries)
             VALUES ('', '', 0, 1, 0, 0, 0)",
            [],
        )
        .unwrap();
        let tx = conn.transaction().unwrap();
        // As text, "…10:00:00.5Z" sorts after "…10:00:00Z" but "…11:00:00+02:00" (09:00Z) sorts
        // after both: the instants say the fraction is the latest.
        for e in [
            event("b", "2026-05-01T10:00:00Z", "failure"),
            event("a", "2026-05-01T10:00:00.5Z", "success"),
            event("c", "2026-05-01T11:00:00+02:00", "failure"),
        ] {
            tx.execute(
                "INSERT INTO idp_events (directory_id, id, at, user_id, status, snapshot_id, raw)
                 VALUES ('d1', ?1, ?2, 'u1', ?3, 1, ?4)",
                params![e.id, e.at, e.status, serde_json::to_string(&e).unwrap()],
            )
            .unwrap();
        }
        let latest = latest_events(&tx, "d1").unwrap();
        assert_eq!(latest["u1"].id, "a");
    }
}
