//! Seeded Entra tenants: an empty tenant for a directory ([`World::add_entra`]), the healthy
//! tenant of the scenario world (D1's, agreeing with D1 so that no IdP finding arises from it),
//! and the large agreeing tenant of [`World::healthy_with_entra`]. Ids derive from the seed.
//!
//! The scenario tenant (`World::scenarios`): every active D1 record (R2, R3, R5, R8, R10, R11 and
//! the healthy users) has an enabled user whose `id` = the record's `externalId` and whose
//! `userPrincipalName` = `mail` = the record's primary email. They are direct members of the
//! security group `Atlassian Users` (assigned to the app, pushed as G1), except R10's user, which
//! is assigned directly. Inactive records: R1's user was deleted (absent), R7's user is enabled
//! but was removed from the group (not intended), R9's user is disabled and still a member. A
//! `ServicePrincipal` assignment (an automation connector) is to be ignored. The job is `Active`
//! (`PT40M`, last run `Succeeded` 12 minutes ago); the log holds a few success events.

use chrono::{DateTime, Duration, SubsecRound, Utc};

use crate::sim::world::entra::{
    SimAppRole, SimEntra, SimEntraGroup, SimEntraMember, SimEntraUser, SimExecution,
    SimProvisioningEvent, SimServicePrincipal, SimSyncJob, SimSyncRule,
};
use crate::sim::world::{IdGen, SimUser, World};

/// The `ruleId` of the seeded jobs' user mapping (provision on demand's `ruleId`).
pub const ATLASSIAN_USER_RULE_ID: &str = "6c409270-f78a-4bc6-af23-7cf3ab6482fe";

/// The display name of the Atlassian app's service principal.
pub(crate) const APP_NAME: &str = "Atlassian Cloud";

fn minutes_ago(now: DateTime<Utc>, minutes: i64) -> DateTime<Utc> {
    (now - Duration::minutes(minutes)).trunc_subsecs(0)
}

fn days_ago(now: DateTime<Utc>, days: i64) -> DateTime<Utc> {
    minutes_ago(now, days * 24 * 60)
}

/// A tenant provisioning into `directory_id`: the app's service principal with an `Active` job
/// and the default Atlassian schema, an automation connector's service principal, no users,
/// groups or assignments. It registers [`ENTRA_TEST_CERT_PEM`](crate::sim::kit::auth::ENTRA_TEST_CERT_PEM).
pub(crate) fn tenant(directory_id: &str, seed: u64, stream: u64, now: DateTime<Utc>) -> SimEntra {
    let ids = IdGen::new(seed, 60 + stream);
    let app_sp = ids.uuid(1);
    let ended = minutes_ago(now, 12);
    let job = SimSyncJob {
        id: format!("scim.{:016x}{:016x}", ids.raw(5), ids.raw(6)),
        template_id: "atlassianCloud".into(),
        schedule_interval: "PT40M".into(),
        schedule_state: "Active".into(),
        status_code: "Active".into(),
        count_successive_complete_failures: 0,
        escrows_pruned: false,
        last_execution: Some(SimExecution::succeeded(ended, 2, 3)),
        last_successful_execution: Some(SimExecution::succeeded(ended, 2, 3)),
        last_successful_execution_with_exports: Some(SimExecution::succeeded(ended, 2, 3)),
        quarantine: None,
        steady_state_first_achieved: Some(days_ago(now, 300)),
        steady_state_last_achieved: Some(ended),
        rules: vec![SimSyncRule::atlassian_default(ATLASSIAN_USER_RULE_ID)],
    };
    SimEntra {
        tenant_id: ids.uuid(0),
        directory_id: directory_id.to_owned(),
        client_id: ids.uuid(3),
        client_secret: format!("sim-entra-secret-{:016x}", ids.raw(4)),
        client_certificate_pem: Some(crate::sim::kit::auth::ENTRA_TEST_CERT_PEM.to_owned()),
        app_service_principal_id: app_sp.clone(),
        service_principals: vec![
            SimServicePrincipal {
                id: app_sp,
                app_id: ids.uuid(2),
                display_name: APP_NAME.into(),
                account_enabled: true,
                app_role_assignment_required: true,
                app_roles: vec![
                    SimAppRole {
                        id: ids.uuid(9),
                        value: None,
                        display_name: "User".into(),
                        is_enabled: true,
                    },
                    SimAppRole {
                        id: ids.uuid(10),
                        value: Some("msiam_access".into()),
                        display_name: "msiam_access".into(),
                        is_enabled: true,
                    },
                ],
                assignments: Vec::new(),
                jobs: vec![job],
            },
            SimServicePrincipal {
                id: ids.uuid(7),
                app_id: ids.uuid(8),
                display_name: "Atlassian Automation Connector".into(),
                account_enabled: true,
                app_role_assignment_required: false,
                app_roles: Vec::new(),
                assignments: Vec::new(),
                jobs: Vec::new(),
            },
        ],
        users: Vec::new(),
        groups: Vec::new(),
        provisioning_log: Vec::new(),
        deleted_users: Vec::new(),
    }
}

/// Adds a group to `t` (id from `ids`, index `n`); returns its index.
pub(crate) fn add_group(
    t: &mut SimEntra,
    id: String,
    name: &str,
    security_enabled: bool,
    scim_group_id: Option<String>,
) -> usize {
    t.groups.push(SimEntraGroup {
        id,
        display_name: name.to_owned(),
        security_enabled,
        mail_enabled: !security_enabled,
        members: Vec::new(),
        scim_group_id,
    });
    t.groups.len() - 1
}

/// The primary email of a SCIM record (scenarios.md: primary, else first, else `userName`).
pub(crate) fn primary_email(record: &SimUser) -> String {
    record
        .emails
        .iter()
        .find(|e| e.primary)
        .or(record.emails.first())
        .map_or_else(|| record.user_name.clone(), |e| e.value.clone())
}

/// The Entra user a record was provisioned from: `id` = `externalId`, UPN = mail = the
/// record's primary email, enabled.
pub(crate) fn user_for(record: &SimUser) -> Option<SimEntraUser> {
    let id = record.external_id.clone()?;
    let email = primary_email(record);
    let (given, family) = record.name.as_ref().map_or(("", ""), |n| {
        (n.given_name.as_str(), n.family_name.as_str())
    });
    let mut user = SimEntraUser::new(id, &email, given, family);
    if let Some(display) = &record.display_name {
        user.display_name = display.clone();
    }
    Some(user)
}

/// The scenario world's D1 tenant (see the module doc).
pub(crate) fn add_scenario_tenant(world: &mut World, d1: usize, seed: u64, now: DateTime<Utc>) {
    let Some(directory) = world.directories.get(d1) else {
        return;
    };
    let ids = IdGen::new(seed, 70);
    let mut t = tenant(&directory.id, seed, d1 as u64, now);
    let g1 = world.label("G1").map(str::to_owned);
    let group = add_group(&mut t, ids.uuid(0), "Atlassian Users", true, g1);
    let group_id = t.groups[group].id.clone();
    t.assign(&group_id, "Group", "Atlassian Users", days_ago(now, 400));
    let label_of = |id: &str| {
        world
            .labels
            .iter()
            .find(|(_, v)| v.as_str() == id)
            .map(|(k, _)| k.clone())
    };
    let mut healthy = Vec::new();
    // The records of the group's active members: G1 lists them (the push agrees).
    let mut pushed_members = Vec::new();
    for record in &directory.users {
        let Some(mut user) = user_for(record) else {
            continue;
        };
        let label = label_of(&record.id);
        match (label.as_deref(), record.active) {
            (Some("R1"), _) => continue,
            (Some("R7"), _) => {}
            (Some("R9"), _) => {
                user.account_enabled = Some(false);
                t.groups[group].members.push(SimEntraMember::user(&user.id));
            }
            (Some("R10"), _) => {
                t.assign(&user.id, "User", &user.display_name, days_ago(now, 15));
            }
            (_, Some(true)) => {
                t.groups[group].members.push(SimEntraMember::user(&user.id));
                pushed_members.push(record.id.clone());
                if label.is_none() {
                    healthy.push((
                        user.id.clone(),
                        user.display_name.clone(),
                        record.id.clone(),
                    ));
                }
            }
            _ => continue,
        }
        t.users.push(user);
    }
    let connector = t.service_principals[1].clone();
    t.assign(
        &connector.id,
        "ServicePrincipal",
        &connector.display_name,
        days_ago(now, 200),
    );
    for (i, (id, name, scim)) in healthy.iter().take(3).enumerate() {
        let event = SimProvisioningEvent::success(
            &t,
            "create",
            (id, name),
            scim,
            days_ago(now, 5 - i as i64),
        );
        t.log(event);
    }
    for (label, days) in [("R9", 1), ("R1", 10)] {
        if let Some(record) = world.labelled_user(label) {
            let name = record.display_name.clone().unwrap_or_default();
            let external = record.external_id.clone().unwrap_or_default();
            let event = SimProvisioningEvent::success(
                &t,
                "disable",
                (&external, &name),
                &record.id,
                days_ago(now, days),
            );
            t.log(event);
        }
    }
    // Pushed as G1: Entra's default group mapping sends the group's object id as `externalId`.
    if let Some(g1) = world.label("G1").map(str::to_owned) {
        let directory = &mut world.directories[d1];
        if let Some(g) = directory.groups.iter().position(|g| g.id == g1) {
            directory.groups[g].external_id = Some(group_id);
            for id in pushed_members {
                let listed = directory.groups[g].members.iter().any(|m| m.value == id);
                if let (false, Some(i)) = (listed, directory.users.iter().position(|u| u.id == id))
                {
                    directory.add_member(g, i);
                }
            }
        }
    }
    world.entra.push(t);
}

/// The agreeing tenant of [`World::healthy_with_entra`]: every record of `dir` has an enabled
/// user, a direct member of one of `groups` assigned security groups (round robin, a team), and
/// each block of [`ALL_STAFF`] users also of an "all staff" group (so a large tenant has a few
/// groups of that size beside many small ones); each group is pushed as a SCIM group of `dir`
/// (`externalId` = its id) holding its members' records.
pub(crate) fn add_healthy_tenant(
    world: &mut World,
    dir: usize,
    groups: usize,
    seed: u64,
    now: DateTime<Utc>,
) {
    let Some(directory) = world.directories.get(dir) else {
        return;
    };
    let ids = IdGen::new(seed, 71);
    let mut t = tenant(&directory.id, seed, dir as u64, now);
    let groups = groups.max(1);
    for g in 0..groups {
        let name = format!("Atlassian Users {}", g + 1);
        let index = add_group(&mut t, ids.uuid(g as u64), &name, true, None);
        let id = t.groups[index].id.clone();
        t.assign(&id, "Group", &name, days_ago(now, 400 + g as i64 % 100));
    }
    let staff = directory.users.len() / ALL_STAFF;
    for b in 0..staff {
        let name = format!("Atlassian All Staff {}", b + 1);
        let index = add_group(&mut t, ids.uuid((groups + b) as u64), &name, true, None);
        let id = t.groups[index].id.clone();
        t.assign(&id, "Group", &name, days_ago(now, 500));
    }
    // The groups record `i` is in: its team, and its block's all-staff group.
    let of = |i: usize| {
        std::iter::once(i % groups).chain((i / ALL_STAFF < staff).then_some(groups + i / ALL_STAFF))
    };
    t.users.reserve(directory.users.len());
    for (i, record) in directory.users.iter().enumerate() {
        if let Some(user) = user_for(record) {
            for g in of(i) {
                t.groups[g].members.push(SimEntraMember::user(&user.id));
            }
            t.users.push(user);
        }
    }
    let first: Vec<(String, String, String)> = directory
        .users
        .iter()
        .take(3)
        .filter_map(|r| {
            Some((
                r.external_id.clone()?,
                r.display_name.clone()?,
                r.id.clone(),
            ))
        })
        .collect();
    for (i, (id, name, scim)) in first.iter().enumerate() {
        let event = SimProvisioningEvent::success(
            &t,
            "create",
            (id, name),
            scim,
            days_ago(now, 3 - i as i64),
        );
        t.log(event);
    }
    let pushed: Vec<(String, String)> = t
        .groups
        .iter()
        .map(|g| (g.id.clone(), g.display_name.clone()))
        .collect();
    world.entra.push(t);
    let mut scim_index = Vec::with_capacity(pushed.len());
    for (id, name) in &pushed {
        let index = world.add_group(dir, name, seed ^ 0x6070_0000, now);
        world.directories[dir].groups[index].external_id = Some(id.clone());
        scim_index.push(index);
    }
    let directory = &mut world.directories[dir];
    for i in 0..directory.users.len() {
        if directory.users[i].external_id.is_some() {
            for g in of(i) {
                directory.add_member(scim_index[g], i);
            }
        }
    }
}

/// Users per "all staff" group of [`add_healthy_tenant`].
pub(crate) const ALL_STAFF: usize = 20_000;

/// An empty tenant for directory `dir` (see [`World::add_entra`]).
pub(crate) fn add_empty_tenant(
    world: &mut World,
    dir: usize,
    seed: u64,
    now: DateTime<Utc>,
) -> Option<usize> {
    let directory = world.directories.get(dir)?;
    let stream = dir as u64 + 100 * world.entra.len() as u64;
    let t = tenant(&directory.id, seed, stream, now);
    world.entra.push(t);
    Some(world.entra.len() - 1)
}
