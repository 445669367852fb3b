//! `scimdrift bench`: pull + store of a large healthy population from a simulator running in a
//! separate process on loopback (so the figures are scimdrift's own, not the simulator's).

use std::process::{ExitCode, Stdio};
use std::time::Instant;

use serde::Serialize;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::config::Settings;
use crate::cycle;
use crate::store::Store;

/// The measured figures.
#[derive(Debug, Serialize)]
pub struct Figures {
    pub scim_records: usize,
    pub accounts: usize,
    pub first_pull_seconds: f64,
    /// The WAL checkpoint after the first pull, run after its result is told (not in
    /// `first_pull_seconds`), seconds.
    pub checkpoint_seconds_after_first_pull: f64,
    pub records_per_second: f64,
    pub unchanged_pull_seconds_avg: f64,
    pub peak_rss_mb: f64,
    pub db_bytes_after_first_pull: u64,
    pub db_bytes_after_unchanged_pulls: u64,
    pub unchanged_pulls: usize,
    pub growth_percent: f64,
    /// The unchanged pull's time over the first pull's.
    pub unchanged_to_first_ratio: f64,
    /// Peak RSS of this run (the process's peak reset before it) per SCIM record + account pair,
    /// bytes.
    pub peak_rss_bytes_per_record_pair: f64,
    /// The database after the first pull per record pair, bytes.
    pub db_bytes_per_record_pair: f64,
}

/// Runs the benchmark for each of `sizes` (one simulator each, the peak RSS reset between them)
/// and prints the figures: one size as before (JSON: one object), several as a table (JSON: an
/// array, smallest first).
pub async fn run_sizes(sizes: &[usize], repeat: usize, json: bool) -> ExitCode {
    if sizes.len() == 1 {
        return run(sizes[0], repeat, json).await;
    }
    let mut all = Vec::new();
    let mut sizes = sizes.to_vec();
    sizes.sort_unstable();
    for users in sizes {
        // The peak of this size only (Linux: 5 resets VmHWM).
        let _ = std::fs::write("/proc/self/clear_refs", "5");
        match measure(users, repeat, json).await {
            Ok(f) => all.push(f),
            Err(e) => {
                crate::app::journal::report(3, &format!("error: bench failed at {users}: {e:#}"));
                return ExitCode::from(2);
            }
        }
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&all).unwrap_or_default());
        return ExitCode::SUCCESS;
    }
    println!(
        "pull + store, one simulator per size on loopback (records = SCIM records + accounts):"
    );
    println!(
        "  {:>9} {:>9} {:>11} {:>7} {:>9} {:>12} {:>12}",
        "pairs", "first s", "unchanged s", "ratio", "peak MB", "RSS B/pair", "DB B/pair"
    );
    for f in &all {
        println!(
            "  {:>9} {:>9.2} {:>11.2} {:>7.2} {:>9.0} {:>12.0} {:>12.0}",
            f.scim_records,
            f.first_pull_seconds,
            f.unchanged_pull_seconds_avg,
            f.unchanged_to_first_ratio,
            f.peak_rss_mb,
            f.peak_rss_bytes_per_record_pair,
            f.db_bytes_per_record_pair
        );
    }
    if let (Some(a), Some(b)) = (all.first(), all.last())
        && b.scim_records > a.scim_records
        && a.first_pull_seconds > 0.0
    {
        // How the first pull grows with N: 1.0 is linear.
        let exponent = (b.first_pull_seconds / a.first_pull_seconds).ln()
            / (b.scim_records as f64 / a.scim_records as f64).ln();
        println!("  first pull ~ N^{exponent:.2} from the smallest to the largest");
    }
    ExitCode::SUCCESS
}

/// Runs the benchmark and prints the figures.
pub async fn run(users: usize, repeat: usize, json: bool) -> ExitCode {
    match measure(users, repeat, json).await {
        Ok(f) => {
            if json {
                println!("{}", serde_json::to_string_pretty(&f).unwrap_or_default());
            } else {
                println!(
                    "pull + store of {} SCIM records + {} accounts (simulator on loopback):",
                    f.scim_records, f.accounts
                );
                println!(
                    "  first pull        {:.2} s  ({:.0} records/s)",
                    f.first_pull_seconds, f.records_per_second
                );
                println!(
                    "  checkpoint        {:.2} s  (after the result is told: off the critical path)",
                    f.checkpoint_seconds_after_first_pull
                );
                println!(
                    "  unchanged pull    {:.2} s  (average of {})",
                    f.unchanged_pull_seconds_avg, f.unchanged_pulls
                );
                println!(
                    "  ratio             {:.2}  (unchanged / first)",
                    f.unchanged_to_first_ratio
                );
                println!(
                    "  peak RSS          {:.0} MB  ({:.0} bytes per record pair)",
                    f.peak_rss_mb, f.peak_rss_bytes_per_record_pair
                );
                println!(
                    "  DB after 1 pull   {:.1} MB",
                    f.db_bytes_after_first_pull as f64 / 1e6
                );
                println!(
                    "  DB after {} more   {:.1} MB  (+{} bytes, {:.4}% of one full pull)",
                    f.unchanged_pulls,
                    f.db_bytes_after_unchanged_pulls as f64 / 1e6,
                    f.db_bytes_after_unchanged_pulls
                        .saturating_sub(f.db_bytes_after_first_pull),
                    f.growth_percent
                );
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            crate::app::journal::report(3, &format!("error: bench failed: {e:#}"));
            ExitCode::from(2)
        }
    }
}

/// One pull, stored and analysed, its progress drawn on a terminal (not with `--format json`).
async fn pull(settings: &Settings, json: bool) -> anyhow::Result<cycle::Outcome> {
    let progress = super::progress::for_pull(settings, json);
    cycle::pull_and_store_with(settings, false, progress).await
}

async fn measure(users: usize, repeat: usize, json: bool) -> anyhow::Result<Figures> {
    let dir = tempfile::tempdir()?;
    let mut child = start_sim(
        dir.path(),
        &["--no-scenarios", "--users", &users.to_string()],
    )
    .await?;
    let settings = Settings::load(Some(&dir.path().join("scimdrift.toml")))?;

    let clock = Instant::now();
    let first = pull(&settings, json).await?;
    let first_pull_seconds = clock.elapsed().as_secs_f64();
    // The checkpoint the pull left runs after its result is told, off the critical path (a daemon
    // sleeps through it): timed apart.
    let clock = Instant::now();
    crate::store::settle(&settings.store.path);
    let checkpoint_seconds_after_first_pull = clock.elapsed().as_secs_f64();
    anyhow::ensure!(
        first.recorded.complete,
        "the first pull was incomplete: {:?}",
        first.pull.sources
    );
    let scim_records = first.pull.scim_records();
    let accounts = first.pull.accounts();
    drop(first);
    let db_bytes_after_first_pull = Store::open(&settings.store.path)?.compacted_size()?;

    let mut unchanged = 0.0;
    for _ in 0..repeat {
        let clock = Instant::now();
        let outcome = pull(&settings, json).await?;
        unchanged += clock.elapsed().as_secs_f64();
        anyhow::ensure!(
            outcome.recorded.versions_added == 0,
            "an unchanged pull added versions"
        );
        crate::store::settle(&settings.store.path);
    }
    let unchanged_pull_seconds_avg = unchanged / repeat.max(1) as f64;
    let db_bytes_after_unchanged_pulls = Store::open(&settings.store.path)?.compacted_size()?;
    let _ = child.kill().await;
    let growth = db_bytes_after_unchanged_pulls.saturating_sub(db_bytes_after_first_pull);
    let peak = peak_rss_bytes();
    let pairs = scim_records.max(1) as f64;
    Ok(Figures {
        scim_records,
        accounts,
        first_pull_seconds,
        checkpoint_seconds_after_first_pull,
        records_per_second: (scim_records + accounts) as f64 / first_pull_seconds,
        unchanged_pull_seconds_avg,
        peak_rss_mb: peak as f64 / 1e6,
        unchanged_to_first_ratio: unchanged_pull_seconds_avg / first_pull_seconds.max(1e-9),
        peak_rss_bytes_per_record_pair: peak as f64 / pairs,
        db_bytes_per_record_pair: db_bytes_after_first_pull as f64 / pairs,
        db_bytes_after_first_pull,
        db_bytes_after_unchanged_pulls,
        unchanged_pulls: repeat,
        growth_percent: growth as f64 * 100.0 / db_bytes_after_first_pull.max(1) as f64,
    })
}

/// Figures of `scimdrift bench --idp`.
#[derive(Debug, Serialize)]
pub struct IdpFigures {
    pub idp_users: usize,
    pub assigned_groups: usize,
    /// The IdP pull alone (Graph on loopback, zero latency), seconds.
    pub idp_pull_seconds: f64,
    /// Peak RSS of this process after the IdP pull alone (nothing else ran before it), MB.
    pub idp_peak_rss_mb: f64,
    /// Graph requests the IdP pull sent (token included).
    pub idp_requests: u64,
    pub scim_records: usize,
    pub accounts: usize,
    /// The Atlassian sources alone into a fresh store, seconds.
    pub atlassian_pull_seconds: f64,
    /// Every source (Atlassian and the IdP, concurrently) into a fresh store, seconds.
    pub three_sided_pull_seconds: f64,
    /// Unchanged three-sided pulls after the first, average seconds.
    pub unchanged_pull_seconds_avg: f64,
    pub unchanged_pulls: usize,
    /// Peak RSS over the whole run, MB.
    pub peak_rss_mb: f64,
    /// Detection over the last complete snapshot (every kind), best of 3, seconds; and without the
    /// group kinds (their cost is the difference).
    pub detection_seconds: f64,
    pub detection_seconds_without_group_kinds: f64,
    /// Peak RSS added while detecting (over the RSS before), MB: every kind, and without the group
    /// kinds.
    pub detection_peak_added_mb: f64,
    pub detection_peak_added_mb_without_group_kinds: f64,
    /// Pushed IdP groups, their direct user memberships, and the largest group's members.
    pub pushed_groups: usize,
    pub group_memberships: u64,
    pub largest_group_members: usize,
}

/// Runs the IdP benchmark and prints the figures.
pub async fn idp(users: usize, groups: usize, okta: bool, repeat: usize, json: bool) -> ExitCode {
    match measure_idp(users, groups, okta, repeat, json).await {
        Ok(f) => {
            if json {
                println!("{}", serde_json::to_string_pretty(&f).unwrap_or_default());
            } else {
                if okta {
                    println!(
                        "IdP pull of {} Okta users, {} pushed groups (the Okta API simulated on loopback):",
                        f.idp_users, f.assigned_groups
                    );
                } else {
                    println!(
                        "IdP pull of {} Entra ID users in {} assigned groups (Graph simulated on loopback):",
                        f.idp_users, f.assigned_groups
                    );
                }
                println!(
                    "  IdP pull alone    {:.2} s, {} requests, peak RSS {:.0} MB",
                    f.idp_pull_seconds, f.idp_requests, f.idp_peak_rss_mb
                );
                println!(
                    "  Atlassian alone   {:.2} s  ({} SCIM records + {} accounts, into a fresh store)",
                    f.atlassian_pull_seconds, f.scim_records, f.accounts
                );
                println!(
                    "  all three sides   {:.2} s  (concurrently, into a fresh store)",
                    f.three_sided_pull_seconds
                );
                println!(
                    "  unchanged pull    {:.2} s  (average of {})",
                    f.unchanged_pull_seconds_avg, f.unchanged_pulls
                );
                println!("  peak RSS          {:.0} MB (whole run)", f.peak_rss_mb);
                println!(
                    "  detection         {:.2} s, +{:.0} MB peak ({:.2} s, +{:.0} MB without the group kinds; {} pushed groups, {} memberships, largest {})",
                    f.detection_seconds,
                    f.detection_peak_added_mb,
                    f.detection_seconds_without_group_kinds,
                    f.detection_peak_added_mb_without_group_kinds,
                    f.pushed_groups,
                    f.group_memberships,
                    f.largest_group_members
                );
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            crate::app::journal::report(3, &format!("error: bench failed: {e:#}"));
            ExitCode::from(2)
        }
    }
}

async fn measure_idp(
    users: usize,
    groups: usize,
    okta: bool,
    repeat: usize,
    json: bool,
) -> anyhow::Result<IdpFigures> {
    let dir = tempfile::tempdir()?;
    let users_arg = users.to_string();
    let groups_arg = groups.to_string();
    let mut args = vec!["--no-scenarios", "--users", &users_arg];
    if okta {
        args.push("--okta");
    } else {
        args.extend(["--entra-groups", &groups_arg]);
    }
    let mut child = start_sim(dir.path(), &args).await?;
    let settings = Settings::load(Some(&dir.path().join("scimdrift.toml")))?;
    let keys = settings.keys()?;
    let (index, directory) = settings
        .atlassian
        .directories
        .iter()
        .enumerate()
        .find(|(_, d)| d.idp.is_some())
        .ok_or_else(|| anyhow::anyhow!("the simulator wrote no IdP config"))?;
    let (Some(idp), Some(cred)) = (&directory.idp, &keys.idp[index]) else {
        anyhow::bail!("the IdP has no credentials");
    };

    let clock = Instant::now();
    let pulled = crate::idp::pull(
        idp,
        cred,
        &settings.atlassian.http,
        &directory.id,
        &crate::idp::origin(&directory.name),
        &crate::idp::Known::default(),
        chrono::Utc::now(),
        std::sync::Arc::new(crate::metrics::Metrics::new()),
    )
    .await;
    let idp_pull_seconds = clock.elapsed().as_secs_f64();
    anyhow::ensure!(
        pulled.status.complete,
        "the IdP pull was incomplete: {:?}",
        pulled.status.error
    );
    let idp_peak_rss_mb = peak_rss_bytes() as f64 / 1e6;
    let idp_users = pulled.status.records;
    let assigned_groups = pulled.status.groups.unwrap_or(0);
    let idp_requests = pulled.api_requests.values().sum();
    drop(pulled);

    let mut atlassian = settings.clone();
    for d in &mut atlassian.atlassian.directories {
        d.idp = None;
    }
    atlassian.store.path = dir.path().join("atlassian-only.db");
    let clock = Instant::now();
    let alone = pull(&atlassian, json).await?;
    let atlassian_pull_seconds = clock.elapsed().as_secs_f64();
    anyhow::ensure!(alone.recorded.complete, "the Atlassian pull was incomplete");
    let (scim_records, accounts) = (alone.pull.scim_records(), alone.pull.accounts());
    drop(alone);

    let clock = Instant::now();
    let first = pull(&settings, json).await?;
    let three_sided_pull_seconds = clock.elapsed().as_secs_f64();
    anyhow::ensure!(
        first.recorded.complete && first.pull.all_complete(),
        "the three-sided pull was incomplete: {:?}",
        first.pull.sources
    );
    drop(first);
    let mut unchanged = 0.0;
    for _ in 0..repeat {
        let clock = Instant::now();
        let outcome = pull(&settings, json).await?;
        unchanged += clock.elapsed().as_secs_f64();
        anyhow::ensure!(
            outcome.recorded.versions_added == 0,
            "an unchanged pull added versions"
        );
        crate::store::settle(&settings.store.path);
    }
    let unchanged_pull_seconds_avg = unchanged / repeat.max(1) as f64;
    let _ = child.kill().await;
    let d = detection(&settings)?;
    Ok(IdpFigures {
        idp_users,
        assigned_groups,
        idp_pull_seconds,
        idp_peak_rss_mb,
        idp_requests,
        scim_records,
        accounts,
        atlassian_pull_seconds,
        three_sided_pull_seconds,
        unchanged_pull_seconds_avg,
        unchanged_pulls: repeat,
        peak_rss_mb: peak_rss_bytes() as f64 / 1e6,
        detection_seconds: d.all.0,
        detection_seconds_without_group_kinds: d.without.0,
        detection_peak_added_mb: d.all.1,
        detection_peak_added_mb_without_group_kinds: d.without.1,
        pushed_groups: d.pushed_groups,
        group_memberships: d.memberships,
        largest_group_members: d.largest,
    })
}

/// What [`detection`] measured: (best seconds, peak MB added) with every kind and without the
/// group kinds, and the size of the groups.
struct DetectionFigures {
    all: (f64, f64),
    without: (f64, f64),
    pushed_groups: usize,
    memberships: u64,
    largest: usize,
}

/// Detection over the store's last complete snapshot, as a cycle runs it (the IdP sides with their
/// current users), timed best of 3 with every kind and without the group kinds; the peak RSS each
/// adds is read after resetting the peak (`/proc/self/clear_refs`).
fn detection(settings: &Settings) -> anyhow::Result<DetectionFigures> {
    use crate::detect::{DetectSettings, IdpInput, Input, Kind};
    let store = Store::open(&settings.store.path)?;
    let latest = store
        .latest_complete()?
        .ok_or_else(|| anyhow::anyhow!("no complete snapshot to detect over"))?;
    let state = store.state_at(latest.snapshot_id)?;
    // Compact, as a cycle's detection reads them.
    let records: crate::model::compact::Records = state.records.iter().collect();
    let accounts: crate::model::compact::Accounts = state.accounts.iter().collect();
    let users = store.idp_users()?;
    let idp: Vec<IdpInput> = store
        .idp_sides()?
        .iter()
        .map(|s| IdpInput {
            side: crate::groups::side_of(
                s,
                users
                    .iter()
                    .filter(|u| u.directory_id == s.directory_id)
                    .cloned()
                    .collect(),
            ),
            latest_events: Default::default(),
            logs_known: true,
            ever_seen: Default::default(),
        })
        .collect();
    drop(users);
    let (since, links) = (Default::default(), Default::default());
    let input = Input {
        records: &records,
        groups: &state.groups,
        accounts: &accounts,
        inactive_since: &since,
        previous_links: &links,
        idp: &idp,
        now: chrono::Utc::now(),
    };
    let mut members = (0, 0, 0);
    let mut run = |disabled: Vec<Kind>| {
        let settings = DetectSettings {
            disabled,
            ..DetectSettings::default()
        };
        let mut best = f64::MAX;
        let mut added = 0u64;
        for _ in 0..3 {
            // Freed memory back to the system, then the peak reset: what the run adds is its own.
            // SAFETY: malloc_trim only releases free heap memory.
            unsafe { libc::malloc_trim(0) };
            let _ = std::fs::write("/proc/self/clear_refs", "5");
            let before = current_rss_bytes();
            let clock = Instant::now();
            let d = crate::detect::detect_all(&input, &settings);
            best = best.min(clock.elapsed().as_secs_f64());
            added = added.max(peak_rss_bytes().saturating_sub(before));
            if let Some(g) = d.group_members.first() {
                members.1 = g.idp;
            }
        }
        (best, added as f64 / 1e6)
    };
    let without = run(Kind::ALL.into_iter().filter(|k| k.is_group()).collect());
    let all = run(Vec::new());
    for x in &idp {
        let mut sizes: std::collections::HashMap<&str, usize> = Default::default();
        for u in &x.side.users {
            for g in &u.groups {
                *sizes.entry(g.as_str()).or_default() += 1;
            }
        }
        members.0 += x.side.groups.len();
        members.2 = members.2.max(sizes.values().copied().max().unwrap_or(0));
    }
    Ok(DetectionFigures {
        all,
        without,
        pushed_groups: members.0,
        memberships: members.1,
        largest: members.2,
    })
}

/// Resident set size of this process now (Linux `VmRSS`), 0 where unknown.
fn current_rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// Peak resident set size of this process (Linux `VmHWM`), 0 where unknown.
fn peak_rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// Figures of `scimdrift bench --daemon`.
#[derive(Debug, Serialize)]
pub struct DaemonFigures {
    pub scim_records: usize,
    pub idle_rss_mb: f64,
    pub idle_cpu_percent: f64,
    pub idle_seconds: f64,
    pub scrapers: usize,
    pub scrapes: usize,
    pub scrape_p50_ms: f64,
    pub scrape_p99_ms: f64,
    pub scrape_max_ms: f64,
    pub scrapes_per_second: f64,
    pub rss_after_scrapes_mb: f64,
}

/// Runs the daemon benchmark and prints the figures.
pub async fn daemon(users: usize, scrapers: usize, json: bool) -> ExitCode {
    match measure_daemon(users, scrapers).await {
        Ok(f) => {
            if json {
                println!("{}", serde_json::to_string_pretty(&f).unwrap_or_default());
            } else {
                println!(
                    "daemon with {} SCIM records (simulator and daemon as separate processes):",
                    f.scim_records
                );
                println!(
                    "  idle              {:.1} MB RSS, {:.2}% CPU over {:.0} s between cycles",
                    f.idle_rss_mb, f.idle_cpu_percent, f.idle_seconds
                );
                println!(
                    "  /metrics          {} scrapes by {} concurrent clients: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({:.0}/s)",
                    f.scrapes,
                    f.scrapers,
                    f.scrape_p50_ms,
                    f.scrape_p99_ms,
                    f.scrape_max_ms,
                    f.scrapes_per_second
                );
                println!("  RSS after         {:.1} MB", f.rss_after_scrapes_mb);
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            crate::app::journal::report(3, &format!("error: bench failed: {e:#}"));
            ExitCode::from(2)
        }
    }
}

/// Starts `scimdrift sim` as a child writing its config into `dir`; returns once it serves.
async fn start_sim(dir: &std::path::Path, args: &[&str]) -> anyhow::Result<tokio::process::Child> {
    let mut child = tokio::process::Command::new(std::env::current_exe()?)
        .args(["sim", "--listen", "127.0.0.1:0"])
        .args(args)
        .arg("--write-config")
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| anyhow::anyhow!("no simulator output"))?;
    let mut lines = BufReader::new(stdout).lines();
    while let Some(line) = lines.next_line().await? {
        if line.starts_with("config written") {
            return Ok(child);
        }
    }
    anyhow::bail!("the simulator exited before serving")
}

/// (resident set size in bytes, CPU ticks used) of process `pid`.
fn proc_usage(pid: u32) -> anyhow::Result<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let rss_kb = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks = fields
        .get(11)
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0)
        + fields
            .get(12)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
    Ok((rss_kb * 1024, ticks))
}

async fn measure_daemon(users: usize, scrapers: usize) -> anyhow::Result<DaemonFigures> {
    let dir = tempfile::tempdir()?;
    let _sim = start_sim(dir.path(), &["--users", &users.to_string()]).await?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let config = dir.path().join("scimdrift.toml");
    let mut text = std::fs::read_to_string(&config)?;
    text.push_str(&format!(
        "\n[schedule]\npull = \"0 0 * * * *\"\n[server]\nlisten = \"127.0.0.1:{port}\"\n"
    ));
    std::fs::write(&config, text)?;
    let mut daemon = tokio::process::Command::new(std::env::current_exe()?)
        .arg("--config")
        .arg(&config)
        .arg("run")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let pid = daemon
        .id()
        .ok_or_else(|| anyhow::anyhow!("the daemon did not start"))?;
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(scrapers)
        .build()?;
    let deadline = Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let ready = client
            .get(format!("{base}/readyz"))
            .send()
            .await
            .map(|r| r.status().is_success());
        if ready.unwrap_or(false) {
            break;
        }
        anyhow::ensure!(Instant::now() < deadline, "the daemon never became ready");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let scim_records = Store::open(&dir.path().join("scimdrift.db"))?
        .latest_complete()?
        .map_or(0, |s| s.scim_records as usize);
    // Let the start-up cycle's aftermath settle, then watch the idle daemon.
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let idle = std::time::Duration::from_secs(10);
    let (_, t0) = proc_usage(pid)?;
    tokio::time::sleep(idle).await;
    let (idle_rss, t1) = proc_usage(pid)?;
    let ticks_per_second = 100.0; // USER_HZ on Linux
    let idle_cpu_percent = (t1 - t0) as f64 / ticks_per_second / idle.as_secs_f64() * 100.0;

    let rounds = 20;
    let started = Instant::now();
    let tasks: Vec<_> = (0..scrapers)
        .map(|_| {
            let (client, url) = (client.clone(), format!("{base}/metrics"));
            tokio::spawn(async move {
                // One unmeasured scrape opens the connection, as a scraper keeps one open.
                if let Ok(r) = client.get(&url).send().await {
                    let _ = r.bytes().await;
                }
                let mut times = Vec::with_capacity(rounds);
                for _ in 0..rounds {
                    let t = Instant::now();
                    let ok = match client.get(&url).send().await {
                        Ok(r) => r.bytes().await.is_ok(),
                        Err(_) => false,
                    };
                    if ok {
                        times.push(t.elapsed().as_secs_f64() * 1000.0);
                    }
                }
                times
            })
        })
        .collect();
    let mut times = Vec::new();
    for t in tasks {
        times.extend(t.await?);
    }
    let wall = started.elapsed().as_secs_f64();
    anyhow::ensure!(
        times.len() == scrapers * rounds,
        "{} of {} scrapes failed",
        scrapers * rounds - times.len(),
        scrapers * rounds
    );
    times.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        times[((times.len() as f64 * p).ceil() as usize)
            .saturating_sub(1)
            .min(times.len() - 1)]
    };
    let (rss_after, _) = proc_usage(pid)?;
    let _ = daemon.kill().await;
    Ok(DaemonFigures {
        scim_records,
        idle_rss_mb: idle_rss as f64 / 1e6,
        idle_cpu_percent,
        idle_seconds: idle.as_secs_f64(),
        scrapers,
        scrapes: times.len(),
        scrape_p50_ms: pct(0.50),
        scrape_p99_ms: pct(0.99),
        scrape_max_ms: times[times.len() - 1],
        scrapes_per_second: times.len() as f64 / wall,
        rss_after_scrapes_mb: rss_after as f64 / 1e6,
    })
}
