//! A role's Desired file set (as one consistent read gives it: the read is
//! `xp2p_store::digest::read_desired`) and its digest.
//!
//! `desired_digest` = sha256 over the sorted (path, content-or-missing) pairs of
//! the role's TOML, every file in its snippet folder and, for the server, the
//! certificate and key it names. The compiler parses exactly the bytes read here,
//! so a digest taken again after compiling tells whether Desired moved meanwhile.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

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

/// Extracts the asset paths a server TOML names, tolerating any parse failure
/// (the compiler reports those).
pub fn server_asset_paths(toml_bytes: &[u8]) -> Vec<String> {
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
