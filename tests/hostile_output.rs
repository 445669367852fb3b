//! Hostile values from the APIs (emails, error bodies) reach the terminal escaped, and CSV cells
//! a spreadsheet would run as formulas are neutralised; JSON stays as serde writes it.

mod common;

use common::Env;
use scimdrift::sim::{Api, FaultKind, FaultRule, Faults, SimEmail};

/// OSC "set the terminal title", BEL, CSI "clear screen", and a right-to-left override.
const HOSTILE: &str = "h\u{1b}]0;x\u{7}\u{1b}[2J\u{202e}@e.co";
const HOSTILE_SHOWN: &str = "h\\u{1b}]0;x\\u{7}\\u{1b}[2J\\u{202e}@e.co";

/// No character a terminal would act on (newlines between lines are the output's own).
fn assert_inert(text: &str) {
    let raw: Vec<char> = text
        .chars()
        .filter(|&c| c != '\n' && scimdrift::escape::is_control(c))
        .collect();
    assert!(raw.is_empty(), "raw controls {raw:?} in:\n{text}");
}

fn set_email(env: &Env, label: &str, email: &str) {
    let id = env.sim.world().label(label).unwrap().to_owned();
    env.sim.update_world(|w| {
        let u = w.user_mut(&id).unwrap();
        u.user_name = email.to_owned();
        u.emails = vec![SimEmail::work(email)];
    });
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn findings_once_and_snapshots_print_hostile_values_escaped() {
    let env = Env::scenarios(2).await;
    // R11 is a dangling link: its finding names only this record, so its email is the subject.
    set_email(&env, "R11", HOSTILE);
    let out = env.cli(&["once"]).await;
    assert_eq!(out.status.code(), Some(0));
    assert_inert(&stdout(&out));

    let out = env.cli(&["findings", "--kind", "dangling_link"]).await;
    let table = stdout(&out);
    assert!(table.contains(HOSTILE_SHOWN), "{table}");
    assert_inert(&table);

    let out = env
        .cli(&["findings", "--kind", "dangling_link", "--format", "csv"])
        .await;
    let csv = stdout(&out);
    assert!(csv.contains(HOSTILE_SHOWN), "{csv}");
    assert_inert(&csv);

    // JSON keeps the value as it is (serde escapes C0 controls as \u001b).
    let out = env
        .cli(&["findings", "--kind", "dangling_link", "--format", "json"])
        .await;
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["findings"][0]["scim_users"][0]["email"], HOSTILE);
    assert!(!stdout(&out).contains('\u{1b}'));

    // An API error body carrying the same characters: `once` and `snapshots` show it escaped.
    env.sim
        .set_faults(Faults::rules([FaultRule::new(FaultKind::StatusMessage(
            400,
            format!("bad request {HOSTILE}"),
        ))
        .on(Api::Accounts)]));
    let out = env.cli(&["once"]).await;
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(text.contains(HOSTILE_SHOWN), "{text}");
    assert_inert(&text);
    let json = env.cli(&["snapshots", "--format", "json"]).await;
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert!(
        v["snapshots"][0]["sources"]
            .to_string()
            .contains("\\u001b]0;x\\u0007"),
        "the error is stored as sent"
    );
    let out = env.cli(&["snapshots"]).await;
    let text = stdout(&out);
    assert!(text.contains(HOSTILE_SHOWN), "{text}");
    assert_inert(&text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn findings_csv_neutralises_formula_cells() {
    let env = Env::scenarios(2).await;
    // Each leads the emails cell of a finding naming only its record and account.
    let planted = [
        ("R7", "-2+3@example.com"),
        ("R8", "+cmd@example.com"),
        ("R9", "=HYPERLINK(\"http://x\")@example.com"),
        ("R10", "@SUM(A1)@example.com"),
    ];
    for (label, email) in planted {
        set_email(&env, label, email);
    }
    assert_eq!(env.cli(&["once"]).await.status.code(), Some(0));
    let out = env.cli(&["findings", "--format", "csv"]).await;
    let text = stdout(&out);
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header = reader.headers().unwrap().clone();
    let emails = header.iter().position(|h| h == "emails").unwrap();
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    for (_, email) in planted {
        assert!(
            rows.iter()
                .any(|r| r[emails].starts_with(&format!("'{email}"))),
            "{email} not neutralised in:\n{text}"
        );
    }
    for r in &rows {
        for cell in r {
            assert!(
                !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
                "{cell}"
            );
        }
    }
}
