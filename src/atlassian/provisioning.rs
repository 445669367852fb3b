//! Read-only look-ups of the user provisioning admin API (org API key, not the directory key).

use reqwest::Method;
use serde::{Deserialize, Serialize};

use crate::http::error::ApiError;
use crate::http::{Api, Call, HttpLayer};
use crate::secret::Secret;

const ORIGIN: &str = "provisioning";

/// One SCIM link as the provisioning API reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScimLink {
    pub scim_user_id: String,
    pub atlassian_account_id: Option<String>,
    pub org_id: Option<String>,
    pub directory_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LinksJson {
    scim_links: Vec<ScimLink>,
}

/// The provisioning admin API of one org.
pub struct ProvisioningClient<'a> {
    pub http: &'a HttpLayer,
    pub org_id: &'a str,
    pub key: &'a Secret,
}

impl ProvisioningClient<'_> {
    fn base(&self) -> String {
        format!("/admin/user-provisioning/v1/org/{}", self.org_id)
    }

    /// SCIM links of an account (`GET /user/{accountId}/get-scim-links`).
    pub async fn scim_links(&self, account_id: &str) -> Result<Vec<ScimLink>, ApiError> {
        let path = format!("{}/user/{account_id}/get-scim-links", self.base());
        self.links(Method::GET, path, None, format!("account {account_id}"))
            .await
    }

    /// SCIM links of an email (`POST /get-scim-links-for-email`).
    pub async fn scim_links_for_email(&self, email: &str) -> Result<Vec<ScimLink>, ApiError> {
        let path = format!("{}/get-scim-links-for-email", self.base());
        let body = serde_json::json!({ "email": email });
        self.links(Method::POST, path, Some(body), "email look-up".into())
            .await
    }

    async fn links(
        &self,
        method: Method,
        path: String,
        json: Option<serde_json::Value>,
        page: String,
    ) -> Result<Vec<ScimLink>, ApiError> {
        let call = Call {
            api: Api::Provisioning,
            method,
            path,
            query: Vec::new(),
            json,
            url: None,
            form: None,
            headers: Vec::new(),
            key: self.key,
            bearer: true,
            origin: ORIGIN,
            page: page.clone(),
            not_found_ok: true,
        };
        let Some(reply) = self.http.send(&call).await? else {
            return Ok(Vec::new());
        };
        if reply.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Vec::new());
        }
        let parsed: LinksJson = serde_json::from_slice(&reply.body).map_err(|e| {
            ApiError::malformed(ORIGIN, &page, format!("invalid scimLinks reply: {e}"))
        })?;
        Ok(parsed.scim_links)
    }
}
