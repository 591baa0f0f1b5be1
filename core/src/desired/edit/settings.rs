//! Single settings: the server's certificate, host, profile and ports; the
//! client's SOCKS address; either role's core path and TUN mode.

use std::net::SocketAddr;

use super::doc;
use super::{EditError, State};
use crate::desired::ServerProfile;
use crate::desired::mode::{ModeChange, write_keys};
use crate::desired::model::Port;

pub fn profile_str(p: ServerProfile) -> &'static str {
    match p {
        ServerProfile::TrojanTls => "trojan-tls",
        ServerProfile::VlessTls => "vless-tls",
        ServerProfile::VlessTlsVision => "vless-tls-vision",
    }
}

pub fn set_cert(st: &mut State<'_>, certificate: &str, key: &str) -> Result<(), EditError> {
    if certificate.trim().is_empty() || key.trim().is_empty() {
        return Err(EditError::usage(
            "--cert",
            "both a certificate and a key file are required",
        ));
    }
    let s = st.section()?;
    doc::set(s, "certificate", certificate);
    doc::set(s, "key", key);
    st.done(format!("set certificate {certificate} and key {key}"));
    Ok(())
}

pub fn set_host(st: &mut State<'_>, host: &str) -> Result<(), EditError> {
    let host = host.trim();
    if host.is_empty() {
        return Err(EditError::usage("HOST", "a host name is required"));
    }
    doc::set(st.section()?, "host", host);
    st.done(format!("set host {host}"));
    Ok(())
}

pub fn set_profile(st: &mut State<'_>, p: ServerProfile) -> Result<(), EditError> {
    doc::set(st.section()?, "profile", profile_str(p));
    st.done(format!("set profile {}", profile_str(p)));
    Ok(())
}

/// A port key of the role's table (`trojan_port`, `diag_port`); 0 is refused.
pub fn set_port(st: &mut State<'_>, key: &str, port: Port) -> Result<(), EditError> {
    if port.0 == 0 {
        return Err(EditError::usage(
            format!("{}.{key}", st.role),
            "must be 1-65535",
        ));
    }
    doc::set(st.section()?, key, i64::from(port.0));
    st.done(format!("set {key} {}", port.0));
    Ok(())
}

pub fn set_socks_address(st: &mut State<'_>, address: SocketAddr) -> Result<(), EditError> {
    doc::set(st.section()?, "socks_address", address.to_string());
    st.done(format!("set socks_address {address}"));
    Ok(())
}

pub fn set_core_path(st: &mut State<'_>, path: &str) -> Result<(), EditError> {
    let path = path.trim();
    let core = st
        .doc
        .entry("core")
        .or_insert_with(toml_edit::table)
        .as_table_like_mut()
        .ok_or_else(|| EditError::conflict("core", "is not a table"))?;
    if path.is_empty() {
        doc::unset(core, "path");
        st.done("core path: discovery".into());
    } else {
        doc::set(core, "path", path);
        st.done(format!("set core path {path}"));
    }
    Ok(())
}

pub fn set_mode(st: &mut State<'_>, change: &ModeChange) -> Result<(), EditError> {
    write_keys(st.section()?, change);
    st.done(format!(
        "set {} mode {}",
        st.role,
        match change {
            ModeChange::Proxy => "proxy".to_string(),
            ModeChange::Split => "tun split".to_string(),
            ModeChange::Full { tag: Some(t) } => format!("tun full via {t}"),
            ModeChange::Full { tag: None } => "tun full".to_string(),
            ModeChange::Tun => "tun".to_string(),
        }
    ));
    Ok(())
}
