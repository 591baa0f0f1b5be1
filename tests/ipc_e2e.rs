//! IPC end to end: the socket protocol, permissions, and `apply --wait` /
//! `status` / `rollback` against a real service and v2ray.

mod service_support;
mod support;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::Value;
use service_support::*;
use support::*;

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

fn json_line(out: &[u8]) -> Value {
    let text = String::from_utf8_lossy(out);
    serde_json::from_str(text.trim())
        .unwrap_or_else(|e| panic!("not one JSON object ({e}): {text}"))
}

fn apply_json(root: &TestRoot, extra: &[&str]) -> (Option<i32>, Value, Value) {
    let mut args = vec!["apply", "--role", "client", "--wait", "--json"];
    args.extend_from_slice(extra);
    let out: Output = root.cmd().args(&args).output().expect("run apply");
    let stdout = if out.stdout.is_empty() {
        Value::Null
    } else {
        json_line(&out.stdout)
    };
    let stderr = if out.stderr.is_empty() {
        Value::Null
    } else {
        json_line(&out.stderr)
    };
    (out.status.code(), stdout, stderr)
}

fn check_result_shape(v: &Value, status: &str, exit_code: i64) {
    assert_eq!(v["schema_version"], "1", "{v}");
    assert_eq!(v["command"], "xp2p apply");
    let r = &v["result"];
    assert_eq!(r["role"], "client");
    assert!(
        r["request_id"].as_str().is_some_and(|s| s.len() == 36),
        "{r}"
    );
    assert!(
        r["attempt_id"].as_str().is_some_and(|s| s.len() == 36),
        "{r}"
    );
    assert_eq!(r["status"], status, "{r}");
    assert!(r["changed"].is_boolean());
    assert!(r["duration_ms"].is_u64());
    assert_eq!(r["exit_code"], exit_code);
    assert!(r["error_summary"].is_null() || r["error_summary"].is_string());
    assert!(
        r["log_tail"].as_str().is_some_and(|t| t.len() <= 8 * 1024),
        "log_tail ≤ 8 KiB"
    );
    let phases = r["phases"].as_array().cloned().unwrap_or_default();
    assert!(!phases.is_empty());
    assert!(
        phases
            .iter()
            .all(|p| p["phase"].is_string() && p["ms"].is_u64()),
        "{r}"
    );
    assert_eq!(phases[0]["phase"], "received");
}

#[test]
fn apply_wait_reports_every_outcome_with_its_exit_code() {
    if !v2ray_available() {
        return eprintln!("skipped: no v2ray");
    }
    let p = quiet_pair();
    let svc = Service::start(&p.root);
    wait_ready(&svc);
    p.wait_outcomes("client", 1);

    // noop: Desired already runs.
    let (code, out, _) = apply_json(&p.root, &[]);
    assert_eq!(code, Some(0));
    check_result_shape(&out, "noop", 0);
    assert_eq!(out["result"]["changed"], false);

    // committed
    p.append_client("\n[[client.redirects]]\ncidr = \"10.5.0.0/16\"\noutbound_tag = \"direct\"\n");
    let (code, out, _) = apply_json(&p.root, &[]);
    assert_eq!(code, Some(0), "{out}");
    check_result_shape(&out, "committed", 0);
    assert_eq!(out["result"]["changed"], true);
    let names: Vec<&str> = out["result"]["phases"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["phase"].as_str())
        .collect();
    assert_eq!(
        names,
        [
            "received",
            "compiled",
            "validated",
            "staged",
            "committed_live",
            "started",
            "healthy",
            "done"
        ]
    );

    // failed (Live untouched)
    let good = std::fs::read_to_string(p.root.path().join("xp2p-client.toml")).unwrap_or_default();
    p.append_client("\n[client.nonsense]\nx = 1\n");
    let (code, out, _) = apply_json(&p.root, &[]);
    assert_eq!(code, Some(1), "{out}");
    check_result_shape(&out, "failed", 1);
    assert!(
        out["result"]["error_summary"]
            .as_str()
            .unwrap_or_default()
            .contains("client.nonsense"),
        "{out}"
    );
    std::fs::write(p.root.path().join("xp2p-client.toml"), &good).unwrap_or_default();

    // rolled_back: -test passes, the core cannot bind at start.
    p.root.write(
        "config-client/inbounds.append.json",
        r#"{"inbounds":[{"tag":"extra-in","protocol":"socks","listen":"192.0.2.9","port":1080,"settings":{"auth":"noauth"}}]}"#,
    );
    let (code, out, _) = apply_json(&p.root, &[]);
    assert_eq!(code, Some(3), "{out}");
    check_result_shape(&out, "rolled_back", 3);
    assert!(
        out["result"]["error_summary"]
            .as_str()
            .unwrap_or_default()
            .contains("core exited during start"),
        "{out}"
    );
    std::fs::remove_file(p.root.path().join("config-client/inbounds.append.json"))
        .unwrap_or_default();

    // timeout: the apply goes on, the waiter gives up.
    p.append_client("\n[[client.redirects]]\ncidr = \"10.6.0.0/16\"\noutbound_tag = \"direct\"\n");
    let (code, out, err) = apply_json(&p.root, &["--timeout", "1ms"]);
    assert_eq!(code, Some(5), "{out} {err}");
    assert!(
        out.is_null(),
        "nothing on stdout when the command could not finish"
    );
    assert_eq!(err["error"]["code"], "timeout");
    assert_eq!(err["schema_version"], "1");

    // service down: exit 6, the request stays queued.
    assert_eq!(svc.stop(), Some(0));
    let (code, out, err) = apply_json(&p.root, &[]);
    assert_eq!(code, Some(6), "{err}");
    assert!(out.is_null());
    assert_eq!(err["error"]["code"], "service_unavailable");
    let req: Value = serde_json::from_slice(
        &std::fs::read(p.root.path().join(".state/apply.request")).unwrap_or_default(),
    )
    .unwrap_or_default();
    assert!(
        req["requests"]["client"]["id"].is_string(),
        "request stays queued: {req}"
    );
}

#[test]
fn five_concurrent_waiters_all_get_a_terminal_answer() {
    if !v2ray_available() {
        return eprintln!("skipped: no v2ray");
    }
    let p = quiet_pair();
    let svc = Service::start(&p.root);
    wait_ready(&svc);
    p.wait_outcomes("client", 1);
    p.append_client("\n[[client.redirects]]\ncidr = \"10.8.0.0/16\"\noutbound_tag = \"direct\"\n");
    let children: Vec<_> = (0..5)
        .map(|_| {
            p.root
                .cmd()
                .args([
                    "apply",
                    "--role",
                    "client",
                    "--wait",
                    "--json",
                    "--timeout",
                    "60s",
                ])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn apply")
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().expect("apply output");
        assert_eq!(
            out.status.code(),
            Some(0),
            "stdout {} stderr {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let v = json_line(&out.stdout);
        let status = v["result"]["status"].as_str().unwrap_or_default();
        assert!(status == "committed" || status == "noop", "{v}");
    }
    drop(svc);
}

#[test]
fn status_json_and_rollback_restore_the_previous_live() {
    if !v2ray_available() {
        return eprintln!("skipped: no v2ray");
    }
    let p = quiet_pair();
    let svc = Service::start(&p.root);
    wait_ready(&svc);
    p.wait_outcomes("client", 1);
    let first = std::fs::read(p.live("client")).unwrap_or_default();
    p.append_client("\n[[client.redirects]]\ncidr = \"10.4.0.0/16\"\noutbound_tag = \"direct\"\n");
    assert_eq!(
        p.root.run(&["apply", "--role", "client", "--wait"]).code,
        Some(0)
    );
    let second = std::fs::read(p.live("client")).unwrap_or_default();
    assert_ne!(first, second);

    let out = p
        .root
        .cmd()
        .args(["status", "--json"])
        .output()
        .expect("status");
    assert_eq!(out.status.code(), Some(0));
    let v = json_line(&out.stdout);
    assert_eq!(v["schema_version"], "1");
    assert_eq!(v["command"], "xp2p status");
    assert_eq!(v["state"]["service"]["running"], true);
    let roles = v["state"]["roles"].as_array().cloned().unwrap_or_default();
    let client = roles
        .iter()
        .find(|r| r["role"] == "client")
        .cloned()
        .unwrap_or_default();
    assert_eq!(client["core"]["display"], "running", "{client}");
    assert!(client["core"]["pid"].is_i64());
    assert!(client["core"]["uptime_s"].is_u64());
    assert_eq!(client["core"]["inbounds"][0]["tag"], "socks-in");
    assert_eq!(client["core"]["inbounds"][0]["health"], "reachable");
    assert!(
        client["live"]["config_sha256"]
            .as_str()
            .is_some_and(|s| s.len() == 64)
    );
    assert!(client["lkg"]["config_sha256"].is_string());
    assert!(client["pending_request"].is_null());
    assert!(client["error"].is_null());
    assert_eq!(client["last_attempt"]["outcome"], "committed");
    assert_eq!(client["tun_phase"], "disabled");

    let r = p.root.run(&["rollback", "--role", "client", "--wait"]);
    assert_eq!(r.code, Some(0), "{} {}", r.stdout, r.stderr);
    assert_eq!(
        std::fs::read(p.live("client")).unwrap_or_default(),
        first,
        "Live is the previous config"
    );
    assert_eq!(
        std::fs::read(p.lkg("client")).unwrap_or_default(),
        second,
        "LKG holds what was Live"
    );
    let j = p.root.run(&["journal", "--role", "client", "--json"]);
    assert!(
        j.stdout.contains("rollback-"),
        "rollback journaled: {}",
        j.stdout
    );
    drop(svc);
}

#[test]
fn protocol_errors_and_a_client_that_never_reads() {
    if !v2ray_available() {
        return eprintln!("skipped: no v2ray");
    }
    let p = quiet_pair();
    let svc = Service::start(&p.root);
    wait_ready(&svc);
    let sock = socket(&p.root);
    let mut s = UnixStream::connect(&sock).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap_or_default();
    let mut r = BufReader::new(s.try_clone().expect("clone"));
    let mut line = String::new();
    let mut ask = |s: &mut UnixStream, text: &str| -> Value {
        s.write_all(text.as_bytes()).expect("write");
        line.clear();
        r.read_line(&mut line).expect("read");
        serde_json::from_str(&line).unwrap_or(Value::Null)
    };
    let v = ask(
        &mut s,
        "{\"v\":1,\"id\":1,\"type\":\"hello\",\"client\":\"test\"}\n",
    );
    assert_eq!(v["type"], "hello.ok");
    assert_eq!(v["proto"], 1);
    let v = ask(&mut s, "this is not json\n");
    assert_eq!(v["type"], "error");
    assert_eq!(v["code"], "malformed_frame");
    let v = ask(&mut s, "{\"v\":1,\"id\":7,\"type\":\"no.such.thing\"}\n");
    assert_eq!(
        (v["type"].as_str(), v["code"].as_str(), v["id"].as_i64()),
        (Some("error"), Some("unknown_type"), Some(7))
    );
    let v = ask(&mut s, "{\"v\":1,\"id\":8,\"type\":\"status\"}\n");
    assert_eq!(v["type"], "status.ok", "the connection survives bad frames");

    // A subscriber that never reads, while applies produce events.
    let mut lazy = UnixStream::connect(&sock).expect("connect lazy");
    lazy.write_all(b"{\"v\":1,\"id\":1,\"type\":\"subscribe\"}\n")
        .expect("subscribe");
    for _ in 0..4 {
        assert_eq!(
            p.root.run(&["restart", "--role", "client", "--wait"]).code,
            Some(0)
        );
    }
    let st = p.root.run(&["status", "--json"]);
    assert_eq!(
        st.code,
        Some(0),
        "service answers others while one client never reads"
    );

    // A 2 MiB line: an error frame, then the connection closes.
    let mut big = UnixStream::connect(&sock).expect("connect big");
    big.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap_or_default();
    let payload = format!(
        "{{\"v\":1,\"type\":\"status\",\"pad\":\"{}\"}}\n",
        "x".repeat(2 * 1024 * 1024)
    );
    let _ = big.write_all(payload.as_bytes());
    let mut br = BufReader::new(big);
    let mut l = String::new();
    br.read_line(&mut l).expect("error frame");
    let v: Value = serde_json::from_str(&l).unwrap_or_default();
    assert_eq!(v["code"], "frame_too_long", "{l}");
    l.clear();
    assert_eq!(
        br.read_line(&mut l).unwrap_or(0),
        0,
        "closed after the error"
    );
    drop(lazy);
    drop(svc);
}

/// A copy of the binary nobody can execute: the checkout may sit under a
/// directory other users cannot enter (e.g. /root on a CI machine).
fn binary_for_nobody(root: &TestRoot) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let dir = root.path().join("nobody-bin");
    let bin = dir.join("xp2p");
    if !bin.exists() {
        std::fs::create_dir_all(&dir).unwrap_or_default();
        std::fs::copy(xp2p_bin(), &bin).unwrap_or_default();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap_or_default();
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap_or_default();
    }
    bin
}

fn as_nobody(root: &TestRoot, args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(binary_for_nobody(root))
        .arg("--config-root")
        .arg(root.path())
        .args(args)
        .env("XP2P_LOG_ROOT", root.path().join("logs"))
        .output()
        .expect("setpriv");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn non_owner_is_refused_and_socket_group_is_read_only() {
    if !v2ray_available()
        || !std::path::Path::new("/usr/bin/setpriv").exists()
        || unsafe { libc::geteuid() } != 0
    {
        return eprintln!("skipped: needs root, setpriv and v2ray");
    }
    use std::os::unix::fs::PermissionsExt;
    // Owner-only socket: nobody cannot apply (or even connect).
    let p = quiet_pair();
    std::fs::set_permissions(p.root.path(), std::fs::Permissions::from_mode(0o755))
        .unwrap_or_default();
    let svc = Service::start(&p.root);
    wait_ready(&svc);
    let mode = std::fs::metadata(socket(&p.root))
        .map(|m| m.permissions().mode() & 0o777)
        .unwrap_or(0);
    assert_eq!(mode, 0o600);
    let state_mode = std::fs::metadata(p.root.path().join(".state"))
        .map(|m| m.permissions().mode() & 0o777)
        .unwrap_or(0);
    assert_eq!(state_mode, 0o700);
    let (code, err) = as_nobody(&p.root, &["apply", "--role", "client", "--wait"]);
    assert_eq!(code, Some(7), "{err}");
    let (code, err) = as_nobody(&p.root, &["rollback", "--role", "client"]);
    assert_eq!(code, Some(7), "{err}");
    drop(svc);

    // socket_group = nogroup (65534): read-only access.
    let q = quiet_pair();
    std::fs::set_permissions(q.root.path(), std::fs::Permissions::from_mode(0o755))
        .unwrap_or_default();
    let path = q.root.path().join("xp2p-client.toml");
    let text = std::fs::read_to_string(&path).unwrap_or_default().replace(
        "debounce_ms = 600000",
        "debounce_ms = 600000\nsocket_group = \"65534\"",
    );
    std::fs::write(&path, text).unwrap_or_default();
    let svc = Service::start(&q.root);
    wait_ready(&svc);
    let (code, err) = as_nobody(&q.root, &["status", "--json"]);
    assert_eq!(code, Some(0), "group member reads status: {err}");
    let (code, err) = as_nobody(&q.root, &["rollback", "--role", "client"]);
    assert_eq!(code, Some(7), "group member may not act: {err}");
    assert!(err.contains("permission"), "{err}");
    drop(svc);
}

#[test]
fn the_mode_request_writes_desired_and_requests_an_apply() {
    if !v2ray_available() {
        return eprintln!("skipped: no v2ray");
    }
    // Only proxy mode here: TUN modes touch interfaces and are tested in
    // network namespaces (tests/tun_e2e.rs).
    let p = quiet_pair();
    let svc = Service::start(&p.root);
    wait_ready(&svc);
    let mut s = UnixStream::connect(socket(&p.root)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap_or_default();
    let mut r = BufReader::new(s.try_clone().expect("clone"));
    let mut ask = |text: &str| -> Value {
        s.write_all(text.as_bytes()).expect("write");
        let mut line = String::new();
        r.read_line(&mut line).expect("read");
        serde_json::from_str(&line).unwrap_or(Value::Null)
    };
    let v = ask("{\"v\":1,\"id\":1,\"type\":\"mode\",\"role\":\"client\",\"tun_enabled\":false}\n");
    assert_eq!(v["type"], "mode.ok", "{v}");
    assert!(
        v["request_id"].as_str().is_some_and(|id| !id.is_empty()),
        "{v}"
    );
    let toml = p.root.read("xp2p-client.toml");
    assert!(toml.contains("tun_enabled = false"), "{toml}");
    assert!(
        toml.contains("debounce_ms = 600000"),
        "the rest of the file is kept: {toml}"
    );
    assert!(
        wait_until(LONG, || outcomes(&p.root, "client").len() >= 2),
        "the requested apply ran: {:?}",
        outcomes(&p.root, "client")
    );
    let v = ask("{\"v\":1,\"id\":2,\"type\":\"mode\",\"role\":\"client\",\"mode\":\"sideways\"}\n");
    assert_eq!(
        (v["type"].as_str(), v["code"].as_str()),
        (Some("error"), Some("invalid_request")),
        "{v}"
    );
    let v = ask("{\"v\":1,\"id\":3,\"type\":\"mode\",\"role\":\"server\",\"mode\":\"full\"}\n");
    assert_eq!(
        v["code"], "invalid_request",
        "a server has no full mode: {v}"
    );
}

/// A fake service at the socket that answers `hello` with another protocol
/// version: `xp2p status` refuses it (exit 1), naming both versions, instead
/// of reading what it cannot understand.
#[test]
fn the_cli_refuses_a_service_of_another_protocol_naming_both_versions() {
    use std::os::unix::net::UnixListener;
    let root = TestRoot::new();
    let sock = socket(&root);
    std::fs::create_dir_all(sock.parent().expect("state dir")).expect("state dir");
    let listener = UnixListener::bind(&sock).expect("bind the fake service");
    let fake = std::thread::spawn(move || {
        let (s, _) = listener.accept().expect("accept");
        let mut r = BufReader::new(s.try_clone().expect("clone"));
        let mut hello = String::new();
        r.read_line(&mut hello).expect("hello");
        let mut w = s;
        w.write_all(
            b"{\"v\":1,\"id\":1,\"type\":\"hello.ok\",\"instance_id\":\"x\",\"proto\":2,\"roles\":[],\"service\":\"xp2p 9.0.0\"}\n",
        )
        .expect("answer");
        // Hold the connection until the client hangs up.
        let mut rest = String::new();
        let _ = r.read_line(&mut rest);
        hello
    });
    let out = root.run(&["status"]);
    let hello = fake.join().expect("the fake service");
    assert!(
        hello.contains("\"proto\":1"),
        "the client says its version: {hello}"
    );
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(out.stderr.contains("protocol 2"), "{}", out.stderr);
    assert!(out.stderr.contains("protocol 1"), "{}", out.stderr);
}
