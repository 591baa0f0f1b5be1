//! The server certificate: a self-signed one for the server's host (rcgen) when
//! none exists, the SHA-256 of a certificate's DER for the client to pin, a
//! private (0600) atomic write for the key, and the facts `server cert set|show`
//! and share links need about an operator's certificate ([`inspect`],
//! [`key_matches`], [`covers`], [`trust_for`]; parsed with x509-parser).

mod keyform;

use std::io;
use std::net::IpAddr;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};

use x509_parser::certificate::X509Certificate;
use x509_parser::error::X509Error;
use x509_parser::extensions::GeneralName;
use x509_parser::pem::Pem;
use x509_parser::prelude::FromDer;
use x509_parser::public_key::PublicKey;
use x509_parser::x509::SubjectPublicKeyInfo;
use xp2p_core::links::Trust;
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

/// Where a certificate's [`CertInfo::names`] come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameSource {
    /// The subjectAltName extension (what TLS clients check).
    SubjectAltName,
    /// No SAN: the subject's CN. Go clients (v2ray/xray) ignore the CN when
    /// verifying, so such a certificate only works pinned (self-signed).
    CommonName,
    /// Neither a SAN nor a CN.
    None,
}

/// The facts about a PEM certificate that `server cert show|set` report and
/// share links depend on. Holds no secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    /// The subject as RFC 4514-ish text (`CN=vpn.example.com, O=…`).
    pub subject: String,
    pub issuer: String,
    /// SAN DNS names and IP addresses (in the certificate's order), else the CN.
    pub names: Vec<String>,
    pub names_source: NameSource,
    pub not_before: SystemTime,
    pub not_after: SystemTime,
    /// `not_before` / `not_after` as RFC 3339 UTC (`2025-01-31T12:00:00Z`).
    pub not_before_rfc3339: String,
    pub not_after_rfc3339: String,
    /// Hex SHA-256 of the first certificate's DER: the pin ([`pem_cert_sha256`]).
    pub sha256: String,
    /// Issuer equals subject and (where the signature algorithm is one the
    /// parser can check) the certificate's own key verifies its signature.
    pub self_signed: bool,
    dns_names: Vec<String>,
    ip_addrs: Vec<IpAddr>,
}

/// The first `CERTIFICATE` block of a PEM text (DER).
fn first_cert_der(cert_pem: &str) -> Result<Vec<u8>, String> {
    for block in Pem::iter_from_buffer(cert_pem.as_bytes()) {
        let block = block.map_err(|e| format!("the certificate is not valid PEM: {e}"))?;
        if block.label == "CERTIFICATE" {
            return Ok(block.contents);
        }
    }
    Err("no PEM certificate block (-----BEGIN CERTIFICATE-----) found".into())
}

fn parse_cert(der: &[u8]) -> Result<X509Certificate<'_>, String> {
    let (_, cert) = X509Certificate::from_der(der)
        .map_err(|e| format!("the certificate does not parse as X.509: {e}"))?;
    Ok(cert)
}

/// Reads the first certificate of `cert_pem` (a chain's leaf comes first).
/// Errors are one line, without the file name (the caller names the file).
pub fn inspect(cert_pem: &str) -> Result<CertInfo, String> {
    let der = first_cert_der(cert_pem)?;
    let cert = parse_cert(&der)?;
    let mut dns_names = Vec::new();
    let mut ip_addrs = Vec::new();
    let mut names = Vec::new();
    let san = cert
        .subject_alternative_name()
        .map_err(|e| format!("the certificate's subjectAltName does not parse: {e}"))?;
    if let Some(san) = san {
        for n in &san.value.general_names {
            match n {
                GeneralName::DNSName(d) => {
                    names.push(d.to_string());
                    dns_names.push(d.to_ascii_lowercase());
                }
                GeneralName::IPAddress(raw) => {
                    if let Some(ip) = ip_from_bytes(raw) {
                        names.push(ip.to_string());
                        ip_addrs.push(ip);
                    }
                }
                _ => {}
            }
        }
    }
    let names_source = if !names.is_empty() {
        NameSource::SubjectAltName
    } else if let Some(cn) = cert
        .subject()
        .iter_common_name()
        .next()
        .and_then(|a| a.as_str().ok())
    {
        names.push(cn.to_string());
        match cn.parse::<IpAddr>() {
            Ok(ip) => ip_addrs.push(ip),
            Err(_) => dns_names.push(cn.to_ascii_lowercase()),
        }
        NameSource::CommonName
    } else {
        NameSource::None
    };
    let validity = cert.validity();
    let nb = validity.not_before.timestamp();
    let na = validity.not_after.timestamp();
    let same_name = cert.issuer().as_raw() == cert.subject().as_raw();
    let self_signed = same_name
        && match cert.verify_signature(None) {
            Ok(()) => true,
            // An algorithm ring cannot check: the names are all we can tell.
            Err(X509Error::SignatureUnsupportedAlgorithm) => true,
            // ring refuses RSA keys under 2048 bits (old self-signed certs):
            // also unverifiable here, not a wrong signer.
            Err(_) => rsa_below_2048(cert.public_key()),
        };
    Ok(CertInfo {
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        names,
        names_source,
        not_before: system_time(nb),
        not_after: system_time(na),
        not_before_rfc3339: rfc3339(nb),
        not_after_rfc3339: rfc3339(na),
        sha256: hex::encode(Sha256::digest(&der)),
        self_signed,
        dns_names,
        ip_addrs,
    })
}

fn rsa_below_2048(spki: &SubjectPublicKeyInfo<'_>) -> bool {
    matches!(spki.parsed(), Ok(PublicKey::RSA(rsa)) if rsa.key_size() < 2048)
}

fn ip_from_bytes(raw: &[u8]) -> Option<IpAddr> {
    match raw.len() {
        4 => <[u8; 4]>::try_from(raw).ok().map(IpAddr::from),
        16 => <[u8; 16]>::try_from(raw).ok().map(IpAddr::from),
        _ => None,
    }
}

fn system_time(unix: i64) -> SystemTime {
    let d = Duration::from_secs(unix.unsigned_abs());
    if unix >= 0 {
        UNIX_EPOCH.checked_add(d).unwrap_or(UNIX_EPOCH)
    } else {
        UNIX_EPOCH.checked_sub(d).unwrap_or(UNIX_EPOCH)
    }
}

/// Unix seconds as RFC 3339 UTC, for any year X.509 can hold (0000–9999),
/// including before 1970 (days-to-civil, H. Hinnant's algorithm).
fn rfc3339(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3_600,
        secs % 3_600 / 60,
        secs % 60
    )
}

/// Whether the private key in `key_pem` is the one whose public key the
/// certificate carries. The key may be PKCS#8 (`PRIVATE KEY`), PKCS#1
/// (`RSA PRIVATE KEY`) or SEC1 (`EC PRIVATE KEY`); RSA, ECDSA P-256/P-384 and
/// Ed25519. An unreadable key is an error (never `false`): its line says why.
pub fn key_matches(cert_pem: &str, key_pem: &str) -> Result<bool, String> {
    let der = first_cert_der(cert_pem)?;
    let cert = parse_cert(&der)?;
    let pkcs8 = keyform::pkcs8_der(key_pem)?;
    let key = rcgen::KeyPair::try_from(pkcs8.as_slice()).map_err(|e| {
        format!("the private key cannot be read ({e}); RSA 2048–8192, ECDSA P-256/P-384 or Ed25519 keys are supported")
    })?;
    let key_spki_der = key.public_key_der();
    let cert_spki = cert.public_key();
    if key_spki_der == cert_spki.raw {
        return Ok(true);
    }
    // Same key, different but equivalent AlgorithmIdentifier encoding (e.g. RSA
    // parameters NULL vs absent): compare the algorithm and the key bits.
    let (_, key_spki) = SubjectPublicKeyInfo::from_der(&key_spki_der)
        .map_err(|e| format!("cannot encode the private key's public key: {e}"))?;
    Ok(
        key_spki.algorithm.algorithm == cert_spki.algorithm.algorithm
            && key_spki.subject_public_key.data == cert_spki.subject_public_key.data,
    )
}

/// Whether the certificate's names cover `host` as a TLS client checks it: an
/// exact (case-insensitive) DNS match, a `*.` wildcard standing for exactly one
/// leftmost label, or, for an IP host (`[v6]` accepted), an equal IP name.
pub fn covers(info: &CertInfo, host: &str) -> bool {
    let host = host.trim();
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return info.ip_addrs.contains(&ip);
    }
    let host = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
    if host.is_empty() {
        return false;
    }
    info.dns_names.iter().any(|name| {
        let name = name.strip_suffix('.').unwrap_or(name);
        if let Some(suffix) = name.strip_prefix("*.") {
            match host.split_once('.') {
                Some((first, rest)) => !first.is_empty() && !suffix.is_empty() && rest == suffix,
                None => false,
            }
        } else {
            name == host
        }
    })
}

/// How a share link should make the client trust this certificate: pinned
/// (`allowInsecure=1` + the SHA-256) when it is self-signed, plain TLS
/// verification otherwise (it chains to a CA; which CA is the client's
/// business).
pub fn trust_for(cert_pem: &str) -> Result<Trust, String> {
    let info = inspect(cert_pem)?;
    Ok(if info.self_signed {
        Trust::Pinned {
            sha256: info.sha256,
        }
    } else {
        Trust::Verified
    })
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

    /// A test-only RSA key in the legacy PKCS#1 form (`openssl genrsa
    /// -traditional 2048`): ring cannot generate RSA keys, and operators' files
    /// often come in this form.
    const RSA_PKCS1_TEST_KEY: &str = "-----BEGIN RSA PRIVATE KEY-----
MIIEpQIBAAKCAQEAnN3OrbMKMhLQNCI1euuNHERABIfsIpiqDK1NcX1tk2xtj8NI
PyjhOeqeEC1m/2gorHEdJ9x0InTDZA/ARJuA55FkebPhFwgRrXlsdfXIZHN5RtJp
i31ecBiNmsGk8dHAcc+ig4EPpiV/w4T2MsOJ1NKWlWA8TojBNKH4QBiZzARhntEb
hNHOkXXUNWiGf3QFUXz4pogZdPYvV176IoD3XN8VKPfY/QrQuY5dVmjselHwXy1S
uXhIYkJIq6Sdap/KaREGa8/58pSNXrG48bsbx5SZTvKqwnPbweyRPlCK4F0Y2zZC
7MXgMHBm7iFSx5Rq2D24ZWdQEgyDpqeveXN3RwIDAQABAoIBAE2iPr/bfH/ErNMo
XQRtIEStiGtVo6mJmZs1h77Tnw/XmS+Nq6tKfZEOytRhy/g6YerZ/l50beuBkxPp
8bNirHyuiaXrvsoJvcn3bpTAo8EHHy3MQ9z7mmnq1OYS0SG2t8H7y0e+73JAW8d1
fe0otgWkhU7/Nkl9x/TW9kguhKshdux34C3tvgHWtFzVVCXrK45JQ0AEu3Qbf+kY
HT4VghJl0xyYdK3g1JlNCp/8XnaFynXaTsiznxKQ4BeEErHJ1QpS59c9YGLKBXdF
8oH/WVLODWEOoYS6GT09rZSaIEAv9bcUn9NgrLTyguZbE5Mav2IM1m8nqK3dktX6
jNBcVBUCgYEA2d24EbQgFqC+G500a163GF4kB95t8qW/jlqDr3FRoV8d67y20nbw
bi9/VDdHio8PH9Jyzw1dpejqCu8XajTloUqTIBaVTLV5+CV2VhLd4wwOnbGEmced
OT39lmYgqvFvmrMU0yOSxT8P0cUKatZacdA4DIFUo42k2vh29Y5izrUCgYEAuFLH
AMeLCEXcIg/rpFzNyfA2IgTTZoaLYsiZFYQ9vDI8Grofx1nXCh5rTautllICAr01
SkmSGS9EVpB0+7FbOBgym9XWU4cIY06WMusJOLs2a/PnWdTvpcCwcUMpLcgh/iOA
sy3JLck6ilkvQ4uIXlBQlhxXFxsRtFNteZyyL4sCgYEAwc+xGOaxiQ+0LyKZaE7Y
+O9+hBWGn859ayjwbtmTMchI+NZnmTE/z/WnAwcuOH/th3SSt8j/H0HlOpbZsJyg
Du0llu0gIh5rA6pn7EhaZcnrErPB73+ZSTvxZKMzun6PtwJKq03BGoFwFD+Cdep8
iTUfN1iyL9Eo77cLNIVXNuUCgYEAsaY2Xq3zdhm+vKWTe2pmfMajpc344cuy85Za
1L4LsiLIgwn4Lu6Lrxj6WnWobETF41Xw0pRt1xATUUsRNLQPMtU/kapbU03F69CG
OrUEwkTNguYkiBQOlTZN2BveyF0nRgV5uTfbueFEJqsmPndxC1VlFghid8aDHcV6
sccwhVkCgYEAy5ISvrsnP0fExTtuAFJbHsgXUWsVmEoeD+rEYWpe1yK198Y3wYtO
qlEH6MPpvTwHGoBrGcPjD00ZrwL3kW1YWM3ADh6Wj344/9+B0Bbym0fEF5D0cf/E
KuerQZc34I65Eh1TKkPffpTCN+CnBtwTkLujIpe0N9MH8wCCQaE7yhI=
-----END RSA PRIVATE KEY-----
";

    /// A self-signed RSA-1024 certificate (`openssl req -x509 -newkey
    /// rsa:1024`): ring cannot verify keys that small.
    const RSA1024_SELF_SIGNED: &str = "-----BEGIN CERTIFICATE-----
MIICLjCCAZegAwIBAgIUYbjh3zr9k+myDFJUxoP8jlVcJtEwDQYJKoZIhvcNAQEL
BQAwGjEYMBYGA1UEAwwPb2xkLmV4YW1wbGUuY29tMCAXDTI2MTIwMTA1NDI1OVoY
DzIxMjYxMTA3MDU0MjU5WjAaMRgwFgYDVQQDDA9vbGQuZXhhbXBsZS5jb20wgZ8w
DQYJKoZIhvcNAQEBBQADgY0AMIGJAoGBALP8Doyk6tHJGIoy3lQpRQIV5EDzV6vS
kfKTcnBg/1nJbpB8UTTwwsCpXnjgl4MkRWZsEG6hYLqnsx/Ajrw3wcEQw+UP8vMW
4CHvWi9nLUCSail/yU9kZDQtOV2zwk3Y6J38LpfT4+9sftbixAk6nzl0hBneINSk
xTgRx5o82tUzAgMBAAGjbzBtMB0GA1UdDgQWBBSTfdJNlfizAbZn+nNFXITItZHa
MzAfBgNVHSMEGDAWgBSTfdJNlfizAbZn+nNFXITItZHaMzAPBgNVHRMBAf8EBTAD
AQH/MBoGA1UdEQQTMBGCD29sZC5leGFtcGxlLmNvbTANBgkqhkiG9w0BAQsFAAOB
gQA3HLzDjcMBspaXrU4Ea5GyUPTEzlCu8smFFjVStgEfGabEpB0HyDTCu47bP8ph
vNgyas8504Afl5r5QcxdcBo+rN0A6znxOPUcsI5qNr7EhQBu7MdsoX09ODc/LklO
QPsEcRdI/EpFETjXpksBvpYwNubEWvaYeEzGv11WtmfIwA==
-----END CERTIFICATE-----
";

    fn params(sans: &[&str], cn: &str) -> rcgen::CertificateParams {
        let mut p =
            rcgen::CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .unwrap();
        p.distinguished_name = rcgen::DistinguishedName::new();
        p.distinguished_name.push(rcgen::DnType::CommonName, cn);
        p
    }

    /// A CA and a leaf for `vpn.example.com` signed by it; the CA's DN is
    /// `ca_cn`. Returns (leaf cert PEM, leaf key PEM).
    fn ca_signed_leaf(ca_cn: &str) -> (String, String) {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = params(&[], ca_cn);
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let leaf_key = rcgen::KeyPair::generate().unwrap();
        let leaf = params(&["vpn.example.com"], "vpn.example.com")
            .signed_by(&leaf_key, &ca, &ca_key)
            .unwrap();
        (leaf.pem(), leaf_key.serialize_pem())
    }

    #[test]
    fn cert_inspect_self_signed() {
        let g = generate("vpn.example.com").unwrap();
        let info = inspect(&g.cert_pem).unwrap();
        assert_eq!(info.names, vec!["vpn.example.com".to_string()]);
        assert_eq!(info.names_source, NameSource::SubjectAltName);
        assert_eq!(Some(info.sha256.clone()), pem_cert_sha256(&g.cert_pem));
        assert_eq!(info.sha256, g.sha256);
        assert!(info.self_signed);
        assert_eq!(info.subject, info.issuer);
        assert!(info.not_before < info.not_after);
        assert!(info.not_before <= SystemTime::now());
        assert_eq!(
            trust_for(&g.cert_pem).unwrap(),
            Trust::Pinned {
                sha256: g.sha256.clone()
            }
        );
        // A chain file: the leaf (first block) is the one described.
        let other = generate("other.example.com").unwrap();
        let chain = format!("{}{}", g.cert_pem, other.cert_pem);
        assert_eq!(inspect(&chain).unwrap().sha256, g.sha256);
        // Text before the block (openssl x509 -text output) is skipped.
        let noisy = format!("Certificate:\n    Data: ...\n{}", g.cert_pem);
        assert_eq!(inspect(&noisy).unwrap().sha256, g.sha256);
    }

    #[test]
    fn cert_inspect_validity_and_ip_names() {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut p = params(&["203.0.113.7", "2001:db8::1", "vpn.example.com"], "x");
        p.not_before = rcgen::date_time_ymd(2020, 2, 29);
        p.not_after = rcgen::date_time_ymd(2049, 12, 31);
        let pem = p.self_signed(&key).unwrap().pem();
        let info = inspect(&pem).unwrap();
        assert_eq!(
            info.names,
            vec!["203.0.113.7", "2001:db8::1", "vpn.example.com"]
        );
        assert_eq!(info.not_before_rfc3339, "2020-02-29T00:00:00Z");
        assert_eq!(info.not_after_rfc3339, "2049-12-31T00:00:00Z");
        assert_eq!(
            info.not_before,
            UNIX_EPOCH + Duration::from_secs(1_582_934_400)
        );
        assert_eq!(info.subject, "CN=x");
    }

    #[test]
    fn cert_rfc3339_any_year() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        // RFC 5280's "no well-defined expiration": 99991231235959Z.
        assert_eq!(rfc3339(253_402_300_799), "9999-12-31T23:59:59Z");
        assert_eq!(system_time(-10), UNIX_EPOCH - Duration::from_secs(10));
    }

    #[test]
    fn cert_small_rsa_self_signed_falls_back_to_names() {
        let info = inspect(RSA1024_SELF_SIGNED).unwrap();
        assert!(info.self_signed);
        assert_eq!(info.names, vec!["old.example.com"]);
        assert!(matches!(
            trust_for(RSA1024_SELF_SIGNED).unwrap(),
            Trust::Pinned { .. }
        ));
    }

    #[test]
    fn cert_ca_signed_leaf_is_not_self_signed() {
        let (leaf, leaf_key) = ca_signed_leaf("Test CA");
        let info = inspect(&leaf).unwrap();
        assert!(!info.self_signed);
        assert_eq!(info.issuer, "CN=Test CA");
        assert_eq!(trust_for(&leaf).unwrap(), Trust::Verified);
        assert!(key_matches(&leaf, &leaf_key).unwrap());
        // Issuer name equal to the subject, but signed by another key: the
        // signature check tells them apart.
        let (leaf, _) = ca_signed_leaf("vpn.example.com");
        let info = inspect(&leaf).unwrap();
        assert_eq!(info.issuer, info.subject);
        assert!(!info.self_signed);
    }

    #[test]
    fn cert_key_matches_only_its_own_key() {
        let g = generate("vpn.example.com").unwrap();
        let other = generate("vpn.example.com").unwrap();
        assert!(key_matches(&g.cert_pem, &g.key_pem).unwrap());
        assert!(!key_matches(&g.cert_pem, &other.key_pem).unwrap());
        // Another algorithm entirely.
        let ed = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
        assert!(!key_matches(&g.cert_pem, &ed.serialize_pem()).unwrap());
        let ed_cert = params(&["ed.example.com"], "ed")
            .self_signed(&ed)
            .unwrap()
            .pem();
        assert!(key_matches(&ed_cert, &ed.serialize_pem()).unwrap());
        assert!(inspect(&ed_cert).unwrap().self_signed);
    }

    #[test]
    fn cert_key_matches_legacy_rsa_pkcs1() {
        let der = keyform::pkcs8_der(RSA_PKCS1_TEST_KEY).unwrap();
        let key = rcgen::KeyPair::try_from(der.as_slice()).unwrap();
        let cert = params(&["rsa.example.com"], "rsa")
            .self_signed(&key)
            .unwrap()
            .pem();
        assert!(key_matches(&cert, RSA_PKCS1_TEST_KEY).unwrap());
        assert!(inspect(&cert).unwrap().self_signed);
        let ec = generate("rsa.example.com").unwrap();
        assert!(!key_matches(&cert, &ec.key_pem).unwrap());
        assert!(!key_matches(&ec.cert_pem, RSA_PKCS1_TEST_KEY).unwrap());
    }

    #[test]
    fn cert_garbage_gives_one_line_errors() {
        let g = generate("vpn.example.com").unwrap();
        let bad_b64 = "-----BEGIN CERTIFICATE-----\n!!!notbase64!!!\n-----END CERTIFICATE-----\n";
        let not_x509 = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        for (input, want) in [
            ("garbage", "no PEM certificate block"),
            ("", "no PEM certificate block"),
            (g.key_pem.as_str(), "no PEM certificate block"),
            (bad_b64, "not valid PEM"),
            (not_x509, "does not parse as X.509"),
        ] {
            let e = inspect(input).unwrap_err();
            assert!(e.contains(want), "{input:?}: {e}");
            assert!(!e.contains('\n'), "{e}");
            assert!(trust_for(input).is_err());
            assert!(key_matches(input, &g.key_pem).is_err());
        }
        for key in ["garbage", g.cert_pem.as_str()] {
            let e = key_matches(&g.cert_pem, key).unwrap_err();
            assert!(e.contains("no PEM private key"), "{e}");
        }
        let bad_key = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
        let e = key_matches(&g.cert_pem, bad_key).unwrap_err();
        assert!(e.contains("cannot be read") && !e.contains('\n'), "{e}");
    }

    #[test]
    fn cert_covers_table() {
        let key = rcgen::KeyPair::generate().unwrap();
        let pem = params(
            &[
                "vpn.example.com",
                "*.edge.example.net",
                "192.0.2.10",
                "2001:db8::5",
            ],
            "ignored.example.org",
        )
        .self_signed(&key)
        .unwrap()
        .pem();
        let info = inspect(&pem).unwrap();
        for (host, want) in [
            ("vpn.example.com", true),
            ("VPN.Example.COM", true),
            ("vpn.example.com.", true),
            ("example.com", false),
            ("a.vpn.example.com", false),
            ("ignored.example.org", false), // CN is ignored when SANs exist
            ("a.edge.example.net", true),
            ("edge.example.net", false),
            ("a.b.edge.example.net", false),
            (".edge.example.net", false),
            ("192.0.2.10", true),
            ("192.0.2.11", false),
            ("2001:db8::5", true),
            ("[2001:db8::5]", true),
            ("2001:db8:0::5", true),
            ("2001:db8::6", false),
            ("", false),
        ] {
            assert_eq!(covers(&info, host), want, "{host}");
        }
        // CN only: the CN is the name (and an IP CN matches as an IP).
        let cn_only = params(&[], "legacy.example.com")
            .self_signed(&key)
            .unwrap()
            .pem();
        let info = inspect(&cn_only).unwrap();
        assert_eq!(info.names_source, NameSource::CommonName);
        assert_eq!(info.names, vec!["legacy.example.com"]);
        assert!(covers(&info, "legacy.example.com"));
        assert!(!covers(&info, "other.example.com"));
        let ip_cn = params(&[], "198.51.100.1").self_signed(&key).unwrap().pem();
        assert!(covers(&inspect(&ip_cn).unwrap(), "198.51.100.1"));
        // A DNS-looking wildcard never covers an IP host.
        let wild = params(&["*.0.2.10"], "w").self_signed(&key).unwrap().pem();
        assert!(!covers(&inspect(&wild).unwrap(), "192.0.2.10"));
        // No names at all.
        let mut anon = params(&[], "x");
        anon.distinguished_name = rcgen::DistinguishedName::new();
        let info = inspect(&anon.self_signed(&key).unwrap().pem()).unwrap();
        assert_eq!(info.names_source, NameSource::None);
        assert!(info.names.is_empty() && !covers(&info, "x"));
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
