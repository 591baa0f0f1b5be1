//! `xp2p repair`: put TUN, routes and DNS right. With a running service it asks
//! the service (the owner of OS state) to reconcile now; with none, it restores
//! each role's baseline from its state file (what a killed service left).

use serde_json::{Value, json};
use xp2p_core::Layout;
use xp2p_ipc::Frame;
use xp2p_ipc::client::answer_error;

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
            Ok(mut c) => match c.request(Frame::new("repair", None)).await {
                Ok(ans) if ans.kind == "error" => {
                    connect_error(COMMAND, a.json, &answer_error(&ans))
                }
                Ok(ans) => report_service(a, ans.body.get("tun").cloned().unwrap_or(Value::Null)),
                Err(e) => connect_error(COMMAND, a.json, &e),
            },
            Err(e @ xp2p_ipc::ConnectError::PermissionDenied(_)) => {
                connect_error(COMMAND, a.json, &e)
            }
            Err(_) => offline(layout, a).await,
        }
    })
}

fn report_service(a: &RepairArgs, tun: Value) -> i32 {
    let mut code = exit::OK;
    if let Some(map) = tun.as_object() {
        for (role, v) in map {
            let phase = v["phase"].as_str().unwrap_or("?");
            if phase == "error_latched" {
                code = exit::FAILED;
            }
            if !a.json {
                let mut line = format!("{role}: {phase}");
                if let Some(r) = v["pending_reason"].as_str() {
                    line.push_str(&format!(" (pending: {r})"));
                }
                if let Some(e) = v["last_error"].as_str() {
                    line.push_str(&format!(" (error: {e})"));
                }
                println!("{line}");
            }
        }
    }
    if a.json {
        println!("{}", json!({"service": true, "tun": tun}));
    }
    code
}

#[cfg(target_os = "linux")]
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
        Err(e) => fail(COMMAND, a.json, "repair_failed", &e, exit::FAILED),
    }
}

#[cfg(not(target_os = "linux"))]
async fn offline(_layout: &Layout, a: &RepairArgs) -> i32 {
    fail(
        COMMAND,
        a.json,
        "unsupported",
        "OS state repair is implemented for Linux only",
        exit::FAILED,
    )
}
