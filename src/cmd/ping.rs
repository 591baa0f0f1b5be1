//! `xp2p ping`: round trips from the client's SOCKS inbound, through each
//! endpoint's tunnel, to the server's diagnostics responder (see core::diag);
//! `--channel KEY` on a server: one probe of a reverse channel, through the
//! portal and the client's bridge to the client's responder.

use std::time::Duration;

use serde_json::json;
use xp2p_core::status::{ChannelHealth, ChannelState};
use xp2p_core::text::escape_control;
use xp2p_core::{Layout, Role};
use xp2p_service::diag::channels;
use xp2p_store::live::{self, Slot};

use crate::args::PingArgs;
use crate::exit;

pub fn run(layout: &Layout, a: &PingArgs) -> i32 {
    let command = "xp2p ping";
    let fail =
        |msg: String| super::ipc::fail(command, a.json, "invalid_request", &msg, exit::FAILED);
    if let Some(key) = &a.channel {
        return channel(layout, key, a.json);
    }
    let rt = match live::read_runtime(layout, Role::Client, Slot::Live) {
        Ok(Some(rt)) => rt,
        Ok(None) => {
            return fail(format!(
                "no Live client config in {} (apply one first)",
                layout.live_dir(Role::Client).display()
            ));
        }
        Err(e) => return fail(e.to_string()),
    };
    let Some(socks) = rt.inbounds.iter().find(|i| i.tag == "socks-in") else {
        return fail("the client's Live config has no socks-in inbound".into());
    };
    let host = if socks.listen == "0.0.0.0" {
        "127.0.0.1"
    } else {
        socks.listen.as_str()
    };
    let Ok(socks_addr) = format!("{host}:{}", socks.port).parse() else {
        return fail(format!("bad SOCKS address {host}:{}", socks.port));
    };
    let endpoints: Vec<_> = rt
        .endpoints
        .iter()
        .filter(|e| a.endpoint.as_ref().is_none_or(|t| *t == e.tag))
        .collect();
    if endpoints.is_empty() {
        let known: Vec<&str> = rt.endpoints.iter().map(|e| e.tag.as_str()).collect();
        return fail(format!("no such endpoint (known: {})", known.join(", ")));
    }
    let mut results = Vec::new();
    let mut all_ok = true;
    for e in endpoints {
        let Ok(marker) = e.marker.parse() else {
            all_ok = false;
            results.push(json!({"endpoint": e.tag, "sent": 0, "received": 0, "rtt_ms": [], "error": "Live predates diagnostics markers: apply again"}));
            continue;
        };
        let mut rtts = Vec::new();
        let mut last_err = None;
        for seq in 1..=a.count.max(1) {
            match xp2p_deploy::probe::ping(socks_addr, marker, Duration::from_secs(5)) {
                Ok(rtt) => {
                    let ms = rtt.as_secs_f64() * 1000.0;
                    if !a.json {
                        println!("{}: seq={seq} rtt={ms:.2} ms", e.tag);
                    }
                    rtts.push((ms * 100.0).round() / 100.0);
                }
                Err(err) => {
                    if !a.json {
                        println!("{}: seq={seq} failed: {err}", e.tag);
                    }
                    last_err = Some(err);
                }
            }
        }
        if rtts.is_empty() {
            all_ok = false;
        }
        if !a.json {
            println!("{}: {}/{} answered", e.tag, rtts.len(), a.count.max(1));
        }
        results.push(json!({"endpoint": e.tag, "sent": a.count.max(1), "received": rtts.len(), "rtt_ms": rtts, "error": last_err}));
    }
    if a.json {
        println!(
            "{}",
            json!({"schema_version": "1", "command": command, "results": results})
        );
    }
    if all_ok { exit::OK } else { exit::FAILED }
}

/// One probe of the server's reverse channel `key` (or the channel tagged so).
fn channel(layout: &Layout, key: &str, json_out: bool) -> i32 {
    let command = "xp2p ping";
    let fail =
        |msg: String| super::ipc::fail(command, json_out, "invalid_request", &msg, exit::FAILED);
    let rt = match live::read_runtime(layout, Role::Server, Slot::Live) {
        Ok(Some(rt)) => rt,
        Ok(None) => {
            return fail(format!(
                "no Live server config in {} (apply one first)",
                layout.live_dir(Role::Server).display()
            ));
        }
        Err(e) => return fail(e.to_string()),
    };
    let Some(ch) = rt
        .channels
        .iter()
        .find(|c| c.key == key)
        .or_else(|| rt.channels.iter().find(|c| c.tag.eq_ignore_ascii_case(key)))
    else {
        let known: Vec<&str> = rt.channels.iter().map(|c| c.key.as_str()).collect();
        return fail(format!(
            "--channel: no enabled reverse channel `{}` in the server's Live config (known: {})",
            escape_control(key),
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        ));
    };
    let at = xp2p_store::markers::now_rfc3339();
    let probe = channels::probe(&rt, ch, channels::PROBE_TIMEOUT);
    let h = ChannelHealth::from_probe(ch, probe, &at);
    if json_out {
        println!(
            "{}",
            json!({"schema_version": "1", "command": command, "channel": {
                "key": h.key, "tag": h.tag, "state": h.state,
                "rtt_ms": h.rtt_ms, "error": h.error}})
        );
    } else {
        match (&h.rtt_ms, &h.error) {
            (Some(ms), _) => println!("channel {}: up, rtt={ms:.2} ms", h.key),
            (None, err) => println!(
                "channel {}: down: {}",
                h.key,
                err.as_deref().unwrap_or("no answer")
            ),
        }
    }
    if h.state == ChannelState::Up {
        exit::OK
    } else {
        exit::FAILED
    }
}
