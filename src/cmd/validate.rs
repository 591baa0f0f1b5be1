//! `xp2p validate`: compile, then let the core test the result; warn about
//! files holding secrets that others can read. Everything printed from files or
//! the core has its control characters escaped.

use xp2p_core::compile::CompileContext;
use xp2p_core::text::escape_control;
use xp2p_core::{Layout, Role};
use xp2p_store::atomic::write_synced;
use xp2p_store::coreproc::{TestOutcome, test_config};
use xp2p_store::pipeline;

use crate::args::ValidateArgs;
use crate::exit;

pub fn run(layout: &Layout, a: &ValidateArgs) -> i32 {
    let roles: Vec<Role> = match a.role {
        Some(r) => vec![r.into()],
        None => pipeline::desired_roles(layout),
    };
    if roles.is_empty() {
        eprintln!(
            "error: no Desired files in {} (create one with `xp2p init --role client|server`)",
            layout.root().display()
        );
        return exit::FAILED;
    }
    warn_readable_secrets(layout);
    let mut code = exit::OK;
    for role in roles {
        if !validate_role(layout, role) {
            code = exit::FAILED;
        }
    }
    code
}

fn validate_role(layout: &Layout, role: Role) -> bool {
    let (_, core, compiled) = match pipeline::compile_role(layout, role, &CompileContext::default())
    {
        Ok(v) => v,
        Err(problems) => {
            for p in &problems.0 {
                eprintln!("error: {}", escape_control(&p.to_string()));
            }
            return false;
        }
    };
    let tmp = match tempfile::Builder::new().prefix("xp2p-validate-").tempdir() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {role}: cannot create a temporary directory: {e}");
            return false;
        }
    };
    let file = tmp.path().join("xray.json");
    if let Err(e) = write_synced(&file, &compiled.xray_json) {
        eprintln!("error: {role}: cannot write {}: {e}", file.display());
        return false;
    }
    match test_config(&core, &file) {
        Ok(TestOutcome::Ok) => {
            println!(
                "{role}: ok ({}; config sha256 {})",
                core.describe(),
                &compiled.config_sha256()[..12]
            );
            true
        }
        Ok(TestOutcome::Refused { exit_code, message }) => {
            let code = exit_code.map_or("killed".to_string(), |c| format!("exit {c}"));
            eprintln!(
                "error: {}: the core refused the compiled config ({code}): {} [config_test_failed]",
                layout.desired_toml(role).display(),
                escape_control(&message)
            );
            false
        }
        Err(e) => {
            eprintln!(
                "error: {role}: cannot run {}: {} [core_not_found]",
                core.path.display(),
                escape_control(&e.to_string())
            );
            false
        }
    }
}

/// One warning line per file holding credentials or keys that others may read
/// (the exit code does not change: the operator chose the mode).
fn warn_readable_secrets(layout: &Layout) {
    for path in xp2p_store::secrets::secret_files(layout) {
        if let Some(mode) = xp2p_store::secrets::world_readable(&path) {
            eprintln!(
                "warning: {}: holds secrets but is readable by others (mode {mode:04o}; chmod o-r it)",
                escape_control(&path.display().to_string())
            );
        }
    }
}
