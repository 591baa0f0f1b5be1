//! End-to-end tests of `xp2p service run` with the real core (v2ray) and, for
//! faults a real core cannot be made to show on demand, the fake core.

mod service_support;
mod support;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::Value;
use service_support::*;
use support::*;

#[test]
fn first_start_then_edit_gives_new_live_and_lkg_with_every_phase() {
    if !v2ray_available() {
        return eprintln!("skipped: no v2ray");
    }
    let p = pair();
    let origin = HttpOrigin::start(ORIGIN_IP);
    let svc = Service::start(&p.root);
    assert_eq!(p.wait_outcomes("client", 1), ["committed"], "{}", svc.log());
    assert_eq!(p.wait_outcomes("server", 1), ["committed"], "{}", svc.log());
    assert!(
        wait_until(LONG, || p.fetch_ok(&origin)),
        "tunnel works after first start"
    );
    let first_live = read_bytes(&p.live("client"));
    assert!(!p.lkg("client").exists());

    p.append_client("\n[[client.redirects]]\ncidr = \"10.77.0.0/16\"\noutbound_tag = \"direct\"\n");
    assert_eq!(
        p.wait_outcomes("client", 2),
        ["committed", "committed"],
        "{}",
        svc.log()
    );
    assert_eq!(
        read_bytes(&p.lkg("client")),
        first_live,
        "LKG is the previous Live byte for byte"
    );
    assert!(String::from_utf8_lossy(&read_bytes(&p.live("client"))).contains("10.77.0.0/16"));
    let j = journal(&p.root);
    let last_attempt = j
        .iter()
        .rev()
        .find(|r| r["role"] == "client")
        .and_then(|r| r["attempt_id"].as_str())
        .unwrap_or_default()
        .to_string();
    let phases: Vec<&str> = j
        .iter()
        .filter(|r| r["attempt_id"] == last_attempt.as_str())
        .filter_map(|r| r["phase"].as_str())
        .collect();
    assert_eq!(
        phases,
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
    let seqs: Vec<i64> = j.iter().filter_map(|r| r["seq"].as_i64()).collect();
    assert!(
        seqs.windows(2).all(|w| w[1] == w[0] + 1),
        "journal seq strictly increasing"
    );
    assert!(p.fetch_ok(&origin));
    assert!(
        std::fs::read_to_string(p.root.path().join(".state/apply.request"))
            .is_ok_and(|s| !s.contains("\"client\":")),
        "request entry removed"
    );
    assert_eq!(svc.stop(), Some(0));
}

#[test]
fn invalid_toml_records_error_keeps_live_and_is_not_retried_then_a_fix_applies() {
    if !v2ray_available() {
        return eprintln!("skipped: no v2ray");
    }
    let p = pair();
    let svc = Service::start(&p.root);
    p.wait_outcomes("client", 1);
    let good = std::fs::read_to_string(p.root.path().join("xp2p-client.toml")).unwrap_or_default();
    // Make an LKG exist too.
    p.append_client("\n[[client.redirects]]\ncidr = \"10.1.0.0/16\"\noutbound_tag = \"direct\"\n");
    p.wait_outcomes("client", 2);
    let (live, lkg) = (read_bytes(&p.live("client")), read_bytes(&p.lkg("client")));

    p.append_client("\n[client.bogus]\nkey = 1\n");
    assert!(
        wait_until(LONG, || p.root.path().join(".state/apply.error").exists()),
        "{}",
        svc.log()
    );
    let err: Value = serde_json::from_slice(&read_bytes(&p.root.path().join(".state/apply.error")))
        .unwrap_or_default();
    let req: Value =
        serde_json::from_slice(&read_bytes(&p.root.path().join(".state/apply.request")))
            .unwrap_or_default();
    let e = &err["errors"]["client"];
    assert_eq!(
        e["request_id"], req["requests"]["client"]["id"],
        "error carries the request id and the request stays"
    );
    assert_eq!(e["code"], "invalid_toml");
    assert!(
        e["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("client.bogus"),
        "reason names the key: {e}"
    );
    assert_eq!(read_bytes(&p.live("client")), live, "Live unchanged");
    assert_eq!(read_bytes(&p.lkg("client")), lkg, "LKG unchanged");
    // Not retried: poke the runner by rewriting the same request document.
    let doc = read_bytes(&p.root.path().join(".state/apply.request"));
    std::fs::write(p.root.path().join(".state/apply.request"), &doc).unwrap_or_default();
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(
        outcomes(&p.root, "client")
            .iter()
            .filter(|o| *o == "failed")
            .count(),
        1,
        "failed request not retried"
    );

    std::fs::write(
        p.root.path().join("xp2p-client.toml"),
        format!(
            "{good}\n[[client.redirects]]\ncidr = \"10.2.0.0/16\"\noutbound_tag = \"direct\"\n"
        ),
    )
    .unwrap_or_default();
    assert!(
        wait_until(LONG, || outcomes(&p.root, "client")
            .last()
            .is_some_and(|o| o == "committed")
            && outcomes(&p.root, "client").len() == 4),
        "{}",
        svc.log()
    );
    // The error clears right after the terminal record (journal first).
    let cleared = wait_until(LONG, || {
        let err: Value =
            serde_json::from_slice(&read_bytes(&p.root.path().join(".state/apply.error")))
                .unwrap_or_default();
        err["errors"].get("client").is_none()
    });
    assert!(cleared, "success clears the role's error");
    drop(svc);
}

#[test]
fn config_refused_at_start_rolls_back_and_traffic_never_stops() {
    if !v2ray_available() {
        return eprintln!("skipped: no v2ray");
    }
    let p = pair();
    let origin = HttpOrigin::start(ORIGIN_IP);
    let svc = Service::start(&p.root);
    p.wait_outcomes("client", 1);
    p.wait_outcomes("server", 1);
    assert!(wait_until(LONG, || p.fetch_ok(&origin)));
    let old_pid = session_pid(&p.root, "client").unwrap_or_default();
    let live = read_bytes(&p.live("client"));

    // A fetch loop through SOCKS for the whole apply.
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let looper = {
        let (stop, ok, failed) = (stop.clone(), ok.clone(), failed.clone());
        let (socks, target, body) = (p.socks_addr(), origin.addr(), origin.body().to_string());
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                match socks5_get(socks, target, Duration::from_secs(3)) {
                    Ok(b) if b.contains(&body) => ok.fetch_add(1, Ordering::SeqCst),
                    _ => failed.fetch_add(1, Ordering::SeqCst),
                };
            }
        })
    };
    // An extra inbound on an address this host lacks: -test passes, start fails.
    p.root.write(
        "config-client/inbounds.append.json",
        r#"{"inbounds":[{"tag":"extra-in","protocol":"socks","listen":"192.0.2.77","port":1080,"settings":{"auth":"noauth"}}]}"#,
    );
    assert_eq!(
        p.wait_outcomes("client", 2).last().map(String::as_str),
        Some("rolled_back"),
        "{}",
        svc.log()
    );
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::SeqCst);
    let _ = looper.join();
    assert_eq!(
        session_pid(&p.root, "client"),
        Some(old_pid),
        "old core still serving"
    );
    assert!(pid_alive(old_pid));
    assert_eq!(read_bytes(&p.live("client")), live, "Live restored");
    let err: Value = serde_json::from_slice(&read_bytes(&p.root.path().join(".state/apply.error")))
        .unwrap_or_default();
    assert_eq!(err["errors"]["client"]["code"], "start_failed", "{err}");
    assert!(ok.load(Ordering::SeqCst) > 0);
    assert_eq!(
        failed.load(Ordering::SeqCst),
        0,
        "no fetch failed during the rolled-back apply"
    );
    drop(svc);
}

#[test]
fn killed_core_is_restarted_and_a_killed_service_reattaches() {
    if !v2ray_available() {
        return eprintln!("skipped: no v2ray");
    }
    let p = pair();
    let origin = HttpOrigin::start(ORIGIN_IP);
    let svc = Service::start(&p.root);
    p.wait_outcomes("client", 1);
    p.wait_outcomes("server", 1);
    let pid = session_pid(&p.root, "client").unwrap_or_default();
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    assert!(
        wait_until(LONG, || session_pid(&p.root, "client")
            .is_some_and(|n| n != pid)),
        "{}",
        svc.log()
    );
    assert_eq!(
        session(&p.root, "client")["last_transition"]["reason_code"],
        "crash_restart"
    );
    assert!(svc.log().contains("core exited (killed by signal 9)"));
    assert!(wait_until(LONG, || p.fetch_ok(&origin)));

    // kill -9 the service: cores keep running; a new service adopts the same pids.
    let client_pid = session_pid(&p.root, "client").unwrap_or_default();
    let server_pid = session_pid(&p.root, "server").unwrap_or_default();
    svc.kill9();
    assert!(
        pid_alive(client_pid) && pid_alive(server_pid),
        "cores survive a killed service"
    );
    assert!(p.fetch_ok(&origin), "traffic flows without the service");
    let svc = Service::start(&p.root);
    assert!(
        wait_until(LONG, || svc.log().contains("xp2p service ready")),
        "{}",
        svc.log()
    );
    assert_eq!(
        session_pid(&p.root, "client"),
        Some(client_pid),
        "reattached, not restarted"
    );
    assert_eq!(
        session(&p.root, "client")["last_transition"]["reason_code"],
        "reattached"
    );
    assert!(pid_alive(client_pid));

    // A session whose pid is dead: rejected with a reason code, fresh core.
    svc.kill9();
    unsafe { libc::kill(client_pid as i32, libc::SIGKILL) };
    assert!(wait_until(LONG, || !pid_alive(client_pid)));
    let svc = Service::start(&p.root);
    assert!(
        wait_until(LONG, || svc.log().contains("xp2p service ready")),
        "{}",
        svc.log()
    );
    assert!(
        svc.log().contains("reattach_rejected_pid_missing"),
        "{}",
        svc.log()
    );
    let fresh = session_pid(&p.root, "client").unwrap_or_default();
    assert!(fresh != client_pid && pid_alive(fresh));
    assert!(wait_until(LONG, || p.fetch_ok(&origin)));
    drop(svc);
}

#[test]
fn no_config_exits_78_and_a_second_instance_is_refused() {
    let root = TestRoot::new();
    let svc = Service::start(&root);
    assert_eq!(svc.wait_exit(LONG), Some(78));

    if !v2ray_available() {
        return;
    }
    let p = pair();
    let first = Service::start(&p.root);
    assert!(
        wait_until(LONG, || first.log().contains("xp2p service ready")),
        "{}",
        first.log()
    );
    let second = p.root.run(&["service", "run"]);
    assert_eq!(second.code, Some(1));
    assert!(
        second.stderr.contains(&format!("pid {}", first.pid())),
        "second instance stderr: {}",
        second.stderr
    );
    drop(first);
}

// --- fake core ------------------------------------------------------------------

fn fake_core() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_xp2p-fake-core"))
}

fn fake_pair(root: &TestRoot) -> u16 {
    let socks = free_port();
    root.write(
        "xp2p-client.toml",
        format!(
            "[core]\npath = \"{}\"\n\n[client]\nsocks_address = \"127.0.0.1:{socks}\"\n",
            fake_core().display()
        ),
    );
    socks
}

#[test]
fn fake_core_crash_at_start_fails_after_commit_without_an_old_core() {
    let root = TestRoot::new();
    fake_pair(&root);
    let svc = Service::start_with(&root, &[("FAKE_CORE_CRASH_AT_START", "23")]);
    assert!(
        wait_until(LONG, || !outcomes(&root, "client").is_empty()),
        "{}",
        svc.log()
    );
    assert_eq!(outcomes(&root, "client"), ["failed_after_commit"]);
    assert!(
        !root.path().join(".state/live/config-client").exists(),
        "Live back to what it was (none)"
    );
    let err: Value = serde_json::from_slice(&read_bytes(&root.path().join(".state/apply.error")))
        .unwrap_or_default();
    assert_eq!(err["errors"]["client"]["code"], "start_failed");
    assert!(
        err["errors"]["client"]["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("exit code 23"),
        "{err}"
    );
}

#[test]
fn fake_core_slow_start_and_xray_cli_then_hang_on_stop_is_killed() {
    let root = TestRoot::new();
    let socks = fake_pair(&root);
    let svc = Service::start_with(
        &root,
        &[
            ("FAKE_CORE_START_DELAY_MS", "1500"),
            ("FAKE_CORE_IGNORE_TERM", "1"),
        ],
    );
    assert!(
        wait_until(LONG, || !outcomes(&root, "client").is_empty()),
        "{}",
        svc.log()
    );
    assert_eq!(outcomes(&root, "client"), ["committed"], "{}", svc.log());
    let s = session(&root, "client");
    let cmd: Vec<&str> = s["cmdline"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(&cmd[1..3], ["run", "-c"], "xray flavour command line");
    assert!(port_accepts(std::net::SocketAddr::from((
        [127, 0, 0, 1],
        socks
    ))));
    let pid = s["pid"].as_i64().unwrap_or_default();
    // The fake ignores SIGTERM: the service must SIGKILL it after the grace period.
    assert_eq!(svc.stop(), Some(0));
    assert!(!pid_alive(pid), "core hanging on stop was killed");
    assert_eq!(session(&root, "client")["status"], "stopped");
}

#[test]
fn fake_core_test_refusal_fails_before_commit() {
    let root = TestRoot::new();
    fake_pair(&root);
    let svc = Service::start_with(
        &root,
        &[
            ("FAKE_CORE_TEST_EXIT", "23"),
            ("FAKE_CORE_FLAVOUR", "v2ray"),
        ],
    );
    assert!(
        wait_until(LONG, || !outcomes(&root, "client").is_empty()),
        "{}",
        svc.log()
    );
    assert_eq!(outcomes(&root, "client"), ["failed"]);
    let err: Value = serde_json::from_slice(&read_bytes(&root.path().join(".state/apply.error")))
        .unwrap_or_default();
    assert_eq!(err["errors"]["client"]["code"], "config_test_failed");
    assert_eq!(err["errors"]["client"]["phase"], "validated");
    assert!(
        !root
            .path()
            .join(".state/live")
            .join("config-client")
            .exists()
    );
    drop(svc);
}

#[test]
fn a_burst_of_edits_gives_one_apply_and_a_held_lock_gives_lease_held() {
    if !v2ray_available() {
        return eprintln!("skipped: no v2ray");
    }
    let p = pair();
    let svc = Service::start(&p.root);
    p.wait_outcomes("client", 1);
    // 30 edits, 20 ms apart: well inside the 300 ms debounce.
    for i in 0..30 {
        p.append_client(&format!(
            "\n[[client.redirects]]\ncidr = \"10.{i}.0.0/16\"\noutbound_tag = \"direct\"\n"
        ));
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        wait_until(LONG, || {
            std::fs::read(p.live("client"))
                .is_ok_and(|b| String::from_utf8_lossy(&b).contains("10.29.0.0/16"))
        }),
        "{}",
        svc.log()
    );
    std::thread::sleep(Duration::from_millis(800));
    let n = outcomes(&p.root, "client").len();
    assert_eq!(
        n,
        2,
        "one apply for the burst (plus the first start): {:?}",
        outcomes(&p.root, "client")
    );

    // Someone else holds the role lock: the attempt ends lease_held, Live untouched.
    let live = std::fs::read(p.live("client")).unwrap_or_default();
    let lock = p.root.path().join(".state/locks/client.lock");
    // Held until killed below; wait until it really holds the lock (a loaded
    // machine may take long to start `flock`).
    let mut holder = std::process::Command::new("flock")
        .arg(&lock)
        .args(["sleep", "600"])
        .spawn()
        .expect("flock");
    assert!(wait_until(LONG, || {
        std::process::Command::new("flock")
            .args(["-n"])
            .arg(&lock)
            .arg("true")
            .status()
            .is_ok_and(|s| !s.success())
    }));
    let r = p
        .root
        .run(&["apply", "--role", "client", "--wait", "--json"]);
    let _ = holder.kill();
    let _ = holder.wait();
    assert_eq!(r.code, Some(1), "{} {}", r.stdout, r.stderr);
    let v: Value = serde_json::from_str(r.stdout.trim()).unwrap_or_default();
    assert_eq!(v["result"]["error_code"], "lease_held", "{v}");
    assert_eq!(std::fs::read(p.live("client")).unwrap_or_default(), live);
    drop(svc);
}

/// CPU time (ms) a process has used, from /proc/PID/stat.
fn cpu_ms(pid: i32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, r)| r.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15 of stat; index 11 and 12 after the comm.
    (ticks(11) + ticks(12)) * 1000 / 100
}

/// Not a speed test: an idle service must not spin. A busy loop burns ~1 000 ms
/// of CPU per second (one once did: the log follower woke itself by reading);
/// the bound is generous for any loaded machine.
#[test]
fn an_idle_service_does_not_spin() {
    if !v2ray_available() {
        return eprintln!("skipped: no v2ray");
    }
    let p = pair();
    let svc = Service::start(&p.root);
    assert!(
        wait_until(LONG, || svc.log().contains("xp2p service ready")),
        "{}",
        svc.log()
    );
    p.wait_outcomes("client", 1);
    p.wait_outcomes("server", 1);
    std::thread::sleep(Duration::from_millis(500));
    let before = cpu_ms(svc.pid());
    std::thread::sleep(Duration::from_secs(3));
    let used = cpu_ms(svc.pid()) - before;
    assert!(used < 300, "idle service used {used} ms of CPU in 3 s");
    drop(svc);
}

/// A stop that arrives while the service is still starting (or right after
/// READY) is a clean stop with exit 0, never the default SIGTERM disposition:
/// the handlers are registered before start-up begins.
#[test]
fn a_stop_during_start_up_is_a_clean_stop() {
    if !v2ray_available() {
        return eprintln!("skipped: no v2ray");
    }
    let p = pair();
    let svc = Service::start(&p.root);
    assert!(
        wait_until(LONG, || svc.log().contains("xp2p service starting")),
        "{}",
        svc.log()
    );
    let log = svc.log.clone();
    let code = svc.stop();
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("xp2p service stopped"), "{text}");
}
