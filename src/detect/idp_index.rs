//! The IdP side of one directory, indexed once per run, and its join with the directory's SCIM
//! records (idp-api.md §3: the SCIM `id` the IdP provisioned (Okta), then `externalId`, then
//! `userName` case-insensitively, then email).

use std::collections::{HashMap, HashSet};

use super::Index;
use crate::model::compact::{Acct, Rec};
use crate::model::idp::{IdpSide, IdpUser, ProvisioningEvent};
use crate::model::{ScimGroup, normalize_email, normalized_email};

/// The IdP side of one directory whose IdP pull is complete, with what the store knows of it.
#[derive(Debug, Clone)]
pub struct IdpInput {
    pub side: IdpSide,
    /// The latest stored provisioning event per IdP user id (of every log read so far).
    pub latest_events: HashMap<String, ProvisioningEvent>,
    /// The log was read this pull: log-derived kinds (`provisioning_error`) are evaluated. When
    /// not, they stay as they were, and what explains the other kinds is the latest stored event.
    pub logs_known: bool,
    /// Every IdP user id an earlier complete IdP pull of this directory saw: one gone now was
    /// deleted in the IdP.
    pub ever_seen: HashSet<String>,
}

/// Which key joined a SCIM record to an IdP user; a weaker one than `externalId` is said in the
/// finding (the IdP may have re-created the user).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum JoinKey {
    /// The record's SCIM `id` is the one the IdP says it provisioned (Okta app user
    /// `externalId`).
    ScimId,
    ExternalId,
    UserName,
    Email,
}

impl JoinKey {
    /// The SCIM attribute, as a finding's detail names it.
    pub fn as_str(self) -> &'static str {
        match self {
            JoinKey::ScimId => "id",
            JoinKey::ExternalId => "externalId",
            JoinKey::UserName => "userName",
            JoinKey::Email => "email",
        }
    }

    /// Joined by a key the IdP itself names: the SCIM `id` it provisioned, or the `externalId`.
    pub fn strong(self) -> bool {
        matches!(self, JoinKey::ScimId | JoinKey::ExternalId)
    }

    /// ` (matched by userName, not externalId)` for a weaker key; empty for `id` and
    /// `externalId`.
    pub fn note(self) -> String {
        match self {
            JoinKey::ScimId | JoinKey::ExternalId => String::new(),
            k => format!(" (matched by {}, not externalId)", k.as_str()),
        }
    }
}

/// Look-ups over one directory's IdP side and SCIM records.
pub struct IdpIndex<'a> {
    pub input: &'a IdpInput,
    pub directory_id: &'a str,
    /// IdP users by id.
    pub users: HashMap<&'a str, &'a IdpUser>,
    /// The directory's records (their link known or not), each with the IdP user it joins, if any.
    pub records: Vec<(Rec<'a>, Option<(&'a IdpUser, JoinKey)>)>,
    /// IdP user id → the records joined to it.
    pub records_of: HashMap<&'a str, Vec<(Rec<'a>, JoinKey)>>,
    /// Every record of the directory, a user's stale second record included.
    pub all: Vec<Rec<'a>>,
    /// The directory's SCIM groups.
    pub scim_groups: Vec<&'a ScimGroup>,
    /// The pushed IdP groups, joined to the SCIM groups (scenarios.md "Group findings").
    pub groups: Vec<super::PushedGroup<'a>>,
}

impl<'a> IdpIndex<'a> {
    /// Indexes `input` and joins it with `index`'s records of the same directory.
    pub fn build(input: &'a IdpInput, index: &Index<'a>) -> Self {
        let side = &input.side;
        let mut users = HashMap::with_capacity(side.users.len());
        let mut by_external: HashMap<&str, &IdpUser> = HashMap::with_capacity(side.users.len());
        let mut by_scim_id: HashMap<&str, &IdpUser> = HashMap::new();
        let mut by_user_name: HashMap<String, &IdpUser> = HashMap::new();
        let mut by_email: HashMap<String, &IdpUser> = HashMap::new();
        for u in &side.users {
            users.insert(u.id.as_str(), u);
            by_external.insert(u.scim_external_id.as_deref().unwrap_or(&u.id), u);
            if let Some(id) = u.scim_id.as_deref().filter(|id| !id.trim().is_empty()) {
                by_scim_id.insert(id, u);
            }
            if let Some(n) = &u.scim_user_name {
                by_user_name.entry(n.trim().to_lowercase()).or_insert(u);
            }
            if let Some(e) = &u.email {
                by_email.entry(normalize_email(e)).or_insert(u);
            }
        }
        let mut records = Vec::new();
        let mut records_of: HashMap<&str, Vec<(Rec, JoinKey)>> = HashMap::new();
        for r in index
            .all_records
            .iter()
            .filter(|r| r.directory_id() == side.directory_id)
        {
            let joined = by_scim_id
                .get(r.scim_id())
                .map(|u| (*u, JoinKey::ScimId))
                .or_else(|| {
                    r.external_id()
                        .and_then(|x| by_external.get(x))
                        .map(|u| (*u, JoinKey::ExternalId))
                })
                .or_else(|| {
                    by_user_name
                        .get(&r.user_name().trim().to_lowercase())
                        .map(|u| (*u, JoinKey::UserName))
                })
                .or_else(|| {
                    r.email_key()
                        .and_then(|e| by_email.get(e))
                        .map(|u| (*u, JoinKey::Email))
                });
            if let Some((u, key)) = joined {
                records_of.entry(u.id.as_str()).or_default().push((r, key));
            }
            records.push((r, joined));
        }
        let all = records.iter().map(|(r, _)| *r).collect();
        // A user's own record is the one joined by the strongest key: a second record a weaker key
        // also matched (a stale record sharing the userName) is no IdP kind's, it is
        // `duplicate_email`'s (scenarios.md, "IdP findings").
        for list in records_of.values_mut() {
            let best = list.iter().map(|(_, k)| *k).min();
            list.retain(|(_, k)| Some(*k) == best);
        }
        records.retain(|(r, joined)| match joined {
            Some((u, _)) => records_of
                .get(u.id.as_str())
                .is_some_and(|own| own.iter().any(|(o, _)| o == r)),
            None => true,
        });
        let scim_groups: Vec<&ScimGroup> = index
            .groups
            .iter()
            .filter(|g| g.directory_id == side.directory_id)
            .collect();
        IdpIndex {
            input,
            directory_id: &side.directory_id,
            users,
            records,
            records_of,
            all,
            groups: super::group_join::pushed(side, &scim_groups),
            scim_groups,
        }
    }

    /// The person account holding the user's email, if any.
    pub fn account_of<'i>(&self, u: &IdpUser, index: &Index<'i>) -> Option<Acct<'i>> {
        let email = normalized_email(u.email.as_deref()?);
        index.accounts_by_email.get(&*email)?.first().copied()
    }

    /// Intended and enabled: the IdP means to provision the user now.
    pub fn wanted(u: &IdpUser) -> bool {
        u.intended && u.enabled == Some(true) && !u.deleted
    }
}

/// A short label for an IdP user: its email, else its UPN, else its id.
pub fn label(u: &IdpUser) -> &str {
    u.email
        .as_deref()
        .or(u.user_principal_name.as_deref())
        .unwrap_or(&u.id)
}
