//! The full-mode DNS override: read resolv.conf, replace it in place (a rename
//! over a bind-mounted file fails, and in place keeps its owner and mode), and
//! put back the saved bytes. Blocking file work runs on the blocking pool.

use std::io::Write;
use std::path::{Path, PathBuf};

/// The file full mode replaces.
pub const RESOLV_CONF: &str = "/etc/resolv.conf";

/// Refuses files another daemon rewrites (systemd-resolved's stub), which
/// would silently undo the override; otherwise returns the current bytes.
pub async fn read(path: PathBuf) -> Result<String, String> {
    tokio::task::spawn_blocking(move || read_blocking(&path))
        .await
        .map_err(|e| format!("DNS: {e}"))?
}

fn read_blocking(path: &Path) -> Result<String, String> {
    if let Ok(target) = std::fs::read_link(path)
        && target.to_string_lossy().contains("systemd/resolve")
    {
        return Err(format!(
            "DNS: {} is managed by systemd-resolved (-> {}); full mode's DNS override needs a plain file (set client.dns_servers = [] to leave DNS alone)",
            path.display(),
            target.display()
        ));
    }
    std::fs::read_to_string(path).map_err(|e| format!("DNS: cannot read {}: {e}", path.display()))
}

/// Writes `content` over `path` in place and syncs it.
pub async fn write(path: PathBuf, content: String) -> Result<(), String> {
    tokio::task::spawn_blocking(move || {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(&path)
            .map_err(|e| format!("DNS: cannot open {}: {e}", path.display()))?;
        f.write_all(content.as_bytes())
            .and_then(|()| f.sync_all())
            .map_err(|e| format!("DNS: cannot write {}: {e}", path.display()))
    })
    .await
    .map_err(|e| format!("DNS: {e}"))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn write_replaces_in_place_and_keeps_the_inode() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("resolv.conf");
        std::fs::write(&p, "nameserver 192.0.2.1\noptions edns0\n").unwrap();
        let ino = std::fs::metadata(&p).unwrap().ino();
        let before = read(p.clone()).await.unwrap();
        write(p.clone(), "nameserver 10.99.0.53\n".into())
            .await
            .unwrap();
        assert_eq!(
            std::fs::read_to_string(&p).unwrap(),
            "nameserver 10.99.0.53\n"
        );
        write(p.clone(), before.clone()).await.unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), before);
        assert_eq!(std::fs::metadata(&p).unwrap().ino(), ino);
    }

    #[tokio::test]
    async fn a_systemd_resolved_stub_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("resolv.conf");
        std::os::unix::fs::symlink("/run/systemd/resolve/stub-resolv.conf", &p).unwrap();
        let e = read(p).await.unwrap_err();
        assert!(e.contains("systemd-resolved"), "{e}");
    }
}
