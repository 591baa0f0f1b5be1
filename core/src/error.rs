//! The closed set of error codes (formats.md) and the one-line problem type
//! every Desired/snippet/compile failure is reported with.

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Error codes, closed set, snake_case on the wire and in the journal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    InvalidToml,
    InvalidSnippet,
    MergeCollision,
    ReservedTag,
    InvalidRule,
    RuleOrder,
    UnsupportedByCore,
    CoreNotFound,
    ConfigTestFailed,
    StageIoFailed,
    CommitIoFailed,
    StartFailed,
    HealthCheckFailed,
    RollbackFailed,
    LeaseHeld,
    Superseded,
    Timeout,
    ServiceUnavailable,
    Internal,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidToml => "invalid_toml",
            ErrorCode::InvalidSnippet => "invalid_snippet",
            ErrorCode::MergeCollision => "merge_collision",
            ErrorCode::ReservedTag => "reserved_tag",
            ErrorCode::InvalidRule => "invalid_rule",
            ErrorCode::RuleOrder => "rule_order",
            ErrorCode::UnsupportedByCore => "unsupported_by_core",
            ErrorCode::CoreNotFound => "core_not_found",
            ErrorCode::ConfigTestFailed => "config_test_failed",
            ErrorCode::StageIoFailed => "stage_io_failed",
            ErrorCode::CommitIoFailed => "commit_io_failed",
            ErrorCode::StartFailed => "start_failed",
            ErrorCode::HealthCheckFailed => "health_check_failed",
            ErrorCode::RollbackFailed => "rollback_failed",
            ErrorCode::LeaseHeld => "lease_held",
            ErrorCode::Superseded => "superseded",
            ErrorCode::Timeout => "timeout",
            ErrorCode::ServiceUnavailable => "service_unavailable",
            ErrorCode::Internal => "internal",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One problem in the operator's inputs: file, position when known, key path
/// (or array index and tag for snippets) and a message. Displays as one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub code: ErrorCode,
    /// The file at fault (as the operator knows it: under CONFIG_ROOT).
    pub file: PathBuf,
    /// 1-based line and column, when the parser or the locator knows them.
    pub position: Option<(usize, usize)>,
    /// Key path (`client.endpoints[1].port`) or snippet location (`outbounds[2] (tag "x")`).
    pub key: String,
    pub message: String,
}

impl ConfigError {
    pub fn new(
        code: ErrorCode,
        file: impl Into<PathBuf>,
        key: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        ConfigError {
            code,
            file: file.into(),
            position: None,
            key: key.into(),
            message: message.into(),
        }
    }

    pub fn at(mut self, position: Option<(usize, usize)>) -> Self {
        self.position = position;
        self
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some((line, col)) = self.position {
            write!(f, ":{line}:{col}")?;
        }
        if !self.key.is_empty() {
            write!(f, ": {}", self.key)?;
        }
        // Keep it one line whatever the underlying message holds.
        let message = self
            .message
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        write!(f, ": {message} [{}]", self.code)
    }
}

/// All problems found in one pass; never empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problems(pub Vec<ConfigError>);

impl Problems {
    pub fn one(e: ConfigError) -> Self {
        Problems(vec![e])
    }

    /// The code of the first problem: what the journal and apply.error carry.
    pub fn code(&self) -> ErrorCode {
        self.0
            .first()
            .map(|e| e.code)
            .unwrap_or(ErrorCode::Internal)
    }

    /// The first problem as one line (apply.error's `reason`), with a count of the rest.
    pub fn summary(&self) -> String {
        match self.0.as_slice() {
            [] => "unknown problem".to_string(),
            [one] => one.to_string(),
            [first, rest @ ..] => format!("{first} (and {} more)", rest.len()),
        }
    }
}

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Problems {}

impl From<ConfigError> for Problems {
    fn from(e: ConfigError) -> Self {
        Problems::one(e)
    }
}
