//! Markdown rendering, for tickets and chat. Every value from outside is escaped (Markdown
//! punctuation and HTML tags), table cells also escape `|` and newlines; control characters show
//! as `\u{1b}` (see [`crate::escape`]).

use std::fmt::Write;

use super::build::{display_time, human_minutes};
use super::model::*;
use crate::findings::{AccountView, IdpUserView, ScimUserView};

/// Escapes text so it renders literally (CommonMark backslash escapes), on one line.
pub(crate) fn md(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '~' | '#' | '&' | '!' => {
                out.push('\\');
                out.push(c);
            }
            '\r' | '\n' | '\t' => out.push(' '),
            c if crate::escape::is_control(c) => {
                // Shown as `\u{1b}`: the backslash escaped, so it renders literally.
                out.push('\\');
                crate::escape::push_escaped(&mut out, c);
            }
            c => out.push(c),
        }
    }
    out
}

/// A code span holding `text` literally (fenced by more backticks than it contains); in a table
/// cell `|` is escaped too, as GFM requires even inside code.
pub(crate) fn code(text: &str, in_table: bool) -> String {
    let text: String = text
        .chars()
        .map(|c| if matches!(c, '\r' | '\n') { ' ' } else { c })
        .collect();
    let text = crate::escape::line(&text).into_owned();
    let text = if in_table {
        text.replace('|', "\\|")
    } else {
        text
    };
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest + 1);
    let pad = if text.starts_with('`') || text.ends_with('`') || text.is_empty() {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{text}{pad}{fence}")
}

/// Text scimdrift wrote: its `code` spans as code spans, the rest escaped ([`md`]).
pub(crate) fn prose(text: &str) -> String {
    super::model::code_spans(text)
        .into_iter()
        .map(|(is_code, part)| if is_code { code(part, false) } else { md(part) })
        .collect()
}

fn opt(v: Option<&str>) -> String {
    v.filter(|s| !s.is_empty())
        .map(md)
        .unwrap_or_else(|| "—".into())
}

fn active(v: Option<bool>) -> &'static str {
    match v {
        Some(true) => "active",
        Some(false) => "inactive",
        None => "unknown",
    }
}

pub(crate) fn severity_label(s: crate::detect::Severity) -> String {
    s.as_str().to_uppercase()
}

fn change_label(f: &ReportFinding) -> String {
    let label = change_only(f);
    if f.undetermined.is_empty() {
        return label;
    }
    format!(
        "{label} · undetermined ({} unreadable: kept as it was)",
        f.undetermined
            .iter()
            .map(|x| md(x))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

fn change_only(f: &ReportFinding) -> String {
    match (f.change, f.age_days) {
        (Change::New, _) => "NEW".into(),
        (Change::StillOpen, Some(d)) => format!("open {d} day{}", if d == 1 { "" } else { "s" }),
        (Change::StillOpen, None) => "still open".into(),
        (Change::Resolved, _) => "resolved".into(),
        (Change::Suppressed, _) => "suppressed".into(),
    }
}

fn subjects_of(users: &[ScimUserView], accounts: &[AccountView], idp: &[IdpUserView]) -> String {
    let mut parts: Vec<String> = idp
        .iter()
        .map(|u| {
            format!(
                "IdP user {} ({}, {})",
                code(&u.id, true),
                md(&u.directory),
                opt(u.user_principal_name.as_deref().or(u.email.as_deref()))
            )
        })
        .collect();
    parts.extend(users.iter().map(|u| {
        format!(
            "record {} ({}, {})",
            code(&u.scim_id, true),
            md(&u.directory),
            opt(u.email.as_deref())
        )
    }));
    parts.extend(accounts.iter().map(|a| {
        format!(
            "account {} ({})",
            code(&a.account_id, true),
            opt(a.email.as_deref())
        )
    }));
    parts.join("; ")
}

/// Renders the whole report.
pub fn render(r: &Report) -> String {
    let mut s = String::new();
    let _ = write_report(&mut s, r);
    s
}

fn write_report(s: &mut String, r: &Report) -> std::fmt::Result {
    writeln!(s, "# scimdrift findings report — {}\n", r.date)?;
    let compared = match (r.period.basis, r.period.compared_report) {
        (Basis::Report, Some(d)) => format!("changes since the report of {d}"),
        _ => format!("changes since {}", md(&display_time(&r.period.from))),
    };
    writeln!(
        s,
        "Org {} · generated {} · {compared}\n",
        code(&r.org_id, false),
        md(&display_time(&r.generated_at))
    )?;
    for w in &r.freshness.warnings {
        writeln!(s, "> **⚠ WARNING:** {}\n", prose(w))?;
    }
    let f = &r.freshness;
    match (&f.last_complete_at, f.snapshot_id) {
        (Some(at), Some(id)) => {
            let sources = f
                .sources
                .iter()
                .map(|x| {
                    let groups = x
                        .groups
                        .map(|g| format!(", {g} groups"))
                        .unwrap_or_default();
                    format!("{} {} records{groups}", md(&x.source), x.records)
                })
                .collect::<Vec<_>>()
                .join(" · ");
            writeln!(
                s,
                "**Data:** last complete pull #{id} at {}{} · {sources}\n",
                md(&display_time(at)),
                f.age_minutes
                    .map(|m| format!(" ({} ago)", human_minutes(m)))
                    .unwrap_or_default()
            )?;
        }
        _ => writeln!(s, "**Data:** no complete pull yet\n")?,
    }
    if let (Some(first), Some(last)) = (r.trend.first(), r.trend.last()) {
        writeln!(
            s,
            "**Open findings, last {} days:** {} on {} → {} on {} (critical {} → {}, high {} → {}, medium {} → {}, low {} → {}; suppressed ones left out)\n",
            r.trend.len(),
            first.total(),
            first.date,
            last.total(),
            last.date,
            first.critical,
            last.critical,
            first.high,
            last.high,
            first.medium,
            last.medium,
            first.low,
            last.low
        )?;
    }

    write_idp(s, r)?;
    write_groups(s, r)?;

    let sum = &r.summary;
    writeln!(s, "## Summary\n")?;
    let has_data = r.freshness.snapshot_id.is_some();
    if !has_data {
        writeln!(
            s,
            "**No complete pull yet: no data.** Nothing can be counted until a pull of every source \
             completes: the findings are unknown, not zero. Check the daemon's log and run `scimdrift once`.\n"
        )?;
    }
    let sev = sum
        .by_severity
        .iter()
        .filter(|x| x.open > 0)
        .map(|x| format!("{} {}", x.open, x.severity))
        .collect::<Vec<_>>()
        .join(", ");
    if has_data {
        writeln!(
            s,
            "**{} open**{} · **{} new** · **{} resolved** · {} still open{} · {} suppressed · {} people\n",
            sum.open,
            if sev.is_empty() {
                String::new()
            } else {
                format!(" ({sev})")
            },
            sum.new,
            sum.resolved,
            sum.still_open,
            sum.oldest_open_days
                .map(|d| format!(" (oldest {d} days)"))
                .unwrap_or_default(),
            sum.suppressed,
            sum.people
        )?;
    }
    if !sum.by_kind.is_empty() {
        writeln!(s, "| severity | kind | open | new | suppressed |")?;
        writeln!(s, "|---|---|---:|---:|---:|")?;
        for k in &sum.by_kind {
            writeln!(
                s,
                "| {} | {} | {} | {} | {} |",
                severity_label(k.severity),
                code(k.kind.as_str(), true),
                k.open,
                k.new,
                k.suppressed
            )?;
        }
        writeln!(s)?;
    }

    writeln!(s, "## Findings by person\n")?;
    if r.people.is_empty() {
        if has_data {
            writeln!(s, "No open findings.\n")?;
        } else {
            writeln!(s, "No data: there is no complete pull yet.\n")?;
        }
    }
    for (i, p) in r.people.iter().enumerate() {
        write_person(s, i + 1, p, r)?;
    }

    writeln!(s, "## Resolved since the last report\n")?;
    if r.resolved.is_empty() {
        writeln!(s, "None.\n")?;
    } else {
        writeln!(s, "| severity | kind | subjects | resolved at | summary |")?;
        writeln!(s, "|---|---|---|---|---|")?;
        for f in &r.resolved {
            writeln!(
                s,
                "| {} | {} | {} | {} | {} |",
                severity_label(f.severity),
                code(f.kind.as_str(), true),
                subjects_of(&f.scim_users, &f.accounts, &f.idp_users),
                opt(f.resolved_at.as_deref().map(display_time).as_deref()),
                md(&f.summary)
            )?;
        }
        writeln!(s)?;
    }

    writeln!(s, "## Suppressed\n")?;
    if r.suppressed.is_empty() {
        writeln!(s, "None.\n")?;
    } else {
        writeln!(
            s,
            "| severity | kind | subjects | reason | rule | expires |"
        )?;
        writeln!(s, "|---|---|---|---|---|---|")?;
        for f in &r.suppressed {
            let by = f.suppressed_by.as_ref();
            writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} |",
                severity_label(f.severity),
                code(f.kind.as_str(), true),
                subjects_of(&f.scim_users, &f.accounts, &f.idp_users),
                opt(by.map(|b| b.reason.as_str())),
                opt(by.map(|b| b.rule.as_str())),
                by.and_then(|b| b.expires.as_deref())
                    .map(md)
                    .unwrap_or_else(|| "never".into())
            )?;
        }
        writeln!(s)?;
    }

    let dq = &r.data_quality;
    if dq.total > 0 {
        writeln!(s, "## Data quality\n")?;
        writeln!(
            s,
            "{} field(s) of the last complete pull could not be read: each was left unknown and its record kept.\n",
            dq.total
        )?;
        writeln!(s, "| source | field | records |")?;
        writeln!(s, "|---|---|---:|")?;
        for f in &dq.by_field {
            writeln!(
                s,
                "| {} | {} | {} |",
                code(&f.source, true),
                code(&f.field, true),
                f.records
            )?;
        }
        writeln!(s)?;
        for n in &dq.notes {
            writeln!(
                s,
                "- {} {} {}: {}",
                code(&n.source, false),
                code(&n.id, false),
                code(&n.field, false),
                md(&n.problem)
            )?;
        }
        writeln!(s)?;
    }

    if !r.hints.is_empty() {
        writeln!(s, "## Possibly the same person (display names match)\n")?;
        writeln!(
            s,
            "An unmanaged account whose name equals a synced account's may be one person under two emails \
             (e.g. after a merger): compare them before deactivating anything.\n"
        )?;
        writeln!(
            s,
            "| | account | email | status | added to org | linked records |"
        )?;
        writeln!(s, "|---|---|---|---|---|---|")?;
        for h in &r.hints {
            for (label, a) in std::iter::once(("unmanaged", &h.unmanaged))
                .chain(h.synced.iter().map(|a| ("synced", a)))
            {
                let records = a
                    .linked_records
                    .iter()
                    .map(|u| format!("{} {}", md(&u.directory), opt(u.email.as_deref())))
                    .collect::<Vec<_>>()
                    .join(", ");
                writeln!(
                    s,
                    "| {label}: {} | {} | {} | account: {} · membership: {} | {} | {} |",
                    md(&h.name),
                    code(&a.account.account_id, true),
                    opt(a.account.email.as_deref()),
                    md(&a.account.account_status),
                    md(&a.account.membership_status),
                    opt(a.added_to_org.as_deref().map(display_time).as_deref()),
                    if records.is_empty() {
                        "—".into()
                    } else {
                        records
                    }
                )?;
            }
        }
        writeln!(s)?;
    }

    writeln!(s, "## Remediation\n")?;
    writeln!(s, "{}\n", md(&r.remediation.note))?;
    for (title, list) in [
        ("Actions taken", &r.remediation.actions),
        ("Planned in dry run", &r.remediation.dry_run),
        ("Blocked by a guard (last plan)", &r.remediation.blocked),
    ] {
        if list.is_empty() {
            continue;
        }
        writeln!(s, "### {title}\n")?;
        for e in list {
            writeln!(
                s,
                "- {} — **{}** ({}) {}: *{}* — {}",
                md(&display_time(&e.at)),
                md(&e.action),
                md(&e.kind),
                md(&e.targets),
                md(&e.result),
                md(&e.detail)
            )?;
        }
        writeln!(s)?;
    }
    Ok(())
}

/// A Markdown link to `url` (the URL's `)`, `<` and `>` percent-encoded, so it cannot end the link).
fn md_link(text: &str, url: &str) -> String {
    let url = url
        .replace('(', "%28")
        .replace(')', "%29")
        .replace('<', "%3C")
        .replace('>', "%3E")
        .replace(' ', "%20");
    format!("[{}]({url})", md(text))
}

fn write_person(s: &mut String, n: usize, p: &Person, r: &Report) -> std::fmt::Result {
    writeln!(
        s,
        "### {n}. {} — {}\n",
        md(&p.title()),
        severity_label(p.severity)
    )?;
    let mut about = Vec::new();
    if !p.names.is_empty() {
        about.push(format!(
            "Names: {}",
            p.names.iter().map(|x| md(x)).collect::<Vec<_>>().join(", ")
        ));
    }
    if !p.other_emails.is_empty() {
        about.push(format!(
            "Also: {}",
            p.other_emails
                .iter()
                .map(|x| md(x))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if !about.is_empty() {
        writeln!(s, "{}\n", about.join(" · "))?;
    }
    if let Some(email) = &p.email {
        let command = code(
            &format!("scimdrift person '{}'", email.replace('\'', "'\\''")),
            false,
        );
        match r.links.person(email) {
            Some(url) => writeln!(
                s,
                "Whole history: {}, or {command}\n",
                md_link("open in scimdrift", &url)
            )?,
            None => writeln!(s, "Whole history: run {command} where scimdrift runs\n")?,
        }
    }
    if p.subjects.is_empty() && !p.idp_users.is_empty() {
        writeln!(s, "No SCIM record and no Atlassian account.\n")?;
    }
    if !p.subjects.is_empty() {
        writeln!(
            s,
            "| directory | SCIM id | externalId | active | record email | linked account | account status | account email |"
        )?;
        writeln!(s, "|---|---|---|---|---|---|---|---|")?;
    }
    for row in &p.subjects {
        let (dir, scim, ext, act, remail, link) = match &row.scim_user {
            Some(u) => (
                md(&u.directory),
                code(&u.scim_id, true),
                u.external_id
                    .as_deref()
                    .map(|e| code(e, true))
                    .unwrap_or_else(|| "—".into()),
                active(u.active).to_string(),
                opt(u.email.as_deref()),
                u.account_id
                    .as_deref()
                    .map(|a| code(a, true))
                    .unwrap_or_else(|| "unlinked".into()),
            ),
            None => (
                "—".into(),
                "—".into(),
                "—".into(),
                "—".into(),
                "—".into(),
                row.account
                    .as_ref()
                    .map(|a| code(&a.account_id, true))
                    .unwrap_or_default(),
            ),
        };
        let (astatus, aemail) = match &row.account {
            Some(a) => (
                format!(
                    "account: {} · membership: {} · {}",
                    md(&a.account_status),
                    md(&a.membership_status),
                    md_link(
                        "admin hub",
                        &r.links.account(
                            &r.org_id,
                            &a.account_id,
                            a.claim_status.as_deref() == Some("managed")
                        )
                    )
                ),
                opt(a.email.as_deref()),
            ),
            None if row
                .scim_user
                .as_ref()
                .is_some_and(|u| u.account_id.is_some()) =>
            {
                ("not in org".into(), "—".into())
            }
            None => ("—".into(), "—".into()),
        };
        writeln!(
            s,
            "| {dir} | {scim} | {ext} | {act} | {remail} | {link} | {astatus} | {aemail} |"
        )?;
    }
    if !p.subjects.is_empty() {
        writeln!(s)?;
    }
    if !p.idp_users.is_empty() {
        writeln!(
            s,
            "| IdP directory | UPN | email (mapped) | enabled | intended | deleted | object id |"
        )?;
        writeln!(s, "|---|---|---|---|---|---|---|")?;
        for u in &p.idp_users {
            writeln!(
                s,
                "| {} ({}) | {} | {} | {} | {} | {} | {} |",
                md(&u.directory),
                md(&u.idp),
                opt(u.user_principal_name.as_deref()),
                opt(u.email.as_deref()),
                yes_no(u.enabled, "enabled", "DISABLED"),
                match (u.intended, u.nested_only) {
                    (true, _) => "intended",
                    (false, true) => "not intended (nested group only)",
                    (false, false) => "not intended",
                },
                if u.deleted { "DELETED" } else { "no" },
                match r.links.idp_user(&u.idp, &u.id) {
                    Some(url) => format!(
                        "{} ({})",
                        code(&u.id, true),
                        md_link("Entra admin center", &url)
                    ),
                    None => code(&u.id, true),
                }
            )?;
        }
        writeln!(s)?;
    }
    if !p.groups.is_empty() {
        writeln!(
            s,
            "| group | directory | in the IdP group | in the Atlassian (SCIM) group |"
        )?;
        writeln!(s, "|---|---|---|---|")?;
        for g in &p.groups {
            let mark = match g.mark.as_deref() {
                Some("missing") => " **MISSING in Atlassian**",
                Some("extra") => " **EXTRA: left the IdP group**",
                _ => "",
            };
            let idp = match g.in_idp {
                Some(true) => "yes",
                Some(false) => "no",
                None => "not an IdP group",
            };
            let scim = match (g.in_scim, g.scim_group_id.is_some()) {
                (true, _) => "yes",
                (false, true) => "no",
                (false, false) => "no SCIM group",
            };
            writeln!(
                s,
                "| {}{mark} | {} | {idp} | {scim} |",
                md(&g.name),
                md(&g.directory)
            )?;
        }
        writeln!(s)?;
    }
    for f in &p.findings {
        writeln!(
            s,
            "#### {} {} — {}\n",
            severity_label(f.severity),
            code(f.kind.as_str(), false),
            change_label(f)
        )?;
        writeln!(s, "{}\n", md(&f.summary))?;
        if let Some(e) = &f.provisioning {
            writeln!(
                s,
                "> **Provisioning log:** {}{} at {}{}\n",
                md(&e.status),
                e.error_code
                    .as_deref()
                    .map(|c| format!(" {}", code(c, false)))
                    .unwrap_or_default(),
                md(&display_time(&e.at)),
                e.reason
                    .as_deref()
                    .map(|r| format!(": {}", md(r)))
                    .unwrap_or_default()
            )?;
        }
        for x in &f.related {
            writeln!(
                s,
                "> **Shown together with {}:** {}\n",
                code(x.kind.as_str(), false),
                md(&x.note)
            )?;
        }
        writeln!(s, "**Fix:** {}\n", md(&f.fix_steps))?;
        if !f.portal_steps.is_empty() {
            writeln!(s, "**By hand:**\n")?;
            for st in &f.portal_steps {
                writeln!(
                    s,
                    "1. **{}** → {}: {}",
                    md(&st.console),
                    md(&st.path),
                    md(&st.note)
                )?;
            }
            writeln!(s)?;
        }
        if !f.requests.is_empty() {
            let graph = f.requests.iter().any(|q| q.api == GRAPH_API);
            let atlassian = f.requests.iter().any(|q| q.api != GRAPH_API);
            let to = match (atlassian, graph) {
                (true, true) => {
                    "(Atlassian) to `https://api.atlassian.com`, (Graph) to the URL shown"
                }
                (false, true) => "(Graph) to Microsoft Graph, the URL shown",
                _ => "(Atlassian) to `https://api.atlassian.com`",
            };
            writeln!(s, "**Requests** {to}:\n")?;
            for q in &f.requests {
                let line = if q.api == GRAPH_API {
                    format!("{} {}{}", q.method, q.base_url, q.path)
                } else {
                    format!("{} {}", q.method, q.path)
                };
                writeln!(
                    s,
                    "1. ({}) {} — {} ({})",
                    q.api_label(),
                    code(&line, false),
                    prose(&q.note),
                    prose(&q.key)
                )?;
                if let Some(b) = &q.body {
                    writeln!(s, "   body {}", code(b, false))?;
                }
            }
            writeln!(s)?;
        }
    }
    Ok(())
}

fn yes_no(v: Option<bool>, yes: &'static str, no: &'static str) -> &'static str {
    match v {
        Some(true) => yes,
        Some(false) => no,
        None => "unknown",
    }
}

/// The Groups section: each pushed IdP group beside its SCIM group.
fn write_groups(s: &mut String, r: &Report) -> std::fmt::Result {
    if r.groups.is_empty() {
        return Ok(());
    }
    writeln!(s, "## Pushed groups\n")?;
    writeln!(
        s,
        "| IdP group | directory | SCIM group | joined by | members (IdP / SCIM) | open findings |"
    )?;
    writeln!(s, "|---|---|---|---|---|---|")?;
    for g in &r.groups {
        let scim = match &g.scim_group_id {
            Some(id) => format!(
                "{} {}",
                md(g.scim_name.as_deref().unwrap_or("")),
                code(id, true)
            ),
            None if g.ambiguous => "ambiguous: two SCIM groups match (undecided)".into(),
            None => "none".into(),
        };
        let open = if g.not_provisioned {
            "**not provisioned**".to_string()
        } else if g.missing + g.extra == 0 {
            "none".to_string()
        } else {
            format!("{} missing, {} extra", g.missing, g.extra)
        };
        writeln!(
            s,
            "| {} {} | {} | {scim} | {} | {} / {} | {open} |",
            md(g.name.as_deref().unwrap_or("")),
            code(&g.idp_group_id, true),
            md(&g.directory),
            g.joined_by.map_or("—", |k| k.as_str()),
            g.idp_members,
            g.scim_members,
        )?;
    }
    writeln!(s)
}

/// The IdP provisioning jobs, per directory.
fn write_idp(s: &mut String, r: &Report) -> std::fmt::Result {
    if r.idp.is_empty() {
        return Ok(());
    }
    writeln!(s, "## IdP provisioning\n")?;
    for w in r.idp.iter().flat_map(|h| &h.warnings) {
        writeln!(s, "> **⚠** {}\n", prose(w))?;
    }
    writeln!(
        s,
        "| directory | job status | last completed cycle | interval | provisioning log | mapping | intended users | assigned groups |"
    )?;
    writeln!(s, "|---|---|---|---|---|---|---:|---:|")?;
    for h in &r.idp {
        let job = h.job.as_ref();
        let mut status = match &h.stalled {
            Some(why) => format!("**⚠ {}**: {}", md(&h.status), md(why)),
            None if h.status == "not_pulled" => "not pulled yet".into(),
            None => format!("✓ {}", md(&h.status)),
        };
        if let Some(since) = job.and_then(|j| j.quarantined_since.as_deref()) {
            status.push_str(&format!(" since {}", md(&display_time(since))));
        }
        if let Some(e) = job.and_then(|j| j.error.as_deref()) {
            status.push_str(&format!(" ({})", md(e)));
        }
        if let Some(app) = &h.app {
            match &app.features {
                Some(f) => status.push_str(&format!(
                    "; app {} pushes: {}",
                    md(&app.id),
                    md(&f.join(", "))
                )),
                None => {
                    status.push_str(&format!("; app {}: **push features unknown**", md(&app.id)))
                }
            }
            for off in &app.features_off {
                status.push_str(&format!("; **⚠ {}**", md(off)));
            }
        }
        let mut last = match job.map(|j| j.last_completed_cycle.as_deref()) {
            Some(Some(t)) => md(&display_time(t)),
            Some(None) => "**never**".into(),
            None => "—".into(),
        };
        if let Some(n) = job.and_then(|j| j.escrowed).filter(|n| *n > 0) {
            last.push_str(&format!("; **{n} change(s) held** (escrowed)"));
        }
        if h.skipped_users > 0 {
            last.push_str(&format!("; **{} user(s) skipped**", h.skipped_users));
        }
        let interval = match job.map(|j| j.interval_minutes) {
            Some(Some(m)) => format!("{m} min"),
            Some(None) => "not said (40 min assumed)".into(),
            None => "—".into(),
        };
        let mapping = match &h.mapping {
            Some(m) => format!(
                "{}: {} → email, {} → externalId",
                if m.derived { "read" } else { "**assumed**" },
                md(&m.email),
                md(&m.external_id)
            ),
            None => "—".into(),
        };
        writeln!(
            s,
            "| {} ({}) | {status} | {last} | {interval} | {} | {mapping} | {} ({} enabled{}) | {} ({} security) |",
            md(&h.directory),
            md(&h.idp),
            yes_no(h.logs_readable, "read", "**NOT readable**"),
            h.intended_users,
            h.intended_enabled_users,
            if h.intended_enabled_unknown > 0 {
                format!(", **{} unknown**", h.intended_enabled_unknown)
            } else {
                String::new()
            },
            h.assigned_groups,
            h.security_enabled_groups
        )?;
    }
    writeln!(s)?;
    let more = |shown: usize, total: usize| if total > shown { ", …" } else { "" };
    for h in &r.idp {
        if h.intended_enabled_unknown > 0 {
            writeln!(
                s,
                "**{}: {} intended user(s) of unknown enabled state** (accountEnabled null or unreadable: neither enabled nor disabled, so no finding is raised or resolved about them): {}{}\n",
                md(&h.directory),
                h.intended_enabled_unknown,
                h.intended_enabled_unknown_users
                    .iter()
                    .map(|u| md(u))
                    .collect::<Vec<_>>()
                    .join(", "),
                more(
                    h.intended_enabled_unknown_users.len(),
                    h.intended_enabled_unknown
                )
            )?;
        }
        if h.not_provisioned_by_design_total > 0 {
            writeln!(
                s,
                "**{}: {} user(s) not provisioned by design** (members of an assigned group that is not security-enabled, which confers no intent):\n",
                md(&h.directory),
                h.not_provisioned_by_design_total
            )?;
            for b in &h.not_provisioned_by_design {
                writeln!(s, "- {} — via {}", md(&b.user), md(&b.group))?;
            }
            if h.not_provisioned_by_design_total > h.not_provisioned_by_design.len() {
                writeln!(s, "- …")?;
            }
            writeln!(s)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_and_html_are_neutralised() {
        assert_eq!(
            md("<img src=x onerror=alert(1)>"),
            "\\<img src=x onerror=alert(1)\\>"
        );
        assert_eq!(md("a|b\nc_d"), "a\\|b c\\_d");
        assert_eq!(md("[x](javascript:1)"), "\\[x\\](javascript:1)");
        assert_eq!(
            md("a\u{1b}]0;t\u{7}\u{202e}"),
            "a\\\\u{1b}\\]0;t\\\\u{7}\\\\u{202e}"
        );
        assert_eq!(code("a\u{1b}[2J\tb", false), "`a\\u{1b}[2J\\tb`");
    }

    #[test]
    fn code_spans_hold_backticks_and_pipes() {
        assert_eq!(code("a`b", false), "``a`b``");
        assert_eq!(code("`x", false), "`` `x ``");
        assert_eq!(code("a|b", true), "`a\\|b`");
    }

    #[test]
    fn prose_renders_its_code_spans_and_escapes_the_rest() {
        assert_eq!(prose("key of `entra` *now*"), "key of `entra` \\*now\\*");
        assert_eq!(prose("run `a|b`"), "run `a|b`");
        // An odd backtick (from a value) is plain text, escaped.
        assert_eq!(prose("name `x"), "name \\`x");
    }
}
