//! Reading the store: the snapshot list and the state as of any complete snapshot (one query per table).

use rusqlite::{OptionalExtension, Row, params};
use serde::Serialize;

use super::{Store, StoreError};
use crate::model::{Account, DataQuality, ScimGroup, ScimRecord, Shrink};

/// One snapshot row with its sources.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SnapshotInfo {
    pub snapshot_id: i64,
    pub started_at: String,
    pub finished_at: String,
    pub duration_seconds: f64,
    pub complete: bool,
    pub scim_records: i64,
    pub accounts: i64,
    pub retries: i64,
    pub versions_added: i64,
    pub versions_closed: i64,
    /// Complete by the paging rules but held by the shrink guard: never current.
    pub held: bool,
    /// What the shrink guard said: `held`, `confirmed` or `accepted`, with the shrunk populations.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shrink: Option<ShrinkInfo>,
    pub sources: Vec<SourceInfo>,
}

impl SnapshotInfo {
    /// The populations the shrink guard found shrunk in this snapshot (none when it said nothing).
    pub fn shrinks(&self) -> &[Shrink] {
        self.shrink.as_ref().map_or(&[], |i| &i.shrinks)
    }
}

/// The shrink guard's verdict on a snapshot.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ShrinkInfo {
    pub verdict: String,
    pub shrinks: Vec<Shrink>,
}

/// How one source fared in a snapshot.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SourceInfo {
    pub source: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub directory_id: Option<String>,
    pub records: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub groups: Option<i64>,
    pub complete: bool,
    pub error: Option<String>,
    /// Fields the source could not read (records kept); empty when none.
    #[serde(skip_serializing_if = "DataQuality::is_empty")]
    pub data_quality: DataQuality,
    /// Accounts by `accountType` (the accounts source only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_types: Option<std::collections::BTreeMap<String, u64>>,
    /// An IdP source's intended users (assigned, neither deleted nor disabled), when counted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub intended: Option<i64>,
    /// An IdP source held by the shrink guard (stored incomplete).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub held: bool,
    /// An IdP source's listings as read ([`crate::model::SourceStatus::listings`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listings: Option<std::collections::BTreeMap<String, u64>>,
}

/// The population as of one complete snapshot.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct State {
    pub records: Vec<ScimRecord>,
    pub groups: Vec<ScimGroup>,
    pub accounts: Vec<Account>,
}

const SNAPSHOT_COLUMNS: &str = "id, started_at, finished_at, duration_seconds, complete, scim_records, accounts, \
     retries, versions_added, versions_closed, held, shrink_verdict, shrink_json";

fn snapshot_row(r: &Row) -> rusqlite::Result<SnapshotInfo> {
    Ok(SnapshotInfo {
        snapshot_id: r.get(0)?,
        started_at: r.get(1)?,
        finished_at: r.get(2)?,
        duration_seconds: r.get(3)?,
        complete: r.get(4)?,
        scim_records: r.get(5)?,
        accounts: r.get(6)?,
        retries: r.get(7)?,
        versions_added: r.get(8)?,
        versions_closed: r.get(9)?,
        held: r.get(10)?,
        shrink: r
            .get::<_, Option<String>>(11)?
            .map(|verdict| ShrinkInfo {
                verdict,
                shrinks: Vec::new(),
            })
            .map(|mut info| {
                if let Ok(Some(json)) = r.get::<_, Option<String>>(12) {
                    info.shrinks = serde_json::from_str(&json).unwrap_or_default();
                }
                info
            }),
        sources: Vec::new(),
    })
}

/// Rows valid in snapshot ?1.
const AS_OF: &str = "valid_from <= ?1 AND (valid_to IS NULL OR valid_to > ?1)";

/// The columns [`record_row`] reads, in its order.
const RECORD_COLUMNS: &str = "directory_id, scim_id, external_id, user_name, email, display_name, \
     active, account_id, groups_json, created, last_modified";

/// One `scim_user_versions` row selected as [`RECORD_COLUMNS`].
fn record_row(r: &Row) -> rusqlite::Result<ScimRecord> {
    Ok(ScimRecord {
        directory_id: r.get(0)?,
        scim_id: r.get(1)?,
        external_id: r.get(2)?,
        user_name: r.get(3)?,
        email: r.get(4)?,
        display_name: r.get(5)?,
        active: r.get(6)?,
        account_id: r.get(7)?,
        groups: json_list(&r.get::<_, String>(8)?),
        created: r.get(9)?,
        last_modified: r.get(10)?,
        link_unknown: false,
        unknown: Vec::new(),
    })
}

impl Store {
    /// The most recent snapshots, newest first.
    pub fn snapshots(&self, limit: usize) -> Result<Vec<SnapshotInfo>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT {SNAPSHOT_COLUMNS} FROM snapshots ORDER BY id DESC LIMIT ?1"
            ))
            .map_err(self.err("cannot list snapshots"))?;
        let mut list: Vec<SnapshotInfo> = stmt
            .query_map([limit as i64], snapshot_row)
            .and_then(|rows| rows.collect())
            .map_err(self.err("cannot list snapshots"))?;
        for s in &mut list {
            s.sources = self.sources(s.snapshot_id)?;
        }
        Ok(list)
    }

    /// One snapshot by id.
    pub fn snapshot(&self, id: i64) -> Result<Option<SnapshotInfo>, StoreError> {
        self.one_snapshot(
            &format!("SELECT {SNAPSHOT_COLUMNS} FROM snapshots WHERE id = ?1"),
            [id],
        )
    }

    /// What the shrink guard compares a pull with: the current (latest complete) snapshot and the
    /// held snapshots since it, newest first (incomplete ones skipped).
    pub fn shrink_baseline(&self) -> Result<(Option<SnapshotInfo>, Vec<SnapshotInfo>), StoreError> {
        let current = self.latest_complete()?;
        let after = current.as_ref().map_or(0, |c| c.snapshot_id);
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT {SNAPSHOT_COLUMNS} FROM snapshots WHERE id > ?1 AND held = 1 ORDER BY id DESC"
            ))
            .map_err(self.err("cannot list snapshots"))?;
        let mut held: Vec<SnapshotInfo> = stmt
            .query_map([after], snapshot_row)
            .and_then(|rows| rows.collect())
            .map_err(self.err("cannot list snapshots"))?;
        for s in &mut held {
            s.sources = self.sources(s.snapshot_id)?;
        }
        Ok((current, held))
    }

    /// What the shrink guard compares the IdP source of directory `directory_id` with: the source
    /// as of the last snapshot that used it (complete, in a complete snapshot: the IdP state
    /// findings stand on), and the pulls since in which it was held, newest first. An IdP pull
    /// that was incomplete in between is skipped, never a baseline.
    pub fn idp_shrink_baseline(
        &self,
        directory_id: &str,
    ) -> Result<(Option<SourceInfo>, Vec<SourceInfo>), StoreError> {
        let ids = |sql: &str, after: i64| -> Result<Vec<i64>, StoreError> {
            self.conn
                .prepare_cached(sql)
                .and_then(|mut stmt| {
                    stmt.query_map(params![directory_id, after], |r| r.get(0))?
                        .collect::<rusqlite::Result<Vec<i64>>>()
                })
                .map_err(self.err("cannot read the IdP sources"))
        };
        let idp_of = |snapshot_id: i64| -> Result<Option<SourceInfo>, StoreError> {
            Ok(self.sources(snapshot_id)?.into_iter().find(|s| {
                s.source.starts_with(crate::model::SourceStatus::IDP_PREFIX)
                    && s.directory_id.as_deref() == Some(directory_id)
            }))
        };
        let used = ids(
            "SELECT ss.snapshot_id FROM snapshot_sources ss JOIN snapshots s ON s.id = ss.snapshot_id
             WHERE s.complete = 1 AND ss.complete = 1 AND ss.directory_id = ?1
                   AND substr(ss.source, 1, 4) = 'idp:' AND ss.snapshot_id > ?2
             ORDER BY ss.snapshot_id DESC LIMIT 1",
            0,
        )?;
        let after = used.first().copied().unwrap_or(0);
        let current = match used.first() {
            Some(&id) => idp_of(id)?,
            None => None,
        };
        let mut held = Vec::new();
        for id in ids(
            "SELECT snapshot_id FROM snapshot_sources
             WHERE directory_id = ?1 AND snapshot_id > ?2 AND held = 1
                   AND substr(source, 1, 4) = 'idp:'
             ORDER BY snapshot_id DESC",
            after,
        )? {
            held.extend(idp_of(id)?);
        }
        Ok((current, held))
    }

    /// The latest complete snapshot: the current state. Incomplete snapshots never are.
    pub fn latest_complete(&self) -> Result<Option<SnapshotInfo>, StoreError> {
        self.one_snapshot(
            &format!("SELECT {SNAPSHOT_COLUMNS} FROM snapshots WHERE complete = 1 ORDER BY id DESC LIMIT 1"),
            [],
        )
    }

    fn one_snapshot(
        &self,
        sql: &str,
        args: impl rusqlite::Params,
    ) -> Result<Option<SnapshotInfo>, StoreError> {
        let found = self
            .conn
            .query_row(sql, args, snapshot_row)
            .optional()
            .map_err(self.err("cannot read snapshot"))?;
        match found {
            Some(mut s) => {
                s.sources = self.sources(s.snapshot_id)?;
                Ok(Some(s))
            }
            None => Ok(None),
        }
    }

    fn sources(&self, snapshot_id: i64) -> Result<Vec<SourceInfo>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT source, directory_id, records, groups, complete, error, data_quality_json,
                        account_types_json, intended, held, listings_json FROM snapshot_sources
                 WHERE snapshot_id = ?1 ORDER BY source = 'accounts', source",
            )
            .map_err(self.err("cannot read sources"))?;
        stmt.query_map([snapshot_id], |r| {
            Ok(SourceInfo {
                source: r.get(0)?,
                directory_id: r.get(1)?,
                records: r.get(2)?,
                groups: r.get(3)?,
                complete: r.get(4)?,
                error: r.get(5)?,
                data_quality: r
                    .get::<_, Option<String>>(6)?
                    .and_then(|j| serde_json::from_str(&j).ok())
                    .unwrap_or_default(),
                account_types: r
                    .get::<_, Option<String>>(7)?
                    .and_then(|j| serde_json::from_str(&j).ok()),
                intended: r.get(8)?,
                held: r.get(9)?,
                listings: r
                    .get::<_, Option<String>>(10)?
                    .and_then(|j| serde_json::from_str(&j).ok()),
            })
        })
        .and_then(|rows| rows.collect())
        .map_err(self.err("cannot read sources"))
    }

    /// The records, groups and accounts as of complete snapshot `snapshot_id`.
    pub fn state_at(&self, snapshot_id: i64) -> Result<State, StoreError> {
        let conn = &self.conn;
        let records = conn
            .prepare_cached(&format!(
                "SELECT {RECORD_COLUMNS} FROM scim_user_versions WHERE {AS_OF} ORDER BY directory_id, scim_id"
            ))
            .and_then(|mut s| {
                s.query_map(params![snapshot_id], record_row)?
                .collect()
            })
            .map_err(self.err("cannot read SCIM records"))?;
        let groups = self.scim_groups_at(snapshot_id)?;
        let accounts = conn
            .prepare_cached(&format!(
                "SELECT account_id, account_type, account_status, membership_status, status, claim_status,
                        management_source, email, name, added_to_org, deactivated_on
                 FROM account_versions WHERE {AS_OF} ORDER BY account_id"
            ))
            .and_then(|mut s| {
                s.query_map(params![snapshot_id], |r| {
                    Ok(Account {
                        account_id: r.get(0)?,
                        account_type: r.get(1)?,
                        account_status: r.get(2)?,
                        membership_status: r.get(3)?,
                        status: r.get(4)?,
                        claim_status: r.get(5)?,
                        management_source: r.get(6)?,
                        email: r.get(7)?,
                        name: r.get(8)?,
                        added_to_org: r.get(9)?,
                        deactivated_on: r.get(10)?,
                        unknown: Vec::new(),
                    })
                })?
                .collect()
            })
            .map_err(self.err("cannot read accounts"))?;
        Ok(State {
            records,
            groups,
            accounts,
        })
    }

    /// The SCIM groups as of complete snapshot `snapshot_id`.
    pub fn scim_groups_at(&self, snapshot_id: i64) -> Result<Vec<ScimGroup>, StoreError> {
        let conn = &self.conn;
        conn.prepare_cached(&format!(
            "SELECT directory_id, group_id, display_name, external_id, members_json
                 FROM scim_group_versions WHERE {AS_OF} ORDER BY directory_id, group_id"
        ))
        .and_then(|mut s| {
            s.query_map(params![snapshot_id], |r| {
                Ok(ScimGroup {
                    directory_id: r.get(0)?,
                    group_id: r.get(1)?,
                    display_name: r.get(2)?,
                    external_id: r.get(3)?,
                    members: json_list(&r.get::<_, String>(4)?),
                    unknown: Vec::new(),
                })
            })?
            .collect()
        })
        .map_err(self.err("cannot read SCIM groups"))
    }

    /// The records `keys` (directory id, SCIM id) as of complete snapshot `snapshot_id` (those it
    /// holds), with their own `groups`.
    pub fn scim_records_at(
        &self,
        snapshot_id: i64,
        keys: &[(String, String)],
    ) -> Result<Vec<ScimRecord>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT {RECORD_COLUMNS} FROM scim_user_versions WHERE {AS_OF} AND directory_id = ?2 AND scim_id = ?3"
            ))
            .map_err(self.err("cannot read SCIM records"))?;
        let mut out = Vec::new();
        for (dir, id) in keys {
            let rows = stmt
                .query_map(params![snapshot_id, dir, id], record_row)
                .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
                .map_err(self.err("cannot read SCIM records"))?;
            out.extend(rows);
        }
        Ok(out)
    }

    /// Version rows per table (users, groups, accounts): how much history is kept.
    pub fn version_counts(&self) -> Result<(i64, i64, i64), StoreError> {
        self.conn
            .query_row(
                "SELECT (SELECT count(*) FROM scim_user_versions), (SELECT count(*) FROM scim_group_versions),
                        (SELECT count(*) FROM account_versions)",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .map_err(self.err("cannot count versions"))
    }
}

fn json_list(text: &str) -> Vec<String> {
    serde_json::from_str(text).unwrap_or_default()
}
