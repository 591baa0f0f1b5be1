//! A minimal SOCKS5 client (no auth, CONNECT to an IPv4 target): the handshake
//! only, returning the stream, for probes through a core's SOCKS inbound.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// Connects through `socks` to `target`; reads and writes time out after `timeout`.
pub fn connect(socks: SocketAddr, target: SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
    let SocketAddr::V4(t4) = target else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "IPv4 targets only",
        ));
    };
    let mut s = TcpStream::connect_timeout(&socks, timeout)?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    s.write_all(&[5, 1, 0])?;
    let mut reply = [0u8; 2];
    s.read_exact(&mut reply)?;
    if reply != [5, 0] {
        return Err(io::Error::other(format!(
            "SOCKS5 greeting refused: {reply:?}"
        )));
    }
    let mut req = vec![5, 1, 0, 1];
    req.extend_from_slice(&t4.ip().octets());
    req.extend_from_slice(&t4.port().to_be_bytes());
    s.write_all(&req)?;
    let mut head = [0u8; 4];
    s.read_exact(&mut head)?;
    if head[0] != 5 || head[1] != 0 {
        return Err(io::Error::other(format!(
            "SOCKS5 CONNECT failed (reply {})",
            head[1]
        )));
    }
    let rest = match head[3] {
        1 => 6,
        4 => 18,
        3 => {
            let mut len = [0u8; 1];
            s.read_exact(&mut len)?;
            usize::from(len[0]) + 2
        }
        other => {
            return Err(io::Error::other(format!(
                "SOCKS5 reply address type {other}"
            )));
        }
    };
    let mut bound = vec![0u8; rest];
    s.read_exact(&mut bound)?;
    Ok(s)
}
