//! Seeded Okta orgs: one agreeing with a directory ([`World::add_okta`]), and the Okta scenarios
//! of `shared/scenarios.md` ([`World::okta_scenarios`]) on D2, one seed per Okta-applicable IdP
//! kind. Ids derive from the seed.
//!
//! The agreeing org: every active record of the directory has an `ACTIVE` Okta user whose `id`
//! is the record's `externalId`, assigned to the app (`USER` scope, every third by `GROUP`) as a
//! `PROVISIONED`, `SYNCHRONIZED` app user whose `externalId` is the record's SCIM id and whose
//! `credentials.userName` and `profile.email` are the record's. An inactive record's user was
//! deactivated (`DEPROVISIONED`, no longer an app user). The app is `ACTIVE` with every push
//! feature on; the service app (client id `0oaservice…`, [`OKTA_TEST_KID`]) registers
//! [`ENTRA_TEST_PUBLIC_KEY_PEM`](crate::sim::kit::auth::ENTRA_TEST_PUBLIC_KEY_PEM) and is granted every
//! scope scimdrift asks; the log holds a success per user.
//!
//! Okta scenarios (D2, labels `O1`–`O6` Okta users, `R23`–`R28` records, `A23`–`A28` accounts):
//!
//! | seed | expected |
//! |---|---|
//! | O1 wes@example.com: app user `STAGED` (push queued, no `externalId`), user `ACTIVE`, no record | `assigned_not_provisioned` {; ; O1} |
//! | O2 xia@example.com: user `SUSPENDED`, still an app user; R23 active, linked to A23 (access) | `idp_disabled_scim_active` {R23; A23; O2} critical |
//! | O3 yan@example.com: user deactivated (`DEPROVISIONED`, no app user: found only by R24's `externalId`); R24 active, linked to A24 (access) | `idp_disabled_scim_active` {R24; A24; O3} critical |
//! | O4 zed@example.com: app user `syncState` `ERROR`; R26 linked to A26; the latest event a `push_profile` `FAILURE` | `provisioning_error` {R26; A26; O4} |
//! | O5 ava: app user `profile.email` ava.new@example.com; R27 ava@example.com linked to A27 | `idp_email_mismatch` {R27; A27; O5} |
//! | R28 bea@example.com: active, `externalId` `00ugone…` (no Okta user), linked to A28 (access) | `orphan_scim_record` {R28; A28; } high |
//! | OG1 `Okta Designers` (member O5): its push mapping is in `ERROR` ("…with displayName already exists.": an Atlassian-made group of that name) | `group_not_provisioned` {OG1}, the error in the detail |
//! | OG2 `Jira Okta` (member O5), pushed ACTIVE, joined by name to G5 `Jira Okta`, which lists R26 (O4 not in OG2) but not R27 (O5's) | `group_membership_missing` {R27; A27; O5; OG2}, `group_membership_extra` {R26; A26; O4; OG2} |
//!
//! Every SCIM group of D2 is pushed from an Okta group of its name (`confluence-users` → G2), whose
//! members agree with the group's records.

use chrono::{DateTime, Duration, SubsecRound, Utc};

use crate::sim::world::okta::{
    SimAppUser, SimOkta, SimOktaApp, SimOktaEvent, SimOktaGroup, SimOktaUser, SimPushMapping,
    SimServiceApp,
};
use crate::sim::world::{IdGen, World};

/// The `kid` of the seeded service apps' key.
pub const OKTA_TEST_KID: &str = "scimdrift-sim-key-1";

/// Every scope scimdrift requests (idp-api.md §2.1).
const SCOPES: [&str; 4] = [
    "okta.apps.read",
    "okta.users.read",
    "okta.groups.read",
    "okta.logs.read",
];

/// Okta-style ids: a 3-character prefix and 17 base-62-ish characters.
fn okta_id(prefix: &str, ids: IdGen, i: u64) -> String {
    const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut n = ids.raw(i) as u128 | ((ids.raw(i ^ 0xa5a5) as u128) << 64);
    let mut out = String::from(prefix);
    for _ in 0..17 {
        out.push(ALPHABET[(n % 62) as usize] as char);
        n /= 62;
    }
    out
}

/// An empty org for `directory_id` (the app, the service app, the API token), no users.
pub(crate) fn org(directory_id: &str, name: &str, seed: u64) -> SimOkta {
    let ids = IdGen::new(seed, 80);
    SimOkta {
        org: name.to_string(),
        directory_id: directory_id.to_string(),
        app: SimOktaApp {
            id: okta_id("0oa", ids, 1),
            label: "Atlassian Cloud".into(),
            status: "ACTIVE".into(),
            features: [
                "PUSH_NEW_USERS",
                "PUSH_PROFILE_UPDATES",
                "PUSH_USER_DEACTIVATION",
                "GROUP_PUSH",
                "IMPORT_NEW_USERS",
            ]
            .map(str::to_string)
            .to_vec(),
        },
        service_app: SimServiceApp {
            client_id: okta_id("0oa", ids, 2),
            public_key_pem: crate::sim::kit::auth::ENTRA_TEST_PUBLIC_KEY_PEM.to_string(),
            key_id: Some(OKTA_TEST_KID.to_string()),
            scopes: SCOPES.map(str::to_string).to_vec(),
            dpop_required: false,
        },
        api_token: format!("00sim{}", okta_id("", ids, 3)),
        users: Vec::new(),
        app_users: Vec::new(),
        groups: Vec::new(),
        app_groups: Vec::new(),
        push_mappings: Vec::new(),
        events: Vec::new(),
    }
}

/// Adds an org agreeing with directory `dir` (see the module doc); returns its index in
/// `world.okta`, `None` without such a directory.
pub(crate) fn add_agreeing_org(
    world: &mut World,
    dir: usize,
    seed: u64,
    now: DateTime<Utc>,
) -> Option<usize> {
    let directory = world.directories.get_mut(dir)?;
    let name = format!("okta{}", world.okta.len() + 1);
    let mut o = org(&directory.id, &name, seed ^ (dir as u64));
    let ids = IdGen::new(seed ^ (dir as u64), 81);
    let published = (now - Duration::hours(3)).trunc_subsecs(0);
    for (i, r) in directory.users.iter_mut().enumerate() {
        let i = i as u64;
        let user_id = match &r.external_id {
            Some(x) if !x.is_empty() => x.clone(),
            _ => {
                let id = okta_id("00u", ids, i);
                r.external_id = Some(id.clone());
                id
            }
        };
        let email = r
            .emails
            .first()
            .map(|e| e.value.clone())
            .unwrap_or_else(|| r.user_name.clone());
        let (first, last) = r
            .name
            .as_ref()
            .map(|n| (n.given_name.clone(), n.family_name.clone()))
            .unwrap_or_default();
        let active = r.active != Some(false);
        o.users.push(SimOktaUser {
            id: user_id.clone(),
            status: if active { "ACTIVE" } else { "DEPROVISIONED" }.into(),
            login: r.user_name.clone(),
            email: email.clone(),
            first_name: first,
            last_name: last,
        });
        if active {
            o.app_users.push(SimAppUser {
                user_id: user_id.clone(),
                external_id: Some(r.id.clone()),
                scope: if i % 3 == 2 { "GROUP" } else { "USER" }.into(),
                status: "PROVISIONED".into(),
                sync_state: Some("SYNCHRONIZED".into()),
                user_name: r.user_name.clone(),
                email,
                app_user_id: okta_id("0ua", ids, i),
            });
            o.events.push(SimOktaEvent {
                uuid: ids.uuid(1000 + i),
                published,
                event_type: "application.provision.user.push".into(),
                result: "SUCCESS".into(),
                reason: None,
                user_id,
            });
        }
    }
    // Each SCIM group of the directory is pushed from an Okta group of its name whose members are
    // the active member records' users (a mapping `ACTIVE`, joined by name).
    let by_record: std::collections::HashMap<&str, &str> = directory
        .users
        .iter()
        .filter(|r| r.active != Some(false))
        .filter_map(|r| Some((r.id.as_str(), r.external_id.as_deref()?)))
        .collect();
    for (i, g) in directory.groups.iter().enumerate() {
        let i = i as u64;
        let id = okta_id("00g", ids, 5000 + i);
        o.groups.push(SimOktaGroup {
            id: id.clone(),
            name: g.display_name.clone(),
            members: g
                .members
                .iter()
                .filter_map(|m| by_record.get(m.value.as_str()).map(|u| u.to_string()))
                .collect(),
        });
        o.app_groups.push(id.clone());
        o.push_mappings.push(SimPushMapping {
            id: okta_id("gpm", ids, 5000 + i),
            source_group_id: id,
            target_group_id: Some(g.id.clone()),
            status: "ACTIVE".into(),
            error_summary: None,
        });
    }
    o.sort();
    world.okta.push(o);
    Some(world.okta.len() - 1)
}

/// Adds an Okta user and, unless `app_status` is `None`, its app user; returns the user id.
#[allow(clippy::too_many_arguments)]
pub(crate) fn add_user(
    o: &mut SimOkta,
    ids: IdGen,
    n: u64,
    email: &str,
    status: &str,
    app_status: Option<&str>,
    scim_id: Option<&str>,
    sync_state: &str,
) -> String {
    let id = okta_id("00u", ids, n);
    let (first, last) = email
        .split_once('@')
        .map_or((email, ""), |(a, _)| (a, "Okta"));
    o.users.push(SimOktaUser {
        id: id.clone(),
        status: status.into(),
        login: email.into(),
        email: email.into(),
        first_name: first.into(),
        last_name: last.into(),
    });
    if let Some(app_status) = app_status {
        o.app_users.push(SimAppUser {
            user_id: id.clone(),
            external_id: scim_id.map(str::to_string),
            scope: "USER".into(),
            status: app_status.into(),
            sync_state: Some(sync_state.into()),
            user_name: email.into(),
            email: email.into(),
            app_user_id: okta_id("0ua", ids, n),
        });
    }
    id
}

/// The Okta seeds of the module doc, on D2 (directory 1) of an IdP scenario world.
pub(crate) fn scenarios(mut world: World, seed: u64, now: DateTime<Utc>) -> World {
    use super::scenarios::{Rec, Seeder};
    let d2 = 1;
    let g2 = 0;
    let Some(o) = add_agreeing_org(&mut world, d2, seed, now) else {
        return world;
    };
    let ids = IdGen::new(seed, 82);
    let mut s = Seeder {
        world,
        now,
        records: IdGen::new(seed, 50),
        accounts: IdGen::new(seed, 51),
    };
    let d2g = Some((d2, g2));
    let o_id = |n: u64| okta_id("00u", ids, n);
    let a23 = s.account("A23", "xia@example.com", "Xia Chen", 400);
    let r23 =
        s.record(Rec::new("R23", d2g, &o_id(2), "xia@example.com", "Xia", "Chen", 400).link(&a23));
    let a24 = s.account("A24", "yan@example.com", "Yan Wu", 380);
    s.record(Rec::new("R24", d2g, &o_id(3), "yan@example.com", "Yan", "Wu", 380).link(&a24));
    let a26 = s.account("A26", "zed@example.com", "Zed Park", 300);
    let r26 =
        s.record(Rec::new("R26", d2g, &o_id(4), "zed@example.com", "Zed", "Park", 300).link(&a26));
    let a27 = s.account("A27", "ava@example.com", "Ava Moss", 280);
    let r27 =
        s.record(Rec::new("R27", d2g, &o_id(5), "ava@example.com", "Ava", "Moss", 280).link(&a27));
    let a28 = s.account("A28", "bea@example.com", "Bea Lund", 260);
    s.record(
        Rec::new(
            "R28",
            d2g,
            "00ugone0000000000000",
            "bea@example.com",
            "Bea",
            "Lund",
            260,
        )
        .link(&a28),
    );
    let mut world = s.world;
    let org = &mut world.okta[o];
    let at = |hours: i64| (now - Duration::hours(hours)).trunc_subsecs(0);
    let o1 = add_user(
        org,
        ids,
        1,
        "wes@example.com",
        "ACTIVE",
        Some("STAGED"),
        None,
        "OUT_OF_SYNC",
    );
    let o2 = add_user(
        org,
        ids,
        2,
        "xia@example.com",
        "SUSPENDED",
        Some("PROVISIONED"),
        Some(&r23),
        "SYNCHRONIZED",
    );
    // O3 was deactivated: Okta removed its assignment, so only R24's externalId finds it.
    let o3 = add_user(
        org,
        ids,
        3,
        "yan@example.com",
        "DEPROVISIONED",
        None,
        None,
        "",
    );
    let o4 = add_user(
        org,
        ids,
        4,
        "zed@example.com",
        "ACTIVE",
        Some("PROVISIONED"),
        Some(&r26),
        "ERROR",
    );
    let o5 = add_user(
        org,
        ids,
        5,
        "ava.new@example.com",
        "ACTIVE",
        Some("PROVISIONED"),
        Some(&r27),
        "SYNCHRONIZED",
    );
    if let Some(a) = org.app_user_mut(&o5) {
        a.user_name = "ava@example.com".into();
    }
    for (n, user_id, event_type, result, reason, hours) in [
        (
            1,
            &o4,
            "application.provision.user.push",
            "SUCCESS",
            None,
            30,
        ),
        (
            2,
            &o4,
            "application.provision.user.push_profile",
            "FAILURE",
            Some(
                "Automatic profile push of user Zed Park to app Atlassian Cloud failed: Errors reported by remote server: Request is unparsable, syntactically incorrect, or violates schema.",
            ),
            2,
        ),
        (
            3,
            &o2,
            "application.provision.user.push",
            "SUCCESS",
            None,
            50,
        ),
    ] {
        org.events.push(SimOktaEvent {
            uuid: ids.uuid(2000 + n),
            published: at(hours),
            event_type: event_type.into(),
            result: result.into(),
            reason: reason.map(str::to_string),
            user_id: user_id.clone(),
        });
    }
    // Groups: the seeded users are members of `confluence-users` (G2's source) like their records
    // (not O3: a leaver found only by R24's externalId);
    // OG1's push is in ERROR; OG2 is joined by name to `Jira Okta`, which lists R26 (whose O4 is
    // not in OG2) and not R27 (whose O5 is).
    if let Some(g) = org.groups.iter_mut().find(|g| g.name == "confluence-users") {
        g.members.extend([o2.clone(), o4.clone(), o5.clone()]);
    }
    let (og1, og2) = (okta_id("00g", ids, 1), okta_id("00g", ids, 2));
    org.groups.push(SimOktaGroup {
        id: og1.clone(),
        name: "Okta Designers".into(),
        members: vec![o5.clone()],
    });
    org.groups.push(SimOktaGroup {
        id: og2.clone(),
        name: "Jira Okta".into(),
        members: vec![o5.clone()],
    });
    org.push_mappings.push(SimPushMapping {
        id: okta_id("gpm", ids, 1),
        source_group_id: og1.clone(),
        target_group_id: None,
        status: "ERROR".into(),
        error_summary: Some(
            "Failed on pushing group Okta Designers: Errors reported by remote server: Resource [GROUP]: with displayName already exists.".into(),
        ),
    });
    org.push_mappings.push(SimPushMapping {
        id: okta_id("gpm", ids, 2),
        source_group_id: og2.clone(),
        target_group_id: None,
        status: "ACTIVE".into(),
        error_summary: None,
    });
    let jira = world.add_group(d2, "Jira Okta", seed ^ 0x0c7a, now);
    if let Some(i) = world.directories[d2].users.iter().position(|u| u.id == r26) {
        world.directories[d2].add_member(jira, i);
    }
    let jira_id = world.directories[d2].groups[jira].id.clone();
    // The Atlassian-made group the ERROR push collides with.
    world.add_group(d2, "Okta Designers", seed ^ 0x0c7b, now);
    world.okta[o].sort();
    for (label, id) in [
        ("O1", o1),
        ("O2", o2),
        ("O3", o3),
        ("O4", o4),
        ("O5", o5),
        ("OG1", og1),
        ("OG2", og2),
        ("G5", jira_id),
    ] {
        world.labels.insert(label.into(), id);
    }
    world
}
