//! `orphan_scim_record`: an active SCIM record whose `externalId` matches no IdP user at all (and
//! no weaker key matches one either, and looking it up found no user, not even a soft-deleted one);
//! a user the IdP side once named is deleted, not an orphan. High when the linked account has
//! access, else medium.

use super::{Finding, IdpIndex, Index, Kind, Severity, who};

/// The fields this kind reads ([`super::undetermined`]): the record's `active`, join keys and link.
pub const READS: &[&str] = &[
    "active",
    "externalId",
    "userName",
    "emails",
    "atlassian-external",
    "accountType",
];

pub fn detect(x: &IdpIndex<'_>, index: &Index<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    for (r, joined) in &x.records {
        if r.active() != Some(true) || joined.is_some() {
            continue;
        }
        if r.external_id()
            .is_some_and(|id| x.input.ever_seen.contains(id))
        {
            continue;
        }
        let linked = index.linked_account(*r);
        // An account whose status cannot be read may still give access: never under-ranked.
        let access = linked.is_some_and(|a| !a.lacks_access());
        let mut f = Finding::idp(
            Kind::OrphanScimRecord,
            x.directory_id,
            [*r],
            linked.map(|a| a.account_id()),
            [],
            format!(
                "The active SCIM record of {} (externalId {}) matches no user in the IdP{}.",
                who(*r),
                r.external_id().unwrap_or("absent"),
                if access {
                    ": a person the IdP does not know keeps access through the linked account"
                } else {
                    ""
                }
            ),
        );
        // High while a person the IdP does not know keeps access (scenarios.md), else medium.
        if !access {
            f.severity = Severity::Medium;
        }
        out.push(f);
    }
    out
}
