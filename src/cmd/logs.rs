//! `xp2p logs`: a role's core log (under LOG_ROOT), optionally followed via notify.

use std::io::{Read, Seek, SeekFrom, Write};

use notify::{RecursiveMode, Watcher};
use xp2p_core::{Layout, Role};

use crate::args::LogsArgs;
use crate::exit;

pub fn run(layout: &Layout, a: &LogsArgs) -> i32 {
    let role: Role = a.role.into();
    let path = layout.core_log(role);
    let mut offset = match std::fs::metadata(&path) {
        Ok(m) => m.len().saturating_sub(64 * 1024),
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
