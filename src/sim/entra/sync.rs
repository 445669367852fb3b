//! The provisioning job and its schema (idp-api.md §1.3).
//!
//! - `GET /servicePrincipals/{id}/synchronization/jobs` → `{"value":[{id, templateId,
//!   schedule{interval, state, expiration}, status{code, countSuccessiveCompleteFailures,
//!   escrowsPruned, lastExecution, lastSuccessfulExecution, lastSuccessfulExecutionWithExports,
//!   quarantine{currentBegan, nextAttempt, seriesBegan, seriesCount, reason, error{code, message,
//!   tenantActionable}}, steadyStateFirstAchievedTime, steadyStateLastAchievedTime,
//!   troubleshootingUrl}}]}`; `GET …/jobs/{jobId}` one of them.
//! - `GET …/jobs/{jobId}/schema` → `{id, synchronizationRules[{id, name, objectMappings[{
//!   sourceObjectName, targetObjectName, attributeMappings[{targetAttributeName, source{type,
//!   name, expression}, matchingPriority}]}]}]}`.
//!
//! Knobs: `job_state`, `execution_state`, `unknown_enums` (status code `unknownFutureValue`),
//! `year_one_sentinels` (absent executions and times as `0001-01-01T00:00:00Z`), `schema`.

use std::sync::Arc;

use axum::extract::State;
use chrono::Utc;
use serde_json::{Value, json};

use super::directory::{GraphReply, ok, tenant};
use super::gate::Caller;
use super::wire::{GraphError, METADATA, stamp};
use crate::sim::kit::respond::Params;
use crate::sim::state::SimState;
use crate::sim::state::entra_options::{EntraOptions, SchemaStyle};
use crate::sim::world::entra::{SimExecution, SimSyncJob, SimSyncRule};

const YEAR_ONE: &str = "0001-01-01T00:00:00Z";

fn execution(run: Option<&SimExecution>, sentinels: bool) -> Value {
    match run {
        Some(run) => json!({
            "activityIdentifier": null,
            "countEntitled": run.count_exported,
            "countEntitledForProvisioning": run.count_exported,
            "countEscrowed": run.count_escrowed,
            "countEscrowedRaw": run.count_escrowed,
            "countExported": run.count_exported,
            "countExports": run.count_exported,
            "countImported": run.count_exported,
            "countImportedDeltas": 0,
            "countImportedReferenceDeltas": 0,
            "error": run.error.as_ref().map(|(code, message)| json!({
                "code": code, "message": message, "tenantActionable": true,
            })),
            "state": run.state,
            "timeBegan": stamp(run.time_began),
            "timeEnded": stamp(run.time_ended),
        }),
        None if sentinels => json!({
            "activityIdentifier": null,
            "countEntitled": 0,
            "countEntitledForProvisioning": 0,
            "countEscrowed": 0,
            "countEscrowedRaw": 0,
            "countExported": 0,
            "countExports": 0,
            "countImported": 0,
            "countImportedDeltas": 0,
            "countImportedReferenceDeltas": 0,
            "error": null,
            "state": "Succeeded",
            "timeBegan": YEAR_ONE,
            "timeEnded": YEAR_ONE,
        }),
        None => Value::Null,
    }
}

/// The job as served, after the knobs.
fn served(job: &SimSyncJob, options: &EntraOptions) -> SimSyncJob {
    let mut job = job.clone();
    let now = Utc::now();
    if let Some(state) = &options.job_state {
        job.set_state(state.clone(), now);
    }
    if let Some(state) = &options.execution_state {
        job.set_execution_state(state, now);
    }
    if options.unknown_enums {
        job.status_code = "unknownFutureValue".into();
    }
    job
}

fn job_json(job: &SimSyncJob, options: &EntraOptions) -> Value {
    let job = served(job, options);
    let sentinels = options.year_one_sentinels;
    let time = |t: Option<chrono::DateTime<Utc>>| match t {
        Some(t) => Value::from(stamp(t)),
        None if sentinels => Value::from(YEAR_ONE),
        None => Value::Null,
    };
    let quarantine = job.quarantine.as_ref().map(|q| {
        json!({
            "currentBegan": stamp(q.current_began),
            "nextAttempt": stamp(q.next_attempt),
            "reason": q.reason,
            "seriesBegan": stamp(q.series_began),
            "seriesCount": q.series_count,
            "error": {
                "code": q.error_code,
                "message": q.error_message,
                "tenantActionable": q.tenant_actionable,
            },
        })
    });
    json!({
        "id": job.id,
        "templateId": job.template_id,
        "schedule": {
            "expiration": null,
            "interval": job.schedule_interval,
            "state": job.schedule_state,
        },
        "status": {
            "code": job.status_code,
            "countSuccessiveCompleteFailures": job.count_successive_complete_failures,
            "escrowsPruned": job.escrows_pruned,
            "lastExecution": execution(job.last_execution.as_ref(), sentinels),
            "lastSuccessfulExecution": execution(job.last_successful_execution.as_ref(), sentinels),
            "lastSuccessfulExecutionWithExports":
                execution(job.last_successful_execution_with_exports.as_ref(), sentinels),
            "progress": [],
            "quarantine": quarantine,
            "steadyStateFirstAchievedTime": time(job.steady_state_first_achieved),
            "steadyStateLastAchievedTime": time(job.steady_state_last_achieved),
            "synchronizedEntryCountByType": [],
            "troubleshootingUrl": null,
        },
        "synchronizationJobSettings": [
            {"name": "QuarantineTooManyDeletesThreshold", "value": "500"},
        ],
    })
}

fn rule_json(rule: &SimSyncRule) -> Value {
    let mappings: Vec<Value> = rule
        .mappings
        .iter()
        .map(|m| {
            json!({
                "defaultValue": "",
                "exportMissingReferences": false,
                "flowBehavior": "FlowWhenChanged",
                "flowType": "Always",
                "matchingPriority": m.matching_priority,
                "targetAttributeName": m.target,
                "source": {
                    "expression": m.expression.clone().unwrap_or_else(|| format!("[{}]", m.source_name)),
                    "name": m.source_name,
                    "type": m.source_type,
                    "parameters": [],
                },
            })
        })
        .collect();
    json!({
        "id": rule.id,
        "name": rule.name,
        "editable": true,
        "sourceDirectoryName": "Azure Active Directory",
        "targetDirectoryName": "customappsso",
        "objectMappings": [
            {
                "enabled": true,
                "flowTypes": "Add, Update, Delete",
                "name": format!("Provision Azure Active Directory {}s", rule.source_object),
                "sourceObjectName": rule.source_object,
                "targetObjectName": rule.target_object,
                "attributeMappings": mappings,
            },
            {
                "enabled": true,
                "flowTypes": "Add, Update, Delete",
                "name": "Provision Azure Active Directory Groups",
                "sourceObjectName": "Group",
                "targetObjectName": "urn:ietf:params:scim:schemas:core:2.0:Group",
                "attributeMappings": [
                    {
                        "defaultValue": "",
                        "exportMissingReferences": false,
                        "flowBehavior": "FlowWhenChanged",
                        "flowType": "Always",
                        "matchingPriority": 1,
                        "targetAttributeName": "displayName",
                        "source": {"expression": "[displayName]", "name": "displayName",
                                   "type": "Attribute", "parameters": []},
                    },
                    {
                        "defaultValue": "",
                        "exportMissingReferences": false,
                        "flowBehavior": "FlowWhenChanged",
                        "flowType": "Always",
                        "matchingPriority": 0,
                        "targetAttributeName": "externalId",
                        "source": {"expression": "[objectId]", "name": "objectId",
                                   "type": "Attribute", "parameters": []},
                    },
                ],
            },
        ],
    })
}

/// The app's job `job` (or every job) of the caller's service principal `sp`.
fn with_sp<T>(
    state: &SimState,
    caller: &Caller,
    sp: &str,
    f: impl FnOnce(&[SimSyncJob]) -> Result<T, GraphError>,
) -> Result<T, GraphError> {
    let world = state.world();
    let sp = tenant(&world, caller)?
        .service_principal(sp)
        .ok_or_else(|| GraphError::not_found(sp))?;
    f(&sp.jobs)
}

fn find<'a>(jobs: &'a [SimSyncJob], id: &str) -> Result<&'a SimSyncJob, GraphError> {
    jobs.iter()
        .find(|j| j.id == id)
        .ok_or_else(|| GraphError::not_found(id))
}

/// `GET /servicePrincipals/{id}/synchronization/jobs`.
pub(crate) async fn jobs(
    State(state): State<Arc<SimState>>,
    caller: Caller,
    Params(sp): Params<String>,
) -> GraphReply {
    let options = state.options().entra.clone();
    let value = with_sp(&state, &caller, &sp, |jobs| {
        Ok(jobs
            .iter()
            .map(|j| job_json(j, &options))
            .collect::<Vec<_>>())
    })?;
    Ok(ok(&json!({
        "@odata.context": format!("{METADATA}#servicePrincipals('{sp}')/synchronization/jobs"),
        "value": value,
    })))
}

/// `GET /servicePrincipals/{id}/synchronization/jobs/{jobId}`.
pub(crate) async fn job(
    State(state): State<Arc<SimState>>,
    caller: Caller,
    Params((sp, id)): Params<(String, String)>,
) -> GraphReply {
    let options = state.options().entra.clone();
    let mut body = with_sp(&state, &caller, &sp, |jobs| {
        Ok(job_json(find(jobs, &id)?, &options))
    })?;
    body["@odata.context"] =
        format!("{METADATA}#servicePrincipals('{sp}')/synchronization/jobs/$entity").into();
    Ok(ok(&body))
}

/// `GET /servicePrincipals/{id}/synchronization/jobs/{jobId}/schema`.
pub(crate) async fn schema(
    State(state): State<Arc<SimState>>,
    caller: Caller,
    Params((sp, id)): Params<(String, String)>,
) -> GraphReply {
    let style = state.options().entra.schema;
    let rules = with_sp(&state, &caller, &sp, |jobs| {
        Ok(find(jobs, &id)?
            .rules
            .iter()
            .map(rule_json)
            .collect::<Vec<_>>())
    })?;
    let rules = match style {
        SchemaStyle::Normal => rules,
        SchemaStyle::EmptyRules => Vec::new(),
        SchemaStyle::GroupsNotMapped => {
            let mut rules = rules;
            for om in rules
                .iter_mut()
                .filter_map(|r| r.get_mut("objectMappings")?.as_array_mut())
                .flatten()
                .filter(|om| om["sourceObjectName"] == "Group")
            {
                om["enabled"] = json!(false);
            }
            rules
        }
        SchemaStyle::ServerError => {
            return Err(GraphError::new(
                500,
                "generalException",
                "An internal server error occurred while reading the synchronization schema.",
            ));
        }
    };
    Ok(ok(&json!({
        "@odata.context": format!(
            "{METADATA}#servicePrincipals('{sp}')/synchronization/jobs('{id}')/schema/$entity"
        ),
        "id": id,
        "version": "Date:2024-01-31T18:25:03Z~###",
        "directories": [],
        "synchronizationRules": rules,
    })))
}
