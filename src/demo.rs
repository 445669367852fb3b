//! `scimdrift demo` and `scimdrift sim`: the simulator with the scenario world, and a config that
//! points scimdrift at it (keys in files, never inline).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use chrono::Utc;

use crate::config::Settings;
use crate::detect::Severity;
use crate::findings::{Query, StatusFilter};
use crate::output::FindingsFormat;
use crate::output::Format;
use crate::query::list_findings;
use crate::sim::{self, Api, FaultKind, FaultRule, Faults, SimHandle, SimOptions, World};
use crate::store::Store;
use crate::{cycle, output};

/// Writes `scimdrift.toml` plus one key file per secret into `dir`, for a simulator at `base_url`.
/// Returns the config path.
pub fn write_sim_config(
    world: &World,
    base_url: &str,
    dir: &Path,
    db: &Path,
) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let org_key = dir.join("org-api-key");
    write_secret(&org_key, &world.org_api_key)?;
    let mut toml = String::new();
    let _ = writeln!(
        toml,
        "# scimdrift pointed at a local simulator\n[atlassian]"
    );
    let _ = writeln!(toml, "base_url = {:?}", base_url);
    let _ = writeln!(toml, "org_id = {:?}", world.org_id);
    let _ = writeln!(
        toml,
        "org_api_key_file = {:?}",
        org_key.display().to_string()
    );
    let _ = writeln!(toml, "accounts_endpoint = \"search\"\n");
    let _ = writeln!(
        toml,
        "[atlassian.http]\nretry_base_delay_ms = 50\nmax_retries = 3\n"
    );
    for d in &world.directories {
        let key = dir.join(format!("dir-{}.key", d.name));
        write_secret(&key, &d.token)?;
        let _ = writeln!(toml, "[[atlassian.directories]]");
        let _ = writeln!(toml, "id = {:?}\nname = {:?}", d.id, d.name);
        let _ = writeln!(toml, "token_file = {:?}\n", key.display().to_string());
    }
    let _ = writeln!(toml, "[store]\npath = {:?}", db.display().to_string());
    let path = dir.join("scimdrift.toml");
    std::fs::write(&path, toml)?;
    Ok(path)
}

fn write_secret(path: &Path, value: &str) -> std::io::Result<()> {
    std::fs::write(path, format!("{value}\n"))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

async fn start_sim(listen: &str, world: World) -> anyhow::Result<SimHandle> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {listen}: {e}"))?;
    Ok(sim::start(listener, world, SimOptions::default()).await?)
}

/// `scimdrift sim`: serve until Ctrl-C.
pub async fn serve_sim(
    listen: &str,
    users: usize,
    seed: u64,
    scenarios: bool,
    write_config: Option<PathBuf>,
) -> ExitCode {
    let now = Utc::now();
    let world = if scenarios {
        World::scenarios_with_healthy(users, seed, now)
    } else {
        World::healthy(users, seed, now)
    };
    let handle = match start_sim(listen, world).await {
        Ok(h) => h,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    println!("simulator listening on {}", handle.base_url());
    if let Some(dir) = write_config {
        let db = dir.join("scimdrift.db");
        match write_sim_config(&handle.world(), &handle.base_url(), &dir, &db) {
            Ok(path) => println!("config written: scimdrift --config {} once", path.display()),
            Err(e) => {
                eprintln!("error: cannot write the config into {}: {e}", dir.display());
                return ExitCode::from(2);
            }
        }
    } else {
        println!("\n{}", handle.config_snippet());
    }
    let _ = tokio::signal::ctrl_c().await;
    handle.shutdown().await;
    ExitCode::SUCCESS
}

/// Whether the demo ends by running the daemon.
#[derive(Debug, Clone, Copy)]
pub enum Serve {
    No,
    UntilCtrlC,
    For(std::time::Duration),
}

/// `scimdrift demo`: the scenario world, pulled into a temporary database, with a change and a
/// fault; then the daemon against the same simulator.
pub async fn run(users: usize, keep: Option<PathBuf>, serve: Serve) -> ExitCode {
    match demo(users, keep, serve).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: demo failed: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn demo(users: usize, keep: Option<PathBuf>, serve: Serve) -> anyhow::Result<ExitCode> {
    let world = World::scenarios_with_healthy(users, 7, Utc::now());
    let handle = start_sim("127.0.0.1:0", world).await?;
    let temp = tempfile::tempdir()?;
    let dir = keep.unwrap_or_else(|| temp.path().to_path_buf());
    let db = dir.join("scimdrift.db");
    let world = handle.world();
    let config = write_sim_config(&world, &handle.base_url(), &dir, &db)?;
    let settings = Settings::load(Some(&config))?;

    println!(
        "scimdrift demo: a simulated Atlassian org at {}",
        handle.base_url()
    );
    for d in &world.directories {
        println!("  SCIM directory {:<6} {} records", d.name, d.users.len());
    }
    println!(
        "  org accounts          {} accounts\n",
        world.accounts.len()
    );

    println!("1. First pull: every directory and the accounts, stored as change history.");
    let first = cycle::pull_and_store(&settings).await?;
    print!("{}", output::once(&first, Format::Text));
    describe_state(&settings, first.recorded.snapshot_id)?;
    println!(
        "\n   The findings (`scimdrift findings --status all`): one per drift scenario of the catalogue.\n"
    );
    let filter = Query {
        kind: None,
        min_severity: Severity::Low,
        status: StatusFilter::All,
    };
    let (table, _) = list_findings(&settings, &filter, FindingsFormat::Table)?;
    for line in table.lines() {
        println!("   {line}");
    }

    println!("\n2. Pull again with nothing changed: no new version rows.");
    let second = cycle::pull_and_store(&settings).await?;
    print!("{}", output::once(&second, Format::Text));

    let who = world.labels.get("R10").cloned().unwrap_or_default();
    println!(
        "\n3. The IdP deactivates gus@example.com (SCIM record {who}) but his account keeps access:\n   \
         exactly one new version; his no_synced_groups finding resolves and a critical one opens."
    );
    handle.update_world(|w| {
        for d in &mut w.directories {
            if let Some(u) = d.user_mut(&who) {
                u.active = Some(false);
                u.last_modified = Utc::now();
            }
        }
    });
    let third = cycle::pull_and_store(&settings).await?;
    print!("{}", output::once(&third, Format::Text));

    let daily =
        crate::report::run_daily(&settings, &crate::metrics::Metrics::new(), Utc::now()).await?;
    let html = dir.join(crate::report::ReportFormat::Html.file_name(daily.date));
    std::fs::write(
        &html,
        crate::report::render(&daily.report, crate::report::ReportFormat::Html),
    )?;
    println!("\n   The daily report for admins: {}", daily.headline);
    println!(
        "   {} (also `scimdrift report --format md|csv|json`)",
        html.display()
    );

    println!(
        "\n4. The accounts API fails with 503 for the whole pull: the snapshot is incomplete."
    );
    handle.set_faults(Faults::rules([
        FaultRule::new(FaultKind::Status(503)).on(Api::Accounts)
    ]));
    let fourth = cycle::pull_and_store(&settings).await?;
    print!("{}", output::once(&fourth, Format::Text));
    let store = Store::open(&settings.store.path)?;
    if let Some(latest) = store.latest_complete()? {
        println!(
            "  the current state is still snapshot {} (never read as \"users disappeared\")",
            latest.snapshot_id
        );
    }
    println!("\nThe database: {}", db.display());
    if dir == temp.path() {
        println!(
            "(temporary: pass --keep DIR to keep it, then try `scimdrift --config DIR/scimdrift.toml snapshots`)"
        );
    }
    handle.set_faults(Faults::default());
    if !matches!(serve, Serve::No) {
        serve_daemon(&config, serve).await?;
    }
    handle.shutdown().await;
    Ok(ExitCode::SUCCESS)
}

/// A few counts of the stored state, the raw material of the findings.
fn describe_state(settings: &Settings, snapshot_id: i64) -> anyhow::Result<()> {
    let store = Store::open(&settings.store.path)?;
    let state = store.state_at(snapshot_id)?;
    let unlinked = state
        .records
        .iter()
        .filter(|r| r.account_id.is_none())
        .count();
    let inactive = state
        .records
        .iter()
        .filter(|r| r.active == Some(false))
        .count();
    let with_access = state.accounts.iter().filter(|a| a.has_access()).count();
    println!(
        "  stored state: {} SCIM records ({unlinked} unlinked, {inactive} inactive), {} groups, {} accounts ({with_access} with access)",
        state.records.len(),
        state.groups.len(),
        state.accounts.len()
    );
    Ok(())
}

/// Runs the daemon against the demo's simulator with a pull every 10 seconds.
async fn serve_daemon(config: &Path, serve: Serve) -> anyhow::Result<()> {
    let mut text = std::fs::read_to_string(config)?;
    text.push_str("\n[schedule]\npull = \"*/10 * * * * *\"\n");
    std::fs::write(config, text)?;
    let settings = Settings::load(Some(config))?;
    let listener = match tokio::net::TcpListener::bind("127.0.0.1:9464").await {
        Ok(l) => l,
        Err(_) => tokio::net::TcpListener::bind("127.0.0.1:0").await?,
    };
    let base = format!("http://{}", listener.local_addr()?);
    println!("\n5. The daemon runs against the simulator, pulling every 10 seconds:");
    for path in ["/metrics", "/findings", "/readyz", "/report"] {
        println!("   {base}{path}");
    }
    match serve {
        Serve::For(d) => println!("   (stopping in {} s)", d.as_secs()),
        _ => println!("   (Ctrl-C to stop)"),
    }
    let stop = async move {
        match serve {
            Serve::For(d) => tokio::time::sleep(d).await,
            _ => crate::daemon::shutdown_signal().await,
        }
    };
    crate::daemon::run(settings, listener, None, stop).await
}
