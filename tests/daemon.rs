//! The daemon over real sockets: the simulator on loopback, the daemon in-process (or as a real
//! process for signals), scraped and queried over HTTP.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::Env;
use scimdrift::sim::{Api, FaultKind, FaultRule, Faults, JobState, SimOptions, World};
use scimdrift::store::Store;

/// A daemon running in this process on a free loopback port.
struct Daemon {
    base: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Daemon {
    /// Waits (up to 15 s) for the start-up cycle to complete; fails the test otherwise.
    async fn first_cycle_complete(&self) {
        assert!(
            eventually(15, async || self
                .metrics()
                .await
                .get("scimdrift_pull_runs_total{result=\"complete\"}")
                == Some(&1.0))
            .await,
            "the first cycle did not complete"
        );
    }

    async fn start(env: &Env) -> Daemon {
        let settings = env.settings.clone();
        let token = scimdrift::daemon::server_token(&settings).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(scimdrift::daemon::run(settings, listener, token, async {
            let _ = stopped.await;
        }));
        Daemon {
            base,
            stop: Some(stop),
            task,
        }
    }

    async fn get(&self, path: &str) -> (u16, String) {
        let r = reqwest::get(format!("{}{path}", self.base)).await.unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    async fn metrics(&self) -> HashMap<String, f64> {
        let (status, text) = self.get("/metrics").await;
        assert_eq!(status, 200);
        parse_metrics(&text)
    }

    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        tokio::time::timeout(Duration::from_secs(40), self.task)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
    }
}

/// `name{labels}` → value, for every sample line.
fn parse_metrics(text: &str) -> HashMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (series, value) = l.rsplit_once(' ').unwrap();
            (series.to_string(), value.parse::<f64>().unwrap())
        })
        .collect()
}

/// Polls `check` every 100 ms for up to `secs` seconds.
async fn eventually<F: AsyncFnMut() -> bool>(secs: u64, mut check: F) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

fn fast_schedule(env: &mut Env, cron: &str) {
    env.extend_config(&format!(
        "\n[schedule]\npull = \"{cron}\"\nshutdown_timeout_seconds = 2\n"
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_match_the_scenario_world() {
    let mut env = Env::scenarios(20).await;
    fast_schedule(&mut env, "0 0 * * * *");
    let d = Daemon::start(&env).await;
    d.first_cycle_complete().await;
    // The findings gauge is refreshed right after the cycle.
    assert!(
        eventually(5, async || {
            let m = d.metrics().await;
            m.iter()
                .filter(|(k, _)| {
                    k.starts_with("scimdrift_findings{") && k.contains("status=\"open\"")
                })
                .map(|(_, v)| v)
                .sum::<f64>()
                == 12.0
        })
        .await
    );
    let m = d.metrics().await;
    assert_eq!(
        m["scimdrift_findings{kind=\"idp_inactive_account_active\",severity=\"critical\",status=\"open\"}"],
        1.0
    );
    assert_eq!(
        m["scimdrift_findings{kind=\"duplicate_email\",severity=\"high\",status=\"open\"}"],
        2.0
    );
    assert_eq!(
        m["scimdrift_findings_opened_total{kind=\"email_conflict\"}"],
        2.0
    );
    assert_eq!(m["scimdrift_source_up{source=\"scim:entra\"}"], 1.0);
    assert_eq!(m["scimdrift_source_up{source=\"accounts\"}"], 1.0);
    let world = env.sim.world();
    assert_eq!(
        m["scimdrift_source_records{source=\"accounts\"}"],
        world.accounts.len() as f64
    );
    assert!(m["scimdrift_last_complete_pull_timestamp_seconds"] > 1.7e9);
    assert_eq!(m["scimdrift_pull_interval_seconds"], 3600.0);
    assert!(m["scimdrift_db_size_bytes"] > 0.0);
    assert!(m["scimdrift_api_requests_total{api=\"scim\",code_class=\"2xx\"}"] >= 4.0);
    let build = format!(
        "scimdrift_build_info{{revision=\"{}\",rustc=\"{}\",version=\"{}\"}}",
        env!("SCIMDRIFT_REVISION"),
        env!("SCIMDRIFT_RUSTC"),
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(
        m[&build],
        1.0,
        "{:?}",
        m.keys()
            .filter(|k| k.contains("build_info"))
            .collect::<Vec<_>>()
    );
    // The process collector's metrics (Linux).
    assert!(m["process_resident_memory_bytes"] > 0.0);
    assert!(m.contains_key("process_cpu_seconds_total"));
    assert!(m["process_open_fds"] > 0.0);
    // No email, name or id in any label.
    let (_, text) = d.get("/metrics").await;
    every_family_is_in_the_catalogue(&text);
    assert!(
        !text.contains("@example."),
        "an email leaked into the metrics"
    );
    assert!(
        !text.contains(&world.labels["A9"]),
        "an account id leaked into the metrics"
    );
    let (status, body) = d.get("/healthz").await;
    assert_eq!((status, body.trim()), (200, "ok"));
    let (status, body) = d.get("/findings?kind=idp_inactive_account_active").await;
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["findings"].as_array().unwrap().len(), 1);
    let (status, _) = d.get("/findings?kind=nope").await;
    assert_eq!(status, 400);
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_metric_the_dashboard_and_alerts_use_is_exported() {
    // With both IdPs configured, so the Entra job's and the Okta app's gauges are exported too.
    let env = Env::start_with_idp(
        World::okta_scenarios_with_healthy(5, 0, chrono::Utc::now()),
        SimOptions::default(),
    )
    .await;
    let d = Daemon::start(&env).await;
    d.first_cycle_complete().await;
    let (_, text) = d.get("/metrics").await;
    let exported: std::collections::HashSet<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    let root = env!("CARGO_MANIFEST_DIR");
    let mut referenced = std::collections::BTreeSet::new();
    for file in ["dashboards/scimdrift.json", "dashboards/alerts.yml"] {
        let body = std::fs::read_to_string(format!("{root}/{file}"))
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        let mut rest = body.as_str();
        while let Some(i) = rest.find("scimdrift_") {
            let name: String = rest[i..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            rest = &rest[i + name.len()..];
            let base = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| name.strip_suffix(s).filter(|b| exported.contains(b)))
                .unwrap_or(&name)
                .to_string();
            referenced.insert((file, base));
        }
    }
    assert!(
        referenced.len() > 5,
        "the dashboard and alerts reference scimdrift metrics"
    );
    let missing: Vec<_> = referenced
        .iter()
        .filter(|(_, m)| !exported.contains(m.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "referenced but not exported: {missing:?}"
    );
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_follows_the_last_complete_pull() {
    let mut env = Env::scenarios(5).await;
    fast_schedule(&mut env, "*/1 * * * * *");
    let d = Daemon::start(&env).await;
    assert!(
        eventually(15, async || d.get("/readyz").await.0 == 200).await,
        "ready after a complete pull"
    );
    // The simulator goes down (every API answers 503): after 3 intervals, not ready.
    env.sim
        .set_faults(Faults::rules([FaultRule::new(FaultKind::Status(503))]));
    assert!(eventually(15, async || d.get("/readyz").await.0 == 503).await);
    let (_, body) = d.get("/readyz").await;
    assert!(body.contains("older than 3 pull intervals"), "{body}");
    assert!(
        body.contains(" UTC (") && !body.contains("+00:00"),
        "to the second: {body}"
    );
    let m = d.metrics().await;
    assert_eq!(m["scimdrift_source_up{source=\"accounts\"}"], 0.0);
    assert!(m["scimdrift_pull_runs_total{result=\"incomplete\"}"] >= 1.0);
    // Back up: ready again.
    env.sim.set_faults(Faults::default());
    assert!(eventually(15, async || d.get("/readyz").await.0 == 200).await);
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overlapping_cycle_is_skipped_and_counted() {
    let mut env = Env::scenarios(5).await;
    fast_schedule(&mut env, "*/1 * * * * *");
    // Every request takes 2.5 s, so a pull outlasts the one-second schedule.
    env.sim.set_faults(Faults {
        latency: Duration::from_millis(2500),
        ..Faults::default()
    });
    let d = Daemon::start(&env).await;
    assert!(
        eventually(
            20,
            async || d.metrics().await["scimdrift_cycle_skipped_total"] >= 1.0
        )
        .await
    );
    env.sim.set_faults(Faults::default());
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn findings_and_report_need_the_token_when_one_is_set() {
    let mut env = Env::scenarios(5).await;
    let token = env.dir.path().join("token");
    std::fs::write(&token, "s3cret-token\n").unwrap();
    env.extend_config(&format!(
        "\n[server]\nauth_token_file = {:?}\n",
        token.display().to_string()
    ));
    let d = Daemon::start(&env).await;
    let client = reqwest::Client::new();
    let url = format!("{}/findings", d.base);
    assert_eq!(client.get(&url).send().await.unwrap().status(), 401);
    assert_eq!(
        client
            .get(&url)
            .bearer_auth("wrong")
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    assert_eq!(
        client
            .get(&url)
            .bearer_auth("s3cret-token")
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        client
            .get(format!("{}/report", d.base))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    assert_eq!(
        client
            .get(format!("{}/metrics", d.base))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    d.stop().await;
}

#[tokio::test]
async fn non_loopback_listen_without_token_is_refused() {
    let mut env = Env::scenarios(1).await;
    env.extend_config("\n[server]\nlisten = \"0.0.0.0:0\"\n");
    let out = env.cli(&["run"]).await;
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("auth_token_file") && err.contains("loopback"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_a_slow_pull_exits_0_within_the_bound_and_leaves_the_db_consistent() {
    let mut env = Env::scenarios(5).await;
    let first = env.pull().await;
    env.extend_config(
        "\n[schedule]\npull = \"0 0 0 1 1 *\"\nshutdown_timeout_seconds = 1\n[server]\nlisten = \"127.0.0.1:0\"\n",
    );
    env.sim.set_faults(Faults {
        latency: Duration::from_millis(1500),
        ..Faults::default()
    });
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_scimdrift"))
        .arg("--config")
        .arg(&env.config)
        .arg("run")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the start-up pull is under way, then SIGTERM.
    let before = env.sim.requests().len();
    assert!(
        eventually(10, async || env.sim.requests().len() > before
            || env.sim.request_count(scimdrift::sim::Api::Scim) > 4)
        .await
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let pid = child.id().unwrap() as i32;
    let sent = Instant::now();
    // SAFETY: sending a signal to our own child process.
    unsafe {
        libc::kill(pid, libc::SIGTERM);
    }
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .unwrap()
        .unwrap();
    let took = sent.elapsed();
    assert_eq!(status.code(), Some(0));
    assert!(took < Duration::from_secs(6), "shutdown took {took:?}");
    // The aborted pull left nothing behind: the first snapshot is still the current state.
    let store = env.store();
    assert_eq!(
        store.latest_complete().unwrap().unwrap().snapshot_id,
        first.recorded.snapshot_id
    );
    assert_eq!(
        store
            .state_at(first.recorded.snapshot_id)
            .unwrap()
            .records
            .len(),
        first.pull.scim_records()
    );
    env.sim.set_faults(Faults::default());
    let next = env.pull().await;
    assert!(next.recorded.complete);
    assert_eq!(next.recorded.versions_added, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stored_report_is_served_and_rendered_by_the_cli() {
    let mut env = Env::scenarios(5).await;
    fast_schedule(&mut env, "0 0 * * * *");
    env.pull().await;
    let metrics = scimdrift::metrics::Metrics::new();
    let daily = scimdrift::app::daily::run_daily(&env.settings, &metrics, chrono::Utc::now())
        .await
        .unwrap();
    let d = Daemon::start(&env).await;
    let (status, html) = d.get("/report").await;
    assert_eq!(status, 200);
    assert!(
        html.contains("fay@example.com") && html.contains("<html"),
        "{}",
        &html[..200.min(html.len())]
    );
    let (status, _) = d.get(&format!("/report/{}", daily.date)).await;
    assert_eq!(status, 200);
    assert_eq!(d.get("/report/2001-01-01").await.0, 404);
    assert_eq!(d.get("/report/yesterday").await.0, 400);
    d.stop().await;
    let out = env.cli(&["report", "--format", "json"]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["org_id"], env.sim.world().org_id.as_str());
    let file = env.dir.path().join("r.md");
    let out = env
        .cli(&[
            "report",
            "--format",
            "md",
            "--output",
            file.to_str().unwrap(),
        ])
        .await;
    assert!(out.status.success());
    assert!(
        std::fs::read_to_string(&file)
            .unwrap()
            .contains("idp_inactive_account_active")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tells_systemd_ready_and_stopping() {
    let mut env = Env::scenarios(2).await;
    env.extend_config("\n[schedule]\npull = \"0 0 0 1 1 *\"\n[server]\nlisten = \"127.0.0.1:0\"\n");
    let socket_path = env.dir.path().join("notify.sock");
    let socket = tokio::net::UnixDatagram::bind(&socket_path).unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_scimdrift"))
        .arg("--config")
        .arg(&env.config)
        .arg("run")
        .env("NOTIFY_SOCKET", &socket_path)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut buf = [0u8; 512];
    let recv = async |buf: &mut [u8]| {
        let n = tokio::time::timeout(Duration::from_secs(15), socket.recv(buf))
            .await
            .unwrap()
            .unwrap();
        String::from_utf8_lossy(&buf[..n]).to_string()
    };
    assert!(recv(&mut buf).await.contains("READY=1"));
    // SAFETY: sending a signal to our own child process.
    unsafe {
        libc::kill(child.id().unwrap() as i32, libc::SIGTERM);
    }
    assert!(recv(&mut buf).await.contains("STOPPING=1"));
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.code(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_pull_shows_on_readyz_and_metrics_keep_the_last_complete_counts() {
    let mut env = Env::scenarios(20).await;
    fast_schedule(&mut env, "*/1 * * * * *");
    let accounts = env.sim.world().accounts.len() as f64;
    let d = Daemon::start(&env).await;
    assert!(eventually(15, async || d.get("/readyz").await.0 == 200).await);
    // The accounts API suddenly answers an empty, well-formed list.
    env.sim.set_faults(Faults::rules([
        FaultRule::new(FaultKind::EmptyPage).on(scimdrift::sim::Api::Accounts)
    ]));
    assert!(eventually(15, async || d.get("/readyz").await.0 == 503).await);
    let (_, body) = d.get("/readyz").await;
    assert!(
        body.contains("held") && body.contains("accounts records shrank from"),
        "{body}"
    );
    assert!(body.contains("--accept-shrink"), "{body}");
    let m = d.metrics().await;
    assert_eq!(m["scimdrift_snapshot_held{source=\"accounts\"}"], 1.0);
    assert!(m["scimdrift_pull_runs_total{result=\"held\"}"] >= 1.0);
    // The dashboard keeps the last complete count; the last attempt shows what arrived.
    assert_eq!(m["scimdrift_source_records{source=\"accounts\"}"], accounts);
    assert_eq!(
        m["scimdrift_source_records_last_attempt{source=\"accounts\"}"],
        0.0
    );
    // The API recovers: ready again, nothing held.
    env.sim.set_faults(Faults::default());
    assert!(eventually(15, async || d.get("/readyz").await.0 == 200).await);
    assert!(
        eventually(5, async || d
            .metrics()
            .await
            .get("scimdrift_snapshot_held{source=\"accounts\"}")
            == Some(&0.0))
        .await
    );
    d.stop().await;
}

/// SIGHUP re-reads the configuration: a valid one is put in force (here, a faster schedule), an
/// invalid one is refused with the reason logged and the running configuration kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_a_valid_configuration_and_keeps_running_on_a_bad_one() {
    let env = Env::scenarios(5).await;
    let base = std::fs::read_to_string(&env.config).unwrap();
    let with_schedule = |cron: &str| {
        format!(
            "{base}\n[schedule]\npull = \"{cron}\"\nshutdown_timeout_seconds = 2\n[server]\nlisten = \"127.0.0.1:0\"\n"
        )
    };
    std::fs::write(&env.config, with_schedule("0 0 0 1 1 *")).unwrap();
    let log = env.dir.path().join("daemon.log");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_scimdrift"))
        .arg("--config")
        .arg(&env.config)
        .arg("run")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let snapshots = || {
        Store::open(&env.db_path())
            .ok()
            .and_then(|s| s.snapshots(100).ok())
            .map_or(0, |l| l.len())
    };
    // The start-up pull, then nothing more on a yearly schedule.
    assert!(
        eventually(15, async || snapshots() == 1).await,
        "{}",
        std::fs::read_to_string(&log).unwrap()
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(snapshots(), 1);
    let pid = child.id().unwrap() as i32;
    let hup = || {
        // SAFETY: sending a signal to our own child process.
        unsafe {
            libc::kill(pid, libc::SIGHUP);
        }
    };
    std::fs::write(&env.config, with_schedule("*/1 * * * * *")).unwrap();
    hup();
    assert!(
        eventually(15, async || snapshots() >= 3).await,
        "the new schedule was not put in force"
    );
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("configuration reloaded"), "{text}");

    // A bad configuration: refused, the reason logged, the daemon still pulling every second.
    std::fs::write(
        &env.config,
        with_schedule("*/1 * * * * *").replace("max_retries = 3", "max_retries = -1"),
    )
    .unwrap();
    hup();
    assert!(
        eventually(10, async || std::fs::read_to_string(&log)
            .unwrap()
            .contains("configuration reload refused"))
        .await
    );
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("max_retries"),
        "the log names the key: {text}"
    );
    let before = snapshots();
    assert!(eventually(10, async || snapshots() >= before + 2).await);
    assert!(child.try_wait().unwrap().is_none(), "the daemon stopped");

    // A suspend rule in apply mode that cannot name its org user directory (the scenario org has
    // two, the key is unset): refused, the log naming the key and listing both.
    let ambiguous = format!(
        "{}\n[remediation]\nenabled = true\n[[remediation.rules]]\nkind = \"idp_inactive_account_active\"\naction = \"suspend\"\nmode = \"apply\"\n",
        with_schedule("*/1 * * * * *")
    );
    std::fs::write(&env.config, ambiguous).unwrap();
    hup();
    let refusals = |t: &str| t.matches("configuration reload refused").count();
    assert!(
        eventually(10, async || refusals(
            &std::fs::read_to_string(&log).unwrap()
        ) >= 2)
        .await,
        "{}",
        std::fs::read_to_string(&log).unwrap()
    );
    let text = std::fs::read_to_string(&log).unwrap();
    let world = env.sim.world();
    assert!(text.contains("remediation.org_directory_id"), "{text}");
    for d in ["D1", "D2"] {
        assert!(text.contains(&world.labels[d]), "lists {d}: {text}");
    }
    assert!(child.try_wait().unwrap().is_none(), "the daemon stopped");
    // SAFETY: as above.
    unsafe {
        libc::kill(pid, libc::SIGTERM);
    }
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.code(), Some(0));
}

/// The value of the sample of `name` whose labels include every `labels` pair (any order).
fn sample(m: &HashMap<String, f64>, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    m.iter()
        .find(|(k, _)| {
            k.strip_prefix(name).is_some_and(|rest| {
                rest.starts_with('{')
                    && labels
                        .iter()
                        .all(|(l, v)| rest.contains(&format!("{l}=\"{v}\"")))
            })
        })
        .map(|(_, v)| *v)
}

/// Every `scimdrift_*` family a live `/metrics` shows (its `# TYPE` lines) is a row of the
/// catalogue in docs/operations.md ("Metrics"), and the scrape shows most of the catalogue.
fn every_family_is_in_the_catalogue(text: &str) {
    let docs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/operations.md"))
        .unwrap();
    let section = &docs[docs.find("### Metrics").unwrap()..];
    let section = &section[..section.find("\n### ").unwrap_or(section.len())];
    let documented: std::collections::BTreeSet<&str> = section
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .collect();
    let live: std::collections::BTreeSet<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE scimdrift_"))
        .map(|l| &l[..l.find(' ').unwrap()])
        .collect();
    let missing: Vec<_> = live
        .iter()
        .filter(|n| !documented.contains(format!("scimdrift_{n}").as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "on /metrics but not in the catalogue: {missing:?}"
    );
    // Most of the catalogue, the IdP families counted only where an IdP is configured.
    let with_idp = live.iter().any(|n| n.starts_with("idp_"));
    let expected = documented
        .iter()
        .filter(|n| {
            with_idp || !(n.starts_with("scimdrift_idp_") || n.starts_with("scimdrift_group_"))
        })
        .count();
    assert!(live.len() * 4 >= expected * 3, "{live:?}");
}

/// Seconds since the epoch of a simulator time.
fn epoch(t: chrono::DateTime<chrono::Utc>) -> f64 {
    t.timestamp_millis() as f64 / 1000.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idp_job_metrics_match_the_seeded_world() {
    let mut env = Env::start_with_idp(
        World::idp_scenarios_with_healthy(5, 0, chrono::Utc::now()),
        SimOptions::default(),
    )
    .await;
    fast_schedule(&mut env, "0 0 * * * *");
    let d = Daemon::start(&env).await;
    d.first_cycle_complete().await;
    let m = d.metrics().await;
    let world = env.sim.world();
    let job = world.entra[0].app().unwrap().jobs[0].clone();
    let dir = [("directory", "entra")];
    // The quarantined job: Quarantine is 1, every other status of the bounded set 0.
    for status in [
        "NotConfigured",
        "NotRun",
        "Active",
        "Paused",
        "Quarantine",
        "unknown",
    ] {
        let want = if status == "Quarantine" { 1.0 } else { 0.0 };
        assert_eq!(
            sample(
                &m,
                "scimdrift_idp_job_status",
                &[("directory", "entra"), ("status", status)]
            ),
            Some(want),
            "{status}"
        );
    }
    let last = [&job.last_successful_execution, &job.last_execution]
        .into_iter()
        .flatten()
        .filter(|e| e.state == "Succeeded" || e.state == "EntryLevelErrors")
        .map(|e| e.time_ended)
        .max()
        .unwrap();
    assert_eq!(
        sample(
            &m,
            "scimdrift_idp_last_successful_cycle_timestamp_seconds",
            &dir
        ),
        Some(epoch(last).trunc())
    );
    assert_eq!(
        sample(
            &m,
            "scimdrift_idp_quarantined_since_timestamp_seconds",
            &dir
        ),
        Some(epoch(job.quarantine.as_ref().unwrap().series_began).trunc())
    );
    assert_eq!(
        sample(&m, "scimdrift_idp_job_interval_seconds", &dir),
        Some(2400.0)
    );
    // The IdP is a source like the others.
    assert_eq!(
        m.get("scimdrift_source_up{source=\"idp:entra\"}"),
        Some(&1.0)
    );
    assert!(m["scimdrift_source_records{source=\"idp:entra\"}"] > 0.0);
    // The pushed groups' memberships: the security-enabled assigned groups' user members, and
    // the members of the SCIM groups they are pushed as.
    let tenant = &world.entra[0];
    let assigned: Vec<&str> = tenant.service_principals[0]
        .assignments
        .iter()
        .filter(|a| a.principal_type == "Group")
        .map(|a| a.principal_id.as_str())
        .collect();
    let pushed: Vec<_> = tenant
        .groups
        .iter()
        .filter(|g| g.security_enabled && assigned.contains(&g.id.as_str()))
        .collect();
    let idp_members: usize = pushed
        .iter()
        .map(|g| {
            g.members
                .iter()
                .filter(|m| m.odata_type.as_deref() == Some(scimdrift::sim::ODATA_USER))
                .count()
        })
        .sum();
    let scim_members: usize = pushed
        .iter()
        .filter_map(|g| {
            world.directories[0].groups.iter().find(|s| {
                s.external_id.as_deref() == Some(&g.id)
                    || s.display_name.eq_ignore_ascii_case(&g.display_name)
            })
        })
        .map(|s| s.members.len())
        .sum();
    assert!(idp_members > 5 && scim_members > 5);
    assert_eq!(
        sample(
            &m,
            "scimdrift_group_members",
            &[("directory", "entra"), ("side", "idp")]
        ),
        Some(idp_members as f64)
    );
    assert_eq!(
        sample(
            &m,
            "scimdrift_group_members",
            &[("directory", "entra"), ("side", "scim")]
        ),
        Some(scim_members as f64)
    );
    // No email, name or id in any label.
    let (_, text) = d.get("/metrics").await;
    every_family_is_in_the_catalogue(&text);
    for line in text.lines().filter(|l| l.starts_with("scimdrift_idp_")) {
        assert!(!line.contains('@'), "{line}");
        assert!(!line.contains(&job.id), "{line}");
    }
    d.stop().await;

    // A restart shows the stored job at once, before its first pull completes.
    env.sim.set_faults(Faults::rules([
        FaultRule::new(FaultKind::Status(503)).on(Api::Accounts)
    ]));
    let d = Daemon::start(&env).await;
    let m = d.metrics().await;
    assert_eq!(
        sample(
            &m,
            "scimdrift_idp_job_status",
            &[("directory", "entra"), ("status", "Quarantine")]
        ),
        Some(1.0)
    );
    d.stop().await;
}

#[tokio::test]
async fn an_active_job_and_an_incomplete_idp_pull_in_the_metrics() {
    let env = Env::start_with_idp(
        World::idp_scenarios_with_healthy(5, 0, chrono::Utc::now()),
        SimOptions::default(),
    )
    .await;
    let metrics = scimdrift::metrics::Metrics::new();
    let scrape = |m: &scimdrift::metrics::Metrics| parse_metrics(&m.render());
    let status = |m: &HashMap<String, f64>, s: &str| {
        sample(
            m,
            "scimdrift_idp_job_status",
            &[("directory", "entra"), ("status", s)],
        )
    };
    scimdrift::cycle::run(&env.settings, &metrics)
        .await
        .unwrap();
    let first = scrape(&metrics);
    assert_eq!(status(&first, "Quarantine"), Some(1.0));
    let records = first["scimdrift_source_records{source=\"idp:entra\"}"];
    assert!(records > 0.0);

    // The job is restarted and runs again: Active is 1, Quarantine 0, not quarantined.
    env.sim.update_world(|w| {
        if let Some(job) = w.entra[0].job_mut() {
            job.set_state(JobState::Active, chrono::Utc::now());
        }
    });
    scimdrift::cycle::run(&env.settings, &metrics)
        .await
        .unwrap();
    let active = scrape(&metrics);
    assert_eq!(status(&active, "Active"), Some(1.0));
    assert_eq!(status(&active, "Quarantine"), Some(0.0));
    assert_eq!(
        sample(
            &active,
            "scimdrift_idp_quarantined_since_timestamp_seconds",
            &[("directory", "entra")]
        ),
        Some(0.0)
    );
    assert!(
        sample(
            &active,
            "scimdrift_idp_last_successful_cycle_timestamp_seconds",
            &[("directory", "entra")]
        )
        .unwrap()
            > 0.0
    );

    // Graph refuses: the IdP source is down, the snapshot still complete; its last complete
    // count and the job's gauges stay as they were.
    env.sim.set_faults(Faults::rules([
        FaultRule::new(FaultKind::Status(403)).on(Api::Graph)
    ]));
    let o = scimdrift::cycle::run(&env.settings, &metrics)
        .await
        .unwrap();
    assert!(o.recorded.complete);
    let down = scrape(&metrics);
    assert_eq!(down["scimdrift_source_up{source=\"idp:entra\"}"], 0.0);
    assert_eq!(
        down["scimdrift_source_records{source=\"idp:entra\"}"],
        records
    );
    assert_eq!(status(&down, "Active"), Some(1.0));
}
