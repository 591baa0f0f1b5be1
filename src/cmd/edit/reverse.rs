//! `xp2p server reverse …` (channels into the LANs behind clients) and `xp2p
//! client reverse …` (the bridges that carry them): add, list, enable,
//! disable, remove through the one editor.

use serde_json::json;
use xp2p_core::desired::Desired;
use xp2p_core::desired::edit::Edit;
use xp2p_core::text::escape_control;
use xp2p_core::{Layout, Role};

use super::{command_name, load, print_list_json, run};
use crate::args::{BridgeCommand, ChannelCommand};
use crate::exit;

fn state(disabled: bool) -> &'static str {
    if disabled { "disabled" } else { "enabled" }
}

pub fn run_channel(layout: &Layout, c: &ChannelCommand) -> i32 {
    let role = Role::Server;
    match c {
        ChannelCommand::Add { user, key, edit } => write(
            layout,
            role,
            "add",
            Edit::ChannelAdd {
                key: key.clone(),
                user: user.clone(),
                host: None,
            },
            edit,
        ),
        ChannelCommand::Enable { key, edit } | ChannelCommand::Disable { key, edit } => toggle(
            layout,
            role,
            key,
            matches!(c, ChannelCommand::Disable { .. }),
            edit,
        ),
        ChannelCommand::Remove { key, cascade, edit } => write(
            layout,
            role,
            "remove",
            Edit::ChannelRemove {
                role,
                key: key.clone(),
                cascade: *cascade,
            },
            edit,
        ),
        ChannelCommand::List(l) => {
            let command = command_name(role, "reverse", "list");
            let m = match load(layout, role, &command, l.json) {
                Ok(Desired::Server(m)) => m,
                Ok(Desired::Client(_)) => return exit::FAILED,
                Err(code) => return code,
            };
            let rows = m.server.reverse_channels.iter();
            if l.json {
                let items = rows
                    .map(|(key, ch)| {
                        json!({
                            "key": key,
                            "user": ch.user_id,
                            "host": ch.host,
                            "tag": ch.effective_tag(),
                            "domain": ch.effective_domain(),
                            "disabled": ch.disabled,
                        })
                    })
                    .collect();
                return print_list_json(&command, items);
            }
            if m.server.reverse_channels.is_empty() {
                println!("no reverse channels (add one: xp2p server reverse add --user LABEL)");
            }
            for (key, ch) in rows {
                println!(
                    "{}\tuser {}\ttag {}\t{}",
                    escape_control(key),
                    escape_control(&ch.user_id),
                    escape_control(&ch.effective_tag()),
                    state(ch.disabled)
                );
            }
            exit::OK
        }
    }
}

pub fn run_bridge(layout: &Layout, c: &BridgeCommand) -> i32 {
    let role = Role::Client;
    match c {
        BridgeCommand::Add {
            endpoint,
            key,
            user,
            host,
            edit,
        } => write(
            layout,
            role,
            "add",
            Edit::BridgeAdd {
                key: key.clone(),
                endpoint_tag: endpoint.clone(),
                user: user.clone(),
                host: host.clone(),
            },
            edit,
        ),
        BridgeCommand::Enable { key, edit } | BridgeCommand::Disable { key, edit } => toggle(
            layout,
            role,
            key,
            matches!(c, BridgeCommand::Disable { .. }),
            edit,
        ),
        BridgeCommand::Remove { key, edit } => write(
            layout,
            role,
            "remove",
            Edit::ChannelRemove {
                role,
                key: key.clone(),
                cascade: false,
            },
            edit,
        ),
        BridgeCommand::List(l) => {
            let command = command_name(role, "reverse", "list");
            let m = match load(layout, role, &command, l.json) {
                Ok(Desired::Client(m)) => m,
                Ok(Desired::Server(_)) => return exit::FAILED,
                Err(code) => return code,
            };
            if l.json {
                let items = m
                    .client
                    .reverse
                    .iter()
                    .map(|(key, b)| {
                        json!({
                            "key": key,
                            "endpoint": b.endpoint_tag,
                            "user": b.user_id,
                            "host": b.host,
                            "tag": b.effective_tag(),
                            "domain": b.effective_domain(),
                            "disabled": b.disabled,
                        })
                    })
                    .collect();
                return print_list_json(&command, items);
            }
            if m.client.reverse.is_empty() {
                println!("no reverse bridges (add one: xp2p client reverse add --endpoint TAG)");
            }
            for (key, b) in &m.client.reverse {
                println!(
                    "{}\tvia {}\ttag {}\t{}",
                    escape_control(key),
                    escape_control(&b.endpoint_tag),
                    escape_control(&b.effective_tag()),
                    state(b.disabled)
                );
            }
            exit::OK
        }
    }
}

fn toggle(
    layout: &Layout,
    role: Role,
    key: &str,
    disabled: bool,
    edit: &crate::args::EditArgs,
) -> i32 {
    let verb = if disabled { "disable" } else { "enable" };
    write(
        layout,
        role,
        verb,
        Edit::ChannelSetDisabled {
            role,
            key: key.to_string(),
            disabled,
        },
        edit,
    )
}

/// Writes one edit of the role's reverse entries and requests the apply.
fn write(layout: &Layout, role: Role, verb: &str, e: Edit, a: &crate::args::EditArgs) -> i32 {
    run(
        layout,
        role,
        &command_name(role, "reverse", verb),
        &[e],
        a,
        |_| {},
    )
}
