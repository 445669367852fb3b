//! Planning (pure, no I/O): from the open findings, the policy and the guard inputs, which steps
//! would run and which guard blocked the others. `now` is passed in.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::policy::{Action, Mode, RemediationConfig, Rule};
use crate::detect::Kind;
use crate::findings::{AccountView, FindingView, ScimUserView, Status};
use crate::model::SourceStatus;
use crate::model::normalize_email;

const IDP_PREFIX: &str = SourceStatus::IDP_PREFIX;
use crate::store::{Opening, SnapshotInfo, State};

/// The guards, in the order a step meets them; named as in plans, the audit and
/// `remediation_blocked{guard}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Guard {
    Enabled,
    Snapshot,
    Breaker,
    Target,
    Confirmations,
    /// Unknown is never evidence: a finding the latest snapshot could not decide is never acted on.
    Determined,
    Directories,
    NeverTouch,
    PreviousFailure,
    AlreadyDone,
    OwnSuspension,
    UnlinkGroup,
    OncePerTarget,
    CapPerCycle,
    CapPopulation,
}

impl Guard {
    /// Every guard.
    pub const ALL: [Guard; 15] = [
        Guard::Enabled,
        Guard::Snapshot,
        Guard::Breaker,
        Guard::Target,
        Guard::Confirmations,
        Guard::Determined,
        Guard::Directories,
        Guard::NeverTouch,
        Guard::PreviousFailure,
        Guard::AlreadyDone,
        Guard::OwnSuspension,
        Guard::UnlinkGroup,
        Guard::OncePerTarget,
        Guard::CapPerCycle,
        Guard::CapPopulation,
    ];

    /// The name used in plans, the audit and the metric's label.
    pub fn as_str(self) -> &'static str {
        match self {
            Guard::Enabled => "enabled",
            Guard::Snapshot => "snapshot",
            Guard::Breaker => "breaker",
            Guard::Target => "target",
            Guard::Confirmations => "confirmations",
            Guard::Determined => "determined",
            Guard::Directories => "directories",
            Guard::NeverTouch => "never_touch",
            Guard::PreviousFailure => "previous_failure",
            Guard::AlreadyDone => "already_done",
            Guard::OwnSuspension => "own_suspension",
            Guard::UnlinkGroup => "unlink_group",
            Guard::OncePerTarget => "once_per_target",
            Guard::CapPerCycle => "cap_per_cycle",
            Guard::CapPopulation => "cap_population",
        }
    }
}

impl std::fmt::Display for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One thing a step acts on: an account, a SCIM record, or both (a record and its link).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    pub account_id: Option<String>,
    pub directory_id: Option<String>,
    /// The directory's configured name.
    pub directory: Option<String>,
    pub scim_id: Option<String>,
    /// The account's (or record's) email at the snapshot; for an IdP user, the email the job's
    /// mapping sends.
    pub email: Option<String>,
    /// `provision_on_demand`: the IdP user (with `directory_id`; `scim_id` / `account_id` are
    /// then the user's own record in the directory and its link, when it has one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idp: Option<IdpTarget>,
}

/// The IdP user a `provision_on_demand` acts on, with what the call needs (from the stored IdP
/// side of the directory).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdpTarget {
    /// `entra`.
    pub kind: String,
    /// The IdP's user id (Entra object id).
    pub user_id: String,
    pub user_principal_name: Option<String>,
    /// What the job's mapping sends as SCIM `externalId` (default: the object id): how the
    /// user's record is found in the directory.
    pub external_id: String,
    /// The provisioning job and its user rule (`ruleId`).
    pub job_id: String,
    pub rule_id: String,
    /// The IdP's latest provisioning event for the user was an "already exists" conflict: any
    /// other account holding the email blocks the call.
    #[serde(default)]
    pub conflict_reported: bool,
}

impl Target {
    /// `idp:{dir}/{user}` for an IdP user, `scim:{dir}/{id}` for a record, else `account:{id}`.
    pub fn key(&self) -> String {
        if let (Some(d), Some(u)) = (&self.directory_id, &self.idp) {
            return format!("idp:{d}/{}", u.user_id);
        }
        match (&self.directory_id, &self.scim_id, &self.account_id) {
            (Some(d), Some(s), _) => format!("scim:{d}/{s}"),
            (_, _, Some(a)) => format!("account:{a}"),
            _ => "none".into(),
        }
    }

    /// The keys `once_per_target` checks: [`Target::key`], plus `account:{id}` for a record linked
    /// to an account (acting on the record acts on its account too), and for an IdP user its own
    /// record and that record's account (provisioning it updates both).
    fn keys(&self) -> Vec<String> {
        let mut keys = vec![self.key()];
        if let (Some(d), Some(s), Some(_)) = (&self.directory_id, &self.scim_id, &self.idp) {
            keys.push(format!("scim:{d}/{s}"));
        }
        if let (Some(_), Some(a)) = (&self.scim_id, &self.account_id) {
            keys.push(format!("account:{a}"));
        }
        keys
    }

    fn account(a: &AccountView) -> Target {
        Target {
            account_id: Some(a.account_id.clone()),
            email: a.email.clone(),
            ..Default::default()
        }
    }

    fn record(u: &ScimUserView) -> Target {
        Target {
            account_id: u.account_id.clone(),
            directory_id: Some(u.directory_id.clone()),
            directory: Some(u.directory.clone()),
            scim_id: Some(u.scim_id.clone()),
            email: u.email.clone(),
            idp: None,
        }
    }
}

/// What an `unlink` / `move_email` is about: the email in contention (normalised) and the record
/// claiming it. Both are read again just before the call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contest {
    pub email: String,
    pub record: Target,
}

/// An earlier cycle's successful unlink (from the audit), for the move that may still follow it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unlinked {
    pub finding_id: String,
    pub account_id: String,
    pub contest: Contest,
    /// When it was sent.
    pub at: String,
}

/// One guard's verdict on a step (or on the whole plan).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    pub guard: Guard,
    pub passed: bool,
    pub detail: String,
}

fn verdict(guard: Guard, passed: bool, detail: impl Into<String>) -> Verdict {
    Verdict {
        guard,
        passed,
        detail: detail.into(),
    }
}

/// One planned action on one finding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub finding_id: String,
    pub kind: Kind,
    pub action: Action,
    pub mode: Mode,
    pub targets: Vec<Target>,
    /// `move_email` only: the placeholder address.
    pub new_email: Option<String>,
    /// `unlink` / `move_email`: the contested email and the record claiming it.
    #[serde(default)]
    pub contest: Option<Contest>,
    pub reason: String,
    pub guards: Vec<Verdict>,
    /// Every guard passed.
    pub allowed: bool,
}

impl Step {
    /// Identifies the action on its targets across snapshots (for earlier failures).
    pub fn action_key(&self) -> String {
        format!("{}|{}", self.finding_id, self.target_action_key())
    }

    /// The action on its targets, whatever the finding.
    pub fn target_action_key(&self) -> String {
        target_action_key(self.action.as_str(), &self.targets)
    }

    /// The audit's idempotency key: finding, action, targets, snapshot and mode, hashed.
    pub fn idempotency_key(&self, snapshot_id: i64) -> String {
        let text = format!("{}|{snapshot_id}|{}", self.action_key(), self.mode.as_str());
        format!("{:016x}", xxhash_rust::xxh3::xxh3_64(text.as_bytes()))
    }

    /// Cap units: one per call, but `delete_in_scim_db` counts each record it deletes.
    pub fn cost(&self) -> usize {
        let records = self.targets.iter().filter(|t| t.scim_id.is_some()).count();
        if self.action == Action::DeleteInScimDb {
            records.max(1)
        } else {
            1
        }
    }

    /// The guards that failed.
    pub fn blocked_by(&self) -> Vec<&Verdict> {
        self.guards.iter().filter(|g| !g.passed).collect()
    }
}

/// A plan for one snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub snapshot_id: Option<i64>,
    pub created_at: String,
    /// Plan-wide guards: `enabled`, `snapshot`, `breaker`.
    pub checks: Vec<Verdict>,
    pub steps: Vec<Step>,
    /// Blocked steps per failing guard.
    pub blocked: BTreeMap<String, u64>,
    pub breaker_tripped: bool,
}

impl Plan {
    /// Steps that will be sent: allowed and in `apply` mode.
    pub fn to_apply(&self) -> impl Iterator<Item = &Step> {
        self.steps
            .iter()
            .filter(|s| s.allowed && s.mode == Mode::Apply)
    }
}

/// Everything planning reads.
pub struct Inputs<'a> {
    pub now: DateTime<Utc>,
    pub pull_interval: chrono::Duration,
    /// The latest snapshot, complete or not.
    pub latest: Option<&'a SnapshotInfo>,
    pub latest_complete: Option<&'a SnapshotInfo>,
    /// Findings with the ignore rules applied.
    pub findings: &'a [FindingView],
    /// Every snapshot that opened or reopened a finding (the spike breaker's groups).
    pub openings: &'a [Opening],
    /// The population of the latest complete snapshot.
    pub state: &'a State,
    pub policy: &'a RemediationConfig,
    pub rules: &'a [Rule],
    /// [`Step::action_key`]s that failed before (not retried automatically).
    pub failed: &'a HashSet<String>,
    /// [`Step::action_key`]s that succeeded before (never repeated automatically).
    pub succeeded: &'a HashSet<String>,
    /// Accounts whose access scimdrift suspended (and did not restore since).
    pub suspended_by_us: &'a HashSet<String>,
    /// Successful unlinks, oldest first: a `move_email` may still have to follow one.
    pub unlinked: &'a [Unlinked],
    /// Cap units already used on this snapshot by earlier runs (audit rows of sent calls).
    pub already_used: usize,
    /// Directory id → configured name.
    pub directory_names: &'a HashMap<String, String>,
    /// The stored IdP sides and users `provision_on_demand` steps need (empty without IdP rules).
    pub idp: &'a IdpFacts,
}

/// What the store holds about the IdP sides, as of the latest complete snapshot.
#[derive(Debug, Clone, Default)]
pub struct IdpFacts {
    /// Directory id → its stored IdP side (kind, job id, rule id).
    pub sides: HashMap<String, crate::store::StoredIdpSide>,
    /// (directory id, IdP user id) → the stored user and its latest provisioning event.
    pub users: HashMap<(String, String), crate::store::StoredIdpUser>,
}

/// `action|target keys`: an action on its targets whatever the finding.
pub fn target_action_key(action: &str, targets: &[Target]) -> String {
    let keys: Vec<String> = targets.iter().map(Target::key).collect();
    format!("{action}|{}", keys.join(","))
}

/// The cap units of an audited call (see [`Step::cost`]), from its action and targets JSON.
pub fn call_cost(action: &str, targets: &serde_json::Value) -> usize {
    let records = targets
        .as_array()
        .map(|ts| ts.iter().filter(|t| !t["scim_id"].is_null()).count())
        .unwrap_or(0);
    if action == Action::DeleteInScimDb.as_str() {
        records.max(1)
    } else {
        1
    }
}

/// Computes the plan.
pub fn plan(inp: &Inputs<'_>) -> Plan {
    let checks = plan_checks(inp);
    let breaker_tripped = checks
        .iter()
        .any(|c| c.guard == Guard::Breaker && !c.passed);
    let spikes = spikes(inp);
    let mut opened_by: HashMap<&str, Vec<i64>> = HashMap::new();
    for o in inp.openings {
        opened_by
            .entry(o.finding_id.as_str())
            .or_default()
            .push(o.snapshot_id);
    }
    let mut findings: Vec<&FindingView> = inp
        .findings
        .iter()
        .filter(|f| f.status == Status::Open)
        .collect();
    findings.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then_with(|| a.first_seen.cmp(&b.first_seen))
            .then_with(|| a.id.cmp(&b.id))
    });
    let mut candidates: Vec<(Step, &Rule, &FindingView)> = Vec::new();
    for f in &findings {
        let mut rules: Vec<&Rule> = inp
            .rules
            .iter()
            .filter(|r| r.kind == f.kind && r.mode != Mode::Off)
            .collect();
        // Within a finding, unlink goes before move_email (an account is moved once unlinked).
        rules.sort_by_key(|r| r.action == Action::MoveEmail);
        for rule in rules {
            for d in derive(f, rule, inp) {
                let mut step = candidate(f, rule, d, &checks, spike_guard(f, &spikes, &opened_by));
                idp_source_guard(&mut step, inp);
                candidates.push((step, rule, f));
            }
        }
    }
    // A move still due after an unlink that changed its finding's identity (a `duplicate_email`
    // lists linked accounts, so unlinking one makes it a new finding; `email_conflict` stays open).
    let mut finishing: Vec<&FindingView> = inp
        .findings
        .iter()
        .filter(|f| f.status == Status::Resolved && f.kind == Kind::DuplicateEmail)
        .filter(|f| inp.unlinked.iter().any(|u| u.finding_id == f.id))
        .collect();
    finishing.sort_by(|a, b| a.id.cmp(&b.id));
    for f in finishing {
        let rule = inp
            .rules
            .iter()
            .find(|r| r.kind == f.kind && r.action == Action::MoveEmail && r.mode != Mode::Off);
        if let (Some(rule), Some(d)) = (rule, targets::finish_move(f, inp)) {
            let step = candidate(f, rule, d, &checks, spike_guard(f, &spikes, &opened_by));
            candidates.push((step, rule, f));
        }
    }
    for (step, rule, f) in &mut candidates {
        let scope = scope_guards(step, rule, f, inp);
        step.guards.extend(scope);
    }
    let population = inp.state.accounts.len();
    let cap_population =
        ((inp.policy.max_percent_of_population / 100.0) * population as f64).floor() as usize;
    // A group bigger than a cycle can ever take leaves its move for the next cycle.
    let room = inp.policy.max_actions_per_cycle.min(cap_population);
    let mut tied: Vec<&mut Step> = candidates.iter_mut().map(|(s, _, _)| s).collect();
    let groups = group::tie(&mut tied, &inp.state.records, room, false);
    // Apply-mode steps first, so dry-run rules never use up the caps of real ones.
    candidates.sort_by_key(|(s, _, _)| s.mode != Mode::Apply);
    // Target key → the finding and action that acted on it this cycle.
    let mut touched: HashMap<String, (String, Action)> = HashMap::new();
    let mut counted = inp.already_used;
    // Findings whose unlinks have their cap units reserved (by the first of them).
    let mut reserved: HashSet<String> = HashSet::new();
    let mut steps = Vec::with_capacity(candidates.len());
    for (mut step, _, _) in candidates {
        let others_pass = step.guards.iter().all(|g| g.passed);
        let keys: Vec<String> = step.targets.iter().flat_map(Target::keys).collect();
        // Only one finding's unlink steps may be followed by its own unlink / move_email.
        let chains = |(id, prior): &(String, Action)| {
            *id == step.finding_id && *prior == Action::Unlink && step.action.frees_email()
        };
        let clash = keys
            .iter()
            .find(|k| touched.get(*k).is_some_and(|t| !chains(t)));
        step.guards.push(verdict(
            Guard::OncePerTarget,
            clash.is_none(),
            match clash {
                Some(k) => format!("{k} is already acted on in this cycle"),
                None => "first action on its targets this cycle".into(),
            },
        ));
        let max = inp.policy.max_actions_per_cycle;
        // A finding's unlinks and move are counted together, when the first of them is planned.
        let group = groups.get(&step.finding_id).filter(|g| g.has(&step));
        let (cost, needs) = match group {
            Some(_) if reserved.contains(&step.finding_id) => {
                (0, "reserved by the finding's first unlink".to_string())
            }
            Some(g) => (
                g.size,
                format!(
                    "this step and the rest of the finding's unlinks and move need {}",
                    g.size
                ),
            ),
            None => (step.cost(), format!("this step needs {}", step.cost())),
        };
        step.guards.push(verdict(
            Guard::CapPerCycle,
            counted + cost <= max,
            format!("{counted} of max_actions_per_cycle {max} used, {needs}"),
        ));
        step.guards.push(verdict(
            Guard::CapPopulation,
            counted + cost <= cap_population,
            format!(
                "{counted} of {cap_population} used ({}% of {population} accounts), {needs}",
                inp.policy.max_percent_of_population
            ),
        ));
        step.allowed = step.guards.iter().all(|g| g.passed);
        if others_pass && clash.is_none() && step.allowed {
            let by = (step.finding_id.clone(), step.action);
            touched.extend(keys.into_iter().map(|k| (k, by.clone())));
            counted += cost;
            if group.is_some() {
                reserved.insert(step.finding_id.clone());
            }
        }
        steps.push(step);
    }
    // A group split by once_per_target: none of it goes (its reserved units stay unused).
    group::tie(
        &mut steps.iter_mut().collect::<Vec<_>>(),
        &inp.state.records,
        room,
        true,
    );
    let mut blocked = BTreeMap::new();
    for s in steps.iter().filter(|s| !s.allowed) {
        for g in s.blocked_by() {
            *blocked.entry(g.guard.as_str().to_string()).or_default() += 1;
        }
    }
    Plan {
        snapshot_id: inp.latest_complete.map(|s| s.snapshot_id),
        created_at: inp.now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        checks,
        steps,
        blocked,
        breaker_tripped,
    }
}

/// A step with the plan-wide verdicts (the finding's own spike verdict replacing the breaker's)
/// and the target's; the scope guards and caps come later.
fn candidate(
    f: &FindingView,
    rule: &Rule,
    d: targets::Derived,
    checks: &[Verdict],
    spike: Option<Verdict>,
) -> Step {
    let mut guards = checks.to_vec();
    if let Some(v) = spike {
        // Replaces the plan-wide breaker verdict, so a step counts once per guard.
        guards.retain(|g| g.guard != Guard::Breaker || !g.passed);
        if guards.iter().all(|g| g.guard != Guard::Breaker) {
            guards.push(v);
        }
    }
    guards.push(verdict(
        Guard::Target,
        d.found,
        if d.found {
            "target found"
        } else {
            d.reason.as_str()
        },
    ));
    Step {
        finding_id: f.id.clone(),
        kind: f.kind,
        action: rule.action,
        mode: rule.mode,
        targets: d.targets,
        new_email: d.new_email,
        contest: d.contest,
        reason: d.reason,
        guards,
        allowed: false,
    }
}

/// `provision_on_demand` also needs the IdP source of its directory complete in the snapshot
/// (idp-api.md §5: an incomplete IdP pull never triggers an action). Fails the step's `snapshot`
/// verdict when the plan-wide one passed, so a step counts once per guard.
fn idp_source_guard(step: &mut Step, inp: &Inputs<'_>) {
    if step.action != Action::ProvisionOnDemand {
        return;
    }
    // Without a target the `target` guard already blocks the step.
    let Some(t) = step.targets.iter().find(|t| t.idp.is_some()) else {
        return;
    };
    let (Some(dir), Some(snapshot)) = (t.directory_id.as_deref(), inp.latest_complete) else {
        return;
    };
    let name = t.directory.as_deref().unwrap_or(dir);
    let source = snapshot
        .sources
        .iter()
        .find(|s| s.source.starts_with(IDP_PREFIX) && s.directory_id.as_deref() == Some(dir));
    let why = match source {
        Some(s) if s.complete => return,
        Some(s) => format!(
            "the IdP source {} of directory {name} was incomplete in snapshot {}{}: provision_on_demand needs it complete",
            s.source,
            snapshot.snapshot_id,
            s.error
                .as_deref()
                .map(|e| format!(" ({e})"))
                .unwrap_or_default()
        ),
        None => format!(
            "snapshot {} has no IdP source for directory {name}: provision_on_demand needs it complete",
            snapshot.snapshot_id
        ),
    };
    if let Some(v) = step
        .guards
        .iter_mut()
        .find(|g| g.guard == Guard::Snapshot && g.passed)
    {
        *v = verdict(Guard::Snapshot, false, why);
    }
}

/// The plan-wide guards: master switch, snapshot complete and fresh, spike breaker.
fn plan_checks(inp: &Inputs<'_>) -> Vec<Verdict> {
    let enabled = verdict(
        Guard::Enabled,
        inp.policy.enabled,
        if inp.policy.enabled {
            "remediation.enabled = true"
        } else {
            "remediation.enabled = false (the master switch is off)"
        },
    );
    let snapshot = match (inp.latest, inp.latest_complete) {
        (None, _) | (_, None) => verdict(Guard::Snapshot, false, "no complete snapshot yet"),
        (Some(l), Some(c)) if l.snapshot_id != c.snapshot_id => verdict(
            Guard::Snapshot,
            false,
            format!(
                "the latest snapshot {} is {}: nothing is acted on",
                l.snapshot_id,
                if l.held {
                    "held (a source shrank)"
                } else {
                    "incomplete"
                }
            ),
        ),
        (_, Some(c)) => match DateTime::parse_from_rfc3339(&c.finished_at) {
            Ok(at) => {
                let age = inp.now - at.with_timezone(&Utc);
                let fresh = age <= inp.pull_interval;
                verdict(
                    Guard::Snapshot,
                    fresh,
                    format!(
                        "snapshot {} is {}s old (limit: one pull interval, {}s)",
                        c.snapshot_id,
                        age.num_seconds(),
                        inp.pull_interval.num_seconds()
                    ),
                )
            }
            Err(_) => verdict(
                Guard::Snapshot,
                false,
                "the snapshot's finish time is unreadable",
            ),
        },
    };
    let mut new_by_kind: BTreeMap<Kind, u64> = BTreeMap::new();
    for f in inp
        .findings
        .iter()
        .filter(|f| f.status != Status::Resolved && f.seen_count == 1)
    {
        *new_by_kind.entry(f.kind).or_default() += 1;
    }
    let latest = inp.latest_complete.map(|c| c.snapshot_id);
    let born_now = spikes(inp)
        .into_iter()
        .find(|((_, snapshot), _)| Some(*snapshot) == latest)
        .map(|((kind, _), n)| (kind, n));
    let spike = born_now.or_else(|| {
        new_by_kind
            .iter()
            .find(|(_, n)| **n >= inp.policy.spike_threshold)
            .map(|(k, n)| (*k, *n))
    });
    let breaker = match spike {
        Some((kind, n)) => verdict(
            Guard::Breaker,
            false,
            format!(
                "{n} new {kind} findings since the previous snapshot (spike_threshold {}): no action this cycle",
                inp.policy.spike_threshold
            ),
        ),
        None => verdict(
            Guard::Breaker,
            true,
            format!(
                "no kind has {} or more new findings",
                inp.policy.spike_threshold
            ),
        ),
    };
    vec![enabled, snapshot, breaker]
}

/// Snapshots that opened or reopened `spike_threshold` or more findings of one kind:
/// (kind, snapshot) → how many. Findings born (or reborn) in a spike are never auto-remediated.
fn spikes(inp: &Inputs<'_>) -> BTreeMap<(Kind, i64), u64> {
    let mut groups: BTreeMap<(Kind, i64), u64> = BTreeMap::new();
    // Every opening counts, of resolved findings too: fixing part of a spike by hand must not
    // shrink it below the threshold and release the rest, and a mass reopen is a spike as well.
    for o in inp.openings {
        *groups.entry((o.kind, o.snapshot_id)).or_default() += 1;
    }
    groups.retain(|_, n| *n >= inp.policy.spike_threshold);
    groups
}

/// The per-step breaker: a finding opened or reopened in a spike stays blocked in every later cycle.
fn spike_guard(
    f: &FindingView,
    spikes: &BTreeMap<(Kind, i64), u64>,
    opened_by: &HashMap<&str, Vec<i64>>,
) -> Option<Verdict> {
    let (snapshot, n) = opened_by
        .get(f.id.as_str())?
        .iter()
        .find_map(|s| spikes.get(&(f.kind, *s)).map(|n| (*s, *n)))?;
    Some(verdict(
        Guard::Breaker,
        false,
        format!(
            "opened in a spike of {n} {} findings by snapshot {snapshot}: never auto-remediated (remediate by hand or raise spike_threshold)",
            f.kind
        ),
    ))
}

/// Confirmations, directory scope, never-touch and earlier failures.
fn scope_guards(step: &Step, rule: &Rule, f: &FindingView, inp: &Inputs<'_>) -> Vec<Verdict> {
    let mut out = vec![
        verdict(
            Guard::Confirmations,
            f.seen_count >= rule.min_confirmations,
            format!(
                "seen in {} consecutive complete snapshots (min_confirmations {})",
                f.seen_count, rule.min_confirmations
            ),
        ),
        verdict(
            Guard::Determined,
            f.undetermined.is_empty(),
            if f.undetermined.is_empty() {
                "decided by the latest complete snapshot".to_string()
            } else {
                format!(
                    "undetermined: the latest complete snapshot could not read {} (unknown is never evidence); never acted on until a snapshot decides it again",
                    f.undetermined.join(", ")
                )
            },
        ),
    ];
    let dirs: Vec<(&str, &str)> = step
        .targets
        .iter()
        .filter_map(|t| {
            Some((
                t.directory_id.as_deref()?,
                t.directory.as_deref().unwrap_or(""),
            ))
        })
        .chain(
            f.scim_users
                .iter()
                .map(|u| (u.directory_id.as_str(), u.directory.as_str())),
        )
        .collect();
    let outside = dirs.iter().find(|(id, name)| {
        !rule.directories.is_empty() && !rule.directories.iter().any(|d| d == id || d == name)
    });
    out.push(verdict(
        Guard::Directories,
        outside.is_none(),
        match outside {
            Some((id, name)) => format!("directory {name} ({id}) is outside the rule's scope"),
            None if rule.directories.is_empty() => "all directories in scope".into(),
            None => format!("in scope ({})", rule.directories.join(", ")),
        },
    ));
    let deny: Vec<String> = inp
        .policy
        .never_touch
        .iter()
        .chain(&rule.never_touch)
        .map(|s| normalize_email(s))
        .collect();
    let subjects: Vec<String> = step
        .targets
        .iter()
        .flat_map(|t| [t.email.as_deref(), t.account_id.as_deref()])
        .chain(
            f.accounts
                .iter()
                .flat_map(|a| [a.email.as_deref(), Some(a.account_id.as_str())]),
        )
        .chain(
            f.scim_users
                .iter()
                .flat_map(|u| [u.email.as_deref(), u.account_id.as_deref()]),
        )
        // The IdP user: object id, UPN and email (idp-api.md §5).
        .chain(
            step.targets
                .iter()
                .filter_map(|t| t.idp.as_ref())
                .flat_map(|u| [Some(u.user_id.as_str()), u.user_principal_name.as_deref()]),
        )
        .chain(f.idp_users.iter().flat_map(|u| {
            [
                Some(u.id.as_str()),
                u.user_principal_name.as_deref(),
                u.email.as_deref(),
            ]
        }))
        .flatten()
        .map(normalize_email)
        .collect();
    let hit = subjects.iter().find(|s| deny.contains(s));
    out.push(verdict(
        Guard::NeverTouch,
        hit.is_none(),
        match hit {
            Some(s) => format!("{s} is in never_touch"),
            None => "no target is in never_touch".into(),
        },
    ));
    let seen = |set: &HashSet<String>| {
        set.contains(&step.action_key()) || set.contains(&step.target_action_key())
    };
    let failed = seen(inp.failed);
    out.push(verdict(
        Guard::PreviousFailure,
        !failed,
        if failed {
            "this action failed before (see `scimdrift audit`): not retried automatically"
        } else {
            "no earlier failure"
        },
    ));
    let done = seen(inp.succeeded);
    out.push(verdict(
        Guard::AlreadyDone,
        !done,
        if done {
            "this action succeeded before (see `scimdrift audit`): the finding is back or Atlassian has not caught up, so it is not repeated automatically"
        } else {
            "not done before"
        },
    ));
    if step.action == Action::Restore {
        let account = step
            .targets
            .iter()
            .find_map(|t| t.account_id.as_deref())
            .unwrap_or("");
        let ours = inp.suspended_by_us.contains(account);
        out.push(verdict(
            Guard::OwnSuspension,
            ours || inp.policy.restore_any_suspension,
            if ours {
                "scimdrift suspended this account"
            } else if inp.policy.restore_any_suspension {
                "restore_any_suspension = true: any suspension may be undone"
            } else {
                "scimdrift did not suspend this account (an admin may have, on purpose): not restored unless restore_any_suspension = true"
            },
        ));
    }
    out
}

mod group;
mod targets;

use targets::derive;
pub use targets::placeholder;
pub(crate) use targets::{email_holder_blocks, held_by};

#[cfg(test)]
mod tests;
