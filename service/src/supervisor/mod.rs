//! Core sessions of one role: start from Live, staged replacement beside the old
//! core (same ports via SO_REUSEPORT), readiness from the new core's own process
//! (its "started" log line after our spawn and its own listening sockets), drain
//! and stop of the old core, crash restarts with backoff (recorded in the session
//! so status says when), reattach on service start, and which processes count as
//! this root's cores (only those may be adopted or reaped).

pub mod slot;

use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use tokio::sync::{Mutex, broadcast, mpsc};
use xp2p_core::compile::RuntimeInfo;
use xp2p_core::{ErrorCode, Layout, Role};
use xp2p_store::coreproc::CoreInfo;
use xp2p_store::live::{self, Slot};
use xp2p_store::markers::now_rfc3339;

use crate::drain;
use crate::events::{Event, EventBus};
use crate::logtail::LogTail;
use slot::{Action, CoreSlot, Input, Mark, Slot as SlotState};
use xp2p_core::status::DisplayState;
use xp2p_platform::process::CoreProcess as CoreProc;
use xp2p_platform::procfs;
use xp2p_store::coreproc::{Lifetime, spawn_spec};
use xp2p_store::session::{self, Backoff, SessionRecord, SessionStatus};

/// How long a new core may take to be ready.
pub const READY_TIMEOUT: Duration = Duration::from_secs(15);
/// SIGTERM -> SIGKILL grace.
pub const STOP_GRACE: Duration = Duration::from_secs(5);

/// A failure to bring up a core, with the error code the journal records.
#[derive(Debug, Clone)]
pub struct StartError {
    pub code: ErrorCode,
    pub message: String,
}

/// A started and ready core that is not yet the active one.
pub struct Candidate {
    proc: Arc<CoreProc>,
    session: SessionRecord,
}

impl Candidate {
    pub fn pid(&self) -> i32 {
        self.proc.pid()
    }
}

/// An input that arrives after the action that asked for it.
enum Later {
    Exited { pid: i32, generation: u64 },
    Feed(Input<Core>),
}

/// The active core as the slot holds it: its process and its session record
/// (shared by the slot's clones, so a transition written once is seen by all).
#[derive(Clone)]
struct Core {
    proc: Arc<CoreProc>,
    session: Arc<std::sync::Mutex<SessionRecord>>,
}

impl Core {
    fn new(proc: Arc<CoreProc>, session: SessionRecord) -> Core {
        Core {
            proc,
            session: Arc::new(std::sync::Mutex::new(session)),
        }
    }

    fn session(&self) -> SessionRecord {
        match self.session.lock() {
            Ok(s) => s.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Applies a transition to the record and writes it.
    fn transition(&self, layout: &Layout, role: Role, f: impl FnOnce(&mut SessionRecord)) {
        let mut guard = match self.session.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        f(&mut guard);
        write_session(layout, role, &guard);
    }
}

impl slot::HasPid for Core {
    fn pid(&self) -> i32 {
        self.proc.pid()
    }
}

impl std::fmt::Debug for Core {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "core pid {}", self.proc.pid())
    }
}

impl PartialEq for Core {
    fn eq(&self, other: &Core) -> bool {
        self.proc.pid() == other.proc.pid()
    }
}

pub struct RoleSupervisor {
    role: Role,
    layout: Layout,
    instance_id: String,
    tail: LogTail,
    drain: Duration,
    /// The core slot: which core is active and the crash-restart policy, a
    /// pure state machine (`slot`) this type only carries out.
    slot: Mutex<CoreSlot<Core>>,
    /// What arrives later (a core's exit, a restart timer, a restart's result),
    /// fed to the slot in arrival order by one task.
    inputs: mpsc::UnboundedSender<Later>,
    events: EventBus,
    /// This supervisor, for the tasks its actions spawn (restart timers).
    me: Weak<RoleSupervisor>,
}

fn expected_ports(rt: &RuntimeInfo) -> Vec<u16> {
    rt.inbounds
        .iter()
        .filter(|i| i.network.contains("tcp") && i.port != 0)
        .map(|i| i.port)
        .collect()
}

fn live_runtime(layout: &Layout, role: Role) -> Result<RuntimeInfo, StartError> {
    match live::read_runtime(layout, role, Slot::Live) {
        Ok(Some(rt)) => Ok(rt),
        Ok(None) => Err(StartError {
            code: ErrorCode::StartFailed,
            message: format!("no Live config for the {role} role"),
        }),
        Err(e) => Err(StartError {
            code: ErrorCode::StartFailed,
            message: format!("Live runtime.json: {e}"),
        }),
    }
}

impl RoleSupervisor {
    pub fn new(
        role: Role,
        layout: Layout,
        instance_id: String,
        tail: LogTail,
        drain: Duration,
        events: EventBus,
    ) -> Arc<RoleSupervisor> {
        let (inputs, mut later) = mpsc::unbounded_channel();
        let sup = Arc::new_cyclic(|me| RoleSupervisor {
            role,
            layout,
            instance_id,
            tail,
            drain,
            slot: Mutex::new(CoreSlot::new()),
            inputs,
            events,
            me: me.clone(),
        });
        let weak = Arc::downgrade(&sup);
        tokio::spawn(async move {
            while let Some(input) = later.recv().await {
                let Some(sup) = weak.upgrade() else { break };
                match input {
                    Later::Exited { pid, generation } => sup.on_exit(pid, generation).await,
                    Later::Feed(input) => {
                        sup.feed(input).await;
                    }
                }
            }
        });
        sup
    }

    pub fn tail(&self) -> &LogTail {
        &self.tail
    }

    pub async fn active_pid(&self) -> Option<i32> {
        self.slot.lock().await.active_pid()
    }

    fn new_session(&self, core: &CoreInfo, pid: i32, config_sha256: &str) -> SessionRecord {
        let config = self.layout.live_dir(self.role).join(live::XRAY_JSON);
        let mut cmdline = vec![core.path.display().to_string()];
        cmdline.extend(
            core.run_args(&config)
                .iter()
                .map(|a| a.to_string_lossy().into_owned()),
        );
        SessionRecord {
            session_id: uuid::Uuid::new_v4().to_string(),
            status: SessionStatus::Starting,
            pid: Some(pid),
            exe: std::fs::canonicalize(&core.path)
                .unwrap_or_else(|_| core.path.clone())
                .display()
                .to_string(),
            cmdline,
            config_sha256: config_sha256.into(),
            started_at: now_rfc3339(),
            owner_instance_id: self.instance_id.clone(),
            last_transition: session::Transition {
                reason_code: "spawned".into(),
                detail: String::new(),
                at: now_rfc3339(),
            },
            backoff: None,
        }
    }

    /// Spawns a core on the current Live config and waits until it is ready.
    /// The active core (if any) is untouched.
    pub async fn start_candidate(&self, core: &CoreInfo) -> Result<Candidate, StartError> {
        let rt = live_runtime(&self.layout, self.role)?;
        let ports = expected_ports(&rt);
        let config = self.layout.live_dir(self.role).join(live::XRAY_JSON);
        let mut lines = self.tail.subscribe();
        let offset = self.tail.current_len();
        let proc = CoreProc::spawn(&spawn_spec(
            core,
            &config,
            &self.layout.core_log(self.role),
            Lifetime::Service,
        ))
        .map_err(|e| StartError {
            code: ErrorCode::StartFailed,
            message: format!("cannot run {}: {e}", core.path.display()),
        })?;
        let proc = Arc::new(proc);
        let session = self.new_session(core, proc.pid(), &rt.config_sha256);
        match self.wait_ready(&proc, &mut lines, offset, &ports).await {
            Ok(()) => Ok(Candidate { proc, session }),
            Err(e) => {
                proc.stop(STOP_GRACE).await;
                Err(e)
            }
        }
    }

    async fn wait_ready(
        &self,
        proc: &CoreProc,
        lines: &mut broadcast::Receiver<crate::logtail::LogLine>,
        offset: u64,
        ports: &[u16],
    ) -> Result<(), StartError> {
        let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
        let mut started_line = false;
        loop {
            if started_line {
                let pid = proc.pid();
                let own: Vec<u16> = tokio::task::spawn_blocking(move || procfs::own_listeners(pid))
                    .await
                    .ok()
                    .and_then(Result::ok)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(p, _)| p)
                    .collect();
                let missing: Vec<u16> =
                    ports.iter().copied().filter(|p| !own.contains(p)).collect();
                if missing.is_empty() {
                    return Ok(());
                }
                if tokio::time::Instant::now() >= deadline {
                    return Err(StartError {
                        code: ErrorCode::HealthCheckFailed,
                        message: format!(
                            "core pid {} does not listen on port(s) {missing:?}",
                            proc.pid()
                        ),
                    });
                }
                // The started line precedes the sockets by microseconds at most.
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
            tokio::select! {
                exit = proc.exited() => {
                    // The core has exited: all it wrote is in the log file.
                    let path = self.layout.core_log(self.role);
                    let text = tokio::task::spawn_blocking(move || read_log_since(&path, offset))
                        .await
                        .unwrap_or_default();
                    let why = core_output_summary(&text);
                    return Err(StartError {
                        code: ErrorCode::StartFailed,
                        message: format!("core exited during start ({exit}): {why}"),
                    });
                }
                line = lines.recv() => match line {
                    Ok(l) if l.end_offset > offset && is_started_line(&l.text) => started_line = true,
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => {
                        return Err(StartError { code: ErrorCode::Internal, message: "log follower stopped".into() });
                    }
                },
                _ = tokio::time::sleep_until(deadline) => {
                    return Err(StartError {
                        code: ErrorCode::HealthCheckFailed,
                        message: format!("core pid {} printed no \"started\" line within {} s", proc.pid(), READY_TIMEOUT.as_secs()),
                    });
                }
            }
        }
    }

    /// Makes `cand` the active core; the old one is drained and stopped.
    /// Returns a note for the journal.
    pub async fn promote(&self, cand: Candidate, reason: &str) -> String {
        let core = Core::new(cand.proc, cand.session);
        self.feed(Input::Promoted {
            core,
            reason: reason.to_string(),
        })
        .await
    }

    /// Feeds one input to the slot and carries out what it says, in order.
    /// Returns the note of a core it retired (promote's journal detail).
    async fn feed(&self, input: Input<Core>) -> String {
        // The slot stays locked while the quick actions at the front run
        // (session record, exit watcher, `core.state`): nobody sees the new
        // slot before its event is out. It is released before the first slow
        // action (health, drain, stop).
        let mut held = Some(self.slot.lock().await);
        let (exited, subject, actions) = {
            let Some(slot) = held.as_mut() else {
                return String::new();
            };
            let exited = match (slot.slot(), &input) {
                (SlotState::Running { core }, Input::Exited { .. }) => Some(core.clone()),
                _ => None,
            };
            let subject = match &input {
                Input::Promoted { core, .. }
                | Input::Adopted { core }
                | Input::Restarted { core, .. } => Some(core.clone()),
                _ => None,
            };
            let (next, actions) = std::mem::take(&mut **slot).on(input, Instant::now());
            **slot = next;
            (exited, subject, actions)
        };
        let mut note = String::new();
        for action in actions {
            if matches!(
                action,
                Action::PublishHealth | Action::Retire(_) | Action::Stop { .. }
            ) {
                held = None;
            }
            match action {
                Action::Session(mark) => self.write_mark(&mark, exited.as_ref(), subject.as_ref()),
                Action::Watch { core, generation } => self.watch_exit(&core.proc, generation),
                Action::CoreState(state) => {
                    let (display, pid) = match state {
                        slot::CoreState::Running { pid } => (DisplayState::Running, Some(pid)),
                        slot::CoreState::Failed => (DisplayState::Failed, None),
                        slot::CoreState::Stopped => (DisplayState::Stopped, None),
                    };
                    self.events.send(Event::CoreState {
                        role: self.role,
                        display,
                        pid,
                    });
                }
                Action::PublishHealth => self.publish_health().await,
                Action::Retire(old) => {
                    let report = drain::drain(old.proc.pid(), self.drain).await;
                    let exit = old.proc.stop(STOP_GRACE).await;
                    note = format!(
                        "old core pid {}: {}; {exit}",
                        old.proc.pid(),
                        report.describe()
                    );
                }
                Action::Stop { core, reason } => {
                    core.transition(&self.layout, self.role, |s| {
                        s.transition(SessionStatus::Stopping, &reason, "")
                    });
                    let exit = core.proc.stop(STOP_GRACE).await;
                    core.transition(&self.layout, self.role, |s| {
                        s.transition(SessionStatus::Stopped, &reason, exit.to_string())
                    });
                }
                Action::ScheduleRestart { after, generation } => {
                    let tx = self.inputs.clone();
                    tokio::spawn(async move {
                        tokio::time::sleep(after).await;
                        let _ = tx.send(Later::Feed(Input::RestartDue { generation }));
                    });
                }
                Action::StartFromLive { generation } => {
                    let Some(me) = self.me.upgrade() else {
                        continue;
                    };
                    tokio::spawn(async move {
                        let input = me.restart_from_live(generation).await;
                        let _ = me.inputs.send(Later::Feed(input));
                    });
                }
            }
        }
        drop(held);
        note
    }

    /// The start a due crash restart asks for; its result goes back to the slot.
    async fn restart_from_live(&self, generation: u64) -> Input<Core> {
        let started = match live_core(&self.layout, self.role) {
            Ok(core) => self.start_candidate(&core).await,
            Err(e) => Err(e),
        };
        match started {
            Ok(cand) => {
                tracing::info!(role = %self.role, pid = cand.pid(), "core restarted after a crash");
                Input::Restarted {
                    core: Core::new(cand.proc, cand.session),
                    generation,
                }
            }
            Err(e) => {
                tracing::warn!(role = %self.role, "crash restart failed: {}", e.message);
                Input::RestartFailed {
                    generation,
                    message: e.message,
                }
            }
        }
    }

    /// Writes the session transition a [`Mark`] names: the new core's own
    /// record, the exited core's, or (after a failed restart) the one on disk.
    fn write_mark(&self, mark: &Mark, exited: Option<&Core>, subject: Option<&Core>) {
        let (status, reason, detail) = (
            match mark {
                Mark::Running { .. } => SessionStatus::Running,
                _ => SessionStatus::Failed,
            },
            mark.reason().to_string(),
            mark.detail(),
        );
        let backoff = mark.backoff().map(|(after, crash)| scheduled(after, crash));
        let apply = |s: &mut SessionRecord| {
            s.transition(status, &reason, detail.clone());
            s.backoff = backoff.clone();
        };
        match mark {
            Mark::Running { .. } => {
                if let Some(core) = subject {
                    let instance = self.instance_id.clone();
                    core.transition(&self.layout, self.role, |s| {
                        s.owner_instance_id = instance;
                        apply(s);
                    });
                }
            }
            Mark::Exited { restart_in, .. } => {
                tracing::warn!(role = %self.role, "core exited ({detail}); restarting in {} s", restart_in.as_secs());
                if let Some(core) = exited {
                    core.transition(&self.layout, self.role, apply);
                }
            }
            Mark::CrashLoop { crashes, .. } => {
                tracing::error!(role = %self.role, "core crashed {crashes} times in 10 minutes; not restarting until the next apply");
                if let Some(core) = exited {
                    core.transition(&self.layout, self.role, apply);
                }
            }
            Mark::RestartFailed { .. } | Mark::RestartLoop { .. } => {
                if let Mark::RestartLoop { crashes, .. } = mark {
                    tracing::error!(role = %self.role, "restart failed {crashes} times in 10 minutes; giving up until the next apply");
                }
                if let Some(mut rec) = session::read(&self.layout, self.role) {
                    apply(&mut rec);
                    write_session(&self.layout, self.role, &rec);
                }
            }
        }
    }

    /// Publishes per-inbound health of the active core (or `not_checked` without one).
    async fn publish_health(&self) {
        let rec = match self.slot.lock().await.slot() {
            SlotState::Running { core } => Some(core.session()),
            _ => None,
        };
        let (layout, role) = (self.layout.clone(), self.role);
        let inbounds = tokio::task::spawn_blocking(move || {
            let rt = live::read_runtime(&layout, role, Slot::Live).ok().flatten();
            xp2p_store::status::core_view(rec.as_ref(), rt.as_ref()).inbounds
        })
        .await
        .unwrap_or_default();
        self.events.send(Event::Health {
            role: self.role,
            inbounds,
        });
    }

    /// Stops a candidate that will not be promoted (rollback).
    pub async fn discard(&self, cand: Candidate) {
        cand.proc.stop(STOP_GRACE).await;
    }

    /// Stops the active core (stop-then-start fallback, service shutdown).
    pub async fn stop_active(&self, reason: &str) -> bool {
        let had = self.slot.lock().await.active_pid().is_some();
        self.feed(Input::Stop {
            reason: reason.to_string(),
        })
        .await;
        had
    }

    /// Starts a core from Live when none is active (start-up, crash restart).
    pub async fn start_from_live(&self, core: &CoreInfo, reason: &str) -> Result<i32, StartError> {
        let cand = self.start_candidate(core).await?;
        let pid = cand.pid();
        self.promote(cand, reason).await;
        Ok(pid)
    }

    fn watch_exit(&self, proc: &Arc<CoreProc>, generation: u64) {
        let proc = proc.clone();
        let tx = self.inputs.clone();
        tokio::spawn(async move {
            proc.exited().await;
            let _ = tx.send(Later::Exited {
                pid: proc.pid(),
                generation,
            });
        });
    }

    async fn on_exit(&self, pid: i32, generation: u64) {
        let exit = match self.slot.lock().await.slot() {
            SlotState::Running { core } if core.proc.pid() == pid => core
                .proc
                .try_exit()
                .map(|e| e.to_string())
                .unwrap_or_default(),
            _ => String::new(),
        };
        self.feed(Input::Exited {
            pid,
            generation,
            exit,
        })
        .await;
    }

    /// Stops cores of this root's role that are not `keep` (a candidate started
    /// by a service that crashed before promoting it). Only processes that are
    /// provably such cores are touched (see [`is_our_core`]).
    async fn reap_orphans(&self, keep: Option<i32>) -> Vec<i32> {
        reap(
            &self.layout,
            self.role,
            keep,
            "an orphan core (left by a crashed service)",
        )
        .await
    }

    /// Start-up: adopt the recorded core if it is provably ours and serving Live,
    /// otherwise record why not and start fresh. Orphans are stopped first.
    pub async fn reattach_or_start(self: &Arc<Self>) -> Result<String, StartError> {
        let recorded = session::read(&self.layout, self.role).and_then(|r| r.pid);
        self.reap_orphans(recorded).await;
        let rt = live_runtime(&self.layout, self.role)?;
        let core = live_core(&self.layout, self.role)?;
        let verdict = match session::read(&self.layout, self.role) {
            Some(rec) => self.check_reattach(&rec, &rt).await,
            None => Err(("no_session", String::new())),
        };
        match verdict {
            Ok(mut rec) => {
                let pid = rec.pid.unwrap_or_default();
                let proc = Arc::new(CoreProc::adopt(pid).map_err(|e| StartError {
                    code: ErrorCode::StartFailed,
                    message: format!("cannot watch pid {pid}: {e}"),
                })?);
                rec.owner_instance_id = self.instance_id.clone();
                self.feed(Input::Adopted {
                    core: Core::new(proc, rec.clone()),
                })
                .await;
                if rec.config_sha256 != rt.config_sha256 {
                    // Ours, but running an older config: replace it in place.
                    let cand = self.start_candidate(&core).await?;
                    let note = self.promote(cand, "reattached_config_changed").await;
                    return Ok(format!(
                        "reattached pid {pid}, replaced (config changed): {note}"
                    ));
                }
                Ok(format!("reattached pid {pid}"))
            }
            Err((code, detail)) => {
                if let Some(mut rec) = session::read(&self.layout, self.role) {
                    rec.transition(SessionStatus::Stopped, code, detail.clone());
                    write_session(&self.layout, self.role, &rec);
                }
                let pid = self.start_from_live(&core, code).await?;
                Ok(format!(
                    "{code}{}; started pid {pid}",
                    if detail.is_empty() {
                        String::new()
                    } else {
                        format!(" ({detail})")
                    }
                ))
            }
        }
    }

    async fn check_reattach(
        &self,
        rec: &SessionRecord,
        rt: &RuntimeInfo,
    ) -> Result<SessionRecord, (&'static str, String)> {
        let Some(pid) = rec
            .pid
            .filter(|_| matches!(rec.status, SessionStatus::Running | SessionStatus::Starting))
        else {
            return Err(("no_session", format!("last session {:?}", rec.status)));
        };
        if !procfs::alive(pid) {
            return Err(("reattach_rejected_pid_missing", format!("pid {pid}")));
        }
        let exe = procfs::exe(pid)
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        if exe != rec.exe {
            return Err((
                "reattach_rejected_exec_mismatch",
                format!("pid {pid} runs {exe}, expected {}", rec.exe),
            ));
        }
        let config = live_config(&self.layout, self.role);
        let facts = ProcFacts::of(pid);
        if !facts
            .as_ref()
            .is_some_and(|f| f.uid == own_uid() && runs_config(&f.args, &config))
        {
            return Err((
                "reattach_rejected_cmdline_mismatch",
                format!("pid {pid} is not a core of ours running {config}"),
            ));
        }
        let own: Vec<u16> = procfs::own_listeners(pid)
            .unwrap_or_default()
            .into_iter()
            .map(|(p, _)| p)
            .collect();
        let ports = expected_ports(rt);
        if !ports.is_empty() && !ports.iter().any(|p| own.contains(p)) {
            // Ours but not serving: stop it before starting fresh.
            if let Ok(proc) = CoreProc::adopt(pid) {
                proc.stop(STOP_GRACE).await;
            }
            return Err((
                "reattach_rejected_unreachable",
                format!("pid {pid} listens on none of {ports:?}"),
            ));
        }
        Ok(rec.clone())
    }
}

/// A restart due after `backoff`, the `crash`th in the window.
fn scheduled(backoff: Duration, crash: u32) -> Backoff {
    Backoff {
        restart_at: humantime::format_rfc3339_millis(std::time::SystemTime::now() + backoff)
            .to_string(),
        crash,
        limit: session::CRASH_LIMIT,
    }
}

/// The output a core wrote to its log from `offset` on (at most the last 64 KiB;
/// from the start if the log was rotated since).
fn read_log_since(path: &std::path::Path, offset: u64) -> String {
    use std::io::{Read, Seek, SeekFrom};
    const MAX: u64 = 64 * 1024;
    let Ok(mut f) = std::fs::File::open(path) else {
        return String::new();
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let from = if len < offset { 0 } else { offset }.max(len.saturating_sub(MAX));
    let mut buf = Vec::new();
    if f.seek(SeekFrom::Start(from)).is_err() || f.take(MAX).read_to_end(&mut buf).is_err() {
        return String::new();
    }
    String::from_utf8_lossy(&buf).into_owned()
}

/// A Go stack trace line, a banner or anything else that says nothing about why.
fn is_trace_line(line: &str) -> bool {
    let t = line.trim();
    t.is_empty()
        || line.starts_with(char::is_whitespace)
        || t.starts_with("goroutine ")
        || t.starts_with("exit status ")
        || t.contains(".go:")
        || t.ends_with("(...)")
        || (t.ends_with(')') && !t.contains(' ') && t.contains('('))
        || t.starts_with("[signal ")
}

/// The most telling line of a core's output: one saying what failed ("failed
/// to", "invalid", "error", a panic message), never a goroutine trace or stack
/// frame; else the last line that is not part of a trace.
pub fn core_output_summary(text: &str) -> String {
    let score = |l: &str| {
        let l = l.to_ascii_lowercase();
        if l.contains("failed to") {
            3
        } else if l.contains("invalid") {
            2
        } else if l.contains("error") || l.starts_with("panic:") {
            1
        } else {
            0
        }
    };
    let mut best: Option<(u8, &str)> = None;
    for line in text.lines().filter(|l| !is_trace_line(l)) {
        let sc = score(line);
        if best.is_none_or(|(b, _)| sc >= b) {
            best = Some((sc, line));
        }
    }
    best.map(|(_, l)| l.trim().to_string()).unwrap_or_default()
}

/// The Live config path a role's core runs.
fn live_config(layout: &Layout, role: Role) -> String {
    layout
        .live_dir(role)
        .join(live::XRAY_JSON)
        .display()
        .to_string()
}

fn own_uid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// What /proc says about a process: owner, executable and argv.
struct ProcFacts {
    uid: u32,
    exe: String,
    args: Vec<String>,
}

impl ProcFacts {
    fn of(pid: i32) -> Option<ProcFacts> {
        use std::os::unix::fs::MetadataExt;
        let uid = std::fs::metadata(format!("/proc/{pid}")).ok()?.uid();
        let exe = procfs::exe(pid).ok()?.display().to_string();
        let args = procfs::cmdline(pid).ok()?;
        Some(ProcFacts { uid, exe, args })
    }
}

/// argv is a core's run form on `config`: `-config <c>` (v2ray) or
/// `run -c <c>` / `run -config <c>` (xray), nothing else.
fn runs_config(args: &[String], config: &str) -> bool {
    let rest: Vec<&str> = args.iter().skip(1).map(String::as_str).collect();
    matches!(
        rest.as_slice(),
        ["-config" | "-c", c] | ["run", "-c" | "-config", c] if *c == config
    )
}

/// A process this root's service started as a core of `config`: same owner as
/// the service, the executable a core binary (one the session or Live names, or
/// named like a known flavour), argv the core's run form on exactly `config`.
fn is_our_core(f: &ProcFacts, config: &str, known_exes: &[String]) -> bool {
    let flavour_named = std::path::Path::new(&f.exe)
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| matches!(n, "xray" | "v2ray"));
    f.uid == own_uid()
        && (known_exes.contains(&f.exe) || flavour_named)
        && runs_config(&f.args, config)
}

/// The core executables a role's session record and Live name (canonical paths).
fn known_core_exes(layout: &Layout, role: Role) -> Vec<String> {
    let mut known = Vec::new();
    if let Some(rec) = session::read(layout, role) {
        known.push(rec.exe);
    }
    if let Ok(Some(rt)) = live::read_runtime(layout, role, Slot::Live) {
        let p = std::path::PathBuf::from(&rt.core.path);
        known.push(std::fs::canonicalize(&p).unwrap_or(p).display().to_string());
    }
    known
}

/// Stops every core of this root's `role` other than `keep`; returns their pids.
async fn reap(layout: &Layout, role: Role, keep: Option<i32>, what: &str) -> Vec<i32> {
    let config = live_config(layout, role);
    let (l, c) = (layout.clone(), config.clone());
    let pids = tokio::task::spawn_blocking(move || {
        let known = known_core_exes(&l, role);
        procfs::pids_with_arg(&c)
            .into_iter()
            .filter(|p| Some(*p) != keep && *p != std::process::id() as i32)
            .filter(|p| ProcFacts::of(*p).is_some_and(|f| is_our_core(&f, &c, &known)))
            .collect::<Vec<i32>>()
    })
    .await
    .unwrap_or_default();
    let mut reaped = Vec::new();
    for pid in pids {
        if let Ok(proc) = CoreProc::adopt(pid) {
            proc.stop(STOP_GRACE).await;
            tracing::warn!(%role, pid, "stopped {what}");
            reaped.push(pid);
        }
    }
    reaped
}

/// Start-up for a role whose Live is gone: the core its session records (and
/// any other core of ours on the old Live path) cannot be supervised, so it is
/// stopped — never left running beside the core the next apply starts. The
/// session says why. Returns the pids stopped.
pub async fn stop_cores_without_live(layout: &Layout, role: Role) -> Vec<i32> {
    let stopped = reap(layout, role, None, "a core whose Live is gone").await;
    if let Some(mut rec) = session::read(layout, role)
        && matches!(rec.status, SessionStatus::Running | SessionStatus::Starting)
    {
        let mut detail = match (rec.pid, stopped.is_empty()) {
            (Some(pid), false) => format!("Live was gone at start; stopped pid {pid}"),
            _ => "Live was gone at start".to_string(),
        };
        // Live existed and was lost (not a first apply that never committed):
        // rebuild it from Desired, whatever the journal last settled.
        let (l, r) = (layout.clone(), role);
        let requested = tokio::task::spawn_blocking(move || {
            if !l.desired_toml(r).is_file()
                || xp2p_store::markers::read_requests(&l)
                    .requests
                    .contains_key(&r)
            {
                return None;
            }
            Some(xp2p_store::markers::write_request(&l, r).map_err(|e| e.to_string()))
        })
        .await
        .ok()
        .flatten();
        match requested {
            Some(Ok(id)) => detail.push_str(&format!("; re-applying from Desired (request {id})")),
            Some(Err(e)) => detail.push_str(&format!("; cannot request a re-apply: {e}")),
            None => {}
        }
        tracing::warn!(%role, "{detail}");
        rec.transition(SessionStatus::Stopped, "live_missing", detail);
        write_session(layout, role, &rec);
    }
    stopped
}

/// Why Live cannot be started as it is (runtime.json missing or not parsable,
/// xray.json missing or not what runtime.json describes), if it cannot.
pub fn live_unusable(layout: &Layout, role: Role) -> Option<String> {
    let dir = layout.live_dir(role);
    let rt = match live::read_runtime(layout, role, Slot::Live) {
        Ok(Some(rt)) => rt,
        Ok(None) => {
            return Some(format!(
                "{} is missing",
                dir.join(live::RUNTIME_JSON).display()
            ));
        }
        Err(e) => return Some(format!("{}: {e}", dir.join(live::RUNTIME_JSON).display())),
    };
    match live::read_xray(layout, role, Slot::Live) {
        Ok(Some(b)) if xp2p_store::digest::sha256_hex(&b) == rt.config_sha256 => None,
        Ok(Some(_)) => Some(format!(
            "{} is not the config {} describes (sha256 differs)",
            dir.join(live::XRAY_JSON).display(),
            live::RUNTIME_JSON
        )),
        Ok(None) => Some(format!(
            "{} is missing",
            dir.join(live::XRAY_JSON).display()
        )),
        Err(e) => Some(format!("{}: {e}", dir.join(live::XRAY_JSON).display())),
    }
}

impl RoleSupervisor {
    /// Start-up could not bring the role's core up from Live: the session record
    /// says so with the error (status shows `failed / start_failed` and why),
    /// and, when Live itself is unusable and Desired exists, an apply is
    /// requested to rebuild Live from Desired. Returns what was done.
    ///
    /// A core of ours still running on that Live (left by a killed service) is
    /// stopped first: unsupervised, it would run beside the next apply's core.
    pub async fn start_failed_at_startup(&self, e: &StartError) -> String {
        if let Some(pid) = self.active_pid().await {
            // Reattached, but replacing it failed: it keeps serving.
            return format!("{}; pid {pid} keeps serving", e.message);
        }
        let stopped = reap(
            &self.layout,
            self.role,
            None,
            "a core whose Live cannot be started",
        )
        .await;
        let (layout, role) = (self.layout.clone(), self.role);
        let reapply = tokio::task::spawn_blocking(move || {
            let why = live_unusable(&layout, role)?;
            if !layout.desired_toml(role).is_file()
                || xp2p_store::markers::read_requests(&layout)
                    .requests
                    .contains_key(&role)
            {
                return Some((why, None));
            }
            let id = xp2p_store::markers::write_request(&layout, role);
            Some((why, Some(id.map_err(|e| e.to_string()))))
        })
        .await
        .ok()
        .flatten();
        let mut message = e.message.clone();
        if !stopped.is_empty() {
            message.push_str(&format!(" (stopped unsupervised core pid {stopped:?})"));
        }
        let e = StartError {
            code: e.code,
            message,
        };
        let detail = match &reapply {
            None => e.message.clone(),
            Some((why, None)) => format!("{}; Live unusable: {why}", e.message),
            Some((why, Some(Ok(id)))) => format!(
                "{}; Live unusable: {why}; re-applying from Desired (request {id})",
                e.message
            ),
            Some((why, Some(Err(w)))) => format!(
                "{}; Live unusable: {why}; cannot request a re-apply: {w}",
                e.message
            ),
        };
        let mut rec = session::read(&self.layout, self.role).unwrap_or_else(|| SessionRecord {
            session_id: uuid::Uuid::new_v4().to_string(),
            status: SessionStatus::Failed,
            pid: None,
            exe: String::new(),
            cmdline: Vec::new(),
            config_sha256: String::new(),
            started_at: now_rfc3339(),
            owner_instance_id: self.instance_id.clone(),
            last_transition: session::Transition {
                reason_code: String::new(),
                detail: String::new(),
                at: now_rfc3339(),
            },
            backoff: None,
        });
        rec.owner_instance_id = self.instance_id.clone();
        rec.transition(SessionStatus::Failed, "start_failed", detail.clone());
        write_session(&self.layout, self.role, &rec);
        self.events.send(Event::CoreState {
            role: self.role,
            display: xp2p_core::status::DisplayState::Failed,
            pid: None,
        });
        detail
    }
}

/// The core named by Live's runtime.json.
pub fn live_core(layout: &Layout, role: Role) -> Result<CoreInfo, StartError> {
    let rt = live_runtime(layout, role)?;
    xp2p_store::coreproc::probe(std::path::Path::new(&rt.core.path)).map_err(|e| StartError {
        code: ErrorCode::CoreNotFound,
        message: e.to_string(),
    })
}

fn write_session(layout: &Layout, role: Role, rec: &SessionRecord) {
    if let Err(e) = session::write(layout, role, rec) {
        tracing::warn!(%role, "cannot write session record {}: {e}", layout.session(role).display());
    }
}

/// v2ray: "V2Ray 4.34.0 started"; xray: "Xray 1.8.4 started".
pub fn is_started_line(line: &str) -> bool {
    let l = line.trim_end();
    l.ends_with(" started") && (l.contains("V2Ray ") || l.contains("Xray "))
}

#[cfg(test)]
mod tests {
    #[test]
    fn started_lines() {
        assert!(super::is_started_line(
            "2026/11/22 10:00:00 [Warning] V2Ray 4.34.0 started"
        ));
        assert!(super::is_started_line(
            "2026/11/22 10:00:00.1 [Warning] core: Xray 26.1.13 started"
        ));
        assert!(!super::is_started_line("proxy started"));
    }

    /// v2ray 4.34 on a garbage config: the panic line, not a stack frame.
    #[test]
    fn the_summary_is_the_line_that_says_what_failed() {
        let out = "V2Ray 4.34.0 (user) 20230518-074445 (go1.19.8 linux/amd64)
A unified platform for anti-censorship.
panic: v2ray.com/core/infra/conf/serial: failed to read config file at line 1 char 2 > invalid character 'g' looking for beginning of object key string

goroutine 1 [running]:
v2ray.com/core/common.Must(...)
	v2ray.com/core/common/common.go:26
v2ray.com/core/main/jsonem.init.0.func1({0xb8b5a0?, 0xc0001258f0?})
	v2ray.com/core/main/jsonem/jsonem.go:27 +0x334
main.startV2Ray()
	v2ray.com/core/main/main.go:110 +0xeb
main.main()
	v2ray.com/core/main/main.go:139 +0x9f
";
        let s = super::core_output_summary(out);
        assert!(
            s.contains("failed to read config file") && s.contains("invalid character"),
            "{s}"
        );
        // xray's form: an error line, then its exit.
        let xray = "Xray 1.8.4 (Xray, Penetrates Everything.)
A unified platform for anti-censorship.
2026/01/01 00:00:00 [Error] failed to start: listen tcp 127.0.0.1:1080: bind: address already in use
";
        assert!(super::core_output_summary(xray).ends_with("address already in use"));
        // Nothing telling: the last line that is not a trace.
        assert_eq!(super::core_output_summary("hello\nbye\n\tx.go:1\n"), "bye");
        assert_eq!(super::core_output_summary(""), "");
    }

    #[test]
    fn only_the_run_form_on_exactly_live_counts() {
        let live = "/r/.state/live/config-client/xray.json";
        let a = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(super::runs_config(
            &a(&["/usr/bin/v2ray", "-config", live]),
            live
        ));
        assert!(super::runs_config(&a(&["xray", "run", "-c", live]), live));
        assert!(!super::runs_config(&a(&["tail", "-f", live]), live));
        assert!(!super::runs_config(
            &a(&["v2ray", "-config", live, "-x"]),
            live
        ));
        assert!(!super::runs_config(
            &a(&["v2ray", "-test", "-config", live]),
            live
        ));
        assert!(!super::runs_config(
            &a(&["v2ray", "-config", "/other.json"]),
            live
        ));
    }

    #[test]
    fn a_process_that_merely_mentions_live_is_not_our_core() {
        let live = "/r/.state/live/config-client/xray.json";
        let me = super::own_uid();
        let f = |uid: u32, exe: &str, args: &[&str]| super::ProcFacts {
            uid,
            exe: exe.into(),
            args: args.iter().map(|s| s.to_string()).collect(),
        };
        let known = vec!["/opt/cores/my-core".to_string()];
        let core = f(me, "/usr/bin/v2ray", &["v2ray", "-config", live]);
        assert!(super::is_our_core(&core, live, &[]));
        let named = f(me, "/opt/cores/my-core", &["my-core", "run", "-c", live]);
        assert!(super::is_our_core(&named, live, &known));
        assert!(!super::is_our_core(&named, live, &[]));
        // tail -f on Live (root's or anyone's), another user's process.
        let tail = f(me, "/usr/bin/tail", &["tail", "-f", live]);
        assert!(!super::is_our_core(&tail, live, &known));
        let other = f(
            me.wrapping_add(1),
            "/usr/bin/v2ray",
            &["v2ray", "-config", live],
        );
        assert!(!super::is_our_core(&other, live, &known));
    }
}
