//! Process exit codes shared by every command (ipc.md).

pub const OK: i32 = 0;
/// The command ran and found a problem (invalid config, failed apply).
pub const FAILED: i32 = 1;
