//! Bounded, non-blocking reads of operator files (Desired TOMLs, snippets,
//! certificates, keys): only regular files (symlinks followed), at most a cap,
//! never blocking on a FIFO and never opening a device.

use std::fmt;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

/// Cap for a Desired TOML (10 000 redirects and 200 endpoints are ≈1 MiB).
pub const MAX_TOML: u64 = 16 << 20;
/// Cap for one snippet file.
pub const MAX_SNIPPET: u64 = 16 << 20;
/// Cap for a PEM certificate or key.
pub const MAX_PEM: u64 = 1 << 20;

/// What a path names when it is not a regular file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Directory,
    Fifo,
    CharDevice,
    BlockDevice,
    Socket,
    Other,
}

impl FileKind {
    fn of(ft: &std::fs::FileType) -> FileKind {
        #[cfg(unix)]
        {
            use std::os::unix::fs::FileTypeExt;
            if ft.is_fifo() {
                return FileKind::Fifo;
            }
            if ft.is_char_device() {
                return FileKind::CharDevice;
            }
            if ft.is_block_device() {
                return FileKind::BlockDevice;
            }
            if ft.is_socket() {
                return FileKind::Socket;
            }
        }
        if ft.is_dir() {
            FileKind::Directory
        } else {
            FileKind::Other
        }
    }
}

impl fmt::Display for FileKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FileKind::Directory => "a directory",
            FileKind::Fifo => "a FIFO",
            FileKind::CharDevice => "a character device",
            FileKind::BlockDevice => "a block device",
            FileKind::Socket => "a socket",
            FileKind::Other => "not a file",
        })
    }
}

#[derive(Debug)]
pub enum ReadError {
    NotFound(PathBuf),
    NotRegular(PathBuf, FileKind),
    TooLarge(PathBuf, u64),
    Io(PathBuf, io::Error),
}

impl ReadError {
    pub fn path(&self) -> &Path {
        match self {
            ReadError::NotFound(p)
            | ReadError::NotRegular(p, _)
            | ReadError::TooLarge(p, _)
            | ReadError::Io(p, _) => p,
        }
    }

    /// The problem without the path (for messages that name the file already).
    pub fn reason(&self) -> String {
        match self {
            ReadError::NotFound(_) => "no such file".into(),
            ReadError::NotRegular(_, kind) => format!("is {kind}, not a regular file"),
            ReadError::TooLarge(_, max) => format!("is larger than {max} bytes"),
            ReadError::Io(_, e) => format!("cannot read: {e}"),
        }
    }
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::Io(p, e) => write!(f, "{}: cannot read: {e}", p.display()),
            other => write!(f, "{} {}", other.path().display(), other.reason()),
        }
    }
}

impl std::error::Error for ReadError {}

impl From<ReadError> for io::Error {
    fn from(e: ReadError) -> io::Error {
        let kind = match &e {
            ReadError::NotFound(_) => io::ErrorKind::NotFound,
            ReadError::Io(_, inner) => inner.kind(),
            ReadError::NotRegular(..) | ReadError::TooLarge(..) => io::ErrorKind::InvalidData,
        };
        io::Error::new(kind, e.to_string())
    }
}

/// Reads an operator file: refuses anything but a regular file (by name and
/// kind) before opening it, opens with `O_NONBLOCK` (a FIFO swapped in between
/// can never block), checks the opened file again and reads at most
/// `max_bytes` (more is [`ReadError::TooLarge`]).
pub fn read_operator_file(path: &Path, max_bytes: u64) -> Result<Vec<u8>, ReadError> {
    let io_err = |e: io::Error| {
        if e.kind() == io::ErrorKind::NotFound {
            ReadError::NotFound(path.to_path_buf())
        } else {
            ReadError::Io(path.to_path_buf(), e)
        }
    };
    let meta = std::fs::metadata(path).map_err(io_err)?;
    if !meta.is_file() {
        return Err(ReadError::NotRegular(
            path.to_path_buf(),
            FileKind::of(&meta.file_type()),
        ));
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY);
    }
    let file = opts.open(path).map_err(io_err)?;
    let meta = file.metadata().map_err(io_err)?;
    if !meta.is_file() {
        return Err(ReadError::NotRegular(
            path.to_path_buf(),
            FileKind::of(&meta.file_type()),
        ));
    }
    if meta.len() > max_bytes {
        return Err(ReadError::TooLarge(path.to_path_buf(), max_bytes));
    }
    let mut buf = Vec::with_capacity(meta.len() as usize);
    file.take(max_bytes + 1)
        .read_to_end(&mut buf)
        .map_err(io_err)?;
    if buf.len() as u64 > max_bytes {
        return Err(ReadError::TooLarge(path.to_path_buf(), max_bytes));
    }
    Ok(buf)
}

/// [`read_operator_file`] with a missing file as `Ok(None)`.
pub fn read_operator_file_opt(path: &Path, max_bytes: u64) -> Result<Option<Vec<u8>>, ReadError> {
    match read_operator_file(path, max_bytes) {
        Ok(b) => Ok(Some(b)),
        Err(ReadError::NotFound(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_regular_file_and_a_symlink_to_one() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("a.toml");
        std::fs::write(&p, "x = 1\n").unwrap();
        assert_eq!(read_operator_file(&p, 100).unwrap(), b"x = 1\n");
        let l = d.path().join("link.toml");
        std::os::unix::fs::symlink(&p, &l).unwrap();
        assert_eq!(read_operator_file(&l, 100).unwrap(), b"x = 1\n");
        assert!(
            read_operator_file_opt(&d.path().join("none"), 100)
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn refuses_devices_fifos_and_directories_by_name() {
        let e = read_operator_file(Path::new("/dev/zero"), 100).unwrap_err();
        assert_eq!(
            e.to_string(),
            "/dev/zero is a character device, not a regular file"
        );
        let d = tempfile::tempdir().unwrap();
        let fifo = d.path().join("xp2p-client.toml");
        rustix::fs::mkfifoat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
        )
        .unwrap();
        // No writer: a blocking open would hang here forever.
        let e = read_operator_file(&fifo, 100).unwrap_err();
        assert!(
            e.to_string()
                .ends_with("xp2p-client.toml is a FIFO, not a regular file"),
            "{e}"
        );
        let link = d.path().join("zero.json");
        std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
        assert!(matches!(
            read_operator_file(&link, 100),
            Err(ReadError::NotRegular(_, FileKind::CharDevice))
        ));
        let e = read_operator_file(d.path(), 100).unwrap_err();
        assert!(
            e.to_string()
                .ends_with("is a directory, not a regular file"),
            "{e}"
        );
    }

    #[test]
    fn caps_the_size() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("big.pem");
        std::fs::write(&p, vec![b'a'; 101]).unwrap();
        let e = read_operator_file(&p, 100).unwrap_err();
        assert!(matches!(e, ReadError::TooLarge(_, 100)), "{e}");
        assert!(
            e.to_string().ends_with("big.pem is larger than 100 bytes"),
            "{e}"
        );
        std::fs::write(&p, vec![b'a'; 100]).unwrap();
        assert_eq!(read_operator_file(&p, 100).unwrap().len(), 100);
    }
}
