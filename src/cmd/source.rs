//! Where a config side comes from: Desired compiled now, or a published slot.

use xp2p_core::compile::CompileContext;
use xp2p_core::store::live::{self, Slot};
use xp2p_core::{Layout, Problems, Role, pipeline};

use crate::args::Which;

pub enum SideError {
    /// Desired does not compile.
    Problems(Problems),
    /// The slot has no config, or cannot be read.
    Missing(String),
}

impl SideError {
    pub fn report(&self) {
        match self {
            SideError::Problems(p) => super::report(p),
            SideError::Missing(m) => eprintln!("error: {m}"),
        }
    }
}

pub fn label(which: Which) -> &'static str {
    match which {
        Which::Desired => "desired",
        Which::Live => "live",
        Which::Lkg => "lkg",
    }
}

/// The xray.json bytes of one side.
pub fn load(layout: &Layout, role: Role, which: Which) -> Result<Vec<u8>, SideError> {
    let slot = match which {
        Which::Desired => {
            return pipeline::compile_role(layout, role, &CompileContext::default())
                .map(|(_, _, c)| c.xray_json)
                .map_err(SideError::Problems);
        }
        Which::Live => Slot::Live,
        Which::Lkg => Slot::Lkg,
    };
    let path = slot.dir(layout, role).join(live::XRAY_JSON);
    match live::read_xray(layout, role, slot) {
        Ok(Some(bytes)) => Ok(bytes),
        Ok(None) => Err(SideError::Missing(format!(
            "no {} config for the {role} role ({} does not exist)",
            slot.name(),
            path.display()
        ))),
        Err(e) => Err(SideError::Missing(format!("{}: {e}", path.display()))),
    }
}
