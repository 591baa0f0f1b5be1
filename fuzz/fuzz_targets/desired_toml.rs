//! Desired TOML + compile: any bytes as `xp2p-client.toml` / `xp2p-server.toml`
//! must load or fail with one-line errors, and a loaded model must compile or
//! fail cleanly. Never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use xp2p_core::compile::{CompileContext, compile};
use xp2p_core::coreproc::{CoreInfo, Flavour};
use xp2p_core::digest::DesiredFiles;
use xp2p_core::{Layout, Role};

fuzz_target!(|data: &[u8]| {
    let layout = Layout::new("/nonexistent/xp2p-fuzz", "/nonexistent/xp2p-fuzz/logs");
    let core = CoreInfo { path: "/usr/bin/v2ray".into(), flavour: Flavour::V2ray, version: "4.34.0".into() };
    for role in Role::ALL {
        let files = DesiredFiles { role, toml: Some(data.to_vec()), snippets: Default::default(), assets: Default::default() };
        if let Err(p) = compile(&layout, &files, &core, &CompileContext::default()) {
            for e in &p.0 {
                assert!(!e.to_string().contains('\n'), "one line per problem");
            }
        }
    }
});
