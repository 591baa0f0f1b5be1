//! How a core is run: the one [`Spawn`] recipe for a core binary on a config,
//! for the supervisor's long-lived cores and deploy's temporary ones.

use std::path::Path;

use xp2p_core::coreproc::CoreInfo;
use xp2p_core::layout::{LOG_DIR_MODE, LOG_FILE_MODE};
use xp2p_platform::process::{LogOpen, Spawn};

/// Whose core it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifetime {
    /// The service's core of a role: appends to the role's log and keeps
    /// serving when the service dies.
    Service,
    /// A one-shot command's validation core: its own truncated log, killed
    /// when the command dies.
    Temporary,
}

/// The recipe to run `core` on `config` with output to `log`.
pub fn spawn_spec(core: &CoreInfo, config: &Path, log: &Path, lifetime: Lifetime) -> Spawn {
    Spawn {
        program: core.path.clone(),
        args: core.run_args(config),
        log: log.to_path_buf(),
        log_open: match lifetime {
            Lifetime::Service => LogOpen::Append,
            Lifetime::Temporary => LogOpen::Truncate,
        },
        // Core logs name visited destinations: never readable by others.
        log_file_mode: LOG_FILE_MODE,
        log_dir_mode: LOG_DIR_MODE,
        die_with_parent: lifetime == Lifetime::Temporary,
    }
}
