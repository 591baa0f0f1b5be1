//! Status gathered from the files and the running processes: each role's view
//! (Desired, Live, LKG, markers, the journal's last attempt, the core's session
//! and what /proc says of it now). The derivation is the domain's
//! (`xp2p_core::status`); this module only observes and reads.

use xp2p_core::compile::RuntimeInfo;
use xp2p_core::layout::Layout;
use xp2p_core::role::Role;
pub use xp2p_core::status::*;
use xp2p_core::tunstate::Phase;
use xp2p_platform::procfs;

use crate::digest::read_desired;
use crate::journal::{self, Record};
use crate::live::{self, Slot};
use crate::markers;
use crate::session::{self, SessionRecord};

/// What /proc says now of the recorded core's process.
pub fn observe(rec: Option<&SessionRecord>) -> CoreObservation {
    match rec.and_then(|r| r.pid) {
        Some(pid) if procfs::alive(pid) => CoreObservation {
            alive: true,
            own_ports: procfs::own_listeners(pid)
                .unwrap_or_default()
                .into_iter()
                .map(|(p, _)| p)
                .collect(),
        },
        _ => CoreObservation::default(),
    }
}

/// The core's view from its record and what is observed of it now.
pub fn core_view(rec: Option<&SessionRecord>, live_rt: Option<&RuntimeInfo>) -> CoreView {
    core_view_observed(rec, live_rt, &observe(rec))
}

/// Every role that has Desired, Live or a session.
pub fn roles_present(layout: &Layout) -> Vec<Role> {
    Role::ALL
        .into_iter()
        .filter(|r| {
            layout.desired_toml(*r).is_file()
                || layout.live_dir(*r).is_dir()
                || layout.session(*r).is_file()
        })
        .collect()
}

pub fn role_view(layout: &Layout, role: Role, records: &[Record]) -> RoleView {
    let files = read_desired(layout, role).ok();
    let desired_digest = files
        .as_ref()
        .filter(|f| !f.is_absent())
        .map(|f| f.digest());
    let live_rt = live::read_runtime(layout, role, Slot::Live).ok().flatten();
    let lkg_rt = live::read_runtime(layout, role, Slot::Lkg).ok().flatten();
    let rec = session::read(layout, role);
    let desired_changed = match (&desired_digest, &live_rt) {
        (Some(d), Some(rt)) => *d != rt.desired_digest,
        (Some(_), None) => true,
        _ => false,
    };
    let tun = crate::tunstate::view(layout, role);
    let channels = channels(layout, role, live_rt.as_ref());
    RoleView {
        role,
        desired_present: desired_digest.is_some(),
        desired_digest,
        desired_changed,
        core: core_view(rec.as_ref(), live_rt.as_ref()),
        live: slot_view(live_rt),
        lkg: slot_view(lkg_rt),
        pending_request: markers::read_requests(layout).requests.remove(&role),
        error: markers::read_errors(layout).errors.remove(&role),
        last_attempt: last_attempt(records, role),
        tun_phase: tun.as_ref().map_or(Phase::Disabled, |t| t.phase),
        tun,
        tunnels: if role == Role::Client {
            std::fs::read(layout.tunnel_health())
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
                .unwrap_or_default()
        } else {
            Vec::new()
        },
        channels,
    }
}

/// Server: the channels Live compiles, with the service's last probe of each.
fn channels(layout: &Layout, role: Role, live_rt: Option<&RuntimeInfo>) -> Vec<ChannelHealth> {
    let Some(rt) = live_rt.filter(|_| role == Role::Server) else {
        return Vec::new();
    };
    let probed: Vec<ChannelHealth> = std::fs::read(layout.channel_health())
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    channels_view(&rt.channels, &probed)
}

/// All roles, from the files and /proc.
pub fn snapshot(layout: &Layout) -> Vec<RoleView> {
    // Only each role's last attempt is shown: read the journal's tail, not all of it.
    let roles = roles_present(layout);
    let records = journal::last_attempts(&layout.journal(), &roles).unwrap_or_default();
    roles
        .into_iter()
        .map(|r| role_view(layout, r, &records))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use xp2p_core::records::session::{Backoff, SessionStatus, Transition};

    fn rec(pid: i32, status: SessionStatus, reason: &str) -> SessionRecord {
        SessionRecord {
            session_id: "s".into(),
            status,
            pid: Some(pid),
            exe: "/x".into(),
            cmdline: vec![],
            config_sha256: "c".into(),
            started_at: "2026-01-01T00:00:00Z".into(),
            owner_instance_id: "i".into(),
            last_transition: Transition {
                reason_code: reason.into(),
                detail: String::new(),
                at: String::new(),
            },
            backoff: None,
        }
    }

    fn live() -> RuntimeInfo {
        serde_json::from_value(serde_json::json!({
            "role": "client",
            "xp2p_version": "0",
            "compiled_at": "",
            "request_id": null,
            "desired_digest": "d",
            "config_sha256": "c",
            "core": {"path": "/x", "flavour": "v2ray", "version": "4.34.0"},
            "inbounds": [],
            "endpoints": [],
            "tun": {"enabled": false, "mode": "proxy", "engine": null, "name": "", "mtu": 1500,
                    "addr": "", "dns_servers": [], "full_tunnel_tag": ""},
        }))
        .unwrap()
    }

    /// A live core recorded as running, whose Live is gone, is never "running".
    #[test]
    fn a_core_without_live_is_stale_not_running() {
        let me = std::process::id() as i32;
        let r = rec(me, SessionStatus::Running, "apply_committed");
        assert_eq!(core_view(Some(&r), Some(&live())).display, "running");
        let v = core_view(Some(&r), None);
        assert_eq!(v.display, "stale");
        assert_eq!(v.reason_code.as_deref(), Some("live_missing"));
        assert!(
            v.detail
                .unwrap_or_default()
                .contains("without a readable Live")
        );
    }

    /// During crash backoff the view says when the restart comes and which crash.
    #[test]
    fn crash_backoff_is_shown() {
        let dead = i32::MAX - 7;
        let mut r = rec(dead, SessionStatus::Failed, "core_exited");
        r.last_transition.detail = "killed by signal 9".into();
        r.backoff = Some(Backoff {
            restart_at: humantime::format_rfc3339_millis(
                std::time::SystemTime::now() + std::time::Duration::from_secs(8),
            )
            .to_string(),
            crash: 4,
            limit: 10,
        });
        let v = core_view(Some(&r), Some(&live()));
        assert_eq!(v.display, "failed");
        let d = v.detail.unwrap_or_default();
        assert!(
            d.starts_with("restarting in ")
                && d.contains("(crash 4 of 10); last: killed by signal 9"),
            "{d}"
        );
    }

    #[test]
    fn display_states_are_derived_from_record_and_liveness() {
        let me = std::process::id() as i32;
        let dead = i32::MAX - 7;
        let rt = live();
        let d = |r: Option<SessionRecord>| core_view(r.as_ref(), Some(&rt)).display;
        assert_eq!(d(None), "stopped");
        assert_eq!(
            d(Some(rec(me, SessionStatus::Running, "apply_committed"))),
            "running"
        );
        assert_eq!(
            d(Some(rec(
                me,
                SessionStatus::Running,
                "reattach_rejected_pid_missing"
            ))),
            "stale_reconciled"
        );
        assert_eq!(
            d(Some(rec(dead, SessionStatus::Running, "apply_committed"))),
            "stale"
        );
        assert_eq!(
            d(Some(rec(me, SessionStatus::Starting, "spawned"))),
            "starting"
        );
        assert_eq!(
            d(Some(rec(dead, SessionStatus::Failed, "crash_loop"))),
            "failed"
        );
        assert_eq!(
            d(Some(rec(dead, SessionStatus::Stopped, "service_stopped"))),
            "stopped"
        );
        // a dead pid's ports are never probed
        let v = core_view(Some(&rec(dead, SessionStatus::Running, "x")), None);
        assert_eq!(v.pid, None);
        assert_eq!(v.uptime_s, None);
    }
}
