//! Lenient parsers of Okta's Management API shapes (idp-api.md §2.2–§2.3), pure: the app, app
//! users (with `_embedded.user`), users, groups, group-push mappings and System Log events.
//! Unknown enum values are kept as sent and noted; a field of an unexpected type is noted and
//! unknown; only an item without a usable id is an error.

use serde_json::Value;

use crate::fields::{Fields, Parsed};
use crate::model::idp::{IdpApp, ProvisioningEvent};

/// App user `status` values (idp-api.md §2.2).
pub const APP_USER_STATUSES: &[&str] = &[
    "ACTIVE",
    "INACTIVE",
    "IMPORTED",
    "MATCHED",
    "UNASSIGNED",
    "SUSPENDED",
    "PENDING",
    "APPROVED",
    "REVOKED",
    "IMPLICIT",
    "STAGED",
    "PROVISIONED",
    "DEPROVISIONED",
];

/// App user `syncState` values.
pub const SYNC_STATES: &[&str] = &[
    "DISABLED",
    "OUT_OF_SYNC",
    "SYNCING",
    "SYNCHRONIZED",
    "ERROR",
];

/// Okta user `status` values that are enabled (scenarios.md, *enabled* for Okta).
pub const ENABLED_STATUSES: &[&str] = &[
    "ACTIVE",
    "PROVISIONED",
    "STAGED",
    "RECOVERY",
    "PASSWORD_EXPIRED",
    "LOCKED_OUT",
];

/// Okta user `status` values that are not.
pub const DISABLED_STATUSES: &[&str] = &["SUSPENDED", "DEPROVISIONED"];

/// The app's `GET /api/v1/apps/{id}`.
pub fn app(v: &Value) -> Result<Parsed<IdpApp>, String> {
    let mut notes = Vec::new();
    let mut f = Fields::new(v, &mut notes)?;
    let id = f.id("id")?;
    let status = f.enumerated("status", &["ACTIVE", "INACTIVE", "DELETED"]);
    if status.is_none() && f.get("status").is_none() {
        f.note("status", "absent or null".into());
    }
    let features = match f.get("features") {
        Some(Value::Array(items)) => {
            let names: Vec<String> = items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect();
            if names.len() != items.len() {
                f.note("features", "expected an array of strings".into());
                None
            } else {
                Some(names)
            }
        }
        None => {
            f.note("features", "absent or null".into());
            None
        }
        Some(other) => {
            let problem = format!("expected an array, got {}", crate::fields::kind_of(other));
            f.note("features", problem);
            None
        }
    };
    let item = IdpApp {
        id: id.clone(),
        label: f.text("label").or_else(|| f.text("name")),
        status,
        features,
    };
    Ok(Parsed { id, item, notes })
}

/// An Okta user (`GET /api/v1/users/{id}`, `_embedded.user`, a group's members).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OktaUser {
    pub id: String,
    /// As sent (an unknown value kept); `None` when unreadable.
    pub status: Option<String>,
    pub login: Option<String>,
    pub email: Option<String>,
    pub display_name: Option<String>,
}

impl OktaUser {
    /// Enabled (scenarios.md): neither `DEPROVISIONED` nor `SUSPENDED`; `None` for an unknown
    /// or unreadable status.
    pub fn enabled(&self) -> Option<bool> {
        let s = self.status.as_deref()?.trim();
        if ENABLED_STATUSES.iter().any(|x| x.eq_ignore_ascii_case(s)) {
            Some(true)
        } else if DISABLED_STATUSES.iter().any(|x| x.eq_ignore_ascii_case(s)) {
            Some(false)
        } else {
            None
        }
    }

    /// Deactivated (`DEPROVISIONED`): no longer intended, whatever its assignments.
    pub fn deprovisioned(&self) -> Option<bool> {
        self.status
            .as_deref()
            .map(|s| s.trim().eq_ignore_ascii_case("DEPROVISIONED"))
    }
}

/// One Okta user, field by field (`status`, `profile.login`, `profile.email`, names).
pub fn user(v: &Value) -> Result<Parsed<OktaUser>, String> {
    let mut notes = Vec::new();
    let mut f = Fields::new(v, &mut notes)?;
    let id = f.id("id")?;
    let item = user_fields(&mut f, id.clone());
    Ok(Parsed { id, item, notes })
}

fn user_fields(f: &mut Fields<'_>, id: String) -> OktaUser {
    if f.get("status").is_none() {
        f.note("status", "absent or null".into());
    }
    let status = f.string("status");
    if let Some(s) = &status
        && !ENABLED_STATUSES.contains(&s.as_str())
        && !DISABLED_STATUSES.contains(&s.as_str())
    {
        f.note(
            "status",
            "unexpected value: whether the user is enabled is unknown".into(),
        );
    }
    let (login, email, display_name) = f
        .object("profile", |p| {
            let name = match (p.text("firstName"), p.text("lastName")) {
                (Some(a), Some(b)) => Some(format!("{a} {b}")),
                (a, b) => a.or(b),
            };
            (
                p.text("login"),
                p.text("email"),
                p.text("displayName").or(name),
            )
        })
        .unwrap_or((None, None, None));
    OktaUser {
        id,
        status,
        login,
        email,
        display_name,
    }
}

/// One `apps/{id}/users` item (idp-api.md §2.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppUser {
    /// The Okta user id.
    pub id: String,
    /// The SCIM record id Okta provisioned (absent until provisioned).
    pub external_id: Option<String>,
    /// `USER` (assigned directly) or `GROUP`.
    pub scope: Option<String>,
    pub status: Option<String>,
    /// `None` when absent or unreadable (then noted: unknown).
    pub sync_state: Option<String>,
    pub last_sync: Option<String>,
    /// `credentials.userName`: the SCIM `userName`.
    pub user_name: Option<String>,
    /// `profile.email`: the SCIM email.
    pub email: Option<String>,
    /// `_embedded.user` (with `expand=user`); `None` when absent: the user is read by id.
    pub user: Option<OktaUser>,
}

/// One app user, field by field. `externalId`, `syncState`, `lastSync`, `credentials` and
/// `_embedded` may be absent (lenient): an absent `syncState` is noted (whether the last push
/// failed is unknown); the others are simply absent.
pub fn app_user(v: &Value) -> Result<Parsed<AppUser>, String> {
    let mut notes = Vec::new();
    let mut f = Fields::new(v, &mut notes)?;
    let id = f.id("id")?;
    let external_id = f.text("externalId");
    let scope = f.enumerated("scope", &["USER", "GROUP"]);
    let status = f.enumerated("status", APP_USER_STATUSES);
    if f.get("syncState").is_none() {
        f.note(
            "syncState",
            "absent: whether Okta's last push of the user failed is unknown".into(),
        );
    }
    let sync_state = f.enumerated("syncState", SYNC_STATES);
    let last_sync = f.time("lastSync");
    let user_name = f.object("credentials", |c| c.text("userName")).flatten();
    let email = f.object("profile", |p| p.text("email")).flatten();
    let embedded = f
        .object("_embedded", |e| {
            e.object("user", |u| {
                let uid = u.id("id").unwrap_or_else(|_| id.clone());
                user_fields(u, uid)
            })
        })
        .flatten();
    let item = AppUser {
        id: id.clone(),
        external_id,
        scope,
        status,
        sync_state,
        last_sync,
        user_name,
        email,
        user: embedded.filter(|u| u.id == id),
    };
    Ok(Parsed { id, item, notes })
}

/// An Okta group (`GET /api/v1/groups/{id}`): its id and `profile.name`.
pub fn group(v: &Value) -> Result<Parsed<(String, Option<String>)>, String> {
    let mut notes = Vec::new();
    let mut f = Fields::new(v, &mut notes)?;
    let id = f.id("id")?;
    let name = f.object("profile", |p| p.text("name")).flatten();
    if name.is_none() {
        f.note(
            "profile.name",
            "absent: the group's pushed name is unknown".into(),
        );
    }
    Ok(Parsed {
        id: id.clone(),
        item: (id, name),
        notes,
    })
}

/// One group-push mapping (`apps/{id}/group-push/mappings`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushMapping {
    pub id: String,
    pub source_group_id: Option<String>,
    pub target_group_id: Option<String>,
    /// `ACTIVE`, `ERROR`, `INACTIVE`, or an unknown value as sent.
    pub status: Option<String>,
    pub error_summary: Option<String>,
}

pub fn push_mapping(v: &Value) -> Result<Parsed<PushMapping>, String> {
    let mut notes = Vec::new();
    let mut f = Fields::new(v, &mut notes)?;
    let id = f.id("id")?;
    let source_group_id = f.text("sourceGroupId");
    if source_group_id.is_none() {
        f.note(
            "sourceGroupId",
            "absent: the pushed group is unknown".into(),
        );
    }
    let item = PushMapping {
        id: id.clone(),
        source_group_id,
        target_group_id: f.text("targetGroupId"),
        status: f.enumerated("status", &["ACTIVE", "ERROR", "INACTIVE"]),
        error_summary: f
            .text("errorSummary")
            .map(|s| s.chars().take(REASON_CHARS).collect()),
    };
    Ok(Parsed { id, item, notes })
}

/// Longest reason kept from a log event or a mapping.
const REASON_CHARS: usize = 1000;

/// A System Log event, with who it is about: `target[type=User].id` (an Okta user id), else
/// `target[type=AppUser].alternateId` (the app username), never by position (idp-api.md §2.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEvent {
    pub event: ProvisioningEvent,
    /// The app username, when no `User` target named the user.
    pub app_user_name: Option<String>,
}

/// One System Log event: `uuid`, `published`, `eventType`, `outcome{result, reason}` (failure
/// also by `severity` ERROR, lenient), the targets. `Ok(None)` for an event about another app.
pub fn event(v: &Value, app_id: &str) -> Result<Option<Parsed<LogEvent>>, String> {
    let mut notes = Vec::new();
    let mut f = Fields::new(v, &mut notes)?;
    let id = f.id("uuid")?;
    let at = f
        .time_or_never("published")
        .ok_or_else(|| format!("event {id:?} has no readable published time"))?;
    let event_type = f.text("eventType").unwrap_or_else(|| "unknown".into());
    let (result, reason) = f
        .object("outcome", |o| (o.text("result"), o.text("reason")))
        .unwrap_or((None, None));
    let severity = f.text("severity");
    let failed = result
        .as_deref()
        .is_some_and(|r| r.eq_ignore_ascii_case("FAILURE"))
        || severity
            .as_deref()
            .is_some_and(|s| s.eq_ignore_ascii_case("ERROR"));
    let status = match (&result, failed) {
        (_, true) => "failure".to_string(),
        (Some(r), false) if r.eq_ignore_ascii_case("SUCCESS") => "success".to_string(),
        (Some(r), false) => r.to_ascii_lowercase(),
        (None, false) => "unknown".to_string(),
    };
    let targets: Vec<(Option<String>, Option<String>, Option<String>)> = f.objects("target", |t| {
        Some((t.text("type"), t.text("id"), t.text("alternateId")))
    });
    fn of_type<'t>(
        targets: &'t [(Option<String>, Option<String>, Option<String>)],
        k: &'static str,
    ) -> impl Iterator<Item = &'t (Option<String>, Option<String>, Option<String>)> {
        targets
            .iter()
            .filter(move |(t, _, _)| t.as_deref().is_some_and(|t| t.eq_ignore_ascii_case(k)))
    }
    // An event naming another app (the filter asked for this one; a lenient server may not
    // filter) is not this app's.
    let apps: Vec<&str> = of_type(&targets, "AppInstance")
        .filter_map(|(_, id, _)| id.as_deref())
        .collect();
    if !apps.is_empty() && !apps.contains(&app_id) {
        return Ok(None);
    }
    let user_id = of_type(&targets, "User").find_map(|(_, id, _)| id.clone());
    let app_user_name = if user_id.is_none() {
        of_type(&targets, "AppUser").find_map(|(_, _, alt)| alt.clone())
    } else {
        None
    };
    let item = LogEvent {
        event: ProvisioningEvent {
            id: id.clone(),
            at,
            job_id: None,
            cycle_id: None,
            action: event_type.clone(),
            error_code: failed.then(|| event_type.clone()),
            status,
            reason: reason.map(|r| r.chars().take(REASON_CHARS).collect()),
            user_id,
            target_id: None,
        },
        app_user_name,
    };
    Ok(Some(Parsed { id, item, notes }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn app_users_read_leniently() {
        let full = json!({"id":"00u1","externalId":"scim-1","scope":"USER","status":"PROVISIONED",
            "syncState":"ERROR","lastSync":"2026-12-01T10:00:00.000Z",
            "credentials":{"userName":"ann@example.com"},"profile":{"email":"ann@example.com"},
            "_embedded":{"user":{"id":"00u1","status":"SUSPENDED","profile":{"login":"ann@example.com","email":"ann@example.com","firstName":"Ann","lastName":"Lee"}}}});
        let p = app_user(&full).unwrap();
        assert!(p.notes.is_empty(), "{:?}", p.notes);
        let u = p.item.user.unwrap();
        assert_eq!(u.enabled(), Some(false));
        assert_eq!(u.deprovisioned(), Some(false));
        assert_eq!(u.display_name.as_deref(), Some("Ann Lee"));
        assert_eq!(p.item.sync_state.as_deref(), Some("ERROR"));
        assert_eq!(p.item.external_id.as_deref(), Some("scim-1"));
        let bare = json!({"id":"00u2","scope":"GROUP","status":"NEWSTATUS"});
        let p = app_user(&bare).unwrap();
        assert_eq!(p.item.status.as_deref(), Some("NEWSTATUS"));
        assert_eq!(p.item.sync_state, None);
        assert!(p.item.user.is_none() && p.item.external_id.is_none());
        let fields: Vec<&str> = p.notes.iter().map(|n| n.field.as_str()).collect();
        assert_eq!(fields, ["status", "syncState"]);
        assert!(app_user(&json!({"externalId":"x"})).is_err());
    }

    #[test]
    fn user_status_decides_enabled_or_leaves_it_unknown() {
        for (status, enabled) in [
            ("LOCKED_OUT", Some(true)),
            ("PASSWORD_EXPIRED", Some(true)),
            ("DEPROVISIONED", Some(false)),
            ("ARCHIVED", None),
        ] {
            let p = user(&json!({"id":"00u","status":status})).unwrap();
            assert_eq!(p.item.enabled(), enabled, "{status}");
        }
        let p = user(&json!({"id":"00u","status":null})).unwrap();
        assert_eq!(p.item.enabled(), None);
        assert_eq!(p.notes[0].field, "status");
    }

    #[test]
    fn log_events_name_the_user_by_type_never_by_position() {
        let e = json!({"uuid":"e1","published":"2026-12-01T10:00:00.000Z",
            "eventType":"application.provision.user.push","severity":"WARN",
            "outcome":{"result":"FAILURE","reason":"Errors reported by remote server: Resource [USER]: with email[a@x] already exists."},
            "target":[{"type":"AppInstance","id":"0oaapp"},{"type":"AppUser","id":"0ua1","alternateId":"ann@example.com"},{"type":"User","id":"00u1"}]});
        let p = event(&e, "0oaapp").unwrap().unwrap();
        assert_eq!(p.item.event.user_id.as_deref(), Some("00u1"));
        assert!(p.item.event.failed() && p.item.event.is_email_conflict());
        assert_eq!(
            p.item.event.error_code.as_deref(),
            Some("application.provision.user.push")
        );
        let only_app_user = json!({"uuid":"e2","published":"2026-12-01T10:00:00Z",
            "eventType":"application.provision.user.deactivate","severity":"ERROR",
            "outcome":{"result":"UNKNOWN"},
            "target":[{"type":"AppUser","id":"0ua2","alternateId":"bo@example.com"},{"type":"AppInstance","id":"0oaapp"}]});
        let p = event(&only_app_user, "0oaapp").unwrap().unwrap();
        assert_eq!(p.item.event.user_id, None);
        assert_eq!(p.item.app_user_name.as_deref(), Some("bo@example.com"));
        assert!(p.item.event.failed(), "severity ERROR is a failure");
        assert!(event(&only_app_user, "0oaother").unwrap().is_none());
    }

    #[test]
    fn the_app_says_its_features_or_leaves_them_unknown() {
        let p = app(
            &json!({"id":"0oa1","label":"Atlassian Cloud","status":"ACTIVE",
            "features":["PUSH_NEW_USERS","GROUP_PUSH"]}),
        )
        .unwrap();
        assert_eq!(p.item.stall(), Ok(None));
        assert_eq!(p.item.has(IdpApp::PUSH_USER_DEACTIVATION), Some(false));
        let p =
            app(&json!({"id":"0oa1","status":"INACTIVE","features":["PUSH_NEW_USERS"]})).unwrap();
        assert!(matches!(
            p.item.stall(),
            Ok(Some(crate::model::idp::Stall::NotActive("INACTIVE")))
        ));
        let p = app(&json!({"id":"0oa1","status":"ACTIVE"})).unwrap();
        assert_eq!(p.item.stall(), Err("features"));
    }
}
