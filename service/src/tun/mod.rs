//! The service's ownership of OS network state (os-network.md): one owner task
//! per role holding that role's [`reconcile::Reconciler`]. It reconciles at
//! start, after every apply, on a retry timer while pending, on request
//! (`xp2p repair`), and when the bridge dies; an explicit stop restores the
//! baseline. Core restarts never reach it, so they never flap routes or DNS.

pub mod bridge;
pub mod dns;
pub mod netops;
pub mod reconcile;

use std::path::PathBuf;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use xp2p_core::{Layout, Role};
use xp2p_store::live::{self, Slot};
use xp2p_store::tunstate::{self, TunTarget, TunView};

use crate::events::{Event, EventBus};
use netops::IpCommand;
use reconcile::Reconciler;

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
    let (tx, rx) = mpsc::unbounded_channel();
    let task = tokio::spawn(run(role, layout, events, rx));
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

async fn run(
    role: Role,
    layout: Layout,
    events: EventBus,
    mut rx: mpsc::UnboundedReceiver<TunCmd>,
) {
    let (exit_tx, mut exit_rx) = mpsc::unbounded_channel();
    let mut rec = Reconciler::new(
        role,
        tunstate::state_path(&layout, role),
        PathBuf::from(dns::RESOLV_CONF),
        IpCommand,
        exit_tx,
    );
    let mut retry_at: Option<tokio::time::Instant> = None;
    let mut next_reason = Some("service_start".to_string());
    let mut reply: Option<oneshot::Sender<TunView>> = None;
    loop {
        if let Some(reason) = next_reason.take() {
            match live_target(&layout, role).await {
                Ok(target) => {
                    let out = rec.reconcile(target.as_ref(), &reason).await;
                    retry_at = out.retry_in.map(|d| tokio::time::Instant::now() + d);
                }
                Err(e) => {
                    tracing::error!(%role, "TUN reconcile skipped: {e}");
                }
            }
            let view = TunView::from(&rec.state);
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
                    events.send(Event::TunPhase { role, tun: TunView::from(&rec.state) });
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
pub async fn repair_offline(layout: &Layout) -> Result<Vec<String>, String> {
    let mut lines = Vec::new();
    let mut first_err = None;
    for role in Role::ALL {
        let path = tunstate::state_path(layout, role);
        let Some(state) = tunstate::load(&path)? else {
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
        Some(e) => Err(e),
        None => Ok(lines),
    }
}

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
