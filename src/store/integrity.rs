//! When the integrity check (`PRAGMA quick_check`) runs, and the WAL checkpoint a pull leaves
//! behind (issue 24, item 5): both off the cycle's critical path.
//!
//! A process checks a store the first time it opens it (its start-up, so after an unclean shutdown
//! too), again when the file changed other than by this process's own pulls, and daily. A pull's
//! commit does not checkpoint: its writer thread checkpoints after the cycle's result is told
//! ([`after_pull`]), and marks the file it leaves as its own write, so the next cycle's open does
//! not read the whole file again.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

/// How long a check counts for an unchanged file.
pub const RECHECK_AFTER: Duration = Duration::from_secs(24 * 3600);

/// A store file's identity and state: canonical path, device and inode, length, modification and
/// change times (ctime cannot be set back by a copy or a restore), and the same of its `-wal`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Stamp {
    path: PathBuf,
    main: Option<Facts>,
    wal: Option<Facts>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Facts {
    dev: u64,
    ino: u64,
    len: u64,
    modified: Option<SystemTime>,
    changed_ns: i128,
}

impl Facts {
    fn of(path: &Path) -> Option<Facts> {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(path).ok()?;
        Some(Facts {
            dev: m.dev(),
            ino: m.ino(),
            len: m.len(),
            modified: m.modified().ok(),
            changed_ns: i128::from(m.ctime()) * 1_000_000_000 + i128::from(m.ctime_nsec()),
        })
    }
}

impl Stamp {
    /// The file's stamp now; `None` when its metadata cannot be read (then it is always checked).
    pub(super) fn of(path: &Path) -> Option<Stamp> {
        let main = Some(Facts::of(path)?);
        let mut wal = path.as_os_str().to_owned();
        wal.push("-wal");
        Some(Stamp {
            path: canonical(path),
            main,
            // An empty -wal (a connection opened, nothing written) is no -wal.
            wal: Facts::of(Path::new(&wal)).filter(|f| f.len > 0),
        })
    }
}

fn canonical(path: &Path) -> PathBuf {
    path.canonicalize().unwrap_or_else(|_| path.to_path_buf())
}

/// Whole checks run by this process (each also logged).
static CHECKS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// How many times this process checked a store whole (`PRAGMA quick_check`).
pub fn checks_run() -> u64 {
    CHECKS.load(std::sync::atomic::Ordering::Relaxed)
}

/// One whole check ran on `path`, taking `seconds`: its log line and its count.
pub(super) fn checked(path: &Path, seconds: f64) {
    CHECKS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    tracing::info!(path = %path.display(), seconds, "store integrity checked (quick_check)");
}

/// Per store file: the stamp last known good and when it was last checked whole.
static CHECKED: Mutex<Vec<(Stamp, SystemTime)>> = Mutex::new(Vec::new());

/// Whether `file`, as it is, was checked (or written by this process's own pull after a check)
/// less than [`RECHECK_AFTER`] ago.
pub(super) fn checked_recently(file: &Stamp) -> bool {
    CHECKED.lock().is_ok_and(|c| {
        c.iter()
            .any(|(s, at)| s == file && at.elapsed().is_ok_and(|age| age < RECHECK_AFTER))
    })
}

/// `file` was checked whole just now (or created by this process).
pub(super) fn record(file: Stamp) {
    if let Ok(mut checked) = CHECKED.lock() {
        checked.retain(|(s, _)| s.path != file.path);
        checked.push((file, SystemTime::now()));
    }
}

/// Nothing is known good of the file at `path` any more (an error met while writing it, or a
/// change by someone else): its next open checks it whole.
pub(super) fn forget(path: &Path) {
    let path = canonical(path);
    if let Ok(mut checked) = CHECKED.lock() {
        checked.retain(|(s, _)| s.path != path);
    }
}

/// The file at `path` as this process's own pull left it: trusted (its new stamp inherits the last
/// check's time) when `reference` — the stamp when the pull took the write lock, known good then —
/// is still the entry, and the main file just before the checkpoint (`before`) is as it was then:
/// a pull writes only the `-wal` until its checkpoint, so any other change is someone else's.
fn own_write(path: &Path, reference: Option<&Stamp>, before: Option<&Stamp>) {
    let Some(now) = Stamp::of(path) else { return };
    if let Ok(mut checked) = CHECKED.lock() {
        let trusted = |entry: &Stamp| {
            reference.is_some_and(|r| r == entry)
                && reference.zip(before).is_some_and(|(r, b)| r.main == b.main)
        };
        match checked.iter_mut().find(|(s, _)| s.path == now.path) {
            Some(entry) if trusted(&entry.0) => entry.0 = now,
            _ => checked.retain(|(s, _)| s.path != now.path),
        }
    }
}

/// The stamp of `path` if it is known good (checked, or trusted, recently): taken by a pull once it
/// holds the write lock, for [`after_pull`].
pub(super) fn known_good(path: &Path) -> Option<Stamp> {
    Stamp::of(path).filter(checked_recently)
}

/// Set when a pull's background work is over (its thread finished, however it ended).
type Done = std::sync::Arc<(Mutex<bool>, std::sync::Condvar)>;

/// Background work pulls left on each store file (their checkpoints), by canonical path.
static PENDING: Mutex<Vec<(PathBuf, Done)>> = Mutex::new(Vec::new());

/// Marks its work done when dropped: at the end of the thread, even one that panicked.
struct Finish(Done);

impl Drop for Finish {
    fn drop(&mut self) {
        let (flag, ended) = &*self.0;
        if let Ok(mut done) = flag.lock() {
            *done = true;
        }
        ended.notify_all();
    }
}

/// Runs `checkpoint` (the pull's writer connection: the WAL into the main file, then closed; true
/// when it succeeded) on its own thread, after the pull's result was told; [`settle`] waits for it.
/// The file it leaves counts as checked only when the pull (`written`) and the checkpoint
/// succeeded, and the file was known good when the pull took the write lock (`reference`, from
/// [`known_good`]) and nobody else changed it since ([`own_write`]).
pub(super) fn after_pull(
    path: &Path,
    reference: Option<Stamp>,
    written: bool,
    checkpoint: impl FnOnce() -> bool + Send + 'static,
) {
    settle(path);
    let done = Done::default();
    if let Ok(mut pending) = PENDING.lock() {
        pending.push((canonical(path), done.clone()));
    }
    let finish = Finish(done);
    let owned = path.to_path_buf();
    let spawned = std::thread::Builder::new()
        .name("scimdrift-checkpoint".into())
        .spawn(move || {
            let _finish = finish;
            let before = Stamp::of(&owned);
            if checkpoint() && written {
                own_write(&owned, reference.as_ref(), before.as_ref());
            } else {
                forget(&owned);
            }
        });
    if let Err(e) = spawned {
        // The closure (its connection, its `Finish`) was dropped with the error: nothing pends.
        forget(path);
        tracing::warn!(error = %e, "cannot start the checkpoint thread");
        // The pull's commit did not wait for the disk: made durable here, then.
        let _ = std::fs::File::open(super::side_file(path, "-wal")).and_then(|f| f.sync_data());
    }
}

/// Waits until the background work of the entries `of` selects is over, then forgets them.
fn wait_for(of: impl Fn(&Path) -> bool) {
    let waits: Vec<Done> = match PENDING.lock() {
        Ok(pending) => pending
            .iter()
            .filter(|(p, _)| of(p))
            .map(|(_, d)| d.clone())
            .collect(),
        Err(_) => return,
    };
    for done in waits {
        let (flag, ended) = &*done;
        if let Ok(guard) = flag.lock() {
            drop(ended.wait_while(guard, |done| !*done));
        }
    }
    if let Ok(mut pending) = PENDING.lock() {
        pending.retain(|(_, d)| d.0.lock().is_ok_and(|done| !*done));
    }
}

/// Waits for the background work a pull left on `path` (its checkpoint): every open of the store
/// waits for it, so a checkpoint and the next writer never overlap. Returns at once when there is
/// none. Any number of callers may wait at once.
pub fn settle(path: &Path) {
    let path = canonical(path);
    wait_for(|p| p == path);
}

/// Waits for the background work pulls left on every store file (before the process exits).
pub fn settle_all() {
    wait_for(|_| true);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_check_counts_until_someone_else_changes_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        std::fs::write(&path, b"one").unwrap();
        let stamp = Stamp::of(&path).unwrap();
        assert!(!checked_recently(&stamp), "never checked");
        record(stamp.clone());
        assert!(checked_recently(&stamp));
        // Another writer: a different length (or time) is checked again.
        std::fs::write(&path, b"other writer").unwrap();
        assert!(!checked_recently(&Stamp::of(&path).unwrap()));
        // Someone else's change to the main file during the pull: not trusted.
        record(Stamp::of(&path).unwrap());
        let reference = known_good(&path);
        assert!(reference.is_some());
        std::fs::write(&path, b"someone else").unwrap();
        let before = Stamp::of(&path);
        std::fs::write(&path, b"our checkpoint").unwrap();
        own_write(&path, reference.as_ref(), before.as_ref());
        assert!(!checked_recently(&Stamp::of(&path).unwrap()));
        assert!(known_good(&path).is_none());
        // This process's own pull on a file known good: its -wal written during the pull, then
        // its checkpoint; the result counts as checked.
        let mut wal = path.as_os_str().to_owned();
        wal.push("-wal");
        record(Stamp::of(&path).unwrap());
        let reference = known_good(&path);
        std::fs::write(&wal, b"our frames").unwrap();
        let before = Stamp::of(&path);
        std::fs::write(&path, b"our checkpoint, again").unwrap();
        let _ = std::fs::remove_file(&wal);
        own_write(&path, reference.as_ref(), before.as_ref());
        assert!(checked_recently(&Stamp::of(&path).unwrap()));
        // A change to the -wal by someone else is a change too.
        std::fs::write(&wal, b"frames").unwrap();
        assert!(!checked_recently(&Stamp::of(&path).unwrap()));
        // An error met while writing forgets the file.
        record(Stamp::of(&path).unwrap());
        forget(&path);
        assert!(!checked_recently(&Stamp::of(&path).unwrap()));
        // A file never checked here stays unchecked after a write of ours.
        let other = dir.path().join("t.db");
        std::fs::write(&other, b"x").unwrap();
        let other_stamp = Stamp::of(&other);
        own_write(&other, other_stamp.as_ref(), other_stamp.as_ref());
        assert!(!checked_recently(&Stamp::of(&other).unwrap()));
    }

    #[test]
    fn settle_waits_for_the_checkpoint_a_pull_left() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.db"), dir.path().join("b.db"));
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = done.clone();
        std::fs::write(&a, b"a").unwrap();
        after_pull(&a, None, true, move || {
            std::thread::sleep(Duration::from_millis(50));
            flag.store(true, std::sync::atomic::Ordering::SeqCst);
            true
        });
        settle(&b);
        // Two waiters at once: both return only once it is over.
        let (other, seen) = (a.clone(), done.clone());
        let waiter = std::thread::spawn(move || {
            settle(&other);
            seen.load(std::sync::atomic::Ordering::SeqCst)
        });
        settle(&a);
        assert!(done.load(std::sync::atomic::Ordering::SeqCst));
        assert!(waiter.join().unwrap(), "the second waiter returned early");
        // A checkpoint that panics still ends its wait.
        after_pull(&a, None, true, || panic!("checkpoint failed"));
        settle(&a);
    }
}
