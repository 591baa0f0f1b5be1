//! The server role: a Trojan or VLESS TLS inbound on `listen:trojan_port` with the
//! enabled users, forward inbounds, `direct`, redirect and forward rules.

use std::path::Path;

use serde_json::json;

use super::common::{Managed, add_api, add_forward, direct_outbound, log_block};
use super::rules::redirect_rules;
use super::runtime::{RuntimeInbound, RuntimeTun};
use crate::coreproc::CoreInfo;
use crate::desired::{ServerDesired, ServerProfile};
use crate::error::{ConfigError, ErrorCode};
use crate::layout::Layout;
use crate::role::Role;

const ROLE: Role = Role::Server;

pub struct ServerOut {
    pub managed: Managed,
    pub tun: RuntimeTun,
}

pub fn build(
    m: &ServerDesired,
    core: &CoreInfo,
    layout: &Layout,
    file: &Path,
    now: std::time::SystemTime,
) -> Result<ServerOut, Vec<ConfigError>> {
    let s = &m.server;
    let mut out = Managed::default();
    out.top.insert("log".into(), log_block(m.logging.level));

    if s.profile == ServerProfile::VlessTlsVision && !core.capabilities().vision {
        return Err(vec![ConfigError::new(
            ErrorCode::UnsupportedByCore,
            file,
            "server.profile",
            format!(
                "VLESS Vision (vless-tls-vision) is not supported by the core found: {}",
                core.describe()
            ),
        )]);
    }

    // (credential, email) of every enabled user, then the previous credential
    // of a rotated user while its grace lasts (under its own email).
    let users: Vec<(&str, String)> = s
        .users
        .iter()
        .filter(|u| !u.disabled)
        .flat_map(|u| {
            let prev = u.previous_in_grace(now).map(|p| (p, u.previous_email()));
            std::iter::once((u.credential.as_str(), u.user_label.clone())).chain(prev)
        })
        .collect();
    let users = users.into_iter();
    let tls = json!({"certificates": [{
        "certificateFile": layout.resolve_asset(&s.certificate).display().to_string(),
        "keyFile": layout.resolve_asset(&s.key).display().to_string(),
    }]});
    let stream = json!({"network": "tcp", "security": "tls", "tlsSettings": tls});
    let (tag, protocol, settings) = match s.profile {
        ServerProfile::TrojanTls => (
            "trojan-in",
            "trojan",
            json!({"clients": users.map(|(cred, email)| json!({"password": cred, "email": email})).collect::<Vec<_>>()}),
        ),
        ServerProfile::VlessTls | ServerProfile::VlessTlsVision => {
            let vision = s.profile == ServerProfile::VlessTlsVision;
            let clients: Vec<_> = users
                .map(|(cred, email)| {
                    let mut c = json!({"id": cred, "email": email});
                    if vision && let Some(o) = c.as_object_mut() {
                        o.insert("flow".into(), json!("xtls-rprx-vision"));
                    }
                    c
                })
                .collect();
            (
                "vless-in",
                "vless",
                json!({"clients": clients, "decryption": "none"}),
            )
        }
    };
    out.inbounds.push(json!({
        "tag": tag, "protocol": protocol,
        "listen": s.listen.to_string(), "port": s.trojan_port.0,
        "settings": settings, "streamSettings": stream
    }));
    out.runtime_inbounds.push(RuntimeInbound {
        tag: tag.into(),
        protocol: protocol.into(),
        listen: s.listen.to_string(),
        port: s.trojan_port.0,
        network: "tcp".into(),
    });
    add_api(&mut out, ROLE, &m.core, core);
    let portal_outbounds = super::reverse::add_portals(&mut out, s, now);
    out.outbounds.push(direct_outbound());
    // Diagnostics: client markers (127.255.0.0/16) reach the loopback responder.
    out.outbounds.push(json!({
        "tag": "xp2p-diag", "protocol": "freedom",
        "settings": {"redirect": format!("127.0.0.1:{}", s.diag_port.0)}
    }));
    out.system_rules.push(super::rules::field_rule(
        super::rules::rule_tag(ROLE, "diagnostics", &[&s.diag_port.to_string()]),
        json!({"ip": ["127.255.0.0/16"]}),
        "xp2p-diag",
    ));
    out.outbounds.extend(portal_outbounds);
    for f in &s.forwards {
        add_forward(&mut out, ROLE, f);
    }
    out.managed_rules.extend(redirect_rules(ROLE, &s.redirects));
    // The host's own SOCKS inbound: its traffic meets the redirects (a reverse
    // channel into a client's LAN, say).
    if let Some(addr) = s.socks_address {
        out.inbounds.push(json!({
            "tag": "socks-in", "protocol": "socks",
            "listen": addr.ip().to_string(), "port": addr.port(),
            "settings": {"auth": "noauth", "udp": true, "ip": addr.ip().to_string()}
        }));
        out.runtime_inbounds.push(RuntimeInbound {
            tag: "socks-in".into(),
            protocol: "socks".into(),
            listen: addr.ip().to_string(),
            port: addr.port(),
            network: "tcp,udp".into(),
        });
    }
    // TUN mode: the service's bridge feeds this loopback SOCKS inbound, so traffic
    // the host routes into the TUN meets the same routing as tunnel traffic.
    let tun_socks = std::net::SocketAddr::from(([127, 0, 0, 1], s.tun_socks_port.0));
    if s.tun_enabled {
        out.inbounds.push(json!({
            "tag": "tun-socks-in", "protocol": "socks",
            "listen": "127.0.0.1", "port": s.tun_socks_port.0,
            "settings": {"auth": "noauth", "udp": true, "ip": "127.0.0.1"}
        }));
        out.runtime_inbounds.push(RuntimeInbound {
            tag: "tun-socks-in".into(),
            protocol: "socks".into(),
            listen: "127.0.0.1".into(),
            port: s.tun_socks_port.0,
            network: "tcp,udp".into(),
        });
    }
    let mut routes: Vec<String> = s
        .redirects
        .iter()
        .filter(|r| s.tun_enabled && r.outbound_tag != "direct")
        .filter_map(|r| r.cidr.as_ref().map(|c| c.0.trunc().to_string()))
        .collect();
    routes.sort();
    routes.dedup();
    let tun = RuntimeTun {
        enabled: s.tun_enabled,
        mode: if s.tun_enabled {
            "tun".into()
        } else {
            "proxy".into()
        },
        engine: s.tun_enabled.then(|| "builtin".to_string()),
        name: s.tun_name.clone(),
        mtu: s.tun_mtu.0,
        addr: s.tun_addr.to_string(),
        dns_servers: Vec::new(),
        full_tunnel_tag: String::new(),
        routes,
        socks: s.tun_enabled.then(|| tun_socks.to_string()),
    };
    Ok(ServerOut { managed: out, tun })
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::{Duration, SystemTime};

    use super::build;
    use crate::coreproc::{CoreInfo, Flavour};
    use crate::desired::{load, next_rotation_expiry};
    use crate::layout::Layout;

    const ROTATED: &str = "[server]\nhost = \"vpn.example.com\"\n\n[[server.users]]\nuser_label = \"alice\"\ncredential = \"new-secret\"\nprevious_credential = \"old-secret\"\nrotation_expires_at = \"2026-01-02T00:00:00Z\"\n\n[[server.users]]\nuser_label = \"bob\"\ncredential = \"bob-secret\"\n";

    fn clients(src: &str, now: &str) -> Vec<(String, String)> {
        let m = load::parse_server(Path::new("s.toml"), src).unwrap();
        let core = CoreInfo {
            path: "/usr/bin/v2ray".into(),
            flavour: Flavour::V2ray,
            version: "4.34.0".into(),
        };
        let layout = Layout::new("/etc/xp2p", "/var/log/xp2p");
        let now = humantime::parse_rfc3339(now).unwrap();
        let out = build(&m, &core, &layout, Path::new("s.toml"), now).unwrap();
        out.managed.inbounds[0]["settings"]["clients"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["password"].as_str().unwrap().to_string(),
                    c["email"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }

    fn pair(c: &str, e: &str) -> (String, String) {
        (c.to_string(), e.to_string())
    }

    #[test]
    fn both_credentials_are_compiled_while_the_grace_lasts() {
        assert_eq!(
            clients(ROTATED, "2026-01-01T23:59:59Z"),
            vec![
                pair("new-secret", "alice"),
                pair("old-secret", "alice~previous"),
                pair("bob-secret", "bob"),
            ]
        );
    }

    #[test]
    fn an_expired_previous_credential_is_not_compiled() {
        for now in ["2026-01-02T00:00:00Z", "2026-03-01T00:00:00Z"] {
            assert_eq!(
                clients(ROTATED, now),
                vec![pair("new-secret", "alice"), pair("bob-secret", "bob")],
                "{now}"
            );
        }
    }

    #[test]
    fn a_disabled_user_has_neither_credential() {
        let src = ROTATED.replace(
            "user_label = \"alice\"\n",
            "user_label = \"alice\"\ndisabled = true\n",
        );
        assert_eq!(
            clients(&src, "2026-01-01T00:00:00Z"),
            vec![pair("bob-secret", "bob")]
        );
    }

    #[test]
    fn next_rotation_expiry_is_the_earliest_future_grace_end() {
        let m = load::parse_server(Path::new("s.toml"), ROTATED).unwrap();
        let t = |s: &str| humantime::parse_rfc3339(s).unwrap();
        assert_eq!(
            next_rotation_expiry(&m, t("2026-01-01T00:00:00Z")),
            Some(t("2026-01-02T00:00:00Z"))
        );
        assert_eq!(next_rotation_expiry(&m, t("2026-01-02T00:00:00Z")), None);
        assert_eq!(
            next_rotation_expiry(&m, SystemTime::UNIX_EPOCH + Duration::from_secs(1)),
            Some(t("2026-01-02T00:00:00Z"))
        );
    }
}
