//! `orphan_scim_record`: an active SCIM record whose `externalId` matches no IdP user at all (and
//! no weaker key matches one either); a user the IdP side once named is deleted, not an orphan.

use super::{Finding, IdpIndex, Index, Kind, who};

pub fn detect(x: &IdpIndex<'_>, index: &Index<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    for (r, joined) in &x.records {
        if r.active != Some(true) || joined.is_some() {
            continue;
        }
        if r.external_id
            .as_deref()
            .is_some_and(|id| x.input.ever_seen.contains(id))
        {
            continue;
        }
        let linked = index.linked_account(r);
        out.push(Finding::idp(
            Kind::OrphanScimRecord,
            x.directory_id,
            [*r],
            linked.map(|a| a.account_id.as_str()),
            [],
            format!(
                "The active SCIM record of {} (externalId {}) matches no user in the IdP.",
                who(r),
                r.external_id.as_deref().unwrap_or("absent")
            ),
        ));
    }
    out
}
