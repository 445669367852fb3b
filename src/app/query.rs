//! The read-only queries the CLI, the HTTP server and the demo share: the store read, the current
//! ignore rules applied, the selection rendered.

use crate::config::Settings;
use crate::detect::Severity;
use crate::output::{self, FindingsDocument, FindingsFormat};
use crate::store::Store;

/// Reads the findings, re-applies the current ignore rules, selects them with `query` and renders
/// them. Returns the text and the severities of the open findings the query's kind and severity
/// select (for --fail-on).
pub fn list_findings(
    settings: &Settings,
    query: &crate::findings::Query,
    format: FindingsFormat,
) -> anyhow::Result<(String, Vec<Severity>)> {
    let rules = settings.ignore_rules()?;
    let (findings, snapshot_id) = Store::read(&settings.store.path, |store| {
        Ok::<_, crate::store::StoreError>((
            store.findings()?,
            store.latest_complete()?.map(|s| s.snapshot_id),
        ))
    })?;
    let now = chrono::Utc::now();
    let selection = query.select(findings, &rules, now.date_naive());
    let doc = FindingsDocument {
        snapshot_id,
        generated_at: now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        findings: &selection.shown,
    };
    Ok((
        output::findings(&doc, format, selection.hidden),
        selection.failing,
    ))
}
