//! Tunnel links: `trojan://CRED@host:port?…#label` and `vless://UUID@host:port?…#label`.
//!
//! Rendering sorts the query (`security`, `sni` and `type` always present);
//! parsing requires TLS, a credential, a port, and a UUID for VLESS.

use std::collections::BTreeMap;

use super::pct;
use crate::desired::Protocol;
use crate::desired::names::{is_host, is_uuid};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a tunnel link: {0}")]
pub struct TunnelLinkError(pub String);

fn err(m: impl Into<String>) -> TunnelLinkError {
    TunnelLinkError(m.into())
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunnelLink {
    pub protocol: Protocol,
    /// Trojan password or VLESS UUID.
    pub credential: String,
    pub host: String,
    pub port: u16,
    /// TLS server name; the host when absent.
    pub sni: Option<String>,
    /// The user label (fragment).
    pub label: String,
    /// VLESS flow (`xtls-rprx-vision`), if any.
    pub flow: Option<String>,
    pub allow_insecure: bool,
    /// Hex SHA-256 of the server certificate to pin.
    pub pin_sha256: Option<String>,
}

impl TunnelLink {
    pub fn scheme(&self) -> &'static str {
        match self.protocol {
            Protocol::Trojan => "trojan",
            Protocol::Vless => "vless",
        }
    }

    pub fn to_link_string(&self) -> String {
        let mut q: BTreeMap<&str, String> = BTreeMap::new();
        q.insert("security", "tls".into());
        q.insert("type", "tcp".into());
        q.insert("sni", self.sni.clone().unwrap_or_else(|| self.host.clone()));
        if self.protocol == Protocol::Vless {
            q.insert("encryption", "none".into());
        }
        if let Some(f) = &self.flow {
            q.insert("flow", f.clone());
        }
        if self.allow_insecure {
            q.insert("allowInsecure", "1".into());
        }
        if let Some(p) = &self.pin_sha256 {
            q.insert("pinnedPeerCertSha256", p.clone());
        }
        let query: Vec<String> = q
            .iter()
            .map(|(k, v)| format!("{k}={}", pct::encode(v, pct::is_unreserved)))
            .collect();
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        format!(
            "{}://{}@{host}:{}?{}#{}",
            self.scheme(),
            pct::encode(&self.credential, pct::is_unreserved),
            self.port,
            query.join("&"),
            pct::encode(&self.label, |b| pct::is_unreserved(b) || b == b'@')
        )
    }

    pub fn parse(input: &str) -> Result<TunnelLink, TunnelLinkError> {
        let s = input.trim();
        if s.len() > 4096 {
            return Err(err("too long"));
        }
        let (scheme, rest) = s.split_once("://").ok_or_else(|| err("no scheme"))?;
        let protocol = match scheme.to_ascii_lowercase().as_str() {
            "trojan" => Protocol::Trojan,
            "vless" => Protocol::Vless,
            other => return Err(err(format!("scheme `{other}` (want trojan or vless)"))),
        };
        let (rest, label) = match rest.split_once('#') {
            Some((r, l)) => (r, pct::decode(l).ok_or_else(|| err("bad label escape"))?),
            None => (rest, String::new()),
        };
        let (authority, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (cred, hostport) = authority
            .rsplit_once('@')
            .ok_or_else(|| err("no credential"))?;
        let credential = pct::decode(cred).ok_or_else(|| err("bad credential escape"))?;
        if credential.is_empty() {
            return Err(err("empty credential"));
        }
        let (host, port) = if let Some(r) = hostport.strip_prefix('[') {
            r.split_once("]:").ok_or_else(|| err("bad IPv6 host"))?
        } else {
            hostport.rsplit_once(':').ok_or_else(|| err("no port"))?
        };
        if !is_host(host) {
            return Err(err(format!("`{host}` is not a host")));
        }
        let port = port
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| err("port must be 1-65535"))?;
        let mut q = BTreeMap::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let v = pct::decode(v).ok_or_else(|| err(format!("bad escape in `{k}`")))?;
            q.insert(k.to_string(), v);
        }
        match q.get("security").map(String::as_str) {
            Some("tls") => {}
            other => return Err(err(format!("security must be tls, got {other:?}"))),
        }
        if protocol == Protocol::Vless && !is_uuid(&credential) {
            return Err(err("a VLESS credential must be a UUID"));
        }
        Ok(TunnelLink {
            protocol,
            credential,
            host: host.to_string(),
            port,
            sni: q.get("sni").filter(|s| !s.is_empty()).cloned(),
            label,
            flow: q.get("flow").filter(|s| !s.is_empty()).cloned(),
            allow_insecure: matches!(
                q.get("allowInsecure").map(String::as_str),
                Some("1" | "true")
            ),
            pin_sha256: q
                .get("pinnedPeerCertSha256")
                .filter(|s| !s.is_empty())
                .cloned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trojan_round_trip() {
        let t = TunnelLink {
            protocol: Protocol::Trojan,
            credential: "p@ss/word".into(),
            host: "vpn.example.com".into(),
            port: 58443,
            sni: None,
            label: "alice@xp2p.local".into(),
            flow: None,
            allow_insecure: true,
            pin_sha256: Some("ab".repeat(32)),
        };
        let s = t.to_link_string();
        assert!(
            s.starts_with(
                "trojan://p%40ss%2Fword@vpn.example.com:58443?allowInsecure=1&pinnedPeerCertSha256="
            ),
            "{s}"
        );
        assert!(
            s.ends_with("&security=tls&sni=vpn.example.com&type=tcp#alice@xp2p.local"),
            "{s}"
        );
        let back = TunnelLink::parse(&s).unwrap();
        assert_eq!(back.sni.as_deref(), Some("vpn.example.com"));
        assert_eq!(TunnelLink { sni: None, ..back }, t);
    }

    #[test]
    fn vless_needs_uuid_and_tls() {
        let id = "0b6f8a3e-7b5c-4a0e-9d7f-1c2b3a4d5e6f";
        let ok = format!("vless://{id}@[::1]:443?encryption=none&security=tls&sni=h&type=tcp#u");
        let l = TunnelLink::parse(&ok).unwrap();
        assert_eq!(
            (l.protocol, l.host.as_str(), l.port),
            (Protocol::Vless, "::1", 443)
        );
        assert!(TunnelLink::parse("vless://nope@h:1?security=tls").is_err());
        assert!(TunnelLink::parse("trojan://p@h:1?security=none").is_err());
        assert!(TunnelLink::parse("trojan://@h:1?security=tls").is_err());
        assert!(TunnelLink::parse("http://p@h:1?security=tls").is_err());
    }
}
