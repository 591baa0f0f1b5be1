//! The Linux side of [`super`]: the persistent TUN device and its routes and
//! rules through iproute2 (`netops`), the in-process tun2proxy bridge
//! (`bridge`), the resolv.conf override (`dns`), and the reconciler that drives
//! them from the state file (`reconcile`).

pub mod bridge;
pub mod dns;
pub mod netops;
pub mod reconcile;

use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::mpsc;
use xp2p_core::{Layout, Role};
use xp2p_store::tunstate::{self, TunTarget, TunView};

use super::{OsNetwork, TunError, describe};
use netops::IpCommand;
use reconcile::Reconciler;

/// The role's reconciler over the real `ip` commands and `/etc/resolv.conf`.
pub(crate) struct Backend(Reconciler<IpCommand>);

impl OsNetwork for Backend {
    fn open(role: Role, layout: &Layout, bridge_exit: mpsc::UnboundedSender<String>) -> Self {
        Backend(Reconciler::new(
            role,
            tunstate::state_path(layout, role),
            PathBuf::from(dns::RESOLV_CONF),
            IpCommand,
            bridge_exit,
        ))
    }

    async fn reconcile(&mut self, target: Option<&TunTarget>, reason: &str) -> Option<Duration> {
        self.0.reconcile(target, reason).await.retry_in
    }

    async fn restore(&mut self, reason: &str) -> Result<(), String> {
        self.0.restore(reason).await
    }

    async fn detach(&mut self) {
        self.0.detach().await
    }

    fn view(&self) -> TunView {
        TunView::from(&self.0.state)
    }
}

/// Restores each role's baseline from its state file.
pub(crate) async fn repair_offline(layout: &Layout) -> Result<Vec<String>, TunError> {
    let mut lines = Vec::new();
    let mut first_err = None;
    for role in Role::ALL {
        let path = tunstate::state_path(layout, role);
        let Some(state) = tunstate::load(&path).map_err(TunError::Restore)? else {
            continue;
        };
        if !state.holds_anything() {
            continue;
        }
        let (tx, _rx) = mpsc::unbounded_channel();
        let mut rec = Reconciler::new(role, path, PathBuf::from(dns::RESOLV_CONF), IpCommand, tx);
        let what = describe(&state);
        match rec.restore("repair").await {
            Ok(()) => lines.push(format!("{role}: restored the baseline ({what})")),
            Err(e) => {
                lines.push(format!("{role}: {e}"));
                first_err.get_or_insert(e);
            }
        }
    }
    match first_err {
        Some(e) => Err(TunError::Restore(e)),
        None => Ok(lines),
    }
}
