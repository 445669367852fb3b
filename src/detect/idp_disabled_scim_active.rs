//! `idp_disabled_scim_active`: an active SCIM record whose IdP user is disabled, deleted or no
//! longer intended: the IdP did not send `active:false`. Critical when the linked account has
//! access, else high.

use super::idp_index::label;
use super::{Finding, IdpIndex, Index, Kind, Severity, who};

/// The fields this kind reads ([`super::undetermined`]): the record's `active`, join keys and link; the IdP user's `accountEnabled`, intent and join keys.
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
        if r.active() != Some(true) {
            continue;
        }
        let linked = index.linked_account(*r);
        // The IdP user is listed in every branch (the one gone from the IdP by the record's
        // `externalId`), so disabled and then deleted — the usual leaver — is one finding.
        let mut gone = None;
        let (users, why) = match joined {
            Some((u, key)) if u.deleted => (
                vec![*u],
                format!(
                    "its IdP user {} was deleted{}{}",
                    u.id,
                    u.deleted_at
                        .as_deref()
                        .map(|t| format!(" on {t}"))
                        .unwrap_or_default(),
                    key.note()
                ),
            ),
            Some((u, key)) if u.enabled == Some(false) => (
                vec![*u],
                // The IdP's own word when it has one (Okta: SUSPENDED, DEPROVISIONED).
                match u.status.as_deref().map(str::trim) {
                    Some(s) if s.eq_ignore_ascii_case("SUSPENDED") => format!(
                        "{} is suspended in the IdP (Okta pushes nothing for a suspended user){}",
                        label(u),
                        key.note()
                    ),
                    Some(s) if s.eq_ignore_ascii_case("DEPROVISIONED") => {
                        format!("{} is deactivated in the IdP{}", label(u), key.note())
                    }
                    _ => format!("{} is disabled in the IdP{}", label(u), key.note()),
                },
            ),
            Some((u, key)) if !u.intended => (
                vec![*u],
                format!(
                    "{} is no longer assigned to the Atlassian app{}",
                    label(u),
                    key.note()
                ),
            ),
            Some(_) => continue,
            None => match r.external_id() {
                Some(id) if x.input.ever_seen.contains(id) => {
                    gone = Some(id);
                    (
                        Vec::new(),
                        format!("its IdP user {id} is gone from the IdP (deleted)"),
                    )
                }
                _ => continue,
            },
        };
        // An account whose status cannot be read may still give access: never under-ranked.
        let access = linked.is_some_and(|a| !a.lacks_access());
        let summary = format!(
            "The SCIM record of {} is still active although {why}: the IdP did not send active:false{}.",
            who(*r),
            if access {
                "; the linked account still has access"
            } else {
                ""
            }
        );
        let mut f = Finding::idp(
            Kind::IdpDisabledScimActive,
            x.directory_id,
            [*r],
            linked.map(|a| a.account_id()),
            users,
            summary,
        );
        if let Some(id) = gone {
            f.idp_users.push(super::IdpRef {
                directory_id: x.directory_id.to_string(),
                id: id.to_string(),
            });
        }
        if !access {
            f.severity = Severity::High;
        }
        out.push(f);
    }
    out
}
