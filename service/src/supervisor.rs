//! Core sessions of one role: start from Live, staged replacement beside the old
//! core (same ports via SO_REUSEPORT), readiness from the new core's own process
//! (its "started" log line after our spawn and its own listening sockets), drain
//! and stop of the old core, crash restarts with backoff, reattach on service start.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{Mutex, broadcast, mpsc};
use xp2p_core::compile::RuntimeInfo;
use xp2p_core::coreproc::CoreInfo;
use xp2p_core::store::live::{self, Slot};
use xp2p_core::store::markers::now_rfc3339;
use xp2p_core::{ErrorCode, Layout, Role};

use crate::drain;
use crate::events::{Event, EventBus};
use crate::logtail::LogTail;
use crate::process::CoreProc;
use xp2p_core::procfs;
use xp2p_core::store::session::{self, SessionRecord, SessionStatus};

/// How long a new core may take to be ready.
pub const READY_TIMEOUT: Duration = Duration::from_secs(15);
/// SIGTERM -> SIGKILL grace.
pub const STOP_GRACE: Duration = Duration::from_secs(5);
const CRASH_WINDOW: Duration = Duration::from_secs(600);
const CRASH_LIMIT: usize = 10;
const BACKOFF_CAP: Duration = Duration::from_secs(30);

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
        self.proc.pid
    }
}

struct Active {
    proc: Arc<CoreProc>,
    session: SessionRecord,
}

#[derive(Default)]
struct Inner {
    active: Option<Active>,
    crashes: VecDeque<Instant>,
    /// Crash loop: no restarts until the next apply.
    failed: bool,
    /// Bumped on every deliberate change, so a stale crash report is ignored.
    generation: u64,
}

impl Inner {
    /// Counts a crash (or failed restart); returns the crashes in the window.
    fn record_crash(&mut self) -> usize {
        let now = Instant::now();
        self.crashes.push_back(now);
        while self
            .crashes
            .front()
            .is_some_and(|t| now.duration_since(*t) > CRASH_WINDOW)
        {
            self.crashes.pop_front();
        }
        self.crashes.len()
    }
}

pub struct RoleSupervisor {
    role: Role,
    layout: Layout,
    instance_id: String,
    tail: LogTail,
    drain: Duration,
    inner: Mutex<Inner>,
    crash_tx: mpsc::UnboundedSender<(i32, u64)>,
    events: EventBus,
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
        let (crash_tx, mut crash_rx) = mpsc::unbounded_channel();
        let sup = Arc::new(RoleSupervisor {
            role,
            layout,
            instance_id,
            tail,
            drain,
            inner: Mutex::new(Inner::default()),
            crash_tx,
            events,
        });
        let weak = Arc::downgrade(&sup);
        tokio::spawn(async move {
            while let Some((pid, generation)) = crash_rx.recv().await {
                let Some(sup) = weak.upgrade() else { break };
                sup.on_exit(pid, generation).await;
            }
        });
        sup
    }

    pub fn tail(&self) -> &LogTail {
        &self.tail
    }

    pub async fn active_pid(&self) -> Option<i32> {
        self.inner.lock().await.active.as_ref().map(|a| a.proc.pid)
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
        let proc =
            CoreProc::spawn(core, &config, &self.layout.core_log(self.role)).map_err(|e| {
                StartError {
                    code: ErrorCode::StartFailed,
                    message: format!("cannot run {}: {e}", core.path.display()),
                }
            })?;
        let proc = Arc::new(proc);
        let session = self.new_session(core, proc.pid, &rt.config_sha256);
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
                let pid = proc.pid;
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
                            proc.pid
                        ),
                    });
                }
                // The started line precedes the sockets by microseconds at most.
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
            tokio::select! {
                exit = proc.wait() => {
                    let last = self.tail.tail(600);
                    let last = last.lines().last().unwrap_or("").to_string();
                    return Err(StartError {
                        code: ErrorCode::StartFailed,
                        message: format!("core exited during start ({exit}): {last}"),
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
                        message: format!("core pid {} printed no \"started\" line within {} s", proc.pid, READY_TIMEOUT.as_secs()),
                    });
                }
            }
        }
    }

    /// Makes `cand` the active core; the old one is drained and stopped.
    /// Returns a note for the journal.
    pub async fn promote(&self, cand: Candidate, reason: &str) -> String {
        let mut inner = self.inner.lock().await;
        inner.generation += 1;
        inner.failed = false;
        let mut session = cand.session;
        session.transition(SessionStatus::Running, reason, "");
        write_session(&self.layout, self.role, &session);
        self.watch_exit(&cand.proc, inner.generation);
        let old = inner.active.replace(Active {
            proc: cand.proc.clone(),
            session,
        });
        self.events.send(Event::CoreState {
            role: self.role,
            display: "running".into(),
            pid: Some(cand.proc.pid),
        });
        drop(inner);
        self.publish_health().await;
        match old {
            Some(old) => {
                let report = drain::drain(old.proc.pid, self.drain).await;
                let exit = old.proc.stop(STOP_GRACE).await;
                format!(
                    "old core pid {}: {}; {exit}",
                    old.proc.pid,
                    report.describe()
                )
            }
            None => String::new(),
        }
    }

    /// Publishes per-inbound health of the active core (or `not_checked` without one).
    async fn publish_health(&self) {
        let rec = self
            .inner
            .lock()
            .await
            .active
            .as_ref()
            .map(|a| a.session.clone());
        let (layout, role) = (self.layout.clone(), self.role);
        let inbounds = tokio::task::spawn_blocking(move || {
            let rt = live::read_runtime(&layout, role, Slot::Live).ok().flatten();
            xp2p_core::status::core_view(rec.as_ref(), rt.as_ref()).inbounds
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
        let mut inner = self.inner.lock().await;
        inner.generation += 1;
        let Some(active) = inner.active.take() else {
            return false;
        };
        let mut session = active.session;
        session.transition(SessionStatus::Stopping, reason, "");
        write_session(&self.layout, self.role, &session);
        let exit = active.proc.stop(STOP_GRACE).await;
        session.transition(SessionStatus::Stopped, reason, exit.to_string());
        write_session(&self.layout, self.role, &session);
        self.events.send(Event::CoreState {
            role: self.role,
            display: "stopped".into(),
            pid: None,
        });
        true
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
        let tx = self.crash_tx.clone();
        tokio::spawn(async move {
            proc.wait().await;
            let _ = tx.send((proc.pid, generation));
        });
    }

    async fn on_exit(self: &Arc<Self>, pid: i32, generation: u64) {
        let mut inner = self.inner.lock().await;
        let is_active = inner.active.as_ref().is_some_and(|a| a.proc.pid == pid);
        if !is_active || inner.generation != generation {
            return;
        }
        let Some(active) = inner.active.take() else {
            return;
        };
        let exit = active
            .proc
            .has_exited()
            .map(|e| e.to_string())
            .unwrap_or_default();
        let mut session = active.session;
        let n = inner.record_crash();
        if n >= CRASH_LIMIT {
            inner.failed = true;
            session.transition(
                SessionStatus::Failed,
                "crash_loop",
                format!("{n} crashes in 10 minutes; last: {exit}"),
            );
            write_session(&self.layout, self.role, &session);
            tracing::error!(role = %self.role, "core crashed {n} times in 10 minutes; not restarting until the next apply");
            self.events.send(Event::CoreState {
                role: self.role,
                display: "failed".into(),
                pid: None,
            });
            return;
        }
        session.transition(SessionStatus::Failed, "core_exited", exit.clone());
        write_session(&self.layout, self.role, &session);
        self.events.send(Event::CoreState {
            role: self.role,
            display: "failed".into(),
            pid: None,
        });
        let backoff = backoff_for(n);
        tracing::warn!(role = %self.role, pid, "core exited ({exit}); restarting in {} s", backoff.as_secs());
        let gen_at_crash = inner.generation;
        drop(inner);
        tokio::spawn(restart_loop(self.clone(), backoff, gen_at_crash));
    }

    /// Stops cores that run this role's Live config but are not `keep` (a
    /// candidate started by a service that crashed before promoting it).
    async fn reap_orphans(&self, keep: Option<i32>) -> Vec<i32> {
        let config = self
            .layout
            .live_dir(self.role)
            .join(live::XRAY_JSON)
            .display()
            .to_string();
        let pids = tokio::task::spawn_blocking(move || procfs::pids_with_arg(&config))
            .await
            .unwrap_or_default();
        let mut reaped = Vec::new();
        for pid in pids
            .into_iter()
            .filter(|p| Some(*p) != keep && *p != std::process::id() as i32)
        {
            if let Ok(proc) = CoreProc::adopt(pid) {
                proc.stop(STOP_GRACE).await;
                tracing::warn!(role = %self.role, pid, "stopped an orphan core (left by a crashed service)");
                reaped.push(pid);
            }
        }
        reaped
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
                let mut inner = self.inner.lock().await;
                inner.generation += 1;
                rec.owner_instance_id = self.instance_id.clone();
                rec.transition(SessionStatus::Running, "reattached", format!("pid {pid}"));
                write_session(&self.layout, self.role, &rec);
                self.watch_exit(&proc, inner.generation);
                inner.active = Some(Active {
                    proc,
                    session: rec.clone(),
                });
                drop(inner);
                self.events.send(Event::CoreState {
                    role: self.role,
                    display: "running".into(),
                    pid: Some(pid),
                });
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
        let config = self
            .layout
            .live_dir(self.role)
            .join(live::XRAY_JSON)
            .display()
            .to_string();
        let cmd = procfs::cmdline(pid).unwrap_or_default();
        if !cmd.contains(&config) {
            return Err((
                "reattach_rejected_cmdline_mismatch",
                format!("pid {pid} does not run {config}"),
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

fn backoff_for(crashes: usize) -> Duration {
    Duration::from_secs(1u64 << crashes.saturating_sub(1).min(5)).min(BACKOFF_CAP)
}

/// Restarts a crashed role's core with growing backoff until it runs, the crash
/// limit is reached, or something deliberate (an apply, a stop) takes over.
async fn restart_loop(sup: Arc<RoleSupervisor>, mut backoff: Duration, generation: u64) {
    loop {
        tokio::time::sleep(backoff).await;
        {
            let inner = sup.inner.lock().await;
            if inner.active.is_some() || inner.failed || inner.generation != generation {
                return;
            }
        }
        let result = match live_core(&sup.layout, sup.role) {
            Ok(core) => sup
                .start_from_live(&core, "crash_restart")
                .await
                .map(|pid| (pid, core)),
            Err(e) => Err(e),
        };
        match result {
            Ok((pid, _)) => {
                tracing::info!(role = %sup.role, pid, "core restarted after a crash");
                return;
            }
            Err(e) => {
                let mut inner = sup.inner.lock().await;
                let n = inner.record_crash();
                if n >= CRASH_LIMIT {
                    inner.failed = true;
                    tracing::error!(role = %sup.role, "restart failed {n} times in 10 minutes ({}); giving up until the next apply", e.message);
                    return;
                }
                backoff = backoff_for(n);
                tracing::warn!(role = %sup.role, "crash restart failed: {}; next try in {} s", e.message, backoff.as_secs());
            }
        }
    }
}

/// The core named by Live's runtime.json.
pub fn live_core(layout: &Layout, role: Role) -> Result<CoreInfo, StartError> {
    let rt = live_runtime(layout, role)?;
    xp2p_core::coreproc::probe(std::path::Path::new(&rt.core.path)).map_err(|e| StartError {
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
}
