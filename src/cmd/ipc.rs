//! Shared plumbing for commands that talk to the service: a small runtime,
//! connecting with the right exit codes, and error output (`--json` aware).

use xp2p_core::Layout;
use xp2p_core::ipc::{ConnectError, IpcClient};

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

/// Prints a command-level error (one JSON object on stderr with `--json`).
pub fn fail(command: &str, json: bool, code: &str, message: &str, exit_code: i32) -> i32 {
    if json {
        let v = serde_json::json!({"schema_version": "1", "command": command, "error": {"code": code, "message": message}});
        eprintln!("{v}");
    } else {
        eprintln!("error: {message}");
    }
    exit_code
}

pub fn connect_error(command: &str, json: bool, e: &ConnectError) -> i32 {
    match e {
        ConnectError::NotRunning(_) => fail(
            command,
            json,
            "service_unavailable",
            &e.to_string(),
            exit::NOT_RUNNING,
        ),
        ConnectError::PermissionDenied(_) => fail(
            command,
            json,
            "permission_denied",
            &e.to_string(),
            exit::PERMISSION,
        ),
        ConnectError::Io(_) => fail(
            command,
            json,
            "service_unavailable",
            &e.to_string(),
            exit::NOT_RUNNING,
        ),
    }
}

pub async fn connect(layout: &Layout) -> Result<IpcClient, ConnectError> {
    IpcClient::connect(
        &socket(layout),
        concat!("xp2p-cli ", env!("CARGO_PKG_VERSION")),
    )
    .await
}
