//! The exact API requests that fix a finding (method and path of ../shared/atlassian-api.md with the
//! ids filled in). Keys are only ever named. Pure.

use std::collections::HashMap;

use super::model::FixRequest;
use crate::detect::Kind;
use crate::findings::{FindingView, ScimUserView};

/// What the requests need beyond the finding itself, from the last complete snapshot.
#[derive(Debug, Default, Clone)]
pub struct FixContext {
    pub org_id: String,
    /// Account id → the SCIM records linked to it.
    pub links: HashMap<String, Vec<ScimUserView>>,
    /// Account id → when it was added to the org (RFC 3339).
    pub added_to_org: HashMap<String, String>,
    /// Directory name → what the Entra fixes of its IdP need.
    pub idp: HashMap<String, super::idp::IdpFixInfo>,
    /// Finding id → the directory name whose IdP an IdP finding is about.
    pub idp_directory: HashMap<String, String>,
}

const ORG_KEY: &str = "org API key";
/// The placeholder for the org user directory's id, which scimdrift does not know.
const DIRECTORY_PLACEHOLDER: &str = "{directoryId}";
const UNUSED_EMAIL: &str = "<an unused address on a verified domain>";

/// Percent-encodes one path segment (ids are opaque: keep unreserved characters and `:`/`@`).
fn seg(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~:@".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn req(method: &str, path: String, body: Option<String>, key: String, note: String) -> FixRequest {
    FixRequest {
        api: super::model::ATLASSIAN_API.into(),
        base_url: super::model::ATLASSIAN_BASE_URL.into(),
        method: method.to_string(),
        path,
        body,
        key,
        note,
    }
}

fn email_body(email: &str) -> Option<String> {
    Some(serde_json::json!({ "email": email }).to_string())
}

fn directory_key(u: &ScimUserView) -> String {
    format!("directory API key of `{}`", u.directory)
}

struct Builder<'a> {
    ctx: &'a FixContext,
    org: String,
    out: Vec<FixRequest>,
}

impl Builder<'_> {
    fn push(&mut self, r: FixRequest) {
        if !self.out.contains(&r) {
            self.out.push(r);
        }
    }

    fn list_directories(&mut self) {
        let path = format!("/admin/v2/orgs/{}/directories", self.org);
        self.push(req(
            "GET",
            path,
            None,
            ORG_KEY.into(),
            format!(
                "find the {DIRECTORY_PLACEHOLDER} of the org's user directory (with one directory, use it)"
            ),
        ));
    }

    fn org_user_action(&mut self, account: &str, action: &str, note: String) {
        self.list_directories();
        let path = format!(
            "/admin/v2/orgs/{}/directories/{DIRECTORY_PLACEHOLDER}/users/{}/{action}",
            self.org,
            seg(account)
        );
        self.push(req("POST", path, None, ORG_KEY.into(), note));
    }

    fn delete_record(&mut self, u: &ScimUserView, note: &str) {
        let path = format!(
            "/scim/directory/{}/Users/{}",
            seg(&u.directory_id),
            seg(&u.scim_id)
        );
        self.push(req("DELETE", path, None, directory_key(u), note.into()));
    }

    fn unlink(&mut self, u: &ScimUserView, account: &str) {
        let path = format!(
            "/admin/user-provisioning/v1/org/{}/scimDirectoryId/{}/scimUserId/{}/unlink",
            self.org,
            seg(&u.directory_id),
            seg(&u.scim_id)
        );
        self.push(req(
            "PATCH",
            path,
            None,
            ORG_KEY.into(),
            format!(
                "unlink account {account} from record {} in `{}` (the record stays)",
                u.scim_id, u.directory
            ),
        ));
    }

    /// Unlinks `account` from every record known to link to it, or says how to find them.
    fn unlink_account(&mut self, account: &str) {
        let linked = self.ctx.links.get(account).cloned().unwrap_or_default();
        if linked.is_empty() {
            let path = format!(
                "/admin/user-provisioning/v1/org/{}/user/{}/get-scim-links",
                self.org,
                seg(account)
            );
            self.push(req(
                "GET",
                path,
                None,
                ORG_KEY.into(),
                format!("find the SCIM records linked to account {account}, then unlink them"),
            ));
        }
        for u in &linked {
            self.unlink(u, account);
        }
    }

    fn move_email(&mut self, account: &str, email: &str, note: String) {
        let path = format!("/users/{}/manage/email", seg(account));
        self.push(req("PUT", path, email_body(email), ORG_KEY.into(), note));
    }

    fn lifecycle(&mut self, account: &str, action: &str, note: String) {
        let path = format!("/users/{}/manage/lifecycle/{action}", seg(account));
        self.push(req("POST", path, None, ORG_KEY.into(), note));
    }
}

/// The requests that fix `f`, in the order to send them. Empty when only the IdP can fix it.
pub fn requests(f: &FindingView, ctx: &FixContext) -> Vec<FixRequest> {
    let mut b = Builder {
        ctx,
        org: seg(&ctx.org_id),
        out: Vec::new(),
    };
    let accounts: Vec<&str> = f.accounts.iter().map(|a| a.account_id.as_str()).collect();
    match f.kind {
        Kind::IdpInactiveAccountActive => {
            for a in &accounts {
                b.org_user_action(
                    a,
                    "suspend",
                    format!("suspend account {a}'s access now (reversible with …/restore)"),
                );
            }
        }
        Kind::StaleInactiveLink => {
            for u in &f.scim_users {
                b.delete_record(
                    u,
                    "delete the stale record and its link (irreversible; the IdP may push it again)",
                );
            }
            for a in &accounts {
                let path = format!(
                    "/admin/user-provisioning/v1/org/{}/user/{}/onlyDeleteUserInDB",
                    b.org,
                    seg(a)
                );
                b.push(req(
                    "DELETE",
                    path,
                    None,
                    ORG_KEY.into(),
                    format!(
                        "alternative: delete the SCIM records linked to {a} in every directory (SCIM DB only)"
                    ),
                ));
                b.lifecycle(
                    a,
                    "enable",
                    format!("then, if the person needs it: reactivate account {a}"),
                );
            }
        }
        Kind::EmailConflict => {
            let email = f.scim_users.iter().find_map(|u| u.email.as_deref());
            for a in &accounts {
                b.unlink_account(a);
                b.move_email(
                    a,
                    UNUSED_EMAIL,
                    format!(
                        "move account {a} off {} so the IdP can provision it; then re-push the user from the IdP",
                        email.unwrap_or("the email")
                    ),
                );
            }
        }
        Kind::DuplicateEmail => duplicate_email(f, &mut b),
        Kind::EmailMismatch => {
            for u in &f.scim_users {
                let (Some(email), Some(a)) = (u.email.as_deref(), u.account_id.as_deref()) else {
                    continue;
                };
                if accounts.contains(&a) {
                    b.move_email(
                        a,
                        email,
                        format!(
                            "give account {a} the record's email (once no other account holds it; \
                             re-pushing the user from the IdP does the same)"
                        ),
                    );
                }
            }
        }
        Kind::UnlinkedScimUser => {
            for email in f.scim_users.iter().filter_map(|u| u.email.as_deref()) {
                let path = format!(
                    "/admin/user-provisioning/v1/org/{}/get-scim-links-for-email",
                    b.org
                );
                b.push(req(
                    "POST",
                    path,
                    email_body(email),
                    ORG_KEY.into(),
                    "diagnose: which records and accounts hold this email".into(),
                ));
            }
        }
        Kind::DanglingLink => {
            for u in &f.scim_users {
                b.delete_record(
                    u,
                    "delete the record so the IdP re-provisions it cleanly (irreversible)",
                );
            }
        }
        Kind::DeactivatedIdpActive => {
            for a in &f.accounts {
                let id = a.account_id.as_str();
                if a.membership_status == "suspended" {
                    b.org_user_action(
                        id,
                        "restore",
                        format!("only if the person should have access: restore {id}'s access"),
                    );
                }
                if a.account_status == "inactive" {
                    b.lifecycle(
                        id,
                        "enable",
                        format!("only if the person should have access: reactivate account {id}"),
                    );
                }
            }
        }
        Kind::UnmanagedAccount => {
            for a in &accounts {
                b.lifecycle(
                    a,
                    "disable",
                    format!(
                        "only if nobody should have account {a}: deactivate it (otherwise assign the person to the IdP's app)"
                    ),
                );
            }
        }
        Kind::IdpDisabledScimActive | Kind::OrphanScimRecord => {
            for a in f
                .accounts
                .iter()
                .filter(|a| a.account_status == "active" && a.membership_status == "active")
            {
                let id = a.account_id.as_str();
                b.org_user_action(
                    id,
                    "suspend",
                    format!(
                        "if the person should not have access: suspend account {id}'s access now (reversible)"
                    ),
                );
            }
        }
        Kind::NoSyncedGroups
        | Kind::AssignedNotProvisioned
        | Kind::ProvisioningError
        | Kind::ProvisioningStalled
        | Kind::IdpEmailMismatch
        | Kind::NestedGroupOnly
        | Kind::GroupNotProvisioned
        | Kind::GroupMembershipMissing
        | Kind::GroupMembershipExtra => {}
    }
    b.out
}

/// Two or more records share an email: make the newer account give way (unlink it, move it to an
/// unused email); with a single linked account, delete the stale (inactive) record instead.
fn duplicate_email(f: &FindingView, b: &mut Builder<'_>) {
    let linked: Vec<&str> = f
        .accounts
        .iter()
        .map(|a| a.account_id.as_str())
        .filter(|a| {
            f.scim_users
                .iter()
                .any(|u| u.account_id.as_deref() == Some(a))
        })
        .collect();
    if linked.len() >= 2 {
        let newest = linked
            .iter()
            .max_by(|x, y| {
                let added = |id: &str| b.ctx.added_to_org.get(id).cloned().unwrap_or_default();
                added(x).cmp(&added(y)).then(y.cmp(x))
            })
            .copied()
            .unwrap_or_default();
        for u in f
            .scim_users
            .iter()
            .filter(|u| u.account_id.as_deref() == Some(newest))
        {
            b.unlink(u, newest);
        }
        b.move_email(
            newest,
            UNUSED_EMAIL,
            format!(
                "move the newer account {newest} to an unused email, then re-push the user from the IdP"
            ),
        );
        return;
    }
    for u in f
        .scim_users
        .iter()
        .filter(|u| u.active == Some(false) && u.account_id.is_some())
    {
        b.delete_record(
            u,
            "delete the stale (inactive) record so the active one can link; then re-push the user from the IdP",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::findings::{AccountView, Status};

    fn user(scim: &str, email: &str, active: bool, account: Option<&str>) -> ScimUserView {
        ScimUserView {
            directory_id: "d1".into(),
            directory: "entra".into(),
            scim_id: scim.into(),
            external_id: None,
            email: Some(email.into()),
            display_name: None,
            active: Some(active),
            account_id: account.map(String::from),
        }
    }

    fn account(id: &str, status: &str, membership: &str) -> AccountView {
        AccountView {
            account_id: id.into(),
            email: Some("x@example.com".into()),
            name: None,
            account_status: status.into(),
            membership_status: membership.into(),
            claim_status: Some("managed".into()),
        }
    }

    fn finding(kind: Kind, users: Vec<ScimUserView>, accounts: Vec<AccountView>) -> FindingView {
        FindingView {
            id: "x".into(),
            kind,
            severity: kind.severity(),
            status: Status::Open,
            first_seen: String::new(),
            last_seen: String::new(),
            resolved_at: None,
            seen_count: 1,
            scim_users: users,
            accounts,
            idp_users: Vec::new(),
            groups: Vec::new(),
            provisioning: None,
            summary: String::new(),
            suggested_fix: String::new(),
            suppressed_by: None,
            undetermined: Vec::new(),
        }
    }

    fn lines(r: &[FixRequest]) -> Vec<String> {
        r.iter()
            .map(|r| format!("{} {}", r.method, r.path))
            .collect()
    }

    fn ctx() -> FixContext {
        FixContext {
            org_id: "org-1".into(),
            ..FixContext::default()
        }
    }

    #[test]
    fn suspend_needs_the_directory_lookup() {
        let f = finding(
            Kind::IdpInactiveAccountActive,
            vec![user("r9", "fay@example.com", false, Some("a9"))],
            vec![account("a9", "active", "active")],
        );
        assert_eq!(
            lines(&requests(&f, &ctx())),
            [
                "GET /admin/v2/orgs/org-1/directories",
                "POST /admin/v2/orgs/org-1/directories/{directoryId}/users/a9/suspend"
            ]
        );
    }

    #[test]
    fn stale_link_deletes_record_or_db_entry_then_reactivates() {
        let f = finding(
            Kind::StaleInactiveLink,
            vec![user("r7", "dee@example.com", false, Some("a7"))],
            vec![account("a7", "inactive", "active")],
        );
        assert_eq!(
            lines(&requests(&f, &ctx())),
            [
                "DELETE /scim/directory/d1/Users/r7",
                "DELETE /admin/user-provisioning/v1/org/org-1/user/a7/onlyDeleteUserInDB",
                "POST /users/a7/manage/lifecycle/enable"
            ]
        );
        assert_eq!(requests(&f, &ctx())[0].key, "directory API key of `entra`");
    }

    #[test]
    fn email_conflict_unlinks_the_holder_and_moves_it() {
        let mut c = ctx();
        c.links.insert(
            "a4".into(),
            vec![user("r4", "bo.new@example.com", true, Some("a4"))],
        );
        let f = finding(
            Kind::EmailConflict,
            vec![user("r3", "bo.new@example.com", true, Some("a3"))],
            vec![account("a4", "active", "active")],
        );
        let r = requests(&f, &c);
        assert_eq!(
            lines(&r),
            [
                "PATCH /admin/user-provisioning/v1/org/org-1/scimDirectoryId/d1/scimUserId/r4/unlink",
                "PUT /users/a4/manage/email"
            ]
        );
        // Without a known link it says how to find it.
        let r = requests(&f, &ctx());
        assert!(r[0].path.ends_with("/user/a4/get-scim-links"));
    }

    #[test]
    fn duplicate_email_moves_the_newer_account() {
        let mut c = ctx();
        c.added_to_org
            .insert("a3".into(), "2020-01-01T00:00:00Z".into());
        c.added_to_org
            .insert("a4".into(), "2026-01-01T00:00:00Z".into());
        let f = finding(
            Kind::DuplicateEmail,
            vec![
                user("r3", "bo.new@example.com", true, Some("a3")),
                user("r4", "bo.new@example.com", true, Some("a4")),
            ],
            vec![
                account("a3", "active", "active"),
                account("a4", "active", "active"),
            ],
        );
        let r = requests(&f, &c);
        assert_eq!(
            lines(&r),
            [
                "PATCH /admin/user-provisioning/v1/org/org-1/scimDirectoryId/d1/scimUserId/r4/unlink",
                "PUT /users/a4/manage/email"
            ]
        );
        // One linked account: delete the stale record instead.
        let f = finding(
            Kind::DuplicateEmail,
            vec![
                user("r1", "ana@example.com", false, Some("a1")),
                user("r2", "ana@example.com", true, None),
            ],
            vec![account("a1", "inactive", "active")],
        );
        assert_eq!(
            lines(&requests(&f, &c)),
            ["DELETE /scim/directory/d1/Users/r1"]
        );
    }

    #[test]
    fn ids_are_escaped_and_bodies_are_json() {
        let f = finding(
            Kind::EmailMismatch,
            vec![user("r/1", "a\"b@example.com", true, Some("a 1"))],
            vec![account("a 1", "active", "active")],
        );
        let r = requests(&f, &ctx());
        assert_eq!(r[0].path, "/users/a%201/manage/email");
        let body: serde_json::Value = serde_json::from_str(r[0].body.as_deref().unwrap()).unwrap();
        assert_eq!(body["email"], "a\"b@example.com");
        let f = finding(
            Kind::DanglingLink,
            vec![user("r/1", "x@example.com", true, Some("gone"))],
            vec![],
        );
        assert_eq!(
            requests(&f, &ctx())[0].path,
            "/scim/directory/d1/Users/r%2F1"
        );
    }

    #[test]
    fn deactivated_idp_active_offers_the_matching_restore() {
        let f = finding(
            Kind::DeactivatedIdpActive,
            vec![user("r8", "eli@example.com", true, Some("a8"))],
            vec![account("a8", "inactive", "active")],
        );
        assert_eq!(
            lines(&requests(&f, &ctx())),
            ["POST /users/a8/manage/lifecycle/enable"]
        );
        let f = finding(
            Kind::DeactivatedIdpActive,
            vec![user("r8", "eli@example.com", true, Some("a8"))],
            vec![account("a8", "active", "suspended")],
        );
        assert!(lines(&requests(&f, &ctx()))[1].ends_with("/users/a8/restore"));
    }
}
