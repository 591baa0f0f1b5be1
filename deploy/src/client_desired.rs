//! The client's side of Desired for a deploy: the endpoint the server's result
//! describes and the reverse bridge matching the server's channel, appended to
//! `xp2p-client.toml` by the one Desired editor in one batch (typed edits; the
//! file is created when missing; existing endpoints, comments and layout kept),
//! the mode and SOCKS address when asked, the commit under the role lock, and
//! the restore (of both) if the server then fails.

use std::net::SocketAddr;

use super::desired_io::{compile_check, edit_text, lock_role, read_toml};
use super::error::DeployError;
use super::progress::{Mode, Step};
use crate::desired::mode::ModeChange;
use crate::desired::names::endpoint_tag_for;
use crate::desired::{ClientDesired, Endpoint, TunMode, load};
use crate::layout::Layout;
use crate::link::{DeployResult, ReverseChannel};
use crate::role::Role;
use xp2p_core::coreproc::CoreInfo;
use xp2p_core::desired::edit::Edit;
use xp2p_core::links::{LinkError, TunnelLink};

const ROLE: Role = Role::Client;
const HEADER: &str =
    "# Written by `xp2p client deploy`. Edit freely; see formats.md.\n\n[client]\n";

/// The client's Desired as found before the deploy.
pub type ClientBase = super::desired_io::DesiredBase<ClientDesired>;

/// Reads and parses `xp2p-client.toml` (absent is fine; unparsable is not).
pub fn read_base(layout: &Layout, step: Step) -> Result<ClientBase, DeployError> {
    super::desired_io::read_base(layout, ROLE, step, load::parse_client)
}

/// The core the client's Desired names (or discovery finds).
pub fn find_core(layout: &Layout, base: &ClientBase) -> Result<CoreInfo, DeployError> {
    let configured = base.model.as_ref().map_or("", |m| m.core.path.as_str());
    super::desired_io::find_core(layout, configured, Step::LinkGenerated)
}

/// The mode the client has now (proxy for a new file).
pub fn current_mode(base: &ClientBase) -> Mode {
    match base.model.as_ref().map(|m| &m.client) {
        Some(c) if c.tun_enabled && c.tun_mode == TunMode::Full => Mode::TunFull,
        Some(c) if c.tun_enabled => Mode::TunSplit,
        _ => Mode::Proxy,
    }
}

/// The endpoint a deploy adds: the server's link (port, protocol, credential,
/// flow), dialed at the host the client used and tagged after it, with the
/// user the client asked for, the certificate name the server reported when it
/// differs from that host, and the certificate pinned (a deployed server's
/// certificate is self-signed: the pin is what authenticates it).
pub fn deployed_endpoint(
    host: &str,
    user: &str,
    link: &TunnelLink,
    result: &DeployResult,
) -> Result<Endpoint, LinkError> {
    let mut e = link.to_endpoint(Some(&endpoint_tag_for(host)))?;
    e.hostname = host.to_string();
    e.address = host.to_string();
    e.user = user.to_string();
    e.server_name =
        (!result.server_name.eq_ignore_ascii_case(host)).then(|| result.server_name.clone());
    e.allow_insecure = true;
    e.pinned_peer_cert_sha256 = result.cert_sha256.clone();
    Ok(e)
}

/// Refuses a deploy whose endpoint tag is taken (checked before the link is made
/// and again at commit).
pub fn ensure_tag_free(base: &ClientBase, tag: &str, step: Step) -> Result<(), DeployError> {
    let taken = base.model.as_ref().is_some_and(|m| {
        m.client
            .endpoints
            .iter()
            .any(|e| e.effective_tag().eq_ignore_ascii_case(tag))
    });
    if taken {
        return Err(DeployError::new(
            step,
            "endpoint_exists",
            format!(
                "xp2p-client.toml already has an endpoint `{tag}`; remove it first to deploy again"
            ),
        ));
    }
    Ok(())
}

/// What the deploy changes on the client.
#[derive(Debug, Clone)]
pub struct ClientEdit {
    /// From [`deployed_endpoint`].
    pub endpoint: Endpoint,
    /// `None` keeps the current mode.
    pub mode: Option<Mode>,
    /// `None` keeps the current SOCKS address (the default for a new file).
    pub socks: Option<SocketAddr>,
    /// The server's reverse channel: a bridge naming the same domain goes
    /// through the new endpoint (`None`: no bridge).
    pub bridge: Option<ReverseChannel>,
}

/// A planned client Desired.
#[derive(Debug, Clone)]
pub struct Planned {
    pub toml: String,
    /// The key of the bridge added, in `[client.reverse.<key>]`.
    pub bridge_key: Option<String>,
}

/// The candidate TOML: `base` with the endpoint (and the bridge through it)
/// appended, and the SOCKS address and mode set, when asked.
pub fn plan(
    layout: &Layout,
    base: &ClientBase,
    edit: &ClientEdit,
    step: Step,
) -> Result<Planned, DeployError> {
    let tag = edit.endpoint.effective_tag();
    ensure_tag_free(base, &tag, step)?;
    let (user, host) = (&edit.endpoint.user, &edit.endpoint.hostname);
    let bridge_key = match &edit.bridge {
        Some(ch) => {
            super::reverse::check_answer(user, host, ch)
                .map_err(|m| DeployError::new(step, "reverse_mismatch", m))?;
            Some(super::reverse::plan_bridge(
                base.model.as_ref(),
                user,
                host,
                step,
            )?)
        }
        None => None,
    };
    let src = match &base.bytes {
        Some(b) => String::from_utf8_lossy(b).into_owned(),
        None => HEADER.to_string(),
    };
    let toml = edit_text(
        layout,
        ROLE,
        &src,
        &edits(edit, &tag, bridge_key.as_deref()),
        step,
    )?;
    if let (Some(key), Some(ch)) = (&bridge_key, &edit.bridge) {
        ensure_written(&toml, key, ch, step)?;
    }
    Ok(Planned { toml, bridge_key })
}

/// The bridge in `toml` names the server's channel (the editor derives the
/// tag and domain itself from the endpoint's user and host).
fn ensure_written(
    toml: &str,
    key: &str,
    ch: &ReverseChannel,
    step: Step,
) -> Result<(), DeployError> {
    let m = load::parse_client(std::path::Path::new("xp2p-client.toml"), toml)
        .map_err(|p| DeployError::new(step, "internal", p.to_string()))?;
    match m.client.reverse.get(key) {
        Some(b) if b.effective_tag() == ch.tag && b.effective_domain() == ch.domain => Ok(()),
        _ => Err(DeployError::new(
            step,
            "reverse_mismatch",
            format!(
                "client.reverse.{key} would not name the server's channel `{}`",
                ch.domain
            ),
        )),
    }
}

/// The typed edits of a client deploy, in the order they are written.
fn edits(edit: &ClientEdit, tag: &str, bridge_key: Option<&str>) -> Vec<Edit> {
    let mut edits = Vec::new();
    if let Some(address) = edit.socks {
        edits.push(Edit::SetSocksAddress { address });
    }
    if let Some(mode) = edit.mode {
        let change = match mode {
            Mode::Proxy => ModeChange::Proxy,
            Mode::TunSplit => ModeChange::Split,
            Mode::TunFull => ModeChange::Full {
                tag: Some(tag.to_string()),
            },
        };
        edits.push(Edit::SetMode { role: ROLE, change });
    }
    edits.push(Edit::EndpointAdd(edit.endpoint.clone()));
    if let Some(key) = bridge_key {
        // User and host default to the endpoint's: the name the server derived.
        edits.push(Edit::BridgeAdd {
            key: Some(key.to_string()),
            endpoint_tag: tag.to_string(),
            user: None,
            host: None,
        });
    }
    edits
}

/// What [`commit`] replaced, for [`restore`].
#[derive(Debug, Clone)]
pub struct Written {
    pub previous: Option<Vec<u8>>,
    pub written: Vec<u8>,
    /// The bridge's key, when one was written.
    pub bridge_key: Option<String>,
}

/// Plans on the file as it is now, compiles it, and writes it, under the role lock.
pub fn commit(layout: &Layout, core: &CoreInfo, edit: &ClientEdit) -> Result<Written, DeployError> {
    let step = Step::WritingDesired;
    let _lock = lock_role(layout, ROLE)?;
    let fresh = read_base(layout, step)?;
    let Planned { toml, bridge_key } = plan(layout, &fresh, edit, step)?;
    compile_check(layout, ROLE, core, &toml, step)?;
    let path = layout.desired_toml(ROLE);
    super::desired_io::write_desired(layout, &path, toml.as_bytes()).map_err(|e| {
        DeployError::new(
            step,
            "write_failed",
            format!("cannot write {}: {e}", path.display()),
        )
    })?;
    Ok(Written {
        previous: fresh.bytes,
        written: toml.into_bytes(),
        bridge_key,
    })
}

/// Puts back what [`commit`] replaced, if nobody changed the file since.
pub fn restore(layout: &Layout, w: &Written) -> Result<bool, DeployError> {
    let step = Step::WritingDesired;
    let _lock = lock_role(layout, ROLE)?;
    let path = layout.desired_toml(ROLE);
    if read_toml(layout, ROLE, step)?.as_deref() != Some(w.written.as_slice()) {
        return Ok(false);
    }
    let res = match &w.previous {
        Some(prev) => super::desired_io::write_desired(layout, &path, prev),
        None => std::fs::remove_file(&path),
    };
    res.map_err(|e| {
        DeployError::new(
            step,
            "write_failed",
            format!("cannot restore {}: {e}", path.display()),
        )
    })?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desired::Protocol;
    use crate::desired_io::temp_layout as layout;
    use std::path::Path;

    fn result(server_name: &str) -> DeployResult {
        DeployResult {
            ok: true,
            link: String::new(),
            server_name: server_name.into(),
            cert_sha256: "ab".repeat(32),
            validate_port: 1,
            echo_port: 2,
            reverse: None,
        }
    }

    fn edit(host: &str, mode: Option<Mode>) -> ClientEdit {
        let link = TunnelLink::parse(&format!(
            "trojan://cred@{host}:4443?security=tls&sni={host}&type=tcp#alice"
        ))
        .unwrap();
        ClientEdit {
            endpoint: deployed_endpoint(host, "alice", &link, &result(host)).unwrap(),
            mode,
            socks: None,
            bridge: None,
        }
    }

    fn base(src: Option<&str>) -> ClientBase {
        ClientBase {
            bytes: src.map(|s| s.as_bytes().to_vec()),
            model: src.map(|s| load::parse_client(Path::new("f"), s).unwrap()),
        }
    }

    #[test]
    fn new_file_gets_the_endpoint_with_pin() {
        let (_d, l) = layout();
        let t = plan(
            &l,
            &base(None),
            &edit("vpn.example.com", None),
            Step::WritingDesired,
        )
        .unwrap()
        .toml;
        assert!(t.starts_with("# Written by `xp2p client deploy`"), "{t}");
        let m = load::parse_client(Path::new("f"), &t).unwrap();
        let e = &m.client.endpoints[0];
        assert_eq!(e.effective_tag(), "proxy-vpn-example-com");
        assert_eq!(
            (e.hostname.as_str(), e.address.as_str(), e.port.0),
            ("vpn.example.com", "vpn.example.com", 4443)
        );
        assert_eq!((e.user.as_str(), e.password.as_str()), ("alice", "cred"));
        assert_eq!(e.server_name, None);
        assert!(e.allow_insecure);
        assert_eq!(e.pinned_peer_cert_sha256, "ab".repeat(32));
        assert!(!m.client.tun_enabled);
    }

    #[test]
    fn the_endpoint_is_the_dialed_host_with_the_reported_name_and_pin() {
        // The server names itself differently (an existing `host`) and its link
        // carries the vision flow: the client dials what it dialed, presents the
        // server's name and pins what the server reported.
        let id = "0b6f8a3e-7b5c-4a0e-9d7f-1c2b3a4d5e6f";
        let link = TunnelLink::parse(&format!(
            "vless://{id}@10.0.0.1:4443?allowInsecure=1&encryption=none&flow=xtls-rprx-vision&pinnedPeerCertSha256={}&security=tls&sni=vpn.example.com&type=tcp#alice",
            "cd".repeat(32)
        ))
        .unwrap();
        let e = deployed_endpoint("10.0.0.1", "bob", &link, &result("vpn.example.com")).unwrap();
        assert_eq!(e.effective_tag(), "proxy-10-0-0-1");
        assert_eq!(
            (e.hostname.as_str(), e.address.as_str()),
            ("10.0.0.1", "10.0.0.1")
        );
        assert_eq!(e.server_name.as_deref(), Some("vpn.example.com"));
        assert_eq!(
            (e.protocol, e.flow.as_str()),
            (Protocol::Vless, "xtls-rprx-vision")
        );
        assert_eq!((e.user.as_str(), e.password.as_str()), ("bob", id));
        assert_eq!(e.pinned_peer_cert_sha256, "ab".repeat(32));
        // What the endpoint model cannot carry is refused, not written.
        let ws = TunnelLink::parse("trojan://p@h.example:1?security=tls&type=ws").unwrap();
        let err = deployed_endpoint("h.example", "u", &ws, &result("h.example")).unwrap_err();
        assert!(err.message.contains("`ws`"), "{err}");
    }

    #[test]
    fn existing_endpoints_and_comments_stay_and_tags_must_be_free() {
        let (_d, l) = layout();
        let src = "# keep me\n[client]\nsocks_address = \"127.0.0.1:1080\" # mine\n\n[[client.endpoints]]\nhostname = \"a.example\"\naddress = \"a.example\"\nport = 1\nuser = \"u\"\npassword = \"p\"\n";
        let b = base(Some(src));
        let t = plan(
            &l,
            &b,
            &edit("b.example", Some(Mode::TunFull)),
            Step::WritingDesired,
        )
        .unwrap()
        .toml;
        assert!(t.starts_with("# keep me\n"));
        assert!(
            t.contains("socks_address = \"127.0.0.1:1080\" # mine\n"),
            "{t}"
        );
        let m = load::parse_client(Path::new("f"), &t).unwrap();
        let tags: Vec<_> = m
            .client
            .endpoints
            .iter()
            .map(|e| e.effective_tag())
            .collect();
        assert_eq!(tags, ["proxy-a-example", "proxy-b-example"]);
        assert_eq!(m.client.socks_address.port(), 1080);
        assert!(m.client.tun_enabled);
        assert_eq!(m.client.tun_mode, TunMode::Full);
        assert_eq!(m.client.full_tunnel_tag, "proxy-b-example");
        assert_eq!(current_mode(&b), Mode::Proxy);
        let err = plan(&l, &b, &edit("A.example", None), Step::WritingDesired).unwrap_err();
        assert_eq!(err.code, "endpoint_exists");
    }

    #[test]
    fn the_socks_address_is_set_in_place() {
        let (_d, l) = layout();
        let src = "[client]\n# local apps\nsocks_address = \"127.0.0.1:1080\" # mine\n";
        let e = ClientEdit {
            socks: Some("127.0.0.1:2080".parse().unwrap()),
            ..edit("b.example", Some(Mode::Proxy))
        };
        let t = plan(&l, &base(Some(src)), &e, Step::WritingDesired)
            .unwrap()
            .toml;
        assert!(
            t.starts_with("[client]\n# local apps\nsocks_address = \"127.0.0.1:2080\" # mine\n"),
            "{t}"
        );
        let m = load::parse_client(Path::new("f"), &t).unwrap();
        assert_eq!(m.client.socks_address.port(), 2080);
        assert!(!m.client.tun_enabled);
    }

    fn channel(user: &str, host: &str) -> ReverseChannel {
        let name = crate::reverse::name(user, host);
        ReverseChannel {
            key: "srv-key".into(),
            tag: name.clone(),
            domain: name,
        }
    }

    #[test]
    fn the_bridge_goes_through_the_new_endpoint_and_names_the_server_channel() {
        let (_d, l) = layout();
        let e = ClientEdit {
            bridge: Some(channel("alice", "vpn.example.com")),
            ..edit("vpn.example.com", None)
        };
        let p = plan(&l, &base(None), &e, Step::WritingDesired).unwrap();
        assert_eq!(p.bridge_key.as_deref(), Some("vpn-example-com"));
        let m = load::parse_client(Path::new("f"), &p.toml).unwrap();
        let b = &m.client.reverse["vpn-example-com"];
        assert_eq!(b.endpoint_tag, "proxy-vpn-example-com");
        assert_eq!(
            (b.user_id.as_str(), b.host.as_str()),
            ("alice", "vpn.example.com")
        );
        assert_eq!(b.effective_tag(), "alicevpn-example-com.rev");
        assert_eq!(b.effective_domain(), "alicevpn-example-com.rev");
        assert!(!b.disabled);
        // An existing bridge keyed so pushes ours aside; one with our name refuses.
        let other = "[client]\n\n[client.reverse.vpn-example-com]\nuser_id = \"bob\"\nhost = \"vpn.example.com\"\nendpoint_tag = \"proxy-x\"\n";
        let p = plan(&l, &base(Some(other)), &e, Step::WritingDesired).unwrap();
        assert_eq!(p.bridge_key.as_deref(), Some("vpn-example-com-2"));
        let same = other.replace("bob", "alice");
        let err = plan(&l, &base(Some(&same)), &e, Step::WritingDesired).unwrap_err();
        assert_eq!(err.code, "reverse_exists");
    }

    #[test]
    fn a_server_channel_for_another_name_is_refused_and_no_bridge_without_one() {
        let (_d, l) = layout();
        let e = ClientEdit {
            bridge: Some(channel("alice", "other.example.com")),
            ..edit("vpn.example.com", None)
        };
        let err = plan(&l, &base(None), &e, Step::WritingDesired).unwrap_err();
        assert_eq!(err.code, "reverse_mismatch");
        let p = plan(
            &l,
            &base(None),
            &edit("vpn.example.com", None),
            Step::WritingDesired,
        )
        .unwrap();
        assert_eq!(p.bridge_key, None);
        assert!(!p.toml.contains("reverse"), "{}", p.toml);
    }

    #[test]
    fn restore_after_a_commit_takes_the_endpoint_and_the_bridge_back() {
        let (_d, l) = layout();
        let p = l.desired_toml(ROLE);
        let before = "# mine\n[client]\n";
        std::fs::write(&p, before).unwrap();
        let e = ClientEdit {
            bridge: Some(channel("alice", "vpn.example.com")),
            ..edit("vpn.example.com", None)
        };
        // The compile is pure: the core is only described.
        let core = CoreInfo {
            path: "/usr/bin/v2ray".into(),
            flavour: xp2p_core::coreproc::Flavour::V2ray,
            version: "4.34.0".into(),
        };
        let w = commit(&l, &core, &e).unwrap();
        assert_eq!(w.bridge_key.as_deref(), Some("vpn-example-com"));
        let m = load::parse_client(Path::new("f"), &std::fs::read_to_string(&p).unwrap()).unwrap();
        assert_eq!(m.client.endpoints.len(), 1);
        assert_eq!(
            m.client.reverse["vpn-example-com"].endpoint_tag,
            "proxy-vpn-example-com"
        );
        // The server then fails: both go, in one write.
        assert!(restore(&l, &w).unwrap());
        assert_eq!(std::fs::read_to_string(&p).unwrap(), before);
    }

    #[test]
    fn restore_puts_back_only_our_own_write() {
        let (_d, l) = layout();
        let p = l.desired_toml(ROLE);
        std::fs::write(&p, "new").unwrap();
        let w = Written {
            previous: None,
            written: b"new".to_vec(),
            bridge_key: None,
        };
        assert!(restore(&l, &w).unwrap());
        assert!(!p.exists());
        std::fs::write(&p, "edited by someone").unwrap();
        assert!(!restore(&l, &w).unwrap());
        assert!(p.exists());
    }
}
