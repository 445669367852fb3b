//! Hostile input, black-box over loopback: pages larger than the cap, servers that never answer,
//! keys echoed in error bodies (escaped, nested, in non-JSON bodies, in any encoding).

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::Env;
use scimdrift::sim::{Api, Encoding, FaultKind, FaultRule, Faults};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

fn errors(o: &scimdrift::cycle::Outcome) -> Vec<(String, String)> {
    o.pull
        .sources
        .iter()
        .map(|s| (s.source.clone(), s.error.clone().unwrap_or_default()))
        .collect()
}

#[tokio::test]
async fn a_page_over_the_cap_fails_its_source_without_retrying() {
    let mut env = Env::scenarios(150).await;
    env.settings.atlassian.http.max_page_bytes = 1024;
    let o = env.pull().await;
    assert!(!o.recorded.complete);
    for (source, error) in errors(&o) {
        assert!(
            error.contains("page larger than 1024 bytes") && error.contains(&source),
            "{source}: {error}"
        );
        assert!(
            error.contains("startIndex=1") || error.contains("first page"),
            "{error}"
        );
    }
    assert_eq!(o.pull.retries, 0, "a page too large is not retried");
    assert_eq!(env.sim.request_count(Api::Accounts), 1);
}

/// Reads one request's head (enough for these servers) and returns it.
async fn read_head(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&head).into_owned()
}

/// A loopback server that runs `serve` on each connection.
async fn raw_server<F, Fut>(serve: F) -> String
where
    F: Fn(TcpStream) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let serve = Arc::new(serve);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(serve(stream));
        }
    });
    url
}

#[tokio::test]
async fn an_endless_chunked_body_is_cut_at_the_cap() {
    let sent = Arc::new(AtomicUsize::new(0));
    let counter = sent.clone();
    let url = raw_server(move |mut stream| {
        let counter = counter.clone();
        async move {
            read_head(&mut stream).await;
            let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n";
            if stream.write_all(head.as_bytes()).await.is_err() {
                return;
            }
            let chunk = format!("10000\r\n{}\r\n", "x".repeat(0x10000));
            while stream.write_all(chunk.as_bytes()).await.is_ok() {
                counter.fetch_add(0x10000, Ordering::Relaxed);
            }
        }
    })
    .await;
    let mut env = Env::scenarios(0).await;
    env.settings.atlassian.base_url = url;
    env.settings.atlassian.http.max_page_bytes = 1 << 20;
    let o = env.pull().await;
    assert!(!o.recorded.complete);
    for (source, error) in errors(&o) {
        assert!(
            error.contains("page larger than 1048576 bytes"),
            "{source}: {error}"
        );
    }
    assert_eq!(o.pull.retries, 0);
}

/// Settings for a server that never answers: short timeouts, many retries allowed.
fn never_answering(env: &mut Env) {
    env.sim
        .set_faults(Faults::rules([FaultRule::new(FaultKind::Delay(
            Duration::from_secs(3600),
        ))]));
    let h = &mut env.settings.atlassian.http;
    h.timeout_seconds = 0.25;
    h.max_retries = 100;
    h.retry_base_delay_ms = 1;
    h.retry_max_delay_seconds = 0.01;
}

#[tokio::test]
async fn timed_out_attempts_are_charged_to_the_retry_budget() {
    let mut env = Env::scenarios(0).await;
    never_answering(&mut env);
    env.settings.atlassian.http.retry_budget_seconds = 1.0;
    let o = env.pull().await;
    assert!(!o.recorded.complete);
    for (source, error) in errors(&o) {
        assert!(
            error.contains("retry budget") && error.contains("timed out"),
            "{source}: {error}"
        );
    }
    // The budget, not the 100 allowed retries, stopped each source: a second of 0.25 s attempts
    // shared by all sources is a handful of retries.
    assert!(o.pull.retries < 20, "{} retries", o.pull.retries);
}

#[tokio::test]
async fn the_pull_deadline_stops_every_source() {
    let mut env = Env::scenarios(0).await;
    never_answering(&mut env);
    env.settings.atlassian.http.retry_budget_seconds = 86_400.0;
    env.settings.atlassian.http.pull_deadline_seconds = 1.0;
    let o = env.pull().await;
    assert!(!o.recorded.complete);
    let errors = errors(&o);
    assert!(errors.len() >= 2, "{errors:?}");
    for (source, error) in errors {
        assert!(
            error.contains("pull deadline of 1s")
                && error.contains("pull_deadline_seconds")
                && error.contains(&source),
            "{source}: {error}"
        );
    }
}

/// How the raw server echoes the `Authorization` it received, `-` escaped as `\u002d`.
#[derive(Clone, Copy, Debug)]
enum Echo {
    /// In a known field (`detail`), with the `Bearer` prefix.
    KnownField,
    /// In an unknown nested field, without the prefix.
    Nested,
    /// In an HTML body (not JSON), without the prefix.
    NotJson,
}

async fn echo_server(echo: Echo) -> String {
    raw_server(move |mut stream| async move {
        let head = read_head(&mut stream).await;
        let auth = head
            .lines()
            .find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.eq_ignore_ascii_case("authorization")
                    .then(|| value.trim().to_string())
            })
            .unwrap_or_default();
        let escaped = auth.replace('-', "\\u002d");
        let bare = escaped.trim_start_matches("Bearer ").to_string();
        let (kind, body) = match echo {
            Echo::KnownField => (
                "application/json",
                format!(r#"{{"schemas":[],"status":"403","detail":"refused {escaped}"}}"#),
            ),
            Echo::Nested => (
                "application/json",
                format!(r#"{{"errors":[{{"ctx":{{"seen":["x","{bare}"],"n":3}}}}]}}"#),
            ),
            Echo::NotJson => (
                "text/html",
                format!("<html><body>proxy refused the token {bare}</body></html>"),
            ),
        };
        let reply = format!(
            "HTTP/1.1 403 Forbidden\r\ncontent-type: {kind}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        let _ = stream.write_all(reply.as_bytes()).await;
        let _ = stream.shutdown().await;
    })
    .await
}

#[tokio::test]
async fn an_echoed_key_is_never_shown_or_stored_however_it_is_encoded() {
    for echo in [Echo::KnownField, Echo::Nested, Echo::NotJson] {
        let mut env = Env::scenarios(0).await;
        let url = echo_server(echo).await;
        let text = std::fs::read_to_string(&env.config).unwrap();
        std::fs::write(&env.config, text.replace(&env.sim.base_url(), &url)).unwrap();
        env.settings.atlassian.base_url = url;
        let world = env.sim.world();
        let mut keys = vec![world.org_api_key.clone()];
        keys.extend(world.directories.iter().map(|d| d.token.clone()));
        let out = env.cli(&["once", "--format", "json"]).await;
        assert_eq!(out.status.code(), Some(1), "{echo:?}: an incomplete pull");
        let shown = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(shown.contains("403"), "{echo:?}: {shown}");
        let db = std::fs::read(env.db_path()).unwrap();
        let wal = std::fs::read(env.db_path().with_extension("db-wal")).unwrap_or_default();
        for key in &keys {
            // The unique tail of each key, in any encoding the body used.
            let tail = &key[key.len() - 16..];
            assert!(!shown.contains(tail), "{echo:?}: {shown}");
            for bytes in [&db, &wal] {
                assert!(
                    !bytes.windows(tail.len()).any(|w| w == tail.as_bytes()),
                    "{echo:?}: the key is in the database"
                );
            }
        }
        // The same, through the library: the errors name source and page, not the key.
        let o = env.pull().await;
        for (source, error) in errors(&o) {
            assert!(error.contains("403"), "{echo:?} {source}: {error}");
            assert!(
                keys.iter().all(|k| !error.contains(&k[k.len() - 16..])),
                "{echo:?} {source}: {error}"
            );
        }
    }
}

#[tokio::test]
async fn a_key_echoed_in_any_encoding_never_reaches_outputs_or_the_database() {
    for encoding in Encoding::ALL {
        let env = Env::scenarios(0).await;
        // Every API echoes the credential it was sent (without `Bearer`), encoded.
        env.sim
            .set_faults(Faults::rules([FaultRule::new(FaultKind::EchoCredential(
                403, encoding,
            ))]));
        let world = env.sim.world();
        let mut keys = vec![world.org_api_key.clone()];
        keys.extend(world.directories.iter().map(|d| d.token.clone()));
        let out = env.cli(&["once", "--format", "json"]).await;
        assert_eq!(
            out.status.code(),
            Some(1),
            "{encoding:?}: an incomplete pull"
        );
        let shown = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        // The echo arrived and was cut out (the check is not vacuous).
        assert!(
            shown.contains("403") && shown.contains("credential seen: [redacted]"),
            "{encoding:?}: {shown}"
        );
        let stored = common::store_text(&env.db_path());
        assert!(
            stored.contains("credential seen: [redacted]"),
            "{encoding:?}"
        );
        for key in &keys {
            for (what, text) in [("output", &shown), ("database", &stored)] {
                let leaked = common::key_fragments(text, key);
                assert!(leaked.is_empty(), "{encoding:?} {what}: {leaked:?}");
            }
        }
    }
}

/// A store holding one complete pull, checkpointed into its main file (no WAL left).
async fn stored_env() -> Env {
    let env = Env::scenarios(300).await;
    assert!(env.pull().await.recorded.complete);
    let size = env.store().compacted_size().unwrap();
    assert!(size > 64 * 4096, "{size} bytes");
    env
}

fn assert_refused_as_corrupt(env: &Env, before: &[u8], out: &std::process::Output) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let db = env.db_path();
    assert!(
        stderr.contains("corrupted")
            && stderr.contains(&db.display().to_string())
            && stderr.contains("backup")
            && !stderr.contains("not a SQLite database"),
        "{stderr}"
    );
    assert!(std::fs::read(&db).unwrap() == before, "left byte-identical");
    let wal = std::fs::metadata(db.with_extension("db-wal")).map_or(0, |m| m.len());
    assert_eq!(wal, 0, "nothing was written");
}

#[tokio::test]
async fn a_store_with_a_corrupted_page_is_refused_and_left_untouched() {
    let env = stored_env().await;
    let db = env.db_path();
    let mut bytes = std::fs::read(&db).unwrap();
    // Overwrite the middle pages (b-tree pages of records and history) with garbage.
    let pages = bytes.len() / 4096;
    for page in [pages / 2, pages / 2 + 1, pages - 2] {
        bytes[page * 4096..(page + 1) * 4096].fill(0xA5);
    }
    std::fs::write(&db, &bytes).unwrap();
    for command in [&["once"][..], &["findings"][..]] {
        let out = env.cli(command).await;
        assert_refused_as_corrupt(&env, &bytes, &out);
    }
    let err = scimdrift::store::Store::open(&db).err().unwrap();
    assert!(
        matches!(err, scimdrift::store::StoreError::Corrupt { .. }),
        "{err}"
    );
}

#[tokio::test]
async fn a_truncated_store_is_refused_and_left_untouched() {
    let env = stored_env().await;
    let db = env.db_path();
    let mut bytes = std::fs::read(&db).unwrap();
    bytes.truncate(bytes.len() / 2);
    std::fs::write(&db, &bytes).unwrap();
    let out = env.cli(&["once"]).await;
    assert_refused_as_corrupt(&env, &bytes, &out);
}

#[tokio::test]
async fn a_store_path_under_a_file_names_the_real_cause() {
    let mut env = Env::scenarios(0).await;
    let file = env.dir.path().join("plain-file");
    std::fs::write(&file, "x").unwrap();
    let original = env.db_path();
    env.settings.store.path = file.join("scimdrift.db");
    let err = scimdrift::store::Store::open(&env.settings.store.path)
        .err()
        .unwrap();
    let text = err.to_string();
    assert!(
        text.contains("Not a directory") && !text.contains("not a SQLite database"),
        "{text}"
    );
    let text = std::fs::read_to_string(&env.config).unwrap();
    std::fs::write(
        &env.config,
        text.replace(
            &format!("{:?}", original.display().to_string()),
            &format!("{:?}", env.settings.store.path.display().to_string()),
        ),
    )
    .unwrap();
    let out = env.cli(&["once"]).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("Not a directory"), "{stderr}");
}
