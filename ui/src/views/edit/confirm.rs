//! The confirm step (what the edit does and the compiled diff; `y` writes),
//! the wait for the service, and a user's link with its QR code.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Block, Clear, Paragraph};

use super::{Theme, centered};
use crate::edit::{Confirm, LinkShow};

pub fn draw(f: &mut Frame, area: Rect, c: &Confirm, t: &Theme) {
    let rect = centered(area, area.width.saturating_sub(2), area.height);
    f.render_widget(Clear, rect);
    let mut lines: Vec<Line> = c
        .summary
        .iter()
        .map(|s| Line::styled(format!("• {s}"), t.title()))
        .collect();
    let room = usize::from(rect.height.saturating_sub(4)).saturating_sub(lines.len());
    for l in c.lines.iter().skip(c.scroll).take(room) {
        let style = if l.starts_with('+') && !l.starts_with("+++") {
            t.ok()
        } else if l.starts_with('-') && !l.starts_with("---") {
            t.bad()
        } else {
            t.dim()
        };
        lines.push(Line::styled(l.clone(), style));
    }
    lines.push(Line::styled(
        "y write (then the service applies)   ↑↓ scroll   any other key: back",
        t.accent(),
    ));
    f.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(format!(" confirm {} edit ", c.role))),
        rect,
    );
}

pub fn waiting(f: &mut Frame, area: Rect, t: &Theme) {
    let rect = centered(area, 48, 3);
    f.render_widget(Clear, rect);
    f.render_widget(
        Paragraph::new(Line::styled(
            "asking the service… (Esc stops waiting)",
            t.warn(),
        ))
        .block(Block::bordered()),
        rect,
    );
}

pub fn link(f: &mut Frame, area: Rect, l: &LinkShow, t: &Theme) {
    let rect = centered(area, area.width.saturating_sub(2), area.height);
    f.render_widget(Clear, rect);
    let mut lines: Vec<Line> = Vec::new();
    match &l.result {
        None => lines.push(Line::styled("asking the service…", t.warn())),
        Some(Err(e)) => lines.push(Line::styled(e.clone(), t.bad())),
        Some(Ok((link, qr))) => {
            lines.push(Line::styled(link.clone(), t.accent()));
            // The QR code only when it fits whole (a cut one does not scan).
            let room = usize::from(rect.height.saturating_sub(4));
            let width = qr.first().map_or(0, |q| q.chars().count());
            if qr.len() <= room && width <= usize::from(rect.width.saturating_sub(2)) {
                lines.extend(qr.iter().map(|q| Line::raw(q.clone())));
            } else {
                lines.push(Line::styled(
                    "(the QR code needs a larger terminal: xp2p server user show LABEL)",
                    t.dim(),
                ));
            }
        }
    }
    lines.push(Line::styled("Esc / Enter closes", t.accent()));
    f.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(format!(" link of {} ", l.label))),
        rect,
    );
}
