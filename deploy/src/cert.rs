//! The server certificate: a self-signed one for the server's host (rcgen) when
//! none exists, the SHA-256 of a certificate's DER for the client to pin, and a
//! private (0600) atomic write for the key.

use std::io;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};

use xp2p_core::secrets::SecretAccess;
use xp2p_store::atomic::write_secret;

/// A freshly generated certificate and key, PEM.
#[derive(Clone, PartialEq, Eq)]
pub struct GeneratedCert {
    pub cert_pem: String,
    pub key_pem: String,
    pub sha256: String,
}

impl std::fmt::Debug for GeneratedCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeneratedCert")
            .field("sha256", &self.sha256)
            .finish_non_exhaustive()
    }
}

/// A self-signed certificate for `host` (a DNS name or an IP).
pub fn generate(host: &str) -> Result<GeneratedCert, String> {
    let ck = rcgen::generate_simple_self_signed(vec![host.to_string()])
        .map_err(|e| format!("cannot generate a certificate for {host}: {e}"))?;
    let cert_pem = ck.cert.pem();
    Ok(GeneratedCert {
        sha256: hex::encode(Sha256::digest(ck.cert.der().as_ref())),
        cert_pem,
        key_pem: ck.key_pair.serialize_pem(),
    })
}

/// Hex SHA-256 of the first certificate's DER in a PEM text.
pub fn pem_cert_sha256(pem: &str) -> Option<String> {
    let mut inside = false;
    let mut b64 = String::new();
    for line in pem.lines() {
        let line = line.trim();
        if line == "-----BEGIN CERTIFICATE-----" {
            inside = true;
        } else if line == "-----END CERTIFICATE-----" {
            break;
        } else if inside {
            b64.push_str(line);
        }
    }
    if b64.is_empty() {
        return None;
    }
    let der = STANDARD.decode(b64).ok()?;
    Some(hex::encode(Sha256::digest(&der)))
}

/// Writes `bytes` atomically with mode 0600 (a private key: never readable by
/// the socket group either); a key being replaced keeps its mode and owner.
pub fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_secret(path, bytes, SecretAccess::OWNER_ONLY)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn generated_cert_hash_matches_its_pem() {
        let g = generate("vpn.example.com").unwrap();
        assert_eq!(
            pem_cert_sha256(&g.cert_pem).as_deref(),
            Some(g.sha256.as_str())
        );
        assert_eq!(g.sha256.len(), 64);
        assert!(g.key_pem.contains("PRIVATE KEY"));
        assert!(!format!("{g:?}").contains("PRIVATE"));
        assert_eq!(pem_cert_sha256("nothing"), None);
    }

    #[test]
    fn private_write_is_0600() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("tls").join("key.pem");
        write_private(&p, b"k").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"k");
        // No modes where the ACL governs (Windows).
        let mode = xp2p_platform::fsperm::mode_of(&fs::metadata(&p).unwrap());
        assert_eq!(mode, xp2p_platform::fsperm::HAS_MODES.then_some(0o600));
    }
}
