//! Parsing the Desired TOML files. Parse errors carry the file,
//! line:column and the key path; semantic checks are in [`super::validate`].

use std::path::Path;

use serde::de::DeserializeOwned;

use super::locate::line_col;
use super::model::{ClientDesired, ServerDesired};
use crate::error::{ConfigError, ErrorCode, Problems};

/// Parses TOML into `T`, reporting `file:line:col: key.path: message`.
pub fn parse_toml<T: DeserializeOwned>(file: &Path, src: &str) -> Result<T, ConfigError> {
    let de = toml::Deserializer::new(src);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let key = e.path().to_string();
        let inner = e.into_inner();
        let position = inner.span().map(|s| line_col(src, s.start));
        let key = if key == "." { String::new() } else { key };
        ConfigError::new(
            ErrorCode::InvalidToml,
            file,
            key,
            inner.message().to_string(),
        )
        .at(position)
    })
}

pub fn parse_client(file: &Path, src: &str) -> Result<ClientDesired, Problems> {
    parse_toml(file, src).map_err(Problems::one)
}

pub fn parse_server(file: &Path, src: &str) -> Result<ServerDesired, Problems> {
    parse_toml(file, src).map_err(Problems::one)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client_err(src: &str) -> String {
        parse_client(Path::new("xp2p-client.toml"), src)
            .map(|_| ())
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn unknown_key_names_file_line_and_key() {
        let e = client_err("[client]\nsocks_adress = \"127.0.0.1:1\"\n");
        assert!(
            e.starts_with(
                "xp2p-client.toml:2:1: client.socks_adress: unknown field `socks_adress`"
            ),
            "{e}"
        );
        assert!(e.ends_with("[invalid_toml]"), "{e}");
    }

    #[test]
    fn bad_port_names_the_key_path() {
        let e = client_err(
            "[client]\n[[client.endpoints]]\nhostname=\"a\"\naddress=\"a\"\nport=0\nuser=\"u\"\npassword=\"p\"\n",
        );
        assert!(
            e.contains(
                "xp2p-client.toml:5:6: client.endpoints[0].port: port must be 1-65535, got 0"
            ),
            "{e}"
        );
    }

    #[test]
    fn bad_mtu_and_cidr() {
        let e = client_err("[client]\ntun_mtu = 100\n");
        assert!(e.contains("client.tun_mtu: MTU must be 576-9000"), "{e}");
        let e = client_err("[client]\ntun_addr = \"198.18.0.1\"\n");
        assert!(
            e.contains("client.tun_addr: `198.18.0.1` is not a CIDR"),
            "{e}"
        );
    }

    #[test]
    fn syntax_error_has_position() {
        let e = client_err("[client\n");
        assert!(e.starts_with("xp2p-client.toml:1:"), "{e}");
    }

    #[test]
    fn missing_role_table() {
        let e = client_err("[logging]\nlevel = \"info\"\n");
        assert!(e.contains("missing field `client`"), "{e}");
    }

    #[test]
    fn defaults_apply() {
        let m = parse_client(Path::new("f"), "[client]\n").unwrap();
        assert_eq!(m.client.socks_address.to_string(), "127.0.0.1:51180");
        assert_eq!(m.client.tun_name, "xp2pc");
        assert!(m.core.validate);
        let s = parse_server(Path::new("f"), "[server]\n").unwrap();
        assert_eq!(s.server.trojan_port.0, 58443);
        assert_eq!(s.server.certificate, "tls/server/cert.pem");
    }
}
