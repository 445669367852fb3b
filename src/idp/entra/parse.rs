//! Lenient parsers of Microsoft Graph's shapes (idp-api.md §1.2–§1.4), pure: service principal,
//! app-role assignments, group members, users, the provisioning job, its schema (the attribute
//! mapping), provisioning log events and the provision-on-demand reply. Unknown enum values are
//! kept as sent; a field of an unexpected type is noted and unknown; only an item without a usable
//! id is an error.

use serde_json::Value;

use crate::fields::{Fields, Parsed, json_error, kind_of};
use crate::model::idp::{Execution, Mapping, ProvisioningEvent, ProvisioningJob, Quarantine};

/// The fields of `/users` that are always read.
pub const USER_SELECT: &str =
    "id,userPrincipalName,mail,otherMails,accountEnabled,displayName,givenName,surname,userType";

/// The Atlassian Cloud enterprise app's service principal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServicePrincipal {
    pub id: String,
    pub app_id: Option<String>,
    pub display_name: Option<String>,
}

pub fn service_principal(v: &Value) -> Result<Parsed<ServicePrincipal>, String> {
    let mut notes = Vec::new();
    let mut f = Fields::new(v, &mut notes)?;
    let id = f.id("id")?;
    let item = ServicePrincipal {
        id: id.clone(),
        app_id: f.text("appId"),
        display_name: f.string("displayName"),
    };
    Ok(Parsed { id, item, notes })
}

/// Who an app-role assignment is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    User,
    Group,
    /// `ServicePrincipal`: ignored.
    Other,
    /// `principalType` or `principalId` could not be read: the assignment may carry a user's
    /// intent or a group's, so intent it could carry is unknown (never "not intended").
    Unknown,
}

/// One `appRoleAssignedTo` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    /// `principalId`; `None` when it could not be read (the principal is then [`Principal::Unknown`]).
    pub principal_id: Option<String>,
    pub principal: Principal,
}

/// One assignment, field by field. Only a missing `id` is an error (the listing cannot be
/// counted); an unreadable `principalId` or `principalType` (or a type other than `User`, `Group`,
/// `ServicePrincipal`) is noted and the principal is [`Principal::Unknown`]: one odd item never
/// blinds the IdP side, and never reads as "not intended".
pub fn assignment(v: &Value) -> Result<Parsed<Assignment>, String> {
    let mut notes = Vec::new();
    let mut f = Fields::new(v, &mut notes)?;
    let id = f.id("id")?;
    let principal_id = readable_id(&mut f, "principalId");
    if f.get("principalType").is_none() {
        f.note("principalType", "absent or null".into());
    }
    let kind = f.string("principalType");
    let principal = match kind.as_deref() {
        _ if principal_id.is_none() => Principal::Unknown,
        None => Principal::Unknown,
        Some(k) if k.eq_ignore_ascii_case("User") => Principal::User,
        Some(k) if k.eq_ignore_ascii_case("Group") => Principal::Group,
        Some(k) if k.eq_ignore_ascii_case("ServicePrincipal") => Principal::Other,
        Some(_) => {
            f.note(
                "principalType",
                "unexpected value (expected User, Group or ServicePrincipal): the intent it carries is unknown".into(),
            );
            Principal::Unknown
        }
    };
    Ok(Parsed {
        id,
        item: Assignment {
            principal_id,
            principal,
        },
        notes,
    })
}

/// A field read as an id (a non-empty string or an integer); anything else is noted, `None`.
fn readable_id(f: &mut Fields<'_>, key: &str) -> Option<String> {
    if let Ok(id) = f.id(key) {
        return Some(id);
    }
    let problem = match f.get(key) {
        None => "absent or null".to_string(),
        Some(Value::String(_)) => "empty".to_string(),
        Some(other) => format!("expected a string, got {}", kind_of(other)),
    };
    f.note(key, problem);
    None
}

/// What a group member is, by `@odata.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberKind {
    User,
    Group,
    /// A device, a service principal, a contact: neither intent nor nesting.
    Other,
    /// No `@odata.type` (lenient): a user if the id is in the `/users` list.
    Untyped,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub id: String,
    pub kind: MemberKind,
}

pub fn member(v: &Value) -> Result<Parsed<Member>, String> {
    let mut notes = Vec::new();
    let mut f = Fields::new(v, &mut notes)?;
    let id = f.id("id")?;
    let kind = match f.string("@odata.type") {
        None => MemberKind::Untyped,
        Some(t) if t.eq_ignore_ascii_case("#microsoft.graph.user") => MemberKind::User,
        Some(t) if t.eq_ignore_ascii_case("#microsoft.graph.group") => MemberKind::Group,
        Some(_) => MemberKind::Other,
    };
    Ok(Parsed {
        id: id.clone(),
        item: Member { id, kind },
        notes,
    })
}

/// `GET /groups/{id}?$select=id,displayName,securityEnabled`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub id: String,
    pub display_name: Option<String>,
    pub security_enabled: Option<bool>,
}

pub fn group(v: &Value) -> Result<Parsed<Group>, String> {
    let mut notes = Vec::new();
    let mut f = Fields::new(v, &mut notes)?;
    let id = f.id("id")?;
    let item = Group {
        id: id.clone(),
        display_name: f.string("displayName"),
        // Null or absent is unknown (noted): whether members are intended is then unknown.
        security_enabled: f.state("securityEnabled"),
    };
    Ok(Parsed { id, item, notes })
}

/// Where a mapped SCIM attribute's value comes from, among what scimdrift can read from `/users`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// `objectId`: the user's `id`.
    ObjectId,
    /// `userPrincipalName`, with a B2B guest's `#EXT#` stripped as Entra does when mapping.
    Upn,
    /// `originalUserPrincipalName`: the UPN as stored.
    OriginalUpn,
    /// A plain string property of the Graph user, by its Graph name.
    Property(&'static str),
    /// `extensionAttribute1`…`15` (`onPremisesExtensionAttributes`).
    Extension(u8),
}

/// Graph user properties a mapping may name that `/users` can `$select` (string-valued).
const PROPERTIES: &[&str] = &[
    "mail",
    "mailNickname",
    "displayName",
    "givenName",
    "surname",
    "employeeId",
    "onPremisesImmutableId",
    "onPremisesSamAccountName",
    "onPremisesUserPrincipalName",
];

/// The [`Source`] of a schema attribute name (case-insensitive), `None` when scimdrift cannot
/// evaluate it.
pub fn source(name: &str) -> Option<Source> {
    let name = name.trim();
    if name.eq_ignore_ascii_case("objectId") {
        return Some(Source::ObjectId);
    }
    if name.eq_ignore_ascii_case("userPrincipalName") {
        return Some(Source::Upn);
    }
    if name.eq_ignore_ascii_case("originalUserPrincipalName") {
        return Some(Source::OriginalUpn);
    }
    if let Some(p) = PROPERTIES.iter().find(|p| p.eq_ignore_ascii_case(name)) {
        return Some(Source::Property(p));
    }
    let lower = name.to_ascii_lowercase();
    lower
        .strip_prefix("extensionattribute")
        .and_then(|n| n.parse::<u8>().ok())
        .filter(|n| (1..=15).contains(n))
        .map(Source::Extension)
}

/// The three sources of a mapping (the defaults for names scimdrift cannot evaluate, which a
/// derived mapping never has).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sources {
    pub external_id: Source,
    pub user_name: Source,
    pub email: Source,
}

impl Sources {
    pub fn of(m: &Mapping) -> Self {
        Sources {
            external_id: source(&m.external_id).unwrap_or(Source::ObjectId),
            user_name: source(&m.user_name).unwrap_or(Source::Upn),
            email: source(&m.email).unwrap_or(Source::Property("mail")),
        }
    }

    /// The `$select` of `/users` (and of a single user): the fixed fields plus what the mapping
    /// needs.
    pub fn select(&self) -> String {
        let mut fields: Vec<&str> = USER_SELECT.split(',').collect();
        for s in [&self.external_id, &self.user_name, &self.email] {
            let extra = match s {
                Source::Property(p) => *p,
                Source::Extension(_) => "onPremisesExtensionAttributes",
                _ => continue,
            };
            if !fields.contains(&extra) {
                fields.push(extra);
            }
        }
        fields.join(",")
    }
}

/// A Graph user as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRead {
    pub id: String,
    pub upn: Option<String>,
    pub mail: Option<String>,
    pub display_name: Option<String>,
    pub user_type: Option<String>,
    /// `accountEnabled`; null is unknown, never false.
    pub enabled: Option<bool>,
    pub external_id: Option<String>,
    pub user_name: Option<String>,
    pub email: Option<String>,
    /// The fields that could not be read (the notes' field names).
    pub unknown: Vec<String>,
}

/// One Graph user, with what the mapping sends as SCIM `externalId`, `userName` and work email
/// (the email falls back to the UPN when the mapped `mail` is null: "mail or UPN").
pub fn user(v: &Value, sources: &Sources) -> Result<Parsed<UserRead>, String> {
    let mut notes = Vec::new();
    let mut f = Fields::new(v, &mut notes)?;
    let id = f.id("id")?;
    let upn = f.text("userPrincipalName");
    let mail = f.text("mail");
    let mut r = UserRead {
        id: id.clone(),
        display_name: f.string("displayName"),
        user_type: f.text("userType"),
        // Null or absent is unknown (noted), never disabled.
        enabled: f.state("accountEnabled"),
        external_id: None,
        user_name: None,
        email: None,
        upn,
        mail,
        unknown: Vec::new(),
    };
    r.external_id = evaluate(&mut f, &r, &sources.external_id);
    r.user_name = evaluate(&mut f, &r, &sources.user_name);
    r.email = evaluate(&mut f, &r, &sources.email);
    if r.email.is_none() && sources.email == Source::Property("mail") {
        r.email = r.upn.as_deref().map(strip_ext);
    }
    r.unknown = f.unknown();
    Ok(Parsed { id, item: r, notes })
}

fn evaluate(f: &mut Fields<'_>, r: &UserRead, s: &Source) -> Option<String> {
    match s {
        Source::ObjectId => Some(r.id.clone()),
        Source::Upn => r.upn.as_deref().map(strip_ext),
        Source::OriginalUpn => r.upn.clone(),
        Source::Property("mail") => r.mail.clone(),
        Source::Property(p) => f.text(p),
        Source::Extension(n) => f
            .object("onPremisesExtensionAttributes", |o| {
                o.text(&format!("extensionAttribute{n}"))
            })
            .flatten(),
    }
}

/// Graph's object ids: `8-4-4-4-12` hex digits. Anything else is not looked up (Graph answers
/// `400` for it, idp-api.md §1.2).
pub fn is_guid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 5
        && parts
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(p, n)| p.len() == n && p.chars().all(|c| c.is_ascii_hexdigit()))
}

/// A soft-deleted user's `deletedDateTime` (RFC 3339), when readable.
pub fn deleted_at(v: &Value) -> Option<String> {
    let mut notes = Vec::new();
    Fields::new(v, &mut notes)
        .ok()
        .and_then(|mut f| f.time_or_never("deletedDateTime"))
}

/// A B2B guest's UPN as Entra maps it: `alias_theirdomain#EXT#@yourdomain` becomes
/// `alias@theirdomain` (the `#EXT#` and the inviting domain stripped, the last `_` back to `@`;
/// Microsoft's "How provisioning works", B2B users). Any other UPN is unchanged.
pub fn strip_ext(upn: &str) -> String {
    let Some(i) = upn.to_ascii_uppercase().find("#EXT#") else {
        return upn.to_string();
    };
    let alias = &upn[..i];
    match alias.rfind('_') {
        Some(j) if j > 0 && j + 1 < alias.len() => {
            format!("{}@{}", &alias[..j], &alias[j + 1..])
        }
        _ => alias.to_string(),
    }
}

/// An ISO-8601 duration (`PT40M`, `P1DT2H`, `PT0.5S`, `P2W`) in whole seconds, rounded; also
/// .NET's `[d.]hh:mm:ss[.f]`. Years and months (no fixed length) and negatives are `None`.
pub fn duration_secs(text: &str) -> Option<i64> {
    let s = text.trim();
    let total = match s.strip_prefix(['P', 'p']) {
        Some(rest) => iso_duration(rest)?,
        None => timespan(s)?,
    };
    (total.is_finite() && (0.0..1e12).contains(&total)).then(|| total.round() as i64)
}

fn iso_duration(rest: &str) -> Option<f64> {
    let (date, time) = match rest.find(['T', 't']) {
        Some(i) => (&rest[..i], Some(&rest[i + 1..])),
        None => (rest, None),
    };
    if time.is_some_and(str::is_empty) || (date.is_empty() && time.is_none()) {
        return None;
    }
    let mut total = 0.0;
    for (part, units) in [
        (date, &[('W', 604_800.0), ('D', 86_400.0)][..]),
        (
            time.unwrap_or(""),
            &[('H', 3600.0), ('M', 60.0), ('S', 1.0)][..],
        ),
    ] {
        let mut seen = Vec::new();
        let mut number = String::new();
        for c in part.chars() {
            if c.is_ascii_digit() || c == '.' || c == ',' {
                number.push(if c == ',' { '.' } else { c });
                continue;
            }
            let unit = c.to_ascii_uppercase();
            let (_, secs) = units.iter().find(|(u, _)| *u == unit)?;
            if number.is_empty() || seen.contains(&unit) {
                return None;
            }
            seen.push(unit);
            total += number.parse::<f64>().ok()? * secs;
            number.clear();
        }
        if !number.is_empty() {
            return None;
        }
    }
    Some(total)
}

fn timespan(s: &str) -> Option<f64> {
    let parts: Vec<&str> = s.split(':').collect();
    let [h, m, sec] = parts[..] else {
        return None;
    };
    let (days, h) = match h.split_once('.') {
        Some((d, h)) => (d.parse::<u64>().ok()?, h),
        None => (0, h),
    };
    let h: u64 = h.parse().ok()?;
    let m: u64 = m.parse().ok()?;
    let sec: f64 = sec.parse().ok().filter(|x: &f64| *x >= 0.0)?;
    if m >= 60 || sec >= 60.0 {
        return None;
    }
    // Checked: a huge count from the wire is no duration, never an overflow.
    let whole = days
        .checked_mul(86_400)?
        .checked_add(h.checked_mul(3600)?)?
        .checked_add(m * 60)?;
    Some(whole as f64 + sec)
}

/// `QuarantineOnDemand` (the doc's spelling) is `QuarantinedOnDemand`; anything else as sent.
pub fn quarantine_reason(reason: &str) -> String {
    if reason.eq_ignore_ascii_case("QuarantineOnDemand") {
        "QuarantinedOnDemand".into()
    } else {
        reason.to_string()
    }
}

/// One `synchronization/jobs` entry. Its `id` and `status.code` are needed (a job without them
/// says nothing); the rest is lenient: year-1 times are never, null executions are none, unknown
/// enum values are kept as sent.
pub fn job(v: &Value) -> Result<Parsed<ProvisioningJob>, String> {
    let mut notes = Vec::new();
    let mut f = Fields::new(v, &mut notes)?;
    let id = f.id("id")?;
    let template_id = f.text("templateId");
    let (schedule_state, interval_seconds) = f
        .object("schedule", |s| {
            let state = s.text("state");
            let interval = s.string("interval").and_then(|i| {
                let secs = duration_secs(&i);
                if secs.is_none() {
                    s.note(
                        "interval",
                        "expected an ISO-8601 duration, got a string that is not one".into(),
                    );
                }
                secs
            });
            (state, interval)
        })
        .unwrap_or((None, None));
    let status = f.object("status", |s| {
        let code = s.text("code");
        let failures = s
            .count("countSuccessiveCompleteFailures")
            .map(|n| n.min(i64::MAX as u64) as i64);
        let last = s.object("lastExecution", execution).flatten();
        let last_ok = s.object("lastSuccessfulExecution", execution).flatten();
        let quarantine = s.object("quarantine", |q| {
            let reason = q.text("reason").map(|r| quarantine_reason(&r));
            if reason.is_none() {
                q.note("reason", "missing: read as Unknown".into());
            }
            let (error_code, error_message) = q.object("error", error).unwrap_or((None, None));
            Quarantine {
                reason: reason.unwrap_or_else(|| "Unknown".into()),
                series_began: q.time_or_never("seriesBegan"),
                current_began: q.time_or_never("currentBegan"),
                next_attempt: q.time_or_never("nextAttempt"),
                error_code,
                error_message,
            }
        });
        let steady = s.time_or_never("steadyStateLastAchievedTime");
        (code, failures, last, last_ok, quarantine, steady)
    });
    let Some((Some(code), failures, last, last_ok, quarantine, steady)) = status else {
        return Err(format!("job {id:?} has no readable status.code"));
    };
    Ok(Parsed {
        id: id.clone(),
        item: ProvisioningJob {
            job_id: id,
            template_id,
            status: code,
            schedule_state,
            interval_seconds,
            last_execution: last,
            last_successful_execution: last_ok,
            successive_failures: failures,
            quarantine,
            steady_state_last_achieved: steady,
        },
        notes,
    })
}

fn error(e: &mut Fields<'_>) -> (Option<String>, Option<String>) {
    (e.text("code"), e.string("message"))
}

/// An execution; `None` when it says nothing (every time the year-1 sentinel, no state).
fn execution(e: &mut Fields<'_>) -> Option<Execution> {
    let began = e.time_or_never("timeBegan");
    let ended = e.time_or_never("timeEnded");
    let state = e.text("state");
    let (error_code, error_message) = e.object("error", error).unwrap_or((None, None));
    let count_escrowed = e.count("countEscrowed");
    if began.is_none() && ended.is_none() && state.is_none() && error_code.is_none() {
        return None;
    }
    Some(Execution {
        began,
        ended,
        state,
        error_code,
        error_message,
        count_escrowed,
    })
}

/// The SCIM attributes scimdrift joins on, as the schema's target names (compared without white
/// space and quotes, case-insensitively).
const TARGETS: [&str; 3] = ["externalId", "userName", r#"emails[type eq "work"].value"#];

fn normalized(target: &str) -> String {
    target
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '"' && *c != '\'')
        .flat_map(char::to_lowercase)
        .collect()
}

/// The attribute mapping of the job's user rule (`…/jobs/{jobId}/schema`): the rule's id and the
/// Entra attribute feeding `externalId`, `userName` and the work email. When the schema is
/// unreadable, a target is unmapped, or it is fed by a `Function`/`Constant` or an attribute
/// scimdrift cannot read, the defaults are assumed (`derived` false) and the note says why; the
/// rule id is kept whenever it was found.
pub fn mapping(schema: &Value) -> Mapping {
    let groups_pushed = groups_pushed(schema);
    let assumed = |why: String, rule_id: Option<String>| Mapping {
        rule_id,
        groups_pushed,
        ..Mapping::entra_default(format!(
            "{why}; assumed objectId→externalId, userPrincipalName→userName, mail (else userPrincipalName)→email"
        ))
    };
    let Some(rules) = schema.get("synchronizationRules").and_then(Value::as_array) else {
        return assumed("the job schema has no synchronizationRules".into(), None);
    };
    let user_mapping = rules.iter().find_map(|rule| {
        let maps = rule.get("objectMappings")?.as_array()?;
        let om = maps.iter().find(|om| {
            om.get("sourceObjectName")
                .and_then(Value::as_str)
                .is_some_and(|n| n.eq_ignore_ascii_case("User"))
                && om.get("enabled").and_then(Value::as_bool) != Some(false)
        })?;
        let rule_id = rule
            .get("id")
            .and_then(Value::as_str)
            .filter(|s| !s.trim().is_empty())
            .map(str::to_string);
        Some((rule_id, om))
    });
    let Some((rule_id, om)) = user_mapping else {
        return assumed(
            "the job schema has no enabled rule mapping User objects".into(),
            None,
        );
    };
    let Some(attrs) = om.get("attributeMappings").and_then(Value::as_array) else {
        return assumed("the user rule has no attributeMappings".into(), rule_id);
    };
    let mut problems = Vec::new();
    let mut found: Vec<String> = Vec::new();
    for target in TARGETS {
        let want = normalized(target);
        let entry = attrs.iter().find(|a| {
            a.get("targetAttributeName")
                .and_then(Value::as_str)
                .is_some_and(|t| normalized(t) == want)
        });
        let Some(entry) = entry else {
            problems.push(format!("no mapping for {target}"));
            continue;
        };
        let src = entry.get("source");
        let kind = src
            .and_then(|s| s.get("type"))
            .and_then(Value::as_str)
            .unwrap_or("");
        if !kind.eq_ignore_ascii_case("Attribute") {
            let kind = if kind.is_empty() { "unreadable" } else { kind };
            problems.push(format!(
                "{target} is fed by a {kind} source scimdrift does not evaluate"
            ));
            continue;
        }
        let name = src
            .and_then(|s| s.get("name"))
            .and_then(Value::as_str)
            .map(str::to_string)
            .or_else(|| {
                let e = src?.get("expression")?.as_str()?.trim();
                e.strip_prefix('[')?.strip_suffix(']').map(str::to_string)
            });
        match name.as_deref().map(|n| (n, source(n))) {
            Some((n, Some(_))) => found.push(n.trim().to_string()),
            Some((_, None)) => problems.push(format!(
                "{target} is fed by an attribute scimdrift does not read"
            )),
            None => problems.push(format!("{target} has no source attribute name")),
        }
    }
    if !problems.is_empty() {
        return assumed(format!("job schema: {}", problems.join("; ")), rule_id);
    }
    let [external_id, user_name, email] = <[String; 3]>::try_from(found).unwrap_or_default();
    Mapping {
        external_id,
        user_name,
        email,
        rule_id,
        derived: true,
        note: None,
        groups_pushed,
    }
}

/// Whether the job schema pushes groups (scenarios.md "Group findings"): an `objectMappings` entry
/// whose `sourceObjectName` is `Group` and that is not `enabled: false`. `None` when the schema has
/// no (or empty) `synchronizationRules` to tell: then, as for the user mapping, it is unread.
pub fn groups_pushed(schema: &Value) -> Option<bool> {
    let rules = schema
        .get("synchronizationRules")?
        .as_array()
        .filter(|r| !r.is_empty())?;
    let pushed = rules
        .iter()
        .filter_map(|rule| rule.get("objectMappings")?.as_array())
        .flatten()
        .any(|om| {
            om.get("sourceObjectName")
                .and_then(Value::as_str)
                .is_some_and(|n| n.trim().eq_ignore_ascii_case("Group"))
                && om.get("enabled").and_then(Value::as_bool) != Some(false)
        });
    Some(pushed)
}

const STATUSES: [&str; 4] = ["success", "failure", "skipped", "warning"];

/// Longest reason kept on an event.
pub const REASON_CHARS: usize = 1000;

/// One provisioning log item (`auditLogs/provisioning`), lenient per idp-api.md §1.3:
/// `servicePrincipal` an object or an array (an item naming only other service principals is
/// `None`: not this app's), statuses in any case, unknown codes verbatim; `initiatedBy` and the
/// steps are not read, so their variants cannot trip it. The item needs an `id` and an
/// `activityDateTime`.
pub fn event(v: &Value, sp_id: &str) -> Result<Option<Parsed<ProvisioningEvent>>, String> {
    let mut notes = Vec::new();
    let mut f = Fields::new(v, &mut notes)?;
    let id = f.id("id")?;
    let sps: Vec<&str> = match f.get("servicePrincipal") {
        Some(Value::Object(o)) => o.get("id").and_then(Value::as_str).into_iter().collect(),
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|s| s.get("id").and_then(Value::as_str))
            .collect(),
        _ => Vec::new(),
    };
    if !sps.is_empty() && !sps.iter().any(|s| s.eq_ignore_ascii_case(sp_id)) {
        return Ok(None);
    }
    let at = f
        .time_or_never("activityDateTime")
        .ok_or_else(|| format!("event {id:?} has no readable activityDateTime"))?;
    let (status, error_code, reason) = f
        .object("provisioningStatusInfo", |s| {
            let status = s.text("status").map(|st| {
                STATUSES
                    .iter()
                    .find(|k| k.eq_ignore_ascii_case(&st))
                    .map_or(st, |k| k.to_string())
            });
            let (code, reason) = s
                .object("errorInformation", |e| {
                    let code = e.text("errorCode");
                    let parts: Vec<String> = [e.text("reason"), e.text("additionalDetails")]
                        .into_iter()
                        .flatten()
                        .collect();
                    let reason = (!parts.is_empty())
                        .then(|| parts.join(" ").chars().take(REASON_CHARS).collect());
                    (code, reason)
                })
                .unwrap_or((None, None));
            (status, code, reason)
        })
        .unwrap_or((None, None, None));
    let user_id = f.object("sourceIdentity", |s| s.text("id")).flatten();
    let target_id = f.object("targetIdentity", |s| s.text("id")).flatten();
    let item = ProvisioningEvent {
        id: id.clone(),
        at,
        job_id: f.text("jobId"),
        cycle_id: f.text("cycleId"),
        action: f
            .text("provisioningAction")
            .unwrap_or_else(|| "other".into()),
        status: status.unwrap_or_else(|| "unknown".into()),
        error_code,
        reason,
        user_id,
        target_id,
    };
    Ok(Some(Parsed { id, item, notes }))
}

/// The reply of provision on demand (idp-api.md §1.4): `key` and `value` are JSON encoded as
/// strings (lenient: objects are accepted too).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnDemand {
    /// `key.result`: `Success`, `Failure`, `Skipped`, … as sent (else `value`'s status).
    pub result: String,
    pub error_code: Option<String>,
    pub message: Option<String>,
    /// `value.targetIdentity.id`: the SCIM id in Atlassian, when there is one.
    pub scim_id: Option<String>,
    /// The decoded `key` and `value` texts, for the audit (at most 8,000 characters each).
    pub raw_key: String,
    pub raw_value: String,
}

impl OnDemand {
    /// `Success` (any case).
    pub fn succeeded(&self) -> bool {
        self.result.eq_ignore_ascii_case("Success")
    }

    /// `Failure` or `Skipped`: Entra refused; recorded as a refusal, not repeated.
    pub fn refused(&self) -> bool {
        ["Failure", "Skipped"]
            .iter()
            .any(|r| self.result.eq_ignore_ascii_case(r))
    }
}

const RAW_CHARS: usize = 8000;

fn encoded(v: &Value, field: &str) -> Result<(Value, String), String> {
    match v.get(field) {
        None | Some(Value::Null) => Ok((Value::Null, String::new())),
        Some(Value::String(s)) => {
            let inner: Value = serde_json::from_str(s)
                .map_err(|e| format!("`{field}` is a string but not JSON: {}", json_error(&e)))?;
            Ok((inner, s.chars().take(RAW_CHARS).collect()))
        }
        Some(o @ Value::Object(_)) => {
            Ok((o.clone(), o.to_string().chars().take(RAW_CHARS).collect()))
        }
        Some(other) => Err(format!(
            "`{field}` is {}, expected a JSON string",
            kind_of(other)
        )),
    }
}

fn path<'v>(v: &'v Value, keys: &[&str]) -> Option<&'v str> {
    keys.iter()
        .try_fold(v, |v, k| v.get(k))
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
}

pub fn on_demand(body: &[u8]) -> Result<OnDemand, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| json_error(&e))?;
    if !v.is_object() {
        return Err(format!("the reply is {}, expected an object", kind_of(&v)));
    }
    let (key, raw_key) = encoded(&v, "key")?;
    let (value, raw_value) = encoded(&v, "value")?;
    if key.is_null() && value.is_null() {
        return Err("the reply has neither key nor value".into());
    }
    let status_paths: [&[&str]; 2] = [
        &["statusInfo", "status"],
        &["provisioningStatusInfo", "status"],
    ];
    let result = path(&key, &["result"])
        .or_else(|| status_paths.iter().find_map(|p| path(&value, p)))
        .ok_or("the reply has no result (key.result)")?
        .to_string();
    let info = |leaf: &str| {
        ["statusInfo", "provisioningStatusInfo"]
            .iter()
            .find_map(|s| path(&value, &[s, "errorInformation", leaf]))
    };
    Ok(OnDemand {
        result,
        error_code: path(&key, &["details", "errorCode"])
            .or_else(|| info("errorCode"))
            .map(str::to_string),
        message: path(&key, &["details", "errorMessage"])
            .or_else(|| info("reason"))
            .map(|m| m.chars().take(REASON_CHARS).collect()),
        scim_id: path(&value, &["targetIdentity", "id"]).map(str::to_string),
        raw_key,
        raw_value,
    })
}

#[cfg(test)]
mod tests;
