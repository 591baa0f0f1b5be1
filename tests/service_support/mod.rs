//! Harness for tests that run `xp2p service run`: a service process that is
//! stopped on drop, a core reaper, journal/session readers and a v2ray pair.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::Duration;

use serde_json::Value;

use crate::support::*;

pub const LONG: Duration = Duration::from_secs(30);

/// A running `xp2p service run`; SIGTERM + wait on drop (which stops its cores).
pub struct Service {
    pub child: Option<Child>,
    pub log: PathBuf,
}

impl Service {
    pub fn start(root: &TestRoot) -> Service {
        Self::start_with(root, &[])
    }

    pub fn start_with(root: &TestRoot, env: &[(&str, &str)]) -> Service {
        let log = root.path().join(format!("service-{}.log", random_token()));
        let out = std::fs::File::create(&log).expect("service log");
        let err = out.try_clone().expect("clone log");
        let mut cmd = root.cmd();
        cmd.args(["service", "run"])
            .stdout(out)
            .stderr(err)
            .env("RUST_LOG", "info");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("spawn service");
        Service {
            child: Some(child),
            log,
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.as_ref().map_or(0, |c| c.id() as i32)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn kill9(mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn stop(mut self) -> Option<i32> {
        let mut c = self.child.take()?;
        unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
        c.wait().ok().and_then(|s| s.code())
    }

    pub fn wait_exit(mut self, timeout: Duration) -> Option<i32> {
        let mut c = self.child.take()?;
        let mut code = None;
        wait_until(timeout, || match c.try_wait() {
            Ok(Some(s)) => {
                code = s.code();
                true
            }
            _ => false,
        });
        if code.is_none() {
            let _ = c.kill();
        }
        code
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
            if !wait_until(Duration::from_secs(15), || {
                matches!(c.try_wait(), Ok(Some(_)))
            }) {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}

/// Kills any core still running on this root's Live (cleanup after kill -9 tests).
pub struct CoreReaper(pub PathBuf);

impl Drop for CoreReaper {
    fn drop(&mut self) {
        let _ = std::process::Command::new("pkill")
            .args(["-9", "-f", &format!("{}/.state/live", self.0.display())])
            .status();
    }
}

pub fn journal(root: &TestRoot) -> Vec<Value> {
    std::fs::read_to_string(root.path().join(".state/journal.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

pub fn outcomes(root: &TestRoot, role: &str) -> Vec<String> {
    journal(root)
        .iter()
        .filter(|r| r["role"] == role)
        .filter_map(|r| r["outcome"].as_str().map(str::to_string))
        .collect()
}

pub fn session(root: &TestRoot, role: &str) -> Value {
    std::fs::read(root.path().join(format!(".state/sessions/{role}.json")))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(Value::Null)
}

pub fn session_pid(root: &TestRoot, role: &str) -> Option<i64> {
    let s = session(root, role);
    (s["status"] == "running")
        .then(|| s["pid"].as_i64())
        .flatten()
}

pub fn pid_alive(pid: i64) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        !s.rsplit_once(')')
            .is_some_and(|(_, r)| r.trim_start().starts_with('Z'))
    })
}

pub fn read_bytes(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_default()
}

/// A server + client pair with v2ray in one CONFIG_ROOT.
pub struct Pair {
    pub root: TestRoot,
    pub socks: u16,

    _reaper: CoreReaper,
}

pub fn pair() -> Pair {
    let root = TestRoot::new();
    root.write_self_signed_cert("vpn.test");
    let socks = free_port();
    let trojan = free_port();
    root.write("xp2p-server.toml", server_toml(V2RAY, trojan, "pw-1"));
    root.write(
        "xp2p-client.toml",
        client_toml(V2RAY, socks, trojan, "pw-1"),
    );
    let reaper = CoreReaper(root.path().to_path_buf());
    Pair {
        root,
        socks,
        _reaper: reaper,
    }
}

impl Pair {
    pub fn socks_addr(&self) -> std::net::SocketAddr {
        std::net::SocketAddr::from(([127, 0, 0, 1], self.socks))
    }

    pub fn fetch_ok(&self, origin: &HttpOrigin) -> bool {
        socks5_get(self.socks_addr(), origin.addr(), Duration::from_secs(3))
            .is_ok_and(|b| b.contains(origin.body()))
    }

    pub fn wait_outcomes(&self, role: &str, n: usize) -> Vec<String> {
        wait_until(LONG, || outcomes(&self.root, role).len() >= n);
        outcomes(&self.root, role)
    }

    pub fn live(&self, role: &str) -> PathBuf {
        self.root
            .path()
            .join(format!(".state/live/config-{role}/xray.json"))
    }

    pub fn lkg(&self, role: &str) -> PathBuf {
        self.root
            .path()
            .join(format!(".state/lkg/config-{role}/xray.json"))
    }

    pub fn append_client(&self, text: &str) {
        let p = self.root.path().join("xp2p-client.toml");
        let mut s = std::fs::read_to_string(&p).unwrap_or_default();
        s.push_str(text);
        std::fs::write(p, s).expect("edit Desired");
    }
}
