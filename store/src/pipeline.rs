//! The one path from files to a compiled role, shared by the CLI and the service:
//! read Desired once, find the core it names, compile.

use crate::compile::{self, CompileContext, Compiled};
use crate::coreproc::{self, CoreInfo};
use crate::digest::{self, DesiredFiles};
use crate::error::{ConfigError, ErrorCode, Problems};
use crate::layout::Layout;
use crate::role::Role;

/// Reads the role's Desired set (one consistent read).
pub fn read(layout: &Layout, role: Role) -> Result<DesiredFiles, Problems> {
    digest::read_desired(layout, role).map_err(|e| {
        Problems::one(ConfigError::new(
            ErrorCode::InvalidToml,
            layout.desired_toml(role),
            "",
            format!("cannot read Desired files: {e}"),
        ))
    })
}

/// Finds the core named by the role's `[core] path` (or by discovery).
pub fn find_core(layout: &Layout, files: &DesiredFiles) -> Result<CoreInfo, Problems> {
    let (desired, _) = compile::check(layout, files)?;
    coreproc::discover(layout, &desired.core().path).map_err(|e| {
        Problems::one(ConfigError::new(
            ErrorCode::CoreNotFound,
            layout.desired_toml(files.role),
            "core.path",
            e.to_string(),
        ))
    })
}

/// Reads, discovers and compiles in one go.
pub fn compile_role(
    layout: &Layout,
    role: Role,
    ctx: &CompileContext,
) -> Result<(DesiredFiles, CoreInfo, Compiled), Problems> {
    let files = read(layout, role)?;
    let core = find_core(layout, &files)?;
    let compiled = compile::compile(layout, &files, &core, ctx)?;
    Ok((files, core, compiled))
}

/// Roles that have a Desired TOML.
pub fn desired_roles(layout: &Layout) -> Vec<Role> {
    Role::ALL
        .into_iter()
        .filter(|r| layout.desired_toml(*r).is_file())
        .collect()
}
