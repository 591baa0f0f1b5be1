//! `xp2p demo --headless` brings up a working tunnel and leaves nothing behind
//! after SIGINT (no service, no core, no temp dir).

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use support::*;

#[test]
fn headless_demo_tunnels_and_cleans_up() {
    if !v2ray_available() {
        return eprintln!("skipped: no v2ray");
    }
    let mut child = Command::new(xp2p_bin())
        .args(["demo", "--headless"])
        .env_remove("XP2P_CONFIG_ROOT")
        .env_remove("XP2P_LOG_ROOT")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn demo");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let (mut root, mut socks, mut origin) = (String::new(), String::new(), String::new());
    for line in lines.by_ref() {
        let line = line.unwrap_or_default();
        if let Some(v) = line.strip_prefix("demo: CONFIG_ROOT ") {
            root = v.to_string();
        } else if let Some(v) = line.strip_prefix("demo: socks ") {
            socks = v.to_string();
        } else if let Some(v) = line.strip_prefix("demo: origin http://") {
            origin = v.trim_end_matches('/').to_string();
        } else if line.starts_with("demo: running") {
            break;
        }
    }
    assert!(
        !root.is_empty() && !socks.is_empty() && !origin.is_empty(),
        "demo printed its addresses"
    );
    let body = socks5_get(
        socks.parse().expect("socks addr"),
        origin.parse().expect("origin addr"),
        Duration::from_secs(5),
    )
    .unwrap_or_default();
    assert!(
        body.contains("hello through the xp2p tunnel"),
        "fetch through the tunnel: {body:?}"
    );
    let live = format!("{root}/.state/live/config-client/xray.json");
    assert_eq!(
        xp2p_platform::procfs::pids_with_arg(&live).len(),
        1,
        "the demo's client core runs"
    );

    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let status = child.wait().expect("demo exit");
    assert_eq!(status.code(), Some(0));
    let temp = std::path::Path::new(&root)
        .parent()
        .map(|p| p.to_path_buf())
        .unwrap_or_default();
    assert!(!temp.exists(), "temp dir {} removed", temp.display());
    assert!(
        xp2p_platform::procfs::pids_with_arg(&live).is_empty(),
        "no core left behind"
    );
    let leftover = xp2p_platform::procfs::pids_with_arg("service")
        .into_iter()
        .filter(|p| {
            xp2p_platform::procfs::cmdline(*p)
                .unwrap_or_default()
                .iter()
                .any(|a| a.contains(&root))
        });
    assert_eq!(leftover.count(), 0, "no service left behind");
}
