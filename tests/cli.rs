//! The command line over real processes: exit codes, the JSON contract, help.

mod common;

use common::Env;
use scimdrift::sim::{Api, FaultKind, FaultRule, Faults};

#[tokio::test]
async fn once_json_contract_and_exit_codes() {
    let env = Env::scenarios(10).await;
    let out = env.cli(&["once", "--format", "json"]).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["snapshot_id"], 1);
    assert_eq!(v["complete"], true);
    assert!(v["duration_seconds"].as_f64().unwrap() >= 0.0);
    let sources = v["sources"].as_array().unwrap();
    let world = env.sim.world();
    assert_eq!(sources.len(), world.directories.len() + 1);
    let entra = sources
        .iter()
        .find(|s| s["source"] == "scim:entra")
        .unwrap();
    assert_eq!(entra["directory_id"], world.directories[0].id.as_str());
    assert_eq!(entra["records"], world.directories[0].users.len());
    assert!(entra["groups"].is_u64());
    assert_eq!(entra["complete"], true);
    assert!(entra["error"].is_null());
    let accounts = sources.iter().find(|s| s["source"] == "accounts").unwrap();
    assert_eq!(accounts["records"], world.accounts.len());
    assert!(accounts.get("directory_id").is_none());
    assert!(accounts["error"].is_null());

    env.sim.set_faults(Faults::rules([
        FaultRule::new(FaultKind::Status(503)).on(Api::Accounts)
    ]));
    let out = env.cli(&["once", "--format", "json"]).await;
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["complete"], false);
    assert!(
        v["sources"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["error"].as_str().is_some_and(|e| e.contains("503")))
    );

    let out = env.cli(&["snapshots", "--format", "json"]).await;
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let list = v["snapshots"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["complete"], false);
    assert_eq!(list[1]["complete"], true);
    let text = env.cli(&["snapshots"]).await;
    assert!(String::from_utf8_lossy(&text.stdout).contains("INCOMPLETE"));
}

#[tokio::test]
async fn nothing_secret_reaches_output_or_database() {
    let env = Env::scenarios(5).await;
    let world = env.sim.world();
    env.sim.set_faults(Faults::rules([
        FaultRule::new(FaultKind::Status(500)).on(Api::Scim)
    ]));
    let out = env.cli(&["once", "--format", "json"]).await;
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let db = std::fs::read(env.db_path()).unwrap();
    let wal = std::fs::read(env.db_path().with_extension("db-wal")).unwrap_or_default();
    let mut secrets = vec![world.org_api_key.clone()];
    secrets.extend(world.directories.iter().map(|d| d.token.clone()));
    for s in secrets {
        assert!(!all.contains(&s), "secret in output");
        let needle = s.as_bytes();
        assert!(
            !db.windows(needle.len()).any(|w| w == needle),
            "secret in database"
        );
        assert!(
            !wal.windows(needle.len()).any(|w| w == needle),
            "secret in WAL"
        );
    }
}

#[test]
fn every_command_has_help() {
    for cmd in ["once", "snapshots", "check-config", "demo", "sim", "bench"] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_scimdrift"))
            .args([cmd, "--help"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{cmd}");
        assert!(String::from_utf8_lossy(&out.stdout).len() > 100, "{cmd}");
    }
}

/// Runs `scimdrift demo --no-serve` (plus `args`) in `cwd`.
fn run_demo(cwd: &std::path::Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_scimdrift"))
        .arg("demo")
        .arg("--no-serve")
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap()
}

/// The lines of `stdout` from the one starting with `from` up to the next blank line.
fn section<'a>(stdout: &'a str, from: &str) -> Vec<&'a str> {
    stdout
        .lines()
        .skip_while(|l| !l.starts_with(from))
        .take_while(|l| !l.trim().is_empty())
        .collect()
}

#[test]
fn demo_runs_end_to_end() {
    let cwd = tempfile::tempdir().unwrap();
    let out = run_demo(cwd.path(), &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("snapshot 1: complete"), "{stdout}");
    assert!(
        // The second pull adds only the Okta user found by the externalId lookup.
        stdout.contains("snapshot 2: complete")
            && stdout.contains("history: 1 version rows added, 0 closed"),
        "{stdout}"
    );
    assert!(
        stdout.contains("1 version rows added, 1 closed"),
        "{stdout}"
    );
    assert!(stdout.contains("INCOMPLETE"), "{stdout}");
    // The Entra-backed directory: the IdP source is pulled and, from the second pull on, every IdP
    // kind of scenarios.md is shown.
    assert!(
        stdout.contains("idp:entra") && stdout.contains("Entra ID tenant"),
        "{stdout}"
    );
    // And the Okta-backed one beside it: its suspended user is told apart.
    assert!(
        stdout.contains("idp:okta") && stdout.contains("Okta org"),
        "{stdout}"
    );
    assert!(
        stdout.contains("is suspended in the IdP (Okta pushes nothing for a suspended user)"),
        "{stdout}"
    );
    for kind in [
        "assigned_not_provisioned",
        "idp_disabled_scim_active",
        "provisioning_error",
        "provisioning_stalled",
        "idp_email_mismatch",
        "nested_group_only",
        "orphan_scim_record",
    ] {
        assert!(stdout.contains(&format!(" {kind} ")), "{kind}: {stdout}");
    }

    // Right after the incomplete pull the snapshot guard refuses; the next pull is complete.
    assert!(
        stdout.contains("snapshot guard: the latest snapshot 4 is incomplete"),
        "{stdout}"
    );
    assert!(stdout.contains("snapshot 5: complete"), "{stdout}");

    // The dry-run plan: fay's suspend passes every guard, gus's is held by confirmations.
    assert!(
        stdout.contains("   Remediation plan for snapshot 5"),
        "{stdout}"
    );
    assert!(
        stdout.contains("     ok      snapshot: snapshot 5"),
        "{stdout}"
    );
    assert!(stdout.contains("     ok      breaker:"), "{stdout}");
    let will = section(&stdout, "     + will suspend");
    assert!(
        will.iter().any(|l| l.contains("<fay@example.com>")),
        "{stdout}"
    );
    let blocked = section(&stdout, "     - blocked: suspend");
    assert!(
        blocked.iter().any(|l| l.contains("<gus@example.com>")),
        "{stdout}"
    );
    assert!(
        blocked
            .iter()
            .any(|l| l.contains("blocked by confirmations: seen in 2 consecutive")),
        "{stdout}"
    );
    assert!(
        stdout.contains("Plan: 1 to apply, 0 dry run, 1 blocked."),
        "{stdout}"
    );

    // The suspend, applied once, with its audit row.
    assert!(
        stdout.contains("applied: 1 succeeded, 0 failed, 0 skipped"),
        "{stdout}"
    );
    let audit: Vec<&str> = stdout
        .lines()
        .filter(|l| l.contains(" suspend ") && l.contains(" apply "))
        .collect();
    assert_eq!(audit.len(), 1, "{stdout}");
    assert!(
        audit[0].contains("success") && audit[0].contains("<fay@example.com>"),
        "{stdout}"
    );

    // The next pull: the suspension is one new version and the finding resolves.
    let sixth = section(&stdout, "snapshot 6: complete");
    assert!(
        sixth.contains(&"  history: 1 version rows added, 1 closed"),
        "{stdout}"
    );
    let kind_row: Vec<&str> = sixth
        .iter()
        .find(|l| l.trim_start().starts_with("idp_inactive_account_active"))
        .unwrap_or_else(|| panic!("{stdout}"))
        .split_whitespace()
        .collect();
    assert_eq!(
        kind_row,
        [
            "idp_inactive_account_active",
            "1",
            "open",
            "0",
            "new",
            "1",
            "resolved"
        ]
    );
    assert!(
        stdout.contains("is now active/suspended (account/membership), her finding resolved."),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "account: active · membership: active → account: active · membership: suspended"
        ),
        "{stdout}"
    );

    // The report is left in ./scimdrift-demo, at the printed path, and is HTML naming the suspend.
    let path = stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("report: "))
        .unwrap_or_else(|| panic!("no report path: {stdout}"));
    let path = std::path::Path::new(path);
    assert_eq!(
        path.parent().unwrap(),
        cwd.path().join("scimdrift-demo").canonicalize().unwrap()
    );
    let html = std::fs::read_to_string(path).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"), "{html}");
    // The action taken: fay's suspend, successful (escaped in the HTML).
    let taken = html
        .split("Actions taken")
        .nth(1)
        .unwrap_or_else(|| panic!("{html}"));
    let taken = &taken[..taken.find("</ul>").unwrap()];
    assert!(
        taken.contains("suspend") && taken.contains("&lt;fay@example.com&gt;: <em>success</em>"),
        "{taken}"
    );

    // The next demo replaces its own directory and starts again from snapshot 1.
    std::fs::write(cwd.path().join("scimdrift-demo/stale.txt"), "x").unwrap();
    let again = run_demo(cwd.path(), &[]);
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert!(String::from_utf8_lossy(&again.stdout).contains("snapshot 1: complete"));
    assert!(!cwd.path().join("scimdrift-demo/stale.txt").exists());

    // A directory that is not the demo's is never replaced.
    let foreign = cwd.path().join("mine");
    std::fs::create_dir(&foreign).unwrap();
    std::fs::write(foreign.join("notes.txt"), "mine").unwrap();
    let refused = run_demo(cwd.path(), &["--keep", "mine"]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("not an earlier demo's directory"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    assert_eq!(std::fs::read_dir(&foreign).unwrap().count(), 1);
}

#[test]
fn usage_error_exits_2() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_scimdrift"))
        .args(["once", "--format", "yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[tokio::test]
async fn demo_serves_the_daemon_when_asked() {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let cwd = tempfile::tempdir().unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_scimdrift"))
        .args(["demo", "--serve-seconds", "4"])
        .current_dir(cwd.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut metrics_url = None;
    while let Some(line) = lines.next_line().await.unwrap() {
        if let Some(url) = line
            .trim()
            .strip_suffix("/metrics")
            .filter(|u| u.starts_with("http://127.0.0.1:"))
        {
            metrics_url = Some(format!("{url}/metrics"));
            break;
        }
    }
    let url = metrics_url.expect("the demo prints the /metrics URL");
    let body = reqwest::get(&url).await.unwrap().text().await.unwrap();
    assert!(body.contains("scimdrift_findings"), "{body}");
    let status = tokio::time::timeout(std::time::Duration::from_secs(20), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success());
}

#[tokio::test]
async fn json_logs_carry_one_event_per_cycle() {
    let env = Env::scenarios(5).await;
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_scimdrift"))
        .arg("--config")
        .arg(&env.config)
        .args(["--log-format", "json", "once"])
        .env("RUST_LOG", "info")
        .output()
        .await
        .unwrap();
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let events: Vec<serde_json::Value> = stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let cycle: Vec<_> = events
        .iter()
        .filter(|e| e["message"] == "cycle finished")
        .collect();
    assert_eq!(cycle.len(), 1, "{stderr}");
    assert_eq!(cycle[0]["complete"], true);
    assert_eq!(cycle[0]["findings_open"], 12);
    assert!(cycle[0]["duration_seconds"].as_f64().is_some());
}

/// Text logs start with the time as every human-facing time is shown: to the second, in UTC.
#[tokio::test]
async fn text_logs_show_times_to_the_second_in_utc() {
    let env = Env::scenarios(5).await;
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_scimdrift"))
        .arg("--config")
        .arg(&env.config)
        .arg("once")
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let first = stderr.lines().next().expect("an INFO line");
    let at = first.get(..23).unwrap_or_default();
    assert!(
        chrono::NaiveDateTime::parse_from_str(at, "%Y-%m-%d %H:%M:%S UTC").is_ok(),
        "{first}"
    );
}

/// Under systemd (stderr is the stream `JOURNAL_STREAM` names), each event is one line with its
/// syslog priority prefix and no time stamp (journald adds its own): `journalctl -p warning` finds
/// the warnings.
#[tokio::test]
async fn under_journald_each_event_is_one_line_with_its_priority() {
    use std::os::unix::fs::MetadataExt;
    let env = Env::scenarios(5).await;
    // Every accounts request fails: the pull is incomplete, which is logged as a warning or error.
    env.sim.set_faults(scimdrift::sim::Faults::rules([
        scimdrift::sim::FaultRule::new(scimdrift::sim::FaultKind::Status(503))
            .on(scimdrift::sim::Api::Accounts),
    ]));
    let log = env.dir.path().join("journal.log");
    let file = std::fs::File::create(&log).unwrap();
    let meta = file.metadata().unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_scimdrift"))
        .arg("--config")
        .arg(&env.config)
        .arg("once")
        .env("RUST_LOG", "info")
        .env("JOURNAL_STREAM", format!("{}:{}", meta.dev(), meta.ino()))
        .stdout(std::process::Stdio::null())
        .stderr(file)
        .status()
        .await
        .unwrap();
    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(out.code(), Some(1), "incomplete: {text}");
    let mut priorities = std::collections::BTreeSet::new();
    for line in text.lines() {
        let p = line
            .strip_prefix('<')
            .and_then(|l| l.split_once('>'))
            .map(|(p, _)| p)
            .unwrap_or_else(|| panic!("no priority prefix: {line}"));
        assert!(["3", "4", "6", "7"].contains(&p), "{line}");
        priorities.insert(p.to_string());
        let rest = &line[p.len() + 2..];
        assert!(!rest.starts_with("20"), "journald stamps the time: {line}");
    }
    assert!(priorities.contains("6"), "{text}");
    assert!(
        priorities.contains("4") || priorities.contains("3"),
        "{text}"
    );
    // Not the journal's stream: the human format with its time.
    let other = tokio::process::Command::new(env!("CARGO_BIN_EXE_scimdrift"))
        .arg("--config")
        .arg(&env.config)
        .arg("once")
        .env("RUST_LOG", "info")
        .env("JOURNAL_STREAM", "1:1")
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&other.stderr);
    assert!(stderr.lines().all(|l| !l.starts_with('<')), "{stderr}");

    // The command's own error (exit 2), several lines long (a TOML error shows the line), is one
    // entry of priority error.
    let bad = env.dir.path().join("bad.toml");
    std::fs::write(&bad, "[atlassian\norg_id = 1\n").unwrap();
    let file = std::fs::File::create(&log).unwrap();
    let meta = file.metadata().unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_scimdrift"))
        .arg("--config")
        .arg(&bad)
        .arg("check-config")
        .env("JOURNAL_STREAM", format!("{}:{}", meta.dev(), meta.ino()))
        .stdout(std::process::Stdio::null())
        .stderr(file)
        .status()
        .await
        .unwrap();
    assert_eq!(out.code(), Some(2));
    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.starts_with("<3>error: "), "{text}");
    assert!(
        text.trim_end().contains("\\n"),
        "the message's lines, escaped: {text}"
    );
}

fn bin() -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_scimdrift"));
    cmd.env_remove("SCIMDRIFT_CONFIG").env_remove("COLUMNS");
    cmd
}

#[test]
fn completions_name_the_subcommands() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let out = bin().args(["completions", shell]).output().unwrap();
        assert!(out.status.success(), "{shell}");
        let script = String::from_utf8(out.stdout).unwrap();
        for word in ["once", "findings", "snapshots", "remediate", "--format"] {
            assert!(script.contains(word), "{shell} completions lack {word}");
        }
    }
    let out = bin().args(["completions", "tcsh"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    // Arguments that take a kind, a severity or a format complete their values, not file names.
    let bash =
        String::from_utf8(bin().args(["completions", "bash"]).output().unwrap().stdout).unwrap();
    for (arg, value) in [
        ("--kind", "idp_inactive_account_active"),
        ("--min-severity", "medium"),
        ("--fail-on", "critical"),
        ("--format", "json"),
    ] {
        let at = bash
            .find(&format!("{arg})"))
            .unwrap_or_else(|| panic!("{arg}"));
        let case = &bash[at..at + bash[at..].find(";;").unwrap()];
        assert!(
            case.contains(value) && !case.contains("compgen -f"),
            "{arg}: {case}"
        );
    }
    // A wrong value is refused naming the possible ones.
    let out = bin().args(["findings", "--kind", "nope"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr.contains("duplicate_email"), "{stderr}");
}

#[test]
fn man_prints_roff_pages() {
    let out = bin().arg("man").output().unwrap();
    assert!(out.status.success());
    let page = String::from_utf8(out.stdout).unwrap();
    assert!(page.starts_with('.'), "{}", &page[..80.min(page.len())]);
    let titles: Vec<&str> = page.lines().filter(|l| l.starts_with(".TH ")).collect();
    assert!(titles[0].starts_with(".TH scimdrift 1 "), "{titles:?}");
    for sub in [
        "scimdrift-once",
        "scimdrift-remediate-plan",
        "scimdrift-audit-settle",
    ] {
        assert!(
            titles
                .iter()
                .any(|t| t.starts_with(&format!(".TH {sub} 1 "))),
            "{titles:?}"
        );
    }
    assert!(page.contains(".SH SUBCOMMANDS"));

    // One page per command into a directory, each with EXIT STATUS, ENVIRONMENT and, where it
    // has them, EXAMPLES; groff reads every one without an error.
    let dir = tempfile::tempdir().unwrap();
    let out = bin()
        .args(["man", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for want in [
        "scimdrift.1",
        "scimdrift-run.1",
        "scimdrift-once.1",
        "scimdrift-remediate-plan.1",
    ] {
        assert!(names.iter().any(|n| n == want), "{want} in {names:?}");
    }
    for name in &names {
        let page = std::fs::read_to_string(dir.path().join(name)).unwrap();
        assert!(page.is_ascii(), "{name}: groff reads ASCII");
        assert!(
            page.contains(".SH \"EXIT STATUS\"") && page.contains(".SH ENVIRONMENT"),
            "{name}"
        );
        assert!(
            page.contains("SCIMDRIFT__SECTION__KEY") && page.contains("NO_COLOR"),
            "{name}"
        );
    }
    let once = std::fs::read_to_string(dir.path().join("scimdrift-once.1")).unwrap();
    assert!(once.contains(".SH EXAMPLES") && once.contains("1 a source was incomplete"));
    if let Ok(groff) = std::process::Command::new("groff")
        .args(["-ww", "-man", "-z"])
        .args(names.iter().map(|n| dir.path().join(n)))
        .output()
    {
        let stderr = String::from_utf8_lossy(&groff.stderr);
        assert!(
            !stderr.contains("error") && !stderr.contains("invalid input"),
            "{stderr}"
        );
    }
}

#[test]
fn help_is_wrapped_to_100_columns_without_a_terminal() {
    let commands: &[&[&str]] = &[
        &[],
        &["once"],
        &["findings"],
        &["person"],
        &["remediate", "plan"],
        &["remediate", "apply"],
        &["audit"],
        &["audit", "settle"],
        &["bench"],
        &["demo"],
    ];
    for args in commands {
        let out = bin().args(*args).arg("--help").output().unwrap();
        assert!(out.status.success(), "{args:?}");
        let help = String::from_utf8(out.stdout).unwrap();
        assert!(help.lines().count() > 5, "{args:?}");
        for l in help.lines() {
            assert!(l.chars().count() <= 100, "{args:?}: {} chars: {l}", l.len());
        }
    }
}

#[tokio::test]
async fn snapshots_show_utc_times_to_the_second() {
    let env = Env::scenarios(3).await;
    env.pull().await;
    let out = env.cli(&["snapshots"]).await;
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let row = text.lines().nth(1).unwrap();
    let started = row.split_whitespace().nth(1).unwrap();
    assert_eq!(started.len(), 20, "{row}");
    assert!(started.ends_with('Z'), "{row}");
    let t = chrono::DateTime::parse_from_rfc3339(started).unwrap();
    let stored = &env.store().snapshots(1).unwrap()[0].started_at;
    let stored = chrono::DateTime::parse_from_rfc3339(stored).unwrap();
    assert_eq!(t.timestamp(), stored.timestamp(), "{row}");
    // The columns after the time line up with the header.
    let header = text.lines().next().unwrap();
    assert_eq!(header.find("state"), row.find("complete"), "{text}");
    // JSON keeps the stored value.
    let out = env.cli(&["snapshots", "--format", "json"]).await;
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v["snapshots"][0]["started_at"],
        env.store().snapshots(1).unwrap()[0].started_at
    );
}

#[test]
fn an_unset_credentials_directory_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("scimdrift.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[atlassian]
base_url = "http://127.0.0.1:9"
org_id = "org-1"
org_api_key_file = "${{CREDENTIALS_DIRECTORY}}/org-api-key"
accounts_endpoint = "search"

[[atlassian.directories]]
id = "dir-1"
name = "entra"
token_file = "${{CREDENTIALS_DIRECTORY}}/scim-entra"

[store]
path = "{}"
"#,
            dir.path().join("test.db").display()
        ),
    )
    .unwrap();
    for cmd in ["check-config", "once"] {
        for unset in [None, Some("")] {
            let mut c = bin();
            c.arg("--config").arg(&config).arg(cmd);
            match unset {
                None => c.env_remove("CREDENTIALS_DIRECTORY"),
                Some(v) => c.env("CREDENTIALS_DIRECTORY", v),
            };
            let out = c.output().unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{cmd}: {stderr}");
            assert!(
                stderr.contains("environment variable CREDENTIALS_DIRECTORY is not set"),
                "{cmd}: {stderr}"
            );
            assert!(stderr.contains("org_api_key_file"), "{cmd}: {stderr}");
        }
    }
    // Set, it is expanded: the error is then about the missing file inside it.
    std::fs::write(dir.path().join("org-api-key"), "k\n").unwrap();
    let out = bin()
        .arg("--config")
        .arg(&config)
        .arg("check-config")
        .env("CREDENTIALS_DIRECTORY", dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("scim-entra"), "{stderr}");
    assert!(!stderr.contains("not set"), "{stderr}");
}

#[tokio::test]
async fn remediate_plan_and_apply_print_json() {
    let mut env = Env::scenarios(10).await;
    let d1 = env.sim.world().labels["D1"].clone();
    env.extend_config(&format!(
        "\n[remediation]\nenabled = true\nmax_actions_per_cycle = 5\nmax_percent_of_population = 100.0\nspike_threshold = 50\norg_directory_id = \"{d1}\"\n[[remediation.rules]]\nkind = \"idp_inactive_account_active\"\naction = \"suspend\"\nmode = \"dry_run\"\nmin_confirmations = 1\n"
    ));
    env.pull().await;
    let out = env.cli(&["remediate", "plan", "--format", "json"]).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let steps = plan["steps"].as_array().unwrap();
    assert!(!steps.is_empty(), "{plan:#}");
    assert!(plan["checks"].is_array(), "{plan:#}");
    // The printed plan is the reviewable document `apply --plan` reads.
    let file = env.dir.path().join("plan.json");
    std::fs::write(&file, &out.stdout).unwrap();
    let out = env
        .cli(&[
            "remediate",
            "apply",
            "--plan",
            file.to_str().unwrap(),
            "--format",
            "json",
        ])
        .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let applied: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for key in ["success", "failure", "skipped", "dry_run", "reconciled"] {
        assert!(applied[key].is_u64(), "{key}: {applied}");
    }
    assert!(applied["dry_run"].as_u64().unwrap() >= 1, "{applied}");
}

/// A suspend rule without `remediation.org_directory_id` in an org with two user directories:
/// `remediate plan` and `check-config --online` refuse it in apply mode (exit 2, naming the key and
/// listing the directories) and warn in dry run; `check-config` offline says what it relies on.
#[tokio::test]
async fn an_ambiguous_org_directory_is_refused_in_apply_and_warned_in_dry_run() {
    let mut env = Env::scenarios(5).await;
    let world = env.sim.world();
    let (d1, d2) = (world.labels["D1"].clone(), world.labels["D2"].clone());
    let base = std::fs::read_to_string(&env.config).unwrap();
    env.pull().await;
    for (mode, code) in [("apply", 2), ("dry_run", 0)] {
        env.set_config(&format!(
            "{base}\n[remediation]\nenabled = true\n[[remediation.rules]]\nkind = \"idp_inactive_account_active\"\naction = \"suspend\"\nmode = \"{mode}\"\n"
        ));
        for args in [
            &["remediate", "plan"][..],
            &["check-config", "--online"][..],
        ] {
            let out = env.cli(args).await;
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(code), "{mode} {args:?}: {stderr}");
            assert!(stderr.contains("remediation.org_directory_id"), "{stderr}");
            assert!(stderr.contains(&d1) && stderr.contains(&d2), "{stderr}");
            if code == 0 {
                assert!(stderr.contains("warning:"), "{stderr}");
            }
        }
        let out = env.cli(&["check-config"]).await;
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0));
        assert!(stdout.contains("exactly one user directory"), "{stdout}");
    }
    // Naming the directory settles it: no call, no warning.
    env.set_config(&format!(
        "{base}\n[remediation]\nenabled = true\norg_directory_id = \"{d1}\"\n[[remediation.rules]]\nkind = \"idp_inactive_account_active\"\naction = \"suspend\"\nmode = \"apply\"\n"
    ));
    let out = env.cli(&["remediate", "plan"]).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("org_directory_id"), "{stderr}");
}

#[tokio::test]
async fn audit_settle_prints_the_settled_row_as_json() {
    let env = Env::scenarios(3).await;
    env.pull().await;
    let targets = serde_json::json!([{"directory_id": "removed-dir", "scim_id": "r-1"}]);
    let row = scimdrift::store::NewAudit {
        idempotency_key: "0123456789abcdef",
        snapshot_id: 1,
        finding_id: "f",
        kind: "stale_inactive_link",
        action: "delete_scim_record",
        mode: "apply",
        action_key: "k",
        targets: &targets,
        reason: "test",
        at: "2026-01-01T00:00:00.000Z",
        contest: None,
    };
    assert!(env.store().audit_insert(&row, None, None).unwrap());
    let args = [
        "audit",
        "settle",
        "0123456789abcdef",
        "--result",
        "not_applied",
        "--note",
        "checked",
        "--format",
        "json",
    ];
    let out = env.cli(&args).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["action"]["idempotency_key"], "0123456789abcdef");
    assert_eq!(v["action"]["result"], "not_applied");
    assert!(
        v["action"]["detail"]
            .as_str()
            .unwrap()
            .contains("settled by an operator: checked")
    );
}

#[test]
fn bench_prints_json_with_format_and_the_json_alias() {
    for flags in [&["--format", "json"][..], &["--json"][..]] {
        let out = bin()
            .args(["bench", "--users", "20", "--repeat", "1"])
            .args(flags)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{flags:?}: {stderr}");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["scim_records"], 20, "{v}");
        assert_eq!(v["unchanged_pulls"], 1, "{v}");
        assert!(v["records_per_second"].as_f64().unwrap() > 0.0, "{v}");
    }
}

#[test]
fn bench_idp_pulls_the_tenant_alone_and_beside_atlassian() {
    let out = bin()
        .args([
            "bench", "--idp", "--users", "300", "--groups", "7", "--repeat", "1", "--json",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["idp_users"], 300, "{v}");
    assert_eq!(v["assigned_groups"], 7, "{v}");
    assert_eq!(v["scim_records"], 300, "{v}");
    // Token, service principal, assignments, 7 groups' members, users, job, schema, logs at least.
    assert!(v["idp_requests"].as_u64().unwrap() >= 14, "{v}");
    assert!(v["idp_peak_rss_mb"].as_f64().unwrap() > 0.0, "{v}");
    // Detection timed with and without the group kinds, over 7 pushed groups of 300 members.
    assert!(v["detection_seconds"].as_f64().unwrap() > 0.0, "{v}");
    assert!(
        v["detection_seconds_without_group_kinds"].as_f64().unwrap() > 0.0,
        "{v}"
    );
    assert_eq!(v["pushed_groups"], 7, "{v}");
    assert_eq!(v["group_memberships"], 300, "{v}");
    assert_eq!(v["largest_group_members"], 43, "{v}");
}

#[tokio::test]
async fn logs_have_no_colour_when_stderr_is_not_a_terminal() {
    let env = Env::scenarios(3).await;
    for no_color in [None, Some("1")] {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_scimdrift"));
        cmd.arg("--config")
            .arg(&env.config)
            .arg("once")
            .env("RUST_LOG", "info")
            .env_remove("SCIMDRIFT_CONFIG");
        match no_color {
            None => cmd.env_remove("NO_COLOR"),
            Some(v) => cmd.env("NO_COLOR", v),
        };
        let out = cmd.output().await.unwrap();
        assert!(out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("cycle finished"), "{stderr}");
        assert!(!stderr.contains('\u{1b}'), "{no_color:?}: {stderr:?}");
        // No progress display off a terminal.
        assert!(!stderr.contains("requests:"), "{stderr}");
        assert!(!stderr.contains(" pages"), "{stderr}");
    }
}

#[tokio::test]
async fn check_config_online_signs_in_to_the_idp_and_names_a_missing_permission() {
    use scimdrift::sim::{GraphFamily, SimOptions, World};
    let env = Env::start_with_idp(
        World::idp_scenarios_with_healthy(5, 1, chrono::Utc::now()),
        SimOptions::default(),
    )
    .await;
    let ok = env.cli(&["check-config", "--online"]).await;
    let stdout = String::from_utf8_lossy(&ok.stdout);
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(stdout.contains("# online: idp:entra: ok"), "{stdout}");
    // The secret is shown as *** in the effective config, never as its value.
    let secret = env.sim.world().entra[0].client_secret.clone();
    assert!(!stdout.contains(&secret));

    env.sim
        .set_entra_options(|o| o.forbidden = vec![GraphFamily::Groups]);
    let denied = env.cli(&["check-config", "--online"]).await;
    let stderr = String::from_utf8_lossy(&denied.stderr);
    assert_eq!(denied.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("GroupMember.Read.All"), "{stderr}");
    assert!(!stderr.contains(&secret));
}

/// Runs the binary on a pseudo-terminal (util-linux `script`): standard output and error as the
/// terminal shows them, carriage returns dropped.
async fn on_a_terminal(args: &[&str]) -> (Option<i32>, String) {
    let quoted: Vec<String> = std::iter::once(env!("CARGO_BIN_EXE_scimdrift"))
        .chain(args.iter().copied())
        .map(|a| format!("'{}'", a.replace('\'', "'\\''")))
        .collect();
    let out = tokio::process::Command::new("script")
        .args(["-q", "-e", "-c", &quoted.join(" "), "/dev/null"])
        .env_remove("SCIMDRIFT_CONFIG")
        .env("TERM", "xterm")
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .expect("util-linux `script` runs a command on a pseudo-terminal");
    let text = String::from_utf8_lossy(&out.stdout).replace('\r', "");
    (out.status.code(), text)
}

#[tokio::test]
async fn once_on_a_terminal_shows_progress_per_source_and_json_shows_none() {
    let env = Env::scenarios(300).await;
    env.sim
        .set_faults(Faults::rules([FaultRule::new(FaultKind::Status(503))
            .on(Api::Accounts)
            .times(1)]));
    let config = env.config.to_string_lossy().to_string();
    let (code, screen) = on_a_terminal(&["--config", &config, "once"]).await;
    assert_eq!(code, Some(0), "{screen}");
    // A line per source with what it sent so far, and the calls with the retry.
    assert!(screen.contains("scim:entra"), "{screen}");
    assert!(
        screen.contains(" users · ") && screen.contains(" pages"),
        "{screen}"
    );
    assert!(screen.contains(" accounts · "), "{screen}");
    assert!(screen.contains("requests: "), "{screen}");
    assert!(
        screen.contains("retries: 1 (accounts server_error 1)"),
        "{screen}"
    );
    // The lines are cleared before the summary, which follows them.
    let summary = screen.find("snapshot 1: complete").expect(&screen);
    assert!(screen[..summary].contains("\u{1b}[2K"), "{screen}");
    assert!(!screen[summary..].contains("requests: "), "{screen}");

    // --format json: the document alone, no progress.
    let (code, screen) = on_a_terminal(&["--config", &config, "once", "--format", "json"]).await;
    assert_eq!(code, Some(0), "{screen}");
    assert!(!screen.contains("requests: "), "{screen}");
    assert!(!screen.contains('\u{1b}'), "{screen:?}");
    let v: serde_json::Value = serde_json::from_str(screen.trim()).expect(&screen);
    assert_eq!(v["complete"], true);
}

#[test]
fn mixin_refuses_the_daemons_config_and_names_a_bad_key() {
    let dir = tempfile::tempdir().unwrap();
    let out = bin()
        .args(["--config", "/nonexistent.toml", "mixin", "--out"])
        .arg(dir.path())
        .env_remove("SCIMDRIFT_CONFIG")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--mixin-config"), "{stderr}");
    assert!(
        std::fs::read_dir(dir.path()).unwrap().next().is_none(),
        "nothing written"
    );

    let config = dir.path().join("m.toml");
    let mixin = |toml: &str| {
        std::fs::write(&config, toml).unwrap();
        bin()
            .args(["mixin", "--mixin-config"])
            .arg(&config)
            .arg("--out")
            .arg(dir.path().join("out"))
            .env_remove("SCIMDRIFT_CONFIG")
            .output()
            .unwrap()
    };
    let out = mixin("[for]\nScimdriftDwn = \"5m\"\n");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("`for.ScimdriftDwn`"));

    let out = mixin("selector = 'job=\"idm\"'\n");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rules = std::fs::read_to_string(dir.path().join("out/alerts.yml")).unwrap();
    assert!(rules.contains("absent(up{job=\"idm\"})"));
    let names: Vec<_> = std::fs::read_dir(dir.path().join("out"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "no temporary file left: {names:?}");
}

#[test]
fn bench_sizes_prints_one_row_per_size_with_the_ratio_and_bytes_per_pair() {
    let out = bin()
        .args(["bench", "--sizes", "40,20", "--repeat", "1", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let runs = v.as_array().expect("an array, one run per size");
    let sizes: Vec<u64> = runs
        .iter()
        .map(|r| r["scim_records"].as_u64().unwrap())
        .collect();
    assert_eq!(sizes, [20, 40], "smallest first");
    for r in runs {
        assert!(r["unchanged_to_first_ratio"].as_f64().unwrap() > 0.0, "{r}");
        assert!(
            r["peak_rss_bytes_per_record_pair"].as_f64().unwrap() > 0.0,
            "{r}"
        );
        assert!(r["db_bytes_per_record_pair"].as_f64().unwrap() > 0.0, "{r}");
    }
    let text = bin()
        .args(["bench", "--sizes", "20,30", "--repeat", "1"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("RSS B/pair") && text.contains("first pull ~ N^"),
        "{text}"
    );
}

#[test]
fn bench_idp_okta_pulls_the_org_alone_and_beside_atlassian() {
    let out = bin()
        .args([
            "bench", "--idp", "--okta", "--users", "120", "--repeat", "1", "--json",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["idp_users"], 120, "{v}");
    assert_eq!(v["scim_records"], 120, "{v}");
    // Token, app, app users, mappings, each pushed group and its members, the log at least.
    assert!(v["idp_requests"].as_u64().unwrap() >= 6, "{v}");
    assert!(v["three_sided_pull_seconds"].as_f64().unwrap() > 0.0, "{v}");
}
