//! Command families. Each returns the process exit code.

mod diff;
mod init;
mod render;
mod service;
mod source;
mod validate;

use xp2p_core::Layout;

use crate::args::Command;

pub fn run(layout: &Layout, command: Command) -> i32 {
    match command {
        Command::Render(a) => render::run(layout, &a),
        Command::Validate(a) => validate::run(layout, &a),
        Command::Diff(a) => diff::run(layout, &a),
        Command::Init(a) => init::run(layout, &a),
        Command::Service(c) => service::run(layout, c),
    }
}

/// Prints problems (one per line) to stderr.
pub fn report(problems: &xp2p_core::Problems) {
    for p in &problems.0 {
        eprintln!("error: {p}");
    }
}
