//! `xp2p`: the binary. Parses the command line and hands each command family to
//! its module in [`cmd`]; business logic lives in the crates.

mod args;
mod cmd;
mod exit;
mod style;

use clap::Parser;

fn main() {
    let cli = args::Cli::parse();
    if !matches!(
        cli.command,
        args::Command::Service(args::ServiceCommand::Run(_))
    ) {
        // One-shot commands die quietly when their reader goes away (`| head`),
        // like other Unix tools; the service keeps Rust's default (ignored).
        // SAFETY: setting a signal disposition before any thread starts.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    let layout = xp2p_core::Layout::resolve(cli.config_root.as_deref());
    let code = cmd::run(&layout, cli.command);
    std::process::exit(code);
}
