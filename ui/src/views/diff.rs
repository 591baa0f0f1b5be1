//! `2` Diff: Desired (compiled) vs Live, Live vs LKG, Desired vs LKG — a coloured
//! unified diff with scrolling and the list of changed JSON paths.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};

use super::Theme;
use crate::state::{DIFF_PAIRS, LoadedDiff, State};

fn pair_name(i: usize) -> String {
    let (l, r) = DIFF_PAIRS[i];
    format!("{} ↔ {}", cap(l), cap(r))
}

fn cap(s: &str) -> String {
    match s {
        "lkg" => "LKG".into(),
        other => {
            let mut c = other.chars();
            c.next()
                .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
                .unwrap_or_default()
        }
    }
}

pub fn draw(f: &mut Frame, area: Rect, s: &State, t: &Theme) {
    let [tabs, body] = Layout::vertical([Constraint::Length(1), Constraint::Min(1)]).areas(area);
    let mut spans: Vec<Span> = Vec::new();
    for i in 0..DIFF_PAIRS.len() {
        let style = if i == s.diff_pair {
            t.selected()
        } else {
            t.dim()
        };
        spans.push(Span::styled(format!(" {} ", pair_name(i)), style));
        spans.push(Span::raw(" "));
    }
    spans.push(Span::styled("  [ ] switch", t.dim()));
    f.render_widget(Paragraph::new(Line::from(spans)), tabs);

    let role = s.role.map_or("-".into(), |r| r.to_string());
    let title = format!(" {role}: {} ", pair_name(s.diff_pair));
    let loaded = s
        .diff
        .as_ref()
        .filter(|d| Some(d.role) == s.role && d.pair == s.diff_pair);
    match loaded {
        None => f.render_widget(
            Paragraph::new("loading…").block(Block::bordered().title(title)),
            body,
        ),
        Some(LoadedDiff { result: Err(e), .. }) => f.render_widget(
            Paragraph::new(Line::styled(e.clone(), t.bad()))
                .wrap(Wrap { trim: false })
                .block(Block::bordered().title(title)),
            body,
        ),
        Some(LoadedDiff { result: Ok(d), .. }) if d.lines.is_empty() => {
            let (l, r) = DIFF_PAIRS[s.diff_pair];
            let msg = format!("{} and {} are identical.", cap(l), cap(r));
            f.render_widget(
                Paragraph::new(Line::styled(msg, t.ok())).block(Block::bordered().title(title)),
                body,
            )
        }
        Some(LoadedDiff { result: Ok(d), .. }) => {
            let paths_h = (d.changed_paths.len() as u16 + 2)
                .min(body.height / 3)
                .max(3);
            let [text, paths] =
                Layout::vertical([Constraint::Min(3), Constraint::Length(paths_h)]).areas(body);
            let rows = usize::from(text.height.saturating_sub(2));
            let start = s.diff_scroll.min(d.lines.len().saturating_sub(1));
            let lines: Vec<Line> = d.lines[start..]
                .iter()
                .take(rows)
                .map(|l| {
                    let style = if l.starts_with("+++") || l.starts_with("---") {
                        t.title()
                    } else if l.starts_with('+') {
                        t.ok()
                    } else if l.starts_with('-') {
                        t.bad()
                    } else if l.starts_with("@@") {
                        t.accent()
                    } else {
                        ratatui::style::Style::default()
                    };
                    Line::styled(l.clone(), style)
                })
                .collect();
            let pos = format!(" {}/{} ", start + 1, d.lines.len());
            f.render_widget(
                Paragraph::new(lines).block(Block::bordered().title(title).title_bottom(pos)),
                text,
            );
            let changed: Vec<Line> = d
                .changed_paths
                .iter()
                .map(|p| Line::raw(p.clone()))
                .collect();
            f.render_widget(
                Paragraph::new(changed).block(
                    Block::bordered().title(format!(" {} changed path(s) ", d.changed_paths.len())),
                ),
                paths,
            );
        }
    }
}
