//! `[atlassian.directories.idp]`: the identity provider behind one SCIM directory (a contract:
//! tools outside this repo write these keys). Owned here; `DirectorySettings` embeds it.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Which IdP API to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IdpKind {
    /// Microsoft Entra ID through Microsoft Graph v1.0 (idp-api.md §1).
    Entra,
}

impl IdpKind {
    pub fn as_str(self) -> &'static str {
        match self {
            IdpKind::Entra => "entra",
        }
    }
}

/// Which users the job provisions (idp-api.md §1.2).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IdpScope {
    /// Only users assigned to the app (directly or as direct members of an assigned group).
    #[default]
    Assigned,
    /// Everyone matching the job's scoping filters: intent is not computed from assignments.
    All,
}

/// `[atlassian.directories.idp]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IdpSettings {
    pub kind: IdpKind,
    /// The Entra tenant (directory) id or a verified domain.
    #[serde(default)]
    pub tenant_id: String,
    /// The app registration scimdrift signs in as (its application/client id).
    #[serde(default)]
    pub client_id: String,
    /// The client secret, from an env var ...
    pub client_secret_env: Option<String>,
    /// ... or a file.
    pub client_secret_file: Option<PathBuf>,
    /// Certificate (PEM) whose thumbprint names the key of a client assertion (preferred over a
    /// secret), with `private_key_file` (PEM, PKCS#8 or PKCS#1 RSA).
    pub certificate_file: Option<PathBuf>,
    pub private_key_file: Option<PathBuf>,
    /// The Atlassian Cloud enterprise app's service principal object id ...
    pub service_principal_id: Option<String>,
    /// ... or its application (client) id, looked up by `$filter=appId eq '…'`.
    pub app_id: Option<String>,
    /// The provisioning job, when the service principal has several.
    pub job_id: Option<String>,
    #[serde(default)]
    pub scope: IdpScope,
    /// Days of provisioning logs read on the first pull (Entra keeps 30, 7 without premium).
    #[serde(default = "default_lookback")]
    pub log_lookback_days: u32,
    #[serde(default = "default_graph")]
    pub graph_base_url: String,
    #[serde(default = "default_login")]
    pub login_base_url: String,
}

fn default_lookback() -> u32 {
    7
}

fn default_graph() -> String {
    "https://graph.microsoft.com/v1.0".into()
}

fn default_login() -> String {
    "https://login.microsoftonline.com".into()
}

impl IdpSettings {
    /// Checks the section; the error is (key within the section, message). Fills in the default
    /// secret variable (`SCIMDRIFT_ENTRA_SECRET`) when no credential is named, so the effective
    /// configuration shows where it comes from.
    pub fn validate(&mut self) -> Result<(), (String, String)> {
        let err = |k: &str, m: String| (k.to_string(), m);
        crate::section::check_url(&self.graph_base_url).map_err(|m| err("graph_base_url", m))?;
        crate::section::check_url(&self.login_base_url).map_err(|m| err("login_base_url", m))?;
        let id_like = |s: &str| {
            !s.trim().is_empty()
                && s.len() <= 256
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
        };
        if !id_like(&self.tenant_id) {
            return Err(err(
                "tenant_id",
                "required: the Entra tenant id (a GUID) or its verified domain".into(),
            ));
        }
        if !id_like(&self.client_id) {
            return Err(err(
                "client_id",
                "required: the application (client) id of scimdrift's app registration".into(),
            ));
        }
        let secret = self.client_secret_env.is_some() || self.client_secret_file.is_some();
        let cert = self.certificate_file.is_some() || self.private_key_file.is_some();
        if self.client_secret_env.is_some() && self.client_secret_file.is_some() {
            return Err(err(
                "client_secret_env",
                "set either client_secret_env or client_secret_file, not both".into(),
            ));
        }
        if secret && cert {
            return Err(err(
                "certificate_file",
                "set either a client secret (client_secret_env / client_secret_file) or a certificate (certificate_file + private_key_file), not both".into(),
            ));
        }
        if cert && (self.certificate_file.is_none() || self.private_key_file.is_none()) {
            let missing = if self.certificate_file.is_none() {
                "certificate_file"
            } else {
                "private_key_file"
            };
            return Err(err(
                missing,
                "a certificate credential needs both certificate_file and private_key_file".into(),
            ));
        }
        match (&self.service_principal_id, &self.app_id) {
            (Some(_), Some(_)) => {
                return Err(err(
                    "service_principal_id",
                    "set either service_principal_id or app_id, not both".into(),
                ));
            }
            (Some(s), None) if !id_like(s) => {
                return Err(err(
                    "service_principal_id",
                    "expected the enterprise app's object id (a GUID)".into(),
                ));
            }
            (None, Some(s)) if !id_like(s) => {
                return Err(err(
                    "app_id",
                    "expected the enterprise app's application id (a GUID)".into(),
                ));
            }
            _ => {}
        }
        if let Some(j) = &self.job_id
            && !id_like(j)
        {
            return Err(err("job_id", "expected a provisioning job id".into()));
        }
        crate::section::check_count(u64::from(self.log_lookback_days), 1, 30)
            .map_err(|m| err("log_lookback_days", m))?;
        if !secret && !cert {
            self.client_secret_env = Some("SCIMDRIFT_ENTRA_SECRET".into());
        }
        Ok(())
    }

    /// The token scope: the Graph base URL's origin + `/.default` (idp-api.md §1.1), so national
    /// clouds and test hosts get their own.
    pub fn token_scope(&self) -> String {
        match url::Url::parse(&self.graph_base_url) {
            Ok(u) => format!("{}/.default", u.origin().ascii_serialization()),
            Err(_) => "https://graph.microsoft.com/.default".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entra() -> IdpSettings {
        toml::from_str(
            r#"kind = "entra"
tenant_id = "contoso.onmicrosoft.com"
client_id = "11111111-2222-3333-4444-555555555555"
service_principal_id = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee""#,
        )
        .unwrap()
    }

    #[test]
    fn defaults_and_scope() {
        let mut s = entra();
        s.validate().unwrap();
        assert_eq!(
            s.client_secret_env.as_deref(),
            Some("SCIMDRIFT_ENTRA_SECRET")
        );
        assert_eq!(s.scope, IdpScope::Assigned);
        assert_eq!(s.log_lookback_days, 7);
        assert_eq!(s.token_scope(), "https://graph.microsoft.com/.default");
        s.graph_base_url = "http://127.0.0.1:8080/graph/v1.0".into();
        assert_eq!(s.token_scope(), "http://127.0.0.1:8080/.default");
    }

    #[test]
    fn refuses_what_cannot_work() {
        type Change = fn(&mut IdpSettings);
        let cases: Vec<(Change, &str)> = vec![
            (|s| s.tenant_id.clear(), "tenant_id"),
            (|s| s.client_id = "a b".into(), "client_id"),
            (|s| s.app_id = Some("x".into()), "service_principal_id"),
            (
                |s| {
                    s.client_secret_env = Some("A".into());
                    s.certificate_file = Some("c.pem".into());
                },
                "certificate_file",
            ),
            (
                |s| s.certificate_file = Some("c.pem".into()),
                "private_key_file",
            ),
            (|s| s.log_lookback_days = 0, "log_lookback_days"),
            (|s| s.log_lookback_days = 31, "log_lookback_days"),
            (
                |s| s.graph_base_url = "http://graph.example.com/v1.0".into(),
                "graph_base_url",
            ),
            (|s| s.login_base_url = "ftp://x".into(), "login_base_url"),
        ];
        for (change, key) in cases {
            let mut s = entra();
            change(&mut s);
            assert_eq!(s.validate().unwrap_err().0, key);
        }
    }
}
