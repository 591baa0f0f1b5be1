//! xp2p-service: the headless daemon behind `xp2p service run`.
//!
//! Start-up recovers what a crash may have left (staging, a torn journal line,
//! unfinished attempts, an interrupted Live swap), reattaches to or starts each
//! role's core from Live, requests an apply where Desired moved, then runs one
//! apply runner per role, the watchers and the supervisors until SIGTERM/SIGINT.

pub mod apply;
pub mod diag;
pub mod drain;
pub mod events;
pub mod faults;
pub mod ipc_server;
pub mod logtail;
pub mod platform;
pub mod rotation;
pub mod supervisor;
pub mod tun;
pub mod watch;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use xp2p_core::desired::ServiceSection;
use xp2p_core::{ErrorCode, Layout, Role};
use xp2p_store::digest::sha256_hex;
use xp2p_store::instance_lock::{self, InstanceLock, InstanceLockError};
use xp2p_store::journal::{self, Journal, Outcome, Record, RecordError};
use xp2p_store::live::{self, Slot};
use xp2p_store::{markers, swap};

use crate::apply::{Runner, SharedJournal, journal_append};
use crate::events::EventBus;
use crate::logtail::LogTail;
use crate::supervisor::RoleSupervisor;
use xp2p_platform::procfs;
use xp2p_store::session;

/// Exit status when there is nothing to run (systemd: `RestartPreventExitStatus=78`).
pub const EXIT_NO_CONFIG: i32 = 78;

pub struct RunOptions {
    pub layout: Layout,
    /// IPC socket path (default `CONFIG_ROOT/.state/xp2p.sock`).
    pub socket: Option<std::path::PathBuf>,
    /// Leave cores running on a clean stop (for upgrades).
    pub keep_cores: bool,
}

/// Runs the service to completion; returns the process exit status.
pub fn run(opts: RunOptions) -> i32 {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        // Blocking work here is short (files, /proc, netlink, `ip`): a small pool
        // is plenty, and an uncapped one grows toward its peak concurrency and
        // keeps those threads (their stacks and caches) resident (the soak).
        .max_blocking_threads(8)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("xp2p service: cannot start the runtime: {e}");
            return 1;
        }
    };
    rt.block_on(serve(opts))
}

/// `[service]` knobs from the role files (client first), tolerant of errors.
fn service_section(layout: &Layout) -> ServiceSection {
    for role in Role::ALL {
        // Bounded and non-blocking: a FIFO or a device there must not hang start-up.
        let path = layout.desired_toml(role);
        let Ok(bytes) =
            xp2p_platform::fsread::read_operator_file(&path, xp2p_platform::fsread::MAX_TOML)
        else {
            continue;
        };
        let src = String::from_utf8_lossy(&bytes);
        #[derive(serde::Deserialize)]
        struct Partial {
            service: Option<ServiceSection>,
        }
        if let Ok(Partial { service: Some(s) }) = toml_partial(&src) {
            return s;
        }
    }
    ServiceSection::default()
}

/// `[logging]` from the role files (client first), tolerant of any error: the
/// service must log even when Desired is broken.
pub fn logging_section(layout: &Layout) -> xp2p_core::desired::LoggingSection {
    #[derive(serde::Deserialize)]
    struct Partial {
        logging: Option<xp2p_core::desired::LoggingSection>,
    }
    for role in Role::ALL {
        // Bounded and non-blocking: a FIFO or a device there must not hang start-up.
        let path = layout.desired_toml(role);
        let Ok(bytes) =
            xp2p_platform::fsread::read_operator_file(&path, xp2p_platform::fsread::MAX_TOML)
        else {
            continue;
        };
        let src = String::from_utf8_lossy(&bytes);
        if let Ok(Partial { logging: Some(l) }) = toml_partial(&src) {
            return l;
        }
    }
    xp2p_core::desired::LoggingSection::default()
}

fn toml_partial<T: serde::de::DeserializeOwned>(src: &str) -> Result<T, String> {
    xp2p_core::desired::load::parse_toml(std::path::Path::new(""), src).map_err(|e| e.to_string())
}

fn create_state_dir(layout: &Layout) -> std::io::Result<()> {
    let state = layout.state_dir();
    std::fs::create_dir_all(&state)?;
    // Exactly 0700 whatever the umask or an earlier mode (Windows: the ACL it
    // inherits; see `fsperm`).
    xp2p_platform::fsperm::set_mode(&state, 0o700)
}

/// Only once the instance lock is held: empty staging, make the folders.
fn prepare_state_dir(layout: &Layout) -> std::io::Result<()> {
    let staging = layout.staging_dir();
    match std::fs::remove_dir_all(&staging) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    std::fs::create_dir_all(&staging)?;
    std::fs::create_dir_all(layout.sessions_dir())
}

/// Writes one `interrupted` record for every attempt the journal left open,
/// saying what start-up found.
async fn close_unfinished(layout: &Layout, journal: &SharedJournal, records: &[Record]) {
    for open in journal::unfinished(records) {
        let live_sha = live::read_xray(layout, open.role, Slot::Live)
            .ok()
            .flatten()
            .map(|b| sha256_hex(&b));
        let pid = session::read(layout, open.role)
            .and_then(|s| s.pid)
            .filter(|p| procfs::alive(*p));
        let mut r = Record::new(&open.attempt_id, open.role, &open.request_id, open.phase);
        r.outcome = Some(Outcome::Interrupted);
        r.live_sha256 = live_sha.clone();
        r.desired_digest = open.desired_digest.clone();
        r.detail = Some(format!(
            "service stopped during {}; found Live {} and core {}",
            open.phase,
            live_sha
                .as_deref()
                .map_or("absent".to_string(), |s| s[..12].to_string()),
            pid.map_or("not running".to_string(), |p| format!("pid {p}")),
        ));
        r.error = Some(RecordError {
            code: ErrorCode::Internal,
            message: "interrupted".into(),
            phase: open.phase,
            retryable: true,
            live_changed: open.phase == "committed_live",
        });
        journal_append(journal, r).await;
    }
}

/// Takes the one-service-per-root lock (a process-owned record lock: see
/// `instance_lock`), or says which process serves the root already.
fn take_instance_lock(layout: &Layout) -> Result<InstanceLock, String> {
    let path = layout.service_lock();
    match InstanceLock::try_acquire(&path) {
        Ok(l) => Ok(l),
        Err(InstanceLockError::Held { .. }) => {
            let holder = instance_lock::holder_pid(&path)
                .or_else(|| instance_lock::recorded_pid(&path))
                .map_or(String::new(), |pid| {
                    let comm = i32::try_from(pid)
                        .ok()
                        .and_then(|p| std::fs::read_to_string(format!("/proc/{p}/comm")).ok())
                        .map_or(String::new(), |c| format!(", {}", c.trim()));
                    format!(" (pid {pid}{comm})")
                });
            Err(format!(
                "another service{holder} already serves {}",
                layout.root().display()
            ))
        }
        Err(e) => Err(e.to_string()),
    }
}

/// What start-up recovered: the root's lock, the journal (a torn last line
/// dropped, unfinished attempts closed) and an interrupted Live swap finished
/// or undone.
struct Recovered {
    layout: Layout,
    /// Held for its life: the one service on this root.
    _instance_lock: InstanceLock,
    instance_id: String,
    journal: SharedJournal,
    records: Vec<Record>,
}

/// Step 1 of a service's life: take the root and put right what a crash left.
async fn recover(layout: Layout) -> Result<Recovered, StartupError> {
    create_state_dir(&layout).map_err(|e| StartupError::State {
        path: layout.state_dir(),
        source: e,
    })?;
    let mut instance_lock = take_instance_lock(&layout).map_err(StartupError::Lock)?;
    if let Err(e) = instance_lock.write_pid() {
        tracing::warn!(
            "cannot record pid in {}: {e}",
            instance_lock.path().display()
        );
    }
    prepare_state_dir(&layout).map_err(|e| StartupError::State {
        path: layout.state_dir(),
        source: e,
    })?;
    let instance_id = uuid::Uuid::new_v4().to_string();
    tracing::info!(root = %layout.root().display(), pid = std::process::id(), "xp2p service starting");

    // Journal: drop a torn last line, then read what is there.
    let journal_path = layout.journal();
    match journal::repair(&journal_path) {
        Ok(true) => tracing::warn!("journal: dropped a torn last line"),
        Ok(false) => {}
        Err(e) => tracing::error!("journal repair: {e}"),
    }
    let records = journal::read_all(&journal_path).unwrap_or_default();
    let journal: SharedJournal = match Journal::open(&journal_path) {
        Ok(j) => Arc::new(Mutex::new(j)),
        Err(e) => {
            return Err(StartupError::Journal {
                path: journal_path,
                source: e,
            });
        }
    };

    // Finish or undo an interrupted Live swap.
    for role in Role::ALL {
        match swap::recover(&layout, role) {
            Ok(swap::Recovery::Clean) => {}
            Ok(r) => tracing::warn!(%role, "recovered an interrupted Live swap: {r:?}"),
            Err(e) => tracing::error!(%role, "Live swap recovery: {e}"),
        }
    }
    close_unfinished(&layout, &journal, &records).await;

    Ok(Recovered {
        layout,
        _instance_lock: instance_lock,
        instance_id,
        journal,
        records,
    })
}

/// The roles this root serves, each with its supervisor and core log follower.
struct Served {
    roles: Vec<Role>,
    service_cfg: ServiceSection,
    events: EventBus,
    sups: HashMap<Role, Arc<RoleSupervisor>>,
    /// Held for their life: the core log followers.
    _watchers: Vec<notify::RecommendedWatcher>,
}

/// Step 2: one supervisor per served role; cores reattached or started from
/// Live; an apply requested where Desired moved meanwhile.
async fn start_roles(rec: &Recovered) -> Result<Served, StartupError> {
    let (layout, instance_id, records) = (&rec.layout, &rec.instance_id, &rec.records);
    let roles: Vec<Role> = Role::ALL
        .into_iter()
        .filter(|r| layout.desired_toml(*r).is_file() || layout.live_dir(*r).is_dir())
        .collect();
    let service_cfg = service_section(layout);
    let core_log_max = u64::from(logging_section(layout).core_log_max_mb) * 1024 * 1024;
    let events = EventBus::default();
    let mut watchers = Vec::new();
    let mut sups: HashMap<Role, Arc<RoleSupervisor>> = HashMap::new();
    for role in &roles {
        let (tail, w) = match LogTail::start(&layout.core_log(*role), core_log_max) {
            Ok(v) => v,
            Err(e) => {
                return Err(StartupError::CoreLog {
                    path: layout.core_log(*role),
                    source: e,
                });
            }
        };
        watchers.push(w);
        // Core log lines as events for log-subscribers (the TUI's Logs view).
        let mut lines = tail.subscribe();
        let (bus, r) = (events.clone(), *role);
        tokio::spawn(async move {
            loop {
                match lines.recv().await {
                    Ok(l) => bus.send(events::Event::CoreLog {
                        role: r,
                        line: l.text,
                    }),
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(_) => break,
                }
            }
        });
        let sup = RoleSupervisor::new(
            *role,
            layout.clone(),
            instance_id.clone(),
            tail,
            Duration::from_millis(service_cfg.drain_ms),
            events.clone(),
        );
        sups.insert(*role, sup);
    }

    // A core recorded for a role whose Live is gone cannot be supervised: stop it
    // (never leave it running beside the core the next apply starts).
    for role in Role::ALL {
        if !layout.live_dir(role).is_dir() {
            let stopped = supervisor::stop_cores_without_live(layout, role).await;
            if !stopped.is_empty() {
                tracing::warn!(%role, pids = ?stopped, "stopped cores whose Live is gone");
            }
        }
    }
    // Cores from Live: reattach or start.
    for role in &roles {
        if !layout.live_dir(*role).is_dir() {
            continue;
        }
        match sups[role].reattach_or_start().await {
            Ok(note) => tracing::info!(%role, "core: {note}"),
            Err(e) => {
                let note = sups[role].start_failed_at_startup(&e).await;
                tracing::error!(%role, code = %e.code, "core from Live failed: {note}")
            }
        }
    }

    // Desired moved while we were away: request an apply (unless one is pending, or
    // the journal already finished an attempt on exactly this Desired, e.g. it
    // failed or the operator rolled back since: never undo that silently).
    let pending = markers::read_requests(layout);
    for role in &roles {
        if pending.requests.contains_key(role) {
            continue;
        }
        let l = layout.clone();
        let r = *role;
        let recs = records.clone();
        let res = tokio::task::spawn_blocking(move || {
            let digest = xp2p_store::digest::read_desired(&l, r)
                .map(|f| f.digest())
                .unwrap_or_default();
            let live_digest = live::read_runtime(&l, r, Slot::Live).ok().flatten().map(|rt| rt.desired_digest);
            if live_digest.as_deref() == Some(digest.as_str()) {
                // Live came from this very Desired: re-apply only if compiling it
                // now gives other bytes (xp2p itself changed, e.g. an upgrade).
                if compiler_output_changed(&l, r) {
                    tracing::info!(role = %r, "compiled config differs from Live for the same Desired (xp2p upgraded?): apply requested");
                    xp2p_store::markers::write_request(&l, r).map_err(|e| e.to_string())?;
                }
                return Ok::<Option<String>, String>(None);
            }
            if already_attempted(&recs, r, &digest) {
                return Ok(None);
            }
            watch::request_if_changed(&l, r)
        })
        .await;
        match res {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::error!(%role, "cannot request an apply: {e}"),
            Err(e) => tracing::error!(%role, "{e}"),
        }
    }
    let pending = markers::read_requests(layout);
    let any_live = Role::ALL.iter().any(|r| layout.live_dir(*r).is_dir());
    if !any_live && pending.requests.is_empty() {
        tracing::error!(
            "no config available (no Live config and no apply request in {})",
            layout.root().display()
        );
        return Err(StartupError::NoConfig(layout.root().to_path_buf()));
    }

    Ok(Served {
        roles,
        service_cfg,
        events,
        sups,
        _watchers: watchers,
    })
}

/// The service's tasks while it serves.
struct Running {
    socket: std::path::PathBuf,
    status_task: tokio::task::JoinHandle<()>,
    shutdown_tx: tokio::sync::watch::Sender<bool>,
    runner_tasks: Vec<tokio::task::JoinHandle<()>>,
    tun_owners: Vec<tun::TunOwner>,
    ipc_task: tokio::task::JoinHandle<()>,
    desired_watch: tokio::task::JoinHandle<()>,
    diag_tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// Step 3: runners, OS-state owners, IPC, watchers and diagnostics; returns
/// once every role is serving (READY=1 then goes out).
async fn start_serving(
    rec: &Recovered,
    served: &Served,
    opts_socket: Option<std::path::PathBuf>,
) -> Result<Running, StartupError> {
    let (layout, journal, instance_id) = (&rec.layout, &rec.journal, &rec.instance_id);
    let (roles, sups, events, service_cfg) = (
        &served.roles,
        &served.sups,
        &served.events,
        &served.service_cfg,
    );
    // Runners and watchers. Subscribe first: readiness waits for first applies.
    let mut first_results = events.subscribe();
    // STATUS= follows the cores and the applies from here on; READY=1 goes out
    // with it once readiness is reached.
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    let mut served = Vec::new();
    for role in roles {
        served.push((*role, sups[role].active_pid().await.is_some()));
    }
    let status_sups = sups.clone();
    let status_task = tokio::spawn(platform::notify::follow_status(
        platform::notify::StatusBoard::new(served),
        events.subscribe(),
        ready_rx,
        move || {
            let sups = status_sups.clone();
            async move {
                let mut running = Vec::new();
                for (role, sup) in &sups {
                    running.push((*role, sup.active_pid().await.is_some()));
                }
                running
            }
        },
    ));
    // Only subscribe where it is read: an unread receiver keeps the bus full.
    // Each role's responder follows its Live (the client's runs while it has a bridge).
    let diag_applied: Vec<_> = roles.iter().map(|r| (*r, events.subscribe())).collect();
    // OS network state: one owner per role, reconciling from Live now and,
    // asked by the role's runner, after every apply (on an OS without TUN it
    // latches a role that asks for TUN with `tun_unsupported`).
    let tun_owners: Vec<tun::TunOwner> = roles
        .iter()
        .map(|r| tun::spawn(*r, layout.clone(), events.clone()))
        .collect();
    let os_state_hook = |role: Role| {
        tun_owners
            .iter()
            .find(|o| o.role == role)
            .map(tun::TunOwner::hook)
    };
    let (shutdown_tx, shutdown_rx) = tokio::sync::watch::channel(false);
    let mut pokes = HashMap::new();
    let mut runner_tasks = Vec::new();
    for role in roles {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let _ = tx.send(apply::RunnerCmd::Poke);
        pokes.insert(*role, tx);
        let runner = Arc::new(Runner {
            role: *role,
            layout: layout.clone(),
            sup: sups[role].clone(),
            journal: journal.clone(),
            events: events.clone(),
            shutdown: shutdown_rx.clone(),
            os_state: os_state_hook(*role),
        });
        runner_tasks.push(tokio::spawn(runner.run(rx)));
    }
    let socket = opts_socket.unwrap_or_else(|| layout.socket());
    let gid = ipc_server::group_gid(&service_cfg.socket_group);
    if !service_cfg.socket_group.is_empty() && gid.is_none() {
        tracing::warn!(group = %service_cfg.socket_group, "[service] socket_group names no group; the socket stays owner-only");
    }
    let listener = match ipc_server::bind(&socket, gid, &layout.state_dir()).await {
        Ok(l) => l,
        Err(e) => {
            return Err(StartupError::Ipc {
                path: socket,
                source: e,
            });
        }
    };
    let ipc_ctx = Arc::new(ipc_server::IpcContext {
        layout: layout.clone(),
        instance_id: instance_id.clone(),
        events: events.clone(),
        runners: pokes.clone(),
        tun: tun_owners.iter().map(|o| (o.role, o.tx.clone())).collect(),
        owner_uid: rustix::process::geteuid().as_raw(),
        group_gid: gid,
        started: std::time::Instant::now(),
    });
    let ipc_task = tokio::spawn(ipc_server::serve(listener, ipc_ctx));
    let server_runner = pokes.get(&Role::Server).cloned();
    let desired_watch = match watch::start(
        layout.clone(),
        Duration::from_millis(service_cfg.debounce_ms),
        pokes,
        events.clone(),
    ) {
        Ok(task) => task,
        Err(e) => {
            return Err(StartupError::Watch {
                path: layout.root().to_path_buf(),
                reason: e.to_string(),
            });
        }
    };
    // Diagnostics: the server answers endpoint probes and probes its reverse
    // channels; the client probes its endpoints and answers channel probes.
    let mut diag_tasks = Vec::new();
    for (role, applied) in diag_applied {
        diag_tasks.push(tokio::spawn(diag::responder_following_live(
            layout.clone(),
            role,
            applied,
        )));
    }
    if roles.contains(&Role::Server) && service_cfg.tunnel_probe_s > 0 {
        diag_tasks.push(tokio::spawn(diag::channels::prober(
            layout.clone(),
            Duration::from_secs(service_cfg.tunnel_probe_s),
        )));
    }
    if roles.contains(&Role::Client) && service_cfg.tunnel_probe_s > 0 {
        diag_tasks.push(tokio::spawn(diag::prober(
            layout.clone(),
            Duration::from_secs(service_cfg.tunnel_probe_s),
        )));
    }
    // User rotation graces end on time: an apply without the old credential.
    if let Some(server_runner) = server_runner {
        diag_tasks.push(tokio::spawn(rotation::run(
            layout.clone(),
            events.clone(),
            server_runner,
        )));
    }
    wait_cores_up(roles, sups, &mut first_results).await;
    drop(first_results);
    tracing::info!(roles = ?roles, "xp2p service ready");
    let _ = ready_tx.send(());

    Ok(Running {
        socket,
        status_task,
        shutdown_tx,
        runner_tasks,
        tun_owners,
        ipc_task,
        desired_watch,
        diag_tasks,
    })
}

/// Step 4: stop runners (finishing or abandoning their applies), the OS
/// state owners (restoring the baseline unless `keep_cores`), the cores
/// (unless `keep_cores`), then everything else.
async fn shut_down(run: Running, served: &Served, keep_cores: bool) {
    tracing::info!("stopping: finishing or abandoning running applies");
    run.status_task.abort();
    platform::notify::tell("STOPPING=1\nSTATUS=stopping");
    let _ = run.shutdown_tx.send(true);
    for t in run.runner_tasks {
        let _ = t.await;
    }
    // Explicit stop restores the network baseline; --keep-cores (an upgrade)
    // leaves routes and DNS for the next service.
    for owner in run.tun_owners {
        owner.stop(!keep_cores).await;
    }
    if keep_cores {
        tracing::info!("--keep-cores: leaving cores running");
    } else {
        for (role, sup) in &served.sups {
            if sup.stop_active("service_stopped").await {
                tracing::info!(%role, "core stopped");
            }
        }
    }
    run.ipc_task.abort();
    let _ = std::fs::remove_file(&run.socket);
    run.desired_watch.abort();
    for t in run.diag_tasks {
        t.abort();
    }
}

/// Why a service could not start: one line for the operator, and the exit
/// status (78 for "nothing to run", which systemd does not restart).
#[derive(Debug, thiserror::Error)]
enum StartupError {
    #[error("cannot prepare {}: {source}", path.display())]
    State {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Lock(String),
    #[error("cannot open {}: {source}", path.display())]
    Journal {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("cannot follow {}: {source}", path.display())]
    CoreLog {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("no config available in {}", .0.display())]
    NoConfig(std::path::PathBuf),
    #[error("cannot serve IPC at {}: {source}", path.display())]
    Ipc {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("cannot watch {}: {reason}", path.display())]
    Watch {
        path: std::path::PathBuf,
        reason: String,
    },
}

impl StartupError {
    fn exit_code(&self) -> i32 {
        match self {
            StartupError::NoConfig(_) => EXIT_NO_CONFIG,
            _ => 1,
        }
    }
}

async fn serve(opts: RunOptions) -> i32 {
    // Registered now, before start-up: a stop that arrives during start-up or
    // right after READY is a clean stop, never the default disposition.
    let stop = platform::stop::stop_signal();
    let started = async {
        let rec = recover(opts.layout.clone()).await?;
        let served = start_roles(&rec).await?;
        let running = start_serving(&rec, &served, opts.socket.clone()).await?;
        Ok::<_, StartupError>((rec, served, running))
    };
    let (rec, served, running) = match started.await {
        Ok(v) => v,
        Err(e) => {
            eprintln!("xp2p service: {e}");
            return e.exit_code();
        }
    };
    stop.await;
    shut_down(running, &served, opts.keep_cores).await;
    drop(served);
    drop(rec);
    tracing::info!("xp2p service stopped");
    0
}

/// Readiness: every served role has a running core or has finished an attempt
/// (a role whose Desired fails must not hold the others back), within 60 s.
async fn wait_cores_up(
    roles: &[Role],
    sups: &HashMap<Role, Arc<RoleSupervisor>>,
    results: &mut tokio::sync::broadcast::Receiver<events::Event>,
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let mut finished: Vec<Role> = Vec::new();
    loop {
        let mut waiting = Vec::new();
        for role in roles {
            if !finished.contains(role) && sups[role].active_pid().await.is_none() {
                waiting.push(*role);
            }
        }
        if waiting.is_empty() {
            return;
        }
        tokio::select! {
            ev = results.recv() => match ev {
                Ok(events::Event::ApplyDone(r)) if r.status != "superseded" => finished.push(r.role),
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(_) => return,
            },
            _ = tokio::time::sleep_until(deadline) => {
                tracing::warn!(roles = ?waiting, "not every core is up after 60 s; reporting ready anyway");
                return;
            }
        }
    }
}

/// Live was compiled from this Desired, yet compiling it now gives other bytes.
fn compiler_output_changed(layout: &Layout, role: Role) -> bool {
    let Ok(Some(live)) = live::read_xray(layout, role, Slot::Live) else {
        return false;
    };
    match xp2p_store::pipeline::compile_role(layout, role, &Default::default()) {
        Ok((_, _, compiled)) => compiled.xray_json != live,
        Err(_) => false,
    }
}

/// True when the journal's last attempt on `digest` for `role` reached an outcome
/// that retrying would not change (anything but interrupted/superseded).
fn already_attempted(records: &[Record], role: Role, digest: &str) -> bool {
    let Some(last) = records.iter().rev().find(|r| {
        r.role == role && r.desired_digest.as_deref() == Some(digest) && r.outcome.is_some()
    }) else {
        return false;
    };
    !matches!(
        last.outcome,
        Some(Outcome::Interrupted) | Some(Outcome::Superseded)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use xp2p_platform::fsperm;

    #[test]
    fn the_state_dir_is_made_owner_only_even_when_it_exists_wider() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path(), dir.path().join("logs"));
        create_state_dir(&layout).unwrap();
        let mode = || fsperm::mode_of(&std::fs::metadata(layout.state_dir()).unwrap());
        if fsperm::HAS_MODES {
            assert_eq!(mode(), Some(0o700));
            fsperm::set_mode(&layout.state_dir(), 0o755).unwrap();
            create_state_dir(&layout).unwrap();
            assert_eq!(mode(), Some(0o700), "an existing wider folder is narrowed");
        } else {
            assert!(layout.state_dir().is_dir());
        }
    }
}
