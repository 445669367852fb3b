//! One person's change history: every version of every SCIM record and account that ever carried an
//! email, or is linked to one that did.

use std::collections::BTreeSet;

use rusqlite::params;

use super::{Store, StoreError};
use crate::model::normalize_email;

/// One version of a SCIM record, with the times of the snapshots bounding it.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordVersion {
    pub directory_id: String,
    pub scim_id: String,
    /// `started_at` of the snapshot that first showed this version (RFC 3339).
    pub from: String,
    /// `started_at` of the snapshot that first showed it changed or gone; `None`: still current.
    pub to: Option<String>,
    pub active: Option<bool>,
    pub email: Option<String>,
    pub account_id: Option<String>,
}

/// One version of an account.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountVersion {
    pub account_id: String,
    pub from: String,
    pub to: Option<String>,
    pub email: Option<String>,
    pub account_status: String,
    pub membership_status: String,
}

impl Store {
    /// Every version of every record and account that ever carried `email` (compared as
    /// scenarios.md says), or that is linked to one that did, oldest first per record.
    pub fn history_of_email(
        &self,
        email: &str,
    ) -> Result<(Vec<RecordVersion>, Vec<AccountVersion>), StoreError> {
        let wanted = normalize_email(email);
        let err = |c| self.err(c);
        // Who ever carried the email (Unicode-aware comparison, so done here rather than in SQL).
        let mut record_keys: BTreeSet<(String, String)> = BTreeSet::new();
        let mut linked_accounts: BTreeSet<String> = BTreeSet::new();
        let all_records: Vec<(String, String, Option<String>, Option<String>)> = self
            .conn
            .prepare_cached(
                "SELECT DISTINCT directory_id, scim_id, email, account_id FROM scim_user_versions",
            )
            .and_then(|mut s| {
                s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
                    .collect()
            })
            .map_err(err("cannot read SCIM record history"))?;
        let mut account_keys: BTreeSet<String> = self
            .conn
            .prepare_cached("SELECT DISTINCT account_id, email FROM account_versions")
            .and_then(|mut s| {
                s.query_map([], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?))
                })?
                .collect::<Result<Vec<_>, _>>()
            })
            .map_err(err("cannot read account history"))?
            .into_iter()
            .filter(|(_, e)| e.as_deref().is_some_and(|e| normalize_email(e) == wanted))
            .map(|(id, _)| id)
            .collect();
        for (dir, scim, e, account) in &all_records {
            if e.as_deref().is_some_and(|e| normalize_email(e) == wanted) {
                record_keys.insert((dir.clone(), scim.clone()));
                linked_accounts.extend(account.clone());
            }
        }
        // One step further: records linked to those accounts, accounts linked from those records.
        for (dir, scim, _, account) in &all_records {
            if account.as_ref().is_some_and(|a| account_keys.contains(a)) {
                record_keys.insert((dir.clone(), scim.clone()));
            }
        }
        account_keys.extend(linked_accounts);

        let mut records = Vec::new();
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT s.started_at, e.started_at, v.active, v.email, v.account_id
                 FROM scim_user_versions v JOIN snapshots s ON s.id = v.valid_from
                 LEFT JOIN snapshots e ON e.id = v.valid_to
                 WHERE v.directory_id = ?1 AND v.scim_id = ?2 ORDER BY v.valid_from",
            )
            .map_err(err("cannot read SCIM record history"))?;
        for (dir, scim) in &record_keys {
            let versions = stmt
                .query_map(params![dir, scim], |r| {
                    Ok(RecordVersion {
                        directory_id: dir.clone(),
                        scim_id: scim.clone(),
                        from: r.get(0)?,
                        to: r.get(1)?,
                        active: r.get(2)?,
                        email: r.get(3)?,
                        account_id: r.get(4)?,
                    })
                })
                .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
                .map_err(err("cannot read SCIM record history"))?;
            records.extend(versions);
        }
        let mut accounts = Vec::new();
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT s.started_at, e.started_at, v.email, v.account_status, v.membership_status
                 FROM account_versions v JOIN snapshots s ON s.id = v.valid_from
                 LEFT JOIN snapshots e ON e.id = v.valid_to
                 WHERE v.account_id = ?1 ORDER BY v.valid_from",
            )
            .map_err(err("cannot read account history"))?;
        for id in &account_keys {
            let versions = stmt
                .query_map(params![id], |r| {
                    Ok(AccountVersion {
                        account_id: id.clone(),
                        from: r.get(0)?,
                        to: r.get(1)?,
                        email: r.get(2)?,
                        account_status: r.get(3)?,
                        membership_status: r.get(4)?,
                    })
                })
                .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
                .map_err(err("cannot read account history"))?;
            accounts.extend(versions);
        }
        Ok((records, accounts))
    }
}
