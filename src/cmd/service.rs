//! `xp2p service …`: run the daemon in the foreground.

use xp2p_core::Layout;
use xp2p_service::RunOptions;

use crate::args::ServiceCommand;

/// Logs go to stderr (journald captures them); `RUST_LOG` overrides the level.
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

pub fn run(layout: &Layout, command: ServiceCommand) -> i32 {
    match command {
        ServiceCommand::Run(a) => {
            init_tracing();
            xp2p_service::run(RunOptions {
                layout: layout.clone(),
                socket: crate::cmd::socket_path(layout),
                keep_cores: a.keep_cores,
            })
        }
    }
}
