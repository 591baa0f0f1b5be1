//! Ends user-rotation graces on time: a server user rotated with `--grace`
//! keeps its old credential in the compiled config until `rotation_expires_at`;
//! nothing in Desired changes at that moment, so this task asks for an apply
//! (a new `apply.request` id, `rotation-…`) when the earliest grace ends, and
//! looks again after every apply of the role.

use std::time::{Duration, SystemTime};

use tokio::sync::mpsc;
use xp2p_core::desired::Desired;
use xp2p_core::desired::model::next_rotation_expiry;
use xp2p_core::{Layout, Role};
use xp2p_store::{markers, pipeline};

use crate::apply::RunnerCmd;
use crate::events::{Event, EventBus};

/// When the next grace of the role's Desired ends (None: no grace pending,
/// or Desired does not load — the apply reports that).
fn next_expiry(layout: &Layout, role: Role) -> Option<SystemTime> {
    let files = pipeline::read(layout, role).ok()?;
    let (desired, _) = xp2p_core::compile::check(layout, &files).ok()?;
    match desired {
        Desired::Server(m) => next_rotation_expiry(&m, SystemTime::now()),
        Desired::Client(_) => None,
    }
}

/// Runs for the server role until the bus closes.
pub async fn run(layout: Layout, events: EventBus, runner: mpsc::UnboundedSender<RunnerCmd>) {
    let role = Role::Server;
    let mut rx = events.subscribe();
    loop {
        let l = layout.clone();
        let next = tokio::task::spawn_blocking(move || next_expiry(&l, role))
            .await
            .ok()
            .flatten();
        let sleep = match next {
            // A second late, so the compile at the request sees it expired.
            Some(t) => t
                .duration_since(SystemTime::now())
                .unwrap_or_default()
                .saturating_add(Duration::from_secs(1)),
            None => Duration::from_secs(24 * 3600),
        };
        tokio::select! {
            () = tokio::time::sleep(sleep) => {
                if next.is_none() {
                    continue;
                }
                let id = format!("rotation-{}", uuid::Uuid::new_v4());
                let l = layout.clone();
                let rid = id.clone();
                let written = tokio::task::spawn_blocking(move || markers::write_request_id(&l, role, &rid))
                    .await;
                match written {
                    Ok(Ok(())) => {
                        tracing::info!(request_id = %id, "a user rotation grace ended: applying without the old credential");
                        if runner.send(RunnerCmd::Poke).is_err() {
                            return;
                        }
                    }
                    Ok(Err(e)) => tracing::warn!("a rotation grace ended but apply.request could not be written: {e}"),
                    Err(e) => tracing::warn!("a rotation grace ended but the request task failed: {e}"),
                }
                // Wait for that apply (or any) before looking again.
                wait_apply_done(&mut rx, role).await;
            }
            done = wait_apply_done(&mut rx, role) => {
                if !done {
                    return;
                }
            }
        }
    }
}

/// Resolves on the role's next `apply.done`; false when the bus closed.
async fn wait_apply_done(rx: &mut tokio::sync::broadcast::Receiver<Event>, role: Role) -> bool {
    use tokio::sync::broadcast::error::RecvError;
    loop {
        match rx.recv().await {
            Ok(Event::ApplyDone(r)) if r.role == role => return true,
            Ok(_) | Err(RecvError::Lagged(_)) => {}
            Err(RecvError::Closed) => return false,
        }
    }
}
