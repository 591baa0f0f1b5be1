//! Diagnostics through the tunnel. The client's config routes a marker address
//! per endpoint (`127.255.x.y:62022`) into that endpoint; the server's config
//! sends anything for `127.255.0.0/16` to its loopback responder on `diag_port`,
//! which answers `xp2p-ping <token>` with `xp2p-pong <token>`. A round trip thus
//! crosses the client core, the tunnel, the server core and back. The probe
//! itself (the socket side) is `xp2p_deploy::probe::ping`.

use std::net::{Ipv4Addr, SocketAddr};

/// The port client markers use (the server redirects whatever port arrives).
pub const MARKER_PORT: u16 = 62022;

/// The marker address of the endpoint declared at `index`.
pub fn marker(index: usize) -> SocketAddr {
    let n = index + 1;
    SocketAddr::from((
        Ipv4Addr::new(127, 255, (n / 256) as u8, (n % 256) as u8),
        MARKER_PORT,
    ))
}

/// The server's answer to one ping line, or `None` for anything else.
pub fn answer(line: &str) -> Option<String> {
    line.trim_end()
        .strip_prefix("xp2p-ping ")
        .filter(|t| !t.is_empty() && t.len() <= 64)
        .map(|t| format!("xp2p-pong {t}\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_and_answers() {
        assert_eq!(marker(0).to_string(), "127.255.0.1:62022");
        assert_eq!(marker(255).to_string(), "127.255.1.0:62022");
        assert_eq!(
            answer("xp2p-ping abc\n").as_deref(),
            Some("xp2p-pong abc\n")
        );
        assert_eq!(answer("GET / HTTP/1.0"), None);
        assert_eq!(answer("xp2p-ping "), None);
    }
}
