//! The `[remediation]` policy: the master switch, caps, the spike breaker, scopes and the rules.
//! Only the pairs of the scenarios.md remediation mapping are accepted.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::detect::Kind;

/// What a rule may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Suspend the account's access (reversible).
    Suspend,
    /// Restore the account's access.
    Restore,
    /// Remove a SCIM record's link to its account (the record stays).
    Unlink,
    /// `DELETE` the SCIM record (irreversible; the IdP may re-push).
    DeleteScimRecord,
    /// Delete the account's SCIM records in every directory (irreversible).
    DeleteInScimDb,
    /// Move the account to a placeholder email.
    MoveEmail,
    /// Ask the IdP to provision one user now (Entra `provisionOnDemand`, idp-api.md §1.4).
    ProvisionOnDemand,
}

impl Action {
    pub const ALL: [Action; 7] = [
        Action::Suspend,
        Action::Restore,
        Action::Unlink,
        Action::DeleteScimRecord,
        Action::DeleteInScimDb,
        Action::MoveEmail,
        Action::ProvisionOnDemand,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Suspend => "suspend",
            Action::Restore => "restore",
            Action::Unlink => "unlink",
            Action::DeleteScimRecord => "delete_scim_record",
            Action::DeleteInScimDb => "delete_in_scim_db",
            Action::MoveEmail => "move_email",
            Action::ProvisionOnDemand => "provision_on_demand",
        }
    }

    /// Irreversible actions need `min_confirmations >= 2`.
    pub fn destructive(self) -> bool {
        matches!(
            self,
            Action::DeleteScimRecord | Action::DeleteInScimDb | Action::Unlink | Action::MoveEmail
        )
    }

    /// Unlink and move: the steps that free an email, which go together (the unlink group).
    pub fn frees_email(self) -> bool {
        matches!(self, Action::Unlink | Action::MoveEmail)
    }

    /// The actions a policy may take for `kind` (the remediation mapping of scenarios.md).
    pub fn allowed_for(kind: Kind) -> &'static [Action] {
        match kind {
            Kind::IdpInactiveAccountActive => &[Action::Suspend],
            Kind::StaleInactiveLink => &[Action::DeleteScimRecord, Action::DeleteInScimDb],
            Kind::EmailConflict | Kind::DuplicateEmail => &[Action::Unlink, Action::MoveEmail],
            Kind::DanglingLink => &[Action::DeleteScimRecord],
            Kind::DeactivatedIdpActive => &[Action::Restore],
            // Entra only: the planner refuses it for another IdP (report only).
            Kind::AssignedNotProvisioned | Kind::IdpEmailMismatch | Kind::ProvisioningError => {
                &[Action::ProvisionOnDemand]
            }
            _ => &[],
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Action {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Action::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<_> = Action::ALL.iter().map(|a| a.as_str()).collect();
                format!("unknown action {s:?}: expected one of {}", names.join(", "))
            })
    }
}

/// What happens to the steps of a rule.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// The rule is ignored.
    #[default]
    Off,
    /// Planned, logged and reported, never sent.
    DryRun,
    /// Sent when every guard passes.
    Apply,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Off => "off",
            Mode::DryRun => "dry_run",
            Mode::Apply => "apply",
        }
    }
}

/// `[remediation]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct RemediationConfig {
    /// Master switch: nothing is ever sent while false.
    pub enabled: bool,
    /// Most actions sent in one cycle.
    pub max_actions_per_cycle: usize,
    /// Most actions in one cycle as a percentage of the accounts of the snapshot (rounded down).
    pub max_percent_of_population: f64,
    /// This many new findings of one kind since the previous snapshot (or more) trip the breaker.
    pub spike_threshold: u64,
    /// Emails or account ids never acted on, whatever the rule.
    pub never_touch: Vec<String>,
    /// The org user directory for suspend / restore (default: the only one the org has).
    pub org_directory_id: Option<String>,
    /// Placeholder for `move_email`: `{local}`, `{domain}`, `{date}` (YYYYMMDD), `{account_id}`.
    pub placeholder_email_template: String,
    /// `restore` may also undo suspensions scimdrift did not make (an admin's deliberate one).
    /// Default false: only access scimdrift itself suspended is given back.
    pub restore_any_suspension: bool,
    pub rules: Vec<RuleConfig>,
}

impl Default for RemediationConfig {
    fn default() -> Self {
        RemediationConfig {
            enabled: false,
            max_actions_per_cycle: 5,
            max_percent_of_population: 1.0,
            spike_threshold: 20,
            never_touch: Vec::new(),
            org_directory_id: None,
            placeholder_email_template: "{local}+moved-{date}@{domain}".into(),
            restore_any_suspension: false,
            rules: Vec::new(),
        }
    }
}

/// `[[remediation.rules]]`: one kind → one action.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RuleConfig {
    pub kind: String,
    pub action: String,
    #[serde(default)]
    pub mode: Mode,
    /// Consecutive complete snapshots that must show the finding.
    #[serde(default = "default_confirmations")]
    pub min_confirmations: i64,
    /// Directory names (or ids) the rule may touch; empty = all.
    #[serde(default)]
    pub directories: Vec<String>,
    /// Emails or account ids this rule never acts on.
    #[serde(default)]
    pub never_touch: Vec<String>,
}

fn default_confirmations() -> i64 {
    3
}

/// A validated rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub kind: Kind,
    pub action: Action,
    pub mode: Mode,
    pub min_confirmations: i64,
    pub directories: Vec<String>,
    pub never_touch: Vec<String>,
}

const PLACEHOLDERS: [&str; 4] = ["{local}", "{domain}", "{date}", "{account_id}"];

/// A configured directory, as a rule's `directories` may name it.
#[derive(Clone)]
pub struct Scope<'a> {
    pub id: &'a str,
    pub name: &'a str,
    /// It has an `[atlassian.directories.idp]`.
    pub has_idp: bool,
    /// Its IdP can provision one user on demand (Entra ID; Okta has no such call, idp-api.md
    /// §2.4).
    pub on_demand: bool,
}

impl RemediationConfig {
    /// Checks each rule's `directories` against the configured ones: each entry names one (by name
    /// or id), and a `provision_on_demand` rule (which asks a directory's IdP to provision a user)
    /// covers only directories with an IdP, so at least one must have one. Errors are (key under
    /// `remediation.`, message).
    pub fn check_scopes(&self, directories: &[Scope<'_>]) -> Result<(), (String, String)> {
        for (i, r) in self.rules.iter().enumerate() {
            let on_demand = r.action == Action::ProvisionOnDemand.as_str();
            for (j, entry) in r.directories.iter().enumerate() {
                let key = format!("rules[{i}].directories[{j}]");
                let Some(d) = directories
                    .iter()
                    .find(|d| d.name == entry || d.id == entry)
                else {
                    return Err((
                        key,
                        format!("no [[atlassian.directories]] entry has the name or id {entry:?}"),
                    ));
                };
                if on_demand && !d.has_idp {
                    return Err((
                        key,
                        format!(
                            "directory {} has no [atlassian.directories.idp]: provision_on_demand asks a directory's IdP to provision a user (configure its IdP, or leave it out of this rule)",
                            d.name
                        ),
                    ));
                }
                if on_demand && !d.on_demand {
                    return Err((
                        key,
                        format!(
                            "directory {}'s IdP (Okta) has no call to push one user: provision_on_demand is Entra ID's (leave it out of this rule; retry Okta pushes in its Admin Console, Dashboard → Tasks)",
                            d.name
                        ),
                    ));
                }
            }
            if on_demand && r.directories.is_empty() && !directories.iter().any(|d| d.has_idp) {
                return Err((
                    format!("rules[{i}].action"),
                    "provision_on_demand asks a directory's IdP to provision a user, and no directory has an [atlassian.directories.idp]".into(),
                ));
            }
            if on_demand && r.directories.is_empty() && !directories.iter().any(|d| d.on_demand) {
                return Err((
                    format!("rules[{i}].action"),
                    "provision_on_demand is Entra ID's, and no directory's IdP is Entra ID (Okta has no call to push one user)".into(),
                ));
            }
        }
        Ok(())
    }

    /// Checks the policy; errors are (key under `remediation.`, message).
    pub fn validate(&self) -> Result<(), (String, String)> {
        if self.max_percent_of_population.is_nan()
            || !(0.0..=100.0).contains(&self.max_percent_of_population)
        {
            return Err((
                "max_percent_of_population".into(),
                "expected a percentage between 0 and 100".into(),
            ));
        }
        if self.max_actions_per_cycle > 10_000 {
            return Err((
                "max_actions_per_cycle".into(),
                format!(
                    "expected a whole number between 0 and 10000 (got {})",
                    self.max_actions_per_cycle
                ),
            ));
        }
        if self.spike_threshold > 1_000_000 {
            return Err((
                "spike_threshold".into(),
                format!(
                    "expected a whole number between 2 and 1000000 (got {})",
                    self.spike_threshold
                ),
            ));
        }
        if self.spike_threshold < 2 {
            return Err((
                "spike_threshold".into(),
                format!(
                    "expected 2 or more (got {}): at 1, any new finding would trip the breaker and stay blocked for good",
                    self.spike_threshold
                ),
            ));
        }
        let t = &self.placeholder_email_template;
        let mut rest = t.clone();
        for p in PLACEHOLDERS {
            rest = rest.replace(p, "x");
        }
        if rest.contains('{') || rest.contains('}') || rest.matches('@').count() != 1 {
            return Err((
                "placeholder_email_template".into(),
                format!(
                    "expected an email template with one `@` and only {} (got {t:?})",
                    PLACEHOLDERS.join(", ")
                ),
            ));
        }
        if !t.contains("{local}") && !t.contains("{account_id}") {
            return Err((
                "placeholder_email_template".into(),
                "must contain {local} or {account_id} so placeholders stay unique".into(),
            ));
        }
        self.rules().map(|_| ())
    }

    /// The validated rules.
    pub fn rules(&self) -> Result<Vec<Rule>, (String, String)> {
        let mut out: Vec<Rule> = Vec::new();
        for (i, r) in self.rules.iter().enumerate() {
            let key = |k: &str| format!("rules[{i}].{k}");
            let kind: Kind = r.kind.parse().map_err(|e| (key("kind"), e))?;
            let action: Action = r.action.parse().map_err(|e| (key("action"), e))?;
            let allowed = Action::allowed_for(kind);
            if !allowed.contains(&action) {
                let names: Vec<_> = allowed.iter().map(|a| a.as_str()).collect();
                let expected = if names.is_empty() {
                    "report only: no action is allowed".to_string()
                } else {
                    format!("allowed: {}", names.join(", "))
                };
                return Err((
                    key("action"),
                    format!("{action} is not allowed for {kind} ({expected})"),
                ));
            }
            if !(1..=10_000).contains(&r.min_confirmations) {
                return Err((
                    key("min_confirmations"),
                    "expected a whole number between 1 and 10000".into(),
                ));
            }
            if action == Action::Restore && r.min_confirmations < 2 {
                return Err((
                    key("min_confirmations"),
                    "restore gives access back: it needs min_confirmations of 2 or more".into(),
                ));
            }
            if action.destructive() && r.min_confirmations < 2 {
                return Err((
                    key("min_confirmations"),
                    format!("{action} cannot be undone: it needs min_confirmations of 2 or more"),
                ));
            }
            if out.iter().any(|o| o.kind == kind && o.action == action) {
                return Err((
                    key("action"),
                    format!("a rule for {kind} / {action} already exists"),
                ));
            }
            out.push(Rule {
                kind,
                action,
                mode: r.mode,
                min_confirmations: r.min_confirmations,
                directories: r.directories.clone(),
                never_touch: r.never_touch.clone(),
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(kind: &str, action: &str, confirmations: i64) -> RemediationConfig {
        RemediationConfig {
            rules: vec![RuleConfig {
                kind: kind.into(),
                action: action.into(),
                mode: Mode::Apply,
                min_confirmations: confirmations,
                directories: vec![],
                never_touch: vec![],
            }],
            ..Default::default()
        }
    }

    #[test]
    fn only_the_mapping_is_allowed() {
        assert!(
            rule("idp_inactive_account_active", "suspend", 1)
                .validate()
                .is_ok()
        );
        let e = rule("nope", "suspend", 3).validate().unwrap_err();
        assert_eq!(e.0, "rules[0].kind");
        let e = rule("unmanaged_account", "suspend", 3)
            .validate()
            .unwrap_err();
        assert_eq!(e.0, "rules[0].action");
        let e = rule("stale_inactive_link", "explode", 3)
            .validate()
            .unwrap_err();
        assert_eq!(e.0, "rules[0].action");
        for kind in [
            "assigned_not_provisioned",
            "idp_email_mismatch",
            "provisioning_error",
        ] {
            assert!(rule(kind, "provision_on_demand", 1).validate().is_ok());
        }
        for kind in [
            "idp_disabled_scim_active",
            "orphan_scim_record",
            "email_conflict",
        ] {
            let e = rule(kind, "provision_on_demand", 3).validate().unwrap_err();
            assert_eq!(e.0, "rules[0].action");
        }
    }

    #[test]
    fn destructive_rules_need_confirmations() {
        let e = rule("stale_inactive_link", "delete_scim_record", 1)
            .validate()
            .unwrap_err();
        assert_eq!(e.0, "rules[0].min_confirmations");
        assert!(
            rule("stale_inactive_link", "delete_scim_record", 2)
                .validate()
                .is_ok()
        );
        let e = rule("deactivated_idp_active", "restore", 1)
            .validate()
            .unwrap_err();
        assert_eq!(e.0, "rules[0].min_confirmations");
        assert!(
            rule("deactivated_idp_active", "restore", 2)
                .validate()
                .is_ok()
        );
    }

    #[test]
    fn provision_on_demand_needs_a_directory_with_an_idp() {
        let dirs = [
            Scope {
                id: "d-1",
                name: "entra",
                has_idp: true,
                on_demand: true,
            },
            Scope {
                id: "d-2",
                name: "okta",
                has_idp: false,
                on_demand: false,
            },
        ];
        let scoped = |action: &str, scope: &[&str]| {
            let mut c = rule("assigned_not_provisioned", "provision_on_demand", 3);
            c.rules[0].action = action.into();
            c.rules[0].directories = scope.iter().map(|s| s.to_string()).collect();
            c
        };
        for ok in [&[][..], &["entra"], &["d-1"]] {
            assert!(
                scoped("provision_on_demand", ok)
                    .check_scopes(&dirs)
                    .is_ok()
            );
        }
        let e = scoped("provision_on_demand", &["entra", "okta"])
            .check_scopes(&dirs)
            .unwrap_err();
        assert_eq!(e.0, "rules[0].directories[1]");
        assert!(e.1.contains("okta") && e.1.contains("no [atlassian.directories.idp]"));
        let e = scoped("provision_on_demand", &[])
            .check_scopes(&dirs[1..])
            .unwrap_err();
        assert_eq!(e.0, "rules[0].action");
        // An Okta directory has an IdP but no provision on demand.
        let okta = Scope {
            id: "d-3",
            name: "acme-okta",
            has_idp: true,
            on_demand: false,
        };
        let with_okta = [dirs[0].clone(), okta.clone()];
        let e = scoped("provision_on_demand", &["acme-okta"])
            .check_scopes(&with_okta)
            .unwrap_err();
        assert_eq!(e.0, "rules[0].directories[0]");
        assert!(
            e.1.contains("Okta") && e.1.contains("Dashboard → Tasks"),
            "{}",
            e.1
        );
        assert!(
            scoped("provision_on_demand", &[])
                .check_scopes(&with_okta)
                .is_ok()
        );
        let e = scoped("provision_on_demand", &[])
            .check_scopes(std::slice::from_ref(&okta))
            .unwrap_err();
        assert_eq!(e.0, "rules[0].action");
        // Any rule's scope names configured directories.
        let e = scoped("suspend", &["okta", "entar"])
            .check_scopes(&dirs)
            .unwrap_err();
        assert_eq!(e.0, "rules[0].directories[1]");
        assert!(e.1.contains("\"entar\""), "{}", e.1);
    }

    #[test]
    fn template_is_checked() {
        let mut c = RemediationConfig::default();
        assert!(c.validate().is_ok());
        c.placeholder_email_template = "{nope}@x".into();
        assert_eq!(c.validate().unwrap_err().0, "placeholder_email_template");
    }
}
