//! The apply journal's records (`.state/journal.jsonl`, one per line): phases,
//! outcomes and the record itself. Reading and appending are `xp2p-store`'s.

use serde::{Deserialize, Serialize};

use crate::error::ErrorCode;
use crate::role::Role;

/// Phases in order; the commit point is `committed_live`.
pub const PHASES: [&str; 8] = [
    "received",
    "compiled",
    "validated",
    "staged",
    "committed_live",
    "started",
    "healthy",
    "done",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Committed,
    Noop,
    Failed,
    RolledBack,
    FailedAfterCommit,
    Superseded,
    Interrupted,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Committed => "committed",
            Outcome::Noop => "noop",
            Outcome::Failed => "failed",
            Outcome::RolledBack => "rolled_back",
            Outcome::FailedAfterCommit => "failed_after_commit",
            Outcome::Superseded => "superseded",
            Outcome::Interrupted => "interrupted",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordError {
    pub code: ErrorCode,
    pub message: String,
    pub phase: String,
    pub retryable: bool,
    pub live_changed: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub seq: u64,
    pub ts: String,
    pub attempt_id: String,
    pub role: Role,
    pub request_id: String,
    pub phase: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired_digest: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub live_sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lkg_sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<RecordError>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// Free-form note (e.g. "fallback: stop-then-start", what recovery observed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl Record {
    pub fn new(attempt_id: &str, role: Role, request_id: &str, phase: &str) -> Record {
        Record {
            seq: 0,
            ts: crate::records::markers::now_rfc3339(),
            attempt_id: attempt_id.into(),
            role,
            request_id: request_id.into(),
            phase: phase.into(),
            desired_digest: None,
            live_sha256: None,
            lkg_sha256: None,
            outcome: None,
            error: None,
            duration_ms: None,
            detail: None,
        }
    }

    pub fn is_terminal(&self) -> bool {
        self.outcome.is_some()
    }
}

/// Attempts (by id) whose records have no terminal record, with their last record.
pub fn unfinished(records: &[Record]) -> Vec<Record> {
    let mut open: Vec<Record> = Vec::new();
    for r in records {
        open.retain(|o| o.attempt_id != r.attempt_id);
        if !r.is_terminal() {
            open.push(r.clone());
        }
    }
    open
}
