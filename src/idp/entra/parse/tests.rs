use proptest::prelude::*;
use serde_json::json;

use super::*;

#[test]
fn durations_iso_and_dotnet() {
    for (text, want) in [
        ("PT40M", Some(2400)),
        ("PT1H30M", Some(5400)),
        ("P1D", Some(86_400)),
        ("P1DT2H", Some(93_600)),
        ("P2W", Some(1_209_600)),
        ("PT0.5S", Some(1)),
        ("PT1,5M", Some(90)),
        ("P0DT0H40M0S", Some(2400)),
        ("pt40m", Some(2400)),
        ("00:40:00", Some(2400)),
        ("1.00:00:00", Some(86_400)),
        ("P1Y", None),
        ("P1M", None),
        ("PT", None),
        ("P", None),
        ("PTM", None),
        ("PT40", None),
        ("PT4M4M", None),
        ("-PT40M", None),
        ("40 minutes", None),
        ("00:61:00", None),
        ("", None),
        // A .NET timespan too large for whole seconds is no duration (not an overflow).
        ("99999999999999999.00:00:00", None),
        ("18446744073709551615:00:00", None),
        ("0:18446744073709551615:00", None),
    ] {
        assert_eq!(duration_secs(text), want, "{text}");
    }
}

#[test]
fn guests_lose_their_ext_suffix() {
    assert_eq!(
        strip_ext("ana_fabrikam.com#EXT#@contoso.onmicrosoft.com"),
        "ana@fabrikam.com"
    );
    assert_eq!(
        strip_ext("first_last_fabrikam.com#ext#@contoso.onmicrosoft.com"),
        "first_last@fabrikam.com"
    );
    assert_eq!(strip_ext("ana@contoso.com"), "ana@contoso.com");
    assert_eq!(strip_ext("odd#EXT#@x"), "odd");
    assert_eq!(strip_ext("#EXT#"), "");
}

fn sources() -> Sources {
    Sources::of(&Mapping::entra_default("t"))
}

#[test]
fn users_by_the_default_mapping_and_leniently() {
    let v = json!({"id": "u1", "userPrincipalName": "ana_fabrikam.com#EXT#@contoso.example",
                   "mail": null, "accountEnabled": null, "displayName": "Ana", "userType": "Guest",
                   "otherMails": ["x@y"]});
    let p = user(&v, &sources()).unwrap();
    // A null accountEnabled is unknown and noted (a null mail is no note: a user may have none).
    let fields: Vec<&str> = p.notes.iter().map(|n| n.field.as_str()).collect();
    assert_eq!(fields, ["accountEnabled"]);
    let u = p.item;
    assert_eq!(u.unknown, ["accountEnabled"]);
    assert_eq!(u.enabled, None, "null is unknown, never false");
    assert_eq!(u.external_id.as_deref(), Some("u1"));
    assert_eq!(u.user_name.as_deref(), Some("ana@fabrikam.com"));
    assert_eq!(u.email.as_deref(), Some("ana@fabrikam.com"), "mail or UPN");
    assert_eq!(
        u.upn.as_deref(),
        Some("ana_fabrikam.com#EXT#@contoso.example")
    );

    let v = json!({"id": "u2", "userPrincipalName": 7, "mail": "bo@contoso.example",
                   "accountEnabled": "nope"});
    let p = user(&v, &sources()).unwrap();
    let fields: Vec<_> = p.notes.iter().map(|n| n.field.as_str()).collect();
    assert_eq!(fields, ["userPrincipalName", "accountEnabled"]);
    assert_eq!(p.item.email.as_deref(), Some("bo@contoso.example"));
    assert_eq!(p.item.user_name, None);
    assert!(user(&json!({"mail": "x"}), &sources()).is_err());
    assert!(user(&json!("u3"), &sources()).is_err());
}

#[test]
fn users_by_a_custom_mapping() {
    let m = Mapping {
        external_id: "mailNickname".into(),
        user_name: "mail".into(),
        email: "extensionAttribute3".into(),
        rule_id: None,
        derived: true,
        note: None,
        groups_pushed: Some(true),
    };
    let s = Sources::of(&m);
    assert_eq!(
        s.select(),
        format!("{USER_SELECT},mailNickname,onPremisesExtensionAttributes")
    );
    let v = json!({"id": "u1", "mail": "ana@contoso.example", "mailNickname": "ana",
                   "onPremisesExtensionAttributes": {"extensionAttribute3": "ana@alt.example"}});
    let u = user(&v, &s).unwrap().item;
    assert_eq!(u.external_id.as_deref(), Some("ana"));
    assert_eq!(u.user_name.as_deref(), Some("ana@contoso.example"));
    assert_eq!(u.email.as_deref(), Some("ana@alt.example"));
}

fn schema(attrs: serde_json::Value) -> serde_json::Value {
    json!({"synchronizationRules": [
        {"id": "group-rule", "objectMappings": [{"sourceObjectName": "Group", "attributeMappings": []}]},
        {"id": "usr-rule-1", "name": "USER_OUTBOUND", "objectMappings": [
            {"sourceObjectName": "User", "targetObjectName": "urn:ietf:params:scim:schemas:core:2.0:User",
             "enabled": true, "attributeMappings": attrs}]}]})
}

fn attr(target: &str, kind: &str, name: &str) -> serde_json::Value {
    json!({"targetAttributeName": target, "matchingPriority": 0,
           "source": {"type": kind, "name": name, "expression": format!("[{name}]")}})
}

#[test]
fn mapping_from_the_schema() {
    let m = mapping(&schema(json!([
        attr("externalId", "Attribute", "mailNickname"),
        attr("userName", "Attribute", "userPrincipalName"),
        attr("emails[type eq \"work\"].value", "Attribute", "mail"),
        attr("active", "Function", "Switch"),
    ])));
    assert!(m.derived, "{m:?}");
    assert_eq!(m.rule_id.as_deref(), Some("usr-rule-1"));
    assert_eq!(
        (
            m.external_id.as_str(),
            m.user_name.as_str(),
            m.email.as_str()
        ),
        ("mailNickname", "userPrincipalName", "mail")
    );
    // Quotes and spaces vary; the name may only be in the expression.
    let m = mapping(&schema(json!([
        attr("externalId", "Attribute", "objectId"),
        attr("userName", "Attribute", "userPrincipalName"),
        {"targetAttributeName": "emails[type eq 'work'].value",
         "source": {"type": "Attribute", "expression": "[mail]"}},
    ])));
    assert!(m.derived && m.email == "mail", "{m:?}");
}

#[test]
fn mapping_falls_back_to_the_defaults() {
    for (s, why) in [
        (json!({}), "no synchronizationRules"),
        (
            json!({"synchronizationRules": "x"}),
            "no synchronizationRules",
        ),
        (
            json!({"synchronizationRules": [{"id": "g", "objectMappings": []}]}),
            "no enabled rule",
        ),
        (
            schema(json!([
                attr("externalId", "Attribute", "objectId"),
                attr("userName", "Function", "Join"),
                attr("emails[type eq \"work\"].value", "Attribute", "mail"),
            ])),
            "userName is fed by a Function",
        ),
        (
            schema(json!([
                attr("externalId", "Constant", "x"),
                attr("userName", "Attribute", "userPrincipalName"),
            ])),
            "externalId is fed by a Constant",
        ),
        (
            schema(json!([
                attr("externalId", "Attribute", "employeeHireDate"),
                attr("userName", "Attribute", "userPrincipalName"),
                attr("emails[type eq \"work\"].value", "Attribute", "mail"),
            ])),
            "does not read",
        ),
        (
            schema(json!([
                attr("externalId", "Attribute", "objectId"),
                attr("userName", "Attribute", "userPrincipalName"),
            ])),
            "no mapping for emails",
        ),
    ] {
        let m = mapping(&s);
        assert!(!m.derived, "{s}");
        assert_eq!(m.external_id, "objectId");
        assert_eq!(m.email, "mail");
        let note = m.note.unwrap_or_default();
        assert!(note.contains(why) && note.contains("assumed"), "{note}");
    }
    // The rule id survives a fallback: provision on demand needs it.
    let m = mapping(&schema(json!([attr("externalId", "Function", "x")])));
    assert_eq!(m.rule_id.as_deref(), Some("usr-rule-1"));
}

fn job_json() -> serde_json::Value {
    json!({"id": "Atlassian.abc.def", "templateId": "atlassianCloud",
        "schedule": {"interval": "PT40M", "state": "Active"},
        "status": {"code": "Quarantine", "countSuccessiveCompleteFailures": 3, "escrowsPruned": false,
            "lastExecution": {"timeBegan": "2024-05-01T10:00:00Z", "timeEnded": "2024-05-01T10:02:00Z",
                "state": "EntryLevelErrors", "countExported": 2,
                "error": {"code": "SystemForCrossDomainIdentityManagementServiceIncompatible", "message": "m"}},
            "lastSuccessfulExecution": {"timeBegan": "0001-01-01T00:00:00Z", "timeEnded": "0001-01-01T00:00:00Z", "state": null},
            "quarantine": {"currentBegan": "2024-05-01T10:02:00Z", "nextAttempt": "2024-05-02T10:02:00Z",
                "seriesBegan": "0001-01-01T00:00:00Z", "seriesCount": 1, "reason": "QuarantineOnDemand",
                "error": {"code": "Q", "message": "quarantined", "tenantActionable": true}},
            "steadyStateLastAchievedTime": "0001-01-01T00:00:00Z", "troubleshootingUrl": null}})
}

#[test]
fn jobs_leniently() {
    let p = job(&job_json()).unwrap();
    assert!(p.notes.is_empty(), "{:?}", p.notes);
    let j = p.item;
    assert_eq!(j.status, "Quarantine");
    assert_eq!(j.interval_seconds, Some(2400));
    assert_eq!(j.successive_failures, Some(3));
    assert_eq!(
        j.last_successful_execution, None,
        "year-1 times and no state: never"
    );
    assert_eq!(j.steady_state_last_achieved, None);
    let last = j.last_execution.unwrap();
    assert_eq!(last.state.as_deref(), Some("EntryLevelErrors"));
    assert_eq!(last.ended.as_deref(), Some("2024-05-01T10:02:00Z"));
    let q = j.quarantine.unwrap();
    assert_eq!(q.reason, "QuarantinedOnDemand");
    assert_eq!(q.series_began, None);
    assert_eq!(q.error_message.as_deref(), Some("quarantined"));

    let mut v = job_json();
    v["status"]["code"] = json!("SomethingNew");
    v["status"]["lastExecution"] = json!(null);
    v["status"]["quarantine"] = json!({"reason": "BrandNewReason"});
    v["schedule"]["interval"] = json!("every now and then");
    let p = job(&v).unwrap();
    assert_eq!(p.item.status, "SomethingNew");
    assert_eq!(p.item.last_execution, None);
    assert_eq!(p.item.quarantine.unwrap().reason, "BrandNewReason");
    assert_eq!(p.item.interval_seconds, None);
    assert_eq!(p.notes[0].field, "schedule.interval");

    let mut v = job_json();
    v["status"] = json!({"countSuccessiveCompleteFailures": 0});
    assert!(job(&v).is_err(), "no status.code: the job says nothing");
}

fn event_json() -> serde_json::Value {
    json!({"id": "ev-1", "activityDateTime": "2024-05-01T10:01:00Z", "jobId": "Atlassian.abc",
        "cycleId": "c1", "changeId": "ch1", "provisioningAction": "create",
        "provisioningStatusInfo": {"status": "FAILURE", "errorInformation": {
            "errorCode": "SystemForCrossDomainIdentityManagementServiceIncompatibleFiltering",
            "reason": "Resource [USER]: with email[ana@contoso.example] already exists.",
            "additionalDetails": "409", "errorCategory": "NonServiceFailure", "recommendedAction": null}},
        "sourceIdentity": {"id": "u1", "identityType": "User", "displayName": "Ana", "details": {}},
        "targetIdentity": {"id": "", "identityType": "urn:ietf:params:scim:schemas:core:2.0:User"},
        "servicePrincipal": [{"id": "sp-1", "displayName": "Atlassian Cloud"}],
        "initiatedBy": {"id": "", "displayName": "Azure AD Provisioning Service", "initiatorType": "system"},
        "provisioningSteps": [{"name": "EntryExportAdd", "provisioningStepType": "EXPORT", "status": "failure"}],
        "modifiedProperties": []})
}

#[test]
fn log_events_leniently() {
    let e = event(&event_json(), "sp-1").unwrap().unwrap().item;
    assert_eq!(e.status, "failure");
    assert!(e.failed() && e.is_email_conflict());
    assert_eq!(e.user_id.as_deref(), Some("u1"));
    assert_eq!(e.target_id, None);
    assert_eq!(
        e.error_code.as_deref(),
        Some("SystemForCrossDomainIdentityManagementServiceIncompatibleFiltering")
    );
    assert!(e.reason.unwrap().ends_with("already exists. 409"));
    // servicePrincipal as an object, of another app: not ours.
    let mut v = event_json();
    v["servicePrincipal"] = json!({"id": "sp-2"});
    assert_eq!(event(&v, "sp-1").unwrap(), None);
    v["servicePrincipal"] = json!({"id": "SP-1"});
    assert!(event(&v, "sp-1").unwrap().is_some());
    // Unknown statuses and codes kept; the reason capped.
    let mut v = event_json();
    v["provisioningStatusInfo"]["status"] = json!("Deferred");
    v["provisioningStatusInfo"]["errorInformation"]["reason"] = json!("x".repeat(5000));
    let e = event(&v, "sp-1").unwrap().unwrap().item;
    assert_eq!(e.status, "Deferred");
    assert_eq!(e.reason.unwrap().chars().count(), REASON_CHARS);
    let mut v = event_json();
    v.as_object_mut().unwrap().remove("activityDateTime");
    assert!(event(&v, "sp-1").is_err());
}

#[test]
fn on_demand_replies_decode_their_string_encoded_json() {
    let key = json!({"result": "Skipped", "details": {"errorCode": "RedundantExport", "errorMessage": "already up to date"}});
    let value = json!({"statusInfo": {"status": "skipped"}, "targetIdentity": {"id": "scim-42"},
                       "provisioningSteps": []});
    let body = json!({"key": key.to_string(), "value": value.to_string()});
    let r = on_demand(body.to_string().as_bytes()).unwrap();
    assert_eq!(r.result, "Skipped");
    assert!(r.refused() && !r.succeeded());
    assert_eq!(r.error_code.as_deref(), Some("RedundantExport"));
    assert_eq!(r.message.as_deref(), Some("already up to date"));
    assert_eq!(r.scim_id.as_deref(), Some("scim-42"));
    assert_eq!(r.raw_key, key.to_string());
    // Objects instead of strings; the result from value when key has none.
    let body = json!({"key": {}, "value": {"statusInfo": {"status": "Success"}}});
    let r = on_demand(body.to_string().as_bytes()).unwrap();
    assert!(r.succeeded());
    for bad in [
        json!({"key": "not json {", "value": "{}"}),
        json!({"key": 5}),
        json!({}),
        json!({"key": "{}", "value": "{}"}),
        json!([1]),
    ] {
        assert!(on_demand(bad.to_string().as_bytes()).is_err(), "{bad}");
    }
}

/// Any JSON value: nested objects and arrays of scalars and strings that look like the fields.
fn any_json() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        "[a-zA-Z0-9#:._ -]{0,12}".prop_map(serde_json::Value::from),
        Just(json!("0001-01-01T00:00:00Z")),
        Just(json!("PT40M")),
        Just(json!("2024-05-01T10:00:00Z")),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        let keys = prop_oneof![
            Just("id".to_string()),
            Just("status".to_string()),
            Just("code".to_string()),
            Just("schedule".to_string()),
            Just("interval".to_string()),
            Just("lastExecution".to_string()),
            Just("quarantine".to_string()),
            Just("reason".to_string()),
            Just("servicePrincipal".to_string()),
            Just("provisioningStatusInfo".to_string()),
            Just("errorInformation".to_string()),
            Just("activityDateTime".to_string()),
            Just("sourceIdentity".to_string()),
            Just("key".to_string()),
            Just("value".to_string()),
            Just("synchronizationRules".to_string()),
            Just("objectMappings".to_string()),
            Just("attributeMappings".to_string()),
            "[a-z]{1,6}",
        ];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
            prop::collection::btree_map(keys, inner, 0..6)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn no_json_makes_a_parser_panic(v in any_json()) {
        let _ = job(&v);
        let _ = event(&v, "sp-1");
        let _ = mapping(&v);
        let _ = user(&v, &sources());
        let _ = assignment(&v);
        let _ = member(&v);
        let _ = group(&v);
        let _ = service_principal(&v);
        let _ = on_demand(v.to_string().as_bytes());
        let wrapped = json!({"key": v.to_string(), "value": v.to_string()});
        let _ = on_demand(wrapped.to_string().as_bytes());
    }

    #[test]
    fn no_text_makes_durations_or_ext_panic(s in "\\PC{0,24}") {
        let _ = duration_secs(&s);
        let _ = strip_ext(&s);
        let _ = crate::fields::parse_time(&s);
    }

    #[test]
    fn notes_never_quote_a_value(secret in "[a-z]{8}sekrit[a-z]{8}") {
        let v = json!({"id": "j1", "status": {"code": 5, "lastExecution": {"timeBegan": secret.clone(), "state": [secret.clone()]}},
                       "schedule": {"interval": secret.clone()}});
        let mut notes = match job(&v) { Ok(p) => p.notes, Err(e) => { prop_assert!(!e.contains("sekrit")); Vec::new() } };
        let u = json!({"id": "u", "accountEnabled": secret.clone(), "userPrincipalName": [secret.clone()]});
        notes.extend(user(&u, &sources()).unwrap().notes);
        let text = format!("{notes:?}");
        prop_assert!(!text.contains("sekrit"));
    }
}

/// One odd assignment is kept (issue 19, item 4): an unreadable or unexpected `principalType`, or
/// an unreadable `principalId`, is noted and the principal unknown; only a missing `id` is an
/// error.
#[test]
fn an_odd_assignment_is_kept_with_its_principal_unknown() {
    use super::{Principal, assignment};
    for (v, principal, noted) in [
        (
            json!({"id": "x", "principalId": "u1", "principalType": "User"}),
            Principal::User,
            false,
        ),
        (
            json!({"id": "x", "principalId": "g1", "principalType": "group"}),
            Principal::Group,
            false,
        ),
        (
            json!({"id": "x", "principalId": "s1", "principalType": "ServicePrincipal"}),
            Principal::Other,
            false,
        ),
        (
            json!({"id": "x", "principalId": "u1", "principalType": 5}),
            Principal::Unknown,
            true,
        ),
        (
            json!({"id": "x", "principalId": "u1", "principalType": null}),
            Principal::Unknown,
            true,
        ),
        (
            json!({"id": "x", "principalId": "u1"}),
            Principal::Unknown,
            true,
        ),
        (
            json!({"id": "x", "principalId": "u1", "principalType": "Robot"}),
            Principal::Unknown,
            true,
        ),
        (
            json!({"id": "x", "principalId": ["u1"], "principalType": "User"}),
            Principal::Unknown,
            true,
        ),
    ] {
        let p = assignment(&v).unwrap();
        assert_eq!(p.item.principal, principal, "{v}");
        assert_eq!(!p.notes.is_empty(), noted, "{v}");
    }
    assert!(assignment(&json!({"principalId": "u1", "principalType": "User"})).is_err());
}

/// Only Graph object ids are looked up (idp-api.md §1.2: Graph answers 400 for anything else).
#[test]
fn only_guids_are_object_ids() {
    use super::is_guid;
    assert!(is_guid("0b5c2d9e-1111-4222-8333-944455556666"));
    assert!(is_guid("0B5C2D9E-1111-4222-8333-944455556666"));
    for not in [
        "e-1900",
        "emp-12345",
        "",
        "0b5c2d9e11114222833394445555666",
        "0b5c2d9e-1111-4222-8333-94445555666g",
        "0b5c2d9e-1111-4222-8333-9444555566667",
        "0b5c2d9e-1111-4222-8333",
    ] {
        assert!(!is_guid(not), "{not}");
    }
}

#[test]
fn the_schema_says_whether_groups_are_pushed() {
    let with = |maps: serde_json::Value| json!({"synchronizationRules": [{"id": "r", "objectMappings": maps}]});
    let group =
        |enabled: serde_json::Value| json!({"sourceObjectName": "Group", "enabled": enabled});
    let user = json!({"sourceObjectName": "User", "enabled": true});
    assert_eq!(
        groups_pushed(&with(json!([user, group(json!(true))]))),
        Some(true)
    );
    // `enabled` absent: mapped (Graph omits it for the default).
    assert_eq!(
        groups_pushed(&with(json!([{"sourceObjectName": " group "}]))),
        Some(true)
    );
    assert_eq!(
        groups_pushed(&with(json!([user, group(json!(false))]))),
        Some(false)
    );
    assert_eq!(groups_pushed(&with(json!([user]))), Some(false));
    assert_eq!(groups_pushed(&json!({"id": "no rules"})), None);
    assert_eq!(groups_pushed(&json!({"synchronizationRules": []})), None);
    // The whole mapping carries it, also when the user rule could not be used.
    assert_eq!(
        mapping(&with(json!([group(json!(false))]))).groups_pushed,
        Some(false)
    );
    assert_eq!(mapping(&json!({})).groups_pushed, None);
}
