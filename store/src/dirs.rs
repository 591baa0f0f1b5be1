//! xp2p's own folders on disk (the log root), created with their modes.

use std::path::Path;

use xp2p_core::layout::Layout;
use xp2p_platform::fsperm;

/// Creates LOG_ROOT 0750 (logs name visited destinations: only the owner and
/// its group may read them). An existing LOG_ROOT that is xp2p's own
/// (`CONFIG_ROOT/logs` or `/var/log/xp2p`) loses any access for others; a
/// folder named by `XP2P_LOG_ROOT` elsewhere is never changed.
///
/// Where files have no modes (Windows) the folder is created and its ACL is
/// the one it inherits.
pub fn ensure_log_root(layout: &Layout) -> std::io::Result<()> {
    let existed = layout.log_root().is_dir();
    fsperm::create_dir_all_mode(layout.log_root(), xp2p_core::layout::LOG_DIR_MODE)?;
    let own = !existed
        || layout.log_root() == layout.root().join("logs")
        || layout.log_root() == Path::new("/var/log/xp2p");
    if own
        && let Some(mode) = fsperm::mode_of(&std::fs::metadata(layout.log_root())?)
        && mode & 0o007 != 0
    {
        fsperm::set_mode(layout.log_root(), mode & !0o007)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_root_is_created_private_and_a_foreign_one_is_left_alone() {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let d = tempfile::tempdir().unwrap();
        let l = Layout::new(d.path(), d.path().join("logs"));
        ensure_log_root(&l).unwrap();
        assert_eq!(mode(l.log_root()), 0o750);
        std::fs::set_permissions(l.log_root(), std::fs::Permissions::from_mode(0o755)).unwrap();
        ensure_log_root(&l).unwrap();
        assert_eq!(mode(l.log_root()), 0o750);
        let shared = d.path().join("shared");
        std::fs::create_dir(&shared).unwrap();
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).unwrap();
        ensure_log_root(&Layout::new(d.path(), &shared)).unwrap();
        assert_eq!(
            std::fs::metadata(&shared).unwrap().permissions().mode() & 0o7777,
            0o1777
        );
    }
}
