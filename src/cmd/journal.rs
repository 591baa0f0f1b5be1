//! `xp2p journal`: apply attempts read from the journal file (no service needed).

use std::collections::BTreeMap;

use serde_json::json;
use xp2p_core::Layout;
use xp2p_core::store::journal::{self, Record};

use crate::args::JournalArgs;
use crate::exit;

pub fn run(layout: &Layout, a: &JournalArgs) -> i32 {
    let records = match journal::read_all(&layout.journal()) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {}: {e}", layout.journal().display());
            return exit::FAILED;
        }
    };
    let role = a.role.map(xp2p_core::Role::from);
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
        println!(
            "{}  {:<6} {:<19} {:>6}  request {}  {}",
            first.ts,
            first.role,
            outcome,
            last.duration_ms.map_or("-".into(), |m| format!("{m}ms")),
            first.request_id.get(..8).unwrap_or(&first.request_id),
            phases.join(" > "),
        );
        if let Some(e) = &last.error {
            println!("    {}: {}", e.code, e.message);
        }
        if let Some(d) = &last.detail {
            println!("    {d}");
        }
    }
    exit::OK
}
