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

#[test]
fn demo_runs_end_to_end() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_scimdrift"))
        .arg("demo")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("snapshot 1: complete"), "{stdout}");
    assert!(
        stdout.contains("0 version rows added, 0 closed"),
        "{stdout}"
    );
    assert!(
        stdout.contains("1 version rows added, 1 closed"),
        "{stdout}"
    );
    assert!(stdout.contains("INCOMPLETE"), "{stdout}");
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
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_scimdrift"))
        .args(["demo", "--serve-seconds", "4"])
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
