//! The local IPC server: a Unix socket (mode 0600 in a 0700 `.state`, or group
//! read access with `[service] socket_group`), JSON Lines frames, peer credentials
//! checked on every request, and subscriptions with bounded per-client queues: a
//! slow client gets `resync` and a fresh snapshot, never slows the service.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use serde_json::{Value, json};
use tokio::io::BufReader;
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{broadcast, mpsc};
use xp2p_core::ipc::frame::{ReadOutcome, read_frame, write_frame};
use xp2p_core::ipc::{Frame, MAX_FRAME, PROTO};
use xp2p_core::store::journal;
use xp2p_core::store::live::{self, Slot};
use xp2p_core::store::markers;
use xp2p_core::{Layout, Role, status};

use crate::apply::RunnerCmd;
use crate::events::EventBus;

#[cfg(any(windows, test))]
pub mod windows_pipe;

/// Frames queued per client before it is declared slow.
const CLIENT_QUEUE: usize = 256;

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

/// Binds the socket: a stale file (left by a crash) is replaced only after a
/// connect to it fails.
pub async fn bind(path: &Path, group_gid: Option<u32>) -> std::io::Result<UnixListener> {
    if path.exists() {
        if UnixStream::connect(path).await.is_ok() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AddrInUse,
                format!("{} is served by another process", path.display()),
            ));
        }
        std::fs::remove_file(path)?;
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
        if let Some(dir) = path.parent() {
            rustix::fs::chown(dir, None, Some(rustix::fs::Gid::from_raw(gid)))
                .map_err(std::io::Error::from)?;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o750))?;
        }
    }
    Ok(listener)
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
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let ctx = ctx.clone();
                tokio::spawn(async move { connection(stream, ctx).await });
            }
            Err(e) => {
                tracing::warn!("IPC accept: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
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
    mut w: W,
    access: Access,
    denials: &'static Denials,
    ctx: Arc<IpcContext>,
) where
    R: tokio::io::AsyncRead + Unpin + Send + 'static,
    W: tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (out_tx, mut out_rx) = mpsc::channel::<Frame>(CLIENT_QUEUE);
    let writer = tokio::spawn(async move {
        while let Some(f) = out_rx.recv().await {
            if write_frame(&mut w, &f).await.is_err() {
                break;
            }
        }
    });
    let mut reader = BufReader::new(r);
    let mut buf = Vec::new();
    let mut subscription: Option<tokio::task::JoinHandle<()>> = None;
    loop {
        let frame = match read_frame(&mut reader, &mut buf).await {
            Ok(ReadOutcome::Frame(f)) => f,
            Ok(ReadOutcome::Malformed(e)) => {
                let _ = out_tx.send(Frame::error(None, "malformed_frame", e)).await;
                continue;
            }
            Ok(ReadOutcome::TooLong) => {
                let _ = out_tx
                    .send(Frame::error(
                        None,
                        "frame_too_long",
                        format!("frames are limited to {MAX_FRAME} bytes"),
                    ))
                    .await;
                break;
            }
            Ok(ReadOutcome::Eof) | Err(_) => break,
        };
        let id = frame.id;
        let answer = if access == Access::None {
            Frame::error(id, "permission_denied", denials.none)
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
            if out_tx.send(snap).await.is_err() {
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
                out_tx.clone(),
                logs,
            )));
            continue;
        } else {
            handle(&ctx, frame).await
        };
        if out_tx.send(answer).await.is_err() {
            break;
        }
    }
    if let Some(s) = subscription {
        s.abort();
    }
    drop(out_tx);
    let _ = writer.await;
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

/// Forwards bus events with per-connection `seq`; on overflow or lag, one
/// `resync` then a fresh snapshot once the client's queue has room again.
async fn forward_events(
    ctx: Arc<IpcContext>,
    mut rx: broadcast::Receiver<crate::events::Event>,
    out: mpsc::Sender<Frame>,
    logs: bool,
) {
    let mut seq: u64 = 0;
    let mut resync = false;
    loop {
        let event = match rx.recv().await {
            Ok(e) => Some(e),
            Err(broadcast::error::RecvError::Lagged(_)) => {
                resync = true;
                None
            }
            Err(broadcast::error::RecvError::Closed) => break,
        };
        if resync {
            if out.capacity() < 2 {
                continue;
            }
            seq += 1;
            if out
                .try_send(Frame::new("resync", None).with("seq", seq))
                .is_err()
            {
                continue;
            }
            seq += 1;
            let snap = snapshot_frame(&ctx, None, seq).await;
            if out.try_send(snap).is_err() {
                continue;
            }
            resync = false;
            continue;
        }
        let Some(event) = event else { continue };
        if event.is_log() && !logs {
            continue;
        }
        seq += 1;
        let f = Frame::new("event", None)
            .with("seq", seq)
            .with("event", serde_json::to_value(&event).unwrap_or(Value::Null));
        match out.try_send(f) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => resync = true,
            Err(mpsc::error::TrySendError::Closed(_)) => break,
        }
    }
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
                xp2p_core::desired::mode::set_mode(&l, role, &change)?;
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
            let limit = f.body.get("limit").and_then(Value::as_u64).unwrap_or(50) as usize;
            let path = ctx.layout.journal();
            // Only the records asked for are held, not the whole journal.
            let mine = tokio::task::spawn_blocking(move || {
                journal::read_last(&path, limit, |r| role.is_none_or(|x| r.role == x))
                    .unwrap_or_default()
            })
            .await
            .unwrap_or_default();
            Frame::new("journal.ok", id).with(
                "records",
                serde_json::to_value(&mine).unwrap_or(Value::Null),
            )
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
                .unwrap_or(64 * 1024) as usize;
            let path = ctx.layout.core_log(role);
            let text = tokio::task::spawn_blocking(move || tail_file(&path, bytes))
                .await
                .unwrap_or_default();
            Frame::new("logs.ok", id).with("text", text)
        }
        "render" => {
            let role = match role_arg(&f) {
                Ok(r) => r,
                Err(e) => return e,
            };
            let which = f.get_str("which").unwrap_or("desired").to_string();
            let l = ctx.layout.clone();
            match tokio::task::spawn_blocking(move || render(&l, role, &which)).await {
                Ok(Ok(text)) => Frame::new("render.ok", id).with("json", text),
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
            return xp2p_core::pipeline::compile_role(layout, role, &Default::default())
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
    let _ = f.read_to_end(&mut buf);
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
