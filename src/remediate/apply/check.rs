//! Reading a step's targets again: before its call (does the finding still hold?), and after a
//! crash (did the call take effect?). Then the call itself.

use std::collections::{HashMap, HashSet};

use crate::atlassian::ApiError;
use crate::detect::Kind;
use crate::model::{Account, normalize_email};
use crate::remediate::actions::Remote;
use crate::remediate::plan::{Step, Target};
use crate::remediate::policy::Action;
use crate::store::AuditRow;

/// What a run reads from the org, cached for the run.
pub(super) struct Reader<'a> {
    remote: &'a Remote<'a>,
    accounts: Option<HashMap<String, Account>>,
    org_directory: Option<String>,
}

impl<'a> Reader<'a> {
    pub(super) fn new(remote: &'a Remote<'a>) -> Self {
        Reader {
            remote,
            accounts: None,
            org_directory: None,
        }
    }

    async fn account(&mut self, id: &str) -> Result<Option<Account>, ApiError> {
        if self.accounts.is_none() {
            self.accounts = Some(self.remote.accounts().await?);
        }
        Ok(self.accounts.as_ref().and_then(|m| m.get(id).cloned()))
    }

    pub(super) async fn org_directory(&mut self) -> Result<String, ApiError> {
        if let Some(d) = &self.org_directory {
            return Ok(d.clone());
        }
        let d = self.remote.org_directory().await?;
        self.org_directory = Some(d.clone());
        Ok(d)
    }

    /// `true` when every record linked to the account is inactive (and there is one).
    async fn links_all_inactive(&mut self, account: &str) -> Result<bool, ApiError> {
        let links = self.remote.scim_links(account).await?;
        if links.is_empty() {
            return Ok(false);
        }
        for l in links {
            match self
                .remote
                .scim_user(&l.directory_id, &l.scim_user_id)
                .await?
            {
                Some(r) if r.active == Some(false) => {}
                _ => return Ok(false),
            }
        }
        Ok(true)
    }
}

fn record_of(t: &Target) -> Option<(&str, &str)> {
    Some((t.directory_id.as_deref()?, t.scim_id.as_deref()?))
}

fn account_of(step: &Step) -> Option<&str> {
    step.targets.iter().find_map(|t| t.account_id.as_deref())
}

/// Re-reads the targets: `Ok(None)` when the finding still holds, `Ok(Some(why))` when it does not.
pub(super) async fn changed(step: &Step, r: &mut Reader<'_>) -> Result<Option<String>, ApiError> {
    let no = |why: &str| Ok(Some(why.to_string()));
    let target = step.targets.first().cloned().unwrap_or_default();
    if !Action::allowed_for(step.kind).contains(&step.action) {
        return no("unexpected kind for action");
    }
    match step.action {
        Action::Suspend => {
            let Some(id) = account_of(step) else {
                return no("no account");
            };
            match r.account(id).await? {
                Some(a) if a.has_access() => {}
                _ => return no("the account no longer has access"),
            }
            if !r.links_all_inactive(id).await? {
                return no("a record linked to the account is active again (or none is linked)");
            }
            Ok(None)
        }
        Action::Restore => {
            let Some(id) = account_of(step) else {
                return no("no account");
            };
            match r.account(id).await? {
                Some(a) if a.membership_status == "suspended" && a.account_status == "active" => {}
                _ => return no("the account is no longer suspended (or is deactivated)"),
            }
            let links = r.remote.scim_links(id).await?;
            for l in links {
                if let Some(rec) = r.remote.scim_user(&l.directory_id, &l.scim_user_id).await?
                    && rec.active == Some(true)
                {
                    return Ok(None);
                }
            }
            no("no active record is linked to the account any more")
        }
        Action::Unlink | Action::DeleteScimRecord => {
            let Some((dir, id)) = record_of(&target) else {
                return no("no record");
            };
            let Some(rec) = r.remote.scim_user(dir, id).await? else {
                return no("the record is gone");
            };
            if rec.account_id != target.account_id {
                return no("the record's link changed");
            }
            match (step.action, step.kind) {
                (Action::DeleteScimRecord, Kind::StaleInactiveLink) => {
                    if rec.active != Some(false) {
                        return no("the record is active again");
                    }
                    // The DELETE deactivates a managed account: only one without access.
                    let Some(id) = rec.account_id.as_deref() else {
                        return no("the record is no longer linked");
                    };
                    match r.account(id).await? {
                        Some(a) if a.lacks_access() => {}
                        _ => {
                            return no(
                                "the linked account has access (or is gone): a SCIM DELETE would deactivate it",
                            );
                        }
                    }
                    if !r.links_all_inactive(id).await? {
                        return no(
                            "another record linked to the account is active (or not inactive)",
                        );
                    }
                    Ok(None)
                }
                (Action::DeleteScimRecord, Kind::DanglingLink) => {
                    let dangling = target.account_id.as_deref().unwrap_or("");
                    if r.account(dangling).await?.is_some() {
                        no("the linked account exists now")
                    } else {
                        Ok(None)
                    }
                }
                (Action::Unlink, Kind::EmailConflict | Kind::DuplicateEmail) => {
                    let account = target.account_id.as_deref().unwrap_or("");
                    if let Some(why) = still_contested(step, account, r).await? {
                        return Ok(Some(why));
                    }
                    let email = step.contest.as_ref().map(|c| c.email.as_str());
                    let holds = r.account(account).await?.and_then(|a| a.email);
                    if holds.as_deref().map(normalize_email).as_deref() != email {
                        return no("the account no longer holds the contested email");
                    }
                    if rec.email.as_deref().map(normalize_email).as_deref() != email {
                        return no("the record no longer carries the contested email");
                    }
                    Ok(None)
                }
                _ => no("unexpected kind for action"),
            }
        }
        Action::DeleteInScimDb => {
            let Some(id) = account_of(step) else {
                return no("no account");
            };
            let now: HashSet<(String, String)> = r
                .remote
                .scim_links(id)
                .await?
                .into_iter()
                .map(|l| (l.directory_id, l.scim_user_id))
                .collect();
            let planned: HashSet<(String, String)> = step
                .targets
                .iter()
                .filter_map(record_of)
                .map(|(d, s)| (d.to_string(), s.to_string()))
                .collect();
            if now != planned {
                return no("the account's SCIM links changed since the snapshot");
            }
            match r.account(id).await? {
                Some(a) if a.lacks_access() => {}
                _ => {
                    return no(
                        "the account has access (or is gone): deleting its SCIM records would hide a leaver who keeps access",
                    );
                }
            }
            if !r.links_all_inactive(id).await? {
                return no("a linked record is active again");
            }
            Ok(None)
        }
        Action::MoveEmail => {
            let Some(id) = account_of(step) else {
                return no("no account");
            };
            let planned = target.email.as_deref().map(normalize_email);
            match r.account(id).await? {
                Some(a)
                    if a.email.as_deref().map(normalize_email) == planned && planned.is_some() => {}
                _ => return no("the account's email changed (or the account is gone)"),
            }
            if !r.remote.scim_links(id).await?.is_empty() {
                return no("the account still has SCIM links: it is moved only once unlinked");
            }
            if planned.as_deref() != step.contest.as_ref().map(|c| c.email.as_str()) {
                return no("the account's email is not the contested one");
            }
            still_contested(step, id, r).await
        }
    }
}

/// `None` when the record contesting the step's email still carries it, is active and is not
/// linked to `account`; else why not.
async fn still_contested(
    step: &Step,
    account: &str,
    r: &mut Reader<'_>,
) -> Result<Option<String>, ApiError> {
    let no = |why: &str| Ok(Some(why.to_string()));
    let Some(contest) = &step.contest else {
        return no("the step names no contested email");
    };
    let Some((dir, id)) = record_of(&contest.record) else {
        return no("the step names no contesting record");
    };
    let Some(rec) = r.remote.scim_user(dir, id).await? else {
        return no("the record contesting the email is gone");
    };
    if rec.email.as_deref().map(normalize_email).as_deref() != Some(contest.email.as_str()) {
        return no("the contesting record no longer carries the email");
    }
    if rec.account_id.as_deref() == Some(account) {
        return no("the contesting record is linked to the account now");
    }
    if rec.active != Some(true) {
        return no("the contesting record is no longer active");
    }
    Ok(None)
}

/// Sends the step's call; the HTTP status on success.
pub(super) async fn send(step: &Step, r: &mut Reader<'_>) -> Result<u16, ApiError> {
    let target = step.targets.first().cloned().unwrap_or_default();
    let account = account_of(step).unwrap_or("").to_string();
    let (dir, scim) = record_of(&target).unwrap_or(("", ""));
    match step.action {
        Action::Suspend | Action::Restore => {
            let org_dir = r.org_directory().await?;
            r.remote
                .access(&org_dir, &account, step.action == Action::Restore)
                .await
        }
        Action::Unlink => r.remote.unlink(dir, scim).await,
        Action::DeleteScimRecord => r.remote.delete_scim_record(dir, scim).await,
        Action::DeleteInScimDb => r.remote.delete_in_scim_db(&account).await,
        Action::MoveEmail => {
            let email = step.new_email.as_deref().unwrap_or("");
            r.remote.move_email(&account, email).await
        }
    }
}

/// Whether the action of an unanswered intent took effect, read from the target's state.
pub(super) async fn took_effect(row: &AuditRow, r: &mut Reader<'_>) -> Result<bool, ApiError> {
    // Without readable evidence the intent stays open (an operator settles it), never guessed.
    let unreadable = |why: &str| ApiError::malformed("audit", &row.idempotency_key, why);
    let targets: Vec<Target> = serde_json::from_value(row.targets.clone())
        .map_err(|e| unreadable(&format!("the intent's targets are unreadable: {e}")))?;
    let first = targets
        .first()
        .cloned()
        .ok_or_else(|| unreadable("the intent names no target"))?;
    let account = targets
        .iter()
        .find_map(|t| t.account_id.clone())
        .unwrap_or_default();
    let action: Action = row.action.parse().map_err(|e: String| unreadable(&e))?;
    if account.is_empty() && !matches!(action, Action::Unlink | Action::DeleteScimRecord) {
        return Err(unreadable("the intent names no account"));
    }
    match action {
        Action::Suspend => Ok(r
            .account(&account)
            .await?
            .is_some_and(|a| a.membership_status == "suspended")),
        Action::Restore => Ok(r
            .account(&account)
            .await?
            .is_some_and(|a| a.membership_status == "active")),
        Action::Unlink | Action::DeleteScimRecord => {
            let (dir, id) =
                record_of(&first).ok_or_else(|| unreadable("the intent names no SCIM record"))?;
            let rec = r.remote.scim_user(dir, id).await?;
            Ok(match (action, rec) {
                (_, None) => true,
                (Action::Unlink, Some(rec)) => rec.account_id != first.account_id,
                _ => false,
            })
        }
        Action::DeleteInScimDb => {
            let links = r.remote.scim_links(&account).await?;
            Ok(!targets.iter().filter_map(record_of).any(|(d, s)| {
                links
                    .iter()
                    .any(|l| l.directory_id == d && l.scim_user_id == s)
            }))
        }
        Action::MoveEmail => {
            let planned = first.email.as_deref().map(normalize_email);
            match r.account(&account).await? {
                None => Ok(false),
                // A hidden email proves nothing either way.
                Some(a) => match a.email.as_deref().map(normalize_email) {
                    None => Err(unreadable("the account's email is hidden")),
                    email => Ok(email != planned),
                },
            }
        }
    }
}
