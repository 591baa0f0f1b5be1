//! Where the console's data comes from: the service over IPC, or — when it is not
//! running — the files, read-only (the offline fallback of architecture.md).

use xp2p_core::{Layout, Role, diff};
use xp2p_ipc::{ConnectError, IpcClient, Request, Response};
use xp2p_store::journal::{self, Record};
use xp2p_store::sides::{self, Side, SideError, UnknownSide};
use xp2p_store::status::{self, RoleView};

use crate::state::{AttemptRow, DIFF_PAIRS, DiffText, LoadedDiff};

/// The roles of a `status`/`snapshot` state object.
/// Computes the diff view's text from two rendered sides.
pub fn diff_text(
    left_name: &str,
    left: &[u8],
    right_name: &str,
    right: &[u8],
) -> Result<DiffText, String> {
    let (lv, ls) = diff::canonical(left).map_err(|e| format!("{left_name}: {e}"))?;
    let (rv, rs) = diff::canonical(right).map_err(|e| format!("{right_name}: {e}"))?;
    let unified = diff::unified(left_name, &ls, right_name, &rs);
    Ok(DiffText {
        lines: unified.lines().map(str::to_string).collect(),
        changed_paths: diff::changes(&lv, &rv)
            .into_iter()
            .map(|c| format!("{} {}", format!("{:?}", c.change).to_lowercase(), c.path))
            .collect(),
    })
}

/// One side, offline.
fn render_offline(layout: &Layout, role: Role, which: &str) -> Result<Vec<u8>, String> {
    let side: Side = which.parse().map_err(|e: UnknownSide| e.to_string())?;
    sides::render(layout, role, side).map_err(|e| match e {
        SideError::Problems(p) => format!("Desired does not compile: {}", p.summary()),
        SideError::Missing { slot, .. } => {
            format!("no {} config for the {role} role", slot.name())
        }
        SideError::Io { path, error } => format!("{}: {error}", path.display()),
    })
}

/// One side, from the service.
async fn render_online(c: &mut IpcClient, role: Role, which: &str) -> Result<Vec<u8>, String> {
    let ans = c
        .call(&Request::render(role, which))
        .await
        .map_err(|e| e.to_string())?;
    match ans {
        Response::RenderOk { json } => Ok(json.into_bytes()),
        other => {
            let msg = match other {
                Response::Error { message, .. } => message,
                _ => "render failed".to_string(),
            };
            Err(if which == "desired" {
                format!("Desired does not compile: {msg}")
            } else {
                msg
            })
        }
    }
}

pub fn load_diff_offline(layout: &Layout, role: Role, pair: usize) -> LoadedDiff {
    let (l, r) = DIFF_PAIRS[pair % DIFF_PAIRS.len()];
    let result = render_offline(layout, role, l)
        .and_then(|lb| render_offline(layout, role, r).map(|rb| (lb, rb)))
        .and_then(|(lb, rb)| diff_text(l, &lb, r, &rb));
    LoadedDiff { role, pair, result }
}

pub async fn load_diff_online(c: &mut IpcClient, role: Role, pair: usize) -> LoadedDiff {
    let (l, r) = DIFF_PAIRS[pair % DIFF_PAIRS.len()];
    let result = match render_online(c, role, l).await {
        Ok(lb) => match render_online(c, role, r).await {
            Ok(rb) => diff_text(l, &lb, r, &rb),
            Err(e) => Err(e),
        },
        Err(e) => Err(e),
    };
    LoadedDiff { role, pair, result }
}

/// Groups journal records into attempts, newest first.
pub fn attempts(records: &[Record]) -> Vec<AttemptRow> {
    let mut order: Vec<String> = Vec::new();
    let mut rows: std::collections::HashMap<String, AttemptRow> = Default::default();
    for r in records {
        let row = rows.entry(r.attempt_id.clone()).or_insert_with(|| {
            order.push(r.attempt_id.clone());
            AttemptRow {
                attempt_id: r.attempt_id.clone(),
                role: r.role,
                request_id: r.request_id.clone(),
                ts: r.ts.clone(),
                outcome: "in progress".into(),
                duration_ms: None,
                error: None,
                detail: None,
                phases: Vec::new(),
            }
        });
        if let Some(o) = r.outcome {
            row.outcome = o.as_str().into();
            row.duration_ms = r.duration_ms;
            row.error = r
                .error
                .as_ref()
                .map(|e| format!("{}: {}", e.code, e.message));
        }
        if r.detail.is_some() {
            row.detail = r.detail.clone();
        }
        if r.outcome.is_none() || r.phase == "done" {
            row.phases.push((r.phase.to_string(), r.ts.clone()));
        }
    }
    order
        .into_iter()
        .rev()
        .filter_map(|id| rows.remove(&id))
        .collect()
}

pub fn journal_offline(layout: &Layout) -> Vec<AttemptRow> {
    attempts(&journal::read_all(&layout.journal()).unwrap_or_default())
}

pub async fn journal_online(c: &mut IpcClient) -> Result<Vec<AttemptRow>, String> {
    match c
        .call(&Request::journal(None, 500))
        .await
        .map_err(|e| e.to_string())?
    {
        Response::JournalOk { records } => Ok(attempts(&records)),
        other => Err(ConnectError::unexpected(&other).to_string()),
    }
}

pub fn logs_offline(layout: &Layout, role: Role) -> Vec<String> {
    tail_lines(&std::fs::read(layout.core_log(role)).unwrap_or_default())
}

pub async fn logs_online(c: &mut IpcClient, role: Role) -> Result<Vec<String>, String> {
    match c
        .call(&Request::logs(role, 256 * 1024))
        .await
        .map_err(|e| e.to_string())?
    {
        Response::LogsOk { text } => Ok(text.lines().map(str::to_string).collect()),
        // A refusal shows no lines (the connection stays).
        _ => Ok(Vec::new()),
    }
}

fn tail_lines(bytes: &[u8]) -> Vec<String> {
    let start = bytes.len().saturating_sub(256 * 1024);
    let text = String::from_utf8_lossy(&bytes[start..]);
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    if start > 0 && !lines.is_empty() {
        lines.remove(0);
    }
    lines
}

/// The edit views' rows from the file (offline: browse only).
pub fn desired_offline(layout: &Layout, role: Role) -> Result<xp2p_ipc::DesiredView, String> {
    let path = layout.desired_toml(role);
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut view = xp2p_ipc::DesiredView::parse(role, &path, &text)?;
    view.editable = false;
    Ok(view)
}

pub fn snapshot_offline(layout: &Layout) -> Vec<RoleView> {
    status::snapshot(layout)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn publish(dir: std::path::PathBuf, json: &str) {
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("xray.json"), json).unwrap();
    }

    #[test]
    fn the_offline_diff_words_each_side_error_its_own_way() {
        let d = tempfile::tempdir().unwrap();
        let l = Layout::new(d.path(), d.path().join("logs"));
        // live ↔ lkg: no LKG yet.
        publish(l.live_dir(Role::Client), "{\"a\":1}");
        let err = load_diff_offline(&l, Role::Client, 1).result.unwrap_err();
        assert_eq!(err, "no lkg config for the client role");
        // desired ↔ live: Desired does not compile (there is none).
        let err = load_diff_offline(&l, Role::Client, 0).result.unwrap_err();
        assert!(err.starts_with("Desired does not compile: "), "{err}");
        // An unknown side is refused, not read as LKG.
        let err = render_offline(&l, Role::Client, "old").unwrap_err();
        assert_eq!(err, "unknown side `old` (desired, live, lkg)");
    }

    #[test]
    fn the_offline_diff_compares_the_stored_sides() {
        let d = tempfile::tempdir().unwrap();
        let l = Layout::new(d.path(), d.path().join("logs"));
        publish(l.live_dir(Role::Client), "{\"a\":2}");
        publish(l.lkg_dir(Role::Client), "{\"a\":1}");
        let text = load_diff_offline(&l, Role::Client, 1).result.unwrap();
        assert_eq!(text.changed_paths, vec!["changed /a".to_string()]);
    }
}
