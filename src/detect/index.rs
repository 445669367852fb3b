//! Indexes built once per detection run, so every detector is linear in the population.

use std::collections::{HashMap, HashSet};

use super::Input;
use crate::model::{Account, ScimRecord, normalize_email};

/// Look-ups over one snapshot.
pub struct Index<'a> {
    pub records: &'a [ScimRecord],
    pub accounts: &'a [Account],
    pub account_by_id: HashMap<&'a str, &'a Account>,
    /// Normalized email → accounts holding it.
    pub accounts_by_email: HashMap<String, Vec<&'a Account>>,
    /// Normalized email → records carrying it.
    pub records_by_email: HashMap<String, Vec<&'a ScimRecord>>,
    /// Account id → records linked to it (any directory).
    pub records_by_account: HashMap<&'a str, Vec<&'a ScimRecord>>,
    /// (directory id, SCIM id) of records that are in at least one synced group.
    pub grouped: HashSet<(&'a str, &'a str)>,
}

impl<'a> Index<'a> {
    /// Builds every index in one pass over each list.
    pub fn build(input: &Input<'a>) -> Self {
        let mut index = Index {
            records: input.records,
            accounts: input.accounts,
            account_by_id: HashMap::with_capacity(input.accounts.len()),
            accounts_by_email: HashMap::with_capacity(input.accounts.len()),
            records_by_email: HashMap::with_capacity(input.records.len()),
            records_by_account: HashMap::with_capacity(input.records.len()),
            grouped: HashSet::new(),
        };
        for a in input.accounts {
            index.account_by_id.insert(&a.account_id, a);
            if let Some(email) = &a.email {
                index
                    .accounts_by_email
                    .entry(normalize_email(email))
                    .or_default()
                    .push(a);
            }
        }
        for r in input.records {
            if let Some(email) = &r.email {
                index
                    .records_by_email
                    .entry(normalize_email(email))
                    .or_default()
                    .push(r);
            }
            if let Some(account) = &r.account_id {
                index.records_by_account.entry(account).or_default().push(r);
            }
            if !r.groups.is_empty() {
                index.grouped.insert((&r.directory_id, &r.scim_id));
            }
        }
        for g in input.groups {
            for m in &g.members {
                index.grouped.insert((&g.directory_id, m));
            }
        }
        index
    }

    /// The account a record links to, when the org has it.
    pub fn linked_account(&self, r: &ScimRecord) -> Option<&'a Account> {
        r.account_id
            .as_deref()
            .and_then(|id| self.account_by_id.get(id).copied())
    }
}
