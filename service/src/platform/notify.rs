//! `sd_notify`: datagrams to `$NOTIFY_SOCKET` (`READY=1`, `STATUS=…`,
//! `STOPPING=1`). Without the variable, nothing is sent. Abstract sockets
//! (`@name`) are supported.

use std::os::unix::net::UnixDatagram;

/// Sends one notification; errors are returned for logging, never fatal.
pub fn notify(state: &str) -> std::io::Result<bool> {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET").filter(|p| !p.is_empty()) else {
        return Ok(false);
    };
    let sock = UnixDatagram::unbound()?;
    let path = path.to_string_lossy().into_owned();
    if let Some(name) = path.strip_prefix('@') {
        use std::os::linux::net::SocketAddrExt;
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())?;
        sock.send_to_addr(state.as_bytes(), &addr)?;
    } else {
        sock.send_to(state.as_bytes(), &path)?;
    }
    Ok(true)
}

/// `notify`, logging a failure instead of returning it.
pub fn tell(state: &str) {
    if let Err(e) = notify(state) {
        tracing::warn!("sd_notify {state:?}: {e}");
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sends_to_the_socket_in_the_environment() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("notify.sock");
        let rx = std::os::unix::net::UnixDatagram::bind(&p).unwrap();
        // SAFETY: test-only; no other thread reads NOTIFY_SOCKET in this test binary.
        unsafe { std::env::set_var("NOTIFY_SOCKET", &p) };
        assert!(super::notify("READY=1").unwrap());
        let mut buf = [0u8; 64];
        let n = rx.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1");
        unsafe { std::env::remove_var("NOTIFY_SOCKET") };
        assert!(!super::notify("READY=1").unwrap());
    }
}
