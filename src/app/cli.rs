//! The command line: `run`, `once`, `findings`, `report`, `snapshots`, `remediate`, `audit`, `check-config`, `demo`, `sim`, `bench`, `completions`, `man`.
//! Exit codes: 0 success (a complete pull), 1 an incomplete pull, 2 a configuration, usage or store error.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand, ValueEnum};

use serde::{Deserialize, Serialize};

use crate::app::journal::report;
use crate::config::{ConfigError, Settings};
use crate::detect::{Kind, Severity};
use crate::output::{FindingsFormat, Format};
use crate::store::Store;
use crate::{bench, cycle, demo, escape, output};

/// scimdrift: finds drift between your identity provider's SCIM directories and your Atlassian Cloud
/// organization's accounts, and keeps every pull as change history in SQLite.
#[derive(Debug, Parser)]
#[command(name = "scimdrift", version = concat!(env!("CARGO_PKG_VERSION"), " (", env!("SCIMDRIFT_REVISION"), ", rustc ", env!("SCIMDRIFT_RUSTC"), ")"), about, long_about = None, max_term_width = 100)]
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

/// Log format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line (journald, log shippers).
    Json,
}

/// `[log]`: logging.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct LogConfig {
    pub format: LogFormat,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon: a pull at start-up and on `[schedule] pull`, detection after each complete
    /// pull, the daily report, and the HTTP endpoint (`[server] listen`): /metrics, /healthz, /readyz,
    /// /findings, /report. Stops cleanly on SIGTERM or SIGINT (exit 0).
    Run,
    /// Pull every SCIM directory and the org's accounts once, store the snapshot, print a summary.
    /// Exit 0 when the snapshot is complete, 1 when it is incomplete or held (a source shrank beyond
    /// [pull] max_shrink_percent / max_shrink_records), 2 on a config or store error. On a terminal
    /// (and not with --format json), standard error shows each source's progress meanwhile: records,
    /// groups and pages so far, requests and retries per API.
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
        #[arg(long, value_parser = kind_values())]
        kind: Option<Kind>,
        /// Only findings at or above this severity: low, medium, high, critical.
        #[arg(long, default_value = "low", value_parser = severity_values())]
        min_severity: Severity,
        /// Which findings to list.
        #[arg(long, value_enum, default_value = "open")]
        status: crate::findings::StatusFilter,
        /// Exit 1 when an open finding (of the selected kind) is at or above this severity.
        #[arg(long, default_value = "critical", value_parser = severity_values())]
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
    /// One person's whole history ("why can't this person log in?"): every version of their IdP
    /// users (enabled, intended, how assigned, provisioning events and errors), of every SCIM
    /// record and account that carried their email (or is linked to one that did), every finding
    /// about them with its lifecycle, every remediation action, as a timeline. Reads the store
    /// only. Exit 0, 1 when the store knows nothing of WHO, 2 on error.
    Person {
        /// An email (compared trimmed and case-insensitively), a SCIM id, an account id, an IdP
        /// user id or a UPN.
        #[arg(value_name = "WHO")]
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
    /// Guarded remediation: `plan` shows what the policy would do and why (from the store; one
    /// API call only to check a suspend / restore rule can name its org user directory);
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
    CheckConfig {
        /// Also sign in to each directory's IdP and check the app resolves and every read the pull
        /// makes is permitted (a 403 names the permission to grant).
        #[arg(long)]
        online: bool,
    },
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
        /// With --no-scenarios: also serve an Entra ID tenant (Microsoft Graph) that agrees with
        /// the healthy directory, its users spread over this many assigned groups.
        #[arg(long, value_name = "N")]
        entra_groups: Option<usize>,
        /// With --no-scenarios: serve an Okta org instead, agreeing with the healthy directory
        /// (every record an app user, its SCIM groups pushed).
        #[arg(long, conflicts_with = "entra_groups")]
        okta: bool,
    },
    /// Benchmark: pull N SCIM records + N accounts from a simulator on loopback into a fresh
    /// database, then repeat unchanged pulls; prints wall time, records/s, peak RSS and DB growth.
    /// On a terminal (and not with --format json), each pull's progress per source on standard error.
    Bench {
        /// SCIM records (one directory) and accounts to generate.
        #[arg(long, default_value_t = 100_000)]
        users: usize,
        /// Unchanged pulls after the first.
        #[arg(long, default_value_t = 10)]
        repeat: usize,
        /// Several sizes in one run, e.g. `--sizes 10000,100000,300000` (one simulator each, the
        /// peak RSS reset between them): a table with the ratio unchanged/first, bytes per record
        /// pair and how the first pull grows with N. Overrides --users.
        #[arg(long, value_delimiter = ',', value_name = "N,N,...")]
        sizes: Vec<usize>,
        /// text, or json: the figures as one object (the fields of the text, in their units).
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
        /// Same as `--format json`.
        #[arg(long)]
        json: bool,
        /// Benchmark the daemon instead: idle RSS and CPU between cycles, and /metrics latency
        /// under concurrent scrapes (--users sets the healthy population beside the scenarios).
        #[arg(long)]
        daemon: bool,
        /// Concurrent scrapers for --daemon.
        #[arg(long, default_value_t = 200)]
        scrapers: usize,
        /// Benchmark the IdP pull instead: an Entra ID tenant of --users users in --groups
        /// assigned groups (Microsoft Graph simulated on loopback), alone and beside the
        /// Atlassian pull.
        #[arg(long)]
        idp: bool,
        /// Assigned groups for --idp.
        #[arg(long, default_value_t = 1000)]
        groups: usize,
        /// With --idp: the IdP is an Okta org of --users app users (the Okta API simulated on
        /// loopback) instead of an Entra ID tenant.
        #[arg(long, requires = "idp")]
        okta: bool,
    },
    /// Print a shell completion script to standard output, e.g.
    /// `scimdrift completions bash > /etc/bash_completion.d/scimdrift`.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Generate the Prometheus alert rules (`alerts.yml`) and the Grafana dashboard
    /// (`scimdrift.json`) into DIR from the built-in monitoring mixin: its templates and config
    /// block (dashboards/mixin/), with --mixin-config's keys over the defaults (the job selector,
    /// the runbook URL, each alert's `for:`, the dashboard's uid and title).
    Mixin {
        /// A TOML file of the config block's keys to change, e.g. `selector = 'job="idm"'`.
        #[arg(long, value_name = "FILE")]
        mixin_config: Option<PathBuf>,
        /// The directory to write `alerts.yml` and `scimdrift.json` into (created if missing).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Print the manual pages (roff) to standard output, e.g. `scimdrift man | man -l -`, or
    /// write one page per command into a directory (`scimdrift.1`, `scimdrift-run.1`, and so on).
    Man {
        /// Write `scimdrift.1` and one `scimdrift-<command>.1` per subcommand into DIR.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
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
        /// json: the plan document, as written by --output.
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// Apply a reviewed plan: refused when its snapshot is no longer the latest; steps whose
    /// targets changed are skipped. Exit 0, 1 when a call failed, 2 when refused.
    Apply {
        #[arg(long, value_name = "FILE")]
        plan: PathBuf,
        /// json: the counts `{success, failure, skipped, dry_run, reconciled}`.
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
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
        /// json: `{"action": ROW}`, the settled row as `audit --format json` lists it.
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
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

/// The finding kinds as the values of an argument: listed in `--help` and offered by completions.
fn kind_values() -> impl clap::builder::TypedValueParser<Value = Kind> {
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(Kind::ALL.map(Kind::as_str))
        .try_map(|s| s.parse::<Kind>())
}

/// The severities as the values of an argument (listed, completed).
fn severity_values() -> impl clap::builder::TypedValueParser<Value = Severity> {
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(["low", "medium", "high", "critical"])
        .try_map(|s| s.parse::<Severity>())
}

/// Parses the arguments, runs the command, and maps the outcome to an exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match &cli.command {
        Command::Completions { shell } => return completions(*shell),
        Command::Man { dir } => return man(dir.as_deref()),
        // `--config` names the daemon's configuration, not the mixin's: refuse it rather than
        // generate the defaults silently (SCIMDRIFT_CONFIG in the environment is not a mistake).
        Command::Mixin { .. }
            if cli.config.is_some() && std::env::var_os("SCIMDRIFT_CONFIG").is_none() =>
        {
            return fail(
                "scimdrift mixin: --config names the daemon's configuration; give the mixin's config block with --mixin-config FILE",
            );
        }
        Command::Mixin { mixin_config, out } => return mixin(mixin_config.as_deref(), out),
        _ => {}
    }
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
            report(3, &format!("error: cannot start the async runtime: {e}"));
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
    let rust_log = std::env::var("RUST_LOG").ok();
    let colour = colour(
        std::io::IsTerminal::is_terminal(&std::io::stderr()),
        std::env::var_os("NO_COLOR"),
    );
    // Under systemd: one line per event with its priority, journald stamping the time.
    let journal =
        crate::app::journal::stderr_is_journal(std::env::var("JOURNAL_STREAM").ok().as_deref());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(log_filter(default, rust_log.as_deref()))
        .with_ansi(colour && !journal);
    let journald = crate::app::journal::JournalStderr;
    let _ = match (format, journal) {
        (LogFormat::Text, true) => builder.with_writer(journald).without_time().try_init(),
        (LogFormat::Text, false) => builder
            .with_writer(super::progress::LogStderr)
            .with_timer(HumanTime)
            .try_init(),
        (LogFormat::Json, true) => builder
            .with_writer(journald)
            .json()
            .flatten_event(true)
            .try_init(),
        (LogFormat::Json, false) => builder
            .with_writer(super::progress::LogStderr)
            .json()
            .flatten_event(true)
            .try_init(),
    };
}

/// Text logs show times as every human-facing time ([`crate::model::human_time`]).
struct HumanTime;

impl tracing_subscriber::fmt::time::FormatTime for HumanTime {
    fn format_time(&self, w: &mut tracing_subscriber::fmt::format::Writer<'_>) -> std::fmt::Result {
        w.write_str(&crate::model::human_time(chrono::Utc::now()))
    }
}

/// Quiets the scheduler library's start-up INFO lines; a directive for it in RUST_LOG wins.
const QUIET_LIBRARIES: &str = "tokio_cron_scheduler=warn";

/// The log filter: `default` (or RUST_LOG when set and valid) after [`QUIET_LIBRARIES`], so a later
/// directive for the same target overrides it.
fn log_filter(default: &str, rust_log: Option<&str>) -> tracing_subscriber::EnvFilter {
    use tracing_subscriber::EnvFilter;
    rust_log
        .and_then(|r| EnvFilter::try_new(format!("{QUIET_LIBRARIES},{r}")).ok())
        .unwrap_or_else(|| EnvFilter::new(format!("{QUIET_LIBRARIES},{default}")))
}

/// Colour (ANSI escapes) in text logs only on a terminal, and never when NO_COLOR is set to
/// anything non-empty (no-color.org).
fn colour(stderr_is_terminal: bool, no_color: Option<std::ffi::OsString>) -> bool {
    stderr_is_terminal && no_color.is_none_or(|v| v.is_empty())
}

/// `scimdrift completions SHELL`: the completion script on standard output.
fn completions(shell: clap_complete::Shell) -> ExitCode {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "scimdrift", &mut out);
    write_stdout(&out)
}

/// What each page's EXIT STATUS says, by the command's path (`once`, `remediate plan`, …).
fn exit_status(path: &str) -> &'static str {
    match path {
        "" => {
            "0 success; 1 the command's own condition (see each subcommand's page); 2 a configuration, store or usage error."
        }
        "run" => "0 after SIGTERM or SIGINT; 2 a configuration or store error at start.",
        "once" => {
            "0 every source was read completely; 1 a source was incomplete or the snapshot was held (a source shrank); 2 a configuration or store error."
        }
        "findings" => {
            "0 no open finding at or above --fail-on (default critical); 1 one is; 2 an error."
        }
        "person" => "0 the store knows the person; 1 it knows nothing of WHO; 2 an error.",
        "remediate apply" => {
            "0 applied (or nothing to do); 1 a call failed; 2 refused (a newer snapshot, an open intent) or an error."
        }
        "remediate plan" => {
            "0 planned; 2 an error, or a suspend / restore rule in apply mode cannot name its org user directory."
        }
        "check-config" => {
            "0 valid (and, with --online, every check passed); 2 invalid, naming the key."
        }
        _ => "0 success; 2 an error (the message names what was wrong).",
    }
}

/// EXAMPLES of each page, by the command's path.
fn examples(path: &str) -> &'static [&'static str] {
    match path {
        "" => &[
            "scimdrift demo",
            "scimdrift --config /etc/scimdrift/acme.toml run",
        ],
        "run" => &[
            "scimdrift --config /etc/scimdrift/acme.toml run",
            "systemctl reload scimdrift   # SIGHUP: re-read the configuration",
        ],
        "once" => &[
            "scimdrift once --format json",
            "scimdrift once --accept-shrink   # a real drop in a source",
        ],
        "findings" => &[
            "scimdrift findings --min-severity high",
            "scimdrift findings --kind idp_inactive_account_active --format json --fail-on critical",
        ],
        "person" => &[
            "scimdrift person ana@example.com",
            "scimdrift person 602bdf457b23f40068547c25 --format json",
        ],
        "report" => &[
            "scimdrift report --format md --output today.md",
            "scimdrift report --since 2026-12-01",
        ],
        "remediate plan" => &["scimdrift remediate plan --output plan.json"],
        "remediate apply" => &["scimdrift remediate apply --plan plan.json"],
        "audit settle" => &[
            "scimdrift audit settle 0123456789abcdef --result not_applied --note \"checked in admin hub\"",
        ],
        "check-config" => &["scimdrift check-config --online"],
        "completions" => &["scimdrift completions bash > /etc/bash_completion.d/scimdrift"],
        "man" => &["scimdrift man --dir /usr/local/share/man/man1"],
        "mixin" => &[
            "scimdrift mixin --out dashboards   # regenerate the committed files",
            "scimdrift mixin --mixin-config idm.toml --out /etc/prometheus/scimdrift",
        ],
        _ => &[],
    }
}

/// Text as roff: a leading `.` or `'` escaped, backslashes and hyphens escaped (so `--flag`
/// copies as ASCII hyphens, not typographic ones).
fn roff(text: &str) -> String {
    let text = text.replace('\\', "\\e").replace('-', "\\-");
    match text.chars().next() {
        Some('.' | '\'') => format!("\\&{text}"),
        _ => text,
    }
}

/// One manual page: clap's sections, then EXIT STATUS, ENVIRONMENT and EXAMPLES.
fn man_page(cmd: clap::Command, path: &str, out: &mut Vec<u8>) -> std::io::Result<()> {
    let source = format!("scimdrift {}", env!("CARGO_PKG_VERSION"));
    clap_mangen::Man::new(cmd).source(source).render(out)?;
    let mut extra = String::new();
    extra.push_str(".SH \"EXIT STATUS\"\n");
    extra.push_str(&roff(exit_status(path)));
    extra.push_str("\n.SH ENVIRONMENT\n");
    for (name, what) in [
        (
            "SCIMDRIFT_CONFIG",
            "the configuration file, when --config is not given.",
        ),
        (
            "SCIMDRIFT__SECTION__KEY",
            "overrides one configuration key (double underscores between the parts), e.g. SCIMDRIFT__STORE__PATH=/var/lib/scimdrift/acme.db; SCIMDRIFT__ATLASSIAN__HTTP__TIMEOUT_SECONDS=60.",
        ),
        (
            "CREDENTIALS_DIRECTORY",
            "systemd's credentials directory: ${CREDENTIALS_DIRECTORY} in a *_file key is expanded.",
        ),
        (
            "RUST_LOG",
            "the log filter (tracing's EnvFilter syntax), e.g. RUST_LOG=debug.",
        ),
        (
            "NO_COLOR",
            "set to anything non-empty: no colour in logs, even on a terminal.",
        ),
    ] {
        extra.push_str(&format!(".TP\n\\fB{}\\fR\n{}\n", roff(name), roff(what)));
    }
    let list = examples(path);
    if !list.is_empty() {
        extra.push_str(".SH EXAMPLES\n");
        for e in list {
            extra.push_str(&format!(".PP\n.nf\n{}\n.fi\n", roff(e)));
        }
    }
    out.extend_from_slice(extra.as_bytes());
    Ok(())
}

/// `scimdrift mixin`: writes the generated rules and dashboard into `out` (each file written
/// whole: a temporary file renamed into place).
fn mixin(config: Option<&std::path::Path>, out: &std::path::Path) -> ExitCode {
    let overrides = match config.map(std::fs::read_to_string).transpose() {
        Ok(text) => text,
        Err(e) => {
            let path = config.unwrap_or(std::path::Path::new("")).display();
            return fail(format!("cannot read the mixin config {path}: {e}"));
        }
    };
    let files = match super::mixin::generate(overrides.as_deref()) {
        Ok(files) => files,
        Err(e) => return fail(format!("{e:#}")),
    };
    if let Err(e) = std::fs::create_dir_all(out) {
        return fail(format!("cannot create {}: {e}", out.display()));
    }
    for (name, text) in files {
        let path = out.join(name);
        let written = tempfile::NamedTempFile::new_in(out).and_then(|mut f| {
            use std::io::Write;
            f.write_all(text.as_bytes())?;
            f.persist(&path).map_err(|e| e.error)?;
            Ok(())
        });
        if let Err(e) = written {
            return fail(format!("cannot write {}: {e}", path.display()));
        }
    }
    ExitCode::SUCCESS
}

/// `scimdrift man [--dir DIR]`: every page to stdout, or one file per command into DIR
/// (`scimdrift.1`, `scimdrift-run.1`, `scimdrift-remediate-plan.1`, …).
fn man(dir: Option<&std::path::Path>) -> ExitCode {
    let mut cmd = Cli::command();
    cmd.build();
    let mut pages = vec![(cmd.clone(), String::new())];
    let mut i = 0;
    while i < pages.len() {
        let (parent, path) = pages[i].clone();
        for sub in parent.get_subcommands().filter(|s| s.get_name() != "help") {
            let p = if path.is_empty() {
                sub.get_name().to_string()
            } else {
                format!("{path} {}", sub.get_name())
            };
            pages.push((sub.clone(), p));
        }
        i += 1;
    }
    let mut all = Vec::new();
    for (page, path) in pages {
        let mut out = Vec::new();
        if let Err(e) = man_page(page, &path, &mut out) {
            return fail(format!("cannot render the manual page: {e}"));
        }
        match dir {
            Some(d) => {
                let name = if path.is_empty() {
                    "scimdrift.1".to_string()
                } else {
                    format!("scimdrift-{}.1", path.replace(' ', "-"))
                };
                if let Err(e) = std::fs::write(d.join(&name), &out) {
                    return fail(format!("cannot write {}: {e}", d.join(name).display()));
                }
            }
            None => all.extend(out),
        }
    }
    if dir.is_some() {
        return ExitCode::SUCCESS;
    }
    write_stdout(&all)
}

/// Writes generated output as is; a closed pipe (`| head`) is not an error.
fn write_stdout(bytes: &[u8]) -> ExitCode {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => fail(format!("cannot write to standard output: {e}")),
    }
}

/// Prints an error (control characters escaped: it may echo values and API error bodies) and
/// returns exit code 2.
/// `check-config --online`: signs in to each directory's IdP and reads what the pull reads. Exit 2
/// when any fails, naming the directory and, for a 403, the permission to grant.
async fn check_online(s: &crate::config::Settings) -> ExitCode {
    let mut failed = false;
    let with_idp: Vec<usize> = (0..s.atlassian.directories.len())
        .filter(|i| s.atlassian.directories[*i].idp.is_some())
        .collect();
    if with_idp.is_empty() {
        println!("# online: no directory has an [atlassian.directories.idp]; nothing to check");
        return ExitCode::SUCCESS;
    }
    for i in with_idp {
        let d = &s.atlassian.directories[i];
        let origin = crate::idp::origin(&d.name);
        let (Some(idp), Ok(Some(cred))) = (&d.idp, s.idp_credential(i)) else {
            continue;
        };
        match crate::idp::check_online(idp, &cred, &s.atlassian.http, &origin, None).await {
            Ok(found) => println!("# online: {origin}: ok: {}", escape::line(&found)),
            Err(e) => {
                report(3, &format!("error: {}", escape::block(&e.to_string())));
                failed = true;
            }
        }
    }
    if failed {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    }
}

/// The org user directory check of `remediate plan` and `check-config --online`
/// ([`crate::app::remediation::check_org_directory`]): exit 2 when a suspend / restore rule in
/// `apply` mode could not name its directory; a warning when only dry runs are affected or the
/// directories could not be listed.
async fn org_directory_check(settings: &Settings) -> Option<ExitCode> {
    let metrics = crate::metrics::Metrics::new();
    match crate::app::remediation::check_org_directory(settings, &metrics).await {
        Ok(Some(a)) if a.applies => Some(fail(format!(
            "{}; until then the suspend / restore rules in apply mode skip every step",
            a.message
        ))),
        Ok(Some(a)) => {
            report(
                4,
                &format!(
                    "warning: {}; the dry-run suspend / restore rules could not be applied as they are",
                    escape::block(&a.message)
                ),
            );
            None
        }
        Ok(None) => None,
        Err(e) => {
            report(
                4,
                &format!(
                    "warning: cannot list the org's user directories to check remediation.org_directory_id: {}",
                    escape::block(&format!("{e:#}"))
                ),
            );
            None
        }
    }
}

fn fail(message: impl std::fmt::Display) -> ExitCode {
    report(
        3,
        &format!("error: {}", escape::block(&message.to_string())),
    );
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
            let progress = super::progress::for_pull(&settings, format == Format::Json);
            let result = cycle::pull_and_store_with(&settings, accept_shrink, progress).await;
            match result {
                Ok(outcome) => {
                    print_out(&output::once(&outcome, format), format == Format::Json);
                    // An incomplete IdP source leaves the snapshot current, but `once` says so.
                    if outcome.recorded.complete && outcome.pull.all_complete() {
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
            let filter = crate::findings::Query {
                kind,
                min_severity,
                status,
            };
            match crate::query::list_findings(&settings, &filter, format) {
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
            let history = Store::read(&settings.store.path, |store| {
                crate::person::history(store, &email, &settings.person_directories())
            });
            match history {
                Ok(h) => {
                    print_out(&output::person(&h, format), format == Format::Json);
                    if h.is_empty() {
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
            match Store::read(&settings.store.path, |s| s.snapshots(limit)) {
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
            let rendered = Store::read(&settings.store.path, |store| {
                crate::app::daily::build(store, &settings, since, chrono::Utc::now())
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
            if let Some(AuditCommand::Settle {
                key,
                result,
                note,
                format,
            }) = command
            {
                let result = match result {
                    SettleResult::Success => "success",
                    SettleResult::Failure => "failure",
                    SettleResult::NotApplied => "not_applied",
                };
                if let Err(e) =
                    crate::app::remediation::settle(&settings, &key, result, &note).await
                {
                    return fail(format!("{e:#}"));
                }
                if format == Format::Text {
                    println!("intent {} settled as {result}", escape::line(&key));
                    return ExitCode::SUCCESS;
                }
                let row = Store::open(&settings.store.path)
                    .and_then(|s| s.audit(0))
                    .map(|rows| {
                        rows.into_iter()
                            .find(|r| r.idempotency_key == key && r.result.is_some())
                    });
                return match row {
                    Ok(row) => {
                        println!("{:#}", serde_json::json!({ "action": row }));
                        ExitCode::SUCCESS
                    }
                    Err(e) => fail(format!("settled, but cannot read it back: {e}")),
                };
            }
            match Store::read(&settings.store.path, |s| s.audit(limit)) {
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
        Command::CheckConfig { online } => {
            match settings().and_then(|s| s.check_secrets().map(|()| s)) {
                Ok(s) => {
                    println!(
                        "# effective configuration of {} (secrets shown as ***)",
                        escape::line(&s.source)
                    );
                    print_out(&s.effective_toml(), false);
                    if online {
                        let directory = org_directory_check(&s).await;
                        let idp = check_online(&s).await;
                        return directory.unwrap_or(idp);
                    }
                    if let Some(note) = crate::app::remediation::org_directory_note(&s) {
                        println!("# {}", escape::line(&note));
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => fail(e),
            }
        }
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
            entra_groups,
            okta,
        } => {
            demo::serve_sim(
                &listen,
                users,
                seed,
                !no_scenarios,
                entra_groups,
                okta,
                write_config,
            )
            .await
        }
        Command::Bench {
            users,
            format,
            json,
            daemon: true,
            scrapers,
            ..
        } => bench::daemon(users, scrapers, json || format == Format::Json).await,
        Command::Bench {
            users,
            repeat,
            format,
            json,
            idp: true,
            groups,
            okta,
            ..
        } => bench::idp(users, groups, okta, repeat, json || format == Format::Json).await,
        Command::Bench {
            users,
            repeat,
            format,
            json,
            sizes,
            ..
        } => {
            let sizes = if sizes.is_empty() { vec![users] } else { sizes };
            bench::run_sizes(&sizes, repeat, json || format == Format::Json).await
        }
        // Handled in `main`, before the configuration is loaded.
        Command::Completions { shell } => completions(shell),
        Command::Man { dir } => man(dir.as_deref()),
        Command::Mixin { mixin_config, out } => mixin(mixin_config.as_deref(), &out),
    }
}

/// `scimdrift remediate plan|apply`.
async fn remediate(settings: &Settings, command: RemediateCommand) -> ExitCode {
    let metrics = crate::metrics::Metrics::new();
    match command {
        RemediateCommand::Plan { output, format } => {
            if let Some(code) = org_directory_check(settings).await {
                return code;
            }
            let planned = Store::open(&settings.store.path)
                .map_err(anyhow::Error::from)
                .and_then(|store| {
                    let plan =
                        crate::app::remediation::make_plan(settings, &store, chrono::Utc::now())?;
                    crate::app::remediation::record_plan(&store, &plan, &metrics)?;
                    Ok(plan)
                });
            let plan = match planned {
                Ok(p) => p,
                Err(e) => return fail(format!("{e:#}")),
            };
            let json = serde_json::to_string_pretty(&plan).unwrap_or_default();
            match format {
                Format::Text => print_out(&crate::remediate::plan_text(&plan), false),
                Format::Json => println!("{json}"),
            }
            if let Some(path) = output
                && let Err(e) = std::fs::write(&path, json)
            {
                return fail(format!("cannot write {}: {e}", path.display()));
            }
            ExitCode::SUCCESS
        }
        RemediateCommand::Apply { plan, format } => {
            let reviewed: crate::remediate::Plan = match std::fs::read_to_string(&plan)
                .map_err(anyhow::Error::from)
                .and_then(|t| Ok(serde_json::from_str(&t)?))
            {
                Ok(p) => p,
                Err(e) => return fail(format!("cannot read the plan {}: {e}", plan.display())),
            };
            match crate::app::remediation::apply_reviewed(settings, &reviewed, &metrics).await {
                Ok(a) => {
                    match format {
                        Format::Text => println!(
                            "applied: {} succeeded, {} failed, {} skipped, {} dry run, {} reconciled",
                            a.success, a.failure, a.skipped, a.dry_run, a.reconciled
                        ),
                        Format::Json => {
                            println!("{}", serde_json::to_string_pretty(&a).unwrap_or_default())
                        }
                    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert!(colour(true, None));
        assert!(colour(true, Some("".into())));
        assert!(!colour(true, Some("1".into())));
        assert!(!colour(true, Some("false".into())));
        assert!(!colour(false, None));
    }

    #[test]
    fn the_scheduler_is_quiet_unless_rust_log_names_it() {
        let f = log_filter("info", None).to_string();
        assert!(f.contains("tokio_cron_scheduler=warn"), "{f}");
        let f = log_filter("warn", Some("debug")).to_string();
        assert!(
            f.contains("tokio_cron_scheduler=warn") && f.contains("debug"),
            "{f}"
        );
        let f = log_filter("warn", Some("info,tokio_cron_scheduler=info")).to_string();
        assert!(f.contains("tokio_cron_scheduler=info"), "{f}");
        assert!(!f.contains("tokio_cron_scheduler=warn"), "{f}");
        // An invalid RUST_LOG falls back to the default.
        let f = log_filter("error", Some("foo=bar=baz")).to_string();
        assert!(f.contains("error") && !f.contains("foo"), "{f}");
    }
}
