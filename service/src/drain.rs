//! Draining an old core before it stops. The service takes the old core's
//! listening sockets with `pidfd_getfd` and:
//! 1. steers new connections to the new core: where exactly two sockets share the
//!    port (old, then new), a one-instruction classic BPF program on the reuseport
//!    group (`SO_ATTACH_REUSEPORT_CBPF`, "return index 1") sends every new
//!    connection to the socket bound second, the new core's;
//! 2. waits until the old listener's accept queue is empty (bounded), so no
//!    connection is stranded in it;
//! 3. `shutdown(SHUT_RD)`s the old listeners, which leaves established
//!    connections alone, and waits until the old core holds none or the drain
//!    time passes. Then the caller stops it.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::time::Duration;

use rustix::net::{Shutdown, shutdown};
use rustix::process::{Pid, PidfdFlags, PidfdGetfdFlags, pidfd_getfd, pidfd_open};

use xp2p_platform::procfs;

/// What draining did, for the journal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DrainReport {
    /// Listeners shut; `open` established connections remained at SIGTERM time.
    Drained {
        listeners: usize,
        /// Ports whose new connections were steered to the new core first.
        steered: usize,
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
                steered,
                open,
                waited_ms,
            } => format!(
                "drained: {listeners} listener(s), {steered} steered to the new core, shut; {open} connection(s) open after {waited_ms} ms"
            ),
            DrainReport::Unavailable(why) => format!("no drain ({why}): SIGTERM directly"),
        }
    }
}

/// The old core's listening sockets, duplicated into this process.
fn take_listeners(pid: i32) -> io::Result<Vec<(u16, OwnedFd)>> {
    let rpid = Pid::from_raw(pid).ok_or_else(|| io::Error::other("invalid pid"))?;
    let pidfd: OwnedFd = pidfd_open(rpid, PidfdFlags::empty())?;
    procfs::own_listeners(pid)?
        .into_iter()
        .map(|(port, fd)| {
            Ok((
                port,
                pidfd_getfd(pidfd.as_fd(), fd, PidfdGetfdFlags::empty())?,
            ))
        })
        .collect()
}

/// Sends new connections on this socket's reuseport group to group index 1.
fn steer_to_second(fd: &OwnedFd) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let mut code = [libc::sock_filter {
        code: (libc::BPF_RET | libc::BPF_K) as u16,
        jt: 0,
        jf: 0,
        k: 1,
    }];
    let prog = libc::sock_fprog {
        len: 1,
        filter: code.as_mut_ptr(),
    };
    // SAFETY: a valid fd and a correctly sized, live program for the call.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_ATTACH_REUSEPORT_CBPF,
            (&prog as *const libc::sock_fprog).cast(),
            std::mem::size_of::<libc::sock_fprog>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Steps 1 and 2: steer, then wait for the old accept queues to empty.
/// Returns how many ports were steered.
fn steer(listeners: &[(u16, OwnedFd)]) -> usize {
    let mut steered = 0;
    for (port, fd) in listeners {
        if procfs::listeners_on_port(*port) == 2 && steer_to_second(fd).is_ok() {
            steered += 1;
        }
    }
    steered
}

fn shut(listeners: &[(u16, OwnedFd)]) -> io::Result<()> {
    for (_, fd) in listeners {
        shutdown(fd, Shutdown::Read)?;
    }
    Ok(())
}

/// Upper bound on waiting for the old accept queue to empty after steering.
const BACKLOG_WAIT: Duration = Duration::from_millis(500);

/// A short floor so connections the old core accepted a moment before the
/// shutdown are counted. Kept small: after SHUT_RD, Go cores spin on `accept`
/// errors (v2ray logs ~5 000 warnings per second) until they are stopped.
const MIN_DRAIN: Duration = Duration::from_millis(100);

/// Shuts the old core's listeners and waits for its connections to finish (bounded
/// by `drain`). Runs blocking /proc reads on the blocking pool.
pub async fn drain(pid: i32, drain: Duration) -> DrainReport {
    let started = tokio::time::Instant::now();
    let listeners = match tokio::task::spawn_blocking(move || take_listeners(pid)).await {
        Ok(Ok(l)) => std::sync::Arc::new(l),
        Ok(Err(e)) => return DrainReport::Unavailable(e.to_string()),
        Err(e) => return DrainReport::Unavailable(e.to_string()),
    };
    let l = listeners.clone();
    let steered = tokio::task::spawn_blocking(move || steer(&l))
        .await
        .unwrap_or(0);
    // Let the old core accept what is already queued for it (bounded).
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    while started.elapsed() < BACKLOG_WAIT {
        tick.tick().await;
        let queued = tokio::task::spawn_blocking(move || procfs::own_accept_backlog(pid))
            .await
            .unwrap_or(0);
        if queued == 0 {
            break;
        }
    }
    let l = listeners.clone();
    match tokio::task::spawn_blocking(move || shut(&l)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return DrainReport::Unavailable(e.to_string()),
        Err(e) => return DrainReport::Unavailable(e.to_string()),
    }
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
        listeners: listeners.len(),
        steered,
        open,
        waited_ms: started.elapsed().as_millis() as u64,
    }
}
