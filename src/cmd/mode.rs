//! `xp2p client mode …` and `xp2p server mode …`: write the mode into Desired
//! through the one edit driver (under the role lock, validated; `--dry-run`
//! shows the diffs) and request an apply like `xp2p apply` (`--wait` waits
//! for it, and for the mode's TUN phase). The service then reconciles TUN, routes and DNS.

use xp2p_core::desired::edit::Edit;
use xp2p_core::desired::mode::ModeChange;
use xp2p_core::{Layout, Role};

use super::edit;
use super::ipc::fail;
use crate::args::{ClientModeArgs, EditArgs, ModeApplyArgs, ServerModeArgs};
use crate::exit;

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
    let edits = [Edit::SetMode {
        role,
        change: change.clone(),
    }];
    let edit_args = EditArgs {
        dry_run: a.dry_run,
        wait: a.wait,
        timeout: a.timeout,
        json: a.json,
    };
    edit::run_expecting(
        layout,
        role,
        &command,
        &edits,
        &edit_args,
        Some(change.settled_phase()),
        |_| {},
    )
}
