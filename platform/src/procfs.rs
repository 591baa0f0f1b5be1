//! Linux process facts from /proc: liveness, exe, cmdline, and the TCP sockets a
//! process itself owns (matching socket inodes of /proc/PID/fd against
//! /proc/PID/net/tcp{,6}). Never a probe another process could answer.

use std::collections::HashMap;
use std::io;
use std::os::fd::RawFd;
use std::path::PathBuf;

const TCP_ESTABLISHED: u8 = 0x01;

/// Alive and not a zombie.
pub fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            // state is the field after the parenthesised comm
            let state = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next());
            !matches!(state, Some("Z") | Some("X") | None)
        }
        Err(_) => false,
    }
}

pub fn exe(pid: i32) -> io::Result<PathBuf> {
    let p = std::fs::read_link(format!("/proc/{pid}/exe"))?;
    let s = p.to_string_lossy();
    Ok(PathBuf::from(s.strip_suffix(" (deleted)").unwrap_or(&s)))
}

pub fn cmdline(pid: i32) -> io::Result<Vec<String>> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline"))?;
    Ok(raw
        .split(|b| *b == 0)
        .filter(|s| !s.is_empty())
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect())
}

/// Pids whose command line contains `arg` exactly (e.g. a Live config path).
pub fn pids_with_arg(arg: &str) -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_string_lossy().parse::<i32>().ok())
        .filter(|pid| alive(*pid) && cmdline(*pid).is_ok_and(|c| c.iter().any(|a| a == arg)))
        .collect()
}

/// socket inode -> fd number, for every socket fd of `pid`.
pub fn socket_fds(pid: i32) -> io::Result<HashMap<u64, RawFd>> {
    let mut out = HashMap::new();
    for entry in std::fs::read_dir(format!("/proc/{pid}/fd"))? {
        let Ok(entry) = entry else { continue };
        let Ok(target) = std::fs::read_link(entry.path()) else {
            continue;
        };
        let t = target.to_string_lossy();
        if let Some(inode) = t.strip_prefix("socket:[").and_then(|r| r.strip_suffix(']'))
            && let (Ok(inode), Ok(fd)) =
                (inode.parse(), entry.file_name().to_string_lossy().parse())
        {
            out.insert(inode, fd);
        }
    }
    Ok(out)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpSocket {
    pub local_port: u16,
    pub state: u8,
    /// For a listening socket: connections waiting in its accept queue.
    pub rx_queue: u32,
    pub inode: u64,
}

/// Parses /proc/net/tcp-format text.
pub fn parse_tcp_table(text: &str) -> Vec<TcpSocket> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let local = f.get(1)?;
            let port = u16::from_str_radix(local.rsplit_once(':')?.1, 16).ok()?;
            let state = u8::from_str_radix(f.get(3)?, 16).ok()?;
            let rx_queue = u32::from_str_radix(f.get(4)?.split_once(':')?.1, 16).ok()?;
            let inode = f.get(9)?.parse().ok()?;
            Some(TcpSocket {
                local_port: port,
                state,
                rx_queue,
                inode,
            })
        })
        .collect()
}

fn tcp_tables(pid: i32) -> Vec<TcpSocket> {
    let mut out = Vec::new();
    for name in ["tcp", "tcp6"] {
        if let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/net/{name}")) {
            out.extend(parse_tcp_table(&text));
        }
    }
    out
}

/// (port, fd) of the TCP listening sockets `pid` itself holds.
pub fn own_listeners(pid: i32) -> io::Result<Vec<(u16, RawFd)>> {
    let fds = socket_fds(pid)?;
    Ok(crate::sockdiag::tcp_listeners()?
        .into_iter()
        .filter_map(|l| fds.get(&l.inode).map(|fd| (l.port, *fd)))
        .collect())
}

/// Listening sockets on `port` in the whole network namespace (every process).
pub fn listeners_on_port(port: u16) -> usize {
    crate::sockdiag::tcp_listeners()
        .map(|ls| ls.iter().filter(|l| l.port == port).count())
        .unwrap_or(0)
}

/// Connections waiting in the accept queues of `pid`'s own listening sockets.
pub fn own_accept_backlog(pid: i32) -> u32 {
    let Ok(fds) = socket_fds(pid) else { return 0 };
    crate::sockdiag::tcp_listeners()
        .map(|ls| {
            ls.iter()
                .filter(|l| fds.contains_key(&l.inode))
                .map(|l| l.queued)
                .sum()
        })
        .unwrap_or(0)
}

/// Established TCP connections `pid` itself holds.
pub fn own_established(pid: i32) -> usize {
    let Ok(fds) = socket_fds(pid) else { return 0 };
    tcp_tables(pid)
        .into_iter()
        .filter(|s| s.state == TCP_ESTABLISHED && fds.contains_key(&s.inode))
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_tcp_table() {
        let t = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 0100007F:C8AC 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 123456 1 0000000000000000 100 0 0 10 0\n";
        assert_eq!(
            parse_tcp_table(t),
            vec![TcpSocket {
                local_port: 0xC8AC,
                state: 0x0A,
                rx_queue: 0,
                inode: 123456
            }]
        );
    }

    #[test]
    fn sees_own_listener() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let pid = std::process::id() as i32;
        assert!(own_listeners(pid).unwrap().iter().any(|(p, _)| *p == port));
        assert!(alive(pid));
        assert!(!alive(i32::MAX - 1));
    }
}
