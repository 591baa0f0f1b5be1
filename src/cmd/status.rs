//! `xp2p status`: the service's snapshot, or — when it is not running or does
//! not answer in time — the same view built from the files, saying so. Text
//! from files and the service is shown with control characters escaped.

use std::borrow::Cow;

use serde_json::{Value, json};
use xp2p_core::Layout;
use xp2p_core::text::escape_control;
use xp2p_ipc::{ConnectError, Request, Response, ServiceInfo, State};
use xp2p_store::status;

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
            Err(e @ (ConnectError::PermissionDenied(_) | ConnectError::Protocol(_))) => {
                return connect_error(command, a.json, &e);
            }
            Err(e @ ConnectError::NotAnswering(_)) => return silent(layout, a.json, command, &e),
            Err(_) => {
                let state = offline_state(layout, None);
                print_state(&state, a.json, command);
                return exit::OK;
            }
        };
        if !a.watch {
            return match client.call(&Request::status()).await {
                Ok(Response::StatusOk { state }) => {
                    print_state(&state, a.json, command);
                    exit::OK
                }
                Ok(other) => connect_error(command, a.json, &ConnectError::unexpected(&other)),
                Err(e @ ConnectError::NotAnswering(_)) => silent(layout, a.json, command, &e),
                Err(e) => connect_error(command, a.json, &e),
            };
        }
        // --watch: a fresh status after every event (the snapshot is the truth).
        if let Err(e) = client.ask(&Request::subscribe(false)).await {
            return connect_error(command, a.json, &e);
        }
        loop {
            match client.ask(&Request::status()).await {
                Ok(Response::StatusOk { state }) => {
                    if !a.json {
                        print!("\x1b[2J\x1b[H");
                    }
                    print_state(&state, a.json, command);
                }
                Ok(other) => {
                    return connect_error(command, a.json, &ConnectError::unexpected(&other));
                }
                Err(e) => return connect_error(command, a.json, &e),
            }
            if let Err(e) = client.next_frame().await {
                return connect_error(command, a.json, &e);
            }
        }
    })
}

/// A service that holds its socket but does not answer (stopped, hung): the
/// files' view, saying so, and exit 5 (timeout).
fn silent(layout: &Layout, json_out: bool, command: &str, e: &ConnectError) -> i32 {
    let state = offline_state(layout, Some(e.to_string()));
    print_state(&state, json_out, command);
    exit::TIMEOUT
}

/// The view built from the files; `silent` says why a present service was not asked.
fn offline_state(layout: &Layout, silent: Option<String>) -> State {
    let service = match silent {
        None => ServiceInfo::default(),
        Some(why) => ServiceInfo {
            running: true,
            answering: Some(false),
            error: Some(why),
            ..ServiceInfo::default()
        },
    };
    State {
        roles: status::snapshot(layout),
        service,
    }
}

/// A string field for a terminal: control characters escaped.
fn text(v: &Value) -> Cow<'_, str> {
    escape_control(v.as_str().unwrap_or(""))
}

/// The first `n` characters of a string field (ids), escaped.
fn short(v: &Value, n: usize) -> String {
    let s: String = v.as_str().unwrap_or("").chars().take(n).collect();
    escape_control(&s).into_owned()
}

fn print_state(state: &State, json_out: bool, command: &str) {
    let state = &serde_json::to_value(state).unwrap_or(Value::Null);
    if json_out {
        println!(
            "{}",
            json!({"schema_version": "1", "command": command, "state": state})
        );
        return;
    }
    let svc = &state["service"];
    if svc["answering"].as_bool() == Some(false) {
        println!(
            "service: does not answer ({}); showing what the files say",
            text(&svc["error"])
        );
    } else if svc["running"].as_bool() == Some(true) {
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
        let role = r["role"]
            .as_str()
            .map_or(Cow::Borrowed("?"), escape_control);
        let core = &r["core"];
        let sha = |v: &Value| {
            v.as_str()
                .map(|_| short(v, 12))
                .unwrap_or_else(|| "-".into())
        };
        println!(
            "{role:<7} {:<9} pid {:<8} up {:<7} live {}  lkg {}",
            core["display"]
                .as_str()
                .map_or(Cow::Borrowed("?"), escape_control),
            core["pid"].as_i64().map_or("-".into(), |p| p.to_string()),
            core["uptime_s"]
                .as_u64()
                .map_or("-".into(), |u| format!("{u}s")),
            sha(&r["live"]["config_sha256"]),
            sha(&r["lkg"]["config_sha256"]),
        );
        // Why the core is not running (e.g. `restarting in 4 s (crash 3 of 10)`).
        if !matches!(core["display"].as_str(), Some("running" | "starting"))
            && let (Some(reason), Some(detail)) =
                (core["reason_code"].as_str(), core["detail"].as_str())
        {
            println!("        core {reason}: {detail}");
        }
        for i in core["inbounds"].as_array().into_iter().flatten() {
            println!(
                "        inbound {} {}:{} {}",
                text(&i["tag"]),
                text(&i["listen"]),
                i["port"],
                text(&i["health"])
            );
        }
        match r["pending_request"]["id"].as_str() {
            Some(_) => println!(
                "        pending request {} ({})",
                short(&r["pending_request"]["id"], 8),
                text(&r["pending_request"]["timestamp"])
            ),
            None => println!("        pending request: none"),
        }
        if r["error"]["code"].is_string() {
            println!(
                "        error {}: {} (request {})",
                text(&r["error"]["code"]),
                text(&r["error"]["reason"]),
                short(&r["error"]["request_id"], 8)
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
                    .map_or(Cow::Borrowed("running"), escape_control),
                att.get("duration_ms")
                    .and_then(Value::as_u64)
                    .map_or(String::new(), |m| format!("in {m} ms")),
                att.get("error")
                    .and_then(Value::as_str)
                    .map_or(String::new(), |e| format!(" — {}", escape_control(e))),
            );
        }
        let tun = serde_json::from_value::<xp2p_store::tunstate::TunView>(r["tun"].clone())
            .map(|t| t.summary())
            .unwrap_or_else(|_| r["tun_phase"].as_str().unwrap_or("disabled").to_string());
        println!("        tun: {}", escape_control(&tun));
        // Server: each reverse channel's last probe (xp2p ping --channel's path).
        for ch in r["channels"].as_array().into_iter().flatten() {
            let key = text(&ch["key"]);
            match (ch["state"].as_str(), ch["rtt_ms"].as_f64()) {
                (Some("up"), Some(ms)) => println!("        channel {key} up {ms:.1} ms"),
                (Some("down"), _) => {
                    println!("        channel {key} down: {}", text(&ch["error"]))
                }
                _ => println!("        channel {key} unknown (not probed yet)"),
            }
        }
    }
}
