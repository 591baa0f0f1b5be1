//! Persisted core session records (`.state/sessions/<role>.json`): what runs,
//! who started it and why it last changed (reason codes on every transition),
//! and a crash restart the supervisor has scheduled (so status can say when).

use crate::records::markers::now_rfc3339;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionStatus {
    Starting,
    Running,
    Stopping,
    Stopped,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transition {
    pub reason_code: String,
    pub detail: String,
    pub at: String,
}

/// Crashes within the crash window that mark a role failed until the next apply.
pub const CRASH_LIMIT: u32 = 10;

/// A crash restart waiting out its backoff.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Backoff {
    /// When the next start is due (RFC 3339).
    pub restart_at: String,
    /// Crashes (or failed restarts) in the crash window so far.
    pub crash: u32,
    /// The crash count at which restarts stop.
    pub limit: u32,
}

impl Backoff {
    /// `restarting in 4 s (crash 3 of 10)`, or `restarting now (…)` once due.
    pub fn describe(&self, now: std::time::SystemTime) -> String {
        let left = humantime::parse_rfc3339_weak(&self.restart_at)
            .ok()
            .and_then(|at| at.duration_since(now).ok());
        let when = match left {
            Some(d) if d.as_secs() > 0 || d.subsec_millis() >= 500 => {
                format!("in {} s", d.as_secs() + u64::from(d.subsec_millis() >= 500))
            }
            _ => "now".to_string(),
        };
        format!("restarting {when} (crash {} of {})", self.crash, self.limit)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRecord {
    pub session_id: String,
    pub status: SessionStatus,
    pub pid: Option<i32>,
    pub exe: String,
    pub cmdline: Vec<String>,
    pub config_sha256: String,
    pub started_at: String,
    pub owner_instance_id: String,
    pub last_transition: Transition,
    /// Set while a crash restart is scheduled; cleared by every transition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff: Option<Backoff>,
}

impl SessionRecord {
    pub fn transition(
        &mut self,
        status: SessionStatus,
        reason_code: &str,
        detail: impl Into<String>,
    ) {
        self.status = status;
        self.backoff = None;
        self.last_transition = Transition {
            reason_code: reason_code.into(),
            detail: detail.into(),
            at: now_rfc3339(),
        };
    }
}
