//! The client's validation probe: send a line through the temporary core's SOCKS
//! inbound (handshake in [`crate::socks5`]) and read what comes back.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::Duration;

/// Connects through `socks` to `target`, writes `probe`, returns everything read
/// until the far end closes (at most 4 KiB).
pub fn probe(
    socks: SocketAddr,
    target: SocketAddr,
    probe: &[u8],
    timeout: Duration,
) -> io::Result<Vec<u8>> {
    let mut s = crate::socks5::connect(socks, target, timeout)?;
    s.write_all(probe)?;
    let mut out = Vec::new();
    s.take(4096).read_to_end(&mut out)?;
    Ok(out)
}
