//! Where a config side comes from: Desired compiled now, or a published slot.

use xp2p_core::compile::CompileContext;
use xp2p_core::{Layout, Problems, Role};
use xp2p_store::live::{self, Slot};
use xp2p_store::pipeline;

use crate::args::Which;

pub enum SideError {
    /// Desired does not compile.
    Problems(Problems),
    /// The slot has no config, or cannot be read.
    Missing(String),
    /// The service could not produce the side (its message, one problem per line).
    Remote(String),
}

impl SideError {
    pub fn report(&self) {
        match self {
            SideError::Problems(p) => super::report(p),
            SideError::Missing(m) => eprintln!("error: {m}"),
            SideError::Remote(m) => {
                for line in m.lines() {
                    eprintln!("error: {line}");
                }
            }
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

/// Asks a running service to render the side (so `diff` shows what the service
/// itself compiles); `None` when no service answers.
fn via_service(layout: &Layout, role: Role, which: Which) -> Option<Result<Vec<u8>, SideError>> {
    let socket = super::ipc::socket(layout);
    if !socket.exists() {
        return None;
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .ok()?;
    rt.block_on(async {
        let mut c = super::ipc::connect(layout).await.ok()?;
        let f = xp2p_ipc::Frame::new("render", None)
            .with("role", role.as_str())
            .with("which", label(which));
        let ans = c.request(f).await.ok()?;
        match ans.kind.as_str() {
            "render.ok" => ans.get_str("json").map(|j| Ok(j.as_bytes().to_vec())),
            "error" if ans.get_str("code") == Some("render_failed") => Some(Err(
                SideError::Remote(ans.get_str("message").unwrap_or("").to_string()),
            )),
            _ => None,
        }
    })
}

/// The xray.json bytes of one side (from the service when one runs).
pub fn load(layout: &Layout, role: Role, which: Which) -> Result<Vec<u8>, SideError> {
    if let Some(result) = via_service(layout, role, which) {
        return result;
    }
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
