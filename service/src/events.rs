//! Service events (ipc.md `event.kind`), published at the moment they happen on
//! broadcast buses: one for state events, one for log lines, so a flood of log
//! lines (a chatty core) can never make a state subscriber lag. Subscribers
//! that lag lose events and must resync from a snapshot.

use serde::Serialize;
use tokio::sync::broadcast;
use xp2p_core::Role;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PhaseTiming {
    pub phase: xp2p_core::records::journal::Phase,
    pub ms: u64,
}

/// The result of one apply attempt: the `apply.done` event and `apply --wait --json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ApplyResult {
    pub role: Role,
    pub request_id: String,
    pub attempt_id: String,
    pub status: String,
    pub changed: bool,
    pub duration_ms: u64,
    pub exit_code: i32,
    pub error_code: Option<String>,
    pub error_summary: Option<String>,
    pub log_tail: String,
    pub phases: Vec<PhaseTiming>,
    /// The role's TUN after the OS-state reconcile that follows the apply
    /// (absent where the service owns no OS state).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tun: Option<xp2p_store::tunstate::TunView>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind")]
pub enum Event {
    #[serde(rename = "apply.start")]
    ApplyStart {
        role: Role,
        request_id: String,
        attempt_id: String,
    },
    #[serde(rename = "apply.phase")]
    ApplyPhase {
        role: Role,
        attempt_id: String,
        phase: xp2p_core::records::journal::Phase,
        at: String,
    },
    #[serde(rename = "apply.done")]
    ApplyDone(ApplyResult),
    #[serde(rename = "apply.cancelled")]
    ApplyCancelled {
        role: Role,
        request_id: String,
        superseded_by: String,
    },
    #[serde(rename = "apply.log")]
    ApplyLog {
        role: Role,
        attempt_id: String,
        stream: String,
        line: String,
    },
    #[serde(rename = "core.log")]
    CoreLog { role: Role, line: String },
    #[serde(rename = "core.restart.start")]
    CoreRestartStart { role: Role },
    #[serde(rename = "core.restart.done")]
    CoreRestartDone {
        role: Role,
        pid: Option<i32>,
        duration_ms: u64,
    },
    #[serde(rename = "health")]
    Health {
        role: Role,
        inbounds: Vec<xp2p_store::status::InboundHealth>,
    },
    #[serde(rename = "markers")]
    Markers {
        role: Role,
        request: Option<xp2p_store::markers::RequestEntry>,
        error: Option<xp2p_store::markers::ErrorEntry>,
    },
    #[serde(rename = "core.state")]
    CoreState {
        role: Role,
        display: xp2p_core::status::DisplayState,
        pid: Option<i32>,
    },
    #[serde(rename = "deploy.progress")]
    DeployProgress {
        deploy_id: String,
        role: String,
        step: String,
        state: String,
        detail: String,
    },
    #[serde(rename = "tun.phase")]
    TunPhase {
        role: Role,
        tun: xp2p_store::tunstate::TunView,
    },
    #[serde(rename = "desired.changed")]
    DesiredChanged { role: Role, digest: String },
}

impl Event {
    /// Log lines go only to subscribers that asked for them (`subscribe{logs:true}`),
    /// so a log flood can never push an `apply --wait` client into a resync.
    pub fn is_log(&self) -> bool {
        matches!(self, Event::ApplyLog { .. } | Event::CoreLog { .. })
    }
}

/// Events kept per bus for subscribers that have not read them yet.
const BUS_CAPACITY: usize = 4096;

#[derive(Clone)]
pub struct EventBus {
    state: broadcast::Sender<Event>,
    logs: broadcast::Sender<Event>,
}

impl Default for EventBus {
    fn default() -> Self {
        EventBus {
            state: broadcast::channel(BUS_CAPACITY).0,
            logs: broadcast::channel(BUS_CAPACITY).0,
        }
    }
}

impl EventBus {
    pub fn send(&self, e: Event) {
        if e.is_log() {
            let _ = self.logs.send(e);
        } else {
            tracing::debug!(event = ?e);
            let _ = self.state.send(e);
        }
    }

    /// Every event but log lines.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.state.subscribe()
    }

    /// Log lines only ([`Event::is_log`]).
    pub fn subscribe_logs(&self) -> broadcast::Receiver<Event> {
        self.logs.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_flood_never_makes_a_state_subscriber_lag() {
        let bus = EventBus::default();
        let mut state = bus.subscribe();
        let mut logs = bus.subscribe_logs();
        for i in 0..3 * BUS_CAPACITY {
            bus.send(Event::CoreLog {
                role: Role::Client,
                line: format!("line {i}"),
            });
        }
        bus.send(Event::CoreRestartStart { role: Role::Client });
        assert_eq!(
            state.try_recv(),
            Ok(Event::CoreRestartStart { role: Role::Client })
        );
        assert!(matches!(
            logs.try_recv(),
            Err(broadcast::error::TryRecvError::Lagged(_))
        ));
    }
}
