//! One remediating process at a time per store: the daemon's cycle and `remediate apply` (or a
//! second daemon) never reconcile or send concurrently. An advisory lock on `<store>.remediation.lock`,
//! released when the process ends, however it ends.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;

/// Held while reconciling, planning and applying.
pub struct RemediationLock {
    _file: File,
}

/// The lock file beside the store, by its real path (a symlink or `..` reaches the same lock).
pub fn path_for(store: &Path) -> PathBuf {
    let real = std::fs::canonicalize(store).ok().or_else(|| {
        let dir = std::fs::canonicalize(store.parent()?).ok()?;
        Some(dir.join(store.file_name()?))
    });
    let store = real.as_deref().unwrap_or(store);
    let mut name = store.as_os_str().to_owned();
    name.push(".remediation.lock");
    PathBuf::from(name)
}

impl RemediationLock {
    /// Waits up to `wait` for the lock.
    pub async fn acquire(store: &Path, wait: Duration) -> anyhow::Result<Self> {
        let path = path_for(store);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("cannot open the remediation lock {}", path.display()))?;
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(RemediationLock { _file: file }),
                Err(TryLockError::WouldBlock) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(TryLockError::WouldBlock) => anyhow::bail!(
                    "another scimdrift process is remediating with this store (lock {}): try again when it is done",
                    path.display()
                ),
                Err(TryLockError::Error(e)) => {
                    return Err(e).with_context(|| {
                        format!("cannot take the remediation lock {}", path.display())
                    });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_second_holder_waits_then_gives_up_and_gets_it_once_released() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("s.db");
        let first = RemediationLock::acquire(&store, Duration::ZERO)
            .await
            .unwrap();
        let e = RemediationLock::acquire(&store, Duration::from_millis(250))
            .await
            .err()
            .unwrap();
        assert!(e.to_string().contains("another scimdrift process"), "{e}");
        drop(first);
        RemediationLock::acquire(&store, Duration::ZERO)
            .await
            .unwrap();
    }

    #[test]
    fn a_store_reached_through_a_symlink_shares_its_lock() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("s.db");
        std::fs::write(&store, b"").unwrap();
        let link = dir.path().join("link.db");
        std::os::unix::fs::symlink(&store, &link).unwrap();
        assert_eq!(path_for(&link), path_for(&store));
        let dotted = dir.path().join("sub/../s.db");
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        assert_eq!(path_for(&dotted), path_for(&store));
        // Not created yet: beside it, in its real directory.
        let fresh = dir.path().join("sub/../new.db");
        assert_eq!(path_for(&fresh), path_for(&dir.path().join("new.db")));
    }
}
