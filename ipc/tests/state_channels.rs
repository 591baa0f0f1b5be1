//! The reverse channels in the state the console and `xp2p status --json`
//! read: a server role's `channels` (key, tag, up/down/unknown, RTT, error)
//! written exactly as `tests/golden/state_channels.jsonl` (one `status.ok` frame) says, read back to
//! the same value, and a state from before the field still read (no channels).
//! `UPDATE_GOLDEN=1` rewrites the file from the typed value.

use serde_json::{Value, json};
use xp2p_core::status::{ChannelState, RoleView};
use xp2p_ipc::{Frame, Response, State, from_frame, to_frame};

fn golden_path() -> String {
    format!(
        "{}/tests/golden/state_channels.jsonl",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// A stopped server role, as the files show it, with three channels.
fn server_view(channels: Value) -> Value {
    json!({
        "role": "server", "desired_present": true, "desired_digest": "d",
        "desired_changed": false, "live": null, "lkg": null,
        "pending_request": null, "error": null, "last_attempt": null,
        "core": {"display": "stopped", "pid": null, "uptime_s": null,
                 "config_sha256": null, "reason_code": null, "detail": null,
                 "inbounds": []},
        "tun_phase": "disabled", "tun": null, "tunnels": [],
        "channels": channels
    })
}

fn state() -> State {
    let channels = json!([
        {"key": "alice", "tag": "alice-vpn.rev", "state": "up", "rtt_ms": 1.25,
         "error": null, "at": "2026-01-01T00:00:00Z"},
        {"key": "bob", "tag": "bob-nas.rev", "state": "down", "rtt_ms": null,
         "error": "no answer through the channel", "at": "2026-01-01T00:00:00Z"},
        {"key": "carol", "tag": "carol.rev", "state": "unknown", "rtt_ms": null,
         "error": null, "at": ""}
    ]);
    State {
        roles: vec![serde_json::from_value(server_view(channels)).unwrap()],
        service: Default::default(),
    }
}

#[test]
fn a_state_with_channels_is_written_as_the_golden_says() {
    let s = state();
    let states: Vec<ChannelState> = s.roles[0].channels.iter().map(|c| c.state).collect();
    assert_eq!(
        states,
        [ChannelState::Up, ChannelState::Down, ChannelState::Unknown]
    );
    let frame = to_frame(&Response::StatusOk { state: s.clone() }, Some(2));
    let written = serde_json::to_string(&frame).unwrap() + "\n";
    if std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v == "1") {
        std::fs::write(golden_path(), &written).unwrap();
    }
    let golden = std::fs::read_to_string(golden_path()).unwrap();
    assert_eq!(
        written, golden,
        "UPDATE_GOLDEN=1 rewrites it; review the diff"
    );
    let back: Response = from_frame(&serde_json::from_str::<Frame>(&golden).unwrap()).unwrap();
    assert_eq!(back, Response::StatusOk { state: s });
}

#[test]
fn a_state_from_before_channels_reads_as_none() {
    let mut old = server_view(Value::Null);
    old.as_object_mut().unwrap().remove("channels");
    let v: RoleView = serde_json::from_value(old).unwrap();
    assert!(v.channels.is_empty());
}
