//! `xp2p status`: the service's snapshot, or — when it is not running — the same
//! view built from the files, saying so.

use serde_json::{Value, json};
use xp2p_core::ipc::Frame;
use xp2p_core::{Layout, status};

use super::ipc::{connect, connect_error, runtime};
use crate::args::StatusArgs;
use crate::exit;

pub fn run(layout: &Layout, a: &StatusArgs) -> i32 {
    let command = "xp2p status";
    let Some(rt) = runtime() else {
        return exit::FAILED;
    };
    rt.block_on(async {
        let mut client = match connect(layout).await {
            Ok(c) => c,
            Err(e @ xp2p_core::ipc::ConnectError::PermissionDenied(_)) => {
                return connect_error(command, a.json, &e);
            }
            Err(_) => {
                let state = offline_state(layout);
                print_state(&state, a.json, command);
                return exit::OK;
            }
        };
        if !a.watch {
            return match client.request(Frame::new("status", None)).await {
                Ok(f) if f.kind == "status.ok" => {
                    print_state(f.body.get("state").unwrap_or(&Value::Null), a.json, command);
                    exit::OK
                }
                Ok(f) => connect_error(command, a.json, &xp2p_core::ipc::client::answer_error(&f)),
                Err(e) => connect_error(command, a.json, &e),
            };
        }
        // --watch: a fresh status after every event (the snapshot is the truth).
        if let Err(e) = client.request(Frame::new("subscribe", None)).await {
            return connect_error(command, a.json, &e);
        }
        loop {
            match client.request(Frame::new("status", None)).await {
                Ok(f) => {
                    if !a.json {
                        print!("\x1b[2J\x1b[H");
                    }
                    print_state(f.body.get("state").unwrap_or(&Value::Null), a.json, command);
                }
                Err(e) => return connect_error(command, a.json, &e),
            }
            if let Err(e) = client.next_frame().await {
                return connect_error(command, a.json, &e);
            }
        }
    })
}

fn offline_state(layout: &Layout) -> Value {
    json!({"roles": status::snapshot(layout), "service": {"running": false}})
}

fn print_state(state: &Value, json_out: bool, command: &str) {
    if json_out {
        println!(
            "{}",
            json!({"schema_version": "1", "command": command, "state": state})
        );
        return;
    }
    let svc = &state["service"];
    if svc["running"].as_bool() == Some(true) {
        println!(
            "service: running (pid {}, up {}s)",
            svc["pid"], svc["uptime_s"]
        );
    } else {
        println!("service: not running (showing what the files say; start it: xp2p service run)");
    }
    let roles = state["roles"].as_array().cloned().unwrap_or_default();
    if roles.is_empty() {
        println!("no roles: create one with `xp2p init --role client|server`");
    }
    for r in roles {
        let role = r["role"].as_str().unwrap_or("?");
        let core = &r["core"];
        let sha = |v: &Value| {
            v.as_str()
                .map(|s| s.get(..12).unwrap_or(s).to_string())
                .unwrap_or_else(|| "-".into())
        };
        println!(
            "{role:<7} {:<9} pid {:<8} up {:<7} live {}  lkg {}",
            core["display"].as_str().unwrap_or("?"),
            core["pid"].as_i64().map_or("-".into(), |p| p.to_string()),
            core["uptime_s"]
                .as_u64()
                .map_or("-".into(), |u| format!("{u}s")),
            sha(&r["live"]["config_sha256"]),
            sha(&r["lkg"]["config_sha256"]),
        );
        for i in core["inbounds"].as_array().into_iter().flatten() {
            println!(
                "        inbound {} {}:{} {}",
                i["tag"].as_str().unwrap_or(""),
                i["listen"].as_str().unwrap_or(""),
                i["port"],
                i["health"].as_str().unwrap_or("")
            );
        }
        match r["pending_request"]["id"].as_str() {
            Some(id) => println!(
                "        pending request {} ({})",
                &id[..id.len().min(8)],
                r["pending_request"]["timestamp"].as_str().unwrap_or("")
            ),
            None => println!("        pending request: none"),
        }
        if let Some(code) = r["error"]["code"].as_str() {
            println!(
                "        error {code}: {} (request {})",
                r["error"]["reason"].as_str().unwrap_or(""),
                r["error"]["request_id"]
                    .as_str()
                    .map(|s| &s[..s.len().min(8)])
                    .unwrap_or("")
            );
        }
        if r["desired_changed"].as_bool() == Some(true) {
            println!("        Desired differs from Live");
        }
        if let Some(att) = r["last_attempt"].as_object() {
            println!(
                "        last attempt: {} {}{}",
                att.get("outcome")
                    .and_then(Value::as_str)
                    .unwrap_or("running"),
                att.get("duration_ms")
                    .and_then(Value::as_u64)
                    .map_or(String::new(), |m| format!("in {m} ms")),
                att.get("error")
                    .and_then(Value::as_str)
                    .map_or(String::new(), |e| format!(" — {e}")),
            );
        }
        let tun = serde_json::from_value::<xp2p_core::tunstate::TunView>(r["tun"].clone())
            .map(|t| t.summary())
            .unwrap_or_else(|_| r["tun_phase"].as_str().unwrap_or("disabled").to_string());
        println!("        tun: {tun}");
    }
}
