//! The targets a rule makes of a finding, and the placeholder email.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::{Inputs, Target};
use crate::detect::Kind;
use crate::findings::{AccountView, FindingView};
use crate::remediate::policy::{Action, Rule};

pub(super) type Derived = (Vec<Target>, Option<String>, String, bool);

/// The steps a rule makes of a finding: (targets, new email, reason, target found).
pub(super) fn derive(f: &FindingView, rule: &Rule, inp: &Inputs<'_>) -> Vec<Derived> {
    let none = |why: &str| vec![(Vec::new(), None, why.to_string(), false)];
    let who = f
        .accounts
        .first()
        .and_then(|a| a.email.clone())
        .or_else(|| f.scim_users.first().and_then(|u| u.email.clone()))
        .unwrap_or_else(|| "(no email)".into());
    match rule.action {
        Action::Restore
            if f.accounts.first().is_some_and(|a| {
                a.account_status != "active" || a.membership_status != "suspended"
            }) =>
        {
            none(
                "restore only gives back suspended access: the account is deactivated or not suspended",
            )
        }
        Action::Suspend | Action::Restore => match f.accounts.first() {
            Some(a) => {
                let why = if rule.action == Action::Suspend {
                    format!(
                        "the IdP deprovisioned {who} but the account still has access: suspend it (reversible)"
                    )
                } else {
                    format!("{who} is active in the IdP but suspended in Atlassian: restore access")
                };
                vec![(vec![Target::account(a)], None, why, true)]
            }
            None => none("the finding names no account"),
        },
        Action::DeleteScimRecord => match f.scim_users.first() {
            Some(u) => vec![(
                vec![Target::record(u)],
                None,
                format!(
                    "delete the SCIM record of {who} so the link is gone (the IdP may re-push it)"
                ),
                true,
            )],
            None => none("the finding names no SCIM record"),
        },
        Action::DeleteInScimDb => match f.accounts.first() {
            Some(a) => {
                let mut targets = vec![Target::account(a)];
                targets.extend(linked_records(inp, &a.account_id));
                let n = targets.len() - 1;
                vec![(
                    targets,
                    None,
                    format!(
                        "delete the {n} SCIM record(s) linked to {who} in every directory (onlyDeleteUserInDB)"
                    ),
                    true,
                )]
            }
            None => none("the finding names no account"),
        },
        Action::Unlink | Action::MoveEmail => {
            let Some(a) = conflicting_account(f, inp) else {
                return none("no newer record's account to act on");
            };
            if rule.action == Action::MoveEmail {
                let new_email = a.email.as_deref().map(|e| {
                    placeholder(
                        &inp.policy.placeholder_email_template,
                        e,
                        &a.account_id,
                        inp.now,
                    )
                });
                return match new_email {
                    Some(n) => vec![(
                        vec![Target::account(a)],
                        Some(n.clone()),
                        format!(
                            "move account {} off {who} to {n} so the IdP's record can take the email",
                            a.account_id
                        ),
                        true,
                    )],
                    None => none("the account's email is hidden"),
                };
            }
            let records = linked_records(inp, &a.account_id);
            if records.is_empty() {
                return none("the account has no SCIM link to remove");
            }
            records
                .into_iter()
                .map(|r| {
                    let why = format!(
                        "unlink record {} from account {} (the email {who} is contested)",
                        r.scim_id.as_deref().unwrap_or(""),
                        a.account_id
                    );
                    (vec![r], None, why, true)
                })
                .collect()
        }
    }
}

/// The account to unlink / move: for `email_conflict` the account holding the email; for
/// `duplicate_email` the account linked from the newest record, when 2+ accounts are involved.
fn conflicting_account<'f>(f: &'f FindingView, inp: &Inputs<'_>) -> Option<&'f AccountView> {
    match f.kind {
        Kind::EmailConflict => f.accounts.first(),
        Kind::DuplicateEmail if f.accounts.len() >= 2 => {
            let created: HashMap<(&str, &str), &str> = inp
                .state
                .records
                .iter()
                .map(|r| {
                    (
                        (r.directory_id.as_str(), r.scim_id.as_str()),
                        r.created.as_deref().unwrap_or(""),
                    )
                })
                .collect();
            let newest = f
                .scim_users
                .iter()
                .filter(|u| u.account_id.is_some())
                .max_by_key(|u| {
                    (
                        created
                            .get(&(u.directory_id.as_str(), u.scim_id.as_str()))
                            .copied(),
                        &u.scim_id,
                    )
                })?;
            let id = newest.account_id.as_deref()?;
            f.accounts.iter().find(|a| a.account_id == id)
        }
        _ => None,
    }
}

/// Records of the snapshot linked to `account_id`, in every directory.
fn linked_records(inp: &Inputs<'_>, account_id: &str) -> Vec<Target> {
    let names = inp.directory_names;
    inp.state
        .records
        .iter()
        .filter(|r| r.account_id.as_deref() == Some(account_id))
        .map(|r| Target {
            account_id: r.account_id.clone(),
            directory: Some(
                names
                    .get(&r.directory_id)
                    .unwrap_or(&r.directory_id)
                    .clone(),
            ),
            directory_id: Some(r.directory_id.clone()),
            scim_id: Some(r.scim_id.clone()),
            email: r.email.clone(),
        })
        .collect()
}

/// Fills the placeholder template for `email`.
pub fn placeholder(template: &str, email: &str, account_id: &str, now: DateTime<Utc>) -> String {
    let (local, domain) = email
        .trim()
        .rsplit_once('@')
        .unwrap_or((email.trim(), "invalid"));
    template
        .replace("{local}", local)
        .replace("{domain}", domain)
        .replace("{date}", &now.format("%Y%m%d").to_string())
        .replace("{account_id}", account_id)
}
