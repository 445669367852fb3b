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
    write_sim_config_with(world, base_url, dir, db, false)
}

/// [`write_sim_config`], with `idp`: each directory an Entra tenant of the world provisions into
/// gets its `[atlassian.directories.idp]` (the client secret in a file beside the config).
pub fn write_sim_config_with(
    world: &World,
    base_url: &str,
    dir: &Path,
    db: &Path,
    idp: bool,
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
        if let Some(t) = world.entra.iter().find(|t| idp && t.directory_id == d.id) {
            let secret = dir.join(format!("entra-{}.secret", d.name));
            write_secret(&secret, &t.client_secret)?;
            let _ = writeln!(toml, "[atlassian.directories.idp]\nkind = \"entra\"");
            let _ = writeln!(
                toml,
                "tenant_id = {:?}\nclient_id = {:?}",
                t.tenant_id, t.client_id
            );
            let _ = writeln!(
                toml,
                "client_secret_file = {:?}",
                secret.display().to_string()
            );
            let _ = writeln!(
                toml,
                "service_principal_id = {:?}",
                t.app_service_principal_id
            );
            let _ = writeln!(
                toml,
                "graph_base_url = \"{base_url}/graph/v1.0\"\nlogin_base_url = \"{base_url}/entra-login\"\n"
            );
        } else if let Some(o) = world.okta.iter().find(|o| idp && o.directory_id == d.id) {
            // The preferred credential: a service app signing private_key_jwt assertions.
            let key = dir.join(format!("okta-{}.pem", d.name));
            write_secret(&key, sim::ENTRA_TEST_KEY_PEM)?;
            let _ = writeln!(toml, "[atlassian.directories.idp]\nkind = \"okta\"");
            let _ = writeln!(toml, "domain = \"{}.okta.example\"", o.org);
            let _ = writeln!(toml, "base_url = \"{base_url}/okta/{}\"", o.org);
            let _ = writeln!(
                toml,
                "app_id = {:?}\nclient_id = {:?}",
                o.app.id, o.service_app.client_id
            );
            let _ = writeln!(toml, "private_key_file = {:?}", key.display().to_string());
            if let Some(kid) = &o.service_app.key_id {
                let _ = writeln!(toml, "key_id = {kid:?}");
            }
            let _ = writeln!(toml);
        }
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
    entra_groups: Option<usize>,
    okta: bool,
    write_config: Option<PathBuf>,
) -> ExitCode {
    let now = Utc::now();
    let world = match (scenarios, entra_groups) {
        (true, _) => World::okta_scenarios_with_healthy(users, seed, now),
        (false, Some(groups)) => World::healthy_with_entra(users, groups.max(1), seed, now),
        (false, None) if okta => {
            let mut w = World::healthy(users, seed, now);
            w.add_okta(0, seed, now);
            w
        }
        (false, None) => World::healthy(users, seed, now),
    };
    let handle = match start_sim(listen, world).await {
        Ok(h) => h,
        Err(e) => {
            crate::app::journal::report(3, &format!("error: {e}"));
            return ExitCode::from(2);
        }
    };
    println!("simulator listening on {}", handle.base_url());
    if let Some(dir) = write_config {
        let db = dir.join("scimdrift.db");
        match write_sim_config_with(&handle.world(), &handle.base_url(), &dir, &db, true) {
            Ok(path) => println!("config written: scimdrift --config {} once", path.display()),
            Err(e) => {
                crate::app::journal::report(
                    3,
                    &format!("error: cannot write the config into {}: {e}", dir.display()),
                );
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

/// `scimdrift demo`: the scenario world pulled into a database in `dir` (default
/// [`DEFAULT_DIR`]), a change, a fault, one guarded remediation and the daily report; then the
/// daemon against the same simulator.
pub async fn run(users: usize, dir: Option<PathBuf>, serve: Serve) -> ExitCode {
    match demo(users, dir, serve).await {
        Ok(code) => code,
        Err(e) => {
            crate::app::journal::report(3, &format!("error: demo failed: {e:#}"));
            ExitCode::from(2)
        }
    }
}

/// Where the demo keeps its config, keys, database, plan and report without `--keep`.
pub const DEFAULT_DIR: &str = "scimdrift-demo";
/// The file that marks a directory as the demo's own, so the next demo may replace it.
const MARKER: &str = ".scimdrift-demo";
/// Confirmations the demo's suspend rule waits for.
const CONFIRMATIONS: u32 = 3;

/// Creates the demo's directory, or replaces one an earlier demo left (it holds [`MARKER`]); any
/// other non-empty directory is refused. Returns it as an absolute path.
fn prepare_dir(dir: &Path) -> anyhow::Result<PathBuf> {
    if dir.join(MARKER).is_file() {
        std::fs::remove_dir_all(dir)
            .map_err(|e| anyhow::anyhow!("cannot replace {}: {e}", dir.display()))?;
    } else if std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_some()) {
        anyhow::bail!(
            "{} is not empty and not an earlier demo's directory: pass --keep DIR with a new or empty directory",
            dir.display()
        );
    }
    std::fs::create_dir_all(dir)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
    std::fs::write(
        dir.join(MARKER),
        "written by `scimdrift demo`: the next demo in this directory replaces it\n",
    )?;
    Ok(std::fs::canonicalize(dir)?)
}

/// The demo's remediation policy: one `suspend` rule for leavers, every guard on.
fn policy(world: &World) -> String {
    format!(
        "\n[remediation]\nenabled = true\n\
         max_percent_of_population = 10.0   # the demo org is small: 1 % of it rounds down to no action\n\
         org_directory_id = {:?}\n\n\
         [[remediation.rules]]\nkind = \"idp_inactive_account_active\"\naction = \"suspend\"\nmode = \"apply\"\n\
         min_confirmations = {CONFIRMATIONS}\n\n\
         [detect]\nidp_grace_minutes = 0   # the demo pulls seconds apart; the default (90) waits out Entra's ~40-minute cycles\n",
        world.labels.get("D1").cloned().unwrap_or_default()
    )
}

/// Prints `text` indented by `indent`.
fn indented(indent: &str, text: &str) {
    for line in text.lines() {
        if line.trim().is_empty() {
            println!();
        } else {
            println!("{indent}{line}");
        }
    }
}

async fn demo(users: usize, dir: Option<PathBuf>, serve: Serve) -> anyhow::Result<ExitCode> {
    let dir = prepare_dir(&dir.unwrap_or_else(|| PathBuf::from(DEFAULT_DIR)))?;
    let world = World::okta_scenarios_with_healthy(users, 7, Utc::now());
    let handle = start_sim("127.0.0.1:0", world).await?;
    // The demo pulls seconds apart: Graph's reports limit (5 requests / 10 s) would make its sixth
    // pull wait out the window.
    handle.set_entra_options(|o| o.reports_limit = 1000);
    let db = dir.join("scimdrift.db");
    let world = handle.world();
    let config = write_sim_config_with(&world, &handle.base_url(), &dir, &db, true)?;
    let mut toml = std::fs::read_to_string(&config)?;
    toml.push_str(&policy(&world));
    std::fs::write(&config, toml)?;
    let settings = Settings::load(Some(&config))?;
    let metrics = crate::metrics::Metrics::new();

    println!(
        "scimdrift demo: a simulated Atlassian org at {}",
        handle.base_url()
    );
    for d in &world.directories {
        println!("  SCIM directory {:<6} {} records", d.name, d.users.len());
    }
    println!("  org accounts          {} accounts", world.accounts.len());
    for t in &world.entra {
        let name = world
            .directory(&t.directory_id)
            .map_or("?", |d| d.name.as_str());
        println!(
            "  Entra ID tenant       {} users, provisioning into directory {name} (Microsoft Graph, simulated)",
            t.users.len()
        );
    }
    for o in &world.okta {
        let name = world
            .directory(&o.directory_id)
            .map_or("?", |d| d.name.as_str());
        println!(
            "  Okta org              {} users ({} assigned to the Atlassian Cloud app), provisioning into directory {name} (Okta API, simulated)",
            o.users.len(),
            o.app_users.len()
        );
    }
    println!(
        "  demo directory        {} (config, keys, database, report; the next demo replaces it)\n",
        dir.display()
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
    indented("   ", &table);
    println!(
        "\n   The IdP sides (idp:entra, idp:okta) were read too, but an IdP discrepancy becomes a finding\n   \
         only once two consecutive complete IdP pulls agree (the IdP pushes asynchronously)."
    );

    println!(
        "\n2. Pull again with nothing changed: one new version row only, an Okta user found by looking up an\n   \
         active record's externalId (Okta drops a deactivated user from the app's users; scimdrift looks\n   \
         up the records no app user joined once it has stored them). The IdP discrepancies held, so the\n   \
         IdP findings open: what Entra ID and Okta intend against what arrived in Atlassian (the\n   \
         looked-up leaver's opens on the next pull)."
    );
    let second = cycle::pull_and_store(&settings).await?;
    print!("{}", output::once(&second, Format::Text));
    let store = Store::open(&settings.store.path)?;
    for f in store.findings()?.iter().filter(|f| f.kind.is_idp()) {
        println!(
            "   {:<8} {:<25} {}",
            f.severity.as_str(),
            f.kind.as_str(),
            crate::escape::line(&f.summary)
        );
    }

    let who = world.labels.get("R10").cloned().unwrap_or_default();
    println!(
        "\n3. The IdP deactivates gus@example.com (SCIM record {who}) but his account keeps access:\n   \
         one new version of his record (and one of his Entra user); his no_synced_groups finding\n   \
         resolves and a critical one opens."
    );
    let mut external = None;
    handle.update_world(|w| {
        for d in &mut w.directories {
            if let Some(u) = d.user_mut(&who) {
                u.active = Some(false);
                u.last_modified = Utc::now();
                external = u.external_id.clone();
            }
        }
    });
    // Entra disabled him too (that is why it sent active:false).
    let d1 = world.labels.get("D1").cloned().unwrap_or_default();
    handle.update_entra(&d1, |t| {
        for u in t
            .users
            .iter_mut()
            .filter(|u| Some(&u.id) == external.as_ref())
        {
            u.account_enabled = Some(false);
        }
    });
    let third = cycle::pull_and_store(&settings).await?;
    print!("{}", output::once(&third, Format::Text));

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
    handle.set_faults(Faults::default());

    remediation(&settings, &metrics, &dir, &world).await?;

    let daily = crate::app::daily::run_daily(&settings, &metrics, Utc::now()).await?;
    let html = dir.join(crate::report::ReportFormat::Html.file_name(daily.date));
    std::fs::write(
        &html,
        crate::report::render(&daily.report, crate::report::ReportFormat::Html),
    )?;
    println!(
        "\n9. The daily report for admins: {}.\n   \
         Findings by person with their fixes, the suspend, and what the plan blocked and why. Open it:\n   \
         report: {}\n   \
         (also `scimdrift report --format md|csv|json`)",
        daily.headline,
        html.display()
    );

    let cfg = config.display();
    println!(
        "\nThe demo directory stays: {}\nWith the simulator gone, the store still answers:\n  \
         scimdrift --config {cfg} findings\n  \
         scimdrift --config {cfg} person fay@example.com\n  \
         scimdrift --config {cfg} audit\n  \
         scimdrift --config {cfg} remediate plan    # reads the store, sends nothing",
        dir.display()
    );
    if !matches!(serve, Serve::No) {
        serve_daemon(&config, serve).await?;
    }
    handle.shutdown().await;
    Ok(ExitCode::SUCCESS)
}

/// Steps 5–7: the dry-run plan, one guarded suspend of the leaver (fay, scenario 6), and the pull
/// that sees it done.
async fn remediation(
    settings: &Settings,
    metrics: &crate::metrics::Metrics,
    dir: &Path,
    world: &World,
) -> anyhow::Result<()> {
    println!(
        "\n5. Remediation. The demo's scimdrift.toml enables one rule: suspend the account of a leaver\n   \
         (inactive in the IdP, access in Atlassian) once {CONFIRMATIONS} complete snapshots have shown the finding."
    );
    indented("     ", policy(world).trim());
    let store = Store::open(&settings.store.path)?;
    let refused = crate::app::remediation::make_plan(settings, &store, Utc::now())?;
    for c in refused.checks.iter().filter(|c| !c.passed) {
        println!(
            "   Planned now, nothing would be done: {} guard: {}.",
            c.guard, c.detail
        );
    }
    println!("   The accounts API is back; pull again:");
    let fifth = cycle::pull_and_store(settings).await?;
    indented(
        "   ",
        output::once(&fifth, Format::Text)
            .lines()
            .next()
            .unwrap_or(""),
    );

    println!(
        "\n6. The dry run: `scimdrift remediate plan --output plan.json` says what the policy would do\n   \
         and which guard blocked what. It sends nothing."
    );
    let plan = crate::app::remediation::make_plan(settings, &store, Utc::now())?;
    crate::app::remediation::record_plan(&store, &plan, metrics)?;
    std::fs::write(dir.join("plan.json"), serde_json::to_string_pretty(&plan)?)?;
    indented("   ", &crate::remediate::plan_text(&plan));
    println!(
        "   fay's finding has been seen by every complete snapshot: it passes every guard. gus's opened\n   \
         at step 3: `confirmations` holds it back until {CONFIRMATIONS} pulls agree (an IdP glitch never suspends anyone)."
    );

    println!(
        "\n7. Apply: `scimdrift remediate apply --plan plan.json` plans again and sends only what the\n   \
         reviewed plan allowed. The target is read again first, and the intent is written to the audit\n   \
         log before the call."
    );
    let applied = crate::app::remediation::apply_reviewed(settings, &plan, metrics).await?;
    println!(
        "   applied: {} succeeded, {} failed, {} skipped",
        applied.success, applied.failure, applied.skipped
    );
    println!("   `scimdrift audit`:");
    indented("     ", &crate::remediate::audit_text(&store.audit(0)?));

    println!("\n8. The next pull sees fay's account suspended: her finding resolves.");
    let sixth = cycle::pull_and_store(settings).await?;
    print!("{}", output::once(&sixth, Format::Text));
    let fay = store.findings()?.into_iter().find(|f| {
        f.kind == crate::detect::Kind::IdpInactiveAccountActive
            && f.scim_users
                .iter()
                .any(|u| world.labels.get("R9") == Some(&u.scim_id))
    });
    let a9 = world.labels.get("A9").cloned().unwrap_or_default();
    let account = store
        .state_at(sixth.recorded.snapshot_id)?
        .accounts
        .into_iter()
        .find(|a| a.account_id == a9);
    println!(
        "   fay@example.com: account {a9} is now {} (account/membership), her finding {}.",
        account.map_or("missing".into(), |a| format!(
            "{}/{}",
            a.account_status, a.membership_status
        )),
        fay.map_or("missing", |f| f.status.as_str())
    );
    println!("   Her timeline, from `scimdrift person fay@example.com`:");
    let history =
        crate::person::history(&store, "fay@example.com", &settings.person_directories())?;
    let text = output::person(&history, Format::Text);
    let timeline = text.find("  timeline\n").map_or(&text[..], |i| &text[i..]);
    indented(
        "   ",
        timeline.split_once('\n').map_or(timeline, |(_, rest)| rest),
    );
    Ok(())
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
    println!(
        "\n10. The daemon runs against the simulator, pulling every 10 seconds and remediating after each\n   \
         complete pull: gus's finding has its {CONFIRMATIONS} confirmations now, so his account is suspended too."
    );
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
