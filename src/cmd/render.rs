//! `xp2p render`: print a role's xray.json.

use std::io::Write;

use xp2p_core::Layout;

use super::source;
use crate::args::{RenderArgs, Which};
use crate::exit;

pub fn run(layout: &Layout, a: &RenderArgs) -> i32 {
    let which = if a.live {
        Which::Live
    } else if a.lkg {
        Which::Lkg
    } else {
        Which::Desired
    };
    match source::load(layout, a.role.into(), which) {
        Ok(bytes) => {
            let mut out = std::io::stdout().lock();
            if out.write_all(&bytes).and_then(|()| out.flush()).is_err() {
                return exit::FAILED;
            }
            exit::OK
        }
        Err(e) => {
            e.report();
            exit::FAILED
        }
    }
}
