//! `xp2p repair`: put TUN, routes and DNS right. With a running service it asks
//! the service (the owner of OS state) to reconcile now; with none, it restores
//! each role's baseline from its state file (what a killed service left).

use std::collections::BTreeMap;

use serde_json::json;
use xp2p_core::{Layout, Role};
use xp2p_ipc::{ConnectError, Request, Response};
use xp2p_service::tun::TunError;
use xp2p_store::tunstate::{Phase, TunView};

use super::ipc::{connect, connect_error, fail, runtime};
use crate::args::RepairArgs;
use crate::exit;

const COMMAND: &str = "xp2p repair";

pub fn run(layout: &Layout, a: &RepairArgs) -> i32 {
    let Some(rt) = runtime() else {
        return exit::FAILED;
    };
    rt.block_on(async {
        match connect(layout).await {
            Ok(mut c) => match c.call(&Request::repair()).await {
                Ok(Response::RepairOk { tun }) => report_service(a, &tun),
                Ok(other) => connect_error(COMMAND, a.json, &ConnectError::unexpected(&other)),
                Err(e) => connect_error(COMMAND, a.json, &e),
            },
            Err(e @ xp2p_ipc::ConnectError::PermissionDenied(_)) => {
                connect_error(COMMAND, a.json, &e)
            }
            Err(_) => offline(layout, a).await,
        }
    })
}

fn report_service(a: &RepairArgs, tun: &BTreeMap<Role, TunView>) -> i32 {
    let mut code = exit::OK;
    for (role, v) in tun {
        if v.phase == Phase::ErrorLatched {
            code = exit::FAILED;
        }
        if !a.json {
            let mut line = format!("{role}: {}", v.phase);
            if let Some(r) = &v.pending_reason {
                line.push_str(&format!(" (pending: {r})"));
            }
            if let Some(e) = &v.last_error {
                line.push_str(&format!(" (error: {e})"));
            }
            println!("{line}");
        }
    }
    if a.json {
        println!("{}", json!({"service": true, "tun": tun}));
    }
    code
}

/// Without a service: restore each role's baseline from its state file. An OS
/// without TUN says so with `tun_unsupported` and [`exit::UNSUPPORTED`].
async fn offline(layout: &Layout, a: &RepairArgs) -> i32 {
    match xp2p_service::tun::repair_offline(layout).await {
        Ok(lines) => {
            if a.json {
                println!("{}", json!({"service": false, "restored": lines}));
            } else if lines.is_empty() {
                println!("nothing to repair: no TUN, route or DNS change is recorded");
            } else {
                for l in lines {
                    println!("{l}");
                }
            }
            exit::OK
        }
        Err(e) => fail(COMMAND, a.json, e.code(), &e.to_string(), exit_code(&e)),
    }
}

/// The exit status of a failed offline repair.
fn exit_code(e: &TunError) -> i32 {
    match e {
        TunError::Unsupported => exit::UNSUPPORTED,
        TunError::Restore(_) => exit::FAILED,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_os_without_tun_has_its_own_code_and_exit_status() {
        let e = TunError::Unsupported;
        assert_eq!(
            (e.code(), exit_code(&e)),
            ("tun_unsupported", exit::UNSUPPORTED)
        );
        assert_eq!(
            e.to_string(),
            "tun_unsupported: TUN mode is not available on this OS"
        );
        let e = TunError::Restore("restoring the client baseline: ip: boom".into());
        assert_eq!((e.code(), exit_code(&e)), ("repair_failed", exit::FAILED));
        assert_ne!(exit::UNSUPPORTED, exit::FAILED);
    }
}
