//! An open edit form: its fields (the focused one marked), the hint of an
//! empty field, and the last refusal as one line.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};

use super::{Theme, centered};
use crate::edit::Form;
use crate::edit::form::FieldKind;

pub fn draw(f: &mut Frame, area: Rect, form: &Form, waiting: bool, t: &Theme) {
    let h = form.fields.len() as u16 + 6;
    let rect = centered(area, area.width.saturating_sub(4).min(96), h);
    f.render_widget(Clear, rect);
    let mut lines: Vec<Line> = form
        .fields
        .iter()
        .enumerate()
        .map(|(i, field)| {
            let active = i == form.focus && !waiting;
            let value = match field.kind {
                FieldKind::Text => field.value.clone(),
                FieldKind::Choice(_) => format!("< {} >", field.value),
            };
            let mut spans = vec![
                Span::styled(format!("{:>10}  ", field.name), t.dim()),
                Span::styled(
                    if active { format!("{value}▏") } else { value },
                    if active { t.selected() } else { t.title() },
                ),
            ];
            if field.value.is_empty() || matches!(field.kind, FieldKind::Choice(_)) && active {
                spans.push(Span::styled(format!("  {}", field.hint), t.dim()));
            }
            Line::from(spans)
        })
        .collect();
    lines.push(Line::raw(""));
    match (&form.error, waiting) {
        (_, true) => lines.push(Line::styled("checking with the service…", t.warn())),
        (Some(e), false) => lines.push(Line::styled(e.clone(), t.bad())),
        (None, false) => lines.push(Line::raw("")),
    }
    lines.push(Line::styled(
        "Tab next field · Space choose · Enter shows the diff · Esc cancels",
        t.accent(),
    ));
    f.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(Block::bordered().title(format!(" {} ", form.title))),
        rect,
    );
}
