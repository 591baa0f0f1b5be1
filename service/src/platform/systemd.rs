//! The systemd unit for `xp2p service run` and the `systemctl` commands that
//! install, start, stop and inspect it.

use std::path::{Path, PathBuf};

pub const UNIT_NAME: &str = "xp2p.service";
pub const UNIT_DIR: &str = "/etc/systemd/system";

/// A root folder systemd creates before each start (`ConfigurationDirectory=`
/// under /etc, `LogsDirectory=` under /var/log): the name relative to that base.
fn managed_under(base: &str, dir: &Path) -> Option<String> {
    let rel = dir.strip_prefix(base).ok()?;
    let normal = rel
        .components()
        .all(|c| matches!(c, std::path::Component::Normal(_)));
    let text = rel.to_str()?;
    (normal && !text.is_empty() && !text.contains(char::is_whitespace)).then(|| text.to_string())
}

/// CONFIG_ROOT's mode (Desired files, keys, Live) and LOG_ROOT's.
pub const CONFIG_ROOT_MODE: u32 = 0o700;
pub const LOG_ROOT_MODE: u32 = 0o750;

/// The roots systemd cannot create for the unit (outside /etc or /var/log), with
/// their modes: `xp2p service install` creates these; the unit lists them as
/// optional writable paths so a deleted one fails loudly in the service, not
/// in systemd's namespace setup.
pub fn roots_install_creates(config_root: &Path, log_root: &Path) -> Vec<(PathBuf, u32)> {
    let mut out = Vec::new();
    if managed_under("/etc", config_root).is_none() {
        out.push((config_root.to_path_buf(), CONFIG_ROOT_MODE));
    }
    if managed_under("/var/log", log_root).is_none() {
        out.push((log_root.to_path_buf(), LOG_ROOT_MODE));
    }
    out
}

/// Renders the unit. `binary` is the absolute path of `xp2p`.
pub fn unit_text(binary: &Path, config_root: &Path, log_root: &Path) -> String {
    let mut dirs = String::new();
    let mut writable = Vec::new();
    match managed_under("/etc", config_root) {
        Some(rel) => {
            dirs.push_str(&format!(
                "ConfigurationDirectory={rel}\nConfigurationDirectoryMode={CONFIG_ROOT_MODE:04o}\n"
            ));
            writable.push(config_root.display().to_string());
        }
        None => writable.push(format!("-{}", config_root.display())),
    }
    match managed_under("/var/log", log_root) {
        Some(rel) => {
            dirs.push_str(&format!(
                "LogsDirectory={rel}\nLogsDirectoryMode={LOG_ROOT_MODE:04o}\n"
            ));
            writable.push(log_root.display().to_string());
        }
        None => writable.push(format!("-{}", log_root.display())),
    }
    writable.push("-/etc/resolv.conf".into());
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
# CONFIG_ROOT and LOG_ROOT: systemd creates them before each start.
{dirs}UMask=0027
# Hardening (README \"The systemd unit\" gives the reason for each exposure left):
# a read-only system except xp2p's roots and resolv.conf (full TUN mode's DNS);
# no devices but the TUN device; routes and TUN need CAP_NET_ADMIN, ports below
# 1024 CAP_NET_BIND_SERVICE, pidfd_getfd of a reattached core's sockets
# CAP_SYS_PTRACE, socket_group and operator-owned files CAP_CHOWN, CAP_FOWNER
# and CAP_DAC_OVERRIDE.
ProtectSystem=strict
ReadWritePaths={writable}
ProtectHome=true
PrivateTmp=true
PrivateDevices=true
BindPaths=-/dev/net/tun
DeviceAllow=/dev/net/tun rw
ProtectClock=true
ProtectHostname=true
ProtectKernelTunables=true
ProtectKernelModules=true
ProtectKernelLogs=true
ProtectControlGroups=true
ProtectProc=invisible
RestrictNamespaces=true
RestrictRealtime=true
RestrictSUIDSGID=true
LockPersonality=true
MemoryDenyWriteExecute=true
SystemCallArchitectures=native
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK
SystemCallFilter=@system-service
SystemCallFilter=~@privileged @resources
SystemCallFilter=@chown pidfd_getfd
SystemCallErrorNumber=EPERM
NoNewPrivileges=true
CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_BIND_SERVICE CAP_SYS_PTRACE CAP_CHOWN CAP_FOWNER CAP_DAC_OVERRIDE
LimitNOFILE=65536

[Install]
WantedBy=multi-user.target
",
        bin = binary.display(),
        root = config_root.display(),
        logs = log_root.display(),
        writable = writable.join(" "),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_roots_are_created_by_systemd_with_their_modes() {
        let unit = unit_text(
            Path::new("/usr/bin/xp2p"),
            Path::new("/etc/xp2p"),
            Path::new("/var/log/xp2p"),
        );
        for line in [
            "ConfigurationDirectory=xp2p",
            "ConfigurationDirectoryMode=0700",
            "LogsDirectory=xp2p",
            "LogsDirectoryMode=0750",
            "ReadWritePaths=/etc/xp2p /var/log/xp2p -/etc/resolv.conf",
        ] {
            assert!(unit.lines().any(|l| l == line), "no {line:?} in\n{unit}");
        }
        assert!(
            roots_install_creates(Path::new("/etc/xp2p"), Path::new("/var/log/xp2p")).is_empty()
        );
    }

    #[test]
    fn other_roots_are_created_by_install_and_optional_in_the_unit() {
        let (root, logs) = (Path::new("/srv/xp2p"), Path::new("/srv/xp2p/logs"));
        let unit = unit_text(Path::new("/usr/bin/xp2p"), root, logs);
        assert!(!unit.contains("ConfigurationDirectory="), "{unit}");
        assert!(!unit.contains("LogsDirectory="), "{unit}");
        assert!(
            unit.lines()
                .any(|l| l == "ReadWritePaths=-/srv/xp2p -/srv/xp2p/logs -/etc/resolv.conf"),
            "{unit}"
        );
        assert_eq!(
            roots_install_creates(root, logs),
            vec![(root.to_path_buf(), 0o700), (logs.to_path_buf(), 0o750)]
        );
        // Nested names are fine; the bases themselves, `..` and spaces are not.
        assert_eq!(
            managed_under("/etc", Path::new("/etc/a/b")),
            Some("a/b".into())
        );
        assert_eq!(managed_under("/etc", Path::new("/etc")), None);
        assert_eq!(managed_under("/etc", Path::new("/etc/../srv")), None);
        assert_eq!(managed_under("/var/log", Path::new("/var/log/x p")), None);
        let mixed = roots_install_creates(Path::new("/etc/xp2p-b"), Path::new("/etc/xp2p-b/logs"));
        assert_eq!(mixed, vec![(PathBuf::from("/etc/xp2p-b/logs"), 0o750)]);
    }
}
