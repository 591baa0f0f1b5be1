//! The status of each role as a projection of durable state (Desired digest,
//! Live/LKG runtime.json, markers, the journal, the session record) plus live
//! observation (pid alive, the core's own listening sockets). Rebuilt from scratch
//! on every call; the service's snapshot and `xp2p status` share it.

use serde::{Deserialize, Serialize};

use crate::compile::RuntimeInfo;
use crate::records::journal::{Outcome, Phase, Record};
use crate::records::markers::{ErrorEntry, RequestEntry};
use crate::records::session::{SessionRecord, SessionStatus};
use crate::role::Role;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SlotView {
    pub config_sha256: String,
    pub compiled_at: String,
    pub request_id: Option<String>,
    pub desired_digest: String,
}

named_enum! {
    /// What the operator sees of a role's core (status, the console, events).
    pub enum DisplayState {
        Running => "running",
        /// Running, but an inbound's port is not its own listener.
        Degraded => "degraded",
        /// Recorded as running, but not (or not supervisably) so.
        Stale => "stale",
        /// The recorded session was stale; the service replaced it.
        StaleReconciled => "stale_reconciled",
        Failed => "failed",
        Stopped => "stopped",
        Starting => "starting",
    }
}

named_enum! {
    /// An inbound's health (a dead pid's ports are never probed).
    pub enum Health {
        Reachable => "reachable",
        Unreachable => "unreachable",
        NotChecked => "not_checked",
    }
}

named_enum! {
    /// The last tunnel probe of an endpoint.
    pub enum ProbeState {
        Ok => "ok",
        Failing => "failing",
    }
}

named_enum! {
    /// A reverse channel as the server's last probe saw it (server → portal →
    /// the client's bridge → the client's responder).
    pub enum ChannelState {
        Up => "up",
        Down => "down",
        /// In Live, not probed yet (or probes are off).
        Unknown => "unknown",
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboundHealth {
    pub tag: String,
    pub listen: String,
    pub port: u16,
    pub health: Health,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CoreView {
    pub display: DisplayState,
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
    pub state: ProbeState,
    pub rtt_ms: Option<f64>,
    pub error: Option<String>,
    pub at: String,
}

/// The last probe of one reverse channel (`xp2p ping --channel`'s path).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChannelHealth {
    /// `[server.reverse_channels.<key>]`.
    pub key: String,
    /// The portal's tag.
    pub tag: String,
    pub state: ChannelState,
    pub rtt_ms: Option<f64>,
    pub error: Option<String>,
    /// When the probe ran (RFC 3339); empty when never probed.
    pub at: String,
}

impl ChannelHealth {
    /// One probe's outcome: up with its round trip, or down with the reason.
    pub fn from_probe(
        ch: &crate::compile::runtime::RuntimeChannel,
        probe: Result<std::time::Duration, String>,
        at: &str,
    ) -> ChannelHealth {
        let (state, rtt_ms, error) = match probe {
            Ok(rtt) => (
                ChannelState::Up,
                Some((rtt.as_secs_f64() * 100_000.0).round() / 100.0),
                None,
            ),
            Err(e) => (ChannelState::Down, None, Some(e)),
        };
        ChannelHealth {
            key: ch.key.clone(),
            tag: ch.tag.clone(),
            state,
            rtt_ms,
            error,
            at: at.to_string(),
        }
    }
}

/// What status shows of the channels: every channel Live compiles, in Live's
/// order, with its last recorded probe when that probe was of the same channel
/// (key and tag); `unknown` otherwise. Records of channels Live no longer has
/// are left out.
pub fn channels_view(
    live: &[crate::compile::runtime::RuntimeChannel],
    probed: &[ChannelHealth],
) -> Vec<ChannelHealth> {
    live.iter()
        .map(|ch| {
            probed
                .iter()
                .find(|p| p.key == ch.key && p.tag == ch.tag)
                .cloned()
                .unwrap_or_else(|| ChannelHealth {
                    key: ch.key.clone(),
                    tag: ch.tag.clone(),
                    state: ChannelState::Unknown,
                    rtt_ms: None,
                    error: None,
                    at: String::new(),
                })
        })
        .collect()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttemptView {
    pub attempt_id: String,
    pub request_id: String,
    pub outcome: Option<Outcome>,
    pub phase: Phase,
    pub duration_ms: Option<u64>,
    pub error: Option<String>,
    pub phases: Vec<PhaseMark>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhaseMark {
    pub phase: Phase,
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
    pub tun_phase: crate::tunstate::Phase,
    /// The TUN record in full (pending reason, retries, last error).
    #[serde(default)]
    pub tun: Option<crate::tunstate::TunView>,
    /// Client: the last probe of each endpoint through the tunnel.
    #[serde(default)]
    pub tunnels: Vec<TunnelHealth>,
    /// Server: the last probe of each reverse channel Live compiles.
    #[serde(default)]
    pub channels: Vec<ChannelHealth>,
}

/// What status shows of a published slot's runtime.json.
pub fn slot_view(rt: Option<RuntimeInfo>) -> Option<SlotView> {
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

/// What was observed of a recorded core's process just now (by
/// `xp2p_store::status::observe`): whether it lives, and the ports its own
/// sockets listen on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CoreObservation {
    pub alive: bool,
    pub own_ports: Vec<u16>,
}

/// Derives what the operator sees from the record and what is observed now.
pub fn core_view_observed(
    rec: Option<&SessionRecord>,
    live_rt: Option<&RuntimeInfo>,
    obs: &CoreObservation,
) -> CoreView {
    let inbounds_of = |health: &dyn Fn(u16) -> Health| -> Vec<InboundHealth> {
        live_rt
            .map(|rt| {
                rt.inbounds
                    .iter()
                    .map(|i| InboundHealth {
                        tag: i.tag.clone(),
                        listen: i.listen.clone(),
                        port: i.port,
                        health: if i.network.contains("tcp") {
                            health(i.port)
                        } else {
                            Health::NotChecked
                        },
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let Some(rec) = rec else {
        return CoreView {
            display: DisplayState::Stopped,
            pid: None,
            uptime_s: None,
            config_sha256: None,
            reason_code: None,
            detail: None,
            inbounds: inbounds_of(&|_| Health::NotChecked),
        };
    };
    let alive = rec.pid.is_some() && obs.alive;
    let own: &[u16] = if alive { &obs.own_ports } else { &[] };
    let inbounds = if alive {
        inbounds_of(&|port| {
            if own.contains(&port) {
                Health::Reachable
            } else {
                Health::Unreachable
            }
        })
    } else {
        inbounds_of(&|_| Health::NotChecked)
    };
    // A core with no (readable) Live is not one the service can supervise: a
    // service that finds it at start stops it. Never "running".
    let no_live = live_rt.is_none()
        && alive
        && matches!(rec.status, SessionStatus::Running | SessionStatus::Starting);
    let display = match rec.status {
        _ if no_live => DisplayState::Stale,
        SessionStatus::Starting if alive => DisplayState::Starting,
        SessionStatus::Running if alive => {
            if inbounds.iter().any(|i| i.health == Health::Unreachable) {
                DisplayState::Degraded
            } else if rec
                .last_transition
                .reason_code
                .starts_with("reattach_rejected")
            {
                // The recorded session was stale; the service replaced it.
                DisplayState::StaleReconciled
            } else {
                DisplayState::Running
            }
        }
        SessionStatus::Running | SessionStatus::Starting => DisplayState::Stale,
        SessionStatus::Failed => DisplayState::Failed,
        SessionStatus::Stopping | SessionStatus::Stopped => DisplayState::Stopped,
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
        display,
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
        outcome: terminal.and_then(|r| r.outcome),
        phase: last.phase,
        duration_ms: terminal.and_then(|r| r.duration_ms),
        error: terminal
            .and_then(|r| r.error.as_ref())
            .map(|e| format!("{}: {}", e.code, e.message)),
        phases: mine
            .iter()
            .filter(|r| r.outcome.is_none() || r.phase == Phase::Done)
            .map(|r| PhaseMark {
                phase: r.phase,
                ts: r.ts.clone(),
            })
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::compile::runtime::RuntimeChannel;

    fn ch(key: &str, tag: &str) -> RuntimeChannel {
        RuntimeChannel {
            key: key.into(),
            tag: tag.into(),
            marker: "127.254.0.1:62023".into(),
        }
    }

    #[test]
    fn a_probe_is_up_with_its_rtt_or_down_with_its_reason() {
        let up = ChannelHealth::from_probe(&ch("a", "a.rev"), Ok(Duration::from_micros(1234)), "t");
        assert_eq!(
            (up.state, up.rtt_ms, up.error.as_deref()),
            (ChannelState::Up, Some(1.23), None)
        );
        let down = ChannelHealth::from_probe(&ch("a", "a.rev"), Err("refused".into()), "t");
        assert_eq!(
            (down.state, down.rtt_ms, down.error.as_deref()),
            (ChannelState::Down, None, Some("refused"))
        );
        assert_eq!(
            serde_json::to_value(&down).unwrap()["state"],
            serde_json::json!("down")
        );
    }

    #[test]
    fn the_view_follows_live_not_stale_records() {
        let live = [ch("a", "a.rev"), ch("b", "b.rev")];
        let probed = [
            ChannelHealth::from_probe(&ch("b", "b.rev"), Err("refused".into()), "t1"),
            // a channel Live no longer has, and `a` under its old tag
            ChannelHealth::from_probe(&ch("gone", "g.rev"), Ok(Duration::ZERO), "t0"),
            ChannelHealth::from_probe(&ch("a", "old.rev"), Ok(Duration::ZERO), "t0"),
        ];
        let v = channels_view(&live, &probed);
        let states: Vec<(&str, ChannelState)> =
            v.iter().map(|c| (c.key.as_str(), c.state)).collect();
        assert_eq!(
            states,
            [("a", ChannelState::Unknown), ("b", ChannelState::Down)]
        );
        assert!(channels_view(&[], &probed).is_empty());
    }
}
