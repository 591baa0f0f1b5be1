//! The side of [`super`] for an OS without a TUN implementation (every OS but
//! Linux today; Wintun is the Windows port's, [4/9]). Proxy mode needs nothing
//! from the OS and works; a role whose Live asks for TUN (split, full or
//! server `tun`) is `error_latched` with [`TunError::Unsupported`], recorded in
//! its state file like any latched error, so status, the snapshot, `tun.phase`
//! events, `apply --wait` and `repair` all say so. Nothing here touches the OS,
//! so there is never anything to restore; a state file that records OS changes
//! (copied from elsewhere) is refused by name rather than forgotten.

use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::mpsc;
use xp2p_core::{Layout, Role};
use xp2p_store::tunstate::{self, Mode, Phase, TunState, TunTarget, TunView};

use super::{OsNetwork, TunError, describe};

fn now() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

pub(crate) struct Backend {
    role: Role,
    state_path: PathBuf,
    state: TunState,
}

impl Backend {
    /// Records the state unless there is nothing to record and no file (as
    /// the Linux reconciler does).
    fn save(&mut self) -> Result<(), String> {
        self.state.updated_at = now();
        if !self.state.holds_anything()
            && self.state.phase == Phase::Disabled
            && !self.state_path.exists()
        {
            return Ok(());
        }
        tunstate::save(&self.state_path, &self.state)
            .map_err(|e| format!("cannot write {}: {e}", self.state_path.display()))
    }

    /// The refusal for OS changes a state file names but this OS cannot undo.
    fn cannot_undo(&self) -> String {
        format!(
            "restoring the {} baseline: {} ({} recorded in {})",
            self.role,
            TunError::Unsupported,
            describe(&self.state),
            self.state_path.display()
        )
    }
}

impl OsNetwork for Backend {
    fn open(role: Role, layout: &Layout, _bridge_exit: mpsc::UnboundedSender<String>) -> Self {
        let state_path = tunstate::state_path(layout, role);
        let state = match tunstate::load(&state_path) {
            Ok(s) => s.unwrap_or_default(),
            Err(e) => {
                tracing::error!(%role, "TUN state file unreadable ({e}); starting from an empty record");
                TunState::default()
            }
        };
        Backend {
            role,
            state_path,
            state,
        }
    }

    async fn reconcile(&mut self, target: Option<&TunTarget>, reason: &str) -> Option<Duration> {
        let want = target.map_or(Mode::Proxy, |t| t.mode);
        let s = &mut self.state;
        s.reason = reason.to_string();
        s.plan = Vec::new();
        s.tun_mode = want.as_str().to_string();
        s.pending_reason = None;
        s.retry_count = 0;
        s.next_retry_at = None;
        match target {
            Some(t) if want != Mode::Proxy => {
                let e = TunError::Unsupported.to_string();
                tracing::error!(role = %self.role, "TUN: {e}");
                s.phase = Phase::ErrorLatched;
                s.tun_name = t.name.clone();
                s.last_error = Some(e);
                s.last_error_at = Some(now());
            }
            _ => {
                s.phase = Phase::Disabled;
                s.last_error = None;
                s.last_error_at = None;
            }
        }
        if let Err(e) = self.save() {
            tracing::error!(role = %self.role, "{e}");
        }
        // Retrying cannot help: the next apply or repair reconciles again.
        None
    }

    async fn restore(&mut self, reason: &str) -> Result<(), String> {
        if self.state.holds_anything() {
            return Err(self.cannot_undo());
        }
        if self.state.phase == Phase::Disabled {
            return Ok(());
        }
        self.state = TunState {
            reason: reason.to_string(),
            ..TunState::default()
        };
        self.save()
    }

    async fn detach(&mut self) {}

    fn view(&self) -> TunView {
        TunView::from(&self.state)
    }
}

/// There is no OS network state to restore on this OS: always
/// [`TunError::Unsupported`], so `xp2p repair` says so with its own exit code
/// instead of claiming a baseline.
pub(crate) async fn repair_offline(_layout: &Layout) -> Result<Vec<String>, TunError> {
    Err(TunError::Unsupported)
}
