//! The tunnel probe: one `xp2p-ping` round trip through the client core's SOCKS
//! inbound to an endpoint's marker address (see `xp2p_core::diag` for the
//! markers and the server's answer).

use std::io::{BufRead, BufReader, ErrorKind, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// One round trip through `socks` to an endpoint's marker; the RTT on success.
pub fn ping(socks: SocketAddr, marker: SocketAddr, timeout: Duration) -> Result<Duration, String> {
    ping_with(
        socks,
        marker,
        timeout,
        "no answer through the tunnel (the core closed the connection: the server or its responder is unreachable)",
    )
}

/// [`ping`] to any marker (a reverse channel's too); `closed` says what a
/// connection the core closes without an answer means on that path.
pub fn ping_with(
    socks: SocketAddr,
    marker: SocketAddr,
    timeout: Duration,
    closed: &str,
) -> Result<Duration, String> {
    let token = format!("{:016x}", rand_token());
    let t0 = Instant::now();
    let mut s = crate::socks5::connect(socks, marker, timeout)
        .map_err(|e| format!("SOCKS {socks}: {e}"))?;
    // A reset is the core closing the connection too (seen through a
    // reverse channel's portal); a timeout says how long it waited.
    let no_answer = |e: std::io::Error| match e.kind() {
        ErrorKind::ConnectionReset | ErrorKind::BrokenPipe | ErrorKind::UnexpectedEof => {
            closed.to_string()
        }
        ErrorKind::WouldBlock | ErrorKind::TimedOut => {
            format!("no answer within {} ms", timeout.as_millis())
        }
        _ => format!("no answer through the tunnel: {e}"),
    };
    s.write_all(format!("xp2p-ping {token}\n").as_bytes())
        .map_err(no_answer)?;
    let mut line = String::new();
    BufReader::new(&mut s)
        .read_line(&mut line)
        .map_err(no_answer)?;
    if line.trim_end() == format!("xp2p-pong {token}") {
        Ok(t0.elapsed())
    } else if line.is_empty() {
        Err(closed.to_string())
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

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::{SocketAddr, TcpListener, TcpStream};
    use std::sync::mpsc;
    use std::time::Duration;

    use super::ping_with;

    /// How the fake core treats the ping after the SOCKS handshake.
    #[derive(Clone, Copy)]
    enum After {
        /// Reads the line, then closes (FIN).
        Close,
        /// Closes with the line unread: the kernel answers with a reset.
        Reset,
        /// Reads the line and keeps the connection open, silent.
        Silent,
    }

    /// A SOCKS5 inbound that accepts one CONNECT and then does `after`;
    /// the sender ends a silent connection.
    fn fake_core(after: After) -> (SocketAddr, mpsc::Sender<()>) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let (tx, rx) = mpsc::channel::<()>();
        std::thread::spawn(move || {
            let (mut s, _): (TcpStream, _) = l.accept().unwrap();
            let mut greet = [0u8; 3];
            s.read_exact(&mut greet).unwrap();
            s.write_all(&[5, 0]).unwrap();
            let mut req = [0u8; 10];
            s.read_exact(&mut req).unwrap();
            s.write_all(&[5, 0, 0, 1, 127, 0, 0, 1, 0, 0]).unwrap();
            let mut b = [0u8; 1];
            // wait for the ping line
            s.peek(&mut b).unwrap();
            match after {
                After::Reset => {}
                After::Close | After::Silent => {
                    let mut line = [0u8; 27]; // "xp2p-ping " + 16 hex digits + "\n"
                    s.read_exact(&mut line).unwrap();
                }
            }
            if let After::Silent = after {
                let _ = rx.recv();
            }
        });
        (addr, tx)
    }

    fn ping(after: After) -> Result<Duration, String> {
        let (socks, done) = fake_core(after);
        let marker = SocketAddr::from(([127, 254, 0, 1], 62023));
        let r = ping_with(socks, marker, Duration::from_millis(300), "closed");
        let _ = done.send(());
        r
    }

    #[test]
    fn a_closed_or_reset_connection_is_the_paths_closed_reason_and_silence_a_timeout() {
        assert_eq!(ping(After::Close), Err("closed".into()));
        assert_eq!(ping(After::Reset), Err("closed".into()));
        assert_eq!(ping(After::Silent), Err("no answer within 300 ms".into()));
    }
}
