//! Prometheus metrics: one registry per process, named to Prometheus conventions. Label values are
//! bounded (configured directory names, finding kinds, severities, result classes): never an email,
//! a name or an id. The bottom layer: every component counts its own events here, where they
//! happen; this module imports no other.

pub mod openmetrics;

use prometheus::{
    Encoder, Gauge, GaugeVec, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

/// Every metric scimdrift exports. Cloning shares the same series.
#[derive(Clone)]
pub struct Metrics {
    pub registry: Registry,
    pub build_info: IntGaugeVec,
    pub pull_runs: IntCounterVec,
    pub pull_duration: Histogram,
    pub last_complete_pull: Gauge,
    pub pull_interval: Gauge,
    pub source_up: IntGaugeVec,
    pub source_records: IntGaugeVec,
    pub source_records_last_attempt: IntGaugeVec,
    pub snapshot_held: IntGaugeVec,
    pub unreadable_fields: IntGaugeVec,
    pub accounts_by_type: IntGaugeVec,
    pub api_requests: IntCounterVec,
    pub api_retries: IntCounterVec,
    pub findings: IntGaugeVec,
    pub findings_undetermined: IntGaugeVec,
    pub findings_opened: IntCounterVec,
    pub findings_resolved: IntCounterVec,
    pub cycle_skipped: IntCounter,
    pub db_size: IntGauge,
    pub remediation_actions: IntCounterVec,
    pub remediation_blocked: IntCounterVec,
    pub remediation_steps: IntCounterVec,
    pub remediation_breaker_tripped: IntGauge,
    pub remediation_intents_open: IntGauge,
    pub report_deliveries: IntCounterVec,
    pub config_reloads: IntCounterVec,
    pub idp_job_status: IntGaugeVec,
    pub group_members: IntGaugeVec,
    pub idp_last_successful_cycle: GaugeVec,
    pub idp_job_interval: IntGaugeVec,
    pub idp_quarantined_since: GaugeVec,
    pub idp_job_escrowed: IntGaugeVec,
    pub idp_skipped_users: IntGaugeVec,
    pub idp_app_status: IntGaugeVec,
    pub idp_app_feature: IntGaugeVec,
}

fn reg<M: prometheus::core::Collector + Clone + 'static>(r: &Registry, m: M) -> M {
    // Names are static and unique, so registration cannot fail; a failure would only drop the metric.
    let _ = r.register(Box::new(m.clone()));
    m
}

fn counter_vec(r: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    reg(
        r,
        IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric"),
    )
}

fn float_gauge_vec(r: &Registry, name: &str, help: &str, labels: &[&str]) -> GaugeVec {
    reg(
        r,
        GaugeVec::new(Opts::new(name, help), labels).expect("valid metric"),
    )
}

fn gauge_vec(r: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    reg(
        r,
        IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric"),
    )
}

impl Metrics {
    /// Creates and registers every metric.
    pub fn new() -> Metrics {
        let r = Registry::new();
        // The standard process_* metrics of this process (memory, CPU, open fds, start time).
        #[cfg(target_os = "linux")]
        let _ = r.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ));
        let m = Metrics {
            build_info: gauge_vec(
                &r,
                "scimdrift_build_info",
                "Build information; always 1: the version, the git revision and the Rust compiler's version.",
                &["version", "revision", "rustc"],
            ),
            pull_runs: counter_vec(
                &r,
                "scimdrift_pull_runs_total",
                "Pull cycles by result: complete, incomplete (a source failed; nothing acted on), held (a source shrank; nothing acted on) or error (config, store or a crash).",
                &["result"],
            ),
            pull_duration: reg(
                &r,
                Histogram::with_opts(
                    HistogramOpts::new(
                        "scimdrift_pull_duration_seconds",
                        "Wall time of one pull of every source.",
                    )
                    .buckets(vec![
                        0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0,
                    ]),
                )
                .expect("valid metric"),
            ),
            last_complete_pull: reg(
                &r,
                Gauge::new(
                    "scimdrift_last_complete_pull_timestamp_seconds",
                    "Unix time the last complete pull finished (0 before the first).",
                )
                .expect("valid metric"),
            ),
            pull_interval: reg(
                &r,
                Gauge::new(
                    "scimdrift_pull_interval_seconds",
                    "Configured interval between scheduled pulls.",
                )
                .expect("valid metric"),
            ),
            source_up: gauge_vec(
                &r,
                "scimdrift_source_up",
                "1 when the source was read completely in the last pull, else 0.",
                &["source"],
            ),
            source_records: gauge_vec(
                &r,
                "scimdrift_source_records",
                "Records (SCIM users or accounts) the source returned in the last complete pull (kept through outages and held pulls).",
                &["source"],
            ),
            source_records_last_attempt: gauge_vec(
                &r,
                "scimdrift_source_records_last_attempt",
                "Records the source returned in the last pull, complete or not.",
                &["source"],
            ),
            snapshot_held: gauge_vec(
                &r,
                "scimdrift_snapshot_held",
                "1 when the last pull was held because this source shrank beyond [pull] max_shrink_percent / max_shrink_records (nothing acted on).",
                &["source"],
            ),
            unreadable_fields: gauge_vec(
                &r,
                "scimdrift_unreadable_fields",
                "Records of the last pull with a field scimdrift could not read (left unknown, record kept), by source and field.",
                &["source", "field"],
            ),
            accounts_by_type: gauge_vec(
                &r,
                "scimdrift_accounts",
                "Accounts of the last complete pull by accountType (atlassian, app, customer); only atlassian accounts are subjects of findings.",
                &["account_type"],
            ),
            api_requests: counter_vec(
                &r,
                "scimdrift_api_requests_total",
                "HTTP requests to the Atlassian and IdP APIs by API and status class (2xx..5xx, error for transport failures, cancelled for a request dropped in flight).",
                &["api", "code_class"],
            ),
            api_retries: counter_vec(
                &r,
                "scimdrift_api_retries_total",
                "Retried requests by API and reason (rate_limited, server_error, timeout, connection).",
                &["api", "reason"],
            ),
            findings: gauge_vec(
                &r,
                "scimdrift_findings",
                "Current findings by kind, severity and status (open, suppressed).",
                &["kind", "severity", "status"],
            ),
            findings_undetermined: gauge_vec(
                &r,
                "scimdrift_findings_undetermined",
                "Open or suppressed findings the latest complete snapshot could not decide (a field their kind reads was unknown): kept as they were, never remediated, by kind.",
                &["kind"],
            ),
            findings_opened: counter_vec(
                &r,
                "scimdrift_findings_opened_total",
                "Findings opened (new or reopened) by kind.",
                &["kind"],
            ),
            findings_resolved: counter_vec(
                &r,
                "scimdrift_findings_resolved_total",
                "Findings resolved by kind.",
                &["kind"],
            ),
            cycle_skipped: reg(
                &r,
                IntCounter::new(
                    "scimdrift_cycle_skipped_total",
                    "Scheduled cycles skipped because the previous one was still running.",
                )
                .expect("valid metric"),
            ),
            db_size: reg(
                &r,
                IntGauge::new(
                    "scimdrift_db_size_bytes",
                    "Size of the SQLite database (file plus WAL).",
                )
                .expect("valid metric"),
            ),
            remediation_actions: counter_vec(
                &r,
                "scimdrift_remediation_actions_total",
                "Remediation actions by action and result.",
                &["action", "result"],
            ),
            remediation_steps: counter_vec(
                &r,
                "scimdrift_remediation_steps_total",
                "Allowed remediation steps in apply mode that were not sent, by action, result (skipped) and reason (target_changed, target_unreadable, group_given_up, org_directory_ambiguous, org_directory_unreadable).",
                &["action", "result", "reason"],
            ),
            remediation_blocked: counter_vec(
                &r,
                "scimdrift_remediation_blocked_total",
                "Planned remediation steps blocked, by guard.",
                &["guard"],
            ),
            remediation_breaker_tripped: reg(
                &r,
                IntGauge::new(
                    "scimdrift_remediation_breaker_tripped",
                    "1 when the spike breaker stopped all remediation in the last cycle.",
                )
                .expect("valid metric"),
            ),
            remediation_intents_open: reg(
                &r,
                IntGauge::new(
                    "scimdrift_remediation_intents_open",
                    "Remediation calls whose outcome is not known yet (intents without a result); nothing is applied while one cannot be reconciled.",
                )
                .expect("valid metric"),
            ),
            report_deliveries: counter_vec(
                &r,
                "scimdrift_report_deliveries_total",
                "Report deliveries by channel (webhook, email, directory) and result.",
                &["channel", "result"],
            ),
            config_reloads: counter_vec(
                &r,
                "scimdrift_config_reloads_total",
                "Configuration reloads (SIGHUP) by result: success, or failure (the old configuration stayed in force).",
                &["result"],
            ),
            group_members: gauge_vec(
                &r,
                "scimdrift_group_members",
                "Memberships of the directory's pushed IdP groups: side idp, the IdP groups' direct user members; side scim, the members the SCIM groups joined to them list. From the last complete IdP pull (no group names in labels).",
                &["directory", "side"],
            ),
            idp_job_status: gauge_vec(
                &r,
                "scimdrift_idp_job_status",
                "1 for the current status of the directory's IdP provisioning job (NotConfigured, NotRun, Active, Paused, Quarantine, unknown), 0 for the others; from the last complete IdP pull.",
                &["directory", "status"],
            ),
            idp_last_successful_cycle: float_gauge_vec(
                &r,
                "scimdrift_idp_last_successful_cycle_timestamp_seconds",
                "Unix time the directory's IdP provisioning job last completed a cycle (Succeeded or EntryLevelErrors), as the IdP reports it; 0 when it never did.",
                &["directory"],
            ),
            idp_job_interval: gauge_vec(
                &r,
                "scimdrift_idp_job_interval_seconds",
                "The IdP provisioning job's cycle interval (2400 when the IdP does not say).",
                &["directory"],
            ),
            idp_quarantined_since: float_gauge_vec(
                &r,
                "scimdrift_idp_quarantined_since_timestamp_seconds",
                "Unix time the IdP provisioning job's current quarantine series began; 0 when it is not quarantined.",
                &["directory"],
            ),
            idp_job_escrowed: gauge_vec(
                &r,
                "scimdrift_idp_job_escrowed",
                "Changes the IdP provisioning job's last run held back (Entra countEscrowed: deletions beyond the accidental-deletions threshold, entries to retry), by directory.",
                &["directory"],
            ),
            idp_skipped_users: gauge_vec(
                &r,
                "scimdrift_idp_skipped_users",
                "IdP users whose latest provisioning log event is `skipped` (as of the last complete IdP pull), by directory.",
                &["directory"],
            ),
            idp_app_status: gauge_vec(
                &r,
                "scimdrift_idp_app_status",
                "1 for the current status of the directory's Okta app (ACTIVE, INACTIVE, DELETED, unknown), 0 for the others; from the last complete IdP pull (Okta has no job: this is its provisioning state).",
                &["directory", "status"],
            ),
            idp_app_feature: gauge_vec(
                &r,
                "scimdrift_idp_app_feature",
                "1 when the directory's Okta app has the provisioning feature on (PUSH_NEW_USERS, PUSH_PROFILE_UPDATES, PUSH_USER_DEACTIVATION, GROUP_PUSH), 0 when off; absent while unknown. From the last complete IdP pull.",
                &["directory", "feature"],
            ),
            registry: r,
        };
        m.build_info
            .with_label_values(&[VERSION, REVISION, env!("SCIMDRIFT_RUSTC")])
            .set(1);
        m.init_series();
        m
    }

    /// Creates the bounded label combinations this module knows at zero, so every series exists
    /// from the first scrape (rates and alerts see the first event). The components that own the
    /// other label sets (APIs, finding kinds, remediation actions and guards) add theirs.
    fn init_series(&self) {
        for result in ["complete", "incomplete", "held", "error"] {
            self.pull_runs.with_label_values(&[result]);
        }
        for result in ["success", "failure"] {
            self.config_reloads.with_label_values(&[result]);
        }
        for channel in ["webhook", "email", "directory"] {
            for result in ["success", "failure"] {
                self.report_deliveries.with_label_values(&[channel, result]);
            }
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }

    /// The OpenMetrics 1.0 text exposition of every metric ([`openmetrics::encode`]).
    pub fn render_openmetrics(&self) -> String {
        openmetrics::encode(&self.registry.gather())
    }
}

/// The crate's version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The git revision it was built from (`unknown` outside a checkout).
pub const REVISION: &str = env!("SCIMDRIFT_REVISION");

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}
