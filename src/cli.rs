//! The command line: `once`, `snapshots`, `check-config`, `demo`, `sim`, `bench`.
//! Exit codes: 0 success (a complete pull), 1 an incomplete pull, 2 a configuration, usage or store error.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::config::Settings;
use crate::store::Store;
use crate::{bench, cycle, demo, output};

/// scimdrift: finds drift between your identity provider's SCIM directories and your Atlassian Cloud
/// organization's accounts, and keeps every pull as change history in SQLite.
#[derive(Debug, Parser)]
#[command(name = "scimdrift", version, about, long_about = None)]
pub struct Cli {
    /// Configuration file (TOML). Environment overrides: SCIMDRIFT__SECTION__KEY.
    #[arg(long, global = true, env = "SCIMDRIFT_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

/// Output format of the reporting commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Pull every SCIM directory and the org's accounts once, store the snapshot, print a summary.
    /// Exit 0 when the snapshot is complete, 1 when it is incomplete, 2 on a config or store error.
    Once {
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
    /// Validate the configuration and every secret it names, then print the effective configuration
    /// with secrets shown as `***`. Exit 2 on any error.
    CheckConfig,
    /// Start the simulator in-process with the drift scenarios, pull it into a temporary database
    /// and show what scimdrift does. Needs no Atlassian account and no configuration.
    Demo {
        /// Healthy users added beside the scenarios.
        #[arg(long, default_value_t = 25)]
        users: usize,
        /// Keep the demo's config, keys and database in this directory instead of a temporary one.
        #[arg(long, value_name = "DIR")]
        keep: Option<PathBuf>,
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
    },
}

/// Parses the arguments, runs the command, and maps the outcome to an exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(&cli.command);
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
    runtime.block_on(run(cli))
}

fn init_logging(command: &Command) {
    let default = match command {
        Command::Sim { .. } => "info",
        Command::Demo { .. } | Command::Bench { .. } => "error",
        _ => "warn",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Prints an error and returns exit code 2.
fn fail(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(2)
}

async fn run(cli: Cli) -> ExitCode {
    let settings = || Settings::load(cli.config.as_deref());
    match cli.command {
        Command::Once { format } => {
            let settings = match settings() {
                Ok(s) => s,
                Err(e) => return fail(e),
            };
            match cycle::pull_and_store(&settings).await {
                Ok(outcome) => {
                    print!("{}", output::once(&outcome, format));
                    if outcome.recorded.complete {
                        ExitCode::SUCCESS
                    } else {
                        ExitCode::from(1)
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
                    print!("{}", output::snapshots(&list, format));
                    ExitCode::SUCCESS
                }
                Err(e) => fail(e),
            }
        }
        Command::CheckConfig => match settings().and_then(|s| s.check_secrets().map(|()| s)) {
            Ok(s) => {
                println!(
                    "# effective configuration of {} (secrets shown as ***)",
                    s.source
                );
                print!("{}", s.effective_toml());
                ExitCode::SUCCESS
            }
            Err(e) => fail(e),
        },
        Command::Demo { users, keep } => demo::run(users, keep).await,
        Command::Sim {
            listen,
            users,
            seed,
            no_scenarios,
            write_config,
        } => demo::serve_sim(&listen, users, seed, !no_scenarios, write_config).await,
        Command::Bench {
            users,
            repeat,
            json,
        } => bench::run(users, repeat, json).await,
    }
}
