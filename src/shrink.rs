//! The shrink guard: a pull that is complete by the paging rules but shows a source suddenly much
//! smaller (or empty) is *held* — stored, never current, never acted on — until the drop is
//! confirmed by consecutive pulls or accepted by an operator (`once --accept-shrink`). This is how
//! an API answering `{"data": []}` once is never read as "every user left". Pure: the caller reads
//! the counts from the store and applies the verdict.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::PullMeta;
pub use crate::model::{Shrink, Verdict};
use crate::store::SnapshotInfo;

/// `[pull]`: the shrink guard's thresholds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PullConfig {
    /// A source shrinks when it drops by more than this percentage of its current count…
    pub max_shrink_percent: f64,
    /// …and by more than this many records. A drop to zero from any count always is a shrink.
    pub max_shrink_records: u64,
    /// Consecutive pulls (within the thresholds of each other) that confirm a shrunk population;
    /// a drop to zero is never confirmed automatically.
    pub confirm_shrink_pulls: u32,
}

impl Default for PullConfig {
    fn default() -> Self {
        PullConfig {
            max_shrink_percent: 10.0,
            max_shrink_records: 10,
            confirm_shrink_pulls: 3,
        }
    }
}

impl PullConfig {
    /// Checks the section; the error is (key, message).
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if !self.max_shrink_percent.is_finite()
            || self.max_shrink_percent <= 0.0
            || self.max_shrink_percent > 100.0
        {
            return Err((
                "max_shrink_percent",
                "expected a percentage above 0 and at most 100".into(),
            ));
        }
        // 1 would make every shrink current at once: the guard would be off.
        if self.confirm_shrink_pulls < 2 || self.confirm_shrink_pulls > 1000 {
            return Err((
                "confirm_shrink_pulls",
                "expected a number of pulls from 2 to 1000".into(),
            ));
        }
        Ok(())
    }

    /// True when a count going from `from` to `to` is a shrink.
    fn shrinks(&self, from: u64, to: u64) -> bool {
        if from > 0 && to == 0 {
            return true;
        }
        let drop = from.saturating_sub(to);
        drop > self.max_shrink_records
            && (drop as f64) * 100.0 > self.max_shrink_percent * from as f64
    }

    /// True when two counts are within the thresholds of each other.
    fn close(&self, a: u64, b: u64) -> bool {
        !self.shrinks(a.max(b), a.min(b))
    }
}

/// A population of one source: its records (users or accounts), or the people among them. Its
/// identity is `key` and `what`: a SCIM directory is keyed by its id, so renaming it in the
/// configuration keeps it guarded.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Population {
    /// The directory id of a SCIM source; else the source name.
    pub key: String,
    /// `scim:<name>` or `accounts`, for messages.
    pub source: String,
    /// `records`, or `people` (the accounts of people alone).
    pub what: String,
}

impl PartialEq for Population {
    fn eq(&self, other: &Self) -> bool {
        (&self.key, &self.what) == (&other.key, &other.what)
    }
}

impl Eq for Population {}

impl PartialOrd for Population {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Population {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (&self.key, &self.what).cmp(&(&other.key, &other.what))
    }
}

/// The counts of one snapshot, by population.
pub type Counts = BTreeMap<Population, u64>;

/// The record count (users or accounts) of one source. SCIM groups are not guarded: a group
/// clean-up is routine, and an empty group list only raises low-severity findings.
fn population(source: &str, directory_id: Option<&str>) -> Population {
    Population {
        key: directory_id.unwrap_or(source).to_string(),
        source: source.to_string(),
        what: "records".to_string(),
    }
}

fn is_idp(source: &str) -> bool {
    source.starts_with(crate::model::SourceStatus::IDP_PREFIX)
}

/// The populations of one IdP source: its users (`records`) and, when counted, its intended users
/// that are neither deleted nor disabled — a drop of those opens a finding per active SCIM record
/// ("no longer intended"), so it is guarded even when the tenant's user count holds. Keyed by the
/// directory (apart from its SCIM source), so renaming the directory keeps it guarded.
fn idp_counts(
    source: &str,
    directory_id: Option<&str>,
    records: u64,
    intended: Option<u64>,
    listings: Option<&BTreeMap<String, u64>>,
) -> Counts {
    let key = format!("idp:{}", directory_id.unwrap_or(source));
    let of = |what: &str| Population {
        key: key.clone(),
        source: source.to_string(),
        what: what.to_string(),
    };
    let mut counts = Counts::from([(of("records"), records)]);
    if let Some(n) = intended {
        counts.insert(of("intended users"), n);
    }
    // Each listing on its own (users listed, assignments, group members): an emptied listing
    // whose users the one-by-one reads found again barely moves `records`.
    for (what, n) in listings.into_iter().flatten() {
        counts.insert(of(what), *n);
    }
    counts
}

/// The people among a source's accounts (`accountType` atlassian or absent): guarded on their own,
/// so thousands of portal customers cannot hide every person vanishing.
fn people(source: &str) -> Population {
    Population {
        key: source.to_string(),
        source: source.to_string(),
        what: "people".to_string(),
    }
}

fn add_people(counts: &mut Counts, source: &str, types: Option<&BTreeMap<String, u64>>) {
    if let Some(types) = types {
        counts.insert(people(source), types.get("atlassian").copied().unwrap_or(0));
    }
}

/// The counts of a pull's sources.
pub fn counts_of_pull(meta: &PullMeta) -> Counts {
    let mut counts = Counts::new();
    // The IdP sources are judged apart ([`assess_idp`]): a shrunk IdP never holds the snapshot.
    for s in meta.sources.iter().filter(|s| s.complete && !s.is_idp()) {
        counts.insert(
            population(&s.source, s.directory_id.as_deref()),
            s.records as u64,
        );
        add_people(&mut counts, &s.source, s.account_types.as_ref());
    }
    counts
}

/// The counts of a stored snapshot's sources.
pub fn counts_of_snapshot(snapshot: &SnapshotInfo) -> Counts {
    let mut counts = Counts::new();
    for s in snapshot
        .sources
        .iter()
        .filter(|s| s.complete && !is_idp(&s.source))
    {
        counts.insert(
            population(&s.source, s.directory_id.as_deref()),
            s.records.max(0) as u64,
        );
        add_people(&mut counts, &s.source, s.account_types.as_ref());
    }
    counts
}

/// Judges the complete IdP source `new` of a pull on its own, against the same source as of the
/// last snapshot that used it (`current`, see [`crate::store::Store::idp_shrink_baseline`]) and
/// the pulls since in which it was held (newest first). A `Held` verdict holds that source alone:
/// the caller treats it as an incomplete IdP pull, so its directory's IdP findings stay as they
/// were and no action is taken on them; the Atlassian side is not held.
pub fn assess_idp(
    config: &PullConfig,
    current: Option<&crate::store::SourceInfo>,
    held: &[crate::store::SourceInfo],
    new: &crate::model::SourceStatus,
    accept: bool,
) -> Verdict {
    let stored = |s: &crate::store::SourceInfo| {
        idp_counts(
            &s.source,
            s.directory_id.as_deref(),
            s.records.max(0) as u64,
            s.intended.map(|n| n.max(0) as u64),
            s.listings.as_ref(),
        )
    };
    let held: Vec<Counts> = held.iter().map(stored).collect();
    assess(
        config,
        current.map(stored).as_ref(),
        &held,
        &idp_counts(
            &new.source,
            new.directory_id.as_deref(),
            new.records as u64,
            new.intended.map(|n| n as u64),
            new.listings.as_ref(),
        ),
        accept,
    )
}

/// Judges a pull's `new` counts against the `current` snapshot's and the `held` snapshots since it
/// (newest first). A population absent from `current` is new and never a shrink.
pub fn assess(
    config: &PullConfig,
    current: Option<&Counts>,
    held: &[Counts],
    new: &Counts,
    accept: bool,
) -> Verdict {
    let Some(current) = current else {
        return Verdict::Current;
    };
    let mut shrinks: Vec<Shrink> = new
        .iter()
        .filter_map(|(p, &to)| {
            let &from = current.get(p)?;
            config.shrinks(from, to).then(|| Shrink {
                source: p.source.clone(),
                what: p.what.clone(),
                from,
                to,
            })
        })
        .collect();
    if shrinks.is_empty() {
        return Verdict::Current;
    }
    // A source's records first, then the people among them.
    shrinks.sort_by_key(|s| s.what != "records");
    if accept {
        return Verdict::Accepted(shrinks);
    }
    if shrinks.iter().any(|s| s.to == 0) {
        return Verdict::Held(shrinks);
    }
    // Consecutive held pulls (newest first) showing every shrunk population close to this one.
    let agreeing = held
        .iter()
        .take_while(|h| {
            new.iter()
                .filter(|(p, _)| {
                    shrinks
                        .iter()
                        .any(|s| s.source == p.source && s.what == p.what)
                })
                .all(|(p, &to)| h.get(p).is_some_and(|&n| config.close(n, to)))
        })
        .count();
    if agreeing as u64 + 1 >= u64::from(config.confirm_shrink_pulls) {
        Verdict::Confirmed(shrinks)
    } else {
        Verdict::Held(shrinks)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SourceStatus;
    use crate::store::SourceInfo;

    fn counts(pairs: &[(&str, u64)]) -> Counts {
        pairs
            .iter()
            .map(|(s, n)| (population(s, None), *n))
            .collect()
    }

    /// Issue 19, item 3: each IdP listing is guarded on its own — an emptied `/users` listing
    /// whose users the one-by-one reads found again holds the source although `records` and the
    /// intended count did not move; a baseline without listings (an older store) guards none.
    #[test]
    fn each_idp_listing_is_guarded() {
        let c = PullConfig::default();
        let listings = |users: u64, assignments: u64, members: u64| {
            BTreeMap::from([
                ("users listed".to_string(), users),
                ("assignments".to_string(), assignments),
                ("group members".to_string(), members),
            ])
        };
        let of = |l: Option<&BTreeMap<String, u64>>| {
            idp_counts("idp:entra", Some("d1"), 40, Some(30), l)
        };
        let before = listings(40, 5, 30);
        for (after, what) in [
            (listings(0, 5, 30), "users listed"),
            (listings(40, 0, 30), "assignments"),
            (listings(40, 5, 0), "group members"),
            (listings(40, 5, 12), "group members"),
        ] {
            let v = assess(&c, Some(&of(Some(&before))), &[], &of(Some(&after)), false);
            assert!(matches!(v, Verdict::Held(_)), "{what}: {v:?}");
            assert_eq!(v.shrinks()[0].what, what);
        }
        let same = assess(
            &c,
            Some(&of(Some(&before))),
            &[],
            &of(Some(&listings(39, 5, 29))),
            false,
        );
        assert_eq!(same, Verdict::Current);
        let old = assess(
            &c,
            Some(&of(None)),
            &[],
            &of(Some(&listings(0, 0, 0))),
            false,
        );
        assert_eq!(
            old,
            Verdict::Current,
            "no baseline for a listing: nothing to compare"
        );
    }

    #[test]
    fn small_drops_pass_and_big_ones_are_held() {
        let c = PullConfig::default();
        let cur = counts(&[("accounts", 318), ("scim:entra", 100)]);
        let ok = counts(&[("accounts", 300), ("scim:entra", 95)]);
        assert_eq!(assess(&c, Some(&cur), &[], &ok, false), Verdict::Current);
        // 20 records of 318 is 6 %: under the percentage.
        let ok2 = counts(&[("accounts", 298), ("scim:entra", 100)]);
        assert_eq!(assess(&c, Some(&cur), &[], &ok2, false), Verdict::Current);
        // 11 of 100 is 11 % and more than 10 records.
        let big = counts(&[("accounts", 318), ("scim:entra", 89)]);
        let v = assess(&c, Some(&cur), &[], &big, false);
        assert!(matches!(v, Verdict::Held(_)), "{v:?}");
        assert_eq!(
            v.shrinks()[0].to_string(),
            "scim:entra records shrank from 100 to 89"
        );
        // A small org losing 5 of 6 records: many percent, but not more than 10 records.
        let small = counts(&[("accounts", 6)]);
        assert_eq!(
            assess(&c, Some(&small), &[], &counts(&[("accounts", 1)]), false),
            Verdict::Current
        );
    }

    #[test]
    fn zero_is_always_a_shrink_and_never_confirmed() {
        let c = PullConfig::default();
        let cur = counts(&[("accounts", 3)]);
        let empty = counts(&[("accounts", 0)]);
        let held = vec![empty.clone(); 10];
        assert!(matches!(
            assess(&c, Some(&cur), &held, &empty, false),
            Verdict::Held(_)
        ));
        assert!(matches!(
            assess(&c, Some(&cur), &held, &empty, true),
            Verdict::Accepted(_)
        ));
    }

    #[test]
    fn confirmed_after_consecutive_agreeing_pulls() {
        let c = PullConfig::default();
        let cur = counts(&[("accounts", 1000)]);
        let new = counts(&[("accounts", 500)]);
        assert!(matches!(
            assess(&c, Some(&cur), &[], &new, false),
            Verdict::Held(_)
        ));
        let one = vec![counts(&[("accounts", 505)])];
        assert!(matches!(
            assess(&c, Some(&cur), &one, &new, false),
            Verdict::Held(_)
        ));
        let two = vec![counts(&[("accounts", 505)]), counts(&[("accounts", 498)])];
        assert!(matches!(
            assess(&c, Some(&cur), &two, &new, false),
            Verdict::Confirmed(_)
        ));
        // A held pull far from this one breaks the streak.
        let broken = vec![counts(&[("accounts", 505)]), counts(&[("accounts", 200)])];
        assert!(matches!(
            assess(&c, Some(&cur), &broken, &new, false),
            Verdict::Held(_)
        ));
    }

    #[test]
    fn first_pull_and_new_sources_are_never_shrinks() {
        let c = PullConfig::default();
        let new = counts(&[("accounts", 0)]);
        assert_eq!(assess(&c, None, &[], &new, false), Verdict::Current);
        let cur = counts(&[("accounts", 5)]);
        let more = counts(&[("accounts", 5), ("scim:okta", 0)]);
        assert_eq!(assess(&c, Some(&cur), &[], &more, false), Verdict::Current);
    }

    #[test]
    fn a_renamed_directory_stays_guarded() {
        let c = PullConfig::default();
        let cur = BTreeMap::from([(population("scim:entra", Some("dir-1")), 100)]);
        let renamed = BTreeMap::from([(population("scim:azure", Some("dir-1")), 0)]);
        let v = assess(&c, Some(&cur), &[], &renamed, false);
        assert!(matches!(v, Verdict::Held(_)), "{v:?}");
        assert_eq!(
            v.shrinks()[0].to_string(),
            "scim:azure records shrank from 100 to 0"
        );
    }

    /// A complete or incomplete source of a pull, as the pull reports it.
    fn status(source: &str, directory_id: Option<&str>, records: usize) -> SourceStatus {
        SourceStatus {
            source: source.to_string(),
            directory_id: directory_id.map(str::to_string),
            records,
            groups: None,
            complete: true,
            error: None,
            account_types: None,
            logs: None,
            intended: None,
            listings: None,
            held: false,
            data_quality: Default::default(),
        }
    }

    /// The same source as a stored snapshot shows it.
    fn stored(s: &SourceStatus) -> SourceInfo {
        SourceInfo {
            source: s.source.clone(),
            directory_id: s.directory_id.clone(),
            records: s.records as i64,
            groups: s.groups.map(|n| n as i64),
            complete: s.complete,
            error: s.error.clone(),
            data_quality: Default::default(),
            account_types: s.account_types.clone(),
            intended: s.intended.map(|n| n as i64),
            held: s.held,
            listings: s.listings.clone(),
        }
    }

    fn pull(sources: Vec<SourceStatus>) -> PullMeta {
        let now = chrono::Utc::now();
        PullMeta {
            started_at: now,
            finished_at: now,
            duration_seconds: 0.0,
            sources,
            retries: 0,
            api_requests: BTreeMap::new(),
            api_retries: BTreeMap::new(),
            idp_jobs: BTreeMap::new(),
            throttled: Default::default(),
        }
    }

    fn snapshot(sources: Vec<SourceInfo>) -> SnapshotInfo {
        SnapshotInfo {
            snapshot_id: 1,
            started_at: String::new(),
            finished_at: String::new(),
            duration_seconds: 0.0,
            complete: true,
            scim_records: 0,
            accounts: 0,
            retries: 0,
            versions_added: 0,
            versions_closed: 0,
            held: false,
            shrink: None,
            sources,
        }
    }

    #[test]
    fn a_drop_is_a_shrink_only_beyond_both_thresholds() {
        let c = PullConfig::default();
        // 10 records is not more than max_shrink_records, however many percent.
        assert!(!c.shrinks(20, 10));
        assert!(c.shrinks(20, 9));
        // 10 % is not more than max_shrink_percent, however many records.
        assert!(!c.shrinks(200, 180));
        assert!(c.shrinks(200, 179));
        // Growing or staying put never is.
        assert!(!c.shrinks(200, 200));
        assert!(!c.shrinks(200, 5000));
        // The thresholds are the section's.
        let c = PullConfig {
            max_shrink_percent: 50.0,
            max_shrink_records: 2,
            ..PullConfig::default()
        };
        assert!(!c.shrinks(10, 5), "50 % exactly");
        assert!(c.shrinks(10, 4));
        assert!(!c.shrinks(5, 3), "2 records exactly");
    }

    #[test]
    fn a_drop_to_zero_is_a_shrink_from_any_count_but_an_empty_source_staying_empty_is_not() {
        let c = PullConfig::default();
        assert!(c.shrinks(1, 0), "under both thresholds, yet emptied");
        assert!(!c.shrinks(0, 0));
        assert!(!c.shrinks(0, 3));
        assert!(!c.shrinks(1, 1));
    }

    #[test]
    fn two_counts_are_close_when_neither_is_a_shrink_of_the_other() {
        let c = PullConfig::default();
        assert!(c.close(500, 505) && c.close(505, 500));
        assert!(!c.close(500, 200) && !c.close(200, 500));
        assert!(!c.close(0, 3) && !c.close(3, 0));
    }

    #[test]
    fn the_pull_section_bounds_are_inclusive() {
        let ok = |c: PullConfig| c.validate().map_err(|(key, _)| key);
        let percent = |p: f64| PullConfig {
            max_shrink_percent: p,
            ..PullConfig::default()
        };
        let pulls = |n: u32| PullConfig {
            confirm_shrink_pulls: n,
            ..PullConfig::default()
        };
        assert_eq!(ok(PullConfig::default()), Ok(()));
        for p in [0.5, 10.0, 100.0] {
            assert_eq!(ok(percent(p)), Ok(()), "{p}");
        }
        for p in [0.0, -5.0, 100.5, 150.0, f64::INFINITY, f64::NAN] {
            assert_eq!(ok(percent(p)), Err("max_shrink_percent"), "{p}");
        }
        for n in [2, 3, 1000] {
            assert_eq!(ok(pulls(n)), Ok(()), "{n}");
        }
        for n in [0, 1, 1001] {
            assert_eq!(ok(pulls(n)), Err("confirm_shrink_pulls"), "{n}");
        }
    }

    /// A population is its key (the directory id) and what is counted: the source's name is
    /// only for messages, so renaming a directory keeps it guarded.
    #[test]
    fn a_population_is_its_key_and_what_it_counts() {
        let a = population("scim:entra", Some("d1"));
        let renamed = population("scim:azure", Some("d1"));
        assert_eq!(a, renamed);
        assert_eq!(a.cmp(&renamed), std::cmp::Ordering::Equal);
        assert_eq!(a.partial_cmp(&renamed), Some(std::cmp::Ordering::Equal));
        let other = population("scim:entra", Some("d2"));
        assert_ne!(a, other);
        assert_eq!(a.partial_cmp(&other), Some(std::cmp::Ordering::Less));
        assert_eq!(other.partial_cmp(&a), Some(std::cmp::Ordering::Greater));
        assert_ne!(population("accounts", None), people("accounts"));
        assert_eq!(population("accounts", None).key, "accounts");
        assert_eq!(people("accounts").what, "people");
    }

    /// Guarded: each complete Atlassian source's records, and the people among the accounts.
    /// Not guarded here: incomplete sources (nothing to believe), IdP sources (judged apart),
    /// SCIM groups.
    #[test]
    fn the_guarded_populations_of_a_pull_and_of_a_snapshot() {
        let mut accounts = status("accounts", None, 540);
        accounts.account_types = Some(BTreeMap::from([
            ("atlassian".to_string(), 40),
            ("customer".to_string(), 500),
        ]));
        let mut entra = status("scim:entra", Some("d1"), 100);
        entra.groups = Some(7);
        let mut okta = status("scim:okta", Some("d2"), 30);
        okta.complete = false;
        let mut idp = status("idp:entra", Some("d1"), 90);
        idp.intended = Some(80);
        let sources = vec![accounts, entra, okta, idp];
        let want = Counts::from([
            (population("accounts", None), 540),
            (people("accounts"), 40),
            (population("scim:entra", Some("d1")), 100),
        ]);
        assert_eq!(counts_of_pull(&pull(sources.clone())), want);
        let snap = snapshot(sources.iter().map(stored).collect());
        assert_eq!(counts_of_snapshot(&snap), want);
        // Accounts without their types (an older store): no people population; types without
        // `atlassian`: no people.
        assert_eq!(
            counts_of_snapshot(&snapshot(vec![stored(&status("accounts", None, 5))])),
            Counts::from([(population("accounts", None), 5)])
        );
        let mut customers = status("accounts", None, 5);
        customers.account_types = Some(BTreeMap::from([("customer".to_string(), 5)]));
        assert_eq!(
            counts_of_pull(&pull(vec![customers]))[&people("accounts")],
            0
        );
    }

    /// Thousands of portal customers cannot hide every person vanishing.
    #[test]
    fn the_people_among_the_accounts_are_guarded_on_their_own() {
        let c = PullConfig::default();
        let accounts = |persons: u64, customers: u64| {
            let mut s = status("accounts", None, (persons + customers) as usize);
            s.account_types = Some(BTreeMap::from([
                ("atlassian".to_string(), persons),
                ("customer".to_string(), customers),
            ]));
            counts_of_pull(&pull(vec![s]))
        };
        let v = assess(
            &c,
            Some(&accounts(100, 5000)),
            &[],
            &accounts(0, 5100),
            false,
        );
        assert!(matches!(v, Verdict::Held(_)), "{v:?}");
        assert_eq!(v.shrinks().len(), 1);
        assert_eq!(
            v.shrinks()[0].to_string(),
            "accounts people shrank from 100 to 0"
        );
    }

    #[test]
    fn a_source_s_records_are_listed_before_its_people() {
        let c = PullConfig::default();
        let cur = Counts::from([
            (population("accounts", None), 1000),
            (people("accounts"), 900),
        ]);
        let new = Counts::from([
            (population("accounts", None), 100),
            (people("accounts"), 50),
        ]);
        let v = assess(&c, Some(&cur), &[], &new, false);
        let what: Vec<&str> = v.shrinks().iter().map(|s| s.what.as_str()).collect();
        assert_eq!(what, ["records", "people"]);
    }

    /// The streak counts the held pulls in which every population that shrank now was close to
    /// its count now; the other populations may differ.
    #[test]
    fn only_the_shrunk_populations_must_agree_across_held_pulls() {
        let c = PullConfig::default();
        let of = |records: u64, persons: u64, scim: u64| {
            Counts::from([
                (population("accounts", None), records),
                (people("accounts"), persons),
                (population("scim:entra", Some("d1")), scim),
            ])
        };
        let cur = of(1000, 100, 50);
        let new = of(500, 95, 50);
        let held = [of(505, 60, 20), of(498, 95, 80)];
        let v = assess(&c, Some(&cur), &held, &new, false);
        assert!(matches!(v, Verdict::Confirmed(_)), "{v:?}");
        assert_eq!(v.shrinks().len(), 1);
        // The shrunk population far from now in the newest held pull: no streak.
        let held = [of(200, 95, 50), of(498, 95, 50)];
        let v = assess(&c, Some(&cur), &held, &new, false);
        assert!(matches!(v, Verdict::Held(_)), "{v:?}");
    }

    #[test]
    fn confirm_shrink_pulls_counts_this_pull_and_the_agreeing_held_ones() {
        let cur = counts(&[("accounts", 1000)]);
        let new = counts(&[("accounts", 500)]);
        let held = |n: usize| vec![counts(&[("accounts", 500)]); n];
        for (pulls, agreeing, confirmed) in
            [(2, 0, false), (2, 1, true), (4, 2, false), (4, 3, true)]
        {
            let c = PullConfig {
                confirm_shrink_pulls: pulls,
                ..PullConfig::default()
            };
            let v = assess(&c, Some(&cur), &held(agreeing), &new, false);
            assert_eq!(
                matches!(v, Verdict::Confirmed(_)),
                confirmed,
                "{pulls} pulls, {agreeing} held: {v:?}"
            );
        }
    }

    /// An IdP source is judged against the last snapshot that used it and its own held pulls;
    /// none to compare with: nothing shrank.
    #[test]
    fn an_idp_source_is_judged_against_its_last_used_pull() {
        let c = PullConfig::default();
        let idp = |records: usize, intended: usize| {
            let mut s = status("idp:entra", Some("d1"), records);
            s.intended = Some(intended);
            s
        };
        let before = stored(&idp(40, 30));
        assert_eq!(
            assess_idp(&c, None, &[], &idp(40, 0), false),
            Verdict::Current
        );
        assert_eq!(
            assess_idp(&c, Some(&before), &[], &idp(39, 29), false),
            Verdict::Current
        );
        let v = assess_idp(&c, Some(&before), &[], &idp(40, 0), false);
        assert!(matches!(v, Verdict::Held(_)), "{v:?}");
        assert_eq!(
            v.shrinks()[0].to_string(),
            "idp:entra intended users shrank from 30 to 0"
        );
        // Half the intended users gone, seen by two held pulls before: confirmed.
        let held = [stored(&idp(40, 15)), stored(&idp(40, 16))];
        let v = assess_idp(&c, Some(&before), &held, &idp(40, 15), false);
        assert!(matches!(v, Verdict::Confirmed(_)), "{v:?}");
        let v = assess_idp(&c, Some(&before), &held[..1], &idp(40, 15), false);
        assert!(matches!(v, Verdict::Held(_)), "{v:?}");
        let v = assess_idp(&c, Some(&before), &[], &idp(40, 15), true);
        assert!(matches!(v, Verdict::Accepted(_)), "{v:?}");
    }

    #[test]
    fn validation_names_the_key() {
        let mut c = PullConfig {
            max_shrink_percent: f64::NAN,
            ..PullConfig::default()
        };
        assert_eq!(c.validate().unwrap_err().0, "max_shrink_percent");
        c.max_shrink_percent = 10.0;
        c.confirm_shrink_pulls = 1;
        assert_eq!(c.validate().unwrap_err().0, "confirm_shrink_pulls");
    }
}
