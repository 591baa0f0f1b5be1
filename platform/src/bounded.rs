//! Running a short-lived core command (`-version`, `-test`) with one deadline
//! for everything: the exit and the reading of its output. The command runs in
//! its own process group, which is killed as a whole at the deadline, so a child
//! it leaves holding the pipes cannot make the caller wait.

use std::io::{self, Read};
use std::os::unix::process::CommandExt;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Output kept per stream; the rest is read and dropped (a chatty core never
/// blocks on a full pipe, and never fills our memory).
const MAX_OUTPUT: usize = 1 << 20;
/// After the group is killed: how long the pipes may take to report EOF.
const AFTER_KILL: Duration = Duration::from_secs(1);

#[derive(Debug)]
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// The deadline passed before the command exited and closed its output.
    pub timed_out: bool,
}

impl Finished {
    /// stdout then stderr, as text.
    pub fn text(&self) -> String {
        format!(
            "{}\n{}",
            String::from_utf8_lossy(&self.stdout),
            String::from_utf8_lossy(&self.stderr)
        )
    }
}

enum Event {
    Stdout(Vec<u8>),
    Stderr(Vec<u8>),
    Exited,
}

fn read_capped(mut r: impl Read) -> Vec<u8> {
    let mut kept = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                let room = MAX_OUTPUT.saturating_sub(kept.len());
                kept.extend_from_slice(&buf[..n.min(room)]);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    kept
}

/// Waits (without reaping, so the pid and process group stay ours) until `pid`
/// exits.
fn wait_exit_no_reap(pid: i32) {
    loop {
        // SAFETY: waitid on our own child with WNOWAIT only reads its state.
        let r = unsafe {
            let mut info: libc::siginfo_t = std::mem::zeroed();
            libc::waitid(
                libc::P_PID,
                pid as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOWAIT,
            )
        };
        if r == 0 || io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
            return;
        }
    }
}

/// Runs `cmd` (stdin null, stdout/stderr captured) in a new process group;
/// everything — exit and output — must finish within `timeout`, else the whole
/// group is SIGKILLed and `timed_out` is set (with what was read so far).
pub fn run_bounded(mut cmd: Command, timeout: Duration) -> io::Result<Finished> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()?;
    let pid = i32::try_from(child.id()).map_err(io::Error::other)?;
    let (tx, rx) = mpsc::channel();
    if let Some(out) = child.stdout.take() {
        let tx = tx.clone();
        std::thread::spawn(move || tx.send(Event::Stdout(read_capped(out))));
    }
    if let Some(err) = child.stderr.take() {
        let tx = tx.clone();
        std::thread::spawn(move || tx.send(Event::Stderr(read_capped(err))));
    }
    std::thread::spawn(move || {
        wait_exit_no_reap(pid);
        tx.send(Event::Exited)
    });
    let (mut stdout, mut stderr, mut exited) = (None, None, false);
    let mut take = |ev: Event| match ev {
        Event::Stdout(b) => stdout = Some(b),
        Event::Stderr(b) => stderr = Some(b),
        Event::Exited => exited = true,
    };
    let deadline = Instant::now() + timeout;
    let mut pending = 3;
    while pending > 0 {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(ev) => {
                take(ev);
                pending -= 1;
            }
            Err(_) => break,
        }
    }
    let timed_out = pending > 0;
    if timed_out {
        // The leader is not reaped yet, so its pid still names this group.
        let _ = rustix::process::kill_process_group(
            rustix::process::Pid::from_raw(pid).ok_or_else(|| io::Error::other("pid 0"))?,
            rustix::process::Signal::KILL,
        );
        let until = Instant::now() + AFTER_KILL;
        while pending > 0 {
            match rx.recv_timeout(until.saturating_duration_since(Instant::now())) {
                Ok(ev) => {
                    take(ev);
                    pending -= 1;
                }
                Err(_) => break,
            }
        }
    }
    let status = child.wait()?;
    Ok(Finished {
        status,
        stdout: stdout.unwrap_or_default(),
        stderr: stderr.unwrap_or_default(),
        timed_out,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Command {
        let mut c = Command::new("/bin/sh");
        c.arg("-c").arg(script);
        c
    }

    #[test]
    fn collects_output_and_status() {
        let f = run_bounded(
            sh("echo out; echo err >&2; exit 3"),
            Duration::from_secs(30),
        )
        .unwrap();
        assert!(!f.timed_out);
        assert_eq!(f.status.code(), Some(3));
        assert_eq!(f.stdout, b"out\n");
        assert_eq!(f.stderr, b"err\n");
    }

    #[test]
    fn a_child_holding_the_pipe_cannot_outlast_the_deadline() {
        // The command exits at once but leaves a child holding stdout for 60 s.
        let started = Instant::now();
        let f = run_bounded(
            sh("echo Xray 1.0; sleep 60 & exit 0"),
            Duration::from_millis(500),
        )
        .unwrap();
        assert!(f.timed_out);
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{:?}",
            started.elapsed()
        );
        assert!(String::from_utf8_lossy(&f.stdout).contains("Xray 1.0"));
    }

    #[test]
    fn a_hung_command_is_killed() {
        let started = Instant::now();
        let f = run_bounded(sh("sleep 60"), Duration::from_millis(300)).unwrap();
        assert!(f.timed_out);
        assert!(started.elapsed() < Duration::from_secs(20));
        assert_eq!(f.status.code(), None);
    }
}
