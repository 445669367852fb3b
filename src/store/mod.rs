//! The SQLite store: snapshots as change history (a row per version of a record), WAL mode,
//! migrations by `user_version`. A file that is not ours, or is newer, is refused and left untouched.

mod bulk;
mod findings;
mod idp;
mod idp_read;
mod idp_targets;
mod integrity;
mod person;
mod raw;
mod read;
mod remediation;
mod reports;
mod schema;
mod write;

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};
use serde::{Deserialize, Serialize};

pub use findings::{Lifecycle, Opening, Reconciled};
pub use idp::{Evaluated, EvaluatedIdp};
pub use idp_read::IdpSideState;
pub use idp_targets::{StoredIdpSide, StoredIdpUser};
pub use integrity::{RECHECK_AFTER, checks_run, settle, settle_all};
pub use person::{AccountVersion, IdpUserVersion, PersonKeys, RecordVersion};
pub use raw::RawTable;
pub use read::{ShrinkInfo, SnapshotInfo, SourceInfo, State};
pub use remediation::{AuditRow, DryRunStep, NewAudit};
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
    #[error(
        "{path}: the file is empty (0 bytes), so it holds no history; it was left untouched. If a \
         new store is meant, remove the file and run scimdrift again to start one; if it held \
         history, restore it from a backup"
    )]
    Empty { path: PathBuf },
    #[error("{path}: {context}: {cause}")]
    Unusable {
        path: PathBuf,
        context: &'static str,
        /// The real cause: disk full, read-only, locked, permission denied, too many open files…
        cause: String,
    },
    #[error("store writer: {0}")]
    Writer(String),
    #[error("{path}: {context}: {}", explain(path, source))]
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
    /// For a store read without any locking ([`Store::open_read_only`] when no other connection
    /// has it open): the main file as it was then, to notice a writer changing it meanwhile.
    unlocked: Option<FileStamp>,
}

/// The size and modification time of a file.
type FileStamp = (u64, Option<std::time::SystemTime>);

fn stamp(path: &Path) -> Option<FileStamp> {
    std::fs::metadata(path)
        .ok()
        .map(|m| (m.len(), m.modified().ok()))
}

/// Less space than this left on the file system of the store, for an unprivileged writer, after
/// an I/O error: the disk is full (SQLite reports some writes on a full disk as I/O errors).
const FULL_BELOW: u64 = 1 << 20;

/// Whether the file system holding `path` has less than [`FULL_BELOW`] bytes available.
#[cfg(unix)]
fn disk_full(path: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let Ok(dir) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: `dir` is a NUL-terminated path; `stat` is a plain struct statvfs fills in.
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(dir.as_ptr(), &mut stat) } != 0 {
        return false;
    }
    (stat.f_bavail as u64).saturating_mul(stat.f_frsize as u64) < FULL_BELOW
}

#[cfg(not(unix))]
fn disk_full(_: &Path) -> bool {
    false
}

/// What the disk being full is called, wherever SQLite says it.
const DISK_FULL: &str =
    "the disk holding the store is full (free space on it, or move the store to a larger disk)";

/// What an SQLite error met on the store at `path` means for the operator: the code's cause in
/// words, then SQLite's text.
fn explain(path: &Path, e: &rusqlite::Error) -> String {
    use rusqlite::ErrorCode as C;
    let Some(code) = e.sqlite_error_code() else {
        return e.to_string();
    };
    let cause = match code {
        C::DiskFull => DISK_FULL,
        C::SystemIoFailure if disk_full(path) => DISK_FULL,
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
        Some(C::DatabaseCorrupt) => {
            integrity::forget(path);
            StoreError::Corrupt {
                path: path_buf,
                detail: e.to_string(),
            }
        }
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
                    None => explain(path, &e),
                },
            }
        }
        Some(_) => StoreError::Unusable {
            path: path_buf,
            context,
            cause: explain(path, &e),
        },
        None => StoreError::Sqlite {
            path: path_buf,
            context,
            source: e,
        },
    }
}

/// Whether a store file exists at `path`: an empty one is refused ([`StoreError::Empty`]).
fn exists(path: &Path) -> Result<bool, StoreError> {
    match path.metadata() {
        Ok(m) if m.len() > 0 => Ok(true),
        Ok(_) => Err(StoreError::Empty {
            path: path.to_path_buf(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(StoreError::Unusable {
            path: path.to_path_buf(),
            context: "cannot read the file's metadata",
            cause: e.to_string(),
        }),
    }
}

impl Store {
    /// Opens (creating if absent) and migrates the database at `path`. A file that is empty,
    /// foreign, newer or corrupted is refused and left untouched.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let sqlite = |context| move |source| open_error(path, context, source);
        integrity::settle(path);
        let created = !exists(path)? && create_new(path)?;
        if !created {
            check_existing(path)?;
        }
        let mut conn = Connection::open(path).map_err(sqlite("cannot open"))?;
        // A pull writes in one transaction (seconds for a large org): writers wait it out.
        conn.busy_timeout(std::time::Duration::from_secs(60))
            .map_err(sqlite("cannot set busy timeout"))?;
        enable_wal(&conn).map_err(sqlite("cannot enable WAL"))?;
        // FULL: a commit (an intent before its call) survives a power loss, not only a crash.
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(sqlite("cannot set synchronous"))?;
        conn.pragma_update(None, "cache_size", -(CACHE_KIB as i64))
            .map_err(sqlite("cannot set cache size"))?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(sqlite("cannot enable foreign keys"))?;
        let version: i32 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(sqlite("cannot read schema version"))?;
        schema::migrate(&mut conn, version).map_err(sqlite("migration failed"))?;
        if created && let Some(file) = integrity::Stamp::of(path) {
            // Intact by construction: this process's first open need not read it whole.
            integrity::record(file);
        }
        Ok(Store {
            conn,
            path: path.to_path_buf(),
            unlocked: None,
        })
    }

    /// Opens the store at `path` for reading only (the read-only commands and pages): nothing is
    /// written, created or migrated, so it works on a full disk, on a read-only file or
    /// directory, and beside a writer. With no other connection open (no `-shm` file, no WAL
    /// content) the file is read without locks or `-wal`/`-shm` files (SQLite's `immutable`),
    /// and [`Store::read`] checks no writer changed it meanwhile. Refused like [`Store::open`]:
    /// an empty, foreign, newer or corrupted file. A store that does not exist yet, or whose
    /// schema is older, is opened by [`Store::open`] (created, migrated) instead.
    pub fn open_read_only(path: &Path) -> Result<Store, StoreError> {
        integrity::settle(path);
        if !exists(path)? {
            return Store::open(path);
        }
        let (shm, wal) = (side_file(path, "-shm"), side_file(path, "-wal"));
        let unlocked = !shm.exists() && std::fs::metadata(&wal).map_or(true, |m| m.len() == 0);
        let before = stamp(path);
        let conn = open_reader(path, unlocked)?;
        if check(&conn, path)? < SCHEMA_VERSION {
            drop(conn);
            return Store::open(path);
        }
        Ok(Store {
            conn,
            path: path.to_path_buf(),
            unlocked: if unlocked { before } else { None },
        })
    }

    /// Runs `read` on the store opened by [`Store::open_read_only`]. A store read without locks
    /// that a writer changed meanwhile (a checkpoint) is read again, at most twice more.
    pub fn read<T, E: From<StoreError>>(
        path: &Path,
        read: impl Fn(&Store) -> Result<T, E>,
    ) -> Result<T, E> {
        let mut tries = 0;
        loop {
            let store = Store::open_read_only(path)?;
            let result = read(&store);
            tries += 1;
            let changed = store.unlocked.is_some() && store.unlocked != stamp(path);
            if !changed || tries == 3 {
                return result;
            }
        }
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self, context: &'static str) -> impl FnOnce(rusqlite::Error) -> StoreError + '_ {
        move |source| match source.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DatabaseCorrupt) => {
                integrity::forget(&self.path);
                StoreError::Corrupt {
                    path: self.path.clone(),
                    detail: source.to_string(),
                }
            }
            _ => StoreError::Sqlite {
                path: self.path.clone(),
                context,
                source,
            },
        }
    }
}

/// The page cache of a connection, KiB (a pull's writer grows its own: `write::grow_cache`).
pub(super) const CACHE_KIB: usize = 32 * 1024;

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

/// SQLite's file beside `path`: `path` followed by `suffix` (`-wal`, `-shm`, `-journal`).
pub(super) fn side_file(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Creates a new store at `path`, whole or not at all: the schema is written to a temporary file
/// beside it, which is then linked in place (never replacing a file another process created
/// meanwhile). So an empty file at `path` is never a store being born, and can be refused. True
/// when this process linked it in place (false: another process created it first).
fn create_new(path: &Path) -> Result<bool, StoreError> {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let failed = |cause: String| StoreError::Unusable {
        path: path.to_path_buf(),
        context: "cannot create the database file",
        cause,
    };
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    let temp = path.with_file_name(format!(
        ".{}.new-{}-{}",
        name.unwrap_or_default(),
        std::process::id(),
        COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    let written = create_private(&temp).and_then(|()| {
        let mut conn = Connection::open(&temp).map_err(|e| open_error(path, "cannot create", e))?;
        schema::migrate(&mut conn, 0).map_err(|e| open_error(path, "cannot create", e))
    });
    let linked = written.and_then(|()| match std::fs::hard_link(&temp, path) {
        Ok(()) => Ok(true),
        // Created meanwhile by another process: that one is the store.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        // A file system without hard links: moved in place, unless one appeared meanwhile.
        Err(_) if !path.exists() => std::fs::rename(&temp, path)
            .map(|()| true)
            .map_err(|e| failed(e.to_string())),
        Err(e) => Err(failed(e.to_string())),
    });
    for leftover in [side_file(&temp, ""), side_file(&temp, "-journal")] {
        let _ = std::fs::remove_file(leftover);
    }
    linked
}

/// Creates the database file readable by its owner only (mode 0600: it holds emails); SQLite gives
/// its WAL and shared-memory files the same mode.
fn create_private(path: &Path) -> Result<(), StoreError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
        .open(path)
        .map(drop)
        .map_err(|e| StoreError::Unusable {
            path: path.to_path_buf(),
            context: "cannot create the database file",
            cause: e.to_string(),
        })
}

/// A read-only connection to `path`; `unlocked`: without locks or `-wal`/`-shm` files (SQLite's
/// `immutable`), for a file no other connection has open.
fn open_reader(path: &Path, unlocked: bool) -> Result<Connection, StoreError> {
    let fail = |context| move |e| open_error(path, context, e);
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = if unlocked {
        let absolute = std::path::absolute(path).map_err(|e| StoreError::Unusable {
            path: path.to_path_buf(),
            context: "cannot open",
            cause: e.to_string(),
        })?;
        let mut uri = url::Url::from_file_path(&absolute).map_err(|()| StoreError::Unusable {
            path: path.to_path_buf(),
            context: "cannot open",
            cause: "the path cannot be written as a file: URI".into(),
        })?;
        uri.set_query(Some("immutable=1"));
        Connection::open_with_flags(uri.as_str(), flags | OpenFlags::SQLITE_OPEN_URI)
    } else {
        Connection::open_with_flags(path, flags)
    }
    .map_err(fail("cannot open"))?;
    conn.busy_timeout(std::time::Duration::from_secs(60))
        .map_err(fail("cannot set busy timeout"))?;
    Ok(conn)
}

/// Checks read-only that an existing file is a scimdrift database this build can use, and that it
/// is intact (`PRAGMA quick_check`): a corrupted page is refused before anything writes to it.
fn check_existing(path: &Path) -> Result<(), StoreError> {
    check(&open_reader(path, false)?, path).map(drop)
}

/// [`check_existing`] on an open connection; the schema version.
fn check(conn: &Connection, path: &Path) -> Result<i32, StoreError> {
    let fail = |context| move |e| open_error(path, context, e);
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
    // O(size): about 0.13 s for a 100,000-user store, 0.37 s at 300,000 (warm page cache). Off
    // the cycle's critical path: once per process (start-up, so after an unclean shutdown too),
    // again when the file changed other than by this process's own pulls, and daily. Corruption
    // met later (a page read or written) is named as such too (`explain`).
    let file = integrity::Stamp::of(path);
    if let Some(file) = &file
        && integrity::checked_recently(file)
    {
        return Ok(version);
    }
    let clock = std::time::Instant::now();
    let problems: Vec<String> = {
        let mut stmt = conn
            .prepare("PRAGMA quick_check(5)")
            .map_err(fail("cannot check integrity"))?;
        stmt.query_map([], |r| r.get::<_, String>(0))
            .and_then(|rows| rows.collect())
            .map_err(fail("cannot check integrity"))?
    };
    integrity::checked(path, clock.elapsed().as_secs_f64());
    if problems.iter().any(|p| p != "ok") {
        return Err(StoreError::Corrupt {
            path: path.to_path_buf(),
            detail: problems.join("; ").chars().take(300).collect(),
        });
    }
    if let Some(file) = file {
        integrity::record(file);
    }
    Ok(version)
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
            (ffi::SQLITE_FULL, "the disk holding the store is full"),
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
    fn a_full_database_is_named_a_full_disk() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let store = Store::open(&path).unwrap();
        // SQLite's size limit: a write past it fails with SQLITE_FULL, as on a full disk.
        let pages: i64 = store
            .conn
            .query_row("PRAGMA page_count", [], |r| r.get(0))
            .unwrap();
        store
            .conn
            .pragma_update(None, "max_page_count", pages)
            .unwrap();
        let date = chrono::NaiveDate::from_ymd_opt(2024, 5, 1).unwrap();
        let err = store
            .put_report_json(date, "2024-05-01T06:00:00Z", None, &"x".repeat(1 << 20))
            .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("the disk holding the store is full")
                && text.contains(&path.display().to_string())
                && !text.contains("disk failure"),
            "{text}"
        );
        // An I/O error on a disk with room left stays an I/O error.
        assert!(!disk_full(&path));
        let io = StoreError::Sqlite {
            path: path.clone(),
            context: "cannot commit",
            source: failure(ffi::SQLITE_IOERR),
        };
        assert!(io.to_string().contains("an I/O error"), "{io}");
    }

    #[test]
    fn an_empty_file_is_refused_and_left_empty() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        std::fs::write(&path, "").unwrap();
        for open in [Store::open, Store::open_read_only] {
            let err = open(&path).err().unwrap();
            assert!(matches!(err, StoreError::Empty { .. }), "{err}");
            assert!(err.to_string().contains("remove the file"), "{err}");
        }
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);
        // A new store is whole from the start: no empty file, no temporary file left.
        let fresh = dir.path().join("fresh.db");
        drop(Store::open(&fresh).unwrap());
        assert!(std::fs::metadata(&fresh).unwrap().len() > 0);
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(names.iter().all(|n| !n.contains(".new-")), "{names:?}");
    }

    #[test]
    fn cannot_open_asks_the_file_system_why() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("no-such-dir").join("x.db");
        let text = open_error(&missing, "cannot open", failure(ffi::SQLITE_CANTOPEN)).to_string();
        assert!(text.contains("No such file or directory"), "{text}");
    }
}
