//! Reverse channels in the compiled config: the client's `reverse.bridges`
//! with their two routing rules, the server's `reverse.portals` with a marker
//! rule and the rule that takes the bridge's connections into the portal
//! (xp2p-upstream §3.2, §3.3; V2Ray's bridge/portal reverse proxy).
//!
//! Client, per enabled bridge (system slot, before the diagnostics markers):
//! `inboundTag:[bridge] + domain:[full:<domain>]` → the endpoint (the bridge's
//! link to the portal), then `inboundTag:[bridge]` → `direct` (what the server
//! sends into the client's LAN). A Trojan client sends its request header
//! only with the first payload, and a bridge sends nothing before the portal
//! does, so over a Trojan endpoint the two would wait for each other forever
//! (seen with v2ray 4.34); the link then goes through `xp2p-rev-<endpoint>`,
//! a copy of the endpoint's outbound with Mux on, whose frame header opens
//! the connection at once. VLESS sends its header eagerly and needs no copy.
//! Between the two, `inboundTag:[bridge] + ip:[127.254.0.0/16]` → `xp2p-diag`,
//! a freedom outbound redirecting to the client's loopback responder
//! (`client.diag_port`): the end of a channel probe.
//!
//! Server, per enabled channel of an enabled user: a marker rule
//! (`127.254.x.y:62023` → portal, for channel probes) and
//! `domain:[full:<domain>] + user:[label, label~previous]` → portal. Server
//! redirects and forwards that name the channel's tag route into the portal
//! as any outbound tag does. With any channel enabled, the service probes
//! through a loopback SOCKS inbound `xp2p-diag-in` (`server.diag_socks_port`)
//! whose traffic matches the markers and nothing else (the rest is dropped
//! by `xp2p-diag-drop`, a blackhole).

use std::time::SystemTime;

use serde_json::{Value, json};

use super::common::Managed;
use super::rules::{field_rule, rule_tag};
use super::runtime::{RuntimeChannel, RuntimeInbound};
use crate::desired::{ClientSection, Endpoint, Protocol, ServerSection};
use crate::role::Role;

/// The marker address of the channel at `index` in key order (all channels,
/// enabled or not, so that disabling one moves no other): `127.254.x.y`.
pub fn channel_marker(index: usize) -> std::net::SocketAddr {
    let n = index + 1;
    std::net::SocketAddr::from((
        std::net::Ipv4Addr::new(127, 254, (n / 256) as u8, (n % 256) as u8),
        CHANNEL_MARKER_PORT,
    ))
}

/// The port of channel markers (xp2p-upstream §8.4).
pub const CHANNEL_MARKER_PORT: u16 = 62023;

/// The client's diagnostics outbound (to its responder) and the server's.
pub const DIAG_OUTBOUND: &str = "xp2p-diag";
/// The server's loopback SOCKS inbound channel probes enter through.
pub const DIAG_INBOUND: &str = "xp2p-diag-in";
/// The server's blackhole for anything else entering `xp2p-diag-in`.
pub const DIAG_DROP: &str = "xp2p-diag-drop";

/// The tag of the Mux copy of a Trojan endpoint's outbound that bridges use.
pub fn bridge_outbound_tag(endpoint_tag: &str) -> String {
    format!("xp2p-rev-{endpoint_tag}")
}

/// Client: the bridges and their rules (into `m.system_rules`; call before
/// the diagnostics markers are added). Returns the outbounds the bridges
/// need beyond the endpoints (Mux copies of Trojan endpoints, built by
/// `outbound`, then `xp2p-diag`), to be placed after `direct`.
pub fn add_bridges(
    m: &mut Managed,
    s: &ClientSection,
    outbound: impl Fn(&Endpoint) -> Value,
) -> Vec<Value> {
    const ROLE: Role = Role::Client;
    let mut bridges = Vec::new();
    let mut extra: Vec<(String, Value)> = Vec::new();
    for b in s.reverse.values().filter(|b| !b.disabled) {
        let Some(endpoint) = s.enabled_endpoints().find(|e| {
            e.effective_tag()
                .eq_ignore_ascii_case(b.endpoint_tag.trim())
        }) else {
            // Validation refuses an enabled bridge without an enabled endpoint.
            continue;
        };
        let endpoint_tag = endpoint.effective_tag();
        let via = match endpoint.protocol {
            Protocol::Vless => endpoint_tag.clone(),
            Protocol::Trojan => {
                let via = bridge_outbound_tag(&endpoint_tag);
                if !extra.iter().any(|(t, _)| *t == via) {
                    let mut copy = outbound(endpoint);
                    if let Some(o) = copy.as_object_mut() {
                        o.insert("tag".into(), json!(via));
                        o.insert("mux".into(), json!({"enabled": true, "concurrency": 1}));
                    }
                    extra.push((via.clone(), copy));
                }
                via
            }
        };
        let tag = b.effective_tag();
        let domain = b.effective_domain();
        bridges.push(json!({"tag": tag, "domain": domain}));
        m.system_rules.push(field_rule(
            rule_tag(ROLE, "reverse-domain", &[&tag, &endpoint_tag, &domain]),
            json!({"inboundTag": [tag], "domain": [format!("full:{domain}")]}),
            &via,
        ));
        // Channel probes from the server end at the client's responder.
        m.system_rules.push(field_rule(
            rule_tag(ROLE, "reverse-diag", &[&tag]),
            json!({"inboundTag": [tag], "ip": ["127.254.0.0/16"]}),
            DIAG_OUTBOUND,
        ));
        m.system_rules.push(field_rule(
            rule_tag(ROLE, "reverse-direct", &[&tag]),
            json!({"inboundTag": [tag]}),
            "direct",
        ));
        m.reverse_inbound_tags.push(tag);
    }
    if !bridges.is_empty() {
        m.top
            .insert("reverse".into(), json!({ "bridges": bridges }));
        extra.push((
            DIAG_OUTBOUND.into(),
            json!({"tag": DIAG_OUTBOUND, "protocol": "freedom",
                   "settings": {"redirect": format!("127.0.0.1:{}", s.diag_port.0)}}),
        ));
    }
    extra.into_iter().map(|(_, o)| o).collect()
}

/// Client: the responder port its Live names, when a bridge is compiled.
pub fn client_diag_port(m: &Managed, s: &ClientSection) -> Option<u16> {
    (!m.reverse_inbound_tags.is_empty()).then_some(s.diag_port.0)
}

/// Server: the portals and their rules (into `m.system_rules`), and with any
/// channel enabled the probe inbound `xp2p-diag-in`. Returns the outbounds to
/// place after `direct` (the probe inbound's blackhole). `now` judges rotation
/// graces as the inbound's client list does.
pub fn add_portals(m: &mut Managed, s: &ServerSection, now: SystemTime) -> Vec<Value> {
    const ROLE: Role = Role::Server;
    let mut portals: Vec<Value> = Vec::new();
    for (index, (key, ch)) in s.reverse_channels.iter().enumerate() {
        if ch.disabled {
            continue;
        }
        let Some(user) = s
            .users
            .iter()
            .find(|u| !u.disabled && u.user_label.eq_ignore_ascii_case(ch.user_id.trim()))
        else {
            // Validation refuses an enabled channel of a missing or disabled user.
            continue;
        };
        let tag = ch.effective_tag();
        let domain = ch.effective_domain();
        portals.push(json!({"tag": tag, "domain": domain}));
        let marker = channel_marker(index);
        m.system_rules.push(field_rule(
            rule_tag(ROLE, "reverse-marker", &[&tag]),
            json!({"ip": [format!("{}/32", marker.ip())], "port": marker.port().to_string()}),
            &tag,
        ));
        let mut emails = vec![user.user_label.clone()];
        if user.previous_in_grace(now).is_some() {
            emails.push(user.previous_email());
        }
        m.system_rules.push(field_rule(
            rule_tag(ROLE, "reverse", &[&tag, &domain, &user.user_label]),
            json!({"domain": [format!("full:{domain}")], "user": emails}),
            &tag,
        ));
        m.runtime_channels.push(RuntimeChannel {
            key: key.clone(),
            tag: tag.clone(),
            marker: marker.to_string(),
        });
        m.reverse_outbound_tags.push(tag);
    }
    if !portals.is_empty() {
        m.top
            .insert("reverse".into(), json!({ "portals": portals }));
        add_probe_inbound(m, s.diag_socks_port.0);
        return vec![json!({"tag": DIAG_DROP, "protocol": "blackhole", "settings": {}})];
    }
    Vec::new()
}

/// The loopback SOCKS inbound channel probes enter the server core through:
/// the markers (rules above) take what is theirs, the rest is dropped, so it
/// is no way into the channels or out of the host (the blackhole `xp2p-diag-drop`
/// is the caller's to place, after `direct`).
fn add_probe_inbound(m: &mut Managed, port: u16) {
    m.inbounds.push(json!({
        "tag": DIAG_INBOUND, "protocol": "socks",
        "listen": "127.0.0.1", "port": port,
        "settings": {"auth": "noauth", "udp": false, "ip": "127.0.0.1"}
    }));
    m.runtime_inbounds.push(RuntimeInbound {
        tag: DIAG_INBOUND.into(),
        protocol: "socks".into(),
        listen: "127.0.0.1".into(),
        port,
        network: "tcp".into(),
    });
    m.system_rules.push(field_rule(
        rule_tag(Role::Server, "reverse-probe-drop", &[DIAG_INBOUND]),
        json!({"inboundTag": [DIAG_INBOUND]}),
        DIAG_DROP,
    ));
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::desired::load::{parse_client, parse_server};

    const SERVER: &str = "[server]\nhost = \"h.example\"\n[[server.users]]\nuser_label = \"a\"\ncredential = \"new\"\nprevious_credential = \"old\"\nrotation_expires_at = \"2026-01-02T00:00:00Z\"\n[server.reverse_channels.a]\nuser_id = \"a\"\nhost = \"h.example\"\n";

    fn portals(src: &str, now: &str) -> Managed {
        let m = parse_server(Path::new("s.toml"), src).unwrap();
        let mut out = Managed::default();
        let _ = add_portals(&mut out, &m.server, humantime::parse_rfc3339(now).unwrap());
        out
    }

    #[test]
    fn the_portal_rule_names_the_previous_email_only_during_the_grace() {
        let users = |m: &Managed| m.system_rules[1]["user"].clone();
        assert_eq!(
            users(&portals(SERVER, "2026-01-01T00:00:00Z")),
            json!(["a", "a~previous"])
        );
        assert_eq!(
            users(&portals(SERVER, "2026-01-03T00:00:00Z")),
            json!(["a"])
        );
        // the tags do not depend on the grace
        assert_eq!(
            portals(SERVER, "2026-01-01T00:00:00Z").system_rules[1]["ruleTag"],
            portals(SERVER, "2026-01-03T00:00:00Z").system_rules[1]["ruleTag"]
        );
    }

    #[test]
    fn enabled_channels_get_markers_in_runtime_and_one_probe_inbound() {
        let two = format!(
            "{SERVER}[server.reverse_channels.b]\nuser_id = \"a\"\nhost = \"h.example\"\ntag = \"b.rev\"\ndomain = \"b.rev\"\ndisabled = true\n[server.reverse_channels.c]\nuser_id = \"a\"\nhost = \"h.example\"\ntag = \"c.rev\"\ndomain = \"c.rev\"\n"
        );
        let m = parse_server(Path::new("s.toml"), &two).unwrap();
        let mut out = Managed::default();
        let extra = add_portals(
            &mut out,
            &m.server,
            humantime::parse_rfc3339("2026-01-01T00:00:00Z").unwrap(),
        );
        // the disabled `b` keeps its index: `c` is the third marker
        let rt: Vec<(&str, &str)> = out
            .runtime_channels
            .iter()
            .map(|c| (c.key.as_str(), c.marker.as_str()))
            .collect();
        assert_eq!(rt, [("a", "127.254.0.1:62023"), ("c", "127.254.0.3:62023")]);
        assert_eq!(out.inbounds.len(), 1);
        assert_eq!(out.inbounds[0]["tag"], "xp2p-diag-in");
        assert_eq!(out.inbounds[0]["listen"], "127.0.0.1");
        assert_eq!(out.inbounds[0]["port"], 62024);
        assert_eq!(
            extra,
            [json!({"tag": "xp2p-diag-drop", "protocol": "blackhole", "settings": {}})]
        );
        // the drop rule comes after every marker
        let last = out.system_rules.last().unwrap();
        assert_eq!(last["inboundTag"], json!(["xp2p-diag-in"]));
        assert_eq!(last["outboundTag"], "xp2p-diag-drop");
    }

    #[test]
    fn disabled_channels_and_bridges_emit_nothing() {
        let off = format!("{SERVER}disabled = true\n");
        let m = portals(&off, "2026-01-01T00:00:00Z");
        assert!(m.system_rules.is_empty() && m.top.is_empty());
        assert!(m.inbounds.is_empty() && m.runtime_channels.is_empty());
        assert!(m.reverse_outbound_tags.is_empty());

        let src = "[client]\n[[client.endpoints]]\nhostname = \"h.example\"\naddress = \"h.example\"\nport = 1\nuser = \"a\"\npassword = \"p\"\n[client.reverse.a]\nuser_id = \"a\"\nhost = \"h.example\"\nendpoint_tag = \"proxy-h-example\"\ndisabled = true\n";
        let c = parse_client(Path::new("c.toml"), src).unwrap();
        let mut out = Managed::default();
        let extra = add_bridges(&mut out, &c.client, |_| json!({}));
        assert!(extra.is_empty() && out.system_rules.is_empty() && out.top.is_empty());
        // enabled: the Trojan endpoint gets one Mux copy
        let on = src.replace("disabled = true\n", "");
        let c = parse_client(Path::new("c.toml"), &on).unwrap();
        let mut out = Managed::default();
        let extra = add_bridges(&mut out, &c.client, |_| json!({"protocol": "trojan"}));
        assert_eq!(
            extra,
            [
                json!({"protocol": "trojan", "tag": "xp2p-rev-proxy-h-example",
                    "mux": {"enabled": true, "concurrency": 1}}),
                json!({"tag": "xp2p-diag", "protocol": "freedom",
                    "settings": {"redirect": "127.0.0.1:62025"}}),
            ]
        );
        // channel probes from the bridge end at the client's responder,
        // before the bridge's catch-all to `direct`
        let outs: Vec<&str> = out
            .system_rules
            .iter()
            .map(|r| r["outboundTag"].as_str().unwrap())
            .collect();
        assert_eq!(outs, ["xp2p-rev-proxy-h-example", "xp2p-diag", "direct"]);
        assert_eq!(out.system_rules[1]["ip"], json!(["127.254.0.0/16"]));
        assert_eq!(client_diag_port(&out, &c.client), Some(62025));
        assert_eq!(out.reverse_inbound_tags, ["ah-example.rev"]);
    }
}
