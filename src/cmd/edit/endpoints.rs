//! `xp2p client endpoint add|list|update|disable|enable|remove`: the servers a
//! client tunnels to, added from a share link or from flags.

use std::collections::BTreeMap;

use serde_json::json;
use xp2p_core::desired::Desired;
use xp2p_core::desired::edit::{Edit, EndpointChanges};
use xp2p_core::desired::model::{Port, Protocol};
use xp2p_core::links::TunnelLink;
use xp2p_core::{Layout, Role};

use super::{command_name, load, print_list_json, run, usage};
use crate::args::{EndpointAddArgs, EndpointCommand, EndpointUpdateArgs, ProtocolArg};
use crate::exit;

pub fn run_endpoint(layout: &Layout, c: &EndpointCommand) -> i32 {
    match c {
        EndpointCommand::Add(a) => add(layout, a),
        EndpointCommand::List(l) => list(layout, l.json),
        EndpointCommand::Update(a) => update(layout, a),
        EndpointCommand::Disable { tag, edit } | EndpointCommand::Enable { tag, edit } => {
            let disabled = matches!(c, EndpointCommand::Disable { .. });
            let verb = if disabled { "disable" } else { "enable" };
            let edits = [Edit::EndpointSetDisabled {
                tag: tag.clone(),
                disabled,
            }];
            let command = command_name(Role::Client, "endpoint", verb);
            run(layout, Role::Client, &command, &edits, edit, |_| {})
        }
        EndpointCommand::Remove { tag, cascade, edit } => {
            let edits = [Edit::EndpointRemove {
                tag: tag.clone(),
                cascade: *cascade,
            }];
            let command = command_name(Role::Client, "endpoint", "remove");
            run(layout, Role::Client, &command, &edits, edit, |_| {})
        }
    }
}

fn add(layout: &Layout, a: &EndpointAddArgs) -> i32 {
    let command = command_name(Role::Client, "endpoint", "add");
    let link = match (&a.link, &a.host, &a.password) {
        (Some(l), _, _) => TunnelLink::parse(l.trim()),
        (None, Some(host), Some(password)) => {
            if a.port == 0 {
                return usage(&command, a.edit.json, "--port: must be 1-65535");
            }
            Ok(TunnelLink {
                protocol: match a.protocol {
                    ProtocolArg::Trojan => Protocol::Trojan,
                    ProtocolArg::Vless => Protocol::Vless,
                },
                credential: password.clone(),
                host: host.clone(),
                port: a.port,
                sni: a.server_name.clone(),
                label: String::new(),
                flow: None,
                allow_insecure: a.pin.is_some(),
                pin_sha256: a.pin.clone(),
                alpn: Vec::new(),
                extra: BTreeMap::new(),
            })
        }
        _ => {
            return usage(
                &command,
                a.edit.json,
                "give --link, or --host and --password",
            );
        }
    };
    let endpoint = match link.and_then(|l| l.to_endpoint(a.tag.as_deref())) {
        Ok(e) => e,
        Err(e) => return usage(&command, a.edit.json, &e.to_string()),
    };
    run(
        layout,
        Role::Client,
        &command,
        &[Edit::EndpointAdd(endpoint)],
        &a.edit,
        |_| {},
    )
}

fn update(layout: &Layout, a: &EndpointUpdateArgs) -> i32 {
    let command = command_name(Role::Client, "endpoint", "update");
    let changes = EndpointChanges {
        hostname: None,
        address: a.host.clone(),
        port: match a.port {
            Some(0) => return usage(&command, a.edit.json, "--port: must be 1-65535"),
            p => p.map(Port),
        },
        password: a.password.clone(),
        server_name: a.server_name.clone(),
        allow_insecure: a.pin.as_ref().map(|p| !p.is_empty()),
        pinned_peer_cert_sha256: a.pin.clone(),
        ..EndpointChanges::default()
    };
    if changes.is_empty() {
        return usage(
            &command,
            a.edit.json,
            "nothing to change (give --host, --port, --password, --server-name or --pin)",
        );
    }
    let edits = [Edit::EndpointUpdate {
        tag: a.tag.clone(),
        changes,
    }];
    run(layout, Role::Client, &command, &edits, &a.edit, |_| {})
}

fn list(layout: &Layout, json_out: bool) -> i32 {
    let command = command_name(Role::Client, "endpoint", "list");
    let m = match load(layout, Role::Client, &command, json_out) {
        Ok(Desired::Client(m)) => m,
        Ok(Desired::Server(_)) => return exit::FAILED,
        Err(code) => return code,
    };
    let rows: Vec<(String, &xp2p_core::desired::model::Endpoint)> = m
        .client
        .endpoints
        .iter()
        .map(|e| (e.effective_tag(), e))
        .collect();
    if json_out {
        let items = rows
            .iter()
            .map(|(tag, e)| {
                json!({
                    "tag": tag,
                    "hostname": e.hostname,
                    "address": e.address,
                    "port": e.port.0,
                    "protocol": e.protocol,
                    "user": e.user,
                    "pinned": !e.pinned_peer_cert_sha256.is_empty(),
                    "disabled": e.disabled,
                    "full_tunnel": m.client.full_tunnel_tag == *tag,
                })
            })
            .collect();
        return print_list_json(&command, items);
    }
    if rows.is_empty() {
        println!("no endpoints (add one: xp2p client endpoint add --link URL)");
        return exit::OK;
    }
    for (tag, e) in rows {
        println!(
            "{}\t{}:{}\t{:?}\t{}",
            xp2p_core::text::escape_control(&tag),
            xp2p_core::text::escape_control(&e.address),
            e.port.0,
            e.protocol,
            if e.disabled { "disabled" } else { "enabled" }
        );
    }
    exit::OK
}
