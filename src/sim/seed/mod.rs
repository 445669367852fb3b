//! The seeded worlds (the world's constructors beyond the empty and healthy ones): the drift
//! scenarios of `shared/scenarios.md` ([`scenarios`]), one seed per IdP kind for Entra
//! ([`idp_scenarios`], [`entra`]) and for Okta ([`okta`]). Above the world model, below the fakes.

pub(crate) mod entra;
pub(crate) mod idp_scenarios;
pub(crate) mod okta;
pub(crate) mod scenarios;

use chrono::{DateTime, Utc};

use super::world::World;

impl World {
    /// The drift scenarios of `shared/scenarios.md` with 20 healthy users in `entra` (D1) and 5
    /// in `okta` (D2). D1 has an Entra tenant (`entra[0]`) that agrees with it.
    pub fn scenarios(now: DateTime<Utc>) -> Self {
        Self::scenarios_with_healthy(20, 0, now)
    }

    /// The drift scenarios with `healthy_users` healthy users in D1 (and 5 in D2); ids derive
    /// from `seed`.
    pub fn scenarios_with_healthy(healthy_users: usize, seed: u64, now: DateTime<Utc>) -> Self {
        scenarios::build(healthy_users, seed, now)
    }

    /// [`scenarios`](Self::scenarios) plus one seed per IdP finding kind of scenarios.md in D1
    /// and its Entra tenant (labels `E1`…, `R12`…, `A12`…; see `idp_scenarios.rs` for the
    /// expected findings).
    pub fn idp_scenarios(now: DateTime<Utc>) -> Self {
        Self::idp_scenarios_with_healthy(20, 0, now)
    }

    /// [`idp_scenarios`](Self::idp_scenarios) plus an Okta org provisioning D2 (`okta[0]`,
    /// named `okta1`) with one seed per Okta-applicable IdP kind (labels `O1`…, `R23`…, `A23`…;
    /// see `okta/seed.rs` for the expected findings).
    pub fn okta_scenarios(now: DateTime<Utc>) -> Self {
        Self::okta_scenarios_with_healthy(20, 0, now)
    }

    /// [`okta_scenarios`](Self::okta_scenarios) with `healthy_users` healthy users in D1.
    pub fn okta_scenarios_with_healthy(
        healthy_users: usize,
        seed: u64,
        now: DateTime<Utc>,
    ) -> Self {
        let world = Self::idp_scenarios_with_healthy(healthy_users, seed, now);
        okta::scenarios(world, seed, now)
    }

    /// Adds an Okta org agreeing with directory `dir` (every active record an app user, every
    /// inactive one deactivated); returns its index in `okta` (`None` without such a directory).
    pub fn add_okta(&mut self, dir: usize, seed: u64, now: DateTime<Utc>) -> Option<usize> {
        okta::add_agreeing_org(self, dir, seed, now)
    }

    /// [`idp_scenarios`](Self::idp_scenarios) with `healthy_users` healthy users in D1.
    pub fn idp_scenarios_with_healthy(healthy_users: usize, seed: u64, now: DateTime<Utc>) -> Self {
        idp_scenarios::build(healthy_users, seed, now)
    }

    /// [`healthy`](Self::healthy) with an Entra tenant that agrees with D1: every record's user
    /// is enabled and a direct member of one of `groups` assigned security groups (spread round
    /// robin). Linear in `users`.
    pub fn healthy_with_entra(users: usize, groups: usize, seed: u64, now: DateTime<Utc>) -> Self {
        let mut world = Self::healthy(users, seed, now);
        entra::add_healthy_tenant(&mut world, 0, groups, seed, now);
        world
    }

    /// Adds an Entra tenant provisioning into directory `dir`: the "Atlassian Cloud" service
    /// principal with an `Active` job and the default schema, no users, groups or assignments;
    /// returns its index in `entra` (`None` if there is no such directory).
    pub fn add_entra(&mut self, dir: usize, seed: u64, now: DateTime<Utc>) -> Option<usize> {
        entra::add_empty_tenant(self, dir, seed, now)
    }
}
