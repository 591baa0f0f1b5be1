//! Share links of a tunnel (`trojan://CRED@host:port?…#label`,
//! `vless://UUID@host:port?…#label`, xp2p-upstream.md §6): rendering a server
//! user's link, parsing a link into a client endpoint. Pure.
//!
//! Rendering sorts the query; `security`, `type` and `sni` are always present;
//! unknown parameters of a parsed link are kept. Parsing refuses what the
//! endpoint model cannot carry (plaintext, REALITY, transports other than TCP).

use std::collections::BTreeMap;
use std::fmt;

use crate::desired::names::{endpoint_tag_for, is_host, is_uuid};
use crate::desired::{Endpoint, Port, Protocol, ServerProfile, ServerSection, User};

/// The VLESS flow the server's `vless-tls-vision` profile uses.
pub const VISION_FLOW: &str = "xtls-rprx-vision";

/// What is wrong with a link, as one line: `endpoint link: port must be 1-65535`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkError {
    /// What the link was for (`endpoint link`, `server.host`, …).
    pub key: String,
    pub message: String,
}

impl fmt::Display for LinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

impl std::error::Error for LinkError {}

fn bad(message: impl Into<String>) -> LinkError {
    LinkError {
        key: "endpoint link".into(),
        message: message.into(),
    }
}

/// How a client is to trust the server's certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trust {
    /// The certificate chains to a CA the client trusts: plain TLS verification.
    Verified,
    /// A self-signed certificate: `allowInsecure=1` plus the pin (hex SHA-256 of
    /// the certificate), as deploy writes endpoints.
    Pinned { sha256: String },
}

/// One tunnel link, parsed or to be rendered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunnelLink {
    pub protocol: Protocol,
    /// Trojan password or VLESS UUID (the URL's userinfo).
    pub credential: String,
    pub host: String,
    pub port: u16,
    /// TLS server name; rendering uses the host when absent.
    pub sni: Option<String>,
    /// The user label (the fragment).
    pub label: String,
    /// VLESS flow (`xtls-rprx-vision`).
    pub flow: Option<String>,
    pub allow_insecure: bool,
    /// Hex SHA-256 of the server certificate (`pinnedPeerCertSha256`).
    pub pin_sha256: Option<String>,
    pub alpn: Vec<String>,
    /// Every other query parameter, kept as found (`security`, `type` and
    /// `encryption` included when parsed).
    pub extra: BTreeMap<String, String>,
}

impl TunnelLink {
    pub fn scheme(&self) -> &'static str {
        match self.protocol {
            Protocol::Trojan => "trojan",
            Protocol::Vless => "vless",
        }
    }

    /// The link text: sorted query, `security`/`type`/`sni` always present.
    pub fn render(&self) -> String {
        let mut q: BTreeMap<&str, String> = self
            .extra
            .iter()
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect();
        q.entry("security").or_insert_with(|| "tls".into());
        q.entry("type").or_insert_with(|| "tcp".into());
        q.insert("sni", self.sni.clone().unwrap_or_else(|| self.host.clone()));
        if self.protocol == Protocol::Vless {
            q.entry("encryption").or_insert_with(|| "none".into());
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
        if !self.alpn.is_empty() {
            q.insert("alpn", self.alpn.join(","));
        }
        let query: Vec<String> = q
            .iter()
            .map(|(k, v)| {
                format!(
                    "{}={}",
                    pct_encode(k, is_unreserved),
                    pct_encode(v, |b| is_unreserved(b) || b == b',')
                )
            })
            .collect();
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        format!(
            "{}://{}@{host}:{}?{}#{}",
            self.scheme(),
            pct_encode(&self.credential, is_unreserved),
            self.port,
            query.join("&"),
            pct_encode(&self.label, |b| is_unreserved(b) || b == b'@')
        )
    }

    /// Parses a `trojan://` or `vless://` link; every refusal is one line.
    pub fn parse(input: &str) -> Result<TunnelLink, LinkError> {
        let s = input.trim();
        if s.len() > 4096 {
            return Err(bad("longer than 4096 characters"));
        }
        if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad("contains spaces or control characters"));
        }
        let (scheme, rest) = s
            .split_once("://")
            .ok_or_else(|| bad("no scheme (want trojan:// or vless://)"))?;
        let protocol = match scheme.to_ascii_lowercase().as_str() {
            "trojan" => Protocol::Trojan,
            "vless" => Protocol::Vless,
            other => {
                return Err(bad(format!(
                    "scheme `{other}` is not supported (trojan or vless)"
                )));
            }
        };
        let (rest, label) = match rest.split_once('#') {
            Some((r, l)) => (
                r,
                pct_decode(l).ok_or_else(|| bad("bad %-escape in the label"))?,
            ),
            None => (rest, String::new()),
        };
        let (authority, query) = rest.split_once('?').unwrap_or((rest, ""));
        let authority = authority.strip_suffix('/').unwrap_or(authority);
        let (cred, hostport) = authority
            .rsplit_once('@')
            .ok_or_else(|| bad("no credential (want CREDENTIAL@host:port)"))?;
        let credential = pct_decode(cred).ok_or_else(|| bad("bad %-escape in the credential"))?;
        if credential.is_empty() {
            return Err(bad("the credential is empty"));
        }
        let (host, port) = if let Some(r) = hostport.strip_prefix('[') {
            r.split_once("]:")
                .ok_or_else(|| bad("bad IPv6 host (want [addr]:port)"))?
        } else {
            hostport
                .rsplit_once(':')
                .ok_or_else(|| bad("no port (want host:port)"))?
        };
        if !is_host(host) {
            return Err(bad(format!("`{host}` is not a host name or IP")));
        }
        let port = port
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| bad(format!("port `{port}` is not 1-65535")))?;
        let mut q: BTreeMap<String, String> = BTreeMap::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let k = pct_decode(k).ok_or_else(|| bad("bad %-escape in a parameter name"))?;
            let v = pct_decode(v).ok_or_else(|| bad(format!("bad %-escape in `{k}`")))?;
            if q.insert(k.clone(), v).is_some() {
                return Err(bad(format!("parameter `{k}` is given twice")));
            }
        }
        let security = q.get("security").map(String::as_str);
        match (security, protocol) {
            (Some("tls" | "reality"), _) | (None, Protocol::Trojan) => {}
            (None, Protocol::Vless) => {
                return Err(bad(
                    "security is missing (plaintext VLESS is not supported)",
                ));
            }
            (Some(other), _) => {
                return Err(bad(format!(
                    "security `{other}` is not supported (tls or reality)"
                )));
            }
        }
        if protocol == Protocol::Vless && !is_uuid(&credential) {
            return Err(bad("a VLESS credential must be a UUID"));
        }
        let take =
            |q: &mut BTreeMap<String, String>, k: &str| q.remove(k).filter(|v| !v.is_empty());
        let sni = take(&mut q, "sni");
        if let Some(sni) = &sni
            && !is_host(sni)
        {
            return Err(bad(format!("sni `{sni}` is not a host name")));
        }
        let flow = take(&mut q, "flow");
        let allow_insecure = match take(&mut q, "allowInsecure").as_deref() {
            None | Some("0" | "false") => false,
            Some("1" | "true") => true,
            Some(other) => {
                return Err(bad(format!(
                    "allowInsecure `{other}` is not 1, true, 0 or false"
                )));
            }
        };
        let pin_sha256 = take(&mut q, "pinnedPeerCertSha256");
        let alpn = take(&mut q, "alpn")
            .map(|a| a.split(',').map(str::to_string).collect())
            .unwrap_or_default();
        Ok(TunnelLink {
            protocol,
            credential,
            host: host.to_string(),
            port,
            sni,
            label,
            flow,
            allow_insecure,
            pin_sha256,
            alpn,
            extra: q,
        })
    }

    /// The client endpoint this link describes: `hostname` is the TLS name
    /// (the host without `sni`), `address` the host, `user` the label, `tag`
    /// the given one or `proxy-<sanitized hostname>`. Refuses what the endpoint
    /// model cannot carry.
    pub fn to_endpoint(&self, tag: Option<&str>) -> Result<Endpoint, LinkError> {
        let param = |k: &str| self.extra.get(k).map(String::as_str).unwrap_or("");
        match param("security") {
            "" | "tls" => {}
            "reality" => return Err(bad("security `reality` is not supported yet (tls only)")),
            other => return Err(bad(format!("security `{other}` is not supported (tls)"))),
        }
        match param("type") {
            "" | "tcp" => {}
            other => {
                return Err(bad(format!(
                    "transport type `{other}` is not supported (tcp only)"
                )));
            }
        }
        if self.protocol == Protocol::Vless && !matches!(param("encryption"), "" | "none") {
            return Err(bad(format!(
                "encryption `{}` is not supported (none)",
                param("encryption")
            )));
        }
        if let Some(f) = &self.flow {
            if self.protocol != Protocol::Vless {
                return Err(bad("flow is only valid for vless links"));
            }
            if f != VISION_FLOW {
                return Err(bad(format!("flow `{f}` is not supported ({VISION_FLOW})")));
            }
        }
        if let Some(pin) = &self.pin_sha256 {
            let hex: String = pin.chars().filter(|c| *c != ':').collect();
            if hex.len() != 64 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
                return Err(bad("pinnedPeerCertSha256 must be 64 hex digits"));
            }
        }
        let hostname = self.sni.clone().unwrap_or_else(|| self.host.clone());
        let tag = match tag {
            Some(t) if !t.trim().is_empty() => t.trim().to_string(),
            _ => endpoint_tag_for(&hostname),
        };
        let user = if self.label.trim().is_empty() {
            hostname.clone()
        } else {
            self.label.clone()
        };
        Ok(Endpoint {
            tag: Some(tag),
            hostname,
            address: self.host.clone(),
            port: Port(self.port),
            protocol: self.protocol,
            user,
            password: self.credential.clone(),
            server_name: None,
            allow_insecure: self.allow_insecure,
            pinned_peer_cert_sha256: self.pin_sha256.clone().unwrap_or_default(),
            flow: self.flow.clone().unwrap_or_default(),
            disabled: false,
        })
    }
}

/// The link a server user hands to a client: the server's `host`, its
/// `trojan_port`, the profile's protocol (and flow), the user's current
/// credential and label; `allowInsecure=1` and the pin for a self-signed
/// certificate.
pub fn user_link(
    server: &ServerSection,
    user: &User,
    trust: &Trust,
) -> Result<TunnelLink, LinkError> {
    if server.host.trim().is_empty() {
        return Err(LinkError {
            key: "server.host".into(),
            message: "is not set; links need the public host name (xp2p server host set NAME)"
                .into(),
        });
    }
    let (protocol, flow) = match server.profile {
        ServerProfile::TrojanTls => (Protocol::Trojan, None),
        ServerProfile::VlessTls => (Protocol::Vless, None),
        ServerProfile::VlessTlsVision => (Protocol::Vless, Some(VISION_FLOW.to_string())),
    };
    let (allow_insecure, pin_sha256) = match trust {
        Trust::Verified => (false, None),
        Trust::Pinned { sha256 } => (true, Some(sha256.clone())),
    };
    Ok(TunnelLink {
        protocol,
        credential: user.credential.clone(),
        host: server.host.clone(),
        port: server.trojan_port.0,
        sni: Some(server.host.clone()),
        label: user.user_label.clone(),
        flow,
        allow_insecure,
        pin_sha256,
        alpn: Vec::new(),
        extra: BTreeMap::new(),
    })
}

/// RFC 3986 unreserved characters.
pub fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// Percent-encodes every byte for which `keep` is false (RFC 3986); the
/// tunnel links here and deploy's link use it.
pub fn pct_encode(s: &str, keep: impl Fn(u8) -> bool) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if keep(b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Decodes `%XX`; `None` on a malformed escape or a non-UTF-8 result.
pub fn pct_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return None;
            }
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desired::load::parse_server;

    const ID: &str = "0b6f8a3e-7b5c-4a0e-9d7f-1c2b3a4d5e6f";
    const PIN: &str = "abababababababababababababababababababababababababababababababab";

    fn server(profile: &str) -> ServerSection {
        let src = format!(
            "[server]\nhost = \"vpn.example.com\"\ntrojan_port = 58443\nprofile = \"{profile}\"\n[[server.users]]\nuser_label = \"alice@xp2p.local\"\ncredential = \"{ID}\"\n"
        );
        parse_server(std::path::Path::new("s.toml"), &src)
            .unwrap()
            .server
    }

    #[test]
    fn trojan_user_link_is_exactly_the_documented_form() {
        let s = server("trojan-tls");
        let pinned = user_link(&s, &s.users[0], &Trust::Pinned { sha256: PIN.into() })
            .unwrap()
            .render();
        assert_eq!(
            pinned,
            format!(
                "trojan://{ID}@vpn.example.com:58443?allowInsecure=1&pinnedPeerCertSha256={PIN}&security=tls&sni=vpn.example.com&type=tcp#alice@xp2p.local"
            )
        );
        let verified = user_link(&s, &s.users[0], &Trust::Verified)
            .unwrap()
            .render();
        assert_eq!(
            verified,
            format!(
                "trojan://{ID}@vpn.example.com:58443?security=tls&sni=vpn.example.com&type=tcp#alice@xp2p.local"
            )
        );
    }

    #[test]
    fn vless_vision_user_link() {
        let s = server("vless-tls-vision");
        let l = user_link(&s, &s.users[0], &Trust::Verified)
            .unwrap()
            .render();
        assert_eq!(
            l,
            format!(
                "vless://{ID}@vpn.example.com:58443?encryption=none&flow=xtls-rprx-vision&security=tls&sni=vpn.example.com&type=tcp#alice@xp2p.local"
            )
        );
        let s = server("vless-tls");
        let l = user_link(&s, &s.users[0], &Trust::Verified)
            .unwrap()
            .render();
        assert!(!l.contains("flow="), "{l}");
    }

    #[test]
    fn a_link_needs_the_server_host() {
        let mut s = server("trojan-tls");
        s.host.clear();
        let e = user_link(&s, &s.users[0], &Trust::Verified).unwrap_err();
        assert!(e.to_string().starts_with("server.host: is not set"), "{e}");
    }

    #[test]
    fn round_trips_keep_every_field_and_unknown_parameters() {
        let cases = [
            TunnelLink {
                protocol: Protocol::Trojan,
                credential: "p@ss/word #1".into(),
                host: "vpn.example.com".into(),
                port: 443,
                sni: Some("front.example.com".into()),
                label: "bob smith@x".into(),
                flow: None,
                allow_insecure: true,
                pin_sha256: Some(PIN.into()),
                alpn: vec!["h2".into(), "http/1.1".into()],
                extra: [("fp".to_string(), "chrome".to_string())].into(),
            },
            TunnelLink {
                protocol: Protocol::Vless,
                credential: ID.into(),
                host: "2001:db8::1".into(),
                port: 65535,
                sni: Some("h.example".into()),
                label: "ünïcode".into(),
                flow: Some(VISION_FLOW.into()),
                allow_insecure: false,
                pin_sha256: None,
                alpn: Vec::new(),
                extra: BTreeMap::new(),
            },
        ];
        for l in cases {
            let text = l.render();
            let back = TunnelLink::parse(&text).unwrap();
            // Parsing keeps the always-present parameters among the extras.
            let mut expect = l.clone();
            expect.extra.insert("security".into(), "tls".into());
            expect.extra.insert("type".into(), "tcp".into());
            if l.protocol == Protocol::Vless {
                expect.extra.insert("encryption".into(), "none".into());
            }
            assert_eq!(back, expect, "{text}");
            assert_eq!(back.render(), text);
        }
    }

    #[test]
    fn percent_escapes_round_trip_and_decode_strictly() {
        let s = "a b@c/d%";
        let e = pct_encode(s, is_unreserved);
        assert_eq!(e, "a%20b%40c%2Fd%25");
        assert_eq!(pct_decode(&e).as_deref(), Some(s));
        for bad in ["%4", "%zz", "%FF", "%+1", "%-1"] {
            assert_eq!(pct_decode(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_query_is_sorted_and_the_label_is_percent_encoded() {
        let l =
            TunnelLink::parse("trojan://pw@h.example:1?type=tcp&security=tls&sni=h.example#a%20b")
                .unwrap();
        assert_eq!(l.label, "a b");
        assert_eq!(
            l.render(),
            "trojan://pw@h.example:1?security=tls&sni=h.example&type=tcp#a%20b"
        );
    }

    #[test]
    fn every_refusal_is_one_line_naming_the_fault() {
        let cases = [
            (
                "http://p@h:1?security=tls",
                "scheme `http` is not supported",
            ),
            ("p@h:1", "no scheme"),
            ("trojan://h:1?security=tls", "no credential"),
            ("trojan://@h:1?security=tls", "the credential is empty"),
            ("trojan://p@h?security=tls", "no port"),
            ("trojan://p@h:0?security=tls", "port `0` is not 1-65535"),
            (
                "trojan://p@h:70000?security=tls",
                "port `70000` is not 1-65535",
            ),
            ("trojan://p@h:x?security=tls", "port `x` is not 1-65535"),
            (
                "trojan://p@bad_host:1?security=tls",
                "`bad_host` is not a host",
            ),
            ("trojan://p@[::1:1?security=tls", "bad IPv6 host"),
            (
                "trojan://p@h:1?security=none",
                "security `none` is not supported",
            ),
            ("vless://{ID}@h:1?type=tcp", "security is missing"),
            (
                "vless://not-a-uuid@h:1?security=tls",
                "a VLESS credential must be a UUID",
            ),
            (
                "trojan://p%zz@h:1?security=tls",
                "bad %-escape in the credential",
            ),
            (
                "trojan://p@h:1?security=tls#%4",
                "bad %-escape in the label",
            ),
            (
                "trojan://p@h:1?security=tls&sni=a&sni=b",
                "parameter `sni` is given twice",
            ),
            (
                "trojan://p@h:1?security=tls&allowInsecure=yes",
                "allowInsecure `yes`",
            ),
            (
                "trojan://p@h:1?security=tls&sni=bad_name",
                "sni `bad_name` is not a host",
            ),
            ("trojan://p w@h:1", "contains spaces"),
        ];
        for (link, want) in cases {
            let link = link.replace("{ID}", ID);
            let e = TunnelLink::parse(&link).unwrap_err().to_string();
            assert!(e.starts_with("endpoint link: "), "{link}: {e}");
            assert!(e.contains(want), "{link}: {e}");
            assert!(!e.contains('\n'), "{e}");
        }
        let long = format!("trojan://{}@h:1", "a".repeat(5000));
        assert!(
            TunnelLink::parse(&long)
                .unwrap_err()
                .message
                .contains("longer")
        );
    }

    #[test]
    fn to_endpoint_maps_the_fields_and_refuses_what_it_cannot_carry() {
        let l = TunnelLink::parse(&format!(
            "trojan://pw@203.0.113.10:58443?allowInsecure=1&pinnedPeerCertSha256={PIN}&security=tls&sni=vpn.example.com&type=tcp#alice@xp2p.local"
        ))
        .unwrap();
        let e = l.to_endpoint(None).unwrap();
        assert_eq!(e.tag.as_deref(), Some("proxy-vpn-example-com"));
        assert_eq!(
            (e.hostname.as_str(), e.address.as_str(), e.port.0),
            ("vpn.example.com", "203.0.113.10", 58443)
        );
        assert_eq!(
            (e.user.as_str(), e.password.as_str()),
            ("alice@xp2p.local", "pw")
        );
        assert!(e.allow_insecure);
        assert_eq!(e.pinned_peer_cert_sha256, PIN);
        assert_eq!(
            l.to_endpoint(Some("home")).unwrap().tag.as_deref(),
            Some("home")
        );

        let v = TunnelLink::parse(&format!(
            "vless://{ID}@h.example:1?encryption=none&flow=xtls-rprx-vision&security=tls&type=tcp"
        ))
        .unwrap()
        .to_endpoint(None)
        .unwrap();
        assert_eq!(
            (v.protocol, v.flow.as_str()),
            (Protocol::Vless, VISION_FLOW)
        );
        assert_eq!(v.user, "h.example");

        let refusals = [
            (
                format!("vless://{ID}@h:1?security=reality"),
                "security `reality` is not supported",
            ),
            (
                "trojan://p@h:1?security=tls&type=ws".into(),
                "transport type `ws` is not supported",
            ),
            (
                format!("vless://{ID}@h:1?security=tls&encryption=aes"),
                "encryption `aes`",
            ),
            (
                "trojan://p@h:1?security=tls&flow=xtls-rprx-vision".into(),
                "flow is only valid for vless",
            ),
            (
                format!("vless://{ID}@h:1?security=tls&flow=other"),
                "flow `other` is not supported",
            ),
            (
                "trojan://p@h:1?security=tls&pinnedPeerCertSha256=abc".into(),
                "64 hex digits",
            ),
        ];
        for (link, want) in refusals {
            let e = TunnelLink::parse(&link)
                .unwrap()
                .to_endpoint(None)
                .unwrap_err();
            assert!(e.to_string().starts_with("endpoint link: "), "{e}");
            assert!(e.message.contains(want), "{link}: {e}");
        }
    }
}
