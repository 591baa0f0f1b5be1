//! Reading, editing, checking and locking Desired for deploy: the role lock with
//! a little patience, the current bytes of a role's TOML, typed edits through
//! the one Desired editor (`xp2p_core::desired::edit`), a full compile of a
//! candidate TOML (with the role's snippets: the loader and validator an apply
//! runs, and the compiler) so deploy never writes a Desired file the service
//! would refuse, and the private write of what deploy makes.

use super::error::DeployError;
use super::progress::Step;
use crate::compile::{self, CompileContext};
use crate::layout::Layout;
use crate::role::Role;
use xp2p_core::coreproc::CoreInfo;
use xp2p_core::desired::edit::{self, Edit};
use xp2p_store::lock::FileLock;
use xp2p_store::pipeline;

/// Takes `.state/locks/<role>.lock`, waiting up to 10 s for a holder (the
/// service holds it briefly while it reads Desired); see
/// [`xp2p_store::desired_edit::lock_role`].
pub fn lock_role(layout: &Layout, role: Role) -> Result<FileLock, DeployError> {
    xp2p_store::desired_edit::lock_role(layout, role)
        .map_err(|e| DeployError::new(Step::WritingDesired, "lock_held", e))
}

/// The role's TOML bytes now (`None` when the file does not exist).
pub fn read_toml(layout: &Layout, role: Role, step: Step) -> Result<Option<Vec<u8>>, DeployError> {
    let path = layout.desired_toml(role);
    xp2p_platform::fsread::read_operator_file_opt(&path, xp2p_platform::fsread::MAX_TOML)
        .map_err(|e| DeployError::new(step, "invalid_desired", e.to_string()))
}

/// Writes a Desired file or key deploy made: created 0600 (0640 for
/// `[service] socket_group`); an existing file keeps its mode and owner.
pub fn write_desired(layout: &Layout, path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    xp2p_store::atomic::write_secret(path, bytes, xp2p_store::secrets::for_layout(layout))
}

/// `src` (a role's Desired text) with `edits` applied by the domain editor,
/// keeping the operator's comments and layout. The editor's own checks run
/// here (duplicate label or tag, a setting out of range); the whole result is
/// judged by [`compile_check`] before anything is written.
pub fn edit_text(
    layout: &Layout,
    role: Role,
    src: &str,
    edits: &[Edit],
    step: Step,
) -> Result<String, DeployError> {
    let now = super::rfc3339(super::unix_now());
    edit::edit_text(role, &layout.desired_toml(role), src, edits, &now)
        .map(|e| e.text)
        .map_err(|e| DeployError::new(step, "invalid_desired", e.to_string()))
}

/// A role's Desired as found before the deploy: the bytes (to write back on an
/// error) and the parsed model; absent is fine, unparsable is not.
#[derive(Debug, Clone)]
pub struct DesiredBase<T> {
    pub bytes: Option<Vec<u8>>,
    pub model: Option<T>,
}

/// Reads and parses `xp2p-<role>.toml` with `parse`.
pub fn read_base<T>(
    layout: &Layout,
    role: Role,
    step: Step,
    parse: fn(&std::path::Path, &str) -> Result<T, xp2p_core::error::Problems>,
) -> Result<DesiredBase<T>, DeployError> {
    let bytes = read_toml(layout, role, step)?;
    let model = match &bytes {
        None => None,
        Some(b) => {
            let path = layout.desired_toml(role);
            let src = std::str::from_utf8(b).map_err(|_| {
                DeployError::new(
                    step,
                    "invalid_desired",
                    format!("{} is not UTF-8", path.display()),
                )
            })?;
            Some(parse(&path, src).map_err(|p| {
                DeployError::new(
                    step,
                    "invalid_desired",
                    format!("fix {} first: {p}", path.display()),
                )
            })?)
        }
    };
    Ok(DesiredBase { bytes, model })
}

/// The core `[core] path` names (`configured`, may be empty) or discovery finds.
pub fn find_core(layout: &Layout, configured: &str, step: Step) -> Result<CoreInfo, DeployError> {
    xp2p_store::coreproc::discover(layout, configured)
        .map_err(|e| DeployError::new(step, "no_core", e.to_string()))
}

/// Compiles `toml` as the role's Desired (with the role's snippets from disk).
pub fn compile_check(
    layout: &Layout,
    role: Role,
    core: &CoreInfo,
    toml: &str,
    step: Step,
) -> Result<(), DeployError> {
    let mut files = pipeline::read(layout, role).map_err(|p| problems(step, &p))?;
    files.toml = Some(toml.as_bytes().to_vec());
    compile::compile(layout, &files, core, &CompileContext::default())
        .map(|_| ())
        .map_err(|p| problems(step, &p))
}

fn problems(step: Step, p: &xp2p_core::Problems) -> DeployError {
    let text: Vec<String> = p.0.iter().map(ToString::to_string).collect();
    DeployError::new(
        step,
        "invalid_desired",
        format!("the new Desired would be invalid: {}", text.join("; ")),
    )
}

/// A layout in a fresh temporary directory (unit tests of the Desired modules).
#[cfg(test)]
pub(crate) fn temp_layout() -> (tempfile::TempDir, Layout) {
    let d = tempfile::tempdir().unwrap();
    let l = Layout::new(d.path(), d.path().join("logs"));
    (d, l)
}
