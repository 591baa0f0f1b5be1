//! The Unix side of [`super`]: mode bits, uids and gids through `std::os::unix`
//! and `rustix`.

use std::fs::{self, File, Metadata, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use super::Perms;

pub const HAS_MODES: bool = true;

pub fn perms(meta: &Metadata) -> Option<Perms> {
    Some(Perms {
        mode: meta.mode() & 0o7777,
        uid: meta.uid(),
        gid: meta.gid(),
    })
}

pub fn is_executable(meta: &Metadata) -> bool {
    meta.is_file() && meta.mode() & 0o111 != 0
}

pub fn create_dir_all_mode(path: &Path, mode: u32) -> io::Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(mode)
        .create(path)
}

pub fn set_mode(path: &Path, mode: u32) -> io::Result<()> {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
}

pub fn set_file_mode(f: &File, mode: u32) -> io::Result<()> {
    f.set_permissions(fs::Permissions::from_mode(mode))
}

pub fn create_with_mode(opts: &mut OpenOptions, mode: u32) -> &mut OpenOptions {
    opts.mode(mode)
}

pub fn chown_file(f: &File, uid: Option<u32>, gid: Option<u32>) -> io::Result<()> {
    rustix::fs::fchown(
        f,
        uid.map(rustix::fs::Uid::from_raw),
        gid.map(rustix::fs::Gid::from_raw),
    )
    .map_err(io::Error::from)
}

pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

pub fn socket_accepts(path: &Path) -> bool {
    std::os::unix::net::UnixStream::connect(path).is_ok()
}
