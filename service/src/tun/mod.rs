//! The service's ownership of OS network state (os-network.md): one owner task
//! per role driving that role's [`OsNetwork`]. It reconciles at start, after
//! every apply, on a retry timer while pending, on request (`xp2p repair`), and
//! when the bridge dies; an explicit stop restores the baseline. Core restarts
//! never reach it, so they never flap routes or DNS.
//!
//! This module is the one API on every OS; the OS side is chosen once below:
//! `linux/` (iproute2, the tun2proxy bridge, resolv.conf) or `unsupported.rs`,
//! which keeps proxy mode working and answers every role that asks for TUN
//! with [`TunError::Unsupported`] in its TUN view, status and repair.

use std::future::Future;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use xp2p_core::{Layout, Role};
use xp2p_store::live::{self, Slot};
use xp2p_store::tunstate::{self, TunTarget, TunView};

use crate::events::{Event, EventBus};

#[cfg_attr(target_os = "linux", path = "linux/mod.rs")]
#[cfg_attr(not(target_os = "linux"), path = "unsupported.rs")]
mod os;
/// Built on every OS for its unit tests (on Linux it is not what runs).
#[cfg(test)]
#[path = "unsupported.rs"]
pub(crate) mod unsupported;

/// Why the OS network state cannot be put right.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TunError {
    /// This OS has no TUN implementation: TUN, split and full mode cannot be
    /// applied or repaired (proxy mode works).
    #[error("tun_unsupported: TUN mode is not available on this OS")]
    Unsupported,
    /// Restoring a role's baseline failed; the line names the role and step.
    #[error("{0}")]
    Restore(String),
}

impl TunError {
    /// The stable code `--json` and the operator see.
    pub fn code(&self) -> &'static str {
        match self {
            TunError::Unsupported => "tun_unsupported",
            TunError::Restore(_) => "repair_failed",
        }
    }
}

/// One role's OS network state on this OS, as the owner task drives it.
pub(crate) trait OsNetwork: Send + 'static {
    /// Takes the role's state over from its state file (what an earlier run
    /// may have left); `bridge_exit` is told when a bridge ends on its own.
    fn open(role: Role, layout: &Layout, bridge_exit: mpsc::UnboundedSender<String>) -> Self;
    /// Brings the OS to `target` (`None`: no Live config, i.e. proxy) and
    /// records the outcome; answers when to try again, if at all.
    fn reconcile(
        &mut self,
        target: Option<&TunTarget>,
        reason: &str,
    ) -> impl Future<Output = Option<Duration>> + Send;
    /// Restores the baseline (explicit stop, repair).
    fn restore(&mut self, reason: &str) -> impl Future<Output = Result<(), String>> + Send;
    /// Lets go of the bridge and leaves routes and DNS for the next service.
    fn detach(&mut self) -> impl Future<Output = ()> + Send;
    /// What status, the snapshot and `tun.phase` events show.
    fn view(&self) -> TunView;
}

pub enum TunCmd {
    /// Reconcile now; the answer is the view afterwards.
    Reconcile {
        reason: String,
        reply: Option<oneshot::Sender<TunView>>,
    },
    /// End the task: restore the baseline (explicit stop), or only detach the
    /// bridge and leave routes in place (`--keep-cores`, an upgrade).
    Stop {
        restore: bool,
        done: oneshot::Sender<()>,
    },
}

/// A running owner.
pub struct TunOwner {
    pub role: Role,
    pub tx: mpsc::UnboundedSender<TunCmd>,
    pub task: JoinHandle<()>,
}

impl TunOwner {
    /// Asks the owner to stop and waits for it.
    pub async fn stop(self, restore: bool) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(TunCmd::Stop { restore, done }).is_ok() {
            let _ = wait.await;
        }
        let _ = self.task.await;
    }
}

/// Starts the owner of `role`. The role's runner asks it to reconcile after
/// every apply (through [`TunOwner::hook`]) before it reports the apply done.
pub fn spawn(role: Role, layout: Layout, events: EventBus) -> TunOwner {
    spawn_with::<os::Backend>(role, layout, events)
}

/// [`spawn`] over a given OS side.
pub(crate) fn spawn_with<B: OsNetwork>(role: Role, layout: Layout, events: EventBus) -> TunOwner {
    let (tx, rx) = mpsc::unbounded_channel();
    let task = tokio::spawn(run::<B>(role, layout, events, rx));
    TunOwner { role, tx, task }
}

impl TunOwner {
    /// The runner's [`crate::apply::OsStateHook`]: reconcile now with the
    /// reason given and answer the view afterwards.
    pub fn hook(&self) -> crate::apply::OsStateHook {
        let tx = self.tx.clone();
        std::sync::Arc::new(move |reason: &'static str| {
            let tx = tx.clone();
            Box::pin(async move {
                let (reply, answer) = oneshot::channel();
                tx.send(TunCmd::Reconcile {
                    reason: reason.to_string(),
                    reply: Some(reply),
                })
                .ok()?;
                answer.await.ok()
            })
        })
    }
}

/// What Live asks for; `Ok(None)` without a Live config.
async fn live_target(layout: &Layout, role: Role) -> Result<Option<TunTarget>, String> {
    let l = layout.clone();
    let rt = tokio::task::spawn_blocking(move || live::read_runtime(&l, role, Slot::Live))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("Live runtime.json: {e}"))?;
    match rt {
        Some(rt) => TunTarget::from_runtime(&rt).map(Some),
        None => Ok(None),
    }
}

async fn run<B: OsNetwork>(
    role: Role,
    layout: Layout,
    events: EventBus,
    mut rx: mpsc::UnboundedReceiver<TunCmd>,
) {
    let (exit_tx, mut exit_rx) = mpsc::unbounded_channel();
    let mut rec = B::open(role, &layout, exit_tx);
    let mut retry_at: Option<tokio::time::Instant> = None;
    let mut next_reason = Some("service_start".to_string());
    let mut reply: Option<oneshot::Sender<TunView>> = None;
    loop {
        if let Some(reason) = next_reason.take() {
            match live_target(&layout, role).await {
                Ok(target) => {
                    let retry_in = rec.reconcile(target.as_ref(), &reason).await;
                    retry_at = retry_in.map(|d| tokio::time::Instant::now() + d);
                }
                Err(e) => {
                    tracing::error!(%role, "TUN reconcile skipped: {e}");
                }
            }
            let view = rec.view();
            if let Some(r) = reply.take() {
                let _ = r.send(view.clone());
            }
            events.send(Event::TunPhase { role, tun: view });
        }
        let retry = async move {
            match retry_at {
                Some(t) => tokio::time::sleep_until(t).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            cmd = rx.recv() => match cmd {
                Some(TunCmd::Reconcile { reason, reply: r }) => {
                    next_reason = Some(reason);
                    reply = r;
                }
                Some(TunCmd::Stop { restore, done }) => {
                    if restore {
                        if let Err(e) = rec.restore("service_stop").await {
                            tracing::error!(%role, "{e}");
                        }
                    } else {
                        rec.detach().await;
                        tracing::info!(%role, "TUN: routes and DNS left in place for the next service");
                    }
                    events.send(Event::TunPhase { role, tun: rec.view() });
                    let _ = done.send(());
                    return;
                }
                None => return,
            },
            () = retry => next_reason = Some("retry".into()),
            Some(why) = exit_rx.recv() => {
                tracing::error!(%role, "TUN {why}; re-attaching");
                next_reason = Some("bridge_ended".into());
            }
        }
    }
}

/// `xp2p repair` without a service: restore each role's baseline from its
/// state file. Returns one line per role that had anything recorded.
pub async fn repair_offline(layout: &Layout) -> Result<Vec<String>, TunError> {
    os::repair_offline(layout).await
}

/// What a state file records as present, for repair's lines.
fn describe(s: &tunstate::TunState) -> String {
    let mut parts = Vec::new();
    if s.device_created {
        parts.push(format!("device {}", s.tun_name));
    }
    if !s.rules.is_empty() {
        parts.push(format!("{} rule(s)", s.rules.len()));
    }
    let routes = s.routes.len() + s.bypass_routes.len();
    if routes > 0 {
        parts.push(format!("{routes} route(s)"));
    }
    if s.dns_backup.is_some() {
        parts.push("resolv.conf".into());
    }
    parts.join(", ")
}

#[cfg(test)]
pub(crate) mod tests;
