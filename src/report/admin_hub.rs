//! The fix by hand in Atlassian Administration (admin hub), in the admin's words, for every
//! Atlassian finding kind: the click path (Directory → Users / Managed accounts → …) shown before
//! the exact API request. Pure. Paths follow Atlassian's documentation of the centralized user
//! management experience ("Remove user or suspend their access", "Make changes to a managed
//! account", "Deactivate a managed account").

use super::model::PortalStep;
use crate::detect::Kind;
use crate::findings::{AccountView, FindingView};

/// The console's name, as the steps show it.
pub const CONSOLE: &str = "Atlassian Administration";

fn step(path: String, note: impl Into<String>) -> PortalStep {
    PortalStep {
        console: CONSOLE.into(),
        path,
        note: note.into(),
    }
}

/// How to find an account: by its email, else its id.
fn who(a: &AccountView) -> String {
    a.email
        .clone()
        .unwrap_or_else(|| format!("account {}", a.account_id))
}

fn has_access(a: &AccountView) -> bool {
    a.account_status == "active" && a.membership_status == "active"
}

fn suspend(a: &AccountView, when: &str) -> PortalStep {
    step(
        format!("Directory → Users → {} → ••• → Suspend access", who(a)),
        format!(
            "{when}suspend the account's access (reversible: Restore access; roles and groups are kept)"
        ),
    )
}

/// The admin hub steps that fix (or diagnose) `f`, in order; empty for the IdP-only kinds.
pub fn steps(f: &FindingView) -> Vec<PortalStep> {
    let record_email = || f.scim_users.iter().find_map(|u| u.email.clone());
    let mut out = Vec::new();
    match f.kind {
        Kind::IdpInactiveAccountActive => {
            out.extend(
                f.accounts
                    .iter()
                    .filter(|a| has_access(a))
                    .map(|a| suspend(a, "")),
            );
        }
        Kind::IdpDisabledScimActive | Kind::OrphanScimRecord => {
            out.extend(
                f.accounts
                    .iter()
                    .filter(|a| has_access(a))
                    .map(|a| suspend(a, "if the person should not have access: ")),
            );
        }
        Kind::DeactivatedIdpActive => {
            for a in &f.accounts {
                if a.membership_status == "suspended" {
                    out.push(step(
                        format!("Directory → Users → {} → Restore access", who(a)),
                        "only if the person should have access (clear the status filter to find a suspended user)",
                    ));
                }
                if a.account_status == "inactive" {
                    out.push(step(
                        format!(
                            "Directory → Managed accounts → {} → Activate account",
                            who(a)
                        ),
                        "only if the person should have access: reactivate the managed account",
                    ));
                }
            }
        }
        Kind::StaleInactiveLink | Kind::DanglingLink => {
            out.push(step(
                "Security → Identity providers → the directory → User provisioning".into(),
                "admin hub has no button that deletes a SCIM record or its link: remove and re-add the user in the IdP's app, or send the API request below",
            ));
        }
        Kind::EmailConflict | Kind::DuplicateEmail => {
            for a in &f.accounts {
                out.push(step(
                    format!("Directory → Managed accounts → {} → Email address", who(a)),
                    "move the account that is in the way to an unused address on a verified domain (ends its sessions); then re-push the user from the IdP",
                ));
            }
        }
        Kind::EmailMismatch => {
            for a in &f.accounts {
                let to = record_email().unwrap_or_else(|| "the record's email".into());
                out.push(step(
                    format!("Directory → Managed accounts → {} → Email address", who(a)),
                    format!("set it to {to} once no other account holds it (re-pushing the user from the IdP does the same)"),
                ));
            }
        }
        Kind::UnlinkedScimUser => {
            let email = record_email().unwrap_or_else(|| "the record's email".into());
            out.push(step(
                format!("Directory → Users → search {email}"),
                "diagnose: is there an account with the email, and is it managed (Directory → Managed accounts)? A record links once an account with its email is managed",
            ));
        }
        Kind::UnmanagedAccount => {
            for a in &f.accounts {
                out.push(step(
                    format!("Directory → Users → {} → ••• → Remove user", who(a)),
                    "only if nobody should have it; otherwise assign the person to the IdP's app, or verify the email's domain (Settings → Domains) so the account becomes managed",
                ));
            }
        }
        Kind::NoSyncedGroups => {
            let email = record_email().unwrap_or_else(|| "the person".into());
            out.push(step(
                format!("Directory → Groups → the groups synced from the identity provider → search {email}"),
                "the record is in no synced group, so no product access comes from the IdP: add the person to the IdP group assigned to the app, then wait for (or trigger) the next sync",
            ));
        }
        Kind::GroupNotProvisioned => {
            let name = f.group_name();
            out.push(step(
                format!("Directory → Groups → search {name}"),
                "diagnose: a group of this name created in Atlassian (not synced) makes the IdP's push fail with \"already exists\": rename or remove it, then push the group again from the IdP",
            ));
        }
        Kind::GroupMembershipMissing | Kind::GroupMembershipExtra => {
            let name = f.group_name();
            out.push(step(
                format!("Directory → Groups → {name} → Members"),
                "diagnose: a synced group's members are the IdP's to change (admin hub cannot edit them): compare them with the IdP group, then push the group again from the IdP",
            ));
        }
        Kind::AssignedNotProvisioned
        | Kind::ProvisioningError
        | Kind::ProvisioningStalled
        | Kind::IdpEmailMismatch
        | Kind::NestedGroupOnly => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::findings::Status;

    fn finding(kind: Kind, accounts: Vec<AccountView>) -> FindingView {
        FindingView {
            id: "f".into(),
            kind,
            severity: kind.severity(),
            status: Status::Open,
            first_seen: String::new(),
            last_seen: String::new(),
            resolved_at: None,
            seen_count: 1,
            scim_users: Vec::new(),
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

    fn ana() -> AccountView {
        AccountView {
            account_id: "a-1".into(),
            email: Some("ana@example.com".into()),
            name: None,
            account_status: "active".into(),
            membership_status: "active".into(),
            claim_status: Some("managed".into()),
        }
    }

    #[test]
    fn every_atlassian_kind_has_a_click_path_and_the_idp_kinds_none() {
        for kind in Kind::ALL {
            let f = finding(kind, vec![ana()]);
            let steps = steps(&f);
            let idp_only = matches!(
                kind,
                Kind::AssignedNotProvisioned
                    | Kind::ProvisioningError
                    | Kind::ProvisioningStalled
                    | Kind::IdpEmailMismatch
                    | Kind::NestedGroupOnly
                    | Kind::DeactivatedIdpActive // its account has access: nothing to restore
            );
            assert_eq!(steps.is_empty(), idp_only, "{kind:?}: {steps:?}");
            for s in &steps {
                assert_eq!(s.console, CONSOLE);
                assert!(s.path.contains(" → "), "{kind:?}: {}", s.path);
            }
        }
    }

    #[test]
    fn a_suspension_names_the_person_and_only_accounts_with_access() {
        let mut f = finding(Kind::IdpInactiveAccountActive, vec![ana()]);
        let s = steps(&f);
        assert_eq!(
            s[0].path,
            "Directory → Users → ana@example.com → ••• → Suspend access"
        );
        f.accounts[0].membership_status = "suspended".into();
        assert!(steps(&f).is_empty(), "already without access");
        f.kind = Kind::DeactivatedIdpActive;
        assert!(steps(&f)[0].path.ends_with("Restore access"));
    }
}
