//! `xp2p export` / `xp2p import`: what a role's archive holds (Desired TOML,
//! snippets, the server's certificate and key, `manifest.json`), and taking
//! one back — parsed as hostile input, validated as a whole by the same
//! loader, validator and compiler as an apply *before* anything is written,
//! then written under each role's lock (keys 0600, Desired keeping the mode
//! and owner of the file it replaces).
//!
//! Archive layout (paths mirror CONFIG_ROOT): `manifest.json`,
//! `xp2p-<role>.toml`, `config-<role>/<snippet>`, `tls/server/cert.pem`,
//! `tls/server/key.pem` (the certificate and key the server Desired names,
//! whatever their paths were; the manifest records the original paths).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use xp2p_core::compile::{self, CompileContext};
use xp2p_core::desired::edit::{self, Edit};
use xp2p_core::digest::{DesiredFiles, server_asset_paths, sha256_hex};
use xp2p_core::layout::{Layout, SNIPPET_FILES};
use xp2p_core::role::Role;
use xp2p_platform::fsread::{MAX_PEM, MAX_SNIPPET, MAX_TOML};

use crate::archive::{self, Limits, Member};
use crate::atomic::{write_atomic_mode, write_secret};
use crate::secrets::{SecretAccess, for_layout};

pub const FORMAT: &str = "xp2p-export";
pub const FORMAT_VERSION: u32 = 1;
pub const MANIFEST: &str = "manifest.json";
pub const CERT_MEMBER: &str = "tls/server/cert.pem";
pub const KEY_MEMBER: &str = "tls/server/key.pem";
const MAX_MANIFEST: u64 = 1 << 20;

/// What kind of file a member is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileKind {
    Desired,
    Snippet,
    Certificate,
    Key,
}

/// One member as the manifest lists it (no content: no secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestFile {
    pub path: String,
    pub role: Role,
    pub kind: FileKind,
    pub size: u64,
    pub sha256: String,
    /// Where the file was on the exporting machine (certificate and key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original_path: Option<String>,
}

/// `manifest.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub format_version: u32,
    pub xp2p_version: String,
    /// RFC 3339 UTC.
    pub created: String,
    pub roles: Vec<Role>,
    pub files: Vec<ManifestFile>,
}

fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

fn toml_member(role: Role) -> String {
    format!("xp2p-{role}.toml")
}

fn snippet_member(role: Role, name: &str) -> String {
    format!("config-{role}/{name}")
}

/// Reads the roles' Desired sets (each must pass `compile::check`: an archive
/// of a broken Desired could not be imported) into the archive's members,
/// `manifest.json` first.
pub fn export(layout: &Layout, roles: &[Role]) -> Result<(Manifest, Vec<Member>), String> {
    let mut members = Vec::new();
    let mut files = Vec::new();
    let mut add = |members: &mut Vec<Member>,
                   path: String,
                   role: Role,
                   kind: FileKind,
                   original: Option<String>,
                   bytes: Vec<u8>| {
        files.push(ManifestFile {
            path: path.clone(),
            role,
            kind,
            size: bytes.len() as u64,
            sha256: sha256_hex(&bytes),
            original_path: original,
        });
        members.push(Member::new(path, bytes));
    };
    for &role in roles {
        let desired = crate::digest::read_desired(layout, role)
            .map_err(|e| format!("cannot read the {role} Desired: {e}"))?;
        let Some(toml) = desired.toml.clone() else {
            return Err(format!(
                "{} does not exist (nothing to export for the {role} role)",
                layout.desired_toml(role).display()
            ));
        };
        compile::check(layout, &desired).map_err(|p| {
            format!(
                "the {role} Desired is not valid, fix it before exporting: {}",
                first_line(&p.to_string())
            )
        })?;
        add(
            &mut members,
            toml_member(role),
            role,
            FileKind::Desired,
            None,
            toml.clone(),
        );
        for (name, bytes) in &desired.snippets {
            add(
                &mut members,
                snippet_member(role, name),
                role,
                FileKind::Snippet,
                None,
                bytes.clone(),
            );
        }
        if role == Role::Server {
            let paths = server_asset_paths(&toml);
            for ((path, kind), member) in paths
                .iter()
                .zip([FileKind::Certificate, FileKind::Key])
                .zip([CERT_MEMBER, KEY_MEMBER])
            {
                let key = match kind {
                    FileKind::Certificate => "server.certificate",
                    _ => "server.key",
                };
                let full = layout.resolve_asset(path);
                let bytes = desired
                    .assets
                    .get(path)
                    .cloned()
                    .flatten()
                    .ok_or_else(|| format!("{key}: {} cannot be read", full.display()))?;
                add(
                    &mut members,
                    member.to_string(),
                    role,
                    kind,
                    Some(full.display().to_string()),
                    bytes,
                );
            }
        }
    }
    let manifest = Manifest {
        format: FORMAT.into(),
        format_version: FORMAT_VERSION,
        xp2p_version: xp2p_core::VERSION.into(),
        created: now_rfc3339(),
        roles: roles.to_vec(),
        files,
    };
    let json = serde_json::to_vec_pretty(&manifest).map_err(|e| format!("manifest: {e}"))?;
    members.insert(0, Member::new(MANIFEST, json));
    Ok((manifest, members))
}

fn first_line(s: &str) -> String {
    let mut lines = s.lines();
    let first = lines.next().unwrap_or_default().to_string();
    match lines.count() {
        0 => first,
        n => format!("{first} (and {n} more)"),
    }
}

/// The certificate and key of an imported server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsPair {
    pub cert: Vec<u8>,
    pub key: Vec<u8>,
}

/// One role as an archive brings it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncomingRole {
    pub toml: Vec<u8>,
    pub snippets: BTreeMap<String, Vec<u8>>,
    pub tls: Option<TlsPair>,
}

/// A parsed archive whose members all match the manifest.
#[derive(Debug, Clone)]
pub struct Incoming {
    pub manifest: Manifest,
    pub roles: BTreeMap<Role, IncomingRole>,
}

/// The most a member of that name may hold (`None`: not a name export writes).
fn member_limit(name: &str) -> Option<u64> {
    if name == MANIFEST {
        return Some(MAX_MANIFEST);
    }
    if name == CERT_MEMBER || name == KEY_MEMBER {
        return Some(MAX_PEM);
    }
    for role in Role::ALL {
        if name == toml_member(role) {
            return Some(MAX_TOML);
        }
        if let Some(s) = name.strip_prefix(&format!("config-{role}/"))
            && SNIPPET_FILES.contains(&s)
        {
            return Some(MAX_SNIPPET);
        }
    }
    None
}

/// Bounds of an import: two TOMLs, eight snippets, a key pair and the
/// manifest at their own limits are far below these.
pub const IMPORT_LIMITS: Limits = Limits {
    max_archive: 64 << 20,
    max_total: 96 << 20,
    max_members: 32,
};

/// Reads and checks an archive: every member is one export writes, within
/// its limit, listed in the manifest with its sha256, and every listed file
/// is there. Errors are one line naming the member.
pub fn parse(path: &Path) -> Result<Incoming, String> {
    let mut members = archive::read(path, IMPORT_LIMITS, member_limit)?;
    let raw = members
        .remove(MANIFEST)
        .ok_or_else(|| format!("member `{MANIFEST}`: missing (not an xp2p export)"))?;
    let manifest: Manifest =
        serde_json::from_slice(&raw).map_err(|e| format!("member `{MANIFEST}`: {e}"))?;
    if manifest.format != FORMAT {
        return Err(format!(
            "member `{MANIFEST}`: format `{}` is not an xp2p export",
            manifest.format.escape_default()
        ));
    }
    if manifest.format_version != FORMAT_VERSION {
        return Err(format!(
            "member `{MANIFEST}`: format_version {} (this xp2p reads {FORMAT_VERSION})",
            manifest.format_version
        ));
    }
    if manifest.roles.is_empty() {
        return Err(format!("member `{MANIFEST}`: roles is empty"));
    }
    for f in &manifest.files {
        let Some(bytes) = members.get(&f.path) else {
            return Err(format!(
                "member `{}`: listed in the manifest but missing",
                f.path.escape_default()
            ));
        };
        if sha256_hex(bytes) != f.sha256 {
            return Err(format!(
                "member `{}`: sha256 does not match the manifest",
                f.path
            ));
        }
    }
    if let Some(extra) = members
        .keys()
        .find(|k| !manifest.files.iter().any(|f| &f.path == *k))
    {
        return Err(format!("member `{extra}`: not listed in the manifest"));
    }
    let mut roles = BTreeMap::new();
    for &role in &manifest.roles {
        let toml = members.remove(&toml_member(role)).ok_or_else(|| {
            format!(
                "member `{}`: missing (the manifest names the {role} role)",
                toml_member(role)
            )
        })?;
        let prefix = format!("config-{role}/");
        let names: Vec<String> = members
            .keys()
            .filter(|k| k.starts_with(&prefix))
            .cloned()
            .collect();
        let mut snippets = BTreeMap::new();
        for n in names {
            if let Some(b) = members.remove(&n) {
                snippets.insert(n[prefix.len()..].to_string(), b);
            }
        }
        let tls = if role == Role::Server {
            let cert = members.remove(CERT_MEMBER);
            let key = members.remove(KEY_MEMBER);
            match (cert, key) {
                (Some(cert), Some(key)) => Some(TlsPair { cert, key }),
                (None, _) => {
                    return Err(format!(
                        "member `{CERT_MEMBER}`: missing (the server role needs its certificate)"
                    ));
                }
                (_, None) => {
                    return Err(format!(
                        "member `{KEY_MEMBER}`: missing (the server role needs its key)"
                    ));
                }
            }
        } else {
            None
        };
        roles.insert(
            role,
            IncomingRole {
                toml,
                snippets,
                tls,
            },
        );
    }
    if let Some(left) = members.keys().next() {
        return Err(format!(
            "member `{left}`: belongs to a role the manifest does not name"
        ));
    }
    Ok(Incoming { manifest, roles })
}

/// The imported certificate and key with where they land (absolute).
#[derive(Debug, Clone)]
pub struct PlacedTls {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub pair: TlsPair,
}

/// What an import writes for one role, validated.
#[derive(Debug, Clone)]
pub struct RolePlan {
    pub role: Role,
    /// The Desired to write (certificate/key rewritten to where they land).
    pub toml: Vec<u8>,
    pub snippets: BTreeMap<String, Vec<u8>>,
    /// Snippet files of this root the archive does not have (removed).
    pub remove_snippets: Vec<PathBuf>,
    /// Certificate and key: destination (absolute) and content.
    pub tls: Option<PlacedTls>,
    /// Whether the compiled config was checked (false: no core on this machine).
    pub compiled: bool,
    /// Whether the role's Desired TOML exists now (the import replaces it).
    pub replaces: bool,
}

impl RolePlan {
    /// Every file this plan writes or removes (for messages, never contents).
    pub fn paths(&self, layout: &Layout) -> Vec<PathBuf> {
        let mut out = Vec::new();
        if let Some(t) = &self.tls {
            out.push(t.cert.clone());
            out.push(t.key.clone());
        }
        for n in self.snippets.keys() {
            out.push(layout.snippets_dir(self.role).join(n));
        }
        out.extend(self.remove_snippets.iter().cloned());
        out.push(layout.desired_toml(self.role));
        out
    }
}

/// Where an imported PEM lands under `CONFIG_ROOT/tls/server/`: the default
/// name when free or already holding these bytes, else a name carrying the
/// content's hash (a running server's own files are never overwritten).
fn tls_dest(layout: &Layout, stem: &str, bytes: &[u8]) -> (String, PathBuf) {
    let plain = format!("tls/server/{stem}.pem");
    let full = layout.resolve_asset(&plain);
    match xp2p_platform::fsread::read_operator_file_opt(&full, MAX_PEM) {
        Ok(None) => (plain, full),
        Ok(Some(existing)) if existing == bytes => (plain, full),
        _ => {
            let rel = format!("tls/server/{stem}-{}.pem", &sha256_hex(bytes)[..12]);
            let full = layout.resolve_asset(&rel);
            (rel, full)
        }
    }
}

/// Validates every role of `incoming` as it would be on this root — parsed,
/// validated and (when a core is found) compiled by the same code as an
/// apply, in a private scratch root holding exactly the imported files — and
/// returns what to write. Errors are one line naming the member and key.
pub fn plan(layout: &Layout, incoming: &Incoming) -> Result<Vec<RolePlan>, String> {
    let scratch = tempfile::Builder::new()
        .prefix("xp2p-import-")
        .tempdir()
        .map_err(|e| format!("cannot create a scratch folder to validate in: {e}"))?;
    let vlayout = Layout::new(scratch.path(), scratch.path().join("logs"));
    let now = now_rfc3339();
    let mut out = Vec::new();
    for (&role, inc) in &incoming.roles {
        let member = toml_member(role);
        let src = String::from_utf8(inc.toml.clone())
            .map_err(|_| format!("member `{member}`: not valid UTF-8"))?;
        let write_scratch = |rel: &str, bytes: &[u8]| {
            write_atomic_mode(&vlayout.resolve_asset(rel), bytes, Some(0o600))
                .map_err(|e| format!("cannot write the scratch copy of {rel}: {e}"))
        };
        for (name, bytes) in &inc.snippets {
            write_scratch(&snippet_member(role, name), bytes)?;
        }
        let mut assets = BTreeMap::new();
        let mut tls = None;
        let mut text = src.clone();
        if let Some(pair) = &inc.tls {
            let (cert_rel, cert_full) = tls_dest(layout, "cert", &pair.cert);
            let (key_rel, key_full) = tls_dest(layout, "key", &pair.key);
            write_scratch(&cert_rel, &pair.cert)?;
            write_scratch(&key_rel, &pair.key)?;
            let files = DesiredFiles {
                role,
                toml: Some(inc.toml.clone()),
                snippets: inc.snippets.clone(),
                assets: BTreeMap::new(),
            };
            let ctx = edit::Context::from_files(&vlayout, &files, &now);
            let edited = edit::apply(
                role,
                &vlayout.desired_toml(role),
                &src,
                &[Edit::SetCert {
                    certificate: cert_rel.clone(),
                    key: key_rel.clone(),
                }],
                &ctx,
            )
            .map_err(|e| {
                format!(
                    "member `{member}`: {}",
                    scrub(&e.to_string(), scratch.path())
                )
            })?;
            text = edited.text;
            assets.insert(cert_rel, Some(pair.cert.clone()));
            assets.insert(key_rel, Some(pair.key.clone()));
            tls = Some(PlacedTls {
                cert: cert_full,
                key: key_full,
                pair: pair.clone(),
            });
        }
        let files = DesiredFiles {
            role,
            toml: Some(text.clone().into_bytes()),
            snippets: inc.snippets.clone(),
            assets,
        };
        let bad = |p: &xp2p_core::Problems| {
            format!(
                "member {}",
                first_line(&scrub(&p.to_string(), scratch.path()))
            )
        };
        let (desired, _) = compile::check(&vlayout, &files).map_err(|p| bad(&p))?;
        // The core this root would run (its `[core] path`, or discovery here).
        let compiled = match crate::coreproc::discover(layout, &desired.core().path) {
            Ok(core) => {
                let ctx = CompileContext {
                    request_id: None,
                    compiled_at: now.clone(),
                };
                compile::compile(&vlayout, &files, &core, &ctx).map_err(|p| bad(&p))?;
                true
            }
            Err(_) => false,
        };
        let remove_snippets = SNIPPET_FILES
            .iter()
            .filter(|n| !inc.snippets.contains_key(**n))
            .map(|n| layout.snippets_dir(role).join(n))
            .filter(|p| p.symlink_metadata().is_ok())
            .collect();
        out.push(RolePlan {
            role,
            toml: text.into_bytes(),
            snippets: inc.snippets.clone(),
            remove_snippets,
            tls,
            compiled,
            replaces: layout.desired_toml(role).symlink_metadata().is_ok(),
        });
    }
    Ok(out)
}

/// A validator's message with the scratch root taken out, so it names the
/// archive member (`xp2p-server.toml:3:1: server.users[0]…`).
fn scrub(msg: &str, scratch: &Path) -> String {
    msg.replace(&format!("{}/", scratch.display()), "")
}

/// Writes a validated plan, each role under its lock: certificate (0644) and
/// key (0600), snippets, then the Desired TOML last (it keeps the mode and
/// owner of the file it replaces). On an I/O error the message names the file
/// and what was already written.
pub fn write(layout: &Layout, plans: &[RolePlan]) -> Result<Vec<PathBuf>, String> {
    let access = for_layout(layout);
    let mut written: Vec<PathBuf> = Vec::new();
    let failed = |written: &[PathBuf], path: &Path, e: &dyn std::fmt::Display| {
        let done = if written.is_empty() {
            "nothing was written before it".to_string()
        } else {
            format!(
                "already written: {}",
                written
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        format!("cannot write {}: {e} ({done})", path.display())
    };
    for plan in plans {
        let _lock = crate::desired_edit::lock_role(layout, plan.role)?;
        if let Some(t) = &plan.tls {
            write_atomic_mode(&t.cert, &t.pair.cert, Some(0o644))
                .map_err(|e| failed(&written, &t.cert, &e))?;
            written.push(t.cert.clone());
            write_secret(&t.key, &t.pair.key, SecretAccess::OWNER_ONLY)
                .map_err(|e| failed(&written, &t.key, &e))?;
            written.push(t.key.clone());
        }
        for (name, bytes) in &plan.snippets {
            let p = layout.snippets_dir(plan.role).join(name);
            write_secret(&p, bytes, access).map_err(|e| failed(&written, &p, &e))?;
            written.push(p);
        }
        for p in &plan.remove_snippets {
            std::fs::remove_file(p).map_err(|e| failed(&written, p, &e))?;
            written.push(p.clone());
        }
        let p = layout.desired_toml(plan.role);
        write_secret(&p, &plan.toml, access).map_err(|e| failed(&written, &p, &e))?;
        written.push(p);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_names_are_the_ones_export_writes() {
        assert_eq!(member_limit("manifest.json"), Some(MAX_MANIFEST));
        assert_eq!(member_limit("xp2p-server.toml"), Some(MAX_TOML));
        assert_eq!(
            member_limit("config-client/outbounds.append.json"),
            Some(MAX_SNIPPET)
        );
        assert_eq!(member_limit("tls/server/key.pem"), Some(MAX_PEM));
        assert_eq!(member_limit("config-client/other.json"), None);
        assert_eq!(member_limit("xp2p-other.toml"), None);
        assert_eq!(member_limit("tls/server/x.pem"), None);
    }

    #[test]
    fn a_client_round_trips_through_an_archive() {
        let src = tempfile::tempdir().unwrap();
        let layout = Layout::new(src.path(), src.path().join("logs"));
        let toml = "# mine\n[client]\nsocks_address = \"127.0.0.1:1080\"\n\n[[client.endpoints]]\nhostname = \"h\"\naddress = \"127.0.0.1\"\nport = 443\nprotocol = \"trojan\"\nuser = \"u@x\"\npassword = \"pw-secret\"\n";
        std::fs::write(layout.desired_toml(Role::Client), toml).unwrap();
        let (manifest, members) = export(&layout, &[Role::Client]).unwrap();
        assert_eq!(manifest.files.len(), 1);
        let manifest_json = String::from_utf8(members[0].bytes.clone()).unwrap();
        assert!(!manifest_json.contains("pw-secret"));
        let p = src.path().join("out.tar.gz");
        archive::write(&p, &members, archive::Overwrite::Refuse).unwrap();
        let inc = parse(&p).unwrap();
        assert_eq!(inc.roles[&Role::Client].toml, toml.as_bytes());
        let dst = tempfile::tempdir().unwrap();
        let l2 = Layout::new(dst.path(), dst.path().join("logs"));
        let plans = plan(&l2, &inc).unwrap();
        write(&l2, &plans).unwrap();
        assert_eq!(
            std::fs::read_to_string(l2.desired_toml(Role::Client)).unwrap(),
            toml
        );
    }

    #[test]
    fn an_imported_pem_never_overwrites_a_different_one() {
        let d = tempfile::tempdir().unwrap();
        let layout = Layout::new(d.path(), d.path().join("logs"));
        assert_eq!(tls_dest(&layout, "cert", b"A").0, "tls/server/cert.pem");
        std::fs::create_dir_all(layout.tls_server_dir()).unwrap();
        std::fs::write(layout.tls_server_dir().join("cert.pem"), "A").unwrap();
        assert_eq!(tls_dest(&layout, "cert", b"A").0, "tls/server/cert.pem");
        let (rel, full) = tls_dest(&layout, "cert", b"B");
        assert_eq!(
            rel,
            format!("tls/server/cert-{}.pem", &sha256_hex(b"B")[..12])
        );
        assert_eq!(full, d.path().join(&rel));
    }

    #[test]
    fn a_tampered_member_is_refused_by_name() {
        let src = tempfile::tempdir().unwrap();
        let layout = Layout::new(src.path(), src.path().join("logs"));
        std::fs::write(layout.desired_toml(Role::Client), "[client]\n").unwrap();
        let (_, mut members) = export(&layout, &[Role::Client]).unwrap();
        members[1].bytes = b"[client]\n# changed\n".to_vec();
        let p = src.path().join("t.tar.gz");
        archive::write(&p, &members, archive::Overwrite::Refuse).unwrap();
        let e = parse(&p).unwrap_err();
        assert_eq!(
            e,
            "member `xp2p-client.toml`: sha256 does not match the manifest"
        );
    }
}
