//! `sd_notify`: datagrams to `$NOTIFY_SOCKET` (`READY=1`, `STATUS=…`,
//! `STOPPING=1`), and the `STATUS=` text itself: which roles serve, which wait
//! and why, kept current from the service's events. Without the variable,
//! nothing is sent. Abstract sockets (`@name`) are supported.

use std::collections::BTreeMap;
use std::future::Future;
use std::os::unix::net::UnixDatagram;

use tokio::sync::broadcast::{self, error::RecvError};
use xp2p_core::Role;
use xp2p_core::error::ErrorCode;

use crate::events::Event;

/// Sends one notification; errors are returned for logging, never fatal.
pub fn notify(state: &str) -> std::io::Result<bool> {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET").filter(|p| !p.is_empty()) else {
        return Ok(false);
    };
    let sock = UnixDatagram::unbound()?;
    let path = path.to_string_lossy().into_owned();
    if let Some(name) = path.strip_prefix('@') {
        use std::os::linux::net::SocketAddrExt;
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())?;
        sock.send_to_addr(state.as_bytes(), &addr)?;
    } else {
        sock.send_to(state.as_bytes(), &path)?;
    }
    Ok(true)
}

/// `notify`, logging a failure instead of returning it.
pub fn tell(state: &str) {
    if let Err(e) = notify(state) {
        tracing::warn!("sd_notify {state:?}: {e}");
    }
}

/// A role's core, as the events last showed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CoreView {
    Running,
    /// No core yet, no apply finished: the first apply is under way.
    Starting,
    Stopped,
    /// Exited; the supervisor restarts it (backoff) or gave up until the next apply.
    Failed,
}

/// The last finished apply of a role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LastApply {
    None,
    Succeeded,
    /// Failed: the one-line reason STATUS shows.
    Failed(String),
}

/// Longest reason text kept per role (STATUS is one line in `systemctl status`).
const REASON_MAX: usize = 96;

/// Per-role state, rendered as the `STATUS=` line.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StatusBoard {
    roles: BTreeMap<Role, (CoreView, LastApply)>,
}

impl StatusBoard {
    /// `served`: each served role and whether its core runs now.
    pub fn new(served: impl IntoIterator<Item = (Role, bool)>) -> StatusBoard {
        let roles = served
            .into_iter()
            .map(|(r, up)| {
                let core = if up {
                    CoreView::Running
                } else {
                    CoreView::Starting
                };
                (r, (core, LastApply::None))
            })
            .collect();
        StatusBoard { roles }
    }

    /// Folds one event in; true when the board changed.
    pub fn observe(&mut self, ev: &Event) -> bool {
        let (role, core, last) = match ev {
            Event::CoreState { role, pid, display } => {
                let core = match (pid, display.as_str()) {
                    (Some(_), _) => CoreView::Running,
                    (None, "failed") => CoreView::Failed,
                    (None, _) => CoreView::Stopped,
                };
                (*role, Some(core), None)
            }
            Event::ApplyDone(r) => {
                let last = match r.status.as_str() {
                    "superseded" | "interrupted" => return false,
                    "committed" | "noop" => LastApply::Succeeded,
                    _ => LastApply::Failed(apply_problem(
                        r.error_code.as_deref(),
                        r.error_summary.as_deref(),
                        &r.status,
                    )),
                };
                (r.role, None, Some(last))
            }
            _ => return false,
        };
        let Some(slot) = self.roles.get_mut(&role) else {
            return false;
        };
        let before = slot.clone();
        if let Some(core) = core {
            slot.0 = core;
        }
        if let Some(last) = last {
            slot.1 = last;
        }
        if slot.0 == CoreView::Starting && slot.1 != LastApply::None {
            // An apply finished without starting a core: no longer "starting".
            slot.0 = CoreView::Stopped;
        }
        *slot != before
    }

    /// Sets whether each role's core runs (after a missed event).
    pub fn resync(&mut self, running: impl IntoIterator<Item = (Role, bool)>) {
        for (role, up) in running {
            if let Some(slot) = self.roles.get_mut(&role) {
                slot.0 = match (up, slot.0) {
                    (true, _) => CoreView::Running,
                    (false, CoreView::Running) => CoreView::Stopped,
                    (false, other) => other,
                };
            }
        }
    }

    /// `serving server; client: invalid Desired (xp2p-client.toml:14 …)`.
    pub fn text(&self) -> String {
        let mut serving = Vec::new();
        let mut waiting = Vec::new();
        for (role, (core, last)) in &self.roles {
            match (core, last) {
                (CoreView::Running, LastApply::Failed(why)) => {
                    serving.push(format!("{role} (last good config; last apply: {why})"))
                }
                (CoreView::Running, _) => serving.push(role.to_string()),
                (_, LastApply::Failed(why)) => waiting.push(format!("{role}: {why}")),
                (CoreView::Starting, _) => waiting.push(format!("{role}: starting")),
                (CoreView::Failed, _) => {
                    waiting.push(format!("{role}: core exited (see xp2p status)"))
                }
                (CoreView::Stopped, _) => waiting.push(format!("{role}: no core running")),
            }
        }
        let mut out = if serving.is_empty() {
            "serving nothing".to_string()
        } else {
            format!("serving {}", serving.join(", "))
        };
        for w in waiting {
            out.push_str("; ");
            out.push_str(&w);
        }
        out
    }
}

/// One line saying why an apply failed, from its error code and summary.
fn apply_problem(code: Option<&str>, summary: Option<&str>, status: &str) -> String {
    let code = code.and_then(|c| serde_json::from_value::<ErrorCode>(c.into()).ok());
    let what = match code {
        Some(
            ErrorCode::InvalidToml
            | ErrorCode::InvalidSnippet
            | ErrorCode::MergeCollision
            | ErrorCode::ReservedTag
            | ErrorCode::InvalidRule
            | ErrorCode::RuleOrder,
        ) => "invalid Desired".to_string(),
        Some(ErrorCode::UnsupportedByCore | ErrorCode::ConfigTestFailed) => {
            "config rejected by the core".to_string()
        }
        Some(ErrorCode::CoreNotFound) => "no core binary".to_string(),
        Some(c) => format!("apply {status} ({c})"),
        None => format!("apply {status}"),
    };
    match summary.map(one_line).filter(|s| !s.is_empty()) {
        Some(s) => format!("{what} ({s})"),
        None => what,
    }
}

/// Control characters (a newline would end the STATUS assignment) become
/// spaces; long text is cut at [`REASON_MAX`] characters with `…`.
fn one_line(s: &str) -> String {
    let flat: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let flat = flat.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= REASON_MAX {
        flat
    } else {
        let mut cut: String = flat.chars().take(REASON_MAX - 1).collect();
        cut.push('…');
        cut
    }
}

/// Sends `READY=1` with the board's STATUS once `ready` fires, then a new
/// STATUS whenever a core's state or an apply's outcome changes the text.
/// Events queued before `ready` are folded in first, so READY's STATUS already
/// reflects the first applies. After missed events (`Lagged`) the cores' states
/// are read again through `running`. Ends when the bus closes.
pub async fn follow_status<F, Fut>(
    mut board: StatusBoard,
    mut events: broadcast::Receiver<Event>,
    mut ready: tokio::sync::oneshot::Receiver<()>,
    running: F,
) where
    F: Fn() -> Fut,
    Fut: Future<Output = Vec<(Role, bool)>>,
{
    let mut is_ready = false;
    let mut sent = String::new();
    loop {
        let changed = tokio::select! {
            biased;
            ev = events.recv() => match ev {
                Ok(ev) => board.observe(&ev),
                Err(RecvError::Lagged(_)) => {
                    board.resync(running().await);
                    true
                }
                Err(RecvError::Closed) => return,
            },
            r = &mut ready, if !is_ready => {
                is_ready = true;
                if r.is_err() {
                    // The service ended before it was ready: nothing to report.
                    return;
                }
                sent = board.text();
                tell(&format!("READY=1\nSTATUS={sent}"));
                false
            }
        };
        if changed && is_ready {
            let text = board.text();
            if text != sent {
                tell(&format!("STATUS={text}"));
                sent = text;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::ApplyResult;

    fn done(role: Role, status: &str, code: Option<&str>, summary: Option<&str>) -> Event {
        Event::ApplyDone(ApplyResult {
            role,
            request_id: "r".into(),
            attempt_id: "a".into(),
            status: status.into(),
            changed: false,
            duration_ms: 1,
            exit_code: 0,
            error_code: code.map(Into::into),
            error_summary: summary.map(Into::into),
            log_tail: String::new(),
            phases: Vec::new(),
            tun: None,
        })
    }

    fn core(role: Role, display: &str, pid: Option<i32>) -> Event {
        Event::CoreState {
            role,
            display: display.parse().expect("a display state"),
            pid,
        }
    }

    #[test]
    fn an_invalid_desired_without_live_is_not_called_serving() {
        let mut b = StatusBoard::new([(Role::Client, false), (Role::Server, false)]);
        assert_eq!(
            b.text(),
            "serving nothing; client: starting; server: starting"
        );
        assert!(b.observe(&core(Role::Server, "running", Some(42))));
        assert!(b.observe(&done(Role::Server, "committed", None, None)));
        assert!(b.observe(&done(
            Role::Client,
            "failed",
            Some("invalid_toml"),
            Some("xp2p-client.toml:14:1 [client] server_address: missing\nsecond line"),
        )));
        assert_eq!(
            b.text(),
            "serving server; client: invalid Desired (xp2p-client.toml:14:1 [client] server_address: missing second line)"
        );
        // A fixed Desired: the client serves too.
        assert!(b.observe(&core(Role::Client, "running", Some(43))));
        assert!(b.observe(&done(Role::Client, "committed", None, None)));
        assert_eq!(b.text(), "serving client, server");
    }

    #[test]
    fn a_failed_apply_over_a_running_core_keeps_serving_and_says_so() {
        let mut b = StatusBoard::new([(Role::Server, true)]);
        assert_eq!(b.text(), "serving server");
        assert!(b.observe(&done(
            Role::Server,
            "rolled_back",
            Some("health_check_failed"),
            Some("port 443 not listening"),
        )));
        assert_eq!(
            b.text(),
            "serving server (last good config; last apply: apply rolled_back (health_check_failed) (port 443 not listening))"
        );
        assert!(b.observe(&core(Role::Server, "failed", None)));
        assert!(
            b.text()
                .starts_with("serving nothing; server: apply rolled_back")
        );
        // Superseded attempts and other roles' or unrelated events change nothing.
        assert!(!b.observe(&done(Role::Server, "superseded", None, None)));
        assert!(!b.observe(&core(Role::Client, "running", Some(1))));
        assert!(!b.observe(&Event::CoreLog {
            role: Role::Server,
            line: "x".into()
        }));
    }

    #[test]
    fn a_crashed_core_is_reported_and_resync_corrects_missed_events() {
        let mut b = StatusBoard::new([(Role::Client, true)]);
        assert!(b.observe(&core(Role::Client, "failed", None)));
        assert_eq!(
            b.text(),
            "serving nothing; client: core exited (see xp2p status)"
        );
        b.resync([(Role::Client, true)]);
        assert_eq!(b.text(), "serving client");
        b.resync([(Role::Client, false)]);
        assert_eq!(b.text(), "serving nothing; client: no core running");
    }

    #[test]
    fn reasons_are_one_bounded_line() {
        let long = "x".repeat(500);
        let r = apply_problem(Some("config_test_failed"), Some(&long), "failed");
        assert!(r.starts_with("config rejected by the core (xxx"));
        assert!(r.chars().count() < REASON_MAX + 40, "{r}");
        assert!(r.ends_with("…)"));
        let r = apply_problem(Some("invalid_toml"), Some("a\u{1b}[2Jb\rc"), "failed");
        assert_eq!(r, "invalid Desired (a [2Jb c)");
        assert!(!r.chars().any(char::is_control));
    }

    #[test]
    fn sends_to_the_socket_in_the_environment() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("notify.sock");
        let rx = std::os::unix::net::UnixDatagram::bind(&p).unwrap();
        // SAFETY: test-only; no other thread reads NOTIFY_SOCKET in this test binary.
        unsafe { std::env::set_var("NOTIFY_SOCKET", &p) };
        assert!(super::notify("READY=1").unwrap());
        let mut buf = [0u8; 64];
        let n = rx.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1");
        unsafe { std::env::remove_var("NOTIFY_SOCKET") };
        assert!(!super::notify("READY=1").unwrap());
    }
}
