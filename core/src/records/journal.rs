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

/// A phase of an apply attempt, in the order of the work (`Ord` follows it);
/// the commit point is [`Phase::CommittedLive`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Received,
    Compiled,
    Validated,
    Staged,
    CommittedLive,
    Started,
    Healthy,
    Done,
}

impl Phase {
    pub const ALL: [Phase; 8] = [
        Phase::Received,
        Phase::Compiled,
        Phase::Validated,
        Phase::Staged,
        Phase::CommittedLive,
        Phase::Started,
        Phase::Healthy,
        Phase::Done,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Phase::Received => "received",
            Phase::Compiled => "compiled",
            Phase::Validated => "validated",
            Phase::Staged => "staged",
            Phase::CommittedLive => "committed_live",
            Phase::Started => "started",
            Phase::Healthy => "healthy",
            Phase::Done => "done",
        }
    }

    /// Before the commit point: a failure here leaves Live untouched.
    pub fn before_commit(self) -> bool {
        self < Phase::CommittedLive
    }
}

impl std::str::FromStr for Phase {
    type Err = String;
    fn from_str(s: &str) -> Result<Phase, String> {
        Phase::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| format!("unknown phase `{s}`"))
    }
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for Phase {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

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
    /// The process exit code of a command that waited for this outcome
    /// (README "Exit codes"); the one definition of that mapping.
    pub const fn exit_code(self) -> i32 {
        match self {
            Outcome::Committed | Outcome::Noop => 0,
            Outcome::RolledBack => 3,
            Outcome::FailedAfterCommit => 4,
            Outcome::Failed | Outcome::Superseded | Outcome::Interrupted => 1,
        }
    }

    /// The change is in place (or there was nothing to change).
    pub fn succeeded(self) -> bool {
        matches!(self, Outcome::Committed | Outcome::Noop)
    }

    /// Live may differ from before the attempt (so OS state must follow it).
    pub fn may_change_live(self) -> bool {
        matches!(
            self,
            Outcome::Committed | Outcome::Noop | Outcome::RolledBack | Outcome::FailedAfterCommit
        )
    }

    pub const ALL: [Outcome; 7] = [
        Outcome::Committed,
        Outcome::Noop,
        Outcome::Failed,
        Outcome::RolledBack,
        Outcome::FailedAfterCommit,
        Outcome::Superseded,
        Outcome::Interrupted,
    ];

    pub const fn as_str(self) -> &'static str {
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

impl std::str::FromStr for Outcome {
    type Err = String;
    fn from_str(s: &str) -> Result<Outcome, String> {
        Outcome::ALL
            .into_iter()
            .find(|o| o.as_str() == s)
            .ok_or_else(|| format!("unknown outcome `{s}`"))
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for Outcome {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordError {
    pub code: ErrorCode,
    pub message: String,
    pub phase: Phase,
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
    pub phase: Phase,
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
    pub fn new(attempt_id: &str, role: Role, request_id: &str, phase: Phase) -> Record {
        Record {
            seq: 0,
            ts: crate::records::markers::now_rfc3339(),
            attempt_id: attempt_id.into(),
            role,
            request_id: request_id.into(),
            phase,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_and_outcomes_have_one_name_each_and_the_work_order() {
        assert_eq!(Phase::ALL.map(Phase::as_str), PHASES);
        for p in Phase::ALL {
            assert_eq!(p.as_str().parse::<Phase>(), Ok(p));
            assert_eq!(serde_json::to_value(p).unwrap(), p.as_str());
        }
        assert!(Phase::Staged.before_commit() && !Phase::CommittedLive.before_commit());
        for o in Outcome::ALL {
            assert_eq!(o.as_str().parse::<Outcome>(), Ok(o));
            assert_eq!(serde_json::to_value(o).unwrap(), o.as_str());
        }
        assert_eq!(Outcome::RolledBack.exit_code(), 3);
        assert_eq!(Outcome::Superseded.exit_code(), 1);
        assert!(Outcome::Noop.succeeded() && !Outcome::RolledBack.succeeded());
    }
}
