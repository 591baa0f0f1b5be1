//! The list of an edit view: one line per entry, the selection, the filter,
//! and the keys (or, for a read-only member, why there are none).

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};

use super::Theme;
use crate::edit::{Mode, READ_ONLY, Tab, row_text};
use crate::state::State;

pub fn draw(f: &mut Frame, area: Rect, s: &State, t: &Theme, tab: Tab) {
    let e = &s.edit;
    let name = match tab {
        Tab::Entries => super::entries_name(s),
        Tab::Routes => "Routes",
    };
    let keys = if !s.online() {
        "offline: browse only, edits go through the service".to_string()
    } else if e.view.is_some() && !e.editable() {
        READ_ONLY.to_string()
    } else {
        let link = if tab == Tab::Entries && s.role == Some(xp2p_core::Role::Server) {
            "  l link"
        } else {
            ""
        };
        format!("a add  e edit  d delete  Space on/off  / filter{link}")
    };
    let mut lines: Vec<Line> = Vec::new();
    if matches!(e.mode, Mode::Filter) || !e.filter.is_empty() {
        let cursor = if matches!(e.mode, Mode::Filter) {
            "▏"
        } else {
            ""
        };
        lines.push(Line::from(vec![
            Span::styled("filter: ", t.dim()),
            Span::styled(format!("{}{cursor}", e.filter), t.accent()),
        ]));
    }
    match (&e.view, &e.load_error) {
        (_, Some(err)) => lines.push(Line::styled(err.clone(), t.bad())),
        (None, None) => lines.push(Line::styled("loading…", t.dim())),
        (Some(v), None) => {
            let rows = e.rows(tab);
            if rows.is_empty() {
                let empty = match (tab, v.role, e.filter.is_empty()) {
                    (_, _, false) => "nothing matches the filter",
                    (Tab::Entries, xp2p_core::Role::Server, _) => "no users yet (a adds one)",
                    (Tab::Entries, xp2p_core::Role::Client, _) => {
                        "no endpoints yet (a adds one from a link)"
                    }
                    (Tab::Routes, _, _) => "no redirects or forwards yet (a adds one)",
                };
                lines.push(Line::styled(empty, t.dim()));
            }
            let height = usize::from(area.height.saturating_sub(2)).saturating_sub(lines.len());
            let start = e.selected.saturating_sub(height.saturating_sub(1));
            for (i, r) in rows.iter().enumerate().skip(start).take(height) {
                let style = if i == e.selected {
                    t.selected()
                } else {
                    t.title()
                };
                lines.push(Line::styled(row_text(v, *r), style));
            }
        }
    }
    let title = Line::from(vec![
        Span::raw(format!(" {name} ")),
        Span::styled(format!("({keys}) "), t.dim()),
    ]);
    f.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(Block::bordered().title(title)),
        area,
    );
}
