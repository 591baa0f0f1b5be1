//! The per-role apply runner: single-flight with one queued slot (the role's entry
//! in apply.request), phases journaled with fsync before their side effects, the
//! commit point at the Live swap, and rollback to LKG after it.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};
use xp2p_core::compile::CompileContext;
use xp2p_core::{ErrorCode, Layout, Role};
use xp2p_store::atomic::{sync_dir, write_atomic, write_synced};
use xp2p_store::coreproc::{TestOutcome, test_config};
use xp2p_store::digest::{read_desired, sha256_hex};
use xp2p_store::journal::{Journal, Outcome, Phase, Record, RecordError};
use xp2p_store::live::{self, RUNTIME_JSON, XRAY_JSON};
use xp2p_store::lock::{FileLock, LockError};
use xp2p_store::markers::{self, ErrorEntry, RequestEntry, now_rfc3339};
use xp2p_store::pipeline;
use xp2p_store::swap;
use xp2p_store::tunstate::TunView;

use crate::events::{ApplyResult, Event, EventBus, PhaseTiming};
use crate::supervisor::{self, RoleSupervisor};
use xp2p_store::coreproc::CoreInfo;

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
        crate::faults::journal_full_at(rec.phase.as_str())?;
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

/// The failure of an attempt whose `phase` record could not be journaled.
fn journal_failure(phase: Phase, e: String) -> Failure {
    Failure {
        code: if phase.before_commit() {
            ErrorCode::StageIoFailed
        } else {
            ErrorCode::CommitIoFailed
        },
        message: format!("cannot record phase {phase} (stopped before its step): {e}"),
        phase,
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, String> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| e.to_string())
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

/// How an attempt ended before `done`.
struct Failure {
    code: ErrorCode,
    message: String,
    phase: Phase,
}

struct Attempt<'a> {
    runner: &'a Runner,
    id: String,
    request_id: String,
    started: Instant,
    last: Instant,
    phases: Vec<PhaseTiming>,
    desired_digest: Option<String>,
    /// Forwards core log lines as `apply.log` events while the attempt runs.
    log_forwarder: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        if let Some(h) = self.log_forwarder.take() {
            h.abort();
        }
    }
}

impl Attempt<'_> {
    fn record(&self, phase: Phase) -> Record {
        let mut r = Record::new(&self.id, self.runner.role, &self.request_id, phase);
        r.desired_digest = self.desired_digest.clone();
        r
    }

    /// Journals `phase` (fsynced) before its step; a failed write stops the
    /// attempt there (the step must not happen without its record).
    async fn phase(&mut self, phase: Phase, detail: Option<String>) -> Result<(), Failure> {
        let now = Instant::now();
        let mut r = self.record(phase);
        r.detail = detail;
        try_journal_append(&self.runner.journal, r)
            .await
            .map_err(|e| journal_failure(phase, e))?;
        self.phases.push(PhaseTiming {
            phase,
            ms: now.duration_since(self.last).as_millis() as u64,
        });
        self.last = now;
        crate::faults::maybe_crash(phase.as_str());
        self.runner.events.send(Event::ApplyPhase {
            role: self.runner.role,
            attempt_id: self.id.clone(),
            phase,
            at: now_rfc3339(),
        });
        Ok(())
    }

    /// Writes the one terminal record and builds the result.
    async fn finish(
        &mut self,
        outcome: Outcome,
        phase: Phase,
        failure: Option<&Failure>,
        live_changed: bool,
        changed: bool,
    ) -> ApplyResult {
        let duration_ms = self.started.elapsed().as_millis() as u64;
        let mut r = self.record(phase);
        r.outcome = Some(outcome);
        r.duration_ms = Some(duration_ms);
        r.error = failure.map(|f| RecordError {
            code: f.code,
            message: f.message.clone(),
            phase: f.phase,
            retryable: matches!(
                f.code,
                ErrorCode::LeaseHeld | ErrorCode::StartFailed | ErrorCode::HealthCheckFailed
            ),
            live_changed,
        });
        journal_append(&self.runner.journal, r).await;
        let exit_code = outcome.exit_code();
        let mut log_tail = self.runner.sup.tail().tail(6 * 1024);
        if let Some(f) = failure {
            log_tail.push_str(&format!(
                "\nxp2p: {} failed at {}: {}",
                self.runner.role, f.phase, f.message
            ));
        }
        let result = ApplyResult {
            role: self.runner.role,
            request_id: self.request_id.clone(),
            attempt_id: self.id.clone(),
            status: outcome.as_str().into(),
            changed,
            duration_ms,
            exit_code,
            error_code: failure.map(|f| f.code.as_str().to_string()),
            error_summary: failure.map(|f| f.message.clone()),
            log_tail,
            phases: self.phases.clone(),
            tun: None,
        };
        let mut result = result;
        self.runner.publish_done(&mut result).await;
        result
    }
}

fn current_id(layout: &Layout, role: Role) -> Option<String> {
    markers::read_requests(layout)
        .requests
        .get(&role)
        .map(|e| e.id.clone())
}

fn lock_with_patience(path: PathBuf) -> Result<FileLock, LockError> {
    // A CLI writing Desired holds the role lock for milliseconds; wait a little.
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        match FileLock::try_acquire(&path) {
            Err(LockError::Held { .. }) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(25));
            }
            other => return other,
        }
    }
}

impl Runner {
    /// Runs the role's runner until the poke channel closes.
    pub async fn run(self: Arc<Self>, mut pokes: mpsc::UnboundedReceiver<RunnerCmd>) {
        let mut manual: std::collections::VecDeque<RunnerCmd> = Default::default();
        let mut announced: Vec<String> = Vec::new();
        let mut recent: std::collections::VecDeque<ApplyResult> = Default::default();
        let mut last_started: Option<String> = None;
        let mut queued: Option<RequestEntry> = None;
        let mut running: Option<(String, tokio::task::JoinHandle<ApplyResult>)> = None;
        let mut skipped_logged: Option<String> = None;
        // The last request that failed: not retried even when its apply.error
        // could not be written (a full disk must not turn into a retry loop).
        let mut failed_before: Option<String> = None;
        loop {
            // Refresh the queued slot from the file (the source of truth).
            let doc = markers::read_requests(&self.layout);
            let current = doc.requests.get(&self.role).cloned();
            match current {
                Some(entry) if running.as_ref().is_some_and(|(id, _)| *id == entry.id) => {
                    queued = None
                }
                Some(entry) => {
                    if let Some(old) = queued.take()
                        && old.id != entry.id
                    {
                        self.supersede(&old, &entry.id).await;
                        announced.retain(|a| *a != old.id);
                    }
                    queued = Some(entry);
                }
                None => queued = None,
            }
            let running_id = running.as_ref().map(|(id, _)| id.clone());
            let current_id = current_id(&self.layout, self.role);
            let queued_id = queued.as_ref().map(|q| q.id.clone());
            let mut resolved = Vec::new();
            for id in &announced {
                if Some(id) == current_id.as_ref()
                    || Some(id) == running_id.as_ref()
                    || Some(id) == queued_id.as_ref()
                {
                    continue;
                }
                if let Some(done) = recent.iter().find(|r| r.request_id == *id) {
                    self.events.send(Event::ApplyDone(done.clone()));
                } else if let Some(by) = current_id
                    .clone()
                    .or_else(|| running_id.clone())
                    .or_else(|| last_started.clone())
                {
                    let entry = RequestEntry {
                        id: id.clone(),
                        role: self.role,
                        timestamp: now_rfc3339(),
                    };
                    self.supersede(&entry, &by).await;
                    if let Some(done) = recent.iter().find(|r| r.request_id == by) {
                        self.events.send(Event::ApplyDone(done.clone()));
                    }
                }
                resolved.push(id.clone());
            }
            announced.retain(|id| !resolved.contains(id));
            if running.is_none() && !*self.shutdown.borrow() {
                match manual.pop_front() {
                    Some(RunnerCmd::Rollback(id)) => {
                        let me = self.clone();
                        running = Some((
                            id.clone(),
                            tokio::spawn(async move { me.rollback(id).await }),
                        ));
                    }
                    Some(RunnerCmd::Restart(id)) => {
                        let me = self.clone();
                        running = Some((
                            id.clone(),
                            tokio::spawn(async move { me.restart(id).await }),
                        ));
                    }
                    _ => {}
                }
            }
            if running.is_none()
                && let Some(entry) = queued.take()
            {
                let errors = markers::read_errors(&self.layout);
                if errors
                    .errors
                    .get(&self.role)
                    .is_some_and(|e| e.request_id == entry.id)
                    || failed_before.as_deref() == Some(entry.id.as_str())
                {
                    if skipped_logged.as_deref() != Some(&entry.id) {
                        tracing::info!(role = %self.role, request = %entry.id, "request failed before; not retrying it (write a new request to retry)");
                        skipped_logged = Some(entry.id.clone());
                    }
                } else if !*self.shutdown.borrow() {
                    let me = self.clone();
                    let id = entry.id.clone();
                    announced.retain(|a| *a != id);
                    last_started = Some(id.clone());
                    running = Some((id, tokio::spawn(async move { me.attempt(entry).await })));
                }
            }
            let mut shutdown = self.shutdown.clone();
            tokio::select! {
                cmd = pokes.recv() => match cmd {
                    None => break,
                    Some(RunnerCmd::Poke) => {}
                    Some(RunnerCmd::Announce(id)) => {
                        if let Some(done) = recent.iter().find(|r| r.request_id == id) {
                            self.events.send(Event::ApplyDone(done.clone()));
                        } else if !announced.contains(&id) {
                            announced.push(id);
                        }
                    }
                    Some(other) => manual.push_back(other),
                },
                _ = shutdown.wait_for(|stop| *stop), if running.is_none() => break,
                done = async { match running.as_mut() { Some((_, h)) => h.await.ok(), None => std::future::pending().await } } => {
                    if let Some(r) = done {
                        tracing::info!(role = %self.role, status = %r.status, ms = r.duration_ms, "apply finished");
                        if r.exit_code != 0 && r.status != "superseded" {
                            failed_before = Some(r.request_id.clone());
                        }
                        if r.status != "superseded" {
                            recent.push_back(r);
                            if recent.len() > 32 {
                                recent.pop_front();
                            }
                        }
                    }
                    running = None;
                }
            }
        }
        if let Some((_, h)) = running {
            let _ = h.await;
        }
    }

    async fn supersede(&self, old: &RequestEntry, by: &str) {
        tracing::info!(role = %self.role, request = %old.id, by, "request superseded before it ran");
        let mut r = Record::new(
            &uuid::Uuid::new_v4().to_string(),
            self.role,
            &old.id,
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
            request_id: old.id.clone(),
            superseded_by: by.into(),
        });
    }

    /// The role lock (held while Desired is read and Live swapped), waiting a
    /// little for a CLI that holds it for milliseconds; else `lease_held`.
    async fn role_lock(&self) -> Result<FileLock, Failure> {
        let path = self.layout.role_lock(self.role);
        match blocking(move || lock_with_patience(path)).await {
            Ok(Ok(l)) => Ok(l),
            Ok(Err(e)) => Err(Failure {
                code: ErrorCode::LeaseHeld,
                message: e.to_string(),
                phase: Phase::Received,
            }),
            Err(e) => Err(Failure {
                code: ErrorCode::Internal,
                message: e,
                phase: Phase::Received,
            }),
        }
    }

    async fn fail(&self, a: &mut Attempt<'_>, f: Failure) -> ApplyResult {
        let entry = ErrorEntry {
            request_id: a.request_id.clone(),
            attempt_id: a.id.clone(),
            code: f.code,
            phase: f.phase,
            reason: f.message.clone(),
            timestamp: now_rfc3339(),
        };
        let layout = self.layout.clone();
        let role = self.role;
        if let Ok(Err(e)) = blocking(move || markers::set_error(&layout, role, entry)).await {
            tracing::error!(%role, "cannot write apply.error: {e}");
        }
        tracing::warn!(role = %self.role, code = %f.code, "apply failed at {}: {}", f.phase, f.message);
        a.finish(Outcome::Failed, f.phase, Some(&f), false, false)
            .await
    }

    /// One attempt for `req`.
    pub async fn attempt(self: Arc<Self>, req: RequestEntry) -> ApplyResult {
        let mut a = self.new_attempt(&req.id);
        self.events.send(Event::ApplyStart {
            role: self.role,
            request_id: req.id.clone(),
            attempt_id: a.id.clone(),
        });
        if let Err(f) = a.phase(Phase::Received, None).await {
            return self.fail(&mut a, f).await;
        }
        let role = self.role;

        // The role lock: held while Desired is read and Live swapped.
        let lock = match self.role_lock().await {
            Ok(l) => l,
            Err(f) => return self.fail(&mut a, f).await,
        };

        // compiled
        let layout = self.layout.clone();
        let ctx = CompileContext {
            request_id: Some(req.id.clone()),
            compiled_at: String::new(),
        };
        let compiled = match blocking(move || pipeline::compile_role(&layout, role, &ctx)).await {
            Ok(Ok(v)) => v,
            Ok(Err(p)) => {
                return self
                    .fail(
                        &mut a,
                        Failure {
                            code: p.code(),
                            message: p.summary(),
                            phase: Phase::Compiled,
                        },
                    )
                    .await;
            }
            Err(e) => {
                return self
                    .fail(
                        &mut a,
                        Failure {
                            code: ErrorCode::Internal,
                            message: e,
                            phase: Phase::Compiled,
                        },
                    )
                    .await;
            }
        };
        let (files, core, compiled) = compiled;
        let digest = files.digest();
        a.desired_digest = Some(digest.clone());
        if let Err(f) = a.phase(Phase::Compiled, None).await {
            return self.fail(&mut a, f).await;
        }
        let layout = self.layout.clone();
        let after = blocking(move || read_desired(&layout, role).map(|f| f.digest())).await;
        if !matches!(&after, Ok(Ok(d)) if *d == digest) {
            // Never publish artifacts of a Desired set that moved during compile.
            let f = Failure {
                code: ErrorCode::Superseded,
                message: "Desired changed while compiling; a new attempt follows".into(),
                phase: Phase::Compiled,
            };
            drop(lock);
            self.events_for_desired_change(&digest);
            return a
                .finish(Outcome::Superseded, Phase::Compiled, Some(&f), false, false)
                .await;
        }

        // validated + staged
        let stage_dir = self.layout.staging_dir().join(format!("{role}-{}", a.id));
        let validate = compiled.desired.core().validate;
        {
            let dir = stage_dir.clone();
            let xray = compiled.xray_json.clone();
            let runtime = compiled.runtime_json.clone();
            let stage = move || -> std::io::Result<()> {
                std::fs::create_dir_all(&dir)?;
                write_synced(&dir.join(XRAY_JSON), &xray)?;
                write_synced(&dir.join(RUNTIME_JSON), &runtime)?;
                sync_dir(&dir)?;
                if let Some(parent) = dir.parent() {
                    sync_dir(parent)?;
                }
                Ok(())
            };
            if let Ok(Err(e)) | Err(e) = blocking(stage).await.map_err(std::io::Error::other) {
                return self
                    .fail(
                        &mut a,
                        Failure {
                            code: ErrorCode::StageIoFailed,
                            message: format!("{}: {e}", stage_dir.display()),
                            phase: Phase::Staged,
                        },
                    )
                    .await;
            }
        }
        if validate {
            let file = stage_dir.join(XRAY_JSON);
            let core2 = core.clone();
            match blocking(move || test_config(&core2, &file)).await {
                Ok(Ok(TestOutcome::Ok)) => {}
                Ok(Ok(TestOutcome::Refused { exit_code, message })) => {
                    let _ = std::fs::remove_dir_all(&stage_dir);
                    let code = exit_code.map_or("timeout".into(), |c| format!("exit {c}"));
                    return self
                        .fail(
                            &mut a,
                            Failure {
                                code: ErrorCode::ConfigTestFailed,
                                message: format!(
                                    "{} -test refused the config ({code}): {message}",
                                    core.flavour
                                ),
                                phase: Phase::Validated,
                            },
                        )
                        .await;
                }
                Ok(Err(e)) => {
                    let _ = std::fs::remove_dir_all(&stage_dir);
                    return self
                        .fail(
                            &mut a,
                            Failure {
                                code: ErrorCode::CoreNotFound,
                                message: format!("cannot run {}: {e}", core.path.display()),
                                phase: Phase::Validated,
                            },
                        )
                        .await;
                }
                Err(e) => {
                    return self
                        .fail(
                            &mut a,
                            Failure {
                                code: ErrorCode::Internal,
                                message: e,
                                phase: Phase::Validated,
                            },
                        )
                        .await;
                }
            }
        }
        for phase in [Phase::Validated, Phase::Staged] {
            if let Err(f) = a.phase(phase, None).await {
                let _ = std::fs::remove_dir_all(&stage_dir);
                return self.fail(&mut a, f).await;
            }
        }

        // noop: Live already runs exactly this config.
        let live_bytes = live::read_xray(&self.layout, role, live::Slot::Live)
            .ok()
            .flatten();
        let live_sha = live_bytes.as_deref().map(sha256_hex);
        let has_core = self.sup.active_pid().await.is_some();
        if live_sha.as_deref() == Some(compiled.config_sha256()) && has_core {
            let path = self.layout.live_dir(role).join(RUNTIME_JSON);
            let runtime = compiled.runtime_json.clone();
            let dir = stage_dir.clone();
            let _ = blocking(move || {
                let r = write_atomic(&path, &runtime);
                let _ = std::fs::remove_dir_all(&dir);
                r
            })
            .await;
            drop(lock);
            let result = a
                .finish(Outcome::Noop, Phase::Done, None, false, false)
                .await;
            self.succeed(&a).await;
            return result;
        }

        if *self.shutdown.borrow() {
            let _ = std::fs::remove_dir_all(&stage_dir);
            let f = Failure {
                code: ErrorCode::Internal,
                message: "service stopping before the commit point".into(),
                phase: Phase::Staged,
            };
            return a
                .finish(Outcome::Interrupted, Phase::Staged, Some(&f), false, false)
                .await;
        }

        // committed_live: the commit point.
        let mut rec = a.record(Phase::CommittedLive);
        rec.live_sha256 = Some(compiled.config_sha256().to_string());
        rec.lkg_sha256 = live_sha.clone();
        if let Err(e) = try_journal_append(&self.journal, rec).await {
            // No commit record, no swap: Live stays as it is.
            let _ = std::fs::remove_dir_all(&stage_dir);
            return self
                .fail(&mut a, journal_failure(Phase::CommittedLive, e))
                .await;
        }
        crate::faults::maybe_crash("committed_live");
        let now = Instant::now();
        a.phases.push(PhaseTiming {
            phase: Phase::CommittedLive,
            ms: now.duration_since(a.last).as_millis() as u64,
        });
        a.last = now;
        self.events.send(Event::ApplyPhase {
            role,
            attempt_id: a.id.clone(),
            phase: Phase::CommittedLive,
            at: now_rfc3339(),
        });
        let layout = self.layout.clone();
        let dir = stage_dir.clone();
        let had_live = match blocking(move || swap::commit(&layout, role, &dir, &crash_hook)).await
        {
            Ok(Ok(h)) => h,
            other => {
                let e = match other {
                    Ok(Err(e)) => e.to_string(),
                    Err(e) => e,
                    Ok(Ok(_)) => String::new(),
                };
                let layout = self.layout.clone();
                let _ = blocking(move || swap::recover(&layout, role)).await;
                let _ = std::fs::remove_dir_all(&stage_dir);
                return self
                    .fail(
                        &mut a,
                        Failure {
                            code: ErrorCode::CommitIoFailed,
                            message: format!("Live swap: {e}"),
                            phase: Phase::CommittedLive,
                        },
                    )
                    .await;
            }
        };
        drop(lock);

        let fallback = compiled.runtime.tun.engine.as_deref() == Some("core") && has_core;
        self.launch(&mut a, &core, fallback, Undo::Restore { had_live }, true)
            .await
    }

    /// After the commit point (or for a restart): start the new core beside the old
    /// one, wait until it is ready, promote it; on failure undo the Live change.
    async fn launch(
        &self,
        a: &mut Attempt<'_>,
        core: &CoreInfo,
        stop_first: bool,
        undo: Undo,
        clears_error: bool,
    ) -> ApplyResult {
        let role = self.role;
        let mut detail = None;
        if stop_first {
            self.sup.stop_active("fallback_stop_then_start").await;
            detail = Some(
                "fallback: stop-then-start (the core owns the TUN device, ports cannot be shared)"
                    .to_string(),
            );
        }
        if let Err(f) = a.phase(Phase::Started, detail).await {
            return self.roll_back(a, undo, f).await;
        }
        let cand = match self.sup.start_candidate(core).await {
            Ok(c) => c,
            Err(e) => {
                return self
                    .roll_back(
                        a,
                        undo,
                        Failure {
                            code: e.code,
                            message: e.message,
                            phase: Phase::Started,
                        },
                    )
                    .await;
            }
        };
        if let Err(f) = a
            .phase(Phase::Healthy, Some(format!("new core pid {}", cand.pid())))
            .await
        {
            self.sup.discard(cand).await;
            return self.roll_back(a, undo, f).await;
        }
        let note = self.sup.promote(cand, "apply_committed").await;
        a.phases.push(PhaseTiming {
            phase: Phase::Done,
            ms: a.last.elapsed().as_millis() as u64,
        });
        let live_sha = live::read_xray(&self.layout, role, live::Slot::Live)
            .ok()
            .flatten()
            .map(|b| sha256_hex(&b));
        let mut done = a.record(Phase::Done);
        done.detail = (!note.is_empty()).then_some(note);
        done.outcome = Some(Outcome::Committed);
        done.duration_ms = Some(a.started.elapsed().as_millis() as u64);
        done.live_sha256 = live_sha;
        // The change has happened: a lost `done` record is reported, not undone
        // (start-up closes the attempt as interrupted, naming what it found).
        let journal_error = try_journal_append(&self.journal, done)
            .await
            .err()
            .map(|e| {
                tracing::error!(%role, "the apply committed, but its done record is lost: {e}");
                format!("committed, but the done record is lost: {e}")
            });
        crate::faults::maybe_crash("done");
        // After the terminal record: the request entry goes and the error clears.
        // A crash between the two leaves the request, which re-runs as a noop.
        if clears_error {
            self.succeed(a).await;
        }
        let result = ApplyResult {
            role,
            request_id: a.request_id.clone(),
            attempt_id: a.id.clone(),
            status: Outcome::Committed.as_str().into(),
            changed: !matches!(undo, Undo::Nothing),
            duration_ms: a.started.elapsed().as_millis() as u64,
            exit_code: 0,
            error_code: None,
            error_summary: journal_error,
            log_tail: self.sup.tail().tail(6 * 1024),
            phases: a.phases.clone(),
            tun: None,
        };
        let mut result = result;
        self.publish_done(&mut result).await;
        result
    }

    fn new_attempt(&self, request_id: &str) -> Attempt<'_> {
        let now = Instant::now();
        let id = uuid::Uuid::new_v4().to_string();
        let mut lines = self.sup.tail().subscribe();
        let events = self.events.clone();
        let (role, attempt_id) = (self.role, id.clone());
        let log_forwarder = tokio::spawn(async move {
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
        Attempt {
            log_forwarder: Some(log_forwarder),
            runner: self,
            id,
            request_id: request_id.into(),
            started: now,
            last: now,
            phases: Vec::new(),
            desired_digest: None,
        }
    }

    /// `xp2p rollback`: Live and LKG swap places through the same phases and journal.
    pub async fn rollback(self: Arc<Self>, request_id: String) -> ApplyResult {
        let role = self.role;
        let mut a = self.new_attempt(&request_id);
        self.events.send(Event::ApplyStart {
            role,
            request_id: request_id.clone(),
            attempt_id: a.id.clone(),
        });
        if let Err(f) = a
            .phase(Phase::Received, Some("rollback: Live <-> LKG".into()))
            .await
        {
            return self.fail(&mut a, f).await;
        }
        let lock = match self.role_lock().await {
            Ok(l) => l,
            Err(f) => return self.fail(&mut a, f).await,
        };
        if !self.layout.lkg_dir(role).is_dir() || !self.layout.live_dir(role).is_dir() {
            drop(lock);
            let f = Failure {
                code: ErrorCode::RollbackFailed,
                message: format!("the {role} role has no LKG to roll back to"),
                phase: Phase::Received,
            };
            return a
                .finish(Outcome::Failed, Phase::Received, Some(&f), false, false)
                .await;
        }
        let sha = |slot| {
            live::read_xray(&self.layout, role, slot)
                .ok()
                .flatten()
                .map(|b| sha256_hex(&b))
        };
        let mut rec = a.record(Phase::CommittedLive);
        rec.live_sha256 = sha(live::Slot::Lkg);
        rec.lkg_sha256 = sha(live::Slot::Live);
        if let Err(e) = try_journal_append(&self.journal, rec).await {
            drop(lock);
            let f = journal_failure(Phase::CommittedLive, e);
            return a
                .finish(
                    Outcome::Failed,
                    Phase::CommittedLive,
                    Some(&f),
                    false,
                    false,
                )
                .await;
        }
        a.phases.push(PhaseTiming {
            phase: Phase::CommittedLive,
            ms: a.last.elapsed().as_millis() as u64,
        });
        a.last = Instant::now();
        let layout = self.layout.clone();
        match blocking(move || swap::exchange(&layout, role, &crash_hook)).await {
            Ok(Ok(())) => {}
            other => {
                let e = match other {
                    Ok(Err(e)) => e.to_string(),
                    Err(e) => e,
                    Ok(Ok(())) => String::new(),
                };
                let layout = self.layout.clone();
                let _ = blocking(move || swap::recover(&layout, role)).await;
                let f = Failure {
                    code: ErrorCode::CommitIoFailed,
                    message: format!("Live/LKG exchange: {e}"),
                    phase: Phase::CommittedLive,
                };
                return a
                    .finish(
                        Outcome::Failed,
                        Phase::CommittedLive,
                        Some(&f),
                        false,
                        false,
                    )
                    .await;
            }
        }
        drop(lock);
        let core = match supervisor::live_core(&self.layout, role) {
            Ok(c) => c,
            Err(e) => {
                return self
                    .roll_back(
                        &mut a,
                        Undo::Exchange,
                        Failure {
                            code: e.code,
                            message: e.message,
                            phase: Phase::Started,
                        },
                    )
                    .await;
            }
        };
        self.launch(&mut a, &core, false, Undo::Exchange, false)
            .await
    }

    /// `xp2p restart`: a staged replacement of the core with the same Live config.
    pub async fn restart(self: Arc<Self>, request_id: String) -> ApplyResult {
        let role = self.role;
        let mut a = self.new_attempt(&request_id);
        self.events.send(Event::ApplyStart {
            role,
            request_id: request_id.clone(),
            attempt_id: a.id.clone(),
        });
        if let Err(f) = a.phase(Phase::Received, Some("restart".into())).await {
            return a
                .finish(Outcome::Failed, Phase::Received, Some(&f), false, false)
                .await;
        }
        let core = match supervisor::live_core(&self.layout, role) {
            Ok(c) => c,
            Err(e) => {
                let f = Failure {
                    code: e.code,
                    message: e.message,
                    phase: Phase::Received,
                };
                return a
                    .finish(Outcome::Failed, Phase::Received, Some(&f), false, false)
                    .await;
            }
        };
        self.launch(&mut a, &core, false, Undo::Nothing, false)
            .await
    }

    fn events_for_desired_change(&self, digest: &str) {
        self.events.send(Event::DesiredChanged {
            role: self.role,
            digest: digest.into(),
        });
    }

    /// Success: the request entry goes (if still ours) and the role's error clears.
    async fn succeed(&self, a: &Attempt<'_>) {
        let layout = self.layout.clone();
        let role = self.role;
        let id = a.request_id.clone();
        let res = blocking(move || {
            markers::remove_request_if(&layout, role, &id)?;
            markers::clear_error(&layout, role)
        })
        .await;
        if let Ok(Err(e)) = res {
            tracing::error!(%role, "cannot update apply markers: {e}");
        }
    }

    /// After the commit point: Live back to what it was; the old core never stopped.
    async fn roll_back(&self, a: &mut Attempt<'_>, undo: Undo, f: Failure) -> ApplyResult {
        let role = self.role;
        let layout = self.layout.clone();
        let scratch = self
            .layout
            .staging_dir()
            .join(format!("{role}-{}-restore", a.id));
        let restored = blocking(move || match undo {
            Undo::Restore { had_live } => {
                let lkg = layout.lkg_dir(role);
                swap::restore(&layout, role, had_live.then_some(lkg.as_path()), &scratch)
            }
            Undo::Exchange => swap::exchange(&layout, role, &|_| {}),
            Undo::Nothing => Ok(()),
        })
        .await;
        let restore_ok = matches!(restored, Ok(Ok(())));
        let old_core = self.sup.active_pid().await.is_some();
        let (outcome, failure) = if matches!(undo, Undo::Nothing) {
            (Outcome::Failed, f)
        } else if restore_ok && old_core {
            (Outcome::RolledBack, f)
        } else if !restore_ok {
            let why = match restored {
                Ok(Err(e)) => e.to_string(),
                Err(e) => e,
                Ok(Ok(())) => String::new(),
            };
            (
                Outcome::FailedAfterCommit,
                Failure {
                    code: ErrorCode::RollbackFailed,
                    message: format!("{}; restoring Live failed: {why}", f.message),
                    phase: f.phase,
                },
            )
        } else {
            (
                Outcome::FailedAfterCommit,
                Failure {
                    message: format!("{} (no previous core was running)", f.message),
                    ..f
                },
            )
        };
        let entry = ErrorEntry {
            request_id: a.request_id.clone(),
            attempt_id: a.id.clone(),
            code: failure.code,
            phase: failure.phase,
            reason: failure.message.clone(),
            timestamp: now_rfc3339(),
        };
        let layout = self.layout.clone();
        let _ = blocking(move || markers::set_error(&layout, role, entry)).await;
        tracing::warn!(%role, "{} after commit: {}", outcome.as_str(), failure.message);
        a.finish(outcome, failure.phase, Some(&failure), !restore_ok, false)
            .await
    }
}

/// How to undo a launch that failed.
#[derive(Debug, Clone, Copy)]
enum Undo {
    /// Apply: put LKG back as Live (or remove Live if there was none).
    Restore { had_live: bool },
    /// Rollback: swap Live and LKG back.
    Exchange,
    /// Restart: Live was not changed.
    Nothing,
}

/// Fault injection hook inside the Live swap (no-op unless built for it).
fn crash_hook(step: &str) {
    crate::faults::maybe_crash(step);
}
