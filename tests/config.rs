//! Configuration: every error names the key and the file; secrets never print.

use std::path::{Path, PathBuf};
use std::process::Command;

use scimdrift::config::Settings;

const GOOD: &str = r#"
[atlassian]
base_url = "http://127.0.0.1:9"
org_id = "org-1"
org_api_key_env = "SCIMDRIFT_TEST_ORG_KEY"
accounts_endpoint = "search"

[[atlassian.directories]]
id = "dir-1"
name = "entra"
token_file = "KEYFILE"

[store]
path = "test.db"
"#;

fn write(dir: &Path, text: &str) -> PathBuf {
    let key = dir.join("entra.key");
    std::fs::write(&key, "dir-secret-value\n").unwrap();
    let path = dir.join("scimdrift.toml");
    std::fs::write(&path, text.replace("KEYFILE", &key.display().to_string())).unwrap();
    path
}

fn load_err(text: &str) -> (String, scimdrift::config::ConfigError) {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), text);
    let err = Settings::load(Some(&path)).expect_err("expected a config error");
    (path.display().to_string(), err)
}

#[test]
fn good_config_loads_with_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let s = Settings::load(Some(&write(dir.path(), GOOD))).unwrap();
    assert_eq!(s.atlassian.org_id, "org-1");
    assert_eq!(s.atlassian.directories[0].name, "entra");
    assert_eq!(s.atlassian.http.scim_page_size, 100);
    assert_eq!(
        s.directory_token(0).unwrap().expose(),
        "dir-secret-value",
        "trailing newline trimmed"
    );
}

#[test]
fn missing_org_id_names_key_and_file() {
    let (file, err) = load_err(&GOOD.replace("org_id = \"org-1\"", ""));
    assert_eq!(err.key, "atlassian.org_id");
    assert!(err.to_string().contains(&file), "{err}");
}

#[test]
fn wrong_type_names_the_key() {
    let (_, err) = load_err(
        &format!("{GOOD}\n[atlassian.http]\nconcurrency = \"many\"\n")
            .replace("[store]\npath = \"test.db\"\n", ""),
    );
    assert!(err.to_string().contains("concurrency"), "{err}");
}

#[test]
fn unknown_key_is_named() {
    let (_, err) = load_err(&GOOD.replace("org_id = ", "orgid = \"x\"\norg_id = "));
    assert_eq!(err.key, "atlassian.orgid");
    assert!(err.message.contains("unknown key"));
}

#[test]
fn inline_secret_is_refused_without_echoing_it() {
    let (_, err) = load_err(&GOOD.replace(
        "org_id = ",
        "org_api_key = \"inline-secret-123\"\norg_id = ",
    ));
    assert_eq!(err.key, "atlassian.org_api_key");
    assert!(!err.to_string().contains("inline-secret-123"));
    let (_, err) =
        load_err(&GOOD.replace("name = \"entra\"", "name = \"entra\"\ntoken = \"t-456\""));
    assert_eq!(err.key, "atlassian.directories[0].token");
}

#[test]
fn bad_enum_and_bad_name_and_duplicates() {
    let (_, err) = load_err(&GOOD.replace("\"search\"", "\"scan\""));
    assert!(err.to_string().contains("accounts_endpoint"), "{err}");
    let (_, err) = load_err(&GOOD.replace("name = \"entra\"", "name = \"Entra ID\""));
    assert_eq!(err.key, "atlassian.directories[0].name");
    let dup = format!("{GOOD}\n[[atlassian.directories]]\nid = \"dir-1\"\nname = \"okta\"\n");
    let (_, err) = load_err(&dup.replace("[store]\npath = \"test.db\"\n", ""));
    assert_eq!(err.key, "atlassian.directories[1].id");
}

#[test]
fn plain_http_only_to_loopback() {
    let (_, err) = load_err(&GOOD.replace("http://127.0.0.1:9", "http://api.example.com"));
    assert_eq!(err.key, "atlassian.base_url");
    assert!(err.message.contains("https"));
}

#[test]
fn missing_secret_names_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    let s = Settings::load(Some(&write(
        dir.path(),
        &GOOD.replace("SCIMDRIFT_TEST_ORG_KEY", "SCIMDRIFT_TEST_UNSET_VAR"),
    )))
    .unwrap();
    let err = s.org_api_key().unwrap_err();
    assert_eq!(err.key, "atlassian.org_api_key_env");
    assert!(err.message.contains("SCIMDRIFT_TEST_UNSET_VAR"));
}

fn cli(config: &Path, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_scimdrift"));
    cmd.arg("--config")
        .arg(config)
        .args(args)
        .env_remove("SCIMDRIFT_CONFIG");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

#[test]
fn check_config_masks_secrets_and_applies_env_overrides() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), GOOD);
    let out = cli(
        &path,
        &["check-config"],
        &[
            ("SCIMDRIFT_TEST_ORG_KEY", "org-secret-value"),
            ("SCIMDRIFT__STORE__PATH", "/tmp/override.db"),
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("***"));
    assert!(
        !stdout.contains("org-secret-value") && !stdout.contains("dir-secret-value"),
        "{stdout}"
    );
    assert!(stdout.contains("/tmp/override.db"), "{stdout}");
}

#[test]
fn check_config_errors_exit_2_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), GOOD);
    let out = cli(&path, &["check-config"], &[]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("atlassian.org_api_key_env") && stderr.contains("SCIMDRIFT_TEST_ORG_KEY"),
        "{stderr}"
    );
    let bad = write(
        dir.path(),
        &GOOD.replace("org_id = \"org-1\"", "org_id = \"\""),
    );
    let out = cli(&bad, &["once"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("atlassian.org_id"));
}

#[test]
fn missing_config_file_is_a_clear_error() {
    let out = cli(Path::new("/nonexistent/scimdrift.toml"), &["once"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/scimdrift.toml"));
}

/// GOOD plus a section: `[atlassian.http]` keys go before `[store]`, other sections after.
fn with_http(lines: &str) -> String {
    GOOD.replace(
        "[store]\n",
        &format!("[atlassian.http]\n{lines}\n\n[store]\n"),
    )
}

#[test]
fn numbers_out_of_range_name_key_and_file() {
    for (text, key) in [
        (
            with_http("timeout_seconds = inf"),
            "atlassian.http.timeout_seconds",
        ),
        (
            with_http("timeout_seconds = 1e300"),
            "atlassian.http.timeout_seconds",
        ),
        (
            with_http("timeout_seconds = 0"),
            "atlassian.http.timeout_seconds",
        ),
        (
            with_http("retry_max_delay_seconds = nan"),
            "atlassian.http.retry_max_delay_seconds",
        ),
        (
            with_http("retry_budget_seconds = 1e300"),
            "atlassian.http.retry_budget_seconds",
        ),
        (
            with_http("concurrency = 9223372036854775807"),
            "atlassian.http.concurrency",
        ),
        (
            with_http("scim_page_size = 1000000"),
            "atlassian.http.scim_page_size",
        ),
        (
            with_http("accounts_page_size = 0"),
            "atlassian.http.accounts_page_size",
        ),
        (
            with_http("max_retries = 4000000000"),
            "atlassian.http.max_retries",
        ),
        (
            with_http("max_page_bytes = 10"),
            "atlassian.http.max_page_bytes",
        ),
        (
            with_http("pull_deadline_seconds = -inf"),
            "atlassian.http.pull_deadline_seconds",
        ),
        (
            format!("{GOOD}\n[schedule]\nshutdown_timeout_seconds = inf\n"),
            "schedule.shutdown_timeout_seconds",
        ),
        (
            format!("{GOOD}\n[detect]\nstale_after_days = 9223372036854775807\n"),
            "detect.stale_after_days",
        ),
        (
            format!("{GOOD}\n[report.delivery]\ntimeout_seconds = 1e300\n"),
            "report.delivery.timeout_seconds",
        ),
        (
            format!("{GOOD}\n[report]\nkeep_days = 4000000000\n"),
            "report.keep_days",
        ),
        (
            format!("{GOOD}\n[remediation]\nmax_actions_per_cycle = 9223372036854775807\n"),
            "remediation.max_actions_per_cycle",
        ),
    ] {
        let (file, err) = load_err(&text);
        assert_eq!(err.key, key, "{err}");
        let shown = err.to_string();
        assert!(shown.contains(&file) && shown.contains(key), "{shown}");
        assert!(shown.contains("between"), "says the range: {shown}");
    }
    // The bounds themselves are fine.
    let dir = tempfile::tempdir().unwrap();
    let ok = with_http("timeout_seconds = 3600\nconcurrency = 64\nretry_budget_seconds = 0");
    Settings::load(Some(&write(dir.path(), &ok))).unwrap();
}

#[test]
fn hostile_numbers_exit_2_instead_of_panicking() {
    let dir = tempfile::tempdir().unwrap();
    for lines in [
        "timeout_seconds = inf",
        "retry_max_delay_seconds = nan",
        "concurrency = 9223372036854775807",
    ] {
        let path = write(dir.path(), &with_http(lines));
        for command in ["check-config", "once"] {
            let out = cli(&path, &[command], &[("SCIMDRIFT_TEST_ORG_KEY", "k-123456")]);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{command} {lines}: {stderr}");
            assert!(stderr.contains("atlassian.http."), "{stderr}");
            assert!(!stderr.contains("panicked"), "{stderr}");
        }
    }
}

#[test]
fn a_schedule_that_never_fires_is_refused() {
    let (file, err) = load_err(&format!("{GOOD}\n[schedule]\npull = \"0 0 0 31 2 *\"\n"));
    assert_eq!(err.key, "schedule.pull");
    assert!(err.message.contains("never fires"), "{err}");
    assert!(err.to_string().contains(&file));
    let (_, err) = load_err(&format!("{GOOD}\n[schedule]\nreport = \"0 0 7 30 2 *\"\n"));
    assert_eq!(err.key, "schedule.report");
    // Rare but real: 29 February fires in a leap year.
    let dir = tempfile::tempdir().unwrap();
    let leap = format!("{GOOD}\n[schedule]\nreport = \"0 0 7 29 2 *\"\n");
    Settings::load(Some(&write(dir.path(), &leap))).unwrap();
}

#[test]
fn wrong_types_in_the_file_name_the_key() {
    for (text, key, expected, found) in [
        (
            GOOD.replace("org_id = \"org-1\"", "org_id = true"),
            "atlassian.org_id",
            "a string",
            "a boolean",
        ),
        (
            with_http("timeout_seconds = \"30\""),
            "atlassian.http.timeout_seconds",
            "a number",
            "a string",
        ),
        (
            with_http("max_retries = 2.5"),
            "atlassian.http.max_retries",
            "a whole number",
            "a number",
        ),
        (
            GOOD.replace("id = \"dir-1\"", "id = 17"),
            "atlassian.directories[0].id",
            "a string",
            "an integer",
        ),
    ] {
        let (file, err) = load_err(&text);
        assert_eq!(err.key, key, "{err}");
        assert_eq!(err.message, format!("expected {expected}, found {found}"));
        assert!(err.to_string().contains(&file), "{err}");
    }
    // An integer is a fine number of seconds.
    let dir = tempfile::tempdir().unwrap();
    let s = Settings::load(Some(&write(dir.path(), &with_http("timeout_seconds = 12")))).unwrap();
    assert_eq!(s.atlassian.http.timeout_seconds, 12.0);
}

#[test]
fn environment_overrides_are_still_parsed_from_strings() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), GOOD);
    let out = cli(
        &path,
        &["check-config"],
        &[
            ("SCIMDRIFT_TEST_ORG_KEY", "org-secret-value"),
            ("SCIMDRIFT__ATLASSIAN__HTTP__TIMEOUT_SECONDS", "12"),
            ("SCIMDRIFT__ATLASSIAN__HTTP__CONCURRENCY", "3"),
            ("SCIMDRIFT__ATLASSIAN__ORG_ID", "4711"),
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("timeout_seconds = 12"), "{stdout}");
    assert!(stdout.contains("concurrency = 3"), "{stdout}");
    assert!(stdout.contains("org_id = \"4711\""), "{stdout}");
    // Out of range from the environment is refused as well.
    let out = cli(
        &path,
        &["check-config"],
        &[
            ("SCIMDRIFT_TEST_ORG_KEY", "org-secret-value"),
            ("SCIMDRIFT__ATLASSIAN__HTTP__TIMEOUT_SECONDS", "inf"),
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("atlassian.http.timeout_seconds"));
}

#[test]
fn a_base_url_with_credentials_is_refused_without_echoing_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        &GOOD.replace(
            "http://127.0.0.1:9",
            "https://admin:hunter2-pass@api.example.com",
        ),
    );
    let err = Settings::load(Some(&path)).unwrap_err();
    assert_eq!(err.key, "atlassian.base_url");
    for command in ["check-config", "once"] {
        let out = cli(&path, &[command], &[("SCIMDRIFT_TEST_ORG_KEY", "k-123456")]);
        assert_eq!(out.status.code(), Some(2));
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(all.contains("atlassian.base_url"), "{all}");
        assert!(!all.contains("hunter2") && !all.contains("admin:"), "{all}");
    }
    let (_, err) = load_err(&GOOD.replace("http://127.0.0.1:9", "http://token@127.0.0.1:9"));
    assert_eq!(err.key, "atlassian.base_url");
}

/// `check-config` validates exactly what `run` uses: the server's token and listen address too.
#[test]
fn check_config_refuses_what_run_refuses_on_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let env = [("SCIMDRIFT_TEST_ORG_KEY", "org-secret-value")];
    let cases = [
        ("[server]\nlisten = \"0.0.0.0:9464\"\n", "loopback"),
        (
            "[server]\nauth_token_file = \"/nonexistent/token\"\n",
            "/nonexistent/token",
        ),
        (
            "[server]\nlisten = \"0.0.0.0:9464\"\nauth_token_file = \"/nonexistent/token\"\n",
            "/nonexistent/token",
        ),
    ];
    for (server, says) in cases {
        let path = write(dir.path(), &format!("{GOOD}\n{server}"));
        for command in ["check-config", "run"] {
            let out = cli(&path, &[command], &env);
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{command} {server}: {err}");
            assert!(
                err.contains("server.auth_token_file") && err.contains(says),
                "{command} {server}: {err}"
            );
            assert!(err.contains(&path.display().to_string()), "{err}");
        }
    }
    // With a token file, a non-loopback address is fine for check-config.
    let token = dir.path().join("token");
    std::fs::write(&token, "s3cret-token\n").unwrap();
    let path = write(
        dir.path(),
        &format!(
            "{GOOD}\n[server]\nlisten = \"0.0.0.0:9464\"\nauth_token_file = {:?}\n",
            token.display().to_string()
        ),
    );
    let out = cli(&path, &["check-config"], &env);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("s3cret-token"));
}

/// GOOD with an Entra IdP on its directory (`lines` added to the IdP table) and a second
/// directory without one.
fn with_idp(lines: &str) -> String {
    GOOD.replace(
        "[store]\n",
        &format!(
            "[atlassian.directories.idp]\nkind = \"entra\"\ntenant_id = \"t-1\"\nclient_id = \"c-1\"\nclient_secret_file = \"KEYFILE\"\nservice_principal_id = \"sp-1\"\n{lines}\n\n[[atlassian.directories]]\nid = \"dir-2\"\nname = \"okta\"\ntoken_file = \"KEYFILE\"\n\n[store]\n"
        ),
    )
}

#[test]
fn a_base_url_with_a_query_fragment_or_dot_segments_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    Settings::load(Some(&write(dir.path(), &with_idp("")))).unwrap();
    for (suffix, says) in [
        ("/v1?debug=1", "query"),
        ("/v1#x", "fragment"),
        ("/a/../v1", "`..`"),
        ("/a/%2e%2E/v1", "`..`"),
    ] {
        for (key, text) in [
            (
                "atlassian.base_url",
                with_idp("").replace(
                    "base_url = \"http://127.0.0.1:9\"",
                    &format!("base_url = \"http://127.0.0.1:9{suffix}\""),
                ),
            ),
            (
                "atlassian.directories[0].idp.graph_base_url",
                with_idp(&format!(
                    "graph_base_url = \"https://graph.example.com{suffix}\""
                )),
            ),
            (
                "atlassian.directories[0].idp.login_base_url",
                with_idp(&format!(
                    "login_base_url = \"https://login.example.com{suffix}\""
                )),
            ),
        ] {
            let (file, err) = load_err(&text);
            assert_eq!(err.key, key, "{suffix}: {err}");
            assert!(err.message.contains(says), "{suffix}: {err}");
            assert!(err.to_string().contains(&file), "{err}");
        }
    }
}

#[test]
fn key_paths_are_spelled_with_their_dots() {
    for (line, key, says) in [
        ("", "atlassian.directories[0].idp.kind", "ping"),
        (
            "log_lookback_days = \"x\"",
            "atlassian.directories[0].idp.log_lookback_days",
            "expected",
        ),
        ("scope = 7", "atlassian.directories[0].idp.scope", ""),
        (
            "log_lookback_days = 99",
            "atlassian.directories[0].idp.log_lookback_days",
            "between 1 and 30",
        ),
        (
            "graph_base_url = 5",
            "atlassian.directories[0].idp.graph_base_url",
            "string",
        ),
    ] {
        let mut text = with_idp(line);
        if line.is_empty() {
            text = text.replace("kind = \"entra\"", "kind = \"ping\"");
        }
        let (file, err) = load_err(&text);
        assert_eq!(err.key, key, "{line}: {err}");
        assert!(err.message.contains(says), "{line}: {err}");
        let shown = err.to_string();
        // The key once, with its dots; the file once.
        assert!(
            !shown.contains("]idp") && !shown.contains("for key"),
            "{shown}"
        );
        assert_eq!(shown.matches(&file).count(), 1, "{shown}");
    }
}

#[test]
fn provision_on_demand_is_refused_where_no_idp_is_configured() {
    let rule = |scope: &str| {
        format!(
            "{}\n[[remediation.rules]]\nkind = \"assigned_not_provisioned\"\naction = \"provision_on_demand\"\n{scope}\n",
            with_idp("")
        )
    };
    let dir = tempfile::tempdir().unwrap();
    for ok in ["", "directories = [\"entra\"]", "directories = [\"dir-1\"]"] {
        Settings::load(Some(&write(dir.path(), &rule(ok)))).unwrap();
    }
    let (file, err) = load_err(&rule("directories = [\"entra\", \"okta\"]"));
    assert_eq!(err.key, "remediation.rules[0].directories[1]", "{err}");
    assert!(
        err.message.contains("okta") && err.message.contains("[atlassian.directories.idp]"),
        "{err}"
    );
    assert!(err.to_string().contains(&file));
    // Without any IdP, an unscoped rule has nowhere to act.
    let no_idp = format!(
        "{GOOD}\n[[remediation.rules]]\nkind = \"assigned_not_provisioned\"\naction = \"provision_on_demand\"\n"
    );
    let (_, err) = load_err(&no_idp);
    assert_eq!(err.key, "remediation.rules[0].action", "{err}");
    // A scope naming no configured directory is a typo, for any rule.
    let (_, err) = load_err(&rule("directories = [\"entar\"]"));
    assert_eq!(err.key, "remediation.rules[0].directories[0]", "{err}");
}
