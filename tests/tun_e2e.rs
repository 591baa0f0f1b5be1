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
    assert!(!lab.origin_reached(), "the origin must be unreachable without the tunnel");
    lab.start_service("server");
    lab.start_service("client");
    assert!(lab.wait_phase("split", UP), "phase: {}\n{}", lab.tun_state(), lab.service_logs());
    assert!(
        wait_until(UP, || lab.origin_reached()),
        "curl through the TUN failed: {:?}\n{}",
        lab.curl_origin(),
        lab.service_logs()
    );
    let table = lab.table("20090");
    assert!(table.contains("10.99.0.0/16 dev xp2pc"), "{table}");
    assert!(!table.contains("default"), "split mode must not route everything: {table}");
    assert!(lab.rules().contains("lookup 20090"), "{}", lab.rules());
    // The origin saw the server's core, never the client's veth address.
    let peers = lab.origin_peers();
    assert!(!peers.is_empty() && peers.iter().all(|p| p != CLIENT_VETH_IP), "{peers:?}");
    eprintln!("state: {}\npeers: {peers:?}", lab.tun_state());
}
