//! The Okta fix of every IdP kind (idp-api.md §2.4), in the Admin Console's words: Okta has no
//! API to retry a push or to push one user, so every fix is a console step — Dashboard → Tasks
//! → Retry, the app's Assignments tab, Push Groups, the Provisioning tab's features. Never the
//! app's Force Sync (it unlinks external accounts), and never unassign + reassign (the account is
//! deactivated in between) as a suggestion.

use super::model::PortalStep;
use crate::detect::Kind;
use crate::findings::{FindingView, IdpUserView};

const CONSOLE: &str = "Okta Admin Console";
const APP: &str = "Applications → Applications → Atlassian Cloud";

fn step(path: &str, note: String) -> PortalStep {
    PortalStep {
        console: CONSOLE.into(),
        path: path.into(),
        note,
    }
}

fn who(u: &IdpUserView) -> String {
    u.user_principal_name
        .clone()
        .or_else(|| u.email.clone())
        .unwrap_or_else(|| u.id.clone())
}

/// The console steps that fix Okta finding `f`; Atlassian kinds get none here.
pub fn fix(f: &FindingView) -> Vec<PortalStep> {
    let mut steps = Vec::new();
    let users: Vec<&IdpUserView> = f.idp_users.iter().collect();
    match f.kind {
        Kind::AssignedNotProvisioned => {
            for u in users {
                steps.push(step(
                    "Dashboard → Tasks",
                    format!(
                        "find the push of {} to Atlassian Cloud: Okta lists why it failed; fix the cause, then Retry (a push still queued shows in the app's Assignments tab as not yet provisioned)",
                        who(u)
                    ),
                ));
            }
            steps.push(step(
                &format!("{APP} → Provisioning → To App"),
                "check Create Users is on (without it Okta creates no one in Atlassian)".into(),
            ));
        }
        Kind::ProvisioningError => {
            let exists = f
                .provisioning
                .as_ref()
                .is_some_and(super::idp::says_already_exists);
            for u in users {
                let after = if exists {
                    "once the email is free in Atlassian (the account holding it: see its row)"
                } else {
                    "once the cause Okta names is fixed"
                };
                steps.push(step(
                    "Dashboard → Tasks",
                    format!(
                        "the failed push of {} to Atlassian Cloud is listed with Okta's reason: Retry it {after}",
                        who(u)
                    ),
                ));
            }
        }
        Kind::IdpEmailMismatch => {
            for u in users {
                steps.push(step(
                    "Directory → People → the user → Profile",
                    format!(
                        "check {}'s email is the one Atlassian should have; with Update User Attributes on (the app's Provisioning → To App) Okta pushes a change on its own, else edit the user's assignment in the app's Assignments tab to push it (never the app's Force Sync: it unlinks accounts)",
                        who(u)
                    ),
                ));
            }
        }
        Kind::IdpDisabledScimActive => {
            for u in users {
                let note = if u.enabled == Some(false) && u.intended {
                    format!(
                        "{} is suspended: Okta pushes nothing for a suspended user, so Atlassian keeps them active; deactivate them in Directory → People if they left, or deactivate the Atlassian account meanwhile",
                        who(u)
                    )
                } else {
                    format!(
                        "{} was deactivated or unassigned, and Okta sent no active:false: turn on Deactivate Users in the app's Provisioning → To App for the future, and deactivate the Atlassian account now (Okta does not resend a past deactivation); if they should keep access, assign them again in the app's Assignments tab",
                        who(u)
                    )
                };
                steps.push(step(&format!("{APP} → Provisioning → To App"), note));
            }
        }
        Kind::OrphanScimRecord => steps.push(step(
            "Directory → People",
            "no Okta user has this record's externalId: it was made by hand or by another IdP; if the person should have access, assign them to Atlassian Cloud in Okta (Okta matches them by username), else remove the record in Atlassian".into(),
        )),
        Kind::ProvisioningStalled => steps.push(step(
            &format!("{APP} → General / Provisioning → To App"),
            "activate the app if it is inactive, and turn on Create Users (and Deactivate Users, so leavers lose access)".into(),
        )),
        Kind::GroupNotProvisioned => steps.push(step(
            &format!("{APP} → Push Groups"),
            "push the group (or, when its push is in ERROR with \"already exists\", link it to the existing Atlassian group or rename one of the two), then Push Now".into(),
        )),
        Kind::GroupMembershipMissing | Kind::GroupMembershipExtra => steps.push(step(
            &format!("{APP} → Push Groups"),
            "select the group's push and Push Now: Okta sends the current members".into(),
        )),
        _ => {}
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::findings::Status;

    fn finding(kind: Kind) -> FindingView {
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
            accounts: Vec::new(),
            idp_users: vec![IdpUserView {
                directory: "okta".into(),
                idp: "okta".into(),
                id: "00u1".into(),
                user_principal_name: Some("xia@example.com".into()),
                email: Some("xia@example.com".into()),
                enabled: Some(false),
                intended: true,
            }],
            groups: Vec::new(),
            provisioning: None,
            summary: String::new(),
            suggested_fix: String::new(),
            suppressed_by: None,
            undetermined: Vec::new(),
        }
    }

    #[test]
    fn a_suspended_leaver_is_told_apart_and_retries_go_through_tasks() {
        let s = fix(&finding(Kind::IdpDisabledScimActive));
        assert!(s[0].note.contains("is suspended"), "{}", s[0].note);
        let s = fix(&finding(Kind::ProvisioningError));
        assert_eq!(s[0].path, "Dashboard → Tasks");
        assert!(s[0].note.contains("Retry"));
        assert!(fix(&finding(Kind::DuplicateEmail)).is_empty());
    }

    #[test]
    fn no_step_suggests_force_sync_or_reassigning() {
        for kind in Kind::ALL {
            let f = finding(kind);
            for s in fix(&f) {
                let text = format!("{} {}", s.path, s.note).to_lowercase();
                assert!(
                    !text.contains("force sync") || text.contains("never the app's force sync"),
                    "{kind:?}: {text}"
                );
                assert!(!text.contains("unassign and"), "{kind:?}: {text}");
                assert_eq!(s.console, CONSOLE);
            }
        }
    }
}
