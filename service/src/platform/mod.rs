//! Service-manager glue: systemd readiness notification and the unit file, the
//! stop request per OS (`stop`). (`windows_scm`, the Windows SCM glue, is
//! written but never compiled on these machines; see the README. Its plain
//! parts are unit-tested here, hence `cfg(any(windows, test))`.)

pub mod notify;
/// SIGTERM/SIGINT (Unix), or the SCM's Stop/Shutdown or Ctrl-C (Windows).
#[cfg_attr(unix, path = "stop_unix.rs")]
#[cfg_attr(windows, path = "stop_windows.rs")]
pub mod stop;
pub mod systemd;
#[cfg(any(windows, test))]
pub mod windows_scm;
