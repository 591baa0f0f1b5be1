//! The per-role apply runner: single-flight with one queued slot (the role's entry
//! in apply.request), phases journaled with fsync before their side effects, the
//! commit point at the Live swap, and rollback to LKG after it. This file owns the
//! shell: it reads the apply markers, feeds the pure queue policy (queue.rs) and runs
//! its commands; an attempt, rollback or restart is the phase functions of attempt.rs
//! over the real side effects (effects.rs), its causes of failure in error.rs.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use xp2p_core::{ErrorCode, Layout, Role};
use xp2p_store::journal::{Journal, Outcome, Phase, Record, RecordError};
use xp2p_store::markers::{self, RequestEntry};
use xp2p_store::tunstate::TunView;

use crate::events::{ApplyResult, Event, EventBus};
use crate::supervisor::RoleSupervisor;

use self::attempt::Attempt;
use self::queue::{Command, Input, Queue};

mod attempt;
mod effects;
mod error;
#[cfg(test)]
mod fake;
mod queue;

pub type SharedJournal = Arc<Mutex<Journal>>;

/// What wakes a runner.
#[derive(Debug, Clone)]
pub enum RunnerCmd {
    /// apply.request changed (or may have): re-read it.
    Poke,
    /// A client waits for this request id: resolve it (run it, or cancel it
    /// towards the request that replaced it) even if it was overwritten unseen.
    Announce(String),
    /// Swap Live and LKG (request id chosen by the caller, `rollback-…`).
    Rollback(String),
    /// Staged restart of the core on the same Live (`restart-…`).
    Restart(String),
}

/// Appends to the journal on the blocking pool (it fsyncs). An error names the
/// journal file; the record is then not in the journal (a partial write is cut
/// back), so the caller must not perform the side effect it announces.
pub async fn try_journal_append(journal: &SharedJournal, rec: Record) -> Result<(), String> {
    if rec.outcome.is_none() {
        crate::faults::journal_full_at(rec.phase)?;
    }
    let j = journal.clone();
    let res = tokio::task::spawn_blocking(move || match j.lock() {
        Ok(mut j) => j.append(rec),
        Err(p) => p.into_inner().append(rec),
    })
    .await;
    match res {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(e) => Err(format!("journal append task failed: {e}")),
    }
}

/// Appends a record whose failure stops nothing (a terminal record, a
/// recovery note): the failure is logged.
pub async fn journal_append(journal: &SharedJournal, rec: Record) {
    if let Err(e) = try_journal_append(journal, rec).await {
        tracing::error!("journal append failed: {e}");
    }
}

pub struct Runner {
    pub role: Role,
    pub layout: Layout,
    pub sup: Arc<RoleSupervisor>,
    pub journal: SharedJournal,
    pub events: EventBus,
    pub shutdown: watch::Receiver<bool>,
    /// Brings the role's OS network state (TUN, routes, DNS) in line with Live
    /// after an apply, before `apply.done` is published — so `--wait` means the
    /// whole change. `None` where the service owns no OS state (not Linux).
    pub os_state: Option<OsStateHook>,
}

/// Asks the role's OS-state owner to reconcile with the reason given and
/// resolves to its view afterwards (`None`: the owner is gone).
pub type OsStateHook = Arc<
    dyn Fn(
            &'static str,
        ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Option<TunView>> + Send>>
        + Send
        + Sync,
>;

/// How long an apply waits for the OS-state reconcile before it reports
/// without it (the reconcile goes on; `status` shows its outcome).
const OS_STATE_WAIT: Duration = Duration::from_secs(60);

impl Runner {
    /// Settles OS state for an outcome that may have changed Live (or, for a
    /// noop, may find OS state drifted), attaching the TUN view to the result,
    /// then publishes `apply.done`.
    async fn publish_done(&self, result: &mut ApplyResult) {
        let settle = matches!(
            result.status.as_str(),
            "committed" | "noop" | "rolled_back" | "failed_after_commit"
        );
        if settle && let Some(hook) = &self.os_state {
            match tokio::time::timeout(OS_STATE_WAIT, hook("apply")).await {
                Ok(view) => result.tun = view,
                Err(_) => tracing::warn!(
                    role = %self.role,
                    "OS state reconcile still running after {}s; apply.done sent without it",
                    OS_STATE_WAIT.as_secs()
                ),
            }
        }
        self.events.send(Event::ApplyDone(result.clone()));
    }
}

/// Aborts the core-log forwarder of an attempt when the attempt ends.
struct Forwarder(tokio::task::JoinHandle<()>);

impl Drop for Forwarder {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Runner {
    /// Runs the role's runner until the poke channel closes: a thin shell that reads
    /// apply.request and apply.error, feeds the queue policy ([`queue::Queue`]) and
    /// carries out its commands.
    pub async fn run(self: Arc<Self>, mut pokes: mpsc::UnboundedReceiver<RunnerCmd>) {
        let mut q = Queue::new();
        let mut task: Option<JoinHandle<ApplyResult>> = None;
        loop {
            let obs = self.observe(q.idle());
            self.exec(q.on(obs), &mut task).await;
            let mut shutdown = self.shutdown.clone();
            tokio::select! {
                cmd = pokes.recv() => match cmd {
                    None => break,
                    Some(c) => self.exec(q.on(c.into()), &mut task).await,
                },
                // (the guard `wait_for` returns is not `Send`: drop it inside)
                _ = async { let _ = shutdown.wait_for(|stop| *stop).await; }, if q.idle() => break,
                done = join_running(&mut task) => {
                    task = None;
                    if let Some(r) = &done {
                        tracing::info!(role = %self.role, status = %r.status, ms = r.duration_ms, "apply finished");
                    }
                    self.exec(q.on(Input::Finished(done)), &mut task).await;
                }
            }
        }
        if let Some(h) = task {
            let _ = h.await;
        }
    }

    /// The top of a turn: apply.request's entry for the role, and apply.error's request
    /// id when nothing runs (only then can a request start).
    fn observe(&self, idle: bool) -> Input {
        let request = markers::read_requests(&self.layout)
            .requests
            .get(&self.role)
            .cloned();
        let error_request_id = if idle {
            markers::read_errors(&self.layout)
                .errors
                .get(&self.role)
                .map(|e| e.request_id.clone())
        } else {
            None
        };
        Input::Observe {
            request,
            error_request_id,
            stopping: *self.shutdown.borrow(),
        }
    }

    /// Carries out the queue's commands, in order.
    async fn exec(
        self: &Arc<Self>,
        cmds: Vec<Command>,
        task: &mut Option<JoinHandle<ApplyResult>>,
    ) {
        for cmd in cmds {
            match cmd {
                Command::Supersede { request_id, by } => self.supersede(&request_id, &by).await,
                Command::Republish(done) => self.events.send(Event::ApplyDone(done)),
                Command::StartAttempt(entry) => {
                    let me = self.clone();
                    *task = Some(tokio::spawn(async move { me.attempt(entry).await }));
                }
                Command::StartRollback(id) => {
                    let me = self.clone();
                    *task = Some(tokio::spawn(async move { me.rollback(id).await }));
                }
                Command::StartRestart(id) => {
                    let me = self.clone();
                    *task = Some(tokio::spawn(async move { me.restart(id).await }));
                }
                Command::LogSkip(id) => {
                    tracing::info!(role = %self.role, request = %id, "request failed before; not retrying it (write a new request to retry)");
                }
            }
        }
    }

    async fn supersede(&self, request_id: &str, by: &str) {
        tracing::info!(role = %self.role, request = %request_id, by, "request superseded before it ran");
        let mut r = Record::new(
            &uuid::Uuid::new_v4().to_string(),
            self.role,
            request_id,
            Phase::Received,
        );
        r.outcome = Some(Outcome::Superseded);
        r.duration_ms = Some(0);
        r.error = Some(RecordError {
            code: ErrorCode::Superseded,
            message: format!("replaced by request {by} before it ran"),
            phase: Phase::Received,
            retryable: false,
            live_changed: false,
        });
        journal_append(&self.journal, r).await;
        self.events.send(Event::ApplyCancelled {
            role: self.role,
            request_id: request_id.into(),
            superseded_by: by.into(),
        });
    }

    /// A new attempt under `request_id`, with the core's log forwarded as `apply.log`
    /// events while it runs.
    fn new_attempt(&self, request_id: &str) -> (Attempt, Forwarder) {
        let id = uuid::Uuid::new_v4().to_string();
        let mut lines = self.sup.tail().subscribe();
        let events = self.events.clone();
        let (role, attempt_id) = (self.role, id.clone());
        let forwarder = tokio::spawn(async move {
            loop {
                match lines.recv().await {
                    Ok(l) => events.send(Event::ApplyLog {
                        role,
                        attempt_id: attempt_id.clone(),
                        stream: "core".into(),
                        line: l.text,
                    }),
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(_) => break,
                }
            }
        });
        (
            Attempt::new(id, request_id.into(), Instant::now()),
            Forwarder(forwarder),
        )
    }

    /// One attempt for `req` ([`attempt::apply`] over the real effects).
    pub async fn attempt(self: Arc<Self>, req: RequestEntry) -> ApplyResult {
        let (a, _forwarder) = self.new_attempt(&req.id);
        attempt::apply(&*self, a, req).await
    }

    /// `xp2p rollback`: Live and LKG swap places through the same phases and journal.
    pub async fn rollback(self: Arc<Self>, request_id: String) -> ApplyResult {
        let (a, _forwarder) = self.new_attempt(&request_id);
        attempt::rollback(&*self, a).await
    }

    /// `xp2p restart`: a staged replacement of the core with the same Live config.
    pub async fn restart(self: Arc<Self>, request_id: String) -> ApplyResult {
        let (a, _forwarder) = self.new_attempt(&request_id);
        attempt::restart(&*self, a).await
    }
}

/// The running task's result (`None`: it panicked or was cancelled); pending when
/// nothing runs.
async fn join_running(task: &mut Option<JoinHandle<ApplyResult>>) -> Option<ApplyResult> {
    match task.as_mut() {
        Some(h) => h.await.ok(),
        None => std::future::pending().await,
    }
}
