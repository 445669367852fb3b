//! `idp_email_mismatch`: the IdP user's email (per the job's mapping) differs from its SCIM
//! record's primary email.

use super::idp_index::label;
use super::{Finding, IdpIndex, Index, Kind};
use crate::model::normalize_email;

/// The fields this kind reads ([`super::undetermined`]): the record's `active`, emails, join keys and link; the IdP user's `accountEnabled`, intent and email.
pub const READS: &[&str] = &[
    "active",
    "externalId",
    "userName",
    "emails",
    "atlassian-external",
    "accountEnabled",
    crate::model::idp::IdpUser::OKTA_STATUS,
    "intent",
    "userPrincipalName",
    "mail",
    "accountType",
];

pub fn detect(x: &IdpIndex<'_>, index: &Index<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    for (r, joined) in &x.records {
        let Some((u, key)) = joined else { continue };
        if r.active() != Some(true) || !IdpIndex::wanted(u) {
            continue;
        }
        let (Some(idp_email), Some(scim_email)) = (&u.email, r.email()) else {
            continue;
        };
        if normalize_email(idp_email) == normalize_email(scim_email) {
            continue;
        }
        let linked = index.linked_account(*r);
        out.push(Finding::idp(
            Kind::IdpEmailMismatch,
            x.directory_id,
            [*r],
            linked.map(|a| a.account_id()),
            [*u],
            format!(
                "The IdP says {} but the SCIM record still has {scim_email}{}: the email change did not reach Atlassian.",
                label(u),
                key.note()
            ),
        ));
    }
    out
}
