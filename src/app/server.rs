//! The daemon's HTTP endpoint: `/metrics`, `/healthz`, `/readyz`, `/findings`, `/report`.
//! `/findings` and `/report` show emails: with a token configured they require `Authorization: Bearer`,
//! and their answers are never cached or sniffed. Connections are capped and must send their headers
//! in time ([`Limits`]).

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Utc};
use hyper_util::rt::{TokioIo, TokioTimer};
use serde::{Deserialize, Serialize};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use crate::config::Settings;
use crate::detect::{Kind, Severity};
use crate::metrics::Metrics;
use crate::output::FindingsFormat;
use crate::report::StoredReports;
use crate::secret::Secret;

/// `[server]`: the HTTP endpoint of the daemon.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct ServerConfig {
    /// Address to listen on. Default loopback only.
    pub listen: String,
    /// File holding the bearer token `/findings` and `/report` require. Required off loopback.
    pub auth_token_file: Option<PathBuf>,
    /// The URL people reach the daemon under (behind a proxy, say), for absolute links in the
    /// report (`[report] public_url` wins when both are set).
    pub public_url: Option<String>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: "127.0.0.1:9464".into(),
            auth_token_file: None,
            public_url: None,
        }
    }
}

impl ServerConfig {
    /// Checks the section (the token and the listen policy are checked with the secrets, by
    /// `Settings::server_token`); the error is (key within the section, message).
    pub fn validate(&self) -> Result<(), (String, String)> {
        if self.listen.parse::<std::net::SocketAddr>().is_err() {
            return Err((
                "listen".into(),
                format!(
                    "expected an address and port such as \"127.0.0.1:9464\", got {:?}",
                    self.listen
                ),
            ));
        }
        if let Some(url) = &self.public_url {
            crate::section::check_link_base(url).map_err(|m| {
                (
                    "public_url".to_string(),
                    format!("the URL people reach the daemon under: {m}"),
                )
            })?;
        }
        Ok(())
    }
}

/// What the handlers share with the daemon.
pub struct AppState {
    /// The settings in force (a reload replaces them).
    pub settings: crate::config::SharedSettings,
    pub metrics: Arc<Metrics>,
    /// When the last complete pull finished (from the store at start, then from each cycle).
    pub last_complete: std::sync::Mutex<Option<DateTime<Utc>>>,
    /// Why the latest pull was held by the shrink guard, until a pull is current again.
    pub held: std::sync::Mutex<Option<String>>,
    /// Bearer token for `/findings` and `/report`, when configured.
    pub token: Option<Secret>,
    /// The last rendering of `/metrics` and when it was made (reused for up to a second).
    pub metrics_cache: std::sync::Mutex<Option<(std::time::Instant, bytes::Bytes)>>,
}

impl AppState {
    /// Notes a complete pull.
    pub fn set_last_complete(&self, at: DateTime<Utc>) {
        if let Ok(mut l) = self.last_complete.lock() {
            *l = Some(at);
        }
    }

    /// Notes a cycle's outcome: a current snapshot (returns true: it is complete) or a held one.
    pub fn note_pull(&self, outcome: &crate::cycle::Outcome) -> bool {
        let rec = &outcome.recorded;
        if (rec.complete || rec.held)
            && let Ok(mut h) = self.held.lock()
        {
            *h = rec.held.then(|| outcome.shrink.describe());
        }
        if rec.complete {
            self.set_last_complete(outcome.pull.finished_at);
        }
        rec.complete
    }

    fn held(&self) -> Option<String> {
        self.held.lock().ok().and_then(|h| h.clone())
    }

    fn last_complete(&self) -> Option<DateTime<Utc>> {
        self.last_complete.lock().ok().and_then(|l| *l)
    }
}

/// The router (public for tests that want to drive it directly).
pub fn router(state: Arc<AppState>) -> Router {
    let private = Router::new()
        .route("/findings", get(findings))
        .route("/report", get(report_latest))
        .route("/report/{date}", get(report_on))
        .route("/person", get(person))
        .layer(axum::middleware::map_response(private_headers));
    let metrics_route = Router::new()
        .route("/metrics", get(metrics))
        .layer(tower_http::compression::CompressionLayer::new().gzip(true));
    Router::new()
        .route("/", get(landing))
        .merge(metrics_route)
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .merge(private)
        .layer(tower_http::limit::RequestBodyLimitLayer::new(16 * 1024))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(10),
        ))
        .with_state(state)
}

/// The policy of the pages that show people's data: the report's inline CSS, nothing else; a form
/// may submit only to the daemon itself (the `/person` search box).
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; \
    base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Marks an answer that shows people's data: never stored by a cache, never sniffed as another
/// type, and loading nothing but its own inline CSS.
async fn private_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    response
}

/// Connection limits, so slow or idle clients cannot hold the endpoint (or the file limit).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Time a client has to send a request's headers. hyper starts it whenever it waits for a
    /// request, so it is also the idle timeout of a kept-alive connection.
    pub header_read_timeout: Duration,
    /// Connections open at once; one more is answered `503` and closed at once (keep it well
    /// below the unit's `LimitNOFILE`).
    pub max_connections: usize,
    /// How long shutdown waits for open connections to finish their requests before closing them.
    pub shutdown_grace: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            max_connections: 256,
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// Serves until `shutdown` resolves, with the default [`Limits`].
pub async fn run(
    listener: TcpListener,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    run_with(listener, state, shutdown, Limits::default()).await;
}

/// Serves HTTP/1.1 until `shutdown` resolves: then stops accepting, lets open connections finish
/// their requests for up to `limits.shutdown_grace`, and closes the rest.
pub async fn run_with(
    mut listener: TcpListener,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
    limits: Limits,
) {
    let service = hyper_util::service::TowerToHyperService::new(router(state));
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let (stop, stopping) = watch::channel(false);
    let mut connections = JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    let mut refusing = false;
    loop {
        let stream = tokio::select! {
            (stream, _) = axum::serve::Listener::accept(&mut listener) => stream,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            () = &mut shutdown => break,
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            if !refusing {
                tracing::warn!(
                    max_connections = limits.max_connections,
                    "HTTP connection limit reached: refusing connections until some close"
                );
                refusing = true;
            }
            refuse(stream);
            continue;
        };
        refusing = false;
        let service = service.clone();
        let mut stopping = stopping.clone();
        connections.spawn(async move {
            let _permit = permit;
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_read_timeout);
            let mut conn = std::pin::pin!(builder.serve_connection(TokioIo::new(stream), service));
            let stop = async move {
                let _ = stopping.wait_for(|s| *s).await;
            };
            let result = tokio::select! {
                r = conn.as_mut() => r,
                () = stop => {
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(e) = result {
                tracing::debug!("HTTP connection closed: {e}");
            }
        });
    }
    drop(listener);
    let _ = stop.send(true);
    let drained = tokio::time::timeout(limits.shutdown_grace, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            open = connections.len(),
            "HTTP connections still open after the shutdown grace time: closed"
        );
        connections.abort_all();
    }
}

/// Answers a connection over the cap `503` if the socket takes it at once, then closes it.
fn refuse(stream: TcpStream) {
    let _ = stream.try_write(
        b"HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\ncontent-length: 0\r\n\r\n",
    );
}

/// How long one rendering of `/metrics` is served: scrapers a second apart see fresh values, while
/// a burst of concurrent scrapes costs one rendering.
const METRICS_CACHE: Duration = Duration::from_secs(1);

/// Whether the scraper asks for OpenMetrics (`Accept: application/openmetrics-text`, as
/// Prometheus does by default), with a q-value above zero.
fn wants_openmetrics(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|range| {
            let mut parts = range.split(';').map(str::trim);
            let media = parts.next().unwrap_or("");
            let zero = parts.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            media.eq_ignore_ascii_case("application/openmetrics-text") && !zero
        })
}

/// `/metrics`: OpenMetrics when asked for, else the Prometheus text format 0.0.4 (gzip when
/// accepted: the router's compression layer).
async fn metrics(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if wants_openmetrics(&headers) {
        return (
            [(
                header::CONTENT_TYPE,
                crate::metrics::openmetrics::CONTENT_TYPE,
            )],
            state.metrics.render_openmetrics(),
        )
            .into_response();
    }
    let body = {
        let mut cache = state
            .metrics_cache
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        match cache.as_ref() {
            Some((at, body)) if at.elapsed() < METRICS_CACHE => body.clone(),
            _ => {
                let body = bytes::Bytes::from(state.metrics.render());
                *cache = Some((std::time::Instant::now(), body.clone()));
                body
            }
        }
    };
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

/// The `/readyz` line of a held snapshot (the newest held one since the current snapshot).
pub fn held_message(held: Option<&crate::store::SnapshotInfo>) -> Option<String> {
    let s = held?;
    let verdict = crate::model::Verdict::Held(s.shrinks().to_vec());
    Some(format!("snapshot {} {}", s.snapshot_id, verdict.describe()))
}

async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    if let Some(held) = state.held() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {held}\n"),
        )
            .into_response();
    }
    let window = state.settings.get().schedule.pull_interval() * 3;
    match state.last_complete() {
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: no complete pull yet\n".to_string(),
        )
            .into_response(),
        Some(at) => {
            let age = (Utc::now() - at).to_std().unwrap_or_default();
            if age <= window {
                format!("ready: last complete pull {}s ago\n", age.as_secs()).into_response()
            } else {
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!(
                        "not ready: last complete pull at {} ({}s ago) is older than 3 pull intervals ({}s); see `scimdrift snapshots`\n",
                        crate::model::human_time(at),
                        age.as_secs(),
                        window.as_secs()
                    ),
                )
                    .into_response()
            }
        }
    }
}

/// True when no token is configured or the request carries it.
fn authorized(state: &AppState, headers: &HeaderMap) -> bool {
    let Some(token) = &state.token else {
        return true;
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    // Constant time in the token's content (`subtle`), so its bytes cannot be guessed by timing.
    bool::from(subtle::ConstantTimeEq::ct_eq(
        given.as_bytes(),
        token.expose().as_bytes(),
    ))
}

/// `/`: a small page naming the endpoints, as node_exporter's landing page does.
async fn landing() -> Response {
    let page = maud::html! {
        (maud::DOCTYPE)
        html lang="en" {
            head { meta charset="utf-8"; title { "scimdrift" } }
            body {
                h1 { "scimdrift " (crate::metrics::VERSION) }
                p { "Drift between the IdP, Atlassian's SCIM directories and the org's managed accounts." }
                ul {
                    li { a href="/metrics" { "/metrics" } " — Prometheus metrics (OpenMetrics when asked)" }
                    li { a href="/healthz" { "/healthz" } " — the process is up" }
                    li { a href="/readyz" { "/readyz" } " — a recent complete pull" }
                    li { a href="/report" { "/report" } " — the latest daily report (token)" }
                    li { a href="/findings" { "/findings" } " — the findings as JSON (token)" }
                    li { a href="/person" { "/person" } " — one person's history (token)" }
                }
                p { "revision " (crate::metrics::REVISION) }
            }
        }
    };
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        page.into_string(),
    )
        .into_response()
}

fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Bearer")],
        "unauthorized: send Authorization: Bearer <token from server.auth_token_file>\n",
    )
        .into_response()
}

#[derive(Deserialize)]
struct FindingsQuery {
    kind: Option<String>,
    min_severity: Option<String>,
    status: Option<String>,
}

fn bad_request(message: String) -> Response {
    (StatusCode::BAD_REQUEST, format!("{message}\n")).into_response()
}

async fn findings(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(q): Query<FindingsQuery>,
) -> Response {
    if !authorized(&state, &headers) {
        return unauthorized();
    }
    let kind = match q.kind.as_deref().map(str::parse::<Kind>).transpose() {
        Ok(k) => k,
        Err(e) => return bad_request(e),
    };
    let min_severity = match q
        .min_severity
        .as_deref()
        .map(str::parse::<Severity>)
        .transpose()
    {
        Ok(s) => s.unwrap_or(Severity::Low),
        Err(e) => return bad_request(e),
    };
    let status = match q.status.as_deref().unwrap_or("open").parse() {
        Ok(s) => s,
        Err(e) => return bad_request(e),
    };
    let filter = crate::findings::Query {
        kind,
        min_severity,
        status,
    };
    let settings = state.settings.get();
    let result = tokio::task::spawn_blocking(move || {
        crate::query::list_findings(&settings, &filter, FindingsFormat::Json)
    })
    .await;
    match result {
        Ok(Ok((json, _))) => ([(header::CONTENT_TYPE, "application/json")], json).into_response(),
        Ok(Err(e)) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot read findings: {e}\n"),
        )
            .into_response(),
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "cannot read findings\n").into_response(),
    }
}

async fn report_latest(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if !authorized(&state, &headers) {
        return unauthorized();
    }
    serve_report(&state, None).await
}

async fn report_on(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(date): Path<String>,
) -> Response {
    if !authorized(&state, &headers) {
        return unauthorized();
    }
    match chrono::NaiveDate::parse_from_str(&date, "%Y-%m-%d") {
        Ok(d) => serve_report(&state, Some(d)).await,
        Err(_) => bad_request(format!("expected /report/YYYY-MM-DD, got {date:?}")),
    }
}

async fn serve_report(state: &AppState, date: Option<chrono::NaiveDate>) -> Response {
    let settings = state.settings.get();
    let found = tokio::task::spawn_blocking(move || stored_report_html(&settings, date)).await;
    match found {
        Ok(Ok(Some(html))) => {
            ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response()
        }
        Ok(Ok(None)) => {
            (StatusCode::NOT_FOUND, "no report stored for that day yet\n").into_response()
        }
        Ok(Err(e)) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot read the report: {e}\n"),
        )
            .into_response(),
        Err(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "cannot read the report\n",
        )
            .into_response(),
    }
}

/// The stored report of `date` as HTML, if any. Without a date, the latest stored report; before
/// the first daily job has stored one, a report built from the store now (not stored: the daily
/// job's comparisons are unchanged).
fn stored_report_html(
    settings: &Settings,
    date: Option<chrono::NaiveDate>,
) -> anyhow::Result<Option<String>> {
    let report = crate::store::Store::read(&settings.store.path, |store| {
        Ok::<_, anyhow::Error>(match date {
            Some(d) => store.report_on(d)?,
            None => match store.latest_report()? {
                Some(r) => Some(r),
                None => Some(crate::app::daily::build(
                    store,
                    settings,
                    None,
                    chrono::Utc::now(),
                )?),
            },
        })
    })?;
    Ok(report.map(|r| crate::report::render(&r, crate::report::ReportFormat::Html)))
}

#[derive(Deserialize)]
struct PersonQuery {
    /// Whom to look up: an email, a SCIM id, an account id, an IdP user id or a UPN (`id` and `q`
    /// are aliases).
    email: Option<String>,
    id: Option<String>,
    q: Option<String>,
    /// `json` or `html`; without it, HTML when the client accepts `text/html` (a browser).
    format: Option<String>,
}

/// Whether `/person` answers a page: `?format=html`, or no `format` and an `Accept` naming
/// `text/html` (browsers); programs (`curl`, `Accept: application/json`, `?format=json`) get JSON.
fn wants_html(format: Option<&str>, headers: &HeaderMap) -> bool {
    match format {
        Some(f) => f.eq_ignore_ascii_case("html"),
        None => headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("text/html")),
    }
}

/// `/person?email=WHO`: one person's history (same auth as `/findings`): the JSON of
/// `scimdrift person --format json` for programs, a page with a search box for browsers. 404 when
/// the store knows nothing of WHO.
async fn person(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(q): Query<PersonQuery>,
) -> Response {
    if !authorized(&state, &headers) {
        return unauthorized();
    }
    let html = wants_html(q.format.as_deref(), &headers);
    let who = [q.email, q.id, q.q]
        .into_iter()
        .flatten()
        .find(|e| !e.trim().is_empty());
    let Some(who) = who else {
        if html {
            let page = crate::report::render_person(&crate::person::PersonHistory::default(), "");
            return ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], page).into_response();
        }
        return bad_request(
            "expected ?email=<email, SCIM id, account id, IdP user id or UPN>".into(),
        );
    };
    let settings = state.settings.get();
    let asked = who.clone();
    let found = tokio::task::spawn_blocking(move || {
        crate::store::Store::read(&settings.store.path, |store| {
            crate::person::history(store, &asked, &settings.person_directories())
        })
    })
    .await;
    match found {
        Ok(Ok(h)) => {
            let status = if h.is_empty() {
                StatusCode::NOT_FOUND
            } else {
                StatusCode::OK
            };
            if html {
                (
                    status,
                    [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                    crate::report::render_person(&h, &who),
                )
                    .into_response()
            } else {
                (
                    status,
                    [(header::CONTENT_TYPE, "application/json")],
                    format!("{:#}\n", serde_json::json!(h)),
                )
                    .into_response()
            }
        }
        Ok(Err(e)) => {
            tracing::error!("/person: {e}");
            (StatusCode::INTERNAL_SERVER_ERROR, "cannot read the store\n").into_response()
        }
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "cannot read the store\n").into_response(),
    }
}
