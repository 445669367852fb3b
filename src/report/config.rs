//! `[report]` and `[report.delivery]` settings. Secrets (the webhook URL, which carries a token, and
//! the SMTP password) are named by an environment variable or a file, never written inline.

use std::path::PathBuf;

use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;

use crate::secret::Secret;

/// `[report]` settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct ReportConfig {
    /// Days of stored reports to keep (older ones are deleted by the daily run). Default 90.
    pub keep_days: u32,
    /// Base URL the daemon's `/report` is reachable under, for the link in deliveries and the
    /// report's absolute links to `/person` (else `[server] public_url`).
    pub public_url: Option<String>,
    /// Atlassian Administration, for the links to each account. Default
    /// `https://admin.atlassian.com`.
    pub admin_hub_url: String,
    /// The Microsoft Entra admin center, for the links to each Entra user. Default
    /// `https://entra.microsoft.com`.
    pub entra_admin_url: String,
    pub delivery: DeliveryConfig,
}

impl Default for ReportConfig {
    fn default() -> Self {
        ReportConfig {
            keep_days: 90,
            public_url: None,
            admin_hub_url: "https://admin.atlassian.com".into(),
            entra_admin_url: "https://entra.microsoft.com".into(),
            delivery: DeliveryConfig::default(),
        }
    }
}

/// Serializes a refused inline-secret key as null, so the effective config can never show one.
fn never<S: Serializer, T>(_: &Option<T>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_none()
}

/// `[report.delivery]`: where the daily report goes besides the store. Every channel is optional.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct DeliveryConfig {
    /// Tries per channel before giving up. Default 4.
    pub attempts: u32,
    /// Wait before the first retry, milliseconds; doubles each retry (capped at a minute). Default 2000.
    pub backoff_ms: u64,
    /// Timeout of one webhook or SMTP attempt, seconds. Default 30.
    pub timeout_seconds: f64,
    /// Directory to write the four formats into (`scimdrift-report-YYYY-MM-DD.{html,md,csv,json}`).
    pub directory: Option<PathBuf>,
    /// Environment variable holding the webhook URL.
    pub webhook_url_env: Option<String>,
    /// File holding the webhook URL (`${CREDENTIALS_DIRECTORY}` is expanded).
    pub webhook_url_file: Option<PathBuf>,
    /// Refused: a webhook URL carries a token.
    #[serde(serialize_with = "never")]
    pub webhook_url: Option<Value>,
    /// What the webhook speaks: `slack` (Block Kit with a `text` fallback, read by Slack,
    /// Mattermost, Rocket.Chat; the default), `teams` (an Adaptive Card message, for a Microsoft
    /// Teams Workflows webhook) or `json` (the report's JSON contract).
    pub webhook_format: WebhookFormat,
    pub email: Option<EmailConfig>,
}

/// The webhook's payload shape (`[report.delivery] webhook_format`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WebhookFormat {
    #[default]
    Slack,
    Teams,
    Json,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            attempts: 4,
            backoff_ms: 2000,
            timeout_seconds: 30.0,
            directory: None,
            webhook_url_env: None,
            webhook_url_file: None,
            webhook_url: None,
            webhook_format: WebhookFormat::Slack,
            email: None,
        }
    }
}

/// `[report.delivery.email]`: SMTP submission, STARTTLS by default.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct EmailConfig {
    pub host: String,
    /// Default 587 (submission).
    pub port: u16,
    /// Require STARTTLS. Default true; `false` sends in clear (only for a relay on loopback, or
    /// without credentials).
    pub starttls: bool,
    pub username: Option<String>,
    pub password_env: Option<String>,
    pub password_file: Option<PathBuf>,
    /// Refused: name `password_env` or `password_file` instead.
    #[serde(serialize_with = "never")]
    pub password: Option<Value>,
    /// Sender, `Name <address>` or `address`.
    pub from: String,
    /// Recipients.
    pub to: Vec<String>,
}

impl Default for EmailConfig {
    fn default() -> Self {
        EmailConfig {
            host: String::new(),
            port: 587,
            starttls: true,
            username: None,
            password_env: None,
            password_file: None,
            password: None,
            from: String::new(),
            to: Vec::new(),
        }
    }
}

type KeyError = (String, String);

fn err(key: &str, message: impl Into<String>) -> KeyError {
    (key.to_string(), message.into())
}

/// Checks an http(s) URL by the one URL policy ([`crate::section::check_url_scheme`]).
fn check_url(url: &str, what: &str) -> Result<url::Url, String> {
    crate::section::check_link_base(url).map_err(|m| format!("{what}: {m}"))
}

impl ReportConfig {
    /// Validates the settings; errors are (key under `report.`, what was expected).
    pub fn validate(&self) -> Result<(), (String, String)> {
        if self.keep_days == 0 || self.keep_days > 36_500 {
            return Err(err(
                "keep_days",
                "expected a number of days between 1 and 36500 (default 90)",
            ));
        }
        if let Some(url) = &self.public_url {
            check_url(url, "the base URL of the daemon's /report")
                .map_err(|m| err("public_url", m))?;
        }
        check_url(
            &self.admin_hub_url,
            "the base URL of Atlassian Administration",
        )
        .map_err(|m| err("admin_hub_url", m))?;
        check_url(
            &self.entra_admin_url,
            "the base URL of the Microsoft Entra admin center",
        )
        .map_err(|m| err("entra_admin_url", m))?;
        let d = &self.delivery;
        if d.attempts == 0 || d.attempts > 20 {
            return Err(err(
                "delivery.attempts",
                "expected tries per channel between 1 and 20 (default 4)",
            ));
        }
        crate::section::check_seconds(d.timeout_seconds, 0.001, 3600.0)
            .map_err(|m| err("delivery.timeout_seconds", format!("{m} (default 30)")))?;
        if d.backoff_ms > 600_000 {
            return Err(err(
                "delivery.backoff_ms",
                "expected milliseconds between 0 and 600000 (default 2000)",
            ));
        }
        if d.webhook_url.is_some() {
            return Err(err(
                "delivery.webhook_url",
                "a webhook URL carries a token and is never read inline: set webhook_url_env or webhook_url_file",
            ));
        }
        if d.webhook_url_env.is_some() && d.webhook_url_file.is_some() {
            return Err(err(
                "delivery.webhook_url_env",
                "set either webhook_url_env or webhook_url_file, not both",
            ));
        }
        if d.directory
            .as_ref()
            .is_some_and(|p| p.as_os_str().is_empty())
        {
            return Err(err(
                "delivery.directory",
                "expected the path of a directory to write the report files into",
            ));
        }
        if let Some(e) = &d.email {
            e.validate()
                .map_err(|(k, m)| (format!("delivery.email.{k}"), m))?;
        }
        Ok(())
    }

    /// Reads every delivery secret (for `check-config`); errors as in [`ReportConfig::validate`].
    pub fn check_secrets(&self) -> Result<(), (String, String)> {
        self.delivery.webhook_url()?;
        if let Some(e) = &self.delivery.email {
            e.password()
                .map_err(|(k, m)| (format!("delivery.email.{k}"), m))?;
        }
        Ok(())
    }

    /// The link to the report of `date` under `public_url`, if configured.
    pub fn link(&self, date: chrono::NaiveDate) -> Option<String> {
        self.public_url
            .as_deref()
            .map(|base| format!("{}/report/{date}", base.trim_end_matches('/')))
    }
}

impl DeliveryConfig {
    /// The webhook URL, when a webhook is configured; errors with keys under `report.`.
    pub fn webhook_url(&self) -> Result<Option<Secret>, (String, String)> {
        let url = crate::secret::read(
            self.webhook_url_env.as_deref(),
            self.webhook_url_file.as_deref(),
            ("delivery.webhook_url_env", "delivery.webhook_url_file"),
            "the report webhook URL",
        )?;
        if let Some(u) = &url {
            // The message never repeats the URL: it carries a token.
            // A webhook URL may carry a query (Teams Workflows: `?api-version=…&sig=…`).
            crate::section::check_url_scheme(u.expose())
                .map_err(|m| format!("the report webhook URL: {m}"))
                .map_err(|m| {
                    let key = if self.webhook_url_file.is_some() {
                        "delivery.webhook_url_file"
                    } else {
                        "delivery.webhook_url_env"
                    };
                    (
                        key.to_string(),
                        m.split(" (").next().unwrap_or(&m).to_string(),
                    )
                })?;
        }
        Ok(url)
    }
}

impl EmailConfig {
    fn validate(&self) -> Result<(), KeyError> {
        if self.host.trim().is_empty() {
            return Err(err("host", "required: the SMTP server's host name"));
        }
        if self.port == 0 {
            return Err(err("port", "expected a TCP port (587 for submission)"));
        }
        if self.password.is_some() {
            return Err(err(
                "password",
                "secrets are never read inline: set password_env or password_file",
            ));
        }
        if self.password_env.is_some() && self.password_file.is_some() {
            return Err(err(
                "password_env",
                "set either password_env or password_file, not both",
            ));
        }
        let has_password = self.password_env.is_some() || self.password_file.is_some();
        if has_password != self.username.is_some() {
            return Err(err(
                "username",
                "username and a password (password_env or password_file) go together",
            ));
        }
        if !self.starttls && has_password && !crate::section::is_loopback_host(&self.host) {
            return Err(err(
                "starttls",
                "starttls = false would send the SMTP password in clear to a remote host; keep starttls = true",
            ));
        }
        self.from.parse::<lettre::message::Mailbox>().map_err(|e| {
            err(
                "from",
                format!(
                    "expected a sender address such as \"scimdrift <scimdrift@example.com>\" ({e})"
                ),
            )
        })?;
        if self.to.is_empty() {
            return Err(err("to", "expected at least one recipient address"));
        }
        for (i, to) in self.to.iter().enumerate() {
            to.parse::<lettre::message::Mailbox>().map_err(|e| {
                err(
                    &format!("to[{i}]"),
                    format!("expected an email address, got {to:?} ({e})"),
                )
            })?;
        }
        Ok(())
    }

    /// The SMTP password, when credentials are configured; errors with keys under `email.`.
    pub fn password(&self) -> Result<Option<Secret>, KeyError> {
        crate::secret::read(
            self.password_env.as_deref(),
            self.password_file.as_deref(),
            ("password_env", "password_file"),
            "the SMTP password",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(toml_text: &str) -> ReportConfig {
        toml::from_str(toml_text).unwrap()
    }

    fn key_of(c: &ReportConfig) -> String {
        c.validate().unwrap_err().0
    }

    #[test]
    fn defaults_are_valid_and_lean() {
        let c = ReportConfig::default();
        assert_eq!(c.keep_days, 90);
        assert!(c.validate().is_ok());
        assert!(c.delivery.webhook_url().unwrap().is_none());
    }

    #[test]
    fn inline_secrets_are_refused() {
        let c = parse("[delivery]\nwebhook_url = \"https://hooks.example.com/T/secret\"\n");
        let (k, m) = c.validate().unwrap_err();
        assert_eq!(k, "delivery.webhook_url");
        assert!(!m.contains("secret") || m.contains("never read inline"));
        let c = parse(
            "[delivery.email]\nhost = \"smtp.example.com\"\nfrom = \"a@example.com\"\nto = [\"b@example.com\"]\npassword = \"hunter2\"\n",
        );
        assert_eq!(key_of(&c), "delivery.email.password");
        // Never serialized, even if present.
        assert!(!serde_json::to_string(&c).unwrap().contains("hunter2"));
    }

    #[test]
    fn email_settings_are_checked() {
        let base =
            "[delivery.email]\nhost = \"smtp.example.com\"\nfrom = \"scimdrift <s@example.com>\"\n";
        assert_eq!(key_of(&parse(base)), "delivery.email.to");
        let ok = format!("{base}to = [\"admins@example.com\"]\n");
        assert!(parse(&ok).validate().is_ok());
        let c = parse(&format!("{ok}username = \"u\"\n"));
        assert_eq!(key_of(&c), "delivery.email.username");
        let c = parse(&format!(
            "{ok}username = \"u\"\npassword_env = \"P\"\nstarttls = false\n"
        ));
        assert_eq!(key_of(&c), "delivery.email.starttls");
        let c = parse(&format!("{base}to = [\"not an address\"]\n"));
        assert_eq!(key_of(&c), "delivery.email.to[0]");
    }

    #[test]
    fn other_keys_are_checked() {
        assert_eq!(key_of(&parse("keep_days = 0\n")), "keep_days");
        assert_eq!(
            key_of(&parse("public_url = \"http://reports.example.com\"\n")),
            "public_url"
        );
        assert_eq!(
            key_of(&parse("[delivery]\nattempts = 0\n")),
            "delivery.attempts"
        );
        assert_eq!(
            key_of(&parse("admin_hub_url = \"ftp://admin.example.com\"\n")),
            "admin_hub_url"
        );
        assert_eq!(
            key_of(&parse("entra_admin_url = \"http://entra.example.com\"\n")),
            "entra_admin_url"
        );
        // Link bases are used as written: no credentials, fragment or hidden white space.
        for bad in [
            "https://u:pw@scimdrift.example.com",
            "https://scimdrift.example.com/#x",
            "https://scimdrift.example.com\\n",
        ] {
            assert_eq!(
                key_of(&parse(&format!("public_url = \"{bad}\"\n"))),
                "public_url",
                "{bad}"
            );
        }
        let c = parse("public_url = \"https://scimdrift.example.com/\"\n");
        let day = chrono::NaiveDate::from_ymd_opt(2026, 1, 2).unwrap();
        assert_eq!(
            c.link(day).unwrap(),
            "https://scimdrift.example.com/report/2026-01-02"
        );
    }

    #[test]
    fn webhook_url_comes_from_a_file_and_is_checked_without_echoing_it() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("hook");
        std::fs::write(&file, "http://hooks.example.com/T000/B000/XXXX\n").unwrap();
        let mut c = ReportConfig::default();
        c.delivery.webhook_url_file = Some(file.clone());
        let (k, m) = c.check_secrets().unwrap_err();
        assert_eq!(k, "delivery.webhook_url_file");
        assert!(!m.contains("XXXX"), "{m}");
        std::fs::write(&file, "https://hooks.example.com/T000/B000/XXXX\n").unwrap();
        let url = c.delivery.webhook_url().unwrap().unwrap();
        assert_eq!(url.expose(), "https://hooks.example.com/T000/B000/XXXX");
    }
}
