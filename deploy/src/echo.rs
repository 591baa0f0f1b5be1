//! The server's echo target for validation: a loopback listener that lives for
//! one deploy session and, for each connection, sends back the first line it
//! reads (the client's random probe). The temporary core routes the validation
//! inbound only here, so the new credential cannot reach anything else meanwhile.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// The longest probe echoed (bytes, newline included).
const MAX_PROBE: usize = 256;

pub struct EchoTarget {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl EchoTarget {
    /// Binds `127.0.0.1:0` and serves on a thread until dropped.
    pub fn start() -> io::Result<EchoTarget> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("deploy-echo".into())
            .spawn(move || {
                for conn in listener.incoming() {
                    if flag.load(Ordering::SeqCst) {
                        break;
                    }
                    if let Ok(s) = conn {
                        let _ = echo_once(s);
                    }
                }
            })?;
        Ok(EchoTarget {
            addr,
            stop,
            thread: Some(thread),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

fn echo_once(mut s: TcpStream) -> io::Result<()> {
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    s.set_write_timeout(Some(Duration::from_secs(10)))?;
    let mut got = Vec::new();
    let mut buf = [0u8; 64];
    while !got.contains(&b'\n') && got.len() < MAX_PROBE {
        let n = s.read(&mut buf)?;
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    got.truncate(MAX_PROBE);
    s.write_all(&got)?;
    s.flush()?;
    s.shutdown(Shutdown::Write)
}

impl Drop for EchoTarget {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag; join only if that worked.
        let woke = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1)).is_ok();
        if let Some(t) = self.thread.take()
            && woke
        {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echoes_the_probe_line_and_stops() {
        let e = EchoTarget::start().unwrap();
        let mut s = TcpStream::connect(e.addr()).unwrap();
        s.write_all(b"probe-123\n").unwrap();
        let mut back = String::new();
        s.read_to_string(&mut back).unwrap();
        assert_eq!(back, "probe-123\n");
        let addr = e.addr();
        drop(e);
        assert!(TcpStream::connect_timeout(&addr, Duration::from_millis(300)).is_err());
    }
}
