//! The Windows side of [`super`]: no mode bits, uids or gids exist; a file's
//! access is the ACL it inherits from its folder. Each function is the honest
//! equivalent or does nothing, as documented in [`super`]. Not yet compiled:
//! the project is built on Linux only (README "Windows").

use std::fs::{self, File, Metadata, OpenOptions};
use std::io;
use std::path::Path;

use super::Perms;

pub const HAS_MODES: bool = false;

pub fn perms(_meta: &Metadata) -> Option<Perms> {
    None
}

pub fn is_executable(meta: &Metadata) -> bool {
    meta.is_file()
}

pub fn create_dir_all_mode(path: &Path, _mode: u32) -> io::Result<()> {
    fs::create_dir_all(path)
}

pub fn set_mode(_path: &Path, _mode: u32) -> io::Result<()> {
    Ok(())
}

pub fn set_file_mode(_f: &File, _mode: u32) -> io::Result<()> {
    Ok(())
}

pub fn create_with_mode(opts: &mut OpenOptions, _mode: u32) -> &mut OpenOptions {
    opts
}

pub fn chown_file(_f: &File, _uid: Option<u32>, _gid: Option<u32>) -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "Windows files have no uid or gid to give",
    ))
}

pub fn sync_dir(_dir: &Path) -> io::Result<()> {
    Ok(())
}

pub fn socket_accepts(_path: &Path) -> bool {
    false
}
