//! `xp2p server deploy`: listen for one deploy, serve it, exit.
//!
//! The listener stays up until the link expires or `--timeout` passes. Every
//! connection runs its handshake on its own thread (at most [`MAX_HANDSHAKES`] at
//! once), so an idle or hostile connection cannot hold the deploy up. A peer
//! whose first sealed message does not open (wrong secret, altered link) gets
//! `!unauthorized` and nothing else happens: the server keeps waiting. The first
//! peer that proves the secret *claims* the link (recorded in
//! [`super::used_links`]); a second one gets `!busy`. The claimed session's end,
//! whatever its outcome, ends the command.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::error::DeployError;
use super::progress::{Event, Step};
use super::server_desired;
use super::server_session::{self, Ctx};
use super::tempcore::probe_addr;
use super::{rfc3339, unix_now, used_links};
use crate::layout::Layout;
use crate::link::DeployLink;

/// Handshakes in flight at once; more connections are closed at once.
pub const MAX_HANDSHAKES: usize = 16;

pub struct ServerOptions {
    pub link: DeployLink,
    pub listen: SocketAddr,
    /// How long to wait for a client (the link's expiry bounds it too).
    pub timeout: Duration,
}

/// What a successful server deploy did.
#[derive(Debug, Clone)]
pub struct ServerDone {
    pub user: String,
    pub trojan_port: u16,
    pub server_name: String,
    pub wrote_cert: bool,
    /// The reverse channel written with the user (`None`: the client sent `--no-reverse`).
    pub reverse: Option<crate::link::ReverseChannel>,
    pub desired: PathBuf,
}

/// What the connection threads tell the main loop.
pub(crate) enum Msg {
    Conn(TcpStream),
    Event(Event),
    /// A peer proved the secret: may it have the link? (`true`: yes, it is yours.)
    Claim(Sender<bool>),
    End(SessionEnd),
}

pub(crate) enum SessionEnd {
    /// Not (or no longer) a deploy: the server keeps waiting.
    Refused { peer: String, why: String },
    /// The claimed session ended: the command ends with it.
    Finished(Box<Result<ServerDone, DeployError>>),
}

/// Serves exactly one deploy for `opts.link`.
pub fn run(
    layout: &Layout,
    opts: &ServerOptions,
    report: &mut dyn FnMut(&Event),
) -> Result<ServerDone, DeployError> {
    let step = Step::WaitingForClient;
    let now = unix_now();
    if opts.link.is_expired(now) {
        return Err(DeployError::new(
            step,
            "expired",
            format!(
                "this deploy link expired at {}; run `xp2p client deploy` again for a new one",
                rfc3339(opts.link.exp)
            ),
        ));
    }
    if used_links::is_used(layout, &opts.link) {
        return Err(DeployError::new(
            step,
            "link_used",
            "this deploy link was already used on this server (one deploy per link); make a new one on the client",
        ));
    }
    let base = server_desired::read_base(layout, step)?;
    let core = server_desired::find_core(layout, &base)?;
    let listener = TcpListener::bind(opts.listen).map_err(|e| {
        DeployError::new(
            step,
            "bind_failed",
            format!("cannot listen on {}: {e}", opts.listen),
        )
    })?;
    let local = listener.local_addr().unwrap_or(opts.listen);
    let until = now
        .saturating_add(opts.timeout.as_secs())
        .min(opts.link.exp);
    report(&Event::step(
        step,
        format!("listening on {local} until {}", rfc3339(until)),
    ));
    let (tx, rx) = mpsc::channel();
    let _acceptor = Acceptor::start(listener, tx.clone()).map_err(|e| {
        DeployError::new(
            step,
            "internal",
            format!("cannot start the listener thread: {e}"),
        )
    })?;
    let ctx = Arc::new(Ctx {
        layout: layout.clone(),
        link: opts.link.clone(),
        core,
    });
    let in_flight = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + Duration::from_secs(until.saturating_sub(now));
    let mut claimed = false;
    loop {
        let wait = if claimed {
            Duration::from_secs(3600)
        } else {
            deadline.saturating_duration_since(Instant::now())
        };
        match rx.recv_timeout(wait) {
            Ok(Msg::Conn(stream)) => {
                let peer = peer_of(&stream);
                if in_flight.load(Ordering::SeqCst) >= MAX_HANDSHAKES {
                    report(&Event::Note(format!(
                        "closed {peer}: too many connections at once"
                    )));
                    continue;
                }
                report(&Event::step(Step::Connected, peer));
                spawn_session(stream, &ctx, &tx, &in_flight);
            }
            Ok(Msg::Event(e)) => report(&e),
            Ok(Msg::Claim(reply)) => {
                // A claim refused because the link is taken ends as `Refused`.
                let _ = reply.send(!claimed);
                claimed = true;
            }
            Ok(Msg::End(SessionEnd::Refused { peer, why })) => {
                let more = if claimed { "" } else { "; still waiting" };
                report(&Event::Note(format!("refused {peer}: {why}{more}")));
            }
            Ok(Msg::End(SessionEnd::Finished(r))) => return *r,
            Err(RecvTimeoutError::Timeout) if !claimed => {
                let why = if until == opts.link.exp {
                    format!(
                        "the link expired at {} before a client completed a deploy",
                        rfc3339(until)
                    )
                } else {
                    format!(
                        "no client completed a deploy within {}",
                        humantime::format_duration(opts.timeout)
                    )
                };
                return Err(DeployError::new(step, "timeout", why));
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => {
                return Err(DeployError::new(step, "internal", "the listener stopped"));
            }
        }
    }
}

fn peer_of(s: &TcpStream) -> String {
    s.peer_addr()
        .map(|a| a.to_string())
        .unwrap_or_else(|_| "a peer".into())
}

/// Runs one connection's session on its own thread; it always reports its end.
fn spawn_session(
    stream: TcpStream,
    ctx: &Arc<Ctx>,
    tx: &Sender<Msg>,
    in_flight: &Arc<AtomicUsize>,
) {
    let (ctx, out, count) = (Arc::clone(ctx), tx.clone(), Arc::clone(in_flight));
    count.fetch_add(1, Ordering::SeqCst);
    let peer = peer_of(&stream);
    let spawned = std::thread::Builder::new()
        .name("deploy-session".into())
        .spawn(move || {
            let end = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                server_session::serve(stream, &ctx, &out)
            }))
            .unwrap_or_else(|_| {
                SessionEnd::Finished(Box::new(Err(DeployError::new(
                    Step::ServerInstalling,
                    "internal",
                    "the deploy session failed unexpectedly",
                ))))
            });
            count.fetch_sub(1, Ordering::SeqCst);
            let _ = out.send(Msg::End(end));
        });
    if spawned.is_err() {
        in_flight.fetch_sub(1, Ordering::SeqCst);
        let _ = tx.send(Msg::End(SessionEnd::Refused {
            peer,
            why: "cannot start a thread for it".into(),
        }));
    }
}

/// Accepts connections on a thread and hands them to the main loop; stopped
/// (and the port released) on drop.
struct Acceptor {
    wake: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Acceptor {
    fn start(listener: TcpListener, tx: Sender<Msg>) -> std::io::Result<Acceptor> {
        let local = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("deploy-accept".into())
            .spawn(move || {
                for conn in listener.incoming() {
                    if flag.load(Ordering::SeqCst) {
                        break;
                    }
                    match conn {
                        Ok(s) => {
                            if tx.send(Msg::Conn(s)).is_err() {
                                break;
                            }
                        }
                        // Out of descriptors and the like: do not spin.
                        Err(_) => std::thread::sleep(Duration::from_millis(100)),
                    }
                }
            })?;
        Ok(Acceptor {
            wake: probe_addr(local.ip(), local.port()),
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Acceptor {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let woke = TcpStream::connect_timeout(&self.wake, Duration::from_secs(1)).is_ok();
        if let Some(t) = self.thread.take()
            && woke
        {
            let _ = t.join();
        }
    }
}
