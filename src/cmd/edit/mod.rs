//! The edit commands (users, endpoints, redirects, forwards, cert): each turns
//! its arguments into typed [`Edit`]s; this module writes them through the one
//! Desired writer (`xp2p_store::desired_edit`, under the role lock), prints
//! what changed (or, with `--dry-run`, the TOML and compiled diffs and writes
//! nothing), then requests the apply like `xp2p apply` (`--wait`, `--json`,
//! the same exit codes).

pub mod cert;
pub mod endpoints;
pub mod reverse;
pub mod routes;
pub mod users;

use serde_json::{Value, json};
use xp2p_core::desired::edit::{Created, Edit};
use xp2p_core::{Layout, Role};
use xp2p_store::desired_edit::{self, EditFailure, EditReport, Mode};

use super::apply::{AfterEdit, run_apply_after};
use super::ipc::fail;
use crate::args::{ApplyArgs, EditArgs, RoleOrAll};
use crate::{exit, style};

/// `xp2p <role> <noun> <verb>`.
pub fn command_name(role: Role, noun: &str, verb: &str) -> String {
    format!("xp2p {role} {noun} {verb}")
}

/// A usage error of an edit command (exit 2, one line naming the argument).
pub fn usage(command: &str, json: bool, message: &str) -> i32 {
    fail(command, json, "invalid_request", message, exit::USAGE)
}

/// 16 random bytes from the OS (credentials, labels).
pub fn random_bytes<const N: usize>() -> Result<[u8; N], String> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).map_err(|e| format!("no randomness from the OS: {e}"))?;
    Ok(b)
}

/// The edit's report for `--json`: no credential, ever.
fn report_json(r: &EditReport, dry_run: bool) -> Value {
    let created: Vec<Value> = r
        .created
        .iter()
        .map(|c| match c {
            Created::User { label, .. } => json!({"kind": "user", "label": label}),
            Created::Endpoint { tag } => json!({"kind": "endpoint", "tag": tag}),
        })
        .collect();
    json!({
        "role": r.role,
        "changed": r.changed,
        "written": r.written,
        "dry_run": dry_run,
        "summary": r.summary,
        "created": created,
    })
}

/// Writes `edits` to the role's Desired and requests the apply. `after_write`
/// prints what the command adds on the operator's terminal (a link, a QR
/// code) — never in `--json`.
pub fn run(
    layout: &Layout,
    role: Role,
    command: &str,
    edits: &[Edit],
    a: &EditArgs,
    after_write: impl FnOnce(&EditReport),
) -> i32 {
    run_expecting(layout, role, command, edits, a, None, after_write)
}

/// [`run`], and with `--wait` also checks the role's TUN reached `expect`
/// (the mode commands: `--wait` means the whole change).
pub fn run_expecting(
    layout: &Layout,
    role: Role,
    command: &str,
    edits: &[Edit],
    a: &EditArgs,
    expect: Option<xp2p_store::tunstate::Phase>,
    after_write: impl FnOnce(&EditReport),
) -> i32 {
    let mode = if a.dry_run { Mode::DryRun } else { Mode::Write };
    let report = match desired_edit::edit(layout, role, edits, mode) {
        Ok(r) => r,
        Err(e) => return refuse(layout, role, command, a.json, &e),
    };
    if a.dry_run {
        return print_dry_run(command, &report, a.json);
    }
    if !a.json {
        let path = layout.desired_toml(role);
        if report.changed {
            for line in &report.summary {
                eprintln!("{command}: {line}");
            }
            eprintln!("{command}: {} updated; applying", path.display());
        } else {
            eprintln!("{command}: {} already says so; applying", path.display());
        }
        after_write(&report);
    }
    run_apply_after(
        layout,
        &ApplyArgs {
            role: match role {
                Role::Client => RoleOrAll::Client,
                Role::Server => RoleOrAll::Server,
            },
            wait: a.wait,
            timeout: a.timeout,
            json: a.json,
        },
        &AfterEdit {
            command,
            expect,
            edit: Some(report_json(&report, false)),
        },
    )
}

fn refuse(layout: &Layout, role: Role, command: &str, json: bool, e: &EditFailure) -> i32 {
    if lacks_write_access(layout, role) {
        return fail(
            command,
            json,
            "permission_denied",
            &format!(
                "{e} (you may not write {})",
                layout.desired_toml(role).display()
            ),
            exit::PERMISSION,
        );
    }
    fail(command, json, e.code(), &e.to_string(), e.exit_code())
}

/// `--dry-run`: the diffs, nothing written. With `--json` the diffs are left
/// out (the TOML may hold credentials); the summary and whether it changes are in.
fn print_dry_run(command: &str, r: &EditReport, json_out: bool) -> i32 {
    if json_out {
        let mut v = report_json(r, true);
        v["compiled_changes"] = match &r.compiled_diff {
            Ok(d) => json!(!d.is_empty()),
            Err(e) => json!({"unknown": e}),
        };
        println!(
            "{}",
            json!({"schema_version": "1", "command": command, "edit": v, "result": {"status": "dry_run"}})
        );
        return exit::OK;
    }
    for line in &r.summary {
        println!("{command}: would {line}");
    }
    if !r.changed {
        println!("{command}: Desired already says so; nothing to write");
        return exit::OK;
    }
    print_diff(&r.toml_diff);
    match &r.compiled_diff {
        Ok(d) if d.is_empty() => println!("(the compiled config does not change)"),
        Ok(d) => print_diff(d),
        Err(e) => println!("(compiled config diff not shown: {e})"),
    }
    println!("{command}: dry run; nothing written");
    exit::OK
}

fn print_diff(text: &str) {
    if style::colour_stdout() {
        print!("{}", style::colour_diff(text));
    } else {
        print!("{text}");
    }
}

/// Whether this user may not write the role's lock or Desired file (a
/// non-owner, a read-only `socket_group` member): exit 7, like `apply`.
/// Opening for append changes nothing.
pub fn lacks_write_access(layout: &Layout, role: Role) -> bool {
    [layout.role_lock(role), layout.desired_toml(role)]
        .iter()
        .any(|p| {
            matches!(
                std::fs::OpenOptions::new().append(true).open(p),
                Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied
            )
        })
}

/// Prints a list as JSON (`{"schema_version","command","result":[…]}`).
pub fn print_list_json(command: &str, items: Vec<Value>) -> i32 {
    println!(
        "{}",
        json!({"schema_version": "1", "command": command, "result": items})
    );
    exit::OK
}

/// Reads and checks the role's Desired for the listing commands.
pub fn load(
    layout: &Layout,
    role: Role,
    command: &str,
    json_out: bool,
) -> Result<xp2p_core::desired::Desired, i32> {
    let files = xp2p_store::pipeline::read(layout, role).map_err(|p| {
        if lacks_write_access(layout, role) {
            fail(
                command,
                json_out,
                "permission_denied",
                &p.to_string(),
                exit::PERMISSION,
            )
        } else {
            fail(
                command,
                json_out,
                "invalid_desired",
                &p.to_string(),
                exit::FAILED,
            )
        }
    })?;
    xp2p_core::compile::check(layout, &files)
        .map(|(d, _)| d)
        .map_err(|p| {
            fail(
                command,
                json_out,
                "invalid_desired",
                &p.to_string(),
                exit::FAILED,
            )
        })
}

/// The role's Desired when it loads and validates; None otherwise (the edit
/// that follows reports the problem).
pub fn load_quiet(layout: &Layout, role: Role) -> Option<xp2p_core::desired::Desired> {
    let files = xp2p_store::pipeline::read(layout, role).ok()?;
    xp2p_core::compile::check(layout, &files)
        .ok()
        .map(|(d, _)| d)
}
