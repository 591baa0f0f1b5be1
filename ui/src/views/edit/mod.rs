//! `6` Users / Endpoints and `7` Routes: the list of the role's entries, and
//! over it the open form, the confirm step (the compiled diff) or a user's
//! link with its QR code.

mod confirm;
mod form;
mod list;

use ratatui::Frame;
use ratatui::layout::{Constraint, Flex, Layout, Rect};

use super::Theme;
use crate::edit::{Mode, Tab};
use crate::state::State;

pub fn draw(f: &mut Frame, area: Rect, s: &State, t: &Theme, tab: Tab) {
    list::draw(f, area, s, t, tab);
    match &s.edit.mode {
        Mode::List | Mode::Filter => {}
        Mode::Form(form) => form::draw(f, area, form, false, t),
        Mode::Waiting {
            form: Some(form), ..
        } => form::draw(f, area, form, true, t),
        Mode::Waiting { form: None, .. } => confirm::waiting(f, area, t),
        Mode::Confirm(c) => confirm::draw(f, area, c, t),
        Mode::Link(l) => confirm::link(f, area, l, t),
    }
}

/// The name of the entries view for the console's role.
pub fn entries_name(s: &State) -> &'static str {
    match s.role {
        Some(xp2p_core::Role::Server) => "Users",
        Some(xp2p_core::Role::Client) => "Endpoints",
        None => "Entries",
    }
}

/// A `w`×`h` rectangle in the middle of `area`.
fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let [v] = Layout::vertical([Constraint::Length(h.min(area.height))])
        .flex(Flex::Center)
        .areas(area);
    let [c] = Layout::horizontal([Constraint::Length(w.min(area.width))])
        .flex(Flex::Center)
        .areas(v);
    c
}
