//! `xp2p client deploy` and `xp2p server deploy`: arguments in, progress lines
//! out (`--json`: one object per line), the closing hint about the service, and
//! the exit code. The protocol and all the work live in `xp2p_core::deploy`.

use std::io::Write;

use serde_json::json;
use xp2p_core::Layout;
use xp2p_deploy::link::DeployLink;
use xp2p_deploy::{self as deploy, DeployError, Event, client, interrupt, server};

use crate::args::{ClientDeployArgs, ServerDeployArgs};
use crate::exit;

/// One line on stdout. A closed stdout (`| head -1`) must not abort a deploy
/// half way, so write errors are ignored (SIGPIPE is ignored too, see below).
macro_rules! out {
    ($($arg:tt)*) => {{
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

/// Publishes progress to a running service as `deploy.progress` (best effort:
/// a deploy never depends on the service). The link itself is never sent — its
/// fragment is the secret, and read-only IPC subscribers would see it.
struct Publisher {
    deploy_id: String,
    role: &'static str,
    conn: std::sync::Mutex<Option<(tokio::runtime::Runtime, xp2p_ipc::IpcClient)>>,
}

impl Publisher {
    fn new(layout: &Layout, role: &'static str) -> Publisher {
        let socket = super::ipc::socket(layout);
        let conn = socket.exists().then(|| {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            let client = rt
                .block_on(xp2p_ipc::IpcClient::connect(
                    &socket,
                    concat!("xp2p-deploy ", env!("CARGO_PKG_VERSION")),
                ))
                .ok()?;
            Some((rt, client))
        });
        Publisher {
            deploy_id: uuid::Uuid::new_v4().to_string(),
            role,
            conn: std::sync::Mutex::new(conn.flatten()),
        }
    }

    fn send(&self, step: &str, state: &str, detail: &str) {
        let Ok(mut guard) = self.conn.lock() else {
            return;
        };
        let Some((rt, client)) = guard.as_mut() else {
            return;
        };
        let f = xp2p_ipc::Request::deploy_progress(&self.deploy_id, self.role, step, state, detail);
        if rt.block_on(client.call(&f)).is_err() {
            *guard = None;
        }
    }

    fn event(&self, e: &Event) {
        match e {
            Event::Link { expires, .. } => self.send(
                "link_generated",
                "done",
                &format!("valid until {}", deploy::rfc3339(*expires)),
            ),
            Event::Step { step, detail } => self.send(step.as_str(), "running", detail),
            Event::Peer { step } => self.send(step.as_str(), "server", ""),
            Event::Note(n) => self.send("note", "info", n),
        }
    }
}

/// Prints events as text lines or JSON objects (and publishes them).
struct Printer {
    json: bool,
    publish: Publisher,
}

impl Printer {
    fn event(&self, e: &Event) {
        self.publish.event(e);
        match (e, self.json) {
            (Event::Link { link, expires }, false) => {
                out!("{link}");
                out!(
                    "link_generated: valid until {}; on the server run: xp2p server deploy --link '{link}'",
                    deploy::rfc3339(*expires)
                );
            }
            (Event::Link { link, expires }, true) => out!(
                "{}",
                json!({"step": "link_generated", "link": link, "expires": expires,
                       "expires_at": deploy::rfc3339(*expires)})
            ),
            (Event::Step { step, detail }, false) if detail.is_empty() => out!("{step}"),
            (Event::Step { step, detail }, false) => out!("{step}: {detail}"),
            (Event::Step { step, detail }, true) => {
                out!("{}", json!({"step": step, "detail": detail}))
            }
            (Event::Peer { step }, false) => out!("{step} (server)"),
            (Event::Peer { step }, true) => out!("{}", json!({"step": step, "side": "server"})),
            (Event::Note(n), false) => out!("note: {n}"),
            (Event::Note(n), true) => out!("{}", json!({"note": n})),
        }
    }

    fn failed(&self, e: &DeployError) -> i32 {
        self.publish.send(
            "failed",
            "failed",
            &format!("{}: {} [{}]", e.step, e.message, e.code),
        );
        if self.json {
            out!(
                "{}",
                json!({"step": "failed", "failed_step": e.step,
                       "error": {"code": e.code, "message": e.message}})
            );
        } else {
            out!("failed: {}", e.step);
            eprintln!("error: {} [{}]", e.message, e.code);
        }
        if e.is_usage() {
            exit::USAGE
        } else {
            exit::FAILED
        }
    }

    fn done(&self, detail: &str, layout: &Layout, role: &str) {
        self.publish.send("done", "done", detail);
        let running = service_running(layout);
        let hint = if running {
            format!(
                "service running: it applies the new config now (follow it: xp2p apply --wait --role {role})"
            )
        } else {
            "service not running: start it to apply the new config (xp2p service run, or your service manager)"
                .to_string()
        };
        if self.json {
            out!("{}", json!({"step": "done", "detail": detail}));
            out!("{}", json!({"service_running": running, "hint": hint}));
        } else {
            out!("done: {detail}");
            out!("{hint}");
        }
    }
}

/// True when something accepts connections on the service's IPC socket.
/// Windows: always `false` (the service listens on a named pipe, which
/// [`xp2p_platform::fsperm::socket_accepts`] does not probe), so the hint there
/// says "not running" even when it runs.
fn service_running(layout: &Layout) -> bool {
    xp2p_platform::fsperm::socket_accepts(&super::ipc::socket(layout))
}

fn install_cleanup() {
    // SAFETY: setting a signal disposition before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
    if let Err(e) = interrupt::install() {
        eprintln!("warning: cannot install the interrupt cleanup: {e}");
    }
}

pub fn run_client(layout: &Layout, a: &ClientDeployArgs) -> i32 {
    install_cleanup();
    let p = Printer {
        json: a.json,
        publish: Publisher::new(layout, "client"),
    };
    let opts = client::ClientOptions {
        host: a.host.clone(),
        port: a.port,
        trojan_port: a.trojan_port,
        mode: a.mode,
        ttl: a.ttl,
        user: a.user.clone(),
        socks: a.socks,
        reverse: !a.no_reverse,
    };
    match client::run(layout, &opts, &mut |e| p.event(e)) {
        Ok(d) => {
            let protocol = match d.protocol {
                xp2p_core::desired::Protocol::Trojan => "trojan",
                xp2p_core::desired::Protocol::Vless => "vless",
            };
            let bridge = d
                .bridge
                .as_ref()
                .map(|(key, domain)| format!(", reverse bridge {key} ({domain})"))
                .unwrap_or_default();
            p.done(
                &format!(
                    "endpoint {} -> {}:{} ({protocol}, user {}){bridge} in {}",
                    d.tag,
                    d.address,
                    d.port,
                    d.user,
                    d.desired.display()
                ),
                layout,
                "client",
            );
            exit::OK
        }
        Err(e) => p.failed(&e),
    }
}

pub fn run_server(layout: &Layout, a: &ServerDeployArgs) -> i32 {
    let p = Printer {
        json: a.json,
        publish: Publisher::new(layout, "server"),
    };
    let link = match DeployLink::parse(&a.link) {
        Ok(l) => l,
        Err(e) => {
            return p.failed(&DeployError::new(
                deploy::Step::WaitingForClient,
                "bad_link",
                format!("--link: {e}"),
            ));
        }
    };
    install_cleanup();
    let opts = server::ServerOptions {
        listen: a
            .listen
            .unwrap_or_else(|| std::net::SocketAddr::from(([0, 0, 0, 0], link.port))),
        link,
        timeout: a.timeout,
    };
    match server::run(layout, &opts, &mut |e| p.event(e)) {
        Ok(d) => {
            let cert = if d.wrote_cert {
                ", self-signed certificate for it in tls/server/"
            } else {
                ""
            };
            let channel = d
                .reverse
                .as_ref()
                .map(|c| format!(", reverse channel {} ({})", c.key, c.domain))
                .unwrap_or_default();
            p.done(
                &format!(
                    "user {}{channel} on {}:{} in {}{cert}",
                    d.user,
                    d.server_name,
                    d.trojan_port,
                    d.desired.display()
                ),
                layout,
                "server",
            );
            exit::OK
        }
        Err(e) => p.failed(&e),
    }
}
