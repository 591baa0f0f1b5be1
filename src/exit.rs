//! Process exit codes shared by every command (ipc.md).

use xp2p_core::records::journal::Outcome;

pub const OK: i32 = 0;
/// The command ran and found a problem (invalid config, failed apply).
pub const FAILED: i32 = 1;
/// Usage error (clap also exits 2).
pub const USAGE: i32 = 2;
// 3 (rolled back) and 4 (failed after commit) come from `Outcome::exit_code`.
/// `--wait` timed out (the apply goes on).
pub const TIMEOUT: i32 = 5;
/// The service is not running (a written request stays queued).
pub const NOT_RUNNING: i32 = 6;
/// The IPC peer check refused us.
pub const PERMISSION: i32 = 7;
/// `mode … --wait`: the apply committed but the OS state did not reach the
/// mode's phase (`full_pending` with its reason, or `error_latched`).
pub const OS_STATE_NOT_SETTLED: i32 = 8;
/// This OS has no implementation of what was asked (`xp2p repair` where TUN
/// is not implemented: `tun_unsupported`).
pub const UNSUPPORTED: i32 = 9;

/// The exit code of an apply outcome as the service reports it (an unknown
/// status is a failure); the mapping itself is `Outcome::exit_code`.
pub fn for_status(status: &str) -> i32 {
    status.parse::<Outcome>().map_or(FAILED, Outcome::exit_code)
}
