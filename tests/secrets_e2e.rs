//! Secrets private (issue #13): every file xp2p writes that holds a credential
//! or a key — Desired from `init`, deploy and `mode`, the deploy's certificate
//! key, Live, LKG, the demo's files — has no world-read bit; an edit keeps the
//! mode and owner the operator gave; logs are not readable by others; and
//! `validate` warns (exit code unchanged) about a secret file others may read.

mod service_support;
mod support;

use std::io::{BufRead, BufReader};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use service_support::*;
use support::*;

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .mode()
        & 0o7777
}

fn assert_private(p: &Path) {
    let m = mode(p);
    assert_eq!(m & 0o077, 0, "{} is {m:04o}, expected 0600", p.display());
}

fn chmod(p: &Path, m: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).expect("chmod");
}

#[test]
fn init_writes_owner_only_desired_files() {
    let root = TestRoot::new();
    for role in ["client", "server"] {
        let r = root.run(&["init", "--role", role]);
        assert_eq!(r.code, Some(0), "{r:?}");
        assert_private(&root.path().join(format!("xp2p-{role}.toml")));
    }
}

#[test]
fn init_with_a_socket_group_gives_the_group_read_access() {
    let root = TestRoot::new();
    // A socket group set in the other role's file (gid 0: always exists).
    root.write("xp2p-server.toml", "[service]\nsocket_group = \"0\"\n");
    let r = root.run(&["init", "--role", "client"]);
    assert_eq!(r.code, Some(0), "{r:?}");
    let p = root.path().join("xp2p-client.toml");
    assert_eq!(mode(&p), 0o640);
    assert_eq!(std::fs::metadata(&p).expect("meta").gid(), 0);
}

#[test]
fn mode_edit_keeps_the_mode_and_owner_the_operator_gave() {
    let root = TestRoot::new();
    let p = root.write(
        "xp2p-client.toml",
        client_toml(V2RAY, free_port(), free_port(), "pw"),
    );
    chmod(&p, 0o600);
    // SAFETY: geteuid has no preconditions.
    let is_root = unsafe { libc::geteuid() } == 0;
    if is_root {
        std::os::unix::fs::chown(&p, Some(65534), Some(65534)).expect("chown nobody");
    }
    let before = std::fs::read_to_string(&p).expect("read");
    // No service: the edit is made and the request stays queued.
    let r = root.run(&["client", "mode", "tun", "split"]);
    let after = std::fs::read_to_string(&p).expect("read");
    assert_ne!(before, after, "mode edited the file: {r:?}");
    assert!(after.contains("tun_enabled = true"), "{after}");
    assert_eq!(mode(&p), 0o600, "a 0600 file stays 0600");
    if is_root {
        let m = std::fs::metadata(&p).expect("meta");
        assert_eq!((m.uid(), m.gid()), (65534, 65534), "owner kept");
    }
    chmod(&p, 0o640);
    root.run(&["client", "mode", "proxy"]);
    assert!(
        std::fs::read_to_string(&p)
            .expect("read")
            .contains("tun_enabled = false")
    );
    assert_eq!(mode(&p), 0o640, "a 0640 file stays 0640");
}

#[test]
fn validate_warns_about_a_world_readable_secret_without_changing_the_exit_code() {
    let root = TestRoot::new();
    root.install_fake_core("V2Ray 4.34.0 (fake) 20230518 (go1.19.8 linux/amd64)");
    let p = root.write(
        "xp2p-client.toml",
        client_toml("", free_port(), free_port(), "pw"),
    );
    chmod(&p, 0o600);
    let quiet = root.run(&["validate"]);
    assert!(!quiet.stderr.contains("warning:"), "{quiet:?}");
    chmod(&p, 0o644);
    let warned = root.run(&["validate"]);
    assert_eq!(warned.code, quiet.code, "{warned:?}");
    let lines: Vec<&str> = warned
        .stderr
        .lines()
        .filter(|l| l.starts_with("warning:"))
        .collect();
    assert_eq!(lines.len(), 1, "{warned:?}");
    assert!(
        lines[0].contains(&p.display().to_string()) && lines[0].contains("0644"),
        "{}",
        lines[0]
    );
}

#[test]
fn live_lkg_and_logs_are_not_readable_by_others() {
    if !v2ray_available() {
        return eprintln!("skipped: no v2ray");
    }
    let p = pair();
    let svc = Service::start(&p.root);
    p.wait_outcomes("client", 1);
    p.wait_outcomes("server", 1);
    // A second apply makes LKG.
    p.append_client(
        "\n[[client.redirects]]\ncidr = \"10.9.0.0/16\"\noutbound_tag = \"proxy-localhost\"\n",
    );
    let outcomes = p.wait_outcomes("client", 2);
    assert_eq!(
        outcomes,
        ["committed", "committed"],
        "second apply:\n{}",
        svc.log()
    );
    for role in ["client", "server"] {
        let live = p.root.path().join(format!(".state/live/config-{role}"));
        for f in ["xray.json", "runtime.json"] {
            assert_eq!(mode(&live.join(f)), 0o600, "{role} Live {f}");
        }
    }
    let lkg = p.root.path().join(".state/lkg/config-client");
    for f in ["xray.json", "runtime.json"] {
        assert_eq!(mode(&lkg.join(f)), 0o600, "LKG {f}");
    }
    let logs = p.root.path().join("logs");
    assert_eq!(mode(&logs) & 0o007, 0, "LOG_ROOT {:04o}", mode(&logs));
    assert_eq!(mode(&logs.join("core-client.log")) & 0o007, 0);
    assert!(
        !svc.log().contains("Error reading the log directory"),
        "first start on a new root:\n{}",
        svc.log()
    );
}

#[test]
fn deploy_writes_owner_only_desired_files_and_key() {
    if !v2ray_available() {
        return eprintln!("skipped: no v2ray");
    }
    let (server, client) = (TestRoot::new(), TestRoot::new());
    let tmp = tempfile::tempdir().expect("tmp");
    let port = free_port();
    let mut c = client
        .cmd()
        .args(["client", "deploy", "--host", "127.0.0.1", "--port"])
        .arg(port.to_string())
        .args(["--trojan-port", &free_port().to_string()])
        .env("TMPDIR", tmp.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("client deploy");
    let mut lines = BufReader::new(c.stdout.take().expect("stdout")).lines();
    let link = lines
        .by_ref()
        .map_while(Result::ok)
        .find(|l| l.starts_with("xp2p+deploy://"))
        .expect("link line");
    let s = server
        .cmd()
        .args(["server", "deploy", "--link", &link, "--listen"])
        .arg(format!("127.0.0.1:{port}"))
        .env("TMPDIR", tmp.path())
        .output()
        .expect("server deploy");
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let status = c.wait().expect("client exit");
    assert!(s.status.success(), "server: {s:?}");
    assert!(status.success(), "client: {rest:?}");
    assert_private(&server.path().join("xp2p-server.toml"));
    assert_private(&server.path().join("tls/server/key.pem"));
    assert_private(&client.path().join("xp2p-client.toml"));
}

#[test]
fn demo_files_are_owner_only() {
    if !v2ray_available() {
        return eprintln!("skipped: no v2ray");
    }
    let mut child = Command::new(xp2p_bin())
        .args(["demo", "--headless"])
        .env_remove("XP2P_CONFIG_ROOT")
        .env_remove("XP2P_LOG_ROOT")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn demo");
    let stdout = child.stdout.take().expect("stdout");
    let mut root = String::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    // Kept open until the demo has exited: it prints while it cleans up.
    let mut lines = BufReader::new(stdout).lines();
    for line in lines.by_ref().map_while(Result::ok) {
        if let Some(v) = line.strip_prefix("demo: CONFIG_ROOT ") {
            root = v.to_string();
        } else if line.starts_with("demo: running") || Instant::now() > deadline {
            break;
        }
    }
    let checked = std::panic::catch_unwind(|| {
        assert!(!root.is_empty(), "demo printed its root");
        let root = Path::new(&root);
        for rel in [
            "xp2p-client.toml",
            "xp2p-server.toml",
            "tls/server/key.pem",
            ".state/live/config-client/xray.json",
            ".state/live/config-server/xray.json",
        ] {
            assert_private(&root.join(rel));
        }
    });
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let status = child.wait().map(|s| s.code());
    drop(lines);
    if let Err(e) = checked {
        std::panic::resume_unwind(e);
    }
    // A Ctrl-C right after "demo: running" still cleans up (the handler is
    // registered before the demo says it runs).
    assert_eq!(status.ok().flatten(), Some(0), "the demo exits cleanly");
    let temp = Path::new(&root).parent().map(Path::to_path_buf);
    assert!(
        temp.is_some_and(|t| !t.exists()),
        "the demo removed its temp dir"
    );
}
