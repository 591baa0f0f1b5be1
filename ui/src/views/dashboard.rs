//! `1` Dashboard: per role — core state, pid, uptime, Live/LKG hashes, inbound
//! health, pending request (short id, age), apply.error, the last attempt as a
//! phase timeline with milliseconds, TUN phase.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};
use xp2p_store::status::{ChannelState, RoleView};

use super::{Theme, short};
use crate::state::{LiveAttempt, State};

pub fn draw(f: &mut Frame, area: Rect, s: &State, t: &Theme) {
    if s.roles.is_empty() {
        let msg = "No roles yet: create one with `xp2p init --role client` (or server).";
        f.render_widget(
            Paragraph::new(msg)
                .wrap(Wrap { trim: true })
                .block(Block::bordered().title(" dashboard ")),
            area,
        );
        return;
    }
    let n = s.roles.len() as u32;
    let areas = Layout::vertical((0..n).map(|_| Constraint::Ratio(1, n))).split(area);
    for (view, a) in s.roles.iter().zip(areas.iter()) {
        let deploys: Vec<&crate::state::DeployRow> = s
            .deploys
            .values()
            .filter(|d| d.role == view.role.as_str())
            .collect();
        role_block(
            f,
            *a,
            view,
            s.attempts.get(&view.role),
            &deploys,
            Some(view.role) == s.role,
            t,
        );
    }
}

pub fn age(ts: &str) -> String {
    let Ok(t) = humantime::parse_rfc3339_weak(ts) else {
        return "?".into();
    };
    let secs = std::time::SystemTime::now()
        .duration_since(t)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    match secs {
        0..60 => format!("{secs}s ago"),
        60..3600 => format!("{}m ago", secs / 60),
        3600..86400 => format!("{}h ago", secs / 3600),
        _ => format!("{}d ago", secs / 86400),
    }
}

/// `reason (request id)`, with the code in front unless the reason already ends
/// with it (compile problems do: `… [invalid_toml]`).
fn error_text(e: &xp2p_store::markers::ErrorEntry) -> String {
    let id = e.request_id.get(..8).unwrap_or(&e.request_id);
    if e.reason.contains(&format!("[{}]", e.code)) {
        format!("{} (request {id})", e.reason)
    } else {
        format!("{}: {} (request {id})", e.code, e.reason)
    }
}

fn uptime(secs: u64) -> String {
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m{}s", secs / 60, secs % 60),
        _ => format!("{}h{}m", secs / 3600, (secs % 3600) / 60),
    }
}

fn ms_between(a: &str, b: &str) -> u64 {
    match (
        humantime::parse_rfc3339_weak(a),
        humantime::parse_rfc3339_weak(b),
    ) {
        (Ok(x), Ok(y)) => y
            .duration_since(x)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0),
        _ => 0,
    }
}

/// Phases with milliseconds: from the live attempt when it is the same one,
/// else derived from the journal's timestamps.
fn timeline(v: &RoleView, live: Option<&LiveAttempt>) -> (String, Option<u64>, Vec<(String, u64)>) {
    if let Some(l) = live
        && v.last_attempt
            .as_ref()
            .is_none_or(|a| a.attempt_id == l.attempt_id)
    {
        let status = l.status.clone().unwrap_or_else(|| "in progress".into());
        return (status, l.duration_ms, l.phases.clone());
    }
    match &v.last_attempt {
        Some(a) => {
            let mut out = Vec::new();
            let mut prev: Option<&str> = None;
            for p in &a.phases {
                out.push((
                    p.phase.to_string(),
                    prev.map_or(0, |q| ms_between(q, &p.ts)),
                ));
                prev = Some(&p.ts);
            }
            (
                a.outcome
                    .map_or_else(|| "in progress".into(), |o| o.to_string()),
                a.duration_ms,
                out,
            )
        }
        None => ("none yet".into(), None, Vec::new()),
    }
}

fn role_block(
    f: &mut Frame,
    area: Rect,
    v: &RoleView,
    live: Option<&LiveAttempt>,
    deploys: &[&crate::state::DeployRow],
    selected: bool,
    t: &Theme,
) {
    let c = &v.core;
    let label = |s: &str| Span::styled(format!("{s:<9}"), t.dim());
    let mut lines = vec![Line::from(vec![
        label("core"),
        Span::styled(c.display.as_str(), t.display(c.display.as_str())),
        Span::raw(format!(
            "  pid {}  up {}",
            c.pid.map_or("-".into(), |p| p.to_string()),
            c.uptime_s.map_or("-".into(), uptime)
        )),
    ])];
    // Why a core is not running, and what happens next (e.g. the crash
    // backoff: `restarting in 4 s (crash 2 of 10); last: exit code 1`).
    if c.display != "running"
        && let Some(why) = c.detail.as_deref().filter(|d| !d.is_empty())
    {
        let code = c.reason_code.as_deref().unwrap_or("");
        lines.push(Line::from(vec![
            label(""),
            Span::styled(
                if code.is_empty() {
                    why.to_string()
                } else {
                    format!("{code}: {why}")
                },
                t.dim(),
            ),
        ]));
    }
    lines.push(Line::from(vec![
        label("live"),
        Span::raw(short(v.live.as_ref().map(|l| l.config_sha256.as_str()))),
        Span::styled("   lkg ", t.dim()),
        Span::raw(short(v.lkg.as_ref().map(|l| l.config_sha256.as_str()))),
        Span::styled(
            if v.desired_changed {
                "   Desired differs from Live"
            } else {
                ""
            },
            t.warn(),
        ),
    ]));
    let mut inb = vec![label("inbounds")];
    if c.inbounds.is_empty() {
        inb.push(Span::styled("none", t.dim()));
    }
    for i in &c.inbounds {
        let style = match i.health.as_str() {
            "reachable" => t.ok(),
            "unreachable" => t.bad(),
            _ => t.dim(),
        };
        inb.push(Span::raw(format!("{} :{} ", i.tag, i.port)));
        inb.push(Span::styled(format!("{}  ", i.health), style));
    }
    lines.push(Line::from(inb));
    lines.push(Line::from(match &v.pending_request {
        Some(r) => vec![
            label("request"),
            Span::styled(
                format!(
                    "{} pending ({})",
                    short(Some(&r.id)).get(..8).unwrap_or(""),
                    age(&r.timestamp)
                ),
                t.warn(),
            ),
        ],
        None => vec![label("request"), Span::styled("none", t.dim())],
    }));
    lines.push(Line::from(match &v.error {
        Some(e) => vec![label("error"), Span::styled(error_text(e), t.bad())],
        None => vec![label("error"), Span::styled("none", t.dim())],
    }));
    let (outcome, ms, phases) = timeline(v, live);
    let mut last = vec![
        label("last"),
        Span::styled(outcome.clone(), t.outcome(&outcome)),
        Span::raw(ms.map_or(String::new(), |m| format!(" {m} ms"))),
        Span::raw("  "),
    ];
    for (i, (p, ms)) in phases.iter().enumerate() {
        if i > 0 {
            last.push(Span::styled(" › ", t.dim()));
        }
        last.push(Span::raw(format!("{p} {ms}")));
    }
    lines.push(Line::from(last));
    lines.push(Line::from(vec![
        label("tun"),
        Span::raw(
            v.tun
                .as_ref()
                .map_or_else(|| v.tun_phase.to_string(), |t| t.summary()),
        ),
    ]));
    // Client: the last probe of each endpoint through the tunnel (xp2p ping's path);
    // deploys running beside the service: their latest step.
    if let Some(last) = lines.last_mut() {
        for d in deploys {
            let style = if d.state == "failed" {
                t.bad()
            } else {
                t.accent()
            };
            last.spans.push(Span::styled(
                format!("   deploy {} ({})", d.step, d.state),
                style,
            ));
        }
        for tnl in &v.tunnels {
            last.spans.push(Span::styled(
                format!("   tunnel {} ", tnl.endpoint),
                t.dim(),
            ));
            match (tnl.state.as_str(), tnl.rtt_ms) {
                ("ok", Some(ms)) => last
                    .spans
                    .push(Span::styled(format!("ok {ms:.1} ms"), t.ok())),
                (state, _) => last.spans.push(Span::styled(state.to_string(), t.bad())),
            }
        }
        // Server: the last probe of each reverse channel.
        for ch in &v.channels {
            last.spans
                .push(Span::styled(format!("   channel {} ", ch.key), t.dim()));
            match (ch.state, ch.rtt_ms) {
                (ChannelState::Up, Some(ms)) => last
                    .spans
                    .push(Span::styled(format!("up {ms:.1} ms"), t.ok())),
                (ChannelState::Unknown, _) => {
                    last.spans.push(Span::styled(ch.state.to_string(), t.dim()))
                }
                (state, _) => last.spans.push(Span::styled(state.to_string(), t.bad())),
            }
        }
    }
    let title = Line::from(vec![
        Span::styled(
            format!(" {} ", v.role),
            if selected { t.selected() } else { t.title() },
        ),
        Span::styled(format!(" {} ", c.display), t.display(c.display.as_str())),
    ]);
    let block = if selected {
        Block::bordered().title(title).border_style(t.accent())
    } else {
        Block::bordered().title(title)
    };
    f.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(block),
        area,
    );
}
