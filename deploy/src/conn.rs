//! The deploy connection: newline-framed lines over TCP with a deadline per line
//! (a slow drip of bytes cannot stretch a read past it), and the sealed layer on
//! top that turns messages into lines with a [`Channel`].

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::READ_TIMEOUT;
use crate::link::Channel;
use crate::link::message::{self, CodecError, Incoming, MAX_LINE};

/// Lines over a TCP stream.
pub struct LineConn {
    stream: TcpStream,
    buf: Vec<u8>,
    peer: Option<SocketAddr>,
}

impl LineConn {
    pub fn new(stream: TcpStream) -> io::Result<LineConn> {
        stream.set_nodelay(true)?;
        stream.set_write_timeout(Some(READ_TIMEOUT))?;
        let peer = stream.peer_addr().ok();
        Ok(LineConn {
            stream,
            buf: Vec::new(),
            peer,
        })
    }

    pub fn peer(&self) -> Option<SocketAddr> {
        self.peer
    }

    /// Reads one line (without its newline) within `timeout`.
    pub fn read_line(&mut self, timeout: Duration) -> io::Result<String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(pos) = self.buf.iter().position(|b| *b == b'\n') {
                let mut line: Vec<u8> = self.buf.drain(..=pos).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return String::from_utf8(line)
                    .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "line is not UTF-8"));
            }
            if self.buf.len() > MAX_LINE {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "line too long"));
            }
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("no answer within {} s", timeout.as_secs()),
                ));
            }
            self.stream.set_read_timeout(Some(remaining))?;
            let mut chunk = [0u8; 4096];
            match self.stream.read(&mut chunk) {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the peer closed the connection",
                    ));
                }
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("no answer within {} s", timeout.as_secs()),
                    ));
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    pub fn write_line(&mut self, line: &str) -> io::Result<()> {
        let mut bytes = Vec::with_capacity(line.len() + 1);
        bytes.extend_from_slice(line.as_bytes());
        bytes.push(b'\n');
        self.stream.write_all(&bytes)?;
        self.stream.flush()
    }
}

/// Why a sealed exchange failed.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("{0}")]
    Codec(#[from] CodecError),
}

/// Sealed messages over a [`LineConn`].
pub struct SealedConn {
    pub conn: LineConn,
    ch: Channel,
}

impl SealedConn {
    pub fn new(conn: LineConn, ch: Channel) -> SealedConn {
        SealedConn { conn, ch }
    }

    pub fn send<M: Serialize>(&mut self, msg: &M) -> Result<(), SessionError> {
        let line = message::seal_line(&mut self.ch, msg)?;
        self.conn.write_line(&line)?;
        Ok(())
    }

    pub fn recv<M: DeserializeOwned>(
        &mut self,
        timeout: Duration,
        what: &'static str,
    ) -> Result<Incoming<M>, SessionError> {
        let line = self.conn.read_line(timeout)?;
        Ok(message::open_line(&mut self.ch, &line, what)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn lines_split_join_and_time_out() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let t = std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            s.write_all(b"one\r\ntw").unwrap();
            std::thread::sleep(Duration::from_millis(50));
            s.write_all(b"o\n").unwrap();
            std::thread::sleep(Duration::from_millis(400));
        });
        let mut c = LineConn::new(TcpStream::connect(addr).unwrap()).unwrap();
        assert_eq!(c.read_line(Duration::from_secs(2)).unwrap(), "one");
        assert_eq!(c.read_line(Duration::from_secs(2)).unwrap(), "two");
        let e = c.read_line(Duration::from_millis(100)).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        t.join().unwrap();
        let e = c.read_line(Duration::from_secs(2)).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
    }
}
