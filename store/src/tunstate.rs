//! The TUN state files (`xp2p-client.tun-full.json`, `xp2p-server.tun.json`):
//! read, written atomically and durably, and viewed for status. The state and
//! its plan are the domain's (`xp2p_core::tunstate`).

use std::path::Path;

use crate::atomic::write_atomic;
use xp2p_core::layout::Layout;
use xp2p_core::role::Role;
pub use xp2p_core::tunstate::*;

/// A role's TUN as its state file tells (`None`: no file, nothing ever done).
pub fn view(layout: &Layout, role: Role) -> Option<TunView> {
    load(&state_path(layout, role))
        .ok()
        .flatten()
        .map(|s| TunView::from(&s))
}

/// Reads a state file; `Ok(None)` when there is none.
pub fn load(path: &Path) -> Result<Option<TunState>, String> {
    match std::fs::read(path) {
        Ok(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(|e| format!("{}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

/// Writes a state file atomically and durably.
pub fn save(path: &Path, state: &TunState) -> std::io::Result<()> {
    let mut bytes = serde_json::to_vec_pretty(state).map_err(std::io::Error::other)?;
    bytes.push(b'\n');
    write_atomic(path, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips_and_tolerates_missing_fields() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.json");
        assert_eq!(load(&p).unwrap(), None);
        let s = TunState {
            phase: Phase::FullApplied,
            device_created: true,
            ..TunState::default()
        };
        save(&p, &s).unwrap();
        assert_eq!(load(&p).unwrap(), Some(s.clone()));
        assert!(s.holds_anything());
        std::fs::write(&p, br#"{"phase":"split"}"#).unwrap();
        assert_eq!(load(&p).unwrap().map(|s| s.phase), Some(Phase::Split));
        std::fs::write(&p, b"{not json").unwrap();
        assert!(load(&p).unwrap_err().contains("s.json"));
    }
}
