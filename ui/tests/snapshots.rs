//! Whole-screen snapshots of the console: `views::draw` on a `TestBackend`, no
//! colours, 80x24 unless said otherwise. Ages ("12s ago") move with the clock, so
//! every timestamp is far in the past and the age is filtered to `[age]`.
//!
//! Accept changes with `INSTA_UPDATE=always cargo test -p xp2p-ui --test snapshots`
//! (or `cargo insta review`), then read the `.snap` files.

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use serde_json::json;
use xp2p_core::{ConfigError, ErrorCode, Problems, Role};
use xp2p_store::markers::{ErrorEntry, RequestEntry};
use xp2p_store::status::{AttemptView, CoreView, InboundHealth, PhaseMark, RoleView, SlotView};
use xp2p_ui::source::diff_text;
use xp2p_ui::state::{
    Action, AttemptRow, Confirm, Conn, LiveAttempt, LoadedDiff, State, StatusMsg, View, reduce,
};
use xp2p_ui::views::{self, Theme};

/// Far in the past: every age renders as days and is filtered anyway.
const PAST: &str = "2020-03-14T09:26:53.589Z";

const CLIENT_LIVE: &str = "3f2a9c1e7b4d5a6f8e9d0c1b2a3f4e5d6c7b8a9f0e1d2c3b4a5f6e7d8c9b0a1f";
const CLIENT_LKG: &str = "a81c0f33d2e94b7765c1e0a9b8d7c6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9";
const SERVER_LIVE: &str = "5e0d4c3b2a1f0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d";
const DIGEST: &str = "9b1f7d2c4e6a8b0c1d3e5f7a9b2c4d6e8f0a1b3c5d7e9f1a2b4c6d8e0f1a3b5c";

fn render(state: &State, w: u16, h: u16) -> Terminal<TestBackend> {
    let theme = Theme { color: false };
    let mut terminal = Terminal::new(TestBackend::new(w, h)).expect("test backend");
    terminal
        .draw(|f| views::draw(f, state, &theme))
        .expect("draw");
    terminal
}

/// Renders at 80x24 and compares with `snapshots/snapshots__<name>.snap`.
fn snap(name: &str, state: &State) {
    snap_at(name, state, 80, 24);
}

fn snap_at(name: &str, state: &State, w: u16, h: u16) {
    let terminal = render(state, w, h);
    insta::with_settings!({
        filters => vec![(r"\d+[smhd] ago", "[age]")],
        description => format!("{name} at {w}x{h}"),
        omit_expression => true,
    }, {
        insta::assert_snapshot!(name, terminal.backend());
    });
}

// ---- building blocks -------------------------------------------------------------

fn ts(ms_after: u64) -> String {
    // PAST plus a few milliseconds, as the journal writes them.
    let base = humantime_ms(PAST);
    let t = base + std::time::Duration::from_millis(ms_after);
    humantime::format_rfc3339_millis(t).to_string()
}

fn humantime_ms(s: &str) -> std::time::SystemTime {
    humantime::parse_rfc3339_weak(s).expect("a timestamp")
}

fn slot(sha: &str) -> SlotView {
    SlotView {
        config_sha256: sha.into(),
        compiled_at: PAST.into(),
        request_id: Some("0b7e41c2-5d9a-4f3e-8c21-7a6b5c4d3e2f".into()),
        desired_digest: DIGEST.into(),
    }
}

fn inbound(tag: &str, listen: &str, port: u16, health: &str) -> InboundHealth {
    InboundHealth {
        tag: tag.into(),
        listen: listen.into(),
        port,
        health: health.parse().unwrap(),
    }
}

fn running(pid: i32, uptime_s: u64, sha: &str, inbounds: Vec<InboundHealth>) -> CoreView {
    CoreView {
        display: xp2p_core::status::DisplayState::Running,
        pid: Some(pid),
        uptime_s: Some(uptime_s),
        config_sha256: Some(sha.into()),
        reason_code: Some("apply_committed".into()),
        detail: None,
        inbounds,
    }
}

/// A journal attempt through every phase, with the given millisecond offsets.
fn attempt(
    id: &str,
    outcome: &str,
    phases: &[(&str, u64)],
    error: Option<&str>,
    duration_ms: u64,
) -> AttemptView {
    AttemptView {
        attempt_id: id.into(),
        request_id: "0b7e41c2-5d9a-4f3e-8c21-7a6b5c4d3e2f".into(),
        outcome: Some(outcome.parse().unwrap()),
        phase: xp2p_core::records::journal::Phase::Done,
        duration_ms: Some(duration_ms),
        error: error.map(str::to_string),
        phases: phases
            .iter()
            .map(|(p, at)| PhaseMark {
                phase: p.parse().unwrap(),
                ts: ts(*at),
            })
            .collect(),
    }
}

const COMMITTED_PHASES: [(&str, u64); 7] = [
    ("received", 0),
    ("compiled", 14),
    ("validated", 324),
    ("staged", 326),
    ("started", 446),
    ("healthy", 848),
    ("done", 851),
];

fn healthy_client() -> RoleView {
    RoleView {
        role: Role::Client,
        desired_present: true,
        desired_digest: Some(DIGEST.into()),
        desired_changed: false,
        live: Some(slot(CLIENT_LIVE)),
        lkg: Some(slot(CLIENT_LKG)),
        pending_request: None,
        error: None,
        last_attempt: Some(attempt(
            "c4f1a2b3-1111-4e5f-9a8b-7c6d5e4f3a2b",
            "committed",
            &COMMITTED_PHASES,
            None,
            851,
        )),
        core: running(
            31337,
            3725,
            CLIENT_LIVE,
            vec![
                inbound("socks", "127.0.0.1", 1080, "reachable"),
                inbound("http", "127.0.0.1", 8080, "reachable"),
            ],
        ),
        tun_phase: xp2p_core::tunstate::Phase::Disabled,
        tun: None,
        tunnels: Vec::new(),
        channels: Vec::new(),
    }
}

fn healthy_server() -> RoleView {
    RoleView {
        role: Role::Server,
        desired_present: true,
        desired_digest: Some(DIGEST.into()),
        desired_changed: false,
        live: Some(slot(SERVER_LIVE)),
        lkg: None,
        pending_request: None,
        error: None,
        last_attempt: Some(attempt(
            "5a4b3c2d-2222-4e5f-9a8b-7c6d5e4f3a2b",
            "committed",
            &[
                ("received", 0),
                ("compiled", 9),
                ("validated", 201),
                ("staged", 203),
                ("started", 310),
                ("healthy", 712),
                ("done", 714),
            ],
            None,
            714,
        )),
        core: running(
            4021,
            2 * 86400 + 3 * 3600 + 17 * 60,
            SERVER_LIVE,
            vec![inbound("trojan-in", "0.0.0.0", 443, "reachable")],
        ),
        tun_phase: xp2p_core::tunstate::Phase::Disabled,
        tun: None,
        tunnels: Vec::new(),
        channels: Vec::new(),
    }
}

fn online(roles: Vec<RoleView>) -> State {
    State {
        conn: Conn::Online { pid: 1200 },
        role: roles.first().map(|r| r.role),
        roles,
        ..State::default()
    }
}

fn healthy() -> State {
    online(vec![healthy_client(), healthy_server()])
}

// ---- dashboard -----------------------------------------------------------------

#[test]
fn offline() {
    // What `status::snapshot` gives from the files with no service: the client
    // was stopped cleanly, the server's record still says running but its pid
    // is gone (stale); no ports are probed.
    let client = RoleView {
        core: CoreView {
            display: xp2p_core::status::DisplayState::Stopped,
            pid: None,
            uptime_s: None,
            config_sha256: Some(CLIENT_LIVE.into()),
            reason_code: Some("service_stopped".into()),
            detail: None,
            inbounds: vec![
                inbound("socks", "127.0.0.1", 1080, "not_checked"),
                inbound("http", "127.0.0.1", 8080, "not_checked"),
            ],
        },
        ..healthy_client()
    };
    let server = RoleView {
        core: CoreView {
            display: xp2p_core::status::DisplayState::Stale,
            pid: None,
            uptime_s: None,
            config_sha256: Some(SERVER_LIVE.into()),
            reason_code: Some("apply_committed".into()),
            detail: None,
            inbounds: vec![inbound("trojan-in", "0.0.0.0", 443, "not_checked")],
        },
        ..healthy_server()
    };
    let state = State {
        conn: Conn::Offline {
            reason: "the xp2p service is not running (no socket at /etc/xp2p/.state/xp2p.sock)"
                .into(),
        },
        ..online(vec![client, server])
    };
    snap("offline", &state);
}

#[test]
fn no_roles_yet() {
    snap("no_roles", &online(Vec::new()));
}

#[test]
fn dashboard_full_tunnel_pending() {
    // Full mode wanted, but the main table has no default route yet: the
    // dashboard says why and when the next try is.
    let client = RoleView {
        tun_phase: xp2p_core::tunstate::Phase::FullPending,
        tun: Some(xp2p_store::tunstate::TunView {
            phase: xp2p_store::tunstate::Phase::FullPending,
            mode: "full".into(),
            device: "xp2pc".into(),
            pending_reason: Some("no_default_route".into()),
            retry_count: 3,
            next_retry_at: Some("2026-11-22T10:00:16Z".into()),
            last_error: None,
            updated_at: "2026-11-22T10:00:08Z".into(),
        }),
        ..healthy_client()
    };
    snap(
        "dashboard_full_tunnel_pending",
        &online(vec![client, healthy_server()]),
    );
}

#[test]
fn healthy_dashboard() {
    snap("healthy", &healthy());
}

#[test]
fn healthy_dashboard_other_sizes() {
    // Small: must not panic; what fits is not pinned.
    let small = render(&healthy(), 60, 16);
    assert_eq!(small.backend().buffer().area.width, 60);
    // Tiny, down to nothing.
    for (w, h) in [(20, 5), (1, 1), (0, 0)] {
        render(&healthy(), w, h);
    }
    snap_at("healthy_120x40", &healthy(), 120, 40);
}

#[test]
fn crash_backoff_says_when_the_core_restarts() {
    let client = RoleView {
        core: CoreView {
            display: xp2p_core::status::DisplayState::Failed,
            pid: None,
            uptime_s: None,
            config_sha256: None,
            reason_code: Some("core_exited".into()),
            detail: Some("restarting in 4 s (crash 2 of 10); last: exit code 23".into()),
            inbounds: vec![],
        },
        ..healthy_client()
    };
    snap("crash_backoff", &online(vec![client, healthy_server()]));
}

#[test]
fn pending_request() {
    let client = RoleView {
        desired_changed: true,
        pending_request: Some(RequestEntry {
            id: "e3b0c442-98fc-4c14-9afb-f4c8996fb924".into(),
            role: Role::Client,
            timestamp: PAST.into(),
        }),
        ..healthy_client()
    };
    snap("pending_request", &online(vec![client, healthy_server()]));
}

#[test]
fn apply_error() {
    let reason = Problems(vec![
        ConfigError::new(
            ErrorCode::InvalidToml,
            "xp2p-client.toml",
            "client.endpoints[1].port",
            "invalid type: string \"x\", expected u16",
        )
        .at(Some((12, 8))),
    ])
    .summary();
    let client = RoleView {
        desired_changed: true,
        error: Some(ErrorEntry {
            request_id: "9f86d081-884c-4d63-9a2b-1c0d3e4f5a6b".into(),
            attempt_id: "d2a84f4b-3333-4e5f-9a8b-7c6d5e4f3a2b".into(),
            code: ErrorCode::InvalidToml,
            phase: xp2p_core::records::journal::Phase::Compiled,
            reason: reason.clone(),
            timestamp: PAST.into(),
        }),
        last_attempt: Some(AttemptView {
            request_id: "9f86d081-884c-4d63-9a2b-1c0d3e4f5a6b".into(),
            ..attempt(
                "d2a84f4b-3333-4e5f-9a8b-7c6d5e4f3a2b",
                "failed",
                &[("received", 0), ("done", 6)],
                Some(&format!("invalid_toml: {reason}")),
                6,
            )
        }),
        ..healthy_client()
    };
    let state = State {
        status: Some(StatusMsg {
            text: format!("client: failed: invalid_toml: {reason}"),
            error: true,
        }),
        ..online(vec![client, healthy_server()])
    };
    snap("apply_error", &state);
}

const ROLLBACK_ERROR: &str = "inbound socks :1080 not listening after 5 s";

/// What the files say after a health check failed and the previous core came back.
fn rolled_back_client() -> RoleView {
    RoleView {
        desired_changed: true,
        error: Some(ErrorEntry {
            request_id: "1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f".into(),
            attempt_id: "f00dbabe-4444-4e5f-9a8b-7c6d5e4f3a2b".into(),
            code: ErrorCode::HealthCheckFailed,
            phase: xp2p_core::records::journal::Phase::Healthy,
            reason: ROLLBACK_ERROR.into(),
            timestamp: PAST.into(),
        }),
        last_attempt: Some(AttemptView {
            request_id: "1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f".into(),
            phase: xp2p_core::records::journal::Phase::Healthy,
            ..attempt(
                "f00dbabe-4444-4e5f-9a8b-7c6d5e4f3a2b",
                "rolled_back",
                &[
                    ("received", 0),
                    ("compiled", 12),
                    ("validated", 310),
                    ("staged", 312),
                    ("started", 443),
                ],
                Some(&format!("health_check_failed: {ROLLBACK_ERROR}")),
                5612,
            )
        }),
        ..healthy_client()
    }
}

#[test]
fn rolled_back_seen_live() {
    // The attempt arrived as events while the console ran, then the status
    // refresh brought the same attempt from the journal: the live phase
    // timings win on the dashboard.
    let mut s = online(vec![rolled_back_client(), healthy_server()]);
    for ev in [
        json!({"kind": "apply.start", "role": "client",
               "attempt_id": "f00dbabe-4444-4e5f-9a8b-7c6d5e4f3a2b",
               "request_id": "1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f"}),
        json!({"kind": "apply.phase", "role": "client", "phase": "received"}),
        json!({
            "kind": "apply.done", "role": "client",
            "attempt_id": "f00dbabe-4444-4e5f-9a8b-7c6d5e4f3a2b",
            "request_id": "1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f",
            "status": "rolled_back", "duration_ms": 5_612,
            "error_summary": ROLLBACK_ERROR,
            "phases": [
                {"phase": "received", "ms": 0}, {"phase": "compiled", "ms": 11},
                {"phase": "validated", "ms": 297}, {"phase": "staged", "ms": 3},
                {"phase": "started", "ms": 130},
            ],
            "log_tail": "",
        }),
    ] {
        s = reduce(s, Action::ServiceEvent(ev));
    }
    assert_eq!(s.effects, vec![xp2p_ui::state::Effect::RefreshStatus]);
    s.effects.clear();
    assert_eq!(
        s.attempts[&Role::Client].status.as_deref(),
        Some("rolled_back")
    );
    snap("rolled_back_live", &s);
}

#[test]
fn rolled_back_from_the_journal() {
    // Offline or after a restart of the console: only the journal knows.
    snap(
        "rolled_back_journal",
        &online(vec![rolled_back_client(), healthy_server()]),
    );
}

// ---- diff ----------------------------------------------------------------------

fn desired_json() -> serde_json::Value {
    json!({
        "log": {"loglevel": "warning"},
        "inbounds": [
            {"tag": "socks", "listen": "127.0.0.1", "port": 1081, "protocol": "socks"},
            {"tag": "http", "listen": "127.0.0.1", "port": 8080, "protocol": "http"}
        ],
        "outbounds": [
            {"tag": "proxy", "protocol": "trojan",
             "settings": {"servers": [{"address": "vpn.example.net", "port": 443}]}},
            {"tag": "direct", "protocol": "freedom"}
        ],
        "routing": {"rules": [{"type": "field", "ip": ["geoip:private"], "outboundTag": "direct"}]}
    })
}

fn live_json() -> serde_json::Value {
    let mut v = desired_json();
    v["inbounds"][0]["port"] = json!(1080);
    v["outbounds"][0]["settings"]["servers"][0]["address"] = json!("old.example.net");
    v["log"]["access"] = json!("/var/log/xp2p/access.log");
    v
}

fn diff_state(result: Result<xp2p_ui::state::DiffText, String>) -> State {
    State {
        view: View::Diff,
        diff: Some(LoadedDiff {
            role: Role::Client,
            pair: 0,
            result,
        }),
        ..healthy()
    }
}

#[test]
fn diff_with_changes() {
    let d = diff_text(
        "desired",
        desired_json().to_string().as_bytes(),
        "live",
        live_json().to_string().as_bytes(),
    )
    .expect("JSON on both sides");
    assert!(d.lines.len() > 10 && d.changed_paths.len() == 3, "{d:?}");
    snap("diff_changes", &diff_state(Ok(d)));
}

#[test]
fn diff_scrolled() {
    let d = diff_text(
        "desired",
        desired_json().to_string().as_bytes(),
        "live",
        live_json().to_string().as_bytes(),
    )
    .unwrap();
    let s = State {
        diff_scroll: 12,
        ..diff_state(Ok(d))
    };
    snap("diff_scrolled", &s);
}

#[test]
fn diff_identical() {
    let d = diff_text(
        "live",
        live_json().to_string().as_bytes(),
        "lkg",
        live_json().to_string().as_bytes(),
    )
    .unwrap();
    let s = State {
        diff_pair: 1,
        diff: Some(LoadedDiff {
            role: Role::Client,
            pair: 1,
            result: Ok(d),
        }),
        ..diff_state(Err(String::new()))
    };
    snap("diff_identical", &s);
}

#[test]
fn diff_loading() {
    let s = State {
        view: View::Diff,
        ..healthy()
    };
    snap("diff_loading", &s);
}

#[test]
fn desired_does_not_compile() {
    let problems = Problems(vec![
        ConfigError::new(
            ErrorCode::InvalidToml,
            "xp2p-client.toml",
            "client.endpoints[1].port",
            "invalid type: string \"x\", expected u16",
        )
        .at(Some((12, 8))),
        ConfigError::new(
            ErrorCode::ReservedTag,
            "config-client/20-outbounds.json",
            "outbounds[0] (tag \"xp2p-api\")",
            "the tag is reserved",
        ),
    ]);
    let s = diff_state(Err(format!(
        "Desired does not compile: {}",
        problems.summary()
    )));
    snap("diff_desired_does_not_compile", &s);
}

// ---- journal -------------------------------------------------------------------

fn journal_rows() -> Vec<AttemptRow> {
    let row =
        |n: u64, role: Role, outcome: &str, ms: Option<u64>, error: Option<&str>| AttemptRow {
            attempt_id: format!("{n:08x}-5555-4e5f-9a8b-7c6d5e4f3a2b"),
            role,
            request_id: format!("{:08x}-6666-4c7d-8e9f-0a1b2c3d4e5f", n * 7919),
            ts: ts(n * 61_000),
            outcome: outcome.into(),
            duration_ms: ms,
            error: error.map(str::to_string),
            detail: None,
            phases: COMMITTED_PHASES
                .iter()
                .map(|(p, at)| (p.to_string(), ts(n * 61_000 + at)))
                .collect(),
        };
    vec![
        row(9, Role::Client, "in progress", None, None),
        AttemptRow {
            detail: Some("rolled back to LKG a81c0f33d2e9; new core pid 31410 killed".into()),
            phases: vec![
                ("received".into(), ts(8 * 61_000)),
                ("compiled".into(), ts(8 * 61_000 + 12)),
                ("validated".into(), ts(8 * 61_000 + 310)),
                ("staged".into(), ts(8 * 61_000 + 312)),
                ("started".into(), ts(8 * 61_000 + 443)),
                ("done".into(), ts(8 * 61_000 + 5612)),
            ],
            ..row(
                8,
                Role::Client,
                "rolled_back",
                Some(5612),
                Some("health_check_failed: inbound socks :1080 not listening after 5 s"),
            )
        },
        row(7, Role::Server, "committed", Some(714), None),
        row(
            6,
            Role::Client,
            "failed",
            Some(6),
            Some("invalid_toml: xp2p-client.toml:12:8: client.endpoints[1].port: invalid type"),
        ),
        row(
            5,
            Role::Client,
            "superseded",
            Some(0),
            Some("superseded: replaced by request 1c2d3e4f before it ran"),
        ),
        row(4, Role::Client, "noop", Some(3), None),
        row(3, Role::Client, "committed", Some(851), None),
        row(2, Role::Server, "failed_after_commit", Some(9120), None),
        row(1, Role::Client, "interrupted", None, None),
    ]
}

#[test]
fn journal_list() {
    let s = State {
        view: View::Journal,
        journal: journal_rows(),
        journal_selected: 1,
        ..healthy()
    };
    snap("journal_list", &s);
}

#[test]
fn journal_detail() {
    let mut s = State {
        view: View::Journal,
        journal: journal_rows(),
        journal_selected: 1,
        journal_open: true,
        ..healthy()
    };
    s.attempts.insert(
        Role::Client,
        LiveAttempt {
            role: Some(Role::Client),
            attempt_id: s.journal[1].attempt_id.clone(),
            request_id: s.journal[1].request_id.clone(),
            status: Some("rolled_back".into()),
            log_tail: [
                "2020/03/14 09:26:54.101 [Info] core: Xray 25.3.6 started",
                "2020/03/14 09:26:54.102 [Warning] core: inbound socks: listen tcp 127.0.0.1:1080: bind: address already in use",
                "2020/03/14 09:26:59.540 [Error] health: socks :1080 not listening",
            ]
            .join("\n"),
            ..LiveAttempt::default()
        },
    );
    snap("journal_detail", &s);
}

#[test]
fn journal_empty() {
    let s = State {
        view: View::Journal,
        ..healthy()
    };
    snap("journal_empty", &s);
}

// ---- logs ----------------------------------------------------------------------

fn log_lines() -> Vec<String> {
    (0..40)
        .map(|i| {
            let sec = 10 + i;
            match i % 10 {
                3 => format!(
                    "2020/03/14 09:27:{sec:02}.000412 [Warning] core: failed to handler mux client connection > context canceled"
                ),
                7 => format!(
                    "2020/03/14 09:27:{sec:02}.000977 [Error] app/dispatcher: failed to dispatch request to tcp:example.org:443"
                ),
                _ => format!(
                    "2020/03/14 09:27:{sec:02}.001{i:03} from 127.0.0.1:{} accepted tcp:www.example.com:443 [socks -> proxy]",
                    50_000 + i
                ),
            }
        })
        .collect()
}

#[test]
fn logs_following() {
    let s = State {
        view: View::Logs,
        logs_role: Some(Role::Client),
        logs: log_lines().into(),
        ..healthy()
    };
    snap("logs", &s);
}

#[test]
fn logs_scrolled_back() {
    let s = State {
        view: View::Logs,
        logs_role: Some(Role::Client),
        logs: log_lines().into(),
        logs_back: 15,
        ..healthy()
    };
    snap("logs_scrolled_back", &s);
}

// ---- overlays ------------------------------------------------------------------

#[test]
fn help_overlay() {
    let s = State {
        help: true,
        ..healthy()
    };
    snap("help", &s);
}

#[test]
fn rollback_confirmation() {
    let s = State {
        confirm: Some(Confirm::Rollback(Role::Client)),
        ..healthy()
    };
    snap("confirm_rollback", &s);
}

#[test]
fn restart_confirmation() {
    let s = State {
        confirm: Some(Confirm::Restart(Role::Server)),
        role: Some(Role::Server),
        ..healthy()
    };
    snap("confirm_restart", &s);
}

#[test]
fn deploy_in_progress() {
    let mut s = healthy();
    s.deploys.insert(
        "d1".into(),
        xp2p_ui::state::DeployRow {
            role: "client".into(),
            step: "validating".into(),
            state: "running".into(),
            detail: String::new(),
        },
    );
    s.status = Some(xp2p_ui::state::StatusMsg {
        text: "deploy (client): validating client".into(),
        error: false,
    });
    snap("deploy_in_progress", &s);
}

#[test]
fn deploy_view_with_link_and_steps() {
    let mut s = healthy();
    s.view = xp2p_ui::state::View::Deploy;
    s.deploy_form.host = "vpn.example.com".into();
    s.deploy_form.running = true;
    s.deploy_form.link = Some("xp2p+deploy://vpn.example.com:62025?v=1&user=deploy%40local&exp=4102444800&role=client#<secret>".into());
    s.deploy_form.steps = vec![
        "link_generated".into(),
        "waiting_for_server".into(),
        "connected".into(),
        "validating (server)".into(),
    ];
    snap("deploy_view", &s);
}

#[test]
fn dashboard_shows_each_channel_on_the_health_line() {
    use xp2p_store::status::{ChannelHealth, ChannelState};
    let ch = |key: &str, state: ChannelState, rtt_ms: Option<f64>| ChannelHealth {
        key: key.into(),
        tag: format!("{key}.rev"),
        state,
        rtt_ms,
        error: (state == ChannelState::Down).then(|| "no answer".into()),
        at: PAST.into(),
    };
    let mut server = healthy_server();
    server.channels = vec![
        ch("alice", ChannelState::Up, Some(1.25)),
        ch("bob", ChannelState::Down, None),
        ch("carol", ChannelState::Unknown, None),
    ];
    let mut s = online(vec![server, healthy_client()]);
    s.role = Some(Role::Server);
    snap_at("channels_health", &s, 120, 40);
}
