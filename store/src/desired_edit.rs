//! Edits of Desired written by xp2p itself (the mode commands today): under
//! the role lock, validated by the same compiler as an apply before anything
//! is written, written atomically keeping the file's mode and owner.

use std::time::{Duration, Instant};

use xp2p_core::compile;
use xp2p_core::desired::mode::{ModeChange, edit};
use xp2p_core::layout::Layout;
use xp2p_core::role::Role;
use xp2p_platform::lock::{FileLock, LockError};

use crate::atomic::write_secret;
use crate::pipeline;

/// Takes `.state/locks/<role>.lock`, waiting up to 10 s for a holder (the
/// service holds it briefly while it reads Desired).
pub fn lock_role(layout: &Layout, role: Role) -> Result<FileLock, String> {
    let path = layout.role_lock(role);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match FileLock::try_acquire(&path) {
            Ok(l) => return Ok(l),
            Err(LockError::Held { .. }) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(25));
            }
            Err(e) => return Err(format!("cannot take the {role} lock: {e}")),
        }
    }
}

/// Writes the mode into `xp2p-<role>.toml`. Returns whether the file changed.
pub fn set_mode(layout: &Layout, role: Role, change: &ModeChange) -> Result<bool, String> {
    let _lock = lock_role(layout, role)?;
    let path = layout.desired_toml(role);
    let src =
        match xp2p_platform::fsread::read_operator_file(&path, xp2p_platform::fsread::MAX_TOML) {
            Ok(bytes) => String::from_utf8(bytes)
                .map_err(|_| format!("{}: file is not valid UTF-8", path.display()))?,
            Err(xp2p_platform::fsread::ReadError::NotFound(_)) => {
                return Err(format!(
                    "{} does not exist (create it: xp2p init --role {role})",
                    path.display()
                ));
            }
            Err(e) => return Err(e.to_string()),
        };
    let edited = edit(&path, &src, role, change)?;
    if edited == src {
        return Ok(false);
    }
    let mut files = pipeline::read(layout, role).map_err(|p| p.to_string())?;
    files.toml = Some(edited.clone().into_bytes());
    compile::check(layout, &files).map_err(|p| format!("the new mode would not validate: {p}"))?;
    // An existing file keeps the mode and owner the operator gave it.
    write_secret(&path, edited.as_bytes(), crate::secrets::for_layout(layout))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(true)
}
