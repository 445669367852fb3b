//! `GET /auditLogs/provisioning?$filter=servicePrincipal/id eq '{spId}' and activityDateTime gt
//! {ISO time}` (idp-api.md §1.3): the tenant's provisioning events for the app after a time,
//! newest first, paged. The filter is case-sensitive and must be exactly these two clauses (in
//! either order); anything else answers `400`.
//!
//! Item: `{id, activityDateTime, tenantId, jobId, cycleId, changeId, durationInMilliseconds,
//! provisioningAction, provisioningStatusInfo{status, errorInformation{errorCode, reason,
//! additionalDetails, errorCategory, recommendedAction}|null}, provisioningSteps[…],
//! modifiedProperties[…], servicePrincipal{id, displayName} (an array with the knob),
//! sourceSystem, targetSystem, sourceIdentity{id, displayName, identityType, details},
//! targetIdentity{…}, initiatedBy{id, displayName, initiatorType|initiatingType}}`.
//! The window limit (5 / 10 s per tenant) is the gate's.

use std::sync::Arc;

use axum::extract::{OriginalUri, State};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::directory::{GraphReply, page_of, tenant};
use super::gate::Caller;
use super::wire::{GraphError, stamp, unquote};
use crate::sim::kit::respond::QueryPairs;
use crate::sim::state::SimState;
use crate::sim::state::entra_options::EntraOptions;
use crate::sim::world::entra::SimProvisioningEvent;

/// The two clauses of the filter: the service principal id and the lower time bound.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct LogFilter {
    pub service_principal_id: String,
    pub after: DateTime<Utc>,
}

pub(crate) fn parse_filter(raw: &str) -> Option<LogFilter> {
    let (a, b) = raw.split_once(" and ")?;
    let mut sp = None;
    let mut after = None;
    for clause in [a.trim(), b.trim()] {
        if let Some(value) = clause.strip_prefix("servicePrincipal/id eq ") {
            if sp.replace(unquote(value.trim())?).is_some() {
                return None;
            }
        } else if let Some(time) = clause.strip_prefix("activityDateTime gt ") {
            let t = DateTime::parse_from_rfc3339(time.trim()).ok()?;
            if after.replace(t.with_timezone(&Utc)).is_some() {
                return None;
            }
        } else {
            return None;
        }
    }
    Some(LogFilter {
        service_principal_id: sp?,
        after: after?,
    })
}

/// One event as Graph serves it.
pub(crate) fn event_json(e: &SimProvisioningEvent, tenant_id: &str, o: &EntraOptions) -> Value {
    let status = if o.unknown_enums {
        "unknownFutureValue"
    } else {
        e.status.as_str()
    };
    let error = (e.error_code.is_some() || e.reason.is_some()).then(|| {
        json!({
            "errorCode": e.error_code,
            "reason": e.reason,
            "additionalDetails": e.additional_details,
            "errorCategory": e.error_category,
            "recommendedAction": e.recommended_action,
        })
    });
    let sp = json!({"id": e.service_principal_id, "displayName": e.service_principal_name});
    let initiator_key = if o.initiating_type_spelling {
        "initiatingType"
    } else {
        "initiatorType"
    };
    let mut initiated_by = json!({"id": "", "displayName": e.initiated_by});
    initiated_by[initiator_key] = "system".into();
    let step_status = if e.status == "failure" {
        "failure"
    } else {
        "success"
    };
    json!({
        "id": e.id,
        "activityDateTime": stamp(e.activity),
        "tenantId": tenant_id,
        "jobId": e.job_id,
        "cycleId": e.cycle_id,
        "changeId": e.change_id,
        "durationInMilliseconds": 412,
        "provisioningAction": e.action,
        "provisioningStatusInfo": {"status": status, "errorInformation": error},
        "provisioningSteps": [
            {"name": "EntryImport", "provisioningStepType": "import", "status": "success",
             "description": format!("Retrieved {} from Azure Active Directory", e.source_display_name),
             "details": {}},
            {"name": "EntrySynchronizationScoping", "provisioningStepType": "scoping",
             "status": "success", "description": "Determine if User is in scope", "details": {}},
            {"name": "EntryExportUpdate", "provisioningStepType": "export", "status": step_status,
             "description": e.reason.clone().unwrap_or_else(|| format!("{} succeeded", e.action)),
             "details": {}},
        ],
        "modifiedProperties": [],
        "servicePrincipal": if o.service_principal_as_array { json!([sp]) } else { sp },
        "sourceSystem": {"id": null, "displayName": "Azure Active Directory", "details": {}},
        "targetSystem": {"id": null, "displayName": e.service_principal_name, "details": {}},
        "sourceIdentity": {
            "id": e.source_id,
            "displayName": e.source_display_name,
            "identityType": "User",
            "details": {},
        },
        "targetIdentity": {
            "id": e.target_id,
            "displayName": e.target_display_name,
            "identityType": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
            "details": {},
        },
        "initiatedBy": initiated_by,
    })
}

/// `GET /auditLogs/provisioning`.
pub(crate) async fn provisioning(
    State(state): State<Arc<SimState>>,
    caller: Caller,
    uri: OriginalUri,
    query: QueryPairs,
) -> GraphReply {
    let raw = query.get("$filter").unwrap_or_default();
    let filter = parse_filter(raw).ok_or_else(|| {
        GraphError::new(
            400,
            "BadRequest",
            format!("Invalid filter clause: '{raw}'. Expected servicePrincipal/id eq '<id>' and activityDateTime gt <time>."),
        )
    })?;
    let options = state.options().entra.clone();
    let world = state.world();
    let t = tenant(&world, &caller)?;
    let mut events: Vec<&SimProvisioningEvent> = t
        .provisioning_log
        .iter()
        .filter(|e| {
            e.service_principal_id == filter.service_principal_id && e.activity > filter.after
        })
        .collect();
    events.sort_by(|a, b| b.activity.cmp(&a.activity).then_with(|| b.id.cmp(&a.id)));
    page_of(
        &state,
        &uri,
        &query,
        "auditLogs/provisioning",
        events.len(),
        |range| {
            events[range]
                .iter()
                .map(|e| event_json(e, &t.tenant_id, &options))
                .collect()
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_filter_is_exactly_two_clauses() {
        let f = parse_filter(
            "servicePrincipal/id eq 'sp-1' and activityDateTime gt 2026-11-01T00:00:00Z",
        )
        .unwrap();
        assert_eq!(f.service_principal_id, "sp-1");
        assert_eq!(stamp(f.after), "2026-11-01T00:00:00Z");
        assert!(
            parse_filter(
                "activityDateTime gt 2026-11-01T00:00:00.5Z and servicePrincipal/id eq 'x'"
            )
            .is_some()
        );
        for bad in [
            "",
            "servicePrincipal/id eq 'sp-1'",
            "serviceprincipal/id eq 'sp-1' and activityDateTime gt 2026-11-01T00:00:00Z",
            "servicePrincipal/id eq 'sp-1' AND activityDateTime gt 2026-11-01T00:00:00Z",
            "servicePrincipal/id eq 'sp-1' and activityDateTime ge 2026-11-01T00:00:00Z",
            "servicePrincipal/id eq sp-1 and activityDateTime gt 2026-11-01T00:00:00Z",
            "servicePrincipal/id eq 'a' and servicePrincipal/id eq 'b'",
            "servicePrincipal/id eq 'a' and activityDateTime gt yesterday",
        ] {
            assert_eq!(parse_filter(bad), None, "{bad}");
        }
    }
}
