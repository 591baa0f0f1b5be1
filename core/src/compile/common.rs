//! Pieces both roles emit: log block, API (by flavour), `direct`, forward inbounds.

use serde_json::{Value, json};

use super::rules::{field_rule, rule_tag};
use super::runtime::RuntimeInbound;
use crate::coreproc::CoreInfo;
use crate::desired::names::sanitize;
use crate::desired::{CoreSection, Forward, ForwardProtocol, LogLevel};
use crate::role::Role;

/// What a role contributes before snippets are merged.
#[derive(Debug, Default)]
pub struct Managed {
    pub top: serde_json::Map<String, Value>,
    pub inbounds: Vec<Value>,
    pub outbounds: Vec<Value>,
    /// Rule order slot 1 (client endpoint bypass).
    pub bypass_rules: Vec<Value>,
    /// Slot 2: API routing, diagnostics markers.
    pub system_rules: Vec<Value>,
    /// Slot 4: forwards, then redirects.
    pub managed_rules: Vec<Value>,
    /// Slot 6: full-tunnel rule.
    pub final_rules: Vec<Value>,
    pub runtime_inbounds: Vec<RuntimeInbound>,
    /// Client bridge tags: routing names them as inbound tags.
    pub reverse_inbound_tags: Vec<String>,
    /// Server portal tags: routing names them as outbound tags.
    pub reverse_outbound_tags: Vec<String>,
    /// Server: the compiled channels, for runtime.json (probes).
    pub runtime_channels: Vec<super::runtime::RuntimeChannel>,
}

impl Managed {
    /// Every tag routing may name as `inboundTag` (snippets must not reuse one).
    pub fn inbound_tags(&self) -> Vec<String> {
        let mut t = tags(&self.inbounds);
        t.extend(self.reverse_inbound_tags.iter().cloned());
        t
    }

    /// Every tag routing may name as `outboundTag`.
    pub fn outbound_tags(&self) -> Vec<String> {
        let mut t = tags(&self.outbounds);
        t.extend(self.reverse_outbound_tags.iter().cloned());
        t
    }
}

fn tags(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .filter_map(|i| i.get("tag").and_then(Value::as_str).map(str::to_string))
        .collect()
}

/// The core's log level. `error` keeps `warning` so the core still prints its
/// "started" line, which readiness detection reads.
pub fn log_block(level: LogLevel) -> Value {
    let core_level = match level {
        LogLevel::Debug => "debug",
        LogLevel::Info => "info",
        LogLevel::Warn | LogLevel::Error => "warning",
    };
    json!({"loglevel": core_level})
}

/// Adds the API when `[core] api_listen` is set: `api.listen` on xray, a dokodemo
/// inbound plus a routing rule on v2ray.
pub fn add_api(m: &mut Managed, role: Role, core_cfg: &CoreSection, core: &CoreInfo) {
    let Ok(addr) = core_cfg.api_listen.parse::<std::net::SocketAddr>() else {
        return;
    };
    let services = json!(["HandlerService", "StatsService", "LoggerService"]);
    m.top.insert("stats".into(), json!({}));
    m.top.insert(
        "policy".into(),
        json!({"system": {"statsInboundUplink": true, "statsInboundDownlink": true,
                          "statsOutboundUplink": true, "statsOutboundDownlink": true}}),
    );
    if core.capabilities().api_listen {
        m.top.insert(
            "api".into(),
            json!({"tag": "api", "listen": addr.to_string(), "services": services}),
        );
    } else {
        m.top
            .insert("api".into(), json!({"tag": "api", "services": services}));
        m.inbounds.push(json!({
            "tag": "api", "protocol": "dokodemo-door",
            "listen": addr.ip().to_string(), "port": addr.port(),
            "settings": {"address": addr.ip().to_string()}
        }));
        m.runtime_inbounds.push(RuntimeInbound {
            tag: "api".into(),
            protocol: "dokodemo-door".into(),
            listen: addr.ip().to_string(),
            port: addr.port(),
            network: "tcp".into(),
        });
        m.system_rules.push(field_rule(
            rule_tag(role, "api", &["api"]),
            json!({"inboundTag": ["api"]}),
            "api",
        ));
    }
}

pub fn direct_outbound() -> Value {
    json!({"tag": "direct", "protocol": "freedom", "settings": {"domainStrategy": "AsIs"}})
}

/// A stable, collision-free tag fragment for a listen address: dotted IPv4 as
/// `127-0-0-1`; IPv6 as `v6-` + its 32 hex digits (sanitising `::1` and `1::`
/// would give the same text).
fn address_label(ip: std::net::IpAddr) -> String {
    match ip {
        std::net::IpAddr::V4(v4) => sanitize(&v4.to_string()),
        std::net::IpAddr::V6(v6) => format!("v6-{}", hex::encode(v6.octets())),
    }
}

/// A forward: a dokodemo inbound on the local port and a rule sending it out.
pub fn add_forward(m: &mut Managed, role: Role, f: &Forward) {
    // Validation allows a TCP and a UDP forward on the same address and port;
    // the UDP one gets a suffix so the two inbounds (and their rules) stay apart.
    let suffix = if f.protocol == ForwardProtocol::Udp {
        "-udp"
    } else {
        ""
    };
    let tag = format!(
        "xp2p-fwd-{}-{}{suffix}",
        address_label(f.listen_address),
        f.listen_port
    );
    let network = match f.protocol {
        ForwardProtocol::Tcp => "tcp",
        ForwardProtocol::Udp => "udp",
        ForwardProtocol::Both => "tcp,udp",
    };
    m.inbounds.push(json!({
        "tag": tag, "protocol": "dokodemo-door",
        "listen": f.listen_address.to_string(), "port": f.listen_port.0,
        "settings": {"address": f.target_host, "port": f.target_port.0, "network": network}
    }));
    m.runtime_inbounds.push(RuntimeInbound {
        tag: tag.clone(),
        protocol: "dokodemo-door".into(),
        listen: f.listen_address.to_string(),
        port: f.listen_port.0,
        network: network.into(),
    });
    let rt = rule_tag(
        role,
        "forward",
        &[
            &f.outbound_tag,
            &tag,
            &f.target_host,
            &f.target_port.to_string(),
        ],
    );
    m.managed_rules.push(field_rule(
        rt,
        json!({"inboundTag": [tag]}),
        &f.outbound_tag,
    ));
}

/// Client TLS settings for an endpoint outbound.
pub fn tls_settings(
    server_name: &str,
    allow_insecure: bool,
    pin_hex: &str,
    core: &CoreInfo,
) -> Value {
    let mut tls = json!({"serverName": server_name, "allowInsecure": allow_insecure});
    let pin: String = pin_hex
        .chars()
        .filter(|c| *c != ':')
        .collect::<String>()
        .to_ascii_lowercase();
    if !pin.is_empty()
        && let Some(obj) = tls.as_object_mut()
    {
        match core.flavour {
            crate::coreproc::Flavour::Xray => {
                obj.insert("pinnedPeerCertSha256".into(), json!(pin));
            }
            crate::coreproc::Flavour::V2ray => {
                let bytes = hex::decode(&pin).unwrap_or_default();
                obj.insert(
                    "pinnedPeerCertificateChainSha256".into(),
                    json!([base64_std(&bytes)]),
                );
            }
        }
    }
    tls
}

fn base64_std(bytes: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64() {
        assert_eq!(super::base64_std(b"hello"), "aGVsbG8=");
        assert_eq!(super::base64_std(b"hi!"), "aGkh");
    }
}
