//! The server's probe of its reverse channels: one `xp2p-ping` round trip per
//! enabled channel, from the service into the server core's loopback probe
//! inbound (`xp2p-diag-in`), to the channel's marker, through the portal and
//! the client's bridge to the client's responder. Periodic (recorded in
//! `.state/channel-health.json` for status and the console) and one-shot
//! (`xp2p ping --channel`).

use std::time::Duration;

use xp2p_core::compile::RuntimeInfo;
use xp2p_core::compile::reverse::DIAG_INBOUND;
use xp2p_core::compile::runtime::RuntimeChannel;
use xp2p_core::status::ChannelHealth;
use xp2p_core::{Layout, Role};
use xp2p_store::atomic::write_atomic;
use xp2p_store::live::{self, Slot};

/// How long one channel probe may take. A channel whose client is offline
/// fails at once (the portal has no bridge connection and closes the probe's
/// connection: measured ≈ 1 ms on loopback), so this bounds only a bridge that
/// is connected but does not answer (a frozen client core, a lost link).
/// A healthy round trip over a WAN stays well under it.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// Why a probe found no answer when the core closed the connection: through
/// a channel that is the client's side (its bridge is not connected: the
/// client or its core is offline) or its responder.
const CLOSED: &str = "no answer through the channel (the portal closed the connection: \
     the client's bridge is not connected, or its responder is down)";

/// One probe of `ch` through the probe inbound of the server's Live `rt`.
pub fn probe(rt: &RuntimeInfo, ch: &RuntimeChannel, timeout: Duration) -> Result<Duration, String> {
    let Some(socks) = rt.inbound_addr(DIAG_INBOUND) else {
        return Err(format!(
            "the server's Live config has no {DIAG_INBOUND} inbound (apply again)"
        ));
    };
    let marker = ch
        .marker
        .parse()
        .map_err(|_| format!("bad marker {:?} in runtime.json (apply again)", ch.marker))?;
    xp2p_deploy::probe::ping_with(socks, marker, timeout, CLOSED)
}

/// Probes every channel of the server's Live every `every`.
pub async fn prober(layout: Layout, every: Duration) {
    super::every_round(layout, every, probe_once).await
}

/// One round: each channel of Live probed, the results written at once.
fn probe_once(layout: &Layout) {
    let Ok(Some(rt)) = live::read_runtime(layout, Role::Server, Slot::Live) else {
        return;
    };
    if rt.channels.is_empty() {
        // status shows only the channels Live has: nothing to record
        return;
    }
    let now = xp2p_store::markers::now_rfc3339();
    let health: Vec<ChannelHealth> = rt
        .channels
        .iter()
        .map(|ch| ChannelHealth::from_probe(ch, probe(&rt, ch, PROBE_TIMEOUT), &now))
        .collect();
    let path = layout.channel_health();
    match serde_json::to_vec_pretty(&health) {
        Ok(bytes) => {
            if let Err(e) = write_atomic(&path, &bytes) {
                tracing::warn!("cannot write {}: {e}", path.display());
            }
        }
        Err(e) => tracing::warn!("cannot encode {}: {e}", path.display()),
    }
}
