//! Drawing: one module per view plus the chrome around them. Pure functions of
//! the state (and a theme), so whole screens snapshot-test on a TestBackend.

mod chrome;
mod dashboard;
mod deploy;
mod diff;
mod edit;
mod journal;
mod logs;
pub mod theme;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout};

use crate::state::{State, View};
pub use theme::Theme;

pub fn draw(f: &mut Frame, s: &State, t: &Theme) {
    let offline = matches!(s.conn, crate::state::Conn::Offline { .. });
    let [header, banner, body, status] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(if offline { 2 } else { 0 }),
        Constraint::Min(1),
        Constraint::Length(1),
    ])
    .areas(f.area());
    chrome::header(f, header, s, t);
    if offline {
        chrome::offline_banner(f, banner, s, t);
    }
    match s.view {
        View::Dashboard => dashboard::draw(f, body, s, t),
        View::Diff => diff::draw(f, body, s, t),
        View::Journal => journal::draw(f, body, s, t),
        View::Logs => logs::draw(f, body, s, t),
        View::Deploy => deploy::draw(f, body, s, t),
        View::Entries => edit::draw(f, body, s, t, crate::edit::Tab::Entries),
        View::Routes => edit::draw(f, body, s, t, crate::edit::Tab::Routes),
    }
    chrome::status_line(f, status, s, t);
    if let Some(c) = s.confirm {
        chrome::confirm(f, c, t);
    }
    if s.help {
        chrome::help(f, t);
    }
}

/// The first 12 hex digits of a hash, or `-`.
pub fn short(sha: Option<&str>) -> String {
    sha.map(|s| s.get(..12).unwrap_or(s).to_string())
        .unwrap_or_else(|| "-".into())
}
