//! The status of each role as a projection of durable state (Desired digest,
//! Live/LKG runtime.json, markers, the journal, the session record) plus live
//! observation (pid alive, the core's own listening sockets). Rebuilt from scratch
//! on every call; the service's snapshot and `xp2p status` share it.

use serde::{Deserialize, Serialize};

use crate::compile::RuntimeInfo;
use crate::digest::read_desired;
use crate::layout::Layout;
use crate::procfs;
use crate::role::Role;
use crate::store::journal::{self, Record};
use crate::store::live::{self, Slot};
use crate::store::markers::{self, ErrorEntry, RequestEntry};
use crate::store::session::{self, SessionRecord, SessionStatus};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SlotView {
    pub config_sha256: String,
    pub compiled_at: String,
    pub request_id: Option<String>,
    pub desired_digest: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboundHealth {
    pub tag: String,
    pub listen: String,
    pub port: u16,
    /// `reachable | unreachable | not_checked` (a dead pid's ports are never probed).
    pub health: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CoreView {
    /// `running | degraded | stale | stale_reconciled | failed | stopped | starting`.
    pub display: String,
    pub pid: Option<i32>,
    pub uptime_s: Option<u64>,
    pub config_sha256: Option<String>,
    pub reason_code: Option<String>,
    pub detail: Option<String>,
    pub inbounds: Vec<InboundHealth>,
}

/// The last probe of one client endpoint through the tunnel (`xp2p ping`'s path).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TunnelHealth {
    pub endpoint: String,
    /// `ok | failing`.
    pub state: String,
    pub rtt_ms: Option<f64>,
    pub error: Option<String>,
    pub at: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttemptView {
    pub attempt_id: String,
    pub request_id: String,
    pub outcome: Option<String>,
    pub phase: String,
    pub duration_ms: Option<u64>,
    pub error: Option<String>,
    pub phases: Vec<PhaseMark>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhaseMark {
    pub phase: String,
    pub ts: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoleView {
    pub role: Role,
    pub desired_present: bool,
    pub desired_digest: Option<String>,
    /// Desired differs from what Live was compiled from.
    pub desired_changed: bool,
    pub live: Option<SlotView>,
    pub lkg: Option<SlotView>,
    pub pending_request: Option<RequestEntry>,
    pub error: Option<ErrorEntry>,
    pub last_attempt: Option<AttemptView>,
    pub core: CoreView,
    /// TUN phase from the role's state file (`disabled` when there is none).
    pub tun_phase: String,
    /// The TUN record in full (pending reason, retries, last error).
    #[serde(default)]
    pub tun: Option<crate::tunstate::TunView>,
    /// Client: the last probe of each endpoint through the tunnel.
    #[serde(default)]
    pub tunnels: Vec<TunnelHealth>,
}

fn slot(rt: Option<RuntimeInfo>) -> Option<SlotView> {
    rt.map(|r| SlotView {
        config_sha256: r.config_sha256,
        compiled_at: r.compiled_at,
        request_id: r.request_id,
        desired_digest: r.desired_digest,
    })
}

fn uptime(started_at: &str) -> Option<u64> {
    let t = humantime::parse_rfc3339_weak(started_at).ok()?;
    std::time::SystemTime::now()
        .duration_since(t)
        .ok()
        .map(|d| d.as_secs())
}

/// Derives what the operator sees from the record and what is observed now.
pub fn core_view(rec: Option<&SessionRecord>, live_rt: Option<&RuntimeInfo>) -> CoreView {
    let inbounds_of = |health: &dyn Fn(u16) -> &'static str| -> Vec<InboundHealth> {
        live_rt
            .map(|rt| {
                rt.inbounds
                    .iter()
                    .map(|i| InboundHealth {
                        tag: i.tag.clone(),
                        listen: i.listen.clone(),
                        port: i.port,
                        health: if i.network.contains("tcp") {
                            health(i.port).into()
                        } else {
                            "not_checked".into()
                        },
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let Some(rec) = rec else {
        return CoreView {
            display: "stopped".into(),
            pid: None,
            uptime_s: None,
            config_sha256: None,
            reason_code: None,
            detail: None,
            inbounds: inbounds_of(&|_| "not_checked"),
        };
    };
    let alive = rec.pid.is_some_and(procfs::alive);
    let own: Vec<u16> = match (alive, rec.pid) {
        (true, Some(pid)) => procfs::own_listeners(pid)
            .unwrap_or_default()
            .into_iter()
            .map(|(p, _)| p)
            .collect(),
        _ => Vec::new(),
    };
    let inbounds = if alive {
        inbounds_of(&|port| {
            if own.contains(&port) {
                "reachable"
            } else {
                "unreachable"
            }
        })
    } else {
        inbounds_of(&|_| "not_checked")
    };
    // A core with no (readable) Live is not one the service can supervise: a
    // service that finds it at start stops it. Never "running".
    let no_live = live_rt.is_none()
        && alive
        && matches!(rec.status, SessionStatus::Running | SessionStatus::Starting);
    let display = match rec.status {
        _ if no_live => "stale",
        SessionStatus::Starting if alive => "starting",
        SessionStatus::Running if alive => {
            if inbounds.iter().any(|i| i.health == "unreachable") {
                "degraded"
            } else if rec
                .last_transition
                .reason_code
                .starts_with("reattach_rejected")
            {
                // The recorded session was stale; the service replaced it.
                "stale_reconciled"
            } else {
                "running"
            }
        }
        SessionStatus::Running | SessionStatus::Starting => "stale",
        SessionStatus::Failed => "failed",
        SessionStatus::Stopping | SessionStatus::Stopped => "stopped",
    };
    let last = &rec.last_transition;
    let (reason_code, detail) = if no_live {
        (
            "live_missing".to_string(),
            format!(
                "pid {} runs without a readable Live config (recorded: {} {})",
                rec.pid.unwrap_or_default(),
                last.reason_code,
                last.detail
            )
            .trim_end()
            .to_string(),
        )
    } else {
        let detail = match (&rec.backoff, rec.status) {
            (Some(b), SessionStatus::Failed) => {
                let when = b.describe(std::time::SystemTime::now());
                if last.detail.is_empty() {
                    when
                } else {
                    format!("{when}; last: {}", last.detail)
                }
            }
            _ => last.detail.clone(),
        };
        (last.reason_code.clone(), detail)
    };
    CoreView {
        display: display.into(),
        pid: rec.pid.filter(|_| alive),
        uptime_s: if alive { uptime(&rec.started_at) } else { None },
        config_sha256: Some(rec.config_sha256.clone()),
        reason_code: Some(reason_code),
        detail: Some(detail).filter(|d| !d.is_empty()),
        inbounds,
    }
}

/// The last attempt of `role` in the journal records.
pub fn last_attempt(records: &[Record], role: Role) -> Option<AttemptView> {
    let last = records.iter().rev().find(|r| r.role == role)?;
    let mine: Vec<&Record> = records
        .iter()
        .filter(|r| r.attempt_id == last.attempt_id)
        .collect();
    let terminal = mine.iter().rev().find(|r| r.outcome.is_some());
    Some(AttemptView {
        attempt_id: last.attempt_id.clone(),
        request_id: last.request_id.clone(),
        outcome: terminal
            .and_then(|r| r.outcome)
            .map(|o| o.as_str().to_string()),
        phase: last.phase.clone(),
        duration_ms: terminal.and_then(|r| r.duration_ms),
        error: terminal
            .and_then(|r| r.error.as_ref())
            .map(|e| format!("{}: {}", e.code, e.message)),
        phases: mine
            .iter()
            .filter(|r| r.outcome.is_none() || r.phase == "done")
            .map(|r| PhaseMark {
                phase: r.phase.clone(),
                ts: r.ts.clone(),
            })
            .collect(),
    })
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
    RoleView {
        role,
        desired_present: desired_digest.is_some(),
        desired_digest,
        desired_changed,
        core: core_view(rec.as_ref(), live_rt.as_ref()),
        live: slot(live_rt),
        lkg: slot(lkg_rt),
        pending_request: markers::read_requests(layout).requests.remove(&role),
        error: markers::read_errors(layout).errors.remove(&role),
        last_attempt: last_attempt(records, role),
        tun_phase: tun
            .as_ref()
            .map_or("disabled".to_string(), |t| t.phase.to_string()),
        tun,
        tunnels: if role == Role::Client {
            std::fs::read(layout.tunnel_health())
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
                .unwrap_or_default()
        } else {
            Vec::new()
        },
    }
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
    use crate::store::session::Transition;

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
        r.backoff = Some(crate::store::session::Backoff {
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
