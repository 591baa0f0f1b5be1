//! Session records (`.state/sessions/<role>.json`): what the service knows of
//! each role's running core, read and written atomically.

use crate::atomic::write_atomic;
use xp2p_core::layout::Layout;
pub use xp2p_core::records::session::*;
use xp2p_core::role::Role;

pub fn read(layout: &Layout, role: Role) -> Option<SessionRecord> {
    std::fs::read(layout.session(role))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
}

pub fn write(layout: &Layout, role: Role, rec: &SessionRecord) -> std::io::Result<()> {
    let bytes = serde_json::to_vec_pretty(rec).map_err(std::io::Error::other)?;
    write_atomic(&layout.session(role), &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, SystemTime};

    #[test]
    fn backoff_says_when_and_which_crash() {
        let now = SystemTime::now();
        let at = |d: Duration| humantime::format_rfc3339_millis(now + d).to_string();
        let b = Backoff {
            restart_at: at(Duration::from_millis(3900)),
            crash: 3,
            limit: CRASH_LIMIT,
        };
        assert_eq!(b.describe(now), "restarting in 4 s (crash 3 of 10)");
        let due = Backoff {
            restart_at: humantime::format_rfc3339_millis(now - Duration::from_secs(2)).to_string(),
            ..b.clone()
        };
        assert_eq!(due.describe(now), "restarting now (crash 3 of 10)");
        // Old records (no backoff field) still parse.
        let json = r#"{"session_id":"s","status":"failed","pid":null,"exe":"","cmdline":[],
            "config_sha256":"","started_at":"","owner_instance_id":"",
            "last_transition":{"reason_code":"core_exited","detail":"","at":""}}"#;
        let rec: SessionRecord = serde_json::from_str(json).unwrap();
        assert_eq!(rec.backoff, None);
    }
}
