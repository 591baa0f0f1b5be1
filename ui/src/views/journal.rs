//! `3` Journal: attempts with outcome, duration and error; Enter opens one
//! attempt's phases, detail and (for attempts seen live) its log tail.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};

use super::Theme;
use crate::state::{AttemptRow, State};

fn time_of(ts: &str) -> &str {
    ts.get(11..19).unwrap_or(ts)
}

pub fn draw(f: &mut Frame, area: Rect, s: &State, t: &Theme) {
    if s.journal.is_empty() {
        f.render_widget(
            Paragraph::new("No attempts in the journal yet.")
                .block(Block::bordered().title(" journal ")),
            area,
        );
        return;
    }
    if s.journal_open
        && let Some(row) = s.journal.get(s.journal_selected)
    {
        detail(f, area, s, row, t);
        return;
    }
    let rows = usize::from(area.height.saturating_sub(2));
    let start = s.journal_selected.saturating_sub(rows.saturating_sub(1));
    let lines: Vec<Line> = s
        .journal
        .iter()
        .enumerate()
        .skip(start)
        .take(rows)
        .map(|(i, a)| {
            let mut spans = vec![
                Span::raw(format!("{} {:<6} ", time_of(&a.ts), a.role)),
                Span::styled(format!("{:<19}", a.outcome), t.outcome(&a.outcome)),
                Span::raw(format!(
                    "{:>7}  {:<8} ",
                    a.duration_ms.map_or("-".into(), |m| format!("{m}ms")),
                    a.request_id.get(..8).unwrap_or(&a.request_id)
                )),
            ];
            if let Some(e) = &a.error {
                spans.push(Span::styled(e.clone(), t.bad()));
            }
            let line = Line::from(spans);
            if i == s.journal_selected {
                line.style(t.selected())
            } else {
                line
            }
        })
        .collect();
    let title = format!(" journal: {} attempt(s), Enter opens ", s.journal.len());
    f.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(title)),
        area,
    );
}

fn detail(f: &mut Frame, area: Rect, s: &State, a: &AttemptRow, t: &Theme) {
    let mut lines = vec![
        Line::from(vec![
            Span::styled(format!("{} ", a.role), t.title()),
            Span::styled(a.outcome.clone(), t.outcome(&a.outcome)),
        ]),
        Line::raw(format!(
            "attempt {}  request {}",
            a.attempt_id, a.request_id
        )),
    ];
    for (p, ts) in &a.phases {
        lines.push(Line::raw(format!("  {:<15} {}", p, time_of(ts))));
    }
    if let Some(e) = &a.error {
        lines.push(Line::styled(e.clone(), t.bad()));
    }
    if let Some(d) = &a.detail {
        lines.push(Line::styled(d.clone(), t.dim()));
    }
    match s.attempts.values().find(|l| l.attempt_id == a.attempt_id) {
        Some(l) if !l.log_tail.is_empty() => {
            lines.push(Line::styled("log tail:", t.title()));
            let tail: Vec<&str> = l.log_tail.lines().collect();
            for l in &tail[tail.len().saturating_sub(12)..] {
                lines.push(Line::raw(l.to_string()));
            }
        }
        _ => lines.push(Line::styled(
            "(log tail kept only for attempts seen while the console runs)",
            t.dim(),
        )),
    }
    f.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(Block::bordered().title(" attempt (Enter/Esc closes) ")),
        area,
    );
}
