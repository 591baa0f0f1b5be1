//! File modes and owners, behind one API: private folders and files, the mode
//! and owner a rewrite must keep, executability, durable directory entries, and
//! whether a Unix socket accepts connections. `unix.rs` and `windows.rs` carry
//! the per-OS code; everything above xp2p-platform calls these functions instead
//! of `std::os::unix`.
//!
//! Windows has no mode bits, uids or gids: a file's access is its ACL, which it
//! inherits from the folder it is created in. There every function below does
//! the honest equivalent or nothing, as its doc says, and [`perms`]/[`mode_of`]
//! answer `None`, so callers that keep or check a mode skip that step.

use std::fs::{File, Metadata, OpenOptions};
use std::io;
use std::path::Path;

#[cfg_attr(unix, path = "unix.rs")]
#[cfg_attr(windows, path = "windows.rs")]
mod imp;

/// True where files carry Unix mode bits and owners (`false` on Windows).
pub const HAS_MODES: bool = imp::HAS_MODES;

/// The permission bits (`& 0o7777`) and owner of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Perms {
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

/// Mode and owner of the file `meta` describes. Windows: `None`.
pub fn perms(meta: &Metadata) -> Option<Perms> {
    imp::perms(meta)
}

/// Mode and owner of `path` (following symlinks); `Ok(None)` when it does not
/// exist. Windows: `Ok(None)` (no modes, nothing to keep).
pub fn perms_of_path(path: &Path) -> io::Result<Option<Perms>> {
    match std::fs::metadata(path) {
        Ok(m) => Ok(perms(&m)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Mode and owner of an open file. Windows: `Ok(None)`.
pub fn perms_of_file(f: &File) -> io::Result<Option<Perms>> {
    Ok(perms(&f.metadata()?))
}

/// The permission bits (`& 0o7777`) of the file `meta` describes. Windows: `None`.
pub fn mode_of(meta: &Metadata) -> Option<u32> {
    perms(meta).map(|p| p.mode)
}

/// A regular file this process could run: any `x` bit on Unix; on Windows
/// every regular file (whether it runs is decided by its extension and ACL).
pub fn is_executable(meta: &Metadata) -> bool {
    imp::is_executable(meta)
}

/// Creates `path` and any missing parents, each new folder with `mode` (less
/// the umask); existing folders keep theirs. Windows: `create_dir_all` — new
/// folders inherit the parent's ACL.
pub fn create_dir_all_mode(path: &Path, mode: u32) -> io::Result<()> {
    imp::create_dir_all_mode(path, mode)
}

/// Sets the mode of `path` to exactly `mode`. Windows: nothing (the ACL
/// governs; `std`'s read-only flag is no equivalent of a mode).
pub fn set_mode(path: &Path, mode: u32) -> io::Result<()> {
    imp::set_mode(path, mode)
}

/// Sets the mode of an open file to exactly `mode`. Windows: nothing.
pub fn set_file_mode(f: &File, mode: u32) -> io::Result<()> {
    imp::set_file_mode(f, mode)
}

/// A file these options create gets `mode` (less the umask). Windows: nothing
/// (the new file inherits the folder's ACL).
pub fn create_with_mode(opts: &mut OpenOptions, mode: u32) -> &mut OpenOptions {
    imp::create_with_mode(opts, mode)
}

/// Gives an open file owner `uid` and/or group `gid` (`None` keeps that one).
/// Windows: `Unsupported` — there are no uids to give, and [`perms`] never
/// names one there.
pub fn chown_file(f: &File, uid: Option<u32>, gid: Option<u32>) -> io::Result<()> {
    imp::chown_file(f, uid, gid)
}

/// Makes the entries of `dir` durable (a rename inside it survives a crash):
/// fsync of the folder on Unix. Windows: nothing (a folder cannot be opened for
/// fsync without backup semantics; NTFS journals its metadata).
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    imp::sync_dir(dir)
}

/// True when something accepts connections on the Unix socket `path`.
/// Windows: `false` — xp2p's service listens on a named pipe there, which
/// xp2p-ipc's Windows client reaches, not on a path.
pub fn socket_accepts(path: &Path) -> bool {
    imp::socket_accepts(path)
}

/// Unit tests of the Unix side (Windows has nothing to read back).
#[cfg(all(test, unix))]
mod tests;
