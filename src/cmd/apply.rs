//! `xp2p apply`, `rollback`, `restart`: write the request (apply), then — when
//! waiting — subscribe first, ask the service, and wait for `apply.done` of that
//! request id (following `apply.cancelled` to the request that superseded it).

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};
use xp2p_core::records::journal::Outcome;
use xp2p_core::{Layout, Role, text};
use xp2p_ipc::client::{CONNECT_TIMEOUT, REQUEST_TIMEOUT};
use xp2p_ipc::{ConnectError, Event, IpcClient, Request, Response, State};
use xp2p_store::markers;
use xp2p_store::pipeline;
use xp2p_store::tunstate::{Phase, TunView};

use super::ipc::{connect_error, connect_within, fail, runtime};
use crate::args::{ApplyArgs, ControlArgs, RoleOrAll};
use crate::exit;

pub fn run_apply(layout: &Layout, a: &ApplyArgs) -> i32 {
    run_apply_after(
        layout,
        a,
        &AfterEdit {
            command: "xp2p apply",
            expect: None,
            edit: None,
        },
    )
}

/// What an edit command hands to the apply that follows it.
pub struct AfterEdit<'a> {
    pub command: &'a str,
    /// With `--wait`: the TUN phase every committed result must reach.
    pub expect: Option<Phase>,
    /// The edit's own report: in the JSON envelope as `edit`, and when set, a
    /// stopped service is not an error without `--wait` (Desired is written;
    /// the request waits for the service).
    pub edit: Option<Value>,
}

/// The one JSON document of a command's success.
fn envelope(command: &str, edit: Option<&Value>, result: Value) -> Value {
    let mut v = json!({"schema_version": "1", "command": command});
    if let Some(e) = edit {
        v["edit"] = e.clone();
    }
    v["result"] = result;
    v
}

/// Requests an apply of the roles of `a` (after an edit, or alone).
pub fn run_apply_after(layout: &Layout, a: &ApplyArgs, after: &AfterEdit<'_>) -> i32 {
    let command = after.command;
    let expect = after.expect;
    let roles: Vec<Role> = match a.role {
        RoleOrAll::Client => vec![Role::Client],
        RoleOrAll::Server => vec![Role::Server],
        RoleOrAll::All => pipeline::desired_roles(layout),
    };
    if roles.is_empty() {
        return fail(
            command,
            a.json,
            "invalid_request",
            &format!("no Desired files in {}", layout.root().display()),
            exit::USAGE,
        );
    }
    let Some(rt) = runtime() else {
        return exit::FAILED;
    };
    rt.block_on(async {
        // `--timeout` bounds the whole command: connect, subscribe, request, wait.
        let started = tokio::time::Instant::now();
        let bound = Bound { wait: a.wait, deadline: started + a.timeout };
        // Subscribe before the request exists, so no result can be missed.
        let mut silent = None;
        let mut client = match connect_within(layout, bound.cap(CONNECT_TIMEOUT)).await {
            Ok(c) => Some(c),
            Err(e @ (ConnectError::PermissionDenied(_) | ConnectError::Protocol(_))) => {
                return connect_error(command, a.json, &e);
            }
            // Stopped or hung: the request is still written, for when it answers.
            Err(e @ ConnectError::NotAnswering(_)) => {
                silent = Some(e);
                None
            }
            Err(_) => None,
        };
        if a.wait
            && let Some(c) = client.as_mut()
            && let Err(e) = c.ask_within(&Request::subscribe(false), bound.cap(REQUEST_TIMEOUT)).await
        {
            return connect_error(command, a.json, &e);
        }
        let mut waiting: BTreeMap<String, Role> = BTreeMap::new();
        for role in &roles {
            let id = uuid::Uuid::new_v4().to_string();
            if let Err(e) = markers::write_request_id(layout, *role, &id) {
                let msg = format!("cannot write apply.request: {e}");
                return if e.is_permission() {
                    fail(command, a.json, "permission_denied", &msg, exit::PERMISSION)
                } else {
                    fail(command, a.json, "internal", &msg, exit::FAILED)
                };
            }
            waiting.insert(id, *role);
        }
        let Some(mut c) = client else {
            if let Some(e) = silent {
                let msg = format!(
                    "{e}; the request stays queued in {}",
                    layout.apply_request().display()
                );
                return fail(command, a.json, "timeout", &msg, exit::TIMEOUT);
            }
            let msg = format!(
                "the xp2p service is not running; the request stays queued in {} (start it: xp2p service run)",
                layout.apply_request().display()
            );
            if after.edit.is_some() && !a.wait {
                // The edit itself is done: say what is missing, and succeed.
                eprintln!("warning: {msg}");
                if a.json {
                    let result = json!({"status": "queued", "service": "not_running"});
                    println!("{}", envelope(command, after.edit.as_ref(), result));
                }
                return exit::OK;
            }
            return fail(command, a.json, "service_unavailable", &msg, exit::NOT_RUNNING);
        };
        for (id, role) in &waiting {
            let f = Request::apply(*role, Some(id));
            if let Err(e) = c.ask_within(&f, bound.cap(REQUEST_TIMEOUT)).await {
                return connect_error(command, a.json, &e);
            }
        }
        if !a.wait {
            if a.json {
                let requests: Vec<Value> = waiting
                    .iter()
                    .map(|(id, role)| json!({"role": role, "request_id": id}))
                    .collect();
                let result = json!({"status": "requested", "requests": requests});
                println!("{}", envelope(command, after.edit.as_ref(), result));
            } else {
                for (id, role) in &waiting {
                    println!("{role}: apply requested ({})", &id[..8]);
                }
            }
            return exit::OK;
        }
        wait_results(&mut c, waiting, a.timeout, started, a.json, command, expect, after.edit.as_ref()).await
    })
}

/// `rollback` or `restart` (`request` builds the one of the command).
pub fn run_control(layout: &Layout, request: fn(Role) -> Request, a: &ControlArgs) -> i32 {
    let role: Role = a.role.into();
    let request = request(role);
    let kind = request.kind();
    let command = format!("xp2p {kind}");
    let Some(rt) = runtime() else {
        return exit::FAILED;
    };
    rt.block_on(async {
        let started = tokio::time::Instant::now();
        let bound = Bound {
            wait: a.wait,
            deadline: started + a.timeout,
        };
        let mut c = match connect_within(layout, bound.cap(CONNECT_TIMEOUT)).await {
            Ok(c) => c,
            Err(e) => return connect_error(&command, a.json, &e),
        };
        if a.wait
            && let Err(e) = c
                .ask_within(&Request::subscribe(false), bound.cap(REQUEST_TIMEOUT))
                .await
        {
            return connect_error(&command, a.json, &e);
        }
        let ans = match c.ask_within(&request, bound.cap(REQUEST_TIMEOUT)).await {
            Ok(ans) => ans,
            Err(e) => return connect_error(&command, a.json, &e),
        };
        let (Response::RollbackOk { request_id: id } | Response::RestartOk { request_id: id }) =
            ans
        else {
            return fail(
                &command,
                a.json,
                "internal",
                "the service gave no request id",
                exit::FAILED,
            );
        };
        if !a.wait {
            if !a.json {
                println!("{role}: {kind} requested");
            }
            return exit::OK;
        }
        wait_results(
            &mut c,
            BTreeMap::from([(id, role)]),
            a.timeout,
            started,
            a.json,
            &command,
            None,
            None,
        )
        .await
    })
}

/// How long an IPC step may take: its own bound, and with `--wait` never past
/// the command's `--timeout` deadline.
struct Bound {
    wait: bool,
    deadline: tokio::time::Instant,
}

impl Bound {
    fn cap(&self, step: Duration) -> Duration {
        if self.wait {
            step.min(
                self.deadline
                    .saturating_duration_since(tokio::time::Instant::now()),
            )
        } else {
            step
        }
    }
}

/// Waits for every request's terminal `apply.done` until `timeout` after
/// `started` (the command's start); returns the worst exit code.
#[allow(clippy::too_many_arguments)]
async fn wait_results(
    c: &mut IpcClient,
    mut waiting: BTreeMap<String, Role>,
    timeout: Duration,
    started: tokio::time::Instant,
    json_out: bool,
    command: &str,
    expect: Option<Phase>,
    edit: Option<&Value>,
) -> i32 {
    let deadline = started + timeout;
    let mut results: Vec<Value> = Vec::new();
    while !waiting.is_empty() {
        let msg = match tokio::time::timeout_at(deadline, c.next_response()).await {
            Ok(Ok(m)) => m,
            Ok(Err(e)) => return connect_error(command, json_out, &e),
            Err(_) => {
                let roles: Vec<String> = waiting.values().map(|r| r.to_string()).collect();
                let msg = format!(
                    "timed out after {} waiting for {} (the apply goes on; see xp2p status)",
                    humantime::format_duration(timeout),
                    roles.join(", ")
                );
                return fail(command, json_out, "timeout", &msg, exit::TIMEOUT);
            }
        };
        let event = match msg {
            Response::Snapshot { state, .. } => {
                // After a `resync` the events we missed are gone: take any result
                // the fresh snapshot already holds.
                for result in settled_in_snapshot(&state, &waiting) {
                    let rid = result["request_id"].as_str().unwrap_or("").to_string();
                    waiting.remove(&rid);
                    if !json_out {
                        print_human(&result);
                    }
                    results.push(result);
                }
                continue;
            }
            Response::Event { event, .. } => event,
            _ => continue,
        };
        match *event {
            Event::ApplyCancelled {
                request_id,
                superseded_by: by,
                ..
            } => {
                if let Some(role) = waiting.remove(&request_id) {
                    if !json_out {
                        println!(
                            "{role}: request {} superseded by {}; waiting for that one",
                            text::escape_control(short(&request_id)),
                            text::escape_control(short(&by))
                        );
                    }
                    waiting.insert(by, role);
                }
            }
            Event::ApplyDone(r) => {
                if !waiting.contains_key(&r.request_id) {
                    continue;
                }
                if r.status == Outcome::Superseded.as_str() {
                    // Desired moved during compile: the same request runs again.
                    continue;
                }
                waiting.remove(&r.request_id);
                let result = serde_json::to_value(&r).unwrap_or(Value::Null);
                if !json_out {
                    print_human(&result);
                }
                results.push(result);
            }
            _ => {}
        }
    }
    let code = results
        .iter()
        .map(|r| exit::for_status(r.get("status").and_then(Value::as_str).unwrap_or("")))
        .max_by_key(|c| if *c == exit::OK { 0 } else { *c })
        .unwrap_or(exit::OK);
    let code = match (code, expect) {
        (exit::OK, Some(phase)) => match unsettled(&results, phase) {
            Some(line) => {
                eprintln!("error: {line}");
                exit::OS_STATE_NOT_SETTLED
            }
            None => exit::OK,
        },
        (code, _) => code,
    };
    if json_out {
        let result = if results.len() == 1 {
            results.remove(0)
        } else {
            Value::Array(results)
        };
        println!("{}", envelope(command, edit, result));
    }
    code
}

/// The first committed result whose TUN is not in `phase`, as one line naming
/// the role, the phase it is in and why (None: all settled).
fn unsettled(results: &[Value], phase: Phase) -> Option<String> {
    results.iter().find_map(|r| {
        let role = r.get("role").and_then(Value::as_str).unwrap_or("?");
        let tun = r
            .get("tun")
            .cloned()
            .and_then(|t| serde_json::from_value::<TunView>(t).ok());
        match tun {
            Some(t) if t.phase == phase => None,
            Some(t) => Some(format!(
                "{role}: applied, but TUN is {} (wanted {phase})",
                text::escape_control(&t.summary())
            )),
            None if phase == Phase::Disabled => None,
            None => Some(format!(
                "{role}: applied, but the service reported no TUN state (wanted {phase})"
            )),
        }
    })
}

/// Results for waited-for requests that a snapshot shows settled (each role's
/// last attempt), shaped like `apply.done` (no phases or log tail).
fn settled_in_snapshot(state: &State, waiting: &BTreeMap<String, Role>) -> Vec<Value> {
    state
        .roles
        .iter()
        .filter_map(|r| {
            let att = r.last_attempt.as_ref()?;
            let outcome = att.outcome?;
            (waiting.contains_key(&att.request_id) && outcome != Outcome::Superseded).then(|| {
                json!({
                    "role": r.role,
                    "request_id": att.request_id,
                    "attempt_id": att.attempt_id,
                    "status": outcome,
                    "duration_ms": att.duration_ms,
                    "exit_code": outcome.exit_code(),
                    "error_summary": att.error,
                    "log_tail": "",
                    "phases": [],
                })
            })
        })
        .collect()
}

fn short(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

fn print_human(r: &Value) {
    let role = r.get("role").and_then(Value::as_str).unwrap_or("?");
    for p in r
        .get("phases")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let phase = p.get("phase").and_then(Value::as_str).unwrap_or("");
        let ms = p.get("ms").and_then(Value::as_u64).unwrap_or(0);
        println!("  {role:<6} {phase:<15} {ms:>6} ms");
    }
    let status = r.get("status").and_then(Value::as_str).unwrap_or("?");
    let ms = r.get("duration_ms").and_then(Value::as_u64).unwrap_or(0);
    println!("{role}: {status} in {ms} ms");
    if let Some(t) = r
        .get("tun")
        .cloned()
        .and_then(|t| serde_json::from_value::<TunView>(t).ok())
        .filter(|t| t.phase != Phase::Disabled)
    {
        println!("{role}: tun {}", text::escape_control(&t.summary()));
    }
    if let Some(err) = r.get("error_summary").and_then(Value::as_str) {
        println!("{role}: {}", text::escape_control(err));
        if let Some(tail) = r
            .get("log_tail")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
        {
            println!("--- log tail ---");
            let lines: Vec<&str> = tail.lines().collect();
            for l in &lines[lines.len().saturating_sub(15)..] {
                println!("{}", text::escape_control(l));
            }
        }
    }
}
