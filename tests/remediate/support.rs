//! Shared set-up of the remediation tests: policies, the scenario world, the mutating requests
//! the simulator received.

pub use crate::common::Env;
pub use scimdrift::config::Settings;
pub use scimdrift::detect::Kind;
pub use scimdrift::findings::{FindingView, Status};
pub use scimdrift::metrics::Metrics;
pub use scimdrift::remediate::{self, Applied};
pub use scimdrift::sim::{FaultKind, FaultRule, Faults, LoggedRequest};
pub use scimdrift::store::NewAudit;

/// Requests that change something (reads: GET, accounts search, links for email).
pub fn mutations(env: &Env) -> Vec<LoggedRequest> {
    env.sim
        .requests()
        .into_iter()
        .filter(|r| r.method != "GET")
        .filter(|r| {
            !r.path.ends_with("/users/search") && !r.path.ends_with("get-scim-links-for-email")
        })
        .collect()
}

/// An enabled policy; the scenario org has two directories, so suspend/restore name D1.
pub fn policy_in(env: &Env, rules: &str, extra: &str) -> String {
    format!(
        "\n[remediation]\nenabled = true\nmax_actions_per_cycle = 5\nmax_percent_of_population = 100.0\nspike_threshold = 50\norg_directory_id = \"{}\"\n{extra}\n{rules}",
        label(env, "D1")
    )
}

pub fn rule(kind: &str, action: &str, mode: &str, confirmations: u32) -> String {
    format!(
        "[[remediation.rules]]\nkind = \"{kind}\"\naction = \"{action}\"\nmode = \"{mode}\"\nmin_confirmations = {confirmations}\n"
    )
}

pub fn suspend_rule(confirmations: u32) -> String {
    rule(
        "idp_inactive_account_active",
        "suspend",
        "apply",
        confirmations,
    )
}

pub async fn remediate(env: &Env) -> Applied {
    scimdrift::app::remediation::run_cycle(&env.settings, &Metrics::new())
        .await
        .unwrap()
}

pub fn open_of(env: &Env, kind: Kind) -> Vec<FindingView> {
    env.store()
        .findings()
        .unwrap()
        .into_iter()
        .filter(|f| f.kind == kind && f.status == Status::Open)
        .collect()
}

pub fn label(env: &Env, l: &str) -> String {
    env.sim.world().labels[l].clone()
}

/// Writes an `apply` intent without a result, as a crash before the result would leave it.
pub fn insert_intent(
    store: &scimdrift::store::Store,
    key: &str,
    action: &str,
    action_key: &str,
    targets: &serde_json::Value,
) {
    let row = NewAudit {
        idempotency_key: key,
        snapshot_id: 1,
        finding_id: "f",
        kind: "stale_inactive_link",
        action,
        mode: "apply",
        action_key,
        targets,
        reason: "test",
        at: "2026-01-01T00:00:00.000Z",
        contest: None,
    };
    assert!(store.audit_insert(&row, None, None).unwrap());
}

pub fn set_r9_active(env: &Env, active: bool) {
    let r9 = label(env, "R9");
    env.sim
        .update_world(|w| w.user_mut(&r9).unwrap().active = Some(active));
}

/// Deprovisions `n` healthy users in the IdP: `n` more leavers.
pub fn deprovision_healthy(env: &Env, n: usize) {
    set_healthy_active(env, n, false);
}

/// Sets `active` on the first `n` healthy linked users of the IdP (always the same ones).
pub fn set_healthy_active(env: &Env, n: usize, active: bool) {
    let labelled: Vec<String> = env.sim.world().labels.values().cloned().collect();
    env.sim.update_world(|w| {
        let users = w.directories[0]
            .users
            .iter_mut()
            .filter(|u| !labelled.contains(&u.id) && u.atlassian_account_id.is_some())
            .take(n);
        for u in users {
            u.active = Some(active);
        }
    });
}

/// Links a second record, in D2, to `account` (a copy of R7 with `active`).
pub fn add_linked_record(env: &Env, account: &str, active: bool) {
    let account = account.to_string();
    env.sim.update_world(|w| {
        let mut u = scimdrift::sim::SimUser::new(
            "extra-record",
            "dee2@example.com",
            "Dee",
            "Two",
            chrono::Utc::now() - chrono::Duration::days(100),
        );
        u.active = Some(active);
        u.atlassian_account_id = Some(account);
        w.directories[1].users.push(u);
    });
}

pub fn stale_delete_rule() -> String {
    rule("stale_inactive_link", "delete_scim_record", "apply", 2)
}

/// The scenario world pulled once with a suspend rule and quick retries; its first suspend call
/// is answered `first`, every later one 403.
pub async fn leaver_suspend_answered_then_403(first: FaultKind) -> Env {
    let mut env = Env::scenarios(20).await;
    env.extend_config(&policy_in(&env, &suspend_rule(1), ""));
    env.settings.atlassian.http.max_retries = 2;
    env.settings.atlassian.http.retry_base_delay_ms = 1;
    env.pull().await;
    env.sim.set_faults(Faults::rules([
        FaultRule::new(first).path_contains("/suspend").once(),
        FaultRule::new(FaultKind::Status(403))
            .path_contains("/suspend")
            .skip(1),
    ]));
    env
}

/// Email-conflict / duplicate-email rules for `kind`: unlink, then move.
pub fn conflict_rules(env: &Env, kind: &str) -> String {
    let rules = rule(kind, "unlink", "apply", 2) + &rule(kind, "move_email", "apply", 2);
    policy_in(env, &rules, "never_touch = [\"ana@example.com\"]")
}

/// A4 (`bo.new@example.com`) is also linked from a newer record in D1 with the same email, so
/// `email_conflict` {R3; A4} needs two unlinks before its move.
pub fn link_a4_from_d1_too(env: &Env) {
    let a4 = label(env, "A4");
    env.sim.update_world(|w| {
        let mut u = scimdrift::sim::SimUser::new(
            "extra-a4",
            "bo.new@example.com",
            "Bo",
            "New",
            chrono::Utc::now() - chrono::Duration::days(1),
        );
        u.atlassian_account_id = Some(a4);
        w.directories[0].users.push(u);
    });
}

pub fn unlink_and_move_rules(extra: &str) -> String {
    let with = |r: String| r + extra + "\n";
    with(rule("email_conflict", "unlink", "apply", 2))
        + &with(rule("email_conflict", "move_email", "apply", 2))
}

/// The scenario world with A4 linked twice, unlink and move rules for `email_conflict` (scoped to
/// D1 when `scope_d1`), pulled twice (confirmed).
pub async fn a4_linked_twice(scope_d1: bool) -> Env {
    let mut env = Env::scenarios(20).await;
    link_a4_from_d1_too(&env);
    let scope = if scope_d1 {
        format!("directories = [\"{}\"]", label(&env, "D1"))
    } else {
        String::new()
    };
    env.extend_config(&policy_in(&env, &unlink_and_move_rules(&scope), ""));
    env.pull().await;
    env.pull().await;
    env
}
