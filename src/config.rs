//! Configuration: a TOML file (`--config FILE` or `SCIMDRIFT_CONFIG`) with `SCIMDRIFT__SECTION__KEY`
//! environment overrides. Secrets are only ever named here (an env var or a file), never inline.

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use crate::atlassian::settings::{
    AccountsEndpoint, AtlassianSettings, DirectorySettings, HttpSettings, duration_secs,
};
use crate::detect::{DetectSettings, Kind};
pub use crate::ignore::IgnoreConfig;
use crate::ignore::IgnoreRule;
use crate::secret::Secret;
pub use crate::secret::{credentials_path, expand_credentials_dir};
pub use crate::section::{check_count, check_seconds};

/// A configuration problem: which file, which key, and what was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: String,
    pub key: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            write!(f, "config error in {}: {}", self.file, self.message)
        } else {
            write!(
                f,
                "config error in {}: `{}`: {}",
                self.file, self.key, self.message
            )
        }
    }
}

impl std::error::Error for ConfigError {}

/// The whole configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Settings {
    pub atlassian: AtlassianSettings,
    #[serde(default)]
    pub store: StoreSettings,
    #[serde(default)]
    pub detect: DetectConfig,
    /// `[pull]`: the shrink guard.
    #[serde(default)]
    pub pull: crate::shrink::PullConfig,
    #[serde(default)]
    pub schedule: ScheduleConfig,
    #[serde(default)]
    pub server: ServerConfig,
    #[serde(default)]
    pub log: LogConfig,
    #[serde(default)]
    pub report: crate::report::ReportConfig,
    /// `[remediation]`: guarded auto-remediation, off by default.
    #[serde(default)]
    pub remediation: crate::remediate::RemediationConfig,
    /// `[[ignore]]` rules: matched findings are suppressed, never dropped.
    #[serde(default)]
    pub ignore: Vec<IgnoreConfig>,
    /// Where the settings came from, for error messages.
    #[serde(skip)]
    pub source: String,
}

/// `[store]`: the SQLite database.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct StoreSettings {
    pub path: PathBuf,
}

impl Default for StoreSettings {
    fn default() -> Self {
        StoreSettings {
            path: PathBuf::from("scimdrift.db"),
        }
    }
}

/// `[schedule]`: when the daemon runs its jobs (cron with seconds).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct ScheduleConfig {
    /// Pull → detect cycles. Default every 15 minutes.
    pub pull: String,
    /// The daily report. Default 07:00.
    pub report: String,
    /// IANA time zone of both schedules. Default UTC.
    pub timezone: String,
    /// How long shutdown waits for a running cycle before aborting it, seconds.
    pub shutdown_timeout_seconds: f64,
}

impl Default for ScheduleConfig {
    fn default() -> Self {
        ScheduleConfig {
            pull: "0 */15 * * * *".into(),
            report: "0 0 7 * * *".into(),
            timezone: "UTC".into(),
            shutdown_timeout_seconds: 30.0,
        }
    }
}

/// Parses a cron expression with seconds, as the scheduler does.
pub fn parse_cron(expr: &str) -> Result<croner::Cron, String> {
    croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Required)
        .dom_and_dow(true)
        .build()
        .parse(expr)
        .map_err(|e| {
            format!("expected a cron expression with seconds, e.g. \"0 */15 * * * *\" ({e})")
        })
}

impl ScheduleConfig {
    /// The time zone (validated at load).
    pub fn tz(&self) -> chrono_tz::Tz {
        self.timezone.parse().unwrap_or(chrono_tz::UTC)
    }

    /// The interval between two pulls: the gap between the next two occurrences of `pull`.
    pub fn pull_interval(&self) -> std::time::Duration {
        let fallback = std::time::Duration::from_secs(900);
        let Ok(cron) = parse_cron(&self.pull) else {
            return fallback;
        };
        let now = chrono::Utc::now().with_timezone(&self.tz());
        let Ok(a) = cron.find_next_occurrence(&now, false) else {
            return fallback;
        };
        let Ok(b) = cron.find_next_occurrence(&a, false) else {
            return fallback;
        };
        (b - a).to_std().unwrap_or(fallback)
    }
}

/// `[server]`: the HTTP endpoint of the daemon.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct ServerConfig {
    /// Address to listen on. Default loopback only.
    pub listen: String,
    /// File holding the bearer token `/findings` and `/report` require. Required off loopback.
    pub auth_token_file: Option<PathBuf>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: "127.0.0.1:9464".into(),
            auth_token_file: None,
        }
    }
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

/// `[detect]`: detector settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct DetectConfig {
    /// An inactive record still linked after this many days is a `stale_inactive_link`.
    pub stale_after_days: i64,
    /// Finding kinds not to detect at all.
    pub disabled_kinds: Vec<String>,
}

impl Default for DetectConfig {
    fn default() -> Self {
        DetectConfig {
            stale_after_days: 30,
            disabled_kinds: Vec::new(),
        }
    }
}

/// Keys that would hold a secret inline: refused with a pointer to the `_env` / `_file` forms.
const INLINE_SECRET_KEYS: &[&str] = &["org_api_key", "token", "api_key", "key"];

impl Settings {
    /// Loads the file (if any) plus `SCIMDRIFT__*` environment overrides, then validates.
    pub fn load(file: Option<&Path>) -> Result<Settings, ConfigError> {
        let source = match file {
            Some(p) => p.display().to_string(),
            None => "the environment".to_string(),
        };
        let err = |key: &str, message: String| ConfigError {
            file: source.clone(),
            key: key.to_string(),
            message,
        };
        let mut builder = config::Config::builder();
        if let Some(path) = file {
            if !path.is_file() {
                return Err(err("", "file not found or not a regular file".into()));
            }
            builder = builder.add_source(config::File::from(path).format(config::FileFormat::Toml));
        } else if !std::env::vars().any(|(k, _)| k.starts_with("SCIMDRIFT__")) {
            return Err(err(
                "",
                "no configuration given: pass --config FILE or set SCIMDRIFT_CONFIG".into(),
            ));
        }
        builder = builder.add_source(
            config::Environment::with_prefix("SCIMDRIFT")
                .prefix_separator("__")
                .separator("__")
                .try_parsing(true),
        );
        let merged = builder.build().map_err(|e| err("", e.to_string()))?;
        let raw: Value = merged
            .clone()
            .try_deserialize()
            .map_err(|e| err("", e.to_string()))?;
        check_inline_secrets(&raw, "").map_err(|key| {
            err(
                &key,
                "secrets are never read inline: name an environment variable (`…_env`) or a file (`…_file`) instead"
                    .into(),
            )
        })?;
        if raw.get("atlassian").is_none() {
            return Err(err(
                "atlassian",
                "missing section: expected an [atlassian] table".into(),
            ));
        }
        let mut settings: Settings = merged.try_deserialize().map_err(|e| {
            let message = e.to_string();
            let key = message
                .split("for key `")
                .nth(1)
                .and_then(|rest| rest.split('`').next())
                .unwrap_or("")
                .to_string();
            err(&key, message)
        })?;
        settings.source = source.clone();
        let known = serde_json::to_value(&settings).map_err(|e| err("", e.to_string()))?;
        if let Some(key) = first_unknown_key(&raw, &known, "") {
            return Err(err(
                &key,
                "unknown key (check the spelling; see config/scimdrift.example.toml)".into(),
            ));
        }
        // The `config` crate converts between types (`org_id = true` becomes "true", `"30"` a
        // number): that suits the environment overrides, which are strings by nature, but in the
        // file a value of the wrong type is a mistake.
        if let Some(path) = file {
            let text = std::fs::read_to_string(path).map_err(|e| err("", e.to_string()))?;
            let table: toml::Table = toml::from_str(&text).map_err(|e| err("", e.to_string()))?;
            if let Some((key, expected, found)) =
                first_wrong_type(&toml::Value::Table(table), &known, "")
            {
                return Err(err(&key, format!("expected {expected}, found {found}")));
            }
        }
        settings.validate()?;
        Ok(settings)
    }

    fn error(&self, key: impl Into<String>, message: impl Into<String>) -> ConfigError {
        ConfigError {
            file: self.source.clone(),
            key: key.into(),
            message: message.into(),
        }
    }

    /// Checks every rule that types alone cannot express.
    fn validate(&mut self) -> Result<(), ConfigError> {
        let a = &self.atlassian;
        let url = reqwest::Url::parse(&a.base_url).map_err(|e| {
            self.error(
                "atlassian.base_url",
                format!("expected an http(s) URL: {e}"),
            )
        })?;
        let loopback = match url.host() {
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            Some(url::Host::Domain(d)) => d == "localhost",
            None => false,
        };
        if !url.username().is_empty() || url.password().is_some() {
            // Never echo the URL: its user info is a credential.
            return Err(self.error(
                "atlassian.base_url",
                "must not contain a user name or password (`user:password@`): keys are read from org_api_key_env / org_api_key_file and the directories' token_env / token_file",
            ));
        }
        match url.scheme() {
            "https" => {}
            "http" if loopback => {}
            "http" => {
                return Err(self.error(
                    "atlassian.base_url",
                    "plain http is only allowed to a loopback address (keys would travel in clear); use https",
                ));
            }
            other => {
                return Err(self.error(
                    "atlassian.base_url",
                    format!("expected an http(s) URL, got scheme `{other}`"),
                ));
            }
        }
        if a.org_id.trim().is_empty() {
            return Err(self.error(
                "atlassian.org_id",
                "required: the organization id from admin hub",
            ));
        }
        if a.org_api_key_env.is_some() && a.org_api_key_file.is_some() {
            return Err(self.error(
                "atlassian.org_api_key_env",
                "set either org_api_key_env or org_api_key_file, not both",
            ));
        }
        if a.directories.is_empty() {
            return Err(self.error(
                "atlassian.directories",
                "expected at least one [[atlassian.directories]] entry with id and name",
            ));
        }
        let mut ids = HashSet::new();
        let mut names = HashSet::new();
        for (i, d) in a.directories.iter().enumerate() {
            let key = |k: &str| format!("atlassian.directories[{i}].{k}");
            if d.id.trim().is_empty() {
                return Err(self.error(key("id"), "required: the SCIM directory id"));
            }
            if d.name.is_empty()
                || !d
                    .name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
            {
                return Err(self.error(
                    key("name"),
                    format!(
                        "expected a short label of lower-case letters, digits, `_` or `-` (got {:?})",
                        d.name
                    ),
                ));
            }
            if !ids.insert(d.id.clone()) {
                return Err(self.error(
                    key("id"),
                    format!("directory id {:?} is listed twice", d.id),
                ));
            }
            if !names.insert(d.name.clone()) {
                return Err(self.error(
                    key("name"),
                    format!("directory name {:?} is used twice", d.name),
                ));
            }
            if d.token_env.is_some() && d.token_file.is_some() {
                return Err(self.error(
                    key("token_env"),
                    "set either token_env or token_file, not both",
                ));
            }
        }
        let h = &a.http;
        let http = |k: &str| format!("atlassian.http.{k}");
        for (key, value, min, max) in [
            ("timeout_seconds", h.timeout_seconds, 0.001, 3600.0),
            (
                "retry_max_delay_seconds",
                h.retry_max_delay_seconds,
                0.0,
                3600.0,
            ),
            (
                "retry_budget_seconds",
                h.retry_budget_seconds,
                0.0,
                86_400.0,
            ),
            (
                "pull_deadline_seconds",
                h.pull_deadline_seconds,
                1.0,
                86_400.0,
            ),
        ] {
            check_seconds(value, min, max).map_err(|m| self.error(http(key), m))?;
        }
        for (key, value, min, max) in [
            ("max_retries", u64::from(h.max_retries), 0, 100),
            ("retry_base_delay_ms", h.retry_base_delay_ms, 0, 60_000),
            ("concurrency", h.concurrency as u64, 1, 64),
            ("scim_page_size", h.scim_page_size as u64, 1, 1000),
            ("accounts_page_size", h.accounts_page_size as u64, 1, 1000),
            ("max_page_bytes", h.max_page_bytes, 1024, 4 << 30),
        ] {
            check_count(value, min, max).map_err(|m| self.error(http(key), m))?;
        }
        check_count_i64(self.detect.stale_after_days, 0, 36_500)
            .map_err(|m| self.error("detect.stale_after_days", m))?;
        for (i, k) in self.detect.disabled_kinds.iter().enumerate() {
            k.parse::<Kind>()
                .map_err(|e| self.error(format!("detect.disabled_kinds[{i}]"), e))?;
        }
        self.ignore_rules()?;
        for (key, expr) in [
            ("schedule.pull", &self.schedule.pull),
            ("schedule.report", &self.schedule.report),
        ] {
            parse_cron(expr).map_err(|e| self.error(key, e))?;
        }
        let Ok(tz) = self.schedule.timezone.parse::<chrono_tz::Tz>() else {
            return Err(self.error(
                "schedule.timezone",
                format!(
                    "expected an IANA time zone such as \"UTC\" or \"Europe/Berlin\", got {:?}",
                    self.schedule.timezone
                ),
            ));
        };
        for (key, expr) in [
            ("schedule.pull", &self.schedule.pull),
            ("schedule.report", &self.schedule.report),
        ] {
            check_fires(expr, tz).map_err(|e| self.error(key, e))?;
        }
        check_seconds(self.schedule.shutdown_timeout_seconds, 0.0, 3600.0)
            .map_err(|m| self.error("schedule.shutdown_timeout_seconds", m))?;
        if self.server.listen.parse::<std::net::SocketAddr>().is_err() {
            return Err(self.error(
                "server.listen",
                format!(
                    "expected an address and port such as \"127.0.0.1:9464\", got {:?}",
                    self.server.listen
                ),
            ));
        }
        self.pull
            .validate()
            .map_err(|(key, message)| self.error(format!("pull.{key}"), message))?;
        self.report
            .validate()
            .map_err(|(key, message)| self.error(format!("report.{key}"), message))?;
        self.remediation
            .validate()
            .map_err(|(key, message)| self.error(format!("remediation.{key}"), message))?;
        if self.store.path.as_os_str().is_empty() {
            return Err(self.error(
                "store.path",
                "expected the path of the SQLite database file",
            ));
        }
        // Defaults for the secret references, so the effective config shows where keys come from.
        if self.atlassian.org_api_key_file.is_none() && self.atlassian.org_api_key_env.is_none() {
            self.atlassian.org_api_key_env = Some("SCIMDRIFT_ORG_API_KEY".into());
        }
        for d in &mut self.atlassian.directories {
            if d.token_env.is_none() && d.token_file.is_none() {
                d.token_env = Some(format!(
                    "SCIMDRIFT_DIR_{}",
                    d.name.to_uppercase().replace('-', "_")
                ));
            }
        }
        Ok(())
    }

    /// Directory id → configured name, for labels in findings and reports.
    pub fn directory_names(&self) -> std::collections::HashMap<String, String> {
        self.atlassian
            .directories
            .iter()
            .map(|d| (d.id.clone(), d.name.clone()))
            .collect()
    }

    /// The detector settings.
    pub fn detect_settings(&self) -> DetectSettings {
        DetectSettings {
            stale_after_days: self.detect.stale_after_days,
            disabled: self
                .detect
                .disabled_kinds
                .iter()
                .filter_map(|k| k.parse().ok())
                .collect(),
        }
    }

    /// The `[[ignore]]` rules, validated.
    pub fn ignore_rules(&self) -> Result<Vec<IgnoreRule>, ConfigError> {
        self.ignore
            .iter()
            .enumerate()
            .map(|(i, r)| {
                IgnoreRule::from_config(r)
                    .map_err(|(key, message)| self.error(format!("ignore[{i}].{key}"), message))
            })
            .collect()
    }

    /// Every key the clients send, from their env vars or files.
    pub fn keys(&self) -> Result<crate::atlassian::Keys, ConfigError> {
        Ok(crate::atlassian::Keys {
            org: self.org_api_key()?,
            directories: (0..self.atlassian.directories.len())
                .map(|i| self.directory_token(i))
                .collect::<Result<_, _>>()?,
        })
    }

    /// The org API key, from its env var or file.
    pub fn org_api_key(&self) -> Result<Secret, ConfigError> {
        let a = &self.atlassian;
        self.read_secret(
            ("atlassian.org_api_key_env", a.org_api_key_env.as_deref()),
            ("atlassian.org_api_key_file", a.org_api_key_file.as_deref()),
            "the org API key",
        )
    }

    /// The API key of directory `index`, from its env var or file.
    pub fn directory_token(&self, index: usize) -> Result<Secret, ConfigError> {
        let d = &self.atlassian.directories[index];
        self.read_secret(
            (
                &format!("atlassian.directories[{index}].token_env"),
                d.token_env.as_deref(),
            ),
            (
                &format!("atlassian.directories[{index}].token_file"),
                d.token_file.as_deref(),
            ),
            &format!("the API key of SCIM directory {:?}", d.name),
        )
    }

    fn read_secret(
        &self,
        (env_key, env): (&str, Option<&str>),
        (file_key, file): (&str, Option<&Path>),
        what: &str,
    ) -> Result<Secret, ConfigError> {
        let secret = if let Some(path) = file {
            let path = &credentials_path(path)
                .map_err(|m| self.error(file_key, format!("{m} (expected {what})")))?;
            let text = std::fs::read_to_string(path).map_err(|e| {
                self.error(
                    file_key,
                    format!("cannot read {} ({what}): {e}", path.display()),
                )
            })?;
            Secret::new(text)
        } else if let Some(var) = env {
            let value = std::env::var(var).map_err(|_| {
                self.error(
                    env_key,
                    format!("environment variable {var} is not set (expected {what})"),
                )
            })?;
            Secret::new(value)
        } else {
            return Err(self.error(
                env_key,
                format!("expected {what} from an env var or a file"),
            ));
        };
        if secret.expose().is_empty() {
            return Err(self.error(
                if file.is_some() { file_key } else { env_key },
                format!("{what} is empty"),
            ));
        }
        Ok(secret)
    }

    /// Checks every secret can be read, returning the first failure.
    pub fn check_secrets(&self) -> Result<(), ConfigError> {
        self.server_token()?;
        self.org_api_key()?;
        for i in 0..self.atlassian.directories.len() {
            self.directory_token(i)?;
        }
        self.report
            .check_secrets()
            .map_err(|(key, message)| self.error(format!("report.{key}"), message))
    }

    /// The bearer token `/findings`, `/report` and `/person` require (`server.auth_token_file`),
    /// checked against the listen address: a non-loopback address without a token is refused, as
    /// those endpoints show emails. `check-config` and `run` both call this.
    pub fn server_token(&self) -> Result<Option<Secret>, ConfigError> {
        let key = "server.auth_token_file";
        let token = match &self.server.auth_token_file {
            Some(path) => Some(self.read_secret(
                (key, None),
                (key, Some(path)),
                "the server's bearer token",
            )?),
            None => None,
        };
        let loopback = self
            .server
            .listen
            .parse::<std::net::SocketAddr>()
            .map(|a| a.ip().is_loopback())
            .unwrap_or(false);
        if token.is_none() && !loopback {
            return Err(self.error(
                key,
                format!(
                    "server.listen = {} is not a loopback address, and /findings, /report and /person show \
                     emails: set server.auth_token_file to require a bearer token, or listen on 127.0.0.1",
                    self.server.listen
                ),
            ));
        }
        Ok(token)
    }

    /// The effective configuration as TOML, with every resolved secret shown as `***`.
    pub fn effective_toml(&self) -> String {
        let mut v = serde_json::to_value(self).unwrap_or(Value::Null);
        if let Some(a) = v.get_mut("atlassian").and_then(Value::as_object_mut) {
            a.insert("org_api_key".into(), Value::String("***".into()));
            if let Some(dirs) = a.get_mut("directories").and_then(Value::as_array_mut) {
                for d in dirs.iter_mut().filter_map(Value::as_object_mut) {
                    d.insert("token".into(), Value::String("***".into()));
                }
            }
        }
        strip_nulls(&mut v);
        toml::to_string(&v).unwrap_or_else(|e| format!("# cannot render: {e}\n"))
    }
}

/// Checks a signed whole number is in `[min, max]`.
pub fn check_count_i64(value: i64, min: i64, max: i64) -> Result<(), String> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(format!(
            "expected a whole number between {min} and {max} (got {value})"
        ))
    }
}

/// Checks a (parsed) cron expression fires within the next ten years, twice: a schedule such as
/// `0 0 0 31 2 *` (30 February) parses but would never run.
fn check_fires(expr: &str, tz: chrono_tz::Tz) -> Result<(), String> {
    let cron = parse_cron(expr)?;
    let now = chrono::Utc::now().with_timezone(&tz);
    let never = || {
        format!(
            "the schedule {expr:?} never fires (no date matches it within ten years): check the day and month fields"
        )
    };
    let first = cron
        .find_next_occurrence(&now, false)
        .map_err(|_| never())?;
    let second = cron
        .find_next_occurrence(&first, false)
        .map_err(|_| never())?;
    if second - now > chrono::Duration::days(3660) {
        return Err(never());
    }
    Ok(())
}

/// The first key (dotted path) in `raw` that is an inline secret.
fn check_inline_secrets(raw: &Value, path: &str) -> Result<(), String> {
    match raw {
        Value::Object(map) => {
            for (k, v) in map {
                let p = join(path, k);
                if INLINE_SECRET_KEYS.contains(&k.as_str()) && path.starts_with("atlassian") {
                    return Err(p);
                }
                check_inline_secrets(v, &p)?;
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                check_inline_secrets(v, &format!("{path}[{i}]"))?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// The first key present in `raw` that the typed settings do not know.
fn first_unknown_key(raw: &Value, known: &Value, path: &str) -> Option<String> {
    match (raw, known) {
        (Value::Object(r), Value::Object(k)) => r.iter().find_map(|(key, v)| match k.get(key) {
            None => Some(join(path, key)),
            Some(kv) => first_unknown_key(v, kv, &join(path, key)),
        }),
        (Value::Array(r), Value::Array(k)) => r
            .iter()
            .zip(k)
            .enumerate()
            .find_map(|(i, (rv, kv))| first_unknown_key(rv, kv, &format!("{path}[{i}]"))),
        _ => None,
    }
}

/// The first value in the file whose TOML type is not the type of its setting: (key, expected,
/// found). An integer is a valid number of seconds; a date is a valid string; unset optional
/// settings (null) are not compared.
fn first_wrong_type(
    file: &toml::Value,
    known: &Value,
    path: &str,
) -> Option<(String, &'static str, &'static str)> {
    use toml::Value as T;
    let found = match file {
        T::String(_) => "a string",
        T::Integer(_) => "an integer",
        T::Float(_) => "a number",
        T::Boolean(_) => "a boolean",
        T::Datetime(_) => "a date",
        T::Array(_) => "an array",
        T::Table(_) => "a table",
    };
    let (expected, ok) = match (known, file) {
        (Value::Null, _) => return None,
        (Value::Object(k), T::Table(t)) => {
            return t.iter().find_map(|(key, v)| {
                let kv = k.get(key).or_else(|| k.get(&key.to_lowercase()))?;
                first_wrong_type(v, kv, &join(path, key))
            });
        }
        (Value::Array(k), T::Array(a)) => {
            return a
                .iter()
                .zip(k)
                .enumerate()
                .find_map(|(i, (v, kv))| first_wrong_type(v, kv, &format!("{path}[{i}]")));
        }
        (Value::Object(_), _) => ("a table", false),
        (Value::Array(_), _) => ("an array", false),
        (Value::String(_), f) => ("a string", matches!(f, T::String(_) | T::Datetime(_))),
        (Value::Bool(_), f) => ("a boolean", matches!(f, T::Boolean(_))),
        (Value::Number(n), f) if n.is_f64() => {
            ("a number", matches!(f, T::Float(_) | T::Integer(_)))
        }
        (Value::Number(_), f) => ("a whole number", matches!(f, T::Integer(_))),
    };
    (!ok).then(|| (path.to_string(), expected, found))
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn strip_nulls(v: &mut Value) {
    match v {
        Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(strip_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}

/// The daemon's settings, replaced as a whole by a reload (SIGHUP). Readers take a snapshot with
/// [`SharedSettings::get`] and keep it for the work at hand.
#[derive(Debug)]
pub struct SharedSettings(std::sync::RwLock<std::sync::Arc<Settings>>);

impl SharedSettings {
    pub fn new(settings: std::sync::Arc<Settings>) -> Self {
        SharedSettings(std::sync::RwLock::new(settings))
    }

    /// The settings in force.
    pub fn get(&self) -> std::sync::Arc<Settings> {
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Puts `settings` in force for every later [`SharedSettings::get`].
    pub fn set(&self, settings: std::sync::Arc<Settings>) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = settings;
    }
}

impl From<Settings> for SharedSettings {
    fn from(settings: Settings) -> Self {
        SharedSettings::new(std::sync::Arc::new(settings))
    }
}
