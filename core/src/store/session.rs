//! Persisted core session records (`.state/sessions/<role>.json`): what runs,
//! who started it and why it last changed (reason codes on every transition).

use crate::layout::Layout;
use crate::role::Role;
use crate::store::atomic::write_atomic;
use crate::store::markers::now_rfc3339;
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
}

impl SessionRecord {
    pub fn transition(
        &mut self,
        status: SessionStatus,
        reason_code: &str,
        detail: impl Into<String>,
    ) {
        self.status = status;
        self.last_transition = Transition {
            reason_code: reason_code.into(),
            detail: detail.into(),
            at: now_rfc3339(),
        };
    }
}

pub fn read(layout: &Layout, role: Role) -> Option<SessionRecord> {
    std::fs::read(layout.session(role))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
}

pub fn write(layout: &Layout, role: Role, rec: &SessionRecord) -> std::io::Result<()> {
    let bytes = serde_json::to_vec_pretty(rec).map_err(std::io::Error::other)?;
    write_atomic(&layout.session(role), &bytes)
}
