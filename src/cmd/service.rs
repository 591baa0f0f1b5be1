//! `xp2p service …`: run the daemon in the foreground, or manage it as a systemd
//! unit (install, uninstall, start, stop, restart, status; `--dry-run` prints).

use std::path::Path;
use std::process::Command;

use xp2p_core::Layout;
use xp2p_core::desired::{LogFormat, LogLevel};
use xp2p_service::RunOptions;
use xp2p_service::platform::systemd;
use xp2p_store::atomic::write_atomic;

use crate::args::{ServiceCommand, ServiceInstallArgs, ServiceManageArgs};
use crate::exit;

/// Plain lines on stderr (journald captures them; coloured only on a terminal) and a daily-rolled
/// `LOG_ROOT/service.log` (text or JSON, `retention_days` files kept).
/// `RUST_LOG` overrides `[logging] level`. The guard flushes the file on drop.
fn init_tracing(layout: &Layout) -> Option<tracing_appender::non_blocking::WorkerGuard> {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let cfg = xp2p_service::logging_section(layout);
    let level = match cfg.level {
        LogLevel::Debug => "debug",
        LogLevel::Info => "info",
        LogLevel::Warn => "warn",
        LogLevel::Error => "error",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    // Colour only for a person at a terminal: journald (and any pipe) stores
    // escape codes verbatim, and `journalctl -o json` then shows byte arrays.
    let stderr = tracing_subscriber::fmt::layer()
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .with_target(false);
    // The folder first (0750): the appender's pruning lists it at once and logs
    // "Error reading the log directory" when it is missing.
    if let Err(e) = xp2p_store::dirs::ensure_log_root(layout) {
        eprintln!(
            "xp2p service: cannot create {}: {e}",
            layout.log_root().display()
        );
    }
    let appender = tracing_appender::rolling::RollingFileAppender::builder()
        .rotation(tracing_appender::rolling::Rotation::DAILY)
        .filename_prefix("service")
        .filename_suffix("log")
        .max_log_files(cfg.retention_days.max(1) as usize)
        .build(layout.log_root());
    let (file, guard) = match appender {
        Ok(a) => {
            // 8 192 buffered lines, not the default 128 000 (4 MiB of idle RSS).
            let (w, g) = tracing_appender::non_blocking::NonBlockingBuilder::default()
                .buffered_lines_limit(8192)
                .finish(a);
            (Some(w), Some(g))
        }
        Err(e) => {
            eprintln!(
                "xp2p service: cannot log to {}: {e}; logging to stderr only",
                layout.log_root().display()
            );
            (None, None)
        }
    };
    let text = file
        .clone()
        .filter(|_| cfg.format == LogFormat::Text)
        .map(|w| {
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_target(false)
                .with_writer(w)
        });
    let json = file
        .filter(|_| cfg.format == LogFormat::Json)
        .map(|w| tracing_subscriber::fmt::layer().json().with_writer(w));
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(stderr)
        .with(text)
        .with(json)
        .try_init();
    guard
}

pub fn run(layout: &Layout, command: ServiceCommand) -> i32 {
    match command {
        ServiceCommand::Run(a) => {
            // Two arenas suit a daemon of two worker threads (see `memory`).
            xp2p_platform::memory::limit_arenas(2);
            let _guard = init_tracing(layout);
            xp2p_service::run(RunOptions {
                layout: layout.clone(),
                socket: crate::cmd::socket_path(layout),
                keep_cores: a.keep_cores,
            })
        }
        ServiceCommand::Install(a) => install(layout, &a),
        ServiceCommand::Uninstall(a) => uninstall(&a),
        ServiceCommand::Start(a) => systemctl_verbs(&a, &["start"]),
        ServiceCommand::Stop(a) => systemctl_verbs(&a, &["stop"]),
        ServiceCommand::Restart(a) => systemctl_verbs(&a, &["restart"]),
        ServiceCommand::Status(a) => status(layout, &a),
    }
}

/// Runs (or, dry, prints) `systemctl ARGS…`.
fn systemctl(dry_run: bool, args: &[&str]) -> Result<(), String> {
    println!(
        "{}systemctl {}",
        if dry_run { "would run: " } else { "run: " },
        args.join(" ")
    );
    if dry_run {
        return Ok(());
    }
    match Command::new("systemctl").args(args).status() {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => Err(format!("systemctl {} failed ({s})", args.join(" "))),
        Err(e) => Err(format!("cannot run systemctl: {e}")),
    }
}

/// Refuses to drive a manager that is not there (dry runs always work).
fn check_manager(dry_run: bool) -> Result<(), i32> {
    match systemd::unavailable() {
        Some(why) if !dry_run => {
            eprintln!("error: {why}");
            Err(exit::FAILED)
        }
        _ => Ok(()),
    }
}

fn install(layout: &Layout, a: &ServiceInstallArgs) -> i32 {
    let dry = a.manage.dry_run;
    if let Err(code) = check_manager(dry) {
        return code;
    }
    let binary = match &a.binary {
        Some(b) => b.clone(),
        None => match std::env::current_exe().and_then(|p| p.canonicalize()) {
            Ok(p) => p,
            Err(e) => {
                eprintln!("error: cannot find this binary's path: {e} (pass --binary)");
                return exit::FAILED;
            }
        },
    };
    let unit = systemd::unit_text(&binary, layout.root(), layout.log_root());
    let path = systemd::unit_path(a.manage.unit_dir.as_deref());
    // systemd creates roots under /etc and /var/log itself (ConfigurationDirectory=,
    // LogsDirectory=); any other root must exist before the unit starts.
    for (dir, mode) in systemd::roots_install_creates(layout.root(), layout.log_root()) {
        if dry {
            println!("would create {} (mode {mode:04o})", dir.display());
        } else if let Err(e) = create_root(&dir, mode) {
            eprintln!("error: cannot create {}: {e}", dir.display());
            return exit::FAILED;
        }
    }
    if dry {
        println!("would write {}:", path.display());
        print!("{unit}");
    } else {
        if let Err(e) = write_atomic(&path, unit.as_bytes()) {
            eprintln!("error: cannot write {}: {e}", path.display());
            return exit::FAILED;
        }
        println!("wrote {}", path.display());
    }
    for args in [&["daemon-reload"][..], &["enable", systemd::UNIT_NAME]] {
        if let Err(e) = systemctl(dry, args) {
            eprintln!("error: {e}");
            return exit::FAILED;
        }
    }
    println!(
        "{}start it with: xp2p service start",
        if dry { "then " } else { "installed; " }
    );
    exit::OK
}

/// Creates a root folder with `mode` (an existing one is left as it is: the
/// operator may have chosen its mode).
fn create_root(dir: &Path, mode: u32) -> std::io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    xp2p_platform::fsperm::create_dir_all_mode(dir, mode)?;
    println!("created {} (mode {mode:04o})", dir.display());
    Ok(())
}

fn uninstall(a: &ServiceManageArgs) -> i32 {
    if let Err(code) = check_manager(a.dry_run) {
        return code;
    }
    if let Err(e) = systemctl(a.dry_run, &["disable", "--now", systemd::UNIT_NAME]) {
        eprintln!("error: {e}");
        return exit::FAILED;
    }
    let path = systemd::unit_path(a.unit_dir.as_deref());
    if a.dry_run {
        println!("would remove {}", path.display());
    } else if let Err(e) = std::fs::remove_file(&path)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        eprintln!("error: cannot remove {}: {e}", path.display());
        return exit::FAILED;
    }
    match systemctl(a.dry_run, &["daemon-reload"]) {
        Ok(()) => exit::OK,
        Err(e) => {
            eprintln!("error: {e}");
            exit::FAILED
        }
    }
}

fn systemctl_verbs(a: &ServiceManageArgs, verb: &[&str]) -> i32 {
    if let Err(code) = check_manager(a.dry_run) {
        return code;
    }
    let mut args = verb.to_vec();
    args.push(systemd::UNIT_NAME);
    match systemctl(a.dry_run, &args) {
        Ok(()) => exit::OK,
        Err(e) => {
            eprintln!("error: {e}");
            exit::FAILED
        }
    }
}

/// The manager's view (when there is one), then what the service says.
fn status(layout: &Layout, a: &ServiceManageArgs) -> i32 {
    let unit = systemd::unit_path(a.unit_dir.as_deref());
    match systemd::unavailable() {
        Some(why) => println!("manager: {why}"),
        None => {
            let out = Command::new("systemctl")
                .args([
                    "show",
                    "-p",
                    "LoadState,ActiveState,SubState,MainPID,ExecMainStatus",
                    systemd::UNIT_NAME,
                ])
                .output();
            match out {
                Ok(o) => {
                    let text = String::from_utf8_lossy(&o.stdout).replace('\n', " ");
                    println!(
                        "manager: systemd {} ({})",
                        text.trim(),
                        if Path::new(&unit).exists() {
                            "unit installed"
                        } else {
                            "unit not installed"
                        }
                    );
                }
                Err(e) => println!("manager: cannot run systemctl: {e}"),
            }
        }
    }
    super::status::run(
        layout,
        &crate::args::StatusArgs {
            json: false,
            watch: false,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_root_gives_new_folders_the_mode_and_leaves_existing_ones() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("etc").join("xp2p");
        create_root(&root, 0o750).unwrap();
        let mode = |p: &Path| xp2p_platform::fsperm::mode_of(&std::fs::metadata(p).unwrap());
        let want = xp2p_platform::fsperm::HAS_MODES.then_some(0o750);
        assert_eq!(mode(&root), want);
        assert_eq!(mode(&d.path().join("etc")), want);
        xp2p_platform::fsperm::set_mode(&root, 0o755).unwrap();
        create_root(&root, 0o700).unwrap();
        assert_eq!(
            mode(&root),
            xp2p_platform::fsperm::HAS_MODES.then_some(0o755),
            "the operator's mode is kept"
        );
    }
}
