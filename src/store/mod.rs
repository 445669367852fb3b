//! The SQLite store: snapshots as change history (a row per version of a record), WAL mode,
//! migrations by `user_version`. A file that is not ours, or is newer, is refused and left untouched.

mod findings;
mod person;
mod read;
mod remediation;
mod reports;
mod schema;
mod write;

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};

pub use findings::{Opening, Reconciled};
pub use person::{AccountVersion, RecordVersion};
pub use read::{ShrinkInfo, SnapshotInfo, SourceInfo, State};
pub use remediation::{AuditRow, NewAudit};
pub use schema::{APPLICATION_ID, LATEST as SCHEMA_VERSION};
pub use write::{Analyse, Batch, BatchSink, Finished, Population, Recorded, Recorder};

/// Why the store could not be opened or used.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: not a SQLite database (it was left untouched)")]
    NotSqlite { path: PathBuf },
    #[error("{path}: a SQLite database that is not scimdrift's (it was left untouched)")]
    NotScimdrift { path: PathBuf },
    #[error(
        "{path}: database schema version {found} is newer than this scimdrift supports ({supported}); \
         upgrade scimdrift (the file was left untouched)"
    )]
    TooNew {
        path: PathBuf,
        found: i32,
        supported: i32,
    },
    #[error("store writer: {0}")]
    Writer(String),
    #[error("{path}: {context}: {source}")]
    Sqlite {
        path: PathBuf,
        context: &'static str,
        source: rusqlite::Error,
    },
}

/// An open scimdrift database.
pub struct Store {
    conn: Connection,
    path: PathBuf,
}

impl Store {
    /// Opens (creating if absent) and migrates the database at `path`.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let sqlite = |context| {
            let path = path.to_path_buf();
            move |source| StoreError::Sqlite {
                path,
                context,
                source,
            }
        };
        if path.metadata().map(|m| m.len() > 0).unwrap_or(false) {
            check_existing(path)?;
        }
        let mut conn = Connection::open(path).map_err(sqlite("cannot open"))?;
        // A pull writes in one transaction (seconds for a large org): writers wait it out.
        conn.busy_timeout(std::time::Duration::from_secs(60))
            .map_err(sqlite("cannot set busy timeout"))?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(sqlite("cannot enable WAL"))?;
        // FULL: a commit (an intent before its call) survives a power loss, not only a crash.
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(sqlite("cannot set synchronous"))?;
        conn.pragma_update(None, "cache_size", -32768)
            .map_err(sqlite("cannot set cache size"))?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(sqlite("cannot enable foreign keys"))?;
        let version: i32 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(sqlite("cannot read schema version"))?;
        schema::migrate(&mut conn, version).map_err(sqlite("migration failed"))?;
        Ok(Store {
            conn,
            path: path.to_path_buf(),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self, context: &'static str) -> impl FnOnce(rusqlite::Error) -> StoreError + '_ {
        move |source| StoreError::Sqlite {
            path: self.path.clone(),
            context,
            source,
        }
    }
}

/// Checks read-only that an existing file is a scimdrift database this build can use.
fn check_existing(path: &Path) -> Result<(), StoreError> {
    let not_sqlite = |_| StoreError::NotSqlite {
        path: path.to_path_buf(),
    };
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(not_sqlite)?;
    let app_id: i32 = conn
        .pragma_query_value(None, "application_id", |r| r.get(0))
        .map_err(not_sqlite)?;
    let version: i32 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(not_sqlite)?;
    let tables: i64 = conn
        .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
        .map_err(not_sqlite)?;
    if app_id != APPLICATION_ID && (app_id != 0 || tables > 0) {
        return Err(StoreError::NotScimdrift {
            path: path.to_path_buf(),
        });
    }
    if version > SCHEMA_VERSION {
        return Err(StoreError::TooNew {
            path: path.to_path_buf(),
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    Ok(())
}

impl Store {
    /// Checkpoints the WAL into the main file and returns the database's size in bytes.
    pub fn compacted_size(&self) -> Result<u64, StoreError> {
        self.conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .map_err(self.err("cannot checkpoint"))?;
        let bytes: i64 = self
            .conn
            .query_row(
                "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()",
                [],
                |r| r.get(0),
            )
            .map_err(self.err("cannot read size"))?;
        Ok(bytes.max(0) as u64)
    }
}
