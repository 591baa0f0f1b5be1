//! The archives xp2p writes and reads (`export`/`import`, `debug bundle`): a
//! gzip'd tar of regular files. Writing: a 0600 temp file in the target
//! folder, fsynced, then moved into place — never through a symlink at the
//! destination, never over an existing file unless asked. Reading: an archive
//! is hostile input — bounded sizes and member count, regular files with plain
//! relative names only (no absolute path, no `..`, no link, no device).

use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::io::{self, BufWriter, Read};
use std::path::{Path, PathBuf};

use xp2p_platform::fsperm;

/// One file of an archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Relative, `/`-separated.
    pub path: String,
    pub bytes: Vec<u8>,
}

impl Member {
    pub fn new(path: impl Into<String>, bytes: impl Into<Vec<u8>>) -> Member {
        Member {
            path: path.into(),
            bytes: bytes.into(),
        }
    }
}

/// Whether an existing destination may be replaced (`--force`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overwrite {
    Refuse,
    Replace,
}

/// Mode of every archive xp2p writes (it holds keys or logs).
pub const ARCHIVE_MODE: u32 = 0o600;

/// Writes `members` as a tar.gz at `dest`, created 0600. One line on error,
/// naming the file; nothing is left behind then.
pub fn write(dest: &Path, members: &[Member], overwrite: Overwrite) -> Result<(), String> {
    let shown = dest.display();
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| format!("{shown}: not a file name"))?;
    let dir = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    match fs::symlink_metadata(dest) {
        Ok(m) if m.file_type().is_symlink() => {
            return Err(format!(
                "{shown} is a symlink; not following it (remove it or choose another file)"
            ));
        }
        Ok(m) if !m.is_file() => return Err(format!("{shown} exists and is not a regular file")),
        Ok(_) if overwrite == Overwrite::Refuse => {
            return Err(format!("{shown} exists (use --force to replace it)"));
        }
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("{shown}: {e}")),
    }
    let tmp = dir.join(format!(
        ".{name}.tmp-{}-{}",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    ));
    let result = write_tmp(&tmp, members)
        .map_err(|e| format!("cannot write {}: {e}", tmp.display()))
        .and_then(|()| place(&tmp, dest, overwrite))
        .and_then(|()| {
            fsperm::sync_dir(&dir).map_err(|e| format!("cannot sync {}: {e}", dir.display()))
        });
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

fn write_tmp(tmp: &Path, members: &[Member]) -> io::Result<()> {
    let mut opts = OpenOptions::new();
    // O_CREAT|O_EXCL: never opens through a symlink planted at the temp name.
    opts.write(true).create_new(true);
    fsperm::create_with_mode(&mut opts, ARCHIVE_MODE);
    let file = opts.open(tmp)?;
    // Exactly 0600 whatever the umask.
    fsperm::set_file_mode(&file, ARCHIVE_MODE)?;
    let gz = flate2::write::GzEncoder::new(BufWriter::new(file), flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    let mtime = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    for m in members {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_size(m.bytes.len() as u64);
        h.set_mode(ARCHIVE_MODE);
        h.set_mtime(mtime);
        tar.append_data(&mut h, &m.path, m.bytes.as_slice())?;
    }
    let gz = tar.into_inner()?;
    let buf = gz.finish()?;
    let file = buf.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()
}

/// Moves the finished temp file to `dest`: `rename` (which replaces a
/// directory entry, never writes through a symlink) with `--force`, else a
/// hard link, which fails when `dest` appeared meanwhile.
fn place(tmp: &Path, dest: &Path, overwrite: Overwrite) -> Result<(), String> {
    match overwrite {
        Overwrite::Replace => fs::rename(tmp, dest)
            .map_err(|e| format!("cannot move the archive to {}: {e}", dest.display())),
        Overwrite::Refuse => {
            fs::hard_link(tmp, dest).map_err(|e| {
                if e.kind() == io::ErrorKind::AlreadyExists {
                    format!("{} exists (use --force to replace it)", dest.display())
                } else {
                    format!("cannot create {}: {e}", dest.display())
                }
            })?;
            let _ = fs::remove_file(tmp);
            Ok(())
        }
    }
}

/// Bounds for reading a hostile archive.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The compressed file.
    pub max_archive: u64,
    /// Everything decompressed (headers included).
    pub max_total: u64,
    pub max_members: usize,
}

/// Reads every member of a tar.gz at `path`. `member_limit` says, per member
/// name, the most bytes it may have (`None`: the name is not accepted).
/// Directory entries with safe names are skipped; anything else but a regular
/// file is refused. Errors are one line naming the member.
pub fn read(
    path: &Path,
    limits: Limits,
    member_limit: impl Fn(&str) -> Option<u64>,
) -> Result<BTreeMap<String, Vec<u8>>, String> {
    let bytes = xp2p_platform::fsread::read_operator_file(path, limits.max_archive)
        .map_err(|e| e.to_string())?;
    let gz = flate2::read::GzDecoder::new(bytes.as_slice());
    let bounded = Bounded {
        inner: gz,
        left: limits.max_total,
        max: limits.max_total,
    };
    let mut archive = tar::Archive::new(bounded);
    let mut out = BTreeMap::new();
    let not_archive = |e: io::Error| format!("not a readable tar.gz archive: {e}");
    let mut seen = 0usize;
    for entry in archive.entries().map_err(not_archive)? {
        let mut entry = entry.map_err(not_archive)?;
        seen += 1;
        if seen > limits.max_members {
            return Err(format!("more than {} members", limits.max_members));
        }
        let raw = entry.path_bytes().into_owned();
        let name = String::from_utf8(raw)
            .map_err(|_| "a member name is not UTF-8".to_string())
            .and_then(|n| safe_name(&n).map_err(|e| format!("member `{}`: {e}", escape(&n))))?;
        let kind = entry.header().entry_type();
        if kind.is_dir() {
            continue;
        }
        if !matches!(kind, tar::EntryType::Regular | tar::EntryType::Continuous) {
            return Err(format!(
                "member `{name}`: {}; only regular files are accepted",
                kind_name(kind)
            ));
        }
        let limit = member_limit(&name)
            .ok_or_else(|| format!("member `{name}`: not a file xp2p puts in an archive"))?;
        let size = entry.header().size().map_err(not_archive)?;
        if size > limit {
            return Err(format!(
                "member `{name}`: {size} bytes, over its limit of {limit}"
            ));
        }
        let mut buf = Vec::with_capacity(size as usize);
        (&mut entry)
            .take(limit + 1)
            .read_to_end(&mut buf)
            .map_err(|e| format!("member `{name}`: {e}"))?;
        if buf.len() as u64 > limit {
            return Err(format!("member `{name}`: over its limit of {limit} bytes"));
        }
        if out.insert(name.clone(), buf).is_some() {
            return Err(format!("member `{name}`: appears twice"));
        }
    }
    Ok(out)
}

/// A member name as it is accepted: relative, `/`-separated, no `.`/`..`/empty
/// components (a leading `./` and a trailing `/` are dropped).
fn safe_name(raw: &str) -> Result<String, &'static str> {
    if raw.starts_with('/') {
        return Err("an absolute path");
    }
    if raw.contains('\\') || raw.chars().any(char::is_control) {
        return Err("a name with a backslash or control character");
    }
    let trimmed = raw.strip_prefix("./").unwrap_or(raw);
    let trimmed = trimmed.strip_suffix('/').unwrap_or(trimmed);
    let parts: Vec<&str> = trimmed.split('/').collect();
    if parts.contains(&"..") {
        return Err("a path with `..`");
    }
    if parts.iter().any(|p| p.is_empty() || *p == ".") {
        return Err("an empty or `.` path component");
    }
    Ok(parts.join("/"))
}

fn kind_name(k: tar::EntryType) -> &'static str {
    match k {
        tar::EntryType::Symlink => "a symlink",
        tar::EntryType::Link => "a hard link",
        tar::EntryType::Char => "a character device",
        tar::EntryType::Block => "a block device",
        tar::EntryType::Fifo => "a FIFO",
        _ => "not a regular file",
    }
}

fn escape(s: &str) -> String {
    s.chars().flat_map(char::escape_default).collect()
}

/// A reader that fails once more than `max` bytes came through (a gzip bomb
/// stops there instead of filling memory).
struct Bounded<R> {
    inner: R,
    left: u64,
    max: u64,
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            // One probe byte: a stream that ends exactly here is fine.
            let mut probe = [0u8; 1];
            return match self.inner.read(&mut probe)? {
                0 => Ok(0),
                _ => Err(io::Error::other(format!(
                    "more than {} bytes once decompressed",
                    self.max
                ))),
            };
        }
        let n = buf.len().min(self.left.min(usize::MAX as u64) as usize);
        let got = self.inner.read(&mut buf[..n])?;
        self.left -= got as u64;
        Ok(got)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;

    const LIMITS: Limits = Limits {
        max_archive: 1 << 20,
        max_total: 1 << 20,
        max_members: 8,
    };

    fn any(_: &str) -> Option<u64> {
        Some(1024)
    }

    #[test]
    fn round_trips_at_0600_and_refuses_to_overwrite_or_follow() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("a.tar.gz");
        let ms = [Member::new("x/a.txt", "hello"), Member::new("b", "")];
        write(&p, &ms, Overwrite::Refuse).unwrap();
        let mode = fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let back = read(&p, LIMITS, any).unwrap();
        assert_eq!(back["x/a.txt"], b"hello");
        assert_eq!(back["b"], b"");
        let e = write(&p, &ms, Overwrite::Refuse).unwrap_err();
        assert!(e.contains("exists (use --force"), "{e}");
        write(&p, &ms[..1], Overwrite::Replace).unwrap();
        assert_eq!(read(&p, LIMITS, any).unwrap().len(), 1);
        let target = d.path().join("elsewhere");
        fs::write(&target, "keep").unwrap();
        let link = d.path().join("link.tar.gz");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        for o in [Overwrite::Refuse, Overwrite::Replace] {
            let e = write(&link, &ms, o).unwrap_err();
            assert!(e.contains("is a symlink"), "{e}");
        }
        assert_eq!(fs::read(&target).unwrap(), b"keep");
        // No temp file left behind.
        let names: Vec<_> = fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(names.iter().all(|n| !n.contains(".tmp-")), "{names:?}");
    }

    #[test]
    fn names_are_checked() {
        assert_eq!(safe_name("./a/b").unwrap(), "a/b");
        assert_eq!(safe_name("dir/").unwrap(), "dir");
        assert!(safe_name("/etc/passwd").is_err());
        assert!(safe_name("a/../../x").is_err());
        assert!(safe_name("..").is_err());
        assert!(safe_name("a//b").is_err());
        assert!(safe_name("a\\b").is_err());
    }

    /// A raw tar with one entry of `kind` (the builder refuses bad names, so
    /// the header is written by hand).
    fn hostile(dir: &Path, name: &[u8], kind: tar::EntryType, body: &[u8]) -> PathBuf {
        let mut h = tar::Header::new_old();
        h.as_old_mut().name[..name.len()].copy_from_slice(name);
        h.set_entry_type(kind);
        h.set_size(body.len() as u64);
        h.set_mode(0o644);
        if kind == tar::EntryType::Symlink {
            h.set_link_name("/etc/passwd").unwrap();
        }
        h.set_cksum();
        let mut raw = h.as_bytes().to_vec();
        raw.extend_from_slice(body);
        raw.resize(raw.len().div_ceil(512) * 512 + 1024, 0);
        let p = dir.join("h.tar.gz");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&raw).unwrap();
        fs::write(&p, gz.finish().unwrap()).unwrap();
        p
    }

    #[test]
    fn hostile_members_are_refused_by_name() {
        let d = tempfile::tempdir().unwrap();
        let cases: [(&[u8], tar::EntryType, &str); 5] = [
            (
                b"../x",
                tar::EntryType::Regular,
                "member `../x`: a path with `..`",
            ),
            (
                b"/etc/x",
                tar::EntryType::Regular,
                "member `/etc/x`: an absolute path",
            ),
            (b"ln", tar::EntryType::Symlink, "member `ln`: a symlink"),
            (
                b"dev",
                tar::EntryType::Char,
                "member `dev`: a character device",
            ),
            (b"fifo", tar::EntryType::Fifo, "member `fifo`: a FIFO"),
        ];
        for (name, kind, want) in cases {
            let p = hostile(d.path(), name, kind, b"");
            let e = read(&p, LIMITS, any).unwrap_err();
            assert!(e.starts_with(want), "{e} (wanted {want})");
        }
        let p = hostile(d.path(), b"big", tar::EntryType::Regular, &[b'a'; 2000]);
        let e = read(&p, LIMITS, any).unwrap_err();
        assert_eq!(e, "member `big`: 2000 bytes, over its limit of 1024");
        let e = read(&p, LIMITS, |_| None).unwrap_err();
        assert!(e.contains("not a file xp2p puts"), "{e}");
        fs::write(&p, b"not gzip").unwrap();
        assert!(
            read(&p, LIMITS, any)
                .unwrap_err()
                .contains("not a readable")
        );
    }

    #[test]
    fn a_gzip_bomb_stops_at_the_total_limit() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("bomb.tar.gz");
        let ms = [
            Member::new("a", vec![0u8; 600 << 10]),
            Member::new("b", vec![0u8; 600 << 10]),
        ];
        write(&p, &ms, Overwrite::Refuse).unwrap();
        assert!(fs::metadata(&p).unwrap().len() < 64 << 10);
        let e = read(&p, LIMITS, |_| Some(1 << 20)).unwrap_err();
        assert!(e.contains("once decompressed"), "{e}");
    }
}
