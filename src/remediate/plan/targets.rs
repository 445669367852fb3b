//! The targets a rule makes of a finding, and the placeholder email.

use chrono::{DateTime, Utc};

use super::{Inputs, Target};
use crate::detect::Kind;
use crate::findings::{AccountView, FindingView, ScimUserView};
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
            Some(u) if f.kind == Kind::StaleInactiveLink && !stale_delete_safe(inp, u) => none(
                "a SCIM DELETE deactivates the linked account: allowed only when the account has no access and every record linked to it is inactive",
            ),
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
            Some(_)
                if !f
                    .scim_users
                    .first()
                    .is_some_and(|u| stale_delete_safe(inp, u)) =>
            {
                none(
                    "deleting the account's SCIM records would hide a leaver who keeps access: allowed only when the account has no access and every record linked to it is inactive",
                )
            }
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
            let a = match conflicting_account(f, inp) {
                Ok(a) => a,
                Err(why) => return none(why),
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

/// The account to unlink / move: the account of the strictly newer record, never the older
/// record's. `email_conflict`: the account holding the email, when every record linked to it is
/// newer than the finding's record. `duplicate_email`: the account of the newest record, when 2+
/// accounts are involved and no older record of the finding links it. `Err` explains why not.
fn conflicting_account<'f>(
    f: &'f FindingView,
    inp: &Inputs<'_>,
) -> Result<&'f AccountView, &'static str> {
    const UNSURE: &str = "cannot tell which record is newer";
    let created = |dir: &str, id: &str| {
        inp.state
            .records
            .iter()
            .find(|r| r.directory_id == dir && r.scim_id == id)
            .and_then(|r| r.created.as_deref())
            .and_then(|c| DateTime::parse_from_rfc3339(c).ok())
    };
    match f.kind {
        Kind::EmailConflict => {
            let (Some(holder), Some(u)) = (f.accounts.first(), f.scim_users.first()) else {
                return Err("the finding names no record or no account");
            };
            let mine = created(&u.directory_id, &u.scim_id).ok_or(UNSURE)?;
            let linked: Vec<_> = inp
                .state
                .records
                .iter()
                .filter(|r| r.account_id.as_deref() == Some(holder.account_id.as_str()))
                .collect();
            if linked.is_empty() {
                return Err(
                    "the account holding the email is linked from no record: cannot tell which record is newer",
                );
            }
            for r in linked {
                let theirs = created(&r.directory_id, &r.scim_id).ok_or(UNSURE)?;
                if theirs == mine {
                    return Err(UNSURE);
                }
                if theirs < mine {
                    return Err(
                        "the account holding the email belongs to the older record: it is not moved",
                    );
                }
            }
            Ok(holder)
        }
        Kind::DuplicateEmail if f.accounts.len() >= 2 => {
            let mut dated = Vec::with_capacity(f.scim_users.len());
            for u in &f.scim_users {
                dated.push((created(&u.directory_id, &u.scim_id).ok_or(UNSURE)?, u));
            }
            dated.sort_by_key(|d| std::cmp::Reverse(d.0));
            let [(newest_at, newest), rest @ ..] = dated.as_slice() else {
                return Err("the finding names no record");
            };
            if rest.first().is_some_and(|(at, _)| at == newest_at) {
                return Err(UNSURE);
            }
            let id = newest
                .account_id
                .as_deref()
                .ok_or("the newest record is not linked to an account")?;
            if rest
                .iter()
                .any(|(_, u)| u.account_id.as_deref() == Some(id))
            {
                return Err(
                    "the newest record's account is also linked from an older record: it is not moved",
                );
            }
            // Records outside the finding (other emails, other directories) linked to the same
            // account must be newer too, or the account may be the one with history.
            if let Some((older_at, _)) = rest.first() {
                for r in inp
                    .state
                    .records
                    .iter()
                    .filter(|r| r.account_id.as_deref() == Some(id))
                {
                    let theirs = created(&r.directory_id, &r.scim_id).ok_or(UNSURE)?;
                    if theirs <= *older_at {
                        return Err(
                            "the newest record's account is also linked from an older record: it is not moved",
                        );
                    }
                }
            }
            f.accounts
                .iter()
                .find(|a| a.account_id == id)
                .ok_or("the newest record's account is not in the org")
        }
        _ => Err("no newer record's account to act on"),
    }
}

/// `stale_inactive_link`: the linked account has no access (deactivated or suspended) and every
/// record of the snapshot linked to it is inactive, so the DELETE cannot take access away.
fn stale_delete_safe(inp: &Inputs<'_>, u: &ScimUserView) -> bool {
    let Some(id) = u.account_id.as_deref() else {
        return false;
    };
    let no_access = inp
        .state
        .accounts
        .iter()
        .find(|a| a.account_id == id)
        .is_some_and(|a| a.account_status != "active" || a.membership_status == "suspended");
    let linked: Vec<_> = inp
        .state
        .records
        .iter()
        .filter(|r| r.account_id.as_deref() == Some(id))
        .collect();
    no_access && !linked.is_empty() && linked.iter().all(|r| r.active == Some(false))
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
