//! `xp2p export` and `xp2p import`: a root's Desired (TOML, snippets, the
//! server's certificate and key) as one 0600 archive, and back — the archive
//! is read as hostile input and validated whole before anything is written,
//! then the apply is requested like the edit commands do. The archive format
//! and the checks are `xp2p_store::transfer`'s.

use serde_json::{Value, json};
use xp2p_core::{Layout, Role};
use xp2p_store::archive::{self, Overwrite};
use xp2p_store::transfer::{self, CERT_MEMBER, FileKind, KEY_MEMBER, Manifest, RolePlan};

use super::apply::{AfterEdit, run_apply_after};
use super::edit::lacks_write_access;
use super::ipc::fail;
use crate::args::{ApplyArgs, ExportArgs, ImportArgs, RoleOrAll};
use crate::exit;

const EXPORT: &str = "xp2p export";
const IMPORT: &str = "xp2p import";

pub fn run_export(layout: &Layout, a: &ExportArgs) -> i32 {
    let roles = match a.role {
        RoleOrAll::Client => vec![Role::Client],
        RoleOrAll::Server => vec![Role::Server],
        RoleOrAll::All => xp2p_store::pipeline::desired_roles(layout),
    };
    if roles.is_empty() {
        let msg = format!(
            "no Desired files in {} (nothing to export)",
            layout.root().display()
        );
        return fail(EXPORT, a.json, "invalid_request", &msg, exit::FAILED);
    }
    let (manifest, members) = match transfer::export(layout, &roles) {
        Ok(v) => v,
        Err(e) => return fail(EXPORT, a.json, "invalid_desired", &e, exit::FAILED),
    };
    let overwrite = if a.force {
        Overwrite::Replace
    } else {
        Overwrite::Refuse
    };
    if let Err(e) = archive::write(&a.output, &members, overwrite) {
        return fail(EXPORT, a.json, "write_failed", &e, exit::FAILED);
    }
    if a.json {
        let result =
            json!({"output": a.output.display().to_string(), "mode": "0600", "manifest": manifest});
        println!(
            "{}",
            json!({"schema_version": "1", "command": EXPORT, "result": result})
        );
        return exit::OK;
    }
    println!(
        "{EXPORT}: wrote {} (mode 0600, {} files)",
        a.output.display(),
        manifest.files.len()
    );
    for line in describe(&manifest) {
        println!("  {line}");
    }
    println!(
        "It holds credentials and the private key: keep it private. Take it back with `xp2p import {}`.",
        a.output.display()
    );
    exit::OK
}

/// One line per role: what of it the archive holds.
fn describe(m: &Manifest) -> Vec<String> {
    m.roles
        .iter()
        .map(|role| {
            let mut parts = Vec::new();
            let mut snippets = 0;
            for f in m.files.iter().filter(|f| f.role == *role) {
                match f.kind {
                    FileKind::Desired => parts.push(f.path.clone()),
                    FileKind::Snippet => snippets += 1,
                    FileKind::Certificate | FileKind::Key => parts.push(format!(
                        "{} (from {})",
                        if f.kind == FileKind::Key {
                            "key"
                        } else {
                            "certificate"
                        },
                        f.original_path.as_deref().unwrap_or("?")
                    )),
                }
            }
            if snippets > 0 {
                parts.insert(1, format!("{snippets} snippet file(s)"));
            }
            format!("{role}: {}", parts.join(", "))
        })
        .collect()
}

pub fn run_import(layout: &Layout, a: &ImportArgs) -> i32 {
    let e = &a.edit;
    let refuse = |msg: String| {
        let msg = format!("{}: {msg}; nothing was written", a.file.display());
        fail(IMPORT, e.json, "invalid_archive", &msg, exit::FAILED)
    };
    let incoming = match transfer::parse(&a.file) {
        Ok(i) => i,
        Err(m) => return refuse(m),
    };
    if let Some(tls) = incoming
        .roles
        .get(&Role::Server)
        .and_then(|s| s.tls.as_ref())
    {
        let cert = String::from_utf8_lossy(&tls.cert);
        let key = String::from_utf8_lossy(&tls.key);
        match xp2p_deploy::cert::key_matches(&cert, &key) {
            Ok(true) => {}
            Ok(false) => {
                return refuse(format!(
                    "member `{KEY_MEMBER}`: is not the key of the certificate `{CERT_MEMBER}`"
                ));
            }
            Err(m) => return refuse(format!("member `{CERT_MEMBER}` / `{KEY_MEMBER}`: {m}")),
        }
    }
    let plans = match transfer::plan(layout, &incoming) {
        Ok(p) => p,
        Err(m) => return refuse(m),
    };
    let roles: Vec<Role> = plans.iter().map(|p| p.role).collect();
    if let Some(role) = roles.iter().find(|r| lacks_write_access(layout, **r)) {
        let msg = format!(
            "you may not write {} (nothing was written)",
            layout.desired_toml(*role).display()
        );
        return fail(IMPORT, e.json, "permission_denied", &msg, exit::PERMISSION);
    }
    let report = report_json(layout, &incoming.manifest, &plans, e.dry_run);
    if e.dry_run {
        if e.json {
            println!(
                "{}",
                json!({"schema_version": "1", "command": IMPORT, "edit": report, "result": {"status": "dry_run"}})
            );
        } else {
            for line in plans
                .iter()
                .flat_map(|p| plan_lines(layout, p, Tense::Would))
            {
                println!("{line}");
            }
            for p in &plans {
                print_toml_diff(layout, p);
            }
            println!("{IMPORT}: dry run; nothing written");
        }
        return exit::OK;
    }
    if let Err(m) = transfer::write(layout, &plans) {
        return fail(IMPORT, e.json, "write_failed", &m, exit::FAILED);
    }
    if !e.json {
        for p in &plans {
            for line in plan_lines(layout, p, Tense::Did) {
                eprintln!("{line}");
            }
        }
        eprintln!("{IMPORT}: {} imported; applying", a.file.display());
    }
    run_apply_after(
        layout,
        &ApplyArgs {
            role: match roles.as_slice() {
                [Role::Client] => RoleOrAll::Client,
                [Role::Server] => RoleOrAll::Server,
                _ => RoleOrAll::All,
            },
            wait: e.wait,
            timeout: e.timeout,
            json: e.json,
        },
        &AfterEdit {
            command: IMPORT,
            expect: None,
            edit: Some(report),
        },
    )
}

/// Whether a plan is shown before (`--dry-run`) or after it was carried out.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Tense {
    Would,
    Did,
}

fn plan_lines(layout: &Layout, p: &RolePlan, tense: Tense) -> Vec<String> {
    let (write, remove) = match tense {
        Tense::Would => ("would write", "would remove"),
        Tense::Did => ("wrote", "removed"),
    };
    let mut out = Vec::new();
    if let Some(t) = &p.tls {
        out.push(format!(
            "{IMPORT}: {write} {} (certificate)",
            t.cert.display()
        ));
        out.push(format!(
            "{IMPORT}: {write} {} (key, mode 0600)",
            t.key.display()
        ));
    }
    for n in p.snippets.keys() {
        let path = layout.snippets_dir(p.role).join(n);
        out.push(format!("{IMPORT}: {write} {}", path.display()));
    }
    for r in &p.remove_snippets {
        out.push(format!(
            "{IMPORT}: {remove} {} (not in the archive)",
            r.display()
        ));
    }
    let toml = layout.desired_toml(p.role);
    let how = if p.replaces { "replacing it" } else { "new" };
    out.push(format!("{IMPORT}: {write} {} ({how})", toml.display()));
    if !p.compiled {
        out.push(format!(
            "{IMPORT}: the {} config was validated but not compiled (no core found on this machine)",
            p.role
        ));
    }
    out
}

/// The role's Desired now against the imported one (on the operator's
/// terminal only: it may show credentials).
fn print_toml_diff(layout: &Layout, p: &RolePlan) {
    let path = layout.desired_toml(p.role);
    let old = xp2p_platform::fsread::read_operator_file_opt(&path, xp2p_platform::fsread::MAX_TOML)
        .ok()
        .flatten()
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let name = path.display().to_string();
    let new = String::from_utf8_lossy(&p.toml);
    let diff = xp2p_core::diff::unified(&name, &old, &format!("{name} (imported)"), &new);
    if diff.is_empty() {
        println!("{IMPORT}: {name} would not change");
    } else if crate::style::colour_stdout() {
        print!("{}", crate::style::colour_diff(&diff));
    } else {
        print!("{diff}");
    }
}

/// The import's report for `--json`: paths and facts, never a credential.
fn report_json(layout: &Layout, m: &Manifest, plans: &[RolePlan], dry_run: bool) -> Value {
    let files: Vec<String> = plans
        .iter()
        .flat_map(|p| p.paths(layout))
        .map(|p| p.display().to_string())
        .collect();
    json!({
        "roles": plans.iter().map(|p| p.role).collect::<Vec<_>>(),
        "changed": true,
        "written": !dry_run,
        "dry_run": dry_run,
        "files": files,
        "compiled": plans.iter().all(|p| p.compiled),
        "archive": {
            "format_version": m.format_version,
            "xp2p_version": m.xp2p_version,
            "created": m.created,
        },
    })
}
