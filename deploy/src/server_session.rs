//! One server-side deploy session: the hello exchange, the proof of the secret
//! (the first sealed message must open), the claim on the link, then the
//! authenticated work — plan the user and certificate, validate with a
//! temporary core and an echo target, wait for the client's `complete`, and only
//! on `complete{ok}` write Desired and `apply.request`.

use std::net::TcpStream;
use std::sync::mpsc::{self, Sender};
use std::time::Duration;

use super::conn::{LineConn, SealedConn, SessionError};
use super::echo::EchoTarget;
use super::error::DeployError;
use super::progress::{Event, Step};
use super::server::{Msg, ServerDone, SessionEnd};
use super::server_desired::{self, NewUser, ServerShape, Validated};
use super::tempcore::{TempCore, Workspace, pick_port};
use super::{COMPLETE_TIMEOUT, READ_TIMEOUT, rfc3339, unix_now, used_links, validation};
use crate::desired::names::is_host;
use crate::desired::{Port, ServerSection, User};
use crate::layout::Layout;
use crate::link::channel::ChannelError;
use crate::link::message::CodecError;
use crate::link::{
    Channel, ClientMsg, DeployLink, DeployResult, Incoming, Manifest, Refusal, ServerMsg,
    SessionKeys, SessionNonce, Side,
};
use crate::role::Role;
use xp2p_core::coreproc::CoreInfo;
use xp2p_core::links::{LinkError, Trust, TunnelLink, user_link};
use xp2p_store::markers;

/// What every session of one `server deploy` shares.
pub(crate) struct Ctx {
    pub layout: Layout,
    pub link: DeployLink,
    pub core: CoreInfo,
}

fn peer_of(s: &TcpStream) -> String {
    s.peer_addr()
        .map(|a| a.to_string())
        .unwrap_or_else(|_| "a peer".into())
}

pub(crate) fn serve(stream: TcpStream, ctx: &Ctx, tx: &Sender<Msg>) -> SessionEnd {
    let peer = peer_of(&stream);
    let refused = |why: String| SessionEnd::Refused {
        peer: peer.clone(),
        why,
    };
    let mut conn = match LineConn::new(stream) {
        Ok(c) => c,
        Err(e) => return refused(e.to_string()),
    };
    let hello = match conn.read_line(READ_TIMEOUT) {
        Ok(l) => l,
        Err(e) => return refused(format!("no hello: {e}")),
    };
    let client_nonce = match SessionNonce::parse_hello(&hello) {
        Ok(n) => n,
        Err(e) => {
            let _ = conn.write_line(&Refusal::BadHello.line());
            return refused(e.to_string());
        }
    };
    let server_nonce = match SessionNonce::generate() {
        Ok(n) => n,
        Err(e) => return refused(e.to_string()),
    };
    if let Err(e) = conn.write_line(&server_nonce.hello_line()) {
        return refused(e.to_string());
    }
    let keys = SessionKeys::derive(&ctx.link, &client_nonce, &server_nonce);
    let mut sc = SealedConn::new(conn, Channel::new(&keys, Side::Server));
    let first = sc.recv::<ClientMsg>(READ_TIMEOUT, "manifest");
    let manifest = match first {
        Ok(Incoming::Message(ClientMsg::Manifest(m))) => m,
        Err(SessionError::Codec(
            CodecError::Channel(ChannelError::Open) | CodecError::NotBase64 | CodecError::TooLong,
        )) => {
            let _ = sc.conn.write_line(&Refusal::Unauthorized.line());
            return refused(
                "unauthorized: its first sealed message did not open (wrong secret or altered link)"
                    .into(),
            );
        }
        Err(SessionError::Io(e)) => return refused(e.to_string()),
        Ok(Incoming::Refused(r)) => return refused(format!("it sent `!{}`", r.as_str())),
        // It opened, so the peer holds the secret: this session consumes the link.
        Ok(Incoming::Message(_)) | Err(SessionError::Codec(_)) => {
            let e = DeployError::new(
                Step::ManifestReceived,
                "protocol",
                "the first sealed message was not a manifest",
            );
            tell_error(&mut sc, &e);
            return SessionEnd::Finished(Box::new(Err(e)));
        }
    };
    // Proven: ask for the link. Only one session may ever have it.
    let (reply_tx, reply_rx) = mpsc::channel();
    let granted = tx.send(Msg::Claim(reply_tx)).is_ok()
        && reply_rx
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or(false);
    if !granted {
        let _ = sc.conn.write_line(&Refusal::Busy.line());
        return refused("a deploy session for this link is already in progress".into());
    }
    let emit = |e: Event| {
        let _ = tx.send(Msg::Event(e));
    };
    emit(Event::step(
        Step::ManifestReceived,
        format!(
            "user {} for {} (mode {})",
            manifest.user, manifest.host, manifest.mode
        ),
    ));
    let now = unix_now();
    let res = if ctx.link.is_expired(now) {
        Err(DeployError::new(
            Step::ManifestReceived,
            "expired",
            format!("the link expired at {}", rfc3339(ctx.link.exp)),
        ))
    } else {
        used_links::mark_used(&ctx.layout, &ctx.link, now)
            .map_err(|e| {
                DeployError::new(
                    Step::ManifestReceived,
                    "internal",
                    format!("cannot record the link as used: {e}"),
                )
            })
            .and_then(|()| deploy(&mut sc, ctx, &manifest, &emit))
    };
    if let Err(e) = &res
        && !matches!(e.code.as_str(), "client_gone" | "client_failed")
    {
        tell_error(&mut sc, e);
    }
    SessionEnd::Finished(Box::new(res))
}

fn tell_error(sc: &mut SealedConn, e: &DeployError) {
    let _ = sc.send(&ServerMsg::Error {
        code: e.code.clone(),
        message: e.message.clone(),
    });
}

fn gone(step: Step, e: impl std::fmt::Display) -> DeployError {
    DeployError::new(step, "client_gone", format!("the client went away: {e}"))
}

fn progress(
    sc: &mut SealedConn,
    emit: &dyn Fn(Event),
    step: Step,
    detail: String,
) -> Result<(), DeployError> {
    emit(Event::step(step, detail));
    sc.send(&ServerMsg::Progress {
        step: step.as_str().into(),
    })
    .map_err(|e| gone(step, e))
}

/// The link the client gets: the server's host name as the client dialed it,
/// the certificate name, port and protocol of the planned server, the new
/// user, and the pin (a deploy always pins the certificate it reports).
fn tunnel_link(
    shape: &ServerShape,
    manifest: &Manifest,
    user: &NewUser<'_>,
) -> Result<TunnelLink, LinkError> {
    let server = ServerSection {
        host: shape.server_name.clone(),
        trojan_port: Port(shape.trojan_port),
        profile: shape.profile,
        ..ServerSection::default()
    };
    let new_user = User {
        user_label: user.label.to_string(),
        credential: user.credential.to_string(),
        disabled: false,
        previous_credential: None,
        rotation_expires_at: None,
        created_at: None,
        rotated_at: None,
    };
    let trust = Trust::Pinned {
        sha256: shape.cert_sha256.clone(),
    };
    let mut link = user_link(&server, &new_user, &trust)?;
    link.host = manifest.host.clone();
    Ok(link)
}

/// The authenticated part: plan, validate, wait for the client, commit.
fn deploy(
    sc: &mut SealedConn,
    ctx: &Ctx,
    manifest: &Manifest,
    emit: &dyn Fn(Event),
) -> Result<ServerDone, DeployError> {
    let step = Step::ServerInstalling;
    let fail = |code: &str, msg: String| DeployError::new(step, code, msg);
    if manifest.user != ctx.link.user {
        return Err(fail(
            "bad_manifest",
            "the manifest's user differs from the link's".into(),
        ));
    }
    if !is_host(&manifest.host) {
        return Err(fail(
            "bad_manifest",
            format!("`{}` is not a host", manifest.host),
        ));
    }
    progress(sc, emit, step, format!("user {}", manifest.user))?;
    let layout = &ctx.layout;
    let base = server_desired::read_base(layout, step)?;
    let credential = uuid::Uuid::new_v4().to_string();
    let user = NewUser {
        label: &manifest.user,
        credential: &credential,
    };
    let cand = server_desired::plan(layout, &base, manifest, &user, None)?;
    if let Some(c) = &cand.channel {
        emit(Event::Note(format!(
            "reverse channel {} ({}) for user {}",
            c.key, c.domain, user.label
        )));
    }
    let ws =
        Workspace::new("server").map_err(|e| fail("internal", format!("temp directory: {e}")))?;
    let staged = match &cand.generated {
        Some(g) => Some(server_desired::stage_cert(ws.path(), g)?),
        None => None,
    };
    server_desired::check(layout, &ctx.core, &cand, staged.as_ref(), step)?;

    let step = Step::Validating;
    let vfail = |msg: String| DeployError::new(step, "validation_failed", msg);
    progress(sc, emit, step, "starting a temporary core".into())?;
    let shape = &cand.shape;
    let (cert, key) = staged
        .clone()
        .unwrap_or_else(|| (shape.cert_path.clone(), shape.key_path.clone()));
    let echo = EchoTarget::start().map_err(|e| vfail(format!("echo target: {e}")))?;
    let vport = pick_port(shape.listen, shape.trojan_port)
        .map_err(|e| vfail(format!("no port for validation on {}: {e}", shape.listen)))?;
    let config = validation::server_config(&validation::ServerValidation {
        profile: shape.profile,
        listen: shape.listen,
        port: vport,
        user: user.label,
        credential: user.credential,
        cert: &cert,
        key: &key,
        echo: echo.addr(),
    });
    let config_path = ws.file("config.json");
    std::fs::write(&config_path, crate::compile::to_canonical_bytes(&config))
        .map_err(|e| vfail(format!("cannot write the temporary config: {e}")))?;
    let mut core = TempCore::start(&ctx.core, &config_path, &ws.file("core.log"))
        .map_err(|e| vfail(format!("cannot start {}: {e}", ctx.core.describe())))?;
    core.wait_ready(vport, Duration::from_secs(15))
        .map_err(vfail)?;

    let link = tunnel_link(shape, manifest, &user)
        .map_err(|e| DeployError::new(step, "internal", e.to_string()))?;
    sc.send(&ServerMsg::Result(DeployResult {
        ok: true,
        link: link.render(),
        server_name: shape.server_name.clone(),
        cert_sha256: shape.cert_sha256.clone(),
        validate_port: vport,
        echo_port: echo.addr().port(),
        reverse: cand.channel.clone(),
    }))
    .map_err(|e| gone(step, e))?;
    let step = Step::WaitingForClientValidation;
    emit(Event::step(
        step,
        format!("temporary inbound on port {vport}; waiting for the client to confirm"),
    ));
    let status = match sc.recv::<ClientMsg>(COMPLETE_TIMEOUT, "complete") {
        Ok(Incoming::Message(ClientMsg::Complete { status })) => status,
        Ok(_) => {
            return Err(DeployError::new(
                step,
                "protocol",
                "expected `complete` from the client",
            ));
        }
        Err(e) => return Err(gone(step, e)),
    };
    core.stop();
    drop(echo);
    if status != "ok" {
        let _ = sc.send(&ServerMsg::Bye);
        return Err(DeployError::new(
            step,
            "client_failed",
            format!("the client reported `{status}`; nothing was written"),
        ));
    }

    let step = Step::WritingDesired;
    progress(
        sc,
        emit,
        step,
        layout.desired_toml(Role::Server).display().to_string(),
    )?;
    server_desired::commit(
        layout,
        &ctx.core,
        &Validated {
            base: &base,
            candidate: &cand,
            manifest,
            user: NewUser {
                label: user.label,
                credential: user.credential,
            },
            staged: staged.as_ref(),
        },
    )?;
    markers::write_request(layout, Role::Server).map_err(|e| {
        DeployError::new(
            Step::ApplyRequested,
            "write_failed",
            format!(
                "xp2p-server.toml was written but apply.request was not ({e}); run `xp2p apply`"
            ),
        )
    })?;
    // Written and requested: from here the deploy stands even if the client left.
    let _ = progress(sc, emit, Step::ApplyRequested, String::new());
    let _ = sc.send(&ServerMsg::Bye);
    drop(ws);
    Ok(ServerDone {
        user: manifest.user.clone(),
        trojan_port: cand.shape.trojan_port,
        server_name: cand.shape.server_name.clone(),
        wrote_cert: cand.generated.is_some(),
        reverse: cand.channel.clone(),
        desired: layout.desired_toml(Role::Server),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desired::ServerProfile;

    fn shape(profile: ServerProfile) -> ServerShape {
        ServerShape {
            server_name: "vpn.example.com".into(),
            profile,
            trojan_port: 4443,
            listen: std::net::IpAddr::from([0, 0, 0, 0]),
            cert_path: "cert.pem".into(),
            key_path: "key.pem".into(),
            cert_sha256: "ab".repeat(32),
        }
    }

    fn manifest(host: &str) -> Manifest {
        Manifest {
            host: host.into(),
            trojan_port: None,
            user: "alice@xp2p.local".into(),
            profile: None,
            mode: "proxy".into(),
            reverse: true,
        }
    }

    #[test]
    fn the_link_is_the_shared_format_with_the_dialed_host_and_the_pin() {
        let id = "0b6f8a3e-7b5c-4a0e-9d7f-1c2b3a4d5e6f";
        let user = NewUser {
            label: "alice@xp2p.local",
            credential: id,
        };
        let pin = "ab".repeat(32);
        let trojan = tunnel_link(
            &shape(ServerProfile::TrojanTls),
            &manifest("203.0.113.7"),
            &user,
        )
        .unwrap()
        .render();
        assert_eq!(
            trojan,
            format!(
                "trojan://{id}@203.0.113.7:4443?allowInsecure=1&pinnedPeerCertSha256={pin}&security=tls&sni=vpn.example.com&type=tcp#alice@xp2p.local"
            )
        );
        let vision = tunnel_link(
            &shape(ServerProfile::VlessTlsVision),
            &manifest("vpn.example.com"),
            &user,
        )
        .unwrap()
        .render();
        assert_eq!(
            vision,
            format!(
                "vless://{id}@vpn.example.com:4443?allowInsecure=1&encryption=none&flow=xtls-rprx-vision&pinnedPeerCertSha256={pin}&security=tls&sni=vpn.example.com&type=tcp#alice@xp2p.local"
            )
        );
        // What the server sends is what the client's endpoint import accepts.
        let back = TunnelLink::parse(&vision).unwrap();
        let e = back.to_endpoint(None).unwrap();
        assert_eq!((e.port.0, e.password.as_str()), (4443, id));
    }
}
