//! xp2p-ui: the operator console (`xp2p tui`). It talks only to the service over
//! IPC; without a service it shows a read-only view built from the files.
//!
//! - [`state`]: the state and a pure reducer (no I/O), effects as data;
//! - [`keys`]: terminal input to actions;
//! - [`edit`]: the edit views' state machine (forms, confirm, links);
//! - [`views`]: drawing, pure functions of the state;
//! - [`app`]: the event loop and the IPC task;
//! - [`source`]: data from the service or, offline, from the files;
//! - [`term`]: terminal setup and restore.

pub mod app;
pub mod edit;
pub mod keys;
pub mod qr;
pub mod source;
pub mod state;
pub mod term;
pub mod views;

use std::io::IsTerminal;

use xp2p_core::{Layout, Role};

/// Runs the console; returns the process exit code.
pub fn run(layout: Layout, socket: std::path::PathBuf, role: Option<Role>) -> i32 {
    if !std::io::stdout().is_terminal() {
        eprintln!("error: xp2p tui needs a terminal (use `xp2p status --watch` in scripts)");
        return 2;
    }
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start a runtime: {e}");
            return 1;
        }
    };
    term::install_panic_hook();
    let mut terminal = match term::setup() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: cannot set up the terminal: {e}");
            return 1;
        }
    };
    let theme = views::Theme::from_env();
    let result = rt.block_on(app::run(&mut terminal, layout, socket, role, theme));
    term::restore();
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {e}");
            1
        }
    }
}
