//! Header tabs, offline banner, status line, confirmation and help overlays.

use ratatui::Frame;
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};

use super::Theme;
use crate::keys::HELP;
use crate::state::{Confirm, Conn, State, View};

pub fn header(f: &mut Frame, area: Rect, s: &State, t: &Theme) {
    let role = s.role.map_or("-".to_string(), |r| r.to_string());
    let conn = match &s.conn {
        Conn::Online { pid } => Span::styled(format!("● online pid {pid}"), t.ok()),
        Conn::Connecting => Span::styled("○ connecting".to_string(), t.warn()),
        Conn::Offline { .. } => Span::styled("○ offline".to_string(), t.bad()),
    };
    let right = [
        Span::raw("│ "),
        Span::styled(role, t.accent()),
        Span::raw(" │ "),
        conn,
    ];
    let tabs = [
        ("1", "Dashboard", View::Dashboard),
        ("2", "Diff", View::Diff),
        ("3", "Journal", View::Journal),
        ("4", "Logs", View::Logs),
        ("5", "Deploy", View::Deploy),
        ("6", super::edit::entries_name(s), View::Entries),
        ("7", "Routes", View::Routes),
    ];
    // Every tab named when the line has room; else only the current one (the
    // role and the connection always show).
    let full: usize = 5 + tabs
        .iter()
        .map(|(n, name, _)| n.len() + name.len() + 2)
        .sum::<usize>();
    let right_width: usize = right.iter().map(Span::width).sum();
    let compact = full + right_width > usize::from(area.width);
    let mut spans = vec![Span::styled("xp2p ", t.title())];
    for (n, name, v) in tabs {
        let style = if s.view == v { t.selected() } else { t.dim() };
        let text = if compact && s.view != v {
            format!("{n} ")
        } else {
            format!("{n} {name} ")
        };
        spans.push(Span::styled(text, style));
    }
    spans.extend(right);
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}

pub fn offline_banner(f: &mut Frame, area: Rect, s: &State, t: &Theme) {
    let reason = match &s.conn {
        Conn::Offline { reason } => reason.as_str(),
        _ => "",
    };
    let text = Line::from(vec![
        Span::styled(
            "Service not running (read-only view from the files; start it: xp2p service run). ",
            t.warn(),
        ),
        Span::styled(reason.to_string(), t.dim()),
    ]);
    f.render_widget(Paragraph::new(text).wrap(Wrap { trim: true }), area);
}

pub fn status_line(f: &mut Frame, area: Rect, s: &State, t: &Theme) {
    let line = match &s.status {
        Some(m) => Line::styled(m.text.clone(), if m.error { t.bad() } else { t.ok() }),
        None => Line::styled(
            "? help  a apply  r rollback  R restart  Tab role  q quit",
            t.dim(),
        ),
    };
    f.render_widget(Paragraph::new(line), area);
}

fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let [v] = Layout::vertical([Constraint::Length(h.min(area.height))])
        .flex(Flex::Center)
        .areas(area);
    let [c] = Layout::horizontal([Constraint::Length(w.min(area.width))])
        .flex(Flex::Center)
        .areas(v);
    c
}

pub fn confirm(f: &mut Frame, c: Confirm, t: &Theme) {
    let (title, body) = match c {
        Confirm::Rollback(r) => (
            " roll back ",
            format!(
                "Roll back {r}? Live and LKG swap places and a core starts on the previous config."
            ),
        ),
        Confirm::Restart(r) => (
            " restart ",
            format!("Restart the {r} core? A fresh core takes over on the same config."),
        ),
    };
    let area = centered(f.area(), 60, 6);
    f.render_widget(Clear, area);
    let text = vec![
        Line::raw(body),
        Line::raw(""),
        Line::styled("y confirm   any other key cancels", t.accent()),
    ];
    f.render_widget(
        Paragraph::new(text)
            .wrap(Wrap { trim: true })
            .block(Block::bordered().title(title)),
        area,
    );
}

pub fn help(f: &mut Frame, t: &Theme) {
    let area = centered(f.area(), 64, HELP.len() as u16 + 2);
    f.render_widget(Clear, area);
    let lines: Vec<Line> = HELP
        .iter()
        .map(|(k, what)| {
            Line::from(vec![
                Span::styled(format!("{k:>16}  "), t.accent()),
                Span::raw(*what),
            ])
        })
        .collect();
    f.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(" keys (? or Esc closes) ")),
        area,
    );
}
