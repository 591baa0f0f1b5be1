//! Windows Service Control Manager glue, the counterpart of [`super::systemd`]:
//! what `xp2p service install` registers (name, command line, LocalSystem,
//! automatic start, restart-on-failure actions), the install / uninstall / start /
//! stop / query calls, and the dispatcher through which `xp2p service run`, when
//! the SCM starts it, reports its state and answers Stop and Shutdown.
//!
//! Not compiled or run on Windows here (README "Windows"). The plan and its
//! `--dry-run` text, the exit-code mapping and the stop signal are plain code,
//! unit-tested on Linux; everything that calls the SCM is `cfg(windows)`, written
//! against the `windows-service` 0.8 crate, and awaits a Windows build.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

/// The SCM's name for the service (`sc query xp2p`).
pub const SERVICE_NAME: &str = "xp2p";
pub const DISPLAY_NAME: &str = "xp2p tunnel service";
pub const DESCRIPTION: &str = "xp2p tunnel service (xray-core supervisor): applies CONFIG_ROOT's Desired configuration and supervises the cores.";

/// How long `uninstall`/`stop` wait for the service to reach Stopped.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// What `service install` registers; printed as is by `--dry-run`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScmPlan {
    pub name: String,
    pub display_name: String,
    pub description: String,
    pub binary: PathBuf,
    pub arguments: Vec<String>,
    /// `None`: LocalSystem.
    pub account: Option<String>,
    /// Restart delays after the 1st, 2nd and later failures.
    pub restart_delays: Vec<Duration>,
    /// The failure count resets after this long without a failure.
    pub reset_after: Duration,
}

/// The plan for `binary` serving `config_root`. Logs go to the layout's default
/// for that root on Windows (`CONFIG_ROOT\logs`): the SCM passes no environment,
/// so `XP2P_LOG_ROOT` is not carried over as the systemd unit does.
pub fn plan(binary: &Path, config_root: &Path) -> ScmPlan {
    ScmPlan {
        name: SERVICE_NAME.into(),
        display_name: DISPLAY_NAME.into(),
        description: DESCRIPTION.into(),
        binary: binary.to_path_buf(),
        arguments: vec![
            "service".into(),
            "run".into(),
            "--config-root".into(),
            config_root.to_string_lossy().into_owned(),
        ],
        account: None,
        restart_delays: vec![
            Duration::from_secs(2),
            Duration::from_secs(10),
            Duration::from_secs(30),
        ],
        reset_after: Duration::from_secs(24 * 3600),
    }
}

/// One argument as a Windows command line shows it (quoted when it has spaces,
/// tabs or quotes; the SCM crate escapes the real ImagePath the same way).
fn quote(arg: &str) -> String {
    if !arg.is_empty() && !arg.contains([' ', '\t', '"']) {
        return arg.to_string();
    }
    let mut out = String::from("\"");
    let mut backslashes = 0usize;
    for c in arg.chars() {
        match c {
            '\\' => backslashes += 1,
            '"' => {
                out.push_str(&"\\".repeat(backslashes * 2 + 1));
                out.push('"');
                backslashes = 0;
            }
            c => {
                out.push_str(&"\\".repeat(backslashes));
                out.push(c);
                backslashes = 0;
            }
        }
    }
    out.push_str(&"\\".repeat(backslashes * 2));
    out.push('"');
    out
}

fn secs(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 && s % 3600 == 0 {
        let h = s / 3600;
        if h % 24 == 0 {
            let days = h / 24;
            return format!("{days} day{}", if days == 1 { "" } else { "s" });
        }
        return format!("{h} h");
    }
    format!("{s} s")
}

impl ScmPlan {
    /// The ImagePath the SCM will run.
    pub fn command_line(&self) -> String {
        std::iter::once(quote(&self.binary.to_string_lossy()))
            .chain(self.arguments.iter().map(|a| quote(a)))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The lines `--dry-run` prints (and `install` prints after registering).
    pub fn describe(&self) -> String {
        let restarts = self
            .restart_delays
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let nth = match i {
                    0 => "1st failure".to_string(),
                    1 => "2nd failure".to_string(),
                    _ if i + 1 == self.restart_delays.len() => "later failures".to_string(),
                    _ => format!("failure {}", i + 1),
                };
                format!("{nth}: restart after {}", secs(*d))
            })
            .collect::<Vec<_>>()
            .join("; ");
        format!(
            "  service name:    {name}
  display name:    {display}
  description:     {description}
  binary:          {binary}
  arguments:       {args}
  command line:    {cmd}
  account:         {account}
  start type:      automatic (at boot)
  error control:   normal
  failure actions: {restarts}; failure count reset after {reset}
  on non-crash failures too: yes (a non-zero exit restarts it, except {no_config}: no config available)
",
            name = self.name,
            display = self.display_name,
            description = self.description,
            binary = self.binary.display(),
            args = self
                .arguments
                .iter()
                .map(|a| quote(a))
                .collect::<Vec<_>>()
                .join(" "),
            cmd = self.command_line(),
            account = self.account.as_deref().unwrap_or("LocalSystem"),
            reset = secs(self.reset_after),
            no_config = crate::EXIT_NO_CONFIG,
        )
    }
}

/// The exit code the service reports to the SCM for `xp2p service run`'s exit
/// status: `None` for success — 0, and 78 (no config: restarting cannot help,
/// systemd's `RestartPreventExitStatus=78`) — so that no failure action runs;
/// otherwise the status as a service-specific code, which triggers a restart.
pub fn scm_exit_code(status: i32) -> Option<u32> {
    match status {
        0 => None,
        s if s == crate::EXIT_NO_CONFIG => None,
        s => Some(s.unsigned_abs()),
    }
}

fn stop_channel() -> &'static tokio::sync::watch::Sender<bool> {
    static STOP: OnceLock<tokio::sync::watch::Sender<bool>> = OnceLock::new();
    STOP.get_or_init(|| tokio::sync::watch::channel(false).0)
}

/// Asks the running service to stop (the SCM's Stop or Shutdown control).
pub fn request_stop() {
    stop_channel().send_replace(true);
}

/// Resolves once [`request_stop`] was called (also if it was called before).
pub async fn stop_requested() {
    let mut rx = stop_channel().subscribe();
    let _ = rx.wait_for(|stop| *stop).await;
}

#[cfg(windows)]
pub use scm::{DispatchOutcome, install, query, run_dispatcher, start, stop, uninstall};

#[cfg(windows)]
mod scm {
    use std::ffi::{OsStr, OsString};
    use std::sync::{Mutex, MutexGuard, OnceLock};
    use std::time::{Duration, Instant};

    use windows_service::service::{
        Service, ServiceAccess, ServiceAction, ServiceActionType, ServiceControl,
        ServiceControlAccept, ServiceErrorControl, ServiceExitCode, ServiceFailureActions,
        ServiceFailureResetPeriod, ServiceInfo, ServiceStartType, ServiceState, ServiceStatus,
        ServiceType,
    };
    use windows_service::service_control_handler::{
        self, ServiceControlHandlerResult, ServiceStatusHandle,
    };
    use windows_service::service_dispatcher;
    use windows_service::service_manager::{ServiceManager, ServiceManagerAccess};

    use super::{STOP_TIMEOUT, ScmPlan, request_stop, scm_exit_code};

    // Win32 error codes (winerror.h) the SCM calls answer with.
    const ERROR_SERVICE_ALREADY_RUNNING: i32 = 1056;
    const ERROR_SERVICE_DOES_NOT_EXIST: i32 = 1060;
    const ERROR_SERVICE_NOT_ACTIVE: i32 = 1062;
    const ERROR_FAILED_SERVICE_CONTROLLER_CONNECT: i32 = 1063;
    const ERROR_SERVICE_EXISTS: i32 = 1073;

    fn os_code(e: &windows_service::Error) -> Option<i32> {
        match e {
            windows_service::Error::Winapi(io) => io.raw_os_error(),
            _ => None,
        }
    }

    /// One line: the step, then the Windows error text (the crate's own Display
    /// says only "IO error in winapi call").
    fn fail(step: &str, e: &windows_service::Error) -> String {
        match e {
            windows_service::Error::Winapi(io) => format!("{step}: {io}"),
            other => format!("{step}: {other}"),
        }
    }

    fn manager(access: ServiceManagerAccess) -> Result<ServiceManager, String> {
        ServiceManager::local_computer(None::<&str>, access).map_err(|e| {
            fail(
                "cannot open the Windows service control manager (run from an elevated prompt)",
                &e,
            )
        })
    }

    fn service_info(plan: &ScmPlan) -> ServiceInfo {
        ServiceInfo {
            name: OsString::from(&plan.name),
            display_name: OsString::from(&plan.display_name),
            service_type: ServiceType::OWN_PROCESS,
            start_type: ServiceStartType::AutoStart,
            error_control: ServiceErrorControl::Normal,
            executable_path: plan.binary.clone(),
            launch_arguments: plan.arguments.iter().map(OsString::from).collect(),
            dependencies: vec![],
            account_name: plan.account.as_ref().map(OsString::from),
            account_password: None,
        }
    }

    /// Registers the service, or updates an existing registration to the plan.
    pub fn install(plan: &ScmPlan) -> Result<(), String> {
        let m = manager(ServiceManagerAccess::CONNECT | ServiceManagerAccess::CREATE_SERVICE)?;
        let info = service_info(plan);
        let access = ServiceAccess::QUERY_STATUS
            | ServiceAccess::QUERY_CONFIG
            | ServiceAccess::CHANGE_CONFIG;
        let service = match m.create_service(&info, access) {
            Ok(s) => s,
            Err(e) if os_code(&e) == Some(ERROR_SERVICE_EXISTS) => {
                let s = m.open_service(&plan.name, access).map_err(|e| {
                    fail(
                        &format!("cannot open the existing service {}", plan.name),
                        &e,
                    )
                })?;
                s.change_config(&info)
                    .map_err(|e| fail(&format!("cannot update the service {}", plan.name), &e))?;
                s
            }
            Err(e) => {
                return Err(fail(
                    &format!("cannot create the service {}", plan.name),
                    &e,
                ));
            }
        };
        service.set_description(&plan.description).map_err(|e| {
            fail(
                &format!("service {}: cannot set its description", plan.name),
                &e,
            )
        })?;
        let actions = plan
            .restart_delays
            .iter()
            .map(|d| ServiceAction {
                action_type: ServiceActionType::Restart,
                delay: *d,
            })
            .collect();
        service
            .update_failure_actions(ServiceFailureActions {
                reset_period: ServiceFailureResetPeriod::After(plan.reset_after),
                reboot_msg: None,
                command: None,
                actions: Some(actions),
            })
            .map_err(|e| {
                fail(
                    &format!("service {}: cannot set its failure actions", plan.name),
                    &e,
                )
            })?;
        service
            .set_failure_actions_on_non_crash_failures(true)
            .map_err(|e| {
                fail(
                    &format!(
                        "service {}: cannot enable failure actions on non-zero exits",
                        plan.name
                    ),
                    &e,
                )
            })?;
        Ok(())
    }

    /// Opens the service; `Ok(None)` when it is not installed.
    fn open(name: &str, access: ServiceAccess) -> Result<Option<Service>, String> {
        let m = manager(ServiceManagerAccess::CONNECT)?;
        match m.open_service(name, access) {
            Ok(s) => Ok(Some(s)),
            Err(e) if os_code(&e) == Some(ERROR_SERVICE_DOES_NOT_EXIST) => Ok(None),
            Err(e) => Err(fail(&format!("cannot open the service {name}"), &e)),
        }
    }

    /// Sends Stop (unless stopped) and waits for Stopped, at most STOP_TIMEOUT.
    fn stop_and_wait(name: &str, service: &Service) -> Result<(), String> {
        match service.stop() {
            Ok(_) => {}
            Err(e) if os_code(&e) == Some(ERROR_SERVICE_NOT_ACTIVE) => return Ok(()),
            Err(e) => return Err(fail(&format!("cannot stop the service {name}"), &e)),
        }
        let deadline = Instant::now() + STOP_TIMEOUT;
        loop {
            let status = service
                .query_status()
                .map_err(|e| fail(&format!("cannot query the service {name}"), &e))?;
            if status.current_state == ServiceState::Stopped {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "the service {name} did not stop within {} s (state {:?})",
                    STOP_TIMEOUT.as_secs(),
                    status.current_state
                ));
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// Stops and deletes the service; `Ok(false)` when it was not installed.
    pub fn uninstall(name: &str) -> Result<bool, String> {
        let access = ServiceAccess::QUERY_STATUS | ServiceAccess::STOP | ServiceAccess::DELETE;
        let Some(service) = open(name, access)? else {
            return Ok(false);
        };
        stop_and_wait(name, &service)?;
        service
            .delete()
            .map_err(|e| fail(&format!("cannot delete the service {name}"), &e))?;
        Ok(true)
    }

    /// Starts the service; `Ok(false)` when it was already running.
    pub fn start(name: &str) -> Result<bool, String> {
        let Some(service) = open(name, ServiceAccess::START | ServiceAccess::QUERY_STATUS)? else {
            return Err(format!(
                "the service {name} is not installed (run `xp2p service install` first)"
            ));
        };
        match service.start::<&OsStr>(&[]) {
            Ok(()) => Ok(true),
            Err(e) if os_code(&e) == Some(ERROR_SERVICE_ALREADY_RUNNING) => Ok(false),
            Err(e) => Err(fail(&format!("cannot start the service {name}"), &e)),
        }
    }

    /// Stops the service and waits for it.
    pub fn stop(name: &str) -> Result<(), String> {
        let Some(service) = open(name, ServiceAccess::STOP | ServiceAccess::QUERY_STATUS)? else {
            return Err(format!("the service {name} is not installed"));
        };
        stop_and_wait(name, &service)
    }

    /// The SCM's view in one line; `Ok(None)` when not installed.
    pub fn query(name: &str) -> Result<Option<String>, String> {
        let Some(service) = open(name, ServiceAccess::QUERY_STATUS)? else {
            return Ok(None);
        };
        let s = service
            .query_status()
            .map_err(|e| fail(&format!("cannot query the service {name}"), &e))?;
        let pid = s.process_id.map_or(String::new(), |p| format!(" pid {p}"));
        let exit = match s.exit_code {
            ServiceExitCode::Win32(0) => String::new(),
            ServiceExitCode::Win32(c) => format!(" last exit: Win32 error {c}"),
            ServiceExitCode::ServiceSpecific(c) => format!(" last exit: status {c}"),
        };
        Ok(Some(format!("{:?}{pid}{exit}", s.current_state)))
    }

    type Payload = Box<dyn FnOnce() -> i32 + Send>;

    static PAYLOAD: Mutex<Option<Payload>> = Mutex::new(None);
    static EXIT: Mutex<Option<i32>> = Mutex::new(None);
    static STATUS: OnceLock<ServiceStatusHandle> = OnceLock::new();

    fn lock<T>(m: &'static Mutex<T>) -> MutexGuard<'static, T> {
        m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// How [`run_dispatcher`] ended.
    pub enum DispatchOutcome {
        /// The SCM started us; the service ran and stopped with this status.
        Ran(i32),
        /// Not started by the SCM (a console): run in the foreground instead.
        NotUnderScm,
        Failed(String),
    }

    /// Hands the thread to the SCM dispatcher, which runs `run` (the service, to
    /// completion) on its own thread while reporting Running/StopPending/Stopped.
    /// Returns [`DispatchOutcome::NotUnderScm`] at once when the process was not
    /// started by the SCM.
    pub fn run_dispatcher(run: impl FnOnce() -> i32 + Send + 'static) -> DispatchOutcome {
        *lock(&PAYLOAD) = Some(Box::new(run));
        match service_dispatcher::start(super::SERVICE_NAME, ffi_service_main) {
            Ok(()) => DispatchOutcome::Ran(lock(&EXIT).take().unwrap_or(1)),
            Err(e) => {
                lock(&PAYLOAD).take();
                if os_code(&e) == Some(ERROR_FAILED_SERVICE_CONTROLLER_CONNECT) {
                    DispatchOutcome::NotUnderScm
                } else {
                    DispatchOutcome::Failed(fail("cannot start the service dispatcher", &e))
                }
            }
        }
    }

    windows_service::define_windows_service!(ffi_service_main, service_main);

    fn report(state: ServiceState, accept: ServiceControlAccept, exit: ServiceExitCode) {
        let pending = matches!(
            state,
            ServiceState::StartPending | ServiceState::StopPending
        );
        let Some(handle) = STATUS.get() else { return };
        let status = ServiceStatus {
            service_type: ServiceType::OWN_PROCESS,
            current_state: state,
            controls_accepted: accept,
            exit_code: exit,
            checkpoint: u32::from(pending),
            wait_hint: if pending {
                STOP_TIMEOUT
            } else {
                Duration::default()
            },
            process_id: None,
        };
        if let Err(e) = handle.set_service_status(status) {
            tracing::warn!(
                "{}",
                fail(&format!("cannot report {state:?} to the SCM"), &e)
            );
        }
    }

    /// Runs on the dispatcher's thread once the SCM starts the service.
    fn service_main(_arguments: Vec<OsString>) {
        let handler = |control: ServiceControl| match control {
            ServiceControl::Stop | ServiceControl::Shutdown => {
                report(
                    ServiceState::StopPending,
                    ServiceControlAccept::empty(),
                    ServiceExitCode::NO_ERROR,
                );
                request_stop();
                ServiceControlHandlerResult::NoError
            }
            ServiceControl::Interrogate => ServiceControlHandlerResult::NoError,
            _ => ServiceControlHandlerResult::NotImplemented,
        };
        let handle = match service_control_handler::register(super::SERVICE_NAME, handler) {
            Ok(h) => h,
            Err(e) => {
                eprintln!(
                    "xp2p service: {}",
                    fail("cannot register the SCM control handler", &e)
                );
                *lock(&EXIT) = Some(1);
                return;
            }
        };
        let _ = STATUS.set(handle);
        report(
            ServiceState::Running,
            ServiceControlAccept::STOP | ServiceControlAccept::SHUTDOWN,
            ServiceExitCode::NO_ERROR,
        );
        let run = lock(&PAYLOAD).take();
        let status = match run {
            Some(run) => run(),
            None => 1,
        };
        let exit = match scm_exit_code(status) {
            None => ServiceExitCode::NO_ERROR,
            Some(code) => ServiceExitCode::ServiceSpecific(code),
        };
        *lock(&EXIT) = Some(status);
        report(ServiceState::Stopped, ServiceControlAccept::empty(), exit);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dry_run_text_names_everything_install_registers() {
        let p = plan(
            Path::new(r"C:\Program Files\xp2p\xp2p.exe"),
            Path::new(r"C:\ProgramData\xp2p"),
        );
        assert_eq!(
            p.command_line(),
            r#""C:\Program Files\xp2p\xp2p.exe" service run --config-root C:\ProgramData\xp2p"#
        );
        let text = p.describe();
        for line in [
            "  service name:    xp2p\n",
            r"  binary:          C:\Program Files\xp2p\xp2p.exe",
            r"  arguments:       service run --config-root C:\ProgramData\xp2p",
            "  account:         LocalSystem\n",
            "  start type:      automatic (at boot)\n",
            "  failure actions: 1st failure: restart after 2 s; 2nd failure: restart after 10 s; later failures: restart after 30 s; failure count reset after 1 day\n",
            "except 78: no config available",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
        assert!(text.ends_with('\n'));
    }

    #[test]
    fn quoting_matches_windows_argument_rules() {
        assert_eq!(quote("plain"), "plain");
        assert_eq!(quote(""), "\"\"");
        assert_eq!(quote(r"C:\a b\"), r#""C:\a b\\""#);
        assert_eq!(quote(r#"say "hi""#), r#""say \"hi\"""#);
    }

    #[test]
    fn exit_codes_restart_except_success_and_no_config() {
        assert_eq!(scm_exit_code(0), None);
        assert_eq!(scm_exit_code(crate::EXIT_NO_CONFIG), None);
        assert_eq!(scm_exit_code(1), Some(1));
        assert_eq!(scm_exit_code(-3), Some(3));
    }

    #[tokio::test]
    async fn a_stop_request_wakes_waiters_before_and_after_it() {
        let early = tokio::spawn(stop_requested());
        tokio::task::yield_now().await;
        request_stop();
        tokio::time::timeout(Duration::from_secs(5), early)
            .await
            .expect("an early waiter wakes")
            .expect("join");
        tokio::time::timeout(Duration::from_secs(5), stop_requested())
            .await
            .expect("a late waiter sees the request at once");
    }
}
