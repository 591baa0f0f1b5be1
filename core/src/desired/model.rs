//! The TOML models of `xp2p-client.toml` and `xp2p-server.toml` (formats.md).
//!
//! Unknown keys are errors. Value types carry their own range checks (ports,
//! MTU, CIDRs, socket addresses), so a loaded model is already well-typed; cross-
//! field rules live in [`super::validate`].

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use ipnet::IpNet;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::names::{endpoint_tag_for, reverse_name};

// --- value types -------------------------------------------------------------

/// A TCP/UDP port, 1–65535.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Port(pub u16);

impl<'de> Deserialize<'de> for Port {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = i64::deserialize(d)?;
        if (1..=65535).contains(&v) {
            Ok(Port(v as u16))
        } else {
            Err(serde::de::Error::custom(format!(
                "port must be 1-65535, got {v}"
            )))
        }
    }
}

impl Serialize for Port {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u16(self.0)
    }
}

impl fmt::Display for Port {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A TUN MTU, 576–9000.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mtu(pub u16);

impl<'de> Deserialize<'de> for Mtu {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = i64::deserialize(d)?;
        if (576..=9000).contains(&v) {
            Ok(Mtu(v as u16))
        } else {
            Err(serde::de::Error::custom(format!(
                "MTU must be 576-9000, got {v}"
            )))
        }
    }
}

impl Serialize for Mtu {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u16(self.0)
    }
}

/// A CIDR such as `10.20.0.0/16` (host bits are kept as written; `ip` style rules
/// accept them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr(pub IpNet);

impl<'de> Deserialize<'de> for Cidr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        parse_cidr(&s).map(Cidr).ok_or_else(|| {
            serde::de::Error::custom(format!("`{s}` is not a CIDR (like 10.20.0.0/16)"))
        })
    }
}

impl Serialize for Cidr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0.to_string())
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

fn parse_cidr(s: &str) -> Option<IpNet> {
    if !s.contains('/') {
        return None;
    }
    s.trim().parse::<IpNet>().ok()
}

// --- enums -------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Debug,
    #[default]
    Info,
    Warn,
    Error,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TunMode {
    #[default]
    Split,
    Full,
}

/// Who carries TUN packets: the core's own TUN inbound or the service's bridge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TunEngine {
    #[default]
    Auto,
    Core,
    Builtin,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    #[default]
    Trojan,
    Vless,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ForwardProtocol {
    #[default]
    Tcp,
    Udp,
    Both,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum ServerProfile {
    #[default]
    #[serde(rename = "trojan-tls")]
    TrojanTls,
    #[serde(rename = "vless-tls")]
    VlessTls,
    #[serde(rename = "vless-tls-vision")]
    VlessTlsVision,
}

// --- shared sections ---------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoggingSection {
    pub level: LogLevel,
    /// `service.log` line format.
    pub format: LogFormat,
    /// Daily `service.log` files kept.
    pub retention_days: u32,
    /// A core log is rotated (to `core-<role>.log.1`) past this size.
    pub core_log_max_mb: u32,
}

impl Default for LoggingSection {
    fn default() -> Self {
        LoggingSection {
            level: LogLevel::Info,
            format: LogFormat::Text,
            retention_days: 7,
            core_log_max_mb: 16,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CoreSection {
    /// Path of the xray/v2ray binary; empty: discovery order of layout/coreproc.
    pub path: String,
    /// Run the core's own `-test` before the commit point.
    pub validate: bool,
    /// Optional gRPC API address (`127.0.0.1:52180`); empty disables the API.
    pub api_listen: String,
}

impl Default for CoreSection {
    fn default() -> Self {
        CoreSection {
            path: String::new(),
            validate: true,
            api_listen: String::new(),
        }
    }
}

/// Knobs of the service; read from whichever role file has them (client first).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServiceSection {
    pub debounce_ms: u64,
    pub drain_ms: u64,
    pub socket_group: String,
    /// Seconds between tunnel probes of each client endpoint and of each
    /// server reverse channel (0: off).
    pub tunnel_probe_s: u64,
}

impl Default for ServiceSection {
    fn default() -> Self {
        ServiceSection {
            debounce_ms: 300,
            drain_ms: 2000,
            socket_group: String::new(),
            tunnel_probe_s: 30,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Redirect {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cidr: Option<Cidr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    pub outbound_tag: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Forward {
    #[serde(default = "loopback")]
    pub listen_address: IpAddr,
    pub listen_port: Port,
    pub target_host: String,
    pub target_port: Port,
    #[serde(default)]
    pub protocol: ForwardProtocol,
    pub outbound_tag: String,
}

fn loopback() -> IpAddr {
    IpAddr::V4(Ipv4Addr::LOCALHOST)
}

// --- client ------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientDesired {
    #[serde(default)]
    pub logging: LoggingSection,
    #[serde(default)]
    pub core: CoreSection,
    #[serde(default)]
    pub service: ServiceSection,
    pub client: ClientSection,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClientSection {
    pub socks_address: SocketAddr,
    pub tun_enabled: bool,
    pub tun_mode: TunMode,
    pub tun_engine: TunEngine,
    pub tun_name: String,
    pub tun_mtu: Mtu,
    pub tun_addr: Cidr,
    pub dns_servers: Vec<IpAddr>,
    pub full_tunnel_tag: String,
    pub endpoints: Vec<Endpoint>,
    pub redirects: Vec<Redirect>,
    pub forwards: Vec<Forward>,
    /// Reverse-channel bridges (`[client.reverse.<key>]`), by key.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub reverse: BTreeMap<String, ClientReverse>,
    /// Loopback port of the client's diagnostics responder, which answers the
    /// server's probes of a reverse channel (run while a bridge is enabled).
    pub diag_port: Port,
}

impl Default for ClientSection {
    fn default() -> Self {
        ClientSection {
            socks_address: SocketAddr::from(([127, 0, 0, 1], 51180)),
            tun_enabled: false,
            tun_mode: TunMode::Split,
            tun_engine: TunEngine::Auto,
            tun_name: "xp2pc".into(),
            tun_mtu: Mtu(1500),
            tun_addr: Cidr(IpNet::V4(
                ipnet::Ipv4Net::new(Ipv4Addr::new(198, 18, 0, 1), 30).unwrap_or_default(),
            )),
            dns_servers: Vec::new(),
            full_tunnel_tag: String::new(),
            endpoints: Vec::new(),
            redirects: Vec::new(),
            forwards: Vec::new(),
            reverse: BTreeMap::new(),
            diag_port: Port(62025),
        }
    }
}

impl ClientSection {
    /// Endpoints that are compiled, in declaration order (the first is the default route).
    pub fn enabled_endpoints(&self) -> impl Iterator<Item = &Endpoint> {
        self.endpoints.iter().filter(|e| !e.disabled)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Endpoint {
    /// Outbound tag; default `proxy-` + sanitized hostname.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    pub hostname: String,
    /// IP or DNS name the core dials.
    pub address: String,
    pub port: Port,
    #[serde(default)]
    pub protocol: Protocol,
    pub user: String,
    /// Trojan password, or the VLESS UUID.
    pub password: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
    #[serde(default)]
    pub allow_insecure: bool,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub pinned_peer_cert_sha256: String,
    /// VLESS flow; only `xtls-rprx-vision` (xray cores only).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub flow: String,
    #[serde(default)]
    pub disabled: bool,
}

impl Endpoint {
    pub fn effective_tag(&self) -> String {
        match &self.tag {
            Some(t) if !t.trim().is_empty() => t.trim().to_string(),
            _ => endpoint_tag_for(&self.hostname),
        }
    }

    pub fn effective_server_name(&self) -> &str {
        match &self.server_name {
            Some(s) if !s.is_empty() => s,
            _ => &self.hostname,
        }
    }
}

/// `[client.reverse.<key>]`: the bridge of a reverse channel. The client core
/// keeps a connection open to the server's portal through `endpoint_tag`, and
/// what the server sends into it leaves here (`direct`) into the client's LAN.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientReverse {
    /// The user this client is known as on the server (the endpoint's `user`).
    pub user_id: String,
    /// The server's host name (the endpoint's `hostname`).
    pub host: String,
    /// Bridge tag; default `<sanitize(user)><sanitize(host)>.rev`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// The rendezvous domain both sides name; default as the tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// The endpoint the bridge reaches the portal through.
    pub endpoint_tag: String,
    #[serde(default)]
    pub disabled: bool,
}

impl ClientReverse {
    pub fn effective_tag(&self) -> String {
        effective_or(&self.tag, &self.user_id, &self.host)
    }

    pub fn effective_domain(&self) -> String {
        effective_or(&self.domain, &self.user_id, &self.host)
    }
}

/// `[server.reverse_channels.<key>]`: the portal of a reverse channel. Server
/// redirects and forwards name its tag as `outbound_tag` to reach the LAN
/// behind the client that logs in as `user_id`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerChannel {
    /// The `[[server.users]]` label whose client carries the bridge.
    pub user_id: String,
    /// This server's host name, as the client's endpoint names it.
    pub host: String,
    /// Portal tag; default `<sanitize(user)><sanitize(host)>.rev`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// The rendezvous domain; default as the tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    #[serde(default)]
    pub disabled: bool,
}

impl ServerChannel {
    pub fn effective_tag(&self) -> String {
        effective_or(&self.tag, &self.user_id, &self.host)
    }

    pub fn effective_domain(&self) -> String {
        effective_or(&self.domain, &self.user_id, &self.host)
    }
}

fn effective_or(v: &Option<String>, user: &str, host: &str) -> String {
    match v {
        Some(t) if !t.trim().is_empty() => t.trim().to_string(),
        _ => reverse_name(user, host),
    }
}

// --- server ------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerDesired {
    #[serde(default)]
    pub logging: LoggingSection,
    #[serde(default)]
    pub core: CoreSection,
    #[serde(default)]
    pub service: ServiceSection,
    pub server: ServerSection,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSection {
    pub host: String,
    pub listen: IpAddr,
    pub trojan_port: Port,
    pub profile: ServerProfile,
    pub certificate: String,
    pub key: String,
    pub tun_enabled: bool,
    pub tun_name: String,
    pub tun_mtu: Mtu,
    pub tun_addr: Cidr,
    /// Loopback port of the SOCKS inbound the TUN bridge feeds (TUN mode only).
    pub tun_socks_port: Port,
    /// A SOCKS inbound for programs on the server host (`socks-in`): their
    /// traffic meets the server's redirects, e.g. into a reverse channel.
    /// Unset: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub socks_address: Option<SocketAddr>,
    pub diag_port: Port,
    /// Loopback port of the SOCKS inbound (`xp2p-diag-in`) the service probes
    /// reverse channels through (compiled while a channel is enabled).
    pub diag_socks_port: Port,
    pub users: Vec<User>,
    pub redirects: Vec<Redirect>,
    pub forwards: Vec<Forward>,
    /// Reverse channels into client LANs (`[server.reverse_channels.<key>]`), by key.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub reverse_channels: BTreeMap<String, ServerChannel>,
}

impl Default for ServerSection {
    fn default() -> Self {
        ServerSection {
            host: String::new(),
            listen: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            trojan_port: Port(58443),
            profile: ServerProfile::TrojanTls,
            certificate: "tls/server/cert.pem".into(),
            key: "tls/server/key.pem".into(),
            tun_enabled: false,
            tun_name: "xp2ps".into(),
            tun_mtu: Mtu(1500),
            tun_addr: Cidr(IpNet::V4(
                ipnet::Ipv4Net::new(Ipv4Addr::new(198, 18, 0, 5), 30).unwrap_or_default(),
            )),
            tun_socks_port: Port(51181),
            socks_address: None,
            diag_port: Port(62022),
            diag_socks_port: Port(62024),
            users: Vec::new(),
            redirects: Vec::new(),
            forwards: Vec::new(),
            reverse_channels: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    pub user_label: String,
    pub credential: String,
    #[serde(default)]
    pub disabled: bool,
    /// The credential before the last rotation; accepted too while
    /// `rotation_expires_at` is in the future (`xp2p server user rotate --grace`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_credential: Option<String>,
    /// RFC 3339; when `previous_credential` stops being compiled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation_expires_at: Option<String>,
    /// RFC 3339; written by `xp2p server user add`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    /// RFC 3339; written by `xp2p server user rotate`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotated_at: Option<String>,
}

impl User {
    /// The core's `email` of the previous credential's client entry: cores refuse
    /// two clients of one inbound with the same email.
    pub fn previous_email(&self) -> String {
        format!("{}~previous", self.user_label)
    }

    /// The previous credential while its grace lasts at `now` (`None` once
    /// `rotation_expires_at` has passed, or when it is missing or unreadable).
    pub fn previous_in_grace(&self, now: std::time::SystemTime) -> Option<&str> {
        let prev = self
            .previous_credential
            .as_deref()
            .filter(|p| !p.is_empty())?;
        let until = humantime::parse_rfc3339_weak(self.rotation_expires_at.as_deref()?).ok()?;
        (until > now).then_some(prev)
    }
}

/// When the next rotation grace of an enabled user ends after `now`: the
/// compiled config changes then (the previous credential is dropped), so the
/// service schedules an apply for that moment.
pub fn next_rotation_expiry(
    m: &ServerDesired,
    now: std::time::SystemTime,
) -> Option<std::time::SystemTime> {
    m.server
        .users
        .iter()
        .filter(|u| !u.disabled && u.previous_in_grace(now).is_some())
        .filter_map(|u| humantime::parse_rfc3339_weak(u.rotation_expires_at.as_deref()?).ok())
        .min()
}

/// Either role's Desired model.
#[derive(Debug, Clone, PartialEq)]
pub enum Desired {
    Client(ClientDesired),
    Server(ServerDesired),
}

impl Desired {
    pub fn core(&self) -> &CoreSection {
        match self {
            Desired::Client(c) => &c.core,
            Desired::Server(s) => &s.core,
        }
    }

    pub fn logging(&self) -> &LoggingSection {
        match self {
            Desired::Client(c) => &c.logging,
            Desired::Server(s) => &s.logging,
        }
    }

    pub fn service(&self) -> &ServiceSection {
        match self {
            Desired::Client(c) => &c.service,
            Desired::Server(s) => &s.service,
        }
    }
}
