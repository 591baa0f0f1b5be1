//! The console's edit views (`6` Users on a server / Endpoints on a client,
//! `7` Routes): the rows of the role's Desired as the service lists them, the
//! `/` filter, and the flow of an edit — a [`Form`] (or a delete / toggle), a
//! dry-run `edit` whose compiled diff is shown to confirm, `y` for the real
//! `edit` — as a pure state machine. Requests go out as [`Ask`]s; the event
//! loop sends them over IPC and feeds the answers back.

pub mod form;

use xp2p_core::Role;
use xp2p_core::desired::edit::{Edit, RedirectTarget};
use xp2p_ipc::DesiredView;

pub use form::{Form, FormStep, Gen};

/// Which edit view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    /// Users (server) or endpoints (client).
    Entries,
    /// Redirects and forwards.
    Routes,
}

/// The keys the edit views understand (terminal keys, already decoded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EditKey {
    Char(char),
    Enter,
    Esc,
    Tab,
    BackTab,
    Backspace,
    Up,
    Down,
    PageUp,
    PageDown,
}

/// A request the edit views want sent.
#[derive(Debug, Clone, PartialEq)]
pub enum Ask {
    Load(Role),
    Edit {
        role: Role,
        edits: Vec<Edit>,
        dry_run: bool,
    },
    Link(String),
}

/// One row of a list (an index into the view's vectors).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Row {
    User(usize),
    Endpoint(usize),
    Redirect(usize),
    Forward(usize),
}

/// What the service answered to an `edit`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EditAnswer {
    pub summary: Vec<String>,
    pub changed: bool,
    pub written: bool,
    pub request_id: Option<String>,
    pub toml_diff: String,
    pub compiled_diff: String,
    pub compiled_diff_unavailable: Option<String>,
}

/// The diff the confirm step shows, before `y` writes.
#[derive(Debug, Clone, PartialEq)]
pub struct Confirm {
    pub role: Role,
    pub edits: Vec<Edit>,
    pub summary: Vec<String>,
    pub lines: Vec<String>,
    pub scroll: usize,
    /// The form to go back to (none for a delete or toggle).
    pub form: Option<Form>,
}

/// A share link and its QR code, once the service granted it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkShow {
    pub label: String,
    /// None while asked; then the link and its QR lines, or why not.
    pub result: Option<Result<(String, Vec<String>), String>>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Mode {
    List,
    Filter,
    Form(Form),
    /// A request is out: the dry run (`form` kept to go back to) or the write.
    Waiting {
        dry_run: bool,
        form: Option<Form>,
    },
    Confirm(Confirm),
    Link(LinkShow),
}

#[derive(Debug, Clone, PartialEq)]
pub struct EditState {
    pub view: Option<DesiredView>,
    pub load_error: Option<String>,
    pub selected: usize,
    pub filter: String,
    pub mode: Mode,
}

impl Default for EditState {
    fn default() -> Self {
        EditState {
            view: None,
            load_error: None,
            selected: 0,
            filter: String::new(),
            mode: Mode::List,
        }
    }
}

/// The outcome of a key or an answer: requests to send, a line for the status bar.
#[derive(Debug, Default, PartialEq)]
pub struct Step {
    pub asks: Vec<Ask>,
    pub say: Option<(String, bool)>,
}

impl Step {
    fn say(text: impl Into<String>, error: bool) -> Step {
        Step {
            asks: Vec::new(),
            say: Some((text.into(), error)),
        }
    }

    fn ask(a: Ask) -> Step {
        Step {
            asks: vec![a],
            say: None,
        }
    }
}

/// Read-only members (and an offline console) browse only.
pub const READ_ONLY: &str =
    "permission denied: read-only (socket_group) members can browse but not edit";

impl EditState {
    /// Whether this console may edit (the service says so with the view).
    pub fn editable(&self) -> bool {
        self.view.as_ref().is_some_and(|v| v.editable)
    }

    /// Whether keys go to a form, the filter or an overlay (not the global map).
    pub fn captures_keys(&self) -> bool {
        !matches!(self.mode, Mode::List)
    }

    /// The rows of `tab`, filtered.
    pub fn rows(&self, tab: Tab) -> Vec<Row> {
        let Some(v) = &self.view else {
            return Vec::new();
        };
        let all: Vec<Row> = match tab {
            Tab::Entries => (0..v.users.len())
                .map(Row::User)
                .chain((0..v.endpoints.len()).map(Row::Endpoint))
                .collect(),
            Tab::Routes => (0..v.redirects.len())
                .map(Row::Redirect)
                .chain((0..v.forwards.len()).map(Row::Forward))
                .collect(),
        };
        let needle = self.filter.to_lowercase();
        all.into_iter()
            .filter(|r| needle.is_empty() || row_text(v, *r).to_lowercase().contains(&needle))
            .collect()
    }

    fn selected_row(&self, tab: Tab) -> Option<Row> {
        self.rows(tab).get(self.selected).copied()
    }

    /// A fresh view arrived (the selection stays in range).
    pub fn loaded(&mut self, result: Result<DesiredView, String>) {
        match result {
            Ok(v) => {
                self.view = Some(v);
                self.load_error = None;
            }
            Err(e) => self.load_error = Some(e),
        }
    }

    /// One key in an edit view. `role` is the console's role.
    pub fn key(&mut self, tab: Tab, role: Role, key: EditKey, g: &Gen) -> Step {
        let mode = std::mem::replace(&mut self.mode, Mode::List);
        match mode {
            Mode::List => self.list_key(tab, role, key),
            Mode::Filter => {
                match key {
                    EditKey::Esc => self.filter.clear(),
                    EditKey::Enter | EditKey::Tab => {}
                    EditKey::Backspace => {
                        self.filter.pop();
                        self.mode = Mode::Filter;
                    }
                    EditKey::Char(c) if !c.is_control() && self.filter.len() < 128 => {
                        self.filter.push(c);
                        self.mode = Mode::Filter;
                    }
                    _ => self.mode = Mode::Filter,
                }
                self.selected = 0;
                Step::default()
            }
            Mode::Form(mut f) => match f.key(key, g) {
                FormStep::Stay => {
                    self.mode = Mode::Form(f);
                    Step::default()
                }
                FormStep::Cancel => Step::say("cancelled", false),
                FormStep::Submit(edits) => {
                    let role = f.role;
                    self.mode = Mode::Waiting {
                        dry_run: true,
                        form: Some(f),
                    };
                    Step::ask(Ask::Edit {
                        role,
                        edits,
                        dry_run: true,
                    })
                }
            },
            Mode::Waiting { dry_run, form } => {
                if key == EditKey::Esc {
                    // The answer, when it comes, finds the list and is dropped.
                    return Step::say("stopped waiting (a write already sent still lands)", false);
                }
                self.mode = Mode::Waiting { dry_run, form };
                Step::default()
            }
            Mode::Confirm(mut c) => match key {
                EditKey::Char('y') | EditKey::Char('Y') => {
                    let ask = Ask::Edit {
                        role: c.role,
                        edits: c.edits.clone(),
                        dry_run: false,
                    };
                    self.mode = Mode::Waiting {
                        dry_run: false,
                        form: c.form,
                    };
                    Step::ask(ask)
                }
                EditKey::Up => {
                    c.scroll = c.scroll.saturating_sub(1);
                    self.mode = Mode::Confirm(c);
                    Step::default()
                }
                EditKey::Down | EditKey::PageDown | EditKey::Char(' ') => {
                    let by = if key == EditKey::Down { 1 } else { 10 };
                    c.scroll = (c.scroll + by).min(c.lines.len().saturating_sub(1));
                    self.mode = Mode::Confirm(c);
                    Step::default()
                }
                EditKey::PageUp => {
                    c.scroll = c.scroll.saturating_sub(10);
                    self.mode = Mode::Confirm(c);
                    Step::default()
                }
                _ => {
                    // Back to the form to change it, or to the list.
                    if let Some(f) = c.form {
                        self.mode = Mode::Form(f);
                    }
                    Step::say("not written", false)
                }
            },
            Mode::Link(l) => match key {
                EditKey::Esc | EditKey::Enter | EditKey::Char('q') | EditKey::Char('l') => {
                    Step::default()
                }
                _ => {
                    self.mode = Mode::Link(l);
                    Step::default()
                }
            },
        }
    }

    fn list_key(&mut self, tab: Tab, role: Role, key: EditKey) -> Step {
        let n = self.rows(tab).len();
        match key {
            EditKey::Up => {
                self.selected = self.selected.saturating_sub(1);
                return Step::default();
            }
            EditKey::Down => {
                self.selected = (self.selected + 1).min(n.saturating_sub(1));
                return Step::default();
            }
            EditKey::PageUp => {
                self.selected = self.selected.saturating_sub(10);
                return Step::default();
            }
            EditKey::PageDown => {
                self.selected = (self.selected + 10).min(n.saturating_sub(1));
                return Step::default();
            }
            EditKey::Char('/') => {
                self.mode = Mode::Filter;
                return Step::default();
            }
            EditKey::Esc if !self.filter.is_empty() => {
                self.filter.clear();
                return Step::default();
            }
            _ => {}
        }
        let Some(view) = self.view.clone() else {
            return Step::say("nothing loaded yet", true);
        };
        let row = self.selected_row(tab);
        // The link is the service's to grant (owner only): always asked.
        if let (EditKey::Char('l') | EditKey::Enter, Some(Row::User(i))) = (key, row) {
            let label = view.users[i].label.clone();
            self.mode = Mode::Link(LinkShow {
                label: label.clone(),
                result: None,
            });
            return Step::ask(Ask::Link(label));
        }
        let is_edit_key = matches!(key, EditKey::Char('a' | 'e' | 'd' | ' '));
        if !is_edit_key {
            return Step::default();
        }
        if !view.editable {
            return Step::say(READ_ONLY, true);
        }
        match (key, tab, row) {
            (EditKey::Char('a'), Tab::Routes, _) => {
                self.mode = Mode::Form(Form::route_add(role, &default_via(&view)));
                Step::default()
            }
            (EditKey::Char('a'), Tab::Entries, _) => {
                self.mode = Mode::Form(match role {
                    Role::Server => Form::user_add(),
                    Role::Client => Form::endpoint_add(),
                });
                Step::default()
            }
            (_, _, None) => Step::say("no row selected", true),
            (EditKey::Char('e'), _, Some(r)) => {
                self.mode = Mode::Form(match r {
                    Row::User(i) => Form::user_rotate(&view.users[i].label),
                    Row::Endpoint(i) => Form::endpoint_edit(&view.endpoints[i]),
                    Row::Redirect(i) => Form::redirect_edit(role, &view.redirects[i]),
                    Row::Forward(i) => Form::forward_edit(role, &view.forwards[i]),
                });
                Step::default()
            }
            (EditKey::Char('d'), _, Some(r)) => self.dry_run(role, remove(role, &view, r)),
            (EditKey::Char(' '), _, Some(r)) => match toggle(&view, r) {
                Some(e) => self.dry_run(role, e),
                None => Step::say("redirects and forwards have no on/off: d deletes", true),
            },
            _ => Step::default(),
        }
    }

    fn dry_run(&mut self, role: Role, edit: Option<Edit>) -> Step {
        let Some(edit) = edit else {
            return Step::say("this entry cannot be named for an edit", true);
        };
        self.mode = Mode::Waiting {
            dry_run: true,
            form: None,
        };
        Step::ask(Ask::Edit {
            role,
            edits: vec![edit],
            dry_run: true,
        })
    }

    /// The service answered an `edit`.
    pub fn answered(
        &mut self,
        role: Role,
        edits: Vec<Edit>,
        dry_run: bool,
        result: Result<EditAnswer, String>,
    ) -> Step {
        let Mode::Waiting {
            dry_run: waiting_dry,
            form,
        } = std::mem::replace(&mut self.mode, Mode::List)
        else {
            // Nobody waits any more (Esc): the list reloads to show the truth.
            return Step::ask(Ask::Load(role));
        };
        if waiting_dry != dry_run {
            self.mode = Mode::Waiting {
                dry_run: waiting_dry,
                form,
            };
            return Step::default();
        }
        let a = match result {
            Ok(a) => a,
            Err(e) => {
                return match form {
                    Some(mut f) => {
                        f.error = Some(e);
                        self.mode = Mode::Form(f);
                        Step::default()
                    }
                    None => Step::say(e, true),
                };
            }
        };
        if dry_run {
            if !a.changed {
                return Step::say("nothing to change: Desired already says so", false);
            }
            let mut lines: Vec<String> = Vec::new();
            if a.compiled_diff_unavailable.is_none() && !a.compiled_diff.is_empty() {
                lines.push("compiled config (now → after the edit):".into());
                lines.extend(a.compiled_diff.lines().map(str::to_string));
            } else {
                let why = a
                    .compiled_diff_unavailable
                    .unwrap_or_else(|| "the compiled config does not change".into());
                lines.push(format!("compiled diff: {why}; the TOML diff:"));
                lines.extend(a.toml_diff.lines().map(str::to_string));
            }
            self.mode = Mode::Confirm(Confirm {
                role,
                edits,
                summary: a.summary,
                lines,
                scroll: 0,
                form,
            });
            return Step::default();
        }
        let what = a.summary.join("; ");
        let text = match &a.request_id {
            Some(id) => format!(
                "{role}: {what}; apply requested (request {})",
                id.get(..8).unwrap_or(id)
            ),
            None => format!("{role}: {what} (nothing written)"),
        };
        Step {
            asks: vec![Ask::Load(role)],
            say: Some((text, false)),
        }
    }

    /// The service answered `user_link`.
    pub fn link_answered(&mut self, label: &str, result: Result<String, String>) {
        if let Mode::Link(l) = &mut self.mode
            && l.label == label
        {
            l.result = Some(result.and_then(|link| {
                let qr = crate::qr::terminal_lines(&link)?;
                Ok((link, qr))
            }));
        }
    }
}

/// The first enabled endpoint's tag (the usual `via`), else nothing.
fn default_via(v: &DesiredView) -> String {
    v.endpoints
        .iter()
        .find(|e| !e.disabled)
        .map(|e| e.tag.clone())
        .unwrap_or_default()
}

fn remove(role: Role, v: &DesiredView, r: Row) -> Option<Edit> {
    Some(match r {
        Row::User(i) => Edit::UserRemove {
            label: v.users[i].label.clone(),
        },
        Row::Endpoint(i) => Edit::EndpointRemove {
            tag: v.endpoints[i].tag.clone(),
            cascade: false,
        },
        Row::Redirect(i) => {
            let x = &v.redirects[i];
            let target = match (&x.cidr, &x.domain) {
                (Some(c), _) => RedirectTarget::Cidr(*c),
                (None, Some(d)) => RedirectTarget::Domain(d.clone()),
                (None, None) => return None,
            };
            Edit::RedirectRemove { role, target }
        }
        Row::Forward(i) => {
            let f = &v.forwards[i];
            Edit::ForwardRemove {
                role,
                listen: std::net::SocketAddr::new(f.listen_address, f.listen_port.0),
            }
        }
    })
}

fn toggle(v: &DesiredView, r: Row) -> Option<Option<Edit>> {
    match r {
        Row::User(i) => Some(Some(Edit::UserSetDisabled {
            label: v.users[i].label.clone(),
            disabled: !v.users[i].disabled,
        })),
        Row::Endpoint(i) => Some(Some(Edit::EndpointSetDisabled {
            tag: v.endpoints[i].tag.clone(),
            disabled: !v.endpoints[i].disabled,
        })),
        Row::Redirect(_) | Row::Forward(_) => None,
    }
}

/// A row as one line of text (the list shows it; the filter searches it).
pub fn row_text(v: &DesiredView, r: Row) -> String {
    let state = |disabled: bool| if disabled { "disabled" } else { "enabled" };
    match r {
        Row::User(i) => {
            let u = &v.users[i];
            format!(
                "{:<32} {:<9} created {}  rotated {}{}",
                u.label,
                state(u.disabled),
                u.created_at.as_deref().unwrap_or("-"),
                u.rotated_at.as_deref().unwrap_or("-"),
                if u.rotating { "  (grace running)" } else { "" }
            )
        }
        Row::Endpoint(i) => {
            let e = &v.endpoints[i];
            let proto = match e.protocol {
                xp2p_core::desired::model::Protocol::Trojan => "trojan",
                xp2p_core::desired::model::Protocol::Vless => "vless",
            };
            format!(
                "{:<24} {:<9} {}:{} ({}) {}",
                e.tag,
                state(e.disabled),
                e.host,
                e.port,
                e.address,
                proto
            )
        }
        Row::Redirect(i) => {
            let x = &v.redirects[i];
            let target = x
                .cidr
                .map(|c| c.to_string())
                .or_else(|| x.domain.clone())
                .unwrap_or_default();
            format!("redirect {target:<28} via {}", x.outbound_tag)
        }
        Row::Forward(i) => {
            let f = &v.forwards[i];
            let proto = match f.protocol {
                xp2p_core::desired::model::ForwardProtocol::Tcp => "tcp",
                xp2p_core::desired::model::ForwardProtocol::Udp => "udp",
                xp2p_core::desired::model::ForwardProtocol::Both => "tcp+udp",
            };
            format!(
                "forward  {}:{:<16} -> {}:{} {proto} via {}",
                f.listen_address, f.listen_port, f.target_host, f.target_port, f.outbound_tag
            )
        }
    }
}

#[cfg(test)]
mod tests;
