//! Draining an old core before it stops: take its listening sockets with
//! `pidfd_getfd`, `shutdown(SHUT_RD)` them so new connections reach only the new
//! core (same ports, SO_REUSEPORT) while established ones finish, then wait until
//! it holds no established connections or the drain time passes.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::time::Duration;

use rustix::net::{Shutdown, shutdown};
use rustix::process::{Pid, PidfdFlags, PidfdGetfdFlags, pidfd_getfd, pidfd_open};

use xp2p_core::procfs;

/// What draining did, for the journal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DrainReport {
    /// Listeners shut; `open` established connections remained at SIGTERM time.
    Drained {
        listeners: usize,
        open: usize,
        waited_ms: u64,
    },
    /// Could not take the sockets (other OS, no permission): SIGTERM directly.
    Unavailable(String),
}

impl DrainReport {
    pub fn describe(&self) -> String {
        match self {
            DrainReport::Drained {
                listeners,
                open,
                waited_ms,
            } => format!(
                "drained: {listeners} listener(s) shut, {open} connection(s) open after {waited_ms} ms"
            ),
            DrainReport::Unavailable(why) => format!("no drain ({why}): SIGTERM directly"),
        }
    }
}

fn shut_listeners(pid: i32) -> io::Result<usize> {
    let rpid = Pid::from_raw(pid).ok_or_else(|| io::Error::other("invalid pid"))?;
    let pidfd: OwnedFd = pidfd_open(rpid, PidfdFlags::empty())?;
    let mut n = 0;
    for (_, fd) in procfs::own_listeners(pid)? {
        let ours: OwnedFd = pidfd_getfd(pidfd.as_fd(), fd, PidfdGetfdFlags::empty())?;
        shutdown(&ours, Shutdown::Read)?;
        n += 1;
    }
    Ok(n)
}

/// A short floor so connections the old core accepted a moment before the
/// shutdown are counted. Kept small: after SHUT_RD, Go cores spin on `accept`
/// errors (v2ray logs ~5 000 warnings per second) until they are stopped.
const MIN_DRAIN: Duration = Duration::from_millis(100);

/// Shuts the old core's listeners and waits for its connections to finish (bounded
/// by `drain`). Runs blocking /proc reads on the blocking pool.
pub async fn drain(pid: i32, drain: Duration) -> DrainReport {
    let listeners = match tokio::task::spawn_blocking(move || shut_listeners(pid)).await {
        Ok(Ok(n)) => n,
        Ok(Err(e)) => return DrainReport::Unavailable(e.to_string()),
        Err(e) => return DrainReport::Unavailable(e.to_string()),
    };
    let started = tokio::time::Instant::now();
    // Sample the connection count at a modest rate during a bounded window.
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    let open = loop {
        tick.tick().await;
        let open = tokio::task::spawn_blocking(move || procfs::own_established(pid))
            .await
            .unwrap_or(0);
        let settled = started.elapsed() >= MIN_DRAIN;
        if (open == 0 && settled) || started.elapsed() >= drain {
            break open;
        }
    };
    DrainReport::Drained {
        listeners,
        open,
        waited_ms: started.elapsed().as_millis() as u64,
    }
}
