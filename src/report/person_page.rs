//! `/person` as a page for people: one person's history ([`crate::person::PersonHistory`]) with the
//! report's layout and escaping (maud escapes every value; no script), and a search box.

use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::build::display_time;
use super::html::{CSS, sev_badge};
use crate::person::PersonHistory;

/// Extra rules of the person page, after the report's.
const PAGE_CSS: &str = "form.search{display:flex;flex-wrap:wrap;gap:6px;margin:0 0 14px}\
form.search input{flex:1 1 16em;min-width:0;padding:6px;font:inherit}\
form.search button{padding:6px 14px;font:inherit}\
table.hist{border-collapse:collapse;width:100%;margin:0 0 14px}\
table.hist th,table.hist td{border:1px solid #d0d7de;padding:4px 6px;text-align:left;vertical-align:top}";

/// Renders the history of whom `who` names, or (`h` empty) a page saying the store knows nothing
/// of it. Times to the second, in UTC.
pub fn render(h: &PersonHistory, who: &str) -> String {
    let doc = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "scimdrift — " @if who.is_empty() { "person" } @else { (who) } }
                style { (PreEscaped(CSS)) (PreEscaped(PAGE_CSS)) }
            }
            body {
                div.page {
                    header {
                        @if who.is_empty() { h1 { "Look up a person" } } @else { h1 { "Why can't " (who) " log in?" } }
                        p.meta { "Everything scimdrift's store knows, oldest first (no API calls)." }
                        (search(who))
                    }
                    main {
                        @if who.is_empty() {
                            p { "Everything scimdrift knows about one person: their IdP users, SCIM records and accounts, every finding and remediation step." }
                        } @else if h.is_empty() {
                            p.none { "No IdP user, SCIM record or account in the store is " code { (who) } " or ever carried it. Try another email, a SCIM id, an account id, an IdP user id or a UPN." }
                        } @else {
                            (findings(h))
                            (idp_users(h))
                            (groups(h))
                            (records(h))
                            (accounts(h))
                            (actions(h))
                            h2 #timeline { "Timeline" }
                            (table(None, &["When", "What"], h.timeline().into_iter().map(|e| vec![html! { (display_time(&e.at)) }, html! { (e.what) }]).collect()))
                        }
                    }
                    footer { "scimdrift " (env!("CARGO_PKG_VERSION")) " · the same history as " code { "scimdrift person" } "; JSON with " code { "?format=json" } "." }
                }
            }
        }
    };
    crate::escape::block_owned(doc.into_string())
}

/// A table that stacks into labelled cards on a phone (the report's `stack` style): one row per
/// entry, each cell labelled with its column.
fn table(caption: Option<&str>, columns: &[&str], rows: Vec<Vec<Markup>>) -> Markup {
    html! {
        table.hist.stack {
            @if let Some(c) = caption { caption { (c) } }
            thead { tr { @for c in columns { th scope="col" { (c) } } } }
            tbody {
                @for row in rows {
                    tr { @for (c, cell) in columns.iter().zip(row) { td data-label=(c) { (cell) } } }
                }
            }
        }
    }
}

fn search(who: &str) -> Markup {
    html! {
        // Relative: it works behind a proxy that serves the daemon under a path prefix.
        form.search method="get" action="person" role="search" {
            label for="who" { "Email, SCIM id, account id, IdP user id or UPN" }
            input #who type="search" name="email" value=(who) required;
            button type="submit" { "Look up" }
        }
    }
}

fn findings(h: &PersonHistory) -> Markup {
    html! {
        h2 #findings { "Findings" }
        @if h.findings.is_empty() {
            p.none { "No finding was ever about this person." }
        } @else {
            (table(None, &["Severity", "Kind", "Status", "First seen", "Summary"], h.findings.iter().map(|f| vec![
                html! { @if let Ok(s) = f.severity.parse() { (sev_badge(s)) } @else { (f.severity) } },
                html! { code { (f.kind) } },
                html! { (f.status) @if let Some(r) = &f.resolved_at { " " (display_time(r)) } },
                html! { (display_time(&f.first_seen)) },
                html! { (f.summary) },
            ]).collect()))
        }
    }
}

fn enabled(v: Option<bool>) -> &'static str {
    match v {
        Some(true) => "enabled",
        Some(false) => "disabled",
        None => "unknown",
    }
}

fn until(to: Option<&str>) -> String {
    to.map_or_else(|| "now".into(), display_time)
}

/// The person's groups now, on both sides, the missing and extra ones marked.
fn groups(h: &PersonHistory) -> Markup {
    html! {
        @if !h.groups.is_empty() {
            h2 #groups { "Groups" }
            (table(None, &["Group", "Directory", "In the IdP group", "In the Atlassian (SCIM) group"], h.groups.iter().map(|g| vec![
                html! { (g.name)
                    @match g.mark.as_deref() {
                        Some("missing") => { " " b { "MISSING in Atlassian" } },
                        Some("extra") => { " " b { "EXTRA: left the IdP group" } },
                        _ => {},
                    }
                },
                html! { (g.directory) },
                html! { @match g.in_idp { Some(true) => "yes", Some(false) => "no", None => "not an IdP group" } },
                html! { @if g.in_scim { "yes" } @else if g.scim_group_id.is_some() { "no" } @else { "no SCIM group" } },
            ]).collect()))
        }
    }
}

fn idp_users(h: &PersonHistory) -> Markup {
    html! {
        @if !h.idp_users.is_empty() {
            h2 #idp { "In the IdP" }
            @for u in &h.idp_users {
                h3 { (u.idp.as_deref().unwrap_or("IdP")) " user " code { (u.id) } " · " (u.directory) }
                (table(None, &["From", "Until", "Enabled", "Intended", "Assigned", "Email / UPN"], u.versions.iter().map(|v| vec![
                    html! { (display_time(&v.from)) },
                    html! { (until(v.to.as_deref())) },
                    html! { (enabled(v.enabled)) },
                    html! { @if v.deleted { "deleted" } @else if v.intended { "yes" } @else { "no" } },
                    html! { (v.assigned) },
                    html! { (v.email.as_deref().unwrap_or("—")) @if let Some(upn) = &v.user_principal_name { br; span.muted { (upn) } } },
                ]).collect()))
                @if !u.events.is_empty() {
                    (table(Some("Provisioning events"), &["When", "Action", "Status", "Error"], u.events.iter().map(|e| vec![
                        html! { (display_time(&e.at)) },
                        html! { (e.action) },
                        html! { (e.status) },
                        html! { @if let Some(c) = &e.error_code { code { (c) } " " } (e.reason.as_deref().unwrap_or("")) },
                    ]).collect()))
                }
            }
        }
    }
}

fn records(h: &PersonHistory) -> Markup {
    html! {
        @if !h.records.is_empty() {
            h2 #records { "SCIM records" }
            @for r in &h.records {
                h3 { "Record " code { (r.scim_id) } " · " (r.directory) }
                (table(None, &["From", "Until", "Active", "Email", "Linked account"], r.versions.iter().map(|v| vec![
                    html! { (display_time(&v.from)) },
                    html! { (until(v.to.as_deref())) },
                    html! { @match v.active { Some(true) => "active", Some(false) => "inactive", None => "unknown" } },
                    html! { (v.email.as_deref().unwrap_or("—")) },
                    html! { @if let Some(a) = &v.account_id { code { (a) } } @else { "unlinked" } },
                ]).collect()))
            }
        }
    }
}

fn accounts(h: &PersonHistory) -> Markup {
    html! {
        @if !h.accounts.is_empty() {
            h2 #accounts { "Atlassian accounts" }
            @for a in &h.accounts {
                h3 { "Account " code { (a.account_id) } }
                (table(None, &["From", "Until", "Status", "Email"], a.versions.iter().map(|v| vec![
                    html! { (display_time(&v.from)) },
                    html! { (until(v.to.as_deref())) },
                    html! { "account: " (v.account_status) " · membership: " (v.membership_status) },
                    html! { (v.email.as_deref().unwrap_or("hidden")) },
                ]).collect()))
            }
        }
    }
}

fn actions(h: &PersonHistory) -> Markup {
    html! {
        @if !h.actions.is_empty() {
            h2 #actions { "Remediation" }
            (table(None, &["When", "Action", "Mode", "Result", "Detail"], h.actions.iter().map(|a| vec![
                html! { (display_time(&a.at)) },
                html! { (a.action) },
                html! { (a.mode) },
                html! { (a.result) },
                html! { (a.detail.as_deref().unwrap_or("")) },
            ]).collect()))
        }
    }
}
