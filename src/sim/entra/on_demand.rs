//! `POST /servicePrincipals/{spId}/synchronization/jobs/{jobId}/provisionOnDemand`
//! (idp-api.md §1.4), with real effects on the tenant's SCIM directory.
//!
//! Body: `{"parameters":[{"subjects":[{"objectId":"…","objectTypeName":"User"}],"ruleId":"…"}]}`
//! (one parameter, one user). Unknown service principal or job `404`; wrong `ruleId`, other
//! object types or shapes `400`; a user absent from the tenant `404 Request_ResourceNotFound`; a
//! disabled user `400 BadRequest` ("…user is disabled…"). Otherwise `200
//! {"@odata.context","key":"<JSON>","value":"<JSON>"}`, both JSON encoded as strings: `key`
//! `{"result":"Success|Failure|Skipped","details":{"errorCode","errorMessage"}}`, `value`
//! `{statusInfo{status, errorInformation{errorCode, reason}}, action, provisioningSteps[…],
//! sourceIdentity{id, …}, targetIdentity{id: <SCIM id or "">, …}}`; and a provisioning log event
//! for the user.
//!
//! Effects, for an enabled user:
//! - intended (direct assignment, or direct member of an assigned security group; lagged
//!   assignments excluded): the record with `externalId` = objectId is created (`userName` = UPN,
//!   work email = `mail` else UPN, active) or updated (email, `userName`, `active:true`) —
//!   refused with `Failure` / `EntryConflict` ("Resource [USER]: with email[…] already exists.")
//!   when an org account holds the email and is neither linked from a record with this
//!   `externalId` nor (for a new or unlinked record) an unlinked managed account. A new or
//!   unlinked record links to such an unlinked managed account, else to a new managed account; a
//!   linked managed account takes the new email. The record joins the SCIM groups its assigned
//!   groups are pushed as. Nothing to change: `Skipped` / `RedundantExport`.
//! - not intended: an active record is deactivated (`Success`, action `Disable`); no record:
//!   `Skipped` / `NotEffectivelyEntitled`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use chrono::{SubsecRound, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::directory::{GraphReply, ok, visible_assignments};
use super::gate::Caller;
use super::wire::{GraphError, random_guid};
use crate::sim::kit::respond::Params;
use crate::sim::state::SimState;
use crate::sim::world::entra::{SimEntra, SimEntraUser, SimProvisioningEvent};
use crate::sim::world::{SimAccount, SimDirectory, SimEmail, SimUser, World, normalize_email};

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Body {
    #[serde(default)]
    parameters: Vec<Parameter>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Parameter {
    #[serde(default)]
    subjects: Vec<Subject>,
    rule_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Subject {
    object_id: Option<String>,
    object_type_name: Option<String>,
}

/// What one call did.
#[derive(Debug)]
struct Outcome {
    /// `Success` | `Failure` | `Skipped`.
    result: &'static str,
    /// `Create` | `Update` | `Disable` | `Other`.
    action: &'static str,
    error: Option<(&'static str, String)>,
    /// The SCIM record's id, or `""`.
    target_id: String,
}

impl Outcome {
    fn status(&self) -> &'static str {
        match self.result {
            "Success" => "success",
            "Failure" => "failure",
            _ => "skipped",
        }
    }
}

/// `POST …/provisionOnDemand`.
pub(crate) async fn provision_on_demand(
    State(state): State<Arc<SimState>>,
    caller: Caller,
    Params((sp, job)): Params<(String, String)>,
    body: Bytes,
) -> GraphReply {
    let body: Body = serde_json::from_slice(&body)
        .map_err(|e| GraphError::bad_request(format!("Invalid request body: {e}")))?;
    let lag = state.options().entra.replication_lag;
    let now = Utc::now().trunc_subsecs(6);
    let mut guard = state.world_mut();
    let World {
        entra,
        directories,
        accounts,
        ..
    } = &mut *guard;
    let tenant = entra
        .iter_mut()
        .find(|t| t.tenant_id == caller.tenant_id)
        .ok_or_else(|| GraphError::invalid_token("The token's tenant no longer exists."))?;
    let (rule_id, assignments) = {
        let service_principal = tenant
            .service_principal(&sp)
            .ok_or_else(|| GraphError::not_found(&sp))?;
        let job = service_principal
            .jobs
            .iter()
            .find(|j| j.id == job)
            .ok_or_else(|| GraphError::not_found(&job))?;
        (
            job.user_rule_id().map(str::to_owned),
            visible_assignments(&service_principal.assignments, lag),
        )
    };
    let [parameter] = body.parameters.as_slice() else {
        return Err(GraphError::bad_request(
            "Exactly one parameter is supported.",
        ));
    };
    if parameter.rule_id.is_none() || parameter.rule_id != rule_id {
        return Err(GraphError::bad_request(format!(
            "The ruleId '{}' does not match a synchronization rule of the job.",
            parameter.rule_id.as_deref().unwrap_or_default()
        )));
    }
    let [subject] = parameter.subjects.as_slice() else {
        return Err(GraphError::bad_request(
            "Exactly one subject (one user) is supported per request.",
        ));
    };
    if subject.object_type_name.as_deref() != Some("User") {
        return Err(GraphError::bad_request("objectTypeName must be 'User'."));
    }
    let object_id = subject.object_id.clone().unwrap_or_default();
    let user = tenant
        .user(&object_id)
        .cloned()
        .ok_or_else(|| GraphError::not_found(&object_id))?;
    if user.account_enabled == Some(false) {
        return Err(GraphError::bad_request(format!(
            "The user {} cannot be provisioned on demand: the user is disabled in the source directory.",
            user.user_principal_name
        )));
    }
    let intended = tenant.is_intended_among(&object_id, Some(&assignments));
    let scim_groups: Vec<String> = assignments
        .iter()
        .filter(|a| a.principal_type == "Group")
        .filter_map(|a| tenant.group(&a.principal_id))
        .filter(|g| g.security_enabled && g.members.iter().any(|m| m.is_user(&object_id)))
        .filter_map(|g| g.scim_group_id.clone())
        .collect();
    let directory_id = tenant.directory_id.clone();
    let outcome = match directories.iter().position(|d| d.id == directory_id) {
        None => Outcome {
            result: "Failure",
            action: "Other",
            error: Some((
                "SystemForCrossDomainIdentityManagementServiceUnavailable",
                "The target SCIM directory does not exist.".to_owned(),
            )),
            target_id: String::new(),
        },
        Some(dir) if intended => provision(directories, dir, accounts, &user, &scim_groups, now),
        Some(dir) => deprovision(&mut directories[dir], &object_id, now),
    };
    log(tenant, &user, &outcome, now);
    Ok(ok(&answer(&user, &outcome)))
}

/// Creates or updates the user's record (intended users).
fn provision(
    directories: &mut [SimDirectory],
    dir: usize,
    accounts: &mut Vec<SimAccount>,
    user: &SimEntraUser,
    scim_groups: &[String],
    now: chrono::DateTime<Utc>,
) -> Outcome {
    let email = user
        .mail
        .clone()
        .unwrap_or_else(|| user.user_principal_name.clone());
    let wanted = normalize_email(&email);
    let external_id = user.id.as_str();
    let linked_from_this = |account_id: &str| {
        directories.iter().flat_map(|d| &d.users).any(|r| {
            r.external_id.as_deref() == Some(external_id)
                && r.atlassian_account_id.as_deref() == Some(account_id)
        })
    };
    let linked_at_all = |account_id: &str| {
        directories
            .iter()
            .flat_map(|d| &d.users)
            .any(|r| r.atlassian_account_id.as_deref() == Some(account_id))
    };
    let record = directories[dir]
        .users
        .iter()
        .position(|r| r.external_id.as_deref() == Some(external_id));
    let record_unlinked =
        record.is_none_or(|i| directories[dir].users[i].atlassian_account_id.is_none());
    let holders: Vec<usize> = accounts
        .iter()
        .enumerate()
        .filter(|(_, a)| {
            a.email
                .as_deref()
                .is_some_and(|e| normalize_email(e) == wanted)
        })
        .map(|(i, _)| i)
        .collect();
    let mut claimable = None;
    for &h in &holders {
        let account = &accounts[h];
        if linked_from_this(&account.account_id) {
            if record_unlinked {
                claimable.get_or_insert(h);
            }
            continue;
        }
        if record_unlinked && account.is_managed() && !linked_at_all(&account.account_id) {
            claimable.get_or_insert(h);
            continue;
        }
        let action = if record.is_some() { "Update" } else { "Create" };
        return Outcome {
            result: "Failure",
            action,
            error: Some((
                "EntryConflict",
                format!(
                    "Failed to {} User '{}' in Atlassian Cloud; Error: StatusCode: Conflict. The SCIM endpoint answered: {{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:Error\"],\"status\":\"409\",\"detail\":\"Resource [USER]: with email[{email}] already exists.\"}}",
                    action.to_lowercase(),
                    user.user_principal_name
                ),
            )),
            target_id: record
                .map(|i| directories[dir].users[i].id.clone())
                .unwrap_or_default(),
        };
    }
    let directory = &mut directories[dir];
    let (index, action) = match record {
        Some(i) => {
            let r = &directory.users[i];
            let unchanged = r.active == Some(true)
                && r.user_name == user.user_principal_name
                && r.emails
                    .iter()
                    .find(|e| e.primary)
                    .or(r.emails.first())
                    .is_some_and(|e| normalize_email(&e.value) == wanted)
                && r.atlassian_account_id.is_some();
            if unchanged {
                return Outcome {
                    result: "Skipped",
                    action: "Other",
                    error: Some((
                        "RedundantExport",
                        "The user is already provisioned with these values; nothing to export."
                            .to_owned(),
                    )),
                    target_id: r.id.clone(),
                };
            }
            let r = &mut directory.users[i];
            r.user_name = user.user_principal_name.clone();
            r.emails = vec![SimEmail::work(email.clone())];
            r.active = Some(true);
            r.display_name = Some(user.display_name.clone());
            r.last_modified = now;
            (i, "Update")
        }
        None => {
            let mut r = SimUser::new(
                random_guid(),
                &email,
                user.given_name.as_deref().unwrap_or_default(),
                user.surname.as_deref().unwrap_or_default(),
                now,
            );
            r.user_name = user.user_principal_name.clone();
            r.external_id = Some(user.id.clone());
            r.display_name = Some(user.display_name.clone());
            directory.users.push(r);
            (directory.users.len() - 1, "Create")
        }
    };
    match directory.users[index].atlassian_account_id.clone() {
        None => {
            let account_id = match claimable {
                Some(h) => accounts[h].account_id.clone(),
                None => {
                    let id = format!(
                        "{:016x}{:08x}",
                        rand::random::<u64>(),
                        rand::random::<u32>()
                    );
                    accounts.push(SimAccount::managed(
                        id.clone(),
                        &email,
                        &user.display_name,
                        now,
                    ));
                    id
                }
            };
            directory.users[index].atlassian_account_id = Some(account_id);
        }
        Some(linked) => {
            if holders.is_empty()
                && let Some(account) = accounts
                    .iter_mut()
                    .find(|a| a.account_id == linked && a.is_managed())
            {
                account.email = Some(email.clone());
            }
        }
    }
    for group_id in scim_groups {
        let Some(g) = directory.groups.iter().position(|g| g.id == *group_id) else {
            continue;
        };
        let user_id = directory.users[index].id.clone();
        if !directory.groups[g]
            .members
            .iter()
            .any(|m| m.value == user_id)
        {
            directory.add_member(g, index);
            directory.groups[g].last_modified = now;
        }
    }
    Outcome {
        result: "Success",
        action,
        error: None,
        target_id: directory.users[index].id.clone(),
    }
}

/// Deactivates the record of a user who is no longer intended.
fn deprovision(
    directory: &mut SimDirectory,
    external_id: &str,
    now: chrono::DateTime<Utc>,
) -> Outcome {
    let Some(record) = directory
        .users
        .iter_mut()
        .find(|r| r.external_id.as_deref() == Some(external_id))
    else {
        return Outcome {
            result: "Skipped",
            action: "Other",
            error: Some((
                "NotEffectivelyEntitled",
                "The user is not assigned to the application (directly or through a security group), so it is out of scope.".to_owned(),
            )),
            target_id: String::new(),
        };
    };
    if record.active == Some(false) {
        return Outcome {
            result: "Skipped",
            action: "Other",
            error: Some((
                "RedundantExport",
                "The user is already disabled in the target system.".to_owned(),
            )),
            target_id: record.id.clone(),
        };
    }
    record.active = Some(false);
    record.last_modified = now;
    Outcome {
        result: "Success",
        action: "Disable",
        error: None,
        target_id: record.id.clone(),
    }
}

fn log(tenant: &mut SimEntra, user: &SimEntraUser, outcome: &Outcome, now: chrono::DateTime<Utc>) {
    let mut event = SimProvisioningEvent::success(
        tenant,
        &outcome.action.to_lowercase(),
        (&user.id, &user.display_name),
        &outcome.target_id,
        now,
    );
    event.status = outcome.status().into();
    if let Some((code, message)) = &outcome.error {
        event.error_code = Some((*code).into());
        event.reason = Some(message.clone());
        if outcome.result == "Failure" {
            event = event.failed(code, message);
        }
    }
    event.initiated_by = "On-demand provisioning".into();
    tenant.log(event);
}

fn answer(user: &SimEntraUser, outcome: &Outcome) -> Value {
    let details = match &outcome.error {
        Some((code, message)) => json!({"errorCode": code, "errorMessage": message}),
        None => json!({}),
    };
    let key = json!({"result": outcome.result, "details": details});
    let error = outcome
        .error
        .as_ref()
        .map(|(code, message)| json!({"errorCode": code, "reason": message}));
    let step = |name: &str, kind: &str, status: &str, description: String| {
        json!({"name": name, "provisioningStepType": kind, "status": status,
               "description": description, "details": {}})
    };
    let value = json!({
        "statusInfo": {
            "@odata.type": "#microsoft.graph.statusDetails",
            "status": outcome.status(),
            "errorInformation": error,
        },
        "action": outcome.action,
        "provisioningSteps": [
            step("EntryImport", "import", "success",
                 format!("Retrieved {} from Azure Active Directory", user.user_principal_name)),
            step("EntrySynchronizationScoping", "scoping", "success",
                 "Determine if User is in scope by evaluating against each scoping filter".into()),
            step("EntryExport", "export", outcome.status(),
                 outcome.error.as_ref().map_or_else(
                     || format!("{} succeeded", outcome.action),
                     |(_, m)| m.clone())),
        ],
        "modifiedProperties": [],
        "sourceIdentity": {
            "id": user.id,
            "displayName": user.display_name,
            "identityType": "User",
            "details": {"UserPrincipalName": user.user_principal_name},
        },
        "targetIdentity": {
            "id": outcome.target_id,
            "displayName": user.display_name,
            "identityType": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
            "details": {},
        },
    });
    json!({
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#microsoft.graph.stringKeyStringValuePair",
        "key": key.to_string(),
        "value": value.to_string(),
    })
}
