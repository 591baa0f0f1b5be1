//! End-to-end tests of `xp2p client deploy` / `xp2p server deploy` with the real
//! core (v2ray): two processes with separate CONFIG_ROOTs on loopback, the
//! reverse channel a default deploy sets up on both sides (and `--no-reverse`),
//! the refusals (wrong secret, altered or expired link, a second session for
//! one link), and deploying beside running services without touching them.
//!
//! Every deploy process gets its own TMPDIR, so "no temporary core and no temp
//! directory left behind" is checked on exactly what that deploy created.

mod service_support;
mod support;

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use service_support::*;
use support::*;
use xp2p_deploy::link::message::{open_line, seal_line};
use xp2p_deploy::link::{
    Channel, ClientMsg, DeployLink, Incoming, Manifest, Refusal, Secret, ServerMsg, SessionKeys,
    SessionNonce, Side,
};

const DEPLOY: Duration = Duration::from_secs(60);

/// A deploy command running in the background; its stdout lines arrive on a
/// channel as they are printed. Killed on drop.
struct Running {
    child: Option<Child>,
    lines: Receiver<String>,
    seen: Vec<String>,
}

impl Running {
    fn spawn(mut cmd: Command, tmp: &Path) -> Running {
        let mut child = cmd
            .env("TMPDIR", tmp)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn xp2p");
        let out = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Running {
            child: Some(child),
            lines: rx,
            seen: Vec::new(),
        }
    }

    /// Waits for a stdout line matching `pred` and returns it.
    fn wait_line(&mut self, timeout: Duration, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    self.seen.push(l.clone());
                    if pred(&l) {
                        return l;
                    }
                }
                Err(_) => panic!("no matching line; stdout so far:\n{}", self.seen.join("\n")),
            }
        }
    }

    fn link(&mut self) -> String {
        self.wait_line(Duration::from_secs(20), |l| l.starts_with("xp2p+deploy://"))
    }

    /// Waits for the exit; returns (code, all stdout, stderr).
    fn finish(mut self, timeout: Duration) -> (Option<i32>, String, String) {
        let mut child = self.child.take().expect("child");
        let ok = wait_until(timeout, || matches!(child.try_wait(), Ok(Some(_))));
        if !ok {
            let _ = child.kill();
        }
        let status = child.wait().expect("wait");
        let mut err = String::new();
        if let Some(mut e) = child.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut e, &mut err);
        }
        while let Ok(l) = self.lines.recv_timeout(Duration::from_secs(2)) {
            self.seen.push(l);
        }
        assert!(
            ok,
            "deploy did not exit in time:\n{}\n{err}",
            self.seen.join("\n")
        );
        (status.code(), self.seen.join("\n"), err)
    }

    fn pid(&self) -> i32 {
        self.child.as_ref().map_or(0, |c| c.id() as i32)
    }

    fn kill(mut self) -> String {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        while let Ok(l) = self.lines.recv_timeout(Duration::from_millis(200)) {
            self.seen.push(l);
        }
        self.seen.join("\n")
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn client_deploy(root: &TestRoot, tmp: &Path, port: u16, extra: &[&str]) -> Running {
    let mut cmd = root.cmd();
    cmd.args(["client", "deploy", "--host", "127.0.0.1", "--port"])
        .arg(port.to_string())
        .args(extra);
    Running::spawn(cmd, tmp)
}

fn server_deploy(root: &TestRoot, tmp: &Path, link: &str, port: u16) -> Running {
    let mut cmd = root.cmd();
    cmd.args(["server", "deploy", "--link", link, "--listen"])
        .arg(format!("127.0.0.1:{port}"));
    Running::spawn(cmd, tmp)
}

/// Processes whose command line mentions `dir` (temporary cores run from there).
fn procs_under(dir: &Path) -> String {
    let out = Command::new("pgrep")
        .args(["-af", &dir.display().to_string()])
        .output()
        .expect("pgrep");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// No temporary core runs and no temp directory is left in `tmp`.
fn assert_clean(tmp: &Path) {
    let left: Vec<_> = std::fs::read_dir(tmp)
        .expect("read TMPDIR")
        .filter_map(Result::ok)
        .map(|e| e.file_name())
        .collect();
    assert!(left.is_empty(), "temp entries left behind: {left:?}");
    assert_eq!(procs_under(tmp), "", "temporary core still running");
}

/// Neither Desired nor apply.request nor a certificate was written.
fn assert_nothing_written(root: &TestRoot) {
    for rel in [
        "xp2p-client.toml",
        "xp2p-server.toml",
        ".state/apply.request",
        "tls",
        ".state/live",
    ] {
        assert!(
            !root.path().join(rel).exists(),
            "{rel} was written in {}",
            root.path().display()
        );
    }
}

/// The role's Live `xray.json`, parsed.
fn live_config(root: &TestRoot, role: &str) -> serde_json::Value {
    let p = root
        .path()
        .join(format!(".state/live/config-{role}/xray.json"));
    serde_json::from_slice(&read_bytes(&p)).unwrap_or(serde_json::Value::Null)
}

fn tmpdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("xp2p-deploy-test-")
        .tempdir()
        .expect("TMPDIR for deploy")
}

#[test]
fn deploy_then_services_give_a_working_tunnel() {
    if !v2ray_available() {
        return eprintln!("skipped: no v2ray");
    }
    let (server, client, tmp) = (TestRoot::new(), TestRoot::new(), tmpdir());
    let (port, trojan, socks) = (free_port(), free_port(), free_port());
    let socks_arg = format!("127.0.0.1:{socks}");
    let mut c = client_deploy(
        &client,
        tmp.path(),
        port,
        &["--trojan-port", &trojan.to_string(), "--socks", &socks_arg],
    );
    let link = c.link();
    let s = server_deploy(&server, tmp.path(), &link, port);
    let (s_code, s_out, s_err) = s.finish(DEPLOY);
    let (c_code, c_out, c_err) = c.finish(DEPLOY);
    assert_eq!(s_code, Some(0), "server:\n{s_out}\n{s_err}");
    assert_eq!(c_code, Some(0), "client:\n{c_out}\n{c_err}");
    for step in [
        "connected",
        "manifest_sent",
        "validating",
        "writing_desired",
        "apply_requested",
        "done",
    ] {
        assert!(
            c_out.lines().any(|l| l.starts_with(step)),
            "client step {step}:\n{c_out}"
        );
    }
    assert!(
        c_out
            .lines()
            .last()
            .is_some_and(|l| l.starts_with("service not running")),
        "{c_out}"
    );

    for (root, role) in [(&server, "server"), (&client, "client")] {
        assert!(
            root.path().join(format!("xp2p-{role}.toml")).is_file(),
            "{role} Desired"
        );
        let req = root.read(".state/apply.request");
        assert!(
            req.contains(&format!("\"{role}\"")),
            "{role} request: {req}"
        );
        assert!(!root.path().join(".state/live").exists(), "{role}: no Live");
    }
    assert!(server.path().join("tls/server/cert.pem").is_file());
    let client_toml = client.read("xp2p-client.toml");
    assert!(
        client_toml.contains("pinned_peer_cert_sha256"),
        "{client_toml}"
    );
    // By default the server adds a reverse channel for the new user and the
    // client the bridge through the new endpoint, both naming one domain.
    let user = c_out
        .lines()
        .find_map(|l| l.strip_prefix("manifest_sent: user "))
        .expect("the client names its user")
        .to_string();
    let name = xp2p_core::desired::names::reverse_name(&user, "127.0.0.1");
    let server_toml = server.read("xp2p-server.toml");
    assert!(
        server_toml.contains("[server.reverse_channels.")
            && server_toml.contains(&format!("domain = \"{name}\"")),
        "{server_toml}"
    );
    assert!(
        client_toml.contains("[client.reverse.127-0-0-1]")
            && client_toml.contains(&format!("domain = \"{name}\""))
            && client_toml.contains("endpoint_tag = \"proxy-127-0-0-1\""),
        "{client_toml}"
    );
    assert!(
        s_out.contains("reverse channel ") && s_out.contains(&name),
        "{s_out}"
    );
    assert!(
        c_out.contains("reverse bridge 127-0-0-1") && c_out.contains(&name),
        "{c_out}"
    );
    assert_clean(tmp.path());

    let _reapers = (
        CoreReaper(server.path().to_path_buf()),
        CoreReaper(client.path().to_path_buf()),
    );
    let s_svc = Service::start(&server);
    let c_svc = Service::start(&client);
    assert!(
        wait_until(LONG, || outcomes(&server, "server") == ["committed"]
            && outcomes(&client, "client") == ["committed"]),
        "services applied the deploy:\n{}\n{}",
        s_svc.log(),
        c_svc.log()
    );
    // Both compiled and running: the server's portal and the client's bridge
    // name the same domain.
    let (s_live, c_live) = (
        live_config(&server, "server"),
        live_config(&client, "client"),
    );
    let portals = &s_live["reverse"]["portals"];
    let bridges = &c_live["reverse"]["bridges"];
    assert_eq!(portals.as_array().map(Vec::len), Some(1), "{s_live}");
    assert_eq!(bridges.as_array().map(Vec::len), Some(1), "{c_live}");
    assert_eq!(portals[0]["domain"], name.as_str(), "{s_live}");
    assert_eq!(bridges[0]["domain"], portals[0]["domain"], "{c_live}");
    assert_eq!(bridges[0]["tag"], portals[0]["tag"]);
    let origin = HttpOrigin::start(ORIGIN_IP);
    let socks_addr = SocketAddr::from(([127, 0, 0, 1], socks));
    assert!(
        wait_until(LONG, || socks5_get(
            socks_addr,
            origin.addr(),
            Duration::from_secs(3)
        )
        .is_ok_and(|b| b.contains(origin.body()))),
        "tunnel works after deploy:\n{}\n{}",
        s_svc.log(),
        c_svc.log()
    );
}

/// Runs a client, gives the server `mutate(link)`, and expects a refusal.
fn refused_case(mutate: impl Fn(&str) -> String) {
    let (server, client, tmp) = (TestRoot::new(), TestRoot::new(), tmpdir());
    let port = free_port();
    let mut c = client_deploy(&client, tmp.path(), port, &[]);
    let link = c.link();
    let bad = mutate(&link);
    assert_ne!(bad, link);
    let mut s = server_deploy(&server, tmp.path(), &bad, port);
    s.wait_line(Duration::from_secs(20), |l| {
        l.starts_with("waiting_for_client")
    });
    let (code, out, err) = c.finish(DEPLOY);
    assert_eq!(code, Some(1), "client:\n{out}\n{err}");
    assert!(err.contains("[unauthorized]"), "{err}");
    assert!(out.contains("failed: manifest_sent"), "{out}");
    // The server keeps waiting for the right client; it noted the refusal.
    s.wait_line(Duration::from_secs(10), |l| {
        l.contains("refused") && l.contains("unauthorized")
    });
    s.kill();
    assert_nothing_written(&server);
    assert_nothing_written(&client);
    assert_clean(tmp.path());
}

#[test]
fn wrong_secret_is_refused_and_nothing_is_written() {
    if !v2ray_available() {
        return eprintln!("skipped: no v2ray");
    }
    refused_case(|link| {
        let (head, _) = link.split_once('#').expect("fragment");
        format!("{head}#{}", Secret::from_bytes([42; 32]).to_b64())
    });
}

#[test]
fn altered_expiry_is_refused_and_nothing_is_written() {
    if !v2ray_available() {
        return eprintln!("skipped: no v2ray");
    }
    refused_case(|link| {
        let mut l = DeployLink::parse(link).expect("parse link");
        l.exp += 3600;
        l.to_link_string()
    });
}

#[test]
fn expired_links_are_refused_on_both_sides() {
    if !v2ray_available() {
        return eprintln!("skipped: no v2ray");
    }
    let (server, client, tmp) = (TestRoot::new(), TestRoot::new(), tmpdir());
    let port = free_port();
    let now = xp2p_deploy::unix_now();
    let link = DeployLink::new(
        "127.0.0.1",
        port,
        "late",
        now - 60,
        Secret::from_bytes([5; 32]),
    )
    .expect("link")
    .to_link_string();
    let (code, out, err) = server_deploy(&server, tmp.path(), &link, port).finish(DEPLOY);
    assert_eq!(code, Some(1), "{out}\n{err}");
    assert!(
        err.contains("expired") && err.contains("[expired]"),
        "{err}"
    );
    assert_nothing_written(&server);

    // A client whose link runs out while nobody answers gives up on its own.
    let started = Instant::now();
    let (code, out, err) =
        client_deploy(&client, tmp.path(), port, &["--ttl", "2s"]).finish(DEPLOY);
    assert_eq!(code, Some(1), "{out}\n{err}");
    assert!(err.contains("[expired]"), "{err}");
    assert!(out.contains("failed: waiting_for_server"), "{out}");
    assert!(started.elapsed() < Duration::from_secs(20));
    assert_nothing_written(&client);
    assert_clean(tmp.path());
}

/// A hand-driven client session (the library's own channel), for the cases a
/// real client never produces.
struct RawSession {
    stream: BufReader<TcpStream>,
    ch: Channel,
}

impl RawSession {
    fn open(link: &DeployLink) -> RawSession {
        let s = TcpStream::connect(("127.0.0.1", link.port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        let mut stream = BufReader::new(s);
        let nonce = SessionNonce::generate().expect("nonce");
        writeln!(stream.get_mut(), "{}", nonce.hello_line()).expect("hello");
        let mut line = String::new();
        stream.read_line(&mut line).expect("server hello");
        let server = SessionNonce::parse_hello(&line).expect("server hello parses");
        let keys = SessionKeys::derive(link, &nonce, &server);
        RawSession {
            stream,
            ch: Channel::new(&keys, Side::Client),
        }
    }

    fn send(&mut self, m: &ClientMsg) {
        let line = seal_line(&mut self.ch, m).expect("seal");
        writeln!(self.stream.get_mut(), "{line}").expect("send");
    }

    fn recv(&mut self) -> Incoming<ServerMsg> {
        let mut line = String::new();
        self.stream.read_line(&mut line).expect("read");
        open_line(&mut self.ch, &line, "server message").expect("open")
    }
}

#[test]
fn one_deploy_per_link() {
    if !v2ray_available() {
        return eprintln!("skipped: no v2ray");
    }
    let (server, tmp) = (TestRoot::new(), tmpdir());
    let port = free_port();
    let exp = xp2p_deploy::unix_now() + 600;
    let link = DeployLink::new(
        "127.0.0.1",
        port,
        "raw",
        exp,
        Secret::generate().expect("secret"),
    )
    .expect("link");
    let text = link.to_link_string();
    let mut s = server_deploy(&server, tmp.path(), &text, port);
    s.wait_line(Duration::from_secs(20), |l| {
        l.starts_with("waiting_for_client")
    });

    // An idle connection that never says hello does not hold the deploy up.
    let idle = TcpStream::connect(("127.0.0.1", port)).expect("idle connection");

    // Session A proves the secret, claims the link, and the server starts working.
    let manifest = ClientMsg::Manifest(Manifest {
        host: "127.0.0.1".into(),
        trojan_port: Some(free_port()),
        user: "raw".into(),
        profile: None,
        mode: "proxy".into(),
        reverse: false,
    });
    let mut a = RawSession::open(&link);
    a.send(&manifest);
    assert!(matches!(
        a.recv(),
        Incoming::Message(ServerMsg::Progress { step }) if step == "server_installing"
    ));

    // Meanwhile a second session with the same link, secret and all, is refused.
    let mut b = RawSession::open(&link);
    b.send(&manifest);
    assert_eq!(b.recv(), Incoming::Refused(Refusal::Busy));
    drop(idle);

    // A leaves without confirming: the session is over, and so is the server.
    drop(a);
    let (code, out, err) = s.finish(DEPLOY);
    assert_eq!(code, Some(1), "{out}\n{err}");
    assert!(
        out.contains("refused 127.0.0.1") && out.contains("already in progress"),
        "{out}"
    );
    assert!(
        !port_accepts(SocketAddr::from(([127, 0, 0, 1], port))),
        "nothing listens after"
    );
    assert_nothing_written(&server);
    assert_clean(tmp.path());

    // The same link given to the server again is refused before it listens.
    let (code, out, err) = server_deploy(&server, tmp.path(), &text, port).finish(DEPLOY);
    assert_eq!(code, Some(1), "{out}\n{err}");
    assert!(err.contains("[link_used]"), "{err}");
    assert_nothing_written(&server);
}

#[test]
fn an_interrupted_server_stops_its_temporary_core_and_writes_nothing() {
    if !v2ray_available() {
        return eprintln!("skipped: no v2ray");
    }
    let (server, tmp) = (TestRoot::new(), tmpdir());
    let port = free_port();
    let exp = xp2p_deploy::unix_now() + 600;
    let link = DeployLink::new(
        "127.0.0.1",
        port,
        "raw",
        exp,
        Secret::generate().expect("secret"),
    )
    .expect("link");
    let mut s = server_deploy(&server, tmp.path(), &link.to_link_string(), port);
    s.wait_line(Duration::from_secs(20), |l| {
        l.starts_with("waiting_for_client")
    });
    let mut a = RawSession::open(&link);
    a.send(&ClientMsg::Manifest(Manifest {
        host: "127.0.0.1".into(),
        trojan_port: Some(free_port()),
        user: "raw".into(),
        profile: None,
        mode: "proxy".into(),
        reverse: true,
    }));
    // The result arrives once the server's temporary core listens; it names
    // the reverse channel the server would write with the user.
    loop {
        match a.recv() {
            Incoming::Message(ServerMsg::Result(r)) => {
                assert!(r.ok);
                let ch = r.reverse.expect("a reverse channel was asked for");
                assert_eq!(
                    (ch.key.as_str(), ch.domain.as_str()),
                    ("raw", "raw127-0-0-1.rev")
                );
                assert_eq!(ch.tag, ch.domain);
                break;
            }
            Incoming::Message(ServerMsg::Progress { .. }) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_ne!(procs_under(tmp.path()), "", "the temporary core runs");
    unsafe { libc::kill(s.pid(), libc::SIGTERM) };
    let (code, out, err) = s.finish(DEPLOY);
    assert_eq!(code, Some(128 + libc::SIGTERM), "{out}\n{err}");
    assert!(err.contains("interrupted"), "{err}");
    assert_clean(tmp.path());
    assert_nothing_written(&server);
}

#[test]
fn deploy_beside_running_services_leaves_them_alone() {
    if !v2ray_available() {
        return eprintln!("skipped: no v2ray");
    }
    let (server, client, tmp) = (TestRoot::new(), TestRoot::new(), tmpdir());
    let (trojan, socks, port) = (free_port(), free_port(), free_port());
    server.write_self_signed_cert("vpn.test");
    server.write("xp2p-server.toml", server_toml(V2RAY, trojan, "pw-1"));
    client.write(
        "xp2p-client.toml",
        client_toml(V2RAY, socks, trojan, "pw-1"),
    );
    let _reapers = (
        CoreReaper(server.path().to_path_buf()),
        CoreReaper(client.path().to_path_buf()),
    );
    let s_svc = Service::start(&server);
    let c_svc = Service::start(&client);
    let origin = HttpOrigin::start(ORIGIN_IP);
    let socks_addr = SocketAddr::from(([127, 0, 0, 1], socks));
    let fetch = || {
        socks5_get(socks_addr, origin.addr(), Duration::from_secs(3))
            .is_ok_and(|b| b.contains(origin.body()))
    };
    assert!(
        wait_until(LONG, fetch),
        "pair works first:\n{}\n{}",
        s_svc.log(),
        c_svc.log()
    );
    let pids = || {
        (
            session_pid(&server, "server"),
            session_pid(&client, "client"),
        )
    };
    let before = pids();
    assert!(before.0.is_some() && before.1.is_some(), "{before:?}");

    // An IPC subscriber on the client's service sees the deploy's progress.
    let progress = {
        use std::io::{BufRead, BufReader, Write};
        let mut sub =
            std::os::unix::net::UnixStream::connect(client.path().join(".state/xp2p.sock"))
                .expect("connect");
        sub.write_all(b"{\"v\":1,\"id\":1,\"type\":\"subscribe\"}\n")
            .expect("subscribe");
        sub.set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap_or_default();
        std::thread::spawn(move || {
            let mut seen = Vec::new();
            for line in BufReader::new(sub).lines() {
                let Ok(line) = line else { break };
                if line.contains("\"deploy.progress\"") {
                    let done = line.contains("\"step\":\"done\"");
                    seen.push(line);
                    if done {
                        break;
                    }
                }
            }
            seen
        })
    };

    let mut c = client_deploy(&client, tmp.path(), port, &["--no-reverse"]);
    let link = c.link();
    let s = server_deploy(&server, tmp.path(), &link, port);
    // While both temporary cores run, the services' cores and ports are untouched.
    c.wait_line(DEPLOY, |l| l.starts_with("validating: client"));
    assert_eq!(pids(), before, "service cores unchanged during validation");
    // Up to the moment the client writes Desired, nothing of the services moved.
    c.wait_line(DEPLOY, |l| l.starts_with("writing_desired"));
    assert_eq!(pids(), before, "service cores unchanged through validation");
    assert!(fetch(), "the running tunnel kept working");
    assert!(port_accepts(SocketAddr::from(([127, 0, 0, 1], trojan))));
    let (s_code, s_out, s_err) = s.finish(DEPLOY);
    let (c_code, c_out, c_err) = c.finish(DEPLOY);
    assert_eq!(s_code, Some(0), "server:\n{s_out}\n{s_err}");
    assert_eq!(c_code, Some(0), "client:\n{c_out}\n{c_err}");
    assert!(
        c_out
            .lines()
            .last()
            .is_some_and(|l| l.starts_with("service running")),
        "{c_out}"
    );
    assert!(
        s_out
            .lines()
            .last()
            .is_some_and(|l| l.starts_with("service running")),
        "{s_out}"
    );
    assert_clean(tmp.path());
    let events = progress.join().unwrap_or_default();
    assert!(
        events.iter().any(|e| e.contains("\"step\":\"validating\"")),
        "deploy.progress events: {events:?}"
    );
    assert!(
        events
            .last()
            .is_some_and(|e| e.contains("\"step\":\"done\"")),
        "{events:?}"
    );
    let secret = link.rsplit_once('#').map(|(_, s)| s).unwrap_or("");
    assert!(
        !secret.is_empty() && events.iter().all(|e| !e.contains(secret)),
        "the link's secret never crosses IPC"
    );
    assert!(
        !s_out.contains(&format!("port {trojan};")),
        "validated beside, not on, the service's port"
    );

    // The services pick the new Desired up themselves, on the same ports. The
    // deploy's own request and the watcher's can arrive apart under load: the
    // second is then a noop, never a second change.
    let settled = |o: Vec<String>| -> Vec<String> {
        let mut o = o;
        while o.len() > 2 && o.last().is_some_and(|x| x == "noop") {
            o.pop();
        }
        o
    };
    assert!(
        wait_until(LONG, || outcomes(&server, "server").len() >= 2
            && outcomes(&client, "client").len() >= 2),
        "{}\n{}",
        s_svc.log(),
        c_svc.log()
    );
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(
        settled(outcomes(&server, "server")),
        ["committed", "committed"]
    );
    assert_eq!(
        settled(outcomes(&client, "client")),
        ["committed", "committed"]
    );
    let server_toml = server.read("xp2p-server.toml");
    assert!(
        server_toml.contains(&format!("trojan_port = {trojan}")),
        "{server_toml}"
    );
    assert_eq!(
        server_toml.matches("[[server.users]]").count(),
        2,
        "{server_toml}"
    );
    let client_toml = client.read("xp2p-client.toml");
    assert!(
        client_toml.contains(&format!("127.0.0.1:{socks}")),
        "{client_toml}"
    );
    assert!(
        client_toml.contains("proxy-localhost") || client_toml.contains("hostname = \"localhost\"")
    );
    // `--no-reverse`: no channel, no bridge, in Desired or in what runs.
    assert!(!server_toml.contains("reverse"), "{server_toml}");
    assert!(!client_toml.contains("reverse"), "{client_toml}");
    assert!(
        !s_out.contains("reverse") && !c_out.contains("reverse"),
        "{s_out}\n{c_out}"
    );
    for (root, role) in [(&server, "server"), (&client, "client")] {
        let live = live_config(root, role);
        assert!(live.is_object(), "{role} Live");
        assert!(live.get("reverse").is_none(), "{role}: {live}");
    }
    assert!(
        wait_until(LONG, fetch),
        "the tunnel works after the services applied"
    );
}
