//! `xp2p validate`: compile, then let the core test the result.

use xp2p_core::compile::CompileContext;
use xp2p_core::coreproc::{TestOutcome, test_config};
use xp2p_core::store::atomic::write_synced;
use xp2p_core::{Layout, Role, pipeline};

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
            super::report(&problems);
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
                "error: {}: the core refused the compiled config ({code}): {message} [config_test_failed]",
                layout.desired_toml(role).display()
            );
            false
        }
        Err(e) => {
            eprintln!(
                "error: {role}: cannot run {}: {e} [core_not_found]",
                core.path.display()
            );
            false
        }
    }
}
