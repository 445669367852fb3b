//! Detection's compact copy of one pull's SCIM records and accounts (issue 24, item 2): every
//! string in a few 1 MiB chunks, each field an 8-byte handle, repeated values (directory ids,
//! statuses, account types, group ids) stored once, the normalized email computed once as the
//! record arrives. About 290 bytes per record and 150 per account, where a [`ScimRecord`] and an
//! [`Account`] with their owned strings take 650 and 420.
//!
//! [`Rec`] and [`Acct`] are copyable handles with one accessor per field. What neither detection
//! nor the findings' views read (a record's `created`; an account's `added_to_org`,
//! `deactivated_on`, `management_source`) is not kept: it stays in the store.

use super::{Account, ScimRecord, normalized_email};

type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

/// A string of an [`Arena`]: a packed position (chunk number << 20 | offset) and a length, or
/// an index into the arena's list of large strings, or none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Str {
    at: u32,
    len: u32,
}

impl Str {
    const NONE: Str = Str {
        at: u32::MAX,
        len: u32::MAX,
    };
    /// `len` of a string kept whole in [`Arena::large`] (`at` is its index there).
    const LARGE: u32 = u32::MAX - 1;
}

/// Strings appended to fixed chunks that never move (no doubling, no copy as it grows).
#[derive(Debug, Default)]
struct Arena {
    chunks: Vec<String>,
    /// Strings too long for a chunk (over a quarter of one), or past 4 GiB of chunks.
    large: Vec<Box<str>>,
    /// Values stored once (directory ids, statuses, group ids): a few thousand at most.
    interned: FastMap<Box<str>, Str>,
}

const CHUNK_BITS: u32 = 20;
const CHUNK: usize = 1 << CHUNK_BITS;
const MAX_CHUNKS: usize = (u32::MAX >> CHUNK_BITS) as usize;

impl Arena {
    fn push(&mut self, s: &str) -> Str {
        if s.len() <= CHUNK / 4 {
            // Within CHUNK, whatever capacity the allocator gave: offsets stay below 2^20.
            let room = self
                .chunks
                .last()
                .is_some_and(|c| CHUNK - c.len() >= s.len());
            if !room && self.chunks.len() < MAX_CHUNKS {
                self.chunks.push(String::with_capacity(CHUNK));
            }
            let n = self.chunks.len();
            if let Some(c) = self.chunks.last_mut()
                && CHUNK - c.len() >= s.len()
            {
                let at = ((n - 1) << CHUNK_BITS | c.len()) as u32;
                c.push_str(s);
                return Str {
                    at,
                    len: s.len() as u32,
                };
            }
        }
        self.large.push(s.into());
        Str {
            at: (self.large.len() - 1) as u32,
            len: Str::LARGE,
        }
    }

    fn push_opt(&mut self, s: Option<&str>) -> Str {
        s.map_or(Str::NONE, |s| self.push(s))
    }

    /// `s` stored once however often it is pushed this way.
    fn intern(&mut self, s: &str) -> Str {
        if let Some(h) = self.interned.get(s) {
            return *h;
        }
        let h = self.push(s);
        self.interned.insert(s.into(), h);
        h
    }

    fn intern_opt(&mut self, s: Option<&str>) -> Str {
        s.map_or(Str::NONE, |s| self.intern(s))
    }

    fn get(&self, h: Str) -> Option<&str> {
        match h.len {
            u32::MAX => None,
            Str::LARGE => Some(&self.large[h.at as usize]),
            len => {
                let chunk = &self.chunks[(h.at >> CHUNK_BITS) as usize];
                let start = (h.at & ((1 << CHUNK_BITS) - 1)) as usize;
                Some(&chunk[start..start + len as usize])
            }
        }
    }

    fn str(&self, h: Str) -> &str {
        self.get(h).unwrap_or_default()
    }

    /// The normalized form of `email` ([`normalized_email`]): the same handle when it already is.
    fn email_key(&mut self, email: Option<&str>, stored: Str) -> Str {
        match email.map(normalized_email) {
            None => Str::NONE,
            Some(std::borrow::Cow::Borrowed(_)) => stored,
            Some(std::borrow::Cow::Owned(n)) => self.push(&n),
        }
    }
}

/// Rows of one kind with their strings: [`Records`] or [`Accounts`].
#[derive(Debug)]
pub struct Table<R> {
    arena: Arena,
    rows: Vec<R>,
    /// The fields each row could not read, for the few rows that have any (by row).
    unknown: FastMap<u32, Vec<String>>,
    /// The group ids of records' own `groups` attributes (none for accounts).
    group_ids: Vec<Str>,
}

impl<R> Default for Table<R> {
    fn default() -> Self {
        Table {
            arena: Arena::default(),
            rows: Vec::new(),
            unknown: FastMap::default(),
            group_ids: Vec::new(),
        }
    }
}

/// A compact row: whether it has unknown fields (kept beside the rows).
pub trait Row {
    fn has_unknown(&self) -> bool;
}

impl<R: Row> Table<R> {
    /// Room for `n` more rows.
    pub fn reserve_exact(&mut self, n: usize) {
        self.rows.reserve_exact(n);
    }

    /// Adds `row`, whose unread fields are `unknown`.
    fn add(&mut self, row: R, unknown: &[String]) {
        if row.has_unknown() {
            self.unknown
                .insert(self.rows.len() as u32, unknown.to_vec());
        }
        self.rows.push(row);
    }

    /// Done pushing: the interning table goes.
    pub fn finish(&mut self) {
        self.arena.interned = FastMap::default();
        self.rows.shrink_to_fit();
        self.group_ids.shrink_to_fit();
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Every row, in the order they arrived.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = Handle<'_, R>> + Clone {
        (0..self.rows.len() as u32).map(move |i| Handle { of: self, i })
    }
}

/// One row of a [`Table`]: a copyable handle ([`Rec`], [`Acct`]), one accessor per field.
pub struct Handle<'a, R> {
    of: &'a Table<R>,
    i: u32,
}

impl<R> Clone for Handle<'_, R> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<R> Copy for Handle<'_, R> {}

impl<R> PartialEq for Handle<'_, R> {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self.of, other.of) && self.i == other.i
    }
}

impl<R> Eq for Handle<'_, R> {}

impl<'a, R: Row> Handle<'a, R> {
    fn row(self) -> &'a R {
        &self.of.rows[self.i as usize]
    }

    fn s(self, h: Str) -> &'a str {
        self.of.arena.str(h)
    }

    fn opt(self, h: Str) -> Option<&'a str> {
        self.of.arena.get(h)
    }

    /// The fields this pull could not read ([`ScimRecord::unknown`], [`Account::unknown`]).
    pub fn unknown(self) -> &'a [String] {
        if !self.row().has_unknown() {
            return &[];
        }
        self.of.unknown.get(&self.i).map_or(&[], Vec::as_slice)
    }
}

#[derive(Debug)]
pub struct RecordRow {
    directory_id: Str,
    scim_id: Str,
    external_id: Str,
    user_name: Str,
    email: Str,
    email_key: Str,
    display_name: Str,
    account_id: Str,
    last_modified: Str,
    /// This record's group ids: `group_ids[groups.0..groups.0 + groups.1]`.
    groups: (u32, u32),
    active: Option<bool>,
    link_unknown: bool,
    has_unknown: bool,
}

impl Row for RecordRow {
    fn has_unknown(&self) -> bool {
        self.has_unknown
    }
}

/// The SCIM records of one snapshot, compact (see the module).
pub type Records = Table<RecordRow>;

/// One record of [`Records`]: one accessor per field of [`ScimRecord`].
pub type Rec<'a> = Handle<'a, RecordRow>;

impl Records {
    /// Keeps what detection and the views read of `r`.
    pub fn push(&mut self, r: &ScimRecord) {
        let a = &mut self.arena;
        let email = a.push_opt(r.email.as_deref());
        let at = self.group_ids.len() as u32;
        for g in &r.groups {
            let g = a.intern(g);
            self.group_ids.push(g);
        }
        let row = RecordRow {
            directory_id: a.intern(&r.directory_id),
            scim_id: a.push(&r.scim_id),
            external_id: a.push_opt(r.external_id.as_deref()),
            user_name: a.push(&r.user_name),
            email_key: a.email_key(r.email.as_deref(), email),
            email,
            display_name: a.push_opt(r.display_name.as_deref()),
            account_id: a.push_opt(r.account_id.as_deref()),
            last_modified: a.push_opt(r.last_modified.as_deref()),
            groups: (at, r.groups.len() as u32),
            active: r.active,
            link_unknown: r.link_unknown,
            has_unknown: !r.unknown.is_empty(),
        };
        self.add(row, &r.unknown);
    }
}

impl<'r> FromIterator<&'r ScimRecord> for Records {
    fn from_iter<I: IntoIterator<Item = &'r ScimRecord>>(iter: I) -> Self {
        let mut out = Records::default();
        for r in iter {
            out.push(r);
        }
        out.finish();
        out
    }
}

impl std::fmt::Debug for Rec<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Rec").field(&self.to_record()).finish()
    }
}

impl<'a> Rec<'a> {
    pub fn directory_id(self) -> &'a str {
        self.s(self.row().directory_id)
    }

    pub fn scim_id(self) -> &'a str {
        self.s(self.row().scim_id)
    }

    pub fn external_id(self) -> Option<&'a str> {
        self.opt(self.row().external_id)
    }

    pub fn user_name(self) -> &'a str {
        self.s(self.row().user_name)
    }

    /// The primary email as sent.
    pub fn email(self) -> Option<&'a str> {
        self.opt(self.row().email)
    }

    /// The primary email normalized ([`super::normalize_email`]): what comparisons use.
    pub fn email_key(self) -> Option<&'a str> {
        self.opt(self.row().email_key)
    }

    pub fn display_name(self) -> Option<&'a str> {
        self.opt(self.row().display_name)
    }

    /// `None` when unknown (see [`ScimRecord::active`]).
    pub fn active(self) -> Option<bool> {
        self.row().active
    }

    pub fn account_id(self) -> Option<&'a str> {
        self.opt(self.row().account_id)
    }

    pub fn link_unknown(self) -> bool {
        self.row().link_unknown
    }

    /// Group ids from the record's own `groups` attribute.
    pub fn groups(self) -> impl ExactSizeIterator<Item = &'a str> + Clone {
        let (at, n) = self.row().groups;
        let of = self.of;
        of.group_ids[at as usize..(at + n) as usize]
            .iter()
            .map(move |h| of.arena.str(*h))
    }

    pub fn last_modified(self) -> Option<&'a str> {
        self.opt(self.row().last_modified)
    }

    /// The record as a [`ScimRecord`] (without `created`, which is not kept).
    pub fn to_record(self) -> ScimRecord {
        ScimRecord {
            directory_id: self.directory_id().into(),
            scim_id: self.scim_id().into(),
            external_id: self.external_id().map(Into::into),
            user_name: self.user_name().into(),
            email: self.email().map(Into::into),
            display_name: self.display_name().map(Into::into),
            active: self.active(),
            account_id: self.account_id().map(Into::into),
            link_unknown: self.link_unknown(),
            unknown: self.unknown().to_vec(),
            groups: self.groups().map(Into::into).collect(),
            created: None,
            last_modified: self.last_modified().map(Into::into),
        }
    }
}

#[derive(Debug)]
pub struct AccountRow {
    account_id: Str,
    account_type: Str,
    account_status: Str,
    membership_status: Str,
    status: Str,
    claim_status: Str,
    email: Str,
    email_key: Str,
    name: Str,
    has_unknown: bool,
}

impl Row for AccountRow {
    fn has_unknown(&self) -> bool {
        self.has_unknown
    }
}

/// The accounts of one snapshot, compact (see the module).
pub type Accounts = Table<AccountRow>;

/// One account of [`Accounts`]: one accessor per field of [`Account`].
pub type Acct<'a> = Handle<'a, AccountRow>;

impl Accounts {
    /// Keeps what detection and the views read of `a`.
    pub fn push(&mut self, a: &Account) {
        let s = &mut self.arena;
        let email = s.push_opt(a.email.as_deref());
        let row = AccountRow {
            account_id: s.push(&a.account_id),
            account_type: s.intern_opt(a.account_type.as_deref()),
            account_status: s.intern(&a.account_status),
            membership_status: s.intern(&a.membership_status),
            status: s.intern_opt(a.status.as_deref()),
            claim_status: s.intern_opt(a.claim_status.as_deref()),
            email_key: s.email_key(a.email.as_deref(), email),
            email,
            name: s.push_opt(a.name.as_deref()),
            has_unknown: !a.unknown.is_empty(),
        };
        self.add(row, &a.unknown);
    }
}

impl<'r> FromIterator<&'r Account> for Accounts {
    fn from_iter<I: IntoIterator<Item = &'r Account>>(iter: I) -> Self {
        let mut out = Accounts::default();
        for a in iter {
            out.push(a);
        }
        out.finish();
        out
    }
}

impl std::fmt::Debug for Acct<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Acct").field(&self.to_account()).finish()
    }
}

impl<'a> Acct<'a> {
    pub fn account_id(self) -> &'a str {
        self.s(self.row().account_id)
    }

    pub fn account_type(self) -> Option<&'a str> {
        self.opt(self.row().account_type)
    }

    pub fn account_status(self) -> &'a str {
        self.s(self.row().account_status)
    }

    pub fn membership_status(self) -> &'a str {
        self.s(self.row().membership_status)
    }

    pub fn status(self) -> Option<&'a str> {
        self.opt(self.row().status)
    }

    pub fn claim_status(self) -> Option<&'a str> {
        self.opt(self.row().claim_status)
    }

    /// The email as sent; absent when hidden.
    pub fn email(self) -> Option<&'a str> {
        self.opt(self.row().email)
    }

    /// The email normalized ([`super::normalize_email`]): what comparisons use.
    pub fn email_key(self) -> Option<&'a str> {
        self.opt(self.row().email_key)
    }

    pub fn name(self) -> Option<&'a str> {
        self.opt(self.row().name)
    }

    /// [`Account::has_access`].
    pub fn has_access(self) -> bool {
        super::has_access(self.account_status(), self.membership_status())
    }

    /// [`Account::lacks_access`].
    pub fn lacks_access(self) -> bool {
        super::lacks_access(self.account_status(), self.membership_status())
    }

    /// [`Account::is_person`].
    pub fn is_person(self) -> bool {
        super::is_person(self.account_type(), self.unknown())
    }

    /// The account as an [`Account`] (without the fields not kept).
    pub fn to_account(self) -> Account {
        Account {
            account_id: self.account_id().into(),
            account_type: self.account_type().map(Into::into),
            account_status: self.account_status().into(),
            membership_status: self.membership_status().into(),
            status: self.status().map(Into::into),
            claim_status: self.claim_status().map(Into::into),
            management_source: None,
            email: self.email().map(Into::into),
            name: self.name().map(Into::into),
            added_to_org: None,
            deactivated_on: None,
            unknown: self.unknown().to_vec(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn record(i: usize, text: &str, opt: Option<String>) -> ScimRecord {
        ScimRecord {
            directory_id: format!("dir-{}", i % 3),
            scim_id: format!("{text}-{i}"),
            external_id: opt.clone(),
            user_name: text.to_string(),
            email: opt.clone().map(|o| format!(" {o}@Example.COM")),
            display_name: opt.clone(),
            active: [Some(true), Some(false), None][i % 3],
            account_id: opt.clone(),
            link_unknown: i.is_multiple_of(5),
            unknown: if i.is_multiple_of(4) {
                vec!["active".into()]
            } else {
                vec![]
            },
            groups: (0..i % 3).map(|g| format!("g{g}")).collect(),
            created: None,
            last_modified: opt,
        }
    }

    fn account(i: usize, text: &str, opt: Option<String>) -> Account {
        Account {
            account_id: format!("{text}-{i}"),
            account_type: opt.clone(),
            account_status: ["active", "inactive", text][i % 3].to_string(),
            membership_status: ["active", "suspended"][i % 2].to_string(),
            status: opt.clone(),
            claim_status: opt.clone(),
            management_source: None,
            email: opt.clone(),
            name: opt,
            added_to_org: None,
            deactivated_on: None,
            unknown: if i % 4 == 1 {
                vec!["accountType".into()]
            } else {
                vec![]
            },
        }
    }

    proptest! {
        /// Every field kept reads back as it was pushed, whatever the text (empty, non-ASCII,
        /// longer than a chunk's share), the normalized email equal to `normalize_email`'s.
        #[test]
        fn records_and_accounts_read_back_as_pushed(
            texts in proptest::collection::vec(("\\PC{0,40}", proptest::option::of("\\PC{0,30}")), 1..40),
        ) {
            let records: Vec<ScimRecord> =
                texts.iter().enumerate().map(|(i, (t, o))| record(i, t, o.clone())).collect();
            let accounts: Vec<Account> =
                texts.iter().enumerate().map(|(i, (t, o))| account(i, t, o.clone())).collect();
            let compact: Records = records.iter().collect();
            let acc: Accounts = accounts.iter().collect();
            prop_assert_eq!(compact.len(), records.len());
            for (r, c) in records.iter().zip(compact.iter()) {
                prop_assert_eq!(&c.to_record(), r);
                let key = r.email.as_deref().map(super::super::normalize_email);
                prop_assert_eq!(c.email_key(), key.as_deref());
            }
            for (a, c) in accounts.iter().zip(acc.iter()) {
                prop_assert_eq!(&c.to_account(), a);
                let key = a.email.as_deref().map(super::super::normalize_email);
                prop_assert_eq!(c.email_key(), key.as_deref());
                prop_assert_eq!(c.is_person(), a.is_person());
                prop_assert_eq!(c.has_access(), a.has_access());
                prop_assert_eq!(c.lacks_access(), a.lacks_access());
            }
        }
    }

    #[test]
    fn long_strings_and_many_chunks_read_back() {
        let mut arena = Arena::default();
        let long = "x".repeat(CHUNK / 4 + 1);
        let mut handles = Vec::new();
        for i in 0..20_000 {
            let s = format!("{i:0>100}");
            handles.push((arena.push(&s), s));
        }
        let h = arena.push(&long);
        assert_eq!(h.len, Str::LARGE);
        assert_eq!(arena.get(h), Some(long.as_str()));
        assert!(arena.chunks.len() > 1, "{}", arena.chunks.len());
        for (h, s) in handles {
            assert_eq!(arena.get(h), Some(s.as_str()));
        }
        assert_eq!(arena.get(Str::NONE), None);
        let empty = arena.push("");
        assert_eq!(arena.get(empty), Some(""));
        // Interned values are stored once.
        let (a, b) = (arena.intern("active"), arena.intern("active"));
        assert_eq!(a, b);
    }
}
