//! The local IPC server: a Unix socket (mode 0600 in a 0700 `.state`, or group
//! read access with `[service] socket_group`), JSON Lines frames, peer credentials
//! checked on every request, and subscriptions with bounded per-client queues: a
//! slow client gets `resync` and a fresh snapshot, never slows the service.
//! Memory stays bounded per client and in total: at most [`MAX_CONNECTIONS`]
//! connections, a frame must arrive whole within [`FRAME_TIMEOUT`], answers are
//! capped (`logs` at [`MAX_LOG_BYTES`]) and queued under a byte budget.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{Semaphore, broadcast, mpsc};
use xp2p_core::{Layout, Role};
use xp2p_ipc::frame::{ReadOutcome, read_frame};
use xp2p_ipc::{Frame, MAX_FRAME, PROTO};
use xp2p_store::journal;
use xp2p_store::live::{self, Slot};
use xp2p_store::markers;
use xp2p_store::status;

use crate::apply::RunnerCmd;
use crate::events::EventBus;
use outbox::{Outbox, TrySend};

pub(crate) mod outbox;
#[cfg(test)]
mod tests;
#[cfg(any(windows, test))]
pub mod windows_pipe;

/// Connections served at once; one more is told `busy` and closed.
pub(crate) const MAX_CONNECTIONS: usize = 64;
/// A frame's bytes must all arrive within this of its first byte: a half-sent
/// frame cannot hold its buffer (up to 1 MiB) for ever.
#[cfg(not(test))]
const FRAME_TIMEOUT: Duration = Duration::from_secs(10);
#[cfg(test)]
const FRAME_TIMEOUT: Duration = Duration::from_secs(1);
/// The most a `logs` answer carries, whatever `bytes` asks for.
pub(crate) const MAX_LOG_BYTES: usize = 256 * 1024;
/// The most records a `journal` answer carries, whatever `limit` asks for.
const MAX_JOURNAL_RECORDS: usize = 2000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    Full,
    ReadOnly,
    None,
}

pub struct IpcContext {
    pub layout: Layout,
    pub instance_id: String,
    pub events: EventBus,
    pub runners: HashMap<Role, mpsc::UnboundedSender<RunnerCmd>>,
    /// Each role's TUN owner (OS network state).
    #[cfg(target_os = "linux")]
    pub tun: HashMap<Role, mpsc::UnboundedSender<crate::tun::TunCmd>>,
    pub owner_uid: u32,
    pub group_gid: Option<u32>,
    pub started: Instant,
}

/// Binds the socket: only a stale *socket* (left by a crash) is replaced, and
/// only after a connect to it fails; any other file there is refused by name.
/// With a group the socket becomes 0660 for it, and so does access to its
/// folder only when that folder is xp2p's own `state_dir` (never a shared one).
pub async fn bind(
    path: &Path,
    group_gid: Option<u32>,
    state_dir: &Path,
) -> std::io::Result<UnixListener> {
    use std::os::unix::fs::FileTypeExt;
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => {
            if UnixStream::connect(path).await.is_ok() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::AddrInUse,
                    format!("{} is served by another process", path.display()),
                ));
            }
            std::fs::remove_file(path)?;
        }
        Ok(meta) => {
            let what = if meta.is_dir() {
                "a directory"
            } else if meta.file_type().is_symlink() {
                "a symlink"
            } else if meta.is_file() {
                "a regular file"
            } else {
                "not a socket"
            };
            return Err(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                format!(
                    "{} exists and is {what}, not a stale socket; refusing to replace it",
                    path.display()
                ),
            ));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let listener = UnixListener::bind(path)?;
    use std::os::unix::fs::PermissionsExt;
    let mode = if group_gid.is_some() { 0o660 } else { 0o600 };
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    if let Some(gid) = group_gid {
        rustix::fs::chown(path, None, Some(rustix::fs::Gid::from_raw(gid)))
            .map_err(std::io::Error::from)?;
        if let Some(dir) = path.parent().filter(|d| same_dir(d, state_dir)) {
            rustix::fs::chown(dir, None, Some(rustix::fs::Gid::from_raw(gid)))
                .map_err(std::io::Error::from)?;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o750))?;
        }
    }
    Ok(listener)
}

/// Whether two paths name the same directory (inode), not just equal text.
fn same_dir(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
}

/// Resolves `[service] socket_group` to a gid.
pub fn group_gid(name: &str) -> Option<u32> {
    if name.is_empty() {
        return None;
    }
    if let Ok(gid) = name.parse() {
        return Some(gid);
    }
    let text = std::fs::read_to_string("/etc/group").ok()?;
    text.lines().find_map(|l| {
        let mut f = l.split(':');
        (f.next() == Some(name))
            .then(|| f.nth(1).and_then(|g| g.parse().ok()))
            .flatten()
    })
}

fn supplementary_groups(pid: Option<i32>) -> Vec<u32> {
    let Some(pid) = pid else { return Vec::new() };
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| l.strip_prefix("Groups:")).map(|g| {
                g.split_whitespace()
                    .filter_map(|x| x.parse().ok())
                    .collect()
            })
        })
        .unwrap_or_default()
}

fn access_for(ctx: &IpcContext, stream: &UnixStream) -> Access {
    let Ok(cred) = stream.peer_cred() else {
        return Access::None;
    };
    if cred.uid() == 0 || cred.uid() == ctx.owner_uid {
        return Access::Full;
    }
    if let Some(g) = ctx.group_gid
        && (cred.gid() == g || supplementary_groups(cred.pid()).contains(&g))
    {
        return Access::ReadOnly;
    }
    Access::None
}

pub async fn serve(listener: UnixListener, ctx: Arc<IpcContext>) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        match listener.accept().await {
            Ok((stream, _)) => match slots.clone().try_acquire_owned() {
                Ok(slot) => {
                    let ctx = ctx.clone();
                    tokio::spawn(async move {
                        connection(stream, ctx).await;
                        drop(slot);
                    });
                }
                Err(_) => {
                    tokio::spawn(refuse_busy(stream));
                }
            },
            Err(e) => {
                tracing::warn!("IPC accept: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
}

/// Tells a connection over [`MAX_CONNECTIONS`] why it is closed (bounded: a
/// client that does not read cannot keep this task).
async fn refuse_busy(mut stream: UnixStream) {
    tracing::warn!("IPC: refusing a connection: {MAX_CONNECTIONS} are open");
    let mut line = Frame::error(
        None,
        "busy",
        format!("the service already serves {MAX_CONNECTIONS} IPC connections; try again later"),
    )
    .to_line();
    line.push('\n');
    let _ = tokio::time::timeout(Duration::from_secs(1), stream.write_all(line.as_bytes())).await;
}

async fn connection(stream: UnixStream, ctx: Arc<IpcContext>) {
    let access = access_for(&ctx, &stream);
    let (r, w) = stream.into_split();
    conversation(r, w, access, &UNIX_DENIALS, ctx).await;
}

/// What a refused client is told, per transport (who may use it differs).
pub(crate) struct Denials {
    /// No access at all.
    pub none: &'static str,
    /// Read-only access, for a mutating request (`{}` is the request type).
    pub read_only: &'static str,
}

const UNIX_DENIALS: Denials = Denials {
    none: "this user may not use the xp2p service (owner, root or socket_group only)",
    read_only: "needs the service owner or root; socket_group members are read-only",
};

/// One client's JSON Lines conversation over any transport (the Unix socket,
/// or the Windows pipe): requests answered in order, `subscribe` forwarding
/// events through a bounded queue, every request checked against `access`.
pub(crate) async fn conversation<R, W>(
    r: R,
    w: W,
    access: Access,
    denials: &'static Denials,
    ctx: Arc<IpcContext>,
) where
    R: tokio::io::AsyncRead + Unpin + Send + 'static,
    W: tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (out, out_rx) = Outbox::new();
    let writer = tokio::spawn(outbox::drain(out_rx, w));
    let mut reader = BufReader::new(r);
    let mut buf = Vec::new();
    let mut subscription: Option<tokio::task::JoinHandle<()>> = None;
    loop {
        // Idle between frames is fine; once a frame starts, it must end in time.
        match reader.fill_buf().await {
            Ok([]) | Err(_) => break,
            Ok(_) => {}
        }
        let read = tokio::time::timeout(FRAME_TIMEOUT, read_frame(&mut reader, &mut buf)).await;
        let frame = match read {
            Err(_) => {
                let _ = out
                    .send(Frame::error(
                        None,
                        "frame_timeout",
                        format!(
                            "a frame must arrive whole within {} s of its first byte",
                            FRAME_TIMEOUT.as_secs()
                        ),
                    ))
                    .await;
                break;
            }
            Ok(Ok(ReadOutcome::Frame(f))) => f,
            Ok(Ok(ReadOutcome::Malformed(e))) => {
                if out
                    .send(Frame::error(None, "malformed_frame", e))
                    .await
                    .is_err()
                    || access == Access::None
                {
                    break;
                }
                continue;
            }
            Ok(Ok(ReadOutcome::TooLong)) => {
                let _ = out
                    .send(Frame::error(
                        None,
                        "frame_too_long",
                        format!("frames are limited to {MAX_FRAME} bytes"),
                    ))
                    .await;
                break;
            }
            Ok(Ok(ReadOutcome::Eof)) | Ok(Err(_)) => break,
        };
        let id = frame.id;
        let answer = if access == Access::None {
            // Told once, then closed: a refused user cannot hold a connection slot.
            let _ = out
                .send(Frame::error(id, "permission_denied", denials.none))
                .await;
            break;
        } else if access == Access::ReadOnly && is_mutating(&frame.kind) {
            Frame::error(
                id,
                "permission_denied",
                format!("`{}` {}", frame.kind, denials.read_only),
            )
        } else if frame.kind == "subscribe" {
            if let Some(old) = subscription.take() {
                old.abort();
            }
            let rx = ctx.events.subscribe();
            let snap = snapshot_frame(&ctx, id, 0).await;
            if out.send(snap).await.is_err() {
                break;
            }
            let logs = frame
                .body
                .get("logs")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            subscription = Some(tokio::spawn(forward_events(
                ctx.clone(),
                rx,
                out.clone(),
                logs,
            )));
            continue;
        } else {
            let mut answer = handle(&ctx, frame).await;
            if access == Access::ReadOnly {
                redact_for_readers(&mut answer);
            }
            answer
        };
        if out.send(answer).await.is_err() {
            break;
        }
    }
    if let Some(s) = subscription {
        s.abort();
    }
    drop(out);
    let _ = writer.await;
}

/// Read-only members (`socket_group`) may read state but never credentials:
/// a rendered config reaches them with its secrets redacted.
fn redact_for_readers(answer: &mut Frame) {
    if answer.kind == "render.ok"
        && let Some(Value::String(json)) = answer.body.get_mut("json")
    {
        *json = xp2p_core::redact::redact_config_json(json);
    }
}

fn is_mutating(kind: &str) -> bool {
    matches!(
        kind,
        "apply"
            | "rollback"
            | "restart"
            | "stop_core"
            | "mode"
            | "repair"
            | "deploy.start"
            | "deploy.cancel"
            | "deploy.progress"
    )
}

/// `status::snapshot`, but with only the journal records the views use (each
/// role's last attempt): every `status`, `subscribe` and resync builds one, and
/// reading the whole journal each time made the service's memory grow with the
/// journal (found by the soak, BENCHMARKS.md).
fn status_snapshot(layout: &Layout) -> Vec<status::RoleView> {
    let roles = status::roles_present(layout);
    let records = journal::last_attempts(&layout.journal(), &roles).unwrap_or_default();
    roles
        .into_iter()
        .map(|r| status::role_view(layout, r, &records))
        .collect()
}

async fn state(ctx: &IpcContext) -> Value {
    let layout = ctx.layout.clone();
    let roles = tokio::task::spawn_blocking(move || status_snapshot(&layout))
        .await
        .unwrap_or_default();
    // Foreign text (a request id someone wrote into `apply.request`, a huge
    // error) must not blow the frame limit or a terminal.
    let mut roles = serde_json::to_value(roles).unwrap_or(Value::Null);
    outbox::truncate_strings(&mut roles, outbox::LONG_STRING);
    json!({
        "roles": roles,
        "service": {
            "running": true,
            "pid": std::process::id(),
            "instance_id": ctx.instance_id,
            "uptime_s": ctx.started.elapsed().as_secs(),
            "version": xp2p_core::VERSION,
        }
    })
}

async fn snapshot_frame(ctx: &IpcContext, id: Option<u64>, seq: u64) -> Frame {
    Frame::new("snapshot", id)
        .with("seq", seq)
        .with("state", state(ctx).await)
}

/// Forwards bus events with per-connection `seq` (log lines too when asked).
/// On overflow (the client's queue is full) or lag (the bus dropped state
/// events for it): once the client reads again, one `resync` and then a fresh
/// snapshot — without waiting for a later event to notice. Lost log lines are
/// not state: they need no resync.
async fn forward_events(
    ctx: Arc<IpcContext>,
    mut rx: broadcast::Receiver<crate::events::Event>,
    out: Outbox,
    logs: bool,
) {
    use broadcast::error::RecvError;
    let mut log_rx = logs.then(|| ctx.events.subscribe_logs());
    let mut seq: u64 = 0;
    loop {
        let received = match log_rx.as_mut() {
            Some(l) => tokio::select! {
                biased;
                r = rx.recv() => r,
                r = l.recv() => match r {
                    Err(RecvError::Lagged(_)) => continue,
                    other => other,
                },
            },
            None => rx.recv().await,
        };
        let event = match received {
            Ok(e) => e,
            Err(RecvError::Lagged(_)) => {
                if resync(&ctx, &mut rx, &mut log_rx, &out, &mut seq)
                    .await
                    .is_err()
                {
                    break;
                }
                continue;
            }
            Err(RecvError::Closed) => break,
        };
        seq += 1;
        let f = Frame::new("event", None)
            .with("seq", seq)
            .with("event", serde_json::to_value(&event).unwrap_or(Value::Null));
        match out.try_send(f) {
            Ok(()) => {}
            Err(TrySend::Full) => {
                if resync(&ctx, &mut rx, &mut log_rx, &out, &mut seq)
                    .await
                    .is_err()
                {
                    break;
                }
            }
            Err(TrySend::Closed) => break,
        }
    }
}

/// Waits until the client has made room (it reads again), sends `resync`, drops
/// the events it missed, and sends a fresh snapshot (the truth from then on).
async fn resync(
    ctx: &IpcContext,
    rx: &mut broadcast::Receiver<crate::events::Event>,
    log_rx: &mut Option<broadcast::Receiver<crate::events::Event>>,
    out: &Outbox,
    seq: &mut u64,
) -> Result<(), TrySend> {
    *seq += 1;
    out.send(Frame::new("resync", None).with("seq", *seq))
        .await?;
    *rx = rx.resubscribe();
    if let Some(l) = log_rx {
        *l = l.resubscribe();
    }
    *seq += 1;
    let snap = snapshot_frame(ctx, None, *seq).await;
    out.send(snap).await
}

fn role_arg(f: &Frame) -> Result<Role, Frame> {
    f.get_str("role")
        .ok_or_else(|| Frame::error(f.id, "invalid_request", "`role` is required"))?
        .parse()
        .map_err(|e: String| Frame::error(f.id, "invalid_request", e))
}

/// The apply runner of `role`, or the error for a role this service does not serve.
fn runner_for(
    ctx: &IpcContext,
    id: Option<u64>,
    role: Role,
) -> Result<&mpsc::UnboundedSender<RunnerCmd>, Frame> {
    ctx.runners.get(&role).ok_or_else(|| {
        Frame::error(
            id,
            "invalid_request",
            format!("the service does not serve the {role} role"),
        )
    })
}

async fn handle(ctx: &IpcContext, f: Frame) -> Frame {
    let id = f.id;
    match f.kind.as_str() {
        "hello" => {
            let roles: Vec<&str> = ctx.runners.keys().map(|r| r.as_str()).collect();
            Frame::new("hello.ok", id)
                .with("service", format!("xp2p {}", xp2p_core::VERSION))
                .with("proto", PROTO)
                .with("roles", json!(roles))
                .with("instance_id", ctx.instance_id.clone())
        }
        "status" => Frame::new("status.ok", id).with("state", state(ctx).await),
        "apply" => {
            let roles: Vec<Role> = match f.get_str("role") {
                None | Some("all") => ctx.runners.keys().copied().collect(),
                Some(_) => match role_arg(&f) {
                    Ok(r) => vec![r],
                    Err(e) => return e,
                },
            };
            let mut ids = serde_json::Map::new();
            for role in roles {
                let runner = match runner_for(ctx, id, role) {
                    Ok(r) => r,
                    Err(e) => return e,
                };
                let rid = match f.get_str("request_id") {
                    Some(r) => r.to_string(),
                    None => {
                        let l = ctx.layout.clone();
                        match tokio::task::spawn_blocking(move || markers::write_request(&l, role))
                            .await
                        {
                            Ok(Ok(r)) => r,
                            Ok(Err(e)) => return Frame::error(id, "internal", e.to_string()),
                            Err(e) => return Frame::error(id, "internal", e.to_string()),
                        }
                    }
                };
                let _ = runner.send(RunnerCmd::Announce(rid.clone()));
                ids.insert(role.to_string(), rid.into());
            }
            Frame::new("apply.ok", id).with("request_ids", Value::Object(ids))
        }
        "rollback" | "restart" => {
            let role = match role_arg(&f) {
                Ok(r) => r,
                Err(e) => return e,
            };
            let runner = match runner_for(ctx, id, role) {
                Ok(r) => r,
                Err(e) => return e,
            };
            let rid = format!("{}-{}", f.kind, uuid::Uuid::new_v4());
            let cmd = if f.kind == "rollback" {
                RunnerCmd::Rollback(rid.clone())
            } else {
                RunnerCmd::Restart(rid.clone())
            };
            let _ = runner.send(cmd);
            Frame::new(&format!("{}.ok", f.kind), id).with("request_id", rid)
        }
        #[cfg(target_os = "linux")]
        "repair" => {
            let mut views = serde_json::Map::new();
            for (role, tx) in &ctx.tun {
                let (reply, answer) = tokio::sync::oneshot::channel();
                let cmd = crate::tun::TunCmd::Reconcile {
                    reason: "repair".into(),
                    reply: Some(reply),
                };
                if tx.send(cmd).is_err() {
                    return Frame::error(
                        id,
                        "internal",
                        format!("the {role} TUN owner has stopped"),
                    );
                }
                match tokio::time::timeout(std::time::Duration::from_secs(60), answer).await {
                    Ok(Ok(view)) => {
                        views.insert(
                            role.to_string(),
                            serde_json::to_value(view).unwrap_or(Value::Null),
                        );
                    }
                    _ => {
                        return Frame::error(
                            id,
                            "timeout",
                            format!("the {role} TUN reconcile did not answer within 60 s"),
                        );
                    }
                }
            }
            Frame::new("repair.ok", id).with("tun", Value::Object(views))
        }
        "mode" => {
            let role = match role_arg(&f) {
                Ok(r) => r,
                Err(e) => return e,
            };
            let runner = match runner_for(ctx, id, role) {
                Ok(r) => r,
                Err(e) => return e,
            };
            // `mode` names it (`proxy`, `split`, `full`, `tun`), or ipc.md's
            // `tun_enabled` + `tun_mode` do.
            let mode = match (
                f.get_str("mode"),
                f.body.get("tun_enabled").and_then(Value::as_bool),
            ) {
                (Some(m), _) => m.to_string(),
                (None, Some(false)) => "proxy".into(),
                (None, Some(true)) if role == Role::Server => "tun".into(),
                (None, Some(true)) => f.get_str("tun_mode").unwrap_or("split").to_string(),
                (None, None) => String::new(),
            };
            let tag = f.get_str("tag").map(str::to_string);
            let change = match xp2p_core::desired::mode::ModeChange::parse(role, &mode, tag) {
                Ok(c) => c,
                Err(e) => return Frame::error(id, "invalid_request", e),
            };
            let l = ctx.layout.clone();
            let res = tokio::task::spawn_blocking(move || {
                xp2p_store::desired_edit::set_mode(&l, role, &change)?;
                markers::write_request(&l, role).map_err(|e| e.to_string())
            })
            .await;
            match res {
                Ok(Ok(rid)) => {
                    let _ = runner.send(RunnerCmd::Announce(rid.clone()));
                    Frame::new("mode.ok", id).with("request_id", rid)
                }
                Ok(Err(e)) => Frame::error(id, "invalid_desired", e),
                Err(e) => Frame::error(id, "internal", e.to_string()),
            }
        }
        "journal" => {
            let role = f.get_str("role").and_then(|r| r.parse::<Role>().ok());
            let limit = f
                .body
                .get("limit")
                .and_then(Value::as_u64)
                .unwrap_or(50)
                .min(MAX_JOURNAL_RECORDS as u64) as usize;
            let path = ctx.layout.journal();
            // Only the records asked for are held, not the whole journal.
            let mine = tokio::task::spawn_blocking(move || {
                journal::read_last(&path, limit, |r| role.is_none_or(|x| r.role == x))
                    .unwrap_or_default()
            })
            .await
            .unwrap_or_default();
            Frame::new("journal.ok", id).with("records", newest_that_fit(mine, MAX_FRAME - 1024))
        }
        "logs" => {
            let role = match role_arg(&f) {
                Ok(r) => r,
                Err(e) => return e,
            };
            let bytes = f
                .body
                .get("bytes")
                .and_then(Value::as_u64)
                .unwrap_or(64 * 1024)
                .min(MAX_LOG_BYTES as u64) as usize;
            let path = ctx.layout.core_log(role);
            let text = tokio::task::spawn_blocking(move || tail_file(&path, bytes))
                .await
                .unwrap_or_default();
            Frame::new("logs.ok", id).with("text", fit_tail(text, MAX_FRAME - 1024))
        }
        "render" => {
            let role = match role_arg(&f) {
                Ok(r) => r,
                Err(e) => return e,
            };
            let which = f.get_str("which").unwrap_or("desired").to_string();
            let l = ctx.layout.clone();
            let side = which.clone();
            let limit = MAX_FRAME - 1024;
            // A stored config over the limit is refused before it is read whole.
            let rendered =
                tokio::task::spawn_blocking(move || match stored_size(&l, role, &which) {
                    Some(size) if size > limit as u64 => Ok(Err(size)),
                    _ => render(&l, role, &which).map(|text| match json_len(&text) {
                        n if n > limit => Err(text.len() as u64),
                        _ => Ok(text),
                    }),
                });
            match rendered.await {
                Ok(Ok(Err(size))) => Frame::error(
                    id,
                    "too_large",
                    format!(
                        "the {side} config of the {role} role is {} KiB, over the {} KiB IPC frame limit; \
                         read it on the host with `xp2p render`",
                        size / 1024,
                        MAX_FRAME / 1024
                    ),
                ),
                Ok(Ok(Ok(text))) => Frame::new("render.ok", id).with("json", text),
                Ok(Err(e)) => Frame::error(id, "render_failed", e),
                Err(e) => Frame::error(id, "internal", e.to_string()),
            }
        }
        "deploy.progress" => {
            // A deploy running beside the service reports its steps (deploy.md).
            let field = |k: &str| {
                f.get_str(k)
                    .unwrap_or("")
                    .chars()
                    .take(512)
                    .collect::<String>()
            };
            ctx.events.send(crate::events::Event::DeployProgress {
                deploy_id: field("deploy_id"),
                role: field("role"),
                step: field("step"),
                state: field("state"),
                detail: field("detail"),
            });
            Frame::new("deploy.progress.ok", id)
        }
        other => Frame::error(
            id,
            "unknown_type",
            format!("unknown request type `{other}`"),
        ),
    }
}

/// The xray.json of a side: Desired compiled now by the service, Live or LKG.
pub fn render(layout: &Layout, role: Role, which: &str) -> Result<String, String> {
    let slot = match which {
        "desired" => {
            return xp2p_store::pipeline::compile_role(layout, role, &Default::default())
                .map(|(_, _, c)| String::from_utf8_lossy(&c.xray_json).into_owned())
                .map_err(|p| p.to_string());
        }
        "live" => Slot::Live,
        "lkg" => Slot::Lkg,
        other => return Err(format!("unknown side `{other}` (desired, live, lkg)")),
    };
    match live::read_xray(layout, role, slot) {
        Ok(Some(b)) => Ok(String::from_utf8_lossy(&b).into_owned()),
        Ok(None) => Err(format!("no {which} config for the {role} role")),
        Err(e) => Err(e.to_string()),
    }
}

/// The newest records whose JSON fits in `limit` bytes (oldest dropped first).
fn newest_that_fit<T: serde::Serialize>(mut records: Vec<T>, limit: usize) -> Value {
    loop {
        let v = serde_json::to_value(&records).unwrap_or(Value::Null);
        if records.is_empty() || v.to_string().len() <= limit {
            return v;
        }
        let drop = records.len().div_ceil(4);
        records.drain(..drop);
    }
}

/// The size of a stored side's xray.json (`None` for Desired, or no file).
fn stored_size(layout: &Layout, role: Role, which: &str) -> Option<u64> {
    let slot = match which {
        "live" => Slot::Live,
        "lkg" => Slot::Lkg,
        _ => return None,
    };
    std::fs::metadata(slot.dir(layout, role).join(live::XRAY_JSON))
        .ok()
        .map(|m| m.len())
}

/// The length of `s` as a JSON string (escapes included).
fn json_len(s: &str) -> usize {
    serde_json::to_string(s).map_or(usize::MAX, |j| j.len())
}

/// The end of `text` whose JSON encoding fits in `limit` bytes (control
/// characters escape to six bytes each): whole lines, or the end of the last
/// line when even that one is too long.
fn fit_tail(text: String, limit: usize) -> String {
    if json_len(&text) <= limit {
        return text;
    }
    // Each piece's cost inside the JSON string (without the two quotes).
    let cost = |piece: &str| json_len(piece).saturating_sub(2);
    let mut budget = limit.saturating_sub(2);
    let mut start = text.len();
    for line in text.split_inclusive('\n').rev() {
        let c = cost(line);
        if c > budget {
            break;
        }
        budget -= c;
        start -= line.len();
    }
    if start == text.len() {
        for (i, ch) in text.char_indices().rev() {
            let c = cost(ch.encode_utf8(&mut [0; 4]));
            if c > budget {
                break;
            }
            budget -= c;
            start = i;
        }
    }
    text[start..].to_string()
}

pub fn tail_file(path: &PathBuf, bytes: usize) -> String {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut f) = std::fs::File::open(path) else {
        return String::new();
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let start = len.saturating_sub(bytes as u64);
    if f.seek(SeekFrom::Start(start)).is_err() {
        return String::new();
    }
    let mut buf = Vec::new();
    // The file may grow while it is read: never more than asked.
    let _ = f.take(bytes as u64).read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf).into_owned();
    if start > 0 {
        // drop the partial first line
        text.split_once('\n')
            .map(|(_, rest)| rest.to_string())
            .unwrap_or_default()
    } else {
        text
    }
}
