//! One consistent read of a role's Desired file set (its digest is the
//! domain's, `xp2p_core::digest`).
//!
//! `desired_digest` = sha256 over the sorted (path, content-or-missing) pairs of
//! the role's TOML, every file in its snippet folder and, for the server, the
//! certificate and key it names. The compiler parses exactly the bytes read here,
//! so a digest taken again after compiling tells whether Desired moved meanwhile.

use std::collections::BTreeMap;
use std::io;
use std::path::Path;

pub use xp2p_core::digest::*;
use xp2p_core::layout::Layout;
use xp2p_core::role::Role;

/// Bounded, non-blocking read of an operator file (a FIFO, a device or a
/// directory is refused by name, never read).
fn read_opt(path: &Path, max: u64) -> io::Result<Option<Vec<u8>>> {
    Ok(xp2p_platform::fsread::read_operator_file_opt(path, max)?)
}

pub fn read_desired(layout: &Layout, role: Role) -> io::Result<DesiredFiles> {
    let toml = read_opt(&layout.desired_toml(role), xp2p_platform::fsread::MAX_TOML)?;
    let mut snippets = BTreeMap::new();
    match std::fs::read_dir(layout.snippets_dir(role)) {
        Ok(dir) => {
            for entry in dir {
                let entry = entry?;
                let name = entry.file_name().to_string_lossy().into_owned();
                if xp2p_core::snippets::is_ignored_name(&name) {
                    continue;
                }
                // Symlinks are followed like the TOML's; anything but a regular
                // file (a directory, a FIFO, a device) is refused by name.
                match read_opt(&entry.path(), xp2p_platform::fsread::MAX_SNIPPET)? {
                    Some(bytes) => {
                        snippets.insert(name, bytes);
                    }
                    None if entry.path().symlink_metadata().is_ok() => {
                        return Err(io::Error::new(
                            io::ErrorKind::NotFound,
                            format!("{} is a symlink to a missing file", entry.path().display()),
                        ));
                    }
                    None => {}
                }
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let mut assets = BTreeMap::new();
    if role == Role::Server
        && let Some(t) = &toml
    {
        for p in server_asset_paths(t) {
            if !p.is_empty() {
                let content = read_opt(&layout.resolve_asset(&p), xp2p_platform::fsread::MAX_PEM)?;
                assets.insert(p, content);
            }
        }
    }
    Ok(DesiredFiles {
        role,
        toml,
        snippets,
        assets,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_tracks_every_input() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path(), dir.path().join("logs"));
        let empty = read_desired(&layout, Role::Client).unwrap();
        assert!(empty.is_absent());
        std::fs::write(layout.desired_toml(Role::Client), "[client]\n").unwrap();
        let a = read_desired(&layout, Role::Client).unwrap();
        assert_ne!(a.digest(), empty.digest());
        std::fs::create_dir_all(layout.snippets_dir(Role::Client)).unwrap();
        std::fs::write(
            layout
                .snippets_dir(Role::Client)
                .join("outbounds.append.json"),
            "{}",
        )
        .unwrap();
        let b = read_desired(&layout, Role::Client).unwrap();
        assert_ne!(a.digest(), b.digest());
        assert_eq!(
            b.digest(),
            read_desired(&layout, Role::Client).unwrap().digest()
        );
    }

    #[test]
    fn server_digest_covers_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path(), dir.path().join("logs"));
        std::fs::write(
            layout.desired_toml(Role::Server),
            "[server]\ncertificate = \"c.pem\"\n",
        )
        .unwrap();
        let a = read_desired(&layout, Role::Server).unwrap();
        std::fs::write(dir.path().join("c.pem"), "x").unwrap();
        let b = read_desired(&layout, Role::Server).unwrap();
        assert_ne!(a.digest(), b.digest());
    }
}
