//! The SQLite store: snapshots as change history (a row per version of a record), WAL mode,
//! migrations by `user_version`. A file that is not ours, or is newer, is refused and left untouched.

mod findings;
mod idp;
mod idp_read;
mod idp_targets;
mod person;
mod read;
mod remediation;
mod reports;
mod schema;
mod write;

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};
use serde::{Deserialize, Serialize};

pub use findings::{Opening, Reconciled};
pub use idp::{Evaluated, EvaluatedIdp};
pub use idp_read::IdpSideState;
pub use idp_targets::{StoredIdpSide, StoredIdpUser};
pub use person::{AccountVersion, RecordVersion};
pub use read::{ShrinkInfo, SnapshotInfo, SourceInfo, State};
pub use remediation::{AuditRow, NewAudit};
pub use reports::ReportDay;
pub use schema::{APPLICATION_ID, LATEST as SCHEMA_VERSION};
pub use write::{Analyse, Analysis, Batch, BatchSink, Finished, Population, Recorded, Recorder};

/// `[store]`: the SQLite database.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct StoreSettings {
    pub path: PathBuf,
}

impl Default for StoreSettings {
    fn default() -> Self {
        StoreSettings {
            path: PathBuf::from("scimdrift.db"),
        }
    }
}

impl StoreSettings {
    /// Checks the section; the error is (key within the section, message).
    pub fn validate(&self) -> Result<(), (String, String)> {
        if self.path.as_os_str().is_empty() {
            return Err((
                "path".into(),
                "expected the path of the SQLite database file".into(),
            ));
        }
        Ok(())
    }
}

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
    #[error(
        "{path}: the database is corrupted ({detail}); it was left untouched: restore it from a \
         backup, or move it away to start a new history"
    )]
    Corrupt { path: PathBuf, detail: String },
    #[error("{path}: {context}: {cause}")]
    Unusable {
        path: PathBuf,
        context: &'static str,
        /// The real cause: disk full, read-only, locked, permission denied, too many open files…
        cause: String,
    },
    #[error("store writer: {0}")]
    Writer(String),
    #[error("{path}: {context}: {}", explain(source))]
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

/// What an SQLite error means for the operator: the code's cause in words, then SQLite's text.
fn explain(e: &rusqlite::Error) -> String {
    use rusqlite::ErrorCode as C;
    let Some(code) = e.sqlite_error_code() else {
        return e.to_string();
    };
    let cause = match code {
        C::DiskFull => "the disk is full",
        C::ReadOnly => "the database or its directory is read-only",
        C::PermissionDenied => "permission denied",
        C::DatabaseBusy | C::DatabaseLocked => {
            "the database is locked by another process (another scimdrift, or a tool holding it open)"
        }
        C::CannotOpen => {
            "the file cannot be opened (missing directory, no permission, or too many open files)"
        }
        C::DatabaseCorrupt => {
            "the database is corrupted: restore it from a backup, or move it away to start a new history"
        }
        C::SystemIoFailure => "an I/O error (disk failure, or the file was removed)",
        C::OutOfMemory => "out of memory",
        _ => return e.to_string(),
    };
    format!("{cause} ({e})")
}

/// Maps an error met while checking or opening `path`: corruption and every real cause (disk
/// full, read-only, locked, cannot open) by name; `NotSqlite` only for SQLite's own verdict.
fn open_error(path: &Path, context: &'static str, e: rusqlite::Error) -> StoreError {
    use rusqlite::ErrorCode as C;
    let path_buf = path.to_path_buf();
    match e.sqlite_error_code() {
        Some(C::NotADatabase) => StoreError::NotSqlite { path: path_buf },
        Some(C::DatabaseCorrupt) => StoreError::Corrupt {
            path: path_buf,
            detail: e.to_string(),
        },
        Some(C::CannotOpen) => {
            // SQLite does not say why: ask the file system (EMFILE, EACCES, ENOTDIR…).
            let probe = if path.exists() {
                std::fs::File::open(path).err()
            } else {
                path.parent()
                    .filter(|p| !p.as_os_str().is_empty())
                    .and_then(|p| std::fs::read_dir(p).err())
            };
            StoreError::Unusable {
                path: path_buf,
                context,
                cause: match probe {
                    Some(io) => format!("cannot open the file: {io} ({e})"),
                    None => explain(&e),
                },
            }
        }
        Some(_) => StoreError::Unusable {
            path: path_buf,
            context,
            cause: explain(&e),
        },
        None => StoreError::Sqlite {
            path: path_buf,
            context,
            source: e,
        },
    }
}

impl Store {
    /// Opens (creating if absent) and migrates the database at `path`.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let sqlite = |context| move |source| open_error(path, context, source);
        match path.metadata() {
            Ok(m) if m.len() > 0 => check_existing(path)?,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => create_private(path)?,
            Err(e) => {
                return Err(StoreError::Unusable {
                    path: path.to_path_buf(),
                    context: "cannot read the file's metadata",
                    cause: e.to_string(),
                });
            }
        }
        let mut conn = Connection::open(path).map_err(sqlite("cannot open"))?;
        // A pull writes in one transaction (seconds for a large org): writers wait it out.
        conn.busy_timeout(std::time::Duration::from_secs(60))
            .map_err(sqlite("cannot set busy timeout"))?;
        enable_wal(&conn).map_err(sqlite("cannot enable WAL"))?;
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
        move |source| match source.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DatabaseCorrupt) => StoreError::Corrupt {
                path: self.path.clone(),
                detail: source.to_string(),
            },
            _ => StoreError::Sqlite {
                path: self.path.clone(),
                context,
                source,
            },
        }
    }
}

/// Switches the database to WAL. Changing the journal mode needs the file to itself, and SQLite
/// answers "locked" at once (no busy handler) while another process opens the same new file: wait
/// and retry for up to the busy timeout.
fn enable_wal(conn: &Connection) -> rusqlite::Result<()> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
        if mode.eq_ignore_ascii_case("wal") {
            return Ok(());
        }
        match conn.pragma_update(None, "journal_mode", "WAL") {
            Ok(()) => return Ok(()),
            Err(rusqlite::Error::SqliteFailure(e, _))
                if matches!(
                    e.code,
                    rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
                ) && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(e) => return Err(e),
        }
    }
}

/// Creates the database file readable by its owner only (mode 0600: it holds emails); SQLite gives
/// its WAL and shared-memory files the same mode.
fn create_private(path: &Path) -> Result<(), StoreError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        // Created meanwhile by another process: open it as it is.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(StoreError::Unusable {
            path: path.to_path_buf(),
            context: "cannot create the database file",
            cause: e.to_string(),
        }),
    }
}

/// Checks read-only that an existing file is a scimdrift database this build can use, and that it
/// is intact (`PRAGMA quick_check`): a corrupted page is refused before anything writes to it.
fn check_existing(path: &Path) -> Result<(), StoreError> {
    let fail = |context| move |e| open_error(path, context, e);
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(fail("cannot open"))?;
    conn.busy_timeout(std::time::Duration::from_secs(60))
        .map_err(fail("cannot set busy timeout"))?;
    let app_id: i32 = conn
        .pragma_query_value(None, "application_id", |r| r.get(0))
        .map_err(fail("cannot read the application id"))?;
    let version: i32 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(fail("cannot read the schema version"))?;
    let tables: i64 = conn
        .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
        .map_err(fail("cannot read the schema"))?;
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
    // O(size), but far below a pull: about 0.25 s for a 218 MB database (warm page cache).
    // Corruption met later (a page read or written) is named as such too (`explain`).
    // Once per version of the file in a process: the daemon opens the store per cycle and per
    // request, and an unchanged file need not be read whole again.
    static CHECKED: std::sync::Mutex<Vec<(PathBuf, u64, Option<std::time::SystemTime>)>> =
        std::sync::Mutex::new(Vec::new());
    let version = std::fs::metadata(path).ok().map(|m| {
        (
            path.canonicalize().unwrap_or_else(|_| path.to_path_buf()),
            m.len(),
            m.modified().ok(),
        )
    });
    if let Some(v) = &version
        && CHECKED.lock().is_ok_and(|c| c.contains(v))
    {
        return Ok(());
    }
    let problems: Vec<String> = {
        let mut stmt = conn
            .prepare("PRAGMA quick_check(5)")
            .map_err(fail("cannot check integrity"))?;
        stmt.query_map([], |r| r.get::<_, String>(0))
            .and_then(|rows| rows.collect())
            .map_err(fail("cannot check integrity"))?
    };
    if problems.iter().any(|p| p != "ok") {
        return Err(StoreError::Corrupt {
            path: path.to_path_buf(),
            detail: problems.join("; ").chars().take(300).collect(),
        });
    }
    if let (Some(v), Ok(mut checked)) = (version, CHECKED.lock()) {
        checked.retain(|(p, _, _)| p != &v.0);
        checked.push(v);
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

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::ffi;

    fn failure(code: std::os::raw::c_int) -> rusqlite::Error {
        rusqlite::Error::SqliteFailure(ffi::Error::new(code), None)
    }

    #[test]
    fn each_cause_is_named_and_only_notadb_is_not_sqlite() {
        let path = Path::new("/var/lib/scimdrift/scimdrift.db");
        let shown = |code| open_error(path, "cannot open", failure(code)).to_string();
        assert!(matches!(
            open_error(path, "x", failure(ffi::SQLITE_NOTADB)),
            StoreError::NotSqlite { .. }
        ));
        assert!(matches!(
            open_error(path, "x", failure(ffi::SQLITE_CORRUPT)),
            StoreError::Corrupt { .. }
        ));
        for (code, cause) in [
            (ffi::SQLITE_FULL, "the disk is full"),
            (ffi::SQLITE_READONLY, "read-only"),
            (ffi::SQLITE_PERM, "permission denied"),
            (ffi::SQLITE_BUSY, "locked by another process"),
            (ffi::SQLITE_LOCKED, "locked by another process"),
        ] {
            let text = shown(code);
            assert!(
                text.contains(cause) && !text.contains("not a SQLite database"),
                "{text}"
            );
            assert!(text.starts_with("/var/lib/scimdrift/scimdrift.db: cannot open"));
        }
        // Corruption met after opening (a read, a write) is named too.
        let e = StoreError::Sqlite {
            path: path.into(),
            context: "cannot read findings",
            source: failure(ffi::SQLITE_CORRUPT),
        };
        assert!(e.to_string().contains("corrupted"), "{e}");
    }

    #[test]
    fn cannot_open_asks_the_file_system_why() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("no-such-dir").join("x.db");
        let text = open_error(&missing, "cannot open", failure(ffi::SQLITE_CANTOPEN)).to_string();
        assert!(text.contains("No such file or directory"), "{text}");
    }
}
