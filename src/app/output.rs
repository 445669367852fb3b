//! Rendering command results as text for people or JSON for scripts (the JSON shapes are contracts).

use std::fmt::Write;

use serde_json::json;

use crate::cycle::Outcome;
use crate::detect::Kind;
use crate::escape::{csv_cell, line};
use crate::findings::FindingView;
use crate::store::{Reconciled, SnapshotInfo};

/// Output format of the reporting commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
}

/// The summary of `scimdrift once`.
pub fn once(outcome: &Outcome, format: Format) -> String {
    let (pull, rec) = (&outcome.pull, &outcome.recorded);
    if format == Format::Json {
        let value = json!({
            "snapshot_id": rec.snapshot_id,
            "complete": rec.complete,
            "all_sources_complete": rec.complete && pull.all_complete(),
            "duration_seconds": (pull.duration_seconds * 1000.0).round() / 1000.0,
            "sources": pull.sources,
            "retries": pull.retries,
            "throttled_seconds": pull.throttled.iter()
                .map(|(api, s)| (api.to_string(), json!((s * 10.0).round() / 10.0)))
                .collect::<serde_json::Map<_, _>>(),
            "versions_added": rec.versions_added,
            "versions_closed": rec.versions_closed,
            "findings": outcome.findings,
            "held": rec.held,
            "shrink": shrink_json(outcome),
            "data_quality": data_quality_json(outcome),
            "data_quality_total": pull.sources.iter().map(|s| s.data_quality.total).sum::<u64>(),
        });
        return format!("{value:#}\n");
    }
    let mut out = String::new();
    let state = if rec.complete {
        "complete"
    } else if rec.held {
        "HELD"
    } else {
        "INCOMPLETE"
    };
    let _ = writeln!(
        out,
        "snapshot {}: {state} in {:.3} s ({} retries)",
        rec.snapshot_id, pull.duration_seconds, pull.retries
    );
    for (api, secs) in pull.throttled.iter().filter(|(_, s)| **s >= 0.05) {
        let _ = writeln!(
            out,
            "  throttled: {api} held the pull {secs:.1} s (the server's Retry-After, waited once for every request to it)"
        );
    }
    for s in &pull.sources {
        let groups = s
            .groups
            .map(|g| format!(", {g} groups"))
            .unwrap_or_default();
        let status = match &s.error {
            None => "complete".to_string(),
            Some(e) if s.held => format!("HELD: {}", line(e)),
            Some(e) => format!("INCOMPLETE: {}", line(e)),
        };
        let _ = writeln!(
            out,
            "  {:<20} {:>8} records{groups:<12}  {status}{}",
            line(&s.source),
            s.records,
            not_people(s)
        );
        if let (true, Some(crate::model::idp::LogFacts::Unknown { reason })) = (s.complete, &s.logs)
        {
            let _ = writeln!(
                out,
                "    provisioning log unread: log facts (provisioning_error) unknown and left as they were: {}",
                line(reason)
            );
        }
    }
    out.push_str(&data_quality_text(outcome));
    if let Some(label) = outcome.shrink.label() {
        let _ = writeln!(
            out,
            "  shrink guard ({label}): {}",
            outcome.shrink.describe()
        );
    }
    if rec.complete {
        let _ = writeln!(
            out,
            "  history: {} version rows added, {} closed",
            rec.versions_added, rec.versions_closed
        );
        if let Some(r) = &outcome.findings {
            out.push_str(&reconciled_text(r));
        }
    } else {
        let _ = writeln!(
            out,
            "  not used as the current state: the previous complete snapshot stays current"
        );
    }
    out
}

/// Notes shown per `once` in text; JSON lists every kept note.
const NOTES_SHOWN: usize = 10;

/// `(app 2, customer 1: not people)` after the accounts line.
fn not_people(s: &crate::pull::SourceStatus) -> String {
    let Some(types) = &s.account_types else {
        return String::new();
    };
    let others: Vec<String> = types
        .iter()
        .filter(|(t, _)| t.as_str() != "atlassian")
        .map(|(t, n)| format!("{t} {n}"))
        .collect();
    if others.is_empty() {
        String::new()
    } else {
        format!(" ({}: counted, not people)", others.join(", "))
    }
}

/// The shrink guard's verdict for `once --format json`: null when nothing shrank.
fn shrink_json(outcome: &Outcome) -> serde_json::Value {
    match outcome.shrink.label() {
        None => serde_json::Value::Null,
        Some(label) => json!({
            "verdict": label,
            "sources": outcome.shrink.shrinks(),
            "message": outcome.shrink.describe(),
        }),
    }
}

/// Every kept data-quality note of the pull, all sources (`[{source, id, field, problem}]`).
fn data_quality_json(outcome: &Outcome) -> Vec<&crate::model::DataQualityNote> {
    outcome
        .pull
        .sources
        .iter()
        .flat_map(|s| &s.data_quality.notes)
        .collect()
}

fn data_quality_text(outcome: &Outcome) -> String {
    let total: u64 = outcome
        .pull
        .sources
        .iter()
        .map(|s| s.data_quality.total)
        .sum();
    if total == 0 {
        return String::new();
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "  data quality: {total} field(s) could not be read and were left unknown (the records were kept):"
    );
    let notes = data_quality_json(outcome);
    for n in notes.iter().take(NOTES_SHOWN) {
        let _ = writeln!(
            out,
            "    {} {}: {}: {}",
            line(&n.source),
            line(&n.id),
            line(&n.field),
            line(&n.problem)
        );
    }
    if total > NOTES_SHOWN.min(notes.len()) as u64 {
        let _ = writeln!(
            out,
            "    … and {} more (`--format json` lists up to {} per source)",
            total - NOTES_SHOWN.min(notes.len()) as u64,
            crate::model::DataQuality::KEPT
        );
    }
    out
}

/// The list of `scimdrift snapshots`.
pub fn snapshots(list: &[SnapshotInfo], format: Format) -> String {
    if format == Format::Json {
        return format!("{:#}\n", json!({ "snapshots": list }));
    }
    let mut out = String::new();
    if list.is_empty() {
        out.push_str("no snapshots yet: run `scimdrift once`\n");
        return out;
    }
    let _ = writeln!(
        out,
        "{:>6}  {:<20} {:<10} {:>8} {:>8} {:>8} {:>7}",
        "id", "started", "state", "records", "accounts", "changes", "seconds"
    );
    for s in list {
        let _ = writeln!(
            out,
            "{:>6}  {:<20} {:<10} {:>8} {:>8} {:>8} {:>7.2}",
            s.snapshot_id,
            utc_seconds(&s.started_at),
            if s.complete {
                "complete"
            } else if s.held {
                "HELD"
            } else {
                "INCOMPLETE"
            },
            s.scim_records,
            s.accounts,
            s.versions_added + s.versions_closed,
            s.duration_seconds
        );
        if let Some(shrink) = &s.shrink {
            let list = crate::model::join_shrinks(&shrink.shrinks);
            let _ = writeln!(out, "        shrink {}: {}", shrink.verdict, line(&list));
        }
        for src in s.sources.iter().filter(|src| !src.complete) {
            let _ = writeln!(
                out,
                "        {}: {}",
                line(&src.source),
                line(src.error.as_deref().unwrap_or("incomplete"))
            );
        }
    }
    out
}

/// An RFC 3339 time as `2026-11-30T06:28:43Z` (UTC, whole seconds); anything else as stored,
/// escaped.
fn utc_seconds(stamp: &str) -> String {
    match chrono::DateTime::parse_from_rfc3339(stamp) {
        Ok(t) => t
            .with_timezone(&chrono::Utc)
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        Err(_) => line(stamp).into_owned(),
    }
}

/// Output format of `scimdrift findings`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FindingsFormat {
    Table,
    Json,
    Csv,
}

/// The findings document: the JSON contract of `scimdrift findings` and `/findings`.
#[derive(Debug, serde::Serialize)]
pub struct FindingsDocument<'a> {
    /// The latest complete snapshot (the current state), if any.
    pub snapshot_id: Option<i64>,
    pub generated_at: String,
    pub findings: &'a [FindingView],
}

/// Renders findings in `format`.
pub fn findings(doc: &FindingsDocument<'_>, format: FindingsFormat, hidden: usize) -> String {
    match format {
        FindingsFormat::Json => format!(
            "{}\n",
            serde_json::to_string_pretty(doc).unwrap_or_default()
        ),
        FindingsFormat::Csv => findings_csv(doc.findings),
        FindingsFormat::Table => findings_table(doc, hidden),
    }
}

fn subject(f: &FindingView) -> String {
    f.scim_users
        .iter()
        .filter_map(|u| u.email.clone())
        .chain(f.accounts.iter().filter_map(|a| a.email.clone()))
        .next()
        .or_else(|| f.accounts.first().map(|a| a.account_id.clone()))
        .or_else(|| f.scim_users.first().map(|u| u.scim_id.clone()))
        .unwrap_or_default()
}

fn truncate(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(width.saturating_sub(1)).collect();
        out.push('…');
        out
    }
}

/// Wraps `text` at `width` columns, each line indented by `indent` spaces.
fn wrap(text: &str, indent: usize, width: usize) -> String {
    let mut out = String::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && indent + line.chars().count() + 1 + word.chars().count() > width {
            let _ = writeln!(out, "{:indent$}{line}", "");
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        let _ = writeln!(out, "{:indent$}{line}", "");
    }
    out
}

fn findings_table(doc: &FindingsDocument<'_>, hidden: usize) -> String {
    let mut out = String::new();
    let list = doc.findings;
    if list.is_empty() {
        out.push_str("no findings match\n");
    } else {
        let _ = writeln!(
            out,
            "{:<8}  {:<27}  {:<10}  {:>4}  SUBJECT",
            "SEVERITY", "KIND", "STATUS", "SEEN"
        );
        for f in list {
            let _ = writeln!(
                out,
                "{:<8}  {:<27}  {:<10}  {:>4}  {}",
                f.severity.as_str(),
                f.kind.as_str(),
                f.status.as_str(),
                f.seen_count,
                truncate(&line(&subject(f)), 40)
            );
            out.push_str(&wrap(&line(&f.summary), 10, 100));
        }
    }
    let mut by_severity = std::collections::BTreeMap::new();
    for f in list {
        *by_severity
            .entry(std::cmp::Reverse(f.severity))
            .or_insert(0) += 1;
    }
    let parts: Vec<String> = by_severity
        .iter()
        .map(|(s, n)| format!("{n} {}", s.0.as_str()))
        .collect();
    let _ = write!(out, "\n{} findings", list.len());
    if !parts.is_empty() {
        let _ = write!(out, " ({})", parts.join(", "));
    }
    match doc.snapshot_id {
        Some(id) => {
            let _ = write!(out, " as of snapshot {id}");
        }
        None => out.push_str("; no complete snapshot yet: run `scimdrift once`"),
    }
    if hidden > 0 {
        let _ = write!(out, "; {hidden} more with another status (--status all)");
    }
    out.push('\n');
    out
}

fn findings_csv(list: &[FindingView]) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    let _ = w.write_record([
        "id",
        "kind",
        "severity",
        "status",
        "first_seen",
        "last_seen",
        "resolved_at",
        "seen_count",
        "directories",
        "scim_ids",
        "emails",
        "account_ids",
        "summary",
        "suppressed_reason",
    ]);
    for f in list {
        let join = |items: Vec<String>| items.join(" ");
        let mut emails: Vec<String> = f
            .scim_users
            .iter()
            .filter_map(|u| u.email.clone())
            .collect();
        emails.extend(f.accounts.iter().filter_map(|a| a.email.clone()));
        emails.dedup();
        let row = [
            f.id.clone(),
            f.kind.to_string(),
            f.severity.to_string(),
            f.status.as_str().to_string(),
            f.first_seen.clone(),
            f.last_seen.clone(),
            f.resolved_at.clone().unwrap_or_default(),
            f.seen_count.to_string(),
            join(f.scim_users.iter().map(|u| u.directory.clone()).collect()),
            join(f.scim_users.iter().map(|u| u.scim_id.clone()).collect()),
            join(emails),
            join(f.accounts.iter().map(|a| a.account_id.clone()).collect()),
            f.summary.clone(),
            f.suppressed_by
                .as_ref()
                .map(|s| s.reason.clone())
                .unwrap_or_default(),
        ]
        .map(|cell| csv_cell(&cell).into_owned());
        let _ = w.write_record(row);
    }
    String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
}

/// The findings part of the `once` summary.
pub fn reconciled_text(r: &Reconciled) -> String {
    let total = |m: &std::collections::BTreeMap<Kind, u64>| m.values().sum::<u64>();
    let mut out = format!(
        "  findings: {} open ({} new, {} resolved), {} suppressed\n",
        total(&r.open),
        total(&r.opened),
        total(&r.resolved),
        total(&r.suppressed)
    );
    for kind in Kind::ALL {
        let (open, new, resolved) = (
            r.open.get(&kind).copied().unwrap_or(0),
            r.opened.get(&kind).copied().unwrap_or(0),
            r.resolved.get(&kind).copied().unwrap_or(0),
        );
        if open + new + resolved > 0 {
            let _ = writeln!(
                out,
                "    {:<28} {open:>5} open  {new:>4} new  {resolved:>4} resolved",
                kind.as_str()
            );
        }
    }
    out
}

/// `scimdrift person EMAIL`: the JSON contract, or the history as text with a timeline.
/// A stored time as people read it ([`crate::model::human_time`]); anything else escaped.
fn human(t: &str) -> String {
    crate::model::parse_utc(t)
        .map(crate::model::human_time)
        .unwrap_or_else(|| line(t).into_owned())
}

pub fn person(h: &crate::person::PersonHistory, format: Format) -> String {
    if format == Format::Json {
        return format!("{:#}\n", json!(h));
    }
    let mut out = String::new();
    if h.is_empty() {
        let _ = writeln!(
            out,
            "no IdP user, SCIM record or account in the store is {} or ever carried it",
            line(&h.email)
        );
        return out;
    }
    let _ = writeln!(out, "{}", line(&h.email));
    let yes_no = |b: Option<bool>| match b {
        Some(true) => "active",
        Some(false) => "inactive",
        None => "unknown",
    };
    for u in &h.idp_users {
        let _ = writeln!(
            out,
            "  {} user {} in {}",
            line(u.idp.as_deref().unwrap_or("IdP")),
            line(&u.id),
            line(&u.directory)
        );
        for v in &u.versions {
            let enabled = match v.enabled {
                Some(true) => "enabled",
                Some(false) => "disabled",
                None => "enabled unknown",
            };
            let intent = if v.deleted {
                "deleted".to_string()
            } else if v.intended {
                format!("intended ({})", v.assigned)
            } else {
                "not intended".to_string()
            };
            let _ = writeln!(
                out,
                "    {} → {}  {enabled}, {intent}, {}",
                human(&v.from),
                v.to.as_deref().map_or("now".into(), human),
                line(
                    v.email
                        .as_deref()
                        .or(v.user_principal_name.as_deref())
                        .unwrap_or("(no email)")
                ),
            );
        }
        for e in &u.events {
            let error = match (&e.error_code, &e.reason) {
                (Some(c), Some(r)) => format!(": {} — {}", line(c), line(r)),
                (Some(c), None) => format!(": {}", line(c)),
                (None, Some(r)) => format!(": {}", line(r)),
                (None, None) => String::new(),
            };
            let _ = writeln!(
                out,
                "    provisioning {} {} {}{error}",
                human(&e.at),
                line(&e.action),
                line(&e.status)
            );
        }
    }
    for r in &h.records {
        let _ = writeln!(
            out,
            "  SCIM record {}/{}",
            line(&r.directory),
            line(&r.scim_id)
        );
        for v in &r.versions {
            let _ = writeln!(
                out,
                "    {} → {}  {:<8} {}  {}",
                human(&v.from),
                v.to.as_deref().map_or("now".into(), human),
                yes_no(v.active),
                line(v.email.as_deref().unwrap_or("(no email)")),
                line(v.account_id.as_deref().unwrap_or("unlinked"))
            );
        }
    }
    for a in &h.accounts {
        let _ = writeln!(out, "  account {}", line(&a.account_id));
        for v in &a.versions {
            let _ = writeln!(
                out,
                "    {} → {}  account: {} · membership: {}  {}",
                human(&v.from),
                v.to.as_deref().map_or("now".into(), human),
                line(&v.account_status),
                line(&v.membership_status),
                line(v.email.as_deref().unwrap_or("(email hidden)"))
            );
        }
    }
    if !h.groups.is_empty() {
        let _ = writeln!(out, "  groups (IdP / Atlassian SCIM)");
        for g in &h.groups {
            let idp = match g.in_idp {
                Some(true) => "in the IdP group",
                Some(false) => "not in the IdP group",
                None => "not an IdP group",
            };
            let scim = if g.in_scim {
                "in the SCIM group"
            } else if g.scim_group_id.is_some() {
                "not in the SCIM group"
            } else {
                "no SCIM group"
            };
            let mark = match g.mark.as_deref() {
                Some("missing") => "  MISSING in Atlassian",
                Some("extra") => "  EXTRA: left the IdP group",
                _ => "",
            };
            let _ = writeln!(
                out,
                "    {} ({}): {idp}, {scim}{mark}",
                line(&g.name),
                line(&g.directory)
            );
        }
    }
    if !h.findings.is_empty() {
        let _ = writeln!(out, "  findings");
        for f in &h.findings {
            let _ = writeln!(
                out,
                "    {:<9} {:<28} {:<10} first seen {}{}  {}",
                f.severity,
                f.kind,
                f.status,
                human(&f.first_seen),
                f.resolved_at
                    .as_deref()
                    .map(|r| format!(", resolved {}", human(r)))
                    .unwrap_or_default(),
                line(&f.id)
            );
        }
    }
    let _ = writeln!(out, "  timeline");
    for e in h.timeline() {
        let _ = writeln!(out, "    {}  {}", human(&e.at), line(&e.what));
    }
    out
}
