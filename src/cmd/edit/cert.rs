//! `xp2p server cert set|show`: the server's TLS certificate — set only after
//! checking the pair matches, the names cover `host` and the key is private;
//! shown as subject, names, expiry and the SHA-256 pin clients use.

use std::path::Path;

use serde_json::json;
use xp2p_core::desired::Desired;
use xp2p_core::desired::edit::Edit;
use xp2p_core::{Layout, Role};
use xp2p_deploy::cert::{self, CertInfo};

use super::{command_name, load, run, usage};
use crate::args::{CertCommand, EditArgs};
use crate::cmd::ipc::fail;
use crate::exit;

pub fn run_cert(layout: &Layout, c: &CertCommand) -> i32 {
    match c {
        CertCommand::Set {
            cert: cert_path,
            key,
            edit,
        } => set(layout, cert_path, key, edit),
        CertCommand::Show(l) => show(layout, l.json),
    }
}

fn read(path: &Path, flag: &str) -> Result<String, String> {
    std::fs::read_to_string(path)
        .map_err(|e| format!("{flag}: cannot read {}: {e}", path.display()))
}

fn set(layout: &Layout, cert_path: &Path, key_path: &Path, a: &EditArgs) -> i32 {
    let command = command_name(Role::Server, "cert", "set");
    let checked = (|| -> Result<(String, String), String> {
        let cert_pem = read(cert_path, "--cert")?;
        let key_pem = read(key_path, "--key")?;
        let info = cert::inspect(&cert_pem).map_err(|e| format!("--cert: {e}"))?;
        if !cert::key_matches(&cert_pem, &key_pem).map_err(|e| format!("--key: {e}"))? {
            return Err(format!(
                "--key: {} is not the key of the certificate {}",
                key_path.display(),
                cert_path.display()
            ));
        }
        if let Ok(meta) = std::fs::metadata(key_path)
            && xp2p_platform::fsperm::mode_of(&meta).is_some_and(|m| m & 0o004 != 0)
        {
            return Err(format!(
                "--key: {} is readable by every user (chmod 600 it first)",
                key_path.display()
            ));
        }
        if let Ok(Desired::Server(m)) = load(layout, Role::Server, &command, a.json)
            && !m.server.host.is_empty()
            && !cert::covers(&info, &m.server.host)
        {
            return Err(format!(
                "--cert: the certificate's names ({}) do not cover server.host \"{}\"",
                info.names.join(", "),
                m.server.host
            ));
        }
        let abs = |p: &Path| {
            std::fs::canonicalize(p)
                .unwrap_or_else(|_| p.to_path_buf())
                .display()
                .to_string()
        };
        Ok((abs(cert_path), abs(key_path)))
    })();
    let (certificate, key) = match checked {
        Ok(v) => v,
        Err(e) => return usage(&command, a.json, &e),
    };
    run(
        layout,
        Role::Server,
        &command,
        &[Edit::SetCert { certificate, key }],
        a,
        |_| {},
    )
}

fn info_json(path: &Path, i: &CertInfo) -> serde_json::Value {
    json!({
        "file": path.display().to_string(),
        "subject": i.subject,
        "names": i.names,
        "not_before": i.not_before_rfc3339,
        "not_after": i.not_after_rfc3339,
        "sha256": i.sha256,
        "self_signed": i.self_signed,
    })
}

fn show(layout: &Layout, json_out: bool) -> i32 {
    let command = command_name(Role::Server, "cert", "show");
    let m = match load(layout, Role::Server, &command, json_out) {
        Ok(Desired::Server(m)) => m,
        Ok(Desired::Client(_)) => return exit::FAILED,
        Err(code) => return code,
    };
    let path = layout.resolve_asset(&m.server.certificate);
    let info = match read(&path, "server.certificate").and_then(|pem| {
        cert::inspect(&pem).map_err(|e| format!("server.certificate: {}: {e}", path.display()))
    }) {
        Ok(i) => i,
        Err(e) => return fail(&command, json_out, "invalid_desired", &e, exit::FAILED),
    };
    if json_out {
        println!(
            "{}",
            json!({"schema_version": "1", "command": command, "result": info_json(&path, &info)})
        );
        return exit::OK;
    }
    println!("file:        {}", path.display());
    println!("subject:     {}", info.subject);
    println!("names:       {}", info.names.join(", "));
    println!(
        "valid:       {} .. {}",
        info.not_before_rfc3339, info.not_after_rfc3339
    );
    println!("sha256 pin:  {}", info.sha256);
    println!(
        "trust:       {}",
        if info.self_signed {
            "self-signed (links carry the pin)"
        } else {
            "issued by a CA"
        }
    );
    if !m.server.host.is_empty() && !cert::covers(&info, &m.server.host) {
        println!(
            "warning:     the names do not cover server.host \"{}\"",
            m.server.host
        );
    }
    exit::OK
}
