//! Time to draw one full frame on a `TestBackend` at 120x40: the Diff view
//! holding a 5 000-line unified diff (scrolled to the middle), and the dashboard
//! with two roles. Run: `cargo bench -p xp2p-ui --bench render`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use xp2p_core::Role;
use xp2p_store::status::{AttemptView, CoreView, InboundHealth, PhaseMark, RoleView, SlotView};
use xp2p_ui::state::{Conn, DiffText, LoadedDiff, State, View};
use xp2p_ui::views::{self, Theme};

const DIFF_LINES: usize = 5_000;

fn big_diff() -> DiffText {
    let mut lines = vec!["--- desired".to_string(), "+++ live".to_string()];
    let mut i = 0;
    while lines.len() < DIFF_LINES {
        lines.push(format!("@@ -{},7 +{},7 @@", i * 10 + 1, i * 10 + 1));
        for k in 0..3 {
            lines.push(format!("       \"tag\": \"inbound-{i}-{k}\","));
        }
        lines.push(format!("-      \"port\": {},", 10_000 + i));
        lines.push(format!("+      \"port\": {},", 20_000 + i));
        for _ in 0..3 {
            lines.push("       \"protocol\": \"socks\"".to_string());
        }
        i += 1;
    }
    lines.truncate(DIFF_LINES);
    DiffText {
        changed_paths: (0..i)
            .map(|n| format!("changed /inbounds/{n}/port"))
            .collect(),
        lines,
    }
}

fn role(role: Role, pid: i32) -> RoleView {
    let sha = "3f2a9c1e7b4d5a6f8e9d0c1b2a3f4e5d6c7b8a9f0e1d2c3b4a5f6e7d8c9b0a1f";
    let slot = SlotView {
        config_sha256: sha.into(),
        compiled_at: "2020-03-14T09:26:53.589Z".into(),
        request_id: None,
        desired_digest: "d".repeat(64),
    };
    RoleView {
        role,
        desired_present: true,
        desired_digest: Some("d".repeat(64)),
        desired_changed: false,
        live: Some(slot.clone()),
        lkg: Some(slot),
        pending_request: None,
        error: None,
        last_attempt: Some(AttemptView {
            attempt_id: "a".into(),
            request_id: "r".into(),
            outcome: Some(xp2p_core::records::journal::Outcome::Committed),
            phase: xp2p_core::records::journal::Phase::Done,
            duration_ms: Some(851),
            error: None,
            phases: [
                ("received", "2020-03-14T09:26:53.589Z"),
                ("compiled", "2020-03-14T09:26:53.603Z"),
                ("validated", "2020-03-14T09:26:53.913Z"),
                ("staged", "2020-03-14T09:26:53.915Z"),
                ("started", "2020-03-14T09:26:54.035Z"),
                ("healthy", "2020-03-14T09:26:54.437Z"),
                ("done", "2020-03-14T09:26:54.440Z"),
            ]
            .iter()
            .map(|(p, ts)| PhaseMark {
                phase: p.parse().expect("a phase"),
                ts: (*ts).into(),
            })
            .collect(),
        }),
        core: CoreView {
            display: xp2p_core::status::DisplayState::Running,
            pid: Some(pid),
            uptime_s: Some(3725),
            config_sha256: Some(sha.into()),
            reason_code: Some("apply_committed".into()),
            detail: None,
            inbounds: vec![InboundHealth {
                tag: "socks".into(),
                listen: "127.0.0.1".into(),
                port: 1080,
                health: xp2p_core::status::Health::Reachable,
            }],
        },
        tun_phase: xp2p_core::tunstate::Phase::Disabled,
        tun: None,
        tunnels: Vec::new(),
        channels: Vec::new(),
    }
}

fn dashboard_state() -> State {
    State {
        conn: Conn::Online { pid: 1200 },
        role: Some(Role::Client),
        roles: vec![role(Role::Client, 31337), role(Role::Server, 4021)],
        size: (120, 40),
        ..State::default()
    }
}

fn bench(c: &mut Criterion) {
    let theme = Theme { color: true };
    let mut terminal = Terminal::new(TestBackend::new(120, 40)).expect("test backend");

    let diff = State {
        view: View::Diff,
        diff: Some(LoadedDiff {
            role: Role::Client,
            pair: 0,
            result: Ok(big_diff()),
        }),
        diff_scroll: DIFF_LINES / 2,
        ..dashboard_state()
    };
    c.bench_function("frame_diff_5000_lines_120x40", |b| {
        b.iter(|| {
            terminal
                .draw(|f| views::draw(f, black_box(&diff), &theme))
                .expect("draw");
        })
    });

    let dash = dashboard_state();
    c.bench_function("frame_dashboard_120x40", |b| {
        b.iter(|| {
            terminal
                .draw(|f| views::draw(f, black_box(&dash), &theme))
                .expect("draw");
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
