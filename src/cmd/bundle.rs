//! `xp2p debug bundle`: one 0600 archive of what a person needs to help with
//! this root — redacted Desired, Live and LKG, markers, the journal's tail,
//! sessions, log tails, versions and OS facts — and no credential (what goes
//! in and how it is redacted: `xp2p_store::bundle`).

use serde_json::json;
use xp2p_core::Layout;
use xp2p_store::archive::{self, Overwrite};

use super::ipc::fail;
use crate::args::DebugBundleArgs;
use crate::exit;

const COMMAND: &str = "xp2p debug bundle";

pub fn run(layout: &Layout, a: &DebugBundleArgs) -> i32 {
    let members = xp2p_store::bundle::collect(layout);
    let overwrite = if a.force {
        Overwrite::Replace
    } else {
        Overwrite::Refuse
    };
    if let Err(e) = archive::write(&a.output, &members, overwrite) {
        return fail(COMMAND, a.json, "write_failed", &e, exit::FAILED);
    }
    if a.json {
        let listed: Vec<_> = members
            .iter()
            .map(|m| json!({"path": m.path, "size": m.bytes.len()}))
            .collect();
        let result =
            json!({"output": a.output.display().to_string(), "mode": "0600", "members": listed});
        println!(
            "{}",
            json!({"schema_version": "1", "command": COMMAND, "result": result})
        );
        return exit::OK;
    }
    let bytes: usize = members.iter().map(|m| m.bytes.len()).sum();
    println!(
        "{COMMAND}: wrote {} (mode 0600, {} files, {} KiB before compression)",
        a.output.display(),
        members.len(),
        bytes.div_ceil(1024)
    );
    println!(
        "Credentials and keys are redacted; logs may still name hosts and addresses: look through it before you share it."
    );
    exit::OK
}
