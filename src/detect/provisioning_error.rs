//! `provisioning_error`: the IdP's latest provisioning of the user failed: Entra's latest log
//! event is a `failure` (needs the log: with log facts unknown it is not evaluated); Okta's app
//! user `syncState` is `ERROR` (decided without the log, whose latest `FAILURE` event explains it
//! when read).

use super::assigned_not_provisioned::latest_failure;
use super::idp_index::label;
use super::{Finding, IdpIndex, Index, Kind};
use crate::model::idp::FailureSource;

/// The fields this kind reads ([`super::undetermined`]): the joined records' join keys; the email
/// holder's email; the user's push state (Okta `syncState`).
pub const READS: &[&str] = &[
    "externalId",
    "userName",
    "emails",
    "email",
    "accountType",
    crate::model::idp::IdpUser::SYNC_STATE,
];

pub fn detect(x: &IdpIndex<'_>, index: &Index<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    let per_user = x.input.side.failures == FailureSource::UserState;
    for u in &x.input.side.users {
        let event = latest_failure(x, &u.id);
        if per_user && u.push_failed() != Some(true) || !per_user && event.is_none() {
            continue;
        }
        let records: Vec<_> = x
            .records_of
            .get(u.id.as_str())
            .into_iter()
            .flatten()
            .map(|(r, _)| *r)
            .collect();
        let account = x.account_of(u, index);
        let summary = match &event {
            Some(event) if event.is_email_conflict() => format!(
                "The IdP's last push of {} failed ({}): the email already exists in Atlassian{} (the IdP's view of an email_conflict).",
                label(u),
                event.error_code.as_deref().unwrap_or("no error code"),
                account
                    .map(|a| format!(" on account {}", a.account_id()))
                    .unwrap_or_default()
            ),
            // Okta names no error code: the event type is the code, its reason says why.
            Some(event) if event.error_code.as_deref() == Some(event.action.as_str()) => format!(
                "The IdP's last push of {} failed ({}): {}",
                label(u),
                event.action,
                event
                    .reason
                    .as_deref()
                    .map(|r| r.chars().take(300).collect::<String>())
                    .unwrap_or_else(|| "no reason given.".into())
            ),
            Some(event) => format!(
                "The IdP's last provisioning of {} ({}) failed: {}.",
                label(u),
                event.action,
                event.error_code.as_deref().unwrap_or("no error code")
            ),
            None => format!(
                "The IdP's last push of {} failed (its sync state is {}); the log does not say why.",
                label(u),
                u.sync_state.as_deref().unwrap_or("ERROR")
            ),
        };
        let mut f = Finding::idp(
            Kind::ProvisioningError,
            x.directory_id,
            records,
            account.map(|a| a.account_id()),
            [u],
            summary,
        );
        f.event = event;
        out.push(f);
    }
    out
}
