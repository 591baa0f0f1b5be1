//! The TUI's state and its pure reducer: `(State, Action) -> State`, no I/O.
//! Work the reducer wants done (IPC requests, loading a diff) is queued as
//! [`Effect`]s that the event loop drains after each step.

use std::collections::{BTreeMap, VecDeque};

use serde_json::Value;
use xp2p_core::Role;
use xp2p_core::desired::edit::Edit;
use xp2p_ipc::{DesiredView, EventKind};
use xp2p_store::status::RoleView;

use crate::edit::{Ask, EditAnswer, EditKey, EditState, Gen, Tab};

/// Lines of core log kept for the Logs view.
pub const LOG_LINES: usize = 5000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    Dashboard,
    Diff,
    Journal,
    Logs,
    Deploy,
    /// Users (server) or endpoints (client), editable.
    Entries,
    /// Redirects and forwards, editable.
    Routes,
}

impl View {
    /// The edit view's tab, for the two edit views.
    pub fn edit_tab(self) -> Option<Tab> {
        match self {
            View::Entries => Some(Tab::Entries),
            View::Routes => Some(Tab::Routes),
            View::Dashboard | View::Diff | View::Journal | View::Logs | View::Deploy => None,
        }
    }
}

/// The three comparisons of the Diff view, cycled with `[` / `]`.
pub const DIFF_PAIRS: [(&str, &str); 3] =
    [("desired", "live"), ("live", "lkg"), ("desired", "lkg")];

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Conn {
    Connecting,
    Online { pid: u64 },
    Offline { reason: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirm {
    Rollback(Role),
    Restart(Role),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusMsg {
    pub text: String,
    pub error: bool,
}

/// An attempt seen live over IPC (phases with milliseconds, outcome, log tail).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LiveAttempt {
    pub role: Option<Role>,
    pub attempt_id: String,
    pub request_id: String,
    pub phases: Vec<(String, u64)>,
    pub status: Option<String>,
    pub duration_ms: Option<u64>,
    pub error: Option<String>,
    pub log_tail: String,
    /// When the previous phase was reached (to time the next one).
    pub last_at: Option<std::time::SystemTime>,
}

/// A computed diff between two sides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiffText {
    pub lines: Vec<String>,
    pub changed_paths: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadedDiff {
    pub role: Role,
    pub pair: usize,
    pub result: Result<DiffText, String>,
}

/// One journal attempt, summarised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptRow {
    pub attempt_id: String,
    pub role: Role,
    pub request_id: String,
    pub ts: String,
    pub outcome: String,
    pub duration_ms: Option<u64>,
    pub error: Option<String>,
    pub detail: Option<String>,
    pub phases: Vec<(String, String)>,
}

/// The Deploy view's form (host, port) and the deploy it started, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeployForm {
    pub host: String,
    pub port: String,
    /// 0: host, 1: port.
    pub field: usize,
    /// Keys type into the form (Enter starts, Esc leaves).
    pub editing: bool,
    /// The link of the deploy started here (to copy to the server).
    pub link: Option<String>,
    /// Its steps, as `xp2p client deploy --json` printed them.
    pub steps: Vec<String>,
    pub running: bool,
}

impl Default for DeployForm {
    fn default() -> Self {
        DeployForm {
            host: String::new(),
            port: "62025".into(),
            field: 0,
            editing: false,
            link: None,
            steps: Vec::new(),
            running: false,
        }
    }
}

/// The latest step of a deploy running beside the service (`deploy.progress`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeployRow {
    pub role: String,
    pub step: String,
    pub state: String,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    SendApply(Role),
    SendRollback(Role),
    SendRestart(Role),
    LoadDiff {
        role: Role,
        pair: usize,
    },
    LoadJournal,
    LoadLogs(Role),
    RefreshStatus,
    /// Run `xp2p client deploy --host H --port P --json` and feed its lines back.
    StartDeploy {
        host: String,
        port: u16,
    },
    /// The role's Desired as the edit views list it.
    LoadDesired(Role),
    /// An `edit` request (a dry run first, then the write).
    SendEdit {
        role: Role,
        edits: Vec<Edit>,
        dry_run: bool,
    },
    /// A server user's share link.
    LoadUserLink(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Quit,
    Show(View),
    NextRole,
    ToggleHelp,
    Escape,
    Up,
    Down,
    PageUp,
    PageDown,
    Home,
    End,
    NextPair,
    PrevPair,
    Enter,
    Apply,
    Rollback,
    Restart,
    ConfirmYes,
    ConfirmNo,
    Resize(u16, u16),
    Connected {
        pid: u64,
    },
    Disconnected(String),
    Snapshot(Vec<RoleView>),
    ServiceEvent(Value),
    DiffLoaded(LoadedDiff),
    JournalLoaded(Vec<AttemptRow>),
    LogsLoaded {
        role: Role,
        lines: Vec<String>,
    },
    CommandDone {
        ok: bool,
        text: String,
    },
    /// Form editing in the Deploy view.
    EditDeploy,
    Typed(char),
    Backspace,
    NextField,
    /// One JSON line printed by the deploy started here (or its end).
    DeployLine(serde_json::Value),
    DeployEnded {
        ok: bool,
    },
    /// A key in an edit view (with the clock and random bytes a form may need).
    EditKey(EditKey, Gen),
    DesiredLoaded {
        role: Role,
        result: Result<DesiredView, String>,
    },
    EditAnswered {
        role: Role,
        edits: Vec<Edit>,
        dry_run: bool,
        result: Result<EditAnswer, String>,
    },
    UserLinkLoaded {
        label: String,
        result: Result<String, String>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct State {
    pub view: View,
    pub role: Option<Role>,
    pub roles: Vec<RoleView>,
    pub conn: Conn,
    pub help: bool,
    pub confirm: Option<Confirm>,
    pub status: Option<StatusMsg>,
    /// The latest attempt per role seen live.
    pub attempts: BTreeMap<Role, LiveAttempt>,
    /// Deploys seen while the console runs, by deploy id.
    pub deploys: BTreeMap<String, DeployRow>,
    pub deploy_form: DeployForm,
    /// The edit views' rows, form, confirm step and link.
    pub edit: EditState,
    pub diff_pair: usize,
    pub diff: Option<LoadedDiff>,
    pub diff_scroll: usize,
    pub journal: Vec<AttemptRow>,
    pub journal_selected: usize,
    pub journal_open: bool,
    pub logs_role: Option<Role>,
    pub logs: VecDeque<String>,
    /// Lines scrolled back from the end (0 = following).
    pub logs_back: usize,
    pub size: (u16, u16),
    pub effects: Vec<Effect>,
    pub quit: bool,
}

impl Default for State {
    fn default() -> Self {
        State {
            view: View::Dashboard,
            role: None,
            roles: Vec::new(),
            conn: Conn::Connecting,
            help: false,
            confirm: None,
            status: None,
            attempts: BTreeMap::new(),
            deploys: BTreeMap::new(),
            deploy_form: DeployForm::default(),
            edit: EditState::default(),
            diff_pair: 0,
            diff: None,
            diff_scroll: 0,
            journal: Vec::new(),
            journal_selected: 0,
            journal_open: false,
            logs_role: None,
            logs: VecDeque::new(),
            logs_back: 0,
            size: (80, 24),
            effects: Vec::new(),
            quit: false,
        }
    }
}

impl State {
    pub fn online(&self) -> bool {
        matches!(self.conn, Conn::Online { .. })
    }

    /// Rows available for a scrolling body (screen minus chrome).
    fn body_rows(&self) -> usize {
        usize::from(self.size.1.saturating_sub(6)).max(1)
    }

    fn load_for_view(&mut self) {
        let Some(role) = self.role else { return };
        match self.view {
            View::Dashboard | View::Deploy => {}
            View::Entries | View::Routes => {
                if self.edit.view.as_ref().is_some_and(|v| v.role != role) {
                    self.edit = EditState::default();
                }
                self.effects.push(Effect::LoadDesired(role));
            }
            View::Diff => self.effects.push(Effect::LoadDiff {
                role,
                pair: self.diff_pair,
            }),
            View::Journal => self.effects.push(Effect::LoadJournal),
            View::Logs => {
                if self.logs_role != Some(role) {
                    self.logs.clear();
                    self.logs_back = 0;
                }
                self.logs_role = Some(role);
                self.effects.push(Effect::LoadLogs(role));
            }
        }
    }

    fn say(&mut self, text: impl Into<String>, error: bool) {
        self.status = Some(StatusMsg {
            text: text.into(),
            error,
        });
    }

    fn need_service(&mut self, what: &str) -> bool {
        if self.online() {
            return true;
        }
        self.say(
            format!("cannot {what}: the service is not running (start it: xp2p service run)"),
            true,
        );
        false
    }

    /// Queues what an edit step asks for and shows its line.
    fn edit_step(&mut self, step: crate::edit::Step) {
        for a in step.asks {
            self.effects.push(match a {
                Ask::Load(role) => Effect::LoadDesired(role),
                Ask::Edit {
                    role,
                    edits,
                    dry_run,
                } => Effect::SendEdit {
                    role,
                    edits,
                    dry_run,
                },
                Ask::Link(label) => Effect::LoadUserLink(label),
            });
        }
        if let Some((text, error)) = step.say {
            self.say(text, error);
        }
    }

    fn scroll(&mut self, delta: isize) {
        let apply = |v: usize, max: usize| -> usize {
            (v as isize + delta).clamp(0, max as isize) as usize
        };
        match self.view {
            View::Diff => {
                let len = match &self.diff {
                    Some(LoadedDiff { result: Ok(d), .. }) => d.lines.len(),
                    _ => 0,
                };
                self.diff_scroll = apply(self.diff_scroll, len.saturating_sub(1));
            }
            View::Journal if !self.journal_open => {
                self.journal_selected =
                    apply(self.journal_selected, self.journal.len().saturating_sub(1));
            }
            View::Logs => {
                // Up scrolls back (delta < 0 means up).
                let back = self.logs_back as isize - delta;
                self.logs_back = back.clamp(0, self.logs.len().saturating_sub(1) as isize) as usize;
            }
            _ => {}
        }
    }
}

fn role_of(v: &Value) -> Option<Role> {
    v.get("role")
        .and_then(Value::as_str)
        .and_then(|r| r.parse().ok())
}

/// The reducer.
pub fn reduce(mut s: State, action: Action) -> State {
    match action {
        Action::Quit => s.quit = true,
        Action::Show(view) => {
            s.view = view;
            s.help = false;
            s.load_for_view();
        }
        Action::NextRole => {
            if !s.roles.is_empty() {
                let i = s
                    .roles
                    .iter()
                    .position(|r| Some(r.role) == s.role)
                    .map_or(0, |i| (i + 1) % s.roles.len());
                s.role = Some(s.roles[i].role);
                s.diff_scroll = 0;
                s.load_for_view();
            }
        }
        Action::ToggleHelp => s.help = !s.help,
        Action::Escape => {
            if s.deploy_form.editing {
                s.deploy_form.editing = false;
            } else if s.help {
                s.help = false;
            } else if s.confirm.is_some() {
                s.confirm = None;
                s.say("cancelled", false);
            } else if s.journal_open {
                s.journal_open = false;
            } else {
                s.quit = true;
            }
        }
        Action::Up => s.scroll(-1),
        Action::Down => s.scroll(1),
        Action::PageUp => {
            let n = s.body_rows() as isize;
            s.scroll(-n)
        }
        Action::PageDown => {
            let n = s.body_rows() as isize;
            s.scroll(n)
        }
        Action::Home => s.scroll(-(isize::MAX / 2)),
        Action::End => s.scroll(isize::MAX / 2),
        Action::NextPair | Action::PrevPair if s.view == View::Diff => {
            let step = if action == Action::NextPair {
                1
            } else {
                DIFF_PAIRS.len() - 1
            };
            s.diff_pair = (s.diff_pair + step) % DIFF_PAIRS.len();
            s.diff_scroll = 0;
            s.load_for_view();
        }
        Action::NextPair | Action::PrevPair => {}
        Action::Enter if s.deploy_form.editing => {
            let f = &mut s.deploy_form;
            match f.port.parse::<u16>() {
                Ok(port) if !f.host.is_empty() => {
                    f.editing = false;
                    f.running = true;
                    f.link = None;
                    f.steps.clear();
                    let host = f.host.clone();
                    s.effects.push(Effect::StartDeploy {
                        host: host.clone(),
                        port,
                    });
                    s.say(format!("deploy to {host}:{port} started"), false);
                }
                _ => s.say("deploy needs a host and a port (1-65535)", true),
            }
        }
        Action::Enter => {
            if s.view == View::Journal && !s.journal.is_empty() {
                s.journal_open = !s.journal_open;
            }
        }
        Action::Apply => {
            if let Some(role) = s.role
                && s.need_service("apply")
            {
                s.effects.push(Effect::SendApply(role));
                s.say(format!("{role}: apply requested"), false);
            }
        }
        Action::Rollback => {
            if let Some(role) = s.role
                && s.need_service("roll back")
            {
                s.confirm = Some(Confirm::Rollback(role));
            }
        }
        Action::Restart => {
            if let Some(role) = s.role
                && s.need_service("restart the core")
            {
                s.confirm = Some(Confirm::Restart(role));
            }
        }
        Action::ConfirmYes => match s.confirm.take() {
            Some(Confirm::Rollback(role)) => {
                s.effects.push(Effect::SendRollback(role));
                s.say(format!("{role}: rollback requested"), false);
            }
            Some(Confirm::Restart(role)) => {
                s.effects.push(Effect::SendRestart(role));
                s.say(format!("{role}: restart requested"), false);
            }
            None => {}
        },
        Action::ConfirmNo => {
            if s.confirm.take().is_some() {
                s.say("cancelled", false);
            }
        }
        Action::Resize(w, h) => s.size = (w, h),
        Action::Connected { pid } => {
            s.conn = Conn::Online { pid };
            s.effects.push(Effect::RefreshStatus);
            s.load_for_view();
        }
        Action::Disconnected(reason) => {
            // An attempt seen in progress may have ended unseen: the snapshot decides.
            s.attempts.retain(|_, a| a.status.is_some());
            if !matches!(&s.conn, Conn::Offline { reason: r } if *r == reason) {
                s.conn = Conn::Offline { reason };
            }
        }
        Action::Snapshot(roles) => {
            s.roles = roles;
            settle_missed_results(&mut s);
            let first = s.role.is_none();
            if s.role.is_none_or(|r| !s.roles.iter().any(|v| v.role == r)) {
                s.role = s.roles.first().map(|r| r.role);
            }
            if first && s.role.is_some() {
                s.load_for_view();
            }
        }
        Action::ServiceEvent(ev) => on_event(&mut s, &ev),
        Action::DiffLoaded(d) => {
            if Some(d.role) == s.role && d.pair == s.diff_pair {
                s.diff = Some(d);
            }
        }
        Action::JournalLoaded(rows) => {
            // Keep the same attempt selected (newer attempts arrive on top).
            let kept = s
                .journal
                .get(s.journal_selected)
                .and_then(|a| rows.iter().position(|r| r.attempt_id == a.attempt_id));
            s.journal = rows;
            s.journal_selected =
                kept.unwrap_or(s.journal_selected.min(s.journal.len().saturating_sub(1)));
            if s.journal.is_empty() {
                s.journal_open = false;
            }
        }
        Action::LogsLoaded { role, lines } => {
            if s.logs_role == Some(role) {
                s.logs = lines.into_iter().collect();
                while s.logs.len() > LOG_LINES {
                    s.logs.pop_front();
                }
            }
        }
        Action::CommandDone { ok, text } => s.say(text, !ok),
        Action::EditDeploy => {
            if s.view == View::Deploy && !s.deploy_form.running {
                s.deploy_form.editing = true;
            }
        }
        Action::Typed(c) => {
            let f = &mut s.deploy_form;
            if f.editing {
                let field = if f.field == 0 {
                    &mut f.host
                } else {
                    &mut f.port
                };
                if field.len() < 253 && (f.field == 0 || c.is_ascii_digit()) && !c.is_whitespace() {
                    field.push(c);
                }
            }
        }
        Action::Backspace => {
            let f = &mut s.deploy_form;
            if f.editing {
                if f.field == 0 {
                    f.host.pop()
                } else {
                    f.port.pop()
                };
            }
        }
        Action::NextField => {
            if s.deploy_form.editing {
                s.deploy_form.field = (s.deploy_form.field + 1) % 2;
            }
        }
        Action::DeployLine(v) => {
            let f = &mut s.deploy_form;
            if let Some(link) = v["link"].as_str() {
                f.link = Some(link.to_string());
            }
            let step = v["step"].as_str().unwrap_or("note");
            let detail = v["detail"]
                .as_str()
                .or(v["note"].as_str())
                .or(v["error"]["message"].as_str())
                .unwrap_or("");
            let side = if v["side"] == "server" {
                " (server)"
            } else {
                ""
            };
            f.steps
                .push(format!("{step}{side} {detail}").trim_end().to_string());
            if f.steps.len() > 200 {
                f.steps.remove(0);
            }
        }
        Action::EditKey(key, g) => {
            if let (Some(tab), Some(role)) = (s.view.edit_tab(), s.role) {
                let step = s.edit.key(tab, role, key, &g);
                s.edit_step(step);
            }
        }
        Action::DesiredLoaded { role, result } => {
            if s.role == Some(role) {
                s.edit.loaded(result);
                let n = s.view.edit_tab().map_or(0, |t| s.edit.rows(t).len());
                s.edit.selected = s.edit.selected.min(n.saturating_sub(1));
            }
        }
        Action::EditAnswered {
            role,
            edits,
            dry_run,
            result,
        } => {
            let step = s.edit.answered(role, edits, dry_run, result);
            s.edit_step(step);
        }
        Action::UserLinkLoaded { label, result } => s.edit.link_answered(&label, result),
        Action::DeployEnded { ok } => {
            s.deploy_form.running = false;
            s.say(
                if ok {
                    "deploy done"
                } else {
                    "deploy failed (see the steps)"
                },
                !ok,
            );
        }
    }
    s
}

/// A snapshot is the truth: an attempt shown as running whose journal record
/// already has an outcome lost its `apply.done` (a resync dropped it), so it is
/// settled from the record instead of staying "in progress" forever.
fn settle_missed_results(s: &mut State) {
    let mut settled = Vec::new();
    for v in &s.roles {
        let (Some(live), Some(last)) = (s.attempts.get(&v.role), &v.last_attempt) else {
            continue;
        };
        let Some(outcome) = &last.outcome else {
            continue;
        };
        if live.status.is_none() && live.attempt_id == last.attempt_id {
            let mut done = live.clone();
            done.status = Some(outcome.to_string());
            done.duration_ms = last.duration_ms;
            done.error = last.error.clone();
            settled.push((v.role, done));
        }
    }
    for (role, done) in settled {
        let status = done.status.clone().unwrap_or_default();
        let text = match &done.error {
            Some(e) => format!("{role}: {status}: {e}"),
            None => format!("{role}: {status} in {} ms", done.duration_ms.unwrap_or(0)),
        };
        let failed = !matches!(status.as_str(), "committed" | "noop" | "superseded");
        s.say(text, failed);
        s.attempts.insert(role, done);
    }
}

fn on_event(s: &mut State, ev: &Value) {
    let role = role_of(ev);
    match EventKind::of(ev) {
        Some(EventKind::ApplyStart) => {
            if let Some(role) = role {
                s.attempts.insert(
                    role,
                    LiveAttempt {
                        role: Some(role),
                        attempt_id: ev["attempt_id"].as_str().unwrap_or("").into(),
                        request_id: ev["request_id"].as_str().unwrap_or("").into(),
                        ..LiveAttempt::default()
                    },
                );
            }
        }
        Some(EventKind::ApplyPhase) => {
            if let Some(a) = role.and_then(|r| s.attempts.get_mut(&r)) {
                let phase = ev["phase"].as_str().unwrap_or("").to_string();
                let at = ev["at"]
                    .as_str()
                    .and_then(|t| humantime::parse_rfc3339_weak(t).ok());
                let ms = match (a.last_at, at) {
                    (Some(prev), Some(now)) => now
                        .duration_since(prev)
                        .map(|d| d.as_millis() as u64)
                        .unwrap_or(0),
                    _ => 0,
                };
                if at.is_some() {
                    a.last_at = at;
                }
                if !a.phases.iter().any(|(p, _)| *p == phase) {
                    a.phases.push((phase, ms));
                }
            }
        }
        Some(EventKind::ApplyDone) => {
            if let Some(role) = role {
                let phases = ev["phases"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|p| {
                        (
                            p["phase"].as_str().unwrap_or("").to_string(),
                            p["ms"].as_u64().unwrap_or(0),
                        )
                    })
                    .collect();
                let status = ev["status"].as_str().unwrap_or("").to_string();
                let ms = ev["duration_ms"].as_u64();
                let error = ev["error_summary"].as_str().map(str::to_string);
                s.attempts.insert(
                    role,
                    LiveAttempt {
                        role: Some(role),
                        attempt_id: ev["attempt_id"].as_str().unwrap_or("").into(),
                        request_id: ev["request_id"].as_str().unwrap_or("").into(),
                        phases,
                        status: Some(status.clone()),
                        duration_ms: ms,
                        error: error.clone(),
                        log_tail: ev["log_tail"].as_str().unwrap_or("").into(),
                        last_at: None,
                    },
                );
                let text = match &error {
                    Some(e) => format!("{role}: {status}: {e}"),
                    None => format!("{role}: {status} in {} ms", ms.unwrap_or(0)),
                };
                let failed = !matches!(status.as_str(), "committed" | "noop" | "superseded");
                s.say(text, failed);
                s.effects.push(Effect::RefreshStatus);
                if s.role == Some(role) && matches!(s.view, View::Diff | View::Journal) {
                    s.load_for_view();
                }
            }
        }
        Some(EventKind::CoreLog) => {
            if role.is_some() && role == s.logs_role {
                s.logs
                    .push_back(ev["line"].as_str().unwrap_or("").to_string());
                if s.logs.len() > LOG_LINES {
                    s.logs.pop_front();
                }
            }
        }
        Some(EventKind::ApplyLog) => {}
        Some(EventKind::DeployProgress) => {
            let field = |k: &str| ev[k].as_str().unwrap_or("").to_string();
            let row = DeployRow {
                role: field("role"),
                step: field("step"),
                state: field("state"),
                detail: field("detail"),
            };
            let failed = row.state == "failed";
            s.say(
                format!("deploy ({}): {} {}", row.role, row.step, row.detail)
                    .trim_end()
                    .to_string(),
                failed,
            );
            s.deploys.insert(field("deploy_id"), row);
        }
        Some(EventKind::DesiredChanged) => {
            s.effects.push(Effect::RefreshStatus);
            let reloads = matches!(s.view, View::Diff | View::Entries | View::Routes);
            if reloads && role == s.role {
                s.load_for_view();
            }
        }
        _ => s.effects.push(Effect::RefreshStatus),
    }
}
