//! The one error type of a deploy: the step that failed, a stable code and a
//! message for the operator.

use super::progress::Step;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct DeployError {
    /// The step that failed (`failed{step}`).
    pub step: Step,
    /// Stable machine-readable code (`unauthorized`, `expired`, `validation_failed`, …).
    pub code: String,
    pub message: String,
}

impl DeployError {
    pub fn new(step: Step, code: &str, message: impl Into<String>) -> DeployError {
        DeployError {
            step,
            code: code.to_string(),
            message: message.into(),
        }
    }

    /// True when the operator gave something unusable (exit code 2 at the CLI).
    pub fn is_usage(&self) -> bool {
        matches!(self.code.as_str(), "bad_link" | "bad_argument")
    }
}
