//! `assigned_not_provisioned`: an intended, enabled IdP user has no active SCIM record in the
//! directory (scenarios.md, "IdP findings").

use super::idp_index::label;
use super::undetermined::{RECORD_JOIN, reads_field};
use super::{Finding, IdpIndex, IdpRef, Index, Kind, Subject, Undetermined};

/// The fields this kind reads ([`super::undetermined`]): the IdP user's `accountEnabled` and intent; the joined records' `active` and join keys; the email holder's email.
pub const READS: &[&str] = &[
    "accountEnabled",
    crate::model::idp::IdpUser::OKTA_STATUS,
    "intent",
    "active",
    "externalId",
    "userName",
    "emails",
    "email",
    "accountType",
];

pub fn detect(x: &IdpIndex<'_>, index: &Index<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    for u in x.input.side.users.iter().filter(|u| IdpIndex::wanted(u)) {
        let joined = x.records_of.get(u.id.as_str());
        if joined.is_some_and(|rs| rs.iter().any(|(r, _)| r.active() == Some(true))) {
            continue;
        }
        // A record whose state is unknown may be the active one: not a finding.
        if joined.is_some_and(|rs| rs.iter().any(|(r, _)| r.active().is_none())) {
            continue;
        }
        let inactive: Vec<_> = joined.into_iter().flatten().map(|(r, _)| *r).collect();
        let account = x.account_of(u, index);
        let mut summary = format!(
            "{} is assigned to the Atlassian app and enabled in the IdP, but has no active SCIM record",
            label(u)
        );
        if !inactive.is_empty() {
            summary.push_str(" (only an inactive one)");
        }
        if let Some(a) = account {
            summary.push_str(&format!(
                "; account {} already holds the email",
                a.account_id()
            ));
        }
        summary.push('.');
        let mut f = Finding::idp(
            Kind::AssignedNotProvisioned,
            x.directory_id,
            inactive,
            account.map(|a| a.account_id()),
            [u],
            summary,
        );
        f.event = latest_failure(x, &u.id);
        out.push(f);
    }
    out
}

/// The user's latest provisioning event when it failed: it explains the finding.
pub(super) fn latest_failure(
    x: &IdpIndex<'_>,
    user_id: &str,
) -> Option<crate::model::idp::ProvisioningEvent> {
    x.input
        .latest_events
        .get(user_id)
        .filter(|e| e.failed())
        .cloned()
}

/// What this kind cannot decide beyond its listed subjects: an intended, enabled user joined to a
/// record whose `active` is unknown (that record may be the active one), and — across the
/// directory — an active (or unknown) record whose join keys are unknown (it may be any user's
/// record, whoever a weaker key joins it to now).
pub fn undetermined(x: &IdpIndex<'_>, u: &mut Undetermined) {
    for user in x.input.side.users.iter().filter(|u| IdpIndex::wanted(u)) {
        let joined = x.records_of.get(user.id.as_str());
        if joined.is_some_and(|rs| rs.iter().any(|(r, _)| r.active().is_none())) {
            u.add(
                Kind::AssignedNotProvisioned,
                Subject::IdpUser(IdpRef::of(user)),
                ["active"],
            );
        }
    }
    for r in &x.all {
        let keys: Vec<&String> = r
            .unknown()
            .iter()
            .filter(|f| reads_field(RECORD_JOIN, f))
            .collect();
        if !keys.is_empty() && r.active() != Some(false) {
            u.add(
                Kind::AssignedNotProvisioned,
                Subject::Directory(x.directory_id.to_string()),
                keys.into_iter().cloned(),
            );
        }
    }
}
