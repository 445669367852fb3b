//! One person's change history: who an identifier names (an email, a SCIM id, an account id, an
//! IdP user id or UPN), and every version of their SCIM records, accounts and IdP users.

use std::collections::{BTreeSet, HashSet};

use rusqlite::params;

use super::{Store, StoreError};
use crate::model::idp::{IdpUser, ProvisioningEvent};
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

/// One version of an IdP user, with the times of the snapshots bounding it.
#[derive(Debug, Clone, PartialEq)]
pub struct IdpUserVersion {
    pub directory_id: String,
    pub user_id: String,
    pub from: String,
    pub to: Option<String>,
    /// `None`: unknown (the IdP sent null or nothing readable).
    pub enabled: Option<bool>,
    pub intended: bool,
    pub deleted: bool,
    /// The email the job's mapping sends.
    pub email: Option<String>,
    pub user_principal_name: Option<String>,
    /// Assigned to the app directly.
    pub assigned_directly: bool,
    /// The assigned groups the user is a direct member of.
    pub groups: Vec<String>,
}

/// Who a person is in the store: the records, accounts and IdP users (directory, id) of everyone
/// an identifier names ([`Store::person_keys`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PersonKeys {
    pub records: BTreeSet<(String, String)>,
    pub accounts: BTreeSet<String>,
    pub idp_users: BTreeSet<(String, String)>,
}

impl PersonKeys {
    pub fn is_empty(&self) -> bool {
        self.records.is_empty() && self.accounts.is_empty() && self.idp_users.is_empty()
    }
}

/// Every (directory, SCIM id, email, account, externalId) any record version carried.
type RecordRow = (
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
);

impl Store {
    /// Every version of every record and account that ever carried `email` (compared as
    /// scenarios.md says), or that is linked to one that did, oldest first per record.
    pub fn history_of_email(
        &self,
        email: &str,
    ) -> Result<(Vec<RecordVersion>, Vec<AccountVersion>), StoreError> {
        let keys = self.keys_of_emails(&BTreeSet::from([normalize_email(email)]))?;
        self.versions_of(&keys)
    }

    /// Who `who` names: an email (compared as scenarios.md says) or UPN, a SCIM id, an account id
    /// or an IdP user id. Everyone carrying one of the emails of what it names is included, then
    /// the records linked to those accounts, the accounts those records link to, and the IdP users
    /// whose id is a record's `externalId` or whose email or UPN is one of the emails.
    pub fn person_keys(&self, who: &str) -> Result<PersonKeys, StoreError> {
        let id = who.trim();
        let mut emails = BTreeSet::from([normalize_email(who)]);
        let records = self.record_rows()?;
        for (_, scim, email, _, _) in &records {
            if scim == id {
                emails.extend(email.as_deref().map(normalize_email));
            }
        }
        let account_emails = self.account_rows()?;
        for (account, email) in &account_emails {
            if account == id {
                emails.extend(email.as_deref().map(normalize_email));
            }
        }
        let idp_rows: Vec<(String, String, Option<String>, Option<String>)> = self
            .conn
            .prepare_cached(
                "SELECT DISTINCT directory_id, user_id, email, user_principal_name FROM idp_user_versions",
            )
            .and_then(|mut s| {
                s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
                    .collect()
            })
            .map_err(self.err("cannot read the IdP users"))?;
        let carries = |e: &Option<String>, set: &BTreeSet<String>| {
            e.as_deref()
                .is_some_and(|e| set.contains(&normalize_email(e)))
        };
        for (_, user, email, upn) in &idp_rows {
            if user.eq_ignore_ascii_case(id) || carries(email, &emails) || carries(upn, &emails) {
                emails.extend(email.as_deref().map(normalize_email));
                emails.extend(upn.as_deref().map(normalize_email));
            }
        }
        // The ids matched themselves seed the link-following, so a record or an account without
        // an email (hidden, absent) still brings what it is linked to.
        let seed_records: BTreeSet<(String, String)> = records
            .iter()
            .filter(|(_, scim, ..)| scim == id)
            .map(|(d, scim, ..)| (d.clone(), scim.clone()))
            .collect();
        let seed_accounts: BTreeSet<String> = account_emails
            .iter()
            .filter(|(a, _)| a == id)
            .map(|(a, _)| a.clone())
            .collect();
        let mut keys = self.keys_from(
            &emails,
            &records,
            &account_emails,
            seed_records,
            seed_accounts,
        );
        // The IdP users: by id, by email or UPN, and by a record's `externalId` (what the job's
        // mapping sends: the object id unless mapped otherwise).
        let external: BTreeSet<(&str, &str)> = records
            .iter()
            .filter(|(d, s, ..)| keys.records.contains(&(d.clone(), s.clone())))
            .filter_map(|(d, _, _, _, x)| x.as_deref().map(|x| (d.as_str(), x)))
            .collect();
        let mapped: HashSet<(String, String)> = self
            .idp_users()?
            .into_iter()
            .filter(|u| {
                u.scim_external_id
                    .as_deref()
                    .is_some_and(|x| external.contains(&(u.directory_id.as_str(), x)))
            })
            .map(|u| (u.directory_id, u.id))
            .collect();
        for (dir, user, email, upn) in &idp_rows {
            if user.eq_ignore_ascii_case(id)
                || carries(email, &emails)
                || carries(upn, &emails)
                || external.contains(&(dir.as_str(), user.as_str()))
                || mapped.contains(&(dir.clone(), user.clone()))
            {
                keys.idp_users.insert((dir.clone(), user.clone()));
            }
        }
        Ok(keys)
    }

    fn record_rows(&self) -> Result<Vec<RecordRow>, StoreError> {
        self.conn
            .prepare_cached(
                "SELECT DISTINCT directory_id, scim_id, email, account_id, external_id FROM scim_user_versions",
            )
            .and_then(|mut s| {
                s.query_map([], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
                })?
                .collect()
            })
            .map_err(self.err("cannot read SCIM record history"))
    }

    /// Every (account id, email) any account version carried.
    fn account_rows(&self) -> Result<Vec<(String, Option<String>)>, StoreError> {
        self.conn
            .prepare_cached("SELECT DISTINCT account_id, email FROM account_versions")
            .and_then(|mut s| s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect())
            .map_err(self.err("cannot read account history"))
    }

    /// The records and accounts that ever carried one of `emails` (normalised), and one step of
    /// links further.
    fn keys_of_emails(&self, emails: &BTreeSet<String>) -> Result<PersonKeys, StoreError> {
        let records = self.record_rows()?;
        let accounts = self.account_rows()?;
        Ok(self.keys_from(
            emails,
            &records,
            &accounts,
            BTreeSet::new(),
            BTreeSet::new(),
        ))
    }

    /// The records and accounts carrying one of `emails`, with the `seed_*` ones, then one step
    /// of links further.
    fn keys_from(
        &self,
        emails: &BTreeSet<String>,
        records: &[RecordRow],
        accounts: &[(String, Option<String>)],
        seed_records: BTreeSet<(String, String)>,
        seed_accounts: BTreeSet<String>,
    ) -> PersonKeys {
        let carries = |e: &Option<String>| {
            e.as_deref()
                .is_some_and(|e| emails.contains(&normalize_email(e)))
        };
        let mut keys = PersonKeys {
            records: seed_records,
            accounts: seed_accounts,
            idp_users: BTreeSet::new(),
        };
        let mut linked_accounts: BTreeSet<String> = BTreeSet::new();
        keys.accounts.extend(
            accounts
                .iter()
                .filter(|(_, e)| carries(e))
                .map(|(id, _)| id.clone()),
        );
        for (dir, scim, e, account, _) in records {
            if carries(e) || keys.records.contains(&(dir.clone(), scim.clone())) {
                keys.records.insert((dir.clone(), scim.clone()));
                linked_accounts.extend(account.clone());
            }
        }
        // One step further: records linked to those accounts, accounts linked from those records.
        for (dir, scim, _, account, _) in records {
            if account.as_ref().is_some_and(|a| keys.accounts.contains(a)) {
                keys.records.insert((dir.clone(), scim.clone()));
            }
        }
        keys.accounts.extend(linked_accounts);
        keys
    }

    /// Every version of the records and accounts of `keys`, oldest first per record or account.
    pub fn versions_of(
        &self,
        keys: &PersonKeys,
    ) -> Result<(Vec<RecordVersion>, Vec<AccountVersion>), StoreError> {
        let err = |c| self.err(c);
        let (record_keys, account_keys) = (&keys.records, &keys.accounts);
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
        for (dir, scim) in record_keys {
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
        for id in account_keys {
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

    /// Every version of the IdP users of `keys`, oldest first per user; a row this build cannot
    /// read keeps its columns and drops what only its JSON holds (how the user is assigned).
    pub fn idp_versions_of(&self, keys: &PersonKeys) -> Result<Vec<IdpUserVersion>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT s.started_at, e.started_at, v.enabled, v.intended, v.deleted, v.email,
                        v.user_principal_name, v.raw
                 FROM idp_user_versions v JOIN snapshots s ON s.id = v.valid_from
                 LEFT JOIN snapshots e ON e.id = v.valid_to
                 WHERE v.directory_id = ?1 AND v.user_id = ?2 ORDER BY v.valid_from",
            )
            .map_err(self.err("cannot read the IdP user history"))?;
        let mut out = Vec::new();
        for (dir, user) in &keys.idp_users {
            let rows = stmt
                .query_map(params![dir, user], |r| {
                    let raw: String = r.get(7)?;
                    let parsed = serde_json::from_str::<IdpUser>(&raw).ok();
                    Ok(IdpUserVersion {
                        directory_id: dir.clone(),
                        user_id: user.clone(),
                        from: r.get(0)?,
                        to: r.get(1)?,
                        enabled: r.get(2)?,
                        intended: r.get(3)?,
                        deleted: r.get(4)?,
                        email: r.get(5)?,
                        user_principal_name: r.get(6)?,
                        assigned_directly: parsed.as_ref().is_some_and(|u| u.assigned_directly),
                        groups: parsed.map(|u| u.groups).unwrap_or_default(),
                    })
                })
                .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
                .map_err(self.err("cannot read the IdP user history"))?;
            out.extend(rows);
        }
        Ok(out)
    }

    /// The stored provisioning events of one IdP user, oldest first (a row this build cannot
    /// read is skipped).
    pub fn idp_events_of(
        &self,
        directory_id: &str,
        user_id: &str,
    ) -> Result<Vec<ProvisioningEvent>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT raw FROM idp_events WHERE directory_id = ?1 AND user_id = ?2 ORDER BY at, id",
            )
            .map_err(self.err("cannot read the IdP provisioning events"))?;
        let raws: Vec<String> = stmt
            .query_map(params![directory_id, user_id], |r| r.get(0))
            .and_then(|rows| rows.collect())
            .map_err(self.err("cannot read the IdP provisioning events"))?;
        Ok(raws
            .iter()
            .filter_map(|raw| serde_json::from_str(raw).ok())
            .collect())
    }
}
