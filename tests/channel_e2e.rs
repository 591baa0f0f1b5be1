//! Reverse-channel health end to end on loopback with the real v2ray: a server
//! root and a client root, each with its own service, set up with the CLI
//! (`server user add --reverse`, the link, `client endpoint add`, `client
//! reverse add`). `xp2p ping --channel` crosses the server core, the portal,
//! the client's bridge and reaches the client's responder; with the client's
//! service (and so its core) stopped the probe fails fast and `status --json`
//! shows the channel down; started again, the channel comes back up without
//! touching the server.

mod service_support;
mod support;

use std::time::{Duration, Instant};

use serde_json::Value;
use service_support::*;
use support::*;

/// v2ray's portal may take ~30 s to use a new bridge connection.
const CHANNEL_UP: Duration = Duration::from_secs(180);

fn channels(root: &TestRoot) -> Vec<Value> {
    let r = root.run(&["status", "--json"]);
    let v: Value = serde_json::from_str(r.stdout.trim()).unwrap_or_default();
    v["state"]["roles"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["role"] == "server")
        .and_then(|s| s["channels"].as_array().cloned())
        .unwrap_or_default()
}

fn channel_state(root: &TestRoot, key: &str) -> Option<String> {
    channels(root)
        .iter()
        .find(|c| c["key"] == key)
        .and_then(|c| c["state"].as_str().map(str::to_string))
}

/// `xp2p ping --channel KEY --json`: exit code, the `channel` object, time taken.
fn ping_channel(root: &TestRoot, key: &str) -> (Option<i32>, Value, Duration) {
    let t0 = Instant::now();
    let r = root.run(&["ping", "--channel", key, "--json"]);
    let took = t0.elapsed();
    let v: Value = serde_json::from_str(r.stdout.trim()).unwrap_or_default();
    (r.code, v["channel"].clone(), took)
}

fn ok(r: &Run, what: &str) {
    assert_eq!(r.code, Some(0), "{what}: {}\n{}", r.stdout, r.stderr);
}

#[test]
fn channel_ping_and_status_follow_the_client() {
    if !v2ray_available() {
        return eprintln!("skipped: no v2ray");
    }
    // The server: probes every second, its own diagnostics ports.
    let server = TestRoot::new();
    let _server_reaper = CoreReaper(server.path().to_path_buf());
    server.write_self_signed_cert("127.0.0.1");
    let trojan = free_port();
    server.write(
        "xp2p-server.toml",
        format!(
            "[service]\ntunnel_probe_s = 1\n\n[core]\npath = \"{V2RAY}\"\n\n[server]\nhost = \"127.0.0.1\"\nlisten = \"127.0.0.1\"\ntrojan_port = {trojan}\ndiag_port = {}\ndiag_socks_port = {}\nprofile = \"trojan-tls\"\n",
            free_port(),
            free_port()
        ),
    );
    ok(
        &server.run(&["server", "user", "add", "bob", "--reverse"]),
        "server user add --reverse",
    );
    let link = server.run(&["server", "user", "show", "bob", "--link"]);
    ok(&link, "server user show --link");
    let link = link.stdout.trim().to_string();
    let list = server.run(&["server", "reverse", "list", "--json"]);
    ok(&list, "server reverse list");
    let listed: Value = serde_json::from_str(list.stdout.trim()).unwrap_or_default();
    let key = listed["result"][0]["key"]
        .as_str()
        .unwrap_or_else(|| panic!("no channel key in {listed}"))
        .to_string();

    // The client: its SOCKS and responder ports, the endpoint from the link
    // and the bridge through it.
    let client = TestRoot::new();
    let _client_reaper = CoreReaper(client.path().to_path_buf());
    client.write(
        "xp2p-client.toml",
        format!(
            "[service]\ntunnel_probe_s = 0\n\n[core]\npath = \"{V2RAY}\"\n\n[client]\nsocks_address = \"127.0.0.1:{}\"\ndiag_port = {}\n",
            free_port(),
            free_port()
        ),
    );
    ok(
        &client.run(&[
            "client", "endpoint", "add", "--link", &link, "--tag", "home",
        ]),
        "client endpoint add",
    );
    ok(
        &client.run(&["client", "reverse", "add", "--endpoint", "home"]),
        "client reverse add",
    );

    let server_svc = Service::start(&server);
    assert!(
        wait_until(LONG, || server_svc.log().contains("xp2p service ready")),
        "{}",
        server_svc.log()
    );
    let client_svc = Service::start(&client);
    assert!(
        wait_until(LONG, || client_svc.log().contains("xp2p service ready")),
        "{}",
        client_svc.log()
    );

    // Up: through the portal and the bridge to the client's responder.
    let mut last = Value::Null;
    let up = wait_until(CHANNEL_UP, || {
        let (code, ch, _) = ping_channel(&server, &key);
        last = ch;
        code == Some(0)
    });
    let server_core =
        std::fs::read_to_string(server.path().join("logs/core-server.log")).unwrap_or_default();
    let client_core =
        std::fs::read_to_string(client.path().join("logs/core-client.log")).unwrap_or_default();
    assert!(
        up,
        "ping --channel never succeeded: {last}\nserver: {}\nclient: {}\nserver core: {server_core}\nclient core: {client_core}",
        server_svc.log(),
        client_svc.log()
    );
    assert_eq!(last["state"], "up", "{last}");
    assert!(last["rtt_ms"].as_f64().is_some_and(|ms| ms > 0.0), "{last}");
    assert!(
        wait_until(LONG, || channel_state(&server, &key).as_deref()
            == Some("up")),
        "status shows the channel up: {:?}",
        channels(&server)
    );
    let human = server.run(&["status"]);
    assert!(
        human.stdout.contains(&format!("channel {key} up ")),
        "{}",
        human.stdout
    );

    // The client goes away (its service stops its core): the probe fails
    // fast, with the portal's refusal rather than a timeout.
    assert_eq!(client_svc.stop(), Some(0));
    let mut down = (None, Value::Null, Duration::ZERO);
    assert!(
        wait_until(LONG, || {
            down = ping_channel(&server, &key);
            down.0 == Some(1)
        }),
        "ping --channel still succeeds with the client stopped: {:?}",
        down
    );
    let (code, ch, took) = ping_channel(&server, &key);
    eprintln!("ping --channel with the client offline: exit {code:?} in {took:?}: {ch}");
    assert_eq!(code, Some(1), "{ch}");
    assert_eq!(ch["state"], "down", "{ch}");
    assert!(
        ch["error"]
            .as_str()
            .is_some_and(|e| e.contains("portal closed the connection")),
        "a refusal, not a timeout: {ch}"
    );
    // Fast means "refused", not "timed out" (the error above); how long it
    // took is printed above, never asserted (a loaded machine is slow).
    assert!(
        wait_until(LONG, || channel_state(&server, &key).as_deref()
            == Some("down")),
        "status shows the channel down: {:?}",
        channels(&server)
    );
    let human = server.run(&["status"]);
    assert!(
        human.stdout.contains(&format!("channel {key} down: ")),
        "{}",
        human.stdout
    );

    // Back: the same server, untouched, sees the channel up again.
    let client_svc = Service::start(&client);
    assert!(
        wait_until(LONG, || client_svc.log().contains("xp2p service ready")),
        "{}",
        client_svc.log()
    );
    let t0 = Instant::now();
    assert!(
        wait_until(CHANNEL_UP, || ping_channel(&server, &key).0 == Some(0)),
        "the channel never came back: {:?}",
        ping_channel(&server, &key)
    );
    eprintln!(
        "channel up again {:?} after the client's service was ready",
        t0.elapsed()
    );
    assert!(
        wait_until(LONG, || channel_state(&server, &key).as_deref()
            == Some("up")),
        "status shows the channel up again: {:?}",
        channels(&server)
    );
    drop(client_svc);
    drop(server_svc);
}
