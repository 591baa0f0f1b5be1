//! Forwards of either role (`[[client.forwards]]`, `[[server.forwards]]`): add
//! one (a listen address and port the validator finds free), remove one by its
//! listen address; pick a free listen port for `--listen-port auto`.

use std::net::{IpAddr, SocketAddr};

use super::doc;
use super::{EditError, State};
use crate::desired::model::{Forward, ForwardProtocol};
use crate::role::Role;

fn section_key(role: Role) -> String {
    format!("{role}.forwards")
}

fn proto_str(p: ForwardProtocol) -> &'static str {
    match p {
        ForwardProtocol::Tcp => "tcp",
        ForwardProtocol::Udp => "udp",
        ForwardProtocol::Both => "both",
    }
}

fn forwards(st: &State<'_>) -> Result<Vec<Forward>, EditError> {
    Ok(match st.role {
        Role::Client => st.client()?.client.forwards,
        Role::Server => st.server()?.server.forwards,
    })
}

/// The first port from `base` up that no forward of `existing` listens on at
/// `address` (the validator still checks the role's other inbounds; the
/// caller checks the OS).
pub fn free_listen_port(existing: &[Forward], address: IpAddr, base: u16) -> Option<u16> {
    (base.max(1)..=u16::MAX).find(|p| {
        !existing.iter().any(|f| {
            f.listen_port.0 == *p
                && (f.listen_address == address
                    || f.listen_address.is_unspecified()
                    || address.is_unspecified())
        })
    })
}

pub fn add(st: &mut State<'_>, f: &Forward) -> Result<(), EditError> {
    let key = section_key(st.role);
    if f.outbound_tag.trim().is_empty() {
        return Err(EditError::usage("--via", "an outbound tag is required"));
    }
    if f.target_host.trim().is_empty() {
        return Err(EditError::usage("--target", "a target host is required"));
    }
    let via = super::reverse::resolve_via(st, &f.outbound_tag)?;
    let f = &Forward {
        outbound_tag: via,
        ..f.clone()
    };
    let t = doc::table(vec![
        ("listen_address", f.listen_address.to_string().into()),
        ("listen_port", i64::from(f.listen_port.0).into()),
        ("target_host", f.target_host.as_str().into()),
        ("target_port", i64::from(f.target_port.0).into()),
        ("protocol", proto_str(f.protocol).into()),
        ("outbound_tag", f.outbound_tag.as_str().into()),
    ]);
    doc::push(st.section()?, "forwards", t).map_err(|m| EditError::conflict(key, m))?;
    st.done(format!(
        "added forward {}:{} -> {}:{} ({}) via {}",
        f.listen_address,
        f.listen_port,
        f.target_host,
        f.target_port,
        proto_str(f.protocol),
        f.outbound_tag
    ));
    Ok(())
}

pub fn remove(st: &mut State<'_>, listen: SocketAddr) -> Result<(), EditError> {
    let list = forwards(st)?;
    let i = list
        .iter()
        .position(|f| f.listen_address == listen.ip() && f.listen_port.0 == listen.port())
        .ok_or_else(|| {
            EditError::not_found(
                section_key(st.role),
                format!("no forward listens on {listen}"),
            )
        })?;
    doc::remove(st.section()?, "forwards", i);
    let f = &list[i];
    st.done(format!(
        "removed forward {listen} -> {}:{}",
        f.target_host, f.target_port
    ));
    Ok(())
}
