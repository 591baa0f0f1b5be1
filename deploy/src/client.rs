//! `xp2p client deploy`: make the link, dial the server until it expires, run
//! the sealed session, validate end to end through a temporary core, then write
//! Desired and `apply.request` and confirm. Every check that can fail before the
//! operator copies the link (host, existing endpoint or bridge, core) runs
//! first. After an error from the server the client stops: it never retries.
//! Unless `--no-reverse`, the manifest asks the server for a reverse channel
//! for the new user and the client writes the matching bridge (see
//! [`crate::reverse`]).

use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use super::client_desired::{self, ClientEdit, Written};
use super::conn::{LineConn, SealedConn, SessionError};
use super::error::DeployError;
use super::progress::{Event, Mode, Step};
use super::{DIAL_TIMEOUT, READ_TIMEOUT, client_probe, reverse, rfc3339, unix_now};
use crate::desired::Protocol;
use crate::desired::names::{endpoint_tag_for, is_host};
use crate::layout::Layout;
use crate::link::channel::ChannelError;
use crate::link::deploy_link::is_user_label;
use crate::link::message::CodecError;
use crate::link::{
    Channel, ClientMsg, DeployLink, DeployResult, Incoming, Manifest, Refusal, ReverseChannel,
    Secret, ServerMsg, SessionKeys, SessionNonce, Side,
};
use crate::role::Role;
use xp2p_core::links::TunnelLink;
use xp2p_store::markers;

pub struct ClientOptions {
    /// The server's host name or IP (dialed, and its certificate name when new).
    pub host: String,
    /// The server's deploy port.
    pub port: u16,
    /// The trojan port a new server should use.
    pub trojan_port: Option<u16>,
    /// `None` keeps the client's current mode.
    pub mode: Option<Mode>,
    /// Link lifetime.
    pub ttl: Duration,
    /// User label; default `deploy-<unix>@local`.
    pub user: Option<String>,
    /// SOCKS address to write; `None` keeps the current one (default for a new file).
    pub socks: Option<SocketAddr>,
    /// Set up a reverse channel for the new user (`false`: `--no-reverse`).
    pub reverse: bool,
}

/// What a successful client deploy did.
#[derive(Debug, Clone)]
pub struct ClientDone {
    pub tag: String,
    pub address: String,
    pub port: u16,
    pub protocol: Protocol,
    pub user: String,
    /// The bridge written (`[client.reverse.<key>]`) and the domain it shares
    /// with the server's channel.
    pub bridge: Option<(String, String)>,
    pub desired: PathBuf,
}

fn bad_argument(msg: String) -> DeployError {
    DeployError::new(Step::LinkGenerated, "bad_argument", msg)
}

pub fn run(
    layout: &Layout,
    opts: &ClientOptions,
    report: &mut dyn FnMut(&Event),
) -> Result<ClientDone, DeployError> {
    // Preflight: everything that can fail before the operator copies the link.
    let step = Step::LinkGenerated;
    if !is_host(&opts.host) {
        return Err(bad_argument(format!(
            "--host `{}` is not a host name or IP",
            opts.host
        )));
    }
    if opts.trojan_port == Some(0) || opts.port == 0 {
        return Err(bad_argument("ports must be 1-65535".into()));
    }
    if opts.ttl.as_secs() == 0 {
        return Err(bad_argument("--ttl must be at least 1s".into()));
    }
    let base = client_desired::read_base(layout, step)?;
    let tag = endpoint_tag_for(&opts.host);
    client_desired::ensure_tag_free(&base, &tag, step)?;
    let now = unix_now();
    let user = opts
        .user
        .clone()
        .unwrap_or_else(|| format!("deploy-{now}@local"));
    if !is_user_label(&user) {
        return Err(bad_argument(format!(
            "--user `{user}` must be 1-64 of letters, digits, `.`, `_`, `@`, `+`, `-`"
        )));
    }
    if opts.reverse {
        reverse::plan_bridge(base.model.as_ref(), &user, &opts.host, step)?;
    }
    let core = client_desired::find_core(layout, &base)?;
    let exp = now.saturating_add(opts.ttl.as_secs());
    let secret =
        Secret::generate().map_err(|e| DeployError::new(step, "internal", e.to_string()))?;
    let link = DeployLink::new(&opts.host, opts.port, &user, exp, secret)
        .map_err(|e| bad_argument(e.to_string()))?;
    report(&Event::Link {
        link: link.to_link_string(),
        expires: exp,
    });

    report(&Event::step(
        Step::WaitingForServer,
        format!("dialing {} until {}", link.addr(), rfc3339(exp)),
    ));
    let stream = dial(&link)?;
    let step = Step::Connected;
    report(&Event::step(step, link.addr()));
    let net = |e: &dyn std::fmt::Display| DeployError::new(step, "network", e.to_string());
    let mut conn = LineConn::new(stream).map_err(|e| net(&e))?;
    let nonce = SessionNonce::generate().map_err(|e| net(&e))?;
    conn.write_line(&nonce.hello_line()).map_err(|e| net(&e))?;
    let line = conn.read_line(READ_TIMEOUT).map_err(|e| net(&e))?;
    if let Some(reason) = line.strip_prefix('!') {
        return Err(refused(step, reason));
    }
    let server_nonce = SessionNonce::parse_hello(&line).map_err(|e| {
        DeployError::new(step, "protocol", format!("not an xp2p deploy server: {e}"))
    })?;
    let keys = SessionKeys::derive(&link, &nonce, &server_nonce);
    let mut sc = SealedConn::new(conn, Channel::new(&keys, Side::Client));

    let mode = opts
        .mode
        .unwrap_or_else(|| client_desired::current_mode(&base));
    sc.send(&ClientMsg::Manifest(Manifest {
        host: opts.host.clone(),
        trojan_port: opts.trojan_port,
        user: user.clone(),
        profile: None,
        mode: mode.as_str().into(),
        reverse: opts.reverse,
    }))
    .map_err(|e| net(&e))?;
    report(&Event::step(Step::ManifestSent, format!("user {user}")));

    let result = await_result(&mut sc, report)?;
    let protocol_err = |e: xp2p_core::links::LinkError| {
        DeployError::new(Step::Validating, "protocol", e.to_string())
    };
    let tl = TunnelLink::parse(&result.link).map_err(protocol_err)?;
    let endpoint =
        client_desired::deployed_endpoint(&opts.host, &user, &tl, &result).map_err(protocol_err)?;
    let bridge = match bridge_for(opts, &user, &result) {
        Ok(b) => b,
        Err(e) => {
            finish_failed(&mut sc, "fail client-reverse");
            return Err(e);
        }
    };
    if opts.reverse && bridge.is_none() {
        report(&Event::Note(
            "the server set up no reverse channel (it predates them): no bridge written; add both later with `xp2p server reverse add` and `xp2p client reverse add`".into(),
        ));
    }

    let step = Step::Validating;
    report(&Event::step(
        step,
        format!(
            "client: a temporary core to {}:{} and back from the server's echo target",
            link.host, result.validate_port
        ),
    ));
    if let Err(msg) = client_probe::validate_path(&core, &link.host, &result, &endpoint) {
        finish_failed(&mut sc, "fail client-validate");
        return Err(DeployError::new(step, "validation_failed", msg));
    }

    let step = Step::WritingDesired;
    report(&Event::step(
        step,
        format!(
            "{} (endpoint {tag})",
            layout.desired_toml(Role::Client).display()
        ),
    ));
    let edit = ClientEdit {
        endpoint: endpoint.clone(),
        mode: opts.mode,
        socks: opts.socks,
        bridge: bridge.clone(),
    };
    let written = match client_desired::commit(layout, &core, &edit) {
        Ok(w) => w,
        Err(e) => {
            finish_failed(&mut sc, "fail client-write");
            return Err(e);
        }
    };
    if let Err(e) = markers::write_request(layout, Role::Client) {
        let _ = client_desired::restore(layout, &written);
        finish_failed(&mut sc, "fail client-request");
        return Err(DeployError::new(
            Step::ApplyRequested,
            "write_failed",
            format!("cannot write apply.request ({e}); xp2p-client.toml was put back"),
        ));
    }
    report(&Event::step(Step::ApplyRequested, String::new()));

    confirm(layout, &mut sc, &written, report)?;
    Ok(ClientDone {
        tag,
        address: opts.host.clone(),
        port: tl.port,
        protocol: tl.protocol,
        user,
        bridge: written.bridge_key.clone().zip(bridge.map(|c| c.domain)),
        desired: layout.desired_toml(Role::Client),
    })
}

/// The server's reverse channel the bridge must match: checked against the
/// name this client's bridge derives; one the client did not ask for is a
/// protocol error (nothing is written on either side then).
fn bridge_for(
    opts: &ClientOptions,
    user: &str,
    result: &DeployResult,
) -> Result<Option<ReverseChannel>, DeployError> {
    let step = Step::Validating;
    match (&result.reverse, opts.reverse) {
        (None, _) => Ok(None),
        (Some(_), false) => Err(DeployError::new(
            step,
            "protocol",
            "the server set up a reverse channel although this client sent --no-reverse",
        )),
        (Some(ch), true) => reverse::check_answer(user, &opts.host, ch)
            .map(|()| Some(ch.clone()))
            .map_err(|m| DeployError::new(step, "reverse_mismatch", m)),
    }
}

/// Dials until the link expires: 2 s between tries, then one more each time, up to 5 s.
fn dial(link: &DeployLink) -> Result<TcpStream, DeployError> {
    let mut gap = 2u64;
    loop {
        let last = match connect(&link.host, link.port) {
            Ok(s) => return Ok(s),
            Err(e) => e.to_string(),
        };
        let now = unix_now();
        if link.is_expired(now) {
            return Err(DeployError::new(
                Step::WaitingForServer,
                "expired",
                format!(
                    "the link expired at {} before the server answered (last attempt: {last}); run deploy again for a new link",
                    rfc3339(link.exp)
                ),
            ));
        }
        std::thread::sleep(Duration::from_secs(gap.min(link.exp - now)));
        gap = (gap + 1).min(5);
    }
}

fn connect(host: &str, port: u16) -> std::io::Result<TcpStream> {
    let mut last = std::io::Error::new(
        std::io::ErrorKind::NotFound,
        format!("{host} has no address"),
    );
    for addr in (host, port).to_socket_addrs()? {
        match TcpStream::connect_timeout(&addr, DIAL_TIMEOUT) {
            Ok(s) => return Ok(s),
            Err(e) => last = e,
        }
    }
    Err(last)
}

fn refused(step: Step, reason: &str) -> DeployError {
    let r = Refusal::Other(reason.to_string());
    match reason {
        "unauthorized" => DeployError::new(
            step,
            "unauthorized",
            "the server refused this link: the link it was given differs from this one (wrong secret, or an altered host, port, user or expiry); paste the whole link again",
        ),
        "busy" => DeployError::new(
            step,
            "busy",
            "the server is already serving another deploy session for this link",
        ),
        _ => DeployError::new(
            step,
            "refused",
            format!("the server refused: {}", r.as_str()),
        ),
    }
}

/// Reads server messages until the result; reports the server's progress.
fn await_result(
    sc: &mut SealedConn,
    report: &mut dyn FnMut(&Event),
) -> Result<DeployResult, DeployError> {
    let mut step = Step::ManifestSent;
    loop {
        match sc.recv::<ServerMsg>(READ_TIMEOUT, "server message") {
            Ok(Incoming::Message(ServerMsg::Progress { step: s })) => {
                if let Some(st) = Step::from_peer(&s) {
                    step = st;
                    report(&Event::Peer { step: st });
                }
            }
            Ok(Incoming::Message(ServerMsg::Result(r))) if r.ok => return Ok(r),
            Ok(Incoming::Message(ServerMsg::Result(_))) => {
                return Err(DeployError::new(
                    step,
                    "server_failed",
                    "the server reported a failed result",
                ));
            }
            Ok(Incoming::Message(ServerMsg::Error { code, message })) => {
                return Err(DeployError::new(
                    step,
                    &code,
                    format!("the server refused: {message}"),
                ));
            }
            Ok(Incoming::Message(ServerMsg::Bye)) => {
                return Err(DeployError::new(
                    step,
                    "protocol",
                    "the server ended the session early",
                ));
            }
            Ok(Incoming::Refused(r)) => return Err(refused(step, r.as_str())),
            Err(e) => return Err(session_error(step, e)),
        }
    }
}

fn session_error(step: Step, e: SessionError) -> DeployError {
    match e {
        SessionError::Codec(CodecError::Channel(ChannelError::Open)) => DeployError::new(
            step,
            "unauthorized",
            "a message from the server did not open: this is not the server holding this link, or the connection was tampered with",
        ),
        other => DeployError::new(step, "network", other.to_string()),
    }
}

/// Tells the server we failed, and waits briefly for its `bye`.
fn finish_failed(sc: &mut SealedConn, status: &str) {
    if sc
        .send(&ClientMsg::Complete {
            status: status.into(),
        })
        .is_ok()
    {
        let _ = sc.recv::<ServerMsg>(Duration::from_secs(10), "bye");
    }
}

/// Sends `complete{ok}` and waits for the server to save; puts our Desired back
/// if the server says it could not.
fn confirm(
    layout: &Layout,
    sc: &mut SealedConn,
    written: &Written,
    report: &mut dyn FnMut(&Event),
) -> Result<(), DeployError> {
    let step = Step::Done;
    let put_back = |why: String| {
        let restored = client_desired::restore(layout, written).unwrap_or(false);
        if restored {
            let _ = markers::write_request(layout, Role::Client);
        }
        let what = if restored {
            "xp2p-client.toml was put back as it was"
        } else {
            "xp2p-client.toml keeps the new endpoint (it changed meanwhile); remove it by hand"
        };
        DeployError::new(step, "server_failed", format!("{why}; {what}"))
    };
    if let Err(e) = sc.send(&ClientMsg::Complete {
        status: "ok".into(),
    }) {
        return Err(put_back(format!("cannot confirm to the server ({e})")));
    }
    loop {
        match sc.recv::<ServerMsg>(READ_TIMEOUT, "bye") {
            Ok(Incoming::Message(ServerMsg::Bye)) => return Ok(()),
            Ok(Incoming::Message(ServerMsg::Progress { step: s })) => {
                if let Some(st) = Step::from_peer(&s) {
                    report(&Event::Peer { step: st });
                }
            }
            Ok(Incoming::Message(ServerMsg::Error { message, .. })) => {
                return Err(put_back(format!(
                    "the server could not save the deploy: {message}"
                )));
            }
            Ok(_) => {
                return Err(DeployError::new(
                    step,
                    "protocol",
                    "unexpected message instead of `bye`",
                ));
            }
            Err(e) => {
                return Err(DeployError::new(
                    step,
                    "no_bye",
                    format!(
                        "the server did not confirm ({e}); it may or may not have saved the user: check its output. xp2p-client.toml has the new endpoint"
                    ),
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(reverse: bool) -> ClientOptions {
        ClientOptions {
            host: "10.0.0.1".into(),
            port: 62025,
            trojan_port: None,
            mode: None,
            ttl: Duration::from_secs(60),
            user: None,
            socks: None,
            reverse,
        }
    }

    fn result(reverse: Option<ReverseChannel>) -> DeployResult {
        DeployResult {
            ok: true,
            link: String::new(),
            server_name: "vpn.example.com".into(),
            cert_sha256: "ab".repeat(32),
            validate_port: 1,
            echo_port: 2,
            reverse,
        }
    }

    fn channel(domain: &str) -> ReverseChannel {
        ReverseChannel {
            key: "alice".into(),
            tag: domain.into(),
            domain: domain.into(),
        }
    }

    #[test]
    fn the_servers_channel_must_be_asked_for_and_match() {
        let ok = channel("alice10-0-0-1.rev");
        assert_eq!(
            bridge_for(&opts(true), "alice", &result(Some(ok.clone()))).unwrap(),
            Some(ok.clone())
        );
        // An older server names none: no bridge, no error.
        assert_eq!(
            bridge_for(&opts(true), "alice", &result(None)).unwrap(),
            None
        );
        assert_eq!(
            bridge_for(&opts(false), "alice", &result(None)).unwrap(),
            None
        );
        let e = bridge_for(&opts(false), "alice", &result(Some(ok))).unwrap_err();
        assert_eq!(e.code, "protocol");
        // Named after the server's own host instead of the dialed one.
        let other = channel("alicevpn-example-com.rev");
        let e = bridge_for(&opts(true), "alice", &result(Some(other))).unwrap_err();
        assert_eq!(e.code, "reverse_mismatch");
        assert!(e.message.contains("alice10-0-0-1.rev"), "{e:?}");
    }
}
