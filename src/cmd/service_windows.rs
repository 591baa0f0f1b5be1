//! `xp2p service …` on Windows: the SCM counterpart of [`super::service`]'s
//! systemd commands. `install` registers an auto-start service running
//! `xp2p service run --config-root ROOT` as LocalSystem with restart-on-failure
//! actions; `uninstall`, `start`, `stop`, `restart` and `status` drive it through
//! the SCM; every `--dry-run` prints what would be done. `run` hands the process
//! to the SCM dispatcher when the SCM started it, and runs in the foreground
//! otherwise.
//!
//! `cfg(windows)`: never compiled on the Linux machines this project is built on
//! (README "Windows").

use xp2p_core::Layout;
use xp2p_service::platform::windows_scm::{self, DispatchOutcome, SERVICE_NAME};

use crate::args::{ServiceCommand, ServiceInstallArgs, ServiceManageArgs, ServiceRunArgs};
use crate::exit;

pub fn run(layout: &Layout, command: ServiceCommand) -> i32 {
    match command {
        ServiceCommand::Run(a) => run_service(layout, a),
        ServiceCommand::Install(a) => install(layout, &a),
        ServiceCommand::Uninstall(a) => uninstall(&a),
        ServiceCommand::Start(a) => start(&a),
        ServiceCommand::Stop(a) => stop(&a),
        ServiceCommand::Restart(a) => restart(&a),
        ServiceCommand::Status(a) => status(layout, &a),
    }
}

/// Under the SCM: the service runs on the dispatcher's thread and stops on the
/// SCM's Stop/Shutdown. From a console: the same service in the foreground
/// (Ctrl-C stops it).
fn run_service(layout: &Layout, a: ServiceRunArgs) -> i32 {
    let keep_cores = a.keep_cores;
    let scm_layout = layout.clone();
    let outcome = windows_scm::run_dispatcher(move || {
        super::service::run(
            &scm_layout,
            ServiceCommand::Run(ServiceRunArgs { keep_cores }),
        )
    });
    match outcome {
        DispatchOutcome::Ran(code) => code,
        DispatchOutcome::NotUnderScm => super::service::run(layout, ServiceCommand::Run(a)),
        DispatchOutcome::Failed(e) => {
            eprintln!("error: {e}");
            exit::FAILED
        }
    }
}

fn warn_unit_dir(a: &ServiceManageArgs) {
    if let Some(dir) = &a.unit_dir {
        eprintln!(
            "warning: --unit-dir {} is for systemd units; ignored on Windows",
            dir.display()
        );
    }
}

fn install(layout: &Layout, a: &ServiceInstallArgs) -> i32 {
    warn_unit_dir(&a.manage);
    let binary = match &a.binary {
        Some(b) => b.clone(),
        // Not canonicalize(): on Windows that yields a `\\?\` path, which the SCM
        // would store verbatim in the service's ImagePath.
        None => match std::env::current_exe() {
            Ok(p) => p,
            Err(e) => {
                eprintln!("error: cannot find this binary's path: {e} (pass --binary)");
                return exit::FAILED;
            }
        },
    };
    let plan = windows_scm::plan(&binary, layout.root());
    let default_logs = layout.root().join("logs");
    if layout.log_root() != default_logs {
        eprintln!(
            "note: the service will log to {} (the SCM passes no XP2P_LOG_ROOT; {} applies to this shell only)",
            default_logs.display(),
            layout.log_root().display()
        );
    }
    if a.manage.dry_run {
        println!("would register the Windows service {SERVICE_NAME}:");
        print!("{}", plan.describe());
        println!("then start it with: xp2p service start");
        return exit::OK;
    }
    match windows_scm::install(&plan) {
        Ok(()) => {
            println!("registered the Windows service {SERVICE_NAME}:");
            print!("{}", plan.describe());
            println!("installed; start it with: xp2p service start");
            exit::OK
        }
        Err(e) => {
            eprintln!("error: {e}");
            exit::FAILED
        }
    }
}

fn uninstall(a: &ServiceManageArgs) -> i32 {
    warn_unit_dir(a);
    if a.dry_run {
        println!("would stop and delete the Windows service {SERVICE_NAME}");
        return exit::OK;
    }
    match windows_scm::uninstall(SERVICE_NAME) {
        Ok(true) => {
            println!("stopped and deleted the Windows service {SERVICE_NAME}");
            exit::OK
        }
        Ok(false) => {
            println!("the Windows service {SERVICE_NAME} is not installed");
            exit::OK
        }
        Err(e) => {
            eprintln!("error: {e}");
            exit::FAILED
        }
    }
}

fn start(a: &ServiceManageArgs) -> i32 {
    warn_unit_dir(a);
    if a.dry_run {
        println!("would start the Windows service {SERVICE_NAME}");
        return exit::OK;
    }
    match windows_scm::start(SERVICE_NAME) {
        Ok(true) => {
            println!("started the Windows service {SERVICE_NAME}");
            exit::OK
        }
        Ok(false) => {
            println!("the Windows service {SERVICE_NAME} is already running");
            exit::OK
        }
        Err(e) => {
            eprintln!("error: {e}");
            exit::FAILED
        }
    }
}

fn stop(a: &ServiceManageArgs) -> i32 {
    warn_unit_dir(a);
    if a.dry_run {
        println!("would stop the Windows service {SERVICE_NAME}");
        return exit::OK;
    }
    match windows_scm::stop(SERVICE_NAME) {
        Ok(()) => {
            println!("stopped the Windows service {SERVICE_NAME}");
            exit::OK
        }
        Err(e) => {
            eprintln!("error: {e}");
            exit::FAILED
        }
    }
}

fn restart(a: &ServiceManageArgs) -> i32 {
    warn_unit_dir(a);
    if a.dry_run {
        println!("would stop the Windows service {SERVICE_NAME}");
        println!("would start the Windows service {SERVICE_NAME}");
        return exit::OK;
    }
    if let Err(e) = windows_scm::stop(SERVICE_NAME) {
        eprintln!("error: {e}");
        return exit::FAILED;
    }
    start(a)
}

/// The SCM's view, then what the service says.
fn status(layout: &Layout, a: &ServiceManageArgs) -> i32 {
    warn_unit_dir(a);
    match windows_scm::query(SERVICE_NAME) {
        Ok(Some(state)) => println!("manager: Windows SCM {SERVICE_NAME}: {state}"),
        Ok(None) => println!("manager: Windows SCM: the service {SERVICE_NAME} is not installed"),
        Err(e) => println!("manager: {e}"),
    }
    super::status::run(
        layout,
        &crate::args::StatusArgs {
            json: false,
            watch: false,
        },
    )
}
