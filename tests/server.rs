//! The HTTP endpoint over real loopback sockets: slow and idle connections are cut off, the
//! connection cap refuses the excess at once, and the pages showing people's data carry
//! no-store, nosniff and a content security policy.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::Env;
use scimdrift::report::StoredReports;
use scimdrift::server::{self, AppState, Limits};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A server (the default limits unless given) on a free loopback port.
struct Server {
    addr: std::net::SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    async fn start(env: &Env, limits: Option<Limits>) -> Server {
        let state = Arc::new(AppState {
            settings: env.settings.clone().into(),
            metrics: Arc::new(scimdrift::metrics::Metrics::new()),
            last_complete: Mutex::new(None),
            held: Mutex::new(None),
            token: None,
            metrics_cache: Mutex::new(None),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let shutdown = async {
            let _ = stopped.await;
        };
        let task = match limits {
            Some(l) => tokio::spawn(server::run_with(listener, state, shutdown, l)),
            None => tokio::spawn(server::run(listener, state, shutdown)),
        };
        Server { addr, stop, task }
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        tokio::time::timeout(Duration::from_secs(30), self.task)
            .await
            .expect("the server stops within its shutdown grace")
            .unwrap();
    }
}

const HEALTHZ: &[u8] = b"GET /healthz HTTP/1.1\r\nhost: t\r\n\r\n";

/// Sends `GET /healthz` on `conn` (kept alive) and reads the answer; `None` if the connection
/// was closed or reset instead.
async fn healthz(conn: &mut TcpStream) -> Option<String> {
    conn.write_all(HEALTHZ).await.ok()?;
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while !got.ends_with(b"\r\n\r\nok\n") {
        match conn.read(&mut buf).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    Some(String::from_utf8_lossy(&got).into_owned())
}

/// Reads until the peer closes (or resets) the connection; fails the test after 20 s, far
/// longer than any timeout configured here.
async fn read_until_closed(conn: &mut TcpStream) -> String {
    let mut got = Vec::new();
    let read = async {
        let mut buf = [0u8; 1024];
        loop {
            match conn.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(20), read)
        .await
        .expect("the server closes the connection");
    String::from_utf8_lossy(&got).into_owned()
}

#[tokio::test]
async fn slow_headers_and_idle_keep_alive_connections_are_closed() {
    let env = Env::scenarios(0).await;
    let timeout = Duration::from_millis(300);
    let s = Server::start(
        &env,
        Some(Limits {
            header_read_timeout: timeout,
            ..Limits::default()
        }),
    )
    .await;

    // Headers that never end: the connection is closed once the header timeout passed.
    let mut slow = TcpStream::connect(s.addr).await.unwrap();
    let started = Instant::now();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nhost: t\r\nx-a: ")
        .await
        .unwrap();
    let answer = read_until_closed(&mut slow).await;
    assert!(started.elapsed() >= timeout, "closed before the timeout");
    assert!(!answer.contains("200"), "{answer}");

    // A kept-alive connection is served, then closed after being idle that long.
    let mut idle = TcpStream::connect(s.addr).await.unwrap();
    let answer = healthz(&mut idle).await.expect("served");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let served = Instant::now();
    assert_eq!(read_until_closed(&mut idle).await, "");
    assert!(served.elapsed() >= timeout, "closed before the timeout");

    // The server keeps serving.
    let mut fresh = TcpStream::connect(s.addr).await.unwrap();
    assert!(healthz(&mut fresh).await.is_some());
    s.stop().await;
}

#[tokio::test]
async fn connections_over_the_cap_are_refused_and_serving_resumes_when_they_go() {
    let env = Env::scenarios(0).await;
    let s = Server::start(
        &env,
        Some(Limits {
            header_read_timeout: Duration::from_secs(120),
            max_connections: 2,
            shutdown_grace: Duration::from_secs(1),
        }),
    )
    .await;

    // Two kept-alive connections hold the cap (each answered, so each holds its slot).
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut c = TcpStream::connect(s.addr).await.unwrap();
        assert!(healthz(&mut c).await.is_some());
        held.push(c);
    }
    // A third is closed at once (a 503 at most), not queued behind them.
    for _ in 0..3 {
        let mut extra = TcpStream::connect(s.addr).await.unwrap();
        let _ = extra.write_all(HEALTHZ).await;
        let answer = read_until_closed(&mut extra).await;
        assert!(
            answer.is_empty() || answer.starts_with("HTTP/1.1 503"),
            "{answer}"
        );
    }
    // The held connections are still served.
    assert!(healthz(&mut held[0]).await.is_some());

    // Once they go, new connections are served again (the server notices the close first).
    drop(held);
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut served = loop {
        let mut c = TcpStream::connect(s.addr).await.unwrap();
        if healthz(&mut c).await.is_some() {
            break c;
        }
        assert!(Instant::now() < deadline, "never served again");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };

    // Shutdown is bounded even with a connection stuck in its headers (timeout 120 s).
    let mut stuck = TcpStream::connect(s.addr).await.unwrap();
    stuck.write_all(b"GET /healthz HTTP/1.1\r\n").await.unwrap();
    assert!(healthz(&mut served).await.is_some());
    s.stop().await;
    read_until_closed(&mut stuck).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_with_peoples_data_are_not_cached_sniffed_or_framed() {
    let env = Env::scenarios(2).await;
    env.pull().await;
    let metrics = scimdrift::metrics::Metrics::new();
    let daily = scimdrift::app::daily::run_daily(&env.settings, &metrics, chrono::Utc::now())
        .await
        .unwrap();
    let s = Server::start(&env, None).await;
    let base = format!("http://{}", s.addr);
    let client = reqwest::Client::new();
    for (path, status) in [
        ("/findings".to_string(), 200),
        ("/findings?kind=nope".to_string(), 400),
        ("/report".to_string(), 200),
        (format!("/report/{}", daily.date), 200),
        ("/report/2001-01-01".to_string(), 404),
        ("/report/yesterday".to_string(), 400),
    ] {
        let r = client.get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(r.status().as_u16(), status, "{path}");
        let h = r.headers().clone();
        assert_eq!(h["cache-control"], "no-store", "{path}");
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(csp.starts_with("default-src 'none'"), "{path}: {csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        if path == "/report" {
            // The policy allows inline CSS only: the report must need nothing else.
            let html = r.text().await.unwrap();
            assert!(html.contains("<style>"));
            for needs in [
                "<script", "<link", "<img", "src=", "url(", "@import", " style=",
            ] {
                assert!(!html.contains(needs), "the report uses {needs}");
            }
        }
    }
    let r = client.get(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("content-security-policy").is_none());
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_is_built_on_demand_before_the_first_daily_job() {
    let env = Env::scenarios(2).await;
    let s = Server::start(&env, None).await;
    let base = format!("http://{}", s.addr);
    let client = reqwest::Client::new();
    let get = |path: &'static str| {
        let (client, base) = (client.clone(), base.clone());
        async move {
            let r = client.get(format!("{base}{path}")).send().await.unwrap();
            let status = r.status().as_u16();
            let h = r.headers().clone();
            assert_eq!(h["cache-control"], "no-store", "{path}");
            (status, h, r.text().await.unwrap())
        }
    };

    // No pull and no stored report: a report all the same, saying there is no data yet.
    let (status, h, html) = get("/report").await;
    assert_eq!(status, 200, "{html}");
    assert_eq!(h["content-type"], "text/html; charset=utf-8");
    assert!(html.contains("<main>") && html.contains("No complete pull yet: no data."));
    assert!(!html.contains("class=\"cards\""));

    // After a pull, still no daily report: built from the store, with the findings, not stored.
    env.pull().await;
    let (status, _, html) = get("/report").await;
    assert_eq!(status, 200);
    assert!(html.contains("fay@example.com") && html.contains("class=\"cards\""));
    assert!(env.store().latest_report().unwrap().is_none(), "stored");
    let today = format!(
        "/report/{}",
        scimdrift::app::daily::report_date(&env.settings, chrono::Utc::now())
    );
    let r = client.get(format!("{base}{today}")).send().await.unwrap();
    assert_eq!(r.status(), 404, "a day's URL serves stored reports only");
    s.stop().await;
}

/// `/metrics` speaks OpenMetrics to a scraper that asks (Prometheus does by default), the text
/// format 0.0.4 otherwise, gzip-compressed when accepted; `scimdrift_build_info` carries the
/// version, revision and compiler; `/` names the endpoints.
#[tokio::test]
async fn metrics_negotiate_openmetrics_and_gzip_and_the_landing_page_names_the_endpoints() {
    let env = Env::scenarios(3).await;
    let s = Server::start(&env, None).await;
    let base = format!("http://{}", s.addr);
    let client = reqwest::Client::builder().no_gzip().build().unwrap();
    // Prometheus 2.x's default Accept header.
    let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    let om = client
        .get(format!("{base}/metrics"))
        .header("accept", prometheus)
        .send()
        .await
        .unwrap();
    assert!(
        om.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text; version=1.0.0")
    );
    let om = om.text().await.unwrap();
    assert!(
        om.ends_with("# EOF\n"),
        "{}",
        &om[om.len().saturating_sub(200)..]
    );
    assert!(
        om.contains("# TYPE scimdrift_pull_runs counter\n"),
        "a counter family without _total"
    );
    assert!(om.contains("scimdrift_pull_runs_total{result=\"complete\"} 0\n"));
    let revision = env!("SCIMDRIFT_REVISION");
    let info = format!(
        "scimdrift_build_info{{revision=\"{revision}\",rustc=\"{}\",version=\"{}\"}} 1",
        env!("SCIMDRIFT_RUSTC"),
        env!("CARGO_PKG_VERSION")
    );
    assert!(om.contains(&info), "{info}");
    if std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.git")).exists() {
        assert_ne!(revision, "unknown", "built in a git checkout");
    }
    // Without OpenMetrics (or refusing it): the text format; gzip when accepted.
    for accept in ["text/plain", "application/openmetrics-text;q=0,text/plain"] {
        let plain = client
            .get(format!("{base}/metrics"))
            .header("accept", accept)
            .send()
            .await
            .unwrap();
        assert!(
            plain.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/plain; version=0.0.4")
        );
        assert!(!plain.text().await.unwrap().contains("# EOF"));
    }
    let zipped = client
        .get(format!("{base}/metrics"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(zipped.headers()["content-encoding"], "gzip");
    let bytes = zipped.bytes().await.unwrap();
    let mut text = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&bytes[..]), &mut text)
        .unwrap();
    assert!(text.contains("# TYPE scimdrift_pull_runs_total counter"));
    assert!(
        bytes.len() * 2 < text.len(),
        "compressed: {} of {}",
        bytes.len(),
        text.len()
    );
    // The landing page.
    let landing = client.get(format!("{base}/")).send().await.unwrap();
    assert_eq!(landing.status(), 200);
    let landing = landing.text().await.unwrap();
    for endpoint in [
        "/metrics",
        "/healthz",
        "/readyz",
        "/report",
        "/findings",
        "/person",
    ] {
        assert!(
            landing.contains(&format!("href=\"{endpoint}\"")),
            "{endpoint}"
        );
    }
    s.stop().await;
}
