//! The simulated organization's data: SCIM directories (users and groups) and the org's accounts.
//!
//! These types belong to the simulator alone (it fakes an external system); the wire format is
//! produced from them by the route modules. Seeded worlds: [`World::scenarios`] (the drift
//! scenarios of `shared/scenarios.md` plus a healthy population), [`World::idp_scenarios`] (plus
//! the IdP scenarios), [`World::healthy`] and [`World::healthy_with_entra`].

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, SubsecRound, Utc};
use serde::Serialize;

pub(crate) mod entra;
pub(crate) mod okta;

use entra::SimEntra;
use okta::SimOkta;

/// Atlassian caps a SCIM group at this many members; generated groups respect it.
pub const GROUP_MEMBER_LIMIT: usize = 20_000;

/// One `emails[]` entry of a SCIM user.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SimEmail {
    pub value: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub primary: bool,
}

impl SimEmail {
    /// A primary work email.
    pub fn work(value: impl Into<String>) -> Self {
        Self {
            value: value.into(),
            kind: "work".into(),
            primary: true,
        }
    }
}

/// The SCIM `name` complex attribute.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SimName {
    pub given_name: String,
    pub family_name: String,
    pub formatted: String,
}

/// One entry of a SCIM user's own `groups` attribute.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SimGroupRef {
    pub value: String,
    pub display: String,
    #[serde(rename = "type")]
    pub kind: String,
}

/// One entry of a SCIM group's `members` attribute.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SimMember {
    /// The member's SCIM user id.
    pub value: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
}

/// A SCIM user record as the identity provider pushed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimUser {
    /// SCIM id (not the account id).
    pub id: String,
    pub external_id: Option<String>,
    pub user_name: String,
    pub emails: Vec<SimEmail>,
    pub name: Option<SimName>,
    pub display_name: Option<String>,
    /// `None` serves a record without the `active` attribute.
    pub active: Option<bool>,
    /// The user's own `groups` attribute; `None` omits it. Membership proper lives in
    /// [`SimGroup::members`].
    pub groups: Option<Vec<SimGroupRef>>,
    pub created: DateTime<Utc>,
    pub last_modified: DateTime<Utc>,
    /// The link to an Atlassian account; `None` means unlinked.
    pub atlassian_account_id: Option<String>,
}

impl SimUser {
    /// An active, unlinked user whose `userName` and primary email are `email`.
    pub fn new(
        id: impl Into<String>,
        email: &str,
        given: &str,
        family: &str,
        created: DateTime<Utc>,
    ) -> Self {
        let formatted = format!("{given} {family}");
        Self {
            id: id.into(),
            external_id: None,
            user_name: email.to_owned(),
            emails: vec![SimEmail::work(email)],
            name: Some(SimName {
                given_name: given.to_owned(),
                family_name: family.to_owned(),
                formatted: formatted.clone(),
            }),
            display_name: Some(formatted),
            active: Some(true),
            groups: Some(Vec::new()),
            created,
            last_modified: created,
            atlassian_account_id: None,
        }
    }

    /// Whether any of the user's emails (or an email-like `userName`) equals `email`, compared
    /// trimmed and case-insensitively.
    pub fn has_email(&self, email: &str) -> bool {
        let wanted = normalize_email(email);
        self.emails
            .iter()
            .any(|e| normalize_email(&e.value) == wanted)
            || (self.user_name.contains('@') && normalize_email(&self.user_name) == wanted)
    }
}

/// A SCIM group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimGroup {
    pub id: String,
    pub display_name: String,
    pub external_id: Option<String>,
    pub members: Vec<SimMember>,
    pub created: DateTime<Utc>,
    pub last_modified: DateTime<Utc>,
}

/// One SCIM directory of the org (one per identity provider) with its API key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimDirectory {
    pub id: String,
    pub name: String,
    /// The directory API key, accepted only on this directory's SCIM endpoints.
    pub token: String,
    pub users: Vec<SimUser>,
    pub groups: Vec<SimGroup>,
}

impl SimDirectory {
    /// The user with SCIM id `id`.
    pub fn user(&self, id: &str) -> Option<&SimUser> {
        self.users.iter().find(|u| u.id == id)
    }

    /// The user with SCIM id `id`, mutable.
    pub fn user_mut(&mut self, id: &str) -> Option<&mut SimUser> {
        self.users.iter_mut().find(|u| u.id == id)
    }

    /// Adds user `user` to group `group` (both indexes), on both sides of the membership.
    pub fn add_member(&mut self, group: usize, user: usize) {
        let (Some(g), Some(u)) = (self.groups.get_mut(group), self.users.get_mut(user)) else {
            return;
        };
        g.members.push(SimMember {
            value: u.id.clone(),
            display: u.display_name.clone(),
        });
        u.groups.get_or_insert_with(Vec::new).push(SimGroupRef {
            value: g.id.clone(),
            display: g.display_name.clone(),
            kind: "direct".into(),
        });
    }

    /// Removes the user with SCIM id `id` and its group memberships; returns the removed record.
    pub fn remove_user(&mut self, id: &str, now: DateTime<Utc>) -> Option<SimUser> {
        let pos = self.users.iter().position(|u| u.id == id)?;
        let user = self.users.remove(pos);
        for group in &mut self.groups {
            let before = group.members.len();
            group.members.retain(|m| m.value != id);
            if group.members.len() != before {
                group.last_modified = now;
            }
        }
        Some(user)
    }
}

/// An account of the org, as the Organizations API v2 lists it. Enum-like fields are strings so
/// a test can serve unknown values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimAccount {
    pub account_id: String,
    pub account_type: String,
    /// `active` | `inactive` (deactivated) | `closed`.
    pub account_status: String,
    /// `active` | `suspended` | `no_membership`.
    pub membership_status: String,
    /// `active` | `suspended` | `not_invited` | `deactivated` | `for_deletion`.
    pub status: String,
    /// `managed` | `unmanaged`.
    pub claim_status: String,
    /// `synced` | `invited` | `None` (served as null).
    pub management_source: Option<String>,
    /// `None` serves an account whose email is hidden (field absent).
    pub email: Option<String>,
    pub name: String,
    pub nickname: String,
    pub added_to_org: DateTime<Utc>,
    pub deactivated_on: Option<DateTime<Utc>>,
    pub for_deletion: bool,
}

impl SimAccount {
    /// An active, managed account synced from an IdP.
    pub fn managed(id: impl Into<String>, email: &str, name: &str, added: DateTime<Utc>) -> Self {
        let nickname = email.split('@').next().unwrap_or_default().to_lowercase();
        Self {
            account_id: id.into(),
            account_type: "atlassian".into(),
            account_status: "active".into(),
            membership_status: "active".into(),
            status: "active".into(),
            claim_status: "managed".into(),
            management_source: Some("synced".into()),
            email: Some(email.to_owned()),
            name: name.to_owned(),
            nickname,
            added_to_org: added.trunc_subsecs(0),
            deactivated_on: None,
            for_deletion: false,
        }
    }

    /// Whether the account has product access (active account, active membership).
    pub fn has_access(&self) -> bool {
        self.account_status == "active" && self.membership_status == "active"
    }

    /// Whether the org manages the account (its email domain is verified).
    pub fn is_managed(&self) -> bool {
        self.claim_status == "managed"
    }

    /// Deactivates the account, as an admin or a SCIM delete does.
    pub fn deactivate(&mut self, at: DateTime<Utc>) {
        self.account_status = "inactive".into();
        self.status = "deactivated".into();
        self.deactivated_on = Some(at.trunc_subsecs(0));
    }

    /// Reactivates a deactivated account.
    pub fn reactivate(&mut self) {
        self.account_status = "active".into();
        self.deactivated_on = None;
        self.status = self.derived_status().into();
    }

    /// Suspends the account's product access (reversible).
    pub fn suspend(&mut self) {
        self.membership_status = "suspended".into();
        self.status = "suspended".into();
    }

    /// Restores suspended access.
    pub fn restore(&mut self) {
        self.membership_status = "active".into();
        self.status = self.derived_status().into();
    }

    fn derived_status(&self) -> &'static str {
        if self.account_status != "active" {
            "deactivated"
        } else if self.membership_status == "suspended" {
            "suspended"
        } else {
            "active"
        }
    }
}

/// The whole simulated org. `labels` maps scenario labels (`D1`, `R1`, `A1`, `G1`, …) to ids.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct World {
    pub org_id: String,
    /// The org API key, accepted by every non-SCIM endpoint.
    pub org_api_key: String,
    pub directories: Vec<SimDirectory>,
    pub accounts: Vec<SimAccount>,
    /// Domains the org verified: `manage/email` accepts only these (any domain when empty).
    pub verified_domains: Vec<String>,
    pub labels: BTreeMap<String, String>,
    /// Entra ID tenants, each provisioning into one of `directories` (served under `/graph/v1.0`
    /// and `/entra-login`).
    pub entra: Vec<SimEntra>,
    /// Okta orgs, each provisioning into one of `directories` (served under `/okta/{org}`).
    pub okta: Vec<SimOkta>,
}

impl World {
    /// An org without directories or accounts; ids and keys derive from `seed`.
    pub fn empty(seed: u64) -> Self {
        let ids = IdGen::new(seed, 0);
        Self {
            org_id: ids.uuid(0),
            org_api_key: format!("sim-org-key-{:016x}", ids.raw(1)),
            directories: Vec::new(),
            accounts: Vec::new(),
            verified_domains: vec!["example.com".into(), "example.org".into()],
            labels: BTreeMap::new(),
            entra: Vec::new(),
            okta: Vec::new(),
        }
    }

    /// Adds an empty directory named `name`; returns its index.
    pub fn add_directory(&mut self, name: &str, seed: u64) -> usize {
        let index = self.directories.len() as u64;
        let ids = IdGen::new(seed, 1);
        self.directories.push(SimDirectory {
            id: ids.uuid(index),
            name: name.to_owned(),
            token: format!("sim-dir-key-{name}-{:016x}", ids.raw(index + 1000)),
            users: Vec::new(),
            groups: Vec::new(),
        });
        self.directories.len() - 1
    }

    /// Adds an empty group to directory `dir`; returns its index.
    pub fn add_group(&mut self, dir: usize, name: &str, seed: u64, now: DateTime<Utc>) -> usize {
        let Some(directory) = self.directories.get_mut(dir) else {
            return 0;
        };
        let ids = IdGen::new(seed, 2 + dir as u64);
        let index = directory.groups.len() as u64;
        let created = now - Duration::days(900 + index as i64) - Duration::microseconds(4_321);
        directory.groups.push(SimGroup {
            id: ids.uuid(index),
            display_name: name.to_owned(),
            external_id: Some(ids.uuid(index + 10_000)),
            members: Vec::new(),
            created,
            last_modified: created,
        });
        directory.groups.len() - 1
    }

    /// A healthy org of `users` people in one directory named `entra`: each SCIM record active,
    /// linked to an active managed account with the same email, and in a group.
    pub fn healthy(users: usize, seed: u64, now: DateTime<Utc>) -> Self {
        let mut world = Self::empty(seed);
        let dir = world.add_directory("entra", seed);
        world.add_healthy(dir, users, seed, 0, "example.com", now);
        world
            .labels
            .insert("D1".into(), world.directories[dir].id.clone());
        world
    }

    /// The Okta org provisioning `directory_id`.
    pub fn okta_for_mut(&mut self, directory_id: &str) -> Option<&mut SimOkta> {
        self.okta
            .iter_mut()
            .find(|o| o.directory_id == directory_id)
    }

    /// The Entra tenant provisioning into directory `directory_id`.
    pub fn entra_for(&self, directory_id: &str) -> Option<&SimEntra> {
        self.entra.iter().find(|t| t.directory_id == directory_id)
    }

    /// The Entra tenant provisioning into directory `directory_id`, mutable.
    pub fn entra_for_mut(&mut self, directory_id: &str) -> Option<&mut SimEntra> {
        self.entra
            .iter_mut()
            .find(|t| t.directory_id == directory_id)
    }

    /// Appends `count` healthy people to directory `dir`: SCIM records, their accounts, and
    /// groups of at most [`GROUP_MEMBER_LIMIT`] members (new groups named `all-staff-N`).
    /// `stream` separates populations generated with the same seed; emails use `domain`.
    pub fn add_healthy(
        &mut self,
        dir: usize,
        count: usize,
        seed: u64,
        stream: u64,
        domain: &str,
        now: DateTime<Utc>,
    ) {
        if dir >= self.directories.len() || count == 0 {
            return;
        }
        let ids = IdGen::new(seed, 100 + stream);
        let first_group = self.directories[dir].groups.len();
        for g in 0..count.div_ceil(GROUP_MEMBER_LIMIT) {
            let name = format!("all-staff-{}", first_group + g + 1);
            self.add_group(dir, &name, seed ^ (stream << 32), now);
        }
        self.accounts.reserve(count);
        let directory = &mut self.directories[dir];
        directory.users.reserve(count);
        for i in 0..count {
            let (user, account) = healthy_person(&ids, i as u64, domain, now);
            directory.users.push(user);
            self.accounts.push(account);
            let user_index = directory.users.len() - 1;
            directory.add_member(first_group + i / GROUP_MEMBER_LIMIT, user_index);
            apply_group_variety(&mut directory.users[user_index], i);
        }
    }

    /// The id a scenario label stands for.
    pub fn label(&self, label: &str) -> Option<&str> {
        self.labels.get(label).map(String::as_str)
    }

    /// The directory with id `id`.
    pub fn directory(&self, id: &str) -> Option<&SimDirectory> {
        self.directories.iter().find(|d| d.id == id)
    }

    /// The directory with id `id`, mutable.
    pub fn directory_mut(&mut self, id: &str) -> Option<&mut SimDirectory> {
        self.directories.iter_mut().find(|d| d.id == id)
    }

    /// The account with id `id`.
    pub fn account(&self, id: &str) -> Option<&SimAccount> {
        self.accounts.iter().find(|a| a.account_id == id)
    }

    /// The account with id `id`, mutable.
    pub fn account_mut(&mut self, id: &str) -> Option<&mut SimAccount> {
        self.accounts.iter_mut().find(|a| a.account_id == id)
    }

    /// The SCIM user with id `id` in any directory.
    pub fn user(&self, id: &str) -> Option<&SimUser> {
        self.directories.iter().find_map(|d| d.user(id))
    }

    /// The SCIM user with id `id` in any directory, mutable.
    pub fn user_mut(&mut self, id: &str) -> Option<&mut SimUser> {
        self.directories.iter_mut().find_map(|d| d.user_mut(id))
    }

    /// The SCIM user a label (`R1`…) stands for.
    pub fn labelled_user(&self, label: &str) -> Option<&SimUser> {
        self.user(self.label(label)?)
    }

    /// The account a label (`A1`…) stands for.
    pub fn labelled_account(&self, label: &str) -> Option<&SimAccount> {
        self.account(self.label(label)?)
    }

    /// Whether `email`'s domain is one the org verified.
    pub fn is_verified_domain(&self, email: &str) -> bool {
        let domain = email.rsplit_once('@').map(|(_, d)| d.to_lowercase());
        self.verified_domains.is_empty()
            || domain.is_some_and(|d| {
                self.verified_domains
                    .iter()
                    .any(|v| v.eq_ignore_ascii_case(&d))
            })
    }
}

/// Trimmed, lower-cased email, the way scenarios.md compares them.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// Deterministic, collision-free ids: `raw(i)` is a bijection of `i` for a given seed and stream.
#[derive(Clone, Copy, Debug)]
pub(crate) struct IdGen {
    base: u64,
}

impl IdGen {
    pub(crate) fn new(seed: u64, stream: u64) -> Self {
        Self {
            base: mix(seed ^ mix(stream.wrapping_add(0x5eed))),
        }
    }

    pub(crate) fn raw(self, i: u64) -> u64 {
        mix(self.base.wrapping_add(i))
    }

    /// A UUID-like id (version 4 layout) unique per `i`.
    pub(crate) fn uuid(self, i: u64) -> String {
        let a = self.raw(i);
        let b = mix(a ^ 0x9e37_79b9_7f4a_7c15);
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:04x}{:08x}",
            a >> 32,
            (a >> 16) & 0xffff,
            b >> 52,
            0x8000 | ((b >> 32) & 0x3fff),
            a & 0xffff,
            b & 0xffff_ffff,
        )
    }

    /// An account id: usually 24 hex digits, sometimes the older `557058:<uuid>` form.
    pub(crate) fn account_id(self, i: u64) -> String {
        if i % 10 == 3 {
            format!("557058:{}", self.uuid(i))
        } else {
            let a = self.raw(i);
            format!("{a:016x}{:08x}", mix(a) as u32)
        }
    }
}

/// SplitMix64's finalizer: a bijection on `u64` with good diffusion.
pub(crate) fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

const GIVEN: [&str; 16] = [
    "Aiko", "Bruno", "Chloe", "Dmitri", "Esther", "Farid", "Greta", "Hiro", "Ines", "Jonas",
    "Kofi", "Lena", "Mateo", "Nadia", "Omar", "Priya",
];
const FAMILY: [&str; 16] = [
    "Andersen", "Baptiste", "Chen", "Dubois", "Eriksen", "Fischer", "Garcia", "Haddad", "Ivanova",
    "Jensen", "Kowalski", "Lopez", "Moreau", "Nakamura", "Okafor", "Petrov",
];

/// One healthy person: an active record linked to an active managed account with the same email.
/// Variety that must stay healthy: mixed-case emails on the SCIM side, `557058:` account ids,
/// millisecond timestamps, non-email `userName`s.
fn healthy_person(ids: &IdGen, i: u64, domain: &str, now: DateTime<Utc>) -> (SimUser, SimAccount) {
    let h = mix(ids.raw(i));
    let given = GIVEN[(h & 15) as usize];
    let family = FAMILY[((h >> 4) & 15) as usize];
    let email = format!(
        "{}.{}{i}@{domain}",
        given.to_lowercase(),
        family.to_lowercase()
    );
    let mut created = now
        - Duration::days(30 + (h >> 8) as i64 % 1500)
        - Duration::seconds((h >> 20) as i64 % 86_400)
        - Duration::microseconds((h >> 40) as i64 % 1_000_000);
    if i.is_multiple_of(5) {
        created = created.trunc_subsecs(3);
    }
    let account_id = ids.account_id(i);

    let mut user = SimUser::new(ids.uuid(i), &email, given, family, created);
    user.external_id = Some(ids.uuid(i + (1 << 40)));
    user.last_modified = created + Duration::days((h >> 50) as i64 % 25);
    user.atlassian_account_id = Some(account_id.clone());
    if i % 13 == 7 {
        let shouty = format!("{given}.{family}{i}@{}", domain.to_uppercase());
        user.emails[0].value = shouty.clone();
        user.user_name = shouty;
    } else if i % 17 == 11 {
        user.user_name = format!("{}{i}", given.to_lowercase());
    }
    let account = SimAccount::managed(account_id, &email, &format!("{given} {family}"), created);
    (user, account)
}

/// Lenient shapes of a member's own `groups` attribute: absent or empty (membership still comes
/// from the group's `members`).
fn apply_group_variety(user: &mut SimUser, i: usize) {
    match i % 19 {
        5 => user.groups = None,
        9 => user.groups = Some(Vec::new()),
        _ => {}
    }
}
