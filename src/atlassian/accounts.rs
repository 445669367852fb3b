//! Org accounts through the Organizations API v2 (org API key): search (POST) or list (GET).

use serde_json::Value;
use serde_json::value::RawValue;

use super::paging::{CursorRequest, CursorSource, PageSink, Paged, cursor_list};
use super::settings::AccountsEndpoint;
use crate::fields::{Fields, Obj, Parsed};
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
///
/// An account every field of which has its expected type and value is read in one typed pass
/// ([`strict_account`]); any other goes field by field ([`lenient_account`]). Both give the same
/// for the first kind (a property test says so), but for a field scimdrift never reads holding
/// JSON the field-by-field pass cannot hold (see [`super::scim::parse_user`]).
pub fn parse_account(raw: &RawValue) -> Result<Parsed<Account>, String> {
    match strict_account(raw) {
        Some(parsed) => Ok(parsed),
        None => lenient_account(raw),
    }
}

const ACCOUNT_TYPES: &[&str] = &["atlassian", "app", "customer"];
const ACCOUNT_STATUSES: &[&str] = &["active", "inactive", "closed"];
const MEMBERSHIP_STATUSES: &[&str] = &["active", "suspended", "no_membership"];

/// An account as the contract sends it, every field of its expected type (unknown fields
/// skipped): what [`strict_account`] reads.
#[derive(serde::Deserialize)]
struct StrictAccount {
    #[serde(rename = "accountId")]
    account_id: String,
    #[serde(rename = "accountType")]
    account_type: Option<String>,
    #[serde(rename = "accountStatus")]
    account_status: String,
    #[serde(rename = "membershipStatus")]
    membership_status: String,
    status: Option<String>,
    #[serde(rename = "claimStatus")]
    claim_status: Option<String>,
    #[serde(rename = "managementSource")]
    management_source: Option<String>,
    email: Option<String>,
    name: Option<String>,
    #[serde(rename = "addedToOrg")]
    added_to_org: Option<String>,
    #[serde(rename = "deactivatedOn")]
    deactivated_on: Option<String>,
}

/// The typed pass of [`parse_account`]: `None` when any field is not of its expected type or an
/// enumerated one has another value (a status absent or unknown, a time that is none, a blank
/// `accountId`, a key twice, …): [`lenient_account`] then reads it and notes what it cannot.
fn strict_account(raw: &RawValue) -> Option<Parsed<Account>> {
    let Obj(a) = serde_json::from_str::<Obj<StrictAccount>>(raw.get()).ok()?;
    let odd = a.account_id.trim().is_empty()
        || a.account_type
            .as_deref()
            .is_some_and(|t| !ACCOUNT_TYPES.contains(&t))
        || !ACCOUNT_STATUSES.contains(&a.account_status.as_str())
        || !MEMBERSHIP_STATUSES.contains(&a.membership_status.as_str())
        || [&a.added_to_org, &a.deactivated_on]
            .into_iter()
            .flatten()
            .any(|t| !crate::fields::is_time(t));
    if odd {
        return None;
    }
    let item = Account {
        account_id: a.account_id.clone(),
        account_type: a.account_type,
        account_status: a.account_status,
        membership_status: a.membership_status,
        status: a.status,
        claim_status: a.claim_status,
        management_source: a.management_source,
        email: a.email.and_then(trimmed_email),
        name: a.name,
        added_to_org: a.added_to_org,
        deactivated_on: a.deactivated_on,
        unknown: Vec::new(),
    };
    Some(Parsed {
        id: a.account_id,
        item,
        notes: Vec::new(),
    })
}

/// An account's email, trimmed; blank is none.
fn trimmed_email(e: String) -> Option<String> {
    Some(e.trim().to_string()).filter(|e| !e.is_empty())
}

/// The field-by-field pass of [`parse_account`].
fn lenient_account(raw: &RawValue) -> Result<Parsed<Account>, String> {
    let v: Value = serde_json::from_str(raw.get()).map_err(|_| "not valid JSON".to_string())?;
    let mut notes = Vec::new();
    let mut f = Fields::new(&v, &mut notes).map_err(|e| format!("not an account: {e}"))?;
    let id = f.id("accountId")?;
    let account_type = f.enumerated("accountType", ACCOUNT_TYPES);
    // The two statuses decide access: absent is unknown and noted like an unreadable value.
    let status = |f: &mut Fields<'_>, key: &str, allowed: &[&str]| {
        if f.get(key).is_none() {
            f.note(key, "absent".into());
        }
        f.enumerated(key, allowed)
            .unwrap_or_else(|| "unknown".into())
    };
    let account_status = status(&mut f, "accountStatus", ACCOUNT_STATUSES);
    let membership_status = status(&mut f, "membershipStatus", MEMBERSHIP_STATUSES);
    let mut item = Account {
        account_id: id.clone(),
        account_type,
        account_status,
        membership_status,
        status: f.string("status"),
        claim_status: f.string("claimStatus"),
        management_source: f.string("managementSource"),
        email: f.string("email").and_then(trimmed_email),
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

    /// The typed pass and the field-by-field one of `parse_account` (issue 24).
    mod typed {
        use super::super::{lenient_account, strict_account};
        use crate::fields::typed_check::{agrees, field, object_text, text, time};
        use proptest::prelude::*;
        use serde_json::value::RawValue;
        use serde_json::{Value, json};

        fn one_of(good: &[&str]) -> BoxedStrategy<Option<Value>> {
            field(
                good.iter().map(|g| json!(g)).collect(),
                vec![json!("frozen"), json!(null), json!(1), json!("ACTIVE")],
            )
        }

        fn account() -> impl Strategy<Value = String> {
            let id = field(
                vec![json!("602bdf457b23f40068547c25"), json!(" x ")],
                vec![json!(""), json!(7), json!(null)],
            );
            (
                (
                    id,
                    one_of(&["atlassian", "app", "customer"]),
                    one_of(&["active", "inactive", "closed"]),
                    one_of(&["active", "suspended", "no_membership"]),
                ),
                (text(), text(), text(), text(), text()),
                (time(), time()),
                proptest::option::weighted(
                    0.1,
                    proptest::sample::select(vec!["accountId", "accountStatus", "email"]),
                ),
            )
                .prop_map(
                    |(
                        (id, ty, st, ms),
                        (status, claim, source, email, name),
                        (added, deactivated),
                        twice,
                    )| {
                        object_text(
                            [
                                ("accountId", id),
                                ("accountType", ty),
                                ("accountStatus", st),
                                ("membershipStatus", ms),
                                ("status", status),
                                ("claimStatus", claim),
                                ("managementSource", source),
                                ("email", email),
                                ("name", name),
                                ("addedToOrg", added),
                                ("deactivatedOn", deactivated),
                            ],
                            twice.map(|key| (key, "\"active\"".to_string())),
                        )
                    },
                )
        }

        /// Whatever arrives, an account the typed pass reads is read the same field by field,
        /// without a note; what it refuses is left to the field-by-field pass.
        #[test]
        fn the_typed_pass_agrees_with_the_field_by_field_one() {
            agrees(account(), strict_account, lenient_account, |_, _| false);
        }

        #[test]
        fn an_account_as_the_contract_sends_it_is_read_in_the_typed_pass() {
            let r = RawValue::from_string(
                r#"{"accountId":"602bdf457b23f40068547c25","accountType":"atlassian","accountStatus":"active",
                "membershipStatus":"active","status":"active","claimStatus":"managed","managementSource":"synced",
                "email":"ana@example.com","name":"Ana Ito","nickname":"ana","addedToOrg":"2024-01-01T00:00:00Z",
                "deactivatedOn":null,"forDeletion":false}"#
                    .to_string(),
            )
            .unwrap();
            let typed = strict_account(&r).expect("read in the typed pass");
            assert_eq!(Ok(typed), lenient_account(&r));
            let odd = RawValue::from_string(r.get().replace(
                "\"accountStatus\":\"active\"",
                "\"accountStatus\":\"frozen\"",
            ))
            .unwrap();
            assert!(strict_account(&odd).is_none());
            assert_eq!(lenient_account(&odd).unwrap().item.account_status, "frozen");
        }
    }
}
