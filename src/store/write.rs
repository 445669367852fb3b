//! Recording a pull: one transaction. An incomplete pull adds only its snapshot row (with what failed);
//! a complete one also closes the versions that changed or vanished and adds the new ones.

use std::collections::HashMap;

use rusqlite::{Transaction, params};
use xxhash_rust::xxh3::xxh3_128;

use chrono::{DateTime, Utc};

use super::findings::{self, Reconciled};
use super::{Store, StoreError};
use crate::detect::RecordRef;
use crate::findings::Current;
use crate::pull::Pull;

/// What recording a pull did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recorded {
    pub snapshot_id: i64,
    pub complete: bool,
    /// New version rows (new or changed records).
    pub versions_added: u64,
    /// Versions closed (changed or gone records).
    pub versions_closed: u64,
}

/// One versioned table: how to key its current rows.
struct Table {
    name: &'static str,
    /// SQL expression of the natural key, matched by the Rust-side key.
    key_sql: &'static str,
}

const USERS: Table = Table {
    name: "scim_user_versions",
    key_sql: "directory_id || char(31) || scim_id",
};
const GROUPS: Table = Table {
    name: "scim_group_versions",
    key_sql: "directory_id || char(31) || group_id",
};
const ACCOUNTS: Table = Table {
    name: "account_versions",
    key_sql: "account_id",
};

fn composite(a: &str, b: &str) -> String {
    format!("{a}\u{1f}{b}")
}

/// Detection run inside the snapshot's transaction: gets the inactive-since times from history and
/// returns the snapshot's findings.
pub type Analyse<'a> = dyn FnOnce(&HashMap<RecordRef, DateTime<Utc>>) -> Vec<Current> + 'a;

impl Store {
    /// Stores `pull` as a new snapshot, atomically, without touching findings.
    pub fn record_pull(&mut self, pull: &Pull) -> Result<Recorded, StoreError> {
        self.record(pull, None).map(|(r, _)| r)
    }

    /// Stores `pull` and, when it is complete, reconciles the findings `analyse` returns, all in one
    /// transaction. An incomplete pull changes no finding.
    pub fn record_cycle(
        &mut self,
        pull: &Pull,
        analyse: Box<Analyse<'_>>,
    ) -> Result<(Recorded, Option<Reconciled>), StoreError> {
        self.record(pull, Some(analyse))
    }

    fn record(
        &mut self,
        pull: &Pull,
        analyse: Option<Box<Analyse<'_>>>,
    ) -> Result<(Recorded, Option<Reconciled>), StoreError> {
        let path = self.path.clone();
        let err = |context| {
            let path = path.clone();
            move |source| StoreError::Sqlite {
                path,
                context,
                source,
            }
        };
        let tx = self
            .conn
            .transaction()
            .map_err(err("cannot begin transaction"))?;
        let complete = pull.complete();
        tx.execute(
            "INSERT INTO snapshots (started_at, finished_at, duration_seconds, complete, scim_records, accounts, retries)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                pull.started_at.to_rfc3339(),
                pull.finished_at.to_rfc3339(),
                pull.duration_seconds,
                complete,
                pull.records.len() as i64,
                pull.accounts.len() as i64,
                pull.retries as i64,
            ],
        )
        .map_err(err("cannot insert snapshot"))?;
        let snapshot_id = tx.last_insert_rowid();
        {
            let mut stmt = tx
                .prepare(
                    "INSERT INTO snapshot_sources (snapshot_id, source, directory_id, records, groups, complete, error)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )
                .map_err(err("cannot prepare source insert"))?;
            for s in &pull.sources {
                stmt.execute(params![
                    snapshot_id,
                    s.source,
                    s.directory_id,
                    s.records as i64,
                    s.groups.map(|g| g as i64),
                    s.complete,
                    s.error
                ])
                .map_err(err("cannot insert source"))?;
            }
        }
        let mut recorded = Recorded {
            snapshot_id,
            complete,
            versions_added: 0,
            versions_closed: 0,
        };
        if complete {
            let counts = [
                sync_users(&tx, snapshot_id, pull),
                sync_groups(&tx, snapshot_id, pull),
                sync_accounts(&tx, snapshot_id, pull),
            ];
            for c in counts {
                let (added, closed) = c.map_err(err("cannot write versions"))?;
                recorded.versions_added += added;
                recorded.versions_closed += closed;
            }
            tx.execute(
                "UPDATE snapshots SET versions_added = ?1, versions_closed = ?2 WHERE id = ?3",
                params![
                    recorded.versions_added as i64,
                    recorded.versions_closed as i64,
                    snapshot_id
                ],
            )
            .map_err(err("cannot update snapshot"))?;
        }
        let mut reconciled = None;
        if let (true, Some(analyse)) = (complete, analyse) {
            let since = findings::inactive_since(&tx, snapshot_id)
                .map_err(err("cannot read inactive history"))?;
            let current = analyse(&since);
            let at = pull.finished_at.to_rfc3339();
            reconciled = Some(
                findings::reconcile(&tx, snapshot_id, &at, &current)
                    .map_err(err("cannot reconcile findings"))?,
            );
        }
        tx.commit().map_err(err("cannot commit snapshot"))?;
        Ok((recorded, reconciled))
    }
}

/// The current versions of `table`: key → (row id, hash).
fn current(tx: &Transaction, table: &Table) -> rusqlite::Result<HashMap<String, (i64, Vec<u8>)>> {
    let mut stmt = tx.prepare(&format!(
        "SELECT id, {}, hash FROM {} WHERE valid_to IS NULL",
        table.key_sql, table.name
    ))?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(1)?, (r.get(0)?, r.get(2)?))))?;
    rows.collect()
}

/// Diffs `items` against the current versions of `table`: inserts new/changed ones with `insert`,
/// closes changed/vanished ones. Returns (added, closed).
fn sync<T>(
    tx: &Transaction,
    table: &Table,
    snapshot_id: i64,
    items: &[T],
    key: impl Fn(&T) -> String,
    raw: impl Fn(&T) -> &str,
    mut insert: impl FnMut(&T, &[u8]) -> rusqlite::Result<()>,
) -> rusqlite::Result<(u64, u64)> {
    let mut live = current(tx, table)?;
    let mut close = tx.prepare(&format!(
        "UPDATE {} SET valid_to = ?1 WHERE id = ?2",
        table.name
    ))?;
    let (mut added, mut closed) = (0, 0);
    for item in items {
        let hash = xxh3_128(raw(item).as_bytes()).to_le_bytes();
        match live.remove(&key(item)) {
            Some((_, old)) if old == hash => continue,
            Some((id, _)) => {
                close.execute(params![snapshot_id, id])?;
                closed += 1;
            }
            None => {}
        }
        insert(item, &hash)?;
        added += 1;
    }
    for (id, _) in live.into_values() {
        close.execute(params![snapshot_id, id])?;
        closed += 1;
    }
    Ok((added, closed))
}

fn sync_users(tx: &Transaction, snapshot_id: i64, pull: &Pull) -> rusqlite::Result<(u64, u64)> {
    let mut stmt = tx.prepare(
        "INSERT INTO scim_user_versions (directory_id, scim_id, valid_from, hash, external_id, user_name, email,
             display_name, active, account_id, groups_json, created, last_modified, raw)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
    )?;
    sync(
        tx,
        &USERS,
        snapshot_id,
        &pull.records,
        |r| composite(&r.directory_id, &r.scim_id),
        |r| &r.raw,
        |r, hash| {
            stmt.execute(params![
                r.directory_id,
                r.scim_id,
                snapshot_id,
                hash,
                r.external_id,
                r.user_name,
                r.email,
                r.display_name,
                r.active,
                r.account_id,
                serde_json::to_string(&r.groups).unwrap_or_else(|_| "[]".into()),
                r.created,
                r.last_modified,
                r.raw
            ])
            .map(drop)
        },
    )
}

fn sync_groups(tx: &Transaction, snapshot_id: i64, pull: &Pull) -> rusqlite::Result<(u64, u64)> {
    let mut stmt = tx.prepare(
        "INSERT INTO scim_group_versions (directory_id, group_id, valid_from, hash, display_name, external_id,
             members_json, raw)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?;
    sync(
        tx,
        &GROUPS,
        snapshot_id,
        &pull.groups,
        |g| composite(&g.directory_id, &g.group_id),
        |g| &g.raw,
        |g, hash| {
            stmt.execute(params![
                g.directory_id,
                g.group_id,
                snapshot_id,
                hash,
                g.display_name,
                g.external_id,
                serde_json::to_string(&g.members).unwrap_or_else(|_| "[]".into()),
                g.raw
            ])
            .map(drop)
        },
    )
}

fn sync_accounts(tx: &Transaction, snapshot_id: i64, pull: &Pull) -> rusqlite::Result<(u64, u64)> {
    let mut stmt = tx.prepare(
        "INSERT INTO account_versions (account_id, valid_from, hash, account_type, account_status,
             membership_status, status, claim_status, management_source, email, name, added_to_org,
             deactivated_on, raw)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
    )?;
    sync(
        tx,
        &ACCOUNTS,
        snapshot_id,
        &pull.accounts,
        |a| a.account_id.clone(),
        |a| &a.raw,
        |a, hash| {
            stmt.execute(params![
                a.account_id,
                snapshot_id,
                hash,
                a.account_type,
                a.account_status,
                a.membership_status,
                a.status,
                a.claim_status,
                a.management_source,
                a.email,
                a.name,
                a.added_to_org,
                a.deactivated_on,
                a.raw
            ])
            .map(drop)
        },
    )
}
