//! OS file locks (`flock`) for roles, the apply.request document and the one
//! service instance. A lock is released when its guard drops or the process dies,
//! so a crashed holder never blocks the next one.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};

use rustix::fs::{FlockOperation, flock};

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("lock {path} is held by another process{holder}")]
    Held { path: PathBuf, holder: String },
    #[error("lock {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
}

/// A held lock; released on drop.
#[derive(Debug)]
pub struct FileLock {
    file: File,
    path: PathBuf,
}

fn open(path: &Path) -> Result<File, LockError> {
    if let Some(dir) = path.parent() {
        // Lock folders live in CONFIG_ROOT/.state, which is owner-only: one
        // made here (a command before the first service start) is too.
        crate::fsperm::create_dir_all_mode(dir, 0o700).map_err(|source| LockError::Io {
            path: path.into(),
            source,
        })?;
    }
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|source| LockError::Io {
            path: path.into(),
            source,
        })
}

impl FileLock {
    /// Takes the lock now or fails with [`LockError::Held`].
    pub fn try_acquire(path: &Path) -> Result<FileLock, LockError> {
        let mut file = open(path)?;
        match flock(&file, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => Ok(FileLock {
                file,
                path: path.into(),
            }),
            Err(e) if e == rustix::io::Errno::WOULDBLOCK => {
                let mut s = String::new();
                let _ = file.read_to_string(&mut s);
                let holder = match s.trim() {
                    "" => String::new(),
                    pid => format!(" (pid {pid})"),
                };
                Err(LockError::Held {
                    path: path.into(),
                    holder,
                })
            }
            Err(e) => Err(LockError::Io {
                path: path.into(),
                source: e.into(),
            }),
        }
    }

    /// Waits up to `timeout` for the lock (blocking; call from a blocking
    /// context). `flock` has no deadline of its own, so a held lock is tried
    /// again after a short pause (5 ms, growing to 50 ms) until the deadline,
    /// and then fails with [`LockError::Held`] naming the holder: a stopped
    /// process that holds it cannot hang the caller.
    pub fn acquire_within(
        path: &Path,
        timeout: std::time::Duration,
    ) -> Result<FileLock, LockError> {
        let deadline = std::time::Instant::now() + timeout;
        let mut pause = std::time::Duration::from_millis(5);
        loop {
            match Self::try_acquire(path) {
                Err(LockError::Held { .. }) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(pause.min(deadline - std::time::Instant::now()));
                    pause = (pause * 2).min(std::time::Duration::from_millis(50));
                }
                other => return other,
            }
        }
    }

    /// Waits for the lock (blocking; call from a blocking context).
    pub fn acquire(path: &Path) -> Result<FileLock, LockError> {
        let file = open(path)?;
        flock(&file, FlockOperation::LockExclusive).map_err(|e| LockError::Io {
            path: path.into(),
            source: e.into(),
        })?;
        Ok(FileLock {
            file,
            path: path.into(),
        })
    }

    /// Records the holder's pid in the lock file (for "held by pid N" messages).
    pub fn write_pid(&mut self) -> io::Result<()> {
        self.file.set_len(0)?;
        self.file.rewind()?;
        write!(self.file, "{}", std::process::id())?;
        self.file.sync_all()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acquire_within_gives_up_at_its_deadline_and_takes_a_freed_lock() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("locks").join("apply-request.lock");
        let held = FileLock::try_acquire(&p).unwrap();
        let r = FileLock::acquire_within(&p, std::time::Duration::from_millis(100));
        assert!(matches!(r, Err(LockError::Held { .. })), "{r:?}");
        // Freed while a waiter waits: the waiter gets it.
        let waiter = std::thread::spawn({
            let p = p.clone();
            move || FileLock::acquire_within(&p, std::time::Duration::from_secs(60)).is_ok()
        });
        drop(held);
        assert!(waiter.join().unwrap());
    }

    #[test]
    fn lock_folders_are_made_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("state").join("locks").join("x.lock");
        let _l = FileLock::try_acquire(&p).unwrap();
        for dir in [d.path().join("state"), d.path().join("state/locks")] {
            let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o700, "{}", dir.display());
        }
    }

    #[test]
    fn second_holder_is_refused_with_pid() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("locks").join("client.lock");
        let mut a = FileLock::try_acquire(&p).unwrap();
        a.write_pid().unwrap();
        match FileLock::try_acquire(&p) {
            Err(LockError::Held { holder, .. }) => {
                assert!(holder.contains(&std::process::id().to_string()))
            }
            other => panic!("expected Held, got {other:?}"),
        }
        drop(a);
        FileLock::try_acquire(&p).unwrap();
    }
}
