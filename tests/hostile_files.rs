//! Hostile files (issue #13): a device or FIFO where an operator file should be,
//! symlinked and non-regular snippets, terminal control characters in a TOML
//! value, an `XP2P_SOCKET` naming someone's file, a socket group with the
//! socket in a shared folder, and a core whose `-version` leaves a child
//! holding the pipe. Every case gets one clear line and never a hang.

mod service_support;
mod support;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use service_support::*;
use support::*;

/// Runs `xp2p <args>` with extra env, killing it after `timeout` (then `None`).
fn run_within(
    root: &TestRoot,
    args: &[&str],
    env: &[(&str, &str)],
    timeout: Duration,
) -> Option<Run> {
    let mut cmd = root.cmd();
    cmd.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn xp2p");
    let done = wait_until(timeout, || matches!(child.try_wait(), Ok(Some(_))));
    if !done {
        let _ = child.kill();
        let _ = child.wait();
        return None;
    }
    Some(Run::from_output(child.wait_with_output().expect("output")))
}

fn mkfifo(p: &Path) {
    let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).expect("path");
    // SAFETY: a NUL-terminated path and a mode.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
}

const FAKE_V2RAY: &str = "V2Ray 4.34.0 (fake) 20230518 (go1.19.8 linux/amd64)";

#[test]
fn a_device_as_certificate_is_refused_by_name() {
    let root = TestRoot::new();
    root.install_fake_core(FAKE_V2RAY);
    let toml = server_toml("", free_port(), "pw")
        .replace("[server]\n", "[server]\ncertificate = \"/dev/zero\"\n");
    root.write("xp2p-server.toml", toml);
    let r = run_within(&root, &["validate"], &[], LONG).expect("validate returns");
    assert_eq!(r.code, Some(1), "{r:?}");
    assert!(
        r.stderr
            .contains("/dev/zero is a character device, not a regular file"),
        "{r:?}"
    );
}

#[test]
fn a_fifo_as_desired_never_blocks_the_service() {
    if !v2ray_available() {
        return eprintln!("skipped: no v2ray");
    }
    let p = pair();
    let svc = Service::start(&p.root);
    p.wait_outcomes("client", 1);
    p.wait_outcomes("server", 1);
    let toml = p.root.path().join("xp2p-client.toml");
    std::fs::remove_file(&toml).expect("remove");
    mkfifo(&toml);
    // Status answers, and the other role still applies.
    let st = run_within(&p.root, &["status", "--json"], &[], LONG).expect("status returns");
    assert_eq!(st.code, Some(0), "{st:?}\n{}", svc.log());
    let ap = run_within(&p.root, &["apply", "--role", "server", "--wait"], &[], LONG)
        .expect("apply of the other role returns");
    assert_eq!(ap.code, Some(0), "{ap:?}\n{}", svc.log());
    // The client's apply fails naming the FIFO, promptly.
    let ac = run_within(&p.root, &["apply", "--role", "client", "--wait"], &[], LONG)
        .expect("apply of the FIFO's role returns");
    assert_ne!(ac.code, Some(0), "{ac:?}");
    assert!(
        format!("{}{}", ac.stdout, ac.stderr).contains("is a FIFO, not a regular file"),
        "{ac:?}\n{}",
        svc.log()
    );
    // Offline validate too.
    let v = run_within(&p.root, &["validate", "--role", "client"], &[], LONG).expect("validate");
    assert!(v.stderr.contains("is a FIFO, not a regular file"), "{v:?}");
}

#[test]
fn a_symlinked_snippet_is_followed_and_non_regular_ones_are_refused_by_name() {
    let root = TestRoot::new();
    root.install_fake_core(FAKE_V2RAY);
    root.write(
        "xp2p-client.toml",
        client_toml("", free_port(), free_port(), "pw"),
    );
    let real = root.write(
        "elsewhere/rules.json",
        r#"{"rules": [{"type": "field", "domain": ["symlinked.example"], "outboundTag": "direct"}]}"#,
    );
    let dir = root.path().join("config-client");
    std::fs::create_dir_all(&dir).expect("config-client");
    let name = "routing.rules.after-xp2p-managed.json";
    std::os::unix::fs::symlink(&real, dir.join(name)).expect("symlink");
    let r = root.run(&["validate", "--role", "client"]);
    assert_eq!(r.code, Some(0), "{r:?}");
    let rendered = root.run(&["render", "--role", "client"]);
    assert!(
        rendered.stdout.contains("symlinked.example"),
        "the symlinked snippet's rule is compiled: {rendered:?}"
    );

    for (what, make) in [
        (
            "is a directory",
            Box::new(|p: &Path| std::fs::create_dir(p).expect("dir")) as Box<dyn Fn(&Path)>,
        ),
        ("is a FIFO", Box::new(|p: &Path| mkfifo(p))),
        (
            "is a character device",
            Box::new(|p: &Path| std::os::unix::fs::symlink("/dev/zero", p).expect("link")),
        ),
    ] {
        let snippet = dir.join("inbounds.append.json");
        make(&snippet);
        let r = run_within(&root, &["validate", "--role", "client"], &[], LONG)
            .expect("validate returns");
        assert_eq!(r.code, Some(1), "{what}: {r:?}");
        assert!(
            r.stderr
                .contains(&format!("inbounds.append.json {what}, not a regular file")),
            "{what}: {r:?}"
        );
        if snippet.is_dir() && !snippet.is_symlink() {
            std::fs::remove_dir(&snippet).expect("rmdir");
        } else {
            std::fs::remove_file(&snippet).expect("rm");
        }
    }
}

#[test]
fn validate_escapes_control_characters_from_the_toml() {
    let root = TestRoot::new();
    root.install_fake_core(FAKE_V2RAY);
    let toml = client_toml("", free_port(), free_port(), "pw").replace(
        "[[client.endpoints]]",
        "[[client.redirects]]\ncidr = \"10.0.0.0/8\"\noutbound_tag = \"\\u001b]0;pwned\\u0007\\u001b[2J\"\n\n[[client.endpoints]]",
    );
    root.write("xp2p-client.toml", toml);
    let r = root.run(&["validate", "--role", "client"]);
    assert_eq!(r.code, Some(1), "{r:?}");
    assert!(
        !r.stderr.contains('\u{1b}') && !r.stderr.contains('\u{7}'),
        "{r:?}"
    );
    assert!(r.stderr.contains("\\x1b]0;pwned\\x07"), "{r:?}");
}

#[test]
fn xp2p_socket_naming_a_regular_file_is_refused_and_the_file_kept() {
    if !v2ray_available() {
        return eprintln!("skipped: no v2ray");
    }
    let p = pair();
    let victim = p.root.write("precious.txt", "do not delete");
    let svc = Service::start_with(&p.root, &[("XP2P_SOCKET", victim.to_str().expect("utf8"))]);
    let log_path = svc.log.clone();
    let code = svc.wait_exit(LONG);
    let log = std::fs::read_to_string(log_path).unwrap_or_default();
    assert_eq!(code, Some(1), "{log}");
    assert!(
        log.contains("precious.txt exists and is a regular file, not a stale socket"),
        "{log}"
    );
    assert_eq!(p.root.read("precious.txt"), "do not delete");
}

#[test]
fn socket_group_leaves_a_shared_socket_folder_alone() {
    if !v2ray_available() {
        return eprintln!("skipped: no v2ray");
    }
    let p = pair();
    p.append_client("\n[service]\nsocket_group = \"0\"\n");
    let shared = tempfile::tempdir().expect("shared");
    std::fs::set_permissions(shared.path(), std::fs::Permissions::from_mode(0o1777))
        .expect("chmod 1777");
    let before = std::fs::metadata(shared.path()).expect("meta");
    let sock = shared.path().join("xp2p.sock");
    let svc = Service::start_with(&p.root, &[("XP2P_SOCKET", sock.to_str().expect("utf8"))]);
    assert!(
        wait_until(LONG, || sock.exists()),
        "socket bound:\n{}",
        svc.log()
    );
    let after = std::fs::metadata(shared.path()).expect("meta");
    assert_eq!(after.mode() & 0o7777, 0o1777, "shared folder mode kept");
    assert_eq!((after.uid(), after.gid()), (before.uid(), before.gid()));
    assert_eq!(
        std::fs::metadata(&sock).expect("sock").mode() & 0o777,
        0o660
    );
}

#[test]
fn a_core_whose_version_leaves_a_child_on_the_pipe_is_bounded() {
    let root = TestRoot::new();
    let fake = env!("CARGO_BIN_EXE_xp2p-fake-core");
    root.write(
        "xp2p-client.toml",
        client_toml(fake, free_port(), free_port(), "pw"),
    );
    let started = Instant::now();
    let r = run_within(
        &root,
        &["validate", "--role", "client"],
        &[("FAKE_CORE_VERSION_HOLD_S", "60")],
        Duration::from_secs(50),
    )
    .expect("validate returns before the held pipe closes");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "took {:?}: {r:?}",
        started.elapsed()
    );
    assert_eq!(r.code, Some(0), "{r:?}");
}
