//! The targets a rule makes of a finding, and the placeholder email.

use chrono::{DateTime, Utc};

use super::{Contest, IdpTarget, Inputs, Target};
use crate::detect::Kind;
use crate::findings::{AccountView, FindingView, ScimUserView};
use crate::model::{Account, normalize_email};
use crate::remediate::policy::{Action, Rule};

/// One step a rule makes of a finding.
pub(super) struct Derived {
    pub targets: Vec<Target>,
    /// `move_email` only: the placeholder address.
    pub new_email: Option<String>,
    /// `unlink` / `move_email`: the contested email and the record claiming it.
    pub contest: Option<Contest>,
    pub reason: String,
    /// The target was found (else `reason` says why not).
    pub found: bool,
}

fn none(why: &str) -> Vec<Derived> {
    vec![Derived {
        targets: Vec::new(),
        new_email: None,
        contest: None,
        reason: why.to_string(),
        found: false,
    }]
}

fn found(targets: Vec<Target>, reason: String) -> Derived {
    Derived {
        targets,
        new_email: None,
        contest: None,
        reason,
        found: true,
    }
}

/// The steps a rule makes of an open finding.
pub(super) fn derive(f: &FindingView, rule: &Rule, inp: &Inputs<'_>) -> Vec<Derived> {
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
                vec![found(vec![Target::account(a)], why)]
            }
            None => none("the finding names no account"),
        },
        Action::DeleteScimRecord => match f.scim_users.first() {
            Some(u) if f.kind == Kind::StaleInactiveLink && !stale_delete_safe(inp, u) => none(
                "a SCIM DELETE deactivates the linked account: allowed only when the account has no access and every record linked to it is inactive",
            ),
            Some(u) => vec![found(
                vec![Target::record(u)],
                format!(
                    "delete the SCIM record of {who} so the link is gone (the IdP may re-push it)"
                ),
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
                vec![found(
                    targets,
                    format!(
                        "delete the {n} SCIM record(s) linked to {who} in every directory (onlyDeleteUserInDB)"
                    ),
                )]
            }
            None => none("the finding names no account"),
        },
        Action::Unlink => {
            let (a, contest) = match conflicting_account(f, inp) {
                Ok(found) => found,
                Err(why) => return none(why),
            };
            if a.email.as_deref().map(normalize_email) != Some(contest.email.clone()) {
                return none(
                    "the account does not hold the contested email: unlinking it frees nothing",
                );
            }
            let records = linked_records(inp, &a.account_id);
            if records.is_empty() {
                return none("the account has no SCIM link to remove");
            }
            // A record with another email is another identity's claim on the account: unlinking
            // it is not this finding's to decide (and the apply-time re-check would refuse it).
            if records
                .iter()
                .any(|r| r.email.as_deref().map(normalize_email) != Some(contest.email.clone()))
            {
                return none(
                    "the account is also linked from a record with another email: it is not unlinked",
                );
            }
            records
                .into_iter()
                .map(|r| {
                    let why = format!(
                        "unlink record {} from account {} (the email {} is contested by record {})",
                        r.scim_id.as_deref().unwrap_or(""),
                        a.account_id,
                        contest.email,
                        contest.record.scim_id.as_deref().unwrap_or("")
                    );
                    Derived {
                        contest: Some(contest.clone()),
                        ..found(vec![r], why)
                    }
                })
                .collect()
        }
        Action::ProvisionOnDemand => on_demand(f, inp),
        Action::MoveEmail => match conflicting_account(f, inp) {
            Ok((a, contest)) => move_email(inp, &a.account_id, a.email.as_deref(), contest, None),
            Err(why) => match finish_unlink(f, inp) {
                Some((account, contest, at)) => move_email(
                    inp,
                    &account.account_id,
                    account.email.as_deref(),
                    contest,
                    Some(at),
                ),
                None => none(why),
            },
        },
    }
}

/// The `move_email` step for `account_id`, when it holds the contested email. `after`: the time of
/// the earlier cycle's unlink this move finishes.
fn move_email(
    inp: &Inputs<'_>,
    account_id: &str,
    email: Option<&str>,
    contest: Contest,
    after: Option<&str>,
) -> Vec<Derived> {
    let Some(email) = email else {
        return none("the account's email is hidden");
    };
    if normalize_email(email) != contest.email {
        return none("the account does not hold the contested email: nothing to move");
    }
    let new_email = placeholder(
        &inp.policy.placeholder_email_template,
        email,
        account_id,
        inp.now,
    );
    let mut reason = format!(
        "move account {account_id} off {email} to {new_email} so record {} can take the email",
        contest.record.scim_id.as_deref().unwrap_or("")
    );
    if let Some(at) = after {
        reason.push_str(&format!(" (finishes the unlink of {at})"));
    }
    vec![Derived {
        targets: vec![Target {
            account_id: Some(account_id.to_string()),
            email: Some(email.to_string()),
            ..Default::default()
        }],
        new_email: Some(new_email),
        contest: Some(contest),
        reason,
        found: true,
    }]
}

/// The `move_email` that finishes an earlier unlink of a finding no longer open (an unlink changes
/// a `duplicate_email` finding's identity), when it is still to do.
pub(super) fn finish_move(f: &FindingView, inp: &Inputs<'_>) -> Option<Derived> {
    let (account, contest, at) = finish_unlink(f, inp)?;
    move_email(
        inp,
        &account.account_id,
        account.email.as_deref(),
        contest,
        Some(at),
    )
    .pop()
    .filter(|d| d.found)
}

/// An unlink of this finding succeeded in an earlier cycle and its account still holds the
/// contested email, has no SCIM link, and the claiming record still carries the email: the move
/// is still to do. (Once unlinked, the finding alone no longer tells which account to move.)
fn finish_unlink<'i>(f: &FindingView, inp: &Inputs<'i>) -> Option<(&'i Account, Contest, &'i str)> {
    let u = inp.unlinked.iter().rev().find(|u| u.finding_id == f.id)?;
    let account = inp
        .state
        .accounts
        .iter()
        .find(|a| a.account_id == u.account_id)?;
    let holds = account.email.as_deref().map(normalize_email) == Some(u.contest.email.clone());
    let linked = inp
        .state
        .records
        .iter()
        .any(|r| r.account_id.as_deref() == Some(u.account_id.as_str()));
    let (dir, id) = (
        u.contest.record.directory_id.as_deref()?,
        u.contest.record.scim_id.as_deref()?,
    );
    let claimed = inp.state.records.iter().any(|r| {
        r.directory_id == dir
            && r.scim_id == id
            && r.email.as_deref().map(normalize_email) == Some(u.contest.email.clone())
            && r.account_id.as_deref() != Some(u.account_id.as_str())
    });
    (holds && !linked && claimed).then(|| (account, u.contest.clone(), u.at.as_str()))
}

/// The account to unlink / move and the record contesting its email: the account of the strictly
/// newer record, never the older record's. `email_conflict`: the account holding the email, when
/// every record linked to it is newer than the finding's record (which contests it).
/// `duplicate_email`: the account of the newest record, when 2+ accounts are involved and no older
/// record of the finding links it (the oldest active record contests it). `Err` explains why not.
fn conflicting_account<'f>(
    f: &'f FindingView,
    inp: &Inputs<'_>,
) -> Result<(&'f AccountView, Contest), &'static str> {
    const UNSURE: &str = "cannot tell which record is newer";
    let created = |dir: &str, id: &str| {
        inp.state
            .records
            .iter()
            .find(|r| r.directory_id == dir && r.scim_id == id)
            .and_then(|r| r.created.as_deref())
            .and_then(|c| DateTime::parse_from_rfc3339(c).ok())
    };
    let contest = |u: &ScimUserView| -> Result<Contest, &'static str> {
        Ok(Contest {
            email: normalize_email(
                u.email
                    .as_deref()
                    .ok_or("the contesting record has no email")?,
            ),
            record: Target::record(u),
        })
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
            Ok((holder, contest(u)?))
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
            // The email is freed only for a person the IdP still has: an active older record.
            let (_, oldest) = rest
                .iter()
                .rev()
                .find(|(_, u)| u.active == Some(true))
                .ok_or("no older record that is active claims the email: nothing to free it for")?;
            let account = f
                .accounts
                .iter()
                .find(|a| a.account_id == id)
                .ok_or("the newest record's account is not in the org")?;
            Ok((account, contest(oldest)?))
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
        .is_some_and(|a| a.lacks_access());
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
            idp: None,
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

/// The `provision_on_demand` step of an IdP finding: its one IdP user, with the job and rule ids
/// of the directory's stored IdP side (Entra only). Refused when the snapshot shows the user
/// cannot be provisioned (disabled, deleted, not intended, no email) or when another account
/// holds the email (Atlassian would answer "already exists").
fn on_demand(f: &FindingView, inp: &Inputs<'_>) -> Vec<Derived> {
    let [view] = f.idp_users.as_slice() else {
        return none("the finding names no single IdP user");
    };
    let names = inp.directory_names;
    let dir = names
        .iter()
        .find(|(_, name)| **name == view.directory)
        .map(|(id, _)| id.clone())
        .unwrap_or_else(|| view.directory.clone());
    let name = names.get(&dir).unwrap_or(&dir);
    let Some(side) = inp.idp.sides.get(&dir) else {
        return vec![refused(format!(
            "no IdP side is stored for directory {name}: the provisioning job and rule ids are unknown"
        ))];
    };
    if side.kind == "okta" {
        return vec![refused(format!(
            "Okta has no call to push one user (directory {name}'s IdP is Okta; idp-api.md §2.4): report only — retry the failed task in the Admin Console (Dashboard → Tasks) or from the app's Assignments tab"
        ))];
    }
    if side.kind != "entra" {
        return vec![refused(format!(
            "provision on demand exists only for Entra ID (directory {name}'s IdP is {}): report only",
            side.kind
        ))];
    }
    let Some(job_id) = side.job_id.clone() else {
        return vec![refused(format!(
            "no provisioning job is stored for directory {name}'s IdP: provision on demand needs its job id"
        ))];
    };
    let Some(rule_id) = side.rule_id.clone() else {
        return vec![refused(format!(
            "the user rule id of directory {name}'s provisioning job is unknown (its mapping could not be read): provision on demand needs it"
        ))];
    };
    let Some(stored) = inp.idp.users.get(&(dir.clone(), view.id.clone())) else {
        return vec![refused(format!(
            "IdP user {} is not stored for directory {name}",
            view.id
        ))];
    };
    let u = &stored.user;
    if u.deleted {
        return none("the IdP user is deleted: Entra cannot provision it on demand");
    }
    if u.enabled != Some(true) {
        return none(
            "the IdP user is not enabled (disabled, or its state unknown) in the snapshot: Entra cannot provision it on demand",
        );
    }
    // With `scope = "all"` assignments are not intent: the job's scoping filter decides.
    if !u.intended && !side.scope_all {
        return none(
            "the IdP user is not assigned to the app (directly or through an assigned security group) in the snapshot",
        );
    }
    let Some(email) = view.email.clone().or_else(|| u.email.clone()) else {
        return none(
            "the IdP user has no email (per the job's mapping): cannot tell whether another account holds it",
        );
    };
    let external_id = u.scim_external_id.clone().unwrap_or_else(|| u.id.clone());
    // The user's own record: its externalId is what the mapping sends (an active one first).
    let own = inp
        .state
        .records
        .iter()
        .filter(|r| r.directory_id == dir && r.external_id.as_deref() == Some(&external_id))
        .max_by_key(|r| r.active == Some(true));
    let conflict_reported = stored
        .latest_event
        .as_ref()
        .is_some_and(|e| e.failed() && e.is_email_conflict());
    let wanted = normalize_email(&email);
    let holder = inp
        .state
        .accounts
        .iter()
        .filter(|a| {
            a.is_person() && a.email.as_deref().map(normalize_email) == Some(wanted.clone())
        })
        .find(|a| {
            let linked = inp
                .state
                .records
                .iter()
                .any(|r| r.account_id.as_deref() == Some(a.account_id.as_str()));
            email_holder_blocks(
                a,
                own.and_then(|r| r.account_id.as_deref()),
                own.is_none_or(|r| r.account_id.is_none()),
                linked,
                conflict_reported,
            )
        });
    if let Some(a) = holder {
        return vec![refused(held_by(&a.account_id, &email, conflict_reported))];
    }
    let who = u.user_principal_name.as_deref().unwrap_or(&email);
    let why = match f.kind {
        Kind::AssignedNotProvisioned => format!(
            "{who} is assigned to the app but has no active SCIM record in {name}: provision it on demand"
        ),
        Kind::IdpEmailMismatch => format!(
            "the record of {who} in {name} does not carry the IdP's email {email}: provision it on demand to update it"
        ),
        _ => format!(
            "the IdP's latest provisioning of {who} into {name} failed: provision it on demand (after the cause was fixed)"
        ),
    };
    vec![found(
        vec![Target {
            account_id: own.and_then(|r| r.account_id.clone()),
            directory_id: Some(dir.clone()),
            directory: Some(name.clone()),
            scim_id: own.map(|r| r.scim_id.clone()),
            email: Some(email),
            idp: Some(IdpTarget {
                kind: side.kind.clone(),
                user_id: u.id.clone(),
                user_principal_name: u.user_principal_name.clone(),
                external_id,
                job_id,
                rule_id,
                conflict_reported,
            }),
        }],
        why,
    )]
}

fn refused(why: String) -> Derived {
    Derived {
        targets: Vec::new(),
        new_email: None,
        contest: None,
        reason: why,
        found: false,
    }
}

/// Why a provision on demand is refused while `account` holds `email`.
pub(crate) fn held_by(account: &str, email: &str, conflict_reported: bool) -> String {
    let told = if conflict_reported {
        " again (the IdP's latest provisioning of the user already failed so)"
    } else {
        ""
    };
    format!(
        "account {account} holds {email} and is not linked to this user's record: Atlassian would answer \"already exists\"{told}; resolve the email conflict first"
    )
}

/// Whether `holder`, an account holding the IdP user's email, makes Atlassian refuse the user
/// with "already exists" (idp-api.md §1.3): it does unless it is the account the user's own record
/// links to (`own_link`), or — for a user without a linked record, when the IdP has not reported
/// a conflict — a managed account no record links to (Atlassian links the new record to it).
pub(crate) fn email_holder_blocks(
    holder: &Account,
    own_link: Option<&str>,
    own_unlinked: bool,
    holder_linked: bool,
    conflict_reported: bool,
) -> bool {
    if own_link == Some(holder.account_id.as_str()) {
        return false;
    }
    let claimable =
        own_unlinked && holder.claim_status.as_deref() == Some("managed") && !holder_linked;
    conflict_reported || !claimable
}
