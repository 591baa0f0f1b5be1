//! Owns the apply runner's queue policy for one role, as a pure state machine: what runs
//! next, and how every announced request id gets resolved.
//!
//! Depends on: `xp2p_store::markers::RequestEntry`, `crate::events::ApplyResult`
//! (reads `request_id`, `status`, `exit_code`) and `super::RunnerCmd` (the `From` impl).
//! The tests also use `xp2p_core::Role` and `xp2p_store::journal::Outcome`.
//!
//! This is today's `Runner::run` (service/src/apply.rs) with the I/O taken out. The shell
//! reads apply.request and apply.error, feeds [`Input`]s, and carries out the [`Command`]s
//! in order. After every input it starts a new turn with [`Input::Observe`]. It waits for
//! shutdown only while [`Queue::idle`] is true. It stops when the poke channel closes, and
//! then awaits the running task. What the loop does, step by step:
//!
//! A turn ([`Input::Observe`]: apply.request's entry for the role, apply.error's request
//! id for the role, the shutdown flag):
//! 1. **Refresh the queued slot** from apply.request (the file is the source of truth).
//!    The entry is the running request: nothing is queued. An entry whose id differs from
//!    the queued one **supersedes** that request: it is journaled as superseded, cancelled
//!    towards the new id, and dropped from the announced ids. Then the entry is queued.
//!    No entry: nothing is queued. (A queued request dropped because the file now names
//!    the running id, or because the entry is gone, is not superseded here. Step 2
//!    resolves it if someone announced it.)
//! 2. **Resolve announced ids.** An id stays pending while it is the entry's id, the
//!    running id or the queued id. Otherwise it is resolved, in announce order:
//!    - an id whose result is among the last 32 results: that result is **republished**
//!      (`apply.done` again; the oldest match if an id ran more than once);
//!    - else, if there is a request that replaced it (the entry's id, else the running id,
//!      else the last started id): the id is **superseded** by it, and that request's
//!      result is republished if it is among the last 32;
//!    - else it is dropped silently (nothing ran and nothing is queued).
//! 3. **Manual work first.** Nothing runs and no shutdown: the oldest queued rollback or
//!    restart starts.
//! 4. **Then the queued request.** Nothing runs: the queued request is taken (it is dropped
//!    whatever happens next). A request that **failed before** (apply.error names it, or it
//!    was the last failed result in memory: a full disk must not become a retry loop) is
//!    **skipped**, and the skip is logged once per id. Otherwise, unless shutting down, it
//!    **starts**. Its id leaves the announced list and becomes the last started id.
//!
//! Between turns:
//! - [`Input::Announce`]: a result among the last 32 is republished at once. Otherwise the
//!   id is remembered once (duplicates are ignored).
//! - [`Input::Rollback`] / [`Input::Restart`]: queued behind any earlier manual work (FIFO).
//! - [`Input::Poke`]: nothing; the next turn re-reads the files.
//! - [`Input::Finished`]: nothing runs any more. A result that is not `superseded` is kept
//!   (the last 32). If its exit code is not 0, its request id becomes the in-memory
//!   "failed before" id. A task that panicked or was cancelled (`None`) records nothing.
//!
//! The one deliberate difference from today: the turn reads apply.request once, where today
//! it reads the file again for the "current id" of step 2. A change between those two reads
//! is seen on the next turn, because the watcher pokes.

use std::collections::VecDeque;

use xp2p_store::markers::RequestEntry;

use super::RunnerCmd;
use crate::events::ApplyResult;

/// Results kept for announcers that come after the attempt finished.
pub const RECENT: usize = 32;

/// What the runner's shell feeds the queue.
// Each value lives for one turn; boxing the result would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Input {
    /// The top of a turn. `request`: apply.request's entry for the role. `error_request_id`:
    /// apply.error's request id for the role. Only used when [`Queue::idle`], so the shell may
    /// pass `None` otherwise. `stopping`: the service is shutting down.
    Observe {
        request: Option<RequestEntry>,
        error_request_id: Option<String>,
        stopping: bool,
    },
    /// apply.request changed, or may have.
    Poke,
    /// A client waits for this request id.
    Announce(String),
    /// Swap Live and LKG, under this id.
    Rollback(String),
    /// A staged restart of the core on the same Live, under this id.
    Restart(String),
    /// The running task ended: its result, or `None` if it panicked or was cancelled.
    Finished(Option<ApplyResult>),
}

impl From<RunnerCmd> for Input {
    fn from(cmd: RunnerCmd) -> Input {
        match cmd {
            RunnerCmd::Poke => Input::Poke,
            RunnerCmd::Announce(id) => Input::Announce(id),
            RunnerCmd::Rollback(id) => Input::Rollback(id),
            RunnerCmd::Restart(id) => Input::Restart(id),
        }
    }
}

/// What the shell does, in the order given.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// `request_id` was replaced by `by` before it ran: journal its `received` record with
    /// outcome `superseded`, then send `apply.cancelled` (`Runner::supersede`).
    Supersede { request_id: String, by: String },
    /// Send `apply.done` again with this result.
    Republish(ApplyResult),
    /// Spawn `Runner::attempt` for this request.
    StartAttempt(RequestEntry),
    /// Spawn `Runner::rollback` under this id.
    StartRollback(String),
    /// Spawn `Runner::restart` under this id.
    StartRestart(String),
    /// Log "request failed before; not retrying it (write a new request to retry)".
    LogSkip(String),
}

/// A rollback or restart asked for over IPC.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Manual {
    Rollback(String),
    Restart(String),
}

/// The queue of one role's runner. What the fields hold is in the module doc.
#[derive(Debug, Default)]
pub struct Queue {
    /// Rollbacks and restarts, oldest first.
    manual: VecDeque<Manual>,
    /// Request ids that clients wait for and that are not resolved yet (no duplicates).
    announced: Vec<String>,
    /// The last [`RECENT`] results that are not superseded, oldest first.
    recent: VecDeque<ApplyResult>,
    /// The last request started as an attempt (not a rollback or restart).
    last_started: Option<String>,
    /// apply.request's entry, waiting for the running task.
    queued: Option<RequestEntry>,
    /// The id of the running attempt, rollback or restart.
    running: Option<String>,
    /// The last id whose skip was logged.
    skipped_logged: Option<String>,
    /// The last request whose result had a non-zero exit code (not superseded).
    failed_before: Option<String>,
}

impl Queue {
    pub fn new() -> Queue {
        Queue::default()
    }

    /// Nothing runs. The shell waits for shutdown only then, and reads apply.error only then.
    pub fn idle(&self) -> bool {
        self.running.is_none()
    }

    /// Handles one input. The commands are carried out in order.
    pub fn on(&mut self, input: Input) -> Vec<Command> {
        let mut out = Vec::new();
        match input {
            Input::Observe {
                request,
                error_request_id,
                stopping,
            } => {
                let current = request.as_ref().map(|e| e.id.clone());
                self.refresh(request, &mut out);
                self.resolve_announced(current.as_deref(), &mut out);
                self.start_manual(stopping, &mut out);
                self.start_queued(error_request_id.as_deref(), stopping, &mut out);
            }
            Input::Poke => {}
            Input::Announce(id) => {
                if let Some(done) = self.result_of(&id) {
                    out.push(Command::Republish(done.clone()));
                } else if !self.announced.contains(&id) {
                    self.announced.push(id);
                }
            }
            Input::Rollback(id) => self.manual.push_back(Manual::Rollback(id)),
            Input::Restart(id) => self.manual.push_back(Manual::Restart(id)),
            Input::Finished(result) => {
                self.running = None;
                if let Some(r) = result {
                    let superseded = is_superseded(&r);
                    if r.exit_code != 0 && !superseded {
                        self.failed_before = Some(r.request_id.clone());
                    }
                    if !superseded {
                        self.recent.push_back(r);
                        if self.recent.len() > RECENT {
                            self.recent.pop_front();
                        }
                    }
                }
            }
        }
        out
    }

    /// Step 1: the queued slot follows apply.request.
    fn refresh(&mut self, request: Option<RequestEntry>, out: &mut Vec<Command>) {
        match request {
            Some(entry) if self.running.as_deref() == Some(entry.id.as_str()) => {
                self.queued = None;
            }
            Some(entry) => {
                if let Some(old) = self.queued.take()
                    && old.id != entry.id
                {
                    self.announced.retain(|a| *a != old.id);
                    out.push(Command::Supersede {
                        request_id: old.id,
                        by: entry.id.clone(),
                    });
                }
                self.queued = Some(entry);
            }
            None => self.queued = None,
        }
    }

    /// Step 2: every announced id that is neither in apply.request, running nor queued is
    /// resolved: republished, superseded towards its replacement, or dropped.
    fn resolve_announced(&mut self, current: Option<&str>, out: &mut Vec<Command>) {
        let running = self.running.clone();
        let queued = self.queued.as_ref().map(|q| q.id.clone());
        for id in std::mem::take(&mut self.announced) {
            // As today. With one read of apply.request, the queued id is the entry's id
            // (or none), so `current` and `queued` overlap.
            let pending =
                [current, running.as_deref(), queued.as_deref()].contains(&Some(id.as_str()));
            if pending {
                self.announced.push(id);
                continue;
            }
            if let Some(done) = self.result_of(&id) {
                out.push(Command::Republish(done.clone()));
                continue;
            }
            let by = current
                .map(str::to_owned)
                .or_else(|| running.clone())
                .or_else(|| self.last_started.clone());
            if let Some(by) = by {
                let done = self.result_of(&by).cloned();
                out.push(Command::Supersede { request_id: id, by });
                if let Some(done) = done {
                    out.push(Command::Republish(done));
                }
            }
        }
    }

    /// Step 3: a rollback or restart goes first when nothing runs.
    fn start_manual(&mut self, stopping: bool, out: &mut Vec<Command>) {
        if self.running.is_some() || stopping {
            return;
        }
        match self.manual.pop_front() {
            Some(Manual::Rollback(id)) => {
                self.running = Some(id.clone());
                out.push(Command::StartRollback(id));
            }
            Some(Manual::Restart(id)) => {
                self.running = Some(id.clone());
                out.push(Command::StartRestart(id));
            }
            None => {}
        }
    }

    /// Step 4: then the queued request, unless it failed before or the service stops.
    fn start_queued(&mut self, error_id: Option<&str>, stopping: bool, out: &mut Vec<Command>) {
        if self.running.is_some() {
            return;
        }
        let Some(entry) = self.queued.take() else {
            return;
        };
        let id = entry.id.as_str();
        if error_id == Some(id) || self.failed_before.as_deref() == Some(id) {
            if self.skipped_logged.as_deref() != Some(id) {
                self.skipped_logged = Some(entry.id.clone());
                out.push(Command::LogSkip(entry.id));
            }
        } else if !stopping {
            self.announced.retain(|a| *a != entry.id);
            self.last_started = Some(entry.id.clone());
            self.running = Some(entry.id.clone());
            out.push(Command::StartAttempt(entry));
        }
    }

    /// The oldest kept result of `request_id`.
    fn result_of(&self, request_id: &str) -> Option<&ApplyResult> {
        self.recent.iter().find(|r| r.request_id == request_id)
    }
}

/// A superseded result is neither kept nor counted as a failure. `status` is a `String`
/// today. With the typed `Outcome` (which has `PartialEq<&str>`) this compiles unchanged,
/// and can become `r.status == Outcome::Superseded`.
fn is_superseded(r: &ApplyResult) -> bool {
    r.status == "superseded"
}

#[cfg(test)]
mod tests {
    use super::*;
    use xp2p_core::Role;
    use xp2p_store::journal::Outcome;

    fn req(id: &str) -> RequestEntry {
        RequestEntry {
            id: id.into(),
            role: Role::Client,
            timestamp: String::new(),
        }
    }

    /// A result as `Attempt::finish` builds it (exit code from the outcome).
    fn result(id: &str, outcome: Outcome) -> ApplyResult {
        let exit_code = match outcome {
            Outcome::Committed | Outcome::Noop => 0,
            Outcome::RolledBack => 3,
            Outcome::FailedAfterCommit => 4,
            Outcome::Failed | Outcome::Interrupted | Outcome::Superseded => 1,
        };
        ApplyResult {
            role: Role::Client,
            request_id: id.into(),
            attempt_id: format!("attempt-{id}"),
            // `parse` works for today's String and for a typed status alike.
            status: outcome.as_str().parse().expect("a known outcome"),
            changed: false,
            duration_ms: 0,
            exit_code,
            error_code: None,
            error_summary: None,
            log_tail: String::new(),
            phases: Vec::new(),
            tun: None,
        }
    }

    fn observe(id: Option<&str>) -> Input {
        Input::Observe {
            request: id.map(req),
            error_request_id: None,
            stopping: false,
        }
    }
    fn observe_with_error(id: &str, error_id: &str) -> Input {
        Input::Observe {
            request: Some(req(id)),
            error_request_id: Some(error_id.into()),
            stopping: false,
        }
    }
    fn observe_stopping(id: Option<&str>) -> Input {
        Input::Observe {
            request: id.map(req),
            error_request_id: None,
            stopping: true,
        }
    }
    fn done(id: &str, outcome: Outcome) -> Input {
        Input::Finished(Some(result(id, outcome)))
    }
    fn announce(id: &str) -> Input {
        Input::Announce(id.into())
    }
    fn start(id: &str) -> Vec<Command> {
        vec![Command::StartAttempt(req(id))]
    }
    fn supersede(id: &str, by: &str) -> Command {
        Command::Supersede {
            request_id: id.into(),
            by: by.into(),
        }
    }
    fn republish(id: &str, outcome: Outcome) -> Command {
        Command::Republish(result(id, outcome))
    }

    /// One row: a name, the inputs with the commands each must give, and a check of the
    /// state left.
    type Row = (&'static str, Vec<(Input, Vec<Command>)>, fn(&Queue) -> bool);

    fn rows() -> Vec<Row> {
        use Outcome::*;
        let none = Vec::new;
        vec![
            (
                "1 a request starts",
                vec![(observe(Some("r1")), start("r1"))],
                |q| q.running.as_deref() == Some("r1") && q.last_started.as_deref() == Some("r1"),
            ),
            (
                "2 the running request is not queued again",
                vec![
                    (observe(Some("r1")), start("r1")),
                    (observe(Some("r1")), none()),
                ],
                |q| q.queued.is_none() && !q.idle(),
            ),
            (
                "3 single flight: a new request waits for the running one",
                vec![
                    (observe(Some("r1")), start("r1")),
                    (observe(Some("r2")), none()),
                    (done("r1", Committed), none()),
                    (observe(Some("r2")), start("r2")),
                ],
                |q| q.running.as_deref() == Some("r2"),
            ),
            (
                "4 a queued request replaced before it ran is superseded",
                vec![
                    (observe(Some("r1")), start("r1")),
                    (observe(Some("r2")), none()),
                    (observe(Some("r3")), vec![supersede("r2", "r3")]),
                ],
                |q| q.queued.as_ref().is_some_and(|e| e.id == "r3"),
            ),
            (
                "5 a superseded announced id leaves the list (no second supersede)",
                vec![
                    (observe(Some("r1")), start("r1")),
                    (observe(Some("r2")), none()),
                    (announce("r2"), none()),
                    (observe(Some("r3")), vec![supersede("r2", "r3")]),
                    (observe(Some("r3")), none()),
                ],
                |q| q.announced.is_empty(),
            ),
            (
                "6 an announce after the result republishes it at once",
                vec![
                    (observe(Some("r1")), start("r1")),
                    (done("r1", Committed), none()),
                    (announce("r1"), vec![republish("r1", Committed)]),
                ],
                |q| q.announced.is_empty(),
            ),
            (
                "7 an unseen id is superseded by the last started request; its result follows",
                vec![
                    (observe(Some("r1")), start("r1")),
                    (done("r1", Committed), none()),
                    (observe(None), none()),
                    (announce("a"), none()),
                    (
                        observe(None),
                        vec![supersede("a", "r1"), republish("r1", Committed)],
                    ),
                ],
                |q| q.announced.is_empty(),
            ),
            (
                "8 an id with nothing to resolve it towards is dropped silently",
                vec![(announce("a"), none()), (observe(None), none())],
                |q| q.announced.is_empty(),
            ),
            (
                "9 an announced request that starts leaves the list",
                vec![(announce("r1"), none()), (observe(Some("r1")), start("r1"))],
                |q| q.announced.is_empty(),
            ),
            (
                "10 a request that failed is not retried; the skip is logged once",
                vec![
                    (observe(Some("r1")), start("r1")),
                    (done("r1", Failed), none()),
                    (observe(Some("r1")), vec![Command::LogSkip("r1".into())]),
                    (observe(Some("r1")), none()),
                ],
                |q| q.idle() && q.queued.is_none(),
            ),
            (
                "11 a request named by apply.error is skipped",
                vec![(
                    observe_with_error("r1", "r1"),
                    vec![Command::LogSkip("r1".into())],
                )],
                |q| q.idle() && q.last_started.is_none(),
            ),
            (
                "12 apply.error for another id does not stop a request",
                vec![(observe_with_error("r2", "r1"), start("r2"))],
                |q| q.running.as_deref() == Some("r2"),
            ),
            (
                "13 a superseded result is neither kept nor a failure: the request runs again",
                vec![
                    (observe(Some("r1")), start("r1")),
                    (done("r1", Superseded), none()),
                    (observe(Some("r1")), start("r1")),
                ],
                |q| q.recent.is_empty() && q.failed_before.is_none(),
            ),
            (
                "14 a rollback goes before the queued request",
                vec![
                    (observe(Some("r1")), start("r1")),
                    (Input::Rollback("x".into()), none()),
                    (observe(Some("r2")), none()),
                    (done("r1", Committed), none()),
                    (
                        observe(Some("r2")),
                        vec![Command::StartRollback("x".into())],
                    ),
                    (done("x", Committed), none()),
                    (observe(Some("r2")), start("r2")),
                ],
                |q| q.manual.is_empty(),
            ),
            (
                "15 manual work runs oldest first",
                vec![
                    (Input::Restart("a".into()), none()),
                    (Input::Rollback("b".into()), none()),
                    (observe(None), vec![Command::StartRestart("a".into())]),
                    (Input::Finished(Some(result("a", Committed))), none()),
                    (observe(None), vec![Command::StartRollback("b".into())]),
                ],
                |q| q.running.as_deref() == Some("b"),
            ),
            (
                "16 stopping: nothing starts, the queued request is dropped, manual work stays",
                vec![
                    (Input::Rollback("x".into()), none()),
                    (observe_stopping(Some("r1")), none()),
                ],
                |q| q.idle() && q.queued.is_none() && q.manual.len() == 1,
            ),
            (
                "17 stopping still logs the skip of a request that failed before",
                vec![(
                    Input::Observe {
                        request: Some(req("r1")),
                        error_request_id: Some("r1".into()),
                        stopping: true,
                    },
                    vec![Command::LogSkip("r1".into())],
                )],
                |q| q.idle(),
            ),
            (
                "18 interrupted counts as failed (exit 1) and is kept",
                vec![
                    (observe(Some("r1")), start("r1")),
                    (done("r1", Interrupted), none()),
                ],
                |q| q.failed_before.as_deref() == Some("r1") && q.recent.len() == 1,
            ),
            (
                "19 rolled back (exit 3) counts as failed too",
                vec![
                    (observe(Some("r1")), start("r1")),
                    (done("r1", RolledBack), none()),
                    (observe(Some("r1")), vec![Command::LogSkip("r1".into())]),
                ],
                |q| q.failed_before.as_deref() == Some("r1"),
            ),
            (
                "20 a failed rollback sets the in-memory failed id to its own id",
                vec![
                    (Input::Rollback("x".into()), none()),
                    (observe(None), vec![Command::StartRollback("x".into())]),
                    (done("x", Failed), none()),
                ],
                |q| q.failed_before.as_deref() == Some("x") && q.last_started.is_none(),
            ),
            (
                "21 an announce twice is remembered once",
                vec![
                    (announce("a"), none()),
                    (announce("a"), none()),
                    (observe(None), none()),
                ],
                |q| q.announced.is_empty(),
            ),
            (
                "22 a task that panicked records nothing; the request runs again",
                vec![
                    (observe(Some("r1")), start("r1")),
                    (Input::Finished(None), none()),
                    (observe(Some("r1")), start("r1")),
                ],
                |q| q.recent.is_empty() && q.failed_before.is_none(),
            ),
            (
                "23 an announcer of the running request gets apply.done again on the next turn",
                vec![
                    (observe(Some("r1")), start("r1")),
                    (announce("r1"), none()),
                    (done("r1", Committed), none()),
                    (observe(None), vec![republish("r1", Committed)]),
                ],
                |q| q.announced.is_empty(),
            ),
            (
                "24 ids stay pending while they are in apply.request or running",
                vec![
                    (observe(Some("r1")), start("r1")),
                    (announce("r1"), none()),
                    (announce("r2"), none()),
                    (observe(Some("r2")), none()),
                ],
                |q| q.announced == ["r1", "r2"],
            ),
            (
                "25 an unknown id is superseded towards apply.request's entry first",
                vec![
                    (observe(Some("r1")), start("r1")),
                    (announce("a"), none()),
                    (observe(Some("r2")), vec![supersede("a", "r2")]),
                ],
                |q| q.announced.is_empty(),
            ),
            (
                "26 then towards the running request",
                vec![
                    (observe(Some("r1")), start("r1")),
                    (announce("a"), none()),
                    (observe(None), vec![supersede("a", "r1")]),
                ],
                |q| q.announced.is_empty(),
            ),
            (
                "27 the entry turning back to the running id drops the queued one unsuperseded",
                vec![
                    (observe(Some("r1")), start("r1")),
                    (observe(Some("r2")), none()),
                    (announce("r2"), none()),
                    (observe(Some("r1")), vec![supersede("r2", "r1")]),
                ],
                |q| q.queued.is_none() && q.announced.is_empty(),
            ),
            (
                "28 a queued request whose entry vanished is dropped unsuperseded",
                vec![
                    (observe(Some("r1")), start("r1")),
                    (observe(Some("r2")), none()),
                    (observe(None), none()),
                    (done("r1", Committed), none()),
                    (observe(None), none()),
                ],
                |q| q.idle() && q.queued.is_none(),
            ),
            (
                "29 a turn resolves every announced id in order, each with its own result",
                vec![
                    (observe(Some("r1")), start("r1")),
                    (announce("a"), none()),
                    (announce("b"), none()),
                    (done("r1", Committed), none()),
                    (
                        observe(None),
                        vec![
                            supersede("a", "r1"),
                            republish("r1", Committed),
                            supersede("b", "r1"),
                            republish("r1", Committed),
                        ],
                    ),
                ],
                |q| q.announced.is_empty(),
            ),
            (
                "30 a new id is not skipped because an older one failed",
                vec![
                    (observe(Some("r1")), start("r1")),
                    (done("r1", Failed), none()),
                    (observe(Some("r2")), start("r2")),
                ],
                |q| q.running.as_deref() == Some("r2"),
            ),
            (
                "31 a running rollback replaces an unknown id before the last started request",
                vec![
                    (observe(Some("r1")), start("r1")),
                    (done("r1", Committed), none()),
                    (Input::Rollback("x".into()), none()),
                    (observe(None), vec![Command::StartRollback("x".into())]),
                    (announce("a"), none()),
                    (observe(None), vec![supersede("a", "x")]),
                ],
                |q| q.announced.is_empty() && q.last_started.as_deref() == Some("r1"),
            ),
        ]
    }

    #[test]
    fn policy_table() {
        for (name, steps, check) in rows() {
            let mut q = Queue::new();
            for (i, (input, want)) in steps.into_iter().enumerate() {
                let got = q.on(input);
                assert_eq!(got, want, "row {name:?}, input #{i}");
            }
            assert!(check(&q), "row {name:?}: final state {q:?}");
        }
    }

    /// Only the last 32 results are kept: an older id is no longer republished. Its
    /// announcer is resolved towards the last started request instead.
    #[test]
    fn only_the_last_32_results_are_kept() {
        let mut q = Queue::new();
        for i in 0..=RECENT {
            let id = format!("r{i}");
            assert_eq!(q.on(observe(Some(&id))), start(&id));
            assert!(q.on(done(&id, Outcome::Committed)).is_empty());
        }
        assert_eq!(q.recent.len(), RECENT);
        assert!(q.on(announce("r0")).is_empty());
        assert_eq!(q.announced, ["r0"]);
        let last = format!("r{RECENT}");
        assert_eq!(
            q.on(observe(None)),
            vec![supersede("r0", &last), republish(&last, Outcome::Committed)]
        );
        assert_eq!(
            q.on(announce("r1")),
            vec![republish("r1", Outcome::Committed)]
        );
    }

    /// `Poke` changes nothing. Its turn is the `Observe` that follows.
    #[test]
    fn poke_is_only_a_wake_up() {
        let mut q = Queue::new();
        assert!(q.on(Input::Poke).is_empty());
        assert!(q.idle() && q.queued.is_none() && q.announced.is_empty());
    }

    #[test]
    fn runner_commands_map_to_inputs() {
        assert!(matches!(Input::from(RunnerCmd::Poke), Input::Poke));
        assert!(
            matches!(Input::from(RunnerCmd::Announce("a".into())), Input::Announce(a) if a == "a")
        );
        assert!(
            matches!(Input::from(RunnerCmd::Rollback("b".into())), Input::Rollback(b) if b == "b")
        );
        assert!(
            matches!(Input::from(RunnerCmd::Restart("c".into())), Input::Restart(c) if c == "c")
        );
    }
}
