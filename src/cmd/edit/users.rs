//! `xp2p server user add|list|show|rotate|disable|enable|remove`: the server's
//! users, their share links (`xp2p-upstream.md` §6) and QR codes.

use std::time::SystemTime;

use serde_json::json;
use xp2p_core::desired::Desired;
use xp2p_core::desired::edit::{Created, Edit, channels_of, generated_credential, generated_label};
use xp2p_core::desired::model::{ServerDesired, User};
use xp2p_core::links::{Trust, user_link};
use xp2p_core::{Layout, Role};

use super::{command_name, load, load_quiet, print_list_json, random_bytes, run};
use crate::args::UserCommand;
use crate::cmd::ipc::fail;
use crate::exit;

pub fn run_user(layout: &Layout, c: &UserCommand) -> i32 {
    match c {
        UserCommand::Add {
            label,
            credential,
            reverse,
            edit,
        } => {
            let command = command_name(Role::Server, "user", "add");
            let generated = (|| -> Result<(String, String), String> {
                let label = match label {
                    Some(l) => l.clone(),
                    None => generated_label(random_bytes()?),
                };
                let credential = match credential {
                    Some(c) => c.clone(),
                    None => generated_credential(random_bytes()?),
                };
                Ok((label, credential))
            })();
            let (label, credential) = match generated {
                Ok(v) => v,
                Err(e) => return fail(&command, edit.json, "internal", &e, exit::FAILED),
            };
            let mut edits = vec![Edit::UserAdd {
                label: label.clone(),
                credential,
            }];
            if *reverse {
                edits.push(Edit::ChannelAdd {
                    key: None,
                    user: label,
                    host: None,
                });
            }
            run(layout, Role::Server, &command, &edits, edit, |r| {
                for c in &r.created {
                    if let Created::User { label, .. } = c {
                        print_link_or_why(layout, label);
                    }
                }
            })
        }
        UserCommand::Rotate {
            label,
            grace,
            credential,
            edit,
        } => {
            let command = command_name(Role::Server, "user", "rotate");
            let new_credential = match credential {
                Some(c) => c.clone(),
                None => match random_bytes() {
                    Ok(b) => generated_credential(b),
                    Err(e) => return fail(&command, edit.json, "internal", &e, exit::FAILED),
                },
            };
            let grace_until =
                grace.map(|g| humantime::format_rfc3339_seconds(SystemTime::now() + g).to_string());
            let edits = [Edit::UserRotate {
                label: label.clone(),
                new_credential,
                grace_until: grace_until.clone(),
            }];
            run(layout, Role::Server, &command, &edits, edit, |_| {
                if let Some(until) = &grace_until {
                    eprintln!("{command}: the old credential works until {until}");
                }
                print_link_or_why(layout, label);
            })
        }
        UserCommand::Disable { label, edit } | UserCommand::Enable { label, edit } => {
            let disabled = matches!(c, UserCommand::Disable { .. });
            let verb = if disabled { "disable" } else { "enable" };
            // A disabled user's channels go down with it (and come back with it).
            let channels = match load_quiet(layout, Role::Server) {
                Some(Desired::Server(m)) => channels_of(&m, label),
                _ => Vec::new(),
            };
            let toggle = channels.into_iter().map(|key| Edit::ChannelSetDisabled {
                role: Role::Server,
                key,
                disabled,
            });
            let user = Edit::UserSetDisabled {
                label: label.clone(),
                disabled,
            };
            let edits: Vec<Edit> = if disabled {
                toggle.chain([user]).collect()
            } else {
                std::iter::once(user).chain(toggle).collect()
            };
            let command = command_name(Role::Server, "user", verb);
            run(layout, Role::Server, &command, &edits, edit, |_| {})
        }
        UserCommand::Remove {
            label,
            cascade,
            edit,
        } => {
            let label = label.clone();
            let edits = [if *cascade {
                Edit::UserRemoveWithChannels { label }
            } else {
                Edit::UserRemove { label }
            }];
            let command = command_name(Role::Server, "user", "remove");
            run(layout, Role::Server, &command, &edits, edit, |_| {})
        }
        UserCommand::List { links, list } => list_users(layout, *links, list.json),
        UserCommand::Show { label, link, png } => show(layout, label, *link, png.as_deref()),
    }
}

fn server(layout: &Layout, command: &str, json_out: bool) -> Result<ServerDesired, i32> {
    match load(layout, Role::Server, command, json_out)? {
        Desired::Server(m) => Ok(m),
        Desired::Client(_) => Err(fail(
            command,
            json_out,
            "internal",
            "the server file loaded as a client",
            exit::FAILED,
        )),
    }
}

/// The state word of a user at `now`.
fn state(u: &User, now: SystemTime) -> String {
    if u.disabled {
        "disabled".into()
    } else if u.previous_in_grace(now).is_some() {
        format!(
            "rotating (old credential until {})",
            u.rotation_expires_at.as_deref().unwrap_or("?")
        )
    } else {
        "enabled".into()
    }
}

fn list_users(layout: &Layout, links: bool, json_out: bool) -> i32 {
    let command = command_name(Role::Server, "user", "list");
    let m = match server(layout, &command, json_out) {
        Ok(m) => m,
        Err(code) => return code,
    };
    let now = SystemTime::now();
    if json_out {
        let items = m
            .server
            .users
            .iter()
            .map(|u| {
                json!({
                    "label": u.user_label,
                    "disabled": u.disabled,
                    "rotating": u.previous_in_grace(now).is_some(),
                    "rotation_expires_at": u.rotation_expires_at,
                    "created_at": u.created_at,
                    "rotated_at": u.rotated_at,
                })
            })
            .collect();
        return print_list_json(&command, items);
    }
    if m.server.users.is_empty() {
        println!("no users (add one: xp2p server user add)");
        return exit::OK;
    }
    let trust = if links {
        trust(layout, &m)
    } else {
        Ok(Trust::Verified)
    };
    for u in &m.server.users {
        println!(
            "{}\t{}\tcreated {}\trotated {}",
            xp2p_core::text::escape_control(&u.user_label),
            state(u, now),
            u.created_at.as_deref().unwrap_or("-"),
            u.rotated_at.as_deref().unwrap_or("-"),
        );
        if links {
            match trust.as_ref().map_err(Clone::clone).and_then(|t| {
                user_link(&m.server, u, t)
                    .map(|l| l.render())
                    .map_err(|e| e.to_string())
            }) {
                Ok(link) => println!("\t{link}"),
                Err(e) => println!("\t(no link: {e})"),
            }
        }
    }
    exit::OK
}

/// How clients are to trust this server's certificate.
fn trust(layout: &Layout, m: &ServerDesired) -> Result<Trust, String> {
    let path = layout.resolve_asset(&m.server.certificate);
    let pem = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    xp2p_deploy::cert::trust_for(&pem).map_err(|e| format!("{}: {e}", path.display()))
}

/// The link of `label` as Desired says now.
fn link_of(layout: &Layout, label: &str) -> Result<String, String> {
    let files = xp2p_store::pipeline::read(layout, Role::Server).map_err(|p| p.to_string())?;
    let (d, _) = xp2p_core::compile::check(layout, &files).map_err(|p| p.to_string())?;
    let Desired::Server(m) = d else {
        return Err("the server file loaded as a client".into());
    };
    let u = m
        .server
        .users
        .iter()
        .find(|u| u.user_label == label)
        .ok_or_else(|| format!("server.users: no user labelled \"{label}\""))?;
    let t = trust(layout, &m)?;
    user_link(&m.server, u, &t)
        .map(|l| l.render())
        .map_err(|e| e.to_string())
}

fn print_link_or_why(layout: &Layout, label: &str) {
    match link_of(layout, label) {
        Ok(link) => {
            println!("{link}");
            eprintln!("(QR code: xp2p server user show {label})");
        }
        Err(e) => eprintln!("warning: no link to show: {e}"),
    }
}

fn show(layout: &Layout, label: &str, link_only: bool, png: Option<&std::path::Path>) -> i32 {
    let command = command_name(Role::Server, "user", "show");
    let link = match link_of(layout, label) {
        Ok(l) => l,
        Err(e) => return fail(&command, false, "invalid_desired", &e, exit::FAILED),
    };
    if let Some(path) = png
        && let Err(e) = xp2p_ui::qr::write_png(&link, path, 8)
    {
        return fail(&command, false, "internal", &e, exit::FAILED);
    }
    if link_only {
        println!("{link}");
        return exit::OK;
    }
    println!("{}", xp2p_core::text::escape_control(label));
    println!("{link}");
    match xp2p_ui::qr::terminal_lines(&link) {
        Ok(lines) => {
            for l in lines {
                println!("{l}");
            }
        }
        Err(e) => eprintln!("warning: no QR code: {e}"),
    }
    if let Some(p) = png {
        eprintln!("{command}: QR code written to {}", p.display());
    }
    exit::OK
}
