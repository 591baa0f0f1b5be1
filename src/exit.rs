//! Process exit codes shared by every command (ipc.md).

pub const OK: i32 = 0;
/// The command ran and found a problem (invalid config, failed apply).
pub const FAILED: i32 = 1;
/// Usage error (clap also exits 2).
pub const USAGE: i32 = 2;
/// The core rolled back: Live restored to LKG.
pub const ROLLED_BACK: i32 = 3;
/// Failed after the commit point and could not restore.
pub const FAILED_AFTER_COMMIT: i32 = 4;
/// `--wait` timed out (the apply goes on).
pub const TIMEOUT: i32 = 5;
/// The service is not running (a written request stays queued).
pub const NOT_RUNNING: i32 = 6;
/// The IPC peer check refused us.
pub const PERMISSION: i32 = 7;
/// `mode … --wait`: the apply committed but the OS state did not reach the
/// mode's phase (`full_pending` with its reason, or `error_latched`).
pub const OS_STATE_NOT_SETTLED: i32 = 8;

/// The exit code of an apply outcome.
pub fn for_status(status: &str) -> i32 {
    match status {
        "committed" | "noop" => OK,
        "rolled_back" => ROLLED_BACK,
        "failed_after_commit" => FAILED_AFTER_COMMIT,
        _ => FAILED,
    }
}
