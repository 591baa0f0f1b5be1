//! `xp2p client|server redirect add|list|remove` and `xp2p client|server
//! forward add|list|remove`: where a role's core sends traffic.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, UdpSocket};

use serde_json::json;
use xp2p_core::desired::Desired;
use xp2p_core::desired::edit::{Edit, RedirectTarget, free_listen_port};
use xp2p_core::desired::model::{Forward, ForwardProtocol, Port, Redirect};
use xp2p_core::text::escape_control;
use xp2p_core::{Layout, Role};

use super::{command_name, load, print_list_json, run, usage};
use crate::args::{ForwardCommand, ForwardProto, RedirectCommand, RedirectTargetArgs};
use crate::exit;

/// Where `--listen-port auto` starts looking.
const AUTO_PORT_BASE: u16 = 20000;

fn target(t: &RedirectTargetArgs) -> Result<RedirectTarget, String> {
    let r = match (&t.cidr, &t.domain) {
        (Some(c), None) => RedirectTarget::cidr(c),
        (None, Some(d)) => RedirectTarget::domain(d),
        _ => return Err("give exactly one of --cidr or --domain".into()),
    };
    r.map_err(|e| e.to_string())
}

fn redirects_and_forwards(
    layout: &Layout,
    role: Role,
    command: &str,
    json_out: bool,
) -> Result<(Vec<Redirect>, Vec<Forward>), i32> {
    Ok(match load(layout, role, command, json_out)? {
        Desired::Client(m) => (m.client.redirects, m.client.forwards),
        Desired::Server(m) => (m.server.redirects, m.server.forwards),
    })
}

pub fn run_redirect(layout: &Layout, role: Role, c: &RedirectCommand) -> i32 {
    match c {
        RedirectCommand::Add {
            target: t,
            via,
            edit,
        } => {
            let command = command_name(role, "redirect", "add");
            let target = match target(t) {
                Ok(t) => t,
                Err(e) => return usage(&command, edit.json, &e),
            };
            let edits = [Edit::RedirectAdd {
                role,
                target,
                via: via.clone(),
            }];
            run(layout, role, &command, &edits, edit, |_| {})
        }
        RedirectCommand::Remove { target: t, edit } => {
            let command = command_name(role, "redirect", "remove");
            let target = match target(t) {
                Ok(t) => t,
                Err(e) => return usage(&command, edit.json, &e),
            };
            run(
                layout,
                role,
                &command,
                &[Edit::RedirectRemove { role, target }],
                edit,
                |_| {},
            )
        }
        RedirectCommand::List(l) => {
            let command = command_name(role, "redirect", "list");
            let (redirects, _) = match redirects_and_forwards(layout, role, &command, l.json) {
                Ok(v) => v,
                Err(code) => return code,
            };
            let matched = |r: &Redirect| match (&r.cidr, &r.domain) {
                (Some(c), _) => ("cidr", c.to_string()),
                (None, Some(d)) => ("domain", d.clone()),
                (None, None) => ("none", String::new()),
            };
            if l.json {
                let items = redirects
                    .iter()
                    .map(|r| {
                        let (kind, value) = matched(r);
                        json!({kind: value, "via": r.outbound_tag})
                    })
                    .collect();
                return print_list_json(&command, items);
            }
            if redirects.is_empty() {
                println!("no redirects (add one: xp2p {role} redirect add --cidr C --via TAG)");
            }
            for r in &redirects {
                let (_, value) = matched(r);
                println!(
                    "{}\tvia {}",
                    escape_control(&value),
                    escape_control(&r.outbound_tag)
                );
            }
            exit::OK
        }
    }
}

/// `ADDR:PORT`, or a bare port on 127.0.0.1.
fn parse_listen(s: &str) -> Result<SocketAddr, String> {
    if let Ok(p) = s.trim().parse::<u16>() {
        return if p == 0 {
            Err("--listen: port must be 1-65535".into())
        } else {
            Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), p))
        };
    }
    s.trim()
        .parse::<SocketAddr>()
        .map_err(|_| format!("--listen: \"{s}\" is not ADDR:PORT (like 127.0.0.1:2222)"))
}

/// `host:port` (the host may be a name; `[v6]:port` for IPv6).
fn parse_target(s: &str) -> Result<(String, u16), String> {
    let bad = || format!("--target: \"{s}\" is not HOST:PORT (like 10.20.0.5:22)");
    let (host, port) = s.trim().rsplit_once(':').ok_or_else(bad)?;
    let port: u16 = port.parse().map_err(|_| bad())?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() || port == 0 {
        return Err(bad());
    }
    Ok((host.to_string(), port))
}

/// Whether the OS lets us listen on `addr` now (for the protocols of `proto`).
fn os_port_free(addr: SocketAddr, proto: ForwardProtocol) -> bool {
    let tcp = || TcpListener::bind(addr).is_ok();
    let udp = || UdpSocket::bind(addr).is_ok();
    match proto {
        ForwardProtocol::Tcp => tcp(),
        ForwardProtocol::Udp => udp(),
        ForwardProtocol::Both => tcp() && udp(),
    }
}

pub fn run_forward(layout: &Layout, role: Role, c: &ForwardCommand) -> i32 {
    match c {
        ForwardCommand::Add {
            listen,
            listen_port,
            target,
            proto,
            via,
            edit,
        } => {
            let command = command_name(role, "forward", "add");
            let protocol = match proto {
                ForwardProto::Tcp => ForwardProtocol::Tcp,
                ForwardProto::Udp => ForwardProtocol::Udp,
                ForwardProto::Both => ForwardProtocol::Both,
            };
            let (target_host, target_port) = match parse_target(target) {
                Ok(t) => t,
                Err(e) => return usage(&command, edit.json, &e),
            };
            let listen = match (listen.as_deref(), listen_port.as_deref()) {
                (Some(l), None) => parse_listen(l),
                (None, Some("auto")) => {
                    let (_, forwards) =
                        match redirects_and_forwards(layout, role, &command, edit.json) {
                            Ok(v) => v,
                            Err(code) => return code,
                        };
                    auto_listen(&forwards, protocol)
                }
                (None, Some(p)) => {
                    parse_listen(p).map_err(|e| e.replace("--listen", "--listen-port"))
                }
                _ => Err("give --listen ADDR:PORT or --listen-port PORT|auto".into()),
            };
            let listen = match listen {
                Ok(l) => l,
                Err(e) => return usage(&command, edit.json, &e),
            };
            let forward = Forward {
                listen_address: listen.ip(),
                listen_port: Port(listen.port()),
                target_host,
                target_port: Port(target_port),
                protocol,
                outbound_tag: via.clone(),
            };
            run(
                layout,
                role,
                &command,
                &[Edit::ForwardAdd { role, forward }],
                edit,
                |_| {
                    if !edit.json {
                        println!("{listen}");
                    }
                },
            )
        }
        ForwardCommand::Remove { listen, edit } => {
            let command = command_name(role, "forward", "remove");
            let listen = match parse_listen(listen) {
                Ok(l) => l,
                Err(e) => return usage(&command, edit.json, &e),
            };
            run(
                layout,
                role,
                &command,
                &[Edit::ForwardRemove { role, listen }],
                edit,
                |_| {},
            )
        }
        ForwardCommand::List(l) => {
            let command = command_name(role, "forward", "list");
            let (_, forwards) = match redirects_and_forwards(layout, role, &command, l.json) {
                Ok(v) => v,
                Err(code) => return code,
            };
            if l.json {
                let items = forwards
                    .iter()
                    .map(|f| {
                        json!({
                            "listen": SocketAddr::new(f.listen_address, f.listen_port.0).to_string(),
                            "target": format!("{}:{}", f.target_host, f.target_port.0),
                            "protocol": f.protocol,
                            "via": f.outbound_tag,
                        })
                    })
                    .collect();
                return print_list_json(&command, items);
            }
            if forwards.is_empty() {
                println!(
                    "no forwards (add one: xp2p {role} forward add --listen-port auto --target HOST:PORT --via TAG)"
                );
            }
            for f in &forwards {
                println!(
                    "{}\t-> {}:{}\t{}\tvia {}",
                    SocketAddr::new(f.listen_address, f.listen_port.0),
                    escape_control(&f.target_host),
                    f.target_port.0,
                    match f.protocol {
                        ForwardProtocol::Tcp => "tcp",
                        ForwardProtocol::Udp => "udp",
                        ForwardProtocol::Both => "tcp+udp",
                    },
                    escape_control(&f.outbound_tag)
                );
            }
            exit::OK
        }
    }
}

/// A loopback port no forward of Desired uses and the OS lets us bind now.
fn auto_listen(forwards: &[Forward], proto: ForwardProtocol) -> Result<SocketAddr, String> {
    let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let mut base = AUTO_PORT_BASE;
    while let Some(p) = free_listen_port(forwards, ip, base) {
        let addr = SocketAddr::new(ip, p);
        if os_port_free(addr, proto) {
            return Ok(addr);
        }
        base = match p.checked_add(1) {
            Some(b) => b,
            None => break,
        };
    }
    Err(format!(
        "--listen-port auto: no free port from {AUTO_PORT_BASE} up"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_and_target_parse() {
        assert_eq!(
            parse_listen("2222").unwrap(),
            "127.0.0.1:2222".parse().unwrap()
        );
        assert_eq!(
            parse_listen("0.0.0.0:80").unwrap(),
            "0.0.0.0:80".parse().unwrap()
        );
        assert!(parse_listen("0").is_err());
        assert!(parse_listen("nope").unwrap_err().starts_with("--listen:"));
        assert_eq!(
            parse_target("10.0.0.5:22").unwrap(),
            ("10.0.0.5".into(), 22)
        );
        assert_eq!(parse_target("[::1]:22").unwrap(), ("::1".into(), 22));
        assert_eq!(
            parse_target("db.lan:5432").unwrap(),
            ("db.lan".into(), 5432)
        );
        assert!(
            parse_target("10.0.0.5")
                .unwrap_err()
                .starts_with("--target:")
        );
        assert!(parse_target(":22").is_err());
    }

    #[test]
    fn auto_listen_skips_ports_desired_or_the_os_use() {
        let held = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = held.local_addr().unwrap().port();
        let f = Forward {
            listen_address: IpAddr::V4(Ipv4Addr::LOCALHOST),
            listen_port: Port(AUTO_PORT_BASE),
            target_host: "x".into(),
            target_port: Port(1),
            protocol: ForwardProtocol::Tcp,
            outbound_tag: "t".into(),
        };
        let got = auto_listen(&[f], ForwardProtocol::Tcp).unwrap();
        assert_ne!(got.port(), AUTO_PORT_BASE);
        assert_ne!(got.port(), port);
        assert!(os_port_free(got, ForwardProtocol::Tcp));
    }
}
