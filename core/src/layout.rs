//! CONFIG_ROOT and LOG_ROOT resolution and every path of formats.md, named once.
//!
//! Precedence: `--config-root DIR` > `XP2P_CONFIG_ROOT` > OS default
//! (`/etc/xp2p`, `%ProgramData%\xp2p`). LOG_ROOT: `XP2P_LOG_ROOT` > the OS default
//! (`/var/log/xp2p`) when CONFIG_ROOT is the OS default, otherwise `CONFIG_ROOT/logs`,
//! so two instances with different roots never share log files.

use std::path::{Path, PathBuf};

use crate::role::Role;

pub const ENV_CONFIG_ROOT: &str = "XP2P_CONFIG_ROOT";
pub const ENV_LOG_ROOT: &str = "XP2P_LOG_ROOT";

/// The four snippet files a role may have, in merge order.
pub const SNIPPET_FILES: [&str; 4] = [
    "routing.rules.after-xp2p-system.json",
    "routing.rules.after-xp2p-managed.json",
    "inbounds.append.json",
    "outbounds.append.json",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    root: PathBuf,
    log_root: PathBuf,
}

fn default_config_root() -> PathBuf {
    if cfg!(windows) {
        let base = std::env::var_os("ProgramData").unwrap_or_else(|| "C:\\ProgramData".into());
        PathBuf::from(base).join("xp2p")
    } else {
        PathBuf::from("/etc/xp2p")
    }
}

impl Layout {
    /// Resolve from the CLI flag and the environment.
    pub fn resolve(flag: Option<&Path>) -> Layout {
        let env_root = std::env::var_os(ENV_CONFIG_ROOT).filter(|v| !v.is_empty());
        let root = match (flag, env_root) {
            (Some(dir), _) => dir.to_path_buf(),
            (None, Some(dir)) => PathBuf::from(dir),
            (None, None) => default_config_root(),
        };
        let root = absolutize(&root);
        let log_root = match std::env::var_os(ENV_LOG_ROOT).filter(|v| !v.is_empty()) {
            Some(dir) => absolutize(Path::new(&dir)),
            None if root == default_config_root() && !cfg!(windows) => {
                PathBuf::from("/var/log/xp2p")
            }
            None => root.join("logs"),
        };
        Layout { root, log_root }
    }

    /// A layout with explicit roots (tests, demo).
    pub fn new(root: impl Into<PathBuf>, log_root: impl Into<PathBuf>) -> Layout {
        Layout {
            root: root.into(),
            log_root: log_root.into(),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn log_root(&self) -> &Path {
        &self.log_root
    }

    /// Shows a path relative to CONFIG_ROOT when it lies inside it (for messages).
    pub fn display_rel<'a>(&self, path: &'a Path) -> &'a Path {
        path.strip_prefix(&self.root).unwrap_or(path)
    }

    // --- Desired -----------------------------------------------------------

    pub fn desired_toml(&self, role: Role) -> PathBuf {
        self.root.join(format!("xp2p-{role}.toml"))
    }

    pub fn snippets_dir(&self, role: Role) -> PathBuf {
        self.root.join(format!("config-{role}"))
    }

    pub fn tls_server_dir(&self) -> PathBuf {
        self.root.join("tls").join("server")
    }

    /// Resolves a path from a Desired file (relative to CONFIG_ROOT).
    pub fn resolve_asset(&self, path: &str) -> PathBuf {
        let p = Path::new(path);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.root.join(p)
        }
    }

    // --- OS state ----------------------------------------------------------

    pub fn tun_full_state(&self) -> PathBuf {
        self.root.join("xp2p-client.tun-full.json")
    }

    // --- .state ------------------------------------------------------------

    pub fn state_dir(&self) -> PathBuf {
        self.root.join(".state")
    }

    pub fn apply_request(&self) -> PathBuf {
        self.state_dir().join("apply.request")
    }

    pub fn apply_error(&self) -> PathBuf {
        self.state_dir().join("apply.error")
    }

    pub fn live_root(&self) -> PathBuf {
        self.state_dir().join("live")
    }

    pub fn live_dir(&self, role: Role) -> PathBuf {
        self.live_root().join(format!("config-{role}"))
    }

    pub fn lkg_root(&self) -> PathBuf {
        self.state_dir().join("lkg")
    }

    pub fn lkg_dir(&self, role: Role) -> PathBuf {
        self.lkg_root().join(format!("config-{role}"))
    }

    pub fn staging_dir(&self) -> PathBuf {
        self.state_dir().join("staging")
    }

    /// Last tunnel probe per client endpoint (written by the service).
    pub fn tunnel_health(&self) -> PathBuf {
        self.state_dir().join("tunnel-health.json")
    }

    /// Last probe per server reverse channel (written by the service).
    pub fn channel_health(&self) -> PathBuf {
        self.state_dir().join("channel-health.json")
    }

    pub fn journal(&self) -> PathBuf {
        self.state_dir().join("journal.jsonl")
    }

    pub fn sessions_dir(&self) -> PathBuf {
        self.state_dir().join("sessions")
    }

    pub fn session(&self, role: Role) -> PathBuf {
        self.sessions_dir().join(format!("{role}.json"))
    }

    pub fn locks_dir(&self) -> PathBuf {
        self.state_dir().join("locks")
    }

    pub fn role_lock(&self, role: Role) -> PathBuf {
        self.locks_dir().join(format!("{role}.lock"))
    }

    pub fn service_lock(&self) -> PathBuf {
        self.locks_dir().join("service.lock")
    }

    pub fn apply_request_lock(&self) -> PathBuf {
        self.locks_dir().join("apply-request.lock")
    }

    /// The IPC socket (Unix). `--socket` / `XP2P_SOCKET` override it at the CLI.
    pub fn socket(&self) -> PathBuf {
        self.state_dir().join("xp2p.sock")
    }

    // --- binaries and logs -------------------------------------------------

    /// A core shipped beside the config (`CONFIG_ROOT/bin/xray`), second in discovery.
    pub fn bundled_core(&self) -> PathBuf {
        let name = if cfg!(windows) { "xray.exe" } else { "xray" };
        self.root.join("bin").join(name)
    }

    pub fn core_log(&self, role: Role) -> PathBuf {
        self.log_root.join(format!("core-{role}.log"))
    }

    pub fn service_log_dir(&self) -> PathBuf {
        self.log_root.clone()
    }
}

/// Mode of a log folder xp2p creates.
pub const LOG_DIR_MODE: u32 = 0o750;
/// Mode of a log file xp2p creates.
pub const LOG_FILE_MODE: u32 = 0o640;

fn absolutize(p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|cwd| cwd.join(p))
            .unwrap_or_else(|_| p.to_path_buf())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_follow_formats_md() {
        let l = Layout::new("/r", "/l");
        assert_eq!(
            l.desired_toml(Role::Client),
            Path::new("/r/xp2p-client.toml")
        );
        assert_eq!(l.snippets_dir(Role::Server), Path::new("/r/config-server"));
        assert_eq!(
            l.live_dir(Role::Client),
            Path::new("/r/.state/live/config-client")
        );
        assert_eq!(
            l.lkg_dir(Role::Server),
            Path::new("/r/.state/lkg/config-server")
        );
        assert_eq!(l.apply_request(), Path::new("/r/.state/apply.request"));
        assert_eq!(
            l.role_lock(Role::Client),
            Path::new("/r/.state/locks/client.lock")
        );
        assert_eq!(
            l.session(Role::Server),
            Path::new("/r/.state/sessions/server.json")
        );
        assert_eq!(l.socket(), Path::new("/r/.state/xp2p.sock"));
        assert_eq!(l.core_log(Role::Client), Path::new("/l/core-client.log"));
        assert_eq!(
            l.resolve_asset("tls/server/cert.pem"),
            Path::new("/r/tls/server/cert.pem")
        );
        assert_eq!(l.resolve_asset("/abs/k.pem"), Path::new("/abs/k.pem"));
    }

    #[test]
    fn flag_wins_over_env_and_logs_follow_a_custom_root() {
        let l = Layout::resolve(Some(Path::new("/tmp/xp2p-flag")));
        assert_eq!(l.root(), Path::new("/tmp/xp2p-flag"));
        if std::env::var_os(ENV_LOG_ROOT).is_none() {
            assert_eq!(l.log_root(), Path::new("/tmp/xp2p-flag/logs"));
        }
    }
}
