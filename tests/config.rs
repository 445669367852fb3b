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
