//! The seeded drift scenarios of `shared/scenarios.md`, one block per scenario.
//!
//! Labels: `D1` (`entra`), `D2` (`okta`), `G1`/`G2` (their synced groups), `R1`–`R11` (SCIM
//! records), `A1`, `A3`–`A10` (accounts). There is no `A2` (R2 is unlinked) and no account for
//! R11's dangling link `gone-11`. `R6` is not a drift scenario: it is a healthy second record of
//! Cy in D2 linked to A6 (one account linked from two directories is not drift).
//!
//! D1 also has an Entra tenant (`world.entra[0]`) that agrees with it, so no IdP finding arises
//! from it (see `entra::seed`); `idp_scenarios.rs` adds one seed per IdP finding kind.

use chrono::{DateTime, Duration, SubsecRound, Utc};

use crate::sim::world::{IdGen, SimAccount, SimUser, World};

/// The dangling account id of scenario 8.
pub const GONE_ACCOUNT_ID: &str = "gone-11";

pub(crate) fn build(healthy_users: usize, seed: u64, now: DateTime<Utc>) -> World {
    let mut world = World::empty(seed);
    let d1 = world.add_directory("entra", seed);
    let d2 = world.add_directory("okta", seed);
    let g1 = world.add_group(d1, "jira-software-users", seed, now);
    let g2 = world.add_group(d2, "confluence-users", seed, now);
    for (label, id) in [
        ("D1", world.directories[d1].id.clone()),
        ("D2", world.directories[d2].id.clone()),
        ("G1", world.directories[d1].groups[g1].id.clone()),
        ("G2", world.directories[d2].groups[g2].id.clone()),
    ] {
        world.labels.insert(label.into(), id);
    }
    let mut s = Seeder {
        world,
        now,
        records: IdGen::new(seed, 50),
        accounts: IdGen::new(seed, 51),
    };
    let (d1g, d2g) = (Some((d1, g1)), Some((d2, g2)));

    // 1. Re-hire: R1 (e-100) was deprovisioned 10 days ago and A1 deactivated with it; the IdP
    //    then created R2 (e-205) for the same email instead of reactivating, and Atlassian could
    //    not link R2 because A1 holds the email.
    //    -> duplicate_email {R1, R2; A1}, unlinked_scim_user {R2}, email_conflict {R2; A1}.
    let a1 = s.account("A1", "ana@example.com", "Ana Ito", 1400);
    s.deactivate(&a1, 10);
    s.record(
        Rec::new("R1", d1g, "e-100", "ana@example.com", "Ana", "Ito", 1400)
            .inactive(10)
            .link(&a1),
    );
    s.record(Rec::new(
        "R2",
        d1g,
        "e-205",
        "ana@example.com",
        "Ana",
        "Ito",
        2,
    ));

    // 2. Two IdPs, one person, two emails: R3 (D1) renamed Bo to bo.new but A3 kept bo.old
    //    (the email update failed); Okta's R4 created A4 with bo.new.
    //    -> duplicate_email {R3, R4; A3, A4}, email_mismatch {R3; A3}, email_conflict {R3; A4}.
    let a3 = s.account("A3", "bo.old@example.com", "Bo Berg", 1100);
    let a4 = s.account("A4", "bo.new@example.com", "Bo Berg", 20);
    s.record(
        Rec::new("R3", d1g, "e-310", "bo.new@example.com", "Bo", "Berg", 1100)
            .modified(5)
            .link(&a3),
    );
    s.record(
        Rec::new(
            "R4",
            d2g,
            "00u4b0n3wq8Xk2p7d5",
            "bo.new@example.com",
            "Bo",
            "Berg",
            20,
        )
        .link(&a4),
    );

    // 3. Merger: A5 (cy@example.org, years of history, invited by hand) has access but no SCIM
    //    record; R5 (cy@example.com) is linked to the new, empty A6 with the same display name.
    //    R6 is Cy's healthy Okta record, also linked to A6 (several directories, one account).
    //    -> unmanaged_account {A5}.
    let a5 = s.account("A5", "cy@example.org", "Cy Young", 2200);
    if let Some(a) = s.world.account_mut(&a5) {
        a.management_source = Some("invited".into());
    }
    let a6 = s.account("A6", "cy@example.com", "Cy Young", 30);
    s.record(Rec::new("R5", d1g, "e-500", "cy@example.com", "Cy", "Young", 30).link(&a6));
    s.record(
        Rec::new(
            "R6",
            d2g,
            "00u6cyq2Lm9Tz4r1w8",
            "cy@example.com",
            "Cy",
            "Young",
            30,
        )
        .link(&a6),
    );

    // 4. Moved out of the synced group: R7 deprovisioned 45 days ago (more than the default
    //    stale_after_days of 30), A7 deactivated with it; the standing link blocks reactivation.
    //    -> stale_inactive_link {R7; A7}.
    let a7 = s.account("A7", "dee@example.com", "Dee Park", 900);
    s.deactivate(&a7, 45);
    s.record(
        Rec::new("R7", d1g, "e-700", "dee@example.com", "Dee", "Park", 900)
            .inactive(45)
            .link(&a7),
    );

    // 5. Deactivated in Atlassian, still active in the IdP: an admin deactivated A8 three days
    //    ago; R8 is active and untouched for 60 days.
    //    -> deactivated_idp_active {R8; A8}.
    let a8 = s.account("A8", "eli@example.com", "Eli Stone", 700);
    s.deactivate(&a8, 3);
    s.record(
        Rec::new("R8", d1g, "e-800", "eli@example.com", "Eli", "Stone", 700)
            .modified(60)
            .link(&a8),
    );

    // 6. Leaver keeps access: R9 deprovisioned yesterday, A9 still has access.
    //    -> idp_inactive_account_active {R9; A9}.
    let a9 = s.account("A9", "fay@example.com", "Fay Lund", 600);
    s.record(
        Rec::new("R9", d1g, "e-900", "fay@example.com", "Fay", "Lund", 600)
            .inactive(1)
            .link(&a9),
    );

    // 7. Provisioned but no groups: R10 active and linked to the active A10, member of no group
    //    (neither in any group's members nor in its own `groups`).
    //    -> no_synced_groups {R10; A10}.
    let a10 = s.account("A10", "gus@example.com", "Gus Moreno", 15);
    let r10 = s.record(
        Rec::new(
            "R10",
            None,
            "e-1000",
            "gus@example.com",
            "Gus",
            "Moreno",
            15,
        )
        .link(&a10),
    );
    if let Some(r10) = s.world.user_mut(&r10) {
        r10.groups = Some(Vec::new());
    }

    // 8. Dangling link: R11 is linked to `gone-11`, an account the org does not list.
    //    -> dangling_link {R11}.
    s.record(
        Rec::new("R11", d1g, "e-1100", "hal@example.com", "Hal", "Berg", 400).link(GONE_ACCOUNT_ID),
    );

    // 9. Healthy population: active, linked to an active managed synced account with the same
    //    email, in a group. -> no findings.
    let mut world = s.world;
    world.add_healthy(d1, healthy_users, seed, 0, "example.com", now);
    world.add_healthy(d2, 5, seed, 1, "example.org", now);

    // 10. D1's Entra tenant agrees with D1: no IdP finding (see `entra::seed`).
    super::entra::add_scenario_tenant(&mut world, d1, seed, now);
    world
}

/// Builds labelled records and accounts.
pub(super) struct Seeder {
    pub(super) world: World,
    pub(super) now: DateTime<Utc>,
    pub(super) records: IdGen,
    pub(super) accounts: IdGen,
}

/// One labelled SCIM record. `group` is `(directory, group)` indexes; `None` puts the record in
/// directory 0 (D1) without any group.
pub(super) struct Rec<'a> {
    label: &'a str,
    group: Option<(usize, usize)>,
    external_id: &'a str,
    email: &'a str,
    given: &'a str,
    family: &'a str,
    created_days_ago: i64,
    modified_days_ago: i64,
    active: bool,
    link: Option<&'a str>,
}

impl<'a> Rec<'a> {
    pub(super) fn new(
        label: &'a str,
        group: Option<(usize, usize)>,
        external_id: &'a str,
        email: &'a str,
        given: &'a str,
        family: &'a str,
        created_days_ago: i64,
    ) -> Self {
        Self {
            label,
            group,
            external_id,
            email,
            given,
            family,
            created_days_ago,
            modified_days_ago: created_days_ago,
            active: true,
            link: None,
        }
    }

    /// Deprovisioned (`active: false`) `days` ago.
    pub(super) fn inactive(self, days: i64) -> Self {
        Self {
            active: false,
            modified_days_ago: days,
            ..self
        }
    }

    pub(super) fn modified(self, days: i64) -> Self {
        Self {
            modified_days_ago: days,
            ..self
        }
    }

    pub(super) fn link(self, account_id: &'a str) -> Self {
        Self {
            link: Some(account_id),
            ..self
        }
    }
}

impl Seeder {
    pub(super) fn days_ago(&self, days: i64) -> DateTime<Utc> {
        (self.now - Duration::days(days) - Duration::microseconds(123_457)).trunc_subsecs(6)
    }

    fn index(label: &str) -> u64 {
        label.get(1..).and_then(|n| n.parse().ok()).unwrap_or(0)
    }

    /// An active, managed, synced account added `added_days_ago`; returns its id.
    pub(super) fn account(
        &mut self,
        label: &str,
        email: &str,
        name: &str,
        added_days_ago: i64,
    ) -> String {
        let id = self.accounts.account_id(Self::index(label));
        let added = self.days_ago(added_days_ago);
        self.world
            .accounts
            .push(SimAccount::managed(id.clone(), email, name, added));
        self.world.labels.insert(label.into(), id.clone());
        id
    }

    pub(super) fn deactivate(&mut self, account_id: &str, days_ago: i64) {
        let at = self.days_ago(days_ago);
        if let Some(account) = self.world.account_mut(account_id) {
            account.deactivate(at);
        }
    }

    /// Adds the record; returns its SCIM id.
    pub(super) fn record(&mut self, rec: Rec<'_>) -> String {
        let id = self.records.uuid(Self::index(rec.label));
        let created = self.days_ago(rec.created_days_ago);
        let mut user = SimUser::new(id.clone(), rec.email, rec.given, rec.family, created);
        user.external_id = Some(rec.external_id.into());
        user.active = Some(rec.active);
        user.last_modified = self.days_ago(rec.modified_days_ago);
        user.atlassian_account_id = rec.link.map(str::to_owned);
        let (dir, group) = rec.group.map_or((0, None), |(d, g)| (d, Some(g)));
        let directory = &mut self.world.directories[dir];
        directory.users.push(user);
        if let Some(group) = group {
            directory.add_member(group, directory.users.len() - 1);
        }
        self.world.labels.insert(rec.label.into(), id.clone());
        id
    }
}
