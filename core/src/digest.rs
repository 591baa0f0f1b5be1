//! One consistent read of a role's Desired file set, and its digest.
//!
//! `desired_digest` = sha256 over the sorted (path, content-or-missing) pairs of
//! the role's TOML, every file in its snippet folder and, for the server, the
//! certificate and key it names. The compiler parses exactly the bytes read here,
//! so a digest taken again after compiling tells whether Desired moved meanwhile.

use std::collections::BTreeMap;
use std::io;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::layout::Layout;
use crate::role::Role;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredFiles {
    pub role: Role,
    /// `xp2p-<role>.toml`, `None` when missing.
    pub toml: Option<Vec<u8>>,
    /// Every regular file of `config-<role>/` by file name (unknown names included,
    /// so the compiler can report them).
    pub snippets: BTreeMap<String, Vec<u8>>,
    /// Server certificate and key (relative-to-root path as written, content).
    pub assets: BTreeMap<String, Option<Vec<u8>>>,
}

/// Bounded, non-blocking read of an operator file (a FIFO, a device or a
/// directory is refused by name, never read).
fn read_opt(path: &Path, max: u64) -> io::Result<Option<Vec<u8>>> {
    Ok(crate::fsread::read_operator_file_opt(path, max)?)
}

/// Extracts the asset paths a server TOML names, tolerating any parse failure
/// (the compiler reports those).
fn server_asset_paths(toml_bytes: &[u8]) -> Vec<String> {
    #[derive(serde::Deserialize)]
    struct Partial {
        server: Option<PartialServer>,
    }
    #[derive(serde::Deserialize)]
    struct PartialServer {
        certificate: Option<String>,
        key: Option<String>,
    }
    let defaults = crate::desired::ServerSection::default();
    let parsed = std::str::from_utf8(toml_bytes)
        .ok()
        .and_then(|s| toml::from_str::<Partial>(s).ok())
        .and_then(|p| p.server);
    match parsed {
        Some(s) => vec![
            s.certificate.unwrap_or(defaults.certificate),
            s.key.unwrap_or(defaults.key),
        ],
        None => vec![defaults.certificate, defaults.key],
    }
}

pub fn read_desired(layout: &Layout, role: Role) -> io::Result<DesiredFiles> {
    let toml = read_opt(&layout.desired_toml(role), crate::fsread::MAX_TOML)?;
    let mut snippets = BTreeMap::new();
    match std::fs::read_dir(layout.snippets_dir(role)) {
        Ok(dir) => {
            for entry in dir {
                let entry = entry?;
                let name = entry.file_name().to_string_lossy().into_owned();
                if crate::snippets::is_ignored_name(&name) {
                    continue;
                }
                // Symlinks are followed like the TOML's; anything but a regular
                // file (a directory, a FIFO, a device) is refused by name.
                match read_opt(&entry.path(), crate::fsread::MAX_SNIPPET)? {
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
                let content = read_opt(&layout.resolve_asset(&p), crate::fsread::MAX_PEM)?;
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

impl DesiredFiles {
    /// True when the role has no Desired TOML at all.
    pub fn is_absent(&self) -> bool {
        self.toml.is_none()
    }

    pub fn digest(&self) -> String {
        let mut entries: Vec<(String, Option<&[u8]>)> = Vec::new();
        entries.push((format!("xp2p-{}.toml", self.role), self.toml.as_deref()));
        for (name, bytes) in &self.snippets {
            entries.push((format!("config-{}/{name}", self.role), Some(bytes)));
        }
        for (path, bytes) in &self.assets {
            entries.push((format!("asset:{path}"), bytes.as_deref()));
        }
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        let mut h = Sha256::new();
        for (path, content) in entries {
            h.update(path.as_bytes());
            h.update([0u8]);
            match content {
                None => h.update(b"missing"),
                Some(c) => {
                    h.update((c.len() as u64).to_le_bytes());
                    h.update(c);
                }
            }
            h.update([0u8]);
        }
        hex::encode(h.finalize())
    }
}

/// Hex sha256 of bytes (config hashes).
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
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
