//! Service-manager glue: systemd readiness notification and the unit file.
//! (`windows_scm`, the Windows SCM glue, is written but never compiled on these
//! machines; see the README.)

pub mod notify;
pub mod systemd;
#[cfg(any(windows, test))]
pub mod windows_scm;
