//! Shared plumbing for commands that talk to the service: a small runtime,
//! connecting (bounded) with the right exit codes, and error output (`--json`
//! aware, control characters escaped).

use xp2p_core::Layout;
use xp2p_core::text::escape_control;
use xp2p_ipc::{ConnectError, IpcClient};

use crate::exit;

pub fn runtime() -> Option<tokio::runtime::Runtime> {
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => Some(rt),
        Err(e) => {
            eprintln!("error: cannot start a runtime: {e}");
            None
        }
    }
}

pub fn socket(layout: &Layout) -> std::path::PathBuf {
    super::socket_path(layout).unwrap_or_else(|| layout.socket())
}

/// Prints a command-level error (one JSON object on stderr with `--json`; a
/// line with control characters escaped without).
pub fn fail(command: &str, json: bool, code: &str, message: &str, exit_code: i32) -> i32 {
    if json {
        let v = serde_json::json!({"schema_version": "1", "command": command, "error": {"code": code, "message": message}});
        eprintln!("{v}");
    } else {
        eprintln!("error: {}", escape_control(message));
    }
    exit_code
}

/// The exit code and `--json` error code of a failed IPC call.
pub fn classify(e: &ConnectError) -> (&'static str, i32) {
    match e {
        ConnectError::NotRunning(_) | ConnectError::Io(_) => {
            ("service_unavailable", exit::NOT_RUNNING)
        }
        ConnectError::PermissionDenied(_) => ("permission_denied", exit::PERMISSION),
        // A running service that does not answer in time: not "not running".
        ConnectError::NotAnswering(_) => ("timeout", exit::TIMEOUT),
        // It answered, with something we cannot take: a bug, not "not running".
        ConnectError::Protocol(_) => ("protocol_error", exit::FAILED),
    }
}

pub fn connect_error(command: &str, json: bool, e: &ConnectError) -> i32 {
    let (code, exit_code) = classify(e);
    fail(command, json, code, &e.to_string(), exit_code)
}

/// Connects and says hello, bounded by the client's default connect timeout.
pub async fn connect(layout: &Layout) -> Result<IpcClient, ConnectError> {
    connect_within(layout, xp2p_ipc::client::CONNECT_TIMEOUT).await
}

/// Connects and says hello within `bound`.
pub async fn connect_within(
    layout: &Layout,
    bound: std::time::Duration,
) -> Result<IpcClient, ConnectError> {
    IpcClient::connect_within(
        &socket(layout),
        concat!("xp2p-cli ", env!("CARGO_PKG_VERSION")),
        bound,
    )
    .await
}
