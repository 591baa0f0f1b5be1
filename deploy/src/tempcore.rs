//! The temporary validation core: a private temp directory ([`Workspace`],
//! removed on drop) and a core process running a config from it ([`TempCore`],
//! killed and reaped on drop). Both register with [`super::interrupt`] so a
//! signal cleans them up too. Readiness is the core's own listening socket on
//! the port its config names, as for the supervisor's cores.

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::interrupt::{self, Token};
use xp2p_core::coreproc::CoreInfo;
use xp2p_platform::process::{CoreProcess, NotReady};
use xp2p_store::coreproc::{Lifetime, spawn_spec};

/// The prefix of every deploy temp directory (`xp2p-deploy-client-…`, `…-server-…`).
pub const TEMP_PREFIX: &str = "xp2p-deploy-";

/// A private temp directory, removed on drop.
pub struct Workspace {
    dir: Option<tempfile::TempDir>,
    token: Option<Token>,
}

impl Workspace {
    /// Creates `$TMPDIR/xp2p-deploy-<side>-XXXX` (mode 0700).
    pub fn new(side: &str) -> io::Result<Workspace> {
        let dir = tempfile::Builder::new()
            .prefix(&format!("{TEMP_PREFIX}{side}-"))
            .tempdir()?;
        let token = interrupt::register_dir(dir.path().to_path_buf());
        Ok(Workspace {
            dir: Some(dir),
            token: Some(token),
        })
    }

    pub fn path(&self) -> &Path {
        self.dir.as_ref().map_or(Path::new(""), |d| d.path())
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.path().join(name)
    }
}

impl Drop for Workspace {
    fn drop(&mut self) {
        if let Some(d) = self.dir.take() {
            let path = d.path().to_path_buf();
            if d.close().is_err() {
                let _ = std::fs::remove_dir_all(&path);
            }
        }
        if let Some(t) = self.token.take() {
            interrupt::unregister(t);
        }
    }
}

/// A running temporary core; killed and reaped on drop. The process is the
/// platform's one core-process type; this guard adds the interrupt
/// registration and the log tail for messages.
pub struct TempCore {
    proc: Option<CoreProcess>,
    token: Option<Token>,
    log: PathBuf,
}

/// How long a temporary core gets to stop after SIGTERM before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(2);

impl TempCore {
    /// Starts `core` on `config`, stdout and stderr to `log` (truncated). The
    /// core dies with this process, even on SIGKILL.
    pub fn start(core: &CoreInfo, config: &Path, log: &Path) -> io::Result<TempCore> {
        let proc = CoreProcess::spawn(&spawn_spec(core, config, log, Lifetime::Temporary))?;
        let token = interrupt::register_pid(proc.pid());
        Ok(TempCore {
            proc: Some(proc),
            token: Some(token),
            log: log.to_path_buf(),
        })
    }

    pub fn pid(&self) -> Option<u32> {
        self.proc.as_ref().and_then(|p| u32::try_from(p.pid()).ok())
    }

    /// Waits until the core itself listens on TCP `port` (its own socket,
    /// not whoever else holds the port), failing at once if it exits.
    pub fn wait_ready(&mut self, port: u16, timeout: Duration) -> Result<(), String> {
        let Some(proc) = self.proc.as_ref() else {
            return Err("the temporary core was stopped".into());
        };
        match proc.wait_listening(&[port], timeout) {
            Ok(()) => Ok(()),
            Err(NotReady::Exited(exit)) => Err(format!(
                "the temporary core exited ({exit}): {}",
                self.log_tail()
            )),
            Err(NotReady::Missing(_)) => Err(format!(
                "the temporary core did not listen on port {port} within {} s: {}",
                timeout.as_secs(),
                self.log_tail()
            )),
        }
    }

    /// The last few lines of the core's output (for error messages).
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        let tail = lines[lines.len().saturating_sub(3)..].join(" | ");
        if tail.is_empty() {
            "no core output".into()
        } else {
            tail
        }
    }

    /// Stops the core now (idempotent; drop does the same).
    pub fn stop(&mut self) {
        if let Some(p) = self.proc.take() {
            p.stop_blocking(STOP_GRACE);
        }
        if let Some(t) = self.token.take() {
            interrupt::unregister(t);
        }
    }
}

impl Drop for TempCore {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A loopback port that was free a moment ago.
pub fn free_loopback_port() -> io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// `preferred` on `ip` when it can be bound now, else an ephemeral port there.
pub fn pick_port(ip: std::net::IpAddr, preferred: u16) -> io::Result<u16> {
    if TcpListener::bind(SocketAddr::new(ip, preferred)).is_ok() {
        return Ok(preferred);
    }
    Ok(TcpListener::bind(SocketAddr::new(ip, 0))?
        .local_addr()?
        .port())
}

/// Where to probe a listener bound to `ip` (loopback for the unspecified address).
pub fn probe_addr(ip: std::net::IpAddr, port: u16) -> SocketAddr {
    let ip = match ip {
        std::net::IpAddr::V4(v) if v.is_unspecified() => std::net::Ipv4Addr::LOCALHOST.into(),
        std::net::IpAddr::V6(v) if v.is_unspecified() => std::net::Ipv6Addr::LOCALHOST.into(),
        other => other,
    };
    SocketAddr::new(ip, port)
}
