//! `runtime.json`: what Live runs, for status and the supervisor. Never secrets.

use serde::{Deserialize, Serialize};

use crate::coreproc::Flavour;
use crate::role::Role;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuntimeInfo {
    pub role: Role,
    pub xp2p_version: String,
    pub compiled_at: String,
    pub request_id: Option<String>,
    pub desired_digest: String,
    pub config_sha256: String,
    pub core: RuntimeCore,
    pub inbounds: Vec<RuntimeInbound>,
    pub endpoints: Vec<RuntimeEndpoint>,
    pub tun: RuntimeTun,
    /// The loopback port of the diagnostics responder: the server's always,
    /// the client's while it has an enabled reverse bridge.
    #[serde(default)]
    pub diag_port: Option<u16>,
    /// Server: the enabled reverse channels the service probes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub channels: Vec<RuntimeChannel>,
}

impl RuntimeInfo {
    /// Where a local program reaches the inbound `tag` (an unspecified listen
    /// address is reached on loopback), e.g. the SOCKS inbound a probe uses.
    pub fn inbound_addr(&self, tag: &str) -> Option<std::net::SocketAddr> {
        let i = self.inbounds.iter().find(|i| i.tag == tag)?;
        let ip: std::net::IpAddr = i.listen.parse().ok()?;
        let ip = match ip {
            std::net::IpAddr::V4(v4) if v4.is_unspecified() => std::net::Ipv4Addr::LOCALHOST.into(),
            std::net::IpAddr::V6(v6) if v6.is_unspecified() => std::net::Ipv6Addr::LOCALHOST.into(),
            other => other,
        };
        Some(std::net::SocketAddr::new(ip, i.port))
    }
}

/// A compiled reverse channel (server): where its probe goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuntimeChannel {
    /// `[server.reverse_channels.<key>]`.
    pub key: String,
    /// The portal's tag.
    pub tag: String,
    /// The channel's marker (`127.254.x.y:62023`), routed into the portal.
    pub marker: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuntimeCore {
    pub path: String,
    pub flavour: Flavour,
    pub version: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuntimeInbound {
    pub tag: String,
    pub protocol: String,
    pub listen: String,
    pub port: u16,
    /// `tcp`, `udp` or `tcp,udp`: what a health probe may check (TCP only is probed).
    pub network: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuntimeEndpoint {
    pub tag: String,
    pub hostname: String,
    pub address: String,
    pub port: u16,
    pub protocol: String,
    /// Where `xp2p ping` sends its probe for this endpoint (diag::marker).
    #[serde(default)]
    pub marker: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuntimeTun {
    pub enabled: bool,
    /// `proxy`, `split`, `full` (client) or `proxy`, `tun` (server).
    pub mode: String,
    /// `core` (the core's TUN inbound) or `builtin` (the service's bridge), when enabled.
    pub engine: Option<String>,
    pub name: String,
    pub mtu: u16,
    pub addr: String,
    pub dns_servers: Vec<String>,
    pub full_tunnel_tag: String,
    /// CIDRs routed into the TUN (split mode, and the server's TUN mode): every
    /// CIDR redirect whose outbound is a tunnel, never `direct` (that would loop).
    #[serde(default)]
    pub routes: Vec<String>,
    /// The core's SOCKS inbound the service's bridge feeds (`builtin` engine).
    #[serde(default)]
    pub socks: Option<String>,
}
