//! Owns every side effect an apply attempt, a rollback or a restart has: the
//! [`Effects`] trait (store, core launcher, clock, events) and its real implementation
//! over the [`Runner`] (its layout, journal, supervisor, event bus and OS-state hook).
//! The attempt's logic (attempt.rs) sees nothing else; the tests drive it over a fake.

use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use xp2p_core::Role;
use xp2p_core::compile::CompileContext;
use xp2p_core::coreproc::CoreInfo;
use xp2p_store::atomic::{sync_dir, write_atomic, write_synced};
use xp2p_store::coreproc::{TestOutcome, test_config};
use xp2p_store::digest::{read_desired, sha256_hex};
use xp2p_store::journal::Record;
use xp2p_store::live::{self, RUNTIME_JSON, Slot, XRAY_JSON};
use xp2p_store::lock::{FileLock, LockError};
use xp2p_store::markers::{self, ErrorEntry, now_rfc3339};
use xp2p_store::{pipeline, swap};

use super::error::ApplyError;
use super::{Runner, try_journal_append};
use crate::events::{ApplyResult, Event};
use crate::supervisor::{self, Candidate, StartError};

/// What the attempt needs of a compiled role (the compiler's output, cut down to it).
#[derive(Debug, Clone)]
pub struct CompiledRole {
    /// Desired's digest as compiled.
    pub digest: String,
    /// The core that runs it.
    pub core: CoreInfo,
    pub xray_json: Vec<u8>,
    pub runtime_json: Vec<u8>,
    /// sha256 of `xray_json` (what Live's xray.json must equal for a noop).
    pub config_sha256: String,
    /// Run the core's `-test` before staging (`[core] validate`).
    pub validate: bool,
    /// The core itself owns the TUN device (`[tun] engine = "core"`): the old core must
    /// stop before the new one starts.
    pub core_owns_tun: bool,
}

/// How to undo a launch that failed after the commit point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Undo {
    /// Apply: put LKG back as Live (or remove Live if there was none).
    Restore { had_live: bool },
    /// Rollback: swap Live and LKG back.
    Exchange,
    /// Restart: Live was not changed.
    Nothing,
}

/// The side effects of an attempt. Blocking work runs on the blocking pool in the real
/// implementation; every future is `Send` so that an attempt can be spawned.
pub trait Effects: Send + Sync {
    /// The role lock's guard (held while Desired is read and Live swapped).
    type Lock: Send;
    /// A started and ready core that is not yet the active one.
    type Candidate: Send;

    fn role(&self) -> Role;

    // -- clock
    fn now(&self) -> Instant;
    fn timestamp(&self) -> String;

    // -- events
    fn emit(&self, ev: Event);
    /// The service is shutting down.
    fn stopping(&self) -> bool;
    /// Settles OS state when the outcome may have changed Live, then sends `apply.done`.
    fn publish_done(&self, result: &mut ApplyResult) -> impl Future<Output = ()> + Send;

    // -- store
    /// Appends a record, fsynced; an error means the record is not in the journal.
    fn journal(&self, rec: Record) -> impl Future<Output = Result<(), String>> + Send;
    /// A fault-injection crash point (no-op unless built for it).
    fn crash_point(&self, point: &str);
    fn lock_role(&self) -> impl Future<Output = Result<Self::Lock, ApplyError>> + Send;
    fn compile(
        &self,
        request_id: &str,
    ) -> impl Future<Output = Result<CompiledRole, ApplyError>> + Send;
    /// Desired's digest now (to notice a change during the compile).
    fn desired_digest(&self) -> impl Future<Output = Result<String, String>> + Send;
    /// The attempt's staging directory.
    fn stage_dir(&self, attempt_id: &str) -> PathBuf;
    /// The scratch directory a restore of Live may use.
    fn restore_scratch(&self, attempt_id: &str) -> PathBuf;
    /// Creates the staging directory and writes the candidate xray.json into it (synced).
    fn write_candidate(
        &self,
        dir: &Path,
        xray: &[u8],
    ) -> impl Future<Output = Result<(), ApplyError>> + Send;
    /// The core's `-test` of `file`.
    fn test_config(
        &self,
        core: &CoreInfo,
        file: &Path,
    ) -> impl Future<Output = Result<TestOutcome, ApplyError>> + Send;
    /// Writes runtime.json beside the candidate and syncs the directory and its parent.
    fn seal_stage(
        &self,
        dir: &Path,
        runtime: &[u8],
    ) -> impl Future<Output = Result<(), ApplyError>> + Send;
    fn remove_dir(&self, dir: &Path) -> impl Future<Output = ()> + Send;
    /// sha256 of a slot's xray.json (`None`: absent or unreadable).
    fn live_sha(&self, slot: Slot) -> impl Future<Output = Option<String>> + Send;
    fn has_lkg_and_live(&self) -> bool;
    /// A noop refreshes Live's runtime.json (request id, compile time).
    fn rewrite_live_runtime(&self, runtime: &[u8]) -> impl Future<Output = ()> + Send;
    /// The Live swap (the commit point's step): `Ok(had_live)`.
    fn commit(&self, staged: &Path) -> impl Future<Output = Result<bool, String>> + Send;
    /// A rollback's Live/LKG exchange.
    fn exchange(&self) -> impl Future<Output = Result<(), String>> + Send;
    /// Finishes or undoes a swap interrupted by an error.
    fn recover(&self) -> impl Future<Output = ()> + Send;
    /// Undoes a committed Live change.
    fn undo(&self, undo: Undo, scratch: &Path) -> impl Future<Output = Result<(), String>> + Send;
    /// apply.error for the role (a failure to write it is logged).
    fn set_error(&self, entry: ErrorEntry) -> impl Future<Output = ()> + Send;
    /// Success: the request entry goes (if still this one) and the role's error clears.
    fn succeed(&self, request_id: &str) -> impl Future<Output = ()> + Send;

    // -- core launcher
    /// The core named by Live's runtime.json.
    fn live_core(&self) -> Result<CoreInfo, StartError>;
    /// A core of the role runs.
    fn core_running(&self) -> impl Future<Output = bool> + Send;
    fn stop_active(&self, reason: &str) -> impl Future<Output = ()> + Send;
    fn start_candidate(
        &self,
        core: &CoreInfo,
    ) -> impl Future<Output = Result<Self::Candidate, StartError>> + Send;
    fn candidate_pid(&self, cand: &Self::Candidate) -> i32;
    /// Makes the candidate the active core; the old one drains and stops. Returns a note
    /// for the `done` record.
    fn promote(&self, cand: Self::Candidate, reason: &str) -> impl Future<Output = String> + Send;
    fn discard(&self, cand: Self::Candidate) -> impl Future<Output = ()> + Send;
    /// The last `bytes` of the core's log.
    fn log_tail(&self, bytes: usize) -> String;
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, String> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| e.to_string())
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

/// Fault injection hook inside the Live swap (no-op unless built for it).
fn crash_hook(step: &str) {
    crate::faults::maybe_crash(step);
}

fn stage_error(dir: &Path, res: Result<io::Result<()>, String>) -> Result<(), ApplyError> {
    match res {
        Ok(Ok(())) => Ok(()),
        Ok(Err(source)) => Err(ApplyError::Stage {
            path: dir.to_path_buf(),
            source,
        }),
        Err(e) => Err(ApplyError::Internal(e)),
    }
}

fn flatten<T>(res: Result<io::Result<T>, String>) -> Result<T, String> {
    match res {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(e.to_string()),
        Err(e) => Err(e),
    }
}

impl Effects for Runner {
    type Lock = FileLock;
    type Candidate = Candidate;

    fn role(&self) -> Role {
        self.role
    }

    fn now(&self) -> Instant {
        Instant::now()
    }

    fn timestamp(&self) -> String {
        now_rfc3339()
    }

    fn emit(&self, ev: Event) {
        self.events.send(ev);
    }

    fn stopping(&self) -> bool {
        *self.shutdown.borrow()
    }

    async fn publish_done(&self, result: &mut ApplyResult) {
        Runner::publish_done(self, result).await
    }

    async fn journal(&self, rec: Record) -> Result<(), String> {
        try_journal_append(&self.journal, rec).await
    }

    fn crash_point(&self, point: &str) {
        crate::faults::maybe_crash(point);
    }

    async fn lock_role(&self) -> Result<FileLock, ApplyError> {
        let path = self.layout.role_lock(self.role);
        match blocking(move || lock_with_patience(path)).await {
            Ok(Ok(l)) => Ok(l),
            Ok(Err(e)) => Err(ApplyError::LeaseHeld(e.to_string())),
            Err(e) => Err(ApplyError::Internal(e)),
        }
    }

    async fn compile(&self, request_id: &str) -> Result<CompiledRole, ApplyError> {
        let layout = self.layout.clone();
        let role = self.role;
        let ctx = CompileContext {
            request_id: Some(request_id.to_string()),
            compiled_at: String::new(),
        };
        match blocking(move || pipeline::compile_role(&layout, role, &ctx)).await {
            Ok(Ok((files, core, compiled))) => Ok(CompiledRole {
                digest: files.digest(),
                core,
                config_sha256: compiled.config_sha256().to_string(),
                validate: compiled.desired.core().validate,
                core_owns_tun: compiled.runtime.tun.engine.as_deref() == Some("core"),
                xray_json: compiled.xray_json,
                runtime_json: compiled.runtime_json,
            }),
            Ok(Err(p)) => Err(ApplyError::Desired(p)),
            Err(e) => Err(ApplyError::Internal(e)),
        }
    }

    async fn desired_digest(&self) -> Result<String, String> {
        let layout = self.layout.clone();
        let role = self.role;
        match blocking(move || read_desired(&layout, role).map(|f| f.digest())).await {
            Ok(Ok(d)) => Ok(d),
            Ok(Err(e)) => Err(e.to_string()),
            Err(e) => Err(e),
        }
    }

    fn stage_dir(&self, attempt_id: &str) -> PathBuf {
        self.layout
            .staging_dir()
            .join(format!("{}-{attempt_id}", self.role))
    }

    fn restore_scratch(&self, attempt_id: &str) -> PathBuf {
        self.layout
            .staging_dir()
            .join(format!("{}-{attempt_id}-restore", self.role))
    }

    async fn write_candidate(&self, dir: &Path, xray: &[u8]) -> Result<(), ApplyError> {
        let (d, xray) = (dir.to_path_buf(), xray.to_vec());
        let res = blocking(move || -> io::Result<()> {
            std::fs::create_dir_all(&d)?;
            write_synced(&d.join(XRAY_JSON), &xray)
        })
        .await;
        stage_error(dir, res)
    }

    async fn test_config(&self, core: &CoreInfo, file: &Path) -> Result<TestOutcome, ApplyError> {
        let (core, file) = (core.clone(), file.to_path_buf());
        let path = core.path.clone();
        match blocking(move || test_config(&core, &file)).await {
            Ok(Ok(t)) => Ok(t),
            Ok(Err(source)) => Err(ApplyError::CoreNotRunnable { path, source }),
            Err(e) => Err(ApplyError::Internal(e)),
        }
    }

    async fn seal_stage(&self, dir: &Path, runtime: &[u8]) -> Result<(), ApplyError> {
        let (d, runtime) = (dir.to_path_buf(), runtime.to_vec());
        let res = blocking(move || -> io::Result<()> {
            write_synced(&d.join(RUNTIME_JSON), &runtime)?;
            sync_dir(&d)?;
            if let Some(parent) = d.parent() {
                sync_dir(parent)?;
            }
            Ok(())
        })
        .await;
        stage_error(dir, res)
    }

    async fn remove_dir(&self, dir: &Path) {
        let d = dir.to_path_buf();
        let _ = blocking(move || std::fs::remove_dir_all(&d)).await;
    }

    async fn live_sha(&self, slot: Slot) -> Option<String> {
        let layout = self.layout.clone();
        let role = self.role;
        blocking(move || {
            live::read_xray(&layout, role, slot)
                .ok()
                .flatten()
                .map(|b| sha256_hex(&b))
        })
        .await
        .ok()
        .flatten()
    }

    fn has_lkg_and_live(&self) -> bool {
        self.layout.lkg_dir(self.role).is_dir() && self.layout.live_dir(self.role).is_dir()
    }

    async fn rewrite_live_runtime(&self, runtime: &[u8]) {
        let path = self.layout.live_dir(self.role).join(RUNTIME_JSON);
        let runtime = runtime.to_vec();
        let _ = blocking(move || write_atomic(&path, &runtime)).await;
    }

    async fn commit(&self, staged: &Path) -> Result<bool, String> {
        let layout = self.layout.clone();
        let (role, dir) = (self.role, staged.to_path_buf());
        flatten(blocking(move || swap::commit(&layout, role, &dir, &crash_hook)).await)
    }

    async fn exchange(&self) -> Result<(), String> {
        let layout = self.layout.clone();
        let role = self.role;
        flatten(blocking(move || swap::exchange(&layout, role, &crash_hook)).await)
    }

    async fn recover(&self) {
        let layout = self.layout.clone();
        let role = self.role;
        if let Ok(Err(e)) = blocking(move || swap::recover(&layout, role)).await {
            tracing::error!(%role, "cannot recover the Live swap: {e}");
        }
    }

    async fn undo(&self, undo: Undo, scratch: &Path) -> Result<(), String> {
        let layout = self.layout.clone();
        let (role, scratch) = (self.role, scratch.to_path_buf());
        flatten(
            blocking(move || match undo {
                Undo::Restore { had_live } => {
                    let lkg = layout.lkg_dir(role);
                    swap::restore(&layout, role, had_live.then_some(lkg.as_path()), &scratch)
                }
                Undo::Exchange => swap::exchange(&layout, role, &|_| {}),
                Undo::Nothing => Ok(()),
            })
            .await,
        )
    }

    async fn set_error(&self, entry: ErrorEntry) {
        let layout = self.layout.clone();
        let role = self.role;
        if let Ok(Err(e)) = blocking(move || markers::set_error(&layout, role, entry)).await {
            tracing::error!(%role, "cannot write apply.error: {e}");
        }
    }

    async fn succeed(&self, request_id: &str) {
        let layout = self.layout.clone();
        let role = self.role;
        let id = request_id.to_string();
        let res = blocking(move || {
            markers::remove_request_if(&layout, role, &id)?;
            markers::clear_error(&layout, role)
        })
        .await;
        if let Ok(Err(e)) = res {
            tracing::error!(%role, "cannot update apply markers: {e}");
        }
    }

    fn live_core(&self) -> Result<CoreInfo, StartError> {
        supervisor::live_core(&self.layout, self.role)
    }

    async fn core_running(&self) -> bool {
        self.sup.active_pid().await.is_some()
    }

    async fn stop_active(&self, reason: &str) {
        self.sup.stop_active(reason).await;
    }

    async fn start_candidate(&self, core: &CoreInfo) -> Result<Candidate, StartError> {
        self.sup.start_candidate(core).await
    }

    fn candidate_pid(&self, cand: &Candidate) -> i32 {
        cand.pid()
    }

    async fn promote(&self, cand: Candidate, reason: &str) -> String {
        self.sup.promote(cand, reason).await
    }

    async fn discard(&self, cand: Candidate) {
        self.sup.discard(cand).await
    }

    fn log_tail(&self, bytes: usize) -> String {
        self.sup.tail().tail(bytes)
    }
}
