//! TUN modes end to end, each test inside two network namespaces it creates and
//! deletes (netns_support): a plain curl in the client namespace reaches an
//! origin that exists only in the server namespace through TUN → bridge →
//! v2ray → server; full mode owns routes, rules and resolv.conf and gives them
//! back byte for byte on stop, and after a crash through `xp2p repair`.

mod netns_support;
mod support;

use std::sync::Mutex;
use std::time::Duration;

use netns_support::*;
use support::*;

/// One lab at a time: each runs two services and two cores on two CPUs.
static SERIAL: Mutex<()> = Mutex::new(());

const UP: Duration = Duration::from_secs(40);

macro_rules! lab_or_skip {
    ($default_route:expr) => {{
        if let Some(why) = unavailable() {
            eprintln!("skipped: {why}");
            return;
        }
        Lab::new($default_route)
    }};
}

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

#[test]
fn split_mode_carries_a_plain_curl_through_the_tun() {
    let _g = serial();
    let mut lab = lab_or_skip!(false);
    lab.write_client("tun_enabled = true\ntun_mode = \"split\"");
    assert!(
        !lab.origin_reached(),
        "the origin must be unreachable without the tunnel"
    );
    lab.start_service("server");
    lab.start_service("client");
    assert!(
        lab.wait_phase("split", UP),
        "phase: {}\n{}",
        lab.tun_state(),
        lab.service_logs()
    );
    assert!(
        wait_until(UP, || lab.origin_reached()),
        "curl through the TUN failed: {:?}\n{}",
        lab.curl_origin(),
        lab.service_logs()
    );
    let table = lab.table("20090");
    assert!(table.contains("10.99.0.0/16 dev xp2pc"), "{table}");
    assert!(
        !table.contains("default"),
        "split mode must not route everything: {table}"
    );
    assert!(lab.rules().contains("lookup 20090"), "{}", lab.rules());
    // The origin saw the server's core, never the client's veth address.
    let peers = lab.origin_peers();
    assert!(
        !peers.is_empty() && peers.iter().all(|p| p != CLIENT_VETH_IP),
        "{peers:?}"
    );
}

/// Full mode on a lab whose client has a default route; returns the lab with
/// both services up and the phase `full_applied`, and the baseline snapshot.
fn full_lab() -> Option<(Lab, String)> {
    if let Some(why) = unavailable() {
        eprintln!("skipped: {why}");
        return None;
    }
    let mut lab = Lab::new(true);
    lab.write_client("tun_enabled = true\ntun_mode = \"full\"");
    let baseline = lab.snapshot();
    lab.start_service("server");
    lab.start_service("client");
    assert!(
        lab.wait_phase("full_applied", UP),
        "phase: {}\n{}",
        lab.tun_state(),
        lab.service_logs()
    );
    Some((lab, baseline))
}

fn count(text: &str, needle: &str) -> usize {
    text.lines().filter(|l| l.contains(needle)).count()
}

#[test]
fn full_mode_owns_routes_rules_and_dns_and_stop_gives_them_back() {
    let _g = serial();
    let Some((mut lab, baseline)) = full_lab() else {
        return;
    };
    let table = lab.table("20090");
    assert!(table.contains("default dev xp2pc"), "{table}");
    assert!(
        table.contains(&format!("{ENDPOINT} via {SERVER_VETH_IP} dev vc")),
        "endpoint bypass via the original gateway: {table}"
    );
    let rules = lab.rules();
    assert_eq!(
        count(&rules, "lookup main suppress_prefixlength 0"),
        1,
        "{rules}"
    );
    assert_eq!(count(&rules, "lookup 20090"), 1, "{rules}");
    // IPv6 cannot leave beside the tunnel (the bridge carries IPv4 only).
    let v6 = lab.ipv6_route_to("2001:db8::1");
    assert!(
        v6.contains("nreachable") || v6.contains("No route to host"),
        "{v6}\n{}",
        lab.ipv6()
    );
    // The main table is never touched: its default route is still there.
    assert!(
        lab.table("main")
            .contains(&format!("default via {SERVER_VETH_IP}"))
    );
    // resolv.conf replaced in place, the original kept in the state file.
    let resolv = String::from_utf8_lossy(&lab.resolv()).into_owned();
    assert!(resolv.contains(&format!("nameserver {DNS}")), "{resolv}");
    assert_eq!(
        lab.tun_state()["dns_backup"]["resolv_conf"],
        ORIGINAL_RESOLV
    );
    // A plain curl works and arrives from the server's side.
    assert!(
        wait_until(UP, || lab.origin_reached()),
        "{:?}\n{}",
        lab.curl_origin(),
        lab.service_logs()
    );
    assert!(
        lab.origin_peers().iter().all(|p| p != CLIENT_VETH_IP),
        "{:?}",
        lab.origin_peers()
    );
    // DNS to dns_servers goes through the tunnel (the resolver sees the server).
    let got = sh(
        "ip",
        &[
            "netns",
            "exec",
            &lab.client_ns,
            "getent",
            "ahostsv4",
            "origin.xp2p.test",
        ],
    );
    assert!(
        String::from_utf8_lossy(&got.stdout).contains(ORIGIN),
        "name lookup through the tunnel failed: {got:?}\n{}",
        lab.service_logs()
    );
    let dns_peers = std::fs::read_to_string(&lab.dns_log).unwrap_or_default();
    assert!(dns_peers.contains("origin.xp2p.test"), "{dns_peers}");
    assert!(
        !dns_peers.contains(CLIENT_VETH_IP),
        "DNS bypassed the tunnel: {dns_peers}"
    );
    // An explicit stop restores everything byte for byte.
    assert_eq!(lab.stop_service("client"), Some(0));
    assert_eq!(lab.snapshot(), baseline);
    assert_eq!(lab.resolv(), ORIGINAL_RESOLV.as_bytes());
    let v6 = lab.ipv6_route_to("2001:db8::1");
    assert!(v6.contains(" dev vc"), "IPv6 is back on its own path: {v6}");
    assert_eq!(lab.tun_state()["phase"], "disabled");
}

#[test]
fn a_crash_in_full_mode_is_undone_by_repair_or_by_the_next_service() {
    let _g = serial();
    let Some((mut lab, baseline)) = full_lab() else {
        return;
    };
    lab.kill9_service("client");
    // The crash left full mode in place (traffic black-holes, nothing leaks).
    assert!(lab.table("20090").contains("default dev xp2pc"));
    assert_ne!(lab.resolv(), ORIGINAL_RESOLV.as_bytes());
    let _ = sh(
        "pkill",
        &[
            "-9",
            "-f",
            &lab.client.path().join(".state").display().to_string(),
        ],
    );
    let r = lab.xp2p_client(&["repair"]);
    assert_eq!(r.code, Some(0), "{} {}", r.stdout, r.stderr);
    assert!(r.stdout.contains("restored the baseline"), "{}", r.stdout);
    assert_eq!(lab.snapshot(), baseline);
    // Repair again: nothing left to do.
    let again = lab.xp2p_client(&["repair"]);
    assert_eq!(again.code, Some(0));
    assert!(
        again.stdout.contains("nothing to repair"),
        "{}",
        again.stdout
    );

    // A new service after another crash takes over without duplicates.
    lab.start_service("client");
    assert!(lab.wait_phase("full_applied", UP), "{}", lab.tun_state());
    lab.kill9_service("client");
    let _ = sh(
        "pkill",
        &[
            "-9",
            "-f",
            &lab.client.path().join(".state").display().to_string(),
        ],
    );
    lab.start_service("client");
    assert!(
        wait_until(UP, || lab.tun_state()["reason"] == "service_start"
            && lab.tun_state()["phase"] == "full_applied"),
        "{}",
        lab.tun_state()
    );
    let rules = lab.rules();
    assert_eq!(count(&rules, "lookup 20090"), 1, "{rules}");
    assert_eq!(count(&rules, "suppress_prefixlength"), 1, "{rules}");
    assert_eq!(
        lab.tun_state()["dns_backup"]["resolv_conf"],
        ORIGINAL_RESOLV,
        "the backup must stay the original"
    );
    assert!(wait_until(UP, || lab.origin_reached()));
    assert_eq!(lab.stop_service("client"), Some(0));
    assert_eq!(lab.snapshot(), baseline);
}

#[test]
fn switching_full_split_proxy_full_leaves_nothing_stray() {
    let _g = serial();
    let Some((lab, baseline)) = full_lab() else {
        return;
    };
    let switch = |args: &[&str]| {
        let r = lab.xp2p_client(args);
        assert_eq!(r.code, Some(0), "{args:?}: {} {}", r.stdout, r.stderr);
    };
    switch(&["client", "mode", "tun", "split", "--wait"]);
    // `--wait` means the whole change: the OS state is there when it returns.
    let table = lab.table("20090");
    assert_eq!(lab.tun_state()["phase"], "split", "{}", lab.tun_state());
    assert_eq!(table.trim(), "10.99.0.0/16 dev xp2pc scope link", "{table}");
    assert_eq!(
        count(&lab.rules(), "suppress_prefixlength"),
        0,
        "{}",
        lab.rules()
    );
    assert_eq!(count(&lab.rules(), "lookup 20090"), 1);
    assert_eq!(lab.resolv(), ORIGINAL_RESOLV.as_bytes());
    assert!(wait_until(UP, || lab.origin_reached()));
    let desired = lab.client.read("xp2p-client.toml");
    assert!(desired.contains("tun_mode = \"split\""), "{desired}");

    switch(&["client", "mode", "proxy", "--wait"]);
    assert_eq!(lab.snapshot(), baseline, "proxy mode is the baseline");
    assert_eq!(lab.tun_state()["phase"], "disabled", "{}", lab.tun_state());

    let r = lab.xp2p_client(&[
        "client", "mode", "tun", "full", "--tag", "proxy-a", "--wait", "--json",
    ]);
    // Read at once, before anything else can happen: the rules and the
    // default route are there when `--wait` returns.
    let (rules, table) = (lab.rules(), lab.table("20090"));
    assert_eq!(r.code, Some(0), "{} {}", r.stdout, r.stderr);
    assert_eq!(count(&rules, "lookup 20090"), 1, "{rules}");
    assert_eq!(count(&rules, "suppress_prefixlength"), 1, "{rules}");
    assert!(table.contains("default dev xp2pc"), "{table}");
    let out: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(out["command"], "xp2p client mode", "{out}");
    assert_eq!(out["result"]["tun"]["phase"], "full_applied", "{out}");
    assert_eq!(lab.tun_state()["phase"], "full_applied");
    assert!(wait_until(UP, || lab.origin_reached()));
    let st = lab.xp2p_client(&["status", "--json"]);
    assert!(
        st.stdout.contains("\"tun_phase\":\"full_applied\""),
        "{}",
        st.stdout
    );
}

#[test]
fn applies_and_a_core_kill_never_take_the_routes_away() {
    let _g = serial();
    let Some((lab, _)) = full_lab() else { return };
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let (ns, stop) = (lab.client_ns.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut samples = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let routes = sh("ip", &["-n", &ns, "route", "show", "table", "all"]);
                let rules = sh("ip", &["-n", &ns, "rule"]);
                samples.push(format!(
                    "{}{}",
                    String::from_utf8_lossy(&routes.stdout),
                    String::from_utf8_lossy(&rules.stdout)
                ));
                std::thread::sleep(Duration::from_millis(50));
            }
            samples
        })
    };
    for i in 0..20 {
        // A real config change each time: the log level flips.
        let level = if i % 2 == 0 { "debug" } else { "info" };
        let text = lab.client.read("xp2p-client.toml");
        let text = match text.find("[logging]") {
            Some(_) => text
                .replace("level = \"debug\"", &format!("level = \"{level}\""))
                .replace("level = \"info\"", &format!("level = \"{level}\"")),
            None => format!("[logging]\nlevel = \"{level}\"\n{text}"),
        };
        lab.client.write("xp2p-client.toml", text);
        let r = lab.xp2p_client(&["apply", "--role", "client", "--wait"]);
        assert_eq!(r.code, Some(0), "apply {i}: {} {}", r.stdout, r.stderr);
        if i == 10 {
            let pid = lab.xp2p_client(&["status", "--json"]).stdout;
            let v: serde_json::Value = serde_json::from_str(pid.trim()).unwrap_or_default();
            let core = v["state"]["roles"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|r| r["role"] == "client")
                .and_then(|c| c["core"]["pid"].as_i64())
                .expect("client core pid");
            unsafe { libc::kill(core as i32, libc::SIGKILL) };
            std::thread::sleep(Duration::from_secs(2));
        }
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let samples = sampler.join().unwrap_or_default();
    assert!(samples.len() > 20, "too few samples: {}", samples.len());
    for (i, s) in samples.iter().enumerate() {
        assert!(
            s.contains("default dev xp2pc table 20090")
                && s.contains("lookup 20090")
                && s.contains("suppress_prefixlength 0"),
            "sample {i} of {} lacks the routes:\n{s}\n{}",
            samples.len(),
            lab.service_logs()
                .lines()
                .filter(|l| l.contains("TUN"))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    assert!(
        wait_until(UP, || lab.origin_reached()),
        "{}",
        lab.service_logs()
    );
}

#[test]
fn full_mode_waits_pending_for_a_default_route_and_then_applies() {
    let _g = serial();
    let mut lab = lab_or_skip!(false);
    lab.write_client("tun_enabled = true\ntun_mode = \"full\"");
    let baseline_rules = lab.rules();
    lab.start_service("server");
    lab.start_service("client");
    assert!(
        wait_until(UP, || lab.tun_state()["retry_count"].as_u64() >= Some(2)),
        "{}",
        lab.tun_state()
    );
    let st = lab.tun_state();
    assert_eq!(st["phase"], "full_pending");
    assert!(
        st["pending_reason"]
            .as_str()
            .unwrap_or("")
            .starts_with("no_default_route"),
        "{st}"
    );
    assert!(st["next_retry_at"].is_string(), "{st}");
    // Pending touches neither rules nor DNS.
    assert_eq!(lab.rules(), baseline_rules);
    assert_eq!(lab.resolv(), ORIGINAL_RESOLV.as_bytes());
    let status = lab.xp2p_client(&["status", "--json"]).stdout;
    assert!(status.contains("no_default_route"), "{status}");
    let human = lab.xp2p_client(&["status"]).stdout;
    assert!(
        human.contains("tun: full_pending on xp2pc — no_default_route"),
        "{human}"
    );
    // IPC: the snapshot carries the record, and each retry is a `tun.phase` event.
    let (snapshot, event) = subscribe_for_tun_event(&lab);
    let client = snapshot["state"]["roles"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["role"] == "client")
        .cloned()
        .unwrap_or_default();
    assert_eq!(client["tun"]["phase"], "full_pending", "{snapshot}");
    assert_eq!(event["role"], "client", "{event}");
    assert_eq!(event["tun"]["phase"], "full_pending", "{event}");
    assert!(event["tun"]["retry_count"].as_u64() >= Some(3), "{event}");
    assert!(event["tun"]["next_retry_at"].is_string(), "{event}");
    // `mode … --wait` while the network is not there: the apply is a noop,
    // the OS state stays pending, and the command says so (exit 8).
    let r = lab.xp2p_client(&["client", "mode", "tun", "full", "--wait", "--json"]);
    assert_eq!(r.code, Some(8), "{} {}", r.stdout, r.stderr);
    let out: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(out["result"]["status"], "noop", "{out}");
    assert_eq!(out["result"]["tun"]["phase"], "full_pending", "{out}");
    assert!(r.stderr.contains("no_default_route"), "{}", r.stderr);
    // The network comes up: the next retry applies full mode.
    let _ = sh(
        "ip",
        &[
            "-n",
            &lab.client_ns,
            "route",
            "add",
            "default",
            "via",
            SERVER_VETH_IP,
        ],
    );
    assert!(
        lab.wait_phase("full_applied", Duration::from_secs(60)),
        "{}",
        lab.tun_state()
    );
    assert_eq!(lab.tun_state()["retry_count"], 0);
    assert!(wait_until(UP, || lab.origin_reached()));
}

#[test]
fn server_tun_mode_routes_its_cidr_redirects_through_the_bridge_and_core() {
    let _g = serial();
    let mut lab = lab_or_skip!(false);
    lab.write_client("tun_enabled = false");
    // A server redirect to a snippet outbound that lands on the origin: traffic
    // the server host sends to 10.55.0.0/16 goes TUN -> bridge -> core -> origin.
    lab.server.write(
        "config-server/outbounds.append.json",
        format!(
            r#"{{"outbounds":[{{"tag":"to-origin","protocol":"freedom","settings":{{"redirect":"{ORIGIN}:{}"}}}}]}}"#,
            lab.origin_port
        ),
    );
    let text = lab.server.read("xp2p-server.toml").replace(
        "[[server.users]]",
        "tun_enabled = true\n\n[[server.redirects]]\ncidr = \"10.55.0.0/16\"\noutbound_tag = \"to-origin\"\n\n[[server.users]]",
    );
    lab.server.write("xp2p-server.toml", text);
    let before = sh(
        "ip",
        &["-n", &lab.server_ns, "-4", "route", "show", "table", "all"],
    );
    lab.start_service("server");
    let state = || -> serde_json::Value {
        std::fs::read(lab.server.path().join("xp2p-server.tun.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    };
    assert!(
        wait_until(UP, || state()["phase"] == "tun"),
        "{}\n{}",
        state(),
        lab.service_logs()
    );
    let table = sh(
        "ip",
        &[
            "-n",
            &lab.server_ns,
            "-4",
            "route",
            "show",
            "table",
            "20091",
        ],
    );
    assert!(
        String::from_utf8_lossy(&table.stdout).contains("10.55.0.0/16 dev xp2ps"),
        "{table:?}"
    );
    let url = format!("http://10.55.0.1:{}/token.txt", lab.origin_port);
    let fetch = || {
        sh(
            "ip",
            &[
                "netns",
                "exec",
                &lab.server_ns,
                "curl",
                "-s",
                "--max-time",
                "5",
                &url,
            ],
        )
    };
    assert!(
        wait_until(UP, || fetch().stdout.starts_with(lab.token.as_bytes())),
        "{:?}\n{}",
        fetch(),
        lab.service_logs()
    );
    // `xp2p server mode proxy` takes it all away again.
    let r = Run::from_output(
        std::process::Command::new("ip")
            .args(["netns", "exec", &lab.server_ns])
            .arg(xp2p_bin())
            .arg("--config-root")
            .arg(lab.server.path())
            .args(["server", "mode", "proxy", "--wait"])
            .output()
            .expect("run xp2p"),
    );
    assert_eq!(r.code, Some(0), "{} {}", r.stdout, r.stderr);
    assert!(
        wait_until(UP, || state()["phase"] == "disabled"),
        "{}",
        state()
    );
    let after = sh(
        "ip",
        &["-n", &lab.server_ns, "-4", "route", "show", "table", "all"],
    );
    assert_eq!(
        String::from_utf8_lossy(&after.stdout),
        String::from_utf8_lossy(&before.stdout)
    );
}

/// Subscribes on the client's IPC socket; returns the snapshot and the first
/// `tun.phase` event that follows.
fn subscribe_for_tun_event(lab: &Lab) -> (serde_json::Value, serde_json::Value) {
    use std::io::{BufRead, BufReader, Write};
    let sock = lab.client.path().join(".state/xp2p.sock");
    let mut s =
        std::os::unix::net::UnixStream::connect(&sock).expect("connect to the client service");
    s.set_read_timeout(Some(Duration::from_secs(40)))
        .unwrap_or_default();
    s.write_all(b"{\"v\":1,\"id\":1,\"type\":\"subscribe\"}\n")
        .expect("subscribe");
    let mut r = BufReader::new(s);
    let mut snapshot = serde_json::Value::Null;
    let mut line = String::new();
    loop {
        line.clear();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            panic!("the service closed the subscription before a tun.phase event");
        }
        let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
        if v["type"] == "snapshot" {
            snapshot = v;
        } else if v["type"] == "event" && v["event"]["kind"] == "tun.phase" {
            return (snapshot, v["event"].clone());
        }
    }
}
