//! The remediation audit log (intent written before each call, result after) and the stored plans.

use rusqlite::{OptionalExtension, Row, params};
use serde::{Deserialize, Serialize};

use super::{Store, StoreError};

/// One audit row. `result` is `None` while only the intent is written (a call in flight, or a crash).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRow {
    pub id: i64,
    pub idempotency_key: String,
    pub snapshot_id: i64,
    pub finding_id: String,
    pub kind: String,
    pub action: String,
    pub mode: String,
    /// [`crate::remediate::plan::Step::action_key`]: the action on its targets, across snapshots.
    pub action_key: String,
    /// The targets, as JSON.
    pub targets: serde_json::Value,
    pub reason: String,
    pub started_at: String,
    pub finished_at: Option<String>,
    /// success | failure | skipped | dry_run; `None`: intent without result.
    pub result: Option<String>,
    pub http_status: Option<i64>,
    /// An error or the outcome of a reconciliation (never a secret).
    pub detail: Option<String>,
    /// `unlink` / `move_email`: the contested email and the record claiming it.
    pub contest: Option<serde_json::Value>,
}

/// An intent (or a result-only row: dry run, skipped) to write.
pub struct NewAudit<'a> {
    pub idempotency_key: &'a str,
    pub snapshot_id: i64,
    pub finding_id: &'a str,
    pub kind: &'a str,
    pub action: &'a str,
    pub mode: &'a str,
    pub action_key: &'a str,
    pub targets: &'a serde_json::Value,
    pub reason: &'a str,
    pub at: &'a str,
    pub contest: Option<&'a serde_json::Value>,
}

/// A dry-run step as the last remediation run planned it ([`Store::dry_runs`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DryRunStep {
    pub action_key: String,
    pub finding_id: String,
    pub kind: String,
    pub action: String,
    /// The targets, as JSON text.
    pub targets_json: String,
    /// The guards that blocked it, comma-separated; empty when it would run.
    pub verdict: String,
}

const COLUMNS: &str = "id, idempotency_key, snapshot_id, finding_id, kind, action, mode, action_key, targets_json, \
     reason, started_at, finished_at, result, http_status, detail, contest_json";

fn row(r: &Row) -> rusqlite::Result<AuditRow> {
    Ok(AuditRow {
        id: r.get(0)?,
        idempotency_key: r.get(1)?,
        snapshot_id: r.get(2)?,
        finding_id: r.get(3)?,
        kind: r.get(4)?,
        action: r.get(5)?,
        mode: r.get(6)?,
        action_key: r.get(7)?,
        targets: serde_json::from_str(&r.get::<_, String>(8)?).unwrap_or_default(),
        reason: r.get(9)?,
        started_at: r.get(10)?,
        finished_at: r.get(11)?,
        result: r.get(12)?,
        http_status: r.get(13)?,
        detail: r.get(14)?,
        contest: r
            .get::<_, Option<String>>(15)?
            .and_then(|c| serde_json::from_str(&c).ok()),
    })
}

/// Writes one audit row (`result` `None`: an intent only); `false` if its key already exists.
fn insert_audit(
    conn: &rusqlite::Connection,
    a: &NewAudit<'_>,
    result: Option<&str>,
    detail: Option<&str>,
) -> rusqlite::Result<bool> {
    let n = conn.execute(
        "INSERT INTO remediation_audit (idempotency_key, snapshot_id, finding_id, kind, action, mode,
             action_key, targets_json, reason, started_at, finished_at, result, detail, contest_json)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, CASE WHEN ?11 IS NULL THEN NULL ELSE ?10 END, ?11, ?12, ?13)
         ON CONFLICT (idempotency_key) DO NOTHING",
        params![
            a.idempotency_key,
            a.snapshot_id,
            a.finding_id,
            a.kind,
            a.action,
            a.mode,
            a.action_key,
            a.targets.to_string(),
            a.reason,
            a.at,
            result,
            detail,
            a.contest.map(|c| c.to_string())
        ],
    )?;
    Ok(n == 1)
}

impl Store {
    /// Writes an intent (`result` `None`) or a finished row; `false` if the key already exists.
    pub fn audit_insert(
        &self,
        a: &NewAudit<'_>,
        result: Option<&str>,
        detail: Option<&str>,
    ) -> Result<bool, StoreError> {
        insert_audit(&self.conn, a, result, detail).map_err(self.err("cannot write the audit log"))
    }

    /// Records the result of an open intent; `false` when it has one already (an operator
    /// settled it meanwhile: theirs stands).
    pub fn audit_finish(
        &self,
        key: &str,
        at: &str,
        result: Option<&str>,
        http_status: Option<u16>,
        detail: Option<&str>,
    ) -> Result<bool, StoreError> {
        let n = self
            .conn
            .execute(
                "UPDATE remediation_audit SET finished_at = ?2, result = ?3, http_status = ?4, detail = ?5
                 WHERE idempotency_key = ?1 AND result IS NULL",
                params![key, at, result, http_status, detail],
            )
            .map_err(self.err("cannot write the audit log"))?;
        Ok(n == 1)
    }

    /// Records an operator's result for an open `apply` intent; `false` when `key` is not one.
    /// The call's last HTTP status moves into the detail: an operator's `failure` is final (a
    /// 401's expiry applies to refusals recorded by scimdrift only).
    pub fn audit_settle(
        &self,
        key: &str,
        at: &str,
        result: &str,
        detail: &str,
    ) -> Result<bool, StoreError> {
        let n = self
            .conn
            .execute(
                "UPDATE remediation_audit SET finished_at = ?2, result = ?3, http_status = NULL,
                     detail = COALESCE(detail || '; ', '') || ?4
                         || COALESCE(' (the call was last answered HTTP ' || http_status || ')', '')
                 WHERE idempotency_key = ?1 AND result IS NULL AND mode = 'apply'",
                params![key, at, result, detail],
            )
            .map_err(self.err("cannot write the audit log"))?;
        Ok(n == 1)
    }

    /// The audit rows, newest first (`limit` 0: all).
    pub fn audit(&self, limit: usize) -> Result<Vec<AuditRow>, StoreError> {
        let limit = if limit == 0 { -1 } else { limit as i64 };
        self.audit_query(
            &format!("SELECT {COLUMNS} FROM remediation_audit ORDER BY id DESC LIMIT ?1"),
            params![limit],
        )
    }

    /// Whether a row with this idempotency key exists.
    pub fn audit_has(&self, key: &str) -> Result<bool, StoreError> {
        self.conn
            .query_row(
                "SELECT 1 FROM remediation_audit WHERE idempotency_key = ?1",
                [key],
                |_| Ok(()),
            )
            .optional()
            .map(|o| o.is_some())
            .map_err(self.err("cannot read the audit log"))
    }

    /// Intents without a result: calls that may or may not have taken effect.
    pub fn audit_pending(&self) -> Result<Vec<AuditRow>, StoreError> {
        self.audit_query(
            &format!("SELECT {COLUMNS} FROM remediation_audit WHERE result IS NULL ORDER BY id"),
            [],
        )
    }

    /// Rows started at or after `since` (RFC 3339), oldest first.
    pub fn audit_since(&self, since: &str) -> Result<Vec<AuditRow>, StoreError> {
        self.audit_query(
            &format!("SELECT {COLUMNS} FROM remediation_audit WHERE started_at >= ?1 ORDER BY id"),
            params![since],
        )
    }

    /// Calls that failed (a 4xx, or settled so by an operator): not retried automatically. A 401
    /// (a key problem, e.g. rotation) finished before `auth_expired_before` (RFC 3339) no longer
    /// counts; a 403 is about the target itself and always counts.
    pub fn audit_failures(&self, auth_expired_before: &str) -> Result<Vec<AuditRow>, StoreError> {
        self.audit_query(
            &format!(
                "SELECT {COLUMNS} FROM remediation_audit WHERE result = 'failure'
                 AND NOT (COALESCE(http_status, 0) = 401 AND finished_at < ?1) ORDER BY id"
            ),
            params![auth_expired_before],
        )
    }

    /// Whether a complete snapshot after `snapshot_id` showed the account with access (active
    /// and not suspended): someone gave it back since.
    pub fn account_had_access_after(
        &self,
        account_id: &str,
        snapshot_id: i64,
    ) -> Result<bool, StoreError> {
        self.conn
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM account_versions v JOIN snapshots s
                     ON s.complete = 1 AND s.id > ?2 AND s.id >= v.valid_from
                        AND (v.valid_to IS NULL OR s.id < v.valid_to)
                 WHERE v.account_id = ?1 AND v.account_status = 'active'
                     AND v.membership_status = 'active')",
                params![account_id, snapshot_id],
                |r| r.get(0),
            )
            .map_err(self.err("cannot read the account history"))
    }

    /// Calls that succeeded in `apply` mode (reconciled ones included), oldest first.
    pub fn audit_successes(&self) -> Result<Vec<AuditRow>, StoreError> {
        self.audit_query(
            &format!(
                "SELECT {COLUMNS} FROM remediation_audit WHERE result = 'success' AND mode = 'apply' ORDER BY id"
            ),
            [],
        )
    }

    /// Calls sent (or possibly sent) for `snapshot_id` in `apply` mode: what counts toward its caps.
    pub fn audit_calls_for_snapshot(&self, snapshot_id: i64) -> Result<Vec<AuditRow>, StoreError> {
        self.audit_query(
            &format!(
                "SELECT {COLUMNS} FROM remediation_audit WHERE snapshot_id = ?1 AND mode = 'apply'
                 AND (result IS NULL OR result NOT IN ('skipped', 'dry_run')) ORDER BY id"
            ),
            params![snapshot_id],
        )
    }

    fn audit_query(
        &self,
        sql: &str,
        args: impl rusqlite::Params,
    ) -> Result<Vec<AuditRow>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(sql)
            .map_err(self.err("cannot read the audit log"))?;
        stmt.query_map(args, row)
            .and_then(|rows| rows.collect())
            .map_err(self.err("cannot read the audit log"))
    }

    /// The dry-run steps of the last remediation run, by action key.
    pub fn dry_runs(&self) -> Result<Vec<DryRunStep>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT action_key, finding_id, kind, action, targets_json, verdict
                 FROM remediation_dry_runs ORDER BY action_key",
            )
            .map_err(self.err("cannot read the dry-run steps"))?;
        stmt.query_map([], |r| {
            Ok(DryRunStep {
                action_key: r.get(0)?,
                finding_id: r.get(1)?,
                kind: r.get(2)?,
                action: r.get(3)?,
                targets_json: r.get(4)?,
                verdict: r.get(5)?,
            })
        })
        .and_then(|rows| rows.collect())
        .map_err(self.err("cannot read the dry-run steps"))
    }

    /// Records a change of the dry-run plan in one transaction: the audit rows that say what
    /// changed (`result` `dry_run`, the detail saying how), the steps now planned (`put`) and the
    /// action keys no longer planned (`drop`). Returns, per audit row, whether it was new.
    pub fn dry_run_change(
        &self,
        audits: &[(NewAudit<'_>, String)],
        put: &[DryRunStep],
        drop: &[String],
    ) -> Result<Vec<bool>, StoreError> {
        let write = || -> rusqlite::Result<Vec<bool>> {
            let tx = self.conn.unchecked_transaction()?;
            let mut new = Vec::with_capacity(audits.len());
            for (a, detail) in audits {
                new.push(insert_audit(&tx, a, Some("dry_run"), Some(detail))?);
            }
            for d in put {
                tx.execute(
                    "INSERT INTO remediation_dry_runs (action_key, finding_id, kind, action, targets_json, verdict)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                     ON CONFLICT (action_key) DO UPDATE SET finding_id = ?2, kind = ?3, action = ?4,
                         targets_json = ?5, verdict = ?6",
                    params![d.action_key, d.finding_id, d.kind, d.action, d.targets_json, d.verdict],
                )?;
            }
            for key in drop {
                tx.execute(
                    "DELETE FROM remediation_dry_runs WHERE action_key = ?1",
                    [key],
                )?;
            }
            tx.commit()?;
            Ok(new)
        };
        write().map_err(self.err("cannot write the audit log"))
    }

    /// Stores a plan (JSON) as the latest.
    pub fn put_plan(
        &self,
        snapshot_id: Option<i64>,
        at: &str,
        json: &str,
    ) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT INTO remediation_plans (created_at, snapshot_id, plan_json) VALUES (?1, ?2, ?3)",
                params![at, snapshot_id, json],
            )
            .map_err(self.err("cannot store the plan"))?;
        self.conn
            .execute(
                "DELETE FROM remediation_plans WHERE id NOT IN
                     (SELECT id FROM remediation_plans ORDER BY id DESC LIMIT 100)",
                [],
            )
            .map_err(self.err("cannot prune the plans"))?;
        Ok(())
    }

    /// The latest stored plan's JSON.
    pub fn latest_plan(&self) -> Result<Option<String>, StoreError> {
        self.conn
            .query_row(
                "SELECT plan_json FROM remediation_plans ORDER BY id DESC LIMIT 1",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(self.err("cannot read the plan"))
    }
}
