//! `4` Logs: the role's core log, following live (End), scrollable.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Block, Paragraph};

use super::Theme;
use crate::state::State;

pub fn draw(f: &mut Frame, area: Rect, s: &State, t: &Theme) {
    let rows = usize::from(area.height.saturating_sub(2));
    let end = s.logs.len().saturating_sub(s.logs_back);
    let start = end.saturating_sub(rows);
    let lines: Vec<Line> = s
        .logs
        .iter()
        .skip(start)
        .take(end - start)
        .map(|l| {
            let style = if l.contains("[Error]") || l.contains("failed") {
                t.bad()
            } else if l.contains("[Warning]") {
                t.warn()
            } else {
                ratatui::style::Style::default()
            };
            Line::styled(l.clone(), style)
        })
        .collect();
    let role = s.logs_role.map_or("-".into(), |r| r.to_string());
    let mode = if s.logs_back == 0 {
        "following".to_string()
    } else {
        format!("{} lines back, End follows", s.logs_back)
    };
    let title = format!(" core log: {role} ({mode}) ");
    let body = if lines.is_empty() {
        vec![Line::styled("(no log lines yet)", t.dim())]
    } else {
        lines
    };
    f.render_widget(
        Paragraph::new(body).block(Block::bordered().title(title)),
        area,
    );
}
