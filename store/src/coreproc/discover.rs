//! Finding the core: `[core] path` > `CONFIG_ROOT/bin/xray` > `xray` on PATH >
//! `v2ray` on PATH, then asking it for its flavour and version.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::layout::Layout;
use xp2p_core::coreproc::{CoreInfo, parse_version_output};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DiscoveryError {
    #[error("no core found (looked at: {0}); install xray or v2ray, or set [core] path")]
    NotFound(String),
    #[error("core {path}: {reason}")]
    Unusable { path: PathBuf, reason: String },
}

const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

fn is_executable(p: &Path) -> bool {
    std::fs::metadata(p).is_ok_and(|m| xp2p_platform::fsperm::is_executable(&m))
}

fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    let exe = if cfg!(windows) {
        format!("{name}.exe")
    } else {
        name.to_string()
    };
    std::env::split_paths(&path)
        .map(|dir| dir.join(&exe))
        .find(|p| is_executable(p))
}

/// Runs `<path> -version` (both flavours accept it) and parses the answer.
pub fn probe(path: &Path) -> Result<CoreInfo, DiscoveryError> {
    let unusable = |reason: String| DiscoveryError::Unusable {
        path: path.to_path_buf(),
        reason,
    };
    let mut cmd = Command::new(path);
    cmd.arg("-version");
    let done = xp2p_platform::bounded::run_bounded(cmd, PROBE_TIMEOUT)
        .map_err(|e| unusable(format!("cannot run: {e}")))?;
    let text = done.text();
    let status = done.status;
    if done.timed_out && parse_version_output(&text).is_none() {
        return Err(unusable(
            "`-version` did not answer within 5 s (its process group was killed)".into(),
        ));
    }
    match parse_version_output(&text) {
        Some((flavour, version)) => Ok(CoreInfo {
            path: path.to_path_buf(),
            flavour,
            version,
        }),
        None => Err(unusable(format!(
            "`-version` exited {status} without an Xray/V2Ray version line"
        ))),
    }
}

/// Discovery in the documented order. `configured` is `[core] path` (may be empty).
pub fn discover(layout: &Layout, configured: &str) -> Result<CoreInfo, DiscoveryError> {
    if !configured.is_empty() {
        let p = layout.resolve_asset(configured);
        if !is_executable(&p) {
            return Err(DiscoveryError::Unusable {
                path: p,
                reason: "[core] path is not an executable file".into(),
            });
        }
        return probe(&p);
    }
    let mut looked = Vec::new();
    let bundled = layout.bundled_core();
    if is_executable(&bundled) {
        return probe(&bundled);
    }
    looked.push(bundled.display().to_string());
    for name in ["xray", "v2ray"] {
        if let Some(p) = on_path(name) {
            return probe(&p);
        }
        looked.push(format!("`{name}` on PATH"));
    }
    Err(DiscoveryError::NotFound(looked.join(", ")))
}
