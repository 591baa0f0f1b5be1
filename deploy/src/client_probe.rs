//! The client's end-to-end check before it writes anything: a temporary core
//! (SOCKS on an ephemeral loopback port, one outbound to the server's validation
//! inbound with the server name and pinned certificate it reported) and a random
//! probe sent through it to the server's echo target, which must come back.

use std::net::SocketAddr;
use std::time::Duration;

use super::tempcore::{TempCore, Workspace, free_loopback_port};
use super::{socks, validation};
use crate::desired::Endpoint;
use crate::link::{DeployResult, random};
use xp2p_core::coreproc::CoreInfo;

/// Starts a temporary core (SOCKS on an ephemeral loopback port, one outbound to
/// the server's validation inbound) and sends a random probe to the server's
/// echo target through it.
pub fn validate_path(
    core: &CoreInfo,
    address: &str,
    r: &DeployResult,
    e: &Endpoint,
) -> Result<(), String> {
    let ws = Workspace::new("client").map_err(|e| format!("temp directory: {e}"))?;
    let socks_port = free_loopback_port().map_err(|e| format!("no loopback port: {e}"))?;
    let config = validation::client_config(
        core,
        &validation::ClientValidation {
            socks_port,
            protocol: e.protocol,
            address,
            port: r.validate_port,
            user: &e.user,
            credential: &e.password,
            server_name: &r.server_name,
            pin_sha256: &r.cert_sha256,
            flow: Some(e.flow.as_str()).filter(|f| !f.is_empty()),
        },
    );
    let config_path = ws.file("config.json");
    std::fs::write(&config_path, crate::compile::to_canonical_bytes(&config))
        .map_err(|e| format!("cannot write the temporary config: {e}"))?;
    let mut tc = TempCore::start(core, &config_path, &ws.file("core.log"))
        .map_err(|e| format!("cannot start {}: {e}", core.describe()))?;
    let socks_addr = SocketAddr::from(([127, 0, 0, 1], socks_port));
    tc.wait_ready(socks_port, Duration::from_secs(15))?;
    let probe = format!(
        "{}\n",
        hex::encode(random::bytes::<16>().map_err(|e| e.to_string())?)
    );
    let target = SocketAddr::from(([127, 0, 0, 1], r.echo_port));
    let mut last = String::new();
    for attempt in 0..3 {
        if attempt > 0 {
            std::thread::sleep(Duration::from_secs(1));
        }
        match socks::probe(
            socks_addr,
            target,
            probe.as_bytes(),
            Duration::from_secs(10),
        ) {
            Ok(back) if back == probe.as_bytes() => return Ok(()),
            Ok(back) => last = format!("{} bytes came back instead of the probe", back.len()),
            Err(e) => last = e.to_string(),
        }
    }
    Err(format!(
        "the probe did not come back through the tunnel ({last}); temporary core: {}",
        tc.log_tail()
    ))
}
