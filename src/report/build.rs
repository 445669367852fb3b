//! Building a [`Report`] from the store: findings (ignore rules re-applied), the last complete
//! snapshot's state for the fixes and hints, and the comparison point. No API calls.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};

use super::StoredReports;
use super::fixes::{self, FixContext};
use super::idp::{self, IdpApp};
use super::model::*;
use super::people;
use crate::detect::{Kind, Severity};
use crate::findings::{FindingView, ScimUserView, Status, account_view, user_view};
use crate::ignore::IgnoreRule;
use crate::remediate::RemediationConfig;
use crate::store::{SnapshotInfo, State, Store};

/// Reports compare with this much history when there is no earlier report.
const DEFAULT_LOOKBACK_HOURS: i64 = 24;
/// Data older than this many pull intervals is flagged.
const STALE_INTERVALS: u32 = 3;
/// Longest source error quoted in the report.
const MAX_ERROR_CHARS: usize = 300;

use crate::model::{parse_utc as parse_time, rfc3339_seconds as rfc3339};

/// What a report needs from the configuration (the app builds it from the settings).
#[derive(Debug, Clone)]
pub struct Context {
    pub org_id: String,
    /// The schedule's time zone: the report's day and midnight.
    pub tz: chrono_tz::Tz,
    /// `[schedule] pull`'s interval: data older than 3 intervals is flagged.
    pub pull_interval: std::time::Duration,
    /// Directory id → configured name.
    pub directory_names: HashMap<String, String>,
    /// The `[[ignore]]` rules, applied as of the report's day.
    pub ignore_rules: Vec<IgnoreRule>,
    /// `[remediation]`, for the remediation section's note.
    pub remediation: RemediationConfig,
    /// Directory id → its configured IdP app (directories with an `idp` only).
    pub idp_apps: HashMap<String, IdpApp>,
    /// The bases of the report's links.
    pub links: Links,
}

/// The report's day for `now` in the time zone `tz` (the schedule's).
pub fn report_date(tz: chrono_tz::Tz, now: DateTime<Utc>) -> NaiveDate {
    now.with_timezone(&tz).date_naive()
}

/// What "new" and "resolved" are measured against.
enum Compare {
    Report(Box<Report>),
    History(DateTime<Utc>),
}

impl Compare {
    fn period(&self, now: DateTime<Utc>) -> Period {
        match self {
            Compare::Report(r) => Period {
                from: r.generated_at.clone(),
                to: rfc3339(now),
                basis: Basis::Report,
                compared_report: Some(r.date),
            },
            Compare::History(t) => Period {
                from: rfc3339(*t),
                to: rfc3339(now),
                basis: Basis::History,
                compared_report: None,
            },
        }
    }
}

/// Builds the report of `now`. Without `since`, it compares with the latest stored report of an
/// earlier day (or, with none, the last 24 hours of history); with `since`, with that day's stored
/// report, or the history since that day's start.
pub fn build(
    store: &Store,
    ctx: &Context,
    since: Option<NaiveDate>,
    now: DateTime<Utc>,
) -> anyhow::Result<Report> {
    let date = report_date(ctx.tz, now);
    let rules = &ctx.ignore_rules;
    let mut all = store.findings()?;
    for f in &mut all {
        f.apply_rules(rules, date);
    }
    let compare = match since {
        Some(day) => match store.report_on(day)? {
            Some(r) => Compare::Report(Box::new(r)),
            None => Compare::History(start_of(ctx.tz, day)),
        },
        None => match store.report_before(date)? {
            Some(r) => Compare::Report(Box::new(r)),
            None => Compare::History(now - Duration::hours(DEFAULT_LOOKBACK_HOURS)),
        },
    };
    let latest_complete = store.latest_complete()?;
    let latest = store.snapshots(1)?.into_iter().next();
    let state = match &latest_complete {
        Some(s) => store.state_at(s.snapshot_id)?,
        None => State::default(),
    };
    let names: &HashMap<String, String> = &ctx.directory_names;
    let idp_sides = store.idp_sides()?;
    let idp_users = store.idp_users()?;
    let mut fixes = fix_context(&ctx.org_id, &state, names);
    fixes.idp = idp::fix_infos(&ctx.idp_apps, &idp_sides, names);
    fixes.idp_directory = store
        .finding_idp_directories()?
        .into_iter()
        .map(|(id, dir)| (id, names.get(&dir).cloned().unwrap_or(dir)))
        .collect();

    let opened_after = |f: &FindingView, t: DateTime<Utc>| -> anyhow::Result<bool> {
        let events = store.finding_events(&f.id)?;
        let opened = events
            .iter()
            .rev()
            .find(|e| e.2 == "opened" || e.2 == "reopened")
            .map(|e| e.1.as_str())
            .unwrap_or(&f.first_seen);
        Ok(parse_time(opened).is_some_and(|at| at > t))
    };
    let previous_open: HashSet<String> = match &compare {
        Compare::Report(r) => r.open_ids().into_iter().map(String::from).collect(),
        Compare::History(_) => HashSet::new(),
    };
    let mut open = Vec::new();
    let mut resolved = Vec::new();
    let mut suppressed = Vec::new();
    for f in &all {
        match f.status {
            Status::Open => {
                let new = match &compare {
                    Compare::Report(_) => !previous_open.contains(&f.id),
                    Compare::History(t) => opened_after(f, *t)?,
                };
                let change = if new { Change::New } else { Change::StillOpen };
                open.push(report_finding(f, change, &fixes, now));
            }
            Status::Resolved => {
                let since_compared = match &compare {
                    Compare::Report(_) => previous_open.contains(&f.id),
                    Compare::History(t) => f
                        .resolved_at
                        .as_deref()
                        .and_then(parse_time)
                        .is_some_and(|at| at > *t),
                };
                if since_compared {
                    resolved.push(report_finding(f, Change::Resolved, &fixes, now));
                }
            }
            Status::Suppressed => {
                suppressed.push(report_finding(f, Change::Suppressed, &fixes, now));
            }
        }
    }
    let hints = hints(&all, &state, names);
    idp::relate_conflicts(&mut open);
    let mut people = people::group(open);
    idp::attach_users(&mut people, &idp_users, &idp_sides, names);
    let pushed = super::groups::joined(&idp_sides, &idp_users, &state);
    super::groups::attach(&mut people, &pushed, &idp_users, &state, names);
    let groups = super::groups::section(&pushed, &people, names);
    let summary = summary(&people, resolved.len(), &suppressed);
    let mut idp_health = idp::health(&ctx.idp_apps, &idp_sides, latest.as_ref(), names);
    idp::attach_user_counts(&mut idp_health, &idp_users, &idp_sides);
    for h in &mut idp_health {
        h.stalled_finding = people
            .iter()
            .flat_map(|p| &p.findings)
            .find(|f| {
                f.kind == Kind::ProvisioningStalled
                    && f.idp_directory.as_deref() == Some(h.directory.as_str())
            })
            .and_then(|f| f.person.clone());
    }
    Ok(Report {
        report_version: REPORT_VERSION,
        org_id: ctx.org_id.clone(),
        date,
        generated_at: rfc3339(now),
        period: compare.period(now),
        freshness: freshness(
            latest_complete.as_ref(),
            latest.as_ref(),
            ctx.pull_interval * STALE_INTERVALS,
            now,
        ),
        summary,
        people,
        resolved,
        suppressed,
        hints,
        remediation: super::remediation::section(
            store,
            &ctx.remediation,
            &compare.period(now).from,
        )?,
        data_quality: data_quality(latest_complete.as_ref()),
        idp: idp_health,
        links: ctx.links.clone(),
        trend: super::trend::trend(&store.finding_lifecycles()?, date, ctx.tz, now),
        groups,
    })
}

/// The data-quality section from the last complete snapshot's sources.
fn data_quality(complete: Option<&SnapshotInfo>) -> DataQualitySection {
    let mut out = DataQualitySection::default();
    for s in complete.iter().flat_map(|c| &c.sources) {
        let dq = &s.data_quality;
        out.total += dq.total;
        out.by_field
            .extend(dq.by_field.iter().map(|(field, n)| UnreadableField {
                source: s.source.clone(),
                field: field.clone(),
                records: *n,
            }));
        out.notes.extend(dq.notes.iter().take(MAX_NOTES).cloned());
    }
    out
}

/// Data-quality notes shown per source in the report.
const MAX_NOTES: usize = 20;

/// Midnight starting `day` in the time zone `tz`.
fn start_of(tz: chrono_tz::Tz, day: NaiveDate) -> DateTime<Utc> {
    let midnight = day.and_hms_opt(0, 0, 0).unwrap_or_default();
    tz.from_local_datetime(&midnight)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| Utc.from_utc_datetime(&midnight))
}

fn fix_context(org_id: &str, state: &State, names: &HashMap<String, String>) -> FixContext {
    let mut links: HashMap<String, Vec<ScimUserView>> = HashMap::new();
    for r in &state.records {
        if let Some(a) = &r.account_id {
            links
                .entry(a.clone())
                .or_default()
                .push(user_view(r, names));
        }
    }
    FixContext {
        org_id: org_id.to_string(),
        links,
        added_to_org: state
            .accounts
            .iter()
            .filter_map(|a| Some((a.account_id.clone(), a.added_to_org.clone()?)))
            .collect(),
        ..FixContext::default()
    }
}

fn report_finding(
    f: &FindingView,
    change: Change,
    ctx: &FixContext,
    now: DateTime<Utc>,
) -> ReportFinding {
    let idp_directory = ctx
        .idp_directory
        .get(&f.id)
        .cloned()
        .or_else(|| f.idp_users.first().map(|u| u.directory.clone()));
    let (portal_steps, idp_requests) = if f.status == Status::Resolved {
        (Vec::new(), Vec::new())
    } else {
        // Admin hub first (the admin's words), then the IdP's console.
        let info = idp_directory.as_ref().and_then(|d| ctx.idp.get(d));
        let (idp_steps, requests) = match info {
            Some(i) if i.app.kind == "okta" => (super::okta::fix(f), Vec::new()),
            _ => idp::fix(f, info),
        };
        let mut steps = super::admin_hub::steps(f);
        steps.extend(idp_steps);
        (steps, requests)
    };
    ReportFinding {
        id: f.id.clone(),
        kind: f.kind,
        severity: f.severity,
        status: f.status,
        change,
        first_seen: f.first_seen.clone(),
        last_seen: f.last_seen.clone(),
        resolved_at: f.resolved_at.clone(),
        age_days: parse_time(&f.first_seen).map(|t| (now - t).num_days().max(0)),
        seen_count: f.seen_count,
        undetermined: f.undetermined.clone(),
        summary: f.summary.clone(),
        fix_steps: f.suggested_fix.clone(),
        requests: if f.status == Status::Resolved {
            Vec::new()
        } else {
            let mut r = fixes::requests(f, ctx);
            r.extend(idp_requests);
            r
        },
        scim_users: f.scim_users.clone(),
        accounts: f.accounts.clone(),
        idp_users: f.idp_users.clone(),
        groups: f.groups.clone(),
        provisioning: f.provisioning.clone(),
        idp_directory,
        portal_steps,
        related: Vec::new(),
        suppressed_by: f.suppressed_by.clone(),
        person: None,
    }
}

fn summary(people: &[Person], resolved: usize, suppressed: &[ReportFinding]) -> Summary {
    let open: Vec<&ReportFinding> = people.iter().flat_map(|p| &p.findings).collect();
    let is_new = |f: &&&ReportFinding| f.change == Change::New;
    let by_severity = [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
    ]
    .into_iter()
    .map(|s| SeverityCount {
        severity: s,
        open: open.iter().filter(|f| f.severity == s).count(),
        new: open
            .iter()
            .filter(|f| f.severity == s)
            .filter(is_new)
            .count(),
    })
    .collect();
    // A row per kind and severity: a kind's findings may differ in severity (an orphan record
    // with access is high, one without medium), each counted under its own.
    let severities = [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
    ];
    let mut by_kind: Vec<KindCount> = Kind::ALL
        .iter()
        .flat_map(|&k| severities.iter().map(move |&s| (k, s)))
        .map(|(k, s)| {
            let of = |f: &&ReportFinding| f.kind == k && f.severity == s;
            KindCount {
                kind: k,
                severity: s,
                open: open.iter().copied().filter(of).count(),
                new: open
                    .iter()
                    .copied()
                    .filter(of)
                    .filter(|f| f.change == Change::New)
                    .count(),
                suppressed: suppressed.iter().filter(of).count(),
            }
        })
        .filter(|c| c.open + c.suppressed > 0)
        .collect();
    by_kind.sort_by_key(|c| std::cmp::Reverse(c.severity));
    let new = open.iter().filter(is_new).count();
    Summary {
        open: open.len(),
        suppressed: suppressed.len(),
        new,
        resolved,
        still_open: open.len() - new,
        oldest_open_days: open.iter().filter_map(|f| f.age_days).max(),
        people: people.len(),
        by_severity,
        by_kind,
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut t: String = s.chars().take(max).collect();
    t.push('…');
    t
}

/// A time as people read it, to the minute: `2026-01-02 07:00 UTC`. Takes RFC 3339 (any offset,
/// any fraction of a second) and SQLite's `YYYY-MM-DD HH:MM:SS[.fff]` (UTC); other text is returned
/// as is.
pub fn display_time(s: &str) -> String {
    // A stored time (RFC 3339, or SQLite's `YYYY-MM-DD HH:MM:SS`), shown to the second in UTC.
    parse_time(s)
        .or_else(|| {
            chrono::NaiveDateTime::parse_from_str(s.trim(), "%Y-%m-%d %H:%M:%S%.f")
                .ok()
                .map(|t| t.and_utc())
        })
        .map(crate::model::human_time)
        .unwrap_or_else(|| s.to_string())
}

/// Readable duration: "45 min", "5 h", "3 days".
pub fn human_minutes(minutes: i64) -> String {
    match minutes {
        m if m < 120 => format!("{m} min"),
        m if m < 48 * 60 => format!("{} h", m / 60),
        m => format!("{} days", m / (24 * 60)),
    }
}

/// What a warning about the latest pull says the report shows instead.
fn shown(complete: Option<&SnapshotInfo>) -> String {
    match complete {
        Some(s) => format!(
            "this report shows the last complete pull (#{}, {})",
            s.snapshot_id,
            display_time(&s.finished_at)
        ),
        None => "there is no complete pull to show".to_string(),
    }
}

/// A failed source and its error, the source named once: an API error's text already starts with
/// its source (`accounts (first page): HTTP 503`), other errors get it in front.
fn source_error_line(e: &SourceError) -> String {
    let named = e
        .error
        .strip_prefix(e.source.as_str())
        .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '(', ':']));
    if named {
        e.error.clone()
    } else {
        format!("{}: {}", e.source, e.error)
    }
}

fn freshness(
    complete: Option<&SnapshotInfo>,
    latest: Option<&SnapshotInfo>,
    expected: std::time::Duration,
    now: DateTime<Utc>,
) -> Freshness {
    let expected_minutes = (expected.as_secs() / 60) as i64;
    let mut warnings = Vec::new();
    let last_complete_at = complete.and_then(|s| parse_time(&s.finished_at));
    let age_minutes = last_complete_at.map(|t| (now - t).num_minutes().max(0));
    match (complete, age_minutes) {
        (None, _) => warnings.push(
            "No complete pull is stored yet: this report has no data. Check the daemon's log and `scimdrift once`."
                .to_string(),
        ),
        (Some(s), Some(age)) if age > expected_minutes => warnings.push(format!(
            "The data is {} old: the last complete pull (#{}) finished at {}, more than {STALE_INTERVALS} pull \
             intervals ({}) ago. Check that the daemon runs and the APIs answer.",
            human_minutes(age),
            s.snapshot_id,
            display_time(&s.finished_at),
            human_minutes(expected_minutes)
        )),
        _ => {}
    }
    let latest_pull = latest.map(|s| LatestPull {
        snapshot_id: s.snapshot_id,
        finished_at: s.finished_at.clone(),
        complete: s.complete,
        failed_sources: s
            .sources
            .iter()
            .filter(|x| !x.complete)
            .map(|x| SourceError {
                source: x.source.clone(),
                error: truncate(x.error.as_deref().unwrap_or("incomplete"), MAX_ERROR_CHARS),
            })
            .collect(),
    });
    let held = latest.filter(|s| s.held);
    if let Some(h) = held {
        let list = crate::model::join_shrinks(h.shrinks());
        warnings.push(format!(
            "The latest pull (#{}, {}) was HELD because a source shrank ({list}); {}. If the drop is real, run `scimdrift once --accept-shrink`.",
            h.snapshot_id,
            display_time(&h.finished_at),
            shown(complete)
        ));
    }
    if let Some(p) = latest_pull
        .as_ref()
        .filter(|p| !p.complete && held.is_none())
    {
        let failed = p
            .failed_sources
            .iter()
            .map(source_error_line)
            .collect::<Vec<_>>()
            .join("; ");
        warnings.push(format!(
            "The latest pull (#{}, {}) was INCOMPLETE ({failed}); {}.",
            p.snapshot_id,
            display_time(&p.finished_at),
            shown(complete)
        ));
    }
    Freshness {
        snapshot_id: complete.map(|s| s.snapshot_id),
        last_complete_at: complete.map(|s| s.finished_at.clone()),
        age_minutes,
        expected_within_minutes: expected_minutes,
        sources: complete
            .map(|s| {
                s.sources
                    .iter()
                    .map(|x| SourceCount {
                        source: x.source.clone(),
                        directory_id: x.directory_id.clone(),
                        records: x.records,
                        groups: x.groups,
                    })
                    .collect()
            })
            .unwrap_or_default(),
        latest_pull,
        warnings,
    }
}

fn name_key(name: &str) -> String {
    name.trim().to_lowercase()
}

/// Unmanaged accounts (open or suppressed findings) whose display name equals that of an account a
/// SCIM record links to: possibly one person under two emails (scenarios.md, scenario 3).
fn hints(all: &[FindingView], state: &State, names: &HashMap<String, String>) -> Vec<NameHint> {
    let mut linked: HashMap<&str, Vec<ScimUserView>> = HashMap::new();
    for r in &state.records {
        if let Some(a) = &r.account_id {
            linked
                .entry(a.as_str())
                .or_default()
                .push(user_view(r, names));
        }
    }
    let mut by_name: HashMap<String, Vec<&crate::model::Account>> = HashMap::new();
    for a in &state.accounts {
        if let Some(n) = a.name.as_deref().map(name_key).filter(|n| !n.is_empty()) {
            by_name.entry(n).or_default().push(a);
        }
    }
    let added = |id: &str| {
        state
            .accounts
            .iter()
            .find(|a| a.account_id == id)
            .and_then(|a| a.added_to_org.clone())
    };
    let mut out: Vec<NameHint> = Vec::new();
    for f in all
        .iter()
        .filter(|f| f.kind == Kind::UnmanagedAccount && f.status != Status::Resolved)
    {
        for a in &f.accounts {
            let Some(name) = a.name.as_deref().filter(|n| !n.trim().is_empty()) else {
                continue;
            };
            let synced: Vec<HintAccount> = by_name
                .get(&name_key(name))
                .into_iter()
                .flatten()
                .filter(|o| o.account_id != a.account_id)
                .filter_map(|o| {
                    let records = linked.get(o.account_id.as_str())?;
                    Some(HintAccount {
                        account: account_view(o),
                        added_to_org: o.added_to_org.clone(),
                        linked_records: records.clone(),
                    })
                })
                .collect();
            if !synced.is_empty()
                && !out
                    .iter()
                    .any(|h| h.unmanaged.account.account_id == a.account_id)
            {
                out.push(NameHint {
                    name: name.trim().to_string(),
                    unmanaged: HintAccount {
                        account: a.clone(),
                        added_to_org: added(&a.account_id),
                        linked_records: Vec::new(),
                    },
                    synced,
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SourceInfo;

    fn snap(id: i64, complete: bool, finished: &str) -> SnapshotInfo {
        SnapshotInfo {
            snapshot_id: id,
            started_at: finished.into(),
            finished_at: finished.into(),
            duration_seconds: 1.0,
            complete,
            scim_records: 3,
            accounts: 2,
            retries: 0,
            versions_added: 0,
            versions_closed: 0,
            held: false,
            shrink: None,
            sources: vec![SourceInfo {
                source: "accounts".into(),
                directory_id: None,
                records: 2,
                groups: None,
                complete,
                error: (!complete).then(|| "page 2: HTTP 503".into()),
                data_quality: Default::default(),
                account_types: None,
                intended: None,
                held: false,
                listings: Default::default(),
            }],
        }
    }

    fn at(s: &str) -> DateTime<Utc> {
        parse_time(s).unwrap()
    }

    const INTERVAL: std::time::Duration = std::time::Duration::from_secs(45 * 60);

    #[test]
    fn fresh_complete_data_has_no_warning() {
        let s = snap(3, true, "2026-01-02T06:50:00Z");
        let f = freshness(Some(&s), Some(&s), INTERVAL, at("2026-01-02T07:00:00Z"));
        assert!(f.warnings.is_empty(), "{:?}", f.warnings);
        assert_eq!(f.age_minutes, Some(10));
        assert_eq!(f.sources[0].records, 2);
    }

    #[test]
    fn old_or_incomplete_data_warns() {
        let s = snap(3, true, "2026-01-02T05:00:00Z");
        let f = freshness(Some(&s), Some(&s), INTERVAL, at("2026-01-02T07:00:00Z"));
        assert!(f.warnings[0].contains("2 h old"), "{:?}", f.warnings);
        let bad = snap(4, false, "2026-01-02T06:55:00Z");
        let f = freshness(Some(&s), Some(&bad), INTERVAL, at("2026-01-02T07:00:00Z"));
        assert!(
            f.warnings
                .iter()
                .any(|w| w.contains("INCOMPLETE") && w.contains("HTTP 503"))
        );
        let f = freshness(None, None, INTERVAL, at("2026-01-02T07:00:00Z"));
        assert!(f.warnings[0].contains("No complete pull"));
    }

    #[test]
    fn times_read_well() {
        for (raw, shown) in [
            (
                "2026-11-30T06:28:43.886457907+00:00",
                "2026-11-30 06:28:43 UTC",
            ),
            ("2026-11-30T07:28:43+01:00", "2026-11-30 06:28:43 UTC"),
            ("2026-11-30T06:28:43Z", "2026-11-30 06:28:43 UTC"),
            ("2026-11-30 06:28:43.886", "2026-11-30 06:28:43 UTC"),
            ("2026-11-30 06:28:43", "2026-11-30 06:28:43 UTC"),
            ("never", "never"),
        ] {
            assert_eq!(display_time(raw), shown, "{raw}");
        }
    }

    #[test]
    fn a_failed_source_is_named_once() {
        let e = |source: &str, error: &str| SourceError {
            source: source.into(),
            error: error.into(),
        };
        assert_eq!(
            source_error_line(&e("accounts", "accounts (first page): HTTP 503")),
            "accounts (first page): HTTP 503"
        );
        assert_eq!(
            source_error_line(&e("scim:entra", "scim:entra (startIndex=101): timed out")),
            "scim:entra (startIndex=101): timed out"
        );
        assert_eq!(
            source_error_line(&e("accounts", "incomplete")),
            "accounts: incomplete"
        );
        // A longer source name sharing the prefix is not taken for this one.
        assert_eq!(
            source_error_line(&e("scim:a", "scim:ab (first page): HTTP 500")),
            "scim:a: scim:ab (first page): HTTP 500"
        );
    }

    #[test]
    fn warnings_show_readable_times() {
        let s = snap(3, true, "2026-01-02T05:00:00.886457907+00:00");
        let bad = snap(4, false, "2026-01-02T06:55:00.123456789+00:00");
        let f = freshness(Some(&s), Some(&bad), INTERVAL, at("2026-01-02T07:00:00Z"));
        let all = f.warnings.join("\n");
        assert!(all.contains("2026-01-02 05:00:00 UTC"), "{all}");
        assert!(all.contains("2026-01-02 06:55:00 UTC"), "{all}");
        assert!(!all.contains(".886") && !all.contains(".123"), "{all}");
        assert_eq!(
            f.last_complete_at.as_deref(),
            Some("2026-01-02T05:00:00.886457907+00:00"),
            "the JSON keeps the stored time"
        );
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(human_minutes(45), "45 min");
        assert_eq!(human_minutes(180), "3 h");
        assert_eq!(human_minutes(3 * 24 * 60 + 5), "3 days");
    }
}
