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
