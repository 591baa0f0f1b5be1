//! Owns why an apply attempt stopped: [`ApplyError`] (one variant per cause, its message
//! the operator's one line) and the one mapping of those causes to the public
//! [`ErrorCode`] and to "retryable".

use std::path::PathBuf;

use xp2p_core::coreproc::Flavour;
use xp2p_core::error::Problems;
use xp2p_core::{ErrorCode, Role};
use xp2p_store::journal::Phase;

use crate::supervisor::StartError;

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The role lock is held by someone else (a CLI writing Desired).
    #[error("{0}")]
    LeaseHeld(String),
    /// Desired does not compile.
    #[error("{}", .0.summary())]
    Desired(Problems),
    /// The core's own `-test` refused the compiled config.
    #[error("{flavour} -test refused the config ({how}): {message}")]
    ConfigTest {
        flavour: Flavour,
        how: String,
        message: String,
    },
    /// The core binary could not be run for `-test`.
    #[error("cannot run {}: {source}", .path.display())]
    CoreNotRunnable {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Writing the staged candidate failed.
    #[error("{}: {source}", .path.display())]
    Stage {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The phase's journal record could not be written, so its step did not happen.
    #[error("cannot record phase {phase} (stopped before its step): {message}")]
    Journal { phase: Phase, message: String },
    /// The Live swap at the commit point failed (recovered).
    #[error("Live swap: {0}")]
    Swap(String),
    /// The Live/LKG exchange of a rollback failed (recovered).
    #[error("Live/LKG exchange: {0}")]
    Exchange(String),
    /// The core could not be started or did not become ready; its code is chosen where
    /// the supervisor builds it.
    #[error("{}", .0.message)]
    Start(StartError),
    /// Desired moved while it was compiled.
    #[error("Desired changed while compiling; a new attempt follows")]
    Superseded,
    /// The service stops: an attempt does not cross the commit point then.
    #[error("service stopping before the commit point")]
    Stopping,
    /// A rollback without an LKG (or without a Live).
    #[error("the {0} role has no LKG to roll back to")]
    NoLkg(Role),
    /// A bug or a lost blocking task.
    #[error("{0}")]
    Internal(String),
}

impl ApplyError {
    /// The one place an attempt's cause becomes the public error code.
    pub fn code(&self) -> ErrorCode {
        match self {
            ApplyError::LeaseHeld(_) => ErrorCode::LeaseHeld,
            ApplyError::Desired(p) => p.code(),
            ApplyError::ConfigTest { .. } => ErrorCode::ConfigTestFailed,
            ApplyError::CoreNotRunnable { .. } => ErrorCode::CoreNotFound,
            ApplyError::Stage { .. } => ErrorCode::StageIoFailed,
            ApplyError::Journal { phase, .. } => {
                if phase.before_commit() {
                    ErrorCode::StageIoFailed
                } else {
                    ErrorCode::CommitIoFailed
                }
            }
            ApplyError::Swap(_) | ApplyError::Exchange(_) => ErrorCode::CommitIoFailed,
            ApplyError::Start(e) => e.code,
            ApplyError::Superseded => ErrorCode::Superseded,
            ApplyError::Stopping | ApplyError::Internal(_) => ErrorCode::Internal,
            ApplyError::NoLkg(_) => ErrorCode::RollbackFailed,
        }
    }
}

/// Whether a later attempt of the same request may succeed (the journal's `retryable`).
pub fn retryable(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::LeaseHeld | ErrorCode::StartFailed | ErrorCode::HealthCheckFailed
    )
}

/// How an attempt ended before `done`: the phase it stopped at and why. After a failed
/// rollback the cause gains what the restore found (`code`/`message` then differ from
/// `error`'s own).
#[derive(Debug)]
pub struct Failure {
    pub phase: Phase,
    pub code: ErrorCode,
    pub message: String,
}

impl Failure {
    pub fn at(phase: Phase, error: ApplyError) -> Failure {
        Failure {
            phase,
            code: error.code(),
            message: error.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journal_failures_before_the_commit_point_are_stage_errors() {
        let at = |phase| {
            ApplyError::Journal {
                phase,
                message: "disk full".into(),
            }
            .code()
        };
        assert_eq!(at(Phase::Staged), ErrorCode::StageIoFailed);
        assert_eq!(at(Phase::CommittedLive), ErrorCode::CommitIoFailed);
        assert_eq!(at(Phase::Healthy), ErrorCode::CommitIoFailed);
    }

    #[test]
    fn messages_are_todays_lines() {
        let f = Failure::at(
            Phase::Validated,
            ApplyError::ConfigTest {
                flavour: Flavour::V2ray,
                how: "exit 23".into(),
                message: "bad inbound".into(),
            },
        );
        assert_eq!(f.code, ErrorCode::ConfigTestFailed);
        assert_eq!(
            f.message,
            "v2ray -test refused the config (exit 23): bad inbound"
        );
        let j = ApplyError::Journal {
            phase: Phase::Compiled,
            message: "journal: No space left on device".into(),
        };
        assert_eq!(
            j.to_string(),
            "cannot record phase compiled (stopped before its step): journal: No space left on device"
        );
        assert!(retryable(ErrorCode::LeaseHeld) && !retryable(ErrorCode::CommitIoFailed));
    }
}
