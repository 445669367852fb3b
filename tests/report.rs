//! The daily report end to end against the simulator: content and fixes, changes between reports,
//! escaping, freshness warnings, delivery (a local webhook receiver and SMTP sink on loopback) and
//! retention.

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};
use common::Env;
use scimdrift::detect::{Kind, Severity};
use scimdrift::metrics::Metrics;
use scimdrift::report::StoredReports;
use scimdrift::report::{self, Basis, Change, Report, ReportFormat};
use scimdrift::sim::{Api, FaultKind, FaultRule, Faults, SimEmail, SimMember, SimOptions, World};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

fn build(env: &Env, now: DateTime<Utc>) -> Report {
    scimdrift::app::daily::build(&env.store(), &env.settings, None, now).unwrap()
}

fn open(r: &Report) -> Vec<&report::ReportFinding> {
    r.people.iter().flat_map(|p| p.findings.iter()).collect()
}

fn find<'a>(r: &'a Report, kind: &str) -> Vec<&'a report::ReportFinding> {
    open(r)
        .into_iter()
        .filter(|f| f.kind.as_str() == kind)
        .collect()
}

fn paths(f: &report::ReportFinding) -> Vec<String> {
    f.requests
        .iter()
        .map(|q| format!("{} {}", q.method, q.path))
        .collect()
}

/// Adds R10 to group G1: resolves the no_synced_groups finding.
fn add_r10_to_group(env: &Env) {
    let world = env.sim.world();
    let (r10, g1) = (world.labels["R10"].clone(), world.labels["G1"].clone());
    env.sim.update_world(|w| {
        for d in &mut w.directories {
            for g in d.groups.iter_mut().filter(|g| g.id == g1) {
                g.members.push(SimMember {
                    value: r10.clone(),
                    display: None,
                });
            }
        }
    });
}

/// Deprovisions one healthy user of D1 in the IdP: a new critical finding. Returns its email.
fn deprovision_a_healthy_user(env: &Env) -> String {
    let world = env.sim.world();
    let labelled: Vec<&String> = world.labels.values().collect();
    let user = world.directories[0]
        .users
        .iter()
        .find(|u| !labelled.contains(&&u.id) && u.atlassian_account_id.is_some())
        .unwrap()
        .clone();
    env.sim.update_world(|w| {
        if let Some(u) = w.directories[0].user_mut(&user.id) {
            u.active = Some(false);
            u.last_modified = Utc::now();
        }
    });
    user.emails[0].value.clone()
}

#[tokio::test]
async fn scenario_report_lists_every_finding_with_its_fix() {
    let env = Env::scenarios(20).await;
    assert!(env.pull().await.recorded.complete);
    let world = env.sim.world();
    let l = |k: &str| world.labels[k].clone();
    let org = world.org_id.clone();
    let r = build(&env, Utc::now());

    assert_eq!(r.org_id, org);
    assert_eq!(r.summary.open, 12);
    assert_eq!(open(&r).len(), 12);
    // Every finding whose fix is in Atlassian says where to click in admin hub, first; the HTML
    // shows the click path before the API request.
    let html = report::render(&r, ReportFormat::Html);
    for f in open(&r) {
        let hub: Vec<_> = f
            .portal_steps
            .iter()
            .filter(|s| s.console == "Atlassian Administration")
            .collect();
        if f.requests.is_empty() {
            continue;
        }
        assert!(!hub.is_empty(), "{}: no admin hub step", f.kind);
        assert_eq!(
            f.portal_steps[0].console, "Atlassian Administration",
            "{}",
            f.kind
        );
        let at = |needle: &str| html.find(needle).unwrap_or_else(|| panic!("{needle}"));
        let path = hub[0].path.replace('\'', "&#39;");
        let escaped = maud::html! { (path) }.into_string();
        let request = f.requests[0].path.replace('/', "/<wbr>");
        let finding = at(&format!("id=\"{}\"", f.person.clone().unwrap_or_default()));
        let step = finding
            + html[finding..]
                .find(&escaped)
                .expect("the step in the HTML");
        let call = finding
            + html[finding..]
                .find(&request)
                .expect("the request in the HTML");
        assert!(
            step < call,
            "{}: the click path comes before the request",
            f.kind
        );
    }
    assert!(
        r.freshness.warnings.is_empty(),
        "{:?}",
        r.freshness.warnings
    );
    assert_eq!(r.freshness.snapshot_id, Some(1));
    assert!(
        r.freshness
            .sources
            .iter()
            .any(|s| s.source == "accounts" && s.records > 0)
    );
    // First report: compared with the last 24 hours of history, so everything is new.
    assert_eq!(r.period.basis, Basis::History);
    assert_eq!(r.summary.new, 12);
    let stored: Vec<String> = env
        .store()
        .findings()
        .unwrap()
        .into_iter()
        .map(|f| f.id)
        .collect();
    for id in &stored {
        assert!(open(&r).iter().any(|f| &f.id == id), "finding {id} missing");
    }
    for f in open(&r) {
        assert!(!f.fix_steps.is_empty(), "{} has no fix", f.kind);
        assert_eq!(f.change, Change::New);
    }

    // The most severe person first: Fay (the leaver who keeps access).
    assert_eq!(r.people[0].email.as_deref(), Some("fay@example.com"));
    assert_eq!(r.people[0].anchor, "p-fay-example-com");
    // Ana's re-hire: three findings together, records and account side by side.
    let ana = r
        .people
        .iter()
        .find(|p| p.email.as_deref() == Some("ana@example.com"))
        .unwrap();
    assert_eq!(ana.findings.len(), 3);
    let r1 = ana
        .subjects
        .iter()
        .find(|s| s.scim_user.as_ref().is_some_and(|u| u.scim_id == l("R1")))
        .unwrap();
    assert_eq!(r1.account.as_ref().unwrap().account_id, l("A1"));
    // Bo: one person with two emails.
    let bo = r
        .people
        .iter()
        .find(|p| p.email.as_deref() == Some("bo.new@example.com"))
        .unwrap();
    assert_eq!(bo.other_emails, ["bo.old@example.com"]);
    assert_eq!(bo.findings.len(), 3);

    // The exact requests, ids filled in.
    let suspend = paths(find(&r, "idp_inactive_account_active")[0]);
    assert_eq!(
        suspend,
        [
            format!("GET /admin/v2/orgs/{org}/directories"),
            format!(
                "POST /admin/v2/orgs/{org}/directories/{{directoryId}}/users/{}/suspend",
                l("A9")
            ),
        ]
    );
    let stale = paths(find(&r, "stale_inactive_link")[0]);
    assert_eq!(
        stale[0],
        format!("DELETE /scim/directory/{}/Users/{}", l("D1"), l("R7"))
    );
    assert_eq!(
        stale[1],
        format!(
            "DELETE /admin/user-provisioning/v1/org/{org}/user/{}/onlyDeleteUserInDB",
            l("A7")
        )
    );
    assert_eq!(
        paths(find(&r, "dangling_link")[0]),
        [format!(
            "DELETE /scim/directory/{}/Users/{}",
            l("D1"),
            l("R11")
        )]
    );
    let conflict = find(&r, "email_conflict")
        .into_iter()
        .find(|f| f.accounts[0].account_id == l("A4"))
        .unwrap();
    assert_eq!(
        paths(conflict),
        [
            format!(
                "PATCH /admin/user-provisioning/v1/org/{org}/scimDirectoryId/{}/scimUserId/{}/unlink",
                l("D2"),
                l("R4")
            ),
            format!("PUT /users/{}/manage/email", l("A4")),
        ]
    );
    let mismatch = paths(find(&r, "email_mismatch")[0]);
    assert_eq!(mismatch, [format!("PUT /users/{}/manage/email", l("A3"))]);
    assert!(
        find(&r, "email_mismatch")[0].requests[0]
            .body
            .as_deref()
            .unwrap()
            .contains("bo.new@example.com")
    );

    // Scenario 3's hint: A5 (unmanaged, years of history) beside A6 (synced, new), same name.
    assert_eq!(r.hints.len(), 1);
    assert_eq!(r.hints[0].unmanaged.account.account_id, l("A5"));
    assert_eq!(r.hints[0].synced[0].account.account_id, l("A6"));
    assert!(!r.hints[0].synced[0].linked_records.is_empty());

    // Every format carries every finding and its request; no key leaks into any.
    let html = report::render(&r, ReportFormat::Html);
    let md = report::render(&r, ReportFormat::Markdown);
    let json = report::render(&r, ReportFormat::Json);
    let csv = report::render(&r, ReportFormat::Csv);
    // Excel needs the byte order mark to read UTF-8; times are RFC 3339 to the second.
    assert!(csv.starts_with('\u{feff}'), "no BOM");
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let header = reader.headers().unwrap().clone();
    assert_eq!(
        header.get(0),
        Some("report_date"),
        "the BOM is not part of the first name"
    );
    let first_seen = header.iter().position(|h| h == "first_seen").unwrap();
    for row in reader.records().map(Result::unwrap) {
        let t = &row[first_seen];
        assert!(
            chrono::DateTime::parse_from_rfc3339(t).is_ok() && t.len() == 20 && t.ends_with('Z'),
            "first_seen {t:?}"
        );
    }
    for f in open(&r) {
        assert!(html.contains(&format!("<span class=\"kind\">{}</span>", f.kind)));
        assert!(json.contains(&f.id) && csv.contains(&f.id));
        for q in &f.requests {
            // In HTML the path may wrap after each slash.
            let wrappable = q.path.replace('/', "/<wbr>");
            assert!(html.contains(&wrappable), "{} not in HTML", q.path);
            assert!(md.contains(&q.path), "{} not in Markdown", q.path);
        }
    }
    assert!(html.contains(&format!("id=\"{}\"", r.people[0].anchor)));
    assert!(html.contains(&format!("href=\"#{}\"", r.people[0].anchor)));
    assert!(html.contains("No automatic remediation configured"));
    for key in std::iter::once(world.org_api_key.as_str())
        .chain(world.directories.iter().map(|d| d.token.as_str()))
    {
        for text in [&html, &md, &json, &csv] {
            assert!(!text.contains(key), "a key leaked into the report");
        }
    }
    // Self-contained: no scripts, no external resources.
    let lower = html.to_lowercase();
    for banned in [
        "<script", "<link", "<img", "src=", "url(", "@import", "<iframe",
    ] {
        assert!(!lower.contains(banned), "HTML contains {banned}");
    }
    // JSON round-trips; CSV has one row per finding per subject.
    let back: Report = serde_json::from_str(&json).unwrap();
    assert_eq!(back, r);
    let rows = csv::Reader::from_reader(csv.as_bytes()).records().count();
    let subjects: usize = open(&r)
        .iter()
        .map(|f| (f.scim_users.len() + f.accounts.len()).max(1))
        .sum();
    assert_eq!(rows, subjects);
}

#[tokio::test]
async fn changes_since_the_previous_report() {
    let env = Env::scenarios(10).await;
    env.pull().await;
    let metrics = Metrics::new();
    let day1 = Utc::now();
    let first = scimdrift::app::daily::run_daily(&env.settings, &metrics, day1)
        .await
        .unwrap();
    assert_eq!(first.report.summary.new, 12);
    assert!(first.deliveries.is_empty(), "no channel configured");

    add_r10_to_group(&env);
    let leaver = deprovision_a_healthy_user(&env);
    env.pull().await;
    let day2 = day1 + Duration::days(1);
    let second = scimdrift::app::daily::run_daily(&env.settings, &metrics, day2)
        .await
        .unwrap();
    let r = &second.report;
    assert_eq!(r.period.basis, Basis::Report);
    assert_eq!(r.period.compared_report, Some(first.date));
    assert_eq!(r.summary.open, 12);
    assert_eq!(
        (r.summary.new, r.summary.resolved, r.summary.still_open),
        (1, 1, 11)
    );
    assert_eq!(r.resolved[0].kind, Kind::NoSyncedGroups);
    assert_eq!(r.resolved[0].change, Change::Resolved);
    let new: Vec<_> = open(r)
        .into_iter()
        .filter(|f| f.change == Change::New)
        .collect();
    assert_eq!(new[0].kind, Kind::IdpInactiveAccountActive);
    assert_eq!(new[0].scim_users[0].email.as_deref(), Some(leaver.as_str()));
    assert!(
        open(r)
            .iter()
            .filter(|f| f.change == Change::StillOpen)
            .all(|f| f.age_days == Some(1)),
        "still-open findings carry their age"
    );
    assert_eq!(r.summary.oldest_open_days, Some(1));
    let html = report::render(r, ReportFormat::Html);
    assert!(
        html.contains("class=\"tag tag-new\""),
        "new findings are tagged"
    );
    assert!(html.contains(&format!("<code>{}</code>", r.resolved[0].kind)));
    assert!(report::render(r, ReportFormat::Markdown).contains("changes since the report of"));

    // Both stored; the latest is day 2.
    let store = env.store();
    assert_eq!(store.report_dates().unwrap(), [second.date, first.date]);
    assert_eq!(store.latest_report().unwrap().unwrap().date, second.date);
    assert_eq!(store.report_on(first.date).unwrap().unwrap(), first.report);

    // --since: that day's report when stored, else the history since that day's start.
    let again =
        scimdrift::app::daily::build(&store, &env.settings, Some(first.date), day2).unwrap();
    assert_eq!((again.summary.new, again.summary.resolved), (1, 1));
    let before = first.date - Duration::days(5);
    let hist = scimdrift::app::daily::build(&store, &env.settings, Some(before), day2).unwrap();
    assert_eq!(hist.period.basis, Basis::History);
    assert_eq!(hist.summary.new, 12, "everything opened after that day");
    assert_eq!(hist.summary.resolved, 1);
}

/// Every `<` of the Markdown is backslash-escaped or inside a code span (where it is literal).
fn no_raw_angle_brackets(md: &str) -> bool {
    md.lines().all(|line| {
        let mut in_code = false;
        let mut prev = ' ';
        line.chars().all(|c| {
            if c == '`' && prev != '\\' {
                in_code = !in_code;
            }
            let ok = c != '<' || in_code || prev == '\\';
            prev = c;
            ok
        })
    })
}

#[tokio::test]
async fn hostile_names_and_emails_are_escaped_and_quoted() {
    let env = Env::scenarios(5).await;
    let r10 = env.sim.world().labels["R10"].clone();
    let name = "<img src=x onerror=alert(1)>";
    let email = "\"gus<b>\"@example.com";
    env.sim.update_world(|w| {
        for d in &mut w.directories {
            if let Some(u) = d.user_mut(&r10) {
                u.display_name = Some(name.into());
                u.emails = vec![SimEmail::work(email)];
            }
        }
    });
    env.pull().await;
    let r = build(&env, Utc::now());
    assert!(open(&r).iter().any(|f| {
        f.scim_users
            .iter()
            .any(|u| u.email.as_deref() == Some(email))
    }));

    let html = report::render(&r, ReportFormat::Html);
    assert!(!html.contains("<img"), "raw tag in HTML");
    assert!(!html.contains("gus<b>"), "raw tag in HTML");
    assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;"));
    assert!(html.contains("&quot;gus&lt;b&gt;&quot;@example.com"));

    let md = report::render(&r, ReportFormat::Markdown);
    assert!(no_raw_angle_brackets(&md), "raw tag in Markdown");
    assert!(md.contains("\\<img src=x onerror=alert(1)\\>"));

    let csv = report::render(&r, ReportFormat::Csv);
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let header = reader.headers().unwrap().clone();
    let col = |n: &str| header.iter().position(|h| h == n).unwrap();
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert!(rows.iter().all(|row| row.len() == header.len()));
    assert!(
        rows.iter()
            .any(|row| &row[col("display_name")] == name && &row[col("email")] == email)
    );
    // Quoted per RFC 4180: the embedded quotes are doubled inside a quoted field.
    assert!(csv.contains("\"\"\"gus<b>\"\"@example.com\""));

    let json: serde_json::Value =
        serde_json::from_str(&report::render(&r, ReportFormat::Json)).unwrap();
    assert!(
        json.to_string().contains("gus<b>"),
        "JSON keeps the value (JSON-escaped)"
    );
}

#[tokio::test]
async fn incomplete_or_old_data_shows_a_loud_warning() {
    let env = Env::scenarios(5).await;
    env.pull().await;
    env.sim.set_faults(Faults::rules([
        FaultRule::new(FaultKind::Status(503)).on(Api::Accounts)
    ]));
    assert!(!env.pull().await.recorded.complete);
    let r = build(&env, Utc::now());
    assert_eq!(
        r.freshness.snapshot_id,
        Some(1),
        "shows the last complete pull"
    );
    let latest = r.freshness.latest_pull.as_ref().unwrap();
    assert!(!latest.complete && latest.snapshot_id == 2);
    assert!(latest.failed_sources.iter().any(|s| s.source == "accounts"));
    let warning = r
        .freshness
        .warnings
        .iter()
        .find(|w| w.contains("INCOMPLETE"))
        .unwrap();
    assert!(warning.contains("accounts"));
    assert_eq!(r.summary.open, 12, "the findings of the last complete pull");
    let html = report::render(&r, ReportFormat::Html);
    assert!(
        html.contains("class=\"warn\"") && html.contains("WARNING") && html.contains("INCOMPLETE")
    );
    assert!(report::render(&r, ReportFormat::Markdown).contains("**⚠ WARNING:**"));
    assert!(r.headline().contains("WARNING"));

    // Three pull intervals (15 min by default) without a complete pull: the data is flagged old.
    env.sim.set_faults(Faults::default());
    let later = build(&env, Utc::now() + Duration::hours(3));
    assert!(
        later
            .freshness
            .warnings
            .iter()
            .any(|w| w.contains("3 h old")),
        "{:?}",
        later.freshness.warnings
    );
}

#[tokio::test]
async fn a_held_pull_warns_and_each_person_links_to_their_history() {
    let env = Env::scenarios(5).await;
    env.pull().await;
    env.sim.set_faults(Faults::rules([
        FaultRule::new(FaultKind::EmptyPage).on(Api::Accounts)
    ]));
    assert!(env.pull().await.recorded.held);
    let r = build(&env, Utc::now());
    assert_eq!(r.freshness.snapshot_id, Some(1));
    let warning = r
        .freshness
        .warnings
        .iter()
        .find(|w| w.contains("HELD"))
        .unwrap();
    assert!(
        warning.contains("accounts records shrank from"),
        "{warning}"
    );
    assert!(warning.contains("--accept-shrink"), "{warning}");
    assert!(
        !r.freshness
            .warnings
            .iter()
            .any(|w| w.contains("INCOMPLETE"))
    );
    assert_eq!(r.summary.open, 12, "the findings of the last complete pull");
    let html = report::render(&r, ReportFormat::Html);
    // Without a public URL no dead relative link: the command that tells the history.
    assert!(
        !html.contains("href=\"/person"),
        "a relative link goes nowhere in an e-mail"
    );
    assert!(
        html.contains("scimdrift person &#39;fay@example.com&#39;")
            || html.contains("scimdrift person 'fay@example.com'")
    );
}

/// With `[report] public_url` (or `[server] public_url`) each person links to the daemon's
/// `/person`, absolute; each account to its admin hub page, each Entra user to the Entra admin
/// center; in HTML and Markdown alike.
#[tokio::test]
async fn links_are_absolute_and_reach_admin_hub_and_the_entra_admin_center() {
    let mut env = idp_env().await;
    let world = env.sim.world();
    let (a12, e2) = (world.labels["A12"].clone(), world.labels["E2"].clone());
    let org = env.settings.atlassian.org_id.clone();
    env.extend_config("\n[server]\npublic_url = \"https://scimdrift.example.com/\"\n");
    let r = build(&env, Utc::now());
    let html = report::render(&r, ReportFormat::Html);
    let md = report::render(&r, ReportFormat::Markdown);
    let person = "https://scimdrift.example.com/person?email=jon%40example.com";
    assert!(
        html.contains(&format!("href=\"{person}\"")),
        "absolute person link"
    );
    assert!(md.contains(&format!("]({person})")));
    let account = format!("https://admin.atlassian.com/o/{org}/members/{a12}");
    assert!(
        html.contains(&format!("href=\"{account}\"")),
        "admin hub link"
    );
    assert!(md.contains(&format!("]({account})")));
    let entra = format!(
        "https://entra.microsoft.com/#view/Microsoft_AAD_UsersAndTenants/UserProfileMenuBlade/~/overview/userId/{e2}"
    );
    assert!(
        html.contains(&format!("href=\"{entra}\"")),
        "Entra admin center link"
    );
    assert!(md.contains(&format!("]({entra})")));
    // The admin hub base is configurable; [report] public_url wins over [server]'s.
    env.extend_config(
        "\n[report]\npublic_url = \"https://reports.example.com\"\nadmin_hub_url = \"https://admin.example.test\"\n",
    );
    let html = report::render(&build(&env, Utc::now()), ReportFormat::Html);
    assert!(html.contains("href=\"https://reports.example.com/person?email=jon%40example.com\""));
    assert!(html.contains(&format!(
        "href=\"https://admin.example.test/o/{org}/members/{a12}\""
    )));
}

/// The first time with fractions of a second (`06:28:43.886457907`) in `text`, if any.
fn fractional_seconds(text: &str) -> Option<String> {
    // `HH:MM:SS.f`: digits and colons as masks, `9` a digit.
    const SHAPE: &[u8] = b"99:99:99.9";
    let b = text.as_bytes();
    b.windows(SHAPE.len())
        .position(|w| {
            w.iter().zip(SHAPE).all(|(c, s)| match s {
                b'9' => c.is_ascii_digit(),
                s => c == s,
            })
        })
        .map(|i| {
            String::from_utf8_lossy(&b[i.saturating_sub(11)..(i + 20).min(b.len())]).into_owned()
        })
}

/// The opening tags of every `<table>` of `html`, with what directly precedes and follows them.
fn tables(html: &str) -> Vec<(&str, &str)> {
    html.match_indices("<table")
        .map(|(i, _)| (&html[..i], &html[i..]))
        .collect()
}

#[tokio::test]
async fn the_html_report_fits_a_phone_and_shows_readable_times() {
    let env = Env::scenarios(5).await;
    env.pull().await;
    env.sim.set_faults(Faults::rules([
        FaultRule::new(FaultKind::Status(503)).on(Api::Accounts)
    ]));
    assert!(!env.pull().await.recorded.complete);
    let mut r = build(&env, Utc::now());
    assert!(!r.resolved.is_empty() || !r.suppressed.is_empty() || !r.people.is_empty());
    // A remediation entry as the audit log stores its time (RFC 3339 with nanoseconds).
    let at = "2026-11-30T06:28:43.886457907+00:00";
    r.remediation.actions.push(report::RemediationEntry {
        at: at.into(),
        action: "suspend".into(),
        kind: "idp_inactive_account_active".into(),
        finding_id: "f".into(),
        targets: "account a-1".into(),
        result: "success".into(),
        detail: "reason".into(),
    });
    // The stored times do carry fractions of a second: the JSON keeps them as they are.
    let json = report::render(&r, ReportFormat::Json);
    assert!(
        fractional_seconds(&json).is_some(),
        "the test needs precise times"
    );
    assert!(json.contains(at));

    let html = report::render(&r, ReportFormat::Html);
    let md = report::render(&r, ReportFormat::Markdown);
    for (format, text) in [("HTML", &html), ("Markdown", &md)] {
        assert_eq!(
            fractional_seconds(text),
            None,
            "{format} shows a precise time"
        );
        assert!(
            text.contains("2026-11-30 06:28:43 UTC"),
            "{format}: remediation time"
        );
    }

    // Landmarks: the content in <main>, between the header and the footer.
    assert_eq!(html.matches("<main>").count(), 1);
    let main = html.find("<main>").unwrap();
    assert!(html.find("<header>").unwrap() < main);
    assert!(html.find("</main>").unwrap() < html.find("<footer>").unwrap());
    assert!(
        html.contains("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">")
    );

    // Every table sits in its own horizontal scroll container and has a caption; the wide ones
    // stack on narrow screens, and long values may wrap anywhere.
    let all = tables(&html);
    assert!(all.len() >= 4, "{} tables", all.len());
    for (before, at) in &all {
        let tag = &at[..at.find('>').unwrap() + 1];
        if tag == "<table class=\"vh\">" {
            // Visually hidden (the trend's numbers for screen readers): never wider than 1 px.
            assert!(
                at[tag.len()..].starts_with("<caption"),
                "{tag} has no caption"
            );
            continue;
        }
        assert!(
            before.ends_with("<div class=\"scroll\">"),
            "{tag} not in a scroll container"
        );
        assert!(
            at[tag.len()..].starts_with("<caption"),
            "{tag} has no caption"
        );
    }
    assert!(html.contains("<table class=\"stack subjects\">"));
    for css in [
        ".scroll{overflow-x:auto",
        "@media (max-width:640px)",
        "table.stack,table.stack tbody,table.stack tr,table.stack td{display:block",
        "td.v{overflow-wrap:anywhere",
        ".page{max-width:1100px;margin:0 auto;padding:20px 24px 40px;background:#fff;overflow-wrap:anywhere}",
    ] {
        assert!(html.contains(css), "CSS lacks {css}");
    }
    // Request paths break after their slashes first.
    assert!(html.contains("/<wbr>admin/<wbr>v2/<wbr>orgs/<wbr>"));
    // Every stacked data cell carries its column's label.
    assert!(html.contains("data-label=\"Record email\""));

    // The failed source is named once: its error already starts with its name.
    let warning = r
        .freshness
        .warnings
        .iter()
        .find(|w| w.contains("INCOMPLETE"))
        .unwrap();
    assert!(warning.contains("(accounts ("), "{warning}");
    assert!(!warning.contains("accounts: accounts"), "{warning}");
    assert!(!html.contains("accounts: accounts") && !md.contains("accounts: accounts"));
}

#[tokio::test]
async fn without_a_complete_pull_the_report_says_there_is_no_data() {
    let env = Env::scenarios(1).await;
    env.sim.set_faults(Faults::rules([
        FaultRule::new(FaultKind::Status(503)).on(Api::Accounts)
    ]));
    assert!(!env.pull().await.recorded.complete);
    let r = build(&env, Utc::now());
    assert_eq!(r.freshness.snapshot_id, None);
    let html = report::render(&r, ReportFormat::Html);
    assert!(html.contains("No complete pull yet: no data."));
    assert!(
        !html.contains("class=\"cards\""),
        "counts shown without data"
    );
    assert!(!html.contains("No open findings."));
    assert_eq!(fractional_seconds(&html), None);
    let md = report::render(&r, ReportFormat::Markdown);
    assert!(md.contains("**No complete pull yet: no data.**"));
    assert!(!md.contains("**0 open**"), "counts shown without data");
    assert!(!md.contains("No open findings."));
    assert_eq!(fractional_seconds(&md), None);
    // Once a pull completes, the counts are back.
    env.sim.set_faults(Faults::default());
    assert!(env.pull().await.recorded.complete);
    let html = report::render(&build(&env, Utc::now()), ReportFormat::Html);
    assert!(html.contains("class=\"cards\"") && !html.contains("No complete pull yet"));
}

/// A webhook receiver on loopback that fails the first `failures` requests with 500.
struct Hook {
    addr: SocketAddr,
    bodies: Arc<Mutex<Vec<serde_json::Value>>>,
}

async fn webhook_receiver(failures: usize) -> Hook {
    use axum::{Json, Router, http::StatusCode, routing::post};
    let bodies: Arc<Mutex<Vec<serde_json::Value>>> = Arc::default();
    let seen = bodies.clone();
    let app = Router::new().route(
        "/hook/secret-token",
        post(move |Json(v): Json<serde_json::Value>| {
            let seen = seen.clone();
            async move {
                let mut b = seen.lock().unwrap();
                b.push(v);
                if b.len() <= failures {
                    StatusCode::INTERNAL_SERVER_ERROR
                } else {
                    StatusCode::OK
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    Hook { addr, bodies }
}

fn counter(m: &Metrics, channel: &str, result: &str) -> u64 {
    m.report_deliveries
        .with_label_values(&[channel, result])
        .get()
}

/// The webhook speaks Slack (Block Kit within its limits, with the `text` fallback), Microsoft
/// Teams (an Adaptive Card message of a Workflows webhook) or plain JSON (the report's contract),
/// as `[report.delivery] webhook_format` says; each checked by the receiver for its shape.
#[tokio::test]
async fn the_webhook_speaks_slack_teams_or_the_reports_json() {
    let mut env = Env::scenarios(5).await;
    env.pull().await;
    let hook = webhook_receiver(0).await;
    let url_file = env.dir.path().join("webhook-url");
    std::fs::write(
        &url_file,
        format!("http://{}/hook/secret-token\n", hook.addr),
    )
    .unwrap();
    let base = std::fs::read_to_string(&env.config).unwrap();
    let mut bodies = Vec::new();
    for format in ["slack", "teams", "json"] {
        env.set_config(&format!(
            "{base}\n[report]\npublic_url = \"https://scimdrift.example.com\"\n[report.delivery]\nwebhook_url_file = {:?}\nwebhook_format = \"{format}\"\n",
            url_file.display().to_string()
        ));
        let out = scimdrift::app::daily::run_daily(&env.settings, &Metrics::new(), Utc::now())
            .await
            .unwrap();
        assert!(out.deliveries[0].ok, "{format}: {:?}", out.deliveries);
        bodies.push(hook.bodies.lock().unwrap().last().cloned().unwrap());
    }
    let link = "https://scimdrift.example.com/report/";
    // Slack: Block Kit types and limits (header ≤ 150 characters, section ≤ 3000, context ≤ 10).
    let slack = &bodies[0];
    assert!(slack["text"].as_str().unwrap().contains("12 open findings"));
    let blocks = slack["blocks"].as_array().unwrap();
    let types: Vec<&str> = blocks.iter().map(|b| b["type"].as_str().unwrap()).collect();
    assert_eq!(types.first(), Some(&"header"));
    assert!(
        types
            .iter()
            .all(|t| ["header", "section", "context", "actions"].contains(t)),
        "{types:?}"
    );
    for b in blocks {
        match b["type"].as_str().unwrap() {
            "header" => {
                assert_eq!(b["text"]["type"], "plain_text");
                assert!(b["text"]["text"].as_str().unwrap().chars().count() <= 150);
            }
            "section" => assert!(b["text"]["text"].as_str().unwrap().chars().count() <= 3000),
            "context" => assert!(b["elements"].as_array().unwrap().len() <= 10),
            _ => {
                let button = &b["elements"][0];
                assert_eq!(button["type"], "button");
                assert!(button["url"].as_str().unwrap().starts_with(link));
            }
        }
    }
    // Teams: a message whose one attachment is an Adaptive Card with a button to the report.
    let teams = &bodies[1];
    assert_eq!(teams["type"], "message");
    let attachment = &teams["attachments"][0];
    assert_eq!(
        attachment["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    let card = &attachment["content"];
    assert_eq!(
        (card["type"].as_str(), card["version"].as_str()),
        (Some("AdaptiveCard"), Some("1.4"))
    );
    assert!(
        card["body"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["type"] == "FactSet")
    );
    assert_eq!(card["actions"][0]["type"], "Action.OpenUrl");
    assert!(
        card["actions"][0]["url"]
            .as_str()
            .unwrap()
            .starts_with(link)
    );
    assert!(
        !teams.to_string().contains("fay@example.com"),
        "the chat card names no one"
    );
    // JSON: the report's contract itself.
    let report: Report = serde_json::from_value(bodies[2].clone()).expect("the report's JSON");
    assert_eq!(report.summary.open, 12);
}

#[tokio::test]
async fn webhook_is_retried_with_backoff_and_counted() {
    let mut env = Env::scenarios(5).await;
    env.pull().await;
    let hook = webhook_receiver(2).await;
    let url_file = env.dir.path().join("webhook-url");
    std::fs::write(
        &url_file,
        format!("http://{}/hook/secret-token\n", hook.addr),
    )
    .unwrap();
    env.extend_config(&format!(
        "\n[report]\npublic_url = \"https://scimdrift.example.com/\"\n[report.delivery]\nattempts = 4\nbackoff_ms = 10\nwebhook_url_file = {:?}\n",
        url_file.display().to_string()
    ));
    let metrics = Metrics::new();
    let out = scimdrift::app::daily::run_daily(&env.settings, &metrics, Utc::now())
        .await
        .unwrap();
    assert_eq!(out.deliveries.len(), 1);
    let d = &out.deliveries[0];
    assert!(d.ok && d.attempts == 3, "{d:?}");
    assert_eq!(counter(&metrics, "webhook", "success"), 1);
    assert_eq!(counter(&metrics, "webhook", "failure"), 0);
    let bodies = hook.bodies.lock().unwrap().clone();
    assert_eq!(bodies.len(), 3);
    let body = &bodies[2];
    let link = format!("https://scimdrift.example.com/report/{}", out.date);
    assert_eq!(body["url"], link.as_str());
    assert_eq!(body["summary"]["open"], 12);
    assert_eq!(body["date"], out.date.to_string());
    let text = body["text"].as_str().unwrap();
    assert!(
        text.contains("12 open findings") && text.contains(&format!("<{link}|")),
        "{text}"
    );
    assert!(
        !body.to_string().contains("fay@example.com"),
        "the chat summary names no one"
    );

    // A receiver that keeps failing: the delivery fails after its attempts, is counted, and the
    // report stays stored; the error does not repeat the URL's token.
    let failing = webhook_receiver(usize::MAX).await;
    std::fs::write(
        &url_file,
        format!("http://{}/hook/secret-token\n", failing.addr),
    )
    .unwrap();
    let text = std::fs::read_to_string(&env.config).unwrap();
    std::fs::write(&env.config, text.replace("attempts = 4", "attempts = 2")).unwrap();
    env.extend_config("");
    let out = scimdrift::app::daily::run_daily(&env.settings, &metrics, Utc::now())
        .await
        .unwrap();
    let d = &out.deliveries[0];
    assert!(!d.ok && d.attempts == 2, "{d:?}");
    let error = d.error.as_deref().unwrap();
    assert!(
        error.contains("500") && !error.contains("secret-token"),
        "{error}"
    );
    assert_eq!(counter(&metrics, "webhook", "failure"), 1);
    assert_eq!(failing.bodies.lock().unwrap().len(), 2);
    assert!(
        env.store().report_on(out.date).unwrap().is_some(),
        "the report is kept"
    );

    // A receiver that is not there at all: a transport error, also without the token.
    std::fs::write(&url_file, "http://127.0.0.1:9/hook/secret-token\n").unwrap();
    let out = scimdrift::app::daily::run_daily(&env.settings, &metrics, Utc::now())
        .await
        .unwrap();
    let error = out.deliveries[0].error.as_deref().unwrap();
    assert!(!error.contains("secret-token"), "{error}");
    assert_eq!(counter(&metrics, "webhook", "failure"), 2);
}

/// What a local SMTP sink received.
#[derive(Default, Clone)]
struct Received {
    auth: Vec<String>,
    rcpt: Vec<String>,
    data: Vec<String>,
}

/// A minimal SMTP server on loopback (no TLS; AUTH PLAIN accepted): enough for lettre.
async fn smtp_sink() -> (SocketAddr, Arc<Mutex<Received>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let got: Arc<Mutex<Received>> = Arc::default();
    let shared = got.clone();
    tokio::spawn(async move {
        loop {
            let Ok((sock, _)) = listener.accept().await else {
                return;
            };
            let got = shared.clone();
            tokio::spawn(async move {
                let (r, mut w) = sock.into_split();
                let mut lines = BufReader::new(r).lines();
                let _ = w.write_all(b"220 sink ESMTP\r\n").await;
                while let Ok(Some(line)) = lines.next_line().await {
                    let upper = line.to_uppercase();
                    let reply: &[u8] = if upper.starts_with("EHLO") || upper.starts_with("HELO") {
                        b"250-sink\r\n250-AUTH PLAIN LOGIN\r\n250 8BITMIME\r\n"
                    } else if upper.starts_with("AUTH PLAIN") {
                        got.lock().unwrap().auth.push(line[10..].trim().to_string());
                        b"235 ok\r\n"
                    } else if upper.starts_with("RCPT TO") {
                        got.lock().unwrap().rcpt.push(line.clone());
                        b"250 ok\r\n"
                    } else if upper.starts_with("DATA") {
                        let _ = w.write_all(b"354 go\r\n").await;
                        let mut data = String::new();
                        while let Ok(Some(l)) = lines.next_line().await {
                            if l == "." {
                                break;
                            }
                            data.push_str(&l);
                            data.push('\n');
                        }
                        got.lock().unwrap().data.push(data);
                        b"250 queued\r\n"
                    } else if upper.starts_with("QUIT") {
                        let _ = w.write_all(b"221 bye\r\n").await;
                        break;
                    } else {
                        b"250 ok\r\n"
                    };
                    let _ = w.write_all(reply).await;
                }
            });
        }
    });
    (addr, got)
}

#[tokio::test]
async fn email_goes_out_with_html_and_text_and_starttls_is_the_default() {
    let mut env = Env::scenarios(5).await;
    env.pull().await;
    let (addr, got) = smtp_sink().await;
    let password = env.dir.path().join("smtp-password");
    std::fs::write(&password, "smtp-pass\n").unwrap();
    env.extend_config(&format!(
        "\n[report.delivery]\nattempts = 2\nbackoff_ms = 10\n[report.delivery.email]\nhost = \"127.0.0.1\"\nport = {}\nstarttls = false\nusername = \"scimdrift\"\npassword_file = {:?}\nfrom = \"scimdrift <scimdrift@example.com>\"\nto = [\"admins@example.com\", \"sec@example.com\"]\n",
        addr.port(),
        password.display().to_string()
    ));
    let metrics = Metrics::new();
    let out = scimdrift::app::daily::run_daily(&env.settings, &metrics, Utc::now())
        .await
        .unwrap();
    assert!(out.deliveries[0].ok, "{:?}", out.deliveries);
    assert_eq!(counter(&metrics, "email", "success"), 1);
    let got = got.lock().unwrap().clone();
    assert_eq!(got.rcpt.len(), 2);
    // AUTH PLAIN of "\0scimdrift\0smtp-pass": the password came from its file.
    assert_eq!(got.auth, ["AHNjaW1kcmlmdABzbXRwLXBhc3M="]);
    let data = &got.data[0];
    assert!(data.contains("multipart/alternative"), "{data}");
    assert!(data.contains("text/plain") && data.contains("text/html"));
    assert!(data.contains("Subject: scimdrift report"));

    // STARTTLS is the default: a server that does not offer it gets nothing, and that is a
    // counted failure, never a lost report.
    let text = std::fs::read_to_string(&env.config)
        .unwrap()
        .replace("starttls = false\nusername = \"scimdrift\"\n", "")
        .replace(
            &format!("password_file = {:?}\n", password.display().to_string()),
            "",
        );
    std::fs::write(&env.config, text).unwrap();
    env.extend_config("");
    assert!(
        env.settings
            .report
            .delivery
            .email
            .as_ref()
            .unwrap()
            .starttls
    );
    let out = scimdrift::app::daily::run_daily(&env.settings, &metrics, Utc::now())
        .await
        .unwrap();
    assert!(!out.deliveries[0].ok);
    assert_eq!(counter(&metrics, "email", "failure"), 1);
    assert!(env.store().report_on(out.date).unwrap().is_some());
}

#[tokio::test]
async fn directory_delivery_writes_every_format() {
    let mut env = Env::scenarios(5).await;
    env.pull().await;
    let dir = env.dir.path().join("reports");
    env.extend_config(&format!(
        "\n[report.delivery]\ndirectory = {:?}\n",
        dir.display().to_string()
    ));
    let metrics = Metrics::new();
    let out = scimdrift::app::daily::run_daily(&env.settings, &metrics, Utc::now())
        .await
        .unwrap();
    assert!(out.deliveries[0].ok);
    assert_eq!(counter(&metrics, "directory", "success"), 1);
    for format in ReportFormat::ALL {
        let path = dir.join(format!(
            "scimdrift-report-{}.{}",
            out.date,
            format.extension()
        ));
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, report::render(&out.report, format));
    }
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        4,
        "no temporary files left"
    );
}

#[tokio::test]
async fn retention_deletes_old_reports_only_and_a_rerun_replaces() {
    let mut env = Env::scenarios(5).await;
    env.extend_config("\n[report]\nkeep_days = 3\n");
    env.pull().await;
    let metrics = Metrics::new();
    let now = Utc::now();
    let day = |n: i64| now - Duration::days(n);
    for n in [10, 3, 2, 1] {
        scimdrift::app::daily::run_daily(&env.settings, &metrics, day(n))
            .await
            .unwrap();
    }
    let (snapshots, findings) = {
        let s = env.store();
        (s.snapshots(100).unwrap().len(), s.findings().unwrap().len())
    };
    let first = scimdrift::app::daily::run_daily(&env.settings, &metrics, now)
        .await
        .unwrap();
    assert_eq!(first.deleted_reports, 1, "the report of 3 days ago");
    let again =
        scimdrift::app::daily::run_daily(&env.settings, &metrics, now + Duration::seconds(5))
            .await
            .unwrap();
    assert_eq!(again.deleted_reports, 0);
    let store = env.store();
    let dates: Vec<_> = [0, 1, 2]
        .iter()
        .map(|n| scimdrift::app::daily::report_date(&env.settings, day(*n)))
        .collect();
    assert_eq!(
        store.report_dates().unwrap(),
        dates,
        "today, yesterday, the day before"
    );
    assert_eq!(
        store.report_on(dates[0]).unwrap().unwrap().generated_at,
        again.report.generated_at,
        "a rerun the same day replaces the report"
    );
    assert_eq!(
        store.snapshots(100).unwrap().len(),
        snapshots,
        "snapshots untouched"
    );
    assert_eq!(
        store.findings().unwrap().len(),
        findings,
        "findings untouched"
    );
}

/// A 200-character display name (no spaces to break at in its second half) and a long email.
const LONG_NAME_TAIL: &str = "Wolfeschlegelsteinhausenbergerdorffwelchevoralternwarengewissenhaftschaferswessenschafewarenwohlgepflegtundsorgfaltigkeitbeschutzenvon";
const LONG_EMAIL: &str = "hubert.blaine.wolfeschlegelsteinhausenbergerdorff.senior.identity.engineer@subsidiary.department.example-corporation.com";

/// The scenario world with its IdP (every IdP kind, a quarantined job), an earlier report, a
/// resolved and a suppressed finding, a new critical finding and a person with a 200-character
/// display name and a long email: every section shows.
async fn showcase_report() -> Report {
    showcase().await.0
}

/// [`showcase_report`] with its environment (for the person pages).
async fn showcase() -> (Report, Env) {
    let mut env = Env::start_with_idp(
        World::idp_scenarios_with_healthy(25, 3, Utc::now()),
        SimOptions::default(),
    )
    .await;
    env.extend_config("\n[detect]\nidp_grace_minutes = 0\n");
    let world = env.sim.world();
    let (r8, r10, a10) = (
        world.labels["R8"].clone(),
        world.labels["R10"].clone(),
        world.labels["A10"].clone(),
    );
    let long_name = format!("Hubert Blaine {LONG_NAME_TAIL}{LONG_NAME_TAIL}");
    let long_name: String = long_name.chars().take(200).collect();
    assert_eq!(long_name.chars().count(), 200);
    env.sim.update_world(|w| {
        for d in &mut w.directories {
            if let Some(u) = d.user_mut(&r10) {
                u.display_name = Some(long_name.clone());
                u.user_name = LONG_EMAIL.into();
                u.emails = vec![SimEmail::work(LONG_EMAIL)];
            }
        }
        if let Some(a) = w.account_mut(&a10) {
            a.name = long_name.clone();
            a.email = Some(LONG_EMAIL.into());
        }
    });
    env.pull().await;
    let metrics = Metrics::new();
    let yesterday = Utc::now() - Duration::days(1);
    scimdrift::app::daily::run_daily(&env.settings, &metrics, yesterday)
        .await
        .unwrap();
    // Eli is deprovisioned in the IdP too: deactivated_idp_active resolves.
    env.sim.update_world(|w| {
        for d in &mut w.directories {
            if let Some(u) = d.user_mut(&r8) {
                u.active = Some(false);
                u.last_modified = Utc::now();
            }
        }
    });
    deprovision_a_healthy_user(&env);
    env.extend_config(
        "\n[[ignore]]\nkind = \"dangling_link\"\nemail = \"hal@example.com\"\nreason = \"account deleted on purpose; IdP cleanup ticket OPS-123\"\nexpires = \"2099-12-31\"\n",
    );
    env.pull().await;
    (build(&env, Utc::now()), env)
}

/// Writes the showcase report as `report.html` and `report.md`, and two `/person` pages
/// (`person.html`, `person-idp.html`), into `$SCIMDRIFT_REPORT_OUT`
/// (default: the system temp dir), for the browser width check of `.ci/ops-checks.sh` and the
/// screenshot docs/report.png (shown in docs/report.md): `SCIMDRIFT_REPORT_OUT=DIR cargo test --test report -- --ignored write_showcase_report`.
#[tokio::test]
#[ignore]
async fn write_showcase_report() {
    let dir = std::env::var_os("SCIMDRIFT_REPORT_OUT")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (r, env) = showcase().await;
    let html = report::render(&r, ReportFormat::Html);
    assert!(html.contains(LONG_EMAIL) && html.contains(&LONG_NAME_TAIL[..100]));
    // The Teams webhook's Adaptive Card, for the validator of the ops checks.
    let link = Some("https://scimdrift.example.com/report/2026-01-01");
    let teams = report::webhook_payload(&r, report::WebhookFormat::Teams, link);
    std::fs::write(dir.join("teams.json"), teams.to_string()).unwrap();
    // `/person` pages: the long email and name, and an IdP user with a provisioning error.
    let dirs = env.settings.person_directories();
    for (file, who) in [
        ("person.html", LONG_EMAIL),
        ("person-idp.html", "mo@example.com"),
    ] {
        let h = scimdrift::person::history(&env.store(), who, &dirs).unwrap();
        assert!(!h.is_empty(), "{who}");
        std::fs::write(dir.join(file), report::render_person(&h, who)).unwrap();
    }
    assert!(html.contains("IdP provisioning") && html.contains("provisionOnDemand"));
    std::fs::write(dir.join("report.html"), html).unwrap();
    std::fs::write(
        dir.join("report.md"),
        report::render(&r, ReportFormat::Markdown),
    )
    .unwrap();
}

#[tokio::test]
async fn config_refuses_inline_secrets_and_names_the_key() {
    let env = Env::scenarios(1).await;
    let base = std::fs::read_to_string(&env.config).unwrap();
    let load = |extra: &str| {
        std::fs::write(&env.config, format!("{base}\n{extra}")).unwrap();
        scimdrift::config::Settings::load(Some(&env.config))
    };
    let err = load("[report.delivery]\nwebhook_url = \"https://hooks.example.com/T/B/tok3n\"\n")
        .unwrap_err();
    assert_eq!(err.key, "report.delivery.webhook_url");
    assert!(!err.to_string().contains("tok3n"), "{err}");
    let err = load(
        "[report.delivery.email]\nhost = \"smtp.example.com\"\nfrom = \"s@example.com\"\nto = [\"a@example.com\"]\nusername = \"u\"\npassword = \"hunter2\"\n",
    )
    .unwrap_err();
    assert_eq!(err.key, "report.delivery.email.password");
    assert!(!err.to_string().contains("hunter2"));
    assert_eq!(
        load("[report]\nkeep_days = 0\n").unwrap_err().key,
        "report.keep_days"
    );
    assert_eq!(
        load("[report]\nkeep_dayz = 3\n").unwrap_err().key,
        "report.keep_dayz"
    );
    let ok =
        load("[report]\nkeep_days = 30\n[report.delivery]\nwebhook_url_env = \"HOOK\"\n").unwrap();
    assert_eq!(ok.report.keep_days, 30);
    assert!(
        !ok.effective_toml().contains("webhook_url ="),
        "no inline key in the effective config"
    );
}

/// The IdP scenario world (`World::idp_scenarios`) pulled twice with no grace span: every IdP kind
/// is open.
async fn idp_env() -> Env {
    let mut env = Env::start_with_idp(
        World::idp_scenarios_with_healthy(10, 5, Utc::now()),
        SimOptions::default(),
    )
    .await;
    env.extend_config("\n[detect]\nidp_grace_minutes = 0\n");
    assert!(env.pull().await.recorded.complete);
    assert!(env.pull().await.recorded.complete);
    env
}

fn idp_findings<'a>(r: &'a Report, kind: &str) -> Vec<&'a report::ReportFinding> {
    find(r, kind)
}

#[tokio::test]
async fn the_idp_job_health_is_at_the_top_and_each_person_shows_their_idp_user() {
    let env = idp_env().await;
    let world = env.sim.world();
    let l = |k: &str| world.labels[k].clone();
    let tenant = &world.entra[0];
    let r = build(&env, Utc::now());

    // (1) The job's health, per directory with an IdP.
    assert_eq!(r.idp.len(), 1, "{:#?}", r.idp);
    let h = &r.idp[0];
    assert_eq!(h.directory, "entra");
    assert_eq!(h.idp, "entra");
    assert_eq!(h.status, "Quarantine");
    let job = h.job.as_ref().unwrap();
    assert_eq!(
        job.quarantine_reason.as_deref(),
        Some("EncounteredEscrowProportionThreshold")
    );
    assert!(job.quarantined_since.is_some() && job.next_attempt.is_some());
    assert!(job.last_completed_cycle.is_some());
    assert_eq!(job.interval_minutes, Some(40));
    assert!(h.stalled.as_deref().unwrap().contains("quarantined"));
    assert_eq!(h.logs_readable, Some(true));
    let mapping = h.mapping.as_ref().unwrap();
    assert!(mapping.derived, "{mapping:?}");
    assert_eq!(mapping.email, "mail");
    assert!(mapping.rule_id.is_some());
    assert!(h.intended_users > 0 && h.intended_enabled_users < h.intended_users);
    // Atlassian Users, N2 and the three group seeds (GA, GD, GF).
    assert_eq!(h.assigned_groups, 5);
    assert_eq!(h.security_enabled_groups, 4, "N2 is not security-enabled");
    assert!(h.warnings.is_empty(), "{:?}", h.warnings);
    // It links to the stalled finding, listed under the job.
    let stalled = idp_findings(&r, "provisioning_stalled");
    assert_eq!(stalled.len(), 1);
    assert_eq!(h.stalled_finding, stalled[0].person);
    let job_entry = r
        .people
        .iter()
        .find(|p| Some(&p.anchor) == h.stalled_finding.as_ref())
        .unwrap();
    assert_eq!(job_entry.title(), "IdP provisioning job of entra");
    assert_eq!(stalled[0].idp_directory.as_deref(), Some("entra"));

    // (2) The IdP side beside each person's records and accounts.
    let person = |email: &str| {
        r.people
            .iter()
            .find(|p| p.email.as_deref() == Some(email))
            .unwrap_or_else(|| panic!("no person {email}"))
    };
    let jon = person("jon@example.com");
    let e2 = jon.idp_users.iter().find(|u| u.id == l("E2")).unwrap();
    assert_eq!(e2.enabled, Some(false));
    assert!(e2.intended && !e2.deleted);
    assert_eq!(e2.user_principal_name.as_deref(), Some("jon@example.com"));
    assert!(
        jon.subjects
            .iter()
            .any(|s| s.scim_user.as_ref().is_some_and(|u| u.scim_id == l("R12")))
    );
    let kai = person("kai@example.com");
    assert!(kai.idp_users.iter().any(|u| u.id == l("E3") && u.deleted));
    // Pia's IdP user has another email than her record: joined through the finding.
    let pia = person("pia@example.com");
    assert_eq!(
        pia.idp_users[0].email.as_deref(),
        Some("pia.lind@example.com")
    );
    // Ivy has no record and no account: her IdP user names her.
    let ivy = person("ivy@example.com");
    assert!(ivy.subjects.is_empty());
    assert_eq!(ivy.idp_users[0].id, l("E1"));
    // An Atlassian kind shows the IdP side too, joined by the mapped email.
    let fay = person("fay@example.com");
    assert!(!fay.idp_users.is_empty(), "{fay:#?}");

    // (3) The provisioning log event with the finding.
    let e5 = idp_findings(&r, "provisioning_error")
        .into_iter()
        .find(|f| f.idp_users.iter().any(|u| u.id == l("E5")))
        .unwrap();
    let event = e5.provisioning.as_ref().unwrap();
    assert_eq!(event.status, "failure");
    assert_eq!(event.error_code.as_deref(), Some("EntryConflict"));
    assert!(event.reason.as_deref().unwrap().contains("already exists"));

    // (4) The exact Entra fix: the admin center path and the Graph request.
    let sp = &tenant.app_service_principal_id;
    let job_id = &job.job_id;
    let ivy_fix = idp_findings(&r, "assigned_not_provisioned")
        .into_iter()
        .find(|f| f.idp_users.iter().any(|u| u.id == l("E1")))
        .unwrap();
    assert!(ivy_fix.portal_steps.iter().any(|s| s.console == "Entra admin center"
        && s.path == "Enterprise applications → Atlassian Cloud → Provisioning → Provision on demand"
        && s.note.contains("ivy@example.com")));
    let pod = ivy_fix.requests.iter().find(|q| q.api == "graph").unwrap();
    assert_eq!(pod.method, "POST");
    assert_eq!(
        pod.path,
        format!("/servicePrincipals/{sp}/synchronization/jobs/{job_id}/provisionOnDemand")
    );
    assert!(pod.base_url.ends_with("/graph/v1.0"), "{}", pod.base_url);
    let body: serde_json::Value = serde_json::from_str(pod.body.as_deref().unwrap()).unwrap();
    assert_eq!(
        body["parameters"][0]["subjects"][0]["objectId"],
        l("E1").as_str()
    );
    assert_eq!(
        body["parameters"][0]["subjects"][0]["objectTypeName"],
        "User"
    );
    assert_eq!(
        body["parameters"][0]["ruleId"],
        mapping.rule_id.as_deref().unwrap()
    );
    assert!(pod.key.contains("Synchronization.ReadWrite.All"));
    let restart = stalled[0]
        .requests
        .iter()
        .find(|q| q.api == "graph")
        .unwrap();
    assert_eq!(
        format!("{} {}", restart.method, restart.path),
        format!("POST /servicePrincipals/{sp}/synchronization/jobs/{job_id}/restart")
    );
    assert!(restart.body.as_deref().unwrap().contains("\"resetScope\""));
    assert!(stalled[0].portal_steps.iter().any(|s| s.path
        == "Enterprise applications → Atlassian Cloud → Provisioning → Restart provisioning"));
    let nested = &idp_findings(&r, "nested_group_only")[0];
    assert!(nested.portal_steps.iter().any(|s| s.path
        == "Enterprise applications → Atlassian Cloud → Users and groups → Add user/group"));
    // The Atlassian kinds keep their Atlassian requests only.
    assert!(
        find(&r, "idp_inactive_account_active")[0]
            .requests
            .iter()
            .all(|q| q.api == "atlassian")
    );

    // Every format says which API a request goes to, and never a secret.
    let html = report::render(&r, ReportFormat::Html);
    let md = report::render(&r, ReportFormat::Markdown);
    let csv = report::render(&r, ReportFormat::Csv);
    let json = report::render(&r, ReportFormat::Json);
    assert!(html.contains("<h2 id=\"idp\">IdP provisioning</h2>"));
    assert!(html.find("id=\"idp\"").unwrap() < html.find("id=\"summary\"").unwrap());
    assert!(html.contains("<span class=\"api api-graph\">Graph</span>"));
    assert!(html.contains("<span class=\"api api-atlassian\">Atlassian</span>"));
    assert!(html.contains("<table class=\"stack idpusers\">"));
    assert!(html.contains("Provisioning log: "));
    assert!(md.contains("## IdP provisioning"));
    assert!(md.contains("(Graph) `POST "));
    assert!(md.contains("(Atlassian) `POST "));
    assert!(md.contains("| IdP directory | UPN |"));
    assert!(no_raw_angle_brackets(&md), "raw tag in Markdown");
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let header = reader.headers().unwrap().clone();
    let col = |n: &str| header.iter().position(|h| h == n).unwrap();
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert!(rows.iter().all(|row| row.len() == header.len()));
    assert!(rows.iter().any(|row| &row[col("subject")] == "idp_user"
        && row[col("idp_user_id")] == l("E1")
        && &row[col("user_principal_name")] == "ivy@example.com"));
    assert!(
        rows.iter()
            .any(|row| row[col("provisioning_reason")].contains("already exists"))
    );
    assert!(
        rows.iter()
            .any(|row| row[col("requests")].starts_with("(Graph) POST "))
    );
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json["idp"][0]["status"], "Quarantine");
    assert_eq!(
        json["idp"][0]["job"]["quarantine_reason"],
        "EncounteredEscrowProportionThreshold"
    );
    assert!(
        json["people"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| !p["idp_users"].as_array().unwrap().is_empty())
    );
    for text in [&html, &md, &csv, &json.to_string()] {
        assert!(
            !text.contains(&tenant.client_secret),
            "a secret in the report"
        );
    }
}

#[tokio::test]
async fn an_already_exists_error_is_shown_with_the_email_conflict() {
    let env = idp_env().await;
    // Ana's Entra user (R2's externalId e-205) fails to be created: her email is held by A1,
    // which the email_conflict about ana@example.com names.
    let now = Utc::now();
    env.sim.update_world(|w| {
        let t = &mut w.entra[0];
        let event = scimdrift::sim::SimProvisioningEvent::success(
            t,
            "create",
            ("e-205", "Ana Ito"),
            "",
            now - Duration::minutes(5),
        )
        .failed(
            "EntryConflict",
            "Resource [USER]: with email[ana@example.com] already exists.",
        );
        t.log(event);
    });
    env.pull().await;
    env.pull().await;
    let r = build(&env, Utc::now());
    let ana = r
        .people
        .iter()
        .find(|p| p.email.as_deref() == Some("ana@example.com"))
        .unwrap();
    let error = ana
        .findings
        .iter()
        .find(|f| f.kind == Kind::ProvisioningError)
        .expect("the provisioning_error is listed with Ana");
    let conflict = ana
        .findings
        .iter()
        .find(|f| f.kind == Kind::EmailConflict)
        .unwrap();
    assert_eq!(error.related.len(), 1, "{:#?}", error.related);
    assert_eq!(error.related[0].id, conflict.id);
    assert!(error.related[0].note.contains("ana@example.com"));
    assert_eq!(conflict.related[0].id, error.id);
    let html = report::render(&r, ReportFormat::Html);
    assert!(html.contains("Shown together with <code>email_conflict</code>"));
    assert!(
        report::render(&r, ReportFormat::Markdown)
            .contains("**Shown together with `provisioning_error`:**")
    );
}

#[tokio::test]
async fn an_idp_display_name_with_a_script_is_escaped() {
    let env = idp_env().await;
    let e7 = env.sim.world().labels["E7"].clone();
    let name = "<script>alert('pia')</script>";
    env.sim.update_world(|w| {
        for u in w.entra[0].users.iter_mut().filter(|u| u.id == e7) {
            u.display_name = name.into();
        }
    });
    env.pull().await;
    let r = build(&env, Utc::now());
    let pia = r
        .people
        .iter()
        .find(|p| p.email.as_deref() == Some("pia@example.com"))
        .unwrap();
    assert_eq!(pia.idp_users[0].display_name.as_deref(), Some(name));
    let html = report::render(&r, ReportFormat::Html);
    assert!(!html.contains("<script"), "raw script tag in HTML");
    assert!(html.contains("&lt;script&gt;alert("));
    let md = report::render(&r, ReportFormat::Markdown);
    assert!(no_raw_angle_brackets(&md), "raw tag in Markdown");
}

/// The by-kind table counts each finding under its own severity: a kind's findings may differ
/// (an IdP-disabled user whose account has access is critical, one without high).
#[tokio::test]
async fn by_kind_counts_each_finding_under_its_own_severity() {
    let env = idp_env().await;
    let r = build(&env, Utc::now());
    let open: Vec<&report::ReportFinding> = r.people.iter().flat_map(|p| &p.findings).collect();
    let mut expected: std::collections::BTreeMap<(String, String), usize> = Default::default();
    for f in &open {
        *expected
            .entry((f.kind.to_string(), f.severity.to_string()))
            .or_default() += 1;
    }
    let kinds_with_two = expected
        .keys()
        .filter(|(k, _)| expected.keys().filter(|(k2, _)| k2 == k).count() > 1)
        .count();
    assert!(
        kinds_with_two > 0,
        "the world has a kind of two severities: {expected:?}"
    );
    let got: std::collections::BTreeMap<(String, String), usize> = r
        .summary
        .by_kind
        .iter()
        .filter(|k| k.open > 0)
        .map(|k| ((k.kind.to_string(), k.severity.to_string()), k.open))
        .collect();
    assert_eq!(got, expected);
    for s in &r.summary.by_severity {
        let in_table: usize = r
            .summary
            .by_kind
            .iter()
            .filter(|k| k.severity == s.severity)
            .map(|k| k.open)
            .sum();
        assert_eq!(in_table, s.open, "{:?}", s.severity);
    }
}

/// Code in scimdrift's own text (a directory's name in a request's key, a command in a warning) is
/// rendered as code: no literal backtick in the HTML, no escaped one in the Markdown.
#[tokio::test]
async fn code_is_rendered_as_code_never_as_backticks() {
    let r = showcase_report().await;
    let html = report::render(&r, ReportFormat::Html);
    let md = report::render(&r, ReportFormat::Markdown);
    assert!(
        html.contains("directory API key of <code>entra</code>"),
        "the key is shown"
    );
    assert!(!html.contains('`'), "a literal backtick in the HTML");
    assert!(md.contains("directory API key of `entra`"));
    assert!(!md.contains("\\`"), "an escaped backtick in the Markdown");
    // Which status is which.
    assert!(html.contains("account: active · membership: active"));
    assert!(md.contains("account: active · membership: active"));
}

/// The report opens with the trend of open findings by severity over the last 30 days: an
/// inline SVG (no script, no external asset) and the same numbers in a table; today's counts are
/// the summary's.
#[tokio::test]
async fn the_trend_of_open_findings_per_day_opens_the_report() {
    let env = idp_env().await;
    let r = build(&env, Utc::now());
    assert_eq!(r.trend.len(), 30);
    let today = r.trend.last().unwrap();
    assert_eq!(today.date, r.date);
    for s in &r.summary.by_severity {
        let n = match s.severity {
            Severity::Critical => today.critical,
            Severity::High => today.high,
            Severity::Medium => today.medium,
            Severity::Low => today.low,
        };
        assert_eq!(n, s.open, "{:?}", s.severity);
    }
    assert!(today.total() > 0);
    assert_eq!(r.trend[0].total(), 0, "nothing was open 29 days ago");
    let html = report::render(&r, ReportFormat::Html);
    let svg = html.find("<svg role=\"img\"").expect("an inline SVG chart");
    assert!(
        svg < html.find("id=\"idp\"").unwrap(),
        "the report opens with it"
    );
    assert!(!html.contains("<script") && !html.contains("<img") && !html.contains("xlink:href"));
    let table = &html[html
        .find("Open findings by severity per day</caption>")
        .unwrap()..];
    let rows = table[..table.find("</table>").unwrap()]
        .matches("<th scope=\"row\">")
        .count();
    assert_eq!(rows, 30, "every day's numbers in the table");
    let md = report::render(&r, ReportFormat::Markdown);
    assert!(md.contains(&format!(
        "**Open findings, last 30 days:** 0 on {}",
        r.trend[0].date
    )));
}

/// The Groups section lists each pushed IdP group beside its SCIM group with its open findings; each
/// person shows their groups on both sides, the missing and extra ones marked; fixes are Entra's.
#[tokio::test]
async fn pushed_groups_and_each_persons_groups_on_both_sides() {
    let env = idp_env().await;
    let world = env.sim.world();
    let l = |k: &str| world.labels[k].clone();
    let r = build(&env, Utc::now());

    let row = |label: &str| {
        r.groups
            .iter()
            .find(|g| g.idp_group_id == l(label))
            .unwrap_or_else(|| panic!("no row for {label}: {:#?}", r.groups))
    };
    // Atlassian Users, GA, GD, GF: N2 is not security-enabled, so not pushed.
    assert_eq!(r.groups.len(), 4, "{:#?}", r.groups);
    assert!(
        r.groups[0].not_provisioned,
        "trouble first: {:#?}",
        r.groups
    );
    let ga = row("GA");
    assert!(ga.not_provisioned && ga.scim_group_id.is_none() && ga.joined_by.is_none());
    let gd = row("GD");
    assert_eq!(gd.scim_group_id.as_deref(), Some(l("G3").as_str()));
    assert_eq!(gd.joined_by, Some(scimdrift::detect::GroupKey::ExternalId));
    assert_eq!(
        (gd.missing, gd.extra, gd.idp_members, gd.scim_members),
        (1, 0, 2, 1)
    );
    let gf = row("GF");
    assert_eq!(gf.joined_by, Some(scimdrift::detect::GroupKey::DisplayName));
    assert_eq!(gf.scim_name.as_deref(), Some("ATLASSIAN FINANCE"));
    assert_eq!((gf.missing, gf.extra), (0, 1));
    let users = r
        .groups
        .iter()
        .find(|g| g.name.as_deref() == Some("Atlassian Users"))
        .unwrap();
    assert_eq!(users.scim_group_id.as_deref(), Some(l("G1").as_str()));
    assert_eq!((users.missing, users.extra), (0, 0));

    let person = |email: &str| {
        r.people
            .iter()
            .find(|p| p.email.as_deref() == Some(email))
            .unwrap_or_else(|| panic!("no person {email}"))
    };
    let group = |p: &report::Person, name: &str| {
        p.groups
            .iter()
            .find(|g| g.name == name)
            .unwrap_or_else(|| panic!("{name} not among {:#?}", p.groups))
            .clone()
    };
    let uma = person("uma@example.com");
    let designers = group(uma, "Atlassian Designers");
    assert_eq!(
        (
            designers.in_idp,
            designers.in_scim,
            designers.mark.as_deref()
        ),
        (Some(true), false, Some("missing"))
    );
    let all = group(uma, "Atlassian Users");
    assert_eq!(
        (all.in_idp, all.in_scim, all.mark),
        (Some(true), true, None)
    );
    let vic = person("vic@example.com");
    let finance = group(vic, "Atlassian Finance");
    assert_eq!(
        (finance.in_idp, finance.in_scim, finance.mark.as_deref()),
        (Some(false), true, Some("extra"))
    );
    // The group never pushed is listed under the group, not under a person or the job.
    let never = find(&r, "group_not_provisioned");
    assert_eq!(never.len(), 1);
    let holder = r
        .people
        .iter()
        .find(|p| p.findings.iter().any(|f| f.id == never[0].id))
        .unwrap();
    assert_eq!(holder.title(), "IdP group Atlassian Admins of entra");
    // Fixes in Entra's words.
    let missing = find(&r, "group_membership_missing");
    assert!(
        missing[0]
            .portal_steps
            .iter()
            .any(|s| s.path.contains("Provision on demand")
                && s.note.contains("Atlassian Designers")),
        "{:#?}",
        missing[0].portal_steps
    );
    assert!(
        never[0]
            .portal_steps
            .iter()
            .any(|s| s.note.contains("already exists")),
        "{:#?}",
        never[0].portal_steps
    );

    let html = report::render(&r, ReportFormat::Html);
    assert!(html.contains("Pushed groups"), "the Groups section");
    assert!(html.contains("MISSING in Atlassian") && html.contains("EXTRA: left the IdP group"));
    let md = report::render(&r, ReportFormat::Markdown);
    assert!(md.contains("## Pushed groups"));
    assert!(
        md.contains("Atlassian Designers **MISSING in Atlassian**"),
        "{md}"
    );
}

/// A job schema that cannot be read leaves groups assumed pushed: the report says so.
#[tokio::test]
async fn groups_assumed_pushed_are_called_out() {
    let mut options = SimOptions::default();
    options.entra.schema = scimdrift::sim::SchemaStyle::ServerError;
    let mut env =
        Env::start_with_idp(World::idp_scenarios_with_healthy(5, 5, Utc::now()), options).await;
    env.extend_config("\n[detect]\nidp_grace_minutes = 0\n");
    assert!(env.pull().await.recorded.complete);
    let r = build(&env, Utc::now());
    assert!(
        r.idp[0]
            .warnings
            .iter()
            .any(|w| w.contains("assumed pushed")),
        "{:#?}",
        r.idp[0].warnings
    );
}
