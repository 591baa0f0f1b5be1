//! Local IPC between the service and its clients (CLI, TUI): the typed
//! contract (requests, answers, events, the protocol version), protocol
//! frames, JSON Lines framing with a size limit, and an async client.

pub mod client;
pub mod contract;
pub mod desired_view;
pub mod event;
pub mod frame;
#[cfg(windows)]
pub mod windows_identity;
pub mod windows_pipe;

pub use client::{ConnectError, IpcClient};
pub use contract::{
    Access, ApplyTarget, Field, Request, RequestError, RequestKind, Response, ResponseKind,
    ServiceInfo, State, WireError, from_frame, role_arg, to_frame,
};
pub use desired_view::{DesiredView, EndpointRow, UserRow};
pub use event::{ApplyResult, Event, EventKind, PhaseTiming};
pub use frame::{Frame, MAX_FRAME, PROTO};
