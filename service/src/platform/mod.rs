//! Service-manager glue: systemd readiness notification and the unit file.
//! (Windows SCM integration is not built on these machines; see the README.)

pub mod notify;
pub mod systemd;
