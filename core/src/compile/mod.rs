//! The compiler: Desired -> `xray.json` + `runtime.json`, pure and deterministic
//! (the same inputs give byte-identical output: JSON keys are sorted, arrays keep
//! their meaningful order).
//!
//! Routing rule order (formats.md): 1 endpoint bypass, 2 system rules,
//! 3 `after-xp2p-system` snippet, 4 managed rules (forwards, then redirects sorted),
//! 5 `after-xp2p-managed` snippet, 6 full-tunnel rule.

pub mod client;
pub mod common;
pub mod reverse;
pub mod rules;
pub mod runtime;
pub mod server;

use std::path::PathBuf;

use serde_json::{Value, json};

use crate::coreproc::CoreInfo;
use crate::desired::validate::{self, KnownOutbounds};
use crate::desired::{Desired, load};
use crate::digest::{DesiredFiles, sha256_hex};
use crate::error::{ConfigError, ErrorCode, Problems};
use crate::layout::Layout;
use crate::role::Role;
use crate::snippets;
pub use runtime::RuntimeInfo;

/// Inputs that are not files: they go into runtime.json only.
#[derive(Debug, Clone, Default)]
pub struct CompileContext {
    pub request_id: Option<String>,
    /// RFC 3339; empty means "now". Also the moment user rotation graces are
    /// judged against (an expired previous credential is not compiled).
    pub compiled_at: String,
}

/// A compiled role, ready to be staged.
#[derive(Debug, Clone)]
pub struct Compiled {
    pub role: Role,
    pub xray_json: Vec<u8>,
    pub runtime_json: Vec<u8>,
    pub runtime: RuntimeInfo,
    pub desired: Desired,
}

impl Compiled {
    pub fn config_sha256(&self) -> &str {
        &self.runtime.config_sha256
    }
}

/// Parses and validates without needing a core: the model plus every problem.
pub fn check(
    layout: &Layout,
    files: &DesiredFiles,
) -> Result<(Desired, snippets::Snippets), Problems> {
    let role = files.role;
    let toml_path = layout.desired_toml(role);
    let Some(bytes) = &files.toml else {
        return Err(Problems::one(ConfigError::new(
            ErrorCode::InvalidToml,
            &toml_path,
            "",
            format!(
                "no Desired file for the {role} role (create it with `xp2p init --role {role}`)"
            ),
        )));
    };
    let src = std::str::from_utf8(bytes).map_err(|_| {
        Problems::one(ConfigError::new(
            ErrorCode::InvalidToml,
            &toml_path,
            "",
            "file is not valid UTF-8",
        ))
    })?;
    let snippet_dir = layout.snippets_dir(role);
    let (snips, mut errors) = snippets::parse(&snippet_dir, &files.snippets);
    let appended = snips.outbound_tags();
    let known = KnownOutbounds {
        appended: &appended,
    };
    let desired = match role {
        Role::Client => {
            let m = load::parse_client(&toml_path, src)?;
            errors.extend(validate::client(&toml_path, src, &m, &known));
            Desired::Client(m)
        }
        Role::Server => {
            let m = load::parse_server(&toml_path, src)?;
            errors.extend(validate::server(&toml_path, src, &m, layout, &known));
            Desired::Server(m)
        }
    };
    if errors.is_empty() {
        Ok((desired, snips))
    } else {
        Err(Problems(errors))
    }
}

/// Compiles one role from a consistent read of its Desired files.
pub fn compile(
    layout: &Layout,
    files: &DesiredFiles,
    core: &CoreInfo,
    ctx: &CompileContext,
) -> Result<Compiled, Problems> {
    let role = files.role;
    let (desired, snips) = check(layout, files)?;
    let toml_path = layout.desired_toml(role);
    let compiled_at = if ctx.compiled_at.is_empty() {
        humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
    } else {
        ctx.compiled_at.clone()
    };
    // The moment rotation graces are judged against (server users).
    let now = humantime::parse_rfc3339_weak(&compiled_at)
        .unwrap_or_else(|_| std::time::SystemTime::now());
    let (mut managed, endpoints, tun, diag_port) = match &desired {
        Desired::Client(m) => {
            let out = client::build(m, core, &toml_path).map_err(Problems)?;
            let diag_port = reverse::client_diag_port(&out.managed, &m.client);
            (out.managed, out.endpoints, out.tun, diag_port)
        }
        Desired::Server(m) => {
            let out = server::build(m, core, layout, &toml_path, now).map_err(Problems)?;
            (out.managed, Vec::new(), out.tun, Some(m.server.diag_port.0))
        }
    };
    let channels = std::mem::take(&mut managed.runtime_channels);
    let snippet_dir: PathBuf = layout.snippets_dir(role);
    let merge_errors = snips.check_merge(
        &snippet_dir,
        &managed.inbound_tags(),
        &managed.outbound_tags(),
    );
    if !merge_errors.is_empty() {
        return Err(Problems(merge_errors));
    }

    let mut top = managed.top;
    let inbounds: Vec<Value> = managed.inbounds.into_iter().chain(snips.inbounds).collect();
    let outbounds: Vec<Value> = managed
        .outbounds
        .into_iter()
        .chain(snips.outbounds)
        .collect();
    let rules: Vec<Value> = managed
        .bypass_rules
        .into_iter()
        .chain(managed.system_rules)
        .chain(snips.rules_after_system)
        .chain(managed.managed_rules)
        .chain(snips.rules_after_managed)
        .chain(managed.final_rules)
        .collect();
    top.insert("inbounds".into(), Value::Array(inbounds));
    top.insert("outbounds".into(), Value::Array(outbounds));
    top.insert(
        "routing".into(),
        json!({"domainStrategy": "AsIs", "rules": rules}),
    );
    let xray_json = to_canonical_bytes(&Value::Object(top));
    let config_sha256 = sha256_hex(&xray_json);

    let runtime = RuntimeInfo {
        role,
        xp2p_version: crate::VERSION.to_string(),
        compiled_at,
        request_id: ctx.request_id.clone(),
        desired_digest: files.digest(),
        config_sha256,
        core: runtime::RuntimeCore {
            path: core.path.display().to_string(),
            flavour: core.flavour,
            version: core.version.clone(),
        },
        inbounds: managed.runtime_inbounds,
        endpoints,
        tun,
        diag_port,
        channels,
    };
    let runtime_json = serde_json::to_value(&runtime)
        .map(|v| to_canonical_bytes(&v))
        .map_err(|e| {
            Problems::one(ConfigError::new(
                ErrorCode::Internal,
                &toml_path,
                "",
                e.to_string(),
            ))
        })?;
    Ok(Compiled {
        role,
        xray_json,
        runtime_json,
        runtime,
        desired,
    })
}

/// Pretty JSON with sorted keys and a trailing newline: the one canonical form.
pub fn to_canonical_bytes(v: &Value) -> Vec<u8> {
    let mut s = serde_json::to_string_pretty(v).unwrap_or_default();
    s.push('\n');
    s.into_bytes()
}
