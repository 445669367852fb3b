//! What remediation reads of the stored IdP side (schema v8), as of a snapshot: a directory's IdP
//! kind, provisioning job and user rule (`provision_on_demand` needs both ids), and one IdP user
//! with its latest provisioning event. Read-only; `idp.rs` writes these tables.

use rusqlite::{OptionalExtension, params};
use serde_json::Value;

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
        let Some(v) = raw.and_then(|r| serde_json::from_str::<Value>(&r).ok()) else {
            return Ok(None);
        };
        let text = |v: &Value| {
            v.as_str()
                .filter(|s| !s.trim().is_empty())
                .map(str::to_string)
        };
        Ok(Some(StoredIdpSide {
            kind: text(&v["kind"]).unwrap_or_default(),
            job_id: text(&v["job"]["job_id"]),
            rule_id: text(&v["mapping"]["rule_id"]),
            scope_all: v["scope_all"].as_bool().unwrap_or(false),
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
        let event: Option<String> = self
            .conn
            .query_row(
                "SELECT raw FROM idp_events WHERE directory_id = ?1 AND user_id = ?2 AND snapshot_id <= ?3
                 ORDER BY at DESC, id DESC LIMIT 1",
                params![dir, user, snapshot_id],
                |r| r.get(0),
            )
            .optional()
            .map_err(self.err("cannot read the IdP provisioning events"))?;
        Ok(Some(StoredIdpUser {
            user: user_row,
            latest_event: event.and_then(|e| serde_json::from_str(&e).ok()),
        }))
    }
}
