//! Owns one apply attempt, rollback or restart as a sequence of phase functions over
//! [`Effects`]. Each phase does its work, then journals its record (fsynced) before the
//! next phase's side effect; each returns the next phase's input or an [`End`]. One
//! function ([`finish`]) turns every end into the terminal record, the apply markers and
//! the result. The journal order is the order of the work: `validated` is journaled after
//! the candidate is written and tested, `staged` after it is sealed; the commit point
//! (`committed_live`) is one function for an apply and a rollback, with its event and its
//! crash point.

use std::path::{Path, PathBuf};
use std::time::Instant;

use xp2p_core::ErrorCode;
use xp2p_core::coreproc::CoreInfo;
use xp2p_store::coreproc::TestOutcome;
use xp2p_store::journal::{Outcome, Phase, Record, RecordError};
use xp2p_store::live::{Slot, XRAY_JSON};
use xp2p_store::markers::{ErrorEntry, RequestEntry};

use super::effects::{CompiledRole, Effects, Undo};
use super::error::{ApplyError, Failure, retryable};
use crate::events::{ApplyResult, Event, PhaseTiming};

/// How much of the core's log a result carries.
const LOG_TAIL_BYTES: usize = 6 * 1024;

/// One attempt in progress: its ids, its clock and the phases it went through.
#[derive(Debug)]
pub struct Attempt {
    pub id: String,
    pub request_id: String,
    pub started: Instant,
    pub last: Instant,
    pub phases: Vec<PhaseTiming>,
    pub desired_digest: Option<String>,
}

impl Attempt {
    pub fn new(id: String, request_id: String, now: Instant) -> Attempt {
        Attempt {
            id,
            request_id,
            started: now,
            last: now,
            phases: Vec::new(),
            desired_digest: None,
        }
    }

    fn record<F: Effects>(&self, fx: &F, phase: Phase) -> Record {
        let mut r = Record::new(&self.id, fx.role(), &self.request_id, phase);
        r.desired_digest = self.desired_digest.clone();
        r
    }

    fn elapsed_ms<F: Effects>(&self, fx: &F) -> u64 {
        fx.now().duration_since(self.started).as_millis() as u64
    }
}

/// How an attempt ends; [`finish`] writes its terminal record and builds its result.
#[derive(Debug)]
pub enum End {
    /// Stopped before the commit point. `mark_error`: apply.error names the request, so
    /// it is not retried (not for a rollback's refusals or a restart, as before).
    Failed { f: Failure, mark_error: bool },
    /// Desired moved during the compile: a new attempt follows.
    Superseded(Failure),
    /// The service stops before the commit point.
    Interrupted(Failure),
    /// Live already runs this config.
    Noop,
    /// Failed after the commit point: Live is undone as `undo` says.
    AfterCommit { undo: Undo, f: Failure },
    /// The new core runs Live. `journal_error`: the `done` record is lost.
    Committed {
        journal_error: Option<String>,
        changed: bool,
        clears_error: bool,
    },
}

fn failed(phase: Phase, e: ApplyError) -> End {
    End::Failed {
        f: Failure::at(phase, e),
        mark_error: true,
    }
}

fn marked(f: Failure) -> End {
    End::Failed {
        f,
        mark_error: true,
    }
}

/// Journals `rec` (fsynced) before its step, then notes its timing, passes its crash
/// point and sends `apply.phase`. A failed write stops the attempt there: the step
/// must not happen without its record.
async fn record_with<F: Effects>(fx: &F, a: &mut Attempt, rec: Record) -> Result<(), Failure> {
    let phase = rec.phase;
    let now = fx.now();
    fx.journal(rec)
        .await
        .map_err(|message| Failure::at(phase, ApplyError::Journal { phase, message }))?;
    a.phases.push(PhaseTiming {
        phase,
        ms: now.duration_since(a.last).as_millis() as u64,
    });
    a.last = now;
    fx.crash_point(phase.as_str());
    fx.emit(Event::ApplyPhase {
        role: fx.role(),
        attempt_id: a.id.clone(),
        phase,
        at: fx.timestamp(),
    });
    Ok(())
}

async fn record<F: Effects>(
    fx: &F,
    a: &mut Attempt,
    phase: Phase,
    detail: Option<String>,
) -> Result<(), Failure> {
    let mut rec = a.record(fx, phase);
    rec.detail = detail;
    record_with(fx, a, rec).await
}

/// `received`, then the role lock (held while Desired is read and Live swapped).
async fn received<F: Effects>(
    fx: &F,
    a: &mut Attempt,
    detail: Option<String>,
) -> Result<F::Lock, End> {
    record(fx, a, Phase::Received, detail)
        .await
        .map_err(marked)?;
    fx.lock_role().await.map_err(|e| failed(Phase::Received, e))
}

/// Compiles Desired, journals `compiled`, and checks that Desired did not move meanwhile
/// (the artifacts of a Desired set that moved are never published).
async fn compiled<F: Effects>(
    fx: &F,
    a: &mut Attempt,
    request_id: &str,
) -> Result<CompiledRole, End> {
    let c = fx
        .compile(request_id)
        .await
        .map_err(|e| failed(Phase::Compiled, e))?;
    a.desired_digest = Some(c.digest.clone());
    record(fx, a, Phase::Compiled, None).await.map_err(marked)?;
    match fx.desired_digest().await {
        Ok(d) if d == c.digest => Ok(c),
        _ => {
            fx.emit(Event::DesiredChanged {
                role: fx.role(),
                digest: c.digest.clone(),
            });
            Err(End::Superseded(Failure::at(
                Phase::Compiled,
                ApplyError::Superseded,
            )))
        }
    }
}

/// Writes the candidate xray.json into the staging directory, runs the core's `-test`
/// on it (`[core] validate`), then journals `validated`. Returns the staging directory.
async fn validated<F: Effects>(fx: &F, a: &mut Attempt, c: &CompiledRole) -> Result<PathBuf, End> {
    let dir = fx.stage_dir(&a.id);
    let res = match fx.write_candidate(&dir, &c.xray_json).await {
        Err(e) => Err(failed(Phase::Validated, e)),
        Ok(()) if !c.validate => Ok(()),
        Ok(()) => match fx.test_config(&c.core, &dir.join(XRAY_JSON)).await {
            Ok(TestOutcome::Ok) => Ok(()),
            Ok(TestOutcome::Refused { exit_code, message }) => Err(failed(
                Phase::Validated,
                ApplyError::ConfigTest {
                    flavour: c.core.flavour,
                    how: exit_code.map_or("timeout".into(), |c| format!("exit {c}")),
                    message,
                },
            )),
            Err(e) => Err(failed(Phase::Validated, e)),
        },
    };
    let res = match res {
        Ok(()) => record(fx, a, Phase::Validated, None).await.map_err(marked),
        Err(e) => Err(e),
    };
    match res {
        Ok(()) => Ok(dir),
        Err(e) => {
            fx.remove_dir(&dir).await;
            Err(e)
        }
    }
}

/// Seals the stage (runtime.json, the directory and its parent synced), then journals
/// `staged`.
async fn staged<F: Effects>(
    fx: &F,
    a: &mut Attempt,
    c: &CompiledRole,
    dir: &Path,
) -> Result<(), End> {
    let res = match fx.seal_stage(dir, &c.runtime_json).await {
        Ok(()) => record(fx, a, Phase::Staged, None).await.map_err(marked),
        Err(e) => Err(failed(Phase::Staged, e)),
    };
    if res.is_err() {
        fx.remove_dir(dir).await;
    }
    res
}

/// Live already runs exactly this config and a core runs it: Live's runtime.json is
/// refreshed and the stage goes.
async fn noop<F: Effects>(
    fx: &F,
    c: &CompiledRole,
    dir: &Path,
    live_sha: Option<&str>,
    has_core: bool,
) -> Option<End> {
    if live_sha != Some(c.config_sha256.as_str()) || !has_core {
        return None;
    }
    fx.rewrite_live_runtime(&c.runtime_json).await;
    fx.remove_dir(dir).await;
    Some(End::Noop)
}

/// A stopping service does not cross the commit point.
async fn not_stopping<F: Effects>(fx: &F, dir: &Path) -> Result<(), End> {
    if !fx.stopping() {
        return Ok(());
    }
    fx.remove_dir(dir).await;
    Err(End::Interrupted(Failure::at(
        Phase::Staged,
        ApplyError::Stopping,
    )))
}

/// The commit point, for an apply and a rollback alike: `committed_live` with the
/// config hashes Live and LKG will have, journaled before the swap, with its crash
/// point and its event.
async fn commit_point<F: Effects>(
    fx: &F,
    a: &mut Attempt,
    live: Option<String>,
    lkg: Option<String>,
    mark_error: bool,
) -> Result<(), End> {
    let mut rec = a.record(fx, Phase::CommittedLive);
    rec.live_sha256 = live;
    rec.lkg_sha256 = lkg;
    record_with(fx, a, rec)
        .await
        .map_err(|f| End::Failed { f, mark_error })
}

/// The Live swap; a failed swap is recovered (Live as before) and the stage goes.
async fn committed_live<F: Effects>(fx: &F, dir: &Path) -> Result<bool, End> {
    match fx.commit(dir).await {
        Ok(had_live) => Ok(had_live),
        Err(e) => {
            fx.recover().await;
            fx.remove_dir(dir).await;
            Err(failed(Phase::CommittedLive, ApplyError::Swap(e)))
        }
    }
}

/// A rollback's Live/LKG exchange; a failed one is recovered.
async fn exchanged<F: Effects>(fx: &F) -> Result<(), End> {
    match fx.exchange().await {
        Ok(()) => Ok(()),
        Err(e) => {
            fx.recover().await;
            Err(End::Failed {
                f: Failure::at(Phase::CommittedLive, ApplyError::Exchange(e)),
                mark_error: false,
            })
        }
    }
}

/// After the commit point (or for a restart): start the new core beside the old one,
/// wait until it is ready, promote it, journal `done`. A failure undoes the Live change
/// (in [`finish`]).
async fn launched<F: Effects>(
    fx: &F,
    a: &mut Attempt,
    core: &CoreInfo,
    stop_first: bool,
    undo: Undo,
    clears_error: bool,
) -> End {
    let mut detail = None;
    if stop_first {
        fx.stop_active("fallback_stop_then_start").await;
        detail = Some(
            "fallback: stop-then-start (the core owns the TUN device, ports cannot be shared)"
                .to_string(),
        );
    }
    if let Err(f) = record(fx, a, Phase::Started, detail).await {
        return End::AfterCommit { undo, f };
    }
    let cand = match fx.start_candidate(core).await {
        Ok(c) => c,
        Err(e) => {
            return End::AfterCommit {
                undo,
                f: Failure::at(Phase::Started, ApplyError::Start(e)),
            };
        }
    };
    let pid = fx.candidate_pid(&cand);
    if let Err(f) = record(fx, a, Phase::Healthy, Some(format!("new core pid {pid}"))).await {
        fx.discard(cand).await;
        return End::AfterCommit { undo, f };
    }
    let note = fx.promote(cand, "apply_committed").await;
    let now = fx.now();
    a.phases.push(PhaseTiming {
        phase: Phase::Done,
        ms: now.duration_since(a.last).as_millis() as u64,
    });
    let mut done = a.record(fx, Phase::Done);
    done.detail = (!note.is_empty()).then_some(note);
    done.outcome = Some(Outcome::Committed);
    done.duration_ms = Some(a.elapsed_ms(fx));
    done.live_sha256 = fx.live_sha(Slot::Live).await;
    // The change has happened: a lost `done` record is reported, not undone (start-up
    // closes the attempt as interrupted, naming what it found).
    let journal_error = fx.journal(done).await.err().map(|e| {
        tracing::error!(role = %fx.role(), "the apply committed, but its done record is lost: {e}");
        format!("committed, but the done record is lost: {e}")
    });
    fx.crash_point(Phase::Done.as_str());
    End::Committed {
        journal_error,
        changed: undo != Undo::Nothing,
        clears_error,
    }
}

/// After the commit point: Live back to what it was (the old core never stopped).
/// Returns the outcome, the failure as reported and whether Live stayed changed.
async fn roll_back<F: Effects>(
    fx: &F,
    a: &Attempt,
    undo: Undo,
    f: Failure,
) -> (Outcome, Failure, bool) {
    let restored = match undo {
        Undo::Nothing => Ok(()),
        _ => fx.undo(undo, &fx.restore_scratch(&a.id)).await,
    };
    let old_core = fx.core_running().await;
    let live_changed = restored.is_err();
    let (outcome, failure) = match (undo, restored) {
        (Undo::Nothing, _) => (Outcome::Failed, f),
        (_, Ok(())) if old_core => (Outcome::RolledBack, f),
        (_, Err(why)) => (
            Outcome::FailedAfterCommit,
            Failure {
                code: ErrorCode::RollbackFailed,
                message: format!("{}; restoring Live failed: {why}", f.message),
                phase: f.phase,
            },
        ),
        (_, Ok(())) => (
            Outcome::FailedAfterCommit,
            Failure {
                message: format!("{} (no previous core was running)", f.message),
                ..f
            },
        ),
    };
    fx.set_error(error_entry(fx, a, &failure)).await;
    tracing::warn!(role = %fx.role(), "{} after commit: {}", outcome.as_str(), failure.message);
    (outcome, failure, live_changed)
}

fn error_entry<F: Effects>(fx: &F, a: &Attempt, f: &Failure) -> ErrorEntry {
    ErrorEntry {
        request_id: a.request_id.clone(),
        attempt_id: a.id.clone(),
        code: f.code,
        phase: f.phase,
        reason: f.message.clone(),
        timestamp: fx.timestamp(),
    }
}

/// Writes the one terminal record (a failure to write it is logged: it stops nothing).
async fn terminal<F: Effects>(
    fx: &F,
    a: &Attempt,
    outcome: Outcome,
    phase: Phase,
    failure: Option<&Failure>,
    live_changed: bool,
) {
    let mut r = a.record(fx, phase);
    r.outcome = Some(outcome);
    r.duration_ms = Some(a.elapsed_ms(fx));
    r.error = failure.map(|f| RecordError {
        code: f.code,
        message: f.message.clone(),
        phase: f.phase,
        retryable: retryable(f.code),
        live_changed,
    });
    if let Err(e) = fx.journal(r).await {
        tracing::error!("journal append failed: {e}");
    }
}

fn result<F: Effects>(
    fx: &F,
    a: &Attempt,
    outcome: Outcome,
    failure: Option<&Failure>,
    changed: bool,
    error_summary: Option<String>,
) -> ApplyResult {
    let mut log_tail = fx.log_tail(LOG_TAIL_BYTES);
    if let Some(f) = failure {
        log_tail.push_str(&format!(
            "\nxp2p: {} failed at {}: {}",
            fx.role(),
            f.phase,
            f.message
        ));
    }
    ApplyResult {
        role: fx.role(),
        request_id: a.request_id.clone(),
        attempt_id: a.id.clone(),
        status: outcome.as_str().into(),
        changed,
        duration_ms: a.elapsed_ms(fx),
        exit_code: outcome.exit_code(),
        error_code: failure.map(|f| f.code.as_str().to_string()),
        error_summary: failure.map(|f| f.message.clone()).or(error_summary),
        log_tail,
        phases: a.phases.clone(),
        tun: None,
    }
}

/// The end of every attempt: apply.error or its clearing, the terminal record, the
/// result, and `apply.done` (after the OS state settled).
pub async fn finish<F: Effects>(fx: &F, a: &mut Attempt, end: End) -> ApplyResult {
    let mut res = match end {
        End::Failed { f, mark_error } => {
            if mark_error {
                fx.set_error(error_entry(fx, a, &f)).await;
                tracing::warn!(role = %fx.role(), code = %f.code, "apply failed at {}: {}", f.phase, f.message);
            }
            terminal(fx, a, Outcome::Failed, f.phase, Some(&f), false).await;
            result(fx, a, Outcome::Failed, Some(&f), false, None)
        }
        End::Superseded(f) => {
            terminal(fx, a, Outcome::Superseded, f.phase, Some(&f), false).await;
            result(fx, a, Outcome::Superseded, Some(&f), false, None)
        }
        End::Interrupted(f) => {
            let outcome = Outcome::Interrupted;
            terminal(fx, a, outcome, f.phase, Some(&f), false).await;
            result(fx, a, outcome, Some(&f), false, None)
        }
        End::Noop => {
            terminal(fx, a, Outcome::Noop, Phase::Done, None, false).await;
            fx.succeed(&a.request_id).await;
            result(fx, a, Outcome::Noop, None, false, None)
        }
        End::AfterCommit { undo, f } => {
            let (outcome, f, live_changed) = roll_back(fx, a, undo, f).await;
            terminal(fx, a, outcome, f.phase, Some(&f), live_changed).await;
            result(fx, a, outcome, Some(&f), false, None)
        }
        End::Committed {
            journal_error,
            changed,
            clears_error,
        } => {
            // After the terminal record: the request entry goes and the error clears.
            // A crash between the two leaves the request, which re-runs as a noop.
            if clears_error {
                fx.succeed(&a.request_id).await;
            }
            result(fx, a, Outcome::Committed, None, changed, journal_error)
        }
    };
    fx.publish_done(&mut res).await;
    res
}

async fn run_apply<F: Effects>(fx: &F, a: &mut Attempt, req: &RequestEntry) -> Result<End, End> {
    let lock = received(fx, a, None).await?;
    let c = compiled(fx, a, &req.id).await?;
    let dir = validated(fx, a, &c).await?;
    staged(fx, a, &c, &dir).await?;
    let live_sha = fx.live_sha(Slot::Live).await;
    let has_core = fx.core_running().await;
    if let Some(end) = noop(fx, &c, &dir, live_sha.as_deref(), has_core).await {
        return Ok(end);
    }
    not_stopping(fx, &dir).await?;
    if let Err(end) = commit_point(fx, a, Some(c.config_sha256.clone()), live_sha, true).await {
        // No commit record, no swap: Live stays as it is.
        fx.remove_dir(&dir).await;
        return Err(end);
    }
    let had_live = committed_live(fx, &dir).await?;
    drop(lock);
    let stop_first = c.core_owns_tun && has_core;
    Ok(launched(fx, a, &c.core, stop_first, Undo::Restore { had_live }, true).await)
}

/// One attempt for `req`: received → compiled → validated → staged → (noop) →
/// committed_live → started → healthy → done.
pub async fn apply<F: Effects>(fx: &F, mut a: Attempt, req: RequestEntry) -> ApplyResult {
    fx.emit(Event::ApplyStart {
        role: fx.role(),
        request_id: req.id.clone(),
        attempt_id: a.id.clone(),
    });
    let end = match run_apply(fx, &mut a, &req).await {
        Ok(end) | Err(end) => end,
    };
    finish(fx, &mut a, end).await
}

async fn run_rollback<F: Effects>(fx: &F, a: &mut Attempt) -> Result<End, End> {
    let lock = received(fx, a, Some("rollback: Live <-> LKG".into())).await?;
    if !fx.has_lkg_and_live() {
        return Err(End::Failed {
            f: Failure::at(Phase::Received, ApplyError::NoLkg(fx.role())),
            mark_error: false,
        });
    }
    let (lkg, live) = (fx.live_sha(Slot::Lkg).await, fx.live_sha(Slot::Live).await);
    commit_point(fx, a, lkg, live, false).await?;
    exchanged(fx).await?;
    drop(lock);
    let core = fx.live_core().map_err(|e| End::AfterCommit {
        undo: Undo::Exchange,
        f: Failure::at(Phase::Started, ApplyError::Start(e)),
    })?;
    Ok(launched(fx, a, &core, false, Undo::Exchange, false).await)
}

/// `xp2p rollback`: Live and LKG swap places through the same phases and journal.
pub async fn rollback<F: Effects>(fx: &F, a: Attempt) -> ApplyResult {
    manual(fx, a, Manual::Rollback).await
}

/// The manual attempts (no Desired involved).
#[derive(Debug, Clone, Copy)]
enum Manual {
    Rollback,
    Restart,
}

/// Announces a manual attempt, runs it and finishes it like any other.
async fn manual<F: Effects>(fx: &F, mut a: Attempt, kind: Manual) -> ApplyResult {
    fx.emit(Event::ApplyStart {
        role: fx.role(),
        request_id: a.request_id.clone(),
        attempt_id: a.id.clone(),
    });
    let run = match kind {
        Manual::Rollback => run_rollback(fx, &mut a).await,
        Manual::Restart => run_restart(fx, &mut a).await,
    };
    let end = match run {
        Ok(end) | Err(end) => end,
    };
    finish(fx, &mut a, end).await
}

async fn run_restart<F: Effects>(fx: &F, a: &mut Attempt) -> Result<End, End> {
    let unmarked = |f| End::Failed {
        f,
        mark_error: false,
    };
    record(fx, a, Phase::Received, Some("restart".into()))
        .await
        .map_err(unmarked)?;
    let core = fx
        .live_core()
        .map_err(|e| unmarked(Failure::at(Phase::Received, ApplyError::Start(e))))?;
    Ok(launched(fx, a, &core, false, Undo::Nothing, false).await)
}

/// `xp2p restart`: a staged replacement of the core with the same Live config.
pub async fn restart<F: Effects>(fx: &F, a: Attempt) -> ApplyResult {
    manual(fx, a, Manual::Restart).await
}

#[cfg(test)]
mod tests {
    use xp2p_core::{ConfigError, Problems, Role};

    use super::super::fake::{CANDIDATE_PID, FakeFx, LKG_SHA, NEW_SHA, OLD_SHA, Op};
    use super::*;

    fn attempt(request_id: &str) -> Attempt {
        Attempt::new("a1".into(), request_id.into(), Instant::now())
    }

    async fn run(fx: &FakeFx) -> ApplyResult {
        let req = RequestEntry {
            id: "r1".into(),
            role: Role::Server,
            timestamp: "2026-01-01T00:00:00Z".into(),
        };
        apply(fx, attempt("r1"), req).await
    }

    /// The terminal record (the last one journaled).
    fn terminal_of(fx: &FakeFx) -> Record {
        let records = fx.records();
        let last = records.last().expect("a terminal record").clone();
        assert!(
            last.outcome.is_some(),
            "last record is not terminal: {last:?}"
        );
        last
    }

    /// Asserts the outcome, the error code and the phase of the terminal record.
    fn ended(
        fx: &FakeFx,
        r: &ApplyResult,
        outcome: Outcome,
        code: Option<ErrorCode>,
        phase: Phase,
    ) {
        assert_eq!(r.status, outcome.as_str(), "{r:?}");
        assert_eq!(r.exit_code, outcome.exit_code());
        assert_eq!(
            r.error_code.as_deref(),
            code.map(ErrorCode::as_str),
            "{r:?}"
        );
        let t = terminal_of(fx);
        assert_eq!(t.outcome, Some(outcome));
        assert_eq!(t.phase, phase);
        assert_eq!(t.error.as_ref().map(|e| e.code), code);
        assert!(fx.has(&Op::Publish(outcome.as_str().into())));
    }

    fn no_step_after(fx: &FakeFx, phase: Phase) {
        assert!(
            !fx.has(&Op::Journal(phase, None)),
            "{phase} was journaled: {:?}",
            fx.ops()
        );
    }

    #[tokio::test]
    async fn success_journals_every_phase_in_the_order_of_the_work() {
        let fx = FakeFx::new();
        let r = run(&fx).await;
        ended(&fx, &r, Outcome::Committed, None, Phase::Done);
        assert!(r.changed && r.error_summary.is_none());
        let phases: Vec<Phase> = fx.records().iter().map(|r| r.phase).collect();
        assert_eq!(phases, Phase::ALL);
        let order = [
            Op::Journal(Phase::Received, None),
            Op::Lock,
            Op::Compile,
            Op::Journal(Phase::Compiled, None),
            Op::WriteCandidate,
            Op::Test,
            Op::Journal(Phase::Validated, None),
            Op::Seal,
            Op::Journal(Phase::Staged, None),
            Op::Journal(Phase::CommittedLive, None),
            Op::Crash("committed_live".into()),
            Op::Emit("apply.phase committed_live".into()),
            Op::Commit,
            Op::Journal(Phase::Started, None),
            Op::Start,
            Op::Journal(Phase::Healthy, None),
            Op::Promote,
            Op::Journal(Phase::Done, Some(Outcome::Committed)),
            Op::Crash("done".into()),
            Op::Succeed,
            Op::Publish("committed".into()),
        ];
        let at: Vec<usize> = order.iter().map(|o| fx.pos(o)).collect();
        assert!(at.is_sorted(), "{:?}", fx.ops());
        let commit = &fx.records()[4];
        assert_eq!(commit.live_sha256.as_deref(), Some(NEW_SHA));
        assert_eq!(commit.lkg_sha256.as_deref(), Some(OLD_SHA));
        let healthy = &fx.records()[6];
        assert_eq!(
            healthy.detail.as_deref(),
            Some(format!("new core pid {CANDIDATE_PID}").as_str())
        );
        assert!(!fx.ops().iter().any(|o| matches!(o, Op::SetError(..))));
        assert_eq!(
            r.phases.iter().map(|p| p.phase).collect::<Vec<_>>(),
            Phase::ALL
        );
    }

    #[tokio::test]
    async fn received_journal_full_stops_before_the_lock() {
        let fx = FakeFx::new().journal_fails_at(Phase::Received);
        let r = run(&fx).await;
        ended(
            &fx,
            &r,
            Outcome::Failed,
            Some(ErrorCode::StageIoFailed),
            Phase::Received,
        );
        assert!(!fx.has(&Op::Lock));
        assert!(fx.has(&Op::SetError(ErrorCode::StageIoFailed, Phase::Received)));
        assert!(
            r.error_summary
                .unwrap()
                .starts_with("cannot record phase received")
        );
    }

    #[tokio::test]
    async fn lease_held_is_retryable_and_marks_the_error() {
        let fx = FakeFx::new().lock_held();
        let r = run(&fx).await;
        ended(
            &fx,
            &r,
            Outcome::Failed,
            Some(ErrorCode::LeaseHeld),
            Phase::Received,
        );
        assert!(terminal_of(&fx).error.unwrap().retryable);
        assert!(fx.has(&Op::SetError(ErrorCode::LeaseHeld, Phase::Received)));
        assert!(!fx.has(&Op::Compile));
    }

    #[tokio::test]
    async fn compile_problems_fail_at_compiled() {
        let p = Problems::one(ConfigError::new(
            ErrorCode::InvalidToml,
            "server.toml",
            "server.port",
            "not a port",
        ));
        let code = p.code();
        let fx = FakeFx::new().compile_err(ApplyError::Desired(p));
        let r = run(&fx).await;
        ended(&fx, &r, Outcome::Failed, Some(code), Phase::Compiled);
        assert!(r.error_summary.unwrap().contains("server.port"));
        no_step_after(&fx, Phase::Compiled);
        assert!(!fx.has(&Op::WriteCandidate));
        assert!(fx.has(&Op::SetError(code, Phase::Compiled)));
    }

    #[tokio::test]
    async fn compiled_journal_full_writes_nothing() {
        let fx = FakeFx::new().journal_fails_at(Phase::Compiled);
        let r = run(&fx).await;
        ended(
            &fx,
            &r,
            Outcome::Failed,
            Some(ErrorCode::StageIoFailed),
            Phase::Compiled,
        );
        assert!(!fx.has(&Op::WriteCandidate) && !fx.has(&Op::DesiredDigest));
    }

    #[tokio::test]
    async fn desired_moving_during_the_compile_supersedes_without_an_error() {
        let fx = FakeFx::new().desired_moves();
        let r = run(&fx).await;
        ended(
            &fx,
            &r,
            Outcome::Superseded,
            Some(ErrorCode::Superseded),
            Phase::Compiled,
        );
        assert!(fx.has(&Op::Emit("desired.changed".into())));
        assert!(!fx.ops().iter().any(|o| matches!(o, Op::SetError(..))));
        assert!(!fx.has(&Op::WriteCandidate));
    }

    #[tokio::test]
    async fn test_refusal_fails_at_validated_and_removes_the_stage() {
        let fx = FakeFx::new().test_refuses("bad inbound");
        let r = run(&fx).await;
        ended(
            &fx,
            &r,
            Outcome::Failed,
            Some(ErrorCode::ConfigTestFailed),
            Phase::Validated,
        );
        assert_eq!(
            r.error_summary.as_deref(),
            Some("v2ray -test refused the config (exit 23): bad inbound")
        );
        no_step_after(&fx, Phase::Validated);
        assert!(fx.has(&Op::RemoveStage) && !fx.has(&Op::Seal));
        assert!(fx.has(&Op::SetError(ErrorCode::ConfigTestFailed, Phase::Validated)));
    }

    #[tokio::test]
    async fn a_core_that_cannot_run_its_test_is_core_not_found() {
        let fx = FakeFx::new().test_cannot_run();
        let r = run(&fx).await;
        ended(
            &fx,
            &r,
            Outcome::Failed,
            Some(ErrorCode::CoreNotFound),
            Phase::Validated,
        );
        assert!(
            r.error_summary
                .unwrap()
                .starts_with("cannot run /usr/bin/v2ray")
        );
        assert!(fx.has(&Op::RemoveStage));
        no_step_after(&fx, Phase::Validated);
    }

    #[tokio::test]
    async fn no_validate_skips_the_test() {
        let fx = FakeFx::new().no_validate();
        let r = run(&fx).await;
        ended(&fx, &r, Outcome::Committed, None, Phase::Done);
        assert!(!fx.has(&Op::Test));
    }

    #[tokio::test]
    async fn a_failed_candidate_write_fails_at_validated() {
        let fx = FakeFx::new().write_fails();
        let r = run(&fx).await;
        ended(
            &fx,
            &r,
            Outcome::Failed,
            Some(ErrorCode::StageIoFailed),
            Phase::Validated,
        );
        assert!(r.error_summary.unwrap().starts_with("/staging/server-a1: "));
        assert!(!fx.has(&Op::Test) && fx.has(&Op::RemoveStage));
        no_step_after(&fx, Phase::Validated);
    }

    #[tokio::test]
    async fn a_failed_seal_fails_at_staged() {
        let fx = FakeFx::new().seal_fails();
        let r = run(&fx).await;
        ended(
            &fx,
            &r,
            Outcome::Failed,
            Some(ErrorCode::StageIoFailed),
            Phase::Staged,
        );
        assert!(fx.has(&Op::Journal(Phase::Validated, None)));
        no_step_after(&fx, Phase::Staged);
        assert!(fx.has(&Op::RemoveStage) && !fx.has(&Op::Commit));
    }

    #[tokio::test]
    async fn validated_or_staged_journal_full_removes_the_stage() {
        for phase in [Phase::Validated, Phase::Staged] {
            let fx = FakeFx::new().journal_fails_at(phase);
            let r = run(&fx).await;
            ended(
                &fx,
                &r,
                Outcome::Failed,
                Some(ErrorCode::StageIoFailed),
                phase,
            );
            assert!(fx.has(&Op::RemoveStage) && !fx.has(&Op::Commit));
            assert!(fx.has(&Op::SetError(ErrorCode::StageIoFailed, phase)));
        }
    }

    #[tokio::test]
    async fn noop_refreshes_runtime_and_clears_the_request() {
        let fx = FakeFx::new().live_equals_compiled();
        let r = run(&fx).await;
        ended(&fx, &r, Outcome::Noop, None, Phase::Done);
        assert!(!r.changed);
        assert!(fx.has(&Op::RewriteRuntime) && fx.has(&Op::RemoveStage));
        assert!(fx.pos(&Op::Journal(Phase::Done, Some(Outcome::Noop))) < fx.pos(&Op::Succeed));
        no_step_after(&fx, Phase::CommittedLive);
        assert!(!fx.has(&Op::Commit) && !fx.has(&Op::Start));
    }

    #[tokio::test]
    async fn live_equal_without_a_running_core_is_not_a_noop() {
        let fx = FakeFx::new().live_equals_compiled().no_old_core();
        let r = run(&fx).await;
        ended(&fx, &r, Outcome::Committed, None, Phase::Done);
    }

    #[tokio::test]
    async fn stopping_interrupts_before_the_commit_point() {
        let fx = FakeFx::new().stopping();
        let r = run(&fx).await;
        ended(
            &fx,
            &r,
            Outcome::Interrupted,
            Some(ErrorCode::Internal),
            Phase::Staged,
        );
        no_step_after(&fx, Phase::CommittedLive);
        assert!(fx.has(&Op::RemoveStage));
        assert!(!fx.ops().iter().any(|o| matches!(o, Op::SetError(..))));
    }

    #[tokio::test]
    async fn committed_live_journal_full_swaps_nothing() {
        let fx = FakeFx::new().journal_fails_at(Phase::CommittedLive);
        let r = run(&fx).await;
        ended(
            &fx,
            &r,
            Outcome::Failed,
            Some(ErrorCode::CommitIoFailed),
            Phase::CommittedLive,
        );
        assert!(!fx.has(&Op::Commit));
        assert!(!fx.has(&Op::Crash("committed_live".into())));
        assert!(fx.has(&Op::RemoveStage));
        assert!(fx.has(&Op::SetError(
            ErrorCode::CommitIoFailed,
            Phase::CommittedLive
        )));
    }

    #[tokio::test]
    async fn a_failed_swap_is_recovered() {
        let fx = FakeFx::new().commit_fails();
        let r = run(&fx).await;
        ended(
            &fx,
            &r,
            Outcome::Failed,
            Some(ErrorCode::CommitIoFailed),
            Phase::CommittedLive,
        );
        assert!(r.error_summary.unwrap().starts_with("Live swap: "));
        assert!(fx.pos(&Op::Commit) < fx.pos(&Op::Recover));
        assert!(fx.has(&Op::RemoveStage) && !fx.has(&Op::Start));
    }

    #[tokio::test]
    async fn started_journal_full_rolls_back_before_starting() {
        let fx = FakeFx::new().journal_fails_at(Phase::Started);
        let r = run(&fx).await;
        ended(
            &fx,
            &r,
            Outcome::RolledBack,
            Some(ErrorCode::CommitIoFailed),
            Phase::Started,
        );
        assert!(!fx.has(&Op::Start));
        assert!(fx.has(&Op::Undo(Undo::Restore { had_live: true })));
        assert!(!terminal_of(&fx).error.unwrap().live_changed);
    }

    #[tokio::test]
    async fn a_core_that_does_not_start_rolls_back() {
        let fx = FakeFx::new().start_fails(ErrorCode::StartFailed, "v2ray exited with 23");
        let r = run(&fx).await;
        ended(
            &fx,
            &r,
            Outcome::RolledBack,
            Some(ErrorCode::StartFailed),
            Phase::Started,
        );
        assert_eq!(r.exit_code, 3);
        assert!(fx.pos(&Op::Start) < fx.pos(&Op::Undo(Undo::Restore { had_live: true })));
        assert!(!fx.has(&Op::Promote) && !fx.has(&Op::StopActive));
        assert!(fx.has(&Op::SetError(ErrorCode::StartFailed, Phase::Started)));
        assert!(terminal_of(&fx).error.unwrap().retryable);
    }

    #[tokio::test]
    async fn a_core_that_is_not_ready_rolls_back_and_the_old_core_is_untouched() {
        let fx = FakeFx::new().start_fails(
            ErrorCode::HealthCheckFailed,
            "the core did not listen on 0.0.0.0:443 within 10s",
        );
        let r = run(&fx).await;
        ended(
            &fx,
            &r,
            Outcome::RolledBack,
            Some(ErrorCode::HealthCheckFailed),
            Phase::Started,
        );
        assert!(!fx.has(&Op::StopActive) && !fx.has(&Op::Promote));
        no_step_after(&fx, Phase::Healthy);
        let t = terminal_of(&fx).error.unwrap();
        assert!(t.retryable && !t.live_changed);
        assert!(r.log_tail.ends_with("within 10s"), "{}", r.log_tail);
    }

    #[tokio::test]
    async fn healthy_journal_full_discards_the_candidate() {
        let fx = FakeFx::new().journal_fails_at(Phase::Healthy);
        let r = run(&fx).await;
        ended(
            &fx,
            &r,
            Outcome::RolledBack,
            Some(ErrorCode::CommitIoFailed),
            Phase::Healthy,
        );
        assert!(fx.has(&Op::Discard) && !fx.has(&Op::Promote));
        assert!(fx.pos(&Op::Discard) < fx.pos(&Op::Undo(Undo::Restore { had_live: true })));
    }

    #[tokio::test]
    async fn a_failed_restore_is_failed_after_commit() {
        let fx = FakeFx::new()
            .start_fails(ErrorCode::StartFailed, "v2ray exited with 23")
            .undo_fails();
        let r = run(&fx).await;
        ended(
            &fx,
            &r,
            Outcome::FailedAfterCommit,
            Some(ErrorCode::RollbackFailed),
            Phase::Started,
        );
        assert_eq!(r.exit_code, 4);
        assert!(
            r.error_summary
                .unwrap()
                .contains("; restoring Live failed: copy lkg -> live")
        );
        assert!(terminal_of(&fx).error.unwrap().live_changed);
        assert!(fx.has(&Op::SetError(ErrorCode::RollbackFailed, Phase::Started)));
    }

    #[tokio::test]
    async fn no_old_core_after_a_failed_start_is_failed_after_commit() {
        let fx = FakeFx::new()
            .start_fails(ErrorCode::StartFailed, "v2ray exited with 23")
            .no_old_core();
        let r = run(&fx).await;
        ended(
            &fx,
            &r,
            Outcome::FailedAfterCommit,
            Some(ErrorCode::StartFailed),
            Phase::Started,
        );
        assert_eq!(
            r.error_summary.as_deref(),
            Some("v2ray exited with 23 (no previous core was running)")
        );
        assert!(!terminal_of(&fx).error.unwrap().live_changed);
    }

    #[tokio::test]
    async fn a_lost_done_record_is_reported_not_undone() {
        let fx = FakeFx::new().journal_fails_at(Phase::Done);
        let r = run(&fx).await;
        assert_eq!(r.status, "committed");
        assert_eq!(r.exit_code, 0);
        assert!(
            r.error_summary
                .unwrap()
                .starts_with("committed, but the done record is lost")
        );
        assert!(fx.has(&Op::Succeed) && !fx.has(&Op::Undo(Undo::Restore { had_live: true })));
    }

    #[tokio::test]
    async fn a_core_owning_the_tun_stops_the_old_core_first() {
        let fx = FakeFx::new().core_owns_tun();
        let r = run(&fx).await;
        ended(&fx, &r, Outcome::Committed, None, Phase::Done);
        assert!(fx.pos(&Op::StopActive) < fx.pos(&Op::Journal(Phase::Started, None)));
        assert!(
            fx.records()[5]
                .detail
                .as_deref()
                .unwrap()
                .starts_with("fallback: ")
        );
    }

    async fn roll(fx: &FakeFx) -> ApplyResult {
        rollback(fx, attempt("rollback-1")).await
    }

    #[tokio::test]
    async fn rollback_goes_through_the_commit_point_with_its_event_and_crash_point() {
        let fx = FakeFx::new();
        let r = roll(&fx).await;
        ended(&fx, &r, Outcome::Committed, None, Phase::Done);
        assert!(r.changed);
        let order = [
            Op::Journal(Phase::Received, None),
            Op::Lock,
            Op::Journal(Phase::CommittedLive, None),
            Op::Crash("committed_live".into()),
            Op::Emit("apply.phase committed_live".into()),
            Op::Exchange,
            Op::LiveCore,
            Op::Journal(Phase::Started, None),
            Op::Start,
            Op::Promote,
        ];
        let at: Vec<usize> = order.iter().map(|o| fx.pos(o)).collect();
        assert!(at.is_sorted(), "{:?}", fx.ops());
        let commit = &fx.records()[1];
        assert_eq!(commit.live_sha256.as_deref(), Some(LKG_SHA));
        assert_eq!(commit.lkg_sha256.as_deref(), Some(OLD_SHA));
        assert_eq!(
            fx.records()[0].detail.as_deref(),
            Some("rollback: Live <-> LKG")
        );
        assert!(!fx.has(&Op::Succeed));
    }

    #[tokio::test]
    async fn rollback_received_failures_mark_the_error() {
        for fx in [
            FakeFx::new().journal_fails_at(Phase::Received),
            FakeFx::new().lock_held(),
        ] {
            let r = roll(&fx).await;
            assert_eq!(r.status, "failed");
            assert!(fx.ops().iter().any(|o| matches!(o, Op::SetError(..))));
            assert!(!fx.has(&Op::Exchange));
        }
    }

    #[tokio::test]
    async fn rollback_without_lkg_fails_without_an_error_marker() {
        let fx = FakeFx::new().no_lkg();
        let r = roll(&fx).await;
        ended(
            &fx,
            &r,
            Outcome::Failed,
            Some(ErrorCode::RollbackFailed),
            Phase::Received,
        );
        assert_eq!(
            r.error_summary.as_deref(),
            Some("the server role has no LKG to roll back to")
        );
        assert!(!fx.ops().iter().any(|o| matches!(o, Op::SetError(..))));
        assert!(!fx.has(&Op::Exchange));
    }

    #[tokio::test]
    async fn rollback_commit_record_failure_exchanges_nothing() {
        let fx = FakeFx::new().journal_fails_at(Phase::CommittedLive);
        let r = roll(&fx).await;
        ended(
            &fx,
            &r,
            Outcome::Failed,
            Some(ErrorCode::CommitIoFailed),
            Phase::CommittedLive,
        );
        assert!(!fx.has(&Op::Exchange));
        assert!(!fx.ops().iter().any(|o| matches!(o, Op::SetError(..))));
    }

    #[tokio::test]
    async fn rollback_exchange_failure_is_recovered() {
        let fx = FakeFx::new().exchange_fails();
        let r = roll(&fx).await;
        ended(
            &fx,
            &r,
            Outcome::Failed,
            Some(ErrorCode::CommitIoFailed),
            Phase::CommittedLive,
        );
        assert!(r.error_summary.unwrap().starts_with("Live/LKG exchange: "));
        assert!(fx.pos(&Op::Exchange) < fx.pos(&Op::Recover));
        assert!(!fx.has(&Op::Start));
    }

    #[tokio::test]
    async fn rollback_without_a_usable_core_exchanges_back() {
        let fx = FakeFx::new().live_core_fails(ErrorCode::CoreNotFound, "no core in runtime.json");
        let r = roll(&fx).await;
        ended(
            &fx,
            &r,
            Outcome::RolledBack,
            Some(ErrorCode::CoreNotFound),
            Phase::Started,
        );
        assert!(fx.has(&Op::Undo(Undo::Exchange)) && !fx.has(&Op::Start));
    }

    async fn restart_it(fx: &FakeFx) -> ApplyResult {
        restart(fx, attempt("restart-1")).await
    }

    #[tokio::test]
    async fn restart_replaces_the_core_on_the_same_live() {
        let fx = FakeFx::new();
        let r = restart_it(&fx).await;
        ended(&fx, &r, Outcome::Committed, None, Phase::Done);
        assert!(!r.changed);
        assert!(!fx.has(&Op::Lock) && !fx.has(&Op::Succeed));
        assert_eq!(fx.records()[0].detail.as_deref(), Some("restart"));
    }

    #[tokio::test]
    async fn restart_failures_before_the_start_leave_no_error_marker() {
        let fx = FakeFx::new().journal_fails_at(Phase::Received);
        let r = restart_it(&fx).await;
        ended(
            &fx,
            &r,
            Outcome::Failed,
            Some(ErrorCode::StageIoFailed),
            Phase::Received,
        );
        assert!(!fx.has(&Op::LiveCore));
        let fx = FakeFx::new().live_core_fails(ErrorCode::CoreNotFound, "no core");
        let r = restart_it(&fx).await;
        ended(
            &fx,
            &r,
            Outcome::Failed,
            Some(ErrorCode::CoreNotFound),
            Phase::Received,
        );
        assert!(!fx.ops().iter().any(|o| matches!(o, Op::SetError(..))));
    }

    #[tokio::test]
    async fn restart_start_failure_fails_and_marks_the_error() {
        let fx = FakeFx::new().start_fails(ErrorCode::StartFailed, "v2ray exited with 23");
        let r = restart_it(&fx).await;
        ended(
            &fx,
            &r,
            Outcome::Failed,
            Some(ErrorCode::StartFailed),
            Phase::Started,
        );
        assert!(fx.has(&Op::SetError(ErrorCode::StartFailed, Phase::Started)));
        assert!(!fx.ops().iter().any(|o| matches!(o, Op::Undo(_))));
    }
}
