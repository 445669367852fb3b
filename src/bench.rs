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
    pub records_per_second: f64,
    pub unchanged_pull_seconds_avg: f64,
    pub peak_rss_mb: f64,
    pub db_bytes_after_first_pull: u64,
    pub db_bytes_after_unchanged_pulls: u64,
    pub unchanged_pulls: usize,
    pub growth_percent: f64,
}

/// Runs the benchmark and prints the figures.
pub async fn run(users: usize, repeat: usize, json: bool) -> ExitCode {
    match measure(users, repeat).await {
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
                    "  unchanged pull    {:.2} s  (average of {})",
                    f.unchanged_pull_seconds_avg, f.unchanged_pulls
                );
                println!("  peak RSS          {:.0} MB", f.peak_rss_mb);
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
            eprintln!("error: bench failed: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn measure(users: usize, repeat: usize) -> anyhow::Result<Figures> {
    let dir = tempfile::tempdir()?;
    let mut child = tokio::process::Command::new(std::env::current_exe()?)
        .args([
            "sim",
            "--listen",
            "127.0.0.1:0",
            "--no-scenarios",
            "--users",
        ])
        .arg(users.to_string())
        .arg("--write-config")
        .arg(dir.path())
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
            break;
        }
    }
    let settings = Settings::load(Some(&dir.path().join("scimdrift.toml")))?;

    let clock = Instant::now();
    let first = cycle::pull_and_store(&settings).await?;
    let first_pull_seconds = clock.elapsed().as_secs_f64();
    anyhow::ensure!(
        first.recorded.complete,
        "the first pull was incomplete: {:?}",
        first.pull.sources
    );
    let scim_records = first.pull.scim_records();
    let accounts = first.pull.accounts();
    drop(first);
    let db_bytes_after_first_pull = Store::open(&settings.store.path)?.compacted_size()?;

    let clock = Instant::now();
    for _ in 0..repeat {
        let outcome = cycle::pull_and_store(&settings).await?;
        anyhow::ensure!(
            outcome.recorded.versions_added == 0,
            "an unchanged pull added versions"
        );
    }
    let unchanged_pull_seconds_avg = clock.elapsed().as_secs_f64() / repeat.max(1) as f64;
    let db_bytes_after_unchanged_pulls = Store::open(&settings.store.path)?.compacted_size()?;
    let _ = child.kill().await;
    let growth = db_bytes_after_unchanged_pulls.saturating_sub(db_bytes_after_first_pull);
    Ok(Figures {
        scim_records,
        accounts,
        first_pull_seconds,
        records_per_second: (scim_records + accounts) as f64 / first_pull_seconds,
        unchanged_pull_seconds_avg,
        peak_rss_mb: peak_rss_bytes() as f64 / 1e6,
        db_bytes_after_first_pull,
        db_bytes_after_unchanged_pulls,
        unchanged_pulls: repeat,
        growth_percent: growth as f64 * 100.0 / db_bytes_after_first_pull.max(1) as f64,
    })
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
