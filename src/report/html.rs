//! HTML rendering: one self-contained file (inline CSS; no scripts, fonts or images) that reads in
//! browsers and mail clients and prints. maud escapes every value. Severity shows as a text label
//! with a distinct badge style and border width, so it survives greyscale printing.

use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::build::{display_time, human_minutes};
use super::model::*;
use crate::detect::Severity;
use crate::findings::{AccountView, IdpUserView, ScimUserView};

pub(super) const CSS: &str = r#"
body{margin:0;background:#f3f4f6;color:#1f2328;font:14px/1.45 -apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
.page{max-width:1100px;margin:0 auto;padding:20px 24px 40px;background:#fff;overflow-wrap:anywhere}
h1{font-size:24px;margin:0 0 2px}
h2{font-size:18px;margin:28px 0 10px;padding-bottom:4px;border-bottom:2px solid #1f2328}
h3{font-size:16px;margin:0 0 6px}
a{color:#0b57d0}
code,pre{font-family:"SFMono-Regular",Menlo,Consolas,"DejaVu Sans Mono",monospace;font-size:12.5px}
.meta{color:#57606a;margin:0 0 12px}
.warn{border:3px solid #a40e26;background:#fff0f0;padding:10px 14px;margin:12px 0;font-weight:600}
.warn b{display:inline-block;background:#a40e26;color:#fff;padding:1px 8px;margin-right:8px;letter-spacing:.05em}
.fresh{border:1px solid #d0d7de;background:#f6f8fa;padding:8px 12px;margin:10px 0}
.fresh span{display:inline-block;margin-right:16px}
.nodata{border:3px dashed #a40e26;padding:12px 14px;margin:10px 0;background:#fff}
.nodata b{font-size:18px}
.nodata p{margin:4px 0 0}
.scroll{overflow-x:auto;margin:6px 0 10px}
table{border-collapse:collapse;width:100%;overflow-wrap:normal}
table.kinds{width:auto;min-width:60%}
caption{caption-side:top;text-align:left;font-weight:600;font-size:12.5px;color:#57606a;padding:0 0 3px}
figure.trend{margin:8px 0 4px}
figure.trend svg{display:block;width:100%;height:90px}
figure.trend .axis{display:flex;justify-content:space-between;font-size:12px;color:#57606a}
figure.trend figcaption{font-size:12px;color:#57606a}
.key{white-space:nowrap;margin-right:6px}
.sw{display:inline-block;width:10px;height:10px;margin-right:3px;vertical-align:-1px}
.sw-critical{background:#a40e26;fill:#a40e26}.sw-high{background:#c2410c;fill:#c2410c}
.sw-medium{background:#a16207;fill:#a16207}.sw-low{background:#6b7280;fill:#6b7280}
.vh{position:absolute;width:1px;height:1px;margin:-1px;padding:0;border:0;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
th,td{border:1px solid #d0d7de;padding:4px 7px;text-align:left;vertical-align:top}
td.v{overflow-wrap:anywhere;min-width:5em}
td code{overflow-wrap:anywhere}
td.k code{overflow-wrap:normal}
th{background:#f6f8fa;font-weight:600;font-size:12.5px}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
ul.cards{list-style:none;padding:0;margin:0 0 12px;display:flex;flex-wrap:wrap;gap:6px}
ul.cards li{flex:1 1 17%;min-width:0;text-align:center;padding:10px 4px;border:2px solid #d0d7de;box-sizing:border-box}
ul.cards .big{display:block;font-size:28px;font-weight:700;line-height:1.1}
ul.cards .lbl{font-size:12px;text-transform:uppercase;letter-spacing:.06em;color:#57606a}
ul.cards li.hot{border-color:#1f2328;border-width:3px}
.sev{display:inline-block;min-width:74px;text-align:center;font-size:11px;font-weight:700;letter-spacing:.06em;padding:1px 6px;border:2px solid;white-space:nowrap}
.sev-critical{background:#a40e26;border-color:#a40e26;color:#fff}
.sev-high{background:#f8d7c4;border-color:#c2410c;color:#7c2d12}
.sev-medium{background:#fff;border-color:#a16207;color:#713f12;border-style:dashed}
.sev-low{background:#fff;border-color:#6b7280;color:#374151;border-style:dotted}
.tag{display:inline-block;font-size:11px;font-weight:700;padding:0 6px;border:1px solid #1f2328;margin-left:6px}
.tag-new{background:#1f2328;color:#fff}
.toc ol{margin:4px 0;padding-left:26px}
.toc li{margin:2px 0}
.toc .count{color:#57606a}
.person{border:1px solid #d0d7de;border-left-style:solid;margin:14px 0;padding:10px 14px;break-inside:avoid-page}
.person.p-critical{border-left:10px solid #a40e26}
.person.p-high{border-left:7px solid #c2410c}
.person.p-medium{border-left:4px dashed #a16207}
.person.p-low{border-left:3px dotted #6b7280}
.person .about{color:#57606a;margin:0 0 6px}
.finding{border-top:1px solid #d0d7de;padding:8px 0 2px;break-inside:avoid}
.finding .kind{font-weight:700;margin-left:6px}
.finding .age{color:#57606a;font-size:12px;margin-left:6px}
.finding p{margin:5px 0}
.req{list-style:none;margin:4px 0 6px;padding:0}
.req li{margin:3px 0;padding:4px 8px;background:#f6f8fa;border-left:3px solid #57606a}
.req code{font-weight:600;overflow-wrap:anywhere}
.req .note{color:#57606a;font-size:12.5px}
.m{font-weight:700;margin-right:4px}
.muted{color:#57606a}
.hint{border:1px dashed #57606a;padding:5px 8px;background:#fffbea}
h3 .age{font-weight:400}
.none{color:#57606a;font-style:italic}
.side td{width:50%}
.api{display:inline-block;font-size:11px;font-weight:700;padding:0 5px;margin-right:6px;border:1px solid #1f2328;letter-spacing:.03em}
.api-graph{background:#e8f0fe;border-color:#0b57d0;color:#0b3d91}
.job-bad{font-weight:700;color:#a40e26}
.job-ok{font-weight:700}
.idpwarn{margin:4px 0 10px;padding-left:20px}
.idpwarn li{margin:2px 0}
.portal{margin:4px 0 6px;padding-left:20px}
.portal li{margin:2px 0}
.prov{border-left:3px solid #c2410c;background:#fff7f2;padding:4px 8px;margin:5px 0}
.related{border:1px dashed #c2410c;padding:4px 8px;margin:5px 0}
footer{margin-top:30px;color:#57606a;font-size:12px;border-top:1px solid #d0d7de;padding-top:8px}
@media (max-width:640px){
.page{padding:12px 12px 28px}
h1{font-size:20px}
.person{padding:8px 10px}
.person.p-critical{border-left-width:7px}
ul.cards li{flex-basis:31%}
table.stack,table.stack tbody,table.stack tr,table.stack td{display:block;width:auto;min-width:0}
table.stack thead{display:none}
table.stack tr{border:1px solid #d0d7de;margin:0 0 8px}
table.stack caption{display:block}
table.stack td.k code{overflow-wrap:anywhere}
table.stack td{border:0;border-top:1px solid #eaeef2;overflow-wrap:anywhere}
table.stack td:first-child{border-top:0}
table.stack td[data-label]{display:flow-root;padding-left:116px}
table.stack td[data-label]::before{content:attr(data-label);float:left;width:102px;margin:2px 0 0 -109px;font-size:11px;line-height:1.25;font-weight:600;color:#57606a;text-transform:uppercase;letter-spacing:.03em;overflow-wrap:normal}
table.stack.side td[data-label]{padding-left:7px}
table.stack.side td[data-label]::before{float:none;display:block;width:auto;margin:0}
table.stack.inline td{display:inline-block;border:0}
table.stack.inline td[data-label]{padding-left:7px}
table.stack.inline td[data-label]::before{float:none;display:inline;margin:0 4px 0 0}
.toc ol{padding-left:20px}
main,article.person{display:flex;flex-direction:column}
section.top{order:-1}
article.person>.scroll,article.person>.hint{order:1}
article.person>.up{order:2}
table.kinds{min-width:0;width:100%}
.side td{width:auto}
}
@media print{body{background:#fff}.page{max-width:none;padding:0}a{color:inherit;text-decoration:none}
*{-webkit-print-color-adjust:exact;print-color-adjust:exact}h2{break-after:avoid}}
"#;

pub(super) fn sev_badge(s: Severity) -> Markup {
    let icon = match s {
        Severity::Critical => "▲▲ ",
        Severity::High => "▲ ",
        Severity::Medium => "● ",
        Severity::Low => "○ ",
    };
    html! { span class=(format!("sev sev-{}", s.as_str())) { (icon) (s.as_str().to_uppercase()) } }
}

fn dash(v: Option<&str>) -> Markup {
    match v.filter(|s| !s.is_empty()) {
        Some(s) => html! { (s) },
        None => html! { span.muted { "—" } },
    }
}

/// An email that, when its column is narrow, wraps before the `@` and after dots first (`<wbr>`).
fn email(v: Option<&str>) -> Markup {
    match v.filter(|s| !s.is_empty()) {
        Some(s) => html! {
            @for (i, part) in s.split('@').enumerate() {
                @if i > 0 { wbr; "@" }
                @for (j, piece) in part.split('.').enumerate() {
                    @if j > 0 { "." wbr; }
                    (piece)
                }
            }
        },
        None => html! { span.muted { "—" } },
    }
}

fn active(v: Option<bool>) -> &'static str {
    match v {
        Some(true) => "active",
        Some(false) => "inactive",
        None => "unknown",
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Renders the whole report as one HTML document.
pub fn render(r: &Report) -> String {
    let title = format!("scimdrift report {} — {}", r.date, r.org_id);
    let doc = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) }
                style { (PreEscaped(CSS)) }
            }
            body {
                div.page {
                    header { (header(r)) }
                    main {
                        section.idptop { (idp_health(r)) (idp_user_lists(r)) (groups_section(r)) }
                        section.top { (summary(r)) (toc(r)) }
                        h2 #people { "Findings by person" }
                        @if r.people.is_empty() {
                            p.none { @if has_data(r) { "No open findings." } @else { "No data: there is no complete pull yet." } }
                        }
                        @for (i, p) in r.people.iter().enumerate() { (person(i + 1, p, r)) }
                        (resolved(r))
                        (suppressed(r))
                        (hints(r))
                        (data_quality(r))
                        h2 #remediation { "Remediation" }
                        p { (r.remediation.note) }
                        @for (title, list) in [("Actions taken", &r.remediation.actions), ("Planned in dry run", &r.remediation.dry_run), ("Blocked by a guard (last plan)", &r.remediation.blocked)] {
                            @if !list.is_empty() {
                                h3 { (title) }
                                ul {
                                    @for e in list.iter() {
                                        li { (display_time(&e.at)) " — " strong { (e.action) } " (" (e.kind) ") " (e.targets) ": " em { (e.result) } " — " (e.detail) }
                                    }
                                }
                            }
                        }
                    }
                    footer {
                        "Generated by scimdrift " (env!("CARGO_PKG_VERSION")) " at " (display_time(&r.generated_at))
                        " from the store (no API calls). Requests marked Atlassian go to https://api.atlassian.com, those marked Graph to Microsoft Graph (the URL shown), with the key or token named; keys and tokens are never shown."
                    }
                }
            }
        }
    };
    // maud escapes markup; control characters (bidi overrides included) are shown as escapes.
    crate::escape::block_owned(doc.into_string())
}

fn header(r: &Report) -> Markup {
    let f = &r.freshness;
    let compared = match (r.period.basis, r.period.compared_report) {
        (Basis::Report, Some(d)) => format!("changes since the report of {d}"),
        _ => format!("changes since {}", display_time(&r.period.from)),
    };
    html! {
        h1 { "Daily findings report · " (r.date.to_string()) }
        p.meta { "Org " code { (r.org_id) } " · generated " (display_time(&r.generated_at)) " · " (compared) }
        @for w in &f.warnings {
            div.warn { b { "⚠ WARNING" } (prose(w)) }
        }
        div.fresh {
            @match (&f.last_complete_at, f.snapshot_id) {
                (Some(at), Some(id)) => {
                    span { b { "Data: " } "last complete pull #" (id) " at " (display_time(at))
                        @if let Some(m) = f.age_minutes { " (" (human_minutes(m)) " ago)" } }
                    @for s in &f.sources {
                        span { code { (s.source) } " " (s.records) " records"
                            @if let Some(g) = s.groups { ", " (g) " groups" } }
                    }
                }
                _ => { b { "Data: " } "no complete pull yet" }
            }
        }
        (trend_chart(r))
    }
}

/// The severities of the bars (CSS classes `sw-*` colour them), top of the stack first.
const TREND_SERIES: [&str; 4] = ["critical", "high", "medium", "low"];

fn trend_counts(d: &TrendDay) -> [usize; 4] {
    [d.critical, d.high, d.medium, d.low]
}

/// Open findings by severity per day as an inline SVG (no script, no external asset; scales to
/// the page's width), its numbers also in a table for screen readers.
fn trend_chart(r: &Report) -> Markup {
    const W: usize = 300;
    const H: usize = 90;
    const TOP: usize = 4;
    let days = &r.trend;
    if days.is_empty() {
        return html! {};
    }
    let max = days.iter().map(TrendDay::total).max().unwrap_or(0).max(1);
    let slot = W as f64 / days.len() as f64;
    let scale = (H - TOP) as f64 / max as f64;
    let (first, last) = (&days[0], &days[days.len() - 1]);
    let desc = format!(
        "{} open on {}, {} on {} ({} critical, {} high, {} medium, {} low).",
        first.total(),
        first.date,
        last.total(),
        last.date,
        last.critical,
        last.high,
        last.medium,
        last.low
    );
    html! {
        figure.trend {
            // Stretched to the width (no text inside, which would stretch too: the labels are HTML).
            svg role="img" aria-labelledby="trend-t trend-d" viewBox=(format!("0 0 {W} {H}")) preserveAspectRatio="none" {
                title #trend-t { "Open findings by severity, last " (days.len()) " days" }
                desc #trend-d { (desc) }
                line x1="0" y1=(H) x2=(W) y2=(H) stroke="#57606a" stroke-width="1" vector-effect="non-scaling-stroke" {}
                @for (i, d) in days.iter().enumerate() {
                    @let x = i as f64 * slot + slot * 0.1;
                    @let counts = trend_counts(d);
                    // Stacked from the bottom: low first, critical on top.
                    @for (k, name) in TREND_SERIES.iter().enumerate().rev() {
                        @let below: usize = counts[k + 1..].iter().sum();
                        @if counts[k] > 0 {
                            rect x=(format!("{x:.2}")) y=(format!("{:.2}", H as f64 - (below + counts[k]) as f64 * scale))
                                width=(format!("{:.2}", slot * 0.8)) height=(format!("{:.2}", counts[k] as f64 * scale)) class=(format!("sw-{name}")) {
                                title { (d.date) ": " (counts[k]) " " (name) }
                            }
                        }
                    }
                }
            }
            div.axis { span { (first.date.format("%b %-d").to_string()) } span { "peak " (max) } span { (last.date.format("%b %-d").to_string()) } }
            figcaption {
                "Open findings per day, last " (days.len()) " days: "
                @for name in TREND_SERIES {
                    span.key { span class=(format!("sw sw-{name}")) {} (name) " " }
                }
                "(suppressed ones left out)"
            }
            table.vh {
                caption { "Open findings by severity per day" }
                thead { tr { th scope="col" { "Day" } @for name in TREND_SERIES { th scope="col" { (name) } } } }
                tbody {
                    @for d in days {
                        tr { th scope="row" { (d.date) } @for n in trend_counts(d) { td { (n) } } }
                    }
                }
            }
        }
    }
}

/// Whether the report has data: a complete pull to show.
fn has_data(r: &Report) -> bool {
    r.freshness.snapshot_id.is_some()
}

fn summary(r: &Report) -> Markup {
    let s = &r.summary;
    html! {
        h2 #summary { "Summary" }
        @if !has_data(r) {
            div.nodata {
                b { "No complete pull yet: no data." }
                p { "Nothing can be counted until a pull of every source completes: the findings, new and resolved counts below are not zeros, they are unknown. Check the daemon's log and run "
                    code { "scimdrift once" } "." }
            }
        } @else {
            ul.cards aria-label="Findings at a glance" {
                li class=@if s.open > 0 { "hot" } { span.big { (s.open) } span.lbl { "open" } }
                li class=@if s.new > 0 { "hot" } { span.big { (s.new) } span.lbl { "new" } }
                li { span.big { (s.resolved) } span.lbl { "resolved" } }
                li { span.big { (s.still_open) } span.lbl { "still open" }
                    @if let Some(d) = s.oldest_open_days { br; span.lbl { "oldest " (d) " days" } } }
                li { span.big { (s.suppressed) } span.lbl { "suppressed" } }
            }
        }
        @if !s.by_kind.is_empty() {
            div.scroll {
                table.kinds.stack.inline {
                    caption { "Open findings by kind" }
                    thead { tr { th { "Severity" } th { "Kind" } th.n { "Open" } th.n { "New" } th.n { "Suppressed" } } }
                    tbody {
                        @for k in &s.by_kind {
                            tr {
                                td { (sev_badge(k.severity)) }
                                td { code { (k.kind.as_str()) } }
                                td.n data-label="open" { (k.open) }
                                td.n data-label="new" { @if k.new > 0 { b { (k.new) } } @else { (k.new) } }
                                td.n data-label="suppressed" { (k.suppressed) }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn toc(r: &Report) -> Markup {
    html! {
        nav.toc {
            h2 #contents { "Contents" }
            ol {
                @if !r.idp.is_empty() {
                    li { a href="#idp" { "IdP provisioning" } " " span.count { "(" (plural(r.idp.len(), "directory", "directories")) ")" } }
                }
                li { a href="#people" { "Findings by person" } " " span.count { "(" (plural(r.people.len(), "person", "people")) ")" }
                    ol {
                        @for p in &r.people {
                            li {
                                (sev_badge(p.severity)) " "
                                a href=(format!("#{}", p.anchor)) { (p.title()) }
                                " " span.count { "— " (plural(p.findings.len(), "finding", "findings"))
                                    @let new = p.findings.iter().filter(|f| f.change == Change::New).count();
                                    @if new > 0 { ", " b { (new) " new" } } }
                            }
                        }
                    }
                }
                li { a href="#resolved" { "Resolved since the last report" } " " span.count { "(" (r.resolved.len()) ")" } }
                li { a href="#suppressed" { "Suppressed" } " " span.count { "(" (r.suppressed.len()) ")" } }
                @if !r.hints.is_empty() {
                    li { a href="#hints" { "Possibly the same person" } " " span.count { "(" (r.hints.len()) ")" } }
                }
                li { a href="#remediation" { "Remediation" } }
            }
        }
    }
}

fn subjects_table(p: &Person, r: &Report) -> Markup {
    html! {
        @if p.subjects.is_empty() {
            @if !p.idp_users.is_empty() { p.muted { "No SCIM record and no Atlassian account." } }
        } @else {
        div.scroll {
            table.stack.subjects {
                caption { "Records and accounts" }
                thead {
                    tr {
                        th { "Directory" } th { "SCIM id" } th { "externalId" } th { "Active" } th { "Record email" }
                        th { "Linked account" } th { "Account status" } th { "Account email" } th { "Name" }
                    }
                }
                tbody {
                    @for row in &p.subjects {
                        tr {
                            @if let Some(u) = &row.scim_user {
                                td data-label="Directory" { (u.directory) }
                                td.v data-label="SCIM id" { code { (u.scim_id) } }
                                td.v data-label="externalId" { (dash(u.external_id.as_deref())) }
                                td data-label="Active" { (active(u.active)) }
                                td.v data-label="Record email" { (email(u.email.as_deref())) }
                                td.v data-label="Linked account" { @match &u.account_id { Some(a) => code { (a) }, None => b { "unlinked" } } }
                            } @else {
                                td.muted colspan="5" data-label="SCIM record" { "no SCIM record" }
                                td.v data-label="Account" { @if let Some(a) = &row.account { code { (a.account_id) } } }
                            }
                            @match &row.account {
                                Some(a) => {
                                    td data-label="Account status" { "account: " (a.account_status) " · membership: " (a.membership_status)
                                        @if let Some(c) = &a.claim_status { br; span.muted { (c) } }
                                        br; a href=(r.links.account(&r.org_id, &a.account_id, a.claim_status.as_deref() == Some("managed"))) { "open in admin hub" } }
                                    td.v data-label="Account email" { (email(a.email.as_deref())) }
                                    td.v data-label="Name" { (dash(a.name.as_deref().or(row.scim_user.as_ref().and_then(|u| u.display_name.as_deref())))) }
                                }
                                None => {
                                    td data-label="Account status" { @if row.scim_user.as_ref().is_some_and(|u| u.account_id.is_some()) { b { "not in org" } } @else { span.muted { "—" } } }
                                    td data-label="Account email" { span.muted { "—" } }
                                    td.v data-label="Name" { (dash(row.scim_user.as_ref().and_then(|u| u.display_name.as_deref()))) }
                                }
                            }
                        }
                    }
                }
            }
        }
        }
    }
}

/// Text scimdrift wrote, its `code` spans rendered as code (never as literal backticks).
fn prose(text: &str) -> Markup {
    html! {
        @for (is_code, part) in super::model::code_spans(text) {
            @if is_code { code { (part) } } @else { (part) }
        }
    }
}

fn requests(f: &ReportFinding) -> Markup {
    html! {
        @if !f.requests.is_empty() {
            ol.req {
                @for q in &f.requests {
                    li {
                        span class=(format!("api api-{}", q.api_label().to_lowercase())) { (q.api_label()) }
                        @if q.api == GRAPH_API {
                            code { span.m { (q.method) } (breakable_path(&format!("{}{}", q.base_url, q.path))) }
                        } @else {
                            code { span.m { (q.method) } (breakable_path(&q.path)) }
                        }
                        @if let Some(b) = &q.body { " " code { (b) } }
                        br;
                        span.note { (prose(&q.note)) " · " (prose(&q.key)) }
                    }
                }
            }
        }
    }
}

/// A request path that wraps after its slashes before anywhere else (`<wbr>`), each part escaped.
fn breakable_path(path: &str) -> Markup {
    html! {
        @for (i, part) in path.split('/').enumerate() {
            @if i > 0 { "/" wbr; }
            (part)
        }
    }
}

fn change_tag(f: &ReportFinding) -> Markup {
    html! {
        @match f.change {
            Change::New => span.tag.tag-new { "NEW" },
            Change::StillOpen => span.age { "open " @if let Some(d) = f.age_days { (plural(d.max(0) as usize, "day", "days")) } @else { "—" } " · since " (display_time(&f.first_seen)) },
            Change::Resolved => span.tag { "RESOLVED" },
            Change::Suppressed => span.tag { "SUPPRESSED" },
        }
        @if !f.undetermined.is_empty() {
            " "
            span.tag title="The latest snapshot could not read what this finding depends on: it kept its state (unknown is never evidence) and is never remediated until decided." {
                "UNDETERMINED: " (f.undetermined.join(", ")) " unreadable"
            }
        }
    }
}

/// An email as one shell word (single quotes; a quote inside closed and escaped).
fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

fn person(n: usize, p: &Person, r: &Report) -> Markup {
    let hints = &r.hints;
    let new = p
        .findings
        .iter()
        .filter(|f| f.change == Change::New)
        .count();
    let hinted: Vec<&NameHint> = hints
        .iter()
        .filter(|h| {
            p.subjects.iter().any(|s| {
                s.account
                    .as_ref()
                    .is_some_and(|a| a.account_id == h.unmanaged.account.account_id)
            })
        })
        .collect();
    html! {
        article class=(format!("person p-{}", p.severity.as_str())) id=(p.anchor) {
            h3 { (sev_badge(p.severity)) " " (n) ". " (p.title())
                " " span.age { (plural(p.findings.len(), "finding", "findings")) }
                @if new > 0 { span.tag.tag-new { (new) " NEW" } } }
            @if let Some(email) = &p.email {
                @match r.links.person(email) {
                    Some(link) => p.history { "Whole history: " a href=(link) { "open in scimdrift" } ", or "
                        code { "scimdrift person " (shell_quote(email)) } },
                    None => p.history { "Whole history: run " code { "scimdrift person " (shell_quote(email)) }
                        " where scimdrift runs (with " code { "[report] public_url" } " set, this links to the daemon's page)." },
                }
            }
            @if !p.names.is_empty() || !p.other_emails.is_empty() {
                p.about {
                    @if !p.names.is_empty() { "Names: " (p.names.join(", ")) }
                    @if !p.names.is_empty() && !p.other_emails.is_empty() { " · " }
                    @if !p.other_emails.is_empty() { "Also: " (p.other_emails.join(", ")) }
                }
            }
            (subjects_table(p, r))
            (idp_users_table(p, r))
            (person_groups(p))
            @for h in hinted {
                p.hint { b { "Hint: " } "a synced account has the same name, " i { (h.name) } " ("
                    @for (i, a) in h.synced.iter().enumerate() { @if i > 0 { ", " } (a.account.email.as_deref().unwrap_or(&a.account.account_id)) }
                    "): maybe one person under two emails. "
                    a href="#hints" { "Compare side by side" } }
            }
            @for f in &p.findings {
                div.finding {
                    div { (sev_badge(f.severity)) span.kind { (f.kind.as_str()) } (change_tag(f)) }
                    p { (f.summary) }
                    (provisioning(f))
                    (related(f))
                    p { b { "Fix: " } (f.fix_steps) }
                    (portal_steps(f))
                    (requests(f))
                }
            }
            p.up { a href="#contents" { "↑ contents" } }
        }
    }
}

fn subjects_cell(users: &[ScimUserView], accounts: &[AccountView], idp: &[IdpUserView]) -> Markup {
    html! {
        @for u in idp {
            "IdP user " code { (u.id) } " (" (u.directory) ", " (u.user_principal_name.as_deref().or(u.email.as_deref()).unwrap_or("—")) ")" br;
        }
        @for u in users {
            "record " code { (u.scim_id) } " (" (u.directory) ", " (u.email.as_deref().unwrap_or("—")) ")" br;
        }
        @for a in accounts {
            "account " code { (a.account_id) } " (" (a.email.as_deref().unwrap_or("—")) ")" br;
        }
    }
}

fn resolved(r: &Report) -> Markup {
    html! {
        h2 #resolved { "Resolved since the last report" }
        @if r.resolved.is_empty() { p.none { "None." } } @else {
            div.scroll {
                table.stack {
                    caption.vh { "Findings resolved since the last report" }
                    thead { tr { th { "Severity" } th { "Kind" } th { "Subjects" } th { "Resolved at" } th { "Summary" } } }
                    tbody {
                        @for f in &r.resolved {
                            tr {
                                td { (sev_badge(f.severity)) }
                                td.k data-label="Kind" { code { (f.kind.as_str()) } }
                                td.v data-label="Subjects" { (subjects_cell(&f.scim_users, &f.accounts, &f.idp_users)) }
                                td data-label="Resolved at" { (dash(f.resolved_at.as_deref().map(display_time).as_deref())) }
                                td.v data-label="Summary" { (f.summary) }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn suppressed(r: &Report) -> Markup {
    html! {
        h2 #suppressed { "Suppressed" }
        @if r.suppressed.is_empty() { p.none { "None." } } @else {
            div.scroll {
                table.stack {
                    caption.vh { "Findings suppressed by an ignore rule" }
                    thead { tr { th { "Severity" } th { "Kind" } th { "Subjects" } th { "Reason" } th { "Rule" } th { "Expires" } } }
                    tbody {
                        @for f in &r.suppressed {
                            tr {
                                td { (sev_badge(f.severity)) }
                                td.k data-label="Kind" { code { (f.kind.as_str()) } }
                                td.v data-label="Subjects" { (subjects_cell(&f.scim_users, &f.accounts, &f.idp_users)) }
                                td.v data-label="Reason" { (dash(f.suppressed_by.as_ref().map(|s| s.reason.as_str()))) }
                                td.v data-label="Rule" { (dash(f.suppressed_by.as_ref().map(|s| s.rule.as_str()))) }
                                td data-label="Expires" { (f.suppressed_by.as_ref().and_then(|s| s.expires.as_deref()).unwrap_or("never")) }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn hint_account(a: &HintAccount) -> Markup {
    html! {
        code { (a.account.account_id) } br;
        (dash(a.account.email.as_deref())) br;
        "account: " (a.account.account_status) " · membership: " (a.account.membership_status)
        @if let Some(c) = &a.account.claim_status { " · " (c) }
        br;
        span.muted { "added to org " (a.added_to_org.as_deref().map(display_time).unwrap_or_else(|| "—".into())) }
        @for u in &a.linked_records {
            br; "linked from " (u.directory) " record " code { (u.scim_id) } " (" (u.email.as_deref().unwrap_or("—")) ")"
        }
    }
}

fn data_quality(r: &Report) -> Markup {
    let dq = &r.data_quality;
    html! {
        @if dq.total > 0 {
            h2 #data-quality { "Data quality" }
            p { (dq.total) " field(s) of the last complete pull could not be read. Each was left unknown and its record kept (an unknown "
                code { "active" } " is neither active nor inactive); fix the attribute mapping in the IdP or ignore it." }
            div.scroll {
                table.kinds.stack.inline {
                    caption { "Unreadable fields by source" }
                    thead { tr { th { "Source" } th { "Field" } th.n { "Records" } } }
                    tbody {
                        @for f in &dq.by_field {
                            tr { td { code { (f.source) } } td { code { (f.field) } } td.n data-label="records" { (f.records) } }
                        }
                    }
                }
            }
            @if !dq.notes.is_empty() {
                h3 { "First records" }
                ul {
                    @for n in &dq.notes {
                        li { code { (n.source) } " " code { (n.id) } " " code { (n.field) } ": " (n.problem) }
                    }
                }
            }
        }
    }
}

fn hints(r: &Report) -> Markup {
    html! {
        @if !r.hints.is_empty() {
            h2 #hints { "Possibly the same person" }
            p { "An unmanaged account whose display name equals a synced account's may be one person under two emails (e.g. after a merger, the account with the history is not the synced one). Compare them before deactivating anything." }
            @for h in &r.hints {
                div.scroll {
                    table.side.stack {
                        caption { "Same display name: " (h.name) }
                        thead { tr { th { "Unmanaged account" } th { "Synced account(s) with the same name" } } }
                        tbody {
                            tr {
                                td.v data-label="Unmanaged account" { (hint_account(&h.unmanaged)) }
                                td.v data-label="Synced account(s) with the same name" { @for (i, a) in h.synced.iter().enumerate() { @if i > 0 { hr; } (hint_account(a)) } }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn yes_no(v: Option<bool>, yes: &'static str, no: &'static str) -> &'static str {
    match v {
        Some(true) => yes,
        Some(false) => no,
        None => "unknown",
    }
}

/// The health of each directory's IdP provisioning job, at the top of the report.
fn idp_health(r: &Report) -> Markup {
    html! {
        @if !r.idp.is_empty() {
            h2 #idp { "IdP provisioning" }
            @for h in &r.idp {
                @if !h.warnings.is_empty() {
                    ul.idpwarn {
                        @for w in &h.warnings { li { b { "⚠ " } (prose(w)) } }
                    }
                }
            }
            div.scroll {
                table.stack.idp {
                    caption { "Provisioning job per directory (as of each directory's last complete IdP pull)" }
                    thead {
                        tr {
                            th { "Directory" } th { "Job status" } th { "Last completed cycle" } th { "Interval" }
                            th { "Provisioning log" } th { "Attribute mapping" } th.n { "Intended users" } th.n { "Assigned groups" }
                        }
                    }
                    tbody {
                        @for h in &r.idp {
                            tr {
                                td data-label="Directory" { (h.directory) br; span.muted { (h.idp) @if h.scope_all { " · scope all" } } }
                                td.v data-label="Job status" {
                                    @if let Some(why) = &h.stalled {
                                        span.job-bad { "⚠ " (h.status) } br;
                                        (why)
                                    } @else if h.status == "not_pulled" {
                                        span.muted { "not pulled yet" }
                                    } @else {
                                        span.job-ok { "✓ " (h.status) }
                                    }
                                    @if let Some(j) = &h.job {
                                        @if let Some(since) = &j.quarantined_since { br; "since " (display_time(since)) }
                                        @if let Some(next) = &j.next_attempt { br; span.muted { "next attempt " (display_time(next)) } }
                                        @if let Some(e) = &j.error { br; span.muted { (e) } }
                                        @if let Some(n) = j.escrowed.filter(|n| *n > 0) { br; b { (plural(n as usize, "change", "changes")) " held" } span.muted { " (escrowed: deletions beyond the accidental-deletions threshold, or entries to retry)" } }
                                        br; span.muted { "job " code { (j.job_id) } }
                                    }
                                    @if let Some(app) = &h.app {
                                        br; span.muted { "app " (app.label.as_deref().unwrap_or("")) " " code { (app.id) } }
                                        @match &app.features {
                                            Some(f) => { br; span.muted { "push: " (f.join(", ")) } }
                                            None => { br; b { "push features unknown" } }
                                        }
                                        @for off in &app.features_off { br; b { "⚠ " (off) } }
                                    }
                                    @if let Some(a) = &h.stalled_finding { br; a href=(format!("#{a}")) { "the finding and its fix" } }
                                }
                                td data-label="Last completed cycle" {
                                    @match h.job.as_ref().and_then(|j| j.last_completed_cycle.as_deref()) {
                                        Some(t) => { (display_time(t)) }
                                        None => { @if h.job.is_some() { b { "never" } } @else { span.muted { "—" } } }
                                    }
                                    @if let Some(s) = h.job.as_ref().and_then(|j| j.last_execution_state.as_deref()) { br; span.muted { "last run: " (s) } }
                                    @if h.skipped_users > 0 { br; b { (plural(h.skipped_users, "user", "users")) " skipped" } span.muted { " (latest log event)" } }
                                }
                                td data-label="Interval" {
                                    @match h.job.as_ref().map(|j| j.interval_minutes) {
                                        Some(Some(m)) => { (m) " min" }
                                        Some(None) => { span.muted { "not said (40 min assumed)" } }
                                        None => { span.muted { "—" } }
                                    }
                                }
                                td.v data-label="Provisioning log" {
                                    (yes_no(h.logs_readable, "read", "NOT readable"))
                                    @if let Some(t) = &h.logs_read_at { br; span.muted { "last read " (display_time(t)) } }
                                }
                                td.v data-label="Attribute mapping" {
                                    @match &h.mapping {
                                        Some(m) => {
                                            @if m.derived { "read from the job" } @else { b { "assumed" } }
                                            br; span.muted { (m.email) " → email, " (m.external_id) " → externalId, " (m.user_name) " → userName" }
                                            @if let Some(n) = &m.note { br; span.muted { (n) } }
                                        }
                                        None => { span.muted { "—" } }
                                    }
                                }
                                td.n data-label="Intended users" {
                                    (h.intended_users) br; span.muted { (h.intended_enabled_users) " enabled" }
                                    @if h.intended_enabled_unknown > 0 { br; b { (h.intended_enabled_unknown) " unknown" } }
                                }
                                td.n data-label="Assigned groups" { (h.assigned_groups) br; span.muted { (h.security_enabled_groups) " security" } }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Per directory: the intended users whose enabled state is unknown, and the users not provisioned
/// by design (members of an assigned group that confers no intent), each named.
fn idp_user_lists(r: &Report) -> Markup {
    html! {
        @for h in &r.idp {
            @if h.intended_enabled_unknown > 0 {
                p.idpnote {
                    b { (h.directory) ": " (plural(h.intended_enabled_unknown, "intended user", "intended users")) " of unknown enabled state" }
                    " (accountEnabled null or unreadable: neither enabled nor disabled, so no finding is raised or resolved about them): "
                    (h.intended_enabled_unknown_users.join(", "))
                    @if h.intended_enabled_unknown > h.intended_enabled_unknown_users.len() { ", …" }
                }
            }
            @if h.not_provisioned_by_design_total > 0 {
                details.idpnote {
                    summary { b { (h.directory) ": " (plural(h.not_provisioned_by_design_total, "user", "users")) " not provisioned by design" } " (members of an assigned group that is not security-enabled, which confers no intent)" }
                    ul {
                        @for b in &h.not_provisioned_by_design { li { (b.user) " — via " (b.group) } }
                        @if h.not_provisioned_by_design_total > h.not_provisioned_by_design.len() { li { "…" } }
                    }
                }
            }
        }
    }
}

/// A person's IdP users beside their records and accounts.
fn idp_users_table(p: &Person, r: &Report) -> Markup {
    html! {
        @if !p.idp_users.is_empty() {
            div.scroll {
                table.stack.idpusers {
                    caption { "IdP users" }
                    thead {
                        tr { th { "Directory" } th { "UPN" } th { "Email (mapped)" } th { "Enabled" } th { "Intended" } th { "Deleted" } th { "Object id" } th { "Name" } }
                    }
                    tbody {
                        @for u in &p.idp_users {
                            tr {
                                td data-label="Directory" { (u.directory) br; span.muted { (u.idp) } }
                                td.v data-label="UPN" { (email(u.user_principal_name.as_deref())) }
                                td.v data-label="Email (mapped)" { (email(u.email.as_deref())) }
                                td data-label="Enabled" { (yes_no(u.enabled, "enabled", "DISABLED")) }
                                td data-label="Intended" {
                                    @if u.intended { "intended" } @else { b { "not intended" } }
                                    @if u.nested_only { br; span.muted { "nested group only" } }
                                }
                                td data-label="Deleted" { @if u.deleted { b { "DELETED" } } @else { "no" } }
                                td.v data-label="Object id" { code { (u.id) }
                                    @if let Some(link) = r.links.idp_user(&u.idp, &u.id) { br; a href=(link) { "open in the Entra admin center" } } }
                                td.v data-label="Name" { (dash(u.display_name.as_deref())) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// A person's groups on both sides, the missing and extra ones marked.
fn person_groups(p: &Person) -> Markup {
    html! {
        @if !p.groups.is_empty() {
            div.scroll {
                table.stack.groups {
                    caption { "Groups (product access comes from them)" }
                    thead { tr { th { "Group" } th { "Directory" } th { "In the IdP group" } th { "In the Atlassian (SCIM) group" } } }
                    tbody {
                        @for g in &p.groups {
                            tr {
                                td.v data-label="Group" { (g.name)
                                    @match g.mark.as_deref() {
                                        Some("missing") => { " " span.tag.tag-new { "MISSING in Atlassian" } },
                                        Some("extra") => { " " span.tag.tag-new { "EXTRA: left the IdP group" } },
                                        _ => {},
                                    }
                                }
                                td data-label="Directory" { (g.directory) }
                                td data-label="In the IdP group" {
                                    @match g.in_idp { Some(true) => "yes", Some(false) => "no", None => span.muted { "not an IdP group" } }
                                }
                                td data-label="In the Atlassian (SCIM) group" {
                                    @match (g.in_scim, g.scim_group_id.is_some()) {
                                        (true, _) => "yes",
                                        (false, true) => "no",
                                        (false, false) => span.muted { "no SCIM group" },
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The Groups section: each pushed IdP group beside its SCIM group.
fn groups_section(r: &Report) -> Markup {
    html! {
        @if !r.groups.is_empty() {
            div.scroll {
                table.stack.groups {
                    caption { "Pushed groups: the IdP's groups beside the SCIM groups that grant product access" }
                    thead { tr { th { "IdP group" } th { "Directory" } th { "SCIM group" } th { "Joined by" } th { "Members (IdP / SCIM)" } th { "Open findings" } } }
                    tbody {
                        @for g in &r.groups {
                            tr {
                                td.v data-label="IdP group" { (g.name.as_deref().unwrap_or(&g.idp_group_id)) br; code { (g.idp_group_id) } }
                                td data-label="Directory" { (g.directory) }
                                td.v data-label="SCIM group" {
                                    @match &g.scim_group_id {
                                        Some(id) => { (g.scim_name.as_deref().unwrap_or("")) br; code { (id) } },
                                        None if g.ambiguous => span.muted { "ambiguous: two SCIM groups match (undecided)" },
                                        None => "none",
                                    }
                                }
                                td data-label="Joined by" { @match g.joined_by { Some(k) => code { (k.as_str()) }, None => "—" } }
                                td data-label="Members (IdP / SCIM)" { (g.idp_members) " / " (g.scim_members) }
                                td data-label="Open findings" {
                                    @if g.not_provisioned { b { "not provisioned" } }
                                    @else if g.missing + g.extra == 0 { "none" }
                                    @else { (g.missing) " missing, " (g.extra) " extra" }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The provisioning log event that explains a finding.
fn provisioning(f: &ReportFinding) -> Markup {
    html! {
        @if let Some(e) = &f.provisioning {
            p.prov {
                b { "Provisioning log: " } (e.status)
                @if let Some(c) = &e.error_code { " " code { (c) } }
                " at " (display_time(&e.at))
                @if let Some(r) = &e.reason { br; (r) }
            }
        }
    }
}

/// The findings shown together with this one.
fn related(f: &ReportFinding) -> Markup {
    html! {
        @for x in &f.related {
            p.related { b { "Shown together with " code { (x.kind.as_str()) } ": " } (x.note) }
        }
    }
}

/// The fix by hand in the IdP's admin console.
fn portal_steps(f: &ReportFinding) -> Markup {
    html! {
        @if !f.portal_steps.is_empty() {
            ol.portal {
                @for st in &f.portal_steps {
                    li { b { (st.console) } " → " (st.path) ": " (st.note) }
                }
            }
        }
    }
}
