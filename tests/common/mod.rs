//! Shared test fixtures: a simulator on loopback and a scimdrift config pointing at it.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Output;

use chrono::Utc;
use scimdrift::config::Settings;
use scimdrift::cycle::{self, Outcome};
use scimdrift::demo::{write_sim_config, write_sim_config_with};
use scimdrift::sim::{self, SimHandle, SimOptions, World};
use scimdrift::store::Store;
use tempfile::TempDir;

/// A running simulator plus a config and database in a temporary directory.
pub struct Env {
    pub sim: SimHandle,
    pub dir: TempDir,
    pub config: PathBuf,
    pub settings: Settings,
}

impl Env {
    /// The scenario world (plus `healthy` healthy users), default simulator options.
    pub async fn scenarios(healthy: usize) -> Env {
        Env::start(
            World::scenarios_with_healthy(healthy, 3, Utc::now()),
            SimOptions::default(),
        )
        .await
    }

    /// Any world and options.
    pub async fn start(world: World, options: SimOptions) -> Env {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let sim = sim::start(listener, world, options).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("scimdrift.db");
        let config = write_sim_config(&sim.world(), &sim.base_url(), dir.path(), &db).unwrap();
        let settings = Settings::load(Some(&config)).unwrap();
        Env {
            sim,
            dir,
            config,
            settings,
        }
    }

    /// Any world and options, with each Entra tenant of the world configured as its directory's
    /// `[atlassian.directories.idp]`.
    pub async fn start_with_idp(world: World, options: SimOptions) -> Env {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let sim = sim::start(listener, world, options).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("scimdrift.db");
        let config =
            write_sim_config_with(&sim.world(), &sim.base_url(), dir.path(), &db, true).unwrap();
        let settings = Settings::load(Some(&config)).unwrap();
        Env {
            sim,
            dir,
            config,
            settings,
        }
    }

    /// Appends TOML to the config and reloads it.
    pub fn extend_config(&mut self, toml: &str) {
        let mut text = std::fs::read_to_string(&self.config).unwrap();
        text.push_str(toml);
        std::fs::write(&self.config, text).unwrap();
        self.settings = Settings::load(Some(&self.config)).unwrap();
    }

    /// Replaces the configuration file with `toml`.
    pub fn set_config(&mut self, toml: &str) {
        std::fs::write(&self.config, toml).unwrap();
        self.settings = Settings::load(Some(&self.config)).unwrap();
    }

    /// One pull and store.
    /// One cycle's pull, and the checkpoint it leaves behind once its result is told (so a test
    /// may then read or damage the file's bytes).
    pub async fn pull(&self) -> Outcome {
        let outcome = cycle::pull_and_store(&self.settings).await.unwrap();
        scimdrift::store::settle(&self.settings.store.path);
        outcome
    }

    pub fn store(&self) -> Store {
        Store::open(&self.settings.store.path).unwrap()
    }

    pub fn db_path(&self) -> PathBuf {
        self.settings.store.path.clone()
    }

    /// Runs the scimdrift binary with this config.
    pub async fn cli(&self, args: &[&str]) -> Output {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_scimdrift"))
            .arg("--config")
            .arg(&self.config)
            .args(args)
            .env_remove("SCIMDRIFT_CONFIG")
            .output()
            .await
            .unwrap()
    }
}

/// The fragments of `key` found in `text`: any 12 characters of it (in any case) or of its base64
/// or base64url encoding, or any 16 hex digits of its hex encoding. Empty when none leaked.
pub fn key_fragments(text: &str, key: &str) -> Vec<String> {
    use base64::Engine as _;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    let lower = text.to_ascii_lowercase();
    let windows = |form: &str, n: usize| -> Vec<String> {
        form.as_bytes()
            .windows(n)
            .map(|w| String::from_utf8_lossy(w).into_owned())
            .collect()
    };
    let mut found: Vec<String> = windows(&key.to_ascii_lowercase(), 12)
        .into_iter()
        .filter(|w| lower.contains(w.as_str()))
        .collect();
    for form in [STANDARD.encode(key), URL_SAFE_NO_PAD.encode(key)] {
        found.extend(
            windows(&form, 12)
                .into_iter()
                .filter(|w| text.contains(w.as_str())),
        );
    }
    let hex: String = key.bytes().map(|b| format!("{b:02x}")).collect();
    found.extend(
        windows(&hex, 16)
            .into_iter()
            .filter(|w| lower.contains(w.as_str())),
    );
    found
}

/// The database and its WAL, as text (lossy), to search for what must not be stored.
pub fn store_text(db: &std::path::Path) -> String {
    let mut text = String::new();
    for path in [db.to_path_buf(), db.with_extension("db-wal")] {
        if let Ok(bytes) = std::fs::read(path) {
            text.push_str(&String::from_utf8_lossy(&bytes));
        }
    }
    text
}
