//! Listening TCP sockets through netlink `sock_diag` (what `ss -l` uses). Unlike
//! reading /proc/net/tcp, which walks the kernel's whole established-connection
//! hash table (milliseconds per read, measured), a LISTEN-state dump only visits
//! listeners. Linux only.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

const NETLINK_SOCK_DIAG: i32 = 4;
const SOCK_DIAG_BY_FAMILY: u16 = 20;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_DUMP: u16 = 0x300;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const TCP_LISTEN: u32 = 10;

/// A listening socket as the kernel reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listener {
    pub port: u16,
    /// Connections waiting in its accept queue.
    pub queued: u32,
    pub inode: u64,
}

fn request(family: u8) -> Vec<u8> {
    let mut b = Vec::with_capacity(72);
    b.extend_from_slice(&72u32.to_ne_bytes()); // nlmsg_len
    b.extend_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
    b.extend_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    b.extend_from_slice(&1u32.to_ne_bytes()); // seq
    b.extend_from_slice(&0u32.to_ne_bytes()); // pid
    // inet_diag_req_v2
    b.push(family);
    b.push(libc::IPPROTO_TCP as u8);
    b.push(0); // idiag_ext
    b.push(0); // pad
    b.extend_from_slice(&(1u32 << TCP_LISTEN).to_ne_bytes());
    b.extend_from_slice(&[0u8; 48]); // inet_diag_sockid: any
    b
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at + 4)
        .map(|s| u32::from_ne_bytes([s[0], s[1], s[2], s[3]]))
}

/// Parses one dump reply buffer; `Ok(true)` when the dump is complete.
fn parse(buf: &[u8], out: &mut Vec<Listener>) -> io::Result<bool> {
    let mut at = 0;
    while at + 16 <= buf.len() {
        let len = u32_at(buf, at).unwrap_or(0) as usize;
        let kind = buf
            .get(at + 4..at + 6)
            .map(|s| u16::from_ne_bytes([s[0], s[1]]))
            .unwrap_or(0);
        if len < 16 || at + len > buf.len() {
            return Err(io::Error::other("sock_diag: truncated message"));
        }
        match kind {
            NLMSG_DONE => return Ok(true),
            NLMSG_ERROR => {
                let errno = u32_at(buf, at + 16).map(|e| -(e as i32)).unwrap_or(0);
                return Err(io::Error::from_raw_os_error(errno));
            }
            SOCK_DIAG_BY_FAMILY => {
                let m = &buf[at + 16..at + len];
                if m.len() >= 72 {
                    let port = u16::from_be_bytes([m[4], m[5]]);
                    let queued = u32_at(m, 56).unwrap_or(0);
                    let inode = u64::from(u32_at(m, 68).unwrap_or(0));
                    out.push(Listener {
                        port,
                        queued,
                        inode,
                    });
                }
            }
            _ => {}
        }
        at += (len + 3) & !3;
    }
    Ok(false)
}

fn dump(family: u8, out: &mut Vec<Listener>) -> io::Result<()> {
    // SAFETY: plain syscalls; the fd is owned right after creation.
    let raw = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
            NETLINK_SOCK_DIAG,
        )
    };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `raw` is a fresh, valid fd that nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    let req = request(family);
    // SAFETY: sending a buffer we own to the kernel (netlink peer 0).
    let sent = unsafe { libc::send(fd.as_raw_fd(), req.as_ptr().cast(), req.len(), 0) };
    if sent < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        // SAFETY: receiving into a buffer we own, bounded by its length.
        let n = unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        if n == 0 || parse(&buf[..n as usize], out)? {
            return Ok(());
        }
    }
}

/// Every TCP listener (IPv4 and IPv6) in this network namespace.
pub fn tcp_listeners() -> io::Result<Vec<Listener>> {
    let mut out = Vec::new();
    dump(libc::AF_INET as u8, &mut out)?;
    dump(libc::AF_INET6 as u8, &mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sees_a_listener_with_its_inode() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let found = tcp_listeners().unwrap();
        let mine = found
            .iter()
            .find(|x| x.port == port)
            .expect("listener found");
        assert!(mine.inode > 0);
        assert_eq!(mine.queued, 0);
        // one connection waits in the accept queue
        let _c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        let again = tcp_listeners().unwrap();
        assert_eq!(
            again.iter().find(|x| x.port == port).map(|x| x.queued),
            Some(1)
        );
    }
}
