//! The client's side of Desired for a deploy: the endpoint the server's result
//! describes, appended to `xp2p-client.toml` (created when missing; existing
//! endpoints, comments and layout kept), the mode and SOCKS address when asked,
//! the commit under the role lock, and the restore if the server then fails.

use std::net::SocketAddr;

use toml_edit::{DocumentMut, Table, value};

use crate::desired::mode::{ModeChange, write_keys};

use super::desired_io::{compile_check, lock_role, read_toml};
use super::error::DeployError;
use super::progress::{Mode, Step};
use super::server_desired::push_table;
use crate::desired::names::endpoint_tag_for;
use crate::desired::{ClientDesired, Protocol, TunMode, load};
use crate::layout::Layout;
use crate::role::Role;
use xp2p_core::coreproc::CoreInfo;

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

/// The endpoint a deploy adds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEndpoint {
    pub hostname: String,
    pub address: String,
    pub port: u16,
    pub protocol: Protocol,
    pub user: String,
    pub credential: String,
    /// Only when it differs from the hostname.
    pub server_name: Option<String>,
    pub pin_sha256: String,
    pub flow: Option<String>,
}

impl NewEndpoint {
    pub fn tag(&self) -> String {
        endpoint_tag_for(&self.hostname)
    }
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
    pub endpoint: NewEndpoint,
    /// `None` keeps the current mode.
    pub mode: Option<Mode>,
    /// `None` keeps the current SOCKS address (the default for a new file).
    pub socks: Option<SocketAddr>,
}

fn protocol_str(p: Protocol) -> &'static str {
    match p {
        Protocol::Trojan => "trojan",
        Protocol::Vless => "vless",
    }
}

/// The candidate TOML: `base` with the endpoint appended.
pub fn plan(base: &ClientBase, edit: &ClientEdit, step: Step) -> Result<String, DeployError> {
    let tag = edit.endpoint.tag();
    ensure_tag_free(base, &tag, step)?;
    let src = match &base.bytes {
        Some(b) => String::from_utf8_lossy(b).into_owned(),
        None => HEADER.to_string(),
    };
    apply_edit(&src, edit, &tag).map_err(|e| DeployError::new(step, "invalid_desired", e))
}

fn apply_edit(src: &str, edit: &ClientEdit, tag: &str) -> Result<String, String> {
    let mut doc: DocumentMut = src
        .parse()
        .map_err(|e| format!("cannot edit xp2p-client.toml: {e}"))?;
    let client = doc
        .entry("client")
        .or_insert(toml_edit::table())
        .as_table_like_mut()
        .ok_or("[client] is not a table")?;
    if let Some(s) = edit.socks {
        client.insert("socks_address", value(s.to_string()));
    }
    if let Some(mode) = edit.mode {
        let change = match mode {
            Mode::Proxy => ModeChange::Proxy,
            Mode::TunSplit => ModeChange::Split,
            Mode::TunFull => ModeChange::Full {
                tag: Some(tag.to_string()),
            },
        };
        write_keys(client, &change);
    }
    let e = &edit.endpoint;
    let mut t = Table::new();
    t.insert("hostname", value(e.hostname.as_str()));
    t.insert("address", value(e.address.as_str()));
    t.insert("port", value(i64::from(e.port)));
    t.insert("protocol", value(protocol_str(e.protocol)));
    t.insert("user", value(e.user.as_str()));
    t.insert("password", value(e.credential.as_str()));
    if let Some(sni) = &e.server_name {
        t.insert("server_name", value(sni.as_str()));
    }
    // Self-signed is the norm for deployed servers; the pin is what authenticates.
    t.insert("allow_insecure", value(true));
    if !e.pin_sha256.is_empty() {
        t.insert("pinned_peer_cert_sha256", value(e.pin_sha256.as_str()));
    }
    if let Some(f) = &e.flow {
        t.insert("flow", value(f.as_str()));
    }
    push_table(client, "endpoints", t)?;
    Ok(doc.to_string())
}

/// What [`commit`] replaced, for [`restore`].
#[derive(Debug, Clone)]
pub struct Written {
    pub previous: Option<Vec<u8>>,
    pub written: Vec<u8>,
}

/// Plans on the file as it is now, compiles it, and writes it, under the role lock.
pub fn commit(layout: &Layout, core: &CoreInfo, edit: &ClientEdit) -> Result<Written, DeployError> {
    let step = Step::WritingDesired;
    let _lock = lock_role(layout, ROLE)?;
    let fresh = read_base(layout, step)?;
    let toml = plan(&fresh, edit, step)?;
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
    use std::path::Path;

    fn edit(host: &str, mode: Option<Mode>) -> ClientEdit {
        ClientEdit {
            endpoint: NewEndpoint {
                hostname: host.into(),
                address: host.into(),
                port: 4443,
                protocol: Protocol::Trojan,
                user: "alice".into(),
                credential: "cred".into(),
                server_name: None,
                pin_sha256: "ab".repeat(32),
                flow: None,
            },
            mode,
            socks: None,
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
        let t = plan(
            &base(None),
            &edit("vpn.example.com", None),
            Step::WritingDesired,
        )
        .unwrap();
        let m = load::parse_client(Path::new("f"), &t).unwrap();
        let e = &m.client.endpoints[0];
        assert_eq!(e.effective_tag(), "proxy-vpn-example-com");
        assert!(e.allow_insecure);
        assert_eq!(e.pinned_peer_cert_sha256, "ab".repeat(32));
        assert!(!m.client.tun_enabled);
    }

    #[test]
    fn existing_endpoints_and_comments_stay_and_tags_must_be_free() {
        let src = "# keep me\n[client]\nsocks_address = \"127.0.0.1:1080\"\n\n[[client.endpoints]]\nhostname = \"a.example\"\naddress = \"a.example\"\nport = 1\nuser = \"u\"\npassword = \"p\"\n";
        let b = base(Some(src));
        let t = plan(
            &b,
            &edit("b.example", Some(Mode::TunFull)),
            Step::WritingDesired,
        )
        .unwrap();
        assert!(t.starts_with("# keep me\n"));
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
        let err = plan(&b, &edit("A.example", None), Step::WritingDesired).unwrap_err();
        assert_eq!(err.code, "endpoint_exists");
    }

    #[test]
    fn restore_puts_back_only_our_own_write() {
        let d = tempfile::tempdir().unwrap();
        let l = Layout::new(d.path(), d.path().join("logs"));
        let p = l.desired_toml(ROLE);
        std::fs::write(&p, "new").unwrap();
        let w = Written {
            previous: None,
            written: b"new".to_vec(),
        };
        assert!(restore(&l, &w).unwrap());
        assert!(!p.exists());
        std::fs::write(&p, "edited by someone").unwrap();
        assert!(!restore(&l, &w).unwrap());
        assert!(p.exists());
    }
}
