//! Findings as people and scripts see them: the detector's output joined with the records and
//! accounts it names, suppression applied. The JSON shape of [`FindingView`] is a contract.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::detect::{self, DetectSettings, Finding, IdpInput, Input, Kind, Severity};
use crate::ignore::{self, IgnoreRule, Subjects, Suppression};
use crate::model::compact::{Accounts, Acct, Rec, Records};
use crate::model::{Account, ScimGroup, ScimRecord};

/// A SCIM record named by a finding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScimUserView {
    pub directory_id: String,
    /// The directory's configured name.
    pub directory: String,
    pub scim_id: String,
    pub external_id: Option<String>,
    pub email: Option<String>,
    pub display_name: Option<String>,
    pub active: Option<bool>,
    pub account_id: Option<String>,
}

/// An account named by a finding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountView {
    pub account_id: String,
    pub email: Option<String>,
    pub name: Option<String>,
    pub account_status: String,
    pub membership_status: String,
    pub claim_status: Option<String>,
}

/// An IdP user named by a finding (the `idp_users` entries of the JSON contract).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdpUserView {
    /// The directory's configured name.
    pub directory: String,
    /// The IdP kind (`entra`).
    pub idp: String,
    /// The IdP's user id (Entra object id).
    pub id: String,
    pub user_principal_name: Option<String>,
    /// The email the job's mapping sends.
    pub email: Option<String>,
    pub enabled: Option<bool>,
    pub intended: bool,
}

/// The IdP group a group finding is about, with the SCIM group it joined (the `groups` entries of
/// the JSON contract; scenarios.md "Group findings").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupView {
    /// The directory's configured name.
    pub directory: String,
    pub directory_id: String,
    pub idp_group_id: String,
    /// The SCIM group it joined; `null` when none (`group_not_provisioned`).
    pub scim_group_id: Option<String>,
    /// The IdP group's name.
    pub display_name: Option<String>,
    /// `externalId` or `displayName`: the key that joined the SCIM group; `null` when none.
    pub joined_by: Option<detect::GroupKey>,
}

impl GroupView {
    /// The view of `g`; `names` maps directory ids to configured names.
    pub fn of(g: &detect::GroupRef, names: &HashMap<String, String>) -> Self {
        GroupView {
            directory: names
                .get(&g.directory_id)
                .cloned()
                .unwrap_or_else(|| g.directory_id.clone()),
            directory_id: g.directory_id.clone(),
            idp_group_id: g.idp_group_id.clone(),
            scim_group_id: g.scim_group_id.clone(),
            display_name: g.display_name.clone(),
            joined_by: g.joined_by,
        }
    }

    /// As detection names it.
    pub fn reference(&self) -> detect::GroupRef {
        detect::GroupRef {
            directory_id: self.directory_id.clone(),
            idp_group_id: self.idp_group_id.clone(),
            scim_group_id: self.scim_group_id.clone(),
            display_name: self.display_name.clone(),
            joined_by: self.joined_by,
        }
    }
}

/// The provisioning log event that explains a finding (the `provisioning` object of the JSON
/// contract).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProvisioningView {
    /// `success`, `failure`, `skipped`, `warning`.
    pub status: String,
    pub error_code: Option<String>,
    pub reason: Option<String>,
    /// `activityDateTime`, RFC 3339.
    pub at: String,
}

impl ProvisioningView {
    pub fn of(e: &crate::model::idp::ProvisioningEvent) -> Self {
        ProvisioningView {
            status: e.status.clone(),
            error_code: e.error_code.clone(),
            reason: e.reason.clone(),
            at: e.at.clone(),
        }
    }
}

/// Lifecycle status of a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Open,
    Suppressed,
    Resolved,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Open => "open",
            Status::Suppressed => "suppressed",
            Status::Resolved => "resolved",
        }
    }
}

/// One finding of the current snapshot, ready to reconcile into the store.
#[derive(Debug, Clone, PartialEq)]
pub struct Current {
    pub id: String,
    pub kind: Kind,
    pub severity: Severity,
    pub summary: String,
    pub scim_users: Vec<ScimUserView>,
    pub accounts: Vec<AccountView>,
    pub idp_users: Vec<IdpUserView>,
    pub groups: Vec<GroupView>,
    pub provisioning: Option<ProvisioningView>,
    /// The directory whose IdP an IdP finding is about.
    pub idp_directory: Option<String>,
    pub suppressed: Option<Suppression>,
}

/// A stored finding, as `scimdrift findings --format json` prints it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FindingView {
    pub id: String,
    pub kind: Kind,
    pub severity: Severity,
    pub status: Status,
    pub first_seen: String,
    pub last_seen: String,
    pub resolved_at: Option<String>,
    /// Consecutive complete snapshots that showed it (up to the latest sighting).
    pub seen_count: i64,
    pub scim_users: Vec<ScimUserView>,
    pub accounts: Vec<AccountView>,
    /// IdP users (empty for the Atlassian kinds).
    #[serde(default)]
    pub idp_users: Vec<IdpUserView>,
    /// The IdP group a group finding is about (empty for the other kinds).
    #[serde(default)]
    pub groups: Vec<GroupView>,
    /// The provisioning log event that explains it, when one does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provisioning: Option<ProvisioningView>,
    pub summary: String,
    pub suggested_fix: String,
    /// Set when an ignore rule suppresses it.
    pub suppressed_by: Option<Suppression>,
    /// The fields the latest complete snapshot could not read that this finding's kind reads
    /// (`active`, `accountStatus`, `accountEnabled`, `intent`, …): it could not be decided, so
    /// it kept its state (unknown is never evidence). Absent when decided.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub undetermined: Vec<String>,
}

impl FindingView {
    /// The name of the IdP group a group finding is about, else its id, else `the group`.
    pub fn group_name(&self) -> String {
        self.groups
            .first()
            .map(|g| {
                g.display_name
                    .clone()
                    .unwrap_or_else(|| g.idp_group_id.clone())
            })
            .unwrap_or_else(|| "the group".into())
    }

    /// The subjects ignore rules match on.
    pub fn subjects(&self) -> Subjects<'_> {
        subjects_of(self.kind, &self.scim_users, &self.accounts, &self.idp_users)
    }

    /// Re-applies the ignore rules (a rule added or expired since the last pull takes effect now).
    pub fn apply_rules(&mut self, rules: &[IgnoreRule], today: chrono::NaiveDate) {
        if self.status == Status::Resolved {
            return;
        }
        self.suppressed_by = ignore::suppression(rules, &self.subjects(), today);
        self.status = if self.suppressed_by.is_some() {
            Status::Suppressed
        } else {
            Status::Open
        };
    }
}

fn subjects_of<'a>(
    kind: Kind,
    users: &'a [ScimUserView],
    accounts: &'a [AccountView],
    idp_users: &'a [IdpUserView],
) -> Subjects<'a> {
    Subjects {
        kind,
        emails: users
            .iter()
            .filter_map(|u| u.email.as_deref())
            .chain(accounts.iter().filter_map(|a| a.email.as_deref()))
            .chain(idp_users.iter().filter_map(|u| u.email.as_deref()))
            .collect(),
        account_ids: accounts
            .iter()
            .map(|a| a.account_id.as_str())
            .chain(users.iter().filter_map(|u| u.account_id.as_deref()))
            .collect(),
        scim_ids: users.iter().map(|u| u.scim_id.as_str()).collect(),
    }
}

/// Everything detection needs besides the snapshot.
pub struct Context {
    pub settings: DetectSettings,
    pub rules: Vec<IgnoreRule>,
    /// Directory id → configured name.
    pub directory_names: HashMap<String, String>,
    pub now: DateTime<Utc>,
}

/// What detection made of one complete snapshot.
pub struct Evaluation {
    pub current: Vec<Current>,
    /// What it could not decide: the stored findings these leave undetermined keep their state.
    pub undetermined: detect::Undetermined,
    /// The pushed groups' memberships per directory ([`detect::GroupMembers`]).
    pub group_members: Vec<detect::GroupMembers>,
}

/// Detects the findings of one complete snapshot and joins them with their subjects. `idp` holds
/// the IdP side of each directory whose IdP pull is complete. Pure.
pub fn evaluate(
    records: &Records,
    groups: &[ScimGroup],
    accounts: &Accounts,
    history: &crate::detect::History,
    idp: &[IdpInput],
    ctx: &Context,
) -> Evaluation {
    let input = Input {
        records,
        groups,
        accounts,
        inactive_since: &history.inactive_since,
        previous_links: &history.previous_links,
        idp,
        now: ctx.now,
    };
    let detection = detect::detect_all(&input, &ctx.settings);
    let undetermined = detection.undetermined;
    let group_members = detection.group_members;
    let found = detection.findings;
    // Only the subjects of findings are looked up: no map over the whole population.
    let wanted_records: HashSet<(&str, &str)> = found
        .iter()
        .flat_map(|f| &f.records)
        .map(|r| (r.directory_id.as_str(), r.scim_id.as_str()))
        .collect();
    let record_by_ref: HashMap<(&str, &str), Rec> = records
        .iter()
        .filter(|r| wanted_records.contains(&(r.directory_id(), r.scim_id())))
        .map(|r| ((r.directory_id(), r.scim_id()), r))
        .collect();
    let wanted_accounts: HashSet<&str> = found
        .iter()
        .flat_map(|f| &f.accounts)
        .map(String::as_str)
        .collect();
    let account_by_id: HashMap<&str, Acct> = accounts
        .iter()
        .filter(|a| wanted_accounts.contains(a.account_id()))
        .map(|a| (a.account_id(), a))
        .collect();
    let idp_user_by_ref: HashMap<(&str, &str), (&crate::model::idp::IdpUser, &str)> = idp
        .iter()
        .flat_map(|x| {
            x.side.users.iter().map(|u| {
                (
                    (u.directory_id.as_str(), u.id.as_str()),
                    (u, x.side.kind.as_str()),
                )
            })
        })
        .collect();
    let today = ctx.now.date_naive();
    let current = found
        .into_iter()
        .map(|f| {
            let scim_users = users_view(&f, &record_by_ref, &ctx.directory_names);
            let idp_users: Vec<IdpUserView> = f
                .idp_users
                .iter()
                .filter_map(|r| idp_user_by_ref.get(&(r.directory_id.as_str(), r.id.as_str())))
                .map(|(u, kind)| idp_user_view(u, kind, &ctx.directory_names))
                .collect();
            let accounts = f
                .accounts
                .iter()
                .filter_map(|id| account_by_id.get(id.as_str()))
                .map(|a| account_view(&a.to_account()))
                .collect::<Vec<_>>();
            let suppressed = ignore::suppression(
                &ctx.rules,
                &subjects_of(f.kind, &scim_users, &accounts, &idp_users),
                today,
            );
            Current {
                id: f.id(),
                kind: f.kind,
                severity: f.severity,
                provisioning: f.event.as_ref().map(ProvisioningView::of),
                idp_directory: f.directory_id.clone(),
                groups: f
                    .groups
                    .iter()
                    .map(|g| GroupView::of(g, &ctx.directory_names))
                    .collect(),
                summary: f.summary,
                scim_users,
                accounts,
                idp_users,
                suppressed,
            }
        })
        .collect();
    Evaluation {
        current,
        undetermined,
        group_members,
    }
}

fn users_view(
    f: &Finding,
    records: &HashMap<(&str, &str), Rec>,
    names: &HashMap<String, String>,
) -> Vec<ScimUserView> {
    f.records
        .iter()
        .filter_map(|r| records.get(&(r.directory_id.as_str(), r.scim_id.as_str())))
        .map(|r| user_view(&r.to_record(), names))
        .collect()
}

/// The view of one SCIM record; `names` maps directory ids to configured names.
pub fn user_view(r: &ScimRecord, names: &HashMap<String, String>) -> ScimUserView {
    ScimUserView {
        directory_id: r.directory_id.clone(),
        directory: names
            .get(&r.directory_id)
            .cloned()
            .unwrap_or_else(|| r.directory_id.clone()),
        scim_id: r.scim_id.clone(),
        external_id: r.external_id.clone(),
        email: r.email.clone(),
        display_name: r.display_name.clone(),
        active: r.active,
        account_id: r.account_id.clone(),
    }
}

/// The view of one IdP user of an IdP of `kind`.
pub fn idp_user_view(
    u: &crate::model::idp::IdpUser,
    kind: &str,
    names: &HashMap<String, String>,
) -> IdpUserView {
    IdpUserView {
        directory: names
            .get(&u.directory_id)
            .cloned()
            .unwrap_or_else(|| u.directory_id.clone()),
        idp: kind.to_string(),
        id: u.id.clone(),
        user_principal_name: u.user_principal_name.clone(),
        email: u.email.clone(),
        enabled: u.enabled,
        intended: u.intended,
    }
}

/// The view of one account.
pub fn account_view(a: &Account) -> AccountView {
    AccountView {
        account_id: a.account_id.clone(),
        email: a.email.clone(),
        name: a.name.clone(),
        account_status: a.account_status.clone(),
        membership_status: a.membership_status.clone(),
        claim_status: a.claim_status.clone(),
    }
}

/// Which findings a query lists, by status (`scimdrift findings --status`, `/findings?status=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StatusFilter {
    Open,
    Resolved,
    Suppressed,
    All,
}

impl std::str::FromStr for StatusFilter {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "open" => Ok(StatusFilter::Open),
            "resolved" => Ok(StatusFilter::Resolved),
            "suppressed" => Ok(StatusFilter::Suppressed),
            "all" => Ok(StatusFilter::All),
            other => Err(format!(
                "unknown status {other:?}; expected open, resolved, suppressed or all"
            )),
        }
    }
}

/// The filters of `scimdrift findings` and `/findings`.
#[derive(Debug, Clone)]
pub struct Query {
    pub kind: Option<Kind>,
    pub min_severity: Severity,
    pub status: StatusFilter,
}

/// What a [`Query`] selected.
#[derive(Debug, Clone)]
pub struct Selection {
    /// The findings of the selected kind, severity and status, most severe first.
    pub shown: Vec<FindingView>,
    /// Findings of the selected kind and severity hidden by the status filter.
    pub hidden: usize,
    /// Severities of the open findings of the selected kind and severity (for `--fail-on`).
    pub failing: Vec<Severity>,
}

impl Query {
    /// Re-applies the current ignore `rules` (as of `today`) to the stored findings `all`, then
    /// filters them.
    pub fn select(
        &self,
        mut all: Vec<FindingView>,
        rules: &[IgnoreRule],
        today: chrono::NaiveDate,
    ) -> Selection {
        for f in &mut all {
            f.apply_rules(rules, today);
        }
        let selected: Vec<FindingView> = all
            .into_iter()
            .filter(|f| self.kind.is_none_or(|k| k == f.kind) && f.severity >= self.min_severity)
            .collect();
        let failing = selected
            .iter()
            .filter(|f| f.status == Status::Open)
            .map(|f| f.severity)
            .collect();
        let (shown, hidden): (Vec<_>, Vec<_>) =
            selected.into_iter().partition(|f| match self.status {
                StatusFilter::All => true,
                StatusFilter::Open => f.status == Status::Open,
                StatusFilter::Resolved => f.status == Status::Resolved,
                StatusFilter::Suppressed => f.status == Status::Suppressed,
            });
        Selection {
            shown,
            hidden: hidden.len(),
            failing,
        }
    }
}

/// Sets `scimdrift_findings` and `scimdrift_findings_undetermined` from the stored findings
/// (every kind × severity × status, zeros included, so dashboards see series that drop to 0) and
/// creates the lifecycle counters of every kind at zero.
pub fn export_metrics(m: &crate::metrics::Metrics, all: &[FindingView]) {
    for kind in Kind::ALL {
        let undetermined = all
            .iter()
            .filter(|f| {
                f.kind == kind && f.status != Status::Resolved && !f.undetermined.is_empty()
            })
            .count();
        m.findings_undetermined
            .with_label_values(&[kind.as_str()])
            .set(undetermined as i64);
        m.findings_opened.with_label_values(&[kind.as_str()]);
        m.findings_resolved.with_label_values(&[kind.as_str()]);
        for status in [Status::Open, Status::Suppressed] {
            for severity in kind.severities() {
                let n = all
                    .iter()
                    .filter(|f| f.kind == kind && f.status == status && f.severity == *severity)
                    .count();
                m.findings
                    .with_label_values(&[kind.as_str(), severity.as_str(), status.as_str()])
                    .set(n as i64);
            }
        }
    }
}
