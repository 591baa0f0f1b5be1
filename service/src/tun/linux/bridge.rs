//! The in-process TUN → SOCKS bridge (the `tun2proxy` crate): attaches to the
//! service's persistent device, carries its TCP and UDP flows to the core's
//! SOCKS inbound, and stops on cancel. The device is single-queue, so a new
//! bridge attaches only after the old one's future has returned.

use std::net::{IpAddr, SocketAddr};

use tokio::task::JoinHandle;
use tun2proxy::{ArgDns, Args, CancellationToken, ProxyParameters};

/// What a running bridge was started with; a different key means a restart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeKey {
    pub device: String,
    pub mtu: u16,
    pub socks: SocketAddr,
    /// Where DNS to a private address is sent (tun2proxy rewrites it).
    pub dns: IpAddr,
}

pub struct Bridge {
    pub key: BridgeKey,
    token: CancellationToken,
    task: JoinHandle<Result<usize, String>>,
}

/// Sessions the bridge may carry at once (tun2proxy's default of 200 is far too
/// low for a system-wide TUN).
const MAX_SESSIONS: usize = 4096;

impl Bridge {
    /// Opens the device (failing at once when it is missing or held by someone
    /// else) and starts carrying its packets.
    /// `exited` hears from a bridge that ends without being stopped.
    pub fn start(
        key: BridgeKey,
        exited: tokio::sync::mpsc::UnboundedSender<String>,
    ) -> Result<Bridge, String> {
        let mut cfg = tun::Configuration::default();
        cfg.tun_name(&key.device).mtu(key.mtu);
        // Never touch the address, MTU or state: the service configured them.
        cfg.platform_config(|p| {
            p.ensure_root_privileges(false);
        });
        let device = tun::create_as_async(&cfg)
            .map_err(|e| format!("bridge: cannot attach to TUN device {}: {e}", key.device))?;
        let proxy = ProxyParameters::try_from(format!("socks5://{}", key.socks).as_str())
            .map_err(|e| format!("bridge: SOCKS address {}: {e}", key.socks))?;
        let mut args = Args::default();
        args.proxy(proxy)
            .setup(false)
            .dns(ArgDns::Direct)
            .dns_addr(key.dns)
            .ipv6_enabled(false);
        args.mtu = key.mtu;
        args.max_sessions = MAX_SESSIONS;
        let token = CancellationToken::new();
        let (mtu, t) = (key.mtu, token.clone());
        let task = tokio::spawn(async move {
            let res = tun2proxy::run(device, mtu, args, t.clone())
                .await
                .map_err(|e| e.to_string());
            if !t.is_cancelled() {
                let _ = exited.send(match &res {
                    Ok(n) => format!("bridge stopped on its own ({n} sessions open)"),
                    Err(e) => format!("bridge failed: {e}"),
                });
            }
            res
        });
        tracing::info!(device = %key.device, socks = %key.socks, "TUN bridge attached");
        Ok(Bridge { key, token, task })
    }

    /// True once the bridge has ended on its own (an error in tun2proxy).
    pub fn finished(&self) -> bool {
        self.task.is_finished()
    }

    /// Stops the bridge and waits until the device is released.
    pub async fn stop(self) {
        self.token.cancel();
        match self.task.await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(device = %self.key.device, "bridge ended with: {e}"),
            Err(e) => tracing::warn!(device = %self.key.device, "bridge task: {e}"),
        }
        tracing::info!(device = %self.key.device, "TUN bridge detached");
    }
}
