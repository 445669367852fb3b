//! The change-history store: versions per change, not per pull; refusing files that are not ours.

mod common;

use common::Env;
use scimdrift::store::{Store, StoreError};

#[tokio::test]
async fn unchanged_second_pull_adds_no_version_rows() {
    let env = Env::scenarios(50).await;
    let first = env.pull().await;
    let before = env.store().version_counts().unwrap();
    assert_eq!(before.0 as usize, first.pull.scim_records());
    assert_eq!(before.2 as usize, first.pull.accounts());
    let second = env.pull().await;
    assert!(second.recorded.complete);
    assert_eq!(
        (
            second.recorded.versions_added,
            second.recorded.versions_closed
        ),
        (0, 0)
    );
    assert_eq!(env.store().version_counts().unwrap(), before);
}

#[tokio::test]
async fn one_changed_record_adds_exactly_one_version() {
    let env = Env::scenarios(50).await;
    let first = env.pull().await;
    let r9 = env.sim.world().labels["R9"].clone();
    env.sim.update_world(|w| {
        for d in &mut w.directories {
            if let Some(u) = d.user_mut(&r9) {
                u.display_name = Some("Fay Renamed".into());
            }
        }
    });
    let before = env.store().version_counts().unwrap();
    let second = env.pull().await;
    assert_eq!(
        (
            second.recorded.versions_added,
            second.recorded.versions_closed
        ),
        (1, 1)
    );
    let after = env.store().version_counts().unwrap();
    assert_eq!(after, (before.0 + 1, before.1, before.2));
    // History: each snapshot still reads as it was.
    let store = env.store();
    let name_at = |id| {
        let state = store.state_at(id).unwrap();
        state
            .records
            .into_iter()
            .find(|r| r.scim_id == r9)
            .unwrap()
            .display_name
    };
    assert_ne!(
        name_at(first.recorded.snapshot_id).as_deref(),
        Some("Fay Renamed")
    );
    assert_eq!(
        name_at(second.recorded.snapshot_id).as_deref(),
        Some("Fay Renamed")
    );
}

/// Every version row of `dir`'s `scim_id`, oldest first: (row id, its own `raw` column).
fn user_rows(db: &std::path::Path, scim_id: &str) -> Vec<(i64, String)> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut stmt = conn
        .prepare("SELECT id, raw FROM scim_user_versions WHERE scim_id = ?1 ORDER BY id")
        .unwrap();
    stmt.query_map([scim_id], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn count(db: &std::path::Path, sql: &str) -> i64 {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row(sql, [], |r| r.get(0)).unwrap()
}

#[tokio::test]
async fn raw_json_is_stored_once_per_content_compressed_and_reads_back_as_sent() {
    use scimdrift::store::RawTable;
    let env = Env::scenarios(50).await;
    let first = env.pull().await;
    let db = env.db_path();
    let distinct = "SELECT count(DISTINCT hash) FROM (SELECT hash FROM scim_user_versions
        UNION ALL SELECT hash FROM scim_group_versions UNION ALL SELECT hash FROM account_versions)";
    let bodies = count(&db, "SELECT count(*) FROM raw_json");
    assert_eq!(
        bodies,
        count(&db, distinct),
        "one body per distinct content"
    );
    assert!(bodies as usize >= first.pull.scim_records() + first.pull.accounts());
    let (packed, text) = (
        count(&db, "SELECT sum(length(body)) FROM raw_json"),
        count(&db, "SELECT sum(length) FROM raw_json"),
    );
    assert!(packed * 2 < text, "compressed: {packed} bytes for {text}");

    // A record renamed, then renamed back: three versions, two bodies.
    let r9 = env.sim.world().labels["R9"].clone();
    let rename = |name: &'static str| {
        env.sim.update_world(|w| {
            for d in &mut w.directories {
                if let Some(u) = d.user_mut(&r9) {
                    u.display_name = Some(name.into());
                }
            }
        })
    };
    let original = user_rows(&db, &r9);
    assert_eq!(original.len(), 1);
    assert_eq!(
        original[0].1, "",
        "the row's own column is empty: the text is in raw_json"
    );
    let store = env.store();
    let sent = store
        .raw_json(RawTable::ScimUsers, original[0].0)
        .unwrap()
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&sent).unwrap();
    assert_eq!(v["id"], serde_json::json!(r9));
    let original_name = v["displayName"].clone();
    rename("Fay Renamed");
    env.pull().await;
    assert_eq!(count(&db, "SELECT count(*) FROM raw_json"), bodies + 1);
    let original_text = sent;
    env.sim.update_world(|w| {
        for d in &mut w.directories {
            if let Some(u) = d.user_mut(&r9) {
                u.display_name = original_name.as_str().map(String::from);
            }
        }
    });
    let third = env.pull().await;
    assert_eq!(third.recorded.versions_added, 1);
    assert_eq!(
        count(&db, "SELECT count(*) FROM raw_json"),
        bodies + 1,
        "the same content again is not stored twice"
    );
    let rows = user_rows(&db, &r9);
    assert_eq!(rows.len(), 3);
    let texts: Vec<String> = rows
        .iter()
        .map(|(id, _)| store.raw_json(RawTable::ScimUsers, *id).unwrap().unwrap())
        .collect();
    assert_eq!(texts[0], original_text);
    assert!(texts[1].contains("Fay Renamed"), "{}", texts[1]);
    assert_eq!(texts[2], original_text);
    assert_eq!(store.raw_json(RawTable::Accounts, i64::MAX).unwrap(), None);
    let account: i64 = count(&db, "SELECT min(id) FROM account_versions");
    let text = store
        .raw_json(RawTable::Accounts, account)
        .unwrap()
        .unwrap();
    assert!(text.contains("accountId"), "{text}");
}

#[tokio::test]
async fn a_body_damaged_in_the_store_is_named_corrupt_not_a_panic() {
    use scimdrift::store::RawTable;
    let env = Env::scenarios(5).await;
    env.pull().await;
    let db = env.db_path();
    let id = count(&db, "SELECT min(id) FROM scim_user_versions");
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute(
        "UPDATE raw_json SET body = x'00112233' WHERE hash = (SELECT hash FROM scim_user_versions WHERE id = ?1)",
        [id],
    )
    .unwrap();
    drop(conn);
    let err = env.store().raw_json(RawTable::ScimUsers, id).unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
    assert!(
        err.to_string()
            .contains(&format!("scim_user_versions row {id}")),
        "{err}"
    );
    // Another record's body, whole and decodable, under this row's hash: still refused.
    let other = count(&db, "SELECT max(id) FROM scim_user_versions");
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute(
        "UPDATE raw_json SET (body, length) = (SELECT body, length FROM raw_json
             WHERE hash = (SELECT hash FROM scim_user_versions WHERE id = ?2))
         WHERE hash = (SELECT hash FROM scim_user_versions WHERE id = ?1)",
        [id, other],
    )
    .unwrap();
    drop(conn);
    let err = env.store().raw_json(RawTable::ScimUsers, id).unwrap_err();
    assert!(err.to_string().contains("does not match its hash"), "{err}");
    assert!(env.store().raw_json(RawTable::ScimUsers, other).is_ok());
}

#[tokio::test]
async fn a_store_corrupted_between_two_pulls_of_one_process_is_refused() {
    let env = Env::scenarios(10).await;
    env.pull().await;
    env.pull().await;
    let db = env.db_path();
    scimdrift::store::settle(&db);
    let mut bytes = std::fs::read(&db).unwrap();
    let pages = bytes.len() / 4096;
    for page in [pages / 2, pages / 2 + 1, pages - 2] {
        bytes[page * 4096..(page + 1) * 4096].fill(0xA5);
    }
    std::fs::write(&db, &bytes).unwrap();
    // This process checked the store and wrote it twice itself; a change it did not make is
    // checked again before anything writes.
    let err = Store::open(&db).err().unwrap();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
}

#[tokio::test]
async fn a_removed_record_is_closed_not_deleted() {
    let env = Env::scenarios(10).await;
    let first = env.pull().await;
    let r7 = env.sim.world().labels["R7"].clone();
    env.sim.update_world(|w| {
        for d in &mut w.directories {
            d.users.retain(|u| u.id != r7);
        }
    });
    let second = env.pull().await;
    assert_eq!(second.recorded.versions_closed, 1);
    let store = env.store();
    let has = |id| {
        store
            .state_at(id)
            .unwrap()
            .records
            .iter()
            .any(|r| r.scim_id == r7)
    };
    assert!(has(first.recorded.snapshot_id));
    assert!(!has(second.recorded.snapshot_id));
}

fn sha(path: &std::path::Path) -> Vec<u8> {
    std::fs::read(path).unwrap()
}

#[test]
fn newer_schema_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new.db");
    drop(Store::open(&path).unwrap());
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.pragma_update(None, "journal_mode", "DELETE").unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
    }
    let before = sha(&path);
    let err = Store::open(&path).err().unwrap();
    assert!(matches!(err, StoreError::TooNew { found: 99, .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("newer") && msg.contains("99") && msg.contains("new.db"),
        "{msg}"
    );
    assert_eq!(sha(&path), before, "the file must be left untouched");
}

#[test]
fn foreign_sqlite_database_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("other.db");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL);")
            .unwrap();
    }
    let before = sha(&path);
    let err = Store::open(&path).err().unwrap();
    assert!(matches!(err, StoreError::NotScimdrift { .. }), "{err}");
    assert_eq!(sha(&path), before);
}

#[test]
fn non_sqlite_file_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.db");
    std::fs::write(&path, "these are my notes, not a database\n".repeat(100)).unwrap();
    let err = Store::open(&path).err().unwrap();
    assert!(matches!(err, StoreError::NotSqlite { .. }), "{err}");
    assert!(err.to_string().contains("not a SQLite database"));
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "these are my notes, not a database\n".repeat(100)
    );
}

#[test]
fn fresh_database_uses_wal_and_the_latest_schema() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fresh.db");
    drop(Store::open(&path).unwrap());
    let conn = rusqlite::Connection::open(&path).unwrap();
    let mode: String = conn
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .unwrap();
    let version: i32 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    let app: i32 = conn
        .pragma_query_value(None, "application_id", |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    assert_eq!(version, scimdrift::store::SCHEMA_VERSION);
    assert_eq!(app, scimdrift::store::APPLICATION_ID);
    drop(conn);
    // Reopening an up-to-date database works and keeps it.
    drop(Store::open(&path).unwrap());
}

#[tokio::test]
async fn a_pull_that_dies_midway_leaves_the_previous_state_intact() {
    use scimdrift::store::{Batch, Recorder};
    let env = Env::scenarios(10).await;
    let good = env.pull().await;
    let before = env.store().version_counts().unwrap();
    let state_before = env.store().state_at(good.recorded.snapshot_id).unwrap();
    // A pull starts writing changed records, then the process "dies" before finishing.
    let recorder = Recorder::start(env.store());
    let mut changed = state_before.records[0].clone();
    changed.display_name = Some("Changed Mid Pull".into());
    recorder
        .sink()
        .send(Batch::Users(vec![(changed, "{\"changed\":true}".into())]))
        .await;
    drop(recorder);
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let store = env.store();
    assert_eq!(store.version_counts().unwrap(), before);
    assert_eq!(store.snapshots(10).unwrap().len(), 1);
    assert_eq!(
        store.state_at(good.recorded.snapshot_id).unwrap(),
        state_before
    );
}

/// Every index of the schema: (name, its CREATE statement), by name.
fn indexes(db: &std::path::Path) -> Vec<(String, Option<String>)> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut stmt = conn
        .prepare("SELECT name, sql FROM sqlite_master WHERE type = 'index' ORDER BY name")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// A first import writes into empty tables and builds their indexes after the rows (store::bulk):
/// it commits with every index of the schema, as written, over every row.
#[tokio::test]
async fn a_first_import_commits_every_index_of_the_schema_over_its_rows() {
    let env = Env::scenarios(40).await;
    drop(env.store());
    let schema = indexes(&env.db_path());
    for name in [
        "scim_user_current",
        "scim_user_history",
        "account_current",
        "account_history",
    ] {
        assert!(schema.iter().any(|(n, _)| n == name), "{name}: {schema:?}");
    }
    let first = env.pull().await;
    assert!(first.recorded.complete);
    assert_eq!(indexes(&env.db_path()), schema);
    let conn = rusqlite::Connection::open(env.db_path()).unwrap();
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    // The current-version look-up goes through its index, which holds every current row.
    let plan: String = conn
        .query_row(
            "EXPLAIN QUERY PLAN SELECT id FROM scim_user_versions
             WHERE directory_id = 'd' AND scim_id = 's' AND valid_to IS NULL",
            [],
            |r| r.get(3),
        )
        .unwrap();
    assert!(plan.contains("scim_user_current"), "{plan}");
    let indexed = count(
        &env.db_path(),
        "SELECT count(*) FROM scim_user_versions INDEXED BY scim_user_current WHERE valid_to IS NULL",
    );
    assert_eq!(indexed as usize, first.pull.scim_records());
    drop(conn);
    // The next pull updates the tables in place, their indexes kept.
    let second = env.pull().await;
    assert_eq!(second.recorded.versions_added, 0);
    assert_eq!(indexes(&env.db_path()), schema);
}

/// A first import that fails part-way (the accounts' second page malformed, after the first was
/// written) is rolled back with the indexes it dropped: the store keeps every index of the
/// schema, and no version row.
#[tokio::test]
async fn an_incomplete_first_import_keeps_the_schemas_indexes() {
    use scimdrift::sim::{Api, FaultKind, FaultRule, Faults, SimOptions, World};
    let options = SimOptions {
        accounts_page_cap: 10,
        ..SimOptions::default()
    };
    let env = Env::start(World::healthy(25, 1, chrono::Utc::now()), options).await;
    drop(env.store());
    let schema = indexes(&env.db_path());
    env.sim
        .set_faults(Faults::rules([FaultRule::new(FaultKind::MissingResources)
            .on(Api::Accounts)
            .skip(1)
            .once()]));
    let failed = env.pull().await;
    assert!(!failed.recorded.complete);
    assert_eq!(indexes(&env.db_path()), schema);
    for table in ["scim_user_versions", "account_versions"] {
        assert_eq!(
            count(&env.db_path(), &format!("SELECT count(*) FROM {table}")),
            0
        );
    }
    // The next pull imports everything, its indexes built.
    let first = env.pull().await;
    assert!(first.recorded.complete);
    assert_eq!(indexes(&env.db_path()), schema);
    assert_eq!(
        count(&env.db_path(), "SELECT count(*) FROM account_versions") as usize,
        first.pull.accounts()
    );
}

#[test]
fn a_new_store_is_private_and_two_processes_may_create_it_at_once() {
    use std::os::unix::fs::PermissionsExt;
    for round in 0..20 {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(format!("s{round}.db"));
        let opened: Vec<_> = (0..3)
            .map(|_| {
                let path = path.clone();
                std::thread::spawn(move || Store::open(&path).map(drop))
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|t| t.join().unwrap())
            .collect();
        for o in opened {
            o.unwrap();
        }
        // It holds emails: owner only, WAL included.
        for file in [path.clone(), path.with_extension("db-wal")] {
            if let Ok(m) = std::fs::metadata(&file) {
                assert_eq!(m.permissions().mode() & 0o777, 0o600, "{}", file.display());
            }
        }
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
}

/// The store's `-wal` and `-shm` files.
fn side_files(db: &std::path::Path) -> [std::path::PathBuf; 2] {
    ["-wal", "-shm"].map(|s| {
        let mut name = db.as_os_str().to_owned();
        name.push(s);
        name.into()
    })
}

/// The read-only commands, each with what its output must show.
const READ_ONLY: [(&[&str], &str); 5] = [
    (
        &["findings", "--format", "json", "--fail-on", "low"],
        "\"findings\"",
    ),
    (&["report", "--format", "markdown"], "#"),
    (&["snapshots", "--format", "json"], "\"snapshot_id\""),
    (
        &["person", "fay@example.com", "--format", "json"],
        "fay@example.com",
    ),
    (&["audit", "--format", "json"], "\"actions\""),
];

/// Runs each read-only command, which must succeed (`findings` exits 1: findings are open).
async fn read_only_commands_succeed(env: &Env, why: &str) {
    for (args, shows) in READ_ONLY {
        let out = env.cli(args).await;
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let expected = if args[0] == "findings" { 1 } else { 0 };
        assert_eq!(
            out.status.code(),
            Some(expected),
            "{why}: {args:?}: {stderr}"
        );
        assert!(stdout.contains(shows), "{why}: {args:?}: {stdout}");
    }
}

#[tokio::test]
async fn read_only_commands_leave_the_store_as_it_was_even_when_read_only() {
    let env = Env::scenarios(20).await;
    assert!(env.pull().await.recorded.complete);
    let db = env.db_path();
    // No connection is open: nothing but the main file.
    assert!(side_files(&db).iter().all(|f| !f.exists()));
    let before = (
        sha(&db),
        std::fs::metadata(&db).unwrap().modified().unwrap(),
    );
    // The file and its directory read-only (root may still write: the checks below hold anyway).
    use std::os::unix::fs::PermissionsExt;
    let mode = |path: &std::path::Path, mode| {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap()
    };
    mode(&db, 0o400);
    mode(env.dir.path(), 0o500);
    read_only_commands_succeed(&env, "read-only store").await;
    mode(env.dir.path(), 0o700);
    mode(&db, 0o600);
    for file in side_files(&db) {
        assert!(!file.exists(), "{} was created", file.display());
    }
    let after = (
        sha(&db),
        std::fs::metadata(&db).unwrap().modified().unwrap(),
    );
    assert!(after == before, "the store's bytes or mtime changed");
}

#[tokio::test]
async fn read_only_commands_work_beside_a_writer_holding_a_full_store() {
    let env = Env::scenarios(20).await;
    assert!(env.pull().await.recorded.complete);
    // Another connection makes the database full (SQLite's `max_page_count`: a write then fails
    // as on a full disk) and holds the write lock.
    let writer = rusqlite::Connection::open(env.db_path()).unwrap();
    let pages: i64 = writer
        .query_row("PRAGMA page_count", [], |r| r.get(0))
        .unwrap();
    writer.pragma_update(None, "max_page_count", pages).unwrap();
    writer.execute_batch("BEGIN IMMEDIATE").unwrap();
    let full = writer
        .execute_batch("CREATE TABLE filler (x); INSERT INTO filler VALUES (randomblob(1000000));")
        .unwrap_err();
    assert_eq!(
        full.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DiskFull),
        "{full}"
    );
    if writer.is_autocommit() {
        writer.execute_batch("BEGIN IMMEDIATE").unwrap();
    }
    read_only_commands_succeed(&env, "beside a full writer").await;
    writer.execute_batch("ROLLBACK").unwrap();
}

#[tokio::test]
async fn an_empty_store_file_is_refused_by_every_command_and_left_empty() {
    let mut env = Env::scenarios(0).await;
    env.extend_config("\n[server]\nlisten = \"127.0.0.1:0\"\n");
    let db = env.db_path();
    std::fs::write(&db, "").unwrap();
    let mut commands: Vec<&[&str]> = READ_ONLY.iter().map(|(args, _)| *args).collect();
    commands.extend([&["once"][..], &["run"], &["remediate", "plan"]]);
    for args in commands {
        let out = tokio::time::timeout(std::time::Duration::from_secs(300), env.cli(args))
            .await
            .expect("the command ends");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains(&db.display().to_string())
                && stderr.contains("the file is empty (0 bytes)")
                && stderr.contains("remove the file"),
            "{args:?}: {stderr}"
        );
    }
    for open in [Store::open, Store::open_read_only] {
        let err = open(&db).err().unwrap();
        assert!(matches!(err, StoreError::Empty { .. }), "{err}");
    }
    assert_eq!(std::fs::metadata(&db).unwrap().len(), 0, "left empty");
    assert!(side_files(&db).iter().all(|f| !f.exists()));
}
