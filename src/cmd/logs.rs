//! `xp2p logs`: a role's core log (under LOG_ROOT), optionally followed via
//! notify. A user the file refuses (a `socket_group` member) gets the tail from
//! the service; one the service refuses too gets exit 7.

use std::io::{Read, Seek, SeekFrom, Write};

use notify::{RecursiveMode, Watcher};
use xp2p_core::{Layout, Role};
use xp2p_ipc::{ConnectError, Request, Response};

use super::ipc::{connect, connect_error, fail, runtime};
use crate::args::LogsArgs;
use crate::exit;

const COMMAND: &str = "xp2p logs";
/// The tail shown without `--follow`.
const TAIL_BYTES: u64 = 64 * 1024;

pub fn run(layout: &Layout, a: &LogsArgs) -> i32 {
    let role: Role = a.role.into();
    let path = layout.core_log(role);
    let denied = |e: &std::io::Error| e.kind() == std::io::ErrorKind::PermissionDenied;
    let readable = std::fs::metadata(&path).and_then(|m| std::fs::File::open(&path).map(|_| m));
    let mut offset = match readable {
        Ok(m) => m.len().saturating_sub(TAIL_BYTES),
        Err(e) if denied(&e) && !a.follow => {
            return via_service(layout, role, &format!("{}: {e}", path.display()));
        }
        Err(e) if denied(&e) => {
            let msg = format!(
                "{}: {e} (--follow needs read access to the file)",
                path.display()
            );
            return fail(COMMAND, false, "permission_denied", &msg, exit::PERMISSION);
        }
        Err(_) if a.follow => 0,
        Err(e) => {
            eprintln!("error: {}: {e}", path.display());
            return exit::FAILED;
        }
    };
    offset = print_from(&path, offset);
    if !a.follow {
        return exit::OK;
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let name = path.file_name().map(|n| n.to_os_string());
    let mut watcher =
        match notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
            // Writes to this file only: reading it ourselves (open/close) must not loop.
            if let Ok(ev) = res
                && !matches!(ev.kind, notify::EventKind::Access(_))
                && ev
                    .paths
                    .iter()
                    .any(|p| p.file_name().map(|n| n.to_os_string()) == name)
            {
                let _ = tx.send(());
            }
        }) {
            Ok(w) => w,
            Err(e) => {
                eprintln!("error: cannot follow {}: {e}", path.display());
                return exit::FAILED;
            }
        };
    let dir = path.parent().unwrap_or(layout.log_root()).to_path_buf();
    let _ = std::fs::create_dir_all(&dir);
    if let Err(e) = watcher.watch(&dir, RecursiveMode::NonRecursive) {
        eprintln!("error: cannot follow {}: {e}", path.display());
        return exit::FAILED;
    }
    while rx.recv().is_ok() {
        offset = print_from(&path, offset);
    }
    exit::OK
}

fn print_from(path: &std::path::Path, offset: u64) -> u64 {
    let Ok(mut f) = std::fs::File::open(path) else {
        return offset;
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let start = if len < offset { 0 } else { offset };
    if f.seek(SeekFrom::Start(start)).is_err() {
        return offset;
    }
    let mut buf = Vec::new();
    let _ = f.read_to_end(&mut buf);
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(&buf);
    let _ = out.flush();
    start + buf.len() as u64
}

/// The log's tail from the service, for a user the file refuses.
fn via_service(layout: &Layout, role: Role, denied: &str) -> i32 {
    let Some(rt) = runtime() else {
        return exit::FAILED;
    };
    rt.block_on(async {
        let mut c = match connect(layout).await {
            Ok(c) => c,
            Err(xp2p_ipc::ConnectError::NotRunning(_)) => {
                let msg = format!("{denied} (and no service runs to ask)");
                return fail(COMMAND, false, "permission_denied", &msg, exit::PERMISSION);
            }
            Err(e) => return connect_error(COMMAND, false, &e),
        };
        match c.call(&Request::logs(role, TAIL_BYTES)).await {
            Ok(Response::LogsOk { text }) => {
                let mut out = std::io::stdout().lock();
                let _ = out.write_all(text.as_bytes());
                let _ = out.flush();
                exit::OK
            }
            Ok(other) => connect_error(COMMAND, false, &ConnectError::unexpected(&other)),
            Err(e) => connect_error(COMMAND, false, &e),
        }
    })
}
