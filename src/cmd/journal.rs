//! `xp2p journal`: apply attempts read from the journal file (no service
//! needed); a user who may not read the file (a `socket_group` member) asks the
//! service, and one the service refuses too gets exit 7. Text is shown with
//! control characters escaped.

use std::collections::BTreeMap;

use serde_json::json;
use xp2p_core::text::escape_control;
use xp2p_core::{Layout, Role};
use xp2p_ipc::{ConnectError, Request, Response};
use xp2p_store::journal::{self, Record};

use super::ipc::{connect, connect_error, fail, runtime};
use crate::args::JournalArgs;
use crate::exit;

const COMMAND: &str = "xp2p journal";
/// Records asked of the service per attempt shown (an attempt is ~10 records).
const RECORDS_PER_ATTEMPT: usize = 16;

pub fn run(layout: &Layout, a: &JournalArgs) -> i32 {
    let role = a.role.map(Role::from);
    let path = layout.journal();
    let records = match journal::read_all(&path) {
        Ok(r) => r,
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            match via_service(layout, a, role, &format!("{}: {e}", path.display())) {
                Ok(r) => r,
                Err(code) => return code,
            }
        }
        Err(e) => {
            let msg = format!("cannot read {}: {e}", path.display());
            return fail(COMMAND, a.json, "internal", &msg, exit::FAILED);
        }
    };
    let mut order: Vec<String> = Vec::new();
    let mut attempts: BTreeMap<String, Vec<Record>> = BTreeMap::new();
    for r in records
        .into_iter()
        .filter(|r| role.is_none_or(|x| r.role == x))
    {
        if !attempts.contains_key(&r.attempt_id) {
            order.push(r.attempt_id.clone());
        }
        attempts.entry(r.attempt_id.clone()).or_default().push(r);
    }
    let shown = &order[order.len().saturating_sub(a.limit)..];
    if a.json {
        let list: Vec<_> = shown
            .iter()
            .map(|id| json!({"attempt_id": id, "records": attempts[id]}))
            .collect();
        println!(
            "{}",
            json!({"schema_version": "1", "command": "xp2p journal", "attempts": list})
        );
        return exit::OK;
    }
    for id in shown {
        let recs = &attempts[id];
        let (Some(first), Some(last)) = (recs.first(), recs.last()) else {
            continue;
        };
        let outcome = last.outcome.map_or("in progress", |o| o.as_str());
        let phases: Vec<&str> = recs
            .iter()
            .filter(|r| r.outcome.is_none() || r.phase == "done")
            .map(|r| r.phase.as_str())
            .collect();
        let request: String = first.request_id.chars().take(8).collect();
        println!(
            "{}  {:<6} {:<19} {:>6}  request {}  {}",
            escape_control(&first.ts),
            first.role,
            outcome,
            last.duration_ms.map_or("-".into(), |m| format!("{m}ms")),
            escape_control(&request),
            escape_control(&phases.join(" > ")),
        );
        if let Some(e) = &last.error {
            println!("    {}: {}", e.code, escape_control(&e.message));
        }
        if let Some(d) = &last.detail {
            println!("    {}", escape_control(d));
        }
    }
    exit::OK
}

/// The journal's last records from the service, for a user the file refuses;
/// `Err(exit code)` (7 when the service refuses too, or is not there to ask).
fn via_service(
    layout: &Layout,
    a: &JournalArgs,
    role: Option<Role>,
    denied: &str,
) -> Result<Vec<Record>, i32> {
    let rt = runtime().ok_or(exit::FAILED)?;
    rt.block_on(async {
        let mut c = match connect(layout).await {
            Ok(c) => c,
            Err(xp2p_ipc::ConnectError::NotRunning(_)) => {
                let msg = format!("{denied} (and no service runs to ask)");
                return Err(fail(
                    COMMAND,
                    a.json,
                    "permission_denied",
                    &msg,
                    exit::PERMISSION,
                ));
            }
            Err(e) => return Err(connect_error(COMMAND, a.json, &e)),
        };
        let limit = a.limit.saturating_mul(RECORDS_PER_ATTEMPT);
        match c.call(&Request::journal(role, limit as u64)).await {
            Ok(Response::JournalOk { records }) => Ok(records),
            Ok(other) => Err(connect_error(
                COMMAND,
                a.json,
                &ConnectError::unexpected(&other),
            )),
            Err(e @ ConnectError::Protocol(_)) => {
                let msg = format!("the service's journal answer is not understood: {e}");
                Err(fail(COMMAND, a.json, "protocol_error", &msg, exit::FAILED))
            }
            Err(e) => Err(connect_error(COMMAND, a.json, &e)),
        }
    })
}
