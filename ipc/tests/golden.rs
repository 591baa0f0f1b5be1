//! Golden JSON Lines: every request, answer and event variant, as today's
//! builders wrote them (`Frame::new(…).with(…)`), must be byte-identical to
//! what the typed contract writes, and parse back to the same value.

use serde_json::{Value, json};
use xp2p_core::Role;
use xp2p_core::desired::edit::{Edit, EndpointChanges, RedirectTarget};
use xp2p_core::desired::mode::ModeChange;
use xp2p_core::desired::model::{Endpoint, Forward, ForwardProtocol, Port, Protocol};
use xp2p_core::records::markers::{ErrorEntry, RequestEntry};
use xp2p_core::status::InboundHealth;
use xp2p_core::tunstate::TunView;
use xp2p_ipc::{
    ApplyResult, Event, EventKind, Frame, PROTO, PhaseTiming, Request, RequestKind, Response,
    ResponseKind, WireError,
};

fn lines(name: &str) -> Vec<String> {
    let path = format!("{}/tests/golden/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

fn frame(line: &str) -> Frame {
    serde_json::from_str(line).unwrap()
}

/// Today's request builders (ipc client, src/cmd/*, the console), one per golden line.
fn old_requests() -> Vec<Frame> {
    let id = Some(1);
    vec![
        Frame::new("hello", id)
            .with("client", "xp2p-cli 0.1.0")
            .with("proto", PROTO),
        Frame::new("hello", id).with("client", "old-client"),
        Frame::new("status", id),
        Frame::new("subscribe", id),
        Frame::new("subscribe", id).with("logs", true),
        Frame::new("apply", id)
            .with("role", "client")
            .with("request_id", "r1"),
        Frame::new("apply", id).with("role", "client"),
        Frame::new("apply", id).with("role", "all"),
        Frame::new("rollback", id).with("role", "client"),
        Frame::new("restart", id).with("role", "server"),
        Frame::new("repair", id),
        Frame::new("mode", id)
            .with("role", "client")
            .with("tun_enabled", false),
        Frame::new("mode", id)
            .with("role", "client")
            .with("tun_enabled", true)
            .with("tun_mode", "full"),
        Frame::new("mode", id)
            .with("role", "client")
            .with("mode", "full")
            .with("tag", "ep1"),
        Frame::new("journal", id).with("limit", 500),
        Frame::new("journal", id)
            .with("limit", 150)
            .with("role", "client"),
        Frame::new("logs", id)
            .with("role", "client")
            .with("bytes", 262144),
        Frame::new("render", id)
            .with("role", "client")
            .with("which", "live"),
        Frame::new("deploy.progress", id)
            .with("deploy_id", "d1")
            .with("role", "client")
            .with("step", "validating")
            .with("state", "running")
            .with("detail", "x"),
        Frame::new("edit", id)
            .with("role", "client")
            .with("dry_run", true)
            .with("edits", client_edits_json()),
        Frame::new("edit", id)
            .with("role", "server")
            .with("dry_run", false)
            .with(
                "edits",
                json!([
                    {"op": "user_add", "label": "alice", "credential": "c1"},
                    {"op": "user_rotate", "label": "alice", "new_credential": "c2",
                     "grace_until": "2026-01-02T00:00:00Z"},
                    {"op": "user_set_disabled", "label": "bob", "disabled": true},
                    {"op": "user_remove", "label": "carol"},
                    {"op": "set_mode", "role": "server", "change": {"mode": "tun"}},
                ]),
            ),
        Frame::new("desired", id).with("role", "client"),
        Frame::new("user_link", id).with("label", "alice"),
    ]
}

/// The console's client edits, as the service reads them off the wire.
fn client_edits_json() -> Value {
    json!([
        {"op": "redirect_add", "role": "client", "target": {"cidr": "10.77.0.0/16"},
         "via": "proxy-localhost"},
        {"op": "redirect_remove", "role": "client", "target": {"domain": "example.com"}},
        {"op": "forward_add", "role": "client", "forward": {
            "listen_address": "127.0.0.1", "listen_port": 2222, "target_host": "10.20.0.5",
            "target_port": 22, "protocol": "tcp", "outbound_tag": "proxy-localhost"}},
        {"op": "forward_remove", "role": "client", "listen": "127.0.0.1:2222"},
        {"op": "endpoint_add", "hostname": "peer", "address": "10.0.0.1", "port": 443,
         "protocol": "trojan", "user": "u@x", "password": "p", "allow_insecure": false,
         "disabled": false},
        {"op": "endpoint_update", "tag": "proxy-peer", "changes": {"port": 8443}},
        {"op": "endpoint_set_disabled", "tag": "proxy-peer", "disabled": true},
        {"op": "endpoint_remove", "tag": "proxy-peer", "cascade": true},
        {"op": "set_mode", "role": "client", "change": {"mode": "full", "tag": "proxy-peer"}},
    ])
}

fn client_edits() -> Vec<Edit> {
    let c = Role::Client;
    vec![
        Edit::RedirectAdd {
            role: c,
            target: RedirectTarget::cidr("10.77.0.0/16").unwrap(),
            via: "proxy-localhost".into(),
        },
        Edit::RedirectRemove {
            role: c,
            target: RedirectTarget::domain("example.com").unwrap(),
        },
        Edit::ForwardAdd {
            role: c,
            forward: Forward {
                listen_address: "127.0.0.1".parse().unwrap(),
                listen_port: Port(2222),
                target_host: "10.20.0.5".into(),
                target_port: Port(22),
                protocol: ForwardProtocol::Tcp,
                outbound_tag: "proxy-localhost".into(),
            },
        },
        Edit::ForwardRemove {
            role: c,
            listen: "127.0.0.1:2222".parse().unwrap(),
        },
        Edit::EndpointAdd(Endpoint {
            tag: None,
            hostname: "peer".into(),
            address: "10.0.0.1".into(),
            port: Port(443),
            protocol: Protocol::Trojan,
            user: "u@x".into(),
            password: "p".into(),
            server_name: None,
            allow_insecure: false,
            pinned_peer_cert_sha256: String::new(),
            flow: String::new(),
            disabled: false,
        }),
        Edit::EndpointUpdate {
            tag: "proxy-peer".into(),
            changes: EndpointChanges {
                port: Some(Port(8443)),
                ..EndpointChanges::default()
            },
        },
        Edit::EndpointSetDisabled {
            tag: "proxy-peer".into(),
            disabled: true,
        },
        Edit::EndpointRemove {
            tag: "proxy-peer".into(),
            cascade: true,
        },
        Edit::SetMode {
            role: c,
            change: ModeChange::Full {
                tag: Some("proxy-peer".into()),
            },
        },
    ]
}

/// What the typed constructors the CLI and the console use build, where one
/// exists for the line (same order as `old_requests`).
fn constructed() -> Vec<Option<Request>> {
    vec![
        Some(Request::hello("xp2p-cli 0.1.0")),
        None,
        Some(Request::status()),
        Some(Request::subscribe(false)),
        Some(Request::subscribe(true)),
        Some(Request::apply(Role::Client, Some("r1"))),
        Some(Request::apply(Role::Client, None)),
        Some(Request::apply(xp2p_ipc::ApplyTarget::All, None)),
        Some(Request::rollback(Role::Client)),
        Some(Request::restart(Role::Server)),
        Some(Request::repair()),
        None,
        None,
        None,
        Some(Request::journal(None, 500)),
        Some(Request::journal(Some(Role::Client), 150)),
        Some(Request::logs(Role::Client, 262144)),
        Some(Request::render(Role::Client, "live")),
        Some(Request::deploy_progress(
            "d1",
            "client",
            "validating",
            "running",
            "x",
        )),
        Some(Request::edit(Role::Client, client_edits(), true)),
        Some(Request::edit(
            Role::Server,
            vec![
                Edit::UserAdd {
                    label: "alice".into(),
                    credential: "c1".into(),
                },
                Edit::UserRotate {
                    label: "alice".into(),
                    new_credential: "c2".into(),
                    grace_until: Some("2026-01-02T00:00:00Z".into()),
                },
                Edit::UserSetDisabled {
                    label: "bob".into(),
                    disabled: true,
                },
                Edit::UserRemove {
                    label: "carol".into(),
                },
                Edit::SetMode {
                    role: Role::Server,
                    change: ModeChange::Tun,
                },
            ],
            false,
        )),
        Some(Request::desired(Role::Client)),
        Some(Request::user_link("alice")),
    ]
}

fn online_state() -> Value {
    json!({
        "roles": Vec::<Value>::new(),
        "service": {"running": true, "pid": 42, "instance_id": "i", "uptime_s": 3, "version": "0.1.0"}
    })
}

fn tun(phase: &str, pending: Option<&str>, retries: u32) -> Value {
    json!({"phase": phase, "mode": "full", "device": "xp2p0", "pending_reason": pending,
           "retry_count": retries, "next_retry_at": null, "last_error": null, "updated_at": "t"})
}

/// Today's answer builders (service/src/ipc_server.rs, cmd/status.rs's offline state).
fn old_responses() -> Vec<Frame> {
    vec![
        Frame::new("hello.ok", Some(1))
            .with("service", "xp2p 0.1.0")
            .with("proto", PROTO)
            .with("roles", json!(["client", "server"]))
            .with("instance_id", "i"),
        Frame::new("status.ok", Some(2)).with("state", online_state()),
        Frame::new("snapshot", Some(2))
            .with("seq", 0)
            .with("state", online_state()),
        Frame::new("snapshot", None)
            .with("seq", 7)
            .with("state", json!({"roles": [], "service": {"running": false}})),
        Frame::new("snapshot", None).with("seq", 8).with(
            "state",
            json!({"roles": [], "service": {"running": true, "answering": false, "error": "no answer"}}),
        ),
        Frame::new("apply.ok", Some(3)).with("request_ids", json!({"client": "r1", "server": "r2"})),
        Frame::new(&format!("{}.ok", "rollback"), Some(4)).with("request_id", "rollback-x"),
        Frame::new(&format!("{}.ok", "restart"), Some(4)).with("request_id", "restart-x"),
        Frame::new("mode.ok", Some(4)).with("request_id", "m1"),
        Frame::new("repair.ok", Some(5)).with("tun", json!({"client": tun("full_applied", None, 0)})),
        Frame::new("journal.ok", Some(6)).with(
            "records",
            json!([{"seq": 1, "ts": "t", "attempt_id": "a1", "role": "client", "request_id": "r1", "phase": "received"}]),
        ),
        Frame::new("logs.ok", Some(7)).with("text", "a\n"),
        Frame::new("render.ok", Some(8)).with("json", "{}"),
        Frame::new("deploy.progress.ok", Some(9)),
        Frame::new("edit.ok", Some(10))
            .with("summary", json!(["added redirect 10.77.0.0/16 via proxy-localhost"]))
            .with("changed", true)
            .with("written", true)
            .with("request_id", "r9")
            .with("toml_diff", "--- a\n+++ b\n")
            .with("compiled_diff", "--- c\n+++ d\n"),
        Frame::new("edit.ok", Some(11))
            .with("summary", json!([]))
            .with("changed", false)
            .with("written", false)
            .with("toml_diff", "")
            .with("compiled_diff", "")
            .with("compiled_diff_unavailable", "no core found"),
        Frame::new("desired.ok", Some(12)).with(
            "view",
            json!({"role": "client", "users": [], "editable": true,
                   "endpoints": [{"tag": "proxy-peer", "host": "peer", "address": "10.0.0.1",
                                  "port": 443, "protocol": "trojan", "disabled": false}],
                   "redirects": [{"cidr": "10.77.0.0/16", "outbound_tag": "proxy-peer"}],
                   "forwards": [{"listen_address": "127.0.0.1", "listen_port": 2222,
                                 "target_host": "10.20.0.5", "target_port": 22,
                                 "protocol": "tcp", "outbound_tag": "proxy-peer"}]}),
        ),
        Frame::new("desired.ok", Some(12)).with(
            "view",
            json!({"role": "server", "endpoints": [], "redirects": [], "forwards": [],
                   "editable": false,
                   "users": [{"label": "alice", "disabled": false, "rotating": true,
                              "created_at": "2026-01-01T00:00:00Z"}]}),
        ),
        Frame::new("user_link.ok", Some(13))
            .with("label", "alice")
            .with("link", "trojan://c1@h.example:62025?sni=h.example#alice"),
        Frame::new("event", None)
            .with("seq", 1)
            .with("event", json!({"kind": "core.restart.start", "role": "client"})),
        Frame::new("resync", None).with("seq", 2),
        Frame::error(
            Some(7),
            "unknown_type",
            format!("unknown request type `{}`", "no.such.thing"),
        ),
        Frame::error(
            Some(1),
            "protocol_mismatch",
            "this service speaks IPC protocol 1 (xp2p 0.1.0); the client speaks protocol 2: use one xp2p version for both",
        ),
        Frame::error(
            None,
            "busy",
            format!(
                "the service already serves {} IPC connections; try again later",
                64
            ),
        ),
    ]
}

fn tun_view(phase: &str, pending: Option<&str>, retries: u32) -> TunView {
    serde_json::from_value(tun(phase, pending, retries)).unwrap()
}

/// One event per golden line, as the service builds them.
fn events() -> Vec<Event> {
    let c = Role::Client;
    vec![
        Event::ApplyStart {
            role: c,
            request_id: "r1".into(),
            attempt_id: "a1".into(),
        },
        Event::ApplyPhase {
            role: c,
            attempt_id: "a1".into(),
            phase: "compiled".parse().unwrap(),
            at: "2026-01-01T00:00:00Z".into(),
        },
        Event::ApplyDone(ApplyResult {
            role: c,
            request_id: "r1".into(),
            attempt_id: "a1".into(),
            status: "committed".parse().unwrap(),
            changed: true,
            duration_ms: 812,
            exit_code: 0,
            error_code: None,
            error_summary: None,
            log_tail: String::new(),
            phases: vec![PhaseTiming {
                phase: "received".parse().unwrap(),
                ms: 0,
            }],
            tun: None,
        }),
        Event::ApplyDone(ApplyResult {
            role: c,
            request_id: "r2".into(),
            attempt_id: "a2".into(),
            status: "failed".parse().unwrap(),
            changed: false,
            duration_ms: 5,
            exit_code: 3,
            error_code: Some(serde_json::from_value(json!("core_not_found")).unwrap()),
            error_summary: Some("no core".into()),
            log_tail: "l\n".into(),
            phases: vec![
                PhaseTiming {
                    phase: "received".parse().unwrap(),
                    ms: 1,
                },
                PhaseTiming {
                    phase: "compiled".parse().unwrap(),
                    ms: 4,
                },
            ],
            tun: Some(tun_view("full_pending", Some("waiting"), 2)),
        }),
        Event::ApplyCancelled {
            role: c,
            request_id: "r1".into(),
            superseded_by: "r2".into(),
        },
        Event::ApplyLog {
            role: c,
            attempt_id: "a1".into(),
            stream: "core".into(),
            line: "x".into(),
        },
        Event::CoreLog {
            role: Role::Server,
            line: "x".into(),
        },
        Event::CoreRestartStart { role: c },
        Event::CoreRestartDone {
            role: c,
            pid: Some(42),
            duration_ms: 30,
        },
        Event::Health {
            role: c,
            inbounds: vec![InboundHealth {
                tag: "socks".into(),
                listen: "127.0.0.1".into(),
                port: 1080,
                health: "reachable".parse().unwrap(),
            }],
        },
        Event::Markers {
            role: c,
            request: Some(RequestEntry {
                id: "r1".into(),
                role: c,
                timestamp: "t".into(),
            }),
            error: None,
        },
        Event::Markers {
            role: Role::Server,
            request: None,
            error: Some(ErrorEntry {
                request_id: "r1".into(),
                attempt_id: "a1".into(),
                code: serde_json::from_value(json!("core_not_found")).unwrap(),
                phase: "compiled".parse().unwrap(),
                reason: "x".into(),
                timestamp: "t".into(),
            }),
        },
        Event::CoreState {
            role: c,
            display: "running".parse().unwrap(),
            pid: Some(42),
        },
        Event::CoreState {
            role: Role::Server,
            display: "stopped".parse().unwrap(),
            pid: None,
        },
        Event::DeployProgress {
            deploy_id: "d1".into(),
            role: "client".into(),
            step: "validating".into(),
            state: "running".into(),
            detail: "x".into(),
        },
        Event::TunPhase {
            role: c,
            tun: tun_view("full_applied", None, 0),
        },
        Event::DesiredChanged {
            role: c,
            digest: "sha256:ab".into(),
        },
    ]
}

#[test]
fn requests_are_byte_identical_to_the_old_builders() {
    let golden = lines("requests.jsonl");
    let old = old_requests();
    let new = constructed();
    assert_eq!(golden.len(), old.len());
    assert_eq!(golden.len(), new.len());
    for ((line, old), new) in golden.iter().zip(&old).zip(&new) {
        assert_eq!(&old.to_line(), line, "old builder");
        let typed = Request::from_frame(&frame(line)).unwrap();
        assert_eq!(&typed.to_frame(Some(1)).to_line(), line, "typed round trip");
        if let Some(new) = new {
            assert_eq!(new, &typed, "constructor");
            assert_eq!(&new.to_frame(Some(1)).to_line(), line, "constructor");
        }
    }
}

#[test]
fn responses_are_byte_identical_to_the_old_builders() {
    let golden = lines("responses.jsonl");
    let old = old_responses();
    assert_eq!(golden.len(), old.len());
    for (line, old) in golden.iter().zip(&old) {
        assert_eq!(&old.to_line(), line, "old builder");
        let f = frame(line);
        let typed = Response::from_frame(&f).unwrap_or_else(|e| panic!("{line}: {e}"));
        assert_eq!(&typed.to_frame(f.id).to_line(), line, "typed round trip");
    }
}

#[test]
fn events_are_byte_identical_to_the_old_forwarder() {
    let golden = lines("events.jsonl");
    let events = events();
    assert_eq!(golden.len(), events.len());
    for (i, (line, ev)) in golden.iter().zip(&events).enumerate() {
        let seq = i as u64 + 1;
        // Today's forwarder (service/src/ipc_server.rs `forward_events`).
        let old = Frame::new("event", None)
            .with("seq", seq)
            .with("event", serde_json::to_value(ev).unwrap());
        assert_eq!(&old.to_line(), line, "old forwarder");
        let typed = Response::Event {
            seq,
            event: Box::new(ev.clone()),
        };
        assert_eq!(&typed.to_frame(None).to_line(), line, "typed");
        assert_eq!(Response::from_frame(&frame(line)).unwrap(), typed, "parse");
        let v = serde_json::to_value(ev).unwrap();
        assert_eq!(EventKind::of(&v), Some(ev.kind()));
    }
}

#[test]
fn every_variant_has_a_golden_line() {
    let kinds = |name: &str| -> Vec<String> { lines(name).iter().map(|l| frame(l).kind).collect() };
    let requests = kinds("requests.jsonl");
    for k in RequestKind::ALL {
        assert!(
            requests.iter().any(|x| x == k.as_str()),
            "no golden request {k}"
        );
    }
    let responses = kinds("responses.jsonl");
    for k in ResponseKind::ALL {
        assert!(
            responses.iter().any(|x| x == k.as_str()),
            "no golden answer {}",
            k.as_str()
        );
    }
    let events: Vec<Option<EventKind>> = lines("events.jsonl")
        .iter()
        .map(|l| EventKind::of(&frame(l).body["event"]))
        .collect();
    for k in EventKind::ALL {
        assert!(events.contains(&Some(k)), "no golden event {k}");
    }
}

#[test]
fn error_codes_are_the_wire_strings() {
    for l in lines("responses.jsonl") {
        let f = frame(&l);
        if f.kind == "error" {
            let code = f.get_str("code").unwrap();
            assert!(WireError::parse(code).is_some(), "{code}");
        }
    }
}
