//! One Okta pull (idp-api.md §2.2–§2.3, §5): the token, the app, then concurrently the app's
//! users and the System Log; then the app users Okta did not embed, one by one, and the active
//! SCIM records no app user joined, by their `externalId`. Complete only as §5 says; the log is a
//! sub-source (unreadable = log facts unknown, the pull stays complete).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use futures::StreamExt;

use super::api::{Duplicates, Target, What, seg};
use super::parse::{self, AppUser, LogEvent, OktaUser};
use super::{Client, Credential};
use crate::http::{ApiError, HttpEvents, HttpSettings};
use crate::idp::{IdpPull, IdpScope, IdpSettings, Known, finish};
use crate::model::DataQualityNote;
use crate::model::idp::{
    AssignedGroup, FailureSource, IdpApp, IdpSide, IdpUser, LogFacts, Mapping, ProvisioningEvent,
};

/// Overlap of consecutive log reads (events are deduplicated by `uuid`).
const LOG_OVERLAP_MINUTES: i64 = 10;

/// Okta keeps 90 days of System Log (and refuses `since` beyond 180).
const LOG_RETENTION_DAYS: i64 = 90;

use crate::model::idp::ProvisioningEvent as Event;

/// The System Log event type of Okta failing to authenticate to the app's API (read for the
/// report, idp-api.md §2.3).
pub const AUTHENTICATION_FAILURE: &str = Event::APP_AUTHENTICATION_FAILURE;

/// The System Log filter: provisioning events about the app, and its authentication failures
/// (idp-api.md §2.3).
pub fn log_filter(app_id: &str) -> String {
    format!(
        "(eventType sw \"application.provision.user\" or eventType eq \"{AUTHENTICATION_FAILURE}\") and target.id eq \"{}\"",
        app_id.replace(['"', '\\'], "")
    )
}

/// Pulls the Okta side of `directory_id` (see [`crate::idp::pull`]). Safe to run concurrently
/// with the Atlassian pull (its own HTTP layer).
#[allow(clippy::too_many_arguments)]
pub async fn pull(
    s: &IdpSettings,
    cred: &Credential,
    http: &HttpSettings,
    directory_id: &str,
    origin: &str,
    known: &Known,
    now: DateTime<Utc>,
    events: Arc<dyn HttpEvents>,
) -> IdpPull {
    match Client::new(s, cred, http, origin, Some(events)) {
        Ok(client) => client.pull(directory_id, known, now).await,
        Err(e) => finish(empty(directory_id, s), origin, vec![e], Vec::new(), None),
    }
}

fn empty(directory_id: &str, s: &IdpSettings) -> IdpSide {
    IdpSide {
        groups_unread: None,
        directory_id: directory_id.to_string(),
        kind: "okta".into(),
        scope_all: s.scope == IdpScope::All,
        users: Vec::new(),
        groups: Vec::new(),
        job: None,
        app: None,
        failures: FailureSource::UserState,
        mapping: Mapping::okta(Some(false)),
        events: Vec::new(),
        logs: LogFacts::Unknown {
            reason: "not read: the pull stopped early".into(),
        },
    }
}

/// What the users' side of a pull read: the app's users, the users read by id because Okta did
/// not embed them, and the active records' `externalId`s looked up.
struct UsersPart {
    listed: Vec<AppUser>,
    read: HashMap<String, Read>,
    looked_up: HashMap<String, Read>,
    errors: Vec<ApiError>,
    notes: Vec<DataQualityNote>,
}

/// An app user's Okta user, as the pull resolved it.
enum Resolved {
    User(OktaUser),
    /// The read answered 404: deleted.
    Deleted,
    /// No usable id to read it by: unknown.
    Unknown,
}

/// Whether `id` can be sent as one path segment: Okta ids are letters and digits; anything else
/// (a login, `.`, `..`, a slash) could be resolved otherwise or rewrite the path.
pub(super) fn path_safe(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// A pushed group as read: its name, direct members, and the notes on them.
type GroupRead = (Option<String>, Vec<OktaUser>, Vec<DataQualityNote>);

/// What reading the pushed groups gave.
#[derive(Default)]
struct Pushed {
    groups: Vec<AssignedGroup>,
    /// Each readable pushed group's direct members, by group id.
    members: Vec<(String, Vec<OktaUser>)>,
    /// `Some(false)`: the app pushes no groups (`GROUP_PUSH` off); `None`: unknown.
    groups_pushed: Option<bool>,
    unread: Option<String>,
    notes: Vec<DataQualityNote>,
}

/// What reading one user by id found.
enum Read {
    User(OktaUser, Vec<DataQualityNote>),
    /// 404 `E0000007`: no such Okta user.
    NotFound,
}

impl Client<'_> {
    /// One pull with this client.
    pub async fn pull(&self, directory_id: &str, known: &Known, now: DateTime<Utc>) -> IdpPull {
        let origin = self.origin().to_string();
        let stats = Some(&self.api.http.stats);
        let mut side = empty(directory_id, self.s);
        let mut notes = Vec::new();
        if let Err(e) = self.api.sign_in().await {
            return finish(side, &origin, vec![e], notes, stats);
        }
        match self.app().await {
            Ok((app, n)) => {
                notes.extend(self.notes(&app.id, n));
                side.app = Some(app);
            }
            Err(e) => return finish(side, &origin, vec![e], notes, stats),
        }
        let since = match known.logs_since {
            Some(t) => t - Duration::minutes(LOG_OVERLAP_MINUTES),
            None => now - Duration::days(i64::from(self.s.log_lookback_days)),
        }
        .max(now - Duration::days(LOG_RETENTION_DAYS))
        .min(now);
        let app = side.app.clone();
        // The log is a sub-source: the users and their look-ups never wait for it (§5).
        let (users_part, (log_events, logs), pushed) = tokio::join!(
            self.users_part(known),
            self.logs(since, now),
            self.pushed_groups(app.as_ref())
        );
        side.logs = logs;
        let UsersPart {
            listed,
            mut read,
            looked_up,
            errors: user_errors,
            notes: user_notes,
        } = match users_part {
            Ok(p) => p,
            Err(e) => return finish(side, &origin, vec![e], notes, stats),
        };
        notes.extend(user_notes);
        let errors = user_errors;
        notes.extend(pushed.notes);
        side.mapping = Mapping::okta(pushed.groups_pushed);
        side.groups_unread = pushed.unread;
        side.groups = pushed.groups;
        let by_user_name: HashMap<String, &str> = listed
            .iter()
            .filter_map(|a| Some((a.user_name.as_deref()?.trim().to_lowercase(), a.id.as_str())))
            .collect();
        side.events = log_events
            .into_iter()
            .map(|e| attribute(e, &by_user_name))
            .collect();
        let mut users: Vec<IdpUser> = listed
            .into_iter()
            .map(|a| {
                let user = match a.user.clone() {
                    Some(u) => Resolved::User(u),
                    None => match read.remove(&a.id) {
                        Some(Read::User(u, _)) => Resolved::User(u),
                        Some(Read::NotFound) => Resolved::Deleted,
                        // An id no request can be sent for: the user is unknown.
                        None => Resolved::Unknown,
                    },
                };
                app_user(directory_id, a, user)
            })
            .collect();
        let known_ids: HashSet<String> = users.iter().map(|u| u.id.clone()).collect();
        // A look-up answers for the id asked, once: Okta also resolves a login, which is no user
        // id (an `externalId` that is a login is not an Okta user's), and an app user is one
        // user already.
        let mut outside: Vec<IdpUser> = looked_up
            .into_iter()
            .filter_map(|(asked, r)| match r {
                Read::User(u, _) if u.id == asked && !known_ids.contains(&u.id) => {
                    Some(outside_user(directory_id, u))
                }
                _ => None,
            })
            .collect();
        outside.sort_by(|a, b| a.id.cmp(&b.id));
        users.extend(outside);
        // Each pushed group's members: an app user's groups, else a user outside the app (never
        // intended: Okta provisions app users only).
        let mut groups_of: HashMap<String, Vec<String>> = HashMap::new();
        let mut others: HashMap<String, OktaUser> = HashMap::new();
        for (gid, members) in pushed.members {
            for m in members {
                groups_of.entry(m.id.clone()).or_default().push(gid.clone());
                others.entry(m.id.clone()).or_insert(m);
            }
        }
        for u in &mut users {
            if let Some(mut g) = groups_of.remove(&u.id) {
                g.sort();
                u.groups = g;
            }
        }
        let mut members_outside: Vec<IdpUser> = groups_of
            .into_iter()
            .filter_map(|(id, mut g)| {
                g.sort();
                let mut u = outside_user(directory_id, others.remove(&id)?);
                u.groups = g;
                Some(u)
            })
            .collect();
        members_outside.sort_by(|a, b| a.id.cmp(&b.id));
        users.extend(members_outside);
        side.users = users;
        let listed_count = side
            .users
            .iter()
            .filter(|u| u.intended || u.scim_id.is_some())
            .count();
        let mut out = finish(side, &origin, errors, notes, stats);
        if out.status.complete {
            out.status.listings = Some(
                [("app users listed".to_string(), listed_count as u64)]
                    .into_iter()
                    .collect(),
            );
        }
        out
    }

    fn notes(&self, id: &str, notes: Vec<crate::model::FieldNote>) -> Vec<DataQualityNote> {
        notes
            .into_iter()
            .map(|n| DataQualityNote {
                source: self.origin().to_string(),
                id: id.to_string(),
                field: n.field,
                problem: n.problem,
            })
            .collect()
    }

    /// The pushed groups (idp-api.md §2.2, scenarios.md "Group findings"): the source groups of the
    /// app's group-push mappings in `ACTIVE` or `ERROR`, each with its name and direct members. A
    /// group that cannot be read (a 404, a 403, a request that gave up) is kept with its pushing
    /// unknown (no group finding about it); mappings that cannot be read leave every group finding
    /// as it was (`unread`); the pull stays complete either way.
    async fn pushed_groups(&self, app: Option<&IdpApp>) -> Pushed {
        let mut out = Pushed::default();
        if app.and_then(|a| a.has(IdpApp::GROUP_PUSH)) == Some(false) {
            out.groups_pushed = Some(false);
            return out;
        }
        let target = Target::Path(
            format!("/api/v1/apps/{}/group-push/mappings", seg(self.app_id())),
            vec![("limit", "1000".into())],
        );
        let mappings = match self
            .api
            .list(
                What::PushMappings,
                target,
                "group-push/mappings",
                Duplicates::Error,
                |v| parse::push_mapping(v).map(Some),
            )
            .await
        {
            Ok(l) => {
                out.notes.extend(l.notes);
                l.items
            }
            Err(e) => {
                tracing::warn!(
                    source = self.origin(),
                    "group pushes unread, group findings as they were: {e}"
                );
                out.unread = Some(e.to_string());
                return out;
            }
        };
        out.groups_pushed = Some(true);
        let mut pushed: Vec<(String, Option<bool>, Option<String>)> = Vec::new();
        for m in mappings {
            let Some(source) = m.source_group_id else {
                out.unread = Some(format!("group-push mapping {} names no source group", m.id));
                continue;
            };
            let status = m.status.as_deref().map(str::trim);
            let (known, error) = match status {
                Some(s) if s.eq_ignore_ascii_case("INACTIVE") => continue,
                Some(s) if s.eq_ignore_ascii_case("ACTIVE") => (Some(true), None),
                Some(s) if s.eq_ignore_ascii_case("ERROR") => (
                    Some(true),
                    Some(m.error_summary.unwrap_or_else(|| "no error summary".into())),
                ),
                _ => (None, None),
            };
            match pushed.iter_mut().find(|(id, _, _)| *id == source) {
                Some(p) => p.2 = p.2.take().or(error),
                None => pushed.push((source, known, error)),
            }
        }
        let reads: Vec<_> = futures::stream::iter(pushed)
            .map(|(id, known, error)| async move {
                // An id no request can be sent for: the group is unknown.
                let read = if path_safe(&id) {
                    self.group(&id).await
                } else {
                    Ok(None)
                };
                (id, known, error, read)
            })
            .buffered(self.concurrency)
            .collect()
            .await;
        for (id, known, push_error, read) in reads {
            let (name, members) = match read {
                Ok(Some((name, members, notes))) => {
                    out.notes.extend(notes);
                    (name, Some(members))
                }
                Ok(None) => (None, None),
                // Group facts are not intent (§2.2): a group that cannot be read decides nothing
                // about itself; the pull stays complete.
                Err(e) => {
                    tracing::warn!(
                        source = self.origin(),
                        group = %id,
                        "pushed group unread, its group findings as they were: {e}"
                    );
                    (None, None)
                }
            };
            out.groups.push(AssignedGroup {
                id: id.clone(),
                display_name: name,
                // Okta groups do not nest and every pushed group confers its memberships; a
                // group gone mid-pull (404) or a mapping status unknown decides nothing.
                security_enabled: known.filter(|_| members.is_some()),
                members: members.as_ref().map_or(0, Vec::len),
                nested_groups: Vec::new(),
                push_error,
            });
            if let Some(m) = members {
                out.members.push((id, m));
            }
        }
        out
    }

    /// One pushed group: its name and direct user members; `Ok(None)` when it answers 404 (the
    /// caller treats any error alike: the group unknown).
    async fn group(&self, id: &str) -> Result<Option<GroupRead>, ApiError> {
        let page = format!("groups/{id}");
        let target = Target::Path(format!("/api/v1/groups/{}", seg(id)), vec![]);
        let Some(v) = self.api.get(What::Group, target, &page, true).await? else {
            return Ok(None);
        };
        let p = parse::group(&v).map_err(|e| ApiError::malformed(self.origin(), &page, e))?;
        let mut notes = self.notes(id, p.notes);
        let target = Target::Path(
            format!("/api/v1/groups/{}/users", seg(id)),
            vec![("limit", "200".into())],
        );
        let members = match self
            .api
            .list(
                What::GroupUsers,
                target,
                "groups/users",
                Duplicates::Error,
                |v| parse::user(v).map(Some),
            )
            .await
        {
            Ok(l) => l,
            Err(e) if e.kind == crate::http::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        notes.extend(members.notes);
        Ok(Some((p.item.1, members.items, notes)))
    }

    /// `GET /api/v1/apps/{id}/users?limit=500&expand=user`, every page.
    async fn app_users(&self) -> Result<super::api::Listed<AppUser>, ApiError> {
        let target = Target::Path(
            format!("/api/v1/apps/{}/users", seg(self.app_id())),
            vec![("limit", "500".into()), ("expand", "user".into())],
        );
        self.api
            .list(
                What::AppUsers,
                target,
                "apps/users",
                Duplicates::Error,
                |v| parse::app_user(v).map(Some),
            )
            .await
    }

    /// The app's users, then (§5) the ones Okta did not embed, read by id, and the active SCIM
    /// records' `externalId`s no app user has, looked up (§2.2; only ids an Okta user id can be).
    /// The listing failing is the error; a failed read is in `errors`.
    async fn users_part(&self, known: &Known) -> Result<UsersPart, ApiError> {
        let listed = self.app_users().await?;
        let mut notes = listed.notes;
        let listed = listed.items;
        let mut errors = Vec::new();
        let unembedded: Vec<String> = listed
            .iter()
            .filter(|a| a.user.is_none() && path_safe(&a.id))
            .map(|a| a.id.clone())
            .collect();
        let read = self.read_users(unembedded, &mut errors, &mut notes).await;
        let app_ids: HashSet<&str> = listed.iter().map(|a| a.id.as_str()).collect();
        let lookups: Vec<String> = known
            .external_ids
            .iter()
            .filter(|x| path_safe(x) && !app_ids.contains(x.as_str()))
            .cloned()
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let looked_up = self.read_users(lookups, &mut errors, &mut notes).await;
        Ok(UsersPart {
            listed,
            read,
            looked_up,
            errors,
            notes,
        })
    }

    /// Reads users by id (`GET /api/v1/users/{id}`, at most 4 at once); a 404 is an answer.
    /// Errors go to `errors` (the pull is then incomplete).
    async fn read_users(
        &self,
        ids: Vec<String>,
        errors: &mut Vec<ApiError>,
        notes: &mut Vec<DataQualityNote>,
    ) -> HashMap<String, Read> {
        let reads: Vec<(String, Result<Read, ApiError>)> = futures::stream::iter(ids)
            .map(|id| async {
                let read = self.user(&id).await;
                (id, read)
            })
            .buffer_unordered(self.concurrency)
            .collect()
            .await;
        let mut out = HashMap::with_capacity(reads.len());
        for (id, read) in reads {
            match read {
                Ok(Read::User(u, n)) => {
                    notes.extend(n.iter().cloned());
                    out.insert(id, Read::User(u, n));
                }
                Ok(Read::NotFound) => {
                    out.insert(id, Read::NotFound);
                }
                Err(e) => errors.push(e),
            }
        }
        out
    }

    async fn user(&self, id: &str) -> Result<Read, ApiError> {
        let page = format!("users/{id}");
        let target = Target::Path(format!("/api/v1/users/{}", seg(id)), vec![]);
        let Some(v) = self.api.get(What::User, target, &page, true).await? else {
            return Ok(Read::NotFound);
        };
        let p = parse::user(&v).map_err(|e| ApiError::malformed(self.origin(), &page, e))?;
        let notes = self.notes(&p.id, p.notes);
        Ok(Read::User(p.item, notes))
    }

    /// The System Log since `since` (bounded by `until`, `next` followed verbatim); any failure
    /// (a 403 included) leaves the log facts unknown, with why.
    async fn logs(&self, since: DateTime<Utc>, until: DateTime<Utc>) -> (Vec<LogEvent>, LogFacts) {
        let since_text = since.to_rfc3339_opts(SecondsFormat::Secs, true);
        let target = Target::Path(
            "/api/v1/logs".into(),
            vec![
                ("since", since_text.clone()),
                ("until", until.to_rfc3339_opts(SecondsFormat::Secs, true)),
                ("limit", "1000".into()),
                ("sortOrder", "ASCENDING".into()),
                ("filter", log_filter(self.app_id())),
            ],
        );
        let app_id = self.app_id().to_string();
        match self
            .api
            .list(What::Logs, target, "logs", Duplicates::Skip, |v| {
                parse::event(v, &app_id)
            })
            .await
        {
            Ok(l) => (l.items, LogFacts::Known { since: since_text }),
            Err(e) => {
                tracing::warn!(
                    source = self.origin(),
                    "System Log unread, its facts unknown: {e}"
                );
                (
                    Vec::new(),
                    LogFacts::Unknown {
                        reason: e.to_string(),
                    },
                )
            }
        }
    }
}

/// A log event with its user: the `User` target's id, else the app user whose username the
/// `AppUser` target names (never an `AppUser` id: it is no user id).
fn attribute(e: LogEvent, by_user_name: &HashMap<String, &str>) -> ProvisioningEvent {
    let mut event = e.event;
    if event.user_id.is_none()
        && let Some(name) = e.app_user_name
    {
        event.user_id = by_user_name
            .get(&name.trim().to_lowercase())
            .map(|id| id.to_string());
    }
    event
}

/// An app user as an IdP user (scenarios.md, Okta terms): *intended* unless its Okta user is
/// `DEPROVISIONED`; *enabled* unless `DEPROVISIONED` or `SUSPENDED`. An unreadable user status
/// leaves both unknown; a user Okta no longer has (the read answered 404) is deleted. The email is
/// the app user's `profile.email`, else `credentials.userName` (what Okta pushes, §3); neither
/// readable leaves it unknown, as an unreadable `syncState` (absent or an unknown value) leaves the
/// push state.
fn app_user(directory_id: &str, a: AppUser, user: Resolved) -> IdpUser {
    let mut unknown = Vec::new();
    let (user, deleted) = match user {
        Resolved::User(u) => (Some(u), false),
        Resolved::Deleted => (None, true),
        Resolved::Unknown => (None, false),
    };
    let (enabled, intended, status) = match &user {
        None if deleted => (Some(false), false, None),
        None => {
            unknown.push(IdpUser::OKTA_STATUS.to_string());
            unknown.push(IdpUser::INTENT.to_string());
            (None, false, None)
        }
        Some(u) => {
            let enabled = u.enabled();
            if enabled.is_none() {
                unknown.push(IdpUser::OKTA_STATUS.to_string());
                unknown.push(IdpUser::INTENT.to_string());
            }
            let intended = u.deprovisioned() == Some(false) && enabled.is_some();
            (enabled, intended, u.status.clone())
        }
    };
    if a.sync_state.is_none()
        || a.sync_state
            .as_deref()
            .is_some_and(|s| !parse::SYNC_STATES.contains(&s.trim()))
    {
        unknown.push(IdpUser::SYNC_STATE.to_string());
    }
    if a.user_name.is_none() {
        unknown.push("credentials.userName".to_string());
    }
    let email = a.email.clone().or_else(|| a.user_name.clone());
    if email.is_none() {
        unknown.push("profile.email".to_string());
    }
    IdpUser {
        directory_id: directory_id.to_string(),
        id: a.id,
        user_principal_name: user.as_ref().and_then(|u| u.login.clone()),
        mail: user.as_ref().and_then(|u| u.email.clone()),
        display_name: user.as_ref().and_then(|u| u.display_name.clone()),
        user_type: None,
        enabled,
        intended,
        assigned_directly: a.scope.as_deref() == Some("USER"),
        groups: Vec::new(),
        nested_only: false,
        deleted,
        deleted_at: None,
        scim_id: a.external_id,
        sync_state: a.sync_state,
        status,
        scim_external_id: None,
        scim_user_name: a.user_name,
        email,
        unknown,
    }
}

/// A user the app does not list — found by a SCIM record's `externalId` (deactivated, which removed
/// its assignments, or unassigned), or a pushed group's member who is no app user —; never
/// intended. It joins a record only by its id (`externalId`): Okta pushes no `userName` or email
/// for a user outside the app, so a record matching its login or email is not its record.
fn outside_user(directory_id: &str, u: OktaUser) -> IdpUser {
    let enabled = u.enabled();
    let mut unknown = Vec::new();
    if enabled.is_none() {
        unknown.push(IdpUser::OKTA_STATUS.to_string());
    }
    IdpUser {
        directory_id: directory_id.to_string(),
        id: u.id,
        user_principal_name: u.login.clone(),
        mail: u.email.clone(),
        display_name: u.display_name,
        user_type: None,
        enabled,
        intended: false,
        assigned_directly: false,
        groups: Vec::new(),
        nested_only: false,
        deleted: false,
        deleted_at: None,
        scim_id: None,
        sync_state: None,
        status: u.status,
        scim_external_id: None,
        scim_user_name: None,
        email: None,
        unknown,
    }
}
