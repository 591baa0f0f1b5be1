//! The deploy link: `xp2p+deploy://<host>:<port>?v=1&user=<label>&exp=<unix>&role=client#<secret>`.
//!
//! The secret (32 random bytes, base64url without padding) sits in the fragment.
//! Every other part is bound into the session keys through [`DeployLink::binding`],
//! so a link whose host, port, user, expiry, role or version was altered derives
//! different keys and its first sealed message fails to open.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use super::random::{self, RandomError};
use crate::desired::names::is_host;
use xp2p_core::links::{is_unreserved, pct_decode, pct_encode};

pub const SCHEME: &str = "xp2p+deploy";
/// The protocol version carried in `v=`.
pub const VERSION: u32 = 1;
pub const SECRET_LEN: usize = 32;
/// The only role a deploy link names: the client made it, the server consumes it.
pub const ROLE: &str = "client";
/// The default deploy port (`--port`, `--listen`).
pub const DEFAULT_PORT: u16 = 62025;
/// Longer input is refused before parsing.
const MAX_LINK_LEN: usize = 2048;
const MAX_USER_LEN: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("not a deploy link: {0}")]
    Malformed(String),
    #[error("deploy link version {0} is not supported (this xp2p speaks v={VERSION})")]
    UnsupportedVersion(String),
    #[error("{0}")]
    Random(#[from] RandomError),
}

fn malformed(msg: impl Into<String>) -> LinkError {
    LinkError::Malformed(msg.into())
}

/// The link's 32-byte secret. Its `Debug` never shows the bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret([u8; SECRET_LEN]);

impl Secret {
    pub fn generate() -> Result<Secret, RandomError> {
        random::bytes().map(Secret)
    }

    pub fn from_bytes(b: [u8; SECRET_LEN]) -> Secret {
        Secret(b)
    }

    pub fn as_bytes(&self) -> &[u8; SECRET_LEN] {
        &self.0
    }

    pub fn to_b64(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.0)
    }

    pub fn from_b64(s: &str) -> Result<Secret, LinkError> {
        let bytes = URL_SAFE_NO_PAD
            .decode(s)
            .map_err(|_| malformed("the secret after `#` is not base64url"))?;
        let arr: [u8; SECRET_LEN] = bytes
            .try_into()
            .map_err(|_| malformed("the secret after `#` must be 32 bytes"))?;
        Ok(Secret(arr))
    }

    /// A one-way name of the secret (hex SHA-256 with a domain prefix), safe to
    /// store: remembering used links never keeps the secret itself.
    pub fn fingerprint(&self) -> String {
        let mut h = Sha256::new();
        h.update(b"xp2p-deploy used-link\n");
        h.update(self.0);
        hex::encode(h.finalize())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// A user label: 1–64 of `A-Z a-z 0-9 . _ @ + -` (it becomes a core `email`).
pub fn is_user_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_USER_LEN
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'@' | b'+' | b'-'))
}

/// A parsed deploy link. `Debug` hides the secret; [`DeployLink::to_link_string`]
/// is the one place the secret is rendered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeployLink {
    /// Host name or IP the client dials and the server answers as.
    pub host: String,
    /// The deploy port the server listens on.
    pub port: u16,
    /// The user label the server will create.
    pub user: String,
    /// Expiry, seconds since the Unix epoch.
    pub exp: u64,
    pub secret: Secret,
}

fn host_for_url(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    }
}

impl DeployLink {
    /// A new link; checks the host and the user label.
    pub fn new(
        host: &str,
        port: u16,
        user: &str,
        exp: u64,
        secret: Secret,
    ) -> Result<DeployLink, LinkError> {
        if !is_host(host) {
            return Err(malformed(format!("`{host}` is not a host name or IP")));
        }
        if port == 0 {
            return Err(malformed("the port must be 1-65535"));
        }
        if !is_user_label(user) {
            return Err(malformed(format!(
                "user `{user}` must be 1-64 of letters, digits, `.`, `_`, `@`, `+`, `-`"
            )));
        }
        Ok(DeployLink {
            host: host.to_string(),
            port,
            user: user.to_string(),
            exp,
            secret,
        })
    }

    /// `host:port` to dial (IPv6 in brackets).
    pub fn addr(&self) -> String {
        format!("{}:{}", host_for_url(&self.host), self.port)
    }

    /// The canonical link without its secret: every parameter the keys are bound to.
    pub fn binding(&self) -> String {
        format!(
            "{SCHEME}://{}?v={VERSION}&user={}&exp={}&role={ROLE}",
            self.addr(),
            pct_encode(&self.user, |b| is_unreserved(b) || b == b'@'),
            self.exp
        )
    }

    /// The whole link, secret included (what the operator copies).
    pub fn to_link_string(&self) -> String {
        format!("{}#{}", self.binding(), self.secret.to_b64())
    }

    /// True once `now_unix` reaches the expiry.
    pub fn is_expired(&self, now_unix: u64) -> bool {
        now_unix >= self.exp
    }

    /// Parses a link; strict about every part, tolerant of surrounding blanks.
    pub fn parse(input: &str) -> Result<DeployLink, LinkError> {
        let s = input.trim();
        if s.len() > MAX_LINK_LEN {
            return Err(malformed("too long"));
        }
        let prefix = format!("{SCHEME}://");
        let rest = match s.get(..prefix.len()) {
            Some(p) if p.eq_ignore_ascii_case(&prefix) => &s[prefix.len()..],
            _ => return Err(malformed(format!("it must start with {prefix}"))),
        };
        let (rest, fragment) = rest
            .split_once('#')
            .ok_or_else(|| malformed("the secret (`#…`) is missing"))?;
        let secret = Secret::from_b64(fragment)?;
        let (authority, query) = rest
            .split_once('?')
            .ok_or_else(|| malformed("the query (`?v=1&…`) is missing"))?;
        let (host, port) = parse_authority(authority)?;

        let (mut v, mut user, mut exp, mut role) = (None, None, None, None);
        for pair in query.split('&') {
            let (k, val) = pair
                .split_once('=')
                .ok_or_else(|| malformed(format!("query item `{pair}` has no `=`")))?;
            let val = pct_decode(val)
                .ok_or_else(|| malformed(format!("query item `{k}` is badly escaped")))?;
            let slot = match k {
                "v" => &mut v,
                "user" => &mut user,
                "exp" => &mut exp,
                "role" => &mut role,
                other => return Err(malformed(format!("unknown query item `{other}`"))),
            };
            if slot.replace(val).is_some() {
                return Err(malformed(format!("query item `{k}` appears twice")));
            }
        }
        let v = v.ok_or_else(|| malformed("`v=` is missing"))?;
        if v != VERSION.to_string() {
            return Err(LinkError::UnsupportedVersion(v));
        }
        let role = role.ok_or_else(|| malformed("`role=` is missing"))?;
        if role != ROLE {
            return Err(malformed(format!("role must be `{ROLE}`, got `{role}`")));
        }
        let exp = exp
            .ok_or_else(|| malformed("`exp=` is missing"))?
            .parse::<u64>()
            .map_err(|_| malformed("`exp=` must be a Unix time in seconds"))?;
        let user = user.ok_or_else(|| malformed("`user=` is missing"))?;
        DeployLink::new(&host, port, &user, exp, secret)
    }
}

fn parse_authority(a: &str) -> Result<(String, u16), LinkError> {
    let (host, port) = if let Some(rest) = a.strip_prefix('[') {
        let (h, p) = rest
            .split_once("]:")
            .ok_or_else(|| malformed("an IPv6 host must look like [::1]:62025"))?;
        if h.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(malformed(format!("`{h}` is not an IPv6 address")));
        }
        (h, p)
    } else {
        a.rsplit_once(':')
            .ok_or_else(|| malformed("the port is missing (host:port)"))?
    };
    if host.contains(':') && !a.starts_with('[') {
        return Err(malformed("an IPv6 host must be in brackets"));
    }
    let port = port
        .parse::<u16>()
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| malformed(format!("`{port}` is not a port (1-65535)")))?;
    Ok((host.to_string(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link() -> DeployLink {
        DeployLink::new(
            "vpn.example.com",
            62025,
            "alice@xp2p.local",
            1_900_000_000,
            Secret::from_bytes([7; 32]),
        )
        .unwrap()
    }

    #[test]
    fn formats_and_parses_back() {
        let l = link();
        let s = l.to_link_string();
        assert_eq!(
            s,
            "xp2p+deploy://vpn.example.com:62025?v=1&user=alice@xp2p.local&exp=1900000000&role=client#BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc"
        );
        assert_eq!(DeployLink::parse(&s).unwrap(), l);
        // Escaped and reordered query items mean the same link.
        let alt = "xp2p+deploy://vpn.example.com:62025?role=client&exp=1900000000&user=alice%40xp2p.local&v=1#BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc";
        assert_eq!(DeployLink::parse(alt).unwrap(), l);
        assert_eq!(DeployLink::parse(alt).unwrap().binding(), l.binding());
    }

    #[test]
    fn ipv6_host_is_bracketed() {
        let l = DeployLink::new("::1", 9, "u", 5, Secret::from_bytes([1; 32])).unwrap();
        assert!(l.to_link_string().starts_with("xp2p+deploy://[::1]:9?"));
        assert_eq!(DeployLink::parse(&l.to_link_string()).unwrap(), l);
    }

    #[test]
    fn refuses_bad_links() {
        let good = link().to_link_string();
        let cases = [
            good.replace("xp2p+deploy", "trojan"),
            good.replace("v=1", "v=2"),
            good.replace("role=client", "role=server"),
            good.replace("exp=1900000000", "exp=soon"),
            good.replace("&user=alice@xp2p.local", ""),
            good.replace("&exp=", "&x=1&exp="),
            good.replace("v=1", "v=1&v=1"),
            good.split('#').next().unwrap().to_string(),
            format!("{good}AA"),
            good.replace(":62025", ""),
            good.replace(":62025", ":0"),
            good.replace("vpn.example.com", "bad host"),
            good.replace("alice@xp2p.local", "a%20b"),
        ];
        for c in cases {
            assert!(DeployLink::parse(&c).is_err(), "accepted {c}");
        }
        assert!(matches!(
            DeployLink::parse(&good.replace("v=1", "v=2")),
            Err(LinkError::UnsupportedVersion(_))
        ));
    }

    #[test]
    fn expiry_and_redacted_debug() {
        let l = link();
        assert!(!l.is_expired(1_899_999_999));
        assert!(l.is_expired(1_900_000_000));
        let dbg = format!("{l:?}");
        assert!(!dbg.contains(&l.secret.to_b64()), "{dbg}");
        assert_ne!(
            l.secret.fingerprint(),
            Secret::from_bytes([8; 32]).fingerprint()
        );
    }
}
