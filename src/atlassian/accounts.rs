//! Org accounts through the Organizations API v2 (org API key): search (POST) or list (GET).

use serde::Deserialize;
use serde_json::value::RawValue;

use super::http::HttpLayer;
use super::paging::{CursorRequest, CursorSource, PageSink, Paged, cursor_list};
use crate::config::AccountsEndpoint;
use crate::model::Account;
use crate::secret::Secret;

/// Source name of the accounts in snapshots and errors.
pub const ORIGIN: &str = "accounts";

/// Reads the org's accounts.
pub struct AccountsClient<'a> {
    pub http: &'a HttpLayer,
    pub org_id: &'a str,
    pub key: &'a Secret,
    pub endpoint: AccountsEndpoint,
    pub page_size: usize,
}

impl AccountsClient<'_> {
    /// Every account of every user directory the key can manage (`directories/-`), page by page.
    pub async fn accounts(&self, sink: &impl PageSink<Account>) -> Paged {
        let base = format!("/admin/v2/orgs/{}/directories/-/users", self.org_id);
        let (path, style) = match self.endpoint {
            AccountsEndpoint::Search => (format!("{base}/search"), CursorRequest::PostBody),
            AccountsEndpoint::List => (base, CursorRequest::GetQuery),
        };
        let source = CursorSource {
            origin: ORIGIN,
            path,
            style,
            limit: self.page_size,
        };
        cursor_list(self.http, self.key, &source, parse_account, sink).await
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AccountJson {
    account_id: String,
    account_type: Option<String>,
    account_status: Option<String>,
    membership_status: Option<String>,
    status: Option<String>,
    claim_status: Option<String>,
    management_source: Option<String>,
    email: Option<String>,
    name: Option<String>,
    added_to_org: Option<String>,
    deactivated_on: Option<String>,
}

/// Parses one account leniently: `email` may be absent; unknown enum values are kept as-is;
/// a missing status is stored as `unknown` (and so never counts as active).
pub fn parse_account(raw: &RawValue) -> Result<(String, Account), String> {
    let a: AccountJson =
        serde_json::from_str(raw.get()).map_err(|e| format!("not an account: {e}"))?;
    if a.account_id.trim().is_empty() {
        return Err("account with an empty accountId".into());
    }
    let account = Account {
        account_id: a.account_id.clone(),
        account_type: a.account_type,
        account_status: a.account_status.unwrap_or_else(|| "unknown".into()),
        membership_status: a.membership_status.unwrap_or_else(|| "unknown".into()),
        status: a.status,
        claim_status: a.claim_status,
        management_source: a.management_source,
        email: a
            .email
            .map(|e| e.trim().to_string())
            .filter(|e| !e.is_empty()),
        name: a.name,
        added_to_org: a.added_to_org,
        deactivated_on: a.deactivated_on,
    };
    Ok((a.account_id, account))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(s: &str) -> Box<RawValue> {
        RawValue::from_string(s.to_string()).unwrap()
    }

    #[test]
    fn account_with_access() {
        let (id, a) = parse_account(&raw(r#"{"accountId":"602bdf457b23f40068547c25","accountStatus":"active",
            "membershipStatus":"active","claimStatus":"managed","email":"ana@example.com","name":"Ana Ito"}"#))
        .unwrap();
        assert_eq!(id, "602bdf457b23f40068547c25");
        assert!(a.has_access());
        assert_eq!(a.claim_status.as_deref(), Some("managed"));
    }

    #[test]
    fn lenient_account() {
        let (_, a) = parse_account(&raw(
            r#"{"accountId":"x","accountStatus":"frozen","membershipStatus":"active"}"#,
        ))
        .unwrap();
        assert_eq!(a.account_status, "frozen");
        assert!(!a.has_access(), "unknown enum values are not active");
        assert_eq!(a.email, None);
        let (_, a) = parse_account(&raw(r#"{"accountId":"y"}"#)).unwrap();
        assert!(!a.has_access());
        assert!(parse_account(&raw(r#"{"email":"x@example.com"}"#)).is_err());
    }
}
