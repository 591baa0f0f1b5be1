//! Where a config side comes from: Desired compiled now, or a published slot.

use xp2p_core::{Layout, Problems, Role};
use xp2p_ipc::{Request, Response, WireError};
use xp2p_store::sides::{self, Side};

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

pub fn side(which: Which) -> Side {
    match which {
        Which::Desired => Side::Desired,
        Which::Live => Side::Live,
        Which::Lkg => Side::Lkg,
    }
}

pub fn label(which: Which) -> &'static str {
    side(which).name()
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
        let ans = c.call(&Request::render(role, label(which))).await.ok()?;
        match ans {
            Response::RenderOk { json } => Some(Ok(json.into_bytes())),
            Response::Error {
                code: WireError::RenderFailed,
                message,
            } => Some(Err(SideError::Remote(message))),
            _ => None,
        }
    })
}

/// The xray.json bytes of one side (from the service when one runs).
pub fn load(layout: &Layout, role: Role, which: Which) -> Result<Vec<u8>, SideError> {
    if let Some(result) = via_service(layout, role, which) {
        return result;
    }
    sides::render(layout, role, side(which)).map_err(|e| match e {
        sides::SideError::Problems(p) => SideError::Problems(p),
        sides::SideError::Missing { slot, path } => SideError::Missing(format!(
            "no {} config for the {role} role ({} does not exist)",
            slot.name(),
            path.display()
        )),
        sides::SideError::Io { path, error } => {
            SideError::Missing(format!("{}: {error}", path.display()))
        }
    })
}
