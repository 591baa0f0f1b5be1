//! The console's Desired requests: `edit` (the one store writer under the role
//! lock, on the blocking pool, then — unless dry — an apply request and a poke
//! of the role's runner), `desired` (the browse view, no credentials) and
//! `user_link` (a server user's share link; owner only, by its kind's access).
//! Edits and links carry credentials: nothing here is logged.

use xp2p_core::desired::edit::{Edit, EditErrorKind};
use xp2p_core::desired::model::ServerDesired;
use xp2p_core::links::{Trust, user_link};
use xp2p_core::{Layout, Role};
use xp2p_ipc::{DesiredView, Response, WireError};
use xp2p_store::desired_edit::{self, EditFailure, Mode};
use xp2p_store::markers;

use super::{IpcContext, Refusal, refuse, runner_for};
use crate::apply::RunnerCmd;

/// How a refused edit is coded on the wire: bad input is the request's fault,
/// a clash with Desired is Desired's, a file or lock problem the service's.
fn failure(e: EditFailure) -> Refusal {
    let code = match &e {
        EditFailure::Refused(r) if r.kind == EditErrorKind::Usage => WireError::InvalidRequest,
        EditFailure::Refused(_) | EditFailure::Invalid(_) => WireError::InvalidDesired,
        EditFailure::Io(_) => WireError::Internal,
    };
    refuse(code, e.to_string())
}

/// What the blocking part of an edit came back with.
struct Done {
    report: desired_edit::EditReport,
    request_id: Option<String>,
}

pub(super) async fn on_edit(
    ctx: &IpcContext,
    role: Role,
    edits: Vec<Edit>,
    dry_run: bool,
) -> Result<Response, Refusal> {
    let runner = runner_for(ctx, role)?;
    if edits.is_empty() {
        return Err(refuse(WireError::InvalidRequest, "`edits` is empty"));
    }
    if let Some(e) = edits.iter().find(|e| e.role() != role) {
        return Err(refuse(
            WireError::InvalidRequest,
            format!("a {} edit cannot change the {role} file", e.role()),
        ));
    }
    let l = ctx.layout.clone();
    let mode = if dry_run { Mode::DryRun } else { Mode::Write };
    let done = tokio::task::spawn_blocking(move || -> Result<Done, Refusal> {
        let report = desired_edit::edit(&l, role, &edits, mode).map_err(failure)?;
        // The request follows the write (as the CLI's edits do): a service
        // that stops now finds it at start.
        let request_id = if report.written {
            let id = markers::write_request(&l, role).map_err(|e| {
                refuse(
                    WireError::Internal,
                    format!("Desired was written but the apply request was not: {e}"),
                )
            })?;
            Some(id)
        } else {
            None
        };
        Ok(Done { report, request_id })
    })
    .await
    .map_err(|e| refuse(WireError::Internal, e.to_string()))??;
    if let Some(id) = &done.request_id {
        let _ = runner.send(RunnerCmd::Announce(id.clone()));
    }
    let r = done.report;
    let (compiled_diff, compiled_diff_unavailable) = match r.compiled_diff {
        Ok(d) => (d, None),
        Err(why) => (String::new(), Some(why)),
    };
    Ok(Response::EditOk {
        summary: r.summary,
        changed: r.changed,
        written: r.written,
        request_id: done.request_id,
        toml_diff: r.toml_diff,
        compiled_diff,
        compiled_diff_unavailable,
    })
}

/// The role's Desired as the console lists it (read straight from the file:
/// a file the apply would refuse for another reason still lists).
pub(super) async fn on_desired(ctx: &IpcContext, role: Role) -> Result<Response, Refusal> {
    runner_for(ctx, role)?;
    let l = ctx.layout.clone();
    let view = tokio::task::spawn_blocking(move || view_of(&l, role))
        .await
        .map_err(|e| refuse(WireError::Internal, e.to_string()))?
        .map_err(|e| refuse(WireError::InvalidDesired, e))?;
    Ok(Response::DesiredOk { view })
}

fn view_of(layout: &Layout, role: Role) -> Result<DesiredView, String> {
    let path = layout.desired_toml(role);
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    DesiredView::parse(role, &path, &text)
}

pub(super) async fn on_user_link(ctx: &IpcContext, label: String) -> Result<Response, Refusal> {
    runner_for(ctx, Role::Server)?;
    let l = ctx.layout.clone();
    tokio::task::spawn_blocking(move || link_of(&l, &label).map(|link| (label, link)))
        .await
        .map_err(|e| refuse(WireError::Internal, e.to_string()))?
        .map(|(label, link)| Response::UserLinkOk { label, link })
}

/// The link of `label` as Desired says now (as `xp2p server user show`).
fn link_of(layout: &Layout, label: &str) -> Result<String, Refusal> {
    let invalid = |e: String| refuse(WireError::InvalidDesired, e);
    let path = layout.desired_toml(Role::Server);
    let text = std::fs::read_to_string(&path)
        .map_err(|e| invalid(format!("cannot read {}: {e}", path.display())))?;
    let m: ServerDesired =
        xp2p_core::desired::parse_server(&path, &text).map_err(|p| invalid(p.summary()))?;
    let u = m
        .server
        .users
        .iter()
        .find(|u| u.user_label == label)
        .ok_or_else(|| {
            refuse(
                WireError::InvalidRequest,
                format!("server.users: no user labelled \"{label}\""),
            )
        })?;
    let cert = layout.resolve_asset(&m.server.certificate);
    let pem = std::fs::read_to_string(&cert)
        .map_err(|e| invalid(format!("cannot read {}: {e}", cert.display())))?;
    let trust: Trust = xp2p_deploy::cert::trust_for(&pem)
        .map_err(|e| invalid(format!("{}: {e}", cert.display())))?;
    user_link(&m.server, u, &trust)
        .map(|l| l.render())
        .map_err(|e| invalid(e.to_string()))
}
