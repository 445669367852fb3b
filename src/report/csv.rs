//! CSV rendering: one row per finding per subject (record or account), for spreadsheets. Quoting is
//! the `csv` crate's (RFC 4180); every cell goes through [`crate::escape::csv_cell`] (formulas
//! prefixed with `'`, control characters escaped).

use super::model::{GRAPH_API, Report, ReportFinding};
use crate::escape::csv_cell;
use crate::model::to_seconds as seconds;

const HEADER: [&str; 35] = [
    "report_date",
    "section",
    "change",
    "severity",
    "kind",
    "finding_id",
    "person",
    "subject",
    "directory",
    "scim_id",
    "external_id",
    "display_name",
    "active",
    "account_id",
    "email",
    "account_status",
    "membership_status",
    "first_seen",
    "age_days",
    "resolved_at",
    "summary",
    "fix",
    "requests",
    "suppressed_reason",
    "suppressed_expires",
    "idp_directory",
    "idp_user_id",
    "user_principal_name",
    "idp_enabled",
    "idp_intended",
    "provisioning_status",
    "provisioning_error_code",
    "provisioning_reason",
    "provisioning_at",
    "portal_steps",
];

fn rows(section: &str, date: &str, f: &ReportFinding) -> Vec<Vec<String>> {
    let requests = f
        .requests
        .iter()
        .map(|q| {
            let line = if q.api == GRAPH_API {
                format!("(Graph) {} {}{}", q.method, q.base_url, q.path)
            } else {
                format!("{} {}", q.method, q.path)
            };
            match &q.body {
                Some(b) => format!("{line} {b}"),
                None => line,
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let portal = f
        .portal_steps
        .iter()
        .map(|st| format!("{} → {}: {}", st.console, st.path, st.note))
        .collect::<Vec<_>>()
        .join("\n");
    let prov = f.provisioning.as_ref();
    let common = |subject: &str, sub: [String; 9], idp: [String; 4]| -> Vec<String> {
        let [
            directory,
            scim_id,
            external_id,
            display_name,
            active,
            account_id,
            email,
            status,
            membership,
        ] = sub;
        vec![
            date.to_string(),
            section.to_string(),
            f.change.as_str().to_string(),
            f.severity.to_string(),
            f.kind.to_string(),
            f.id.clone(),
            f.person.clone().unwrap_or_default(),
            subject.to_string(),
            directory,
            scim_id,
            external_id,
            display_name,
            active,
            account_id,
            email,
            status,
            membership,
            seconds(&f.first_seen),
            f.age_days.map(|d| d.to_string()).unwrap_or_default(),
            f.resolved_at.as_deref().map(seconds).unwrap_or_default(),
            f.summary.clone(),
            f.fix_steps.clone(),
            requests.clone(),
            f.suppressed_by
                .as_ref()
                .map(|s| s.reason.clone())
                .unwrap_or_default(),
            f.suppressed_by
                .as_ref()
                .and_then(|s| s.expires.clone())
                .unwrap_or_default(),
            f.idp_directory.clone().unwrap_or_default(),
            idp[0].clone(),
            idp[1].clone(),
            idp[2].clone(),
            idp[3].clone(),
            prov.map(|p| p.status.clone()).unwrap_or_default(),
            prov.and_then(|p| p.error_code.clone()).unwrap_or_default(),
            prov.and_then(|p| p.reason.clone()).unwrap_or_default(),
            prov.map(|p| seconds(&p.at)).unwrap_or_default(),
            portal.clone(),
        ]
    };
    let mut out: Vec<Vec<String>> = f
        .scim_users
        .iter()
        .map(|u| {
            common(
                "scim_user",
                [
                    u.directory.clone(),
                    u.scim_id.clone(),
                    u.external_id.clone().unwrap_or_default(),
                    u.display_name.clone().unwrap_or_default(),
                    u.active.map(|a| a.to_string()).unwrap_or_default(),
                    u.account_id.clone().unwrap_or_default(),
                    u.email.clone().unwrap_or_default(),
                    String::new(),
                    String::new(),
                ],
                Default::default(),
            )
        })
        .collect();
    out.extend(f.accounts.iter().map(|a| {
        common(
            "account",
            [
                String::new(),
                String::new(),
                String::new(),
                a.name.clone().unwrap_or_default(),
                String::new(),
                a.account_id.clone(),
                a.email.clone().unwrap_or_default(),
                a.account_status.clone(),
                a.membership_status.clone(),
            ],
            Default::default(),
        )
    }));
    out.extend(f.idp_users.iter().map(|u| {
        common(
            "idp_user",
            [
                u.directory.clone(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                u.email.clone().unwrap_or_default(),
                String::new(),
                String::new(),
            ],
            [
                u.id.clone(),
                u.user_principal_name.clone().unwrap_or_default(),
                u.enabled.map(|e| e.to_string()).unwrap_or_default(),
                u.intended.to_string(),
            ],
        )
    }));
    if out.is_empty() {
        out.push(common("none", Default::default(), Default::default()));
    }
    out
}

/// Renders the open (by person), resolved and suppressed findings, UTF-8 with a byte order mark
/// (Excel reads non-ASCII names right only with one; `csv.reader(open(f, encoding="utf-8-sig"))`).
pub fn render(r: &Report) -> String {
    let date = r.date.to_string();
    let mut w = ::csv::Writer::from_writer(Vec::new());
    let _ = w.write_record(HEADER);
    let sections = r
        .people
        .iter()
        .flat_map(|p| p.findings.iter().map(|f| ("open", f)))
        .chain(r.resolved.iter().map(|f| ("resolved", f)))
        .chain(r.suppressed.iter().map(|f| ("suppressed", f)));
    for (section, f) in sections {
        for row in rows(section, &date, f) {
            let _ = w.write_record(row.iter().map(|v| csv_cell(v).into_owned()));
        }
    }
    let body = w
        .into_inner()
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .unwrap_or_default();
    format!("\u{feff}{body}")
}
