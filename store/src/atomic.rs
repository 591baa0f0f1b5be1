//! Crash-safe writes: temp file in the same directory, fsync, rename over the
//! target, fsync the directory. A rewrite keeps the mode and owner of the file
//! it replaces; files holding secrets are created 0600 (0640 for the socket
//! group) and Live/staging files always 0600.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

use xp2p_platform::fsperm;

use crate::secrets::SecretAccess;

/// fsyncs a directory so a rename inside it is durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    fsperm::sync_dir(dir)
}

/// Writes `bytes` to `path` atomically (creating parent directories). A new
/// file gets the process umask's mode; an existing one keeps its mode and owner.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_atomic_mode(path, bytes, None)
}

/// Writes a file that holds credentials or keys: created with
/// `access.mode()` (0600, or 0640 owned by the socket group), an existing file
/// keeps the mode and owner the operator gave it.
pub fn write_secret(path: &Path, bytes: &[u8], access: SecretAccess) -> io::Result<()> {
    write_inner(path, bytes, Some(access.mode()), access.gid)
}

/// [`write_atomic`] with a Unix file mode for a new file (e.g. 0600 for a key).
pub fn write_atomic_mode(path: &Path, bytes: &[u8], mode: Option<u32>) -> io::Result<()> {
    write_inner(path, bytes, mode, None)
}

/// Gives the open temp file `mode` and owner `uid:gid` (each only when it
/// differs), naming the target when the owner cannot be kept. Where files have
/// no modes (Windows) there is nothing to give.
fn apply_perms(
    f: &File,
    target: &Path,
    mode: u32,
    uid: Option<u32>,
    gid: Option<u32>,
) -> io::Result<()> {
    let Some(now) = fsperm::perms_of_file(f)? else {
        return Ok(());
    };
    let uid = uid.filter(|u| *u != now.uid);
    let gid = gid.filter(|g| *g != now.gid);
    if uid.is_some() || gid.is_some() {
        fsperm::chown_file(f, uid, gid).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!(
                    "cannot keep the owner {}:{} of {}: {e}",
                    uid.map_or("-".into(), |u| u.to_string()),
                    gid.map_or("-".into(), |g| g.to_string()),
                    target.display()
                ),
            )
        })?;
    }
    // After fchown (which clears set-id bits), so the mode is exactly `mode`.
    if now.mode != mode || uid.is_some() || gid.is_some() {
        fsperm::set_file_mode(f, mode)?;
    }
    Ok(())
}

fn write_inner(path: &Path, bytes: &[u8], mode: Option<u32>, gid: Option<u32>) -> io::Result<()> {
    // A symlink the operator made (a TOML kept elsewhere) stays a symlink: the
    // file it names is replaced.
    let resolved;
    let path = match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => {
            resolved = fs::canonicalize(path).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("{} is a dangling symlink: {e}", path.display()),
                )
            })?;
            resolved.as_path()
        }
        _ => path,
    };
    let dir = path
        .parent()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no parent"))?;
    fs::create_dir_all(dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = dir.join(format!(".{name}.tmp-{}-{seq}", std::process::id()));
    let result = (|| {
        // Mode and owner a replacement must keep: those of the existing target.
        let existing = fsperm::perms_of_path(path)?;
        let mut opts = OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        // Never wider than the final mode while the content is written.
        let initial = match (existing, mode) {
            (Some(p), _) => Some(p.mode & 0o700),
            (None, Some(m)) => Some(m & 0o700),
            (None, None) => None,
        };
        if let Some(m) = initial {
            fsperm::create_with_mode(&mut opts, m);
        }
        // A temp file left by a crashed writer of the same pid may have any mode.
        let _ = fs::remove_file(&tmp);
        opts.create_new(true);
        let mut f = opts.open(&tmp)?;
        match (existing, mode) {
            (Some(p), _) => apply_perms(&f, path, p.mode, Some(p.uid), Some(p.gid))?,
            (None, Some(m)) => {
                if let Some(g) = gid
                    && apply_perms(&f, path, m, None, Some(g)).is_err()
                {
                    // Not allowed to hand it to the group: owner only.
                    apply_perms(&f, path, m & 0o600, None, None)?;
                } else {
                    apply_perms(&f, path, m, None, None)?;
                }
            }
            (None, None) => {}
        }
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, path)?;
        sync_dir(dir)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Writes a file and fsyncs it (used for files inside a directory that will be
/// renamed into place as a whole: staging → Live). Always 0600: Live holds
/// every credential and is never group-readable.
pub fn write_synced(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut opts = OpenOptions::new();
    fsperm::create_with_mode(opts.write(true).create(true).truncate(true), 0o600);
    let mut f = opts.open(path)?;
    // An existing file keeps its mode on open: make it private too.
    fsperm::set_file_mode(&f, 0o600)?;
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    fn mode(p: &Path) -> u32 {
        fs::metadata(p).unwrap().mode() & 0o7777
    }

    #[test]
    fn replaces_and_leaves_no_temp() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("sub").join("f.json");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        let names: Vec<_> = fs::read_dir(p.parent().unwrap()).unwrap().collect();
        assert_eq!(names.len(), 1);
    }

    #[test]
    fn secrets_are_created_private_and_rewrites_keep_the_mode() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("xp2p-client.toml");
        write_secret(&p, b"a", SecretAccess::OWNER_ONLY).unwrap();
        assert_eq!(mode(&p), 0o600);
        // The operator's choice is kept, whichever writer rewrites it.
        fs::set_permissions(&p, fs::Permissions::from_mode(0o640)).unwrap();
        write_secret(&p, b"b", SecretAccess::OWNER_ONLY).unwrap();
        assert_eq!(mode(&p), 0o640);
        write_atomic(&p, b"c").unwrap();
        assert_eq!(mode(&p), 0o640);
        fs::set_permissions(&p, fs::Permissions::from_mode(0o604)).unwrap();
        write_atomic(&p, b"d").unwrap();
        assert_eq!(mode(&p), 0o604);
        assert_eq!(fs::read(&p).unwrap(), b"d");
    }

    #[test]
    fn group_access_uses_the_group_or_falls_back_to_owner_only() {
        let d = tempfile::tempdir().unwrap();
        let own_gid = fs::metadata(d.path()).unwrap().gid();
        let p = d.path().join("k.pem");
        write_secret(&p, b"k", SecretAccess { gid: Some(own_gid) }).unwrap();
        assert_eq!(mode(&p), 0o640);
        assert_eq!(fs::metadata(&p).unwrap().gid(), own_gid);
        if rustix::process::geteuid().is_root() {
            let q = d.path().join("k2.pem");
            write_secret(&q, b"k", SecretAccess { gid: Some(65534) }).unwrap();
            assert_eq!((mode(&q), fs::metadata(&q).unwrap().gid()), (0o640, 65534));
        }
    }

    #[test]
    fn a_rewrite_keeps_the_owner() {
        if !rustix::process::geteuid().is_root() {
            eprintln!("skipped: chown needs root");
            return;
        }
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("xp2p-client.toml");
        fs::write(&p, "a").unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o600)).unwrap();
        std::os::unix::fs::chown(&p, Some(65534), Some(65534)).unwrap();
        write_atomic(&p, b"b").unwrap();
        let m = fs::metadata(&p).unwrap();
        assert_eq!((m.uid(), m.gid(), m.mode() & 0o7777), (65534, 65534, 0o600));
    }

    #[test]
    fn a_symlinked_file_stays_a_symlink() {
        let d = tempfile::tempdir().unwrap();
        let real = d.path().join("real.toml");
        fs::write(&real, "a").unwrap();
        let link = d.path().join("xp2p-client.toml");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        write_atomic(&link, b"b").unwrap();
        assert!(
            fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(fs::read(&real).unwrap(), b"b");
    }

    #[test]
    fn synced_files_are_owner_only() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("xray.json");
        fs::write(&p, "old").unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).unwrap();
        write_synced(&p, b"{}").unwrap();
        assert_eq!(mode(&p), 0o600);
        let q = d.path().join("runtime.json");
        write_synced(&q, b"{}").unwrap();
        assert_eq!(mode(&q), 0o600);
    }
}
