//! One core process, for every user of one: the supervisor's long-lived cores
//! and deploy's short-lived validation cores. Spawn (own process group, output
//! to a log file — never a pipe), adopt a pid after a service restart, observe
//! the exit (an event from the OS, never polling: a pidfd on Linux), readiness
//! from the process's own listening sockets, and stop with escalation.
//!
//! The per-OS work is in one file chosen below; the API here is the same on
//! every OS.

use std::ffi::OsString;
use std::fmt;
use std::io;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[cfg_attr(target_os = "linux", path = "linux.rs")]
mod imp;

/// How a process ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExitInfo {
    /// Exit code, or `None` when killed by a signal or not our child.
    pub code: Option<i32>,
    /// The signal that ended it (Unix), when known.
    pub signal: Option<i32>,
}

impl ExitInfo {
    /// An exit whose status we cannot know (a process we did not spawn).
    pub const UNKNOWN: ExitInfo = ExitInfo {
        code: None,
        signal: None,
    };
}

impl fmt::Display for ExitInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.code, self.signal) {
            (Some(c), _) => write!(f, "exit code {c}"),
            (None, Some(s)) => write!(f, "killed by signal {s}"),
            (None, None) => write!(f, "exited"),
        }
    }
}

/// How the log file is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogOpen {
    /// Appended to (the supervisor's role log, shared by successive cores).
    Append,
    /// Truncated (a temporary core's private log).
    Truncate,
}

/// What to run and how.
#[derive(Debug, Clone)]
pub struct Spawn {
    pub program: PathBuf,
    pub args: Vec<OsString>,
    /// stdout and stderr both go here.
    pub log: PathBuf,
    pub log_open: LogOpen,
    /// Permission bits of a created log file and its directory (Unix).
    pub log_file_mode: u32,
    pub log_dir_mode: u32,
    /// Kill the process when the spawning thread's process dies (temporary
    /// cores). Long-lived cores keep serving through a service crash.
    pub die_with_parent: bool,
}

/// Why a process did not become ready.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotReady {
    /// It exited first.
    Exited(ExitInfo),
    /// It did not listen on these ports in time.
    Missing(Vec<u16>),
}

/// A running (or finished) process: spawned by us or adopted.
#[derive(Debug)]
pub struct CoreProcess {
    pid: i32,
    handle: imp::Handle,
    /// Set once the exit has been observed (a child is reaped only once).
    exit: Mutex<Option<ExitInfo>>,
}

impl CoreProcess {
    /// Starts `spec`; the process runs in its own process group with every
    /// signal unblocked and stdin from the null device.
    pub fn spawn(spec: &Spawn) -> io::Result<CoreProcess> {
        let (pid, handle) = imp::spawn(spec)?;
        Ok(CoreProcess {
            pid,
            handle,
            exit: Mutex::new(None),
        })
    }

    /// Watches a process we did not spawn (reattach after a service restart).
    /// Its exit status cannot be known ([`ExitInfo::UNKNOWN`]).
    pub fn adopt(pid: i32) -> io::Result<CoreProcess> {
        let handle = imp::adopt(pid)?;
        Ok(CoreProcess {
            pid,
            handle,
            exit: Mutex::new(None),
        })
    }

    pub fn pid(&self) -> i32 {
        self.pid
    }

    fn cached(&self) -> Option<ExitInfo> {
        self.exit.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The exit, when it has happened (never blocks).
    pub fn try_exit(&self) -> Option<ExitInfo> {
        let mut guard = self.exit.lock().unwrap_or_else(|p| p.into_inner());
        if guard.is_none() {
            *guard = self.handle.reap_if_exited();
        }
        guard.clone()
    }

    /// Blocks until the process exits or `timeout` passes.
    pub fn wait_timeout(&self, timeout: Duration) -> Option<ExitInfo> {
        if let Some(e) = self.cached() {
            return Some(e);
        }
        self.handle.wait_exit_event(timeout);
        self.try_exit()
    }

    /// Resolves when the process has exited (async; an OS event, not a poll).
    /// Any number of tasks may wait at once.
    pub async fn exited(&self) -> ExitInfo {
        loop {
            if let Some(e) = self.try_exit() {
                return e;
            }
            if self.handle.exit_event().await.is_err() {
                // Only without a tokio reactor (then no async code runs at
                // all): check again after a pause rather than spin.
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }

    /// The TCP ports the process itself listens on (its own sockets, not
    /// whoever else listens on the port).
    pub fn listening_ports(&self) -> io::Result<Vec<u16>> {
        imp::own_listening_ports(self.pid)
    }

    /// Of `ports`, those the process does not listen on yet.
    pub fn missing_ports(&self, ports: &[u16]) -> Vec<u16> {
        let own = self.listening_ports().unwrap_or_default();
        ports.iter().copied().filter(|p| !own.contains(p)).collect()
    }

    /// Blocks until the process listens on every port of `ports`, failing at
    /// once when it exits. Sockets are checked every `step`; the exit wakes
    /// the wait immediately.
    pub fn wait_listening(&self, ports: &[u16], timeout: Duration) -> Result<(), NotReady> {
        let deadline = Instant::now() + timeout;
        let step = Duration::from_millis(25);
        loop {
            if let Some(e) = self.try_exit() {
                return Err(NotReady::Exited(e));
            }
            let missing = self.missing_ports(ports);
            if missing.is_empty() {
                return Ok(());
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(NotReady::Missing(missing));
            }
            if let Some(e) = self.wait_timeout(step.min(deadline - now)) {
                return Err(NotReady::Exited(e));
            }
        }
    }

    /// Asks the process to stop (SIGTERM on Unix).
    pub fn terminate(&self) -> io::Result<()> {
        if self.try_exit().is_some() {
            return Ok(());
        }
        self.handle.terminate()
    }

    /// Kills the process (SIGKILL on Unix).
    pub fn kill(&self) -> io::Result<()> {
        if self.try_exit().is_some() {
            return Ok(());
        }
        self.handle.kill()
    }

    /// Terminate, then kill after `grace`; returns how it ended (blocking).
    pub fn stop_blocking(&self, grace: Duration) -> ExitInfo {
        if let Some(e) = self.try_exit() {
            return e;
        }
        let _ = self.terminate();
        if let Some(e) = self.wait_timeout(grace) {
            return e;
        }
        let _ = self.kill();
        loop {
            if let Some(e) = self.wait_timeout(Duration::from_secs(5)) {
                return e;
            }
        }
    }

    /// Terminate, then kill after `grace`; returns how it ended (async).
    pub async fn stop(&self, grace: Duration) -> ExitInfo {
        if let Some(e) = self.try_exit() {
            return e;
        }
        let _ = self.terminate();
        match tokio::time::timeout(grace, self.exited()).await {
            Ok(e) => e,
            Err(_) => {
                let _ = self.kill();
                self.exited().await
            }
        }
    }
}

/// The log file of `spec`, opened as it says (parent directory created).
fn open_log(spec: &Spawn) -> io::Result<std::fs::File> {
    if let Some(dir) = spec.log.parent()
        && !dir.as_os_str().is_empty()
    {
        crate::process::imp::create_dir_all_mode(dir, spec.log_dir_mode)?;
    }
    imp::open_log(&spec.log, spec.log_open, spec.log_file_mode)
}

/// A `/bin/sh -c script` spec for the unit tests.
#[cfg(test)]
fn sh(script: &str, log: &std::path::Path) -> Spawn {
    Spawn {
        program: "/bin/sh".into(),
        args: vec!["-c".into(), script.into()],
        log: log.to_path_buf(),
        log_open: LogOpen::Truncate,
        log_file_mode: 0o600,
        log_dir_mode: 0o700,
        die_with_parent: true,
    }
}

#[cfg(test)]
mod tests;
