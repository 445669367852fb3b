//! `provisioning_error`: the IdP's latest provisioning event for the user failed (Entra log
//! `failure`). Needs the log: with log facts unknown it is not evaluated.

use super::assigned_not_provisioned::latest_failure;
use super::idp_index::label;
use super::{Finding, IdpIndex, Index, Kind};

/// The fields this kind reads ([`super::undetermined`]): the joined records' join keys; the email holder's email.
pub const READS: &[&str] = &["externalId", "userName", "emails", "email", "accountType"];

pub fn detect(x: &IdpIndex<'_>, index: &Index<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    for u in &x.input.side.users {
        let Some(event) = latest_failure(x, &u.id) else {
            continue;
        };
        let records: Vec<_> = x
            .records_of
            .get(u.id.as_str())
            .into_iter()
            .flatten()
            .map(|(r, _)| *r)
            .collect();
        let account = x.account_of(u, index);
        let code = event.error_code.as_deref().unwrap_or("no error code");
        let summary = if event.is_email_conflict() {
            format!(
                "The IdP's last push of {} failed ({code}): the email already exists in Atlassian{} (the IdP's view of an email_conflict).",
                label(u),
                account
                    .map(|a| format!(" on account {}", a.account_id))
                    .unwrap_or_default()
            )
        } else {
            format!(
                "The IdP's last provisioning of {} ({}) failed: {code}.",
                label(u),
                event.action
            )
        };
        let mut f = Finding::idp(
            Kind::ProvisioningError,
            x.directory_id,
            records,
            account.map(|a| a.account_id.as_str()),
            [u],
            summary,
        );
        f.event = Some(event);
        out.push(f);
    }
    out
}
