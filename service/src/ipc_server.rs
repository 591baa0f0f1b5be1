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

use std::collections::BTreeMap;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{Semaphore, broadcast, mpsc};
use xp2p_core::{Layout, Role};
use xp2p_ipc::frame::{ReadOutcome, read_frame};
use xp2p_ipc::{
    ApplyTarget, Field, Frame, MAX_FRAME, PROTO, Request, RequestKind, Response, ServiceInfo,
    State, WireError, role_arg,
};
use xp2p_store::journal;
use xp2p_store::markers;
use xp2p_store::sides::{self, Side, SideError};
use xp2p_store::status;

use crate::apply::RunnerCmd;
use crate::events::EventBus;
use outbox::{Outbox, TrySend};

mod edit;
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
    let mut line = Response::error(
        WireError::Busy,
        format!("the service already serves {MAX_CONNECTIONS} IPC connections; try again later"),
    )
    .to_frame(None)
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
    /// Read-only access, for a request that needs full access (a change or a
    /// secret).
    pub read_only: &'static str,
}

const UNIX_DENIALS: Denials = Denials {
    none: "this user may not use the xp2p service (owner, root or socket_group only)",
    read_only: "needs the service owner or root; socket_group members are read-only",
};

/// One client's JSON Lines conversation over any transport (the Unix socket,
/// or the Windows pipe): requests answered in order, `subscribe` forwarding
/// events through a bounded queue, every request checked against `access`
/// (by [`RequestKind::access`], before its fields are read), a `hello` of
/// another protocol version refused and closed.
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
                let e = Response::error(
                    WireError::FrameTimeout,
                    format!(
                        "a frame must arrive whole within {} s of its first byte",
                        FRAME_TIMEOUT.as_secs()
                    ),
                );
                let _ = out.send(e.to_frame(None)).await;
                break;
            }
            Ok(Ok(ReadOutcome::Frame(f))) => f,
            Ok(Ok(ReadOutcome::Malformed(e))) => {
                if out
                    .send(Response::error(WireError::MalformedFrame, e).to_frame(None))
                    .await
                    .is_err()
                    || access == Access::None
                {
                    break;
                }
                continue;
            }
            Ok(Ok(ReadOutcome::TooLong)) => {
                let e = Response::error(
                    WireError::FrameTooLong,
                    format!("frames are limited to {MAX_FRAME} bytes"),
                );
                let _ = out.send(e.to_frame(None)).await;
                break;
            }
            Ok(Ok(ReadOutcome::Eof)) | Ok(Err(_)) => break,
        };
        let id = frame.id;
        if access == Access::None {
            // Told once, then closed: a refused user cannot hold a connection slot.
            let e = Response::error(WireError::PermissionDenied, denials.none);
            let _ = out.send(e.to_frame(id)).await;
            break;
        }
        let request = match admit(&frame, access, denials) {
            Ok(r) => r,
            Err(refusal) => {
                if out
                    .send(Response::from(refusal).to_frame(id))
                    .await
                    .is_err()
                {
                    break;
                }
                continue;
            }
        };
        if let Some(mismatch) = version_mismatch(&request, frame.v) {
            let _ = out.send(mismatch.to_frame(id)).await;
            break;
        }
        if let Request::Subscribe { logs } = &request {
            if let Some(old) = subscription.take() {
                old.abort();
            }
            // On the bus before the snapshot is built: no event falls between.
            let rx = ctx.events.subscribe();
            let logs = logs.get().copied().unwrap_or(false);
            let snap = handle(&ctx, request).await;
            if out.send(snap.to_frame(id)).await.is_err() {
                break;
            }
            subscription = Some(tokio::spawn(forward_events(
                ctx.clone(),
                rx,
                out.clone(),
                logs,
            )));
            continue;
        }
        let mut answer = handle(&ctx, request).await;
        if access == Access::ReadOnly {
            redact_for_readers(&mut answer);
        }
        if out.send(answer.to_frame(id)).await.is_err() {
            break;
        }
    }
    if let Some(s) = subscription {
        s.abort();
    }
    drop(out);
    let _ = writer.await;
}

/// A refusal on its way to becoming an `error` answer (small, unlike a
/// [`Response`] that may carry a whole state).
struct Refusal(WireError, String);

fn refuse(code: WireError, message: impl Into<String>) -> Refusal {
    Refusal(code, message.into())
}

impl From<Refusal> for Response {
    fn from(r: Refusal) -> Response {
        Response::error(r.0, r.1)
    }
}

/// The request a frame carries, if this client may make it: an unknown type
/// is refused for everyone, one that needs full access (a change, a secret)
/// for read-only members (before any field is read), both without effect.
fn admit(frame: &Frame, access: Access, denials: &Denials) -> Result<Request, Refusal> {
    let Some(kind) = RequestKind::parse(&frame.kind) else {
        return Err(refuse(
            WireError::UnknownType,
            format!("unknown request type `{}`", frame.kind),
        ));
    };
    if access != Access::Full && kind.access() == xp2p_ipc::Access::Full {
        return Err(refuse(
            WireError::PermissionDenied,
            format!("`{kind}` {}", denials.read_only),
        ));
    }
    Request::from_frame(frame).map_err(|e| refuse(WireError::InvalidRequest, e.to_string()))
}

/// The refusal of a `hello` that speaks another protocol version (its `proto`,
/// or for a client that sends none, its frame's `v`); the connection closes.
fn version_mismatch(request: &Request, v: u32) -> Option<Response> {
    let Request::Hello { proto, .. } = request else {
        return None;
    };
    let theirs = proto.get().copied().unwrap_or(v);
    (theirs != PROTO).then(|| {
        Response::error(
            WireError::ProtocolMismatch,
            format!(
                "this service speaks IPC protocol {PROTO} (xp2p {}); the client speaks protocol \
                 {theirs}: use one xp2p version for both",
                xp2p_core::VERSION
            ),
        )
    })
}

/// Read-only members (`socket_group`) may read state but never credentials:
/// a rendered config reaches them with its secrets redacted, and the Desired
/// view says they may not edit.
fn redact_for_readers(answer: &mut Response) {
    match answer {
        Response::RenderOk { json } => *json = xp2p_core::redact::redact_config_json(json),
        Response::DesiredOk { view } => view.editable = false,
        _ => {}
    }
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

async fn state(ctx: &IpcContext) -> State {
    let layout = ctx.layout.clone();
    let roles = tokio::task::spawn_blocking(move || status_snapshot(&layout))
        .await
        .unwrap_or_default();
    State {
        roles: truncated(roles),
        service: ServiceInfo {
            running: true,
            pid: Some(std::process::id()),
            instance_id: Some(ctx.instance_id.clone()),
            uptime_s: Some(ctx.started.elapsed().as_secs()),
            version: Some(xp2p_core::VERSION.to_string()),
            ..ServiceInfo::default()
        },
    }
}

/// Foreign text (a request id someone wrote into `apply.request`, a huge
/// error) must not blow the frame limit or a terminal: every long string in
/// the views is cut (a cut string is still a string of its field).
fn truncated(roles: Vec<status::RoleView>) -> Vec<status::RoleView> {
    let Ok(mut v) = serde_json::to_value(&roles) else {
        return roles;
    };
    outbox::truncate_strings(&mut v, outbox::LONG_STRING);
    serde_json::from_value(v).unwrap_or(roles)
}

async fn snapshot(ctx: &IpcContext, seq: u64) -> Response {
    Response::Snapshot {
        seq,
        state: state(ctx).await,
    }
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
        let f = Response::Event {
            seq,
            event: Box::new(event),
        };
        match out.try_send(f.to_frame(None)) {
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
    out.send(Response::Resync { seq: *seq }.to_frame(None))
        .await?;
    *rx = rx.resubscribe();
    if let Some(l) = log_rx {
        *l = l.resubscribe();
    }
    *seq += 1;
    let snap = snapshot(ctx, *seq).await;
    out.send(snap.to_frame(None)).await
}

/// The role a request names, or its `invalid_request` refusal.
fn role_of(f: &Field<Role>) -> Result<Role, Refusal> {
    role_arg(f).map_err(|e| refuse(WireError::InvalidRequest, e))
}

/// The apply runner of `role`, or the error for a role this service does not serve.
fn runner_for(ctx: &IpcContext, role: Role) -> Result<&mpsc::UnboundedSender<RunnerCmd>, Refusal> {
    ctx.runners.get(&role).ok_or_else(|| {
        refuse(
            WireError::InvalidRequest,
            format!("the service does not serve the {role} role"),
        )
    })
}

/// The role a request names and its runner.
fn served<'a>(
    ctx: &'a IpcContext,
    role: &Field<Role>,
) -> Result<(Role, &'a mpsc::UnboundedSender<RunnerCmd>), Refusal> {
    let role = role_of(role)?;
    Ok((role, runner_for(ctx, role)?))
}

/// The answer to one admitted request (one arm per kind, no catch-all).
async fn handle(ctx: &IpcContext, req: Request) -> Response {
    let answer = match req {
        Request::Hello { .. } => Ok(on_hello(ctx)),
        Request::Status {} => Ok(Response::StatusOk {
            state: state(ctx).await,
        }),
        Request::Subscribe { .. } => Ok(snapshot(ctx, 0).await),
        Request::Apply { role, request_id } => on_apply(ctx, &role, &request_id).await,
        Request::Rollback { role } => on_control(ctx, &role, RequestKind::Rollback),
        Request::Restart { role } => on_control(ctx, &role, RequestKind::Restart),
        Request::Repair {} => on_repair(ctx).await,
        Request::Mode {
            role,
            mode,
            tun_enabled,
            tun_mode,
            tag,
        } => on_mode(ctx, &role, &mode, &tun_enabled, &tun_mode, &tag).await,
        Request::Journal { role, limit } => Ok(on_journal(ctx, &role, &limit).await),
        Request::Logs { role, bytes } => on_logs(ctx, &role, &bytes).await,
        Request::Render { role, which } => on_render(ctx, &role, &which).await,
        Request::DeployProgress {
            deploy_id,
            role,
            step,
            state,
            detail,
        } => {
            // A deploy running beside the service reports its steps (deploy.md).
            let field = |f: &Field<String>| f.as_deref().unwrap_or("").chars().take(512).collect();
            ctx.events.send(crate::events::Event::DeployProgress {
                deploy_id: field(&deploy_id),
                role: field(&role),
                step: field(&step),
                state: field(&state),
                detail: field(&detail),
            });
            Ok(Response::DeployProgressOk {})
        }
        Request::Edit {
            role,
            edits,
            dry_run,
        } => edit::on_edit(ctx, role, edits, dry_run).await,
        Request::Desired { role } => edit::on_desired(ctx, role).await,
        Request::UserLink { label } => edit::on_user_link(ctx, label).await,
    };
    answer.unwrap_or_else(Response::from)
}

fn on_hello(ctx: &IpcContext) -> Response {
    let mut roles: Vec<Role> = ctx.runners.keys().copied().collect();
    roles.sort();
    Response::HelloOk {
        instance_id: ctx.instance_id.clone(),
        proto: PROTO,
        roles,
        service: format!("xp2p {}", xp2p_core::VERSION),
    }
}

async fn on_apply(
    ctx: &IpcContext,
    role: &Field<ApplyTarget>,
    request_id: &Field<String>,
) -> Result<Response, Refusal> {
    // No role, `all`, or one that is not even a string: every served role.
    let roles: Vec<Role> = match role {
        Field::Valid(ApplyTarget::Client) => vec![Role::Client],
        Field::Valid(ApplyTarget::Server) => vec![Role::Server],
        Field::Invalid(v @ serde_json::Value::String(_)) => {
            vec![role_of(&Field::Invalid(v.clone()))?]
        }
        Field::Valid(ApplyTarget::All) | Field::Invalid(_) | Field::Absent => {
            ctx.runners.keys().copied().collect()
        }
    };
    let mut ids = BTreeMap::new();
    for role in roles {
        let runner = runner_for(ctx, role)?;
        let rid = match request_id.get() {
            Some(r) => r.clone(),
            None => {
                let l = ctx.layout.clone();
                match tokio::task::spawn_blocking(move || markers::write_request(&l, role)).await {
                    Ok(Ok(r)) => r,
                    Ok(Err(e)) => return Err(refuse(WireError::Internal, e.to_string())),
                    Err(e) => return Err(refuse(WireError::Internal, e.to_string())),
                }
            }
        };
        let _ = runner.send(RunnerCmd::Announce(rid.clone()));
        ids.insert(role, rid);
    }
    Ok(Response::ApplyOk { request_ids: ids })
}

/// `rollback` or `restart`: queued on the role's runner under a fresh id.
fn on_control(
    ctx: &IpcContext,
    role: &Field<Role>,
    kind: RequestKind,
) -> Result<Response, Refusal> {
    let (_, runner) = served(ctx, role)?;
    let request_id = format!("{kind}-{}", uuid::Uuid::new_v4());
    if kind == RequestKind::Rollback {
        let _ = runner.send(RunnerCmd::Rollback(request_id.clone()));
        Ok(Response::RollbackOk { request_id })
    } else {
        let _ = runner.send(RunnerCmd::Restart(request_id.clone()));
        Ok(Response::RestartOk { request_id })
    }
}

/// Each role's OS-state owner reconciles now; the answer is their views (on an
/// OS without TUN a role that asks for it answers `error_latched` with
/// `tun_unsupported`).
async fn on_repair(ctx: &IpcContext) -> Result<Response, Refusal> {
    let mut views = BTreeMap::new();
    for (role, tx) in &ctx.tun {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let cmd = crate::tun::TunCmd::Reconcile {
            reason: "repair".into(),
            reply: Some(reply),
        };
        if tx.send(cmd).is_err() {
            return Err(refuse(
                WireError::Internal,
                format!("the {role} TUN owner has stopped"),
            ));
        }
        match tokio::time::timeout(std::time::Duration::from_secs(60), answer).await {
            Ok(Ok(view)) => {
                views.insert(*role, view);
            }
            _ => {
                return Err(refuse(
                    WireError::Timeout,
                    format!("the {role} TUN reconcile did not answer within 60 s"),
                ));
            }
        }
    }
    Ok(Response::RepairOk { tun: views })
}

async fn on_mode(
    ctx: &IpcContext,
    role: &Field<Role>,
    mode: &Field<String>,
    tun_enabled: &Field<bool>,
    tun_mode: &Field<String>,
    tag: &Field<String>,
) -> Result<Response, Refusal> {
    let (role, runner) = served(ctx, role)?;
    // `mode` names it (`proxy`, `split`, `full`, `tun`), or ipc.md's
    // `tun_enabled` + `tun_mode` do.
    let mode = match (mode.as_deref(), tun_enabled.get()) {
        (Some(m), _) => m.to_string(),
        (None, Some(false)) => "proxy".into(),
        (None, Some(true)) if role == Role::Server => "tun".into(),
        (None, Some(true)) => tun_mode.as_deref().unwrap_or("split").to_string(),
        (None, None) => String::new(),
    };
    let tag = tag.get().cloned();
    let change = xp2p_core::desired::mode::ModeChange::parse(role, &mode, tag)
        .map_err(|e| refuse(WireError::InvalidRequest, e))?;
    let l = ctx.layout.clone();
    let res = tokio::task::spawn_blocking(move || {
        xp2p_store::desired_edit::set_mode(&l, role, &change)?;
        markers::write_request(&l, role).map_err(|e| e.to_string())
    })
    .await;
    match res {
        Ok(Ok(request_id)) => {
            let _ = runner.send(RunnerCmd::Announce(request_id.clone()));
            Ok(Response::ModeOk { request_id })
        }
        Ok(Err(e)) => Err(refuse(WireError::InvalidDesired, e)),
        Err(e) => Err(refuse(WireError::Internal, e.to_string())),
    }
}

/// The newest records (a role that is not one: every role's).
async fn on_journal(ctx: &IpcContext, role: &Field<Role>, limit: &Field<u64>) -> Response {
    let role = role.get().copied();
    let limit = limit
        .get()
        .copied()
        .unwrap_or(50)
        .min(MAX_JOURNAL_RECORDS as u64) as usize;
    let path = ctx.layout.journal();
    // Only the records asked for are held, not the whole journal.
    let mine = tokio::task::spawn_blocking(move || {
        journal::read_last(&path, limit, |r| role.is_none_or(|x| r.role == x)).unwrap_or_default()
    })
    .await
    .unwrap_or_default();
    Response::JournalOk {
        records: newest_that_fit(mine, MAX_FRAME - 1024),
    }
}

async fn on_logs(
    ctx: &IpcContext,
    role: &Field<Role>,
    bytes: &Field<u64>,
) -> Result<Response, Refusal> {
    let role = role_of(role)?;
    let bytes = bytes
        .get()
        .copied()
        .unwrap_or(64 * 1024)
        .min(MAX_LOG_BYTES as u64) as usize;
    let path = ctx.layout.core_log(role);
    let text = tokio::task::spawn_blocking(move || tail_file(&path, bytes))
        .await
        .unwrap_or_default();
    Ok(Response::LogsOk {
        text: fit_tail(text, MAX_FRAME - 1024),
    })
}

async fn on_render(
    ctx: &IpcContext,
    role: &Field<Role>,
    which: &Field<String>,
) -> Result<Response, Refusal> {
    let role = role_of(role)?;
    let which = which.as_deref().unwrap_or("desired");
    let side: Side = which
        .parse()
        .map_err(|e: sides::UnknownSide| refuse(WireError::RenderFailed, e.to_string()))?;
    let l = ctx.layout.clone();
    let limit = MAX_FRAME - 1024;
    // A stored config over the limit is refused before it is read whole.
    let rendered = tokio::task::spawn_blocking(move || match sides::stored_size(&l, role, side) {
        Some(size) if size > limit as u64 => Ok(Err(size)),
        _ => render(&l, role, side).map(|text| match json_len(&text) {
            n if n > limit => Err(text.len() as u64),
            _ => Ok(text),
        }),
    });
    match rendered.await {
        Ok(Ok(Err(size))) => Err(refuse(
            WireError::TooLarge,
            format!(
                "the {side} config of the {role} role is {} KiB, over the {} KiB IPC frame limit; \
                 read it on the host with `xp2p render`",
                size / 1024,
                MAX_FRAME / 1024
            ),
        )),
        Ok(Ok(Ok(json))) => Ok(Response::RenderOk { json }),
        Ok(Err(e)) => Err(refuse(WireError::RenderFailed, e)),
        Err(e) => Err(refuse(WireError::Internal, e.to_string())),
    }
}

/// The xray.json of a side as the service words it: Desired compiled now by
/// the service, Live or LKG as published.
fn render(layout: &Layout, role: Role, side: Side) -> Result<String, String> {
    match sides::render(layout, role, side) {
        Ok(bytes) => Ok(String::from_utf8_lossy(&bytes).into_owned()),
        Err(SideError::Problems(p)) => Err(p.to_string()),
        Err(SideError::Missing { slot, .. }) => {
            Err(format!("no {} config for the {role} role", slot.name()))
        }
        Err(SideError::Io { path, error }) => Err(format!("{}: {error}", path.display())),
    }
}

/// The newest records whose JSON fits in `limit` bytes (oldest dropped first).
fn newest_that_fit<T: serde::Serialize>(mut records: Vec<T>, limit: usize) -> Vec<T> {
    loop {
        let len = serde_json::to_string(&records).map_or(usize::MAX, |t| t.len());
        if records.is_empty() || len <= limit {
            return records;
        }
        let drop = records.len().div_ceil(4);
        records.drain(..drop);
    }
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
