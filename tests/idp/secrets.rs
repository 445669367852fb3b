//! Credentials: a certificate-signed client assertion pulls complete, and no client secret,
//! private key, assertion or access token appears in any log line, output, metric or row.

use scimdrift::cycle;
use scimdrift::metrics::Metrics;
use scimdrift::sim::{
    Api, ENTRA_TEST_CERT_PEM, ENTRA_TEST_KEY_PEM, Encoding, FaultKind, FaultRule, Faults,
};

use super::*;

/// The path of the IdP's `client_secret_file`, from the written config.
fn secret_file(env: &Env) -> std::path::PathBuf {
    let text = std::fs::read_to_string(&env.config).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("client_secret_file = "))
        .unwrap();
    let quoted = line.trim_start_matches("client_secret_file = ");
    serde_json::from_str::<String>(quoted).unwrap().into()
}

fn write_private(path: &std::path::Path, text: &str) {
    std::fs::write(path, text).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
}

/// Replaces the client secret of the IdP section with the sim's test certificate and key.
fn use_certificate(env: &mut Env) {
    let cert = env.dir.path().join("entra-cert.pem");
    let key = env.dir.path().join("entra-key.pem");
    write_private(&cert, ENTRA_TEST_CERT_PEM);
    write_private(&key, ENTRA_TEST_KEY_PEM);
    rewrite_config(env, |text| {
        let kept: Vec<&str> = text
            .lines()
            .filter(|l| !l.starts_with("client_secret_file = "))
            .collect();
        kept.join("\n").replacen(
            "kind = \"entra\"\n",
            &format!(
                "kind = \"entra\"\ncertificate_file = {:?}\nprivate_key_file = {:?}\n",
                cert.display().to_string(),
                key.display().to_string()
            ),
            1,
        ) + "\n"
    });
}

#[tokio::test]
async fn a_certificate_credential_pulls_complete() {
    let mut env = idp_env(0).await;
    use_certificate(&mut env);
    for _ in 0..2 {
        let o = env.pull().await;
        assert!(o.pull.all_complete(), "{:?}", o.pull.sources);
    }
    assert_eq!(open_idp(&env), expected_idp());
    // Every token request carried a signed assertion (and no secret: the sim refuses both).
    let tokens = env
        .sim
        .requests()
        .iter()
        .filter(|r| r.api == Some(scimdrift::sim::Api::EntraToken))
        .count();
    assert_eq!(env.sim.entra_received_assertions().len(), tokens);
    assert!(tokens >= 2);
}

#[tokio::test]
async fn no_secret_reaches_logs_outputs_metrics_or_the_database() {
    let mut env = idp_env(0).await;
    let secret = env.sim.world().entra[0].client_secret.clone();
    let debug = [("RUST_LOG", "debug")];
    let mut captured: Vec<(String, String)> = Vec::new();
    let keep = |captured: &mut Vec<(String, String)>, what: &str, out: &std::process::Output| {
        captured.push((
            format!("{what} stdout"),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        ));
        captured.push((
            format!("{what} stderr"),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ));
    };

    // A client secret: two pulls (so findings exist), the findings, the metrics of a third.
    for _ in 0..2 {
        let out = cli_env(&env, &["once", "--format", "json"], &debug).await;
        assert_eq!(out.status.code(), Some(0));
        keep(&mut captured, "once (secret)", &out);
    }
    let out = cli_env(
        &env,
        &["findings", "--format", "json", "--status", "all"],
        &debug,
    )
    .await;
    assert!(String::from_utf8_lossy(&out.stdout).contains("idp_email_mismatch"));
    keep(&mut captured, "findings", &out);
    let metrics = Metrics::new();
    cycle::run(&env.settings, &metrics).await.unwrap();
    let rendered = metrics.render();
    assert!(rendered.contains("entra_token"), "{rendered}");
    captured.push(("metrics".into(), rendered));

    // A wrong secret: refused, the IdP source incomplete.
    let wrong = "sim-entra-wrong-secret-5f0c2b9e71d34a88";
    write_private(&secret_file(&env), &format!("{wrong}\n"));
    let out = cli_env(&env, &["once", "--format", "json"], &debug).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("AADSTS7000215"));
    keep(&mut captured, "once (wrong secret)", &out);

    // A certificate-signed assertion.
    use_certificate(&mut env);
    let out = cli_env(&env, &["once", "--format", "json"], &debug).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    keep(&mut captured, "once (certificate)", &out);
    let out = cli_env(&env, &["findings", "--format", "json"], &debug).await;
    keep(&mut captured, "findings (certificate)", &out);

    let tokens = env.sim.entra_issued_tokens();
    let assertions = env.sim.entra_received_assertions();
    assert!(tokens.len() >= 4, "{} tokens", tokens.len());
    assert!(!assertions.is_empty());
    let mut secrets = vec![secret, wrong.to_string()];
    secrets.extend(tokens);
    for a in &assertions {
        secrets.push(a.clone());
        // The signature alone, too.
        secrets.push(a.rsplit('.').next().unwrap().to_string());
    }
    // Any line of the private key.
    secrets.extend(
        ENTRA_TEST_KEY_PEM
            .lines()
            .filter(|l| !l.starts_with("-----") && l.len() > 20)
            .map(str::to_string),
    );

    // Every TEXT (and BLOB) value of every table of the store.
    let conn = rusqlite::Connection::open(env.db_path()).unwrap();
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(tables.iter().any(|t| t == "idp_user_versions"));
    let mut cells = 0;
    for table in &tables {
        let mut stmt = conn.prepare(&format!("SELECT * FROM \"{table}\"")).unwrap();
        let columns = stmt.column_count();
        let mut rows = stmt.query([]).unwrap();
        while let Some(row) = rows.next().unwrap() {
            for i in 0..columns {
                let text = match row.get_ref(i).unwrap() {
                    rusqlite::types::ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
                    rusqlite::types::ValueRef::Blob(b) => String::from_utf8_lossy(b).into_owned(),
                    _ => continue,
                };
                cells += 1;
                captured.push((format!("table {table} column {i}"), text));
            }
        }
    }
    assert!(cells > 1000, "{cells} cells");

    // Something was logged at debug level (the check is not vacuous).
    assert!(
        captured
            .iter()
            .any(|(w, t)| w.ends_with("stderr") && t.contains("DEBUG")),
        "no debug log captured"
    );
    for (what, text) in &captured {
        for s in &secrets {
            assert!(
                !text.contains(s.as_str()),
                "a secret ({} chars) appears in {what}",
                s.len()
            );
        }
    }
}

#[tokio::test]
async fn an_access_token_echoed_by_graph_in_any_encoding_is_never_shown_or_stored() {
    for encoding in Encoding::ALL {
        let env = idp_env(0).await;
        env.sim
            .set_faults(Faults::rules([FaultRule::new(FaultKind::EchoCredential(
                403, encoding,
            ))
            .on(Api::Graph)]));
        let out = cli_env(
            &env,
            &["once", "--format", "json"],
            &[("RUST_LOG", "debug")],
        )
        .await;
        assert_eq!(
            out.status.code(),
            Some(1),
            "{encoding:?}: the IdP source failed"
        );
        let shown = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            shown.contains("403") && shown.contains("credential seen: [redacted]"),
            "{encoding:?}: {shown}"
        );
        let stored = crate::common::store_text(&env.db_path());
        let tokens = env.sim.entra_issued_tokens();
        assert!(!tokens.is_empty());
        for token in &tokens {
            for (what, text) in [("output", &shown), ("database", &stored)] {
                let leaked = crate::common::key_fragments(text, token);
                assert!(leaked.is_empty(), "{encoding:?} {what}: {leaked:?}");
            }
        }
    }
}
