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
        std::fs::create_dir_all(dir).map_err(|source| LockError::Io {
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
