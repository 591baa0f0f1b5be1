//! `xp2p client mode …` and `xp2p server mode …`: write the mode into Desired
//! (under the role lock, validated) and request an apply like `xp2p apply`
//! (`--wait` waits for it). The service then reconciles TUN, routes and DNS.

use xp2p_core::Role;
use xp2p_core::desired::mode::ModeChange;
use xp2p_store::desired_edit::set_mode;

use super::apply::run_apply_expecting;
use super::ipc::fail;
use crate::args::{ApplyArgs, ClientModeArgs, ModeApplyArgs, RoleOrAll, ServerModeArgs};
use crate::exit;
use xp2p_core::Layout;

pub fn run_client(layout: &Layout, a: &ClientModeArgs) -> i32 {
    let name = match (a.mode.as_str(), a.tun_mode.as_deref()) {
        ("proxy", None) => "proxy",
        ("tun", Some(m)) => m,
        ("tun", None) => {
            return usage(&a.apply, "`xp2p client mode tun` needs `split` or `full`");
        }
        (_, Some(_)) => return usage(&a.apply, "`proxy` takes no split/full"),
        (other, None) => return usage(&a.apply, &format!("unknown mode `{other}`")),
    };
    if a.tag.is_some() && name != "full" {
        return usage(&a.apply, "--tag only applies to `tun full`");
    }
    match ModeChange::parse(Role::Client, name, a.tag.clone()) {
        Ok(change) => switch(layout, Role::Client, &change, &a.apply),
        Err(e) => usage(&a.apply, &e),
    }
}

pub fn run_server(layout: &Layout, a: &ServerModeArgs) -> i32 {
    match ModeChange::parse(Role::Server, &a.mode, None) {
        Ok(change) => switch(layout, Role::Server, &change, &a.apply),
        Err(e) => usage(&a.apply, &e),
    }
}

fn usage(a: &ModeApplyArgs, msg: &str) -> i32 {
    fail("xp2p mode", a.json, "invalid_request", msg, exit::USAGE)
}

fn switch(layout: &Layout, role: Role, change: &ModeChange, a: &ModeApplyArgs) -> i32 {
    let command = format!("xp2p {role} mode");
    match set_mode(layout, role, change) {
        Ok(changed) => {
            if !a.json {
                let path = layout.desired_toml(role);
                if changed {
                    eprintln!("{command}: {} updated; applying", path.display());
                } else {
                    eprintln!("{command}: {} already says so; applying", path.display());
                }
            }
        }
        Err(e) if lacks_write_access(layout, role) => {
            return fail(&command, a.json, "permission_denied", &e, exit::PERMISSION);
        }
        Err(e) => return fail(&command, a.json, "invalid_desired", &e, exit::FAILED),
    }
    run_apply_expecting(
        layout,
        &ApplyArgs {
            role: match role {
                Role::Client => RoleOrAll::Client,
                Role::Server => RoleOrAll::Server,
            },
            wait: a.wait,
            timeout: a.timeout,
            json: a.json,
        },
        &command,
        Some(change.settled_phase()),
    )
}

/// Whether this user may not write the role's lock or Desired file (a
/// non-owner, a read-only `socket_group` member): exit 7, like `apply`.
/// Opening for append changes nothing.
fn lacks_write_access(layout: &Layout, role: Role) -> bool {
    [layout.role_lock(role), layout.desired_toml(role)]
        .iter()
        .any(|p| {
            matches!(
                std::fs::OpenOptions::new().append(true).open(p),
                Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied
            )
        })
}
