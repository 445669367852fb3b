//! One Entra pull (idp-api.md §1.2–§1.3, §5): the service principal, then concurrently
//! (job → schema → users), (assignments → assigned groups → members) and the provisioning log;
//! then the intended users missing from `/users` one by one. Complete only as §5 says; the log is
//! a sub-source (unreadable = log facts unknown, the pull stays complete).

use std::collections::HashSet;
use std::sync::Arc;

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use futures::StreamExt;

use super::graph::{Duplicates, Target, What, odata_str, seg};
use super::parse::{self, Sources, UserRead};
use super::side::{self, Assigned, GroupRead};
use super::{Client, Credential, ServicePrincipal};
use crate::http::{ApiError, HttpEvents, HttpSettings};
use crate::idp::finish;
use crate::idp::{IdpScope, IdpSettings};
use crate::model::DataQualityNote;
use crate::model::idp::{IdpSide, LogFacts, Mapping, ProvisioningEvent, ProvisioningJob};

/// Overlap of consecutive log reads (events are deduplicated by id).
const LOG_OVERLAP_MINUTES: i64 = 10;

/// The IdP side of one directory and the pull's status: `status.source` is the origin
/// (`idp:<directory name>`), `records` the users, `groups` the assigned groups. An incomplete
/// side must not be stored as state (§5).
pub type EntraPull = crate::idp::IdpPull;

/// Pulls the Entra side of `directory_id`. `known.logs_since` is the time of the last successful
/// log read (10 minutes of overlap are added here); `None` reads `log_lookback_days` back from
/// `now`. `known.external_ids` no listed user has are looked up (idp-api.md §1.2). Safe to run
/// concurrently with the Atlassian pull (its own HTTP layer).
#[allow(clippy::too_many_arguments)]
pub async fn pull(
    s: &IdpSettings,
    cred: &Credential,
    http: &HttpSettings,
    directory_id: &str,
    origin: &str,
    known: &crate::idp::Known,
    now: DateTime<Utc>,
    events: Arc<dyn HttpEvents>,
) -> EntraPull {
    match Client::new(s, cred, http, origin, Some(events)) {
        Ok(client) => client.pull(directory_id, known, now).await,
        Err(e) => finish(empty(directory_id, s), origin, vec![e], Vec::new(), None),
    }
}

fn empty(directory_id: &str, s: &IdpSettings) -> IdpSide {
    IdpSide {
        groups_unread: None,
        app: None,
        failures: Default::default(),
        directory_id: directory_id.to_string(),
        kind: "entra".into(),
        scope_all: s.scope == IdpScope::All,
        users: Vec::new(),
        groups: Vec::new(),
        job: None,
        mapping: Mapping::entra_default("not read: the pull stopped before the job schema"),
        events: Vec::new(),
        logs: LogFacts::Unknown {
            reason: "not read: the pull stopped early".into(),
        },
    }
}

/// What looking up a record's `externalId` found.
enum LookedUp {
    /// A user `/users` did not list (outside the app's intent).
    User(UserRead),
    /// A soft-deleted user, with its `deletedDateTime`.
    Deleted(Box<UserRead>, Option<String>),
    /// Neither: not an Entra user.
    Unknown,
}

/// What (job → schema → users) gave.
struct JobPart {
    job: Result<Option<ProvisioningJob>, ApiError>,
    mapping: Mapping,
    users: Result<Vec<UserRead>, ApiError>,
    notes: Vec<DataQualityNote>,
}

/// What (assignments → groups → members) gave.
struct AssignedPart {
    assigned: Assigned,
    /// Assignments listed.
    listed: usize,
    groups: Vec<GroupRead>,
    errors: Vec<ApiError>,
    notes: Vec<DataQualityNote>,
}

impl Client<'_> {
    /// One pull with this client (see [`pull`]).
    pub async fn pull(
        &self,
        directory_id: &str,
        known: &crate::idp::Known,
        now: DateTime<Utc>,
    ) -> EntraPull {
        let logs_since = known.logs_since;
        let origin = self.origin().to_string();
        let mut side = empty(directory_id, self.s);
        let mut errors = Vec::new();
        let mut notes = Vec::new();
        if let Err(e) = self.graph.token().await {
            return finish(side, &origin, vec![e], notes, Some(&self.graph.http.stats));
        }
        let sp = match self.service_principal().await {
            Ok(sp) => sp,
            Err(e) => return finish(side, &origin, vec![e], notes, Some(&self.graph.http.stats)),
        };
        let since = match logs_since {
            Some(t) => t - Duration::minutes(LOG_OVERLAP_MINUTES),
            None => now - Duration::days(i64::from(self.s.log_lookback_days)),
        }
        .min(now);
        let scope_all = self.s.scope == IdpScope::All;
        let (job_part, assigned_part, (events, logs, log_notes)) = tokio::join!(
            self.job_mapping_users(&sp),
            async {
                if scope_all {
                    None
                } else {
                    Some(self.assigned_groups(&sp).await)
                }
            },
            self.logs(&sp, since),
        );
        side.events = events;
        side.logs = logs;
        side.mapping = job_part.mapping;
        notes.extend(job_part.notes);
        match job_part.job {
            Ok(job) => side.job = job,
            Err(e) => errors.push(e),
        }
        let listed = match job_part.users {
            Ok(users) => Some(users),
            Err(e) => {
                errors.push(e);
                None
            }
        };
        let mut listings = std::collections::BTreeMap::new();
        let (assigned, groups) = match assigned_part {
            None => (Assigned::default(), Vec::new()),
            Some(part) => {
                notes.extend(part.notes);
                let complete = part.errors.is_empty();
                errors.extend(part.errors);
                listings.insert("assignments".to_string(), part.listed as u64);
                let members = part.groups.iter().map(|g| g.members.len() as u64).sum();
                listings.insert("group members".to_string(), members);
                if complete {
                    (part.assigned, part.groups)
                } else {
                    (Assigned::default(), Vec::new())
                }
            }
        };
        let Some(listed) = listed else {
            notes.extend(log_notes);
            return finish(side, &origin, errors, notes, Some(&self.graph.http.stats));
        };
        // Users the listing itself gave: one it dropped and the one-by-one reads found again is
        // still missing from it (issue 19: an emptied listing is never believed).
        listings.insert("users listed".to_string(), listed.len() as u64);
        let sources = Sources::of(&side.mapping);
        let mut extra = Vec::new();
        if !scope_all && errors.is_empty() {
            let ids: HashSet<&str> = listed.iter().map(|u| u.id.as_str()).collect();
            // The intended users `/users` did not list, and the principals of assignments whose
            // type could not be read (a user's intent is then unknown, not absent).
            let unknown: HashSet<&str> = assigned
                .unknown
                .iter()
                .flatten()
                .map(String::as_str)
                .collect();
            let mut missing: Vec<String> = side::intended(&assigned, &groups, &ids)
                .into_iter()
                .filter(|id| !ids.contains(id.as_str()))
                .collect();
            let more: Vec<String> = unknown
                .iter()
                .filter(|id| !ids.contains(*id) && !missing.iter().any(|m| m == *id))
                .map(|id| id.to_string())
                .collect();
            missing.extend(more);
            let reads: Vec<_> = futures::stream::iter(missing)
                .map(|id| async {
                    let read = self.user(&id, &sources).await;
                    (id, read)
                })
                .buffer_unordered(self.concurrency)
                .collect()
                .await;
            for (id, read) in reads {
                match read {
                    // A principal of unknown type that is no user (a group, an app): not a
                    // deleted user.
                    Ok((None, _)) if unknown.contains(id.as_str()) => {}
                    Ok((user, n)) => {
                        notes.extend(n);
                        extra.push((id, user));
                    }
                    Err(e) => errors.push(e),
                }
            }
            extra.sort_by(|a, b| a.0.cmp(&b.0));
        }
        // Deleted, looked up (scenarios.md; idp-api.md §1.2): an active record's externalId (an
        // object id under the default mapping) that no user read so far has is read as a user,
        // then as a soft-deleted one; unknown to both, it is an orphan's.
        let mut deleted = Vec::new();
        if !scope_all && errors.is_empty() && sources.external_id == parse::Source::ObjectId {
            let have: HashSet<&str> = listed
                .iter()
                .map(|u| u.id.as_str())
                .chain(extra.iter().map(|(id, _)| id.as_str()))
                .collect();
            let lookups: Vec<String> = known
                .external_ids
                .iter()
                .filter(|id| parse::is_guid(id) && !have.contains(id.as_str()))
                .cloned()
                .collect();
            let reads: Vec<_> = futures::stream::iter(lookups)
                .map(|id| async {
                    let read = self.look_up(&id, &sources).await;
                    (id, read)
                })
                .buffer_unordered(self.concurrency)
                .collect()
                .await;
            for (id, read) in reads {
                match read {
                    Ok((LookedUp::User(u), n)) => {
                        notes.extend(n);
                        extra.push((id, Some(u)));
                    }
                    Ok((LookedUp::Deleted(u, at), n)) => {
                        notes.extend(n);
                        deleted.push((*u, at));
                    }
                    Ok((LookedUp::Unknown, _)) => {}
                    Err(e) => errors.push(e),
                }
            }
            extra.sort_by(|a, b| a.0.cmp(&b.0));
            deleted.sort_by(|a, b| a.0.id.cmp(&b.0.id));
        }
        notes.extend(log_notes);
        let object_id_external = sources.external_id == parse::Source::ObjectId;
        let (users, groups) = side::build(
            directory_id,
            &assigned,
            &groups,
            listed,
            extra,
            scope_all,
            object_id_external,
        );
        side.users = users;
        side.users.extend(
            deleted
                .into_iter()
                .map(|(u, at)| side::soft_deleted(directory_id, u, at)),
        );
        side.groups = groups;
        let mut out = finish(side, &origin, errors, notes, Some(&self.graph.http.stats));
        if out.status.complete {
            out.status.listings = Some(listings);
        }
        out
    }

    async fn job_mapping_users(&self, sp: &ServicePrincipal) -> JobPart {
        let mut notes = Vec::new();
        let job = self.job(sp).await.map(|(job, n)| {
            notes.extend(n);
            job
        });
        let mapping = match &job {
            Ok(Some(j)) => self.mapping(sp, &j.job_id).await,
            Ok(None) => Mapping::entra_default("the service principal has no provisioning job"),
            Err(_) => Mapping::entra_default("the provisioning job could not be read"),
        };
        let sources = Sources::of(&mapping);
        let target = Target::Path(
            "/users".into(),
            vec![("$select", sources.select()), ("$top", "999".into())],
        );
        let users = self
            .graph
            .list(What::Users, target, "users", Duplicates::Error, |v| {
                parse::user(v, &sources).map(Some)
            })
            .await
            .map(|l| {
                notes.extend(l.notes);
                l.items
            });
        JobPart {
            job,
            mapping,
            users,
            notes,
        }
    }

    /// The job's attribute mapping; an unreadable schema is the defaults, with why (not an
    /// incomplete pull).
    async fn mapping(&self, sp: &ServicePrincipal, job_id: &str) -> Mapping {
        let target = Target::Path(
            format!(
                "/servicePrincipals/{}/synchronization/jobs/{}/schema",
                seg(&sp.id),
                seg(job_id)
            ),
            vec![],
        );
        match self.graph.get(What::Schema, target, "schema", false).await {
            Ok(Some(v)) => parse::mapping(&v),
            Ok(None) => Mapping::entra_default("the job schema answered 404"),
            Err(e) => Mapping::entra_default(format!("the job schema could not be read ({e})")),
        }
    }

    async fn assigned_groups(&self, sp: &ServicePrincipal) -> AssignedPart {
        let mut part = AssignedPart {
            assigned: Assigned::default(),
            listed: 0,
            groups: Vec::new(),
            errors: Vec::new(),
            notes: Vec::new(),
        };
        let assignments = match self.assignments(sp).await {
            Ok(a) => a,
            Err(e) => {
                part.errors.push(e);
                return part;
            }
        };
        part.notes = assignments.notes;
        part.listed = assignments.items.len();
        part.assigned = side::assigned(&assignments.items);
        // An assignment whose type could not be read may be a group's: one read tells (a 404 is
        // no group: a user's, or an app's), so a group's members never go unread for it.
        let unknown = std::mem::take(&mut part.assigned.unknown);
        for principal in unknown {
            let Some(id) = principal.as_deref() else {
                part.assigned.unknown.push(principal);
                continue;
            };
            match self.try_group(id).await {
                Ok(Some(_)) if !part.assigned.groups.iter().any(|g| g == id) => {
                    part.assigned.groups.push(id.to_string());
                }
                Ok(Some(_)) => {}
                Ok(None) => part.assigned.unknown.push(principal),
                Err(e) => {
                    part.errors.push(e);
                    return part;
                }
            }
        }
        // Owned ids: a closure over borrowed ones is not `Send` for every lifetime (the daemon
        // spawns the cycle).
        let ids: Vec<(usize, String)> = part.assigned.groups.iter().cloned().enumerate().collect();
        let reads: Vec<_> = futures::stream::iter(ids)
            .map(|(i, gid)| async move { (i, self.read_group(&gid).await) })
            .buffer_unordered(self.concurrency)
            .collect()
            .await;
        let mut reads = reads;
        reads.sort_by_key(|(i, _)| *i);
        for (_, read) in reads {
            match read {
                Ok((g, n)) => {
                    part.notes.extend(n);
                    part.groups.push(g);
                }
                Err(e) => part.errors.push(e),
            }
        }
        part
    }

    /// One assigned group: the group, its members, and its transitive members when it may nest.
    /// A group whose `securityEnabled` cannot be read is kept (noted by the parser): its members'
    /// intent is unknown, never "not intended" (`side::build`), and the rest of the side stays
    /// usable.
    async fn read_group(&self, gid: &str) -> Result<(GroupRead, Vec<DataQualityNote>), ApiError> {
        let group = self.group(gid).await?;
        let members = self.members(gid, What::Members).await?;
        let mut notes = members.notes;
        if group.security_enabled.is_none() {
            notes.push(DataQualityNote {
                source: self.origin().to_string(),
                id: gid.to_string(),
                field: "securityEnabled".into(),
                problem: "unreadable or null: whether its members are intended is unknown".into(),
            });
        }
        let mut read = GroupRead {
            group,
            members: members.items,
            transitive: None,
        };
        if read.may_nest() {
            let t = self.members(gid, What::TransitiveMembers).await?;
            notes.extend(t.notes);
            read.transitive = Some(t.items);
        }
        Ok((read, notes))
    }

    /// An intended user missing from `/users`: `Ok(None)` for a 404 (deleted).
    async fn user(
        &self,
        id: &str,
        sources: &Sources,
    ) -> Result<(Option<UserRead>, Vec<DataQualityNote>), ApiError> {
        let page = format!("users/{id}");
        let target = Target::Path(
            format!("/users/{}", seg(id)),
            vec![("$select", sources.select())],
        );
        let Some(v) = self.graph.get(What::User, target, &page, true).await? else {
            return Ok((None, Vec::new()));
        };
        let p =
            parse::user(&v, sources).map_err(|e| ApiError::malformed(self.origin(), &page, e))?;
        let notes = p
            .notes
            .into_iter()
            .map(|n| DataQualityNote {
                source: self.origin().to_string(),
                id: p.id.clone(),
                field: n.field,
                problem: n.problem,
            })
            .collect();
        Ok((Some(p.item), notes))
    }

    /// A SCIM record's `externalId` no user read so far has: `GET /users/{id}`, then
    /// `GET /directory/deletedItems/{id}` (idp-api.md §1.2); 404 on both is [`LookedUp::Unknown`].
    async fn look_up(
        &self,
        id: &str,
        sources: &Sources,
    ) -> Result<(LookedUp, Vec<DataQualityNote>), ApiError> {
        if let (Some(u), notes) = self.user(id, sources).await? {
            return Ok((LookedUp::User(u), notes));
        }
        let page = format!("directory/deletedItems/{id}");
        let target = Target::Path(
            format!("/directory/deletedItems/{}", seg(id)),
            vec![("$select", format!("{},deletedDateTime", sources.select()))],
        );
        let Some(v) = self
            .graph
            .get(What::DeletedItem, target, &page, true)
            .await?
        else {
            return Ok((LookedUp::Unknown, Vec::new()));
        };
        // `deletedItems` holds groups and apps too: only a user is a deleted user.
        let kind = v.get("@odata.type").and_then(serde_json::Value::as_str);
        if kind.is_some_and(|k| !k.eq_ignore_ascii_case("#microsoft.graph.user")) {
            return Ok((LookedUp::Unknown, Vec::new()));
        }
        let p =
            parse::user(&v, sources).map_err(|e| ApiError::malformed(self.origin(), &page, e))?;
        let at = parse::deleted_at(&v);
        // A deleted user's own fields (its enabled state) decide nothing: no notes.
        Ok((LookedUp::Deleted(Box::new(p.item), at), Vec::new()))
    }

    /// The provisioning log since `since`; any failure (a 403 on an unlicensed tenant included)
    /// leaves the log facts unknown, with why.
    async fn logs(
        &self,
        sp: &ServicePrincipal,
        since: DateTime<Utc>,
    ) -> (Vec<ProvisioningEvent>, LogFacts, Vec<DataQualityNote>) {
        let since_text = since.to_rfc3339_opts(SecondsFormat::Secs, true);
        let filter = format!(
            "servicePrincipal/id eq '{}' and activityDateTime gt {since_text}",
            odata_str(&sp.id)
        );
        let target = Target::Path("/auditLogs/provisioning".into(), vec![("$filter", filter)]);
        match self
            .graph
            .list(
                What::Logs,
                target,
                "auditLogs/provisioning",
                Duplicates::Skip,
                |v| parse::event(v, &sp.id),
            )
            .await
        {
            Ok(l) => (l.items, LogFacts::Known { since: since_text }, l.notes),
            Err(e) => {
                tracing::warn!(
                    source = self.origin(),
                    "provisioning log unread, its facts unknown: {e}"
                );
                (
                    Vec::new(),
                    LogFacts::Unknown {
                        reason: e.to_string(),
                    },
                    Vec::new(),
                )
            }
        }
    }
}
