//! The temporary validation core: a private temp directory ([`Workspace`],
//! removed on drop) and a core process running a config from it ([`TempCore`],
//! killed and reaped on drop). Both register with [`super::interrupt`] so a
//! signal cleans them up too. Readiness is a TCP connect to the port the config
//! listens on; this is a short-lived tool, not the supervisor.

use std::fs::File;
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::interrupt::{self, Token};
use xp2p_core::coreproc::CoreInfo;

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

/// A running temporary core; killed and reaped on drop.
pub struct TempCore {
    child: Option<Child>,
    token: Option<Token>,
    log: PathBuf,
}

impl TempCore {
    /// Starts `core` on `config`, stdout and stderr to `log`.
    pub fn start(core: &CoreInfo, config: &Path, log: &Path) -> io::Result<TempCore> {
        let out = File::create(log)?;
        let err = out.try_clone()?;
        let mut cmd = Command::new(&core.path);
        cmd.args(core.run_args(config))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        #[cfg(unix)]
        {
            use std::os::unix::process::CommandExt;
            cmd.process_group(0);
            let parent = std::process::id();
            // SAFETY: only async-signal-safe calls between fork and exec.
            unsafe {
                cmd.pre_exec(move || {
                    interrupt::unblock_in_child();
                    #[cfg(target_os = "linux")]
                    {
                        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                        if libc::getppid() as u32 != parent {
                            libc::_exit(1);
                        }
                    }
                    let _ = parent;
                    Ok(())
                });
            }
        }
        let child = cmd.spawn()?;
        let token = i32::try_from(child.id()).ok().map(interrupt::register_pid);
        Ok(TempCore {
            child: Some(child),
            token,
            log: log.to_path_buf(),
        })
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Waits until `addr` accepts TCP, failing early if the core exits.
    pub fn wait_ready(&mut self, addr: SocketAddr, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(c) = self.child.as_mut()
                && let Ok(Some(status)) = c.try_wait()
            {
                return Err(format!(
                    "the temporary core exited ({status}): {}",
                    self.log_tail()
                ));
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(300)).is_ok() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "the temporary core did not listen on {addr} within {} s: {}",
                    timeout.as_secs(),
                    self.log_tail()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
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
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
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
