//! The IPC server against hostile and slow clients: bounded answers, bounded
//! buffers, a connection cap, and a slow subscriber's resync.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use xp2p_core::desired::edit::{Edit, RedirectTarget};
use xp2p_core::{Layout, Role};
use xp2p_ipc::{Field, MAX_FRAME, PROTO, Request, RequestKind, Response, WireError};

use super::*;
use crate::events::{Event, EventBus};

const BOUND: Duration = Duration::from_secs(30);

fn context(dir: &std::path::Path) -> Arc<IpcContext> {
    Arc::new(IpcContext {
        layout: Layout::new(dir, dir.join("logs")),
        instance_id: "test".into(),
        events: EventBus::default(),
        runners: HashMap::new(),
        tun: HashMap::new(),
        owner_uid: 0,
        group_gid: None,
        started: Instant::now(),
    })
}

type Lines = tokio::io::Lines<BufReader<tokio::io::ReadHalf<tokio::io::DuplexStream>>>;

/// A conversation over an in-memory pipe of `pipe` bytes (small: the client's
/// socket buffer fills at once).
fn talk(
    ctx: &Arc<IpcContext>,
    access: Access,
    pipe: usize,
) -> (Lines, tokio::io::WriteHalf<tokio::io::DuplexStream>) {
    let (client, server) = tokio::io::duplex(pipe);
    let (sr, sw) = tokio::io::split(server);
    tokio::spawn(conversation(sr, sw, access, &UNIX_DENIALS, ctx.clone()));
    let (cr, cw) = tokio::io::split(client);
    (BufReader::with_capacity(4 * MAX_FRAME, cr).lines(), cw)
}

async fn next(lines: &mut Lines) -> Option<Value> {
    let line = tokio::time::timeout(BOUND, lines.next_line())
        .await
        .expect("an answer in time")
        .ok()??;
    Some(serde_json::from_str(&line).expect("a JSON frame"))
}

#[tokio::test]
async fn a_slow_subscriber_gets_resync_and_a_snapshot_without_a_later_event() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = context(dir.path());
    let (mut lines, mut w) = talk(&ctx, Access::Full, 4096);
    w.write_all(b"{\"v\":1,\"id\":1,\"type\":\"subscribe\"}\n")
        .await
        .unwrap();
    assert_eq!(next(&mut lines).await.unwrap()["type"], "snapshot");
    // The client stops reading while the service publishes far more than its
    // queue holds; then nothing more happens.
    for i in 0..2000 {
        ctx.events.send(Event::CoreState {
            role: Role::Client,
            display: xp2p_core::status::DisplayState::Running,
            pid: Some(i),
        });
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    // It reads again: a resync and a fresh snapshot arrive with no new event.
    let mut last_seq = 0;
    let mut saw_resync = false;
    loop {
        let v = next(&mut lines).await.expect("the connection stays open");
        let seq = v["seq"].as_u64().unwrap();
        assert!(seq > last_seq, "seq strictly increases: {v}");
        last_seq = seq;
        match v["type"].as_str() {
            Some("event") => assert!(!saw_resync, "no stale event after the resync"),
            Some("resync") => saw_resync = true,
            Some("snapshot") => {
                assert!(saw_resync, "the snapshot follows a resync");
                assert!(v["state"]["service"]["running"].as_bool().unwrap());
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    // Events flow again after the snapshot.
    ctx.events.send(Event::CoreState {
        role: Role::Client,
        display: xp2p_core::status::DisplayState::Degraded,
        pid: None,
    });
    let v = next(&mut lines).await.unwrap();
    assert_eq!(v["event"]["display"], "degraded", "{v}");
    assert!(v["seq"].as_u64().unwrap() > last_seq);
}

#[tokio::test]
async fn a_half_sent_frame_is_dropped_after_the_frame_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = context(dir.path());
    let (mut lines, mut w) = talk(&ctx, Access::Full, 64 * 1024);
    let started = Instant::now();
    let half = format!(
        "{{\"v\":1,\"id\":1,\"type\":\"status\",\"pad\":\"{}",
        "x".repeat(1000)
    );
    w.write_all(half.as_bytes()).await.unwrap();
    let v = next(&mut lines).await.unwrap();
    assert_eq!(v["code"], "frame_timeout", "{v}");
    assert!(next(&mut lines).await.is_none(), "then closed");
    assert!(started.elapsed() >= FRAME_TIMEOUT);
}

#[tokio::test]
async fn an_idle_connection_between_frames_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = context(dir.path());
    let (mut lines, mut w) = talk(&ctx, Access::Full, 64 * 1024);
    tokio::time::sleep(FRAME_TIMEOUT * 2).await;
    w.write_all(b"{\"v\":1,\"id\":2,\"type\":\"status\"}\n")
        .await
        .unwrap();
    assert_eq!(next(&mut lines).await.unwrap()["type"], "status.ok");
}

#[tokio::test]
async fn a_refused_user_is_told_once_and_closed() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = context(dir.path());
    let (mut lines, mut w) = talk(&ctx, Access::None, 64 * 1024);
    w.write_all(b"{\"v\":1,\"id\":1,\"type\":\"hello\"}\n")
        .await
        .unwrap();
    let v = next(&mut lines).await.unwrap();
    assert_eq!(v["code"], "permission_denied");
    assert!(next(&mut lines).await.is_none(), "closed: holds no slot");
}

#[tokio::test]
async fn logs_answers_are_capped_whatever_bytes_asks() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = context(dir.path());
    let log = ctx.layout.core_log(Role::Client);
    std::fs::create_dir_all(log.parent().unwrap()).unwrap();
    // 3 MiB of lines full of control characters (6 bytes each once escaped).
    let line = format!("{}\n", "\u{1}".repeat(99));
    std::fs::write(&log, line.repeat(3 * 1024 * 1024 / 100)).unwrap();
    let ask = Request::logs(Role::Client, 1_000_000_000);
    let answer = handle(&ctx, ask).await;
    let Response::LogsOk { text } = &answer else {
        panic!("{answer:?}")
    };
    assert!(text.len() <= MAX_LOG_BYTES, "{}", text.len());
    assert!(!text.is_empty());
    assert!(
        text.starts_with('\u{1}') && text.ends_with('\n'),
        "whole lines"
    );
    assert!(
        answer.to_frame(Some(5)).to_line().len() <= MAX_FRAME,
        "fits the frame limit"
    );
}

#[tokio::test]
async fn a_render_over_the_frame_limit_is_refused_as_too_large() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = context(dir.path());
    let live = ctx.layout.live_dir(Role::Client);
    std::fs::create_dir_all(&live).unwrap();
    let big = format!("{{\"pad\":\"{}\"}}", "x".repeat(2 * MAX_FRAME));
    std::fs::write(live.join(xp2p_store::live::XRAY_JSON), big).unwrap();
    let answer = handle(&ctx, Request::render(Role::Client, "live")).await;
    let Response::Error { code, message } = &answer else {
        panic!("{answer:?}")
    };
    assert_eq!(*code, WireError::TooLarge);
    assert!(message.contains("xp2p render"), "{message}");
}

#[tokio::test]
async fn a_side_that_cannot_be_rendered_is_refused_in_the_services_words() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = context(dir.path());
    let refused = |answer: Response| match answer {
        Response::Error {
            code: WireError::RenderFailed,
            message,
        } => message,
        other => panic!("{other:?}"),
    };
    let render = |which: &str| handle(&ctx, Request::render(Role::Client, which));
    assert_eq!(
        refused(render("lkg").await),
        "no lkg config for the client role"
    );
    assert_eq!(
        refused(render("old").await),
        "unknown side `old` (desired, live, lkg)"
    );
    // An xray.json that exists but cannot be read is named.
    let path = ctx.layout.live_dir(Role::Client).join("xray.json");
    std::fs::create_dir_all(&path).unwrap();
    let message = refused(render("live").await);
    assert!(
        message.starts_with(&format!("{}: ", path.display())),
        "{message}"
    );
}

#[tokio::test]
async fn connections_over_the_cap_are_told_busy() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = context(dir.path());
    let path = dir.path().join("s.sock");
    let listener = bind(&path, None, dir.path()).await.unwrap();
    let server = tokio::spawn(serve(listener, ctx));
    let mut held = Vec::new();
    for _ in 0..MAX_CONNECTIONS {
        let c = xp2p_ipc::IpcClient::connect(&path, "t").await;
        held.push(c.expect("within the cap"));
    }
    let refused = xp2p_ipc::IpcClient::connect(&path, "t").await;
    let e = refused.err().expect("over the cap");
    assert!(e.to_string().contains("busy"), "{e}");
    held.pop();
    // A slot frees when a connection closes.
    assert!(wait_for(|| async { xp2p_ipc::IpcClient::connect(&path, "t").await.is_ok() }).await);
    server.abort();
}

async fn wait_for<F, Fut>(mut f: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + BOUND;
    while Instant::now() < deadline {
        if f().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[test]
fn fit_tail_keeps_whole_lines_within_the_limit() {
    let text = "\u{1}\u{1}\u{1}\n".repeat(1000);
    let fitted = fit_tail(text.clone(), 1000);
    assert!(json_len(&fitted) <= 1000);
    assert!(text.ends_with(&fitted) && fitted.starts_with('\u{1}'));
    assert_eq!(fit_tail("short".into(), 1000), "short");
    let one_line = fit_tail("\u{1}".repeat(1000), 100);
    assert!(!one_line.is_empty() && json_len(&one_line) <= 100);
}

/// One request of each kind, with the fields a real client sends (the match
/// is exhaustive: a new kind must get its sample here).
fn sample(kind: RequestKind) -> Request {
    match kind {
        RequestKind::Hello => Request::hello("t"),
        RequestKind::Status => Request::status(),
        RequestKind::Subscribe => Request::subscribe(true),
        RequestKind::Apply => Request::apply(Role::Client, None),
        RequestKind::Rollback => Request::rollback(Role::Client),
        RequestKind::Restart => Request::restart(Role::Client),
        RequestKind::Repair => Request::repair(),
        RequestKind::Mode => Request::Mode {
            role: Role::Client.into(),
            mode: "full".to_string().into(),
            tun_enabled: Field::Absent,
            tun_mode: Field::Absent,
            tag: Field::Absent,
        },
        RequestKind::Journal => Request::journal(None, 50),
        RequestKind::Logs => Request::logs(Role::Client, 1024),
        RequestKind::Render => Request::render(Role::Client, "live"),
        RequestKind::DeployProgress => {
            Request::deploy_progress("d1", "client", "validating", "running", "x")
        }
        RequestKind::Edit => Request::edit(
            Role::Client,
            vec![Edit::RedirectAdd {
                role: Role::Client,
                target: RedirectTarget::cidr("10.77.0.0/16").unwrap(),
                via: "direct".into(),
            }],
            false,
        ),
        RequestKind::Desired => Request::desired(Role::Client),
        RequestKind::UserLink => Request::user_link("alice"),
    }
}

/// Every file under `dir` (path and bytes), to tell that nothing changed.
fn tree(dir: &std::path::Path) -> std::collections::BTreeMap<std::path::PathBuf, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                todo.push(p);
            } else {
                out.insert(p.clone(), std::fs::read(&p).unwrap_or_default());
            }
        }
    }
    out
}

/// A role with Desired, Live, a journal and an `apply.request`: what a
/// mutating request would change.
fn populated(dir: &std::path::Path) -> Layout {
    let layout = Layout::new(dir, dir.join("logs"));
    std::fs::create_dir_all(layout.live_dir(Role::Client)).unwrap();
    std::fs::write(
        layout
            .live_dir(Role::Client)
            .join(xp2p_store::live::XRAY_JSON),
        "{\"inbounds\":[]}",
    )
    .unwrap();
    std::fs::write(dir.join("xp2p-client.toml"), "[client]\n").unwrap();
    std::fs::create_dir_all(layout.journal().parent().unwrap()).unwrap();
    std::fs::write(
        layout.journal(),
        "{\"seq\":1,\"ts\":\"t\",\"attempt_id\":\"a1\",\"role\":\"client\",\"request_id\":\"r1\",\"phase\":\"received\"}\n",
    )
    .unwrap();
    markers::write_request_id(&layout, Role::Client, "r0").unwrap();
    std::fs::create_dir_all(layout.core_log(Role::Client).parent().unwrap()).unwrap();
    std::fs::write(layout.core_log(Role::Client), "a line\n").unwrap();
    layout
}

#[tokio::test]
async fn read_only_members_may_only_read() {
    let dir = tempfile::tempdir().unwrap();
    let layout = populated(dir.path());
    let (runner, mut commands) = mpsc::unbounded_channel();
    let ctx = Arc::new(IpcContext {
        layout,
        instance_id: "test".into(),
        events: EventBus::default(),
        runners: HashMap::from([(Role::Client, runner)]),
        tun: HashMap::new(),
        owner_uid: 0,
        group_gid: Some(4242),
        started: Instant::now(),
    });
    let mut bus = ctx.events.subscribe();
    let before = tree(dir.path());
    let (mut lines, mut w) = talk(&ctx, Access::ReadOnly, 1024 * 1024);
    for (i, kind) in RequestKind::ALL.into_iter().enumerate() {
        let id = 100 + i as u64;
        let mut line = sample(kind).to_frame(Some(id)).to_line();
        line.push('\n');
        w.write_all(line.as_bytes()).await.unwrap();
        let v = next(&mut lines).await.expect("an answer");
        assert_eq!(v["id"], id, "{kind}: {v}");
        let refused = v["type"] == "error" && v["code"] == "permission_denied";
        assert_eq!(
            refused,
            kind.access() == xp2p_ipc::Access::Full,
            "{kind}: {v}"
        );
        if kind == RequestKind::Desired {
            assert_eq!(v["view"]["editable"], false, "readers may not edit: {v}");
        }
        if refused {
            let msg = v["message"].as_str().unwrap();
            assert!(msg.contains(&format!("`{kind}`")), "{msg}");
        } else {
            assert_ne!(v["type"], "error", "{kind} is open to readers: {v}");
        }
    }
    // Kinds this service does not know (some once listed as mutating, with no
    // handler) are refused for everyone, without effect.
    for (i, kind) in ["stop_core", "deploy.start", "no.such.thing"]
        .iter()
        .enumerate()
    {
        let id = 200 + i as u64;
        let line = format!("{{\"v\":1,\"id\":{id},\"type\":\"{kind}\",\"role\":\"client\"}}\n");
        w.write_all(line.as_bytes()).await.unwrap();
        let v = next(&mut lines).await.expect("an answer");
        assert_eq!(
            (v["id"].as_u64(), v["code"].as_str()),
            (Some(id), Some("unknown_type")),
            "{v}"
        );
    }
    // A full-access owner's unknown kind is refused the same way.
    let (mut owner, mut ow) = talk(&ctx, Access::Full, 64 * 1024);
    ow.write_all(b"{\"v\":1,\"id\":1,\"type\":\"stop_core\",\"role\":\"client\"}\n")
        .await
        .unwrap();
    assert_eq!(next(&mut owner).await.unwrap()["code"], "unknown_type");
    assert_eq!(tree(dir.path()), before, "no file changed");
    assert!(commands.try_recv().is_err(), "no runner was asked anything");
    // Only what the subscriber itself caused may be on the bus: nothing.
    assert!(
        matches!(bus.try_recv(), Err(broadcast::error::TryRecvError::Empty)),
        "no event was published"
    );
}

#[tokio::test]
async fn a_client_of_another_protocol_is_refused_naming_both_versions() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = context(dir.path());
    for hello in [
        format!(
            "{{\"v\":1,\"id\":1,\"type\":\"hello\",\"client\":\"t\",\"proto\":{}}}\n",
            PROTO + 1
        ),
        format!(
            "{{\"v\":{},\"id\":1,\"type\":\"hello\",\"client\":\"t\"}}\n",
            PROTO + 1
        ),
    ] {
        let (mut lines, mut w) = talk(&ctx, Access::Full, 64 * 1024);
        w.write_all(hello.as_bytes()).await.unwrap();
        let v = next(&mut lines).await.unwrap();
        assert_eq!(v["code"], "protocol_mismatch", "{v}");
        let msg = v["message"].as_str().unwrap();
        assert!(msg.contains(&format!("protocol {PROTO}")), "{msg}");
        assert!(msg.contains(&format!("protocol {}", PROTO + 1)), "{msg}");
        assert!(next(&mut lines).await.is_none(), "then closed");
    }
    // This version's hello, and an old one without `proto`, are answered.
    for hello in [
        Request::hello("t").to_frame(Some(1)).to_line(),
        "{\"v\":1,\"id\":1,\"type\":\"hello\",\"client\":\"old\"}".to_string(),
    ] {
        let (mut lines, mut w) = talk(&ctx, Access::Full, 64 * 1024);
        w.write_all(format!("{hello}\n").as_bytes()).await.unwrap();
        let v = next(&mut lines).await.unwrap();
        assert_eq!(
            (v["type"].as_str(), v["proto"].as_u64()),
            (Some("hello.ok"), Some(PROTO as u64)),
            "{v}"
        );
    }
}

/// On an OS without TUN, `repair` is answered (not refused as unknown): each
/// role's view, a TUN role latched with `tun_unsupported`.
#[tokio::test]
async fn repair_on_an_os_without_tun_reports_the_typed_error_per_role() {
    use crate::tun::tests::{UNSUPPORTED, live};
    let dir = tempfile::tempdir().unwrap();
    let layout = Layout::new(dir.path(), dir.path().join("logs"));
    live(&layout, Role::Client, "full");
    live(&layout, Role::Server, "proxy");
    let events = EventBus::default();
    let owners: Vec<_> = Role::ALL
        .into_iter()
        .map(|r| {
            crate::tun::spawn_with::<crate::tun::unsupported::Backend>(
                r,
                layout.clone(),
                events.clone(),
            )
        })
        .collect();
    let ctx = Arc::new(IpcContext {
        layout,
        instance_id: "test".into(),
        events,
        runners: HashMap::new(),
        tun: owners.iter().map(|o| (o.role, o.tx.clone())).collect(),
        owner_uid: 0,
        group_gid: None,
        started: Instant::now(),
    });
    let (mut lines, mut w) = talk(&ctx, Access::Full, 64 * 1024);
    let mut line = Request::repair().to_frame(Some(7)).to_line();
    line.push('\n');
    w.write_all(line.as_bytes()).await.unwrap();
    let v = next(&mut lines).await.expect("an answer");
    assert_eq!(v["type"], "repair.ok", "{v}");
    assert_eq!(v["tun"]["client"]["phase"], "error_latched", "{v}");
    assert_eq!(v["tun"]["client"]["last_error"], UNSUPPORTED, "{v}");
    assert_eq!(v["tun"]["server"]["phase"], "disabled", "{v}");
    assert!(v["tun"]["server"]["last_error"].is_null(), "{v}");
    for o in owners {
        o.stop(true).await;
    }
}

/// A client Desired with one endpoint (tag `proxy-peer`), valid for an apply.
const CLIENT_TOML: &str = "# the operator's comment\n[client]\n\n[[client.endpoints]]\n\
hostname = \"peer\"\naddress = \"127.0.0.1\"\nport = 62025\nuser = \"u@xp2p.local\"\n\
password = \"secret-pass-1\"\nallow_insecure = true\n";

fn edit_context(dir: &std::path::Path) -> (Arc<IpcContext>, mpsc::UnboundedReceiver<RunnerCmd>) {
    let layout = Layout::new(dir, dir.join("logs"));
    std::fs::write(dir.join("xp2p-client.toml"), CLIENT_TOML).unwrap();
    let (runner, commands) = mpsc::unbounded_channel();
    let ctx = Arc::new(IpcContext {
        layout,
        instance_id: "test".into(),
        events: EventBus::default(),
        runners: HashMap::from([(Role::Client, runner)]),
        tun: HashMap::new(),
        owner_uid: 0,
        group_gid: None,
        started: Instant::now(),
    });
    (ctx, commands)
}

async fn ask(
    lines: &mut Lines,
    w: &mut tokio::io::WriteHalf<tokio::io::DuplexStream>,
    r: &Request,
) -> Value {
    let mut line = r.to_frame(Some(1)).to_line();
    line.push('\n');
    w.write_all(line.as_bytes()).await.unwrap();
    next(lines).await.expect("an answer")
}

fn redirect(cidr: &str, via: &str) -> Edit {
    Edit::RedirectAdd {
        role: Role::Client,
        target: RedirectTarget::cidr(cidr).unwrap(),
        via: via.into(),
    }
}

#[tokio::test]
async fn an_edit_writes_desired_through_the_one_writer_and_requests_an_apply() {
    let dir = tempfile::tempdir().unwrap();
    let (ctx, mut commands) = edit_context(dir.path());
    let toml = dir.path().join("xp2p-client.toml");
    let (mut lines, mut w) = talk(&ctx, Access::Full, 1024 * 1024);

    // A dry run shows the diff and writes nothing.
    let dry = Request::edit(
        Role::Client,
        vec![redirect("10.77.0.0/16", "proxy-peer")],
        true,
    );
    let v = ask(&mut lines, &mut w, &dry).await;
    assert_eq!(v["type"], "edit.ok", "{v}");
    assert_eq!(
        (v["changed"].as_bool(), v["written"].as_bool()),
        (Some(true), Some(false))
    );
    assert!(
        v["toml_diff"]
            .as_str()
            .unwrap()
            .contains("+cidr = \"10.77.0.0/16\""),
        "{v}"
    );
    assert!(v.get("request_id").is_none(), "{v}");
    assert_eq!(std::fs::read_to_string(&toml).unwrap(), CLIENT_TOML);
    assert!(!ctx.layout.apply_request().exists());
    assert!(commands.try_recv().is_err());

    // The write: Desired keeps the comment, the request is written and announced.
    let real = Request::edit(
        Role::Client,
        vec![redirect("10.77.0.0/16", "proxy-peer")],
        false,
    );
    let v = ask(&mut lines, &mut w, &real).await;
    assert_eq!(v["type"], "edit.ok", "{v}");
    assert_eq!(v["written"], true, "{v}");
    let id = v["request_id"].as_str().expect("a request id").to_string();
    let text = std::fs::read_to_string(&toml).unwrap();
    assert!(text.starts_with("# the operator's comment\n"), "{text}");
    assert!(text.contains("cidr = \"10.77.0.0/16\""), "{text}");
    let marker = std::fs::read_to_string(ctx.layout.apply_request()).unwrap();
    assert!(marker.contains(&id), "{marker}");
    assert!(matches!(commands.try_recv(), Ok(RunnerCmd::Announce(a)) if a == id));

    // The browse view lists it, without the endpoint's password.
    let v = ask(&mut lines, &mut w, &Request::desired(Role::Client)).await;
    assert_eq!(v["view"]["redirects"][0]["cidr"], "10.77.0.0/16", "{v}");
    assert_eq!(v["view"]["endpoints"][0]["tag"], "proxy-peer", "{v}");
    assert_eq!(v["view"]["editable"], true, "{v}");
    assert!(!v.to_string().contains("secret-pass-1"), "{v}");
}

#[tokio::test]
async fn a_refused_edit_is_one_line_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (ctx, mut commands) = edit_context(dir.path());
    let before = tree(dir.path());
    let (mut lines, mut w) = talk(&ctx, Access::Full, 1024 * 1024);
    // A redirect via a missing endpoint: Desired's fault, named by key.
    let r = Request::edit(
        Role::Client,
        vec![redirect("10.77.0.0/16", "proxy-nowhere")],
        false,
    );
    let v = ask(&mut lines, &mut w, &r).await;
    assert_eq!(
        (v["type"].as_str(), v["code"].as_str()),
        (Some("error"), Some("invalid_desired")),
        "{v}"
    );
    let msg = v["message"].as_str().unwrap();
    assert!(
        msg.contains("proxy-nowhere") && !msg.contains('\n'),
        "{msg}"
    );
    // A server edit sent for the client role, and no edits at all: the request's fault.
    let r = Request::edit(
        Role::Client,
        vec![Edit::UserRemove { label: "a".into() }],
        false,
    );
    assert_eq!(ask(&mut lines, &mut w, &r).await["code"], "invalid_request");
    let r = Request::edit(Role::Client, vec![], false);
    assert_eq!(ask(&mut lines, &mut w, &r).await["code"], "invalid_request");
    // A role this service does not serve.
    let r = Request::edit(
        Role::Server,
        vec![Edit::UserRemove { label: "a".into() }],
        false,
    );
    assert_eq!(ask(&mut lines, &mut w, &r).await["code"], "invalid_request");
    // Only the role lock the writer took may have appeared (empty).
    let mut after = tree(dir.path());
    after.retain(|p, bytes| !(p.ends_with(".state/locks/client.lock") && bytes.is_empty()));
    assert_eq!(after, before, "no file changed");
    assert!(commands.try_recv().is_err(), "no apply was asked for");
}
