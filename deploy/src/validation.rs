//! The temporary validation configs, built directly as JSON (they are not the
//! service's config and never share its ports).
//!
//! Server: one TLS inbound (trojan or VLESS, as the server's profile) admitting
//! only the new user on the validation port, and one `freedom` outbound that
//! `redirect`s everything to the loopback echo target. Client: a SOCKS inbound on
//! an ephemeral loopback port and one outbound to the server's validation inbound,
//! with the server name and the pinned certificate the server reported.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;

use serde_json::{Value, json};

use crate::compile::common::tls_settings;
use crate::desired::{Protocol, ServerProfile};
use xp2p_core::coreproc::CoreInfo;

/// The server side of validation.
pub struct ServerValidation<'a> {
    pub profile: ServerProfile,
    pub listen: IpAddr,
    pub port: u16,
    pub user: &'a str,
    pub credential: &'a str,
    pub cert: &'a Path,
    pub key: &'a Path,
    pub echo: SocketAddr,
}

pub fn server_config(v: &ServerValidation<'_>) -> Value {
    let (protocol, settings) = match v.profile {
        ServerProfile::TrojanTls => (
            "trojan",
            json!({"clients": [{"password": v.credential, "email": v.user}]}),
        ),
        ServerProfile::VlessTls => (
            "vless",
            json!({"clients": [{"id": v.credential, "email": v.user}], "decryption": "none"}),
        ),
        ServerProfile::VlessTlsVision => (
            "vless",
            json!({"clients": [{"id": v.credential, "email": v.user, "flow": "xtls-rprx-vision"}],
                   "decryption": "none"}),
        ),
    };
    json!({
        "log": {"loglevel": "warning"},
        "inbounds": [{
            "tag": "deploy-validate-in", "protocol": protocol,
            "listen": v.listen.to_string(), "port": v.port,
            "settings": settings,
            "streamSettings": {"network": "tcp", "security": "tls", "tlsSettings": {
                "certificates": [{
                    "certificateFile": v.cert.display().to_string(),
                    "keyFile": v.key.display().to_string()
                }]
            }}
        }],
        "outbounds": [{
            "tag": "deploy-echo", "protocol": "freedom",
            "settings": {"redirect": v.echo.to_string()}
        }]
    })
}

/// The client side of validation: where the server's validation inbound is.
pub struct ClientValidation<'a> {
    pub socks_port: u16,
    pub protocol: Protocol,
    pub address: &'a str,
    pub port: u16,
    pub user: &'a str,
    pub credential: &'a str,
    pub server_name: &'a str,
    pub pin_sha256: &'a str,
    pub flow: Option<&'a str>,
}

pub fn client_config(core: &CoreInfo, v: &ClientValidation<'_>) -> Value {
    let tls = tls_settings(v.server_name, true, v.pin_sha256, core);
    let stream = json!({"network": "tcp", "security": "tls", "tlsSettings": tls});
    let outbound = match v.protocol {
        Protocol::Trojan => json!({
            "tag": "deploy-validate-out", "protocol": "trojan",
            "settings": {"servers": [{"address": v.address, "port": v.port,
                                      "password": v.credential, "email": v.user}]},
            "streamSettings": stream
        }),
        Protocol::Vless => {
            let mut user = json!({"id": v.credential, "encryption": "none", "email": v.user});
            if let (Some(flow), Some(u)) = (v.flow, user.as_object_mut()) {
                u.insert("flow".into(), json!(flow));
            }
            json!({
                "tag": "deploy-validate-out", "protocol": "vless",
                "settings": {"vnext": [{"address": v.address, "port": v.port, "users": [user]}]},
                "streamSettings": stream
            })
        }
    };
    json!({
        "log": {"loglevel": "warning"},
        "inbounds": [{
            "tag": "deploy-socks-in", "protocol": "socks",
            "listen": "127.0.0.1", "port": v.socks_port,
            "settings": {"auth": "noauth", "udp": false}
        }],
        "outbounds": [outbound]
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use xp2p_core::coreproc::Flavour;

    #[test]
    fn server_config_admits_only_the_new_user_and_redirects_to_echo() {
        let c = server_config(&ServerValidation {
            profile: ServerProfile::TrojanTls,
            listen: "0.0.0.0".parse().unwrap(),
            port: 4000,
            user: "alice",
            credential: "cred",
            cert: Path::new("/t/cert.pem"),
            key: Path::new("/t/key.pem"),
            echo: "127.0.0.1:5000".parse().unwrap(),
        });
        assert_eq!(
            c["inbounds"][0]["settings"]["clients"][0]["password"],
            "cred"
        );
        assert_eq!(c["inbounds"][0]["port"], 4000);
        assert_eq!(c["outbounds"][0]["settings"]["redirect"], "127.0.0.1:5000");
        assert_eq!(c["outbounds"].as_array().map(Vec::len), Some(1));
    }

    #[test]
    fn client_config_pins_per_flavour() {
        let core = CoreInfo {
            path: "/usr/bin/v2ray".into(),
            flavour: Flavour::V2ray,
            version: "4.34.0".into(),
        };
        let pin = "ab".repeat(32);
        let c = client_config(
            &core,
            &ClientValidation {
                socks_port: 1080,
                protocol: Protocol::Vless,
                address: "vpn.example.com",
                port: 4000,
                user: "alice",
                credential: "0b6f8a3e-7b5c-4a0e-9d7f-1c2b3a4d5e6f",
                server_name: "vpn.example.com",
                pin_sha256: &pin,
                flow: None,
            },
        );
        let tls = &c["outbounds"][0]["streamSettings"]["tlsSettings"];
        assert_eq!(tls["allowInsecure"], true);
        assert!(tls["pinnedPeerCertificateChainSha256"].is_array());
        assert_eq!(
            c["outbounds"][0]["settings"]["vnext"][0]["users"][0]["encryption"],
            "none"
        );
        assert_eq!(c["inbounds"][0]["listen"], "127.0.0.1");
    }
}
