//! Which access secret-holding files get on a root (`[service] socket_group`),
//! the group lookup, and the files that hold secrets (for `validate`'s warning).

use std::path::Path;

use xp2p_core::layout::Layout;
use xp2p_core::role::Role;
pub use xp2p_core::secrets::SecretAccess;

/// The access the operator's files get on this root: group-readable by
/// `[service] socket_group` when a role's TOML sets it (to a group that
/// exists), else owner only.
pub fn for_layout(layout: &Layout) -> SecretAccess {
    SecretAccess {
        gid: socket_group_name(layout).and_then(|n| group_gid(&n)),
    }
}

/// `[service] socket_group` of the first role TOML that sets it (client first),
/// tolerant of any parse error.
fn socket_group_name(layout: &Layout) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Partial {
        service: Option<PartialService>,
    }
    #[derive(serde::Deserialize)]
    struct PartialService {
        socket_group: Option<String>,
    }
    Role::ALL.into_iter().find_map(|role| {
        let bytes = xp2p_platform::fsread::read_operator_file(
            &layout.desired_toml(role),
            xp2p_platform::fsread::MAX_TOML,
        )
        .ok()?;
        let text = std::str::from_utf8(&bytes).ok()?;
        toml::from_str::<Partial>(text)
            .ok()?
            .service?
            .socket_group
            .filter(|g| !g.is_empty())
    })
}

/// Resolves a group name (or a numeric gid) through `/etc/group`.
pub fn group_gid(name: &str) -> Option<u32> {
    if name.is_empty() {
        return None;
    }
    if let Ok(gid) = name.parse() {
        return Some(gid);
    }
    let bytes =
        xp2p_platform::fsread::read_operator_file(Path::new("/etc/group"), 16 << 20).ok()?;
    let text = String::from_utf8_lossy(&bytes);
    text.lines().find_map(|l| {
        let mut f = l.split(':');
        (f.next() == Some(name))
            .then(|| f.nth(1).and_then(|g| g.parse().ok()))
            .flatten()
    })
}

/// `Some(mode)` when `path` (a file holding secrets) is readable by others;
/// `None` when it is private or missing.
///
/// Where files have no modes (Windows) the ACL governs and this is `None`.
pub fn world_readable(path: &Path) -> Option<u32> {
    let mode = xp2p_platform::fsperm::mode_of(&std::fs::metadata(path).ok()?)?;
    (mode & 0o004 != 0).then_some(mode)
}

/// `[server] key` as written (the default when unset or unparsable).
fn server_key_path(layout: &Layout) -> String {
    #[derive(serde::Deserialize)]
    struct Partial {
        server: Option<PartialServer>,
    }
    #[derive(serde::Deserialize)]
    struct PartialServer {
        key: Option<String>,
    }
    xp2p_platform::fsread::read_operator_file(
        &layout.desired_toml(Role::Server),
        xp2p_platform::fsread::MAX_TOML,
    )
    .ok()
    .and_then(|b| String::from_utf8(b).ok())
    .and_then(|t| toml::from_str::<Partial>(&t).ok())
    .and_then(|p| p.server?.key)
    .filter(|k| !k.is_empty())
    .unwrap_or_else(|| xp2p_core::desired::ServerSection::default().key)
}

/// Every file on this root that holds a credential or a key: each role's
/// TOML, its snippets, the server's key, Live and LKG.
pub fn secret_files(layout: &Layout) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for role in Role::ALL {
        out.push(layout.desired_toml(role));
        if let Ok(dir) = std::fs::read_dir(layout.snippets_dir(role)) {
            let mut names: Vec<_> = dir.flatten().map(|e| e.path()).collect();
            names.sort();
            out.extend(names.into_iter().filter(|p| p.is_file()));
        }
        for slot in [layout.live_dir(role), layout.lkg_dir(role)] {
            out.push(slot.join("xray.json"));
            out.push(slot.join("runtime.json"));
        }
    }
    out.push(layout.resolve_asset(&server_key_path(layout)));
    out.retain(|p| p.is_file());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn access_follows_socket_group() {
        let d = tempfile::tempdir().unwrap();
        let layout = Layout::new(d.path(), d.path().join("logs"));
        assert_eq!(for_layout(&layout), SecretAccess::OWNER_ONLY);
        assert_eq!(SecretAccess::OWNER_ONLY.mode(), 0o600);
        std::fs::write(
            layout.desired_toml(Role::Server),
            "[service]\nsocket_group = \"4242\"\n",
        )
        .unwrap();
        let a = for_layout(&layout);
        assert_eq!(a.gid, Some(4242));
        assert_eq!(a.mode(), 0o640);
    }

    #[test]
    fn world_readable_names_the_mode() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("k.pem");
        std::fs::write(&p, "k").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(world_readable(&p), Some(0o644));
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o640)).unwrap();
        assert_eq!(world_readable(&p), None);
    }
}
