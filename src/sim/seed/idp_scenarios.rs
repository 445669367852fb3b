//! The IdP scenarios of `shared/scenarios.md` ("IdP findings"), seeded on top of the drift
//! scenarios ([`World::scenarios`]) into D1 and its Entra tenant (`world.entra[0]`).
//!
//! Labels: `E1`–`E8`, `E10`, `E11` (Entra user ids; `E3` is the id of a deleted user), `N1`
//! (`Atlassian Contractors`, nested in the assigned `Atlassian Users`), `N2` (`M365 Atlassian`,
//! assigned but not security-enabled), `R12`–`R14`, `R16`, `R17`, `R19`, `R20` (D1 records, all
//! members of G1) and `A12`–`A17`, `A19`, `A20` (accounts). E-users are "intended" as
//! scenarios.md defines it.
//!
//! Expected findings, beyond the twelve Atlassian ones of [`World::scenarios`]
//! (`{records; accounts; IdP users}`):
//!
//! | seed | expected |
//! |---|---|
//! | E1 ivy@example.com: direct `User` assignment, enabled, no record, no account | `assigned_not_provisioned` {; ; E1} |
//! | E2 jon@example.com: disabled, still a member of `Atlassian Users`; R12 active, linked to A12 (access) | `idp_disabled_scim_active` {R12; A12; E2} critical |
//! | E3 kai@example.com: a direct `User` assignment whose principal is gone (`GET /users/{id}` → 404); R13 active, externalId = that id, linked to A13 (access) | `idp_disabled_scim_active` {R13; A13; } critical, E3's id in the detail |
//! | E4 kim@example.com: enabled, no longer assigned nor in an assigned group; R14 active, linked to the deactivated A14 | `idp_disabled_scim_active` {R14; A14; E4} high, and `deactivated_idp_active` {R14; A14} |
//! | E5 mo@example.com: group member, enabled, no record; A15 mo@example.com active, unmanaged, unlinked; latest event a `create` failure `EntryConflict` ("Resource [USER]: with email[mo@example.com] already exists.") | `assigned_not_provisioned` {; A15; E5}, `provisioning_error` {; A15; E5} |
//! | E6 ned@example.com: group member; R16 linked to A16 (access); successes, then an `update` failure `ScimBadRequest` | `provisioning_error` {R16; A16; E6} |
//! | E7 pia: Entra UPN and `mail` pia.lind@example.com (renamed), group member; R17 pia@example.com linked to A17 (pia@example.com) | `idp_email_mismatch` {R17; A17; E7} |
//! | E8 quinn@example.com: enabled, only in N1, a group nested in `Atlassian Users`; no record | `nested_group_only` {; ; E8} |
//! | R19 rui@example.com: active, externalId `e-1900` (no Entra user), linked to A19 (access) | `orphan_scim_record` {R19; A19; } |
//! | E10 sam@example.com: member of N2 only (assigned, not security-enabled); no record | none (not intended) |
//! | E11 tess@example.com: healthy (R20 linked to A20); an old failure, then a success | none |
//! | the job: `Quarantine` (`EncounteredEscrowProportionThreshold`, series began 2 days ago) | `provisioning_stalled` {; ; } (the job in the detail) |
//!
//! Group seeds (scenarios.md "Group findings"): `Atlassian Users` is pushed as G1 (its
//! `externalId` = the Entra group's id) and agrees with it. Three more assigned security groups:
//!
//! | seed | expected |
//! |---|---|
//! | GA `Atlassian Admins` (member E12), never pushed: no SCIM group carries its id or name | `group_not_provisioned` {GA} |
//! | GD `Atlassian Designers` (members E11, E12), pushed as G3 (`externalId` = its id); G3 lists R20 but not R21, E12 uma@example.com's active record (linked to A21) | `group_membership_missing` {R21; A21; E12; GD} |
//! | GF `Atlassian Finance` (member E11), pushed as G4 `ATLASSIAN FINANCE` (joined by `displayName`: its `externalId` is another id); G4 lists R20 and R22, whose E13 vic@example.com left the group (still in `Atlassian Users`) | `group_membership_extra` {R22; A22; E13; GF} |

use chrono::{DateTime, Duration, SubsecRound, Utc};

use super::entra::add_group;
use super::scenarios::{Rec, Seeder};
use crate::sim::world::entra::{JobState, SimEntraMember, SimEntraUser, SimProvisioningEvent};
use crate::sim::world::{IdGen, World};

/// The conflict text Atlassian's SCIM API answers for a taken email.
fn conflict_text(email: &str) -> String {
    format!("Resource [USER]: with email[{email}] already exists.")
}

pub(crate) fn build(healthy_users: usize, seed: u64, now: DateTime<Utc>) -> World {
    let world = super::scenarios::build(healthy_users, seed, now);
    let d1 = 0;
    let g1 = world
        .label("G1")
        .and_then(|id| world.directories[d1].groups.iter().position(|g| g.id == id))
        .unwrap_or(0);
    let mut s = Seeder {
        world,
        now,
        records: IdGen::new(seed, 50),
        accounts: IdGen::new(seed, 51),
    };
    let d1g = Some((d1, g1));
    let ids = IdGen::new(seed, 72);
    let e = |n: u64| ids.uuid(n);
    let at = |days: i64, hours: i64| {
        (now - Duration::days(days) - Duration::hours(hours)).trunc_subsecs(0)
    };

    // Records and accounts (the Atlassian side).
    let a12 = s.account("A12", "jon@example.com", "Jon Roe", 500);
    s.record(Rec::new("R12", d1g, &e(2), "jon@example.com", "Jon", "Roe", 500).link(&a12));
    let a13 = s.account("A13", "kai@example.com", "Kai Sato", 450);
    s.record(Rec::new("R13", d1g, &e(3), "kai@example.com", "Kai", "Sato", 450).link(&a13));
    let a14 = s.account("A14", "kim@example.com", "Kim Vo", 350);
    s.deactivate(&a14, 4);
    s.record(
        Rec::new("R14", d1g, &e(4), "kim@example.com", "Kim", "Vo", 350)
            .modified(30)
            .link(&a14),
    );
    let a15 = s.account("A15", "mo@example.com", "Mo Diaz", 800);
    if let Some(a) = s.world.account_mut(&a15) {
        a.claim_status = "unmanaged".into();
        a.management_source = None;
    }
    let a16 = s.account("A16", "ned@example.com", "Ned Kerr", 250);
    let r16 =
        s.record(Rec::new("R16", d1g, &e(6), "ned@example.com", "Ned", "Kerr", 250).link(&a16));
    let a17 = s.account("A17", "pia@example.com", "Pia Lind", 200);
    s.record(Rec::new("R17", d1g, &e(7), "pia@example.com", "Pia", "Lind", 200).link(&a17));
    let a19 = s.account("A19", "rui@example.com", "Rui Costa", 150);
    s.record(Rec::new("R19", d1g, "e-1900", "rui@example.com", "Rui", "Costa", 150).link(&a19));
    let a20 = s.account("A20", "tess@example.com", "Tess Ruiz", 100);
    let r20 =
        s.record(Rec::new("R20", d1g, &e(11), "tess@example.com", "Tess", "Ruiz", 100).link(&a20));
    let a21 = s.account("A21", "uma@example.com", "Uma Pike", 90);
    s.record(Rec::new("R21", d1g, &e(12), "uma@example.com", "Uma", "Pike", 90).link(&a21));
    let a22 = s.account("A22", "vic@example.com", "Vic Hale", 80);
    let r22 =
        s.record(Rec::new("R22", d1g, &e(13), "vic@example.com", "Vic", "Hale", 80).link(&a22));

    let mut world = s.world;
    // The SCIM side of the group seeds: G3 pushed from GD (`externalId` = its id), G4 from GF
    // (joined by name only: an `externalId` Entra never sent).
    let (ga, gd, gf) = (ids.uuid(103), ids.uuid(104), ids.uuid(105));
    let g3 = world.add_group(d1, "Atlassian Designers", seed ^ 0x6700, now);
    let g4 = world.add_group(d1, "ATLASSIAN FINANCE", seed ^ 0x6700, now);
    world.directories[d1].groups[g3].external_id = Some(gd.clone());
    for (g, r) in [(g3, &r20), (g4, &r20), (g4, &r22)] {
        let directory = &mut world.directories[d1];
        if let Some(i) = directory.users.iter().position(|u| &u.id == r) {
            directory.add_member(g, i);
        }
    }
    let (g3_id, g4_id) = (
        world.directories[d1].groups[g3].id.clone(),
        world.directories[d1].groups[g4].id.clone(),
    );
    for (label, id) in [
        ("GA", &ga),
        ("GD", &gd),
        ("GF", &gf),
        ("G3", &g3_id),
        ("G4", &g4_id),
    ] {
        world.labels.insert(label.into(), id.clone());
    }
    for (label, n) in [
        ("E1", 1),
        ("E2", 2),
        ("E3", 3),
        ("E4", 4),
        ("E5", 5),
        ("E6", 6),
        ("E7", 7),
        ("E8", 8),
        ("E10", 10),
        ("E11", 11),
        ("E12", 12),
        ("E13", 13),
    ] {
        world.labels.insert(label.into(), e(n));
    }
    let (n1, n2) = (ids.uuid(101), ids.uuid(102));
    world.labels.insert("N1".into(), n1.clone());
    world.labels.insert("N2".into(), n2.clone());
    let Some(t) = world.entra.first_mut() else {
        return world;
    };

    // The Entra side.
    let user = |n: u64, email: &str, given: &str, family: &str| {
        SimEntraUser::new(e(n), email, given, family)
    };
    let main = t
        .groups
        .iter()
        .position(|g| g.display_name == "Atlassian Users")
        .unwrap_or(0);
    let mut members = Vec::new();

    // E1: assigned directly, never provisioned.
    let ivy = user(1, "ivy@example.com", "Ivy", "Lam");
    t.assign(&ivy.id, "User", &ivy.display_name, at(3, 0));
    t.users.push(ivy);

    // E2: disabled in Entra, still a group member; R12 stays active.
    let mut jon = user(2, "jon@example.com", "Jon", "Roe");
    jon.account_enabled = Some(false);
    members.push(jon.id.clone());
    t.users.push(jon);

    // E3: deleted; its direct assignment remains, naming the gone id.
    t.assign(&e(3), "User", "Kai Sato", at(300, 0));

    // E4: enabled, no longer assigned (not a member of any assigned group).
    t.users.push(user(4, "kim@example.com", "Kim", "Vo"));

    // E5: assigned through the group; the create failed on A15's email.
    let mo = user(5, "mo@example.com", "Mo", "Diaz");
    members.push(mo.id.clone());
    let event =
        SimProvisioningEvent::success(t, "create", (&mo.id, &mo.display_name), "", at(0, 2));
    let reason = format!(
        "Failed to create User 'mo@example.com' in Atlassian Cloud; Error: StatusCode: Conflict Message: {}",
        conflict_text("mo@example.com")
    );
    let mut event = event.failed("EntryConflict", &reason);
    event.additional_details = Some(format!(
        "{{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:Error\"],\"status\":\"409\",\"detail\":\"{}\"}}",
        conflict_text("mo@example.com")
    ));
    t.log(event);
    t.users.push(mo);

    // E6: provisioned, then an update failed (not a conflict).
    let ned = user(6, "ned@example.com", "Ned", "Kerr");
    members.push(ned.id.clone());
    let source = (ned.id.as_str(), ned.display_name.as_str());
    for (action, days) in [("create", 20), ("update", 5)] {
        let event = SimProvisioningEvent::success(t, action, source, &r16, at(days, 0));
        t.log(event);
    }
    let failed = SimProvisioningEvent::success(t, "update", source, &r16, at(0, 1)).failed(
        "ScimBadRequest",
        "The SCIM endpoint refused the update: 400 Bad Request (invalid value for attribute 'title').",
    );
    t.log(failed);
    t.users.push(ned);

    // E7: renamed in Entra; the record keeps the old email.
    let pia = SimEntraUser::new(e(7), "pia.lind@example.com", "Pia", "Lind");
    members.push(pia.id.clone());
    t.users.push(pia);

    // E8: only in N1, which is nested in the assigned group.
    let quinn = user(8, "quinn@example.com", "Quinn", "Ash");
    let contractors = add_group(t, n1.clone(), "Atlassian Contractors", true, None);
    t.groups[contractors]
        .members
        .push(SimEntraMember::user(&quinn.id));
    t.groups[main].members.push(SimEntraMember::group(&n1));
    t.users.push(quinn);

    // E10: in an assigned group that is not security-enabled.
    let sam = user(10, "sam@example.com", "Sam", "Ng");
    let m365 = add_group(t, n2.clone(), "M365 Atlassian", false, None);
    t.groups[m365].members.push(SimEntraMember::user(&sam.id));
    t.assign(&n2, "Group", "M365 Atlassian", at(60, 0));
    t.users.push(sam);

    // E11: healthy; an old failure was followed by a success.
    let tess = user(11, "tess@example.com", "Tess", "Ruiz");
    members.push(tess.id.clone());
    let source = (tess.id.as_str(), tess.display_name.as_str());
    let old = SimProvisioningEvent::success(t, "update", source, &r20, at(3, 0)).failed(
        "ScimBadRequest",
        "The SCIM endpoint refused the update: 400 Bad Request.",
    );
    t.log(old);
    let fixed = SimProvisioningEvent::success(t, "update", source, &r20, at(1, 0));
    t.log(fixed);
    t.users.push(tess);

    // The group seeds' people: both intended through `Atlassian Users`.
    let uma = user(12, "uma@example.com", "Uma", "Pike");
    let vic = user(13, "vic@example.com", "Vic", "Hale");
    members.push(uma.id.clone());
    members.push(vic.id.clone());
    for (id, name, scim, group_members) in [
        (&ga, "Atlassian Admins", None, vec![uma.id.clone()]),
        (
            &gd,
            "Atlassian Designers",
            Some(g3_id),
            vec![e(11), uma.id.clone()],
        ),
        (&gf, "Atlassian Finance", Some(g4_id), vec![e(11)]),
    ] {
        let g = add_group(t, id.clone(), name, true, scim);
        t.groups[g]
            .members
            .extend(group_members.iter().map(SimEntraMember::user));
        t.assign(id, "Group", name, at(30, 0));
    }
    t.users.push(uma);
    t.users.push(vic);

    for id in members {
        t.groups[main].members.push(SimEntraMember::user(id));
    }
    if let Some(job) = t.job_mut() {
        job.set_state(
            JobState::Quarantine("EncounteredEscrowProportionThreshold".into()),
            now.trunc_subsecs(0),
        );
    }
    world
}
