//! Linux: processes are watched through a pidfd, whose readability is the
//! exit event (epoll through tokio, or poll(2) with a timeout when blocking);
//! our own children are reaped through `waitid(P_PIDFD)`.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use rustix::event::{PollFd, PollFlags, Timespec, poll};
use rustix::process::{
    Pid, PidfdFlags, Signal, WaitId, WaitIdOptions, kill_process, pidfd_open, waitid,
};

use super::{ExitInfo, LogOpen, Spawn};

#[derive(Debug)]
pub(super) struct Handle {
    pidfd: OwnedFd,
    pid: Pid,
    our_child: bool,
}

pub(super) fn create_dir_all_mode(dir: &Path, mode: u32) -> io::Result<()> {
    DirBuilder::new().recursive(true).mode(mode).create(dir)
}

pub(super) fn open_log(path: &Path, how: LogOpen, mode: u32) -> io::Result<File> {
    let mut o = OpenOptions::new();
    match how {
        LogOpen::Append => o.create(true).append(true),
        LogOpen::Truncate => o.create(true).write(true).truncate(true),
    };
    o.mode(mode).open(path)
}

pub(super) fn spawn(spec: &Spawn) -> io::Result<(i32, Handle)> {
    let out = super::open_log(spec)?;
    let err = out.try_clone()?;
    let mut cmd = Command::new(&spec.program);
    cmd.args(&spec.args)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .process_group(0);
    let die_with_parent = spec.die_with_parent;
    let parent = rustix::process::getpid();
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            // A core starts with no blocked signal, whatever its parent blocked.
            let mut empty: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut empty);
            libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
            if die_with_parent {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                // The parent may have died before the prctl.
                if libc::getppid() != parent.as_raw_nonzero().get() {
                    libc::_exit(1);
                }
            }
            Ok(())
        });
    }
    let child = cmd.spawn()?;
    let pid = i32::try_from(child.id()).map_err(io::Error::other)?;
    // The std handle is dropped without waiting: the pidfd reaps the child.
    drop(child);
    Ok((pid, watch(pid, true)?))
}

pub(super) fn adopt(pid: i32) -> io::Result<Handle> {
    watch(pid, false)
}

fn watch(pid: i32, our_child: bool) -> io::Result<Handle> {
    let rpid = Pid::from_raw(pid).ok_or_else(|| io::Error::other("invalid pid"))?;
    let pidfd = pidfd_open(rpid, PidfdFlags::empty())?;
    Ok(Handle {
        pidfd,
        pid: rpid,
        our_child,
    })
}

impl Handle {
    fn readable_within(&self, timeout: Option<Duration>) -> bool {
        let mut fds = [PollFd::new(&self.pidfd, PollFlags::IN)];
        let ts = timeout.map(|d| Timespec {
            tv_sec: d.as_secs() as i64,
            tv_nsec: i64::from(d.subsec_nanos()),
        });
        matches!(poll(&mut fds, ts.as_ref()), Ok(n) if n > 0)
    }

    /// The exit, reaping our child, when the process has exited.
    pub(super) fn reap_if_exited(&self) -> Option<ExitInfo> {
        if !self.readable_within(Some(Duration::ZERO)) {
            return None;
        }
        if !self.our_child {
            return Some(ExitInfo::UNKNOWN);
        }
        match waitid(
            WaitId::PidFd(self.pidfd.as_fd()),
            WaitIdOptions::EXITED | WaitIdOptions::NOHANG,
        ) {
            Ok(Some(status)) => Some(ExitInfo {
                code: status.exit_status(),
                signal: status.terminating_signal(),
            }),
            // Readable but not waitable: already reaped elsewhere.
            Ok(None) | Err(_) => Some(ExitInfo::UNKNOWN),
        }
    }

    /// Blocks until the exit event or `timeout`.
    pub(super) fn wait_exit_event(&self, timeout: Duration) {
        self.readable_within(Some(timeout));
    }

    /// Resolves on the exit event (tokio's reactor watches a duplicate of
    /// the pidfd, so any number of waiters may exist).
    pub(super) async fn exit_event(&self) -> io::Result<()> {
        let dup = self.pidfd.try_clone()?;
        // SAFETY: the AsyncFd owns the duplicate, so it stays open while registered.
        let afd = unsafe {
            tokio::io::unix::AsyncFd::register_with_interest(dup, tokio::io::Interest::READABLE)
        }?;
        let _ready = afd.readable().await?;
        Ok(())
    }

    pub(super) fn terminate(&self) -> io::Result<()> {
        kill_process(self.pid, Signal::TERM).map_err(io::Error::from)
    }

    pub(super) fn kill(&self) -> io::Result<()> {
        kill_process(self.pid, Signal::KILL).map_err(io::Error::from)
    }
}

pub(super) fn own_listening_ports(pid: i32) -> io::Result<Vec<u16>> {
    Ok(crate::procfs::own_listeners(pid)?
        .into_iter()
        .map(|(port, _)| port)
        .collect())
}
