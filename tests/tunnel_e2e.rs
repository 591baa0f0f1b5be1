//! End to end with the real core: a server role and a client role compiled by
//! `xp2p render`, both run by v2ray on loopback, and an HTTP origin on 127.0.0.2
//! fetched through the client's SOCKS port. Killing the server core must break
//! the fetch, which proves the traffic went through the tunnel.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::Duration;

use support::*;

const WAIT: Duration = Duration::from_secs(15);
const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// Two distinct free ports.
fn distinct_ports() -> (u16, u16) {
    loop {
        let (a, b) = (free_port(), free_port());
        if a != b {
            return (a, b);
        }
    }
}

fn render(root: &TestRoot, role: &str) -> PathBuf {
    let run = root.run(&["render", "--role", role]);
    assert_eq!(run.code, Some(0), "render --role {role}: {run:?}");
    let x: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert!(x["inbounds"].is_array(), "{role}: {}", run.stdout);
    root.write(format!("run/{role}.xray.json"), &run.stdout)
}

/// A plain GET to the origin, not through any proxy.
fn direct_get(target: SocketAddr) -> std::io::Result<String> {
    let mut s = TcpStream::connect_timeout(&target, IO_TIMEOUT)?;
    s.set_read_timeout(Some(IO_TIMEOUT))?;
    s.write_all(b"GET / HTTP/1.0\r\n\r\n")?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out)
}

#[test]
fn http_through_the_tunnel_and_not_without_it() {
    if !v2ray_available() {
        eprintln!("skipping: {V2RAY} is not installed");
        return;
    }
    let origin = HttpOrigin::start(ORIGIN_IP);
    let (trojan_port, socks_port) = distinct_ports();
    let server_addr = SocketAddr::from(([127, 0, 0, 1], trojan_port));
    let socks_addr = SocketAddr::from(([127, 0, 0, 1], socks_port));

    let root = TestRoot::new();
    root.write(
        "xp2p-server.toml",
        server_toml(V2RAY, trojan_port, FIXTURE_PASSWORD),
    );
    root.write(
        "xp2p-client.toml",
        client_toml(V2RAY, socks_port, trojan_port, FIXTURE_PASSWORD),
    );
    root.write_self_signed_cert("localhost");

    // the pair passes the core's own test before anything runs
    let run = root.run(&["validate"]);
    assert_eq!(run.code, Some(0), "{run:?}");

    let server_cfg = render(&root, "server");
    let client_cfg = render(&root, "client");
    let logs = root.path().join("logs");
    let mut server = CoreProcess::v2ray(&server_cfg, &logs.join("server-core.log"));
    let mut client = CoreProcess::v2ray(&client_cfg, &logs.join("client-core.log"));

    assert!(
        wait_until(WAIT, || port_accepts(server_addr)),
        "server core never listened on {server_addr}:\n{}",
        server.log()
    );
    assert!(
        wait_until(WAIT, || port_accepts(socks_addr)),
        "client core never listened on {socks_addr}:\n{}",
        client.log()
    );

    // The origin is reachable directly, and through the tunnel.
    assert!(direct_get(origin.addr()).unwrap().contains(origin.body()));
    let mut last = String::new();
    let through = wait_until(WAIT, || {
        match socks5_get(socks_addr, origin.addr(), IO_TIMEOUT) {
            Ok(resp) => {
                last = resp;
                last.contains(origin.body())
            }
            Err(e) => {
                last = format!("error: {e}");
                false
            }
        }
    });
    assert!(
        through,
        "no body through the tunnel; last answer: {last}\nserver log:\n{}\nclient log:\n{}",
        server.log(),
        client.log()
    );
    assert!(last.starts_with("HTTP/1.0 200"), "{last}");
    assert!(client.is_running() && server.is_running());
    // The server core itself accepted a tunnelled connection to the origin.
    let origin_dest = format!("tcp:{}", origin.addr());
    assert!(
        wait_until(WAIT, || server.log().contains(&origin_dest)),
        "the server core never logged {origin_dest}:\n{}",
        server.log()
    );

    // Without the server the same fetch fails, while the origin still answers
    // directly: the bytes above did cross the tunnel.
    server.kill();
    assert!(
        wait_until(WAIT, || !port_accepts(server_addr)),
        "the killed server still accepts on {server_addr}"
    );
    match socks5_get(socks_addr, origin.addr(), IO_TIMEOUT) {
        Ok(resp) => assert!(
            !resp.contains(origin.body()),
            "the origin was reached without the server core: {resp}"
        ),
        Err(e) => eprintln!("fetch without the server failed as expected: {e}"),
    }
    assert!(client.is_running(), "client core died:\n{}", client.log());
    assert!(direct_get(origin.addr()).unwrap().contains(origin.body()));
}
