//! Rendering command results as text for people or JSON for scripts (the JSON shapes are contracts).

use std::fmt::Write;

use serde_json::json;

use crate::cli::Format;
use crate::cycle::Outcome;
use crate::store::SnapshotInfo;

/// The summary of `scimdrift once`.
pub fn once(outcome: &Outcome, format: Format) -> String {
    let (pull, rec) = (&outcome.pull, &outcome.recorded);
    if format == Format::Json {
        let value = json!({
            "snapshot_id": rec.snapshot_id,
            "complete": rec.complete,
            "duration_seconds": (pull.duration_seconds * 1000.0).round() / 1000.0,
            "sources": pull.sources,
            "retries": pull.retries,
            "versions_added": rec.versions_added,
            "versions_closed": rec.versions_closed,
        });
        return format!("{value:#}\n");
    }
    let mut out = String::new();
    let state = if rec.complete {
        "complete"
    } else {
        "INCOMPLETE"
    };
    let _ = writeln!(
        out,
        "snapshot {}: {state} in {:.3} s ({} retries)",
        rec.snapshot_id, pull.duration_seconds, pull.retries
    );
    for s in &pull.sources {
        let groups = s
            .groups
            .map(|g| format!(", {g} groups"))
            .unwrap_or_default();
        let status = match &s.error {
            None => "complete".to_string(),
            Some(e) => format!("INCOMPLETE: {e}"),
        };
        let _ = writeln!(
            out,
            "  {:<20} {:>8} records{groups:<12}  {status}",
            s.source, s.records
        );
    }
    if rec.complete {
        let _ = writeln!(
            out,
            "  history: {} version rows added, {} closed",
            rec.versions_added, rec.versions_closed
        );
    } else {
        let _ = writeln!(
            out,
            "  not used as the current state: the previous complete snapshot stays current"
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
        "{:>6}  {:<25} {:<10} {:>8} {:>8} {:>8} {:>7}",
        "id", "started", "state", "records", "accounts", "changes", "seconds"
    );
    for s in list {
        let _ = writeln!(
            out,
            "{:>6}  {:<25} {:<10} {:>8} {:>8} {:>8} {:>7.2}",
            s.snapshot_id,
            s.started_at.chars().take(25).collect::<String>(),
            if s.complete { "complete" } else { "INCOMPLETE" },
            s.scim_records,
            s.accounts,
            s.versions_added + s.versions_closed,
            s.duration_seconds
        );
        for src in s.sources.iter().filter(|src| !src.complete) {
            let _ = writeln!(
                out,
                "        {}: {}",
                src.source,
                src.error.as_deref().unwrap_or("incomplete")
            );
        }
    }
    out
}
