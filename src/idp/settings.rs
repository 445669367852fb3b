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
    /// Okta through its Management API v1 (idp-api.md §2).
    Okta,
}

impl IdpKind {
    pub fn as_str(self) -> &'static str {
        match self {
            IdpKind::Entra => "entra",
            IdpKind::Okta => "okta",
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

/// `[atlassian.directories.idp]`. Entra reads `tenant_id`, a client secret or certificate, the
/// service principal and the Graph/login base URLs; Okta reads `domain` (or `base_url`), `app_id`,
/// and a service app's `private_key_file` (+ `key_id`) or an SSWS API token. `client_id`, `scope`
/// and `log_lookback_days` are both kinds'.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IdpSettings {
    pub kind: IdpKind,
    /// The Entra tenant (directory) id or a verified domain.
    #[serde(default)]
    pub tenant_id: String,
    /// Entra: the app registration scimdrift signs in as (its application/client id). Okta: the
    /// OAuth service app's client id (`0oa…`), for `private_key_jwt`.
    #[serde(default)]
    pub client_id: String,
    /// Okta: the org's domain (`acme.okta.com`): the API and token endpoint are at
    /// `https://{domain}`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub domain: String,
    /// Okta: overrides `https://{domain}` for the API and the token endpoint (plain http only to
    /// loopback).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// Okta: the `kid` of the service app's public key, sent in the client assertion's header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// Okta: an SSWS API token, from an env var ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_token_env: Option<String>,
    /// ... or a file (instead of `client_id` + `private_key_file`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_token_file: Option<PathBuf>,
    /// The client secret, from an env var ...
    pub client_secret_env: Option<String>,
    /// ... or a file.
    pub client_secret_file: Option<PathBuf>,
    /// Certificate (PEM) whose thumbprint names the key of a client assertion (preferred over a
    /// secret), with `private_key_file` (PEM, PKCS#8 or PKCS#1 RSA).
    pub certificate_file: Option<PathBuf>,
    /// Entra: the certificate's private key. Okta: the service app's private key (PKCS#8 PEM)
    /// signing the `private_key_jwt` client assertion.
    pub private_key_file: Option<PathBuf>,
    /// The Atlassian Cloud enterprise app's service principal object id ...
    pub service_principal_id: Option<String>,
    /// Entra: the app's application (client) id, looked up by `$filter=appId eq '…'`. Okta: the
    /// Atlassian Cloud app's id (`0oa…`), required.
    pub app_id: Option<String>,
    /// The provisioning job, when the service principal has several.
    pub job_id: Option<String>,
    #[serde(default)]
    pub scope: IdpScope,
    /// Days of provisioning logs read on the first pull (Entra keeps 30, 7 without premium; Okta
    /// keeps 90).
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
        match self.kind {
            IdpKind::Entra => self.validate_entra(),
            IdpKind::Okta => self.validate_okta(),
        }
    }

    fn validate_entra(&mut self) -> Result<(), (String, String)> {
        let err = |k: &str, m: String| (k.to_string(), m);
        for (key, set) in [
            ("domain", !self.domain.is_empty()),
            ("base_url", self.base_url.is_some()),
            ("key_id", self.key_id.is_some()),
            ("api_token_env", self.api_token_env.is_some()),
            ("api_token_file", self.api_token_file.is_some()),
        ] {
            if set {
                return Err(err(
                    key,
                    format!("{key} is an Okta key: not read with kind = \"entra\""),
                ));
            }
        }
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

    /// The Okta section (idp-api.md §2.1): `domain` (or `base_url`), `app_id`, and either
    /// `client_id` + `private_key_file` (+ `key_id`) or one of `api_token_env`/`api_token_file`;
    /// none named defaults to `api_token_env = "SCIMDRIFT_OKTA_TOKEN"`.
    fn validate_okta(&mut self) -> Result<(), (String, String)> {
        let err = |k: &str, m: String| (k.to_string(), m);
        let entra_only = [
            ("tenant_id", !self.tenant_id.is_empty()),
            ("client_secret_env", self.client_secret_env.is_some()),
            ("client_secret_file", self.client_secret_file.is_some()),
            ("certificate_file", self.certificate_file.is_some()),
            ("service_principal_id", self.service_principal_id.is_some()),
            ("job_id", self.job_id.is_some()),
            ("graph_base_url", self.graph_base_url != default_graph()),
            ("login_base_url", self.login_base_url != default_login()),
        ];
        for (key, set) in entra_only {
            if set {
                let hint = match key {
                    "client_secret_env" | "client_secret_file" => {
                        ": Okta refuses a client secret for its API; use client_id + private_key_file, or api_token_env"
                    }
                    "graph_base_url" | "login_base_url" => ": Okta reads base_url",
                    "tenant_id" => ": Okta reads domain",
                    _ => "",
                };
                return Err(err(
                    key,
                    format!("{key} is an Entra key: not read with kind = \"okta\"{hint}"),
                ));
            }
        }
        let domain = self.domain.trim();
        let domain_ok = !domain.is_empty()
            && domain.len() <= 253
            && domain
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.'))
            && !domain.starts_with(['.', '-'])
            && !domain.ends_with(['.', '-']);
        match &self.base_url {
            Some(u) => {
                crate::section::check_url(u).map_err(|m| err("base_url", m))?;
            }
            None if !domain_ok => {
                return Err(err(
                    "domain",
                    "required: the Okta org's domain (acme.okta.com, or a custom domain), without https://".into(),
                ));
            }
            None => {}
        }
        if !domain.is_empty() && !domain_ok {
            return Err(err(
                "domain",
                "expected a host name (acme.okta.com), without https:// or a path".into(),
            ));
        }
        let okta_id = |s: &str| {
            !s.trim().is_empty()
                && s.len() <= 64
                && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        };
        match &self.app_id {
            Some(a) if okta_id(a) => {}
            Some(_) => {
                return Err(err(
                    "app_id",
                    "expected the Atlassian Cloud app's id (0oa…, in the app's Admin Console URL)"
                        .into(),
                ));
            }
            None => {
                return Err(err(
                    "app_id",
                    "required: the Atlassian Cloud app's id (0oa…, in the app's Admin Console URL)"
                        .into(),
                ));
            }
        }
        let token = self.api_token_env.is_some() || self.api_token_file.is_some();
        let jwt = self.private_key_file.is_some() || self.key_id.is_some();
        if self.api_token_env.is_some() && self.api_token_file.is_some() {
            return Err(err(
                "api_token_env",
                "set either api_token_env or api_token_file, not both".into(),
            ));
        }
        if token && jwt {
            return Err(err(
                "private_key_file",
                "set either an API token (api_token_env / api_token_file) or a service app key (client_id + private_key_file), not both".into(),
            ));
        }
        if jwt && self.private_key_file.is_none() {
            return Err(err(
                "private_key_file",
                "key_id names the service app's key: private_key_file is required with it".into(),
            ));
        }
        if jwt && !okta_id(&self.client_id) {
            return Err(err(
                "client_id",
                "required with private_key_file: the OAuth service app's client id (0oa…)".into(),
            ));
        }
        if token && !self.client_id.is_empty() {
            return Err(err(
                "client_id",
                "client_id is the service app's, read only with private_key_file (an API token needs none)".into(),
            ));
        }
        if let Some(k) = &self.key_id
            && (k.trim().is_empty() || k.len() > 256 || k.chars().any(char::is_control))
        {
            return Err(err(
                "key_id",
                "expected the key's id (kid) as Okta shows it".into(),
            ));
        }
        crate::section::check_count(u64::from(self.log_lookback_days), 1, 90)
            .map_err(|m| err("log_lookback_days", m))?;
        if !token && !jwt {
            if !self.client_id.is_empty() {
                return Err(err(
                    "private_key_file",
                    "client_id names a service app: set private_key_file to its private key (PKCS#8 PEM)".into(),
                ));
            }
            self.api_token_env = Some("SCIMDRIFT_OKTA_TOKEN".into());
        }
        Ok(())
    }

    /// Okta: the base of the API and the token endpoint, `base_url` or `https://{domain}`, with no
    /// trailing slash.
    pub fn okta_base(&self) -> String {
        match &self.base_url {
            Some(u) => u.trim_end_matches('/').to_string(),
            None => format!("https://{}", self.domain.trim()),
        }
    }

    /// Okta: the token URL, also the client assertion's `aud` (idp-api.md §2.1).
    pub fn okta_token_url(&self) -> String {
        format!("{}/oauth2/v1/token", self.okta_base())
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

    fn okta() -> IdpSettings {
        toml::from_str(
            r#"kind = "okta"
domain = "acme.okta.com"
app_id = "0oa1atlassian"
client_id = "0oa2service"
private_key_file = "/etc/scimdrift/okta.pem"
key_id = "kid-1""#,
        )
        .unwrap()
    }

    #[test]
    fn okta_urls_and_the_default_token_variable() {
        let mut s = okta();
        s.validate().unwrap();
        assert_eq!(s.okta_base(), "https://acme.okta.com");
        assert_eq!(s.okta_token_url(), "https://acme.okta.com/oauth2/v1/token");
        s.base_url = Some("http://127.0.0.1:9/okta/o1/".into());
        assert_eq!(
            s.okta_token_url(),
            "http://127.0.0.1:9/okta/o1/oauth2/v1/token"
        );
        let mut t: IdpSettings =
            toml::from_str("kind = \"okta\"\ndomain = \"acme.okta.com\"\napp_id = \"0oa1\"")
                .unwrap();
        t.validate().unwrap();
        assert_eq!(t.api_token_env.as_deref(), Some("SCIMDRIFT_OKTA_TOKEN"));
        assert_eq!(t.log_lookback_days, 7);
        t.log_lookback_days = 90;
        t.validate().unwrap();
    }

    #[test]
    fn okta_refuses_what_cannot_work() {
        type Change = fn(&mut IdpSettings);
        let cases: Vec<(Change, &str)> = vec![
            (|s| s.domain = "https://acme.okta.com".into(), "domain"),
            (|s| s.domain.clear(), "domain"),
            (|s| s.app_id = None, "app_id"),
            (|s| s.app_id = Some("0oa/../x".into()), "app_id"),
            (|s| s.tenant_id = "contoso".into(), "tenant_id"),
            (
                |s| s.client_secret_env = Some("X".into()),
                "client_secret_env",
            ),
            (|s| s.api_token_env = Some("T".into()), "private_key_file"),
            (|s| s.client_id.clear(), "client_id"),
            (|s| s.private_key_file = None, "private_key_file"),
            (|s| s.log_lookback_days = 91, "log_lookback_days"),
            (
                |s| s.base_url = Some("http://okta.example.com".into()),
                "base_url",
            ),
            (
                |s| s.graph_base_url = "http://127.0.0.1:1/graph".into(),
                "graph_base_url",
            ),
            (
                |s| {
                    s.private_key_file = None;
                    s.key_id = None;
                    s.client_id.clear();
                    s.api_token_env = Some("A".into());
                    s.api_token_file = Some("t".into());
                },
                "api_token_env",
            ),
        ];
        for (change, key) in cases {
            let mut s = okta();
            change(&mut s);
            let (k, m) = s.validate().unwrap_err();
            assert_eq!(k, key, "{m}");
        }
        // An Okta key under Entra is named too.
        let mut e = entra();
        e.domain = "acme.okta.com".into();
        assert_eq!(e.validate().unwrap_err().0, "domain");
    }
}
