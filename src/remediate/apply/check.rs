//! Reading a step's targets again: before its call (does the finding still hold?), and after a
//! crash (did the call take effect?). Then the call itself.

use std::collections::{HashMap, HashSet};

use crate::atlassian::ApiError;
use crate::detect::Kind;
use crate::idp::entra;
use crate::model::{Account, ScimRecord, normalize_email};
use crate::remediate::actions::Remote;
use crate::remediate::plan::{IdpTarget, Step, Target, email_holder_blocks, held_by};
use crate::remediate::policy::Action;
use crate::store::AuditRow;

/// What a run reads from the org, cached for the run, and its IdP clients (one per directory and
/// run, so the provision-on-demand window holds across the run's calls).
pub(super) struct Reader<'a> {
    remote: &'a Remote<'a>,
    accounts: Option<HashMap<String, Account>>,
    org_directory: Option<String>,
    entra: HashMap<String, entra::Client<'a>>,
}

impl<'a> Reader<'a> {
    pub(super) fn new(remote: &'a Remote<'a>) -> Self {
        Reader {
            remote,
            accounts: None,
            org_directory: None,
            entra: HashMap::new(),
        }
    }

    /// The run's client of the Entra tenant provisioning `directory`.
    fn entra(&mut self, directory: &str) -> Result<&entra::Client<'a>, ApiError> {
        if !self.entra.contains_key(directory) {
            let client = self.remote.entra_client(directory)?;
            self.entra.insert(directory.to_string(), client);
        }
        Ok(&self.entra[directory])
    }

    /// Every account of the org holding `email` (normalised), people only.
    async fn holders_of(&mut self, email: &str) -> Result<Vec<Account>, ApiError> {
        if self.accounts.is_none() {
            self.accounts = Some(self.remote.accounts().await?);
        }
        let wanted = normalize_email(email);
        Ok(self
            .accounts
            .iter()
            .flat_map(|m| m.values())
            .filter(|a| {
                a.is_person() && a.email.as_deref().map(normalize_email) == Some(wanted.clone())
            })
            .cloned()
            .collect())
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
        Action::ProvisionOnDemand => on_demand_changed(step, &target, r).await,
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

/// How an answered call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Answer {
    /// It took effect.
    Done,
    /// Answered, but the remote refused it (provision on demand: `Failure` / `Skipped`): recorded
    /// as a refusal, not repeated automatically.
    Refused,
    /// Answered with something that does not say whether it took effect: the intent stays open.
    Unknown,
}

/// An answered call: its HTTP status, what it means, and what the reply said (for the audit).
#[derive(Debug, Clone)]
pub(super) struct Sent {
    pub status: u16,
    pub answer: Answer,
    pub detail: Option<String>,
}

impl Sent {
    fn done(status: u16) -> Sent {
        Sent {
            status,
            answer: Answer::Done,
            detail: None,
        }
    }
}

/// Sends the step's call.
pub(super) async fn send(step: &Step, r: &mut Reader<'_>) -> Result<Sent, ApiError> {
    let target = step.targets.first().cloned().unwrap_or_default();
    let account = account_of(step).unwrap_or("").to_string();
    let (dir, scim) = record_of(&target).unwrap_or(("", ""));
    let status = match step.action {
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
        Action::ProvisionOnDemand => {
            let (Some(dir), Some(u)) = (target.directory_id.as_deref(), target.idp.as_ref()) else {
                return Err(ApiError::malformed(
                    "remediation",
                    &step.finding_id,
                    "the step names no IdP user",
                ));
            };
            let client = r.entra(dir)?;
            let before = uncertain_retries(client.http());
            let reply = client
                .provision_on_demand(&u.user_id, &u.job_id, &u.rule_id)
                .await?;
            // A `Failure` / `Skipped` after a 5xx or a timeout may answer the retry of a call
            // that took effect (`RedundantExport`): no refusal then, the state tells.
            let retried = uncertain_retries(client.http()) > before;
            let mut detail = on_demand_detail(&reply);
            let answer = if reply.succeeded() {
                Answer::Done
            } else if reply.refused() && !retried {
                Answer::Refused
            } else {
                if retried {
                    detail.push_str(" (after a retry of an attempt whose outcome is unknown)");
                }
                Answer::Unknown
            };
            return Ok(Sent {
                status: 200,
                answer,
                detail: Some(detail),
            });
        }
    };
    status.map(Sent::done)
}

/// Retries of provision on demand after an attempt of unknown outcome (5xx, timeout, reset) the
/// client's HTTP layer made so far; 429s were not processed and do not count.
fn uncertain_retries(http: &crate::http::HttpLayer) -> u64 {
    let api = crate::http::Api::GraphProvisioning.label();
    http.stats
        .retries
        .lock()
        .map(|m| {
            m.iter()
                .filter(|((a, reason), _)| *a == api && *reason != "rate_limited")
                .map(|(_, n)| *n)
                .sum()
        })
        .unwrap_or(0)
}

/// The audit detail of a provision-on-demand reply: its result, error code, SCIM id and message.
fn on_demand_detail(reply: &entra::OnDemand) -> String {
    let mut s = format!("provisionOnDemand result {}", reply.result);
    if let Some(code) = &reply.error_code {
        s.push_str(&format!(", errorCode {code}"));
    }
    if let Some(id) = &reply.scim_id {
        s.push_str(&format!(", SCIM id {id}"));
    }
    if let Some(m) = &reply.message {
        s.push_str(&format!(": {m}"));
    }
    s
}

/// The user's SCIM records in the directory (by the externalId the job's mapping sends), the
/// active one first.
async fn own_records(
    r: &mut Reader<'_>,
    dir: &str,
    u: &IdpTarget,
) -> Result<Vec<ScimRecord>, ApiError> {
    let mut records = r
        .remote
        .scim_users_by_external_id(dir, &u.external_id)
        .await?;
    records.sort_by_key(|rec| rec.active != Some(true));
    Ok(records)
}

/// `provision_on_demand`: the user exists in Entra, is enabled and still intended (idp-api.md
/// §5), the finding still holds, and no other account holds the email.
async fn on_demand_changed(
    step: &Step,
    target: &Target,
    r: &mut Reader<'_>,
) -> Result<Option<String>, ApiError> {
    let no = |why: &str| Ok(Some(why.to_string()));
    let (Some(dir), Some(u)) = (target.directory_id.as_deref(), target.idp.as_ref()) else {
        return no("the step names no IdP user");
    };
    let intent = r.entra(dir)?.read_intent(&u.user_id).await?;
    if !intent.exists {
        return no("the IdP user no longer exists in Entra (deleted)");
    }
    match intent.enabled {
        Some(true) => {}
        Some(false) => {
            return no("the IdP user is disabled in Entra: it cannot be provisioned on demand");
        }
        None => return no("the IdP user's accountEnabled is unknown: not provisioned on demand"),
    }
    if !intent.intended {
        return no(
            "the IdP user is no longer assigned to the app (directly or through an assigned security group)",
        );
    }
    let records = own_records(r, dir, u).await?;
    let own = records.first();
    let email = target.email.as_deref().map(normalize_email);
    let active = own.is_some_and(|rec| rec.active == Some(true));
    match step.kind {
        Kind::AssignedNotProvisioned if active => {
            return no("the user has an active SCIM record now");
        }
        Kind::IdpEmailMismatch
            if active
                && own
                    .and_then(|rec| rec.email.as_deref())
                    .map(normalize_email)
                    == email =>
        {
            return no("the user's record carries the IdP's email now");
        }
        _ => {}
    }
    let Some(email) = target.email.as_deref() else {
        return no("the step names no email");
    };
    let own_link = own.and_then(|rec| rec.account_id.clone());
    for holder in r.holders_of(email).await? {
        if own_link.as_deref() == Some(holder.account_id.as_str()) {
            continue;
        }
        let linked = !r.remote.scim_links(&holder.account_id).await?.is_empty();
        if email_holder_blocks(
            &holder,
            own_link.as_deref(),
            own_link.is_none(),
            linked,
            u.conflict_reported,
        ) {
            return Ok(Some(held_by(
                &holder.account_id,
                email,
                u.conflict_reported,
            )));
        }
    }
    Ok(None)
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
    if account.is_empty()
        && !matches!(
            action,
            Action::Unlink | Action::DeleteScimRecord | Action::ProvisionOnDemand
        )
    {
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
        Action::ProvisionOnDemand => {
            // Provisioned as the IdP intends: an active record with the user's externalId that
            // carries the IdP's email. Anything else is no evidence either way (Entra may still
            // be working on it): the intent stays open for the next reconcile or an operator.
            let (Some(dir), Some(u)) = (first.directory_id.as_deref(), first.idp.as_ref()) else {
                return Err(unreadable("the intent names no IdP user"));
            };
            let planned = first.email.as_deref().map(normalize_email);
            let records = own_records(r, dir, u).await?;
            let provisioned = records.iter().any(|rec| {
                rec.active == Some(true)
                    && (planned.is_none() || rec.email.as_deref().map(normalize_email) == planned)
            });
            if provisioned {
                Ok(true)
            } else {
                Err(unreadable(&format!(
                    "no active SCIM record with externalId {} carrying the IdP's email in the directory yet: left open (the next reconcile reads it again; or check and settle it)",
                    u.external_id
                )))
            }
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
