//! Terminal input -> [`Action`]: arrows and vim keys, mouse wheel, resize.

use crossterm::event::{Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseEventKind};

use crate::edit::{EditKey, Gen};
use crate::state::{Action, State, View};

pub fn action_for(state: &State, event: &Event) -> Option<Action> {
    match event {
        Event::Key(k) if k.kind != KeyEventKind::Release => key(state, k),
        Event::Mouse(m) => match m.kind {
            MouseEventKind::ScrollUp => Some(Action::Up),
            MouseEventKind::ScrollDown => Some(Action::Down),
            _ => None,
        },
        Event::Resize(w, h) => Some(Action::Resize(*w, *h)),
        _ => None,
    }
}

fn key(state: &State, k: &KeyEvent) -> Option<Action> {
    if k.modifiers.contains(KeyModifiers::CONTROL) && k.code == KeyCode::Char('c') {
        return Some(Action::Quit);
    }
    if state.deploy_form.editing {
        return match k.code {
            KeyCode::Esc => Some(Action::Escape),
            KeyCode::Enter => Some(Action::Enter),
            KeyCode::Tab => Some(Action::NextField),
            KeyCode::Backspace => Some(Action::Backspace),
            KeyCode::Char(c) => Some(Action::Typed(c)),
            _ => None,
        };
    }
    if state.confirm.is_some() {
        return Some(match k.code {
            KeyCode::Char('y') | KeyCode::Char('Y') => Action::ConfirmYes,
            _ => Action::ConfirmNo,
        });
    }
    if state.view.edit_tab().is_some()
        && !state.help
        && let Some(e) = edit_key(state, k)
    {
        return Some(Action::EditKey(e, Gen::fresh()));
    }
    Some(match k.code {
        KeyCode::Char('q') => Action::Quit,
        KeyCode::Esc => Action::Escape,
        KeyCode::Char('?') => Action::ToggleHelp,
        KeyCode::Char('1') => Action::Show(View::Dashboard),
        KeyCode::Char('2') => Action::Show(View::Diff),
        KeyCode::Char('3') => Action::Show(View::Journal),
        KeyCode::Char('4') => Action::Show(View::Logs),
        KeyCode::Char('5') => Action::Show(View::Deploy),
        KeyCode::Char('6') => Action::Show(View::Entries),
        KeyCode::Char('7') => Action::Show(View::Routes),
        KeyCode::Char('e') if state.view == View::Deploy => Action::EditDeploy,
        KeyCode::Tab => Action::NextRole,
        KeyCode::Up | KeyCode::Char('k') => Action::Up,
        KeyCode::Down | KeyCode::Char('j') => Action::Down,
        KeyCode::PageUp => Action::PageUp,
        KeyCode::PageDown | KeyCode::Char(' ') => Action::PageDown,
        KeyCode::Home | KeyCode::Char('g') => Action::Home,
        KeyCode::End | KeyCode::Char('G') => Action::End,
        KeyCode::Char(']') => Action::NextPair,
        KeyCode::Char('[') => Action::PrevPair,
        KeyCode::Enter => Action::Enter,
        KeyCode::Char('a') => Action::Apply,
        KeyCode::Char('r') => Action::Rollback,
        KeyCode::Char('R') => Action::Restart,
        _ => return None,
    })
}

/// A key of an edit view: every key while a form, the filter or an overlay
/// is open; in the list, its own keys (the rest stay global: `1`…`7`, Tab, q).
fn edit_key(state: &State, k: &KeyEvent) -> Option<EditKey> {
    let captured = state.edit.captures_keys();
    Some(match k.code {
        KeyCode::Enter => EditKey::Enter,
        KeyCode::Up => EditKey::Up,
        KeyCode::Down => EditKey::Down,
        KeyCode::PageUp => EditKey::PageUp,
        KeyCode::PageDown => EditKey::PageDown,
        KeyCode::Esc if captured || !state.edit.filter.is_empty() => EditKey::Esc,
        KeyCode::Tab if captured => EditKey::Tab,
        KeyCode::BackTab if captured => EditKey::BackTab,
        KeyCode::Backspace if captured => EditKey::Backspace,
        KeyCode::Left | KeyCode::Right if captured => EditKey::Char(' '),
        KeyCode::Char(c) if captured => EditKey::Char(c),
        KeyCode::Char('k') => EditKey::Up,
        KeyCode::Char('j') => EditKey::Down,
        KeyCode::Char(c @ ('a' | 'e' | 'd' | ' ' | '/' | 'l')) => EditKey::Char(c),
        _ => return None,
    })
}

/// Every key the console knows, for the help overlay (kept beside the mapping).
pub const HELP: [(&str, &str); 20] = [
    ("1 2 3 4 5", "Dashboard, Diff, Journal, Logs, Deploy"),
    ("6 7", "Users (server) / Endpoints (client), Routes"),
    ("a e d Space", "6 7: add, edit, delete, on/off; y writes"),
    ("/  l", "6 7: filter; user's link and QR code"),
    ("e", "Deploy: edit host/port (Tab, Enter starts, Esc)"),
    ("Tab", "next role"),
    ("a", "apply the selected role"),
    ("r", "roll back (Live <-> LKG), asks y/n"),
    ("R", "restart the core (staged), asks y/n"),
    ("[ ]", "Diff: previous / next comparison"),
    ("Enter", "Journal: open / close an attempt"),
    ("↑ ↓  k j", "scroll / select"),
    ("PgUp PgDn Space", "page"),
    ("Home End  g G", "top / bottom (Logs: End follows)"),
    ("mouse wheel", "scroll"),
    ("?", "this help"),
    ("Esc", "close overlay, else quit"),
    ("q  Ctrl-C", "quit"),
    ("y / n", "answer a confirmation"),
    ("", "NO_COLOR=1 turns colours off"),
];
