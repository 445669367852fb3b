//! Reading the IdP side back (schema v8) for the daily report and the daemon's gauges: each
//! directory's job, mapping and assigned groups as its last complete IdP pull recorded them, the
//! current IdP users, and which directory each IdP finding is about. Read-only; the writing side is
//! `idp.rs`.

use std::collections::HashMap;

use rusqlite::Row;

use super::idp::SideJson;
use super::{Store, StoreError};
use crate::model::idp::{AssignedGroup, FailureSource, IdpApp, IdpUser, Mapping, ProvisioningJob};
use crate::model::parse_utc;

/// One directory's IdP side as its last complete IdP pull recorded it.
#[derive(Debug, Clone, PartialEq)]
pub struct IdpSideState {
    pub directory_id: String,
    /// `entra`.
    pub kind: String,
    /// `idp.scope = "all"`: intent is not computed from assignments.
    pub scope_all: bool,
    /// `None` when the IdP has no job for the app (or the stored row cannot be read).
    pub job: Option<ProvisioningJob>,
    /// The app, for an IdP without a job object (Okta).
    pub app: Option<IdpApp>,
    /// Where a failed push shows (Okta: a per-user state).
    pub failures: FailureSource,
    /// `None` when the stored row cannot be read.
    pub mapping: Option<Mapping>,
    pub groups: Vec<AssignedGroup>,
    /// Why the pushed groups could not be read (their findings are as they were).
    pub groups_unread: Option<String>,
    /// The snapshot of the directory's last complete IdP pull, and when that pull started and
    /// finished (RFC 3339).
    pub last_complete_snapshot: Option<i64>,
    pub last_complete_started_at: Option<String>,
    pub last_complete_at: Option<String>,
    /// The last time the provisioning log was read to its end (RFC 3339).
    pub logs_read_at: Option<String>,
    /// IdP users the side names now, intended ones, and intended and enabled ones.
    pub users: usize,
    pub intended_users: usize,
    pub intended_enabled_users: usize,
    /// IdP users whose latest provisioning log event is `skipped`.
    pub skipped_users: usize,
    /// The latest failed `application.integration.authentication_failure` event (Okta: the app
    /// could not authenticate to Atlassian), when no successful event came after it.
    pub latest_app_failure: Option<crate::model::idp::ProvisioningEvent>,
}

impl IdpSideState {
    /// Whether the provisioning log was read by the last complete IdP pull (its facts are
    /// current); `None` before any complete IdP pull.
    pub fn logs_read_in_last_pull(&self) -> Option<bool> {
        let started = parse_utc(self.last_complete_started_at.as_deref()?)?;
        Some(
            self.logs_read_at
                .as_deref()
                .and_then(parse_utc)
                .is_some_and(|read| read >= started),
        )
    }
}

fn side_row(r: &Row) -> rusqlite::Result<IdpSideState> {
    let raw: String = r.get(1)?;
    // A row this build cannot read shows as unknown, not as an error.
    let side: SideJson = serde_json::from_str(&raw).unwrap_or_default();
    Ok(IdpSideState {
        directory_id: r.get(0)?,
        kind: side.kind,
        scope_all: side.scope_all,
        job: side.job,
        app: side.app,
        failures: side.failures,
        mapping: side.mapping,
        groups: side.groups,
        groups_unread: side.groups_unread,
        last_complete_snapshot: r.get(2)?,
        last_complete_started_at: r.get(3)?,
        last_complete_at: r.get(4)?,
        logs_read_at: r.get(5)?,
        users: r.get::<_, i64>(6)? as usize,
        intended_users: r.get::<_, i64>(7)? as usize,
        intended_enabled_users: r.get::<_, i64>(8)? as usize,
        skipped_users: r.get::<_, i64>(9)? as usize,
        latest_app_failure: r
            .get::<_, Option<String>>(10)?
            .and_then(|raw| serde_json::from_str(&raw).ok()),
    })
}

impl Store {
    /// Each directory's current IdP side (its last complete IdP pull), by directory id.
    pub fn idp_sides(&self) -> Result<Vec<IdpSideState>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT v.directory_id, v.raw, st.last_complete_snapshot, s.started_at, s.finished_at,
                        st.logs_read_at,
                        (SELECT COUNT(*) FROM idp_user_versions u
                          WHERE u.directory_id = v.directory_id AND u.valid_to IS NULL),
                        (SELECT COUNT(*) FROM idp_user_versions u
                          WHERE u.directory_id = v.directory_id AND u.valid_to IS NULL AND u.intended),
                        (SELECT COUNT(*) FROM idp_user_versions u
                          WHERE u.directory_id = v.directory_id AND u.valid_to IS NULL AND u.intended
                            AND u.enabled AND NOT u.deleted),
                        (SELECT COUNT(*) FROM (SELECT e.status, MAX(e.at) FROM idp_events e
                          WHERE e.directory_id = v.directory_id AND e.user_id IS NOT NULL
                          GROUP BY e.user_id) WHERE lower(status) = 'skipped'),
                        (SELECT e.raw FROM idp_events e
                          WHERE e.directory_id = v.directory_id AND e.user_id IS NULL
                            AND lower(e.status) = 'failure'
                            AND json_extract(e.raw, '$.action') = 'application.integration.authentication_failure'
                            AND NOT EXISTS (SELECT 1 FROM idp_events l
                                 WHERE l.directory_id = e.directory_id
                                   AND lower(l.status) = 'success' AND l.at > e.at)
                          ORDER BY e.at DESC, e.id DESC LIMIT 1)
                 FROM idp_side_versions v
                 LEFT JOIN idp_state st ON st.directory_id = v.directory_id
                 LEFT JOIN snapshots s ON s.id = st.last_complete_snapshot
                 WHERE v.valid_to IS NULL
                 ORDER BY v.directory_id",
            )
            .map_err(self.err("cannot read the IdP sides"))?;
        stmt.query_map([], side_row)
            .and_then(|rows| rows.collect())
            .map_err(self.err("cannot read the IdP sides"))
    }

    /// The IdP users every directory's IdP side names now (its last complete IdP pull).
    pub fn idp_users(&self) -> Result<Vec<IdpUser>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT raw FROM idp_user_versions WHERE valid_to IS NULL
                 ORDER BY directory_id, user_id",
            )
            .map_err(self.err("cannot read the IdP users"))?;
        let raws: Vec<String> = stmt
            .query_map([], |r| r.get(0))
            .and_then(|rows| rows.collect())
            .map_err(self.err("cannot read the IdP users"))?;
        // A row this build cannot read is left out, not fatal.
        Ok(raws
            .iter()
            .filter_map(|raw| serde_json::from_str(raw).ok())
            .collect())
    }

    /// Finding id → the directory id whose IdP it is about (IdP findings only).
    pub fn finding_idp_directories(&self) -> Result<HashMap<String, String>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT id, idp_directory FROM findings WHERE idp_directory IS NOT NULL",
            )
            .map_err(self.err("cannot read the findings' IdP directories"))?;
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .and_then(|rows| rows.collect())
            .map_err(self.err("cannot read the findings' IdP directories"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(started: Option<&str>, read: Option<&str>) -> IdpSideState {
        IdpSideState {
            directory_id: "d1".into(),
            kind: "entra".into(),
            scope_all: false,
            job: None,
            app: None,
            failures: FailureSource::LatestEvent,
            mapping: None,
            groups: Vec::new(),
            groups_unread: None,
            latest_app_failure: None,
            last_complete_snapshot: started.map(|_| 2),
            last_complete_started_at: started.map(String::from),
            last_complete_at: None,
            logs_read_at: read.map(String::from),
            users: 0,
            intended_users: 0,
            intended_enabled_users: 0,
            skipped_users: Default::default(),
        }
    }

    #[test]
    fn the_log_was_read_by_the_last_pull_when_its_read_is_not_older() {
        let t = "2026-01-02T07:00:00.5+00:00";
        assert_eq!(state(Some(t), Some(t)).logs_read_in_last_pull(), Some(true));
        assert_eq!(
            state(Some(t), Some("2026-01-02T06:00:00+00:00")).logs_read_in_last_pull(),
            Some(false)
        );
        assert_eq!(state(Some(t), None).logs_read_in_last_pull(), Some(false));
        assert_eq!(state(None, None).logs_read_in_last_pull(), None);
    }
}
