//! What the service pushes to subscribers (`event.kind`, ipc.md): published on
//! the service's buses the moment it happens, sent inside an `event` frame.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use xp2p_core::Role;
use xp2p_core::records::journal::Phase;
use xp2p_core::records::markers::{ErrorEntry, RequestEntry};
use xp2p_core::status::{DisplayState, InboundHealth};
use xp2p_core::tunstate::TunView;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhaseTiming {
    pub phase: Phase,
    pub ms: u64,
}

/// The result of one apply attempt: the `apply.done` event and `apply --wait --json`.
/// `status` is an `Outcome`'s wire name (`superseded` included).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tun: Option<TunView>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
        phase: Phase,
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
        inbounds: Vec<InboundHealth>,
    },
    #[serde(rename = "markers")]
    Markers {
        role: Role,
        request: Option<RequestEntry>,
        error: Option<ErrorEntry>,
    },
    #[serde(rename = "core.state")]
    CoreState {
        role: Role,
        display: DisplayState,
        pid: Option<i32>,
    },
    /// Free text from a deploy beside the service (`role` included).
    #[serde(rename = "deploy.progress")]
    DeployProgress {
        deploy_id: String,
        role: String,
        step: String,
        state: String,
        detail: String,
    },
    #[serde(rename = "tun.phase")]
    TunPhase { role: Role, tun: TunView },
    #[serde(rename = "desired.changed")]
    DesiredChanged { role: Role, digest: String },
}

impl Event {
    /// Log lines go only to subscribers that asked for them (`subscribe{logs:true}`),
    /// so a log flood can never push an `apply --wait` client into a resync.
    pub fn is_log(&self) -> bool {
        matches!(self, Event::ApplyLog { .. } | Event::CoreLog { .. })
    }

    pub fn kind(&self) -> EventKind {
        match self {
            Event::ApplyStart { .. } => EventKind::ApplyStart,
            Event::ApplyPhase { .. } => EventKind::ApplyPhase,
            Event::ApplyDone(_) => EventKind::ApplyDone,
            Event::ApplyCancelled { .. } => EventKind::ApplyCancelled,
            Event::ApplyLog { .. } => EventKind::ApplyLog,
            Event::CoreLog { .. } => EventKind::CoreLog,
            Event::CoreRestartStart { .. } => EventKind::CoreRestartStart,
            Event::CoreRestartDone { .. } => EventKind::CoreRestartDone,
            Event::Health { .. } => EventKind::Health,
            Event::Markers { .. } => EventKind::Markers,
            Event::CoreState { .. } => EventKind::CoreState,
            Event::DeployProgress { .. } => EventKind::DeployProgress,
            Event::TunPhase { .. } => EventKind::TunPhase,
            Event::DesiredChanged { .. } => EventKind::DesiredChanged,
        }
    }
}

/// The kind of an [`Event`]. The console's reducer takes events as JSON and
/// reads their fields leniently; their kind it matches through this.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    ApplyStart,
    ApplyPhase,
    ApplyDone,
    ApplyCancelled,
    ApplyLog,
    CoreLog,
    CoreRestartStart,
    CoreRestartDone,
    Health,
    Markers,
    CoreState,
    DeployProgress,
    TunPhase,
    DesiredChanged,
}

impl EventKind {
    pub const ALL: [EventKind; 14] = [
        EventKind::ApplyStart,
        EventKind::ApplyPhase,
        EventKind::ApplyDone,
        EventKind::ApplyCancelled,
        EventKind::ApplyLog,
        EventKind::CoreLog,
        EventKind::CoreRestartStart,
        EventKind::CoreRestartDone,
        EventKind::Health,
        EventKind::Markers,
        EventKind::CoreState,
        EventKind::DeployProgress,
        EventKind::TunPhase,
        EventKind::DesiredChanged,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::ApplyStart => "apply.start",
            EventKind::ApplyPhase => "apply.phase",
            EventKind::ApplyDone => "apply.done",
            EventKind::ApplyCancelled => "apply.cancelled",
            EventKind::ApplyLog => "apply.log",
            EventKind::CoreLog => "core.log",
            EventKind::CoreRestartStart => "core.restart.start",
            EventKind::CoreRestartDone => "core.restart.done",
            EventKind::Health => "health",
            EventKind::Markers => "markers",
            EventKind::CoreState => "core.state",
            EventKind::DeployProgress => "deploy.progress",
            EventKind::TunPhase => "tun.phase",
            EventKind::DesiredChanged => "desired.changed",
        }
    }

    pub fn parse(s: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The kind of an event given as JSON (its `kind` key).
    pub fn of(v: &Value) -> Option<EventKind> {
        v.get("kind")
            .and_then(Value::as_str)
            .and_then(EventKind::parse)
    }
}

impl std::fmt::Display for EventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
