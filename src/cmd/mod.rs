//! Command families. Each returns the process exit code.

mod apply;
mod bundle;
mod demo;
mod deploy;
mod diff;
mod docs;
mod edit;
mod export;
mod init;
mod ipc;
mod journal;
mod logs;
mod mode;
mod ping;
mod render;
mod repair;
mod service;
#[cfg(windows)]
mod service_windows;
mod source;
mod status;
mod validate;

use xp2p_core::Layout;

use crate::args::Command;

pub fn run(layout: &Layout, command: Command) -> i32 {
    match command {
        Command::Render(a) => render::run(layout, &a),
        Command::Validate(a) => validate::run(layout, &a),
        Command::Diff(a) => diff::run(layout, &a),
        Command::Init(a) => init::run(layout, &a),
        #[cfg(not(windows))]
        Command::Service(c) => service::run(layout, c),
        #[cfg(windows)]
        Command::Service(c) => service_windows::run(layout, c),
        Command::Apply(a) => apply::run_apply(layout, &a),
        Command::Rollback(a) => apply::run_control(layout, xp2p_ipc::Request::rollback, &a),
        Command::Restart(a) => apply::run_control(layout, xp2p_ipc::Request::restart, &a),
        Command::Status(a) => status::run(layout, &a),
        Command::Journal(a) => journal::run(layout, &a),
        Command::Logs(a) => logs::run(layout, &a),
        Command::Ping(a) => ping::run(layout, &a),
        Command::Demo(a) => demo::run(&a),
        Command::Completions { shell } => docs::completions(shell),
        Command::Man { dir } => docs::man(&dir),
        Command::Client(crate::args::ClientCommand::Deploy(a)) => deploy::run_client(layout, &a),
        Command::Server(crate::args::ServerCommand::Deploy(a)) => deploy::run_server(layout, &a),
        Command::Client(crate::args::ClientCommand::Mode(a)) => mode::run_client(layout, &a),
        Command::Server(crate::args::ServerCommand::Mode(a)) => mode::run_server(layout, &a),
        Command::Client(crate::args::ClientCommand::Endpoint(c)) => {
            edit::endpoints::run_endpoint(layout, &c)
        }
        Command::Client(crate::args::ClientCommand::Redirect(c)) => {
            edit::routes::run_redirect(layout, xp2p_core::Role::Client, &c)
        }
        Command::Server(crate::args::ServerCommand::Redirect(c)) => {
            edit::routes::run_redirect(layout, xp2p_core::Role::Server, &c)
        }
        Command::Client(crate::args::ClientCommand::Forward(c)) => {
            edit::routes::run_forward(layout, xp2p_core::Role::Client, &c)
        }
        Command::Server(crate::args::ServerCommand::Forward(c)) => {
            edit::routes::run_forward(layout, xp2p_core::Role::Server, &c)
        }
        Command::Server(crate::args::ServerCommand::User(c)) => edit::users::run_user(layout, &c),
        Command::Server(crate::args::ServerCommand::Cert(c)) => edit::cert::run_cert(layout, &c),
        Command::Server(crate::args::ServerCommand::Reverse(c)) => {
            edit::reverse::run_channel(layout, &c)
        }
        Command::Client(crate::args::ClientCommand::Reverse(c)) => {
            edit::reverse::run_bridge(layout, &c)
        }
        Command::Repair(a) => repair::run(layout, &a),
        Command::Export(a) => export::run_export(layout, &a),
        Command::Import(a) => export::run_import(layout, &a),
        Command::Debug(crate::args::DebugCommand::Bundle(a)) => bundle::run(layout, &a),
        Command::Tui(a) => {
            xp2p_ui::run(layout.clone(), ipc::socket(layout), a.role.map(Into::into))
        }
    }
}

/// Prints problems (one per line) to stderr.
pub fn report(problems: &xp2p_core::Problems) {
    for p in &problems.0 {
        eprintln!("error: {p}");
    }
}

/// `XP2P_SOCKET` overrides the IPC socket path (`--socket` on the commands that talk).
pub fn socket_path(layout: &Layout) -> Option<std::path::PathBuf> {
    let _ = layout;
    std::env::var_os("XP2P_SOCKET")
        .filter(|v| !v.is_empty())
        .map(std::path::PathBuf::from)
}
