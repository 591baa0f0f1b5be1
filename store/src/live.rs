//! Reading the Live and LKG config directories of a role.

use std::io;
use std::path::Path;

use xp2p_core::compile::RuntimeInfo;
use xp2p_core::layout::Layout;
pub use xp2p_core::records::live::*;
use xp2p_core::role::Role;

/// `xray.json` of a slot, `Ok(None)` when the slot does not exist.
pub fn read_xray(layout: &Layout, role: Role, slot: Slot) -> io::Result<Option<Vec<u8>>> {
    read_opt(&slot.dir(layout, role).join(XRAY_JSON))
}

/// `runtime.json` of a slot, parsed; `Ok(None)` when missing.
pub fn read_runtime(layout: &Layout, role: Role, slot: Slot) -> io::Result<Option<RuntimeInfo>> {
    match read_opt(&slot.dir(layout, role).join(RUNTIME_JSON))? {
        None => Ok(None),
        Some(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("runtime.json: {e}"))),
    }
}

fn read_opt(p: &Path) -> io::Result<Option<Vec<u8>>> {
    match std::fs::read(p) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}
