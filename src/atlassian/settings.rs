//! `[atlassian]`: where the APIs are, which keys to use, and the HTTP layer's settings. Owned here,
//! gathered by `config`.

use std::path::PathBuf;

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

/// `[atlassian]`: where the APIs are and which keys to use.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AtlassianSettings {
    #[serde(default = "default_base_url")]
    pub base_url: String,
    #[serde(default)]
    pub org_id: String,
    pub org_api_key_env: Option<String>,
    pub org_api_key_file: Option<PathBuf>,
    #[serde(default)]
    pub accounts_endpoint: AccountsEndpoint,
    #[serde(default)]
    pub directories: Vec<DirectorySettings>,
    #[serde(default)]
    pub http: crate::http::HttpSettings,
}

/// Which Organizations API v2 call lists the accounts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccountsEndpoint {
    /// `POST …/directories/-/users/search`
    #[default]
    Search,
    /// `GET …/directories/-/users`
    List,
}

/// `[[atlassian.directories]]`: one SCIM directory.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DirectorySettings {
    #[serde(default)]
    pub id: String,
    /// Label used in metrics and reports.
    #[serde(default)]
    pub name: String,
    pub token_env: Option<String>,
    pub token_file: Option<PathBuf>,
    /// `[atlassian.directories.idp]`: the IdP provisioning this directory, read as a third source.
    #[serde(default)]
    pub idp: Option<crate::idp::IdpSettings>,
}

fn default_base_url() -> String {
    "https://api.atlassian.com".to_string()
}

impl AtlassianSettings {
    /// Checks the section (`base_url` by [`crate::section::check_url`], the org, the directories,
    /// the HTTP layer's ranges) and fills in the default key variables, so the effective
    /// configuration shows where each key comes from. The error is (key within the section,
    /// message).
    pub fn validate(&mut self) -> Result<(), (String, String)> {
        fn err(key: impl Into<String>, message: impl Into<String>) -> (String, String) {
            (key.into(), message.into())
        }
        let a = &*self;
        crate::section::check_url(&a.base_url).map_err(|m| err("base_url", m))?;
        if a.org_id.trim().is_empty() {
            return Err(err(
                "org_id",
                "required: the organization id from admin hub",
            ));
        }
        if a.org_api_key_env.is_some() && a.org_api_key_file.is_some() {
            return Err(err(
                "org_api_key_env",
                "set either org_api_key_env or org_api_key_file, not both",
            ));
        }
        if a.directories.is_empty() {
            return Err(err(
                "directories",
                "expected at least one [[atlassian.directories]] entry with id and name",
            ));
        }
        let mut ids = HashSet::new();
        let mut names = HashSet::new();
        for (i, d) in a.directories.iter().enumerate() {
            let key = |k: &str| format!("directories[{i}].{k}");
            if d.id.trim().is_empty() {
                return Err(err(key("id"), "required: the SCIM directory id"));
            }
            if d.name.is_empty()
                || !d
                    .name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
            {
                return Err(err(
                    key("name"),
                    format!(
                        "expected a short label of lower-case letters, digits, `_` or `-` (got {:?})",
                        d.name
                    ),
                ));
            }
            if !ids.insert(d.id.clone()) {
                return Err(err(
                    key("id"),
                    format!("directory id {:?} is listed twice", d.id),
                ));
            }
            if !names.insert(d.name.clone()) {
                return Err(err(
                    key("name"),
                    format!("directory name {:?} is used twice", d.name),
                ));
            }
            if d.token_env.is_some() && d.token_file.is_some() {
                return Err(err(
                    key("token_env"),
                    "set either token_env or token_file, not both",
                ));
            }
        }
        a.http
            .validate()
            .map_err(|(k, m)| err(format!("http.{k}"), m))?;
        // Defaults for the secret references, so the effective config shows where keys come from.
        if self.org_api_key_file.is_none() && self.org_api_key_env.is_none() {
            self.org_api_key_env = Some("SCIMDRIFT_ORG_API_KEY".into());
        }
        for (i, d) in self.directories.iter_mut().enumerate() {
            if let Some(idp) = &mut d.idp {
                idp.validate()
                    .map_err(|(k, m)| err(format!("directories[{i}].idp.{k}"), m))?;
            }
            if d.token_env.is_none() && d.token_file.is_none() {
                d.token_env = Some(format!(
                    "SCIMDRIFT_DIR_{}",
                    d.name.to_uppercase().replace('-', "_")
                ));
            }
        }
        Ok(())
    }
}
