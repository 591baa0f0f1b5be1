//! `xp2p init`: write a commented starter TOML from `assets/` (0600, or 0640
//! for `[service] socket_group`: it will hold credentials).

use xp2p_core::{Layout, Role};
use xp2p_store::atomic::write_secret;

use crate::args::InitArgs;
use crate::exit;

const CLIENT_TEMPLATE: &str = include_str!("../../assets/xp2p-client.toml");
const SERVER_TEMPLATE: &str = include_str!("../../assets/xp2p-server.toml");

pub fn run(layout: &Layout, a: &InitArgs) -> i32 {
    let role: Role = a.role.into();
    let path = layout.desired_toml(role);
    if path.exists() && !a.force {
        eprintln!(
            "error: {} already exists (use --force to overwrite)",
            path.display()
        );
        return exit::FAILED;
    }
    let template = match role {
        Role::Client => CLIENT_TEMPLATE,
        Role::Server => SERVER_TEMPLATE,
    };
    if let Err(e) = write_secret(
        &path,
        template.as_bytes(),
        xp2p_store::secrets::for_layout(layout),
    ) {
        eprintln!("error: cannot write {}: {e}", path.display());
        return exit::FAILED;
    }
    println!("wrote {}", path.display());
    exit::OK
}
