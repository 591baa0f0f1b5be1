//! Reading the Live and LKG config directories of a role.

use std::io;
use std::path::{Path, PathBuf};

use crate::compile::RuntimeInfo;
use crate::layout::Layout;
use crate::role::Role;

pub const XRAY_JSON: &str = "xray.json";
pub const RUNTIME_JSON: &str = "runtime.json";

/// Which published config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    Live,
    Lkg,
}

impl Slot {
    pub fn dir(self, layout: &Layout, role: Role) -> PathBuf {
        match self {
            Slot::Live => layout.live_dir(role),
            Slot::Lkg => layout.lkg_dir(role),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Slot::Live => "live",
            Slot::Lkg => "lkg",
        }
    }
}

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
