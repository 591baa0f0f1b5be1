//! The event loop: terminal input, IPC frames and a one-second tick become
//! actions; the reducer turns them into state; effects go to the IPC task; the
//! screen is redrawn only after something happened (no polling of the service).

use std::time::Duration;

use crossterm::event::EventStream;
use futures_util::StreamExt;
use ratatui::Terminal;
use ratatui::backend::Backend;
use tokio::sync::mpsc;
use xp2p_core::{Layout, Role};
use xp2p_ipc::{IpcClient, Request, RequestKind, Response};

use crate::keys;
use crate::source;
use crate::state::{Action, Effect, State, View, reduce};
use crate::views::{Theme, draw};

const BACKOFF_MAX: Duration = Duration::from_secs(5);

pub async fn run<B: Backend>(
    terminal: &mut Terminal<B>,
    layout: Layout,
    socket: std::path::PathBuf,
    role: Option<Role>,
    theme: Theme,
) -> Result<(), String>
where
    B::Error: std::fmt::Display,
{
    let (act_tx, mut act_rx) = mpsc::unbounded_channel::<Action>();
    let (eff_tx, eff_rx) = mpsc::unbounded_channel::<Effect>();
    let (deploy_layout, deploy_tx) = (layout.clone(), act_tx.clone());
    let ipc = tokio::spawn(ipc_loop(layout, socket, act_tx, eff_rx));
    let mut input = EventStream::new();
    let mut state = State {
        role,
        ..State::default()
    };
    if let Ok(size) = terminal.size() {
        state.size = (size.width, size.height);
    }
    let redraw = |t: &mut Terminal<B>, s: &State| {
        t.draw(|f| draw(f, s, &theme))
            .map(|_| ())
            .map_err(|e| e.to_string())
    };
    redraw(terminal, &state)?;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        let mut actions = Vec::new();
        let mut ticked = false;
        tokio::select! {
            ev = input.next() => match ev {
                Some(Ok(e)) => actions.extend(keys::action_for(&state, &e)),
                Some(Err(e)) => return Err(format!("terminal input: {e}")),
                None => actions.push(Action::Quit),
            },
            a = act_rx.recv() => actions.extend(a),
            _ = tick.tick() => ticked = true,
        }
        // Take everything already queued, then draw once.
        while let Ok(a) = act_rx.try_recv() {
            actions.push(a);
        }
        let acted = !actions.is_empty();
        for a in actions {
            state = reduce(state, a);
            for e in state.effects.drain(..) {
                match e {
                    Effect::StartDeploy { host, port } => {
                        tokio::spawn(run_deploy(
                            deploy_layout.clone(),
                            host,
                            port,
                            deploy_tx.clone(),
                        ));
                    }
                    other => {
                        let _ = eff_tx.send(other);
                    }
                }
            }
        }
        if state.quit {
            break;
        }
        // Ages and uptimes move once a second on the dashboard only.
        if acted || (ticked && state.view == View::Dashboard) {
            redraw(terminal, &state)?;
        }
    }
    ipc.abort();
    Ok(())
}

/// A client deploy started from the Deploy view: the real `xp2p client deploy`
/// (this binary), its `--json` lines turned into actions. Killed if the console quits.
async fn run_deploy(layout: Layout, host: String, port: u16, tx: mpsc::UnboundedSender<Action>) {
    use tokio::io::AsyncBufReadExt;
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            let _ = tx.send(Action::CommandDone {
                ok: false,
                text: format!("cannot start a deploy: {e}"),
            });
            let _ = tx.send(Action::DeployEnded { ok: false });
            return;
        }
    };
    let child = tokio::process::Command::new(exe)
        .arg("--config-root")
        .arg(layout.root())
        .args([
            "client",
            "deploy",
            "--host",
            &host,
            "--port",
            &port.to_string(),
            "--json",
        ])
        .env("XP2P_LOG_ROOT", layout.log_root())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            let _ = tx.send(Action::CommandDone {
                ok: false,
                text: format!("cannot start a deploy: {e}"),
            });
            let _ = tx.send(Action::DeployEnded { ok: false });
            return;
        }
    };
    if let Some(out) = child.stdout.take() {
        let mut lines = tokio::io::BufReader::new(out).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) {
                let _ = tx.send(Action::DeployLine(v));
            }
        }
    }
    let ok = child.wait().await.is_ok_and(|s| s.success());
    let _ = tx.send(Action::DeployEnded { ok });
}

async fn connect(socket: &std::path::Path) -> Result<IpcClient, String> {
    IpcClient::connect(socket, concat!("xp2p-tui ", env!("CARGO_PKG_VERSION")))
        .await
        .map_err(|e| e.to_string())
}

/// Owns the connection: subscribes (with log lines), forwards frames as actions,
/// runs effects; when the service is away, serves effects from the files and
/// retries with backoff (250 ms doubling to 5 s).
async fn ipc_loop(
    layout: Layout,
    socket: std::path::PathBuf,
    tx: mpsc::UnboundedSender<Action>,
    mut effects: mpsc::UnboundedReceiver<Effect>,
) {
    let mut backoff = Duration::from_millis(250);
    loop {
        let reason = match connect(&socket).await {
            Ok(mut c) => {
                backoff = Duration::from_millis(250);
                match c.ask(&Request::subscribe(true)).await {
                    Ok(Response::Snapshot { state, .. }) => {
                        let pid = u64::from(state.service.pid.unwrap_or(0));
                        let _ = tx.send(Action::Snapshot(state.roles));
                        let _ = tx.send(Action::Connected { pid });
                        online(&mut c, &tx, &mut effects).await
                    }
                    Ok(other) => xp2p_ipc::ConnectError::unexpected(&other).to_string(),
                    Err(e) => e.to_string(),
                }
            }
            Err(e) => e,
        };
        if tx.send(Action::Disconnected(reason)).is_err() {
            return;
        }
        let l = layout.clone();
        if let Ok(roles) = tokio::task::spawn_blocking(move || source::snapshot_offline(&l)).await {
            let _ = tx.send(Action::Snapshot(roles));
        }
        let deadline = tokio::time::Instant::now() + backoff;
        backoff = (backoff * 2).min(BACKOFF_MAX);
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => break,
                e = effects.recv() => match e {
                    Some(e) => offline(&layout, e, &tx).await,
                    None => return,
                },
            }
        }
    }
}

/// Serves one connection until it fails; returns why.
async fn online(
    c: &mut IpcClient,
    tx: &mpsc::UnboundedSender<Action>,
    effects: &mut mpsc::UnboundedReceiver<Effect>,
) -> String {
    loop {
        tokio::select! {
            f = c.next_response() => match f {
                Ok(Response::Event { event, .. }) => {
                    let ev = serde_json::to_value(&event).unwrap_or_default();
                    let _ = tx.send(Action::ServiceEvent(ev));
                }
                Ok(Response::Snapshot { state, .. }) => {
                    let _ = tx.send(Action::Snapshot(state.roles));
                }
                Ok(_) => {}
                Err(e) => return e.to_string(),
            },
            e = effects.recv() => {
                let Some(first) = e else { return "console closing".into() };
                // Coalesce a burst (many events ask for a status refresh).
                let mut batch = vec![first];
                while let Ok(more) = effects.try_recv() {
                    if !batch.contains(&more) {
                        batch.push(more);
                    }
                }
                for e in batch {
                    if let Err(why) = run_online(c, e, tx).await {
                        return why;
                    }
                }
            }
        }
    }
}

async fn run_online(
    c: &mut IpcClient,
    e: Effect,
    tx: &mpsc::UnboundedSender<Action>,
) -> Result<(), String> {
    let action = match e {
        Effect::SendApply(r) | Effect::SendRollback(r) | Effect::SendRestart(r) => {
            let req = match e {
                Effect::SendApply(_) => Request::apply(r, None),
                Effect::SendRollback(_) => Request::rollback(r),
                _ => Request::restart(r),
            };
            let kind: RequestKind = req.kind();
            let ans = c.call(&req).await.map_err(|e| e.to_string())?;
            if let Response::Error { message, .. } = ans {
                Action::CommandDone {
                    ok: false,
                    text: format!("{r}: {kind} refused: {message}"),
                }
            } else {
                Action::CommandDone {
                    ok: true,
                    text: format!("{r}: {kind} running…"),
                }
            }
        }
        Effect::LoadDiff { role, pair } => {
            Action::DiffLoaded(source::load_diff_online(c, role, pair).await)
        }
        Effect::LoadJournal => Action::JournalLoaded(source::journal_online(c).await?),
        Effect::LoadLogs(role) => Action::LogsLoaded {
            role,
            lines: source::logs_online(c, role).await?,
        },
        Effect::StartDeploy { .. } => return Ok(()),
        Effect::LoadDesired(role) => Action::DesiredLoaded {
            role,
            result: match c
                .call(&Request::desired(role))
                .await
                .map_err(|e| e.to_string())?
            {
                Response::DesiredOk { view } => Ok(view),
                other => Err(refusal(&other)),
            },
        },
        Effect::SendEdit {
            role,
            edits,
            dry_run,
        } => {
            let req = Request::edit(role, edits.clone(), dry_run);
            let result = match c.call(&req).await.map_err(|e| e.to_string())? {
                Response::EditOk {
                    summary,
                    changed,
                    written,
                    request_id,
                    toml_diff,
                    compiled_diff,
                    compiled_diff_unavailable,
                } => Ok(crate::edit::EditAnswer {
                    summary,
                    changed,
                    written,
                    request_id,
                    toml_diff,
                    compiled_diff,
                    compiled_diff_unavailable,
                }),
                other => Err(refusal(&other)),
            };
            Action::EditAnswered {
                role,
                edits,
                dry_run,
                result,
            }
        }
        Effect::LoadUserLink(label) => {
            let ans = c
                .call(&Request::user_link(&label))
                .await
                .map_err(|e| e.to_string())?;
            Action::UserLinkLoaded {
                label,
                result: match ans {
                    Response::UserLinkOk { link, .. } => Ok(link),
                    other => Err(refusal(&other)),
                },
            }
        }
        Effect::RefreshStatus => {
            match c
                .call(&Request::status())
                .await
                .map_err(|e| e.to_string())?
            {
                Response::StatusOk { state } => Action::Snapshot(state.roles),
                // A refusal: the view stays as it is.
                _ => return Ok(()),
            }
        }
    };
    let _ = tx.send(action);
    Ok(())
}

/// A refusal as one line (`permission denied: …` for a read-only member).
fn refusal(answer: &Response) -> String {
    match answer {
        Response::Error {
            code: xp2p_ipc::WireError::PermissionDenied,
            message,
        } => format!("permission denied: {message}"),
        Response::Error { message, .. } => message.clone(),
        other => format!("unexpected `{}` answer", other.kind().as_str()),
    }
}

const EDITS_NEED_THE_SERVICE: &str =
    "the service is not running: edits and links go through it (start it: xp2p service run)";

/// Effects without a service: read-only, from the files.
async fn offline(layout: &Layout, e: Effect, tx: &mpsc::UnboundedSender<Action>) {
    let l = layout.clone();
    let action = tokio::task::spawn_blocking(move || match e {
        Effect::SendApply(r) | Effect::SendRollback(r) | Effect::SendRestart(r) => {
            Action::CommandDone {
                ok: false,
                text: format!("{r}: the service is not running (start it: xp2p service run)"),
            }
        }
        Effect::LoadDiff { role, pair } => {
            Action::DiffLoaded(source::load_diff_offline(&l, role, pair))
        }
        Effect::LoadJournal => Action::JournalLoaded(source::journal_offline(&l)),
        Effect::LoadLogs(role) => Action::LogsLoaded {
            role,
            lines: source::logs_offline(&l, role),
        },
        Effect::RefreshStatus => Action::Snapshot(source::snapshot_offline(&l)),
        Effect::StartDeploy { .. } => Action::CommandDone {
            ok: true,
            text: String::new(),
        },
        Effect::LoadDesired(role) => Action::DesiredLoaded {
            role,
            result: source::desired_offline(&l, role),
        },
        Effect::SendEdit {
            role,
            edits,
            dry_run,
        } => Action::EditAnswered {
            role,
            edits,
            dry_run,
            result: Err(EDITS_NEED_THE_SERVICE.into()),
        },
        Effect::LoadUserLink(label) => Action::UserLinkLoaded {
            label,
            result: Err(EDITS_NEED_THE_SERVICE.into()),
        },
    })
    .await;
    if let Ok(a) = action {
        let _ = tx.send(a);
    }
}
