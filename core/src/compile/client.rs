//! The client role: SOCKS (and TUN) inbounds, endpoint outbounds first (the first
//! enabled one is the default route), then `direct`; bypass, redirect, forward and
//! full-tunnel rules.

use serde_json::{Value, json};

use super::common::{Managed, add_api, add_forward, direct_outbound, log_block, tls_settings};
use super::rules::{field_rule, redirect_rules, rule_tag};
use super::runtime::{RuntimeEndpoint, RuntimeInbound, RuntimeTun};
use crate::coreproc::CoreInfo;
use crate::desired::{ClientDesired, Endpoint, Protocol, TunEngine, TunMode};
use crate::error::{ConfigError, ErrorCode};
use crate::role::Role;

const ROLE: Role = Role::Client;

pub struct ClientOut {
    pub managed: Managed,
    pub endpoints: Vec<RuntimeEndpoint>,
    pub tun: RuntimeTun,
}

fn outbound(e: &Endpoint, core: &CoreInfo) -> Value {
    let tag = e.effective_tag();
    let tls = tls_settings(
        e.effective_server_name(),
        e.allow_insecure,
        &e.pinned_peer_cert_sha256,
        core,
    );
    let stream = json!({"network": "tcp", "security": "tls", "tlsSettings": tls});
    match e.protocol {
        Protocol::Trojan => json!({
            "tag": tag, "protocol": "trojan",
            "settings": {"servers": [{"address": e.address, "port": e.port.0,
                                      "password": e.password, "email": e.user}]},
            "streamSettings": stream
        }),
        Protocol::Vless => {
            let mut user = json!({"id": e.password, "encryption": "none", "email": e.user});
            if !e.flow.is_empty()
                && let Some(u) = user.as_object_mut()
            {
                u.insert("flow".into(), json!(e.flow));
            }
            json!({
                "tag": tag, "protocol": "vless",
                "settings": {"vnext": [{"address": e.address, "port": e.port.0, "users": [user]}]},
                "streamSettings": stream
            })
        }
    }
}

pub fn build(
    m: &ClientDesired,
    core: &CoreInfo,
    file: &std::path::Path,
) -> Result<ClientOut, Vec<ConfigError>> {
    let s = &m.client;
    let caps = core.capabilities();
    let mut errors = Vec::new();
    let unsupported = |key: &str, feature: &str| {
        ConfigError::new(
            ErrorCode::UnsupportedByCore,
            file,
            key,
            format!(
                "{feature} is not supported by the core found: {}",
                core.describe()
            ),
        )
    };

    let mut out = Managed::default();
    out.top.insert("log".into(), log_block(m.logging.level));

    // TUN: who carries packets.
    let engine = if s.tun_enabled {
        match s.tun_engine {
            TunEngine::Core if !caps.tun_inbound => {
                errors.push(unsupported(
                    "client.tun_engine",
                    "a TUN inbound (xray >= 26)",
                ));
                None
            }
            TunEngine::Core => Some("core"),
            TunEngine::Auto if caps.tun_inbound => Some("core"),
            TunEngine::Auto | TunEngine::Builtin => Some("builtin"),
        }
    } else {
        None
    };
    if engine == Some("core") {
        out.inbounds.push(json!({
            "tag": "tun-in", "protocol": "tun", "port": 0,
            "settings": {"name": s.tun_name, "MTU": s.tun_mtu.0}
        }));
    }

    let socks_ip = s.socks_address.ip().to_string();
    out.inbounds.push(json!({
        "tag": "socks-in", "protocol": "socks",
        "listen": socks_ip, "port": s.socks_address.port(),
        "settings": {"auth": "noauth", "udp": true, "ip": socks_ip}
    }));
    out.runtime_inbounds.push(RuntimeInbound {
        tag: "socks-in".into(),
        protocol: "socks".into(),
        listen: socks_ip,
        port: s.socks_address.port(),
        network: "tcp,udp".into(),
    });

    add_api(&mut out, ROLE, &m.core, core);
    // Reverse-bridge rules precede the diagnostics markers (system slot).
    let bridge_outbounds = super::reverse::add_bridges(&mut out, s, |e| outbound(e, core));

    let mut endpoints = Vec::new();
    for (i, e) in s.endpoints.iter().enumerate() {
        if e.disabled {
            continue;
        }
        if !e.flow.is_empty() && !caps.vision {
            errors.push(unsupported(
                &format!("client.endpoints[{i}].flow"),
                "VLESS Vision (xtls-rprx-vision)",
            ));
        }
        let tag = e.effective_tag();
        out.outbounds.push(outbound(e, core));
        // Bypass: the endpoint's own address and port never loop into a tunnel.
        let (matcher, target) = match e.address.parse::<std::net::IpAddr>() {
            Ok(ip) => (
                json!({"ip": [ip.to_string()], "port": e.port.0.to_string()}),
                ip.to_string(),
            ),
            Err(_) => (
                json!({"domain": [format!("full:{}", e.address)], "port": e.port.0.to_string()}),
                e.address.clone(),
            ),
        };
        out.bypass_rules.push(field_rule(
            rule_tag(
                ROLE,
                "endpoint-bypass",
                &[&tag, &target, &e.port.to_string()],
            ),
            matcher,
            "direct",
        ));
        // Diagnostics marker: this address goes through this endpoint only.
        let marker = crate::diag::marker(i);
        out.system_rules.push(field_rule(
            rule_tag(ROLE, "diagnostics-marker", &[&tag]),
            json!({"ip": [format!("{}/32", marker.ip())], "port": marker.port().to_string()}),
            &tag,
        ));
        endpoints.push(RuntimeEndpoint {
            marker: marker.to_string(),
            tag,
            hostname: e.hostname.clone(),
            address: e.address.clone(),
            port: e.port.0,
            protocol: match e.protocol {
                Protocol::Trojan => "trojan".into(),
                Protocol::Vless => "vless".into(),
            },
        });
    }
    out.outbounds.push(direct_outbound());
    out.outbounds.extend(bridge_outbounds);

    for f in &s.forwards {
        add_forward(&mut out, ROLE, f);
    }
    out.managed_rules.extend(redirect_rules(ROLE, &s.redirects));

    let full = s.tun_enabled && s.tun_mode == TunMode::Full;
    let full_tag = if !s.full_tunnel_tag.is_empty() {
        s.full_tunnel_tag.clone()
    } else {
        s.enabled_endpoints()
            .next()
            .map(Endpoint::effective_tag)
            .unwrap_or_default()
    };
    if full && !full_tag.is_empty() {
        out.final_rules.push(field_rule(
            rule_tag(ROLE, "full-tunnel", &[&full_tag]),
            json!({"ip": ["0.0.0.0/0", "::/0"]}),
            &full_tag,
        ));
    }

    if !errors.is_empty() {
        return Err(errors);
    }
    let tun = RuntimeTun {
        enabled: s.tun_enabled,
        mode: match (s.tun_enabled, s.tun_mode) {
            (false, _) => "proxy".into(),
            (true, TunMode::Split) => "split".into(),
            (true, TunMode::Full) => "full".into(),
        },
        engine: engine.map(str::to_string),
        name: s.tun_name.clone(),
        mtu: s.tun_mtu.0,
        addr: s.tun_addr.to_string(),
        dns_servers: s.dns_servers.iter().map(|d| d.to_string()).collect(),
        full_tunnel_tag: if full { full_tag } else { String::new() },
        routes: if s.tun_enabled {
            tunnel_cidrs(&s.redirects, &endpoints)
        } else {
            Vec::new()
        },
        socks: (engine == Some("builtin")).then(|| s.socks_address.to_string()),
    };
    Ok(ClientOut {
        managed: out,
        endpoints,
        tun,
    })
}

/// CIDR redirects to an enabled endpoint, deduplicated in a stable order: what
/// split mode routes into the TUN. Redirects to `direct` or to a forward stay
/// off the TUN (the core would send them straight back into it).
fn tunnel_cidrs(
    redirects: &[crate::desired::Redirect],
    endpoints: &[RuntimeEndpoint],
) -> Vec<String> {
    let mut cidrs: Vec<String> = redirects
        .iter()
        .filter(|r| endpoints.iter().any(|e| e.tag == r.outbound_tag))
        .filter_map(|r| r.cidr.as_ref().map(|c| c.0.trunc().to_string()))
        .collect();
    cidrs.sort();
    cidrs.dedup();
    cidrs
}
