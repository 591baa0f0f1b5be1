//! `5` Deploy: a form (host, port) that starts `xp2p client deploy`, the link to
//! copy to the server, the steps as they happen, and deploys started elsewhere
//! (from the CLI, reported by the service).

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};

use super::Theme;
use crate::state::State;

pub fn draw(f: &mut Frame, area: Rect, s: &State, t: &Theme) {
    let form = &s.deploy_form;
    let [top, link, steps] = Layout::vertical([
        Constraint::Length(4),
        Constraint::Length(4),
        Constraint::Min(3),
    ])
    .areas(area);
    let field = |i: usize, label: &str, value: &str| {
        let active = form.editing && form.field == i;
        let shown = if active {
            format!("{value}▏")
        } else {
            value.to_string()
        };
        Line::from(vec![
            Span::styled(format!("{label:<6}"), t.dim()),
            Span::styled(shown, if active { t.selected() } else { t.title() }),
        ])
    };
    let hint = if form.running {
        "deploy running…"
    } else if form.editing {
        "Tab next field · Enter start · Esc done"
    } else {
        "e edit · then Enter starts a client deploy"
    };
    let title = Line::from(vec![
        Span::raw(" client deploy "),
        Span::styled(format!("({hint}) "), t.dim()),
    ]);
    f.render_widget(
        Paragraph::new(vec![
            field(0, "host", &form.host),
            field(1, "port", &form.port),
        ])
        .block(Block::bordered().title(title)),
        top,
    );
    let link_text = match &form.link {
        Some(l) => vec![
            Line::styled(l.clone(), t.accent()),
            Line::styled(
                "on the server: xp2p server deploy --link '<this link>'",
                t.dim(),
            ),
        ],
        None => vec![Line::styled(
            "the link appears here once the deploy starts",
            t.dim(),
        )],
    };
    f.render_widget(
        Paragraph::new(link_text)
            .wrap(Wrap { trim: false })
            .block(Block::bordered().title(" link (copy to the server) ")),
        link,
    );
    let mut lines: Vec<Line> = form.steps.iter().map(|st| Line::raw(st.clone())).collect();
    for (id, d) in &s.deploys {
        lines.push(Line::from(vec![
            Span::styled(
                format!("[{}] {} ", id.get(..8).unwrap_or(id), d.role),
                t.dim(),
            ),
            Span::styled(
                format!("{} ({})", d.step, d.state),
                if d.state == "failed" { t.bad() } else { t.ok() },
            ),
            Span::raw(format!(" {}", d.detail)),
        ]));
    }
    if lines.is_empty() {
        lines.push(Line::styled("no deploy yet", t.dim()));
    }
    let rows = usize::from(steps.height.saturating_sub(2));
    let start = lines.len().saturating_sub(rows);
    f.render_widget(
        Paragraph::new(lines[start..].to_vec()).block(Block::bordered().title(" steps ")),
        steps,
    );
}
