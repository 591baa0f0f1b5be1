//! Hostile durable state and supervisor input (issue #13): a journal that cannot
//! be written, Live removed under a running core, processes that merely mention
//! a Live path, garbage Live files, a crash-looping core and a flooding core log.

mod service_support;
mod support;

use serde_json::Value;
use service_support::*;
use support::*;

/// Every journal line parses (nothing torn, nothing merged).
fn journal_lines_parse(root: &TestRoot) {
    let text =
        std::fs::read_to_string(root.path().join(".state/journal.jsonl")).unwrap_or_default();
    for line in text.lines() {
        assert!(
            serde_json::from_str::<Value>(line).is_ok(),
            "journal line does not parse: {line}"
        );
    }
}

/// A journal that cannot take the `committed_live` record (a full disk): the
/// attempt fails naming the journal, before the swap; Live, LKG and the running
/// core are untouched; the journal parses; the next apply works.
#[cfg(feature = "fault-injection")]
#[test]
fn a_journal_that_cannot_record_the_commit_stops_the_apply_before_the_swap() {
    if !v2ray_available() {
        return eprintln!("skipped: no v2ray");
    }
    let p = pair();
    let svc = Service::start(&p.root);
    p.wait_outcomes("client", 1);
    p.wait_outcomes("server", 1);
    assert_eq!(svc.stop(), Some(0));
    let old_live = read_bytes(&p.live("client"));

    let svc = Service::start_with(&p.root, &[("XP2P_JOURNAL_FULL_AT", "committed_live")]);
    assert!(
        wait_until(LONG, || svc.log().contains("xp2p service ready")),
        "{}",
        svc.log()
    );
    let pid = session_pid(&p.root, "client").expect("a running client core");
    p.append_client("\n[[client.redirects]]\ncidr = \"10.63.0.0/16\"\noutbound_tag = \"direct\"\n");
    let r = p
        .root
        .run(&["apply", "--role", "client", "--wait", "--json"]);
    assert_eq!(r.code, Some(1), "{} {}\n{}", r.stdout, r.stderr, svc.log());
    let v: Value = serde_json::from_str(r.stdout.trim()).unwrap_or_default();
    let summary = v["result"]["error_summary"].as_str().unwrap_or_default();
    assert!(
        summary.contains("journal") && summary.contains("committed_live"),
        "the error names the journal and the phase: {summary}"
    );
    assert_eq!(read_bytes(&p.live("client")), old_live, "Live untouched");
    assert!(!p.lkg("client").exists(), "no LKG made");
    assert_eq!(
        session_pid(&p.root, "client"),
        Some(pid),
        "the core keeps running"
    );
    assert!(pid_alive(pid));
    journal_lines_parse(&p.root);
    assert_eq!(
        outcomes(&p.root, "client").last().map(String::as_str),
        Some("failed")
    );
    let j = journal(&p.root);
    let last = j
        .iter()
        .rev()
        .find(|r| r["role"] == "client")
        .map(|r| r["attempt_id"].clone())
        .unwrap_or_default();
    let no_commit = j
        .iter()
        .filter(|r| r["attempt_id"] == last)
        .all(|r| r["phase"] != "committed_live" || r["outcome"].is_string());
    assert!(no_commit, "a committed_live record was written");
    drop(svc);

    // Room again: the next apply commits.
    let svc = Service::start(&p.root);
    wait_ready(&svc);
    let r = p.root.run(&["apply", "--role", "client", "--wait"]);
    assert_eq!(r.code, Some(0), "{} {}\n{}", r.stdout, r.stderr, svc.log());
    assert!(String::from_utf8_lossy(&read_bytes(&p.live("client"))).contains("10.63.0.0/16"));
    journal_lines_parse(&p.root);
}

/// Pids of this root's cores of `role` (processes whose argv names its Live).
fn cores_of(root: &TestRoot, role: &str) -> Vec<i32> {
    let cfg = root
        .path()
        .join(format!(".state/live/config-{role}/xray.json"));
    xp2p_platform::procfs::pids_with_arg(&cfg.display().to_string())
}

fn status_core(root: &TestRoot, role: &str) -> Value {
    let r = root.run(&["status", "--json"]);
    let v: Value = serde_json::from_str(r.stdout.trim()).unwrap_or_default();
    v["state"]["roles"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|x| x["role"] == role)
        .map(|x| x["core"].clone())
        .unwrap_or(Value::Null)
}

fn wait_ready(svc: &Service) {
    assert!(
        wait_until(LONG, || svc.log().contains("xp2p service ready")),
        "{}",
        svc.log()
    );
}

/// `rm -rf` of a role's Live, then `kill -9` of the service: status never calls
/// the orphaned core "running", and the next service stops it before the apply
/// that rebuilds Live starts a new one: one server core, never two.
#[test]
fn a_core_whose_live_was_removed_is_stopped_not_doubled() {
    if !v2ray_available() {
        return eprintln!("skipped: no v2ray");
    }
    let p = pair();
    let svc = Service::start(&p.root);
    p.wait_outcomes("client", 1);
    p.wait_outcomes("server", 1);
    wait_ready(&svc);
    let old = session_pid(&p.root, "server").expect("a server core");
    std::fs::remove_dir_all(p.root.path().join(".state/live/config-server")).expect("rm Live");
    let core = status_core(&p.root, "server");
    assert_ne!(core["display"], "running", "{core}");
    assert_eq!(core["reason_code"], "live_missing", "{core}");
    svc.kill9();
    assert!(pid_alive(old), "kill -9 of the service leaves the core");

    let svc = Service::start(&p.root);
    wait_ready(&svc);
    assert!(
        wait_until(LONG, || !pid_alive(old)),
        "the orphaned core still runs: {}",
        svc.log()
    );
    // Desired differs from (absent) Live: the start-up apply rebuilds it.
    assert!(
        wait_until(LONG, || session_pid(&p.root, "server")
            .is_some_and(|p| p != old)),
        "{}",
        svc.log()
    );
    let r = p.root.run(&["apply", "--role", "server", "--wait"]);
    assert_eq!(r.code, Some(0), "{} {}\n{}", r.stdout, r.stderr, svc.log());
    let pids = cores_of(&p.root, "server");
    assert_eq!(pids.len(), 1, "server cores: {pids:?}\n{}", svc.log());
    assert_eq!(session_pid(&p.root, "server"), Some(i64::from(pids[0])));
    assert_eq!(status_core(&p.root, "server")["display"], "running");
}

/// Processes that merely mention a Live path — root's `tail -f` on it, a
/// `nobody` process with it in argv — are not cores: the start-up reaper
/// leaves them alone.
#[test]
fn the_reaper_spares_processes_that_are_not_our_cores() {
    if !v2ray_available() {
        return eprintln!("skipped: no v2ray");
    }
    let p = pair();
    let svc = Service::start(&p.root);
    p.wait_outcomes("client", 1);
    wait_ready(&svc);
    assert_eq!(svc.stop(), Some(0));
    let live = p.live("client");
    let mut bystanders = Vec::new();
    bystanders.push(
        std::process::Command::new("tail")
            .arg("-f")
            .arg(&live)
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("tail"),
    );
    let root = unsafe { libc::geteuid() } == 0;
    if root {
        bystanders.push(
            std::process::Command::new("setpriv")
                .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
                .args(["sh", "-c", "sleep 600; :", "bystander"])
                .arg(&live)
                .spawn()
                .expect("setpriv"),
        );
    }
    let pids: Vec<i64> = bystanders.iter().map(|c| i64::from(c.id())).collect();
    assert!(
        wait_until(LONG, || cores_of(&p.root, "client").len() == pids.len()),
        "bystanders not up"
    );
    let svc = Service::start(&p.root);
    wait_ready(&svc);
    assert!(
        wait_until(LONG, || session_pid(&p.root, "client")
            .is_some_and(pid_alive)),
        "{}",
        svc.log()
    );
    for pid in &pids {
        assert!(
            pid_alive(*pid),
            "bystander {pid} was killed:\n{}",
            svc.log()
        );
    }
    drop(svc);
    for mut c in bystanders {
        let _ = c.kill();
        let _ = c.wait();
    }
}

/// A garbage Live `runtime.json` (and a core left running by a killed service):
/// the old core is stopped, Live is rebuilt from Desired, one core runs.
#[test]
fn a_garbage_runtime_json_is_rebuilt_from_desired() {
    if !v2ray_available() {
        return eprintln!("skipped: no v2ray");
    }
    let p = pair();
    let svc = Service::start(&p.root);
    p.wait_outcomes("client", 1);
    p.wait_outcomes("server", 1);
    wait_ready(&svc);
    let old = session_pid(&p.root, "client").expect("a client core");
    svc.kill9();
    p.root
        .write(".state/live/config-client/runtime.json", "{not json");
    let svc = Service::start(&p.root);
    wait_ready(&svc);
    assert!(
        wait_until(LONG, || outcomes(&p.root, "client").len() >= 2),
        "no re-apply: {}",
        svc.log()
    );
    assert_eq!(
        outcomes(&p.root, "client").last().map(String::as_str),
        Some("committed"),
        "{}",
        svc.log()
    );
    assert!(
        svc.log().contains("re-applying from Desired"),
        "{}",
        svc.log()
    );
    assert!(!pid_alive(old), "the unsupervised core was left running");
    let rt: Value = serde_json::from_slice(&read_bytes(
        &p.root.path().join(".state/live/config-client/runtime.json"),
    ))
    .unwrap_or_default();
    assert!(rt["config_sha256"].is_string(), "runtime.json rebuilt");
    let pids = cores_of(&p.root, "client");
    assert_eq!(pids.len(), 1, "client cores: {pids:?}");
    assert_eq!(status_core(&p.root, "client")["display"], "running");
}

/// A garbage Live `xray.json` at start: the error names v2ray's own "failed to
/// read config file … invalid character" line, not a goroutine trace line.
#[test]
fn a_garbage_live_config_is_reported_by_the_cores_own_error_line() {
    if !v2ray_available() {
        return eprintln!("skipped: no v2ray");
    }
    let p = pair();
    let svc = Service::start(&p.root);
    p.wait_outcomes("client", 1);
    wait_ready(&svc);
    assert_eq!(svc.stop(), Some(0));
    std::fs::write(p.live("client"), "{garbage").expect("write Live");
    let svc = Service::start(&p.root);
    wait_ready(&svc);
    let log = svc.log();
    let line = log
        .lines()
        .find(|l| l.contains("core from Live failed"))
        .unwrap_or_else(|| panic!("no start error logged:\n{log}"));
    assert!(
        line.contains("failed to read config file") && line.contains("invalid character"),
        "{line}"
    );
    assert!(
        !line.contains("goroutine") && !line.contains(".go:"),
        "{line}"
    );
    // And Live is rebuilt from Desired.
    assert!(
        wait_until(LONG, || outcomes(&p.root, "client")
            .last()
            .map(String::as_str)
            == Some("committed")
            && outcomes(&p.root, "client").len() >= 2),
        "{}",
        svc.log()
    );
}

/// While a crashed core waits out its backoff, status (JSON and text) says
/// when it restarts and which crash this is.
#[test]
fn crash_backoff_is_shown_in_status() {
    if !v2ray_available() {
        return eprintln!("skipped: no v2ray");
    }
    let p = pair();
    let svc = Service::start(&p.root);
    p.wait_outcomes("client", 1);
    wait_ready(&svc);
    // Crash 1 (1 s), 2 (2 s), 3 (4 s), 4 (8 s): status is read during the last.
    for crash in 1..=4 {
        let pid = session_pid(&p.root, "client").expect("a running client core");
        unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        if crash < 4 {
            assert!(
                wait_until(LONG, || session_pid(&p.root, "client")
                    .is_some_and(|q| q != pid && pid_alive(q))),
                "no restart after crash {crash}: {}",
                svc.log()
            );
        }
    }
    let mut seen = Value::Null;
    assert!(
        wait_until(LONG, || {
            seen = status_core(&p.root, "client");
            seen["detail"]
                .as_str()
                .is_some_and(|d| d.contains("restarting in") && d.contains("(crash 4 of 10)"))
        }),
        "{seen}\n{}",
        svc.log()
    );
    assert_eq!(seen["display"], "failed");
    let text = p.root.run(&["status"]).stdout;
    assert!(
        text.contains("restarting in") && text.contains("crash 4 of 10"),
        "{text}"
    );
    // And it does restart.
    assert!(
        wait_until(LONG, || session_pid(&p.root, "client")
            .is_some_and(pid_alive)),
        "{}",
        svc.log()
    );
}
