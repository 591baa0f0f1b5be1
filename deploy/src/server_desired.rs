//! The server's side of Desired for a deploy: what the server will look like
//! (its [`ServerShape`]: name, profile, port, certificate), the candidate TOML with
//! the new user (and, unless the client sent `--no-reverse`, its reverse
//! channel) appended by the one Desired editor in one batch (typed edits;
//! comments and layout of an existing file kept), and the commit under the role
//! lock once the client confirmed.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use super::DEFAULT_TROJAN_PORT;
use super::cert::{self, GeneratedCert};
use super::desired_io::{compile_check, edit_text, lock_role};
use super::error::DeployError;
use super::progress::Step;
use crate::desired::{Port, ServerDesired, ServerProfile, ServerSection, load};
use crate::layout::Layout;
use crate::link::{Manifest, ReverseChannel};
use crate::role::Role;
use xp2p_core::coreproc::CoreInfo;
use xp2p_core::desired::edit::Edit;
use xp2p_store::atomic::write_atomic;

const ROLE: Role = Role::Server;
const HEADER: &str =
    "# Written by `xp2p server deploy`. Edit freely; see formats.md.\n\n[server]\n";

/// The server's Desired as found before the deploy.
pub type ServerBase = super::desired_io::DesiredBase<ServerDesired>;

/// Reads and parses `xp2p-server.toml` (absent is fine; unparsable is not).
pub fn read_base(layout: &Layout, step: Step) -> Result<ServerBase, DeployError> {
    super::desired_io::read_base(layout, ROLE, step, load::parse_server)
}

/// The core the server's Desired names (or discovery finds).
pub fn find_core(layout: &Layout, base: &ServerBase) -> Result<CoreInfo, DeployError> {
    let configured = base.model.as_ref().map_or("", |m| m.core.path.as_str());
    super::desired_io::find_core(layout, configured, Step::WaitingForClient)
}

/// What the client will connect to; must not change between validation and commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerShape {
    pub server_name: String,
    pub profile: ServerProfile,
    pub trojan_port: u16,
    pub listen: IpAddr,
    pub cert_path: PathBuf,
    pub key_path: PathBuf,
    pub cert_sha256: String,
}

/// A planned server Desired.
#[derive(Debug, Clone)]
pub struct ServerCandidate {
    pub shape: ServerShape,
    pub toml: String,
    /// Set when the certificate and key are to be written too.
    pub generated: Option<GeneratedCert>,
    /// The reverse channel written with the user (what the client is told).
    pub channel: Option<ReverseChannel>,
}

/// The new user.
pub struct NewUser<'a> {
    pub label: &'a str,
    pub credential: &'a str,
}

fn parse_profile(p: Option<&str>) -> Result<ServerProfile, String> {
    match p {
        None | Some("") | Some("trojan-tls") => Ok(ServerProfile::TrojanTls),
        Some("vless-tls") => Ok(ServerProfile::VlessTls),
        Some("vless-tls-vision") => Ok(ServerProfile::VlessTlsVision),
        Some(other) => Err(format!("unknown profile `{other}`")),
    }
}

/// Plans the server after the deploy. `generated` reuses a certificate made by an
/// earlier plan of the same session (so commit re-plans to the same shape).
pub fn plan(
    layout: &Layout,
    base: &ServerBase,
    manifest: &Manifest,
    user: &NewUser<'_>,
    generated: Option<&GeneratedCert>,
) -> Result<ServerCandidate, DeployError> {
    let step = Step::ServerInstalling;
    let fail = |code: &str, msg: String| DeployError::new(step, code, msg);
    let existing = base.model.as_ref().map(|m| &m.server);
    let defaults = ServerSection::default();
    let s = existing.unwrap_or(&defaults);
    let server_name = match existing {
        Some(s) if !s.host.is_empty() => s.host.clone(),
        _ => manifest.host.clone(),
    };
    let (profile, trojan_port) = match existing {
        Some(s) => (s.profile, s.trojan_port.0),
        None => (
            parse_profile(manifest.profile.as_deref()).map_err(|e| fail("bad_manifest", e))?,
            manifest.trojan_port.unwrap_or(DEFAULT_TROJAN_PORT),
        ),
    };
    if trojan_port == 0 {
        return Err(fail("bad_manifest", "trojan_port must be 1-65535".into()));
    }
    if s.users
        .iter()
        .any(|u| u.user_label.eq_ignore_ascii_case(user.label))
    {
        return Err(fail(
            "user_exists",
            format!(
                "user `{}` already exists on this server; remove it from xp2p-server.toml or deploy with another --user",
                user.label
            ),
        ));
    }
    let channel = manifest
        .reverse
        .then(|| {
            super::reverse::plan_channel(base.model.as_ref(), user.label, &manifest.host, step)
        })
        .transpose()?;
    let cert_path = layout.resolve_asset(&s.certificate);
    let key_path = layout.resolve_asset(&s.key);
    let (cert_sha256, generated) = match (cert_path.is_file(), key_path.is_file()) {
        (true, true) => {
            let pem = xp2p_platform::fsread::read_operator_file(
                &cert_path,
                xp2p_platform::fsread::MAX_PEM,
            )
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .map_err(|e| fail("cert_unreadable", e.to_string()))?;
            let sha = cert::pem_cert_sha256(&pem).ok_or_else(|| {
                fail(
                    "cert_unreadable",
                    format!("{} holds no PEM certificate", cert_path.display()),
                )
            })?;
            (sha, None)
        }
        (false, false) => {
            let g = match generated {
                Some(g) => g.clone(),
                None => cert::generate(&server_name).map_err(|e| fail("cert_failed", e))?,
            };
            (g.sha256.clone(), Some(g))
        }
        _ => {
            return Err(fail(
                "cert_incomplete",
                format!(
                    "only one of {} and {} exists; restore the pair or remove both",
                    cert_path.display(),
                    key_path.display()
                ),
            ));
        }
    };
    let src = match &base.bytes {
        Some(b) => String::from_utf8_lossy(b).into_owned(),
        None => HEADER.to_string(),
    };
    let new_fields = existing
        .is_none()
        .then_some((manifest.host.as_str(), trojan_port, profile));
    let toml = edit_text(
        layout,
        ROLE,
        &src,
        &edits(new_fields, user, channel.as_ref(), &manifest.host),
        step,
    )?;
    if let Some(c) = &channel {
        ensure_written(&toml, c, step)?;
    }
    Ok(ServerCandidate {
        shape: ServerShape {
            server_name,
            profile,
            trojan_port,
            listen: s.listen,
            cert_path,
            key_path,
            cert_sha256,
        },
        toml,
        generated,
        channel,
    })
}

/// The channel in `toml` names what the client is told (the editor derives
/// the tag and domain itself; a difference would leave the bridge unmatched).
fn ensure_written(toml: &str, c: &ReverseChannel, step: Step) -> Result<(), DeployError> {
    let m = load::parse_server(Path::new("xp2p-server.toml"), toml)
        .map_err(|p| DeployError::new(step, "internal", p.to_string()))?;
    match m.server.reverse_channels.get(&c.key) {
        Some(w) if w.effective_tag() == c.tag && w.effective_domain() == c.domain => Ok(()),
        _ => Err(DeployError::new(
            step,
            "internal",
            format!(
                "server.reverse_channels.{} was not written as planned ({})",
                c.key, c.domain
            ),
        )),
    }
}

/// The edits of a deploy: the user and its reverse channel (at the host the
/// client dialed, as the client's endpoint names it), and, for a new file,
/// host, port and profile (`diag_port` moves aside when the trojan port takes
/// its default).
fn edits(
    new_fields: Option<(&str, u16, ServerProfile)>,
    user: &NewUser<'_>,
    channel: Option<&ReverseChannel>,
    dialed: &str,
) -> Vec<Edit> {
    let mut edits = Vec::new();
    if let Some((host, port, profile)) = new_fields {
        edits.push(Edit::SetHost {
            host: host.to_string(),
        });
        edits.push(Edit::SetTrojanPort { port: Port(port) });
        if port == ServerSection::default().diag_port.0 {
            edits.push(Edit::SetDiagPort {
                port: Port(port.saturating_add(1)),
            });
        }
        edits.push(Edit::SetProfile { profile });
    }
    edits.push(Edit::UserAdd {
        label: user.label.to_string(),
        credential: user.credential.to_string(),
    });
    if let Some(c) = channel {
        edits.push(Edit::ChannelAdd {
            key: Some(c.key.clone()),
            user: user.label.to_string(),
            host: Some(dialed.to_string()),
        });
    }
    edits
}

/// Writes a generated pair into `dir` (for the temporary core and the check).
pub fn stage_cert(dir: &Path, g: &GeneratedCert) -> Result<(PathBuf, PathBuf), DeployError> {
    let (c, k) = (dir.join("cert.pem"), dir.join("key.pem"));
    let io =
        |e: std::io::Error| DeployError::new(Step::ServerInstalling, "internal", e.to_string());
    std::fs::write(&c, &g.cert_pem).map_err(io)?;
    cert::write_private(&k, g.key_pem.as_bytes()).map_err(io)?;
    Ok((c, k))
}

/// Compiles the candidate as the server's Desired; `staged` names where a
/// generated certificate sits meanwhile.
pub fn check(
    layout: &Layout,
    core: &CoreInfo,
    cand: &ServerCandidate,
    staged: Option<&(PathBuf, PathBuf)>,
    step: Step,
) -> Result<(), DeployError> {
    let toml = match staged {
        Some((c, k)) => {
            let at_staged = Edit::SetCert {
                certificate: c.display().to_string(),
                key: k.display().to_string(),
            };
            edit_text(layout, ROLE, &cand.toml, &[at_staged], step)?
        }
        None => cand.toml.clone(),
    };
    compile_check(layout, ROLE, core, &toml, step)
}

/// What the session validated, for [`commit`].
pub struct Validated<'a> {
    pub base: &'a ServerBase,
    pub candidate: &'a ServerCandidate,
    pub manifest: &'a Manifest,
    pub user: NewUser<'a>,
    pub staged: Option<&'a (PathBuf, PathBuf)>,
}

/// Writes the certificate (if generated) and the TOML under the role lock. If
/// the file changed since the session read it, the user is added to the new
/// content instead, provided the server still looks the same to the client.
pub fn commit(layout: &Layout, core: &CoreInfo, v: &Validated<'_>) -> Result<(), DeployError> {
    let step = Step::WritingDesired;
    let _lock = lock_role(layout, ROLE)?;
    let fresh = read_base(layout, step)?;
    let cand = if fresh.bytes == v.base.bytes {
        v.candidate.clone()
    } else {
        let c = plan(
            layout,
            &fresh,
            v.manifest,
            &v.user,
            v.candidate.generated.as_ref(),
        )
        .map_err(|e| DeployError { step, ..e })?;
        if c.shape != v.candidate.shape {
            return Err(DeployError::new(
                step,
                "conflict",
                "xp2p-server.toml changed during the deploy (host, profile, port or certificate); nothing was written",
            ));
        }
        if c.channel != v.candidate.channel {
            return Err(DeployError::new(
                step,
                "conflict",
                "xp2p-server.toml changed during the deploy (its reverse channels); nothing was written",
            ));
        }
        check(layout, core, &c, v.staged, step)?;
        c
    };
    let io = |what: &Path, e: std::io::Error| {
        DeployError::new(
            step,
            "write_failed",
            format!("cannot write {}: {e}", what.display()),
        )
    };
    if let Some(g) = &cand.generated {
        if cand.shape.cert_path.exists() || cand.shape.key_path.exists() {
            return Err(DeployError::new(
                step,
                "conflict",
                "a server certificate appeared during the deploy; nothing was written",
            ));
        }
        cert::write_private(&cand.shape.key_path, g.key_pem.as_bytes())
            .map_err(|e| io(&cand.shape.key_path, e))?;
        if let Err(e) = write_atomic(&cand.shape.cert_path, g.cert_pem.as_bytes()) {
            let _ = std::fs::remove_file(&cand.shape.key_path);
            return Err(io(&cand.shape.cert_path, e));
        }
    }
    let path = layout.desired_toml(ROLE);
    if let Err(e) = super::desired_io::write_desired(layout, &path, cand.toml.as_bytes()) {
        if cand.generated.is_some() {
            let _ = std::fs::remove_file(&cand.shape.cert_path);
            let _ = std::fs::remove_file(&cand.shape.key_path);
        }
        return Err(io(&path, e));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desired_io::temp_layout as layout;

    fn manifest() -> Manifest {
        Manifest {
            host: "vpn.example.com".into(),
            trojan_port: Some(4443),
            user: "alice".into(),
            profile: None,
            mode: "proxy".into(),
            reverse: true,
        }
    }

    const USER: NewUser<'static> = NewUser {
        label: "alice",
        credential: "0b6f8a3e-7b5c-4a0e-9d7f-1c2b3a4d5e6f",
    };

    #[test]
    fn new_server_gets_host_port_user_and_a_generated_cert() {
        let (_d, l) = layout();
        let base = read_base(&l, Step::ServerInstalling).unwrap();
        let c = plan(&l, &base, &manifest(), &USER, None).unwrap();
        let m = load::parse_server(Path::new("f"), &c.toml).unwrap();
        assert_eq!(m.server.host, "vpn.example.com");
        assert_eq!(m.server.trojan_port.0, 4443);
        assert_eq!(m.server.users[0].user_label, "alice");
        assert!(c.toml.starts_with("# Written by `xp2p server deploy`"));
        // The user's reverse channel, in the same batch, at the dialed host.
        let ch = c.channel.as_ref().unwrap();
        assert_eq!(
            (ch.key.as_str(), ch.tag.as_str(), ch.domain.as_str()),
            (
                "alice",
                "alicevpn-example-com.rev",
                "alicevpn-example-com.rev"
            )
        );
        let w = &m.server.reverse_channels["alice"];
        assert_eq!(
            (w.user_id.as_str(), w.host.as_str()),
            ("alice", "vpn.example.com")
        );
        assert_eq!(w.effective_domain(), ch.domain);
        assert!(!w.disabled);
        let g = c.generated.as_ref().unwrap();
        assert_eq!(c.shape.cert_sha256, g.sha256);
        // Re-planning with the same certificate gives the same shape.
        let again = plan(&l, &base, &manifest(), &USER, Some(g)).unwrap();
        assert_eq!(again.shape, c.shape);
    }

    #[test]
    fn existing_server_keeps_comments_port_and_refuses_duplicate_users() {
        let (d, l) = layout();
        let src = "# mine\n[server]\nhost = \"h.example\"\ntrojan_port = 9443 # keep\n\n[[server.users]]\nuser_label = \"bob\"\ncredential = \"x\"\n";
        std::fs::write(d.path().join("xp2p-server.toml"), src).unwrap();
        let base = read_base(&l, Step::ServerInstalling).unwrap();
        let c = plan(&l, &base, &manifest(), &USER, None).unwrap();
        assert!(c.toml.starts_with("# mine\n"));
        assert!(c.toml.contains("trojan_port = 9443 # keep"));
        let m = load::parse_server(Path::new("f"), &c.toml).unwrap();
        assert_eq!(m.server.trojan_port.0, 9443);
        assert_eq!(c.shape.server_name, "h.example");
        let labels: Vec<_> = m
            .server
            .users
            .iter()
            .map(|u| u.user_label.as_str())
            .collect();
        assert_eq!(labels, ["bob", "alice"]);
        // The channel names the host the client dialed, not the server's own
        // `host`: the client's bridge derives its domain from what it dialed.
        let ch = &m.server.reverse_channels["alice"];
        assert_eq!(ch.host, "vpn.example.com");
        assert_eq!(ch.effective_domain(), "alicevpn-example-com.rev");
        let bob = NewUser {
            label: "BOB",
            credential: "y",
        };
        assert_eq!(
            plan(&l, &base, &manifest(), &bob, None).unwrap_err().code,
            "user_exists"
        );
    }

    #[test]
    fn no_reverse_writes_no_channel() {
        let (_d, l) = layout();
        let base = read_base(&l, Step::ServerInstalling).unwrap();
        let m = Manifest {
            reverse: false,
            ..manifest()
        };
        let c = plan(&l, &base, &m, &USER, None).unwrap();
        assert_eq!(c.channel, None);
        assert!(!c.toml.contains("reverse"), "{}", c.toml);
        let parsed = load::parse_server(Path::new("f"), &c.toml).unwrap();
        assert!(parsed.server.reverse_channels.is_empty());
    }

    #[test]
    fn a_channel_already_named_so_refuses_the_deploy() {
        let (d, l) = layout();
        let src = "[server]\nhost = \"h.example\"\n\n[[server.users]]\nuser_label = \"a.b\"\ncredential = \"x\"\n\n[server.reverse_channels.a-b]\nuser_id = \"a.b\"\nhost = \"vpn.example.com\"\n";
        std::fs::write(d.path().join("xp2p-server.toml"), src).unwrap();
        let base = read_base(&l, Step::ServerInstalling).unwrap();
        let user = NewUser {
            label: "a-b",
            credential: "y",
        };
        let e = plan(&l, &base, &manifest(), &user, None).unwrap_err();
        assert_eq!(e.code, "reverse_exists");
        assert!(e.message.contains("--no-reverse"), "{e:?}");
        let m = Manifest {
            reverse: false,
            ..manifest()
        };
        assert!(plan(&l, &base, &m, &user, None).is_ok());
    }

    #[test]
    fn commit_refuses_when_the_channel_key_was_taken_meanwhile() {
        let (d, l) = layout();
        let path = d.path().join("xp2p-server.toml");
        let src = "[server]\nhost = \"vpn.example.com\"\n";
        std::fs::write(&path, src).unwrap();
        let base = read_base(&l, Step::ServerInstalling).unwrap();
        let cand = plan(&l, &base, &manifest(), &USER, None).unwrap();
        assert_eq!(cand.channel.as_ref().unwrap().key, "alice");
        // Meanwhile an operator adds bob with a channel keyed `alice`.
        let changed = format!(
            "{src}\n[[server.users]]\nuser_label = \"bob\"\ncredential = \"x\"\n\n[server.reverse_channels.alice]\nuser_id = \"bob\"\nhost = \"vpn.example.com\"\n"
        );
        std::fs::write(&path, &changed).unwrap();
        let core = CoreInfo {
            path: "/usr/bin/v2ray".into(),
            flavour: xp2p_core::coreproc::Flavour::V2ray,
            version: "4.34.0".into(),
        };
        let m = manifest();
        let e = commit(
            &l,
            &core,
            &Validated {
                base: &base,
                candidate: &cand,
                manifest: &m,
                user: USER,
                staged: None,
            },
        )
        .unwrap_err();
        assert_eq!(e.code, "conflict", "{e:?}");
        assert!(e.message.contains("reverse channels"), "{e:?}");
        // Nothing was written: neither the user nor its channel, nor a certificate.
        assert_eq!(std::fs::read_to_string(&path).unwrap(), changed);
        assert!(!cand.shape.cert_path.exists() && !cand.shape.key_path.exists());
    }

    #[test]
    fn inline_users_array_is_extended() {
        let (d, l) = layout();
        let src = "[server]\nusers = [{user_label = \"b\", credential = \"c\"}] # two\n";
        std::fs::write(d.path().join("xp2p-server.toml"), src).unwrap();
        let base = read_base(&l, Step::ServerInstalling).unwrap();
        let t = plan(&l, &base, &manifest(), &USER, None).unwrap().toml;
        assert!(t.contains("# two"), "{t}");
        let m = load::parse_server(Path::new("f"), &t).unwrap();
        assert_eq!(m.server.users.len(), 2);
        assert_eq!(m.server.users[1].credential, USER.credential);
    }

    #[test]
    fn a_trojan_port_on_the_default_diag_port_moves_diag_aside() {
        let (_d, l) = layout();
        let base = read_base(&l, Step::ServerInstalling).unwrap();
        let diag = ServerSection::default().diag_port.0;
        let m = Manifest {
            trojan_port: Some(diag),
            profile: Some("vless-tls".into()),
            reverse: false,
            ..manifest()
        };
        let c = plan(&l, &base, &m, &USER, None).unwrap();
        let parsed = load::parse_server(Path::new("f"), &c.toml).unwrap();
        assert_eq!(parsed.server.trojan_port.0, diag);
        assert_eq!(parsed.server.diag_port.0, diag + 1);
        assert_eq!(parsed.server.profile, ServerProfile::VlessTls);
        // The keys deploy writes, in its order, and nothing else.
        let keys: Vec<&str> = c
            .toml
            .lines()
            .filter_map(|l| l.split_once(" = ").map(|(k, _)| k))
            .collect();
        assert_eq!(
            keys,
            [
                "host",
                "trojan_port",
                "diag_port",
                "profile",
                "user_label",
                "credential",
                "created_at"
            ]
        );
    }
}
