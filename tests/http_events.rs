//! Every request and retry is counted where it happens, whoever sends it: the pull, remediation,
//! its re-reads and reconciliation.

mod common;

use common::Env;
use scimdrift::metrics::Metrics;
use scimdrift::sim::{Api, FaultKind, FaultRule, Faults};

/// The sum of a counter family in the Prometheus text.
fn total(text: &str, family: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(&format!("{family}{{")))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum()
}

#[tokio::test]
async fn remediation_requests_are_counted_like_the_pulls() {
    let mut env = Env::scenarios(5).await;
    let world = env.sim.world();
    env.extend_config(&format!(
        "\n[remediation]\nenabled = true\nmax_percent_of_population = 100.0\norg_directory_id = \"{}\"\n\n\
         [[remediation.rules]]\nkind = \"idp_inactive_account_active\"\naction = \"suspend\"\nmode = \"apply\"\nmin_confirmations = 1\n",
        world.labels["D1"]
    ));
    // One 503 on the suspend: a retry, counted too.
    env.sim
        .set_faults(Faults::rules([FaultRule::new(FaultKind::Status(503))
            .on(Api::Accounts)
            .path_contains("/suspend")
            .once()]));
    let metrics = Metrics::new();
    let o = scimdrift::cycle::run(&env.settings, &metrics)
        .await
        .unwrap();
    assert!(o.recorded.complete);
    let after_pull = env
        .sim
        .requests()
        .iter()
        .filter(|r| r.api.is_some())
        .count();
    let applied = scimdrift::app::remediation::run_cycle(&env.settings, &metrics)
        .await
        .unwrap();
    assert_eq!(applied.success, 1, "{applied:?}");
    let sent = env
        .sim
        .requests()
        .iter()
        .filter(|r| r.api.is_some())
        .count();
    assert!(sent > after_pull, "remediation sent requests");
    let text = metrics.render();
    assert_eq!(
        total(&text, "scimdrift_api_requests_total") as usize,
        sent,
        "every request the API received is counted\n{text}"
    );
    assert_eq!(total(&text, "scimdrift_api_retries_total"), 1.0);
    assert_eq!(
        text.lines()
            .find(|l| l.starts_with(
                "scimdrift_api_retries_total{api=\"accounts\",reason=\"server_error\"}"
            ))
            .and_then(|l| l.rsplit_once(' '))
            .map(|(_, v)| v),
        Some("1")
    );
}
