//! Configuration: a TOML file (`--config FILE` or `SCIMDRIFT_CONFIG`) with `SCIMDRIFT__SECTION__KEY`
//! environment overrides. Secrets are only ever named here (an env var or a file), never inline.

use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use crate::app::cli::{LogConfig, LogFormat};
pub use crate::app::schedule::{ScheduleConfig, parse_cron};
pub use crate::app::server::ServerConfig;
pub use crate::atlassian::settings::{AccountsEndpoint, AtlassianSettings, DirectorySettings};
pub use crate::detect::DetectConfig;
use crate::detect::DetectSettings;
pub use crate::http::{HttpSettings, duration_secs};
pub use crate::ignore::IgnoreConfig;
use crate::ignore::IgnoreRule;
use crate::secret::Secret;
pub use crate::secret::{credentials_path, expand_credentials_dir};
pub use crate::section::{check_count, check_count_i64, check_seconds};
pub use crate::store::StoreSettings;

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

/// Keys that would hold a secret inline: refused with a pointer to the `_env` / `_file` forms.
const INLINE_SECRET_KEYS: &[&str] = &[
    "org_api_key",
    "token",
    "api_key",
    "key",
    "client_secret",
    "private_key",
    "client_assertion",
    "access_token",
];

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
            let (key, message) = deserialize_error(&e.to_string());
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
        let section = |name: &str| {
            let file = self.source.clone();
            let name = name.to_string();
            move |(key, message): (String, String)| ConfigError {
                file: file.clone(),
                key: format!("{name}.{key}"),
                message,
            }
        };
        self.atlassian.validate().map_err(section("atlassian"))?;
        self.detect.validate().map_err(section("detect"))?;
        self.ignore_rules()?;
        self.schedule.validate().map_err(section("schedule"))?;
        self.server.validate().map_err(section("server"))?;
        self.pull
            .validate()
            .map_err(|(key, message)| self.error(format!("pull.{key}"), message))?;
        self.report
            .validate()
            .map_err(|(key, message)| self.error(format!("report.{key}"), message))?;
        self.remediation
            .validate()
            .map_err(|(key, message)| self.error(format!("remediation.{key}"), message))?;
        let directories: Vec<_> = self
            .atlassian
            .directories
            .iter()
            .map(|d| crate::remediate::Scope {
                id: &d.id,
                name: &d.name,
                has_idp: d.idp.is_some(),
                on_demand: d
                    .idp
                    .as_ref()
                    .is_some_and(|i| i.kind == crate::idp::IdpKind::Entra),
            })
            .collect();
        self.remediation
            .check_scopes(&directories)
            .map_err(|(key, message)| self.error(format!("remediation.{key}"), message))?;
        self.store.validate().map_err(section("store"))?;
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

    /// The directories as `person` names them: configured names and IdP kinds, by directory id.
    pub fn person_directories(&self) -> crate::person::Directories {
        crate::person::Directories {
            names: self.directory_names(),
            idp_kinds: self
                .atlassian
                .directories
                .iter()
                .filter_map(|d| Some((d.id.clone(), d.idp.as_ref()?.kind.as_str().to_string())))
                .collect(),
        }
    }

    /// The detector settings.
    pub fn detect_settings(&self) -> DetectSettings {
        self.detect.settings()
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
            idp: (0..self.atlassian.directories.len())
                .map(|i| self.idp_credential(i))
                .collect::<Result<_, _>>()?,
        })
    }

    /// The credentials of directory `index`'s IdP (its client secret, or its certificate and
    /// private key), `None` when the directory has no `idp`.
    pub fn idp_credential(
        &self,
        index: usize,
    ) -> Result<Option<std::sync::Arc<crate::idp::Credential>>, ConfigError> {
        let Some(idp) = &self.atlassian.directories[index].idp else {
            return Ok(None);
        };
        crate::idp::Credential::load(idp)
            .map(|c| Some(std::sync::Arc::new(c)))
            .map_err(|(key, message)| {
                self.error(format!("atlassian.directories[{index}].idp.{key}"), message)
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
        match crate::secret::read(env, file, (env_key, file_key), what) {
            Ok(Some(secret)) => Ok(secret),
            Ok(None) => Err(self.error(
                env_key,
                format!("expected {what} from an env var or a file"),
            )),
            Err((key, message)) => Err(self.error(key, message)),
        }
    }

    /// Checks every secret can be read, returning the first failure.
    pub fn check_secrets(&self) -> Result<(), ConfigError> {
        self.server_token()?;
        self.org_api_key()?;
        for i in 0..self.atlassian.directories.len() {
            self.directory_token(i)?;
            self.idp_credential(i)?;
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

/// The key and the message of a `config` crate error (`… for key `a.b[0]c` in FILE`): the key
/// spelled with its dots (`a.b[0].c`: the crate leaves out the dot after an index), the message
/// without the key and the file, which the error shows on its own.
fn deserialize_error(text: &str) -> (String, String) {
    let Some((message, rest)) = text.split_once(" for key `") else {
        return (String::new(), text.to_string());
    };
    let key = rest.split('`').next().unwrap_or("");
    let mut dotted = String::with_capacity(key.len() + 4);
    let mut chars = key.chars().peekable();
    while let Some(c) = chars.next() {
        dotted.push(c);
        if c == ']' && chars.peek().is_some_and(|next| !matches!(next, '.' | '[')) {
            dotted.push('.');
        }
    }
    (dotted, message.to_string())
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
