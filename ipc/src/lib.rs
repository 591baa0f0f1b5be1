//! Local IPC between the service and its clients (CLI, TUI): protocol frames,
//! JSON Lines framing with a size limit, and an async client.

pub mod client;
pub mod frame;
#[cfg(windows)]
pub mod windows_identity;
pub mod windows_pipe;

pub use client::{ConnectError, IpcClient};
pub use frame::{Frame, MAX_FRAME, PROTO};
