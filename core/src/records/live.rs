//! The Live and LKG config directories of a role: slots and file names.

use std::path::PathBuf;

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
