//! Owns the core slot of one role, as a pure state machine: which core is active, and the
//! crash-restart policy (backoff 1 s → 30 s; 10 crashes in 10 minutes latch the role failed
//! until the next promote).
//!
//! Depends on: `xp2p_store::session::CRASH_LIMIT` (10), nothing else of ours.
//!
//! This is what `RoleSupervisor` (service/src/supervisor.rs) does today to its `Inner`
//! (`active`, `crashes`, `failed`, `generation`) in `promote`, `stop_active`,
//! `reattach_or_start` (the adopt branch), `on_exit` and `restart_loop`, with the I/O taken
//! out. The shell spawns, watches, drains, stops and writes session records as the
//! [`Action`]s say. Time comes in as `now`.
//!
//! The policy:
//! - **Generation.** Every promote, adopt and stop bumps it, even a stop with no core. An
//!   exit report or a restart timer from an older generation is ignored. So is an exit of a
//!   pid that is not the active core.
//! - **Promote** (an apply, start-up, a crash restart). From any slot the new core becomes
//!   the active one and the crash-loop latch is cleared. Its session is marked running, its
//!   exit watched, `core.state running` sent, health published. A core that was running is
//!   retired: drained, then stopped.
//! - **Adopt** (start-up reattach). Like promote, but the session says `reattached`, no
//!   health is published, nothing is retired and the latch is left alone.
//! - **Crash** (the active core exits). The crash is counted in a 10-minute window (entries
//!   more than 600 s older than the newest fall out). Under 10: session `failed /
//!   core_exited` with the backoff, `core.state failed`, and a restart after
//!   [`backoff_for`]`(n)` = 1, 2, 4, 8, 16, 30, 30… s. At 10: session `failed / crash_loop`,
//!   `core.state failed`, the latch set, no restart.
//! - **Restart due.** Only from `Backoff` of the current generation with no latch: start a
//!   core from Live (outside the owner task). Success is a promote (`crash_restart`).
//! - **A failed restart** counts as a crash. Under 10: session `failed /
//!   crash_restart_failed` with the next backoff, another restart scheduled. At 10: session
//!   `failed / crash_loop` ("… failed starts …"), the latch set. No `core.state` event
//!   either way. The session written is the one on disk, not a core's.
//! - **Stop.** A running core is stopped (session stopping → stopped) and `core.state
//!   stopped` is sent. During a backoff or a restart the slot just empties (the pending
//!   restart is now stale). A crash loop stays latched.
//! - **The crash window is never cleared.** A promote clears the latch, not the count. The
//!   first crash after an apply that ended a crash loop, within the window, latches again.
//!
//! Races kept as they are today (a fix for each is one line here, in a separate change):
//! - A restart that completes after an apply or a stop still promotes. `Restarted` does not
//!   check its generation (today `restart_loop` calls `start_from_live` → `promote`
//!   unconditionally).
//! - A restart that fails after an apply or a stop still counts as a crash and writes the
//!   session on disk (now the new core's record). Reaching 10 that way sets the latch
//!   beside a running core. Its next crash is then scheduled for a restart that never
//!   comes (`RestartDue` is refused while latched). That is why the latch is a flag of its
//!   own, not only the `CrashLooped` slot.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use xp2p_store::session::CRASH_LIMIT;

/// Crashes older than this (relative to the newest) no longer count.
pub const CRASH_WINDOW: Duration = Duration::from_secs(600);
/// The longest wait before a crash restart.
pub const BACKOFF_CAP: Duration = Duration::from_secs(30);

/// The wait before restarting after the `crash`th crash in the window: 1, 2, 4, 8, 16, then 30 s.
pub fn backoff_for(crash: u32) -> Duration {
    Duration::from_secs(1u64 << crash.saturating_sub(1).min(5)).min(BACKOFF_CAP)
}

/// The process handle the slot holds (the shell's `Arc<CoreProc>`; a fake in tests).
pub trait HasPid {
    fn pid(&self) -> i32;
}

/// What the role's core is doing.
#[derive(Debug, Clone, PartialEq)]
pub enum Slot<P> {
    /// No core: before the first start, or after a stop.
    Empty,
    /// `core` is the active core.
    Running { core: P },
    /// The active core crashed, the `crash`th time in the window. A restart is due at `until`.
    Backoff { crash: u32, until: Instant },
    /// The restart after the `crash`th crash is in flight (the shell starts a core from Live).
    Restarting { crash: u32 },
    /// `crashes` crashes or failed restarts in the window: no restart until the next promote.
    CrashLooped { crashes: u32 },
}

/// What the shell feeds the slot.
#[derive(Debug, Clone, PartialEq)]
pub enum Input<P> {
    /// A ready candidate becomes the active core. `reason` is the session's reason code
    /// (`apply_committed`, `reattached_config_changed`, a start-up code…).
    Promoted { core: P, reason: String },
    /// Start-up adopted the recorded core (`reattach_or_start`).
    Adopted { core: P },
    /// The watched core `pid` exited (`generation` from its [`Action::Watch`]); `exit` says how.
    Exited {
        pid: i32,
        generation: u64,
        exit: String,
    },
    /// A restart scheduled by [`Action::ScheduleRestart`] is due.
    RestartDue { generation: u64 },
    /// The start from Live asked for by [`Action::StartFromLive`] gave a ready core.
    Restarted { core: P, generation: u64 },
    /// That start failed (no Live core, or the core did not get ready): `message` says why.
    RestartFailed { generation: u64, message: String },
    /// Stop the active core (`stop_active`: service shutdown, stop-then-start fallback).
    Stop { reason: String },
}

/// What the shell does, in the order given.
#[derive(Debug, Clone, PartialEq)]
pub enum Action<P> {
    /// Write a session record as [`Mark`] says.
    Session(Mark),
    /// Spawn the exit watcher of `core`. Its exit comes back as [`Input::Exited`] with this
    /// generation.
    Watch { core: P, generation: u64 },
    /// Send `core.state`.
    CoreState(CoreState),
    /// Send `health` for the active core (`publish_health`).
    PublishHealth,
    /// The replaced core: drain it, then stop it (TERM, 5 s, KILL), outside the owner task.
    /// Its report is `promote`'s journal note.
    Retire(P),
    /// Stop the active core: session `stopping` (reason), TERM, 5 s, KILL, session
    /// `stopped` (reason, how it exited).
    Stop { core: P, reason: String },
    /// Feed [`Input::RestartDue`] with this generation after `after`.
    ScheduleRestart { after: Duration, generation: u64 },
    /// Start a core from Live (`live_core` + `start_candidate`), then feed
    /// [`Input::Restarted`] or [`Input::RestartFailed`] with this generation.
    StartFromLive { generation: u64 },
}

/// `core.state` as the supervisor sends it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CoreState {
    Running { pid: i32 },
    Failed,
    Stopped,
}

/// A session record transition: `transition(status, reason(), detail())`, then
/// `backoff = backoff().map(scheduled)`, then write. `Running` is the new core's own
/// record. `Exited` and `CrashLoop` are the record of the core that exited.
/// `RestartFailed` and `RestartLoop` are the role's record as read from disk, written only
/// if there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mark {
    /// Status `running`.
    Running { reason: String, detail: String },
    /// Status `failed`, `core_exited`; a restart follows in `restart_in`.
    Exited {
        exit: String,
        restart_in: Duration,
        crash: u32,
    },
    /// Status `failed`, `crash_loop`: the `crashes`th crash, the last one `last`.
    CrashLoop { crashes: u32, last: String },
    /// Status `failed`, `crash_restart_failed`; the next try in `restart_in`.
    RestartFailed {
        message: String,
        restart_in: Duration,
        crash: u32,
    },
    /// Status `failed`, `crash_loop`: the `crashes`th failed start, the last one `last`.
    RestartLoop { crashes: u32, last: String },
}

impl Mark {
    /// The session's `reason_code`.
    pub fn reason(&self) -> &str {
        match self {
            Mark::Running { reason, .. } => reason,
            Mark::Exited { .. } => "core_exited",
            Mark::CrashLoop { .. } | Mark::RestartLoop { .. } => "crash_loop",
            Mark::RestartFailed { .. } => "crash_restart_failed",
        }
    }

    /// The session's transition detail.
    pub fn detail(&self) -> String {
        match self {
            Mark::Running { detail, .. } => detail.clone(),
            Mark::Exited { exit, .. } => exit.clone(),
            Mark::CrashLoop { crashes, last } => {
                format!("{crashes} crashes in 10 minutes; last: {last}")
            }
            Mark::RestartFailed { message, .. } => message.clone(),
            Mark::RestartLoop { crashes, last } => {
                format!("{crashes} failed starts in 10 minutes; last: {last}")
            }
        }
    }

    /// The scheduled restart the record shows (wait, crash number), if any.
    pub fn backoff(&self) -> Option<(Duration, u32)> {
        match self {
            Mark::Exited {
                restart_in, crash, ..
            }
            | Mark::RestartFailed {
                restart_in, crash, ..
            } => Some((*restart_in, *crash)),
            _ => None,
        }
    }
}

/// The slot with what it remembers across transitions.
#[derive(Debug, Clone)]
pub struct CoreSlot<P> {
    slot: Slot<P>,
    /// When the crashes and failed restarts in the window happened, oldest first.
    crashes: VecDeque<Instant>,
    /// Bumped by every promote, adopt and stop.
    generation: u64,
    /// No crash restarts until the next promote (today's `Inner::failed`).
    latched: bool,
}

impl<P> Default for CoreSlot<P> {
    fn default() -> Self {
        CoreSlot {
            slot: Slot::Empty,
            crashes: VecDeque::new(),
            generation: 0,
            latched: false,
        }
    }
}

impl<P: HasPid + Clone> CoreSlot<P> {
    pub fn new() -> Self {
        CoreSlot::default()
    }

    pub fn slot(&self) -> &Slot<P> {
        &self.slot
    }

    pub fn active_pid(&self) -> Option<i32> {
        match &self.slot {
            Slot::Running { core } => Some(core.pid()),
            _ => None,
        }
    }

    /// Handles one input at `now`. The actions are carried out in order.
    pub fn on(mut self, input: Input<P>, now: Instant) -> (Self, Vec<Action<P>>) {
        let mut out = Vec::new();
        let slot = std::mem::replace(&mut self.slot, Slot::Empty);
        self.slot = match (slot, input) {
            (old, Input::Promoted { core, reason }) => self.promote(old, core, reason, &mut out),
            (old, Input::Restarted { core, .. }) => {
                self.promote(old, core, "crash_restart".into(), &mut out)
            }
            (_, Input::Adopted { core }) => {
                self.generation += 1;
                out.push(Action::Session(Mark::Running {
                    reason: "reattached".into(),
                    detail: format!("pid {}", core.pid()),
                }));
                self.watch(&core, &mut out);
                Slot::Running { core }
            }
            (
                Slot::Running { core },
                Input::Exited {
                    pid,
                    generation,
                    exit,
                },
            ) if core.pid() == pid && generation == self.generation => {
                self.crashed(exit, now, &mut out)
            }
            (Slot::Backoff { crash, .. }, Input::RestartDue { generation })
                if generation == self.generation && !self.latched =>
            {
                out.push(Action::StartFromLive { generation });
                Slot::Restarting { crash }
            }
            (
                old,
                Input::RestartFailed {
                    generation,
                    message,
                },
            ) => self.restart_failed(old, generation, message, now, &mut out),
            (old, Input::Stop { reason }) => {
                self.generation += 1;
                match old {
                    Slot::Running { core } => {
                        out.push(Action::Stop { core, reason });
                        out.push(Action::CoreState(CoreState::Stopped));
                        Slot::Empty
                    }
                    Slot::CrashLooped { crashes } => Slot::CrashLooped { crashes },
                    Slot::Empty | Slot::Backoff { .. } | Slot::Restarting { .. } => Slot::Empty,
                }
            }
            // An exit of another pid or generation; a restart that is stale or refused.
            (old, Input::Exited { .. } | Input::RestartDue { .. }) => old,
        };
        (self, out)
    }

    fn promote(
        &mut self,
        old: Slot<P>,
        core: P,
        reason: String,
        out: &mut Vec<Action<P>>,
    ) -> Slot<P> {
        self.generation += 1;
        self.latched = false;
        out.push(Action::Session(Mark::Running {
            reason,
            detail: String::new(),
        }));
        self.watch(&core, out);
        out.push(Action::PublishHealth);
        if let Slot::Running { core: replaced } = old {
            out.push(Action::Retire(replaced));
        }
        Slot::Running { core }
    }

    /// Watch the new active core and say it runs.
    fn watch(&self, core: &P, out: &mut Vec<Action<P>>) {
        out.push(Action::Watch {
            core: core.clone(),
            generation: self.generation,
        });
        out.push(Action::CoreState(CoreState::Running { pid: core.pid() }));
    }

    /// The active core exited: back off and restart, or latch at the limit.
    fn crashed(&mut self, exit: String, now: Instant, out: &mut Vec<Action<P>>) -> Slot<P> {
        let n = self.record_crash(now);
        if n >= CRASH_LIMIT {
            self.latched = true;
            out.push(Action::Session(Mark::CrashLoop {
                crashes: n,
                last: exit,
            }));
            out.push(Action::CoreState(CoreState::Failed));
            return Slot::CrashLooped { crashes: n };
        }
        let after = backoff_for(n);
        out.push(Action::Session(Mark::Exited {
            exit,
            restart_in: after,
            crash: n,
        }));
        out.push(Action::CoreState(CoreState::Failed));
        out.push(Action::ScheduleRestart {
            after,
            generation: self.generation,
        });
        Slot::Backoff {
            crash: n,
            until: now + after,
        }
    }

    /// A start from Live failed. It counts as a crash whatever the slot is now (see the
    /// races in the module doc). Only the current restart moves the slot.
    fn restart_failed(
        &mut self,
        old: Slot<P>,
        generation: u64,
        message: String,
        now: Instant,
        out: &mut Vec<Action<P>>,
    ) -> Slot<P> {
        let n = self.record_crash(now);
        let current = generation == self.generation && matches!(old, Slot::Restarting { .. });
        if n >= CRASH_LIMIT {
            self.latched = true;
            out.push(Action::Session(Mark::RestartLoop {
                crashes: n,
                last: message,
            }));
            return if current {
                Slot::CrashLooped { crashes: n }
            } else {
                old
            };
        }
        let after = backoff_for(n);
        out.push(Action::Session(Mark::RestartFailed {
            message,
            restart_in: after,
            crash: n,
        }));
        out.push(Action::ScheduleRestart { after, generation });
        if current {
            Slot::Backoff {
                crash: n,
                until: now + after,
            }
        } else {
            old
        }
    }

    /// Counts a crash at `now`; returns the crashes in the window.
    fn record_crash(&mut self, now: Instant) -> u32 {
        self.crashes.push_back(now);
        while self
            .crashes
            .front()
            .is_some_and(|t| now.duration_since(*t) > CRASH_WINDOW)
        {
            self.crashes.pop_front();
        }
        u32::try_from(self.crashes.len()).unwrap_or(u32::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, PartialEq)]
    struct Core(i32);
    impl HasPid for Core {
        fn pid(&self) -> i32 {
            self.0
        }
    }

    type A = Action<Core>;
    const EXIT: &str = "exit code 23";
    const WHY: &str = "no Live";

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    // Inputs.
    fn promoted(pid: i32, reason: &str) -> Input<Core> {
        let reason = reason.into();
        Input::Promoted {
            core: Core(pid),
            reason,
        }
    }
    fn apply(pid: i32) -> Input<Core> {
        promoted(pid, "apply_committed")
    }
    fn exited(pid: i32, generation: u64) -> Input<Core> {
        let exit = EXIT.into();
        Input::Exited {
            pid,
            generation,
            exit,
        }
    }
    fn due(generation: u64) -> Input<Core> {
        Input::RestartDue { generation }
    }
    fn restarted(pid: i32, generation: u64) -> Input<Core> {
        Input::Restarted {
            core: Core(pid),
            generation,
        }
    }
    fn failed(generation: u64) -> Input<Core> {
        let message = WHY.into();
        Input::RestartFailed {
            generation,
            message,
        }
    }
    fn stop() -> Input<Core> {
        let reason = "service_stopped".into();
        Input::Stop { reason }
    }

    // Actions.
    fn runs(pid: i32, generation: u64, reason: &str) -> Vec<A> {
        let (reason, detail) = (reason.into(), String::new());
        vec![
            A::Session(Mark::Running { reason, detail }),
            A::Watch {
                core: Core(pid),
                generation,
            },
            A::CoreState(CoreState::Running { pid }),
            A::PublishHealth,
        ]
    }
    fn applied(pid: i32, generation: u64) -> Vec<A> {
        runs(pid, generation, "apply_committed")
    }
    fn backs_off(crash: u32, wait: u64, generation: u64) -> Vec<A> {
        let (exit, after) = (EXIT.into(), secs(wait));
        vec![
            A::Session(Mark::Exited {
                exit,
                restart_in: after,
                crash,
            }),
            A::CoreState(CoreState::Failed),
            A::ScheduleRestart { after, generation },
        ]
    }
    fn retries(crash: u32, wait: u64, generation: u64) -> Vec<A> {
        let (message, after) = (WHY.into(), secs(wait));
        vec![
            A::Session(Mark::RestartFailed {
                message,
                restart_in: after,
                crash,
            }),
            A::ScheduleRestart { after, generation },
        ]
    }
    fn starts(generation: u64) -> Vec<A> {
        vec![A::StartFromLive { generation }]
    }
    fn stops(pid: i32) -> Vec<A> {
        let reason = "service_stopped".into();
        vec![
            A::Stop {
                core: Core(pid),
                reason,
            },
            A::CoreState(CoreState::Stopped),
        ]
    }

    // Slots.
    fn running(pid: i32) -> Slot<Core> {
        Slot::Running { core: Core(pid) }
    }
    fn restarting(crash: u32) -> Slot<Core> {
        Slot::Restarting { crash }
    }

    /// One step: the input, when (seconds after t0), the actions and the slot after it.
    type Step = (Input<Core>, u64, Vec<A>, Slot<Core>);

    fn run(name: &str, t0: Instant, mut s: CoreSlot<Core>, steps: Vec<Step>) -> CoreSlot<Core> {
        for (i, (input, at, want, slot)) in steps.into_iter().enumerate() {
            let (next, got) = s.on(input, t0 + secs(at));
            assert_eq!(got, want, "{name}: actions of step #{i}");
            assert_eq!(next.slot, slot, "{name}: slot after step #{i}");
            s = next;
        }
        s
    }

    /// A slot at generation 1 with core 10 running and `n` crashes at t0 in the window.
    fn running_after_crashes(n: usize, t0: Instant) -> CoreSlot<Core> {
        CoreSlot {
            slot: running(10),
            crashes: std::iter::repeat_n(t0, n).collect(),
            generation: 1,
            latched: false,
        }
    }

    #[test]
    fn slot_table() {
        let t0 = Instant::now();
        let backoff = |crash, at: u64| Slot::Backoff {
            crash,
            until: t0 + secs(at),
        };
        let mut retire = applied(2, 2);
        retire.push(A::Retire(Core(1)));
        let adopted = vec![
            A::Session(Mark::Running {
                reason: "reattached".into(),
                detail: "pid 7".into(),
            }),
            A::Watch {
                core: Core(7),
                generation: 1,
            },
            A::CoreState(CoreState::Running { pid: 7 }),
        ];
        let table: Vec<(&str, Vec<Step>)> = vec![
            (
                "promote from empty",
                vec![(apply(1), 0, applied(1, 1), running(1))],
            ),
            (
                "promote over a running core retires it",
                vec![
                    (
                        promoted(1, "no_session"),
                        0,
                        runs(1, 1, "no_session"),
                        running(1),
                    ),
                    (apply(2), 1, retire, running(2)),
                ],
            ),
            (
                "crash → backoff → restart → running",
                vec![
                    (apply(1), 0, applied(1, 1), running(1)),
                    (exited(1, 1), 5, backs_off(1, 1, 1), backoff(1, 6)),
                    (due(1), 6, starts(1), restarting(1)),
                    (restarted(2, 1), 7, runs(2, 2, "crash_restart"), running(2)),
                    (exited(2, 2), 8, backs_off(2, 2, 2), backoff(2, 10)),
                ],
            ),
            (
                "exits of another pid or generation are ignored",
                vec![
                    (apply(1), 0, applied(1, 1), running(1)),
                    (exited(9, 1), 1, vec![], running(1)),
                    (exited(1, 0), 1, vec![], running(1)),
                ],
            ),
            (
                "a stale or early restart timer is ignored",
                vec![
                    (due(0), 0, vec![], Slot::Empty),
                    (apply(1), 0, applied(1, 1), running(1)),
                    (due(1), 1, vec![], running(1)),
                ],
            ),
            (
                "stop a running core; its exit report is then stale",
                vec![
                    (apply(1), 0, applied(1, 1), running(1)),
                    (stop(), 1, stops(1), Slot::Empty),
                    (exited(1, 1), 2, vec![], Slot::Empty),
                    (stop(), 3, vec![], Slot::Empty),
                ],
            ),
            (
                "stop during backoff: the restart goes stale",
                vec![
                    (apply(1), 0, applied(1, 1), running(1)),
                    (exited(1, 1), 0, backs_off(1, 1, 1), backoff(1, 1)),
                    (stop(), 0, vec![], Slot::Empty),
                    (due(1), 1, vec![], Slot::Empty),
                ],
            ),
            (
                "an apply during backoff wins; the old timer is stale",
                vec![
                    (apply(1), 0, applied(1, 1), running(1)),
                    (exited(1, 1), 0, backs_off(1, 1, 1), backoff(1, 1)),
                    (apply(2), 0, applied(2, 2), running(2)),
                    (due(1), 1, vec![], running(2)),
                ],
            ),
            (
                "a failed restart counts as a crash and backs off again",
                vec![
                    (apply(1), 0, applied(1, 1), running(1)),
                    (exited(1, 1), 0, backs_off(1, 1, 1), backoff(1, 1)),
                    (due(1), 1, starts(1), restarting(1)),
                    (failed(1), 2, retries(2, 2, 1), backoff(2, 4)),
                    (due(1), 4, starts(1), restarting(2)),
                ],
            ),
            (
                "stop during a restart: its late success still promotes (race kept)",
                vec![
                    (apply(1), 0, applied(1, 1), running(1)),
                    (exited(1, 1), 0, backs_off(1, 1, 1), backoff(1, 1)),
                    (due(1), 1, starts(1), restarting(1)),
                    (stop(), 1, vec![], Slot::Empty),
                    (restarted(2, 1), 2, runs(2, 3, "crash_restart"), running(2)),
                ],
            ),
            (
                "a stale failed restart counts and writes, but moves nothing",
                vec![
                    (apply(1), 0, applied(1, 1), running(1)),
                    (exited(1, 1), 0, backs_off(1, 1, 1), backoff(1, 1)),
                    (due(1), 1, starts(1), restarting(1)),
                    (apply(2), 1, applied(2, 2), running(2)),
                    (failed(1), 2, retries(2, 2, 1), running(2)),
                    (due(1), 4, vec![], running(2)),
                ],
            ),
            (
                "a stale failed restart leaves a newer restart in flight",
                vec![
                    (apply(1), 0, applied(1, 1), running(1)),
                    (exited(1, 1), 0, backs_off(1, 1, 1), backoff(1, 1)),
                    (due(1), 1, starts(1), restarting(1)),
                    (apply(2), 1, applied(2, 2), running(2)),
                    (exited(2, 2), 1, backs_off(2, 2, 2), backoff(2, 3)),
                    (due(2), 3, starts(2), restarting(2)),
                    (failed(1), 4, retries(3, 4, 1), restarting(2)),
                ],
            ),
            (
                "adopt at start-up: reattached, no health, nothing retired",
                vec![(Input::Adopted { core: Core(7) }, 0, adopted, running(7))],
            ),
        ];
        for (name, steps) in table {
            run(name, t0, CoreSlot::new(), steps);
        }
    }

    /// Ten crashes in the window latch the role: no restart until the next promote. The
    /// backoffs on the way are 1, 2, 4, 8, 16, 30, 30, 30, 30 s.
    #[test]
    fn ten_crashes_latch_until_the_next_promote() {
        let t0 = Instant::now();
        let (mut s, _) = CoreSlot::new().on(apply(1), t0);
        let mut at = t0;
        for (n, wait) in (1u32..).zip([1u64, 2, 4, 8, 16, 30, 30, 30, 30]) {
            let g = s.generation;
            let (next, got) = s.on(exited(1, g), at);
            assert_eq!(got, backs_off(n, wait, g), "crash {n}");
            at += secs(wait);
            let (next, _) = next.on(due(g), at);
            (s, _) = next.on(restarted(1, g), at);
        }
        let g = s.generation;
        let (s, got) = s.on(exited(1, g), at);
        let last = EXIT.into();
        let latched = vec![
            A::Session(Mark::CrashLoop { crashes: 10, last }),
            A::CoreState(CoreState::Failed),
        ];
        assert_eq!(got, latched);
        assert_eq!(s.slot, Slot::CrashLooped { crashes: 10 });
        // Nothing restarts it; a stop keeps the latch.
        let (s, got) = s.on(due(g), at);
        assert!(got.is_empty());
        let (s, got) = s.on(stop(), at);
        assert!(got.is_empty());
        assert_eq!(s.slot, Slot::CrashLooped { crashes: 10 });
        // The next apply clears the latch, not the window: one more crash latches again.
        let (s, got) = s.on(apply(2), at);
        assert_eq!(got, applied(2, g + 2));
        assert!(!s.latched);
        let (s, got) = s.on(exited(2, g + 2), at + secs(1));
        assert_eq!(s.slot, Slot::CrashLooped { crashes: 11 });
        assert_eq!(got[1], A::CoreState(CoreState::Failed));
    }

    /// Crashes more than 600 s older than the newest fall out of the window; exactly 600 s
    /// still counts.
    #[test]
    fn the_crash_window_is_ten_minutes() {
        let t0 = Instant::now();
        let (s, got) = running_after_crashes(9, t0).on(exited(10, 1), t0 + secs(600));
        assert_eq!(s.slot, Slot::CrashLooped { crashes: 10 });
        assert_eq!(got.len(), 2);

        let (s, got) = running_after_crashes(9, t0).on(exited(10, 1), t0 + secs(601));
        assert_eq!(got, backs_off(1, 1, 1));
        assert_eq!(
            s.slot,
            Slot::Backoff {
                crash: 1,
                until: t0 + secs(602)
            }
        );
    }

    /// The tenth failed restart latches without a `core.state` event, as today.
    #[test]
    fn failed_restarts_latch_without_core_state() {
        let t0 = Instant::now();
        let (s, got) = running_after_crashes(8, t0).on(exited(10, 1), t0);
        assert_eq!(got, backs_off(9, 30, 1));
        let (s, _) = s.on(due(1), t0 + secs(30));
        let (s, got) = s.on(failed(1), t0 + secs(31));
        let last = WHY.into();
        assert_eq!(
            got,
            vec![A::Session(Mark::RestartLoop { crashes: 10, last })]
        );
        assert_eq!(s.slot, Slot::CrashLooped { crashes: 10 });
        assert!(s.latched);
    }

    /// The race kept: a stale restart that fails the tenth time latches beside a running
    /// core. Its next crash backs off, but the restart is refused.
    #[test]
    fn a_stale_tenth_failed_restart_latches_beside_a_running_core() {
        let t0 = Instant::now();
        let (s, got) = running_after_crashes(9, t0).on(failed(0), t0);
        assert_eq!(got.len(), 1);
        assert_eq!(s.slot, running(10));
        assert!(s.latched);
        let (s, got) = s.on(exited(10, 1), t0 + secs(601));
        assert_eq!(got, backs_off(1, 1, 1));
        let (s, got) = s.on(due(1), t0 + secs(602));
        assert!(got.is_empty());
        assert!(matches!(s.slot, Slot::Backoff { crash: 1, .. }));
    }

    #[test]
    fn backoff_doubles_from_one_second_to_thirty() {
        let table = [
            (0, 1),
            (1, 1),
            (2, 2),
            (3, 4),
            (4, 8),
            (5, 16),
            (6, 30),
            (7, 30),
        ];
        for (crash, wait) in table {
            assert_eq!(backoff_for(crash), secs(wait), "crash {crash}");
        }
        assert_eq!(backoff_for(u32::MAX), BACKOFF_CAP);
    }

    #[test]
    fn marks_write_todays_reason_codes_and_details() {
        let (exit, message, four, two) = (EXIT.to_string(), WHY.to_string(), secs(4), secs(2));
        let rows = [
            (
                Mark::Running {
                    reason: "apply_committed".into(),
                    detail: String::new(),
                },
                ("apply_committed", "", None),
            ),
            (
                Mark::Exited {
                    exit: exit.clone(),
                    restart_in: four,
                    crash: 3,
                },
                ("core_exited", EXIT, Some((four, 3))),
            ),
            (
                Mark::CrashLoop {
                    crashes: 10,
                    last: exit,
                },
                (
                    "crash_loop",
                    "10 crashes in 10 minutes; last: exit code 23",
                    None,
                ),
            ),
            (
                Mark::RestartFailed {
                    message: message.clone(),
                    restart_in: two,
                    crash: 2,
                },
                ("crash_restart_failed", WHY, Some((two, 2))),
            ),
            (
                Mark::RestartLoop {
                    crashes: 10,
                    last: message,
                },
                (
                    "crash_loop",
                    "10 failed starts in 10 minutes; last: no Live",
                    None,
                ),
            ),
        ];
        for (mark, (reason, detail, backoff)) in rows {
            assert_eq!(mark.reason(), reason);
            assert_eq!(mark.detail(), detail);
            assert_eq!(mark.backoff(), backoff);
        }
    }

    #[test]
    fn active_pid_only_while_running() {
        let t0 = Instant::now();
        let s = CoreSlot::<Core>::new();
        assert_eq!(s.active_pid(), None);
        let (s, _) = s.on(apply(4), t0);
        assert_eq!(s.active_pid(), Some(4));
        let (s, _) = s.on(exited(4, 1), t0);
        assert_eq!(s.active_pid(), None);
    }
}
