//! One core process: spawned by us (own process group, output appended to the
//! role's log file, never a pipe) or adopted after a service restart. Exit is
//! observed through a pidfd (an event, not polling); our own children are reaped.

use std::fs::OpenOptions;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use rustix::process::{
    Pid, PidfdFlags, Signal, WaitId, WaitIdOptions, kill_process, pidfd_open, waitid,
};
use tokio::io::unix::AsyncFd;
use tokio::sync::watch;
use xp2p_store::coreproc::CoreInfo;

/// How a core ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExitInfo {
    /// Exit code, or `None` when killed by a signal or not our child.
    pub code: Option<i32>,
    pub signal: Option<i32>,
}

impl std::fmt::Display for ExitInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.code, self.signal) {
            (Some(c), _) => write!(f, "exit code {c}"),
            (None, Some(s)) => write!(f, "killed by signal {s}"),
            (None, None) => write!(f, "exited"),
        }
    }
}

/// A running (or finished) core process.
#[derive(Debug)]
pub struct CoreProc {
    pub pid: i32,
    exited: watch::Receiver<Option<ExitInfo>>,
}

impl CoreProc {
    /// Spawns `core` on `config`, appending stdout/stderr to `log`.
    pub fn spawn(core: &CoreInfo, config: &Path, log: &Path) -> io::Result<CoreProc> {
        if let Some(dir) = log.parent() {
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(xp2p_core::layout::LOG_DIR_MODE)
                .create(dir)?;
        }
        // Core logs name visited destinations: never readable by others.
        let out = std::os::unix::fs::OpenOptionsExt::mode(
            OpenOptions::new().create(true).append(true),
            xp2p_core::layout::LOG_FILE_MODE,
        )
        .open(log)?;
        let err = out.try_clone()?;
        let child = Command::new(&core.path)
            .args(core.run_args(config))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0)
            .spawn()?;
        let pid = i32::try_from(child.id()).map_err(io::Error::other)?;
        // The std handle is dropped: the pidfd watcher reaps the child.
        drop(child);
        Self::watch(pid, true)
    }

    /// Adopts a process we did not spawn (reattach after a service restart).
    pub fn adopt(pid: i32) -> io::Result<CoreProc> {
        Self::watch(pid, false)
    }

    fn watch(pid: i32, our_child: bool) -> io::Result<CoreProc> {
        let rpid = Pid::from_raw(pid).ok_or_else(|| io::Error::other("invalid pid"))?;
        let fd: OwnedFd = pidfd_open(rpid, PidfdFlags::empty())?;
        // SAFETY: the AsyncFd owns the pidfd, so it stays open while registered.
        let afd = unsafe { AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE) }
            .map_err(|e| io::Error::other(e.to_string()))?;
        let (tx, rx) = watch::channel(None);
        tokio::spawn(async move {
            // A pidfd becomes readable when the process exits.
            let _ = afd.readable().await;
            let info = if our_child {
                match waitid(WaitId::PidFd(afd.get_ref().as_fd()), WaitIdOptions::EXITED) {
                    Ok(Some(status)) => ExitInfo {
                        code: status.exit_status(),
                        signal: status.terminating_signal(),
                    },
                    _ => ExitInfo {
                        code: None,
                        signal: None,
                    },
                }
            } else {
                ExitInfo {
                    code: None,
                    signal: None,
                }
            };
            let _ = tx.send(Some(info));
        });
        Ok(CoreProc { pid, exited: rx })
    }

    pub fn has_exited(&self) -> Option<ExitInfo> {
        self.exited.borrow().clone()
    }

    /// Resolves when the process has exited.
    pub async fn wait(&self) -> ExitInfo {
        let mut rx = self.exited.clone();
        loop {
            if let Some(info) = rx.borrow_and_update().clone() {
                return info;
            }
            if rx.changed().await.is_err() {
                return ExitInfo {
                    code: None,
                    signal: None,
                };
            }
        }
    }

    pub fn signal(&self, sig: Signal) -> io::Result<()> {
        let pid = Pid::from_raw(self.pid).ok_or_else(|| io::Error::other("invalid pid"))?;
        kill_process(pid, sig).map_err(io::Error::from)
    }

    /// SIGTERM, then SIGKILL after `grace`. Returns how it ended.
    pub async fn stop(&self, grace: Duration) -> ExitInfo {
        if let Some(info) = self.has_exited() {
            return info;
        }
        let _ = self.signal(Signal::TERM);
        match tokio::time::timeout(grace, self.wait()).await {
            Ok(info) => info,
            Err(_) => {
                let _ = self.signal(Signal::KILL);
                self.wait().await
            }
        }
    }
}
