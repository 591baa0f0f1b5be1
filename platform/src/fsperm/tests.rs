//! Modes and owners set through [`super`] and read back through `std`.

use super::*;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};

fn mode(p: &Path) -> u32 {
    fs::metadata(p).unwrap().mode() & 0o7777
}

fn chmod(p: &Path, m: u32) {
    fs::set_permissions(p, fs::Permissions::from_mode(m)).unwrap();
}

#[test]
fn new_folders_get_the_mode_and_existing_ones_keep_theirs() {
    let d = tempfile::tempdir().unwrap();
    let deep = d.path().join("a").join("b");
    create_dir_all_mode(&deep, 0o700).unwrap();
    assert_eq!(mode(&d.path().join("a")), 0o700);
    assert_eq!(mode(&deep), 0o700);
    chmod(&deep, 0o755);
    create_dir_all_mode(&deep, 0o700).unwrap();
    assert_eq!(mode(&deep), 0o755);
    // A file in the way is an error, not a silent success.
    let f = d.path().join("file");
    fs::write(&f, "x").unwrap();
    assert!(create_dir_all_mode(&f, 0o700).is_err());
}

#[test]
fn set_mode_is_exact_on_paths_and_open_files() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("logs");
    fs::create_dir(&dir).unwrap();
    set_mode(&dir, 0o1750).unwrap();
    assert_eq!(mode(&dir), 0o1750);
    let p = d.path().join("k.pem");
    fs::write(&p, "k").unwrap();
    set_mode(&p, 0o640).unwrap();
    assert_eq!(mode(&p), 0o640);
    let f = File::open(&p).unwrap();
    set_file_mode(&f, 0o600).unwrap();
    assert_eq!(mode(&p), 0o600);
    assert!(set_mode(&d.path().join("missing"), 0o600).is_err());
}

#[test]
fn create_with_mode_applies_to_new_files_only() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("secret");
    create_with_mode(OpenOptions::new().write(true).create_new(true), 0o600)
        .open(&p)
        .unwrap();
    assert_eq!(mode(&p), 0o600);
    let q = d.path().join("old");
    fs::write(&q, "x").unwrap();
    chmod(&q, 0o644);
    create_with_mode(OpenOptions::new().write(true).create(true), 0o600)
        .open(&q)
        .unwrap();
    assert_eq!(mode(&q), 0o644, "open keeps an existing file's mode");
}

#[test]
fn perms_and_mode_read_back_what_the_file_has() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("f");
    fs::write(&p, "x").unwrap();
    chmod(&p, 0o604);
    let m = fs::metadata(&p).unwrap();
    assert_eq!(mode_of(&m), Some(0o604));
    assert_eq!(
        perms(&m),
        Some(Perms {
            mode: 0o604,
            uid: m.uid(),
            gid: m.gid()
        })
    );
    assert_eq!(m.uid(), rustix::process::geteuid().as_raw());
    assert_eq!(perms_of_path(&p).unwrap(), perms(&m));
    assert_eq!(perms_of_file(&File::open(&p).unwrap()).unwrap(), perms(&m));
    assert_eq!(perms_of_path(&d.path().join("missing")).unwrap(), None);
}

#[test]
fn executable_means_a_regular_file_with_an_x_bit() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("xray");
    fs::write(&p, "#!/bin/sh\n").unwrap();
    let is_x = |p: &Path| is_executable(&fs::metadata(p).unwrap());
    chmod(&p, 0o644);
    assert!(!is_x(&p));
    chmod(&p, 0o700);
    assert!(is_x(&p));
    chmod(&p, 0o010);
    assert!(is_x(&p));
    chmod(d.path(), 0o755);
    assert!(!is_x(d.path()), "a folder is not a core");
}

#[test]
fn chown_keeps_or_gives_the_owner() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("f");
    fs::write(&p, "x").unwrap();
    let m = fs::metadata(&p).unwrap();
    let f = File::open(&p).unwrap();
    chown_file(&f, Some(m.uid()), Some(m.gid())).unwrap();
    chown_file(&f, None, None).unwrap();
    if rustix::process::geteuid().is_root() {
        chown_file(&f, Some(65534), Some(65534)).unwrap();
        let m = fs::metadata(&p).unwrap();
        assert_eq!((m.uid(), m.gid()), (65534, 65534));
    } else {
        let e = chown_file(&f, Some(m.uid() + 1), None).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::PermissionDenied);
    }
}

#[test]
fn sync_dir_needs_an_existing_folder() {
    let d = tempfile::tempdir().unwrap();
    sync_dir(d.path()).unwrap();
    let e = sync_dir(&d.path().join("missing")).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::NotFound);
}

#[test]
fn socket_accepts_only_while_someone_listens() {
    let d = tempfile::tempdir().unwrap();
    let s = d.path().join("xp2p.sock");
    assert!(!socket_accepts(&s));
    let l = std::os::unix::net::UnixListener::bind(&s).unwrap();
    assert!(socket_accepts(&s));
    drop(l);
    // The socket file stays behind; nobody accepts on it any more.
    assert!(s.exists());
    assert!(!socket_accepts(&s));
}
