//! The remediation calls and the reads that re-check a target, all through the shared
//! [`HttpLayer`]. `lifecycle/delete` is never called.

use std::collections::HashMap;
use std::sync::Mutex;

use reqwest::Method;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::atlassian::Keys;
use crate::atlassian::accounts::AccountsClient;
use crate::atlassian::paging::{Item, PageSink};
use crate::atlassian::provisioning::{ProvisioningClient, ScimLink};
use crate::atlassian::settings::AtlassianSettings;
use crate::atlassian::{ApiError, ErrorKind, HttpLayer};
use crate::http::{Api, Call};
use crate::model::{Account, ScimRecord};
use crate::secret::Secret;

const ORIGIN: &str = "remediation";
/// The origin of the IdP calls of remediation, in errors.
const IDP_ORIGIN: &str = "remediation (IdP)";

/// The HTTP status an error stands for, when it is one.
pub fn status_of(e: &ApiError) -> Option<u16> {
    match e.kind {
        ErrorKind::Unauthorized => Some(401),
        ErrorKind::Forbidden => Some(403),
        ErrorKind::NotFound => Some(404),
        ErrorKind::Status(code) => Some(code),
        _ => None,
    }
}

/// A definite refusal: a 4xx with no earlier attempt of unknown outcome (only 429s, which were not
/// processed, may come before it), so the call did not take effect (not retried). A 4xx after a
/// 5xx or a timeout (e.g. a 404 to a repeated DELETE whose first reply was lost) leaves the outcome
/// unknown: the intent stays open and reconciliation reads the target's state.
pub fn is_refusal(e: &ApiError) -> bool {
    e.uncertain_retries == 0 && is_4xx(e)
}

/// The error is an HTTP 4xx.
pub fn is_4xx(e: &ApiError) -> bool {
    status_of(e).is_some_and(|s| (400..500).contains(&s))
}

/// The org's APIs as remediation uses them.
pub struct Remote<'a> {
    pub http: &'a HttpLayer,
    /// The `[atlassian]` section: org id, directories (for their keys), accounts endpoint.
    pub atlassian: &'a AtlassianSettings,
    /// `[remediation] org_directory_id`: the org user directory for suspend / restore.
    pub org_directory_id: Option<&'a str>,
    pub keys: &'a Keys,
    /// Where the IdP clients report their requests and retries (the metrics).
    pub events: Option<std::sync::Arc<dyn crate::http::HttpEvents>>,
}

#[derive(Deserialize)]
struct UserList {
    #[serde(rename = "totalResults", default)]
    total_results: Option<serde_json::Value>,
    #[serde(rename = "Resources", default)]
    resources: Vec<Box<RawValue>>,
}

/// One of the org's user directories (`GET /admin/v2/orgs/{orgId}/directories`, atlassian-api.md §2).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrgDirectory {
    pub directory_id: String,
    #[serde(default)]
    pub name: Option<String>,
}

impl OrgDirectory {
    /// `id ("name")`, escaped for a terminal.
    pub fn describe(&self) -> String {
        match &self.name {
            Some(n) => format!(
                "{} ({:?})",
                crate::escape::line(&self.directory_id),
                crate::escape::line(n)
            ),
            None => crate::escape::line(&self.directory_id).into_owned(),
        }
    }
}

/// The message for an org whose user directory for suspend / restore cannot be chosen: it names
/// the key to set and lists the directories.
pub fn ambiguous_directories(list: &[OrgDirectory]) -> String {
    let names: Vec<String> = list.iter().map(OrgDirectory::describe).collect();
    if list.is_empty() {
        "the org lists no user directory: suspend / restore cannot name one; set remediation.org_directory_id".into()
    } else {
        format!(
            "the org has {} user directories and remediation.org_directory_id is not set: set it to the one whose accounts scimdrift may suspend / restore: {}",
            list.len(),
            names.join(", ")
        )
    }
}

#[derive(Deserialize)]
struct OrgDirectories {
    #[serde(default)]
    data: Vec<OrgDirectory>,
}

/// Collects accounts into a map.
struct Collect(Mutex<HashMap<String, Account>>);

impl PageSink<Account> for Collect {
    async fn accept(&self, items: Vec<Item<Account>>) {
        if let Ok(mut m) = self.0.lock() {
            for (a, _) in items {
                m.insert(a.account_id.clone(), a);
            }
        }
    }
}

impl<'a> Remote<'a> {
    fn org(&self) -> &str {
        &self.atlassian.org_id
    }

    fn call(&self, api: Api, method: Method, path: String, page: String) -> Call<'_> {
        Call {
            api,
            method,
            path,
            query: Vec::new(),
            json: None,
            url: None,
            form: None,
            headers: Vec::new(),
            key: &self.keys.org,
            bearer: true,
            origin: ORIGIN,
            page,
            not_found_ok: false,
        }
    }

    async fn send(&self, call: &Call<'_>) -> Result<u16, ApiError> {
        Ok(self
            .http
            .send(call)
            .await?
            .map(|r| r.status.as_u16())
            .unwrap_or(404))
    }

    fn directory_key(&self, directory_id: &str) -> Result<&Secret, ApiError> {
        self.atlassian
            .directories
            .iter()
            .position(|d| d.id == directory_id)
            .and_then(|i| self.keys.directories.get(i))
            .ok_or_else(|| {
                ApiError::new(
                    ORIGIN,
                    directory_id,
                    ErrorKind::Status(0),
                    format!("SCIM directory {directory_id} is not configured"),
                )
            })
    }

    /// The org user directory for suspend / restore: `remediation.org_directory_id`, else the only
    /// one. With several (or none) and no key: an error that names the key and lists them
    /// ([`ambiguous_directories`]), [`ErrorKind::Ambiguous`].
    pub async fn org_directory(&self) -> Result<String, ApiError> {
        if let Some(id) = self.org_directory_id {
            return Ok(id.to_string());
        }
        match self.org_directories().await?.as_slice() {
            [one] => Ok(one.directory_id.clone()),
            list => Err(ApiError::new(
                ORIGIN,
                "org directories",
                ErrorKind::Ambiguous,
                ambiguous_directories(list),
            )),
        }
    }

    /// The org's user directories (`GET /admin/v2/orgs/{orgId}/directories`, one page).
    pub async fn org_directories(&self) -> Result<Vec<OrgDirectory>, ApiError> {
        let path = format!("/admin/v2/orgs/{}/directories", self.org());
        let call = self.call(Api::Accounts, Method::GET, path, "org directories".into());
        let reply = self.http.send(&call).await?;
        let body = reply.map(|r| r.body).unwrap_or_default();
        let parsed: OrgDirectories = serde_json::from_slice(&body).map_err(|e| {
            ApiError::malformed(
                ORIGIN,
                "org directories",
                format!(
                    "invalid reply: {}",
                    crate::atlassian::paging::json_error(&e)
                ),
            )
        })?;
        Ok(parsed.data)
    }

    /// Suspends (`restore = false`) or restores an account's access.
    pub async fn access(
        &self,
        directory: &str,
        account: &str,
        restore: bool,
    ) -> Result<u16, ApiError> {
        let verb = if restore { "restore" } else { "suspend" };
        let path = format!(
            "/admin/v2/orgs/{}/directories/{directory}/users/{account}/{verb}",
            self.org()
        );
        let call = self.call(
            Api::Accounts,
            Method::POST,
            path,
            format!("{verb} {account}"),
        );
        self.send(&call).await
    }

    /// Removes a SCIM record's link (the record stays).
    pub async fn unlink(&self, directory: &str, scim_id: &str) -> Result<u16, ApiError> {
        let path = format!(
            "/admin/user-provisioning/v1/org/{}/scimDirectoryId/{directory}/scimUserId/{scim_id}/unlink",
            self.org()
        );
        let call = self.call(
            Api::Provisioning,
            Method::PATCH,
            path,
            format!("unlink {scim_id}"),
        );
        self.send(&call).await
    }

    /// `DELETE` a SCIM record (directory key).
    pub async fn delete_scim_record(
        &self,
        directory: &str,
        scim_id: &str,
    ) -> Result<u16, ApiError> {
        let mut call = self.call(
            Api::Scim,
            Method::DELETE,
            format!("/scim/directory/{directory}/Users/{scim_id}"),
            format!("delete {scim_id}"),
        );
        call.key = self.directory_key(directory)?;
        self.send(&call).await
    }

    /// Deletes the account's SCIM records in every directory (`onlyDeleteUserInDB`).
    pub async fn delete_in_scim_db(&self, account: &str) -> Result<u16, ApiError> {
        let path = format!(
            "/admin/user-provisioning/v1/org/{}/user/{account}/onlyDeleteUserInDB",
            self.org()
        );
        let call = self.call(
            Api::Provisioning,
            Method::DELETE,
            path,
            format!("delete in SCIM DB {account}"),
        );
        self.send(&call).await
    }

    /// Moves the account to `email` (`PUT manage/email`).
    pub async fn move_email(&self, account: &str, email: &str) -> Result<u16, ApiError> {
        let mut call = self.call(
            Api::UserManagement,
            Method::PUT,
            format!("/users/{account}/manage/email"),
            format!("move email {account}"),
        );
        call.json = Some(serde_json::json!({ "email": email }));
        self.send(&call).await
    }

    /// One SCIM record as it is now; `None` once deleted.
    pub async fn scim_user(
        &self,
        directory: &str,
        scim_id: &str,
    ) -> Result<Option<ScimRecord>, ApiError> {
        let mut call = self.call(
            Api::Scim,
            Method::GET,
            format!("/scim/directory/{directory}/Users/{scim_id}"),
            format!("record {scim_id}"),
        );
        call.key = self.directory_key(directory)?;
        call.not_found_ok = true;
        let Some(reply) = self.http.send(&call).await? else {
            return Ok(None);
        };
        let raw: Box<RawValue> = serde_json::from_slice(&reply.body)
            .map_err(|e| ApiError::malformed(ORIGIN, &call.page, format!("invalid record: {e}")))?;
        crate::atlassian::scim::parse_user(directory, &raw)
            .map(|p| Some(p.item))
            .map_err(|e| ApiError::malformed(ORIGIN, &call.page, e))
    }

    /// The directory's SCIM records whose `externalId` is `external_id` (a filtered list: one
    /// page, at most a handful). An id that cannot be written in a filter is an error.
    pub async fn scim_users_by_external_id(
        &self,
        directory: &str,
        external_id: &str,
    ) -> Result<Vec<ScimRecord>, ApiError> {
        let page = format!("records with externalId {external_id}");
        if external_id.is_empty()
            || external_id.contains(['"', '\\'])
            || external_id.chars().any(char::is_control)
        {
            return Err(ApiError::malformed(
                ORIGIN,
                &page,
                "the externalId cannot be written in a SCIM filter",
            ));
        }
        let mut call = self.call(
            Api::Scim,
            Method::GET,
            format!("/scim/directory/{directory}/Users"),
            page.clone(),
        );
        call.key = self.directory_key(directory)?;
        call.query = vec![
            ("filter", format!("externalId eq \"{external_id}\"")),
            ("count", "100".into()),
        ];
        let body = self
            .http
            .send(&call)
            .await?
            .map(|r| r.body)
            .unwrap_or_default();
        let list: UserList = serde_json::from_slice(&body).map_err(|e| {
            ApiError::malformed(
                ORIGIN,
                &page,
                format!(
                    "invalid reply: {}",
                    crate::atlassian::paging::json_error(&e)
                ),
            )
        })?;
        let total = list
            .total_results
            .as_ref()
            .and_then(|t| t.as_u64().or_else(|| t.as_str()?.trim().parse().ok()));
        if total.is_some_and(|t| t > list.resources.len() as u64) {
            return Err(ApiError::malformed(
                ORIGIN,
                &page,
                format!(
                    "{} records match but {} were returned",
                    total.unwrap_or_default(),
                    list.resources.len()
                ),
            ));
        }
        list.resources
            .iter()
            .map(|raw| {
                crate::atlassian::scim::parse_user(directory, raw)
                    .map(|p| p.item)
                    .map_err(|e| ApiError::malformed(ORIGIN, &page, e))
            })
            // The filter is the server's: keep only exact matches.
            .filter(|r| {
                r.as_ref()
                    .map_or(true, |r| r.external_id.as_deref() == Some(external_id))
            })
            .collect()
    }

    /// A client of the Entra tenant provisioning `directory` (its `[atlassian.directories.idp]`
    /// and credentials). One per remediation run: the client's HTTP layer keeps the
    /// provision-on-demand window (5 requests / 10 s) for the whole run.
    pub fn entra_client(&self, directory: &str) -> Result<crate::idp::entra::Client<'a>, ApiError> {
        let settings: &'a AtlassianSettings = self.atlassian;
        let keys: &'a Keys = self.keys;
        let unknown = |why: String| ApiError::new(ORIGIN, directory, ErrorKind::Status(0), why);
        let i = settings
            .directories
            .iter()
            .position(|d| d.id == directory)
            .ok_or_else(|| unknown(format!("SCIM directory {directory} is not configured")))?;
        let d = &settings.directories[i];
        let (Some(idp), Some(Some(cred))) = (d.idp.as_ref(), keys.idp.get(i)) else {
            return Err(unknown(format!(
                "directory {} has no [atlassian.directories.idp] configured",
                d.name
            )));
        };
        let cred: &'a crate::idp::Credential = cred;
        match cred {
            crate::idp::Credential::Entra(c) => crate::idp::entra::Client::new(
                idp,
                c,
                &settings.http,
                IDP_ORIGIN,
                self.events.clone(),
            ),
            crate::idp::Credential::Okta(_) => Err(unknown(format!(
                "directory {} is provisioned by Okta, which has no call to push one user (idp-api.md §2.4): retry it in the Admin Console (Dashboard → Tasks)",
                d.name
            ))),
        }
    }

    /// The account's SCIM links, in every directory.
    pub async fn scim_links(&self, account: &str) -> Result<Vec<ScimLink>, ApiError> {
        ProvisioningClient {
            http: self.http,
            org_id: self.org(),
            key: &self.keys.org,
        }
        .scim_links(account)
        .await
    }

    /// Every account of the org as it is now (the accounts API has no single-account read).
    pub async fn accounts(&self) -> Result<HashMap<String, Account>, ApiError> {
        let h = &self.atlassian.http;
        let sink = Collect(Mutex::new(HashMap::new()));
        let paged = AccountsClient {
            http: self.http,
            org_id: self.org(),
            key: &self.keys.org,
            endpoint: self.atlassian.accounts_endpoint,
            page_size: h.accounts_page_size,
        }
        .accounts(&sink)
        .await;
        if let Some(e) = paged.error {
            return Err(e);
        }
        Ok(sink.0.into_inner().unwrap_or_default())
    }
}
