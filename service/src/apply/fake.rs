//! Owns the recording fake of [`Effects`] for the attempt's unit tests: no binary, no
//! core, no files. It is scripted by a builder (what fails, what Live holds) and records
//! every call, in order, as an [`Op`].

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use xp2p_core::coreproc::{CoreInfo, Flavour};
use xp2p_core::{ErrorCode, Role};
use xp2p_store::coreproc::TestOutcome;
use xp2p_store::journal::{Outcome, Phase, Record};
use xp2p_store::live::Slot;
use xp2p_store::markers::ErrorEntry;

use super::effects::{CompiledRole, Effects, Undo};
use super::error::ApplyError;
use crate::events::{ApplyResult, Event};
use crate::supervisor::StartError;

/// The sha256 the fake compiler's config has.
pub const NEW_SHA: &str = "new-sha";
/// Live's and LKG's config hashes before the attempt (unless `live_equals_compiled`).
pub const OLD_SHA: &str = "old-sha";
pub const LKG_SHA: &str = "lkg-sha";
/// The candidate core's pid.
pub const CANDIDATE_PID: i32 = 4242;

/// One call of an effect.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    Journal(Phase, Option<Outcome>),
    Crash(String),
    /// An event, by kind (`apply.phase` with its phase: `apply.phase committed_live`).
    Emit(String),
    Lock,
    Compile,
    DesiredDigest,
    WriteCandidate,
    Test,
    Seal,
    RemoveStage,
    RewriteRuntime,
    Commit,
    Exchange,
    Recover,
    Undo(Undo),
    SetError(ErrorCode, Phase),
    Succeed,
    LiveCore,
    StopActive,
    Start,
    Promote,
    Discard,
    Publish(String),
}

#[derive(Default)]
enum Test {
    #[default]
    Passes,
    Refuses(String),
    CannotRun,
}

/// The scripted fake; `ops()` is what happened, `records()` what was journaled.
#[derive(Default)]
pub struct FakeFx {
    ops: Mutex<Vec<Op>>,
    records: Mutex<Vec<Record>>,
    lock_held: bool,
    compile_err: Mutex<Option<ApplyError>>,
    desired_moves: bool,
    test: Test,
    no_validate: bool,
    core_owns_tun: bool,
    write_fails: bool,
    seal_fails: bool,
    journal_fails_at: Option<Phase>,
    journal_failed: Mutex<bool>,
    commit_fails: bool,
    exchange_fails: bool,
    start_fails: Option<StartError>,
    live_core_fails: Option<StartError>,
    undo_fails: bool,
    no_old_core: bool,
    live_equals_compiled: bool,
    no_lkg: bool,
    stopping: bool,
}

impl FakeFx {
    pub fn new() -> FakeFx {
        FakeFx::default()
    }
    pub fn lock_held(mut self) -> Self {
        self.lock_held = true;
        self
    }
    pub fn compile_err(self, e: ApplyError) -> Self {
        *self.compile_err.lock().unwrap() = Some(e);
        self
    }
    pub fn desired_moves(mut self) -> Self {
        self.desired_moves = true;
        self
    }
    pub fn test_refuses(mut self, message: &str) -> Self {
        self.test = Test::Refuses(message.into());
        self
    }
    pub fn test_cannot_run(mut self) -> Self {
        self.test = Test::CannotRun;
        self
    }
    pub fn no_validate(mut self) -> Self {
        self.no_validate = true;
        self
    }
    pub fn core_owns_tun(mut self) -> Self {
        self.core_owns_tun = true;
        self
    }
    pub fn write_fails(mut self) -> Self {
        self.write_fails = true;
        self
    }
    pub fn seal_fails(mut self) -> Self {
        self.seal_fails = true;
        self
    }
    /// The first record of `phase` fails as a full disk would (once).
    pub fn journal_fails_at(mut self, phase: Phase) -> Self {
        self.journal_fails_at = Some(phase);
        self
    }
    pub fn commit_fails(mut self) -> Self {
        self.commit_fails = true;
        self
    }
    pub fn exchange_fails(mut self) -> Self {
        self.exchange_fails = true;
        self
    }
    pub fn start_fails(mut self, code: ErrorCode, message: &str) -> Self {
        self.start_fails = Some(StartError {
            code,
            message: message.into(),
        });
        self
    }
    pub fn live_core_fails(mut self, code: ErrorCode, message: &str) -> Self {
        self.live_core_fails = Some(StartError {
            code,
            message: message.into(),
        });
        self
    }
    pub fn undo_fails(mut self) -> Self {
        self.undo_fails = true;
        self
    }
    pub fn no_old_core(mut self) -> Self {
        self.no_old_core = true;
        self
    }
    pub fn live_equals_compiled(mut self) -> Self {
        self.live_equals_compiled = true;
        self
    }
    pub fn no_lkg(mut self) -> Self {
        self.no_lkg = true;
        self
    }
    pub fn stopping(mut self) -> Self {
        self.stopping = true;
        self
    }

    pub fn ops(&self) -> Vec<Op> {
        self.ops.lock().unwrap().clone()
    }
    pub fn records(&self) -> Vec<Record> {
        self.records.lock().unwrap().clone()
    }
    /// Where `op` happened first (panics if it did not: tests use it for order).
    pub fn pos(&self, op: &Op) -> usize {
        let ops = self.ops();
        ops.iter()
            .position(|o| o == op)
            .unwrap_or_else(|| panic!("{op:?} did not happen: {ops:?}"))
    }
    pub fn has(&self, op: &Op) -> bool {
        self.ops().contains(op)
    }

    fn op(&self, op: Op) {
        self.ops.lock().unwrap().push(op);
    }

    pub fn core() -> CoreInfo {
        CoreInfo {
            path: PathBuf::from("/usr/bin/v2ray"),
            flavour: Flavour::V2ray,
            version: "5.0.0".into(),
        }
    }
}

fn event_name(ev: &Event) -> String {
    match ev {
        Event::ApplyStart { .. } => "apply.start".into(),
        Event::ApplyPhase { phase, .. } => format!("apply.phase {phase}"),
        Event::DesiredChanged { .. } => "desired.changed".into(),
        other => format!("{other:?}"),
    }
}

impl Effects for FakeFx {
    type Lock = ();
    type Candidate = i32;

    fn role(&self) -> Role {
        Role::Server
    }

    fn now(&self) -> Instant {
        Instant::now()
    }

    fn timestamp(&self) -> String {
        "2026-01-01T00:00:00Z".into()
    }

    fn emit(&self, ev: Event) {
        self.op(Op::Emit(event_name(&ev)));
    }

    fn stopping(&self) -> bool {
        self.stopping
    }

    async fn publish_done(&self, result: &mut ApplyResult) {
        self.op(Op::Publish(result.status.to_string()));
    }

    async fn journal(&self, rec: Record) -> Result<(), String> {
        self.op(Op::Journal(rec.phase, rec.outcome));
        let mut failed = self.journal_failed.lock().unwrap();
        if self.journal_fails_at == Some(rec.phase) && !*failed {
            *failed = true;
            return Err("journal: No space left on device (os error 28)".into());
        }
        self.records.lock().unwrap().push(rec);
        Ok(())
    }

    fn crash_point(&self, point: &str) {
        self.op(Op::Crash(point.into()));
    }

    async fn lock_role(&self) -> Result<(), ApplyError> {
        self.op(Op::Lock);
        if self.lock_held {
            return Err(ApplyError::LeaseHeld(
                "server.lock is held by pid 77 (xp2p)".into(),
            ));
        }
        Ok(())
    }

    async fn compile(&self, _request_id: &str) -> Result<CompiledRole, ApplyError> {
        self.op(Op::Compile);
        if let Some(e) = self.compile_err.lock().unwrap().take() {
            return Err(e);
        }
        Ok(CompiledRole {
            digest: "digest-1".into(),
            core: FakeFx::core(),
            xray_json: b"{\"inbounds\":[]}".to_vec(),
            runtime_json: b"{}".to_vec(),
            config_sha256: NEW_SHA.into(),
            validate: !self.no_validate,
            core_owns_tun: self.core_owns_tun,
        })
    }

    async fn desired_digest(&self) -> Result<String, String> {
        self.op(Op::DesiredDigest);
        Ok(if self.desired_moves {
            "digest-2".into()
        } else {
            "digest-1".into()
        })
    }

    fn stage_dir(&self, attempt_id: &str) -> PathBuf {
        PathBuf::from(format!("/staging/server-{attempt_id}"))
    }

    fn restore_scratch(&self, attempt_id: &str) -> PathBuf {
        PathBuf::from(format!("/staging/server-{attempt_id}-restore"))
    }

    async fn write_candidate(&self, dir: &Path, _xray: &[u8]) -> Result<(), ApplyError> {
        self.op(Op::WriteCandidate);
        if self.write_fails {
            return Err(ApplyError::Stage {
                path: dir.to_path_buf(),
                source: std::io::Error::from_raw_os_error(28),
            });
        }
        Ok(())
    }

    async fn test_config(&self, core: &CoreInfo, _file: &Path) -> Result<TestOutcome, ApplyError> {
        self.op(Op::Test);
        match &self.test {
            Test::Passes => Ok(TestOutcome::Ok),
            Test::Refuses(m) => Ok(TestOutcome::Refused {
                exit_code: Some(23),
                message: m.clone(),
            }),
            Test::CannotRun => Err(ApplyError::CoreNotRunnable {
                path: core.path.clone(),
                source: std::io::Error::from_raw_os_error(2),
            }),
        }
    }

    async fn seal_stage(&self, dir: &Path, _runtime: &[u8]) -> Result<(), ApplyError> {
        self.op(Op::Seal);
        if self.seal_fails {
            return Err(ApplyError::Stage {
                path: dir.to_path_buf(),
                source: std::io::Error::from_raw_os_error(5),
            });
        }
        Ok(())
    }

    async fn remove_dir(&self, _dir: &Path) {
        self.op(Op::RemoveStage);
    }

    async fn live_sha(&self, slot: Slot) -> Option<String> {
        Some(match slot {
            Slot::Live if self.live_equals_compiled => NEW_SHA.into(),
            Slot::Live => OLD_SHA.into(),
            Slot::Lkg => LKG_SHA.into(),
        })
    }

    fn has_lkg_and_live(&self) -> bool {
        !self.no_lkg
    }

    async fn rewrite_live_runtime(&self, _runtime: &[u8]) {
        self.op(Op::RewriteRuntime);
    }

    async fn commit(&self, _staged: &Path) -> Result<bool, String> {
        self.op(Op::Commit);
        if self.commit_fails {
            return Err("rename live.new -> live: Input/output error".into());
        }
        Ok(true)
    }

    async fn exchange(&self) -> Result<(), String> {
        self.op(Op::Exchange);
        if self.exchange_fails {
            return Err("rename lkg -> live: Input/output error".into());
        }
        Ok(())
    }

    async fn recover(&self) {
        self.op(Op::Recover);
    }

    async fn undo(&self, undo: Undo, _scratch: &Path) -> Result<(), String> {
        self.op(Op::Undo(undo));
        if self.undo_fails {
            return Err("copy lkg -> live: No space left on device".into());
        }
        Ok(())
    }

    async fn set_error(&self, entry: ErrorEntry) {
        self.op(Op::SetError(entry.code, entry.phase));
    }

    async fn succeed(&self, _request_id: &str) {
        self.op(Op::Succeed);
    }

    fn live_core(&self) -> Result<CoreInfo, StartError> {
        self.op(Op::LiveCore);
        match &self.live_core_fails {
            Some(e) => Err(e.clone()),
            None => Ok(FakeFx::core()),
        }
    }

    async fn core_running(&self) -> bool {
        !self.no_old_core
    }

    async fn stop_active(&self, _reason: &str) {
        self.op(Op::StopActive);
    }

    async fn start_candidate(&self, _core: &CoreInfo) -> Result<i32, StartError> {
        self.op(Op::Start);
        match &self.start_fails {
            Some(e) => Err(e.clone()),
            None => Ok(CANDIDATE_PID),
        }
    }

    fn candidate_pid(&self, cand: &i32) -> i32 {
        *cand
    }

    async fn promote(&self, _cand: i32, _reason: &str) -> String {
        self.op(Op::Promote);
        String::new()
    }

    async fn discard(&self, _cand: i32) {
        self.op(Op::Discard);
    }

    fn log_tail(&self, _bytes: usize) -> String {
        "core log".into()
    }
}
