//! The normalized records a pull produces and the detectors read. The store keeps them beside the raw
//! JSON each came from; the raw JSON itself never stays in memory past the page it arrived in.

use serde::{Deserialize, Serialize};

/// One SCIM directory user, as the identity provider pushed it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScimRecord {
    /// The SCIM directory the record lives in.
    pub directory_id: String,
    /// The SCIM `id` (not the account id).
    pub scim_id: String,
    pub external_id: Option<String>,
    pub user_name: String,
    /// The primary email (see scenarios.md, "Email comparison"), as sent; compare with [`normalize_email`].
    pub email: Option<String>,
    pub display_name: Option<String>,
    /// `None` when the IdP did not send `active`: unknown, neither active nor inactive.
    pub active: Option<bool>,
    /// The linked Atlassian account, `None` when unlinked.
    pub account_id: Option<String>,
    /// Group ids from the record's own `groups` attribute.
    pub groups: Vec<String>,
    pub created: Option<String>,
    pub last_modified: Option<String>,
}

/// One SCIM group of a directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScimGroup {
    pub directory_id: String,
    pub group_id: String,
    pub display_name: Option<String>,
    pub external_id: Option<String>,
    /// SCIM ids of the members.
    pub members: Vec<String>,
}

/// One account of the organization (Organizations API v2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Account {
    pub account_id: String,
    pub account_type: Option<String>,
    /// `active`, `inactive` (deactivated), `closed`, or an unknown value stored as-is.
    pub account_status: String,
    /// `active`, `suspended`, `no_membership`, or an unknown value stored as-is.
    pub membership_status: String,
    pub status: Option<String>,
    /// `managed` or `unmanaged`.
    pub claim_status: Option<String>,
    pub management_source: Option<String>,
    /// Absent when hidden.
    pub email: Option<String>,
    pub name: Option<String>,
    pub added_to_org: Option<String>,
    pub deactivated_on: Option<String>,
}

impl Account {
    /// Active account with active membership: the person can log in and use products.
    pub fn has_access(&self) -> bool {
        self.account_status == "active" && self.membership_status == "active"
    }
}

/// Email comparison rule: trim surrounding white space and lower-case (Unicode-aware); nothing else.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_fold_case_and_space_only() {
        assert_eq!(normalize_email("  Ana@Example.COM\n"), "ana@example.com");
        assert_eq!(normalize_email("ÉLODIE@example.com"), "élodie@example.com");
        assert_ne!(
            normalize_email("a.b+x@example.com"),
            normalize_email("ab@example.com")
        );
    }
}
