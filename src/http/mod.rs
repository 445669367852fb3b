//! The shared HTTP layer of every source (Atlassian and the IdPs): one place for timeouts, bounded
//! retries with backoff and jitter, rate-limit headers (`Retry-After`, `X-RateLimit-*`,
//! `x-ms-throttle-limit-percentage`), request windows (Graph reports: 5 requests / 10 s), a per-pull
//! retry budget and a concurrency limit per API. Each request and retry is counted and logged here,
//! once.

pub mod error;
pub mod settings;

pub use error::{ApiError, ErrorKind};
pub use settings::{HttpSettings, duration_secs};

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use rand::Rng;
use reqwest::{Method, StatusCode, header::HeaderMap};
use tokio::sync::Semaphore;
use tokio::time::Instant;

use crate::secret::Secret;

/// The API families, each with its own concurrency limit and rate-limit state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Api {
    /// `/scim/directory/…` (directory key)
    Scim,
    /// Organizations API v2 (org key)
    Accounts,
    /// `/admin/user-provisioning/v1/…` (org key)
    Provisioning,
    /// `/users/{id}/manage/…` (org key)
    UserManagement,
    /// Microsoft identity platform token endpoint (idp-api.md §1.1).
    EntraToken,
    /// Microsoft Graph directory and synchronization reads (idp-api.md §1.2–1.3).
    Graph,
    /// Graph `auditLogs/provisioning`: 5 requests / 10 s per app and tenant (idp-api.md §1.5).
    GraphReports,
    /// Graph `provisionOnDemand`: 5 requests / 10 s (idp-api.md §1.4).
    GraphProvisioning,
    /// Okta's org authorization server token endpoint (idp-api.md §2.1).
    OktaToken,
    /// Okta Management API reads: apps, app users, users, groups (idp-api.md §2.2).
    Okta,
    /// Okta System Log (idp-api.md §2.3): its own rate limit.
    OktaLogs,
}

impl Api {
    /// Label used in logs and metrics.
    pub fn label(self) -> &'static str {
        match self {
            Api::Scim => "scim",
            Api::Accounts => "accounts",
            Api::Provisioning => "provisioning",
            Api::UserManagement => "user_management",
            Api::EntraToken => "entra_token",
            Api::Graph => "graph",
            Api::GraphReports => "graph_reports",
            Api::GraphProvisioning => "graph_provisioning",
            Api::OktaToken => "okta_token",
            Api::Okta => "okta",
            Api::OktaLogs => "okta_logs",
        }
    }

    /// Every API, in index order.
    pub const ALL: [Api; 11] = [
        Api::Scim,
        Api::Accounts,
        Api::Provisioning,
        Api::UserManagement,
        Api::EntraToken,
        Api::Graph,
        Api::GraphReports,
        Api::GraphProvisioning,
        Api::OktaToken,
        Api::Okta,
        Api::OktaLogs,
    ];

    fn index(self) -> usize {
        self as usize
    }

    /// A client-side request window: at most `n` requests per `period` (the vendor's documented
    /// limit, so the client never provokes the 429).
    fn window(self) -> Option<(usize, Duration)> {
        match self {
            Api::GraphReports | Api::GraphProvisioning => Some((5, Duration::from_secs(10))),
            _ => None,
        }
    }

    /// The most requests in flight the vendor tolerates, whatever `concurrency` says: Okta's
    /// concurrency limit is per org (75, 35 on free plans) and shared with every other client of
    /// it, so scimdrift keeps at most 4 (idp-api.md §2.5).
    fn max_in_flight(self) -> Option<usize> {
        match self {
            Api::OktaToken | Api::Okta | Api::OktaLogs => Some(4),
            _ => None,
        }
    }
}

const APIS: usize = Api::ALL.len();

/// When the recent requests of one windowed API were sent.
type Window = std::sync::Arc<Mutex<VecDeque<Instant>>>;

/// Retry behaviour of the layer.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    pub max_retries: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// Total wait allowed across all retries of one pull.
    pub budget: Duration,
}

impl From<&HttpSettings> for RetryPolicy {
    fn from(h: &HttpSettings) -> Self {
        RetryPolicy {
            max_retries: h.max_retries,
            base_delay: Duration::from_millis(h.retry_base_delay_ms),
            max_delay: duration_secs(h.retry_max_delay_seconds),
            budget: duration_secs(h.retry_budget_seconds),
        }
    }
}

/// A reply with a success status (2xx), body fully read.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    /// The response headers (Okta's `Link` paging reads them).
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// One request to send.
pub struct Call<'a> {
    pub api: Api,
    pub method: Method,
    /// Appended to the layer's base URL, unless `url` is set.
    pub path: String,
    /// An absolute URL sent verbatim instead of base URL + `path` (a Graph `@odata.nextLink`,
    /// checked by the caller to be on the configured origin).
    pub url: Option<String>,
    pub query: Vec<(&'static str, String)>,
    pub json: Option<serde_json::Value>,
    /// A form-encoded body (the OAuth token request).
    pub form: Option<Vec<(&'static str, String)>>,
    /// Extra request headers.
    pub headers: Vec<(&'static str, String)>,
    /// Sent as `Authorization: Bearer` unless `bearer` is false; always redacted from errors.
    pub key: &'a Secret,
    pub bearer: bool,
    /// Source name for errors (`scim:entra`, `accounts`, …).
    pub origin: &'a str,
    /// Page or record for errors (`startIndex=1`, `cursor=…`).
    pub page: String,
    /// A 404 is an answer (single-record GET), not an error to retry or to report loudly.
    pub not_found_ok: bool,
}

/// Counters of requests and retries, read by the pull summary and the metrics.
#[derive(Debug, Default)]
pub struct HttpStats {
    /// (api, code class `2xx`…`5xx` or `error`) → requests.
    pub requests: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
    /// (api, reason) → retries.
    pub retries: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
    /// api → how long a throttle (429 with its wait) held every request to it, counted once
    /// however many requests were in flight.
    pub throttled: Mutex<BTreeMap<&'static str, Duration>>,
}

impl HttpStats {
    fn bump(
        map: &Mutex<BTreeMap<(&'static str, &'static str), u64>>,
        key: (&'static str, &'static str),
    ) {
        if let Ok(mut m) = map.lock() {
            *m.entry(key).or_default() += 1;
        }
    }

    /// Total retries so far.
    pub fn total_retries(&self) -> u64 {
        self.retries.lock().map(|m| m.values().sum()).unwrap_or(0)
    }

    /// api → seconds a throttle held it.
    pub fn throttled_seconds(&self) -> BTreeMap<&'static str, f64> {
        self.throttled
            .lock()
            .map(|m| m.iter().map(|(k, d)| (*k, d.as_secs_f64())).collect())
            .unwrap_or_default()
    }
}

/// The shared client. Create one per pull: its retry budget is per pull.
pub struct HttpLayer {
    client: reqwest::Client,
    base_url: String,
    policy: RetryPolicy,
    limits: [std::sync::Arc<Semaphore>; APIS],
    /// Per API: do not send before this instant (rate limit remaining reached 0, or Graph asked to
    /// slow down).
    not_before: Mutex<[Option<Instant>; APIS]>,
    /// Per API with a request window: when its recent requests were sent (shared with every
    /// other layer of the same [`with_window_key`](Self::with_window_key)).
    sent: [Window; APIS],
    /// Retry wait spent so far in this pull, plus the time of failed attempts that were retried.
    waited: Mutex<Duration>,
    /// Largest body one reply may have.
    max_page_bytes: u64,
    /// No request is sent, and none still running is waited for, past this instant.
    deadline: Instant,
    /// The deadline's length, for messages.
    deadline_after: Duration,
    pub stats: HttpStats,
    events: Option<std::sync::Arc<dyn HttpEvents>>,
}

/// Told of every request and retry as it happens, whoever the caller (pull, remediation,
/// reconciliation, look-ups): the metrics implement it.
pub trait HttpEvents: Send + Sync {
    /// One request answered (`code_class` `2xx`…`5xx`) or failed in transport (`error`).
    fn request(&self, api: &'static str, code_class: &'static str);
    /// One retry, by reason (`rate_limited`, `server_error`, `timeout`, `connection`).
    fn retry(&self, api: &'static str, reason: &'static str);
}

/// Requests and retries are counted where they happen, for every caller of the HTTP layer.
impl HttpEvents for crate::metrics::Metrics {
    fn request(&self, api: &'static str, code_class: &'static str) {
        self.api_requests
            .with_label_values(&[api, code_class])
            .inc();
    }

    fn retry(&self, api: &'static str, reason: &'static str) {
        self.api_retries.with_label_values(&[api, reason]).inc();
    }
}

/// Creates the request and retry series of every API at zero.
pub fn init_metrics(m: &crate::metrics::Metrics) {
    for api in Api::ALL {
        for class in ["2xx", "3xx", "4xx", "5xx", "error"] {
            m.api_requests.with_label_values(&[api.label(), class]);
        }
        for reason in ["rate_limited", "server_error", "timeout", "connection"] {
            m.api_retries.with_label_values(&[api.label(), reason]);
        }
    }
}

/// Why one attempt produced no reply.
enum AttemptError {
    Transport(reqwest::Error),
    /// The body is larger than `max_page_bytes` (by its `Content-Length` or as read).
    TooLarge,
}

impl HttpLayer {
    /// Builds the layer from the `[atlassian.http]` settings.
    pub fn new(base_url: &str, http: &HttpSettings) -> Result<Self, ApiError> {
        let timeout = duration_secs(http.timeout_seconds).max(Duration::from_millis(1));
        let client = reqwest::Client::builder()
            .user_agent(concat!("scimdrift/", env!("CARGO_PKG_VERSION")))
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| ApiError::new("http", "setup", ErrorKind::Transport, e.to_string()))?;
        let permits = http.concurrency.max(1);
        let deadline_after = duration_secs(http.pull_deadline_seconds);
        Ok(HttpLayer {
            client,
            base_url: base_url.trim_end_matches('/').to_string(),
            policy: RetryPolicy::from(http),
            limits: std::array::from_fn(|i| {
                std::sync::Arc::new(Semaphore::new(
                    Api::ALL[i]
                        .max_in_flight()
                        .map_or(permits, |m| permits.min(m)),
                ))
            }),
            not_before: Mutex::new([None; APIS]),
            sent: std::array::from_fn(|_| Window::default()),
            waited: Mutex::new(Duration::ZERO),
            max_page_bytes: http.max_page_bytes,
            deadline: Instant::now() + deadline_after,
            deadline_after,
            stats: HttpStats::default(),
            events: None,
        })
    }

    /// Shares the request windows (Graph reports, provision on demand) with every layer of the
    /// process built with the same `key`: the vendor's limit is per app and tenant, whichever
    /// pull, directory or remediation run sends, so consecutive or concurrent clients of one app
    /// never exceed it together.
    pub fn with_window_key(mut self, key: &str) -> Self {
        static SHARED: std::sync::LazyLock<Mutex<BTreeMap<(String, Api), Window>>> =
            std::sync::LazyLock::new(Default::default);
        if let Ok(mut shared) = SHARED.lock() {
            for api in Api::ALL.into_iter().filter(|a| a.window().is_some()) {
                self.sent[api.index()] = shared.entry((key.to_string(), api)).or_default().clone();
            }
        }
        self
    }

    /// Makes `apis` share one limit of in-flight requests with every layer of the process built
    /// with the same `key` (Okta's concurrency limit is per org: every API of it, every directory
    /// and pull reading that org, counts against it). The limit is the smallest of those APIs'.
    pub fn with_shared_limit(mut self, key: &str, apis: &[Api]) -> Self {
        type Shared = BTreeMap<String, std::sync::Arc<Semaphore>>;
        static SHARED: std::sync::LazyLock<Mutex<Shared>> =
            std::sync::LazyLock::new(Default::default);
        let permits = apis
            .iter()
            .map(|a| self.limits[a.index()].available_permits())
            .min()
            .unwrap_or(1)
            .max(1);
        if let Ok(mut shared) = SHARED.lock() {
            let semaphore = shared
                .entry(key.to_string())
                .or_insert_with(|| std::sync::Arc::new(Semaphore::new(permits)))
                .clone();
            for api in apis {
                self.limits[api.index()] = semaphore.clone();
            }
        }
        self
    }

    /// Reports every request and retry to `events` too (as they happen).
    pub fn with_events(mut self, events: std::sync::Arc<dyn HttpEvents>) -> Self {
        self.events = Some(events);
        self
    }

    /// Sends `call`, retrying 429/5xx/timeouts/resets within the policy and the pull's budget.
    /// Returns the 2xx reply; `Ok(None)` for a 404 when `not_found_ok`.
    /// An error carries the number of retries made before it ([`ApiError::retries`],
    /// [`ApiError::uncertain_retries`]).
    pub async fn send(&self, call: &Call<'_>) -> Result<Option<Reply>, ApiError> {
        let (mut attempt, mut uncertain) = (0u32, 0u32);
        let past_deadline = || {
            ApiError::new(
                call.origin,
                &call.page,
                ErrorKind::BudgetExhausted,
                format!(
                    "the pull deadline of {}s (atlassian.http.pull_deadline_seconds) has passed; the request was given up",
                    self.deadline_after.as_secs_f64()
                ),
            )
        };
        let result = if Instant::now() >= self.deadline {
            Err(past_deadline())
        } else {
            tokio::time::timeout_at(
                self.deadline,
                self.send_counting(call, &mut attempt, &mut uncertain),
            )
            .await
            .unwrap_or_else(|_| Err(past_deadline()))
        };
        result.map_err(|e| ApiError {
            retries: attempt,
            uncertain_retries: uncertain,
            ..e
        })
    }

    async fn send_counting(
        &self,
        call: &Call<'_>,
        attempt: &mut u32,
        uncertain: &mut u32,
    ) -> Result<Option<Reply>, ApiError> {
        let err = |kind, msg: String| ApiError::new(call.origin, &call.page, kind, msg);
        let url = call
            .url
            .clone()
            .unwrap_or_else(|| format!("{}{}", self.base_url, call.path));
        loop {
            self.wait_not_before(call.api).await;
            let reserved = self.wait_window(call.api).await;
            let (outcome, took) = {
                let _permit = self.limits[call.api.index()]
                    .acquire()
                    .await
                    .map_err(|_| err(ErrorKind::Transport, "client is shutting down".into()))?;
                // A throttle may have closed the gate while this request queued for its permit.
                self.wait_not_before(call.api).await;
                let started = Instant::now();
                let outcome = self.attempt(call, &url).await;
                (outcome, started.elapsed())
            };
            if let Some(at) = reserved {
                self.window_done(call.api, at);
            }
            let (reason, wait_hint, last) = match outcome {
                Ok((status, headers, body)) => {
                    // A 429's wait (Retry-After or the reset) is its throttle gate, set below.
                    if status != StatusCode::TOO_MANY_REQUESTS {
                        self.note_rate_limit(call.api, &headers);
                    }
                    if status.is_success() {
                        return Ok(Some(Reply {
                            status,
                            headers,
                            body,
                        }));
                    }
                    if status == StatusCode::NOT_FOUND && call.not_found_ok {
                        return Ok(None);
                    }
                    match status.as_u16() {
                        429 => (
                            "rate_limited",
                            rate_limit_wait(&headers),
                            format!("HTTP 429 ({})", detail(&body, call.key.expose())),
                        ),
                        500 | 502 | 503 | 504 => (
                            "server_error",
                            None,
                            format!(
                                "HTTP {} ({})",
                                status.as_u16(),
                                detail(&body, call.key.expose())
                            ),
                        ),
                        401 => {
                            return Err(err(
                                ErrorKind::Unauthorized,
                                unauthorized_hint(call, &body),
                            ));
                        }
                        403 => {
                            return Err(err(
                                ErrorKind::Forbidden,
                                format!(
                                    "HTTP 403: the key lacks permission ({})",
                                    detail(&body, call.key.expose())
                                ),
                            ));
                        }
                        404 => {
                            return Err(err(
                                ErrorKind::NotFound,
                                format!("HTTP 404: {}", detail(&body, call.key.expose())),
                            ));
                        }
                        code => {
                            return Err(err(
                                ErrorKind::Status(code),
                                format!("HTTP {code}: {}", detail(&body, call.key.expose())),
                            ));
                        }
                    }
                }
                Err(AttemptError::TooLarge) => {
                    return Err(err(
                        ErrorKind::Malformed,
                        format!(
                            "page larger than {} bytes (atlassian.http.max_page_bytes): not read",
                            self.max_page_bytes
                        ),
                    ));
                }
                Err(AttemptError::Transport(e)) => {
                    let reason = if e.is_timeout() {
                        "timeout"
                    } else {
                        "connection"
                    };
                    (reason, None, transport_message(&e))
                }
            };
            if *attempt >= self.policy.max_retries {
                return Err(err(
                    ErrorKind::RetriesExhausted,
                    format!("gave up after {attempt} retries: {last}"),
                ));
            }
            if reason == "rate_limited" {
                // The server's own wait is honoured up to the pull deadline (Graph has been seen
                // asking for 315 s): every request to the API waits on one shared gate. The wait is
                // the server's, not a retry of ours: it is bounded by the deadline and counted once
                // per gate (`throttled`), never against the retry budget (which only the attempt's
                // own time is charged to).
                let wait = wait_hint.unwrap_or_else(|| backoff(&self.policy, *attempt));
                let until = Instant::now() + wait;
                if until > self.deadline {
                    return Err(err(
                        ErrorKind::BudgetExhausted,
                        format!(
                            "throttled for {} s, past the pull deadline of {} s (atlassian.http.pull_deadline_seconds): {last}",
                            wait.as_secs(),
                            self.deadline_after.as_secs()
                        ),
                    ));
                }
                self.hold(call.api, until);
                if !self.take_budget(took) {
                    return Err(err(
                        ErrorKind::BudgetExhausted,
                        format!(
                            "retry budget of {:?} for this pull is spent: {last}",
                            self.policy.budget
                        ),
                    ));
                }
                *attempt += 1;
                self.retried(call, reason, *attempt, wait, &last);
                continue;
            }
            let wait = wait_hint
                .unwrap_or_else(|| backoff(&self.policy, *attempt))
                .min(self.policy.max_delay);
            // The failed attempt's own time counts too: a server that never answers spends the
            // budget in timeouts, not only in waits.
            if !self.take_budget(wait + took) {
                return Err(err(
                    ErrorKind::BudgetExhausted,
                    format!(
                        "retry budget of {:?} for this pull is spent: {last}",
                        self.policy.budget
                    ),
                ));
            }
            *attempt += 1;
            *uncertain += 1;
            self.retried(call, reason, *attempt, wait, &last);
            tokio::time::sleep(wait).await;
        }
    }

    /// One retry: counted, reported and logged here, once.
    fn retried(
        &self,
        call: &Call<'_>,
        reason: &'static str,
        attempt: u32,
        wait: Duration,
        last: &str,
    ) {
        HttpStats::bump(&self.stats.retries, (call.api.label(), reason));
        if let Some(events) = &self.events {
            events.retry(call.api.label(), reason);
        }
        tracing::warn!(
            api = call.api.label(),
            source = call.origin,
            page = %call.page,
            reason,
            attempt,
            wait_ms = wait.as_millis() as u64,
            "retrying request: {last}"
        );
    }

    /// Holds every request to `api` until `until` (the throttle's shared gate) and returns how much
    /// later than before the gate now opens: what this throttle adds to the pull's wait, counted
    /// once however many requests were refused together.
    fn hold(&self, api: Api, until: Instant) -> Duration {
        let Ok(mut nb) = self.not_before.lock() else {
            return Duration::ZERO;
        };
        let now = Instant::now();
        let open = nb[api.index()].unwrap_or(now).max(now);
        let extension = until.saturating_duration_since(open);
        if until > open {
            nb[api.index()] = Some(until);
        }
        if let Ok(mut t) = self.stats.throttled.lock() {
            *t.entry(api.label()).or_default() += extension;
        }
        extension
    }

    async fn attempt(
        &self,
        call: &Call<'_>,
        url: &str,
    ) -> Result<(StatusCode, HeaderMap, Bytes), AttemptError> {
        let mut req = self.client.request(call.method.clone(), url).header(
            reqwest::header::ACCEPT,
            "application/json, application/scim+json",
        );
        if call.bearer {
            req = req.bearer_auth(call.key.expose());
        }
        for (name, value) in &call.headers {
            req = req.header(*name, value);
        }
        if !call.query.is_empty() {
            req = req.query(&call.query);
        }
        if let Some(body) = &call.json {
            req = req.json(body);
        }
        if let Some(form) = &call.form {
            req = req.form(form);
        }
        let max = self.max_page_bytes;
        // Dropped before its answer (a page asked ahead that was not needed, the pull's
        // deadline): it may have reached the server, so it is counted, as `cancelled`.
        let mut unanswered = Unanswered {
            layer: self,
            api: call.api,
            armed: true,
        };
        let result = async {
            let mut resp = req.send().await.map_err(AttemptError::Transport)?;
            let status = resp.status();
            let headers = resp.headers().clone();
            if resp.content_length().is_some_and(|n| n > max) {
                return Err(AttemptError::TooLarge);
            }
            // Read in chunks, so a page past the cap is refused without being held whole.
            let mut body =
                Vec::with_capacity(resp.content_length().unwrap_or(0).min(1 << 20) as usize);
            while let Some(chunk) = resp.chunk().await.map_err(AttemptError::Transport)? {
                if (body.len() + chunk.len()) as u64 > max {
                    return Err(AttemptError::TooLarge);
                }
                body.extend_from_slice(&chunk);
            }
            Ok((status, headers, Bytes::from(body)))
        }
        .await;
        unanswered.armed = false;
        let class = match &result {
            Ok((s, _, _)) => match s.as_u16() {
                200..=299 => "2xx",
                300..=399 => "3xx",
                400..=499 => "4xx",
                _ => "5xx",
            },
            Err(_) => "error",
        };
        self.count_request(call.api, class);
        result
    }

    /// Counts one request (its metric and its event) by the class of its answer: `2xx`…`5xx`,
    /// `error` (no answer: a transport failure) or `cancelled` (dropped while in flight).
    fn count_request(&self, api: Api, class: &'static str) {
        HttpStats::bump(&self.stats.requests, (api.label(), class));
        if let Some(events) = &self.events {
            events.request(api.label(), class);
        }
    }

    /// Waits until the API's gate opens; a gate moved later while waiting is waited for too.
    async fn wait_not_before(&self, api: Api) {
        loop {
            let until = self.not_before.lock().ok().and_then(|nb| nb[api.index()]);
            match until {
                Some(until) if until > Instant::now() => tokio::time::sleep_until(until).await,
                _ => return,
            }
        }
    }

    /// Waits until the API's request window has room, then takes a place in it (returned, for
    /// [`window_done`](Self::window_done)); `None` for an API without a window.
    async fn wait_window(&self, api: Api) -> Option<Instant> {
        let (n, period) = api.window()?;
        loop {
            let wait = {
                let Ok(mut q) = self.sent[api.index()].lock() else {
                    return None;
                };
                let now = Instant::now();
                while q.front().is_some_and(|t| now.duration_since(*t) >= period) {
                    q.pop_front();
                }
                if q.len() < n {
                    q.push_back(now);
                    return Some(now);
                }
                q.front()
                    .map(|t| period.saturating_sub(now.duration_since(*t)))
            };
            tokio::time::sleep(wait.unwrap_or(period)).await;
        }
    }

    /// Moves the window place taken at `reserved` to now, when the attempt has ended: the server
    /// counted the request at its arrival, somewhere in between, so the window runs from the end
    /// (a request that waited for a connection or its upload cannot make the next one early).
    fn window_done(&self, api: Api, reserved: Instant) {
        let Ok(mut q) = self.sent[api.index()].lock() else {
            return;
        };
        if let Some(slot) = q.iter_mut().find(|t| **t == reserved) {
            *slot = Instant::now();
        }
        q.make_contiguous().sort();
    }

    /// When `X-RateLimit-Remaining` reaches 0, hold further requests of that API until the reset;
    /// when Graph reports `x-ms-throttle-limit-percentage` ≥ 0.8 (of the app's resource units
    /// spent), slow that API down by a second before it throttles (idp-api.md §1.5).
    fn note_rate_limit(&self, api: Api, headers: &HeaderMap) {
        let throttle = header_str(headers, "x-ms-throttle-limit-percentage")
            .and_then(|v| v.trim().parse::<f64>().ok());
        if throttle.is_some_and(|p| p >= 0.8)
            && let Ok(mut nb) = self.not_before.lock()
        {
            let until = Instant::now() + Duration::from_secs(1).min(self.policy.max_delay);
            nb[api.index()] = Some(nb[api.index()].map_or(until, |t| t.max(until)));
        }
        let remaining =
            header_str(headers, "x-ratelimit-remaining").and_then(|v| v.trim().parse::<u64>().ok());
        let okta_spent = okta_count(headers, "x-rate-limit-remaining") == Some(0)
            && okta_count(headers, "x-rate-limit-limit").is_some_and(|l| l > 0);
        if remaining != Some(0) && !okta_spent {
            return;
        }
        if let Some(wait) = reset_wait(headers).or_else(|| okta_reset_wait(headers)) {
            let wait = wait.min(self.policy.max_delay);
            if let Ok(mut nb) = self.not_before.lock() {
                // Never earlier than a throttle's gate already set.
                let until = Instant::now() + wait;
                nb[api.index()] = Some(nb[api.index()].map_or(until, |t| t.max(until)));
            }
        }
    }

    fn take_budget(&self, wait: Duration) -> bool {
        let Ok(mut waited) = self.waited.lock() else {
            return false;
        };
        if *waited + wait > self.policy.budget {
            return false;
        }
        *waited += wait;
        true
    }
}

/// Exponential backoff with full jitter: a random delay in [base·2^n / 2, base·2^n].
fn backoff(policy: &RetryPolicy, attempt: u32) -> Duration {
    let ceiling = policy
        .base_delay
        .saturating_mul(1u32 << attempt.min(16))
        .min(policy.max_delay);
    let half = ceiling / 2;
    let jitter = rand::rng().random_range(0..=half.as_millis().max(1) as u64);
    half + Duration::from_millis(jitter)
}

fn header_str<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// An Okta `X-Rate-Limit-*` count.
fn okta_count(headers: &HeaderMap, name: &str) -> Option<u64> {
    header_str(headers, name).and_then(|v| v.trim().parse().ok())
}

/// Okta's wait (idp-api.md §2.5): `X-Rate-Limit-Reset` (UTC epoch seconds) minus the reply's
/// `Date`, plus 1 s, measured against the server's clock, not ours. `None` for a concurrency 429
/// (`X-Rate-Limit-Limit` and `-Remaining` both 0: back off) or without the header.
fn okta_reset_wait(headers: &HeaderMap) -> Option<Duration> {
    if okta_count(headers, "x-rate-limit-limit") == Some(0)
        && okta_count(headers, "x-rate-limit-remaining") == Some(0)
    {
        return None;
    }
    let reset = okta_count(headers, "x-rate-limit-reset")?;
    let date = header_str(headers, "date")
        .and_then(|d| httpdate::parse_http_date(d.trim()).ok())
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or_else(|| Utc::now().timestamp().max(0) as u64, |d| d.as_secs());
    Some(Duration::from_secs(
        reset
            .saturating_sub(date)
            .saturating_add(1)
            .min(MAX_SERVER_WAIT_SECS),
    ))
}

/// The longest wait a server's header is believed for: a day (anything longer is past every pull
/// deadline anyway, and a hostile value must not overflow an instant).
const MAX_SERVER_WAIT_SECS: u64 = 86_400;

/// Wait asked by a 429: the later of `Retry-After` (seconds or HTTP date) and `X-RateLimit-Reset`
/// (Okta: `X-Rate-Limit-Reset` against `Date`).
fn rate_limit_wait(headers: &HeaderMap) -> Option<Duration> {
    let retry_after = header_str(headers, "retry-after").and_then(|v| {
        let v = v.trim();
        v.parse::<u64>().map(Duration::from_secs).ok().or_else(|| {
            httpdate::parse_http_date(v).ok().map(|t| {
                t.duration_since(std::time::SystemTime::now())
                    .unwrap_or_default()
            })
        })
    });
    let max = Duration::from_secs(MAX_SERVER_WAIT_SECS);
    match (
        retry_after,
        reset_wait(headers).or_else(|| okta_reset_wait(headers)),
    ) {
        (Some(a), Some(b)) => Some(a.max(b).min(max)),
        (a, b) => a.or(b).map(|w| w.min(max)),
    }
}

/// Time until `X-RateLimit-Reset` (an ISO-8601 UTC time).
fn reset_wait(headers: &HeaderMap) -> Option<Duration> {
    let reset = header_str(headers, "x-ratelimit-reset")?;
    let at: DateTime<Utc> = DateTime::parse_from_rfc3339(reset.trim())
        .ok()?
        .with_timezone(&Utc);
    Some((at - Utc::now()).to_std().unwrap_or_default())
}

/// A short description of an error body: SCIM `detail`, `{"error"}`, `[{"message"}]`, `{"key"}`,
/// else an excerpt of every string in it. The text reaches logs, outputs and the database, and a
/// server (or a proxy echoing the request's headers) may have put a key in it, in any encoding. So
/// it is built from decoded text only (a JSON body is decoded whole; escapes left in its strings
/// or in any other body are resolved), then the `key` that was sent and every registered secret
/// (raw in any case, base64, base64url, hex: [`crate::secret::redact`]) are redacted, then
/// anything token-like ([`crate::secret::scrub_tokens`]: JWTs, long hex and random-looking base64
/// runs, the credential after `Bearer`/`SSWS`/`Basic`), and only then is it cut to 200 characters.
pub fn detail(body: &[u8], key: &str) -> String {
    let text = match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(v) => {
            let first = v.as_array().and_then(|a| a.first()).unwrap_or(&v);
            fn text<'v>(k: &str, o: &'v serde_json::Value) -> Option<&'v str> {
                o.get(k).and_then(|x| x.as_str())
            }
            // OAuth (`error` + `error_description`: the AADSTS code is in the description) and
            // Graph (`error: {code, message}`) errors.
            let oauth = text("error", first)
                .zip(text("error_description", first))
                .map(|(e, d)| format!("{e}: {d}"));
            let graph =
                first
                    .get("error")
                    .and_then(|e| match (text("code", e), text("message", e)) {
                        (Some(c), Some(m)) => Some(format!("{c}: {m}")),
                        (c, m) => c.or(m).map(str::to_string),
                    });
            // Okta (`errorCode` + `errorSummary`, idp-api.md §2.5).
            let okta = text("errorCode", first)
                .zip(text("errorSummary", first))
                .map(|(c, m)| format!("{c}: {m}"));
            oauth
                .or(okta)
                .or_else(|| {
                    ["detail", "message", "error", "key"]
                        .iter()
                        .find_map(|k| text(k, first).map(str::to_string))
                })
                .or(graph)
                .unwrap_or_else(|| {
                    let mut parts = Vec::new();
                    decoded_strings(&v, "", &mut parts);
                    parts.join("; ")
                })
        }
        // Not JSON: an excerpt.
        Err(_) => String::from_utf8_lossy(&body[..body.len().min(4096)]).into_owned(),
    };
    // JSON-style escapes resolved (in a non-JSON body, or escaped twice in a JSON string), so an
    // escaped key is found.
    let text = unescape(&text);
    let text = if key.is_empty() {
        text
    } else {
        text.replace(key, crate::secret::REDACTED)
    };
    let text = crate::secret::scrub_tokens(&crate::secret::redact(&text));
    let text = text.trim();
    if text.is_empty() {
        return "no body".into();
    }
    text.chars().take(200).collect()
}

/// Every string and scalar of a JSON value, decoded, as `name: value`.
fn decoded_strings(v: &serde_json::Value, name: &str, out: &mut Vec<String>) {
    use serde_json::Value;
    match v {
        Value::Object(map) => map.iter().for_each(|(k, v)| decoded_strings(v, k, out)),
        Value::Array(items) => items.iter().for_each(|v| decoded_strings(v, name, out)),
        Value::Null => {}
        Value::String(s) if name.is_empty() => out.push(s.clone()),
        Value::String(s) => out.push(format!("{name}: {s}")),
        other if name.is_empty() => out.push(other.to_string()),
        other => out.push(format!("{name}: {other}")),
    }
}

/// Resolves `\uXXXX` (with surrogate pairs) and `\/` escapes in text that is not JSON.
fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('\\') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let hex = |s: &str| {
            s.get(2..6)
                .filter(|h| h.chars().all(|c| c.is_ascii_hexdigit()))
                .and_then(|h| u32::from_str_radix(h, 16).ok())
        };
        if rest.starts_with("\\u")
            && let Some(hi) = hex(rest)
        {
            if (0xD800..0xDC00).contains(&hi)
                && rest[6..].starts_with("\\u")
                && let Some(lo) = hex(&rest[6..])
                && (0xDC00..0xE000).contains(&lo)
            {
                let c = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
                out.push(char::from_u32(c).unwrap_or('\u{fffd}'));
                rest = &rest[12..];
            } else {
                out.push(char::from_u32(hi).unwrap_or('\u{fffd}'));
                rest = &rest[6..];
            }
        } else if rest.starts_with("\\/") {
            out.push('/');
            rest = &rest[2..];
        } else {
            out.push('\\');
            rest = &rest[1..];
        }
    }
    out.push_str(rest);
    out
}

fn unauthorized_hint(call: &Call<'_>, body: &[u8]) -> String {
    match call.api {
        Api::EntraToken => format!(
            "the client credentials were refused (HTTP 401: {}); check client_id, the client secret or certificate, and tenant_id",
            detail(body, call.key.expose())
        ),
        Api::Graph | Api::GraphReports | Api::GraphProvisioning => format!(
            "the Graph access token was refused (HTTP 401: {})",
            detail(body, call.key.expose())
        ),
        Api::OktaToken => format!(
            "the service app's client assertion was refused (HTTP 401: {}); check client_id, that private_key_file is the key registered on the service app (and key_id its kid), and that the app uses private_key_jwt",
            detail(body, call.key.expose())
        ),
        Api::Okta | Api::OktaLogs => format!(
            "Okta refused the credential (HTTP 401: {}); an API token expires after 30 days unused",
            detail(body, call.key.expose())
        ),
        Api::Scim => format!(
            "the directory API key for {} was refused (HTTP 401: {}); check it is that directory's key, not the org key or another directory's",
            call.origin,
            detail(body, call.key.expose())
        ),
        _ => format!(
            "the org API key was refused (HTTP 401: {}); a 401 here usually means a directory API key was used instead of the org key",
            detail(body, call.key.expose())
        ),
    }
}

/// A transport error without the URL's query or any header.
fn transport_message(e: &reqwest::Error) -> String {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else if e.is_body() || e.is_decode() {
        "reply body could not be read"
    } else {
        "request failed"
    };
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(e);
    let mut cause = String::new();
    while let Some(s) = source {
        cause = s.to_string();
        source = s.source();
    }
    if cause.is_empty() {
        what.to_string()
    } else {
        format!("{what}: {cause}")
    }
}

/// An attempt in flight: counted as `cancelled` if it is dropped before its answer
/// ([`HttpLayer::count_request`]).
struct Unanswered<'a> {
    layer: &'a HttpLayer,
    api: Api,
    armed: bool,
}

impl Drop for Unanswered<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.layer.count_request(self.api, "cancelled");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_retries: 5,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(2),
            budget: Duration::from_secs(10),
        }
    }

    #[tokio::test]
    async fn graph_near_its_throttle_limit_slows_that_api_down() {
        let layer = HttpLayer::new("http://127.0.0.1:9", &HttpSettings::default()).unwrap();
        let mut h = HeaderMap::new();
        h.insert(
            "x-ms-throttle-limit-percentage",
            HeaderValue::from_static("0.5"),
        );
        layer.note_rate_limit(Api::Graph, &h);
        assert!(layer.not_before.lock().unwrap()[Api::Graph.index()].is_none());
        h.insert(
            "x-ms-throttle-limit-percentage",
            HeaderValue::from_static("0.85"),
        );
        let before = Instant::now();
        layer.note_rate_limit(Api::Graph, &h);
        let nb = layer.not_before.lock().unwrap();
        let until = nb[Api::Graph.index()].expect("Graph is held back");
        assert!(
            until >= before + Duration::from_millis(900),
            "{:?}",
            until - before
        );
        // Only the API that reported it.
        assert!(nb[Api::GraphReports.index()].is_none());
        assert!(nb[Api::Scim.index()].is_none());
    }

    /// Issue 20, item 5: a throttle is one shared gate per API; each 429 moves it only as far as
    /// its own wait reaches, so five requests refused together count the wait once.
    #[tokio::test(start_paused = true)]
    async fn a_throttle_is_one_gate_charged_once() {
        let layer = HttpLayer::new("http://127.0.0.1:9", &HttpSettings::default()).unwrap();
        let now = Instant::now();
        let wait = Duration::from_secs(315);
        assert_eq!(layer.hold(Api::Graph, now + wait), wait);
        for i in 1..=4 {
            // The others in flight, refused a moment later with the same Retry-After.
            let extra = layer.hold(Api::Graph, now + wait + Duration::from_millis(i));
            assert_eq!(extra, Duration::from_millis(1), "request {i}");
        }
        // A shorter wait never moves the gate back.
        assert_eq!(
            layer.hold(Api::Graph, now + Duration::from_secs(10)),
            Duration::ZERO
        );
        let held = layer.stats.throttled_seconds()["graph"];
        assert!((held - 315.004).abs() < 1e-6, "{held}");
        assert!(layer.not_before.lock().unwrap()[Api::Scim.index()].is_none());
        // Every request to the API waits for the gate, however late it moved.
        let started = Instant::now();
        layer.wait_not_before(Api::Graph).await;
        assert!(started.elapsed() >= Duration::from_millis(315_004));
        // Once open, a new throttle charges its whole wait again.
        assert_eq!(
            layer.hold(Api::Graph, Instant::now() + Duration::from_secs(5)),
            Duration::from_secs(5)
        );
    }

    #[test]
    fn backoff_grows_and_stays_capped() {
        let p = policy();
        for attempt in 0..20 {
            let d = backoff(&p, attempt);
            let ceiling = (p.base_delay * (1 << attempt.min(16))).min(p.max_delay);
            assert!(
                d >= ceiling / 2 && d <= ceiling + Duration::from_millis(1),
                "{attempt}: {d:?}"
            );
        }
    }

    #[test]
    fn retry_after_seconds_and_reset_take_the_later() {
        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_static("3"));
        assert_eq!(rate_limit_wait(&h), Some(Duration::from_secs(3)));
        let reset = (Utc::now() + chrono::Duration::seconds(10)).to_rfc3339();
        h.insert("x-ratelimit-reset", HeaderValue::from_str(&reset).unwrap());
        let w = rate_limit_wait(&h).unwrap();
        assert!(
            w > Duration::from_secs(8) && w <= Duration::from_secs(10),
            "{w:?}"
        );
    }

    #[test]
    fn retry_after_http_date() {
        let mut h = HeaderMap::new();
        let at = std::time::SystemTime::now() + Duration::from_secs(5);
        h.insert(
            "retry-after",
            HeaderValue::from_str(&httpdate::fmt_http_date(at)).unwrap(),
        );
        let w = rate_limit_wait(&h).unwrap();
        assert!(
            w > Duration::from_secs(3) && w <= Duration::from_secs(5),
            "{w:?}"
        );
    }

    #[test]
    fn error_details_from_each_shape() {
        assert_eq!(
            detail(
                br#"{"schemas":[],"status":"404","detail":"User not found"}"#,
                ""
            ),
            "User not found"
        );
        assert_eq!(
            detail(br#"{"error":"Unauthorized","traceId":"x"}"#, ""),
            "Unauthorized"
        );
        assert_eq!(
            detail(br#"[{"code":"bad","message":"Invalid email"}]"#, ""),
            "Invalid email"
        );
        assert_eq!(detail(br#"{"key":"forbidden"}"#, ""), "forbidden");
        assert_eq!(
            detail(
                br#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided.","error_codes":[7000215]}"#,
                ""
            ),
            "invalid_client: AADSTS7000215: Invalid client secret provided."
        );
        assert_eq!(
            detail(
                br#"{"error":{"code":"Authorization_RequestDenied","message":"Insufficient privileges.","innerError":{"date":"x"}}}"#,
                ""
            ),
            "Authorization_RequestDenied: Insufficient privileges."
        );
        assert_eq!(detail(b"", ""), "no body");
        assert_eq!(detail(&[b'x'; 500], "").len(), 200);
    }

    #[test]
    fn error_details_never_carry_the_key_sent() {
        let key = "k3y+abc/def";
        // Echoed raw, JSON-escaped, and where the cut would leave a prefix of it.
        let raw = format!("Authorization: Bearer {key}");
        assert_eq!(
            detail(raw.as_bytes(), key),
            "Authorization: Bearer [redacted]"
        );
        let escaped = br#"{"message":"bad token k3y\u002Babc\/def"}"#;
        assert_eq!(detail(escaped, key), "bad token [redacted]");
        let long = format!("{}{key}", "x".repeat(195));
        assert!(!detail(long.as_bytes(), key).contains("k3y"));
    }

    /// The windows of 12 characters of `key` and of its encodings found in `shown`.
    fn leaked(shown: &str, key: &str) -> Vec<String> {
        use base64::Engine as _;
        use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
        let hex: String = key.bytes().map(|b| format!("{b:02x}")).collect();
        let shown_lower = shown.to_ascii_lowercase();
        let mut found = Vec::new();
        for form in [
            key.to_string(),
            STANDARD.encode(key),
            URL_SAFE_NO_PAD.encode(key),
        ] {
            for w in form.as_bytes().windows(12) {
                let w = String::from_utf8_lossy(w).into_owned();
                if shown.contains(&w) || shown_lower.contains(&w.to_ascii_lowercase()) {
                    found.push(w);
                }
            }
        }
        found.extend(
            hex.as_bytes()
                .windows(16)
                .map(|w| String::from_utf8_lossy(w).into_owned())
                .filter(|w| shown_lower.contains(w.as_str())),
        );
        found
    }

    #[test]
    fn error_details_hold_no_key_in_any_encoding() {
        use base64::Engine as _;
        use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
        // A configured key (registered), and one nobody registered (another system's token):
        // only the token rules catch the second.
        let registered = "detail-Key?>~~0f3b9a81c7";
        let _s = Secret::new(registered);
        let unknown = "Zq7-unregisteredKey+9XbT4mLp2Vw8Rk/7";
        for (key, upper) in [(registered, true), (unknown, false)] {
            let hex: String = key.bytes().map(|b| format!("{b:02X}")).collect();
            let mut echoes = vec![
                ("raw", format!(r#"{{"detail":"refused {key} here"}}"#)),
                (
                    "JSON-escaped",
                    format!(
                        r#"{{"errors":[{{"seen":"{}"}}]}}"#,
                        key.replace('-', "\\u002d").replace('/', "\\/")
                    ),
                ),
                (
                    "base64",
                    format!(r#"{{"message":"got {} ok"}}"#, STANDARD.encode(key)),
                ),
                (
                    "base64url",
                    format!("<p>got {}</p>", URL_SAFE_NO_PAD.encode(key)),
                ),
                ("hex", format!("token={hex}")),
            ];
            if upper {
                echoes.push((
                    "upper-cased",
                    format!(
                        r#"{{"error":"invalid_token","error_description":"bad {}"}}"#,
                        key.to_uppercase()
                    ),
                ));
            }
            for (how, body) in echoes {
                let d = detail(body.as_bytes(), "");
                assert!(d.contains(crate::secret::REDACTED), "{key} {how}: {d}");
                assert_eq!(leaked(&d, key), Vec::<String>::new(), "{key} {how}: {d}");
            }
        }
        // An unrecognised body keeps its words, ids and GUIDs.
        let body = br#"{"errors":[{"why":"user 5b10ac8d82e05b22cc7d4ef5 not in 0f8fad5b-d9cb-469f-a165-70867728950e"}]}"#;
        assert_eq!(
            detail(body, ""),
            "why: user 5b10ac8d82e05b22cc7d4ef5 not in 0f8fad5b-d9cb-469f-a165-70867728950e"
        );
    }

    #[test]
    fn error_details_decode_before_redacting() {
        let key = "sim-org-key-0123";
        // Escaped in an unrecognised field, nested: decoded, then redacted.
        let nested =
            br#"{"errors":[{"ctx":{"auth":"Bearer sim\u002dorg\u002dkey\u002d0123"}}],"n":1}"#;
        let d = detail(nested, key);
        assert!(
            !d.contains("0123") && d.contains("auth: Bearer [redacted]"),
            "{d}"
        );
        // Not JSON, with escapes: resolved before redacting.
        let html = br#"<p>Authorization: Bearer sim\u002dorg\u002dkey\u002d0123</p>"#;
        let d = detail(html, key);
        assert!(!d.contains("0123"), "{d}");
        // A key not sent by this call but registered (another directory's) is redacted too.
        let _other = Secret::new("another-registered-key-99");
        let d = detail(br#"{"detail":"see another\u002dregistered-key-99"}"#, key);
        assert_eq!(d, "see [redacted]");
        assert_eq!(unescape(r"a\u00e9\ud83d\ude00\/b\q"), "aé😀/b\\q");
    }

    /// A hostile or broken rate-limit header never overflows an instant: every wait a server asks
    /// for is believed up to a day.
    #[test]
    fn huge_rate_limit_headers_are_capped() {
        let day = Duration::from_secs(86_400);
        for (name, value) in [
            ("x-rate-limit-reset", "18446744073709551615"),
            ("retry-after", "18446744073709551615"),
        ] {
            let mut h = HeaderMap::new();
            h.insert(name, HeaderValue::from_static(value));
            h.insert(
                "date",
                HeaderValue::from_static("Thu, 01 Jan 1970 00:00:00 GMT"),
            );
            h.insert("x-rate-limit-limit", HeaderValue::from_static("600"));
            assert_eq!(rate_limit_wait(&h), Some(day), "{name}");
        }
        // Okta's reset is read against the reply's Date, plus a second.
        let mut h = HeaderMap::new();
        h.insert(
            "date",
            HeaderValue::from_static("Sun, 06 Dec 2026 09:00:00 GMT"),
        );
        h.insert("x-rate-limit-limit", HeaderValue::from_static("600"));
        h.insert("x-rate-limit-remaining", HeaderValue::from_static("0"));
        h.insert("x-rate-limit-reset", HeaderValue::from_static("1796547609"));
        assert_eq!(okta_reset_wait(&h), Some(Duration::from_secs(10)));
        // A concurrency 429 (limit and remaining 0): no reset wait, back off.
        h.insert("x-rate-limit-limit", HeaderValue::from_static("0"));
        assert_eq!(okta_reset_wait(&h), None);
    }
}
