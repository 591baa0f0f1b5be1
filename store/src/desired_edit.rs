//! The one writer of Desired that xp2p itself uses (the edit commands, the
//! console through the service, `mode`, deploy): typed [`Edit`]s applied by
//! the domain editor under the role lock, checked by the same compiler as an
//! apply before anything is written, written atomically keeping the file's
//! mode and owner. A dry run takes the same path and writes nothing; either
//! way the result carries the diff of the TOML and of the compiled config.

use xp2p_core::compile::{self, CompileContext};
use xp2p_core::desired::edit::{self, Created, Edit, EditError, EditErrorKind};
use xp2p_core::desired::mode::ModeChange;
use xp2p_core::diff;
use xp2p_core::digest::DesiredFiles;
use xp2p_core::layout::Layout;
use xp2p_core::role::Role;
use xp2p_platform::lock::FileLock;

use crate::atomic::write_secret;
use crate::pipeline;

/// Takes `.state/locks/<role>.lock`, waiting up to 10 s for a holder (the
/// service holds it briefly while it reads Desired; another edit while it
/// writes).
pub fn lock_role(layout: &Layout, role: Role) -> Result<FileLock, String> {
    FileLock::acquire_within(&layout.role_lock(role), std::time::Duration::from_secs(10))
        .map_err(|e| format!("cannot take the {role} lock: {e}"))
}

/// Write, or only show what would be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Write,
    DryRun,
}

/// Why an edit was not written (nothing was: Desired, Live and LKG are as
/// they were).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EditFailure {
    /// The editor refused (bad input, not found, conflict): one line.
    Refused(EditError),
    /// The edited Desired does not compile (a snippet clash, say).
    Invalid(String),
    /// The file or the lock could not be read or written.
    Io(String),
}

impl EditFailure {
    /// 2 for usage errors, 1 otherwise (the caller maps permission errors).
    pub fn exit_code(&self) -> i32 {
        match self {
            EditFailure::Refused(e) => e.kind.exit_code(),
            EditFailure::Invalid(_) | EditFailure::Io(_) => 1,
        }
    }

    /// The public error code (`--json`).
    pub fn code(&self) -> &'static str {
        match self {
            EditFailure::Refused(e) if e.kind == EditErrorKind::Usage => "invalid_request",
            EditFailure::Refused(e) if e.kind == EditErrorKind::NotFound => "not_found",
            EditFailure::Refused(_) | EditFailure::Invalid(_) => "invalid_desired",
            EditFailure::Io(_) => "internal",
        }
    }
}

impl std::fmt::Display for EditFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EditFailure::Refused(e) => e.fmt(f),
            EditFailure::Invalid(s) | EditFailure::Io(s) => f.write_str(s),
        }
    }
}

/// What an edit did (or, dry, would do).
#[derive(Debug, Clone)]
pub struct EditReport {
    pub role: Role,
    /// Whether the file changed (false: it already said so).
    pub changed: bool,
    /// Whether it was written (false for a dry run or no change).
    pub written: bool,
    pub summary: Vec<String>,
    /// Generated values (the caller shows a link; never logged).
    pub created: Vec<Created>,
    /// Unified diff of the TOML (empty when unchanged). It may show
    /// credentials: print it only to the operator's terminal.
    pub toml_diff: String,
    /// Unified diff of the compiled config, or why it cannot be shown (no core
    /// on this machine).
    pub compiled_diff: Result<String, String>,
}

fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

/// Applies `edits` to the role's Desired. With [`Mode::Write`] the role lock
/// is held from the read to the write, so two racing edits both land, one
/// after the other.
pub fn edit(
    layout: &Layout,
    role: Role,
    edits: &[Edit],
    mode: Mode,
) -> Result<EditReport, EditFailure> {
    let _lock = match mode {
        Mode::Write => Some(lock_role(layout, role).map_err(EditFailure::Io)?),
        Mode::DryRun => None,
    };
    let files = pipeline::read(layout, role).map_err(|p| EditFailure::Io(p.to_string()))?;
    let path = layout.desired_toml(role);
    let src = match &files.toml {
        Some(bytes) => String::from_utf8(bytes.clone())
            .map_err(|_| EditFailure::Io(format!("{}: file is not valid UTF-8", path.display())))?,
        None => {
            return Err(EditFailure::Io(format!(
                "{} does not exist (create it: xp2p init --role {role})",
                path.display()
            )));
        }
    };
    let now = now_rfc3339();
    let ctx = edit::Context::from_files(layout, &files, &now);
    let edited = edit::apply(role, &path, &src, edits, &ctx).map_err(EditFailure::Refused)?;
    let mut new_files = files.clone();
    new_files.toml = Some(edited.text.clone().into_bytes());
    if edited.changed {
        compile::check(layout, &new_files).map_err(|p| {
            EditFailure::Invalid(format!(
                "the edited {} would not compile: {p}",
                path.display()
            ))
        })?;
    }
    let name = path.display().to_string();
    let toml_diff = diff::unified(&name, &src, &format!("{name} (edited)"), &edited.text);
    let compiled_diff = compiled_diff(layout, &files, &new_files, &now);
    let written = mode == Mode::Write && edited.changed;
    if written {
        // An existing file keeps the mode and owner the operator gave it.
        write_secret(
            &path,
            edited.text.as_bytes(),
            crate::secrets::for_layout(layout),
        )
        .map_err(|e| EditFailure::Io(format!("cannot write {}: {e}", path.display())))?;
    }
    Ok(EditReport {
        role,
        changed: edited.changed,
        written,
        summary: edited.summary,
        created: edited.created,
        toml_diff,
        compiled_diff,
    })
}

/// The compiled config before and after, as a unified diff of canonical JSON.
/// A Desired that did not compile before shows as empty on the left.
fn compiled_diff(
    layout: &Layout,
    before: &DesiredFiles,
    after: &DesiredFiles,
    now: &str,
) -> Result<String, String> {
    let core = pipeline::find_core(layout, after).map_err(|p| p.to_string())?;
    let ctx = CompileContext {
        request_id: None,
        compiled_at: now.to_string(),
    };
    let canonical = |files: &DesiredFiles| -> Option<String> {
        let c = compile::compile(layout, files, &core, &ctx).ok()?;
        diff::canonical(&c.xray_json).ok().map(|(_, text)| text)
    };
    let new = canonical(after).ok_or("the edited Desired does not compile")?;
    let old = canonical(before).unwrap_or_default();
    Ok(diff::unified(
        "compiled (now)",
        &old,
        "compiled (edited)",
        &new,
    ))
}

/// Writes the mode into `xp2p-<role>.toml`. Returns whether the file changed.
pub fn set_mode(layout: &Layout, role: Role, change: &ModeChange) -> Result<bool, String> {
    let edits = [Edit::SetMode {
        role,
        change: change.clone(),
    }];
    match edit(layout, role, &edits, Mode::Write) {
        Ok(r) => Ok(r.changed),
        Err(EditFailure::Invalid(s)) => Err(format!("the new mode would not validate: {s}")),
        Err(e) => Err(e.to_string()),
    }
}
