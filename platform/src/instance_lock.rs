//! The one-service-per-root lock: a POSIX record lock (`fcntl F_SETLK`) on
//! `.state/locks/service.lock`, holding the service's pid.
//!
//! Why not `flock` like the role locks: an `flock` belongs to the open file
//! description, which every child shares from `fork` until its `exec` closes
//! the descriptor. A service killed while a child was between the two left
//! the lock held for that moment, and the next service (started at once by
//! systemd or a test) refused to start. A record lock belongs to the process:
//! a child never holds it, and the kernel drops it when the holder exits. (Its
//! known trap — closing *any* descriptor of the file drops the lock — does not
//! apply: nothing in the service opens this file besides the lock itself.)

use std::fs::{File, OpenOptions};
use std::io::{self, Seek, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum InstanceLockError {
    #[error("{path} is locked by another process")]
    Held { path: PathBuf },
    #[error("lock {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
}

/// The held instance lock; released on drop or when the process exits.
#[derive(Debug)]
pub struct InstanceLock {
    file: File,
    path: PathBuf,
}

fn open(path: &Path) -> Result<File, InstanceLockError> {
    let io = |source| InstanceLockError::Io {
        path: path.into(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(io)
}

/// `fcntl(F_SETLK or F_SETLKW)` of a write lock over the whole file.
fn record_lock(file: &File, wait: bool) -> io::Result<()> {
    // SAFETY: an all-zero `flock` is a valid value of the plain C struct.
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = libc::F_WRLCK as libc::c_short;
    fl.l_whence = libc::SEEK_SET as libc::c_short;
    let cmd = if wait { libc::F_SETLKW } else { libc::F_SETLK };
    loop {
        // SAFETY: the descriptor is open for the call and `fl` outlives it.
        if unsafe { libc::fcntl(file.as_raw_fd(), cmd, &fl) } == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

fn is_contended(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EAGAIN) | Some(libc::EACCES))
}

impl InstanceLock {
    /// Takes the lock now or fails with [`InstanceLockError::Held`].
    pub fn try_acquire(path: &Path) -> Result<InstanceLock, InstanceLockError> {
        let file = open(path)?;
        match record_lock(&file, false) {
            Ok(()) => Ok(InstanceLock {
                file,
                path: path.into(),
            }),
            Err(e) if is_contended(&e) => Err(InstanceLockError::Held { path: path.into() }),
            Err(source) => Err(InstanceLockError::Io {
                path: path.into(),
                source,
            }),
        }
    }

    /// Records the holder's pid in the lock file (for "held by pid N").
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

/// The pid the holder recorded (None when empty or unreadable). Never call
/// it in the process that holds the lock: closing the descriptor it opens
/// would drop that process's record lock.
pub fn recorded_pid(path: &Path) -> Option<u32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// The pid of the process holding the lock now, as the kernel reports it
/// (`F_GETLK`); None when it is free or cannot be read.
pub fn holder_pid(path: &Path) -> Option<u32> {
    let file = File::open(path).ok()?;
    // SAFETY: as in `record_lock`.
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = libc::F_WRLCK as libc::c_short;
    fl.l_whence = libc::SEEK_SET as libc::c_short;
    // SAFETY: the descriptor is open for the call and `fl` outlives it.
    let r = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_GETLK, &mut fl) };
    if r != 0 || fl.l_type == libc::F_UNLCK as libc::c_short {
        return None;
    }
    u32::try_from(fl.l_pid).ok().filter(|p| *p > 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    /// Whether another process could take the lock now (record locks never
    /// conflict within one process, so ask a child: Python's lockf is fcntl).
    fn free_for_another_process(path: &Path) -> bool {
        let out = Command::new("python3")
            .args([
                "-c",
                "import fcntl,sys\nf=open(sys.argv[1],'r+')\ntry:\n fcntl.lockf(f,fcntl.LOCK_EX|fcntl.LOCK_NB)\nexcept OSError:\n sys.exit(3)",
            ])
            .arg(path)
            .status()
            .unwrap();
        match out.code() {
            Some(0) => true,
            Some(3) => false,
            other => panic!("python3 lock probe: {other:?}"),
        }
    }

    #[test]
    fn held_lock_is_seen_by_others_with_its_pid_and_freed_on_drop() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("locks").join("service.lock");
        let mut a = InstanceLock::try_acquire(&p).unwrap();
        a.write_pid().unwrap();
        assert!(!free_for_another_process(&p));
        assert_eq!(holder_pid(&p), None, "our own lock never conflicts with us");
        drop(a);
        assert!(free_for_another_process(&p));
        assert_eq!(recorded_pid(&p), Some(std::process::id()));
    }

    /// The bug this type exists for: a child that shares the lock's open file
    /// description (forked, not yet exec'd) must not keep the lock.
    #[test]
    fn a_forked_child_does_not_keep_the_lock() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("service.lock");
        let lock = InstanceLock::try_acquire(&p).unwrap();
        // SAFETY: the child only calls async-signal-safe functions (pause, _exit).
        let child = unsafe { libc::fork() };
        assert!(child >= 0);
        if child == 0 {
            unsafe {
                libc::pause();
                libc::_exit(0);
            }
        }
        drop(lock);
        let free = free_for_another_process(&p);
        // SAFETY: reaping our own child.
        unsafe {
            libc::kill(child, libc::SIGKILL);
            libc::waitpid(child, std::ptr::null_mut(), 0);
        }
        assert!(free, "the forked child kept the instance lock");
    }

    #[test]
    fn another_process_holding_it_is_named_by_the_kernel() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("service.lock");
        std::fs::write(&p, "").unwrap();
        // Another process holds it: python keeps it until its stdin closes.
        let mut holder = Command::new("python3")
            .args([
                "-c",
                "import fcntl,sys\nf=open(sys.argv[1],'r+')\nfcntl.lockf(f,fcntl.LOCK_EX)\nprint('held',flush=True)\nsys.stdin.read()",
            ])
            .arg(&p)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(holder.stdout.take().unwrap()),
            &mut line,
        )
        .unwrap();
        assert_eq!(line.trim(), "held");
        assert_eq!(holder_pid(&p), Some(holder.id()));
        assert!(matches!(
            InstanceLock::try_acquire(&p),
            Err(InstanceLockError::Held { .. })
        ));
        drop(holder.stdin.take());
        holder.wait().unwrap();
        assert!(InstanceLock::try_acquire(&p).is_ok());
    }
}
