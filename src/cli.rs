//! The command line: `run`, `once`, `findings`, `report`, `snapshots`, `remediate`, `audit`, `check-config`, `demo`, `sim`, `bench`.
//! Exit codes: 0 success (a complete pull), 1 an incomplete pull, 2 a configuration, usage or store error.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::config::{ConfigError, LogFormat, Settings};
use crate::detect::{Kind, Severity};
use crate::findings::Status;
use crate::output::{FindingsDocument, FindingsFormat};
use crate::store::Store;
use crate::{bench, cycle, demo, escape, output};

/// scimdrift: finds drift between your identity provider's SCIM directories and your Atlassian Cloud
/// organization's accounts, and keeps every pull as change history in SQLite.
#[derive(Debug, Parser)]
#[command(name = "scimdrift", version, about, long_about = None)]
pub struct Cli {
    /// Configuration file (TOML). Environment overrides: SCIMDRIFT__SECTION__KEY.
    #[arg(long, global = true, env = "SCIMDRIFT_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Log format on stderr: text for terminals, json for journald and log shippers
    /// (default: `[log] format` of the config, else text). Filter with RUST_LOG.
    #[arg(long, global = true, value_enum, value_name = "FORMAT")]
    pub log_format: Option<LogFormat>,
    #[command(subcommand)]
    pub command: Command,
}

/// Which findings `scimdrift findings` lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StatusFilter {
    Open,
    Resolved,
    Suppressed,
    All,
}

/// Output format of the reporting commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon: a pull at start-up and on `[schedule] pull`, detection after each complete
    /// pull, the daily report, and the HTTP endpoint (`[server] listen`): /metrics, /healthz, /readyz,
    /// /findings, /report. Stops cleanly on SIGTERM or SIGINT (exit 0).
    Run,
    /// Pull every SCIM directory and the org's accounts once, store the snapshot, print a summary.
    /// Exit 0 when the snapshot is complete, 1 when it is incomplete or held (a source shrank beyond
    /// [pull] max_shrink_percent / max_shrink_records), 2 on a config or store error.
    Once {
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
        /// Make this pull current even though a source shrank (after checking the drop is real:
        /// people left, a directory was cleaned up). Logged; a drop to zero is accepted too.
        #[arg(long)]
        accept_shrink: bool,
    },
    /// List the findings of the store (no API calls). Exit 0 when no open finding is at or above
    /// --fail-on, 1 when one is, 2 on error: usable as is in cron and CI.
    Findings {
        #[arg(long, value_enum, default_value = "table")]
        format: FindingsFormat,
        /// Only this finding kind (e.g. duplicate_email).
        #[arg(long, value_parser = clap::builder::ValueParser::new(|s: &str| s.parse::<Kind>()))]
        kind: Option<Kind>,
        /// Only findings at or above this severity: low, medium, high, critical.
        #[arg(long, default_value = "low", value_parser = clap::builder::ValueParser::new(|s: &str| s.parse::<Severity>()))]
        min_severity: Severity,
        /// Which findings to list.
        #[arg(long, value_enum, default_value = "open")]
        status: StatusFilter,
        /// Exit 1 when an open finding (of the selected kind) is at or above this severity.
        #[arg(long, default_value = "critical", value_parser = clap::builder::ValueParser::new(|s: &str| s.parse::<Severity>()))]
        fail_on: Severity,
    },
    /// Render the findings report for admins from the store (no API calls): what changed since the
    /// previous report, grouped by person, with the fix for each finding.
    Report {
        #[arg(long, value_enum, default_value = "html")]
        format: crate::report::ReportFormat,
        /// Write to this file instead of standard output.
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Compare with the report (or the findings state) of this day, YYYY-MM-DD, instead of the
        /// previous report.
        #[arg(long, value_name = "DATE")]
        since: Option<chrono::NaiveDate>,
    },
    /// One person's whole history ("why can't this person log in?"): every version of every SCIM
    /// record and account that carried EMAIL (or is linked to one that did), every finding about
    /// them with its lifecycle, every remediation action, as a timeline. Reads the store only.
    /// Exit 0, 1 when the store knows nothing of the email, 2 on error.
    Person {
        /// The email (compared trimmed and case-insensitively).
        email: String,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// List the stored snapshots, newest first (reads the store only; no API calls).
    Snapshots {
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
        /// How many snapshots to list.
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    /// Guarded remediation: `plan` shows what the policy would do and why (no API calls);
    /// `apply --plan FILE` applies a reviewed plan if it is still current.
    Remediate {
        #[command(subcommand)]
        command: RemediateCommand,
    },
    /// List the remediation audit log, newest first (no API calls); `audit settle` records the
    /// result of an intent that reconciliation cannot read back.
    #[command(args_conflicts_with_subcommands = true)]
    Audit {
        #[command(subcommand)]
        command: Option<AuditCommand>,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
        /// How many rows (0: all).
        #[arg(long, default_value_t = 0)]
        limit: usize,
    },
    /// Validate the configuration and every secret it names, then print the effective configuration
    /// with secrets shown as `***`. Exit 2 on any error.
    CheckConfig,
    /// Start the simulator in-process with the drift scenarios, pull it into ./scimdrift-demo/
    /// and show what scimdrift does. Needs no Atlassian account and no configuration.
    Demo {
        /// Healthy users added beside the scenarios.
        #[arg(long, default_value_t = 25)]
        users: usize,
        /// The demo's directory: config, keys, database, plan and report [default: ./scimdrift-demo,
        /// replaced by the next demo].
        #[arg(long, value_name = "DIR")]
        keep: Option<PathBuf>,
        /// After the tour, do not run the daemon (default: run it until Ctrl-C when on a terminal).
        #[arg(long)]
        no_serve: bool,
        /// Run the daemon for this many seconds, then stop (even without a terminal).
        #[arg(long, value_name = "SECONDS")]
        serve_seconds: Option<u64>,
    },
    /// Run the Atlassian API simulator standalone and print the config to point scimdrift at it.
    Sim {
        /// Address to listen on (loopback).
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: String,
        /// Healthy users generated in the `entra` directory (with matching accounts).
        #[arg(long, default_value_t = 25)]
        users: usize,
        /// Seed of the generated population.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Serve only the healthy population, without the drift scenarios.
        #[arg(long)]
        no_scenarios: bool,
        /// Also write a ready config (keys in files) into this directory.
        #[arg(long, value_name = "DIR")]
        write_config: Option<PathBuf>,
    },
    /// Benchmark: pull N SCIM records + N accounts from a simulator on loopback into a fresh
    /// database, then repeat unchanged pulls; prints wall time, records/s, peak RSS and DB growth.
    Bench {
        /// SCIM records (one directory) and accounts to generate.
        #[arg(long, default_value_t = 100_000)]
        users: usize,
        /// Unchanged pulls after the first.
        #[arg(long, default_value_t = 10)]
        repeat: usize,
        /// Print the figures as JSON.
        #[arg(long)]
        json: bool,
        /// Benchmark the daemon instead: idle RSS and CPU between cycles, and /metrics latency
        /// under concurrent scrapes (--users sets the healthy population beside the scenarios).
        #[arg(long)]
        daemon: bool,
        /// Concurrent scrapers for --daemon.
        #[arg(long, default_value_t = 200)]
        scrapers: usize,
    },
}

/// `scimdrift remediate …`.
#[derive(Debug, Subcommand)]
pub enum RemediateCommand {
    /// Plan from the store: each step, its reason and every guard's verdict. Exit 0.
    Plan {
        /// Also write the plan as JSON to this file (for `remediate apply --plan`).
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Apply a reviewed plan: refused when its snapshot is no longer the latest; steps whose
    /// targets changed are skipped. Exit 0, 1 when a call failed, 2 when refused.
    Apply {
        #[arg(long, value_name = "FILE")]
        plan: PathBuf,
    },
}

/// `scimdrift audit …`.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Record the result of an intent left without one (e.g. its directory was removed from the
    /// configuration, so reconciliation cannot read the target). Check the target in Atlassian
    /// first: this sends nothing. Exit 0, 2 when the key is not an open intent.
    Settle {
        /// The intent's idempotency key (shown by `scimdrift audit`).
        key: String,
        /// What the check found: the call took effect (success), was refused (failure: never
        /// retried automatically), or did not take effect (not_applied: may be planned again).
        #[arg(long, value_enum)]
        result: SettleResult,
        /// What was checked, and by whom (kept in the audit log).
        #[arg(long)]
        note: String,
    },
}

/// The results an operator may record.
#[derive(Debug, Clone, Copy, ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum SettleResult {
    Success,
    Failure,
    NotApplied,
}

/// Parses the arguments, runs the command, and maps the outcome to an exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // Loaded once: its `[log] format` sets up logging, and the command uses (or reports) it.
    let loaded = Settings::load(cli.config.as_deref());
    let format = cli
        .log_format
        .unwrap_or_else(|| loaded.as_ref().map(|s| s.log.format).unwrap_or_default());
    init_logging(&cli.command, format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    runtime.block_on(run(cli, loaded))
}

fn init_logging(command: &Command, format: LogFormat) {
    let default = match command {
        Command::Sim { .. } | Command::Run => "info",
        Command::Demo { .. } | Command::Bench { .. } => "error",
        _ => "warn",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

/// Prints an error (control characters escaped: it may echo values and API error bodies) and
/// returns exit code 2.
fn fail(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {}", escape::block(&message.to_string()));
    ExitCode::from(2)
}

/// Prints a command's output; text (not JSON, which serde escapes) with control characters escaped.
fn print_out(text: &str, json: bool) {
    if json {
        print!("{text}");
    } else {
        print!("{}", escape::block(text));
    }
}

async fn run(cli: Cli, loaded: Result<Settings, ConfigError>) -> ExitCode {
    let settings = || loaded.clone();
    match cli.command {
        Command::Once {
            format,
            accept_shrink,
        } => {
            let settings = match settings() {
                Ok(s) => s,
                Err(e) => return fail(e),
            };
            match cycle::pull_and_store_accepting(&settings, accept_shrink).await {
                Ok(outcome) => {
                    print_out(&output::once(&outcome, format), format == Format::Json);
                    if outcome.recorded.complete {
                        ExitCode::SUCCESS
                    } else {
                        ExitCode::from(1)
                    }
                }
                Err(e) => fail(e),
            }
        }
        Command::Run => {
            let settings = match settings() {
                Ok(s) => s,
                Err(e) => return fail(e),
            };
            match serve(settings).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail(format!("{e:#}")),
            }
        }
        Command::Findings {
            format,
            kind,
            min_severity,
            status,
            fail_on,
        } => {
            let settings = match settings() {
                Ok(s) => s,
                Err(e) => return fail(e),
            };
            let filter = FindingsFilter {
                kind,
                min_severity,
                status,
            };
            match list_findings(&settings, &filter, format) {
                Ok((text, failing)) => {
                    print_out(&text, format == FindingsFormat::Json);
                    if failing.iter().any(|s| *s >= fail_on) {
                        ExitCode::from(1)
                    } else {
                        ExitCode::SUCCESS
                    }
                }
                Err(e) => fail(e),
            }
        }
        Command::Person { email, format } => {
            let settings = match settings() {
                Ok(s) => s,
                Err(e) => return fail(e),
            };
            let history = Store::open(&settings.store.path).and_then(|store| {
                crate::person::history(&store, &email, &settings.directory_names())
            });
            match history {
                Ok(h) => {
                    print_out(&output::person(&h, format), format == Format::Json);
                    if h.records.is_empty() && h.accounts.is_empty() {
                        ExitCode::from(1)
                    } else {
                        ExitCode::SUCCESS
                    }
                }
                Err(e) => fail(e),
            }
        }
        Command::Snapshots { format, limit } => {
            let settings = match settings() {
                Ok(s) => s,
                Err(e) => return fail(e),
            };
            match Store::open(&settings.store.path).and_then(|s| s.snapshots(limit)) {
                Ok(list) => {
                    print_out(&output::snapshots(&list, format), format == Format::Json);
                    ExitCode::SUCCESS
                }
                Err(e) => fail(e),
            }
        }
        Command::Report {
            format,
            output,
            since,
        } => {
            let settings = match settings() {
                Ok(s) => s,
                Err(e) => return fail(e),
            };
            let rendered = Store::open(&settings.store.path)
                .map_err(anyhow::Error::from)
                .and_then(|store| {
                    crate::report::build(&store, &settings, since, chrono::Utc::now())
                })
                .map(|r| crate::report::render(&r, format));
            match (rendered, output) {
                (Ok(text), None) => {
                    print!("{text}");
                    ExitCode::SUCCESS
                }
                (Ok(text), Some(path)) => match std::fs::write(&path, text) {
                    Ok(()) => ExitCode::SUCCESS,
                    Err(e) => fail(format!("cannot write {}: {e}", path.display())),
                },
                (Err(e), _) => fail(format!("{e:#}")),
            }
        }
        Command::Remediate { command } => {
            let settings = match settings() {
                Ok(s) => s,
                Err(e) => return fail(e),
            };
            remediate(&settings, command).await
        }
        Command::Audit {
            command,
            format,
            limit,
        } => {
            let settings = match settings() {
                Ok(s) => s,
                Err(e) => return fail(e),
            };
            if let Some(AuditCommand::Settle { key, result, note }) = command {
                let result = match result {
                    SettleResult::Success => "success",
                    SettleResult::Failure => "failure",
                    SettleResult::NotApplied => "not_applied",
                };
                return match crate::remediate::settle(&settings, &key, result, &note).await {
                    Ok(()) => {
                        println!("intent {} settled as {result}", escape::line(&key));
                        ExitCode::SUCCESS
                    }
                    Err(e) => fail(format!("{e:#}")),
                };
            }
            match Store::open(&settings.store.path).and_then(|s| s.audit(limit)) {
                Ok(rows) => {
                    match format {
                        Format::Text => print_out(&crate::remediate::audit_text(&rows), false),
                        Format::Json => println!("{}", serde_json::json!({ "actions": rows })),
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => fail(e),
            }
        }
        Command::CheckConfig => match settings().and_then(|s| s.check_secrets().map(|()| s)) {
            Ok(s) => {
                println!(
                    "# effective configuration of {} (secrets shown as ***)",
                    escape::line(&s.source)
                );
                print_out(&s.effective_toml(), false);
                ExitCode::SUCCESS
            }
            Err(e) => fail(e),
        },
        Command::Demo {
            users,
            keep,
            no_serve,
            serve_seconds,
        } => {
            use std::io::IsTerminal;
            let serve = match (no_serve, serve_seconds) {
                (true, _) => demo::Serve::No,
                (false, Some(s)) => demo::Serve::For(std::time::Duration::from_secs(s)),
                (false, None)
                    if std::io::stdin().is_terminal() && std::io::stdout().is_terminal() =>
                {
                    demo::Serve::UntilCtrlC
                }
                (false, None) => demo::Serve::No,
            };
            demo::run(users, keep, serve).await
        }
        Command::Sim {
            listen,
            users,
            seed,
            no_scenarios,
            write_config,
        } => demo::serve_sim(&listen, users, seed, !no_scenarios, write_config).await,
        Command::Bench {
            users,
            json,
            daemon: true,
            scrapers,
            ..
        } => bench::daemon(users, scrapers, json).await,
        Command::Bench {
            users,
            repeat,
            json,
            ..
        } => bench::run(users, repeat, json).await,
    }
}

/// `scimdrift remediate plan|apply`.
async fn remediate(settings: &Settings, command: RemediateCommand) -> ExitCode {
    let metrics = crate::metrics::Metrics::new();
    match command {
        RemediateCommand::Plan { output } => {
            let planned = Store::open(&settings.store.path)
                .map_err(anyhow::Error::from)
                .and_then(|store| {
                    let plan = crate::remediate::make_plan(settings, &store, chrono::Utc::now())?;
                    crate::remediate::record_plan(&store, &plan, &metrics)?;
                    Ok(plan)
                });
            let plan = match planned {
                Ok(p) => p,
                Err(e) => return fail(format!("{e:#}")),
            };
            print_out(&crate::remediate::plan_text(&plan), false);
            if let Some(path) = output {
                let json = serde_json::to_string_pretty(&plan).unwrap_or_default();
                if let Err(e) = std::fs::write(&path, json) {
                    return fail(format!("cannot write {}: {e}", path.display()));
                }
            }
            ExitCode::SUCCESS
        }
        RemediateCommand::Apply { plan } => {
            let reviewed: crate::remediate::Plan = match std::fs::read_to_string(&plan)
                .map_err(anyhow::Error::from)
                .and_then(|t| Ok(serde_json::from_str(&t)?))
            {
                Ok(p) => p,
                Err(e) => return fail(format!("cannot read the plan {}: {e}", plan.display())),
            };
            match crate::remediate::apply_reviewed(settings, &reviewed, &metrics).await {
                Ok(a) => {
                    println!(
                        "applied: {} succeeded, {} failed, {} skipped, {} dry run, {} reconciled",
                        a.success, a.failure, a.skipped, a.dry_run, a.reconciled
                    );
                    if a.failure > 0 {
                        ExitCode::from(1)
                    } else {
                        ExitCode::SUCCESS
                    }
                }
                Err(e) => fail(format!("{e:#}")),
            }
        }
    }
}

/// The filters of `scimdrift findings` (and `/findings`).
#[derive(Debug, Clone)]
pub struct FindingsFilter {
    pub kind: Option<Kind>,
    pub min_severity: Severity,
    pub status: StatusFilter,
}

impl FindingsFilter {
    fn selects_kind(&self, f: &crate::findings::FindingView) -> bool {
        self.kind.is_none_or(|k| k == f.kind) && f.severity >= self.min_severity
    }

    fn selects_status(&self, s: Status) -> bool {
        match self.status {
            StatusFilter::All => true,
            StatusFilter::Open => s == Status::Open,
            StatusFilter::Resolved => s == Status::Resolved,
            StatusFilter::Suppressed => s == Status::Suppressed,
        }
    }
}

/// Reads, re-applies the current ignore rules, filters and renders the findings. Returns the text
/// and the severities of the open findings the filter's kind and severity select (for --fail-on).
pub fn list_findings(
    settings: &Settings,
    filter: &FindingsFilter,
    format: FindingsFormat,
) -> anyhow::Result<(String, Vec<Severity>)> {
    let store = Store::open(&settings.store.path)?;
    let rules = settings.ignore_rules()?;
    let now = chrono::Utc::now();
    let mut all = store.findings()?;
    for f in &mut all {
        f.apply_rules(&rules, now.date_naive());
    }
    let selected: Vec<_> = all.into_iter().filter(|f| filter.selects_kind(f)).collect();
    let failing = selected
        .iter()
        .filter(|f| f.status == Status::Open)
        .map(|f| f.severity)
        .collect();
    let (shown, hidden): (Vec<_>, Vec<_>) = selected
        .into_iter()
        .partition(|f| filter.selects_status(f.status));
    let doc = FindingsDocument {
        snapshot_id: store.latest_complete()?.map(|s| s.snapshot_id),
        generated_at: now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        findings: &shown,
    };
    Ok((output::findings(&doc, format, hidden.len()), failing))
}

/// `scimdrift run`: checks the keys and the listen policy, binds, runs until SIGTERM/SIGINT.
async fn serve(settings: Settings) -> anyhow::Result<()> {
    settings.check_secrets()?;
    let token = crate::daemon::server_token(&settings)?;
    let listener = tokio::net::TcpListener::bind(&settings.server.listen)
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "server.listen: cannot listen on {}: {e}",
                settings.server.listen
            )
        })?;
    let shutdown = crate::daemon::shutdown_signal();
    let reload = crate::daemon::hangups().map(|signal| crate::daemon::Reload {
        file: (settings.source != "the environment").then(|| settings.source.clone().into()),
        signal,
    });
    if let Err(e) = &reload {
        tracing::warn!("cannot listen for SIGHUP, reload disabled: {e}");
    }
    crate::daemon::run_reloadable(settings, listener, token, shutdown, reload.ok()).await
}
