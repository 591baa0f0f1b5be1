//! `xp2p ping` measures round trips through a real v2ray tunnel to the server's
//! diagnostics responder; with the server core frozen it fails clearly and the
//! client's status turns `failing`.

mod service_support;
mod support;

use serde_json::Value;
use service_support::*;
use support::*;

fn tunnels(root: &TestRoot) -> Vec<Value> {
    let r = root.run(&["status", "--json"]);
    let v: Value = serde_json::from_str(r.stdout.trim()).unwrap_or_default();
    v["state"]["roles"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["role"] == "client")
        .and_then(|c| c["tunnels"].as_array().cloned())
        .unwrap_or_default()
}

#[test]
fn ping_goes_through_the_tunnel_and_failures_show_in_status() {
    if !v2ray_available() {
        return eprintln!("skipped: no v2ray");
    }
    let p = pair();
    let diag = free_port();
    let server = p.root.path().join("xp2p-server.toml");
    let text: String = std::fs::read_to_string(&server)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.starts_with("diag_port"))
        .map(|l| {
            if l == "[server]" {
                format!("[server]\ndiag_port = {diag}\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    std::fs::write(&server, text).unwrap_or_default();
    let client = p.root.path().join("xp2p-client.toml");
    let text = std::fs::read_to_string(&client).unwrap_or_default();
    std::fs::write(&client, format!("[service]\ntunnel_probe_s = 1\n\n{text}")).unwrap_or_default();
    let svc = Service::start(&p.root);
    assert!(
        wait_until(LONG, || svc.log().contains("xp2p service ready")),
        "{}",
        svc.log()
    );

    let r = p.root.run(&["ping", "--count", "3", "--json"]);
    let server_log =
        std::fs::read_to_string(p.root.path().join("logs/core-server.log")).unwrap_or_default();
    assert_eq!(
        r.code,
        Some(0),
        "{} {}\nservice: {}\nserver core: {}",
        r.stdout,
        r.stderr,
        svc.log(),
        server_log
    );
    let v: Value = serde_json::from_str(r.stdout.trim()).unwrap_or_default();
    let res = &v["results"][0];
    assert_eq!(res["received"], 3, "{v}");
    assert!(
        res["rtt_ms"]
            .as_array()
            .is_some_and(|a| a.iter().all(|x| x.as_f64().is_some_and(|ms| ms > 0.0)))
    );
    assert!(
        wait_until(LONG, || tunnels(&p.root)
            .first()
            .is_some_and(|t| t["state"] == "ok")),
        "status shows tunnel ok"
    );

    // Freeze the server core: pings now fail, clearly, and status follows.
    let server_pid = session_pid(&p.root, "server").unwrap_or_default() as i32;
    unsafe { libc::kill(server_pid, libc::SIGSTOP) };
    let r = p.root.run(&["ping", "--count", "1"]);
    unsafe { libc::kill(server_pid, libc::SIGCONT) };
    assert_eq!(r.code, Some(1), "{}", r.stdout);
    assert!(
        r.stdout.contains("failed:") && r.stdout.contains("0/1 answered"),
        "{}",
        r.stdout
    );
    unsafe { libc::kill(server_pid, libc::SIGSTOP) };
    let failing = wait_until(LONG, || {
        tunnels(&p.root)
            .first()
            .is_some_and(|t| t["state"] == "failing")
    });
    unsafe { libc::kill(server_pid, libc::SIGCONT) };
    assert!(failing, "status turns failing: {:?}", tunnels(&p.root));
    drop(svc);
}
