//! `apply.request` and `apply.error` (formats.md): the documents keyed by role.
//! Reading and writing them under the apply-request lock is `xp2p-store`'s.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::ErrorCode;
use crate::role::Role;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestEntry {
    pub id: String,
    pub role: Role,
    pub timestamp: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestDoc {
    pub version: u32,
    #[serde(default)]
    pub requests: BTreeMap<Role, RequestEntry>,
}

impl Default for RequestDoc {
    fn default() -> Self {
        RequestDoc {
            version: 2,
            requests: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorEntry {
    pub request_id: String,
    pub attempt_id: String,
    pub code: ErrorCode,
    pub phase: crate::records::journal::Phase,
    pub reason: String,
    pub timestamp: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDoc {
    pub version: u32,
    #[serde(default)]
    pub errors: BTreeMap<Role, ErrorEntry>,
}

impl Default for ErrorDoc {
    fn default() -> Self {
        ErrorDoc {
            version: 2,
            errors: BTreeMap::new(),
        }
    }
}

pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string()
}
