//! IPC against hostile and broken peers (issue #13): oversized asks and
//! frames, connection floods, a stopped service, users without rights, and
//! terminal control sequences in operator files.

mod service_support;
mod support;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use service_support::*;
use support::*;

/// The service's frame limit (ipc.md).
const MAX_FRAME: usize = 1024 * 1024;

fn socket(root: &TestRoot) -> std::path::PathBuf {
    root.path().join(".state/xp2p.sock")
}

fn wait_ready(svc: &Service) {
    assert!(
        wait_until(LONG, || svc.log().contains("xp2p service ready")),
        "{}",
        svc.log()
    );
}

/// A pair whose watcher never fires during the test, so every apply is ours.
fn quiet_pair() -> Pair {
    let p = pair();
    let path = p.root.path().join("xp2p-client.toml");
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    std::fs::write(&path, format!("[service]\ndebounce_ms = 600000\n\n{text}")).unwrap_or_default();
    p
}

/// A `/proc/<pid>/status` field in KiB (VmRSS, VmHWM).
fn proc_kib(pid: i32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| {
            v.trim_start_matches(':')
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

/// A raw client: one frame out, one line back (bounded).
fn ask(sock: &std::path::Path, frame: &str) -> String {
    let mut s = UnixStream::connect(sock).expect("connect");
    s.set_read_timeout(Some(LONG)).expect("timeout");
    s.write_all(frame.as_bytes()).expect("write");
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line).expect("answer");
    line
}

#[test]
fn huge_asks_and_foreign_strings_stay_within_the_frame_limit_and_memory() {
    if !v2ray_available() {
        return eprintln!("skipped: no v2ray");
    }
    let p = quiet_pair();
    let svc = Service::start(&p.root);
    wait_ready(&svc);
    let sock = socket(&p.root);

    // 40 concurrent `logs` asking for a gigabyte of a 14 MiB log.
    let line = "2025/01/01 00:00:00 [Info] accepted tcp:example.com:443 [socks >> proxy]\n";
    let log = line.repeat(14 * 1024 * 1024 / line.len());
    p.root.write("logs/core-client.log", log);
    let base = proc_kib(svc.pid(), "VmRSS");
    let askers: Vec<_> = (0..40)
        .map(|i| {
            let sock = sock.clone();
            std::thread::spawn(move || {
                ask(
                    &sock,
                    &format!(
                        "{{\"v\":1,\"id\":{i},\"type\":\"logs\",\"role\":\"client\",\"bytes\":1000000000}}\n"
                    ),
                )
            })
        })
        .collect();
    for a in askers {
        let answer = a.join().expect("asker");
        assert!(answer.len() <= MAX_FRAME + 1, "{}", answer.len());
        let v: Value = serde_json::from_str(&answer).expect("JSON answer");
        assert_eq!(v["type"], "logs.ok");
        let text = v["text"].as_str().expect("text");
        assert!(
            !text.is_empty() && text.len() <= 256 * 1024,
            "{}",
            text.len()
        );
        assert!(text.ends_with(line), "the newest lines");
    }
    let peak = proc_kib(svc.pid(), "VmHWM");
    assert!(
        peak < base + 150 * 1024,
        "memory stays bounded: VmRSS before {base} KiB, peak {peak} KiB"
    );

    // A 2 MiB request id written into apply.request while the service runs.
    let huge = "r".repeat(2 * 1024 * 1024);
    p.root.write(
        ".state/apply.request",
        serde_json::json!({"version": 2, "requests": {"client": {
            "id": huge, "role": "client", "timestamp": "2025-01-01T00:00:00Z"}}})
        .to_string(),
    );
    let st = p.root.run(&["status", "--json"]);
    assert_eq!(st.code, Some(0), "{} {}", st.stdout, st.stderr);
    assert!(st.stdout.len() < MAX_FRAME, "the long id is cut");
    let human = p.root.run(&["status"]);
    assert_eq!(human.code, Some(0), "{}", human.stderr);
    // The 14 MiB written to the core log above also floods the log tailer with
    // log events: they must not make this waiter lag and miss its result.
    let applied = p.root.run(&["apply", "--role", "client", "--wait"]);
    assert_eq!(
        applied.code,
        Some(0),
        "{} {}\n--- service log ---\n{}",
        applied.stdout,
        applied.stderr,
        svc.log()
    );
    drop(svc);
}

#[test]
fn a_connection_flood_is_capped_and_half_sent_frames_are_dropped() {
    if !v2ray_available() {
        return eprintln!("skipped: no v2ray");
    }
    let p = quiet_pair();
    let svc = Service::start(&p.root);
    wait_ready(&svc);
    let sock = socket(&p.root);
    let base = proc_kib(svc.pid(), "VmRSS");
    // 300 connections, each sending most of a 1 MiB frame and never the end.
    let half = format!(
        "{{\"v\":1,\"id\":1,\"type\":\"status\",\"pad\":\"{}",
        "x".repeat(MAX_FRAME - 64 * 1024)
    );
    let mut conns = Vec::new();
    for _ in 0..300 {
        let Ok(mut s) = UnixStream::connect(&sock) else {
            continue;
        };
        s.set_write_timeout(Some(Duration::from_secs(2)))
            .expect("timeout");
        let _ = s.write_all(half.as_bytes());
        conns.push(s);
    }
    let peak = proc_kib(svc.pid(), "VmHWM");
    assert!(
        peak < base + 200 * 1024,
        "memory stays bounded: VmRSS before {base} KiB, peak {peak} KiB"
    );
    // Every connection ends: told `busy` (over the cap) or `frame_timeout`.
    let mut busy = 0;
    let mut timed_out = 0;
    for s in &conns {
        s.set_read_timeout(Some(LONG)).expect("timeout");
        let mut text = String::new();
        // The refusal is queued before the close, so it is read even when
        // the close resets the connection.
        let _ = BufReader::new(s).read_line(&mut text);
        let v: Value = serde_json::from_str(&text).unwrap_or_default();
        match v["code"].as_str() {
            Some("busy") => busy += 1,
            Some("frame_timeout") => timed_out += 1,
            other => panic!("unexpected end {other:?}: {text}"),
        }
    }
    assert!(
        busy > 0 && timed_out > 0,
        "busy {busy}, timed out {timed_out}"
    );
    drop(conns);
    // The service serves again once they are gone.
    assert!(wait_until(LONG, || p.root.run(&["status"]).code == Some(0)));
    drop(svc);
}

#[test]
fn a_stopped_service_bounds_status_and_apply_wait() {
    if !v2ray_available() {
        return eprintln!("skipped: no v2ray");
    }
    let p = quiet_pair();
    let svc = Service::start(&p.root);
    wait_ready(&svc);
    unsafe { libc::kill(svc.pid(), libc::SIGSTOP) };
    let resume = Resume(svc.pid());

    let started = Instant::now();
    let applied = p.root.run(&[
        "apply",
        "--role",
        "client",
        "--wait",
        "--timeout",
        "3s",
        "--json",
    ]);
    let took = started.elapsed();
    assert_eq!(applied.code, Some(5), "{}", applied.stderr);
    assert!(
        took < Duration::from_secs(20),
        "--timeout honoured: {took:?}"
    );
    let err: Value = serde_json::from_str(applied.stderr.trim()).expect("one JSON error");
    assert_eq!(err["error"]["code"], "timeout");
    assert!(applied.stdout.is_empty());

    let started = Instant::now();
    let st = p.root.run(&["status"]);
    assert!(
        started.elapsed() < Duration::from_secs(40),
        "status is bounded"
    );
    assert_eq!(st.code, Some(5), "{}", st.stderr);
    assert!(st.stdout.contains("does not answer"), "{}", st.stdout);
    assert!(
        st.stdout.contains("client"),
        "the files' view: {}",
        st.stdout
    );
    let st = p.root.run(&["status", "--json"]);
    let v: Value = serde_json::from_str(st.stdout.trim()).expect("status JSON");
    assert_eq!(v["state"]["service"]["answering"], false);

    drop(resume);
    // Once resumed, the request written meanwhile runs.
    let applied = p.root.run(&["apply", "--role", "client", "--wait"]);
    assert_eq!(applied.code, Some(0), "{}", applied.stderr);
    drop(svc);
}

/// SIGCONT on drop, so a failed assertion never leaves a stopped service.
struct Resume(i32);

impl Drop for Resume {
    fn drop(&mut self) {
        unsafe { libc::kill(self.0, libc::SIGCONT) };
    }
}

/// A copy of the binary other users can execute.
fn shared_binary(root: &TestRoot) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let dir = root.path().join("shared-bin");
    let bin = dir.join("xp2p");
    if !bin.exists() {
        std::fs::create_dir_all(&dir).expect("bin dir");
        std::fs::copy(xp2p_bin(), &bin).expect("copy binary");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    bin
}

/// Runs xp2p as uid/gid 65534 (`nobody`/`nogroup`).
fn as_nobody(root: &TestRoot, args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(shared_binary(root))
        .arg("--config-root")
        .arg(root.path())
        .args(args)
        .env("XP2P_LOG_ROOT", root.path().join("logs"))
        .env("NO_COLOR", "1")
        .output()
        .expect("setpriv");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn users_without_rights_get_exit_7_and_group_members_read_through_the_service() {
    if !v2ray_available()
        || !std::path::Path::new("/usr/bin/setpriv").exists()
        || unsafe { libc::geteuid() } != 0
    {
        return eprintln!("skipped: needs root, setpriv and v2ray");
    }
    use std::os::unix::fs::PermissionsExt;
    // socket_group = nogroup (65534): uid 65534 is a read-only member.
    let p = quiet_pair();
    std::fs::set_permissions(p.root.path(), std::fs::Permissions::from_mode(0o755))
        .expect("chmod root");
    let path = p.root.path().join("xp2p-client.toml");
    let text = std::fs::read_to_string(&path)
        .expect("client toml")
        .replace(
            "debounce_ms = 600000",
            "debounce_ms = 600000\nsocket_group = \"65534\"",
        );
    std::fs::write(&path, text).expect("socket_group");
    let svc = Service::start(&p.root);
    wait_ready(&svc);
    assert_eq!(
        p.root.run(&["apply", "--role", "client", "--wait"]).code,
        Some(0)
    );

    let (code, _, err) = as_nobody(&p.root, &["client", "mode", "tun", "split", "--wait"]);
    assert_eq!(code, Some(7), "{err}");
    assert!(!err.contains("invalid_desired"), "{err}");
    let (code, _, err) = as_nobody(&p.root, &["client", "mode", "proxy", "--wait", "--json"]);
    assert_eq!(code, Some(7), "{err}");
    let v: Value = serde_json::from_str(err.trim()).expect("one JSON error");
    assert_eq!(v["error"]["code"], "permission_denied");

    // The journal file is the owner's; a member reads it through the service.
    std::fs::set_permissions(
        p.root.path().join(".state/journal.jsonl"),
        std::fs::Permissions::from_mode(0o600),
    )
    .expect("chmod journal");
    let (code, out, err) = as_nobody(&p.root, &["journal", "--role", "client"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("committed"), "{out}");

    // A member reads the rendered configs through the service, redacted.
    for which in ["--live", ""] {
        let mut args = vec!["render", "--role", "client"];
        if !which.is_empty() {
            args.push(which);
        }
        let (code, out, err) = as_nobody(&p.root, &args);
        assert_eq!(code, Some(0), "render {which}: {err}");
        assert!(out.contains("outbounds"), "{out}");
        assert!(
            !out.contains(FIXTURE_PASSWORD),
            "render {which} leaked: {out}"
        );
        assert!(out.contains("<redacted>"), "{out}");
    }
    drop(svc);

    // Without a service (or without the group), nobody gets exit 7.
    let (code, _, err) = as_nobody(&p.root, &["journal"]);
    assert_eq!(code, Some(7), "{err}");
    let (code, _, err) = as_nobody(&p.root, &["journal", "--json"]);
    assert_eq!(code, Some(7), "{err}");
    let v: Value = serde_json::from_str(err.trim()).expect("one JSON error");
    assert_eq!(v["error"]["code"], "permission_denied");
}

#[test]
fn control_characters_from_a_toml_value_are_escaped_in_apply_and_status() {
    if !v2ray_available() {
        return eprintln!("skipped: no v2ray");
    }
    let p = quiet_pair();
    let svc = Service::start(&p.root);
    wait_ready(&svc);
    let path = p.root.path().join("xp2p-client.toml");
    let text = std::fs::read_to_string(&path)
        .expect("client toml")
        .replace(
            "hostname = \"localhost\"",
            "hostname = \"\\u001b]0;pwned\\u0007\\u001b[2Jx\"",
        );
    std::fs::write(&path, text).expect("hostile value");
    let applied = p.root.run(&["apply", "--role", "client", "--wait"]);
    assert_eq!(
        applied.code,
        Some(1),
        "{} {}",
        applied.stdout,
        applied.stderr
    );
    let st = p.root.run(&["status"]);
    let journal = p.root.run(&["journal", "--role", "client"]);
    for (what, out) in [
        ("apply", &applied.stdout),
        ("status", &st.stdout),
        ("journal", &journal.stdout),
    ] {
        assert!(
            !out.contains('\u{1b}') && !out.contains('\u{7}'),
            "{what} prints raw control characters: {out:?}"
        );
    }
    assert!(
        applied.stdout.contains("\\x1b]0;pwned\\x07"),
        "the value is shown, escaped: {}",
        applied.stdout
    );
    assert!(st.stdout.contains("\\x1b"), "{}", st.stdout);
    drop(svc);
}
