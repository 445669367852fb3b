//! Org accounts through the Organizations API v2 (org API key): search (POST) or list (GET).

use serde_json::Value;
use serde_json::value::RawValue;

use super::paging::{CursorRequest, CursorSource, PageSink, Paged, cursor_list};
use super::settings::AccountsEndpoint;
use crate::fields::{Fields, Parsed};
use crate::http::HttpLayer;
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

/// Parses one account field by field (atlassian-api.md §2): `email` may be absent; unknown enum
/// values are kept as-is (and noted); a missing or unreadable status is stored as `unknown` (and so
/// never counts as active); a field of another type is left unknown and noted. Errors: the item is
/// not an object or has no usable `accountId`.
pub fn parse_account(raw: &RawValue) -> Result<Parsed<Account>, String> {
    let v: Value = serde_json::from_str(raw.get()).map_err(|_| "not valid JSON".to_string())?;
    let mut notes = Vec::new();
    let mut f = Fields::new(&v, &mut notes).map_err(|e| format!("not an account: {e}"))?;
    let id = f.id("accountId")?;
    let account_type = f.enumerated("accountType", &["atlassian", "app", "customer"]);
    // The two statuses decide access: absent is unknown and noted like an unreadable value.
    let status = |f: &mut Fields<'_>, key: &str, allowed: &[&str]| {
        if f.get(key).is_none() {
            f.note(key, "absent".into());
        }
        f.enumerated(key, allowed)
            .unwrap_or_else(|| "unknown".into())
    };
    let account_status = status(&mut f, "accountStatus", &["active", "inactive", "closed"]);
    let membership_status = status(
        &mut f,
        "membershipStatus",
        &["active", "suspended", "no_membership"],
    );
    let mut item = Account {
        account_id: id.clone(),
        account_type,
        account_status,
        membership_status,
        status: f.string("status"),
        claim_status: f.string("claimStatus"),
        management_source: f.string("managementSource"),
        email: f
            .string("email")
            .map(|e| e.trim().to_string())
            .filter(|e| !e.is_empty()),
        name: f.string("name"),
        added_to_org: f.time("addedToOrg"),
        deactivated_on: f.time("deactivatedOn"),
        unknown: Vec::new(),
    };
    item.unknown = f.unknown();
    Ok(Parsed { id, item, notes })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(s: &str) -> Box<RawValue> {
        RawValue::from_string(s.to_string()).unwrap()
    }

    #[test]
    fn account_with_access() {
        let p = parse_account(&raw(r#"{"accountId":"602bdf457b23f40068547c25","accountStatus":"active",
            "membershipStatus":"active","claimStatus":"managed","email":"ana@example.com","name":"Ana Ito"}"#))
        .unwrap();
        assert!(p.notes.is_empty());
        let (id, a) = (p.id, p.item);
        assert_eq!(id, "602bdf457b23f40068547c25");
        assert!(a.has_access());
        assert_eq!(a.claim_status.as_deref(), Some("managed"));
    }

    #[test]
    fn lenient_account() {
        let p = parse_account(&raw(
            r#"{"accountId":"x","accountStatus":"frozen","membershipStatus":"active"}"#,
        ))
        .unwrap();
        assert_eq!(p.notes[0].field, "accountStatus");
        let a = p.item;
        assert_eq!(a.account_status, "frozen");
        assert!(!a.has_access(), "unknown enum values are not active");
        assert_eq!(a.email, None);
        let a = parse_account(&raw(r#"{"accountId":"y"}"#)).unwrap().item;
        assert!(!a.has_access());
        assert!(parse_account(&raw(r#"{"email":"x@example.com"}"#)).is_err());
        let p = parse_account(&raw(
            r#"{"accountId":"z","accountStatus":true,"email":["x"],"accountType":"app"}"#,
        ))
        .unwrap();
        assert_eq!(p.item.account_status, "unknown");
        assert_eq!(p.item.email, None);
        assert!(!p.item.is_person());
        // accountStatus (a boolean), membershipStatus (absent) and email (an array).
        let fields: Vec<&str> = p.notes.iter().map(|n| n.field.as_str()).collect();
        assert_eq!(fields, ["accountStatus", "membershipStatus", "email"]);
        assert_eq!(p.item.unknown, fields, "what the notes name is unknown");
    }

    /// The statuses decide access: absent is unknown and noted, like an unexpected value.
    #[test]
    fn absent_statuses_are_unknown_and_noted() {
        let p = parse_account(&raw(r#"{"accountId":"y","membershipStatus":"active"}"#)).unwrap();
        assert_eq!(p.item.unknown, ["accountStatus"]);
        assert_eq!(p.notes[0].problem, "absent");
        assert!(!p.item.has_access() && !p.item.lacks_access());
        let p = parse_account(&raw(
            r#"{"accountId":"y","accountStatus":"active","membershipStatus":"active"}"#,
        ))
        .unwrap();
        assert!(p.item.unknown.is_empty() && p.notes.is_empty());
    }
}
