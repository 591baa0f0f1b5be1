//! The one editor of Desired TOML: typed operations ([`Edit`]) applied to the
//! operator's file with `toml_edit`, keeping every comment, the order of keys
//! and tables and the formatting of what is not touched; the result is checked
//! by the same loader and validator an apply uses before it is returned. Pure:
//! no I/O of its own, no clock, no randomness (time and generated values come
//! from the caller).
//!
//! # Use (the store's writer, the CLI, the console)
//!
//! ```text
//! let _lock = lock_role(layout, role)?;                 // xp2p-store
//! let files = pipeline::read(layout, role)?;            // one consistent read
//! let src = /* files.toml as UTF-8 */;
//! let ctx = edit::Context::from_files(layout, &files, &now_rfc3339);
//! let edited = edit::apply(role, &layout.desired_toml(role), &src, &edits, &ctx)?;
//! // edited.text: the new file; edited.summary: "added user alice", …;
//! // edited.created: generated label/credential/tag (to print the link)
//! // then compile::check/compile on the new text, write atomically, apply.request.
//! ```
//!
//! * Values the caller generates: [`generated_label`] (`client-<base32>@xp2p.local`
//!   from 5 random bytes) and [`generated_credential`] (a UUIDv4 from 16 random
//!   bytes); the grace end of a rotation (`now + --grace`, RFC 3339).
//! * `--listen-port auto`: [`free_listen_port`] (the caller also asks the OS).
//! * Links: [`crate::links`] renders a user's link ([`crate::links::user_link`])
//!   and parses one into the [`Endpoint`] that [`Edit::EndpointAdd`] takes.
//! * Errors ([`EditError`]) are one line, `key: reason`; [`EditErrorKind`] tells a
//!   usage error (exit 2: bad CIDR, bad link) from a conflict or a missing entry
//!   (exit 1). On error nothing is returned, so nothing can be written.
//! * [`edit_text`] is the same without the final validation (the mode commands
//!   use it; `xp2p_store::desired_edit::set_mode` compiles afterwards).
//!
//! Added entries are appended after the last entry of their array in the style
//! of the file (`[[server.users]]` tables, or inline tables when the file wrote
//! the list inline); a removed entry goes with the comments above it only.

pub(crate) mod doc;
mod endpoints;
mod forwards;
mod redirects;
mod reverse;
mod settings;
mod users;

use std::fmt;
use std::net::SocketAddr;
use std::path::Path;

use toml_edit::DocumentMut;

use super::load;
use super::mode::ModeChange;
use super::model::{ClientDesired, Endpoint, Forward, Port, ServerDesired, ServerProfile};
use super::validate::{self, KnownOutbounds};
use crate::digest::DesiredFiles;
use crate::error::ConfigError;
use crate::layout::Layout;
use crate::role::Role;

pub use endpoints::EndpointChanges;
pub use forwards::free_listen_port;
pub use redirects::RedirectTarget;
pub use reverse::channels_of;

/// One typed change of a role's Desired. Serialisable (tagged by `op`,
/// snake_case) so the console can send edits to the service over IPC; an
/// edit may carry a credential, so it is never logged.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Edit {
    /// Server: a new `[[server.users]]` (`created_at` = now). Generate missing
    /// values with [`generated_label`] / [`generated_credential`].
    UserAdd {
        label: String,
        credential: String,
    },
    /// Server: `new_credential` becomes `credential`. With `grace_until`
    /// (RFC 3339) the old one moves to `previous_credential` and keeps working
    /// until then; without, it stops at the next apply.
    UserRotate {
        label: String,
        new_credential: String,
        grace_until: Option<String>,
    },
    UserSetDisabled {
        label: String,
        disabled: bool,
    },
    UserRemove {
        label: String,
    },
    /// Client: a new `[[client.endpoints]]` (from a link: `TunnelLink::to_endpoint`).
    EndpointAdd(Endpoint),
    EndpointUpdate {
        tag: String,
        changes: EndpointChanges,
    },
    EndpointSetDisabled {
        tag: String,
        disabled: bool,
    },
    /// Refused while a redirect, forward or `full_tunnel_tag` names the
    /// endpoint, unless `cascade` (which removes those too).
    EndpointRemove {
        tag: String,
        cascade: bool,
    },
    /// Either role: a redirect of a CIDR or domain via an outbound tag.
    RedirectAdd {
        role: Role,
        target: RedirectTarget,
        via: String,
    },
    RedirectRemove {
        role: Role,
        target: RedirectTarget,
    },
    /// Either role: a forward (its listen address and port must be free).
    ForwardAdd {
        role: Role,
        forward: Forward,
    },
    ForwardRemove {
        role: Role,
        listen: SocketAddr,
    },
    /// Server: certificate and key paths (relative to CONFIG_ROOT or absolute).
    SetCert {
        certificate: String,
        key: String,
    },
    SetHost {
        host: String,
    },
    SetProfile {
        profile: ServerProfile,
    },
    /// Server: `trojan_port`, the port clients connect to.
    SetTrojanPort {
        port: Port,
    },
    /// Server: `diag_port` (the loopback diagnostics port).
    SetDiagPort {
        port: Port,
    },
    /// Client: `socks_address`, the local SOCKS inbound.
    SetSocksAddress {
        address: SocketAddr,
    },
    /// Either role: `[core] path` (empty: discovery).
    SetCorePath {
        role: Role,
        path: String,
    },
    /// Either role: the TUN mode keys (see [`super::mode`]).
    SetMode {
        role: Role,
        change: ModeChange,
    },
    /// Server: a reverse channel (`[server.reverse_channels.<key>]`) into the
    /// LAN behind the client of `user`. `key` defaults to the sanitized
    /// label, `host` to `server.host`; the tag and domain
    /// (`<user><host>.rev`) are written out.
    ChannelAdd {
        key: Option<String>,
        user: String,
        host: Option<String>,
    },
    /// Client: a reverse bridge (`[client.reverse.<key>]`) through the
    /// endpoint `endpoint_tag`; `user` and `host` default to the endpoint's,
    /// `key` to the sanitized host.
    BridgeAdd {
        key: Option<String>,
        endpoint_tag: String,
        user: Option<String>,
        host: Option<String>,
    },
    /// Either role: a channel (server) or bridge (client) by key or tag.
    ChannelSetDisabled {
        role: Role,
        key: String,
        disabled: bool,
    },
    /// Either role. On the server refused while a redirect or forward routes
    /// through the channel, unless `cascade` (which removes those too).
    ChannelRemove {
        role: Role,
        key: String,
        cascade: bool,
    },
    /// Server: the user, its reverse channels and what routes through them
    /// ([`Edit::UserRemove`] is refused while the user has a channel).
    UserRemoveWithChannels {
        label: String,
    },
}

impl Edit {
    /// The role whose file this edit changes.
    pub fn role(&self) -> Role {
        match self {
            Edit::UserAdd { .. }
            | Edit::UserRotate { .. }
            | Edit::UserSetDisabled { .. }
            | Edit::UserRemove { .. }
            | Edit::SetCert { .. }
            | Edit::SetHost { .. }
            | Edit::SetProfile { .. }
            | Edit::SetTrojanPort { .. }
            | Edit::SetDiagPort { .. }
            | Edit::ChannelAdd { .. }
            | Edit::UserRemoveWithChannels { .. } => Role::Server,
            Edit::EndpointAdd(_)
            | Edit::SetSocksAddress { .. }
            | Edit::EndpointUpdate { .. }
            | Edit::EndpointSetDisabled { .. }
            | Edit::EndpointRemove { .. }
            | Edit::BridgeAdd { .. } => Role::Client,
            Edit::RedirectAdd { role, .. }
            | Edit::RedirectRemove { role, .. }
            | Edit::ForwardAdd { role, .. }
            | Edit::ForwardRemove { role, .. }
            | Edit::SetCorePath { role, .. }
            | Edit::SetMode { role, .. }
            | Edit::ChannelSetDisabled { role, .. }
            | Edit::ChannelRemove { role, .. } => *role,
        }
    }
}

/// What kind of refusal: decides the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EditErrorKind {
    /// Bad input (a CIDR, link, value or an edit for the other role): exit 2.
    Usage,
    /// The label, tag or entry named does not exist: exit 1.
    NotFound,
    /// The edit clashes with Desired (duplicate, in use, invalid result): exit 1.
    Conflict,
    /// The file itself cannot be edited (not TOML, no role table): exit 1.
    Unreadable,
}

impl EditErrorKind {
    pub fn exit_code(self) -> i32 {
        match self {
            EditErrorKind::Usage => 2,
            EditErrorKind::NotFound | EditErrorKind::Conflict | EditErrorKind::Unreadable => 1,
        }
    }
}

/// A refused edit: `key: reason`, one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EditError {
    pub kind: EditErrorKind,
    /// The TOML key or command argument at fault (`server.users`, `--cidr`).
    pub key: String,
    pub message: String,
}

impl EditError {
    pub fn new(kind: EditErrorKind, key: impl Into<String>, message: impl Into<String>) -> Self {
        EditError {
            kind,
            key: key.into(),
            message: one_line(&message.into()),
        }
    }

    fn usage(key: impl Into<String>, message: impl Into<String>) -> Self {
        EditError::new(EditErrorKind::Usage, key, message)
    }

    fn conflict(key: impl Into<String>, message: impl Into<String>) -> Self {
        EditError::new(EditErrorKind::Conflict, key, message)
    }

    fn not_found(key: impl Into<String>, message: impl Into<String>) -> Self {
        EditError::new(EditErrorKind::NotFound, key, message)
    }

    fn unreadable(path: &Path, message: impl Into<String>) -> Self {
        EditError::new(
            EditErrorKind::Unreadable,
            path.display().to_string(),
            message,
        )
    }

    /// A validator's finding as an edit refusal.
    fn from_config(e: &ConfigError) -> Self {
        let key = if e.key.is_empty() {
            e.file.display().to_string()
        } else {
            e.key.clone()
        };
        EditError::conflict(key, e.message.clone())
    }
}

impl fmt::Display for EditError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

impl std::error::Error for EditError {}

impl From<crate::links::LinkError> for EditError {
    fn from(e: crate::links::LinkError) -> Self {
        EditError::usage(e.key, e.message)
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Something an edit made up that the caller shows (a link, a tag).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Created {
    /// A user was added or rotated: its label and current credential.
    User { label: String, credential: String },
    /// An endpoint was added under this tag.
    Endpoint { tag: String },
}

/// The outcome of [`apply`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edited {
    /// The new file text.
    pub text: String,
    /// Whether `text` differs from the input.
    pub changed: bool,
    /// One short line per change (`added user alice`, `removed redirect 10.0.0.0/8`).
    pub summary: Vec<String>,
    pub created: Vec<Created>,
}

/// What the editor needs beyond the text: the time of the edit and what the
/// validator needs (the layout to find the server's certificate, tags appended
/// by `outbounds.append.json`).
#[derive(Debug, Clone)]
pub struct Context<'a> {
    /// RFC 3339 UTC, e.g. `2026-01-01T00:00:00Z`.
    pub now: &'a str,
    pub layout: &'a Layout,
    pub appended_outbounds: Vec<String>,
}

impl<'a> Context<'a> {
    pub fn new(layout: &'a Layout, now: &'a str) -> Self {
        Context {
            now,
            layout,
            appended_outbounds: Vec::new(),
        }
    }

    /// With the outbound tags the role's snippets append (from one read of its
    /// Desired files; snippet errors are the compiler's to report).
    pub fn from_files(layout: &'a Layout, files: &DesiredFiles, now: &'a str) -> Self {
        let (snips, _) = crate::snippets::parse(&layout.snippets_dir(files.role), &files.snippets);
        Context {
            now,
            layout,
            appended_outbounds: snips.outbound_tags(),
        }
    }
}

/// `client-<8 base32 chars>@xp2p.local` from 5 random bytes (xp2p-upstream §2).
pub fn generated_label(random: [u8; 5]) -> String {
    const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    let n = random.iter().fold(0u64, |n, b| (n << 8) | u64::from(*b));
    let s: String = (0..8)
        .rev()
        .map(|i| char::from(ALPHABET[((n >> (i * 5)) & 31) as usize]))
        .collect();
    format!("client-{s}@xp2p.local")
}

/// A UUIDv4 (valid for Trojan and VLESS) from 16 random bytes.
pub fn generated_credential(random: [u8; 16]) -> String {
    uuid::Builder::from_random_bytes(random)
        .into_uuid()
        .hyphenated()
        .to_string()
}

/// Applies `edits` (all for `role`) to `src`, then loads and validates the
/// result as an apply would. `path` is how the file is named in messages.
pub fn apply(
    role: Role,
    path: &Path,
    src: &str,
    edits: &[Edit],
    ctx: &Context<'_>,
) -> Result<Edited, EditError> {
    let edited = edit_text(role, path, src, edits, ctx.now)?;
    check(role, path, src, &edited.text, ctx)?;
    Ok(edited)
}

/// [`apply`] without the final validation: the edits on the text, with their
/// own checks (unknown label, duplicate, endpoint in use) only.
pub fn edit_text(
    role: Role,
    path: &Path,
    src: &str,
    edits: &[Edit],
    now: &str,
) -> Result<Edited, EditError> {
    let mut doc: DocumentMut = src.parse().map_err(|e: toml_edit::TomlError| {
        let at = e
            .span()
            .map(|s| {
                let (line, col) = super::locate::line_col(src, s.start);
                format!(" at line {line}, column {col}")
            })
            .unwrap_or_default();
        EditError::unreadable(
            path,
            format!("is not valid TOML{at}: {}", e.message().trim()),
        )
    })?;
    let mut summary = Vec::new();
    let mut created = Vec::new();
    for edit in edits {
        if edit.role() != role {
            return Err(EditError::usage(
                role.as_str(),
                format!("a {} edit cannot change the {role} file", edit.role()),
            ));
        }
        let mut st = State {
            role,
            path,
            doc: &mut doc,
            now,
            summary: &mut summary,
            created: &mut created,
        };
        match edit {
            Edit::UserAdd { label, credential } => users::add(&mut st, label, credential)?,
            Edit::UserRotate {
                label,
                new_credential,
                grace_until,
            } => users::rotate(&mut st, label, new_credential, grace_until.as_deref())?,
            Edit::UserSetDisabled { label, disabled } => {
                users::set_disabled(&mut st, label, *disabled)?
            }
            Edit::UserRemove { label } => users::remove(&mut st, label)?,
            Edit::EndpointAdd(e) => endpoints::add(&mut st, e)?,
            Edit::EndpointUpdate { tag, changes } => endpoints::update(&mut st, tag, changes)?,
            Edit::EndpointSetDisabled { tag, disabled } => {
                endpoints::set_disabled(&mut st, tag, *disabled)?
            }
            Edit::EndpointRemove { tag, cascade } => endpoints::remove(&mut st, tag, *cascade)?,
            Edit::RedirectAdd { target, via, .. } => redirects::add(&mut st, target, via)?,
            Edit::RedirectRemove { target, .. } => redirects::remove(&mut st, target)?,
            Edit::ForwardAdd { forward, .. } => forwards::add(&mut st, forward)?,
            Edit::ForwardRemove { listen, .. } => forwards::remove(&mut st, *listen)?,
            Edit::SetCert { certificate, key } => settings::set_cert(&mut st, certificate, key)?,
            Edit::SetHost { host } => settings::set_host(&mut st, host)?,
            Edit::SetProfile { profile } => settings::set_profile(&mut st, *profile)?,
            Edit::SetTrojanPort { port } => settings::set_port(&mut st, "trojan_port", *port)?,
            Edit::SetDiagPort { port } => settings::set_port(&mut st, "diag_port", *port)?,
            Edit::SetSocksAddress { address } => settings::set_socks_address(&mut st, *address)?,
            Edit::SetCorePath { path: p, .. } => settings::set_core_path(&mut st, p)?,
            Edit::SetMode { change, .. } => settings::set_mode(&mut st, change)?,
            Edit::ChannelAdd { key, user, host } => {
                reverse::add_channel(&mut st, key.as_deref(), user, host.as_deref())?
            }
            Edit::BridgeAdd {
                key,
                endpoint_tag,
                user,
                host,
            } => reverse::add_bridge(
                &mut st,
                key.as_deref(),
                endpoint_tag,
                user.as_deref(),
                host.as_deref(),
            )?,
            Edit::ChannelSetDisabled { key, disabled, .. } => {
                reverse::set_disabled(&mut st, key, *disabled)?
            }
            Edit::ChannelRemove { key, cascade, .. } => reverse::remove(&mut st, key, *cascade)?,
            Edit::UserRemoveWithChannels { label } => {
                reverse::remove_user_with_channels(&mut st, label)?
            }
        }
    }
    let text = doc.to_string();
    Ok(Edited {
        changed: text != src,
        text,
        summary,
        created,
    })
}

/// The working state of one edit.
struct State<'a> {
    role: Role,
    path: &'a Path,
    doc: &'a mut DocumentMut,
    now: &'a str,
    summary: &'a mut Vec<String>,
    created: &'a mut Vec<Created>,
}

impl State<'_> {
    /// The role's table (`[client]` / `[server]`).
    fn section(&mut self) -> Result<&mut dyn toml_edit::TableLike, EditError> {
        let role = self.role;
        let path = self.path;
        self.doc
            .get_mut(role.as_str())
            .and_then(|i| i.as_table_like_mut())
            .ok_or_else(|| EditError::unreadable(path, format!("no [{role}] table")))
    }

    /// The typed model of the text as edited so far (to find entries by label
    /// or tag; the model's list indices are the file's).
    fn client(&self) -> Result<ClientDesired, EditError> {
        load::parse_client(self.path, &self.doc.to_string()).map_err(|p| self.unparsable(&p))
    }

    fn server(&self) -> Result<ServerDesired, EditError> {
        load::parse_server(self.path, &self.doc.to_string()).map_err(|p| self.unparsable(&p))
    }

    fn unparsable(&self, p: &crate::error::Problems) -> EditError {
        match p.0.first() {
            Some(e) => EditError::new(
                EditErrorKind::Unreadable,
                if e.key.is_empty() {
                    self.path.display().to_string()
                } else {
                    e.key.clone()
                },
                format!("{} (fix the file first)", e.message),
            ),
            None => EditError::unreadable(self.path, "cannot be read"),
        }
    }

    fn done(&mut self, line: String) {
        self.summary.push(line);
    }
}

/// Loads and validates `text` as an apply does; a finding the edit brought in
/// is reported first (one line), else the first finding of the file.
fn check(
    role: Role,
    path: &Path,
    before: &str,
    text: &str,
    ctx: &Context<'_>,
) -> Result<(), EditError> {
    let after = findings(role, path, text, ctx);
    if after.is_empty() {
        return Ok(());
    }
    let old: Vec<(String, String)> = findings(role, path, before, ctx)
        .iter()
        .map(signature)
        .collect();
    let first_new = after.iter().find(|e| !old.contains(&signature(e)));
    match first_new {
        Some(e) => Err(EditError::from_config(e)),
        None => {
            let e = &after[0];
            let mut err = EditError::from_config(e);
            err.message = format!("{} (the file was invalid before this edit)", err.message);
            Err(err)
        }
    }
}

/// A finding without list indices (they shift when entries are removed).
fn signature(e: &ConfigError) -> (String, String) {
    let mut key = String::new();
    let mut depth = 0;
    for c in e.key.chars() {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            _ if depth == 0 => key.push(c),
            _ => {}
        }
    }
    (key, e.message.clone())
}

fn findings(role: Role, path: &Path, text: &str, ctx: &Context<'_>) -> Vec<ConfigError> {
    let known = KnownOutbounds {
        appended: &ctx.appended_outbounds,
    };
    let parsed = match role {
        Role::Client => {
            load::parse_client(path, text).map(|m| validate::client(path, text, &m, &known))
        }
        Role::Server => load::parse_server(path, text)
            .map(|m| validate::server(path, text, &m, ctx.layout, &known)),
    };
    match parsed {
        Ok(errors) => errors,
        Err(p) => p.0,
    }
}

#[cfg(test)]
mod tests;
