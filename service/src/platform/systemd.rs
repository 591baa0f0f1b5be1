//! The systemd unit for `xp2p service run` and the `systemctl` commands that
//! install, start, stop and inspect it.

use std::path::{Path, PathBuf};

pub const UNIT_NAME: &str = "xp2p.service";
pub const UNIT_DIR: &str = "/etc/systemd/system";

/// Renders the unit. `binary` is the absolute path of `xp2p`.
pub fn unit_text(binary: &Path, config_root: &Path, log_root: &Path) -> String {
    format!(
        "# Written by `xp2p service install`; `xp2p service uninstall` removes it.
[Unit]
Description=xp2p tunnel service (xray-core supervisor)
Documentation=https://example.invalid/xp2p
After=network-online.target
Wants=network-online.target

[Service]
Type=notify
NotifyAccess=main
ExecStart={bin} service run --config-root {root}
Environment=XP2P_LOG_ROOT={logs}
# 78: no config available; restarting cannot help.
Restart=on-failure
RestartSec=2s
RestartPreventExitStatus=78
# Cores run in their own process group. On stop the service stops them itself;
# if the service dies, they keep serving and the next start reattaches to them.
KillMode=process
TimeoutStopSec=30s
# Hardening: read-only system except what xp2p owns (routes, TUN and DNS need
# the capabilities below; pidfd_getfd of the old core's sockets needs SYS_PTRACE).
ProtectSystem=strict
ReadWritePaths={root} {logs} -/etc/resolv.conf
ProtectHome=true
PrivateTmp=true
NoNewPrivileges=true
CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_BIND_SERVICE CAP_NET_RAW CAP_SYS_PTRACE CAP_KILL CAP_CHOWN CAP_FOWNER CAP_DAC_OVERRIDE
DeviceAllow=/dev/net/tun rw
LimitNOFILE=65536

[Install]
WantedBy=multi-user.target
",
        bin = binary.display(),
        root = config_root.display(),
        logs = log_root.display(),
    )
}

pub fn unit_path(dir: Option<&Path>) -> PathBuf {
    dir.unwrap_or(Path::new(UNIT_DIR)).join(UNIT_NAME)
}

/// Why systemd cannot be driven here, if it cannot.
pub fn unavailable() -> Option<String> {
    if !cfg!(target_os = "linux") {
        return Some("service management is implemented for Linux/systemd only (Windows SCM is not built here)".into());
    }
    if !Path::new("/run/systemd/system").is_dir() {
        let init = std::fs::read_to_string("/proc/1/comm").unwrap_or_default();
        return Some(format!(
            "systemd is not running on this machine (PID 1 is `{}`): run `xp2p service run` in the foreground or under your init system",
            init.trim()
        ));
    }
    None
}
