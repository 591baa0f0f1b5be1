//! Crash consistency (built with `--features fault-injection`): the service is
//! aborted at every named point of an apply — each journal phase right after its
//! record is appended, and each step inside the Live swap — then restarted. After
//! recovery: Live is wholly the old or wholly the new config, LKG is intact, the
//! journal parses with exactly one terminal record per attempt, no orphan core
//! runs, the role lock can be taken, the pending request is honoured, and the next
//! apply works. Plus a random `kill -9` loop during applies.
#![cfg(feature = "fault-injection")]

mod service_support;
mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use service_support::*;
use support::*;

const POINTS: [&str; 11] = [
    "received",
    "compiled",
    "validated",
    "staged",
    "committed_live",
    "swap_lkg_copied",
    "swap_live_exchanged",
    "swap_old_removed",
    "started",
    "healthy",
    "done",
];

fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_default()
}

fn quiet(p: &Pair) {
    let path = p.root.path().join("xp2p-client.toml");
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    std::fs::write(&path, format!("[service]\ndebounce_ms = 600000\n\n{text}")).unwrap_or_default();
}

/// Every invariant that must hold once a restarted service is ready.
fn check_invariants(p: &Pair, old_live: &[u8], new_live: &[u8], lkg_before: &[u8], ctx: &str) {
    // Live: wholly old or wholly new, and runtime.json describes it.
    let live = read(&p.live("client"));
    assert!(
        live == old_live || live == new_live,
        "{ctx}: Live is neither the old nor the new config"
    );
    let rt: Value = serde_json::from_slice(&read(
        &p.root.path().join(".state/live/config-client/runtime.json"),
    ))
    .unwrap_or_default();
    assert_eq!(
        rt["config_sha256"].as_str().unwrap_or(""),
        xp2p_store::digest::sha256_hex(&live),
        "{ctx}: runtime.json matches xray.json"
    );
    // LKG: untouched, or the old Live after a commit.
    let lkg = read(&p.lkg("client"));
    assert!(lkg == lkg_before || lkg == old_live, "{ctx}: LKG damaged");
    // Journal: every line parses; exactly one terminal record per attempt.
    let text =
        std::fs::read_to_string(p.root.path().join(".state/journal.jsonl")).unwrap_or_default();
    let mut terminal: BTreeMap<String, usize> = BTreeMap::new();
    for line in text.lines() {
        let v: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("{ctx}: journal line does not parse ({e}): {line}"));
        let id = v["attempt_id"].as_str().unwrap_or("").to_string();
        let e = terminal.entry(id).or_insert(0);
        if v.get("outcome").is_some_and(|o| !o.is_null()) {
            *e += 1;
        }
    }
    for (id, n) in &terminal {
        assert_eq!(*n, 1, "{ctx}: attempt {id} has {n} terminal records");
    }
    // No orphan core: exactly one core per role runs this root's Live, the recorded one.
    for role in ["client", "server"] {
        let cfg = p
            .root
            .path()
            .join(format!(".state/live/config-{role}/xray.json"));
        let pids = xp2p_platform::procfs::pids_with_arg(&cfg.display().to_string());
        assert_eq!(pids.len(), 1, "{ctx}: {role} cores running: {pids:?}");
        assert_eq!(
            session_pid(&p.root, role),
            Some(i64::from(pids[0])),
            "{ctx}: {role} session names the running core"
        );
    }
    // The role lock can be taken.
    let lock = p.root.path().join(".state/locks/client.lock");
    let ok = std::process::Command::new("flock")
        .args(["-n", "-E", "99"])
        .arg(&lock)
        .arg("true")
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(ok, "{ctx}: the client lock is still held");
}

fn one_crash(point: &str, run: usize) {
    let p = pair();
    quiet(&p);
    let svc = Service::start(&p.root);
    p.wait_outcomes("client", 1);
    p.wait_outcomes("server", 1);
    // Make an LKG exist, so every swap step has something to move.
    p.append_client("\n[[client.redirects]]\ncidr = \"10.61.0.0/16\"\noutbound_tag = \"direct\"\n");
    assert_eq!(
        p.root.run(&["apply", "--role", "client", "--wait"]).code,
        Some(0)
    );
    let old_live = read(&p.live("client"));
    let lkg_before = read(&p.lkg("client"));
    assert_eq!(svc.stop(), Some(0));

    // The edit the crashing service will try to apply.
    p.append_client("\n[[client.redirects]]\ncidr = \"10.62.0.0/16\"\noutbound_tag = \"direct\"\n");
    let new_live = p
        .root
        .run(&["render", "--role", "client"])
        .stdout
        .into_bytes();
    let crashing = Service::start_with(&p.root, &[("XP2P_CRASH_AT", point)]);
    p.root.run(&["apply", "--role", "client"]);
    let code = crashing.wait_exit(LONG);
    assert_eq!(
        code, None,
        "{point}#{run}: the service aborted (killed by SIGABRT)"
    );

    let svc = Service::start(&p.root);
    assert!(
        wait_until(LONG, || svc.log().contains("xp2p service ready")),
        "{point}#{run}: {}",
        svc.log()
    );
    // The pending request (if any) is honoured by the restarted service.
    assert!(
        wait_until(LONG, || !String::from_utf8_lossy(&read(
            &p.root.path().join(".state/apply.request")
        ))
        .contains("\"client\"")),
        "{point}#{run}: request never resolved: {}",
        svc.log()
    );
    let ctx = format!("{point}#{run}");
    check_invariants(&p, &old_live, &new_live, &lkg_before, &ctx);
    // And the next apply works and Live ends wholly new.
    let r = p.root.run(&["apply", "--role", "client", "--wait"]);
    assert_eq!(r.code, Some(0), "{ctx}: {} {}", r.stdout, r.stderr);
    assert_eq!(
        read(&p.live("client")),
        new_live,
        "{ctx}: Live is the new config after the next apply"
    );
    drop(svc);
}

#[test]
fn every_crash_point_recovers() {
    if !v2ray_available() {
        return eprintln!("skipped: no v2ray");
    }
    for point in POINTS {
        for run in 0..3 {
            one_crash(point, run);
        }
    }
}

#[test]
fn random_kill_loop_during_applies() {
    if !v2ray_available() {
        return eprintln!("skipped: no v2ray");
    }
    let iterations: usize = std::env::var("XP2P_KILL_LOOP")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    let p = pair();
    quiet(&p);
    let mut svc = Service::start(&p.root);
    p.wait_outcomes("client", 1);
    let mut seed = std::process::id() as u64 ^ 0x9e37_79b9_7f4a_7c15;
    for i in 0..iterations {
        p.append_client(&format!(
            "\n[[client.redirects]]\ncidr = \"10.{}.{}.0/24\"\noutbound_tag = \"direct\"\n",
            100 + i / 250,
            i % 250
        ));
        p.root.run(&["apply", "--role", "client"]);
        // xorshift: a kill somewhere in the first ~600 ms of the apply
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        std::thread::sleep(Duration::from_millis(seed % 600));
        svc.kill9();
        svc = Service::start(&p.root);
        assert!(
            wait_until(LONG, || svc.log().contains("xp2p service ready")),
            "iteration {i}: {}",
            svc.log()
        );
    }
    let new_live = p
        .root
        .run(&["render", "--role", "client"])
        .stdout
        .into_bytes();
    let r = p.root.run(&["apply", "--role", "client", "--wait"]);
    assert_eq!(r.code, Some(0), "{} {}", r.stdout, r.stderr);
    assert_eq!(read(&p.live("client")), new_live);
    check_invariants(
        &p,
        &new_live,
        &new_live,
        &read(&p.lkg("client")),
        "after the kill loop",
    );
    drop(svc);
}
