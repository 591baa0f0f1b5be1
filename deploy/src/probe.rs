//! The tunnel probe: one `xp2p-ping` round trip through the client core's SOCKS
//! inbound to an endpoint's marker address (see `xp2p_core::diag` for the
//! markers and the server's answer).

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// One round trip through `socks` to an endpoint's marker; the RTT on success.
pub fn ping(socks: SocketAddr, marker: SocketAddr, timeout: Duration) -> Result<Duration, String> {
    let token = format!("{:016x}", rand_token());
    let t0 = Instant::now();
    let mut s = crate::socks5::connect(socks, marker, timeout)
        .map_err(|e| format!("SOCKS {socks}: {e}"))?;
    s.write_all(format!("xp2p-ping {token}\n").as_bytes())
        .map_err(|e| e.to_string())?;
    let mut line = String::new();
    BufReader::new(&mut s)
        .read_line(&mut line)
        .map_err(|e| format!("no answer through the tunnel: {e}"))?;
    if line.trim_end() == format!("xp2p-pong {token}") {
        Ok(t0.elapsed())
    } else if line.is_empty() {
        Err("no answer through the tunnel (the core closed the connection: the server or its responder is unreachable)".into())
    } else {
        Err(format!("unexpected answer {:?}", line.trim_end()))
    }
}

fn rand_token() -> u64 {
    let mut b = [0u8; 8];
    if getrandom::fill(&mut b).is_err() {
        return std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(7);
    }
    u64::from_le_bytes(b)
}
