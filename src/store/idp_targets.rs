//! What remediation reads of the stored IdP side (schema v8), as of a snapshot: a directory's IdP
//! kind, provisioning job and user rule (`provision_on_demand` needs both ids), and one IdP user
//! with its latest provisioning event. Read-only; `idp.rs` writes these tables.

use rusqlite::{OptionalExtension, params};

use super::idp::{SideJson, Timed, later};
use crate::model::idp::{IdpUser, ProvisioningEvent};

/// A directory's stored IdP side, as remediation needs it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredIdpSide {
    /// `entra` (later `okta`).
    pub kind: String,
    /// The provisioning job (`None`: the service principal had none).
    pub job_id: Option<String>,
    /// The job's user rule (`None`: the mapping could not be read).
    pub rule_id: Option<String>,
    /// `idp.scope = "all"`: the job's scoping filter decides who is provisioned, so assignments
    /// are not intent.
    pub scope_all: bool,
}

/// One stored IdP user and its latest provisioning event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredIdpUser {
    pub user: IdpUser,
    pub latest_event: Option<ProvisioningEvent>,
}

const AS_OF: &str = "valid_from <= ?2 AND (valid_to IS NULL OR valid_to > ?2)";

impl super::Store {
    /// Directory `dir`'s IdP side as of snapshot `snapshot_id` (the latest one stored up to it).
    pub fn idp_side_at(
        &self,
        dir: &str,
        snapshot_id: i64,
    ) -> Result<Option<StoredIdpSide>, super::StoreError> {
        let raw: Option<String> = self
            .conn
            .query_row(
                &format!("SELECT raw FROM idp_side_versions WHERE directory_id = ?1 AND {AS_OF}"),
                params![dir, snapshot_id],
                |r| r.get(0),
            )
            .optional()
            .map_err(self.err("cannot read the IdP side"))?;
        // A row this build cannot read is no side (remediation then refuses, naming it).
        let Some(side) = raw.and_then(|r| serde_json::from_str::<SideJson>(&r).ok()) else {
            return Ok(None);
        };
        let text = |s: Option<String>| s.filter(|s| !s.trim().is_empty());
        Ok(Some(StoredIdpSide {
            kind: text(Some(side.kind)).unwrap_or_default(),
            job_id: text(side.job.map(|j| j.job_id)),
            rule_id: text(side.mapping.and_then(|m| m.rule_id)),
            scope_all: side.scope_all,
        }))
    }

    /// IdP user `user` of directory `dir` as of snapshot `snapshot_id`, with the latest
    /// provisioning event stored for it up to that snapshot.
    pub fn idp_user_at(
        &self,
        dir: &str,
        user: &str,
        snapshot_id: i64,
    ) -> Result<Option<StoredIdpUser>, super::StoreError> {
        let raw: Option<String> = self
            .conn
            .query_row(
                &format!(
                    "SELECT raw FROM idp_user_versions WHERE directory_id = ?1 AND user_id = ?3 AND {AS_OF}"
                ),
                params![dir, snapshot_id, user],
                |r| r.get(0),
            )
            .optional()
            .map_err(self.err("cannot read the IdP user"))?;
        let Some(user_row) = raw.and_then(|r| serde_json::from_str::<IdpUser>(&r).ok()) else {
            return Ok(None);
        };
        // The latest by instant, then id, as detection takes it (`idp::later`).
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT raw FROM idp_events WHERE directory_id = ?1 AND user_id = ?2 AND snapshot_id <= ?3",
            )
            .map_err(self.err("cannot read the IdP provisioning events"))?;
        let rows = stmt
            .query_map(params![dir, user, snapshot_id], |r| r.get::<_, String>(0))
            .map_err(self.err("cannot read the IdP provisioning events"))?;
        let mut latest: Option<Timed> = None;
        for raw in rows {
            let raw = raw.map_err(self.err("cannot read the IdP provisioning events"))?;
            // A row this build cannot read is skipped.
            let Ok(e) = serde_json::from_str::<ProvisioningEvent>(&raw) else {
                continue;
            };
            if let Some(newer) = later(&e, latest.as_ref()) {
                latest = Some(newer);
            }
        }
        Ok(Some(StoredIdpUser {
            user: user_row,
            latest_event: latest.map(|(_, e)| e),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_users_latest_event_is_its_latest_instant_not_the_last_text() {
        let dir = tempfile::tempdir().unwrap();
        let store = super::super::Store::open(&dir.path().join("s.db")).unwrap();
        store
            .conn
            .execute(
                "INSERT INTO snapshots (started_at, finished_at, duration_seconds, complete, scim_records, accounts, retries)
                 VALUES ('', '', 0, 1, 0, 0, 0)",
                [],
            )
            .unwrap();
        let user = IdpUser {
            scim_id: None,
            sync_state: None,
            status: None,
            directory_id: "d1".into(),
            id: "u1".into(),
            user_principal_name: None,
            mail: None,
            display_name: None,
            user_type: None,
            enabled: Some(true),
            intended: true,
            assigned_directly: true,
            groups: Vec::new(),
            nested_only: false,
            deleted: false,
            scim_external_id: None,
            scim_user_name: None,
            email: None,
            unknown: Vec::new(),
            deleted_at: Default::default(),
        };
        store
            .conn
            .execute(
                "INSERT INTO idp_user_versions (directory_id, user_id, valid_from, hash, intended, deleted, raw)
                 VALUES ('d1', 'u1', 1, x'00', 1, 0, ?1)",
                [serde_json::to_string(&user).unwrap()],
            )
            .unwrap();
        // As text, "…10:00:00Z" sorts after "…10:00:00.5Z" ('Z' > '.') and "…11:00:00+02:00"
        // (09:00Z) after both: the instants say the one with a fraction is the latest.
        for (id, at, status) in [
            ("b", "2026-05-01T10:00:00Z", "failure"),
            ("a", "2026-05-01T10:00:00.5Z", "success"),
            ("c", "2026-05-01T11:00:00+02:00", "failure"),
        ] {
            let e = ProvisioningEvent {
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
            };
            store
                .conn
                .execute(
                    "INSERT INTO idp_events (directory_id, id, at, user_id, status, snapshot_id, raw)
                     VALUES ('d1', ?1, ?2, 'u1', ?3, 1, ?4)",
                    params![id, at, status, serde_json::to_string(&e).unwrap()],
                )
                .unwrap();
        }
        let stored = store.idp_user_at("d1", "u1", 1).unwrap().unwrap();
        assert_eq!(stored.latest_event.unwrap().id, "a");
    }
}
