//! Indexes built once per detection run, so every detector is linear in the population.

use smallvec::SmallVec;

use super::Input;
use crate::model::ScimGroup;
use crate::model::compact::{Acct, Rec};

/// A map with a fast hash (foldhash, seeded per process): detection hashes every id and email.
pub type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
/// A set with a fast hash.
pub type FastSet<K> = std::collections::HashSet<K, foldhash::fast::RandomState>;
/// The holders of one key: most keys have one, kept inline.
pub type Holders<T> = SmallVec<[T; 1]>;

fn map<K, V>(capacity: usize) -> FastMap<K, V> {
    FastMap::with_capacity_and_hasher(capacity, Default::default())
}

/// Look-ups over one snapshot. Only accounts of people ([`Acct::is_person`]) are indexed: `app`
/// and `customer` accounts are never subjects of findings; they only exist ([`Index::exists`]).
/// Emails are keyed normalized ([`Rec::email_key`]).
pub struct Index<'a> {
    /// The records whose link is known (linked or not): the Atlassian detectors see only these.
    pub records: Vec<Rec<'a>>,
    /// Every record, its link known or not (the IdP join: a record is the IdP user's whatever its
    /// link).
    pub all_records: &'a crate::model::compact::Records,
    /// Emails (normalized) of records whose link could not be read: an account holding one may be
    /// linked, so it is neither "unmanaged" nor a leaver's for sure.
    pub maybe_linked_emails: FastSet<&'a str>,
    /// Accounts that records whose link could not be read were linked to before (history): they
    /// may still be.
    pub maybe_linked_ids: FastSet<&'a str>,
    /// The accounts of people.
    pub accounts: Vec<Acct<'a>>,
    /// Person accounts by id.
    pub account_by_id: FastMap<&'a str, Acct<'a>>,
    /// Ids of `app` and `customer` accounts: they exist, so a link to one is not dangling.
    pub other_account_ids: FastSet<&'a str>,
    /// Normalized email → accounts holding it.
    pub accounts_by_email: FastMap<&'a str, Holders<Acct<'a>>>,
    /// Normalized email → records carrying it.
    pub records_by_email: FastMap<&'a str, Holders<Rec<'a>>>,
    /// Account id → records linked to it (any directory).
    pub records_by_account: FastMap<&'a str, Holders<Rec<'a>>>,
    /// (directory id, SCIM id) of records that are in at least one synced group.
    pub grouped: FastSet<(&'a str, &'a str)>,
    /// Every SCIM group.
    pub groups: &'a [ScimGroup],
}

impl<'a> Index<'a> {
    /// Builds every index in one pass over each list (on one thread: built beside each other,
    /// the two halves' growing maps raised the pull's peak by about 5 MB at 100,000).
    pub fn build(input: &Input<'a>) -> Self {
        let (accounts, records) = (AccountMaps::build(input), RecordMaps::build(input));
        Index {
            records: records.records,
            all_records: input.records,
            maybe_linked_emails: records.maybe_linked_emails,
            maybe_linked_ids: records.maybe_linked_ids,
            accounts: accounts.accounts,
            account_by_id: accounts.account_by_id,
            other_account_ids: accounts.other_account_ids,
            accounts_by_email: accounts.accounts_by_email,
            records_by_email: records.records_by_email,
            records_by_account: records.records_by_account,
            grouped: records.grouped,
            groups: input.groups,
        }
    }

    /// True when a record whose link could not be read may be linked to the account: it was
    /// before, or it carries the account's email.
    pub fn maybe_linked(&self, a: Acct<'_>) -> bool {
        self.maybe_linked_ids.contains(a.account_id())
            || a.email_key()
                .is_some_and(|e| self.maybe_linked_emails.contains(e))
    }

    /// True when the org has an account with this id, of any type.
    pub fn exists(&self, account_id: &str) -> bool {
        self.account_by_id.contains_key(account_id) || self.other_account_ids.contains(account_id)
    }

    /// The person account a record links to, when the org has it.
    pub fn linked_account(&self, r: Rec<'_>) -> Option<Acct<'a>> {
        r.account_id()
            .and_then(|id| self.account_by_id.get(id).copied())
    }
}

/// The accounts' part of an [`Index`].
struct AccountMaps<'a> {
    accounts: Vec<Acct<'a>>,
    account_by_id: FastMap<&'a str, Acct<'a>>,
    other_account_ids: FastSet<&'a str>,
    accounts_by_email: FastMap<&'a str, Holders<Acct<'a>>>,
}

impl<'a> AccountMaps<'a> {
    fn build(input: &Input<'a>) -> Self {
        let mut maps = AccountMaps {
            accounts: Vec::with_capacity(input.accounts.len()),
            account_by_id: map(input.accounts.len()),
            other_account_ids: FastSet::default(),
            accounts_by_email: map(input.accounts.len()),
        };
        for a in input.accounts.iter() {
            if !a.is_person() {
                maps.other_account_ids.insert(a.account_id());
                continue;
            }
            maps.accounts.push(a);
            maps.account_by_id.insert(a.account_id(), a);
            if let Some(email) = a.email_key() {
                maps.accounts_by_email.entry(email).or_default().push(a);
            }
        }
        maps
    }
}

/// The records' (and groups') part of an [`Index`].
struct RecordMaps<'a> {
    records: Vec<Rec<'a>>,
    maybe_linked_emails: FastSet<&'a str>,
    maybe_linked_ids: FastSet<&'a str>,
    records_by_email: FastMap<&'a str, Holders<Rec<'a>>>,
    records_by_account: FastMap<&'a str, Holders<Rec<'a>>>,
    grouped: FastSet<(&'a str, &'a str)>,
}

impl<'a> RecordMaps<'a> {
    fn build(input: &Input<'a>) -> Self {
        let mut maps = RecordMaps {
            records: Vec::with_capacity(input.records.len()),
            maybe_linked_emails: FastSet::default(),
            maybe_linked_ids: FastSet::default(),
            records_by_email: map(input.records.len()),
            records_by_account: map(input.records.len()),
            grouped: FastSet::with_capacity_and_hasher(input.records.len(), Default::default()),
        };
        for r in input.records.iter() {
            if r.link_unknown() {
                if let Some(email) = r.email_key() {
                    maps.maybe_linked_emails.insert(email);
                }
                if let Some(before) = input.previous_links.get(&super::RecordRef::of(r)) {
                    maps.maybe_linked_ids.insert(before);
                }
                continue;
            }
            maps.records.push(r);
            if let Some(email) = r.email_key() {
                maps.records_by_email.entry(email).or_default().push(r);
            }
            if let Some(account) = r.account_id() {
                maps.records_by_account.entry(account).or_default().push(r);
            }
            if r.groups().len() > 0 {
                maps.grouped.insert((r.directory_id(), r.scim_id()));
            }
        }
        for g in input.groups {
            for m in &g.members {
                maps.grouped.insert((&g.directory_id, m));
            }
        }
        maps
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::super::{DetectSettings, Input, detect};

    /// `both` runs its first closure on a second thread, its second on this one, each once.
    #[test]
    fn both_runs_the_first_on_a_second_thread_and_the_second_here() {
        let here = std::thread::current().id();
        let runs = std::sync::atomic::AtomicUsize::new(0);
        let id = || {
            runs.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            std::thread::current().id()
        };
        let (a, b) = super::super::both("scimdrift-test", id, id);
        assert_eq!((b, runs.into_inner()), (here, 2));
        assert_ne!(a, here);
    }

    /// scenarios.md, "Who is a person": app and customer accounts are never subjects of findings.
    #[test]
    fn app_and_customer_accounts_are_never_subjects() {
        let typed = |id: &str, email: &str, t: &str| {
            let mut a = account(id, email);
            a.account_type = Some(t.into());
            a
        };
        let accounts = [
            account("a1", "ana@example.com"),
            // A portal customer sharing a synced person's email: no email_conflict.
            typed("c1", "bo@example.com", "customer"),
            // A bot with access and no SCIM record: no unmanaged_account.
            typed("bot", "bot@example.com", "app"),
            typed("app2", "app2@example.com", "app"),
        ];
        let records = [
            linked("r1", "ana@example.com", "a1"),
            linked("r2", "bo@example.com", "b-1"),
            // Linked to an app account: it exists, so the link is not dangling.
            linked("r3", "cy@example.com", "app2"),
        ];
        let input = Input {
            idp: &[],
            records: &records.iter().collect(),
            groups: &[],
            accounts: &accounts.iter().collect(),
            inactive_since: &Default::default(),
            previous_links: &Default::default(),
            now: now(),
        };
        let found = detect(&input, &DetectSettings::default());
        for f in &found {
            for a in &f.accounts {
                assert!(["a1", "b-1"].contains(&a.as_str()), "{f:?}");
            }
        }
        let kinds: Vec<_> = found.iter().map(|f| f.kind.as_str()).collect();
        assert!(!kinds.contains(&"unmanaged_account"), "{kinds:?}");
        assert!(!kinds.contains(&"email_conflict"), "{kinds:?}");
        // r2 links to an account the org does not have at all: that one still dangles.
        let dangling: Vec<_> = found
            .iter()
            .filter(|f| f.kind.as_str() == "dangling_link")
            .map(|f| f.records[0].scim_id.as_str())
            .collect();
        assert_eq!(dangling, ["r2"]);
    }
}
