//! Watchers (notify): a settled edit of a role's Desired files writes a fresh
//! apply.request for that role (debounced, so a burst of edits gives one apply);
//! any change of apply.request pokes the runners at once.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc;
use xp2p_core::{Layout, Role};
use xp2p_store::digest::read_desired;
use xp2p_store::live::{self, Slot};
use xp2p_store::markers;

use crate::apply::RunnerCmd;
use crate::events::{Event, EventBus};

enum Touch {
    Desired(Role),
    Request,
}

/// Which role's Desired a path belongs to, or the request marker.
fn classify(layout: &Layout, path: &Path) -> Option<Touch> {
    if path == layout.apply_request() || path == layout.apply_error() {
        return Some(Touch::Request);
    }
    if path.starts_with(layout.state_dir()) || path.starts_with(layout.log_root()) {
        return None;
    }
    for role in Role::ALL {
        if path == layout.desired_toml(role) || path.starts_with(layout.snippets_dir(role)) {
            return Some(Touch::Desired(role));
        }
    }
    if path.starts_with(layout.root().join("tls")) {
        return Some(Touch::Desired(Role::Server));
    }
    None
}

/// The directories worth watching, each non-recursively: the root (Desired TOMLs),
/// `.state` (markers), the snippet folders and the server's TLS folder. Watching the
/// root recursively would follow every staging/Live directory the service itself
/// creates and renames (notify keeps a watch and a path entry per directory: the
/// 1 000-apply soak showed the service's memory growing with it).
fn wanted_dirs(layout: &Layout) -> Vec<std::path::PathBuf> {
    let mut dirs = vec![layout.root().to_path_buf(), layout.state_dir()];
    dirs.extend(Role::ALL.iter().map(|r| layout.snippets_dir(*r)));
    dirs.push(layout.root().join("tls"));
    dirs.push(layout.tls_server_dir());
    dirs
}

/// Starts watching. The watcher lives in the returned task (abort it to stop).
pub fn start(
    layout: Layout,
    debounce: Duration,
    pokes: HashMap<Role, mpsc::UnboundedSender<RunnerCmd>>,
    events: EventBus,
) -> notify::Result<tokio::task::JoinHandle<()>> {
    let (tx, mut rx) = mpsc::unbounded_channel::<(PathBuf, bool)>();
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        if let Ok(ev) = res
            && !matches!(ev.kind, notify::EventKind::Access(_))
        {
            let created = matches!(ev.kind, notify::EventKind::Create(_));
            for p in ev.paths {
                let _ = tx.send((p, created));
            }
        }
    })?;
    let wanted = wanted_dirs(&layout);
    let mut watched: Vec<PathBuf> = Vec::new();
    for dir in &wanted {
        if dir.is_dir() {
            watcher.watch(dir, RecursiveMode::NonRecursive)?;
            watched.push(dir.clone());
        }
    }
    Ok(tokio::spawn(async move {
        // The watcher is owned here: it lives exactly as long as this task.
        let mut watcher = watcher;
        let mut due: HashMap<Role, tokio::time::Instant> = HashMap::new();
        loop {
            let next = due.values().min().copied();
            tokio::select! {
                item = rx.recv() => {
                    let Some((path, created)) = item else { break };
                    // A wanted folder appeared (e.g. config-client/): watch it too.
                    if created && wanted.contains(&path) && !watched.contains(&path) && path.is_dir() {
                        if watcher.watch(&path, RecursiveMode::NonRecursive).is_ok() {
                            watched.push(path.clone());
                        }
                        if let Some(role) = Role::ALL.into_iter().find(|r| layout.snippets_dir(*r) == path) {
                            due.insert(role, tokio::time::Instant::now() + debounce);
                        }
                        continue;
                    }
                    match classify(&layout, &path) {
                        Some(Touch::Request) => {
                            for p in pokes.values() {
                                let _ = p.send(RunnerCmd::Poke);
                            }
                            let l = layout.clone();
                            let ev = events.clone();
                            let roles: Vec<Role> = pokes.keys().copied().collect();
                            tokio::task::spawn_blocking(move || publish_markers(&l, &roles, &ev));
                        }
                        Some(Touch::Desired(role)) => {
                            due.insert(role, tokio::time::Instant::now() + debounce);
                        }
                        None => {}
                    }
                }
                _ = async { match next { Some(t) => tokio::time::sleep_until(t).await, None => std::future::pending().await } } => {
                    let now = tokio::time::Instant::now();
                    let settled: Vec<Role> = due.iter().filter(|(_, t)| **t <= now).map(|(r, _)| *r).collect();
                    for role in settled {
                        due.remove(&role);
                        let l = layout.clone();
                        let outcome = tokio::task::spawn_blocking(move || request_if_changed(&l, role)).await;
                        match outcome {
                            Ok(Ok(Some(digest))) => {
                                events.send(Event::DesiredChanged { role, digest });
                                if let Some(p) = pokes.get(&role) {
                                    let _ = p.send(RunnerCmd::Poke);
                                }
                            }
                            Ok(Ok(None)) => {}
                            Ok(Err(e)) => tracing::error!(%role, "cannot write apply.request: {e}"),
                            Err(e) => tracing::error!(%role, "watch task: {e}"),
                        }
                    }
                }
            }
        }
    }))
}

/// Publishes each role's pending request and error as a `markers` event.
fn publish_markers(layout: &Layout, roles: &[Role], events: &EventBus) {
    let mut requests = markers::read_requests(layout).requests;
    let mut errors = markers::read_errors(layout).errors;
    for role in roles {
        events.send(Event::Markers {
            role: *role,
            request: requests.remove(role),
            error: errors.remove(role),
        });
    }
}

/// Writes a fresh request when the role's Desired digest differs from Live's.
/// Returns the new digest when a request was written.
pub fn request_if_changed(layout: &Layout, role: Role) -> Result<Option<String>, String> {
    let files = read_desired(layout, role).map_err(|e| e.to_string())?;
    if files.is_absent() {
        return Ok(None);
    }
    let digest = files.digest();
    let live_digest = live::read_runtime(layout, role, Slot::Live)
        .ok()
        .flatten()
        .map(|rt| rt.desired_digest);
    if live_digest.as_deref() == Some(digest.as_str()) {
        return Ok(None);
    }
    let id = markers::write_request(layout, role).map_err(|e| e.to_string())?;
    tracing::info!(%role, request = %id, "Desired changed: apply requested");
    Ok(Some(digest))
}
