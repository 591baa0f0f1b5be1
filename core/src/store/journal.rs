//! The apply journal (`.state/journal.jsonl`): one JSON object per line, appended
//! and fsynced before the side effect it announces. Repair drops a torn last line;
//! rotation keeps one previous file (`journal.jsonl.1`) once the size limit passes.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::ErrorCode;
use crate::role::Role;

/// Phases in order; the commit point is `committed_live`.
pub const PHASES: [&str; 8] = [
    "received",
    "compiled",
    "validated",
    "staged",
    "committed_live",
    "started",
    "healthy",
    "done",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Committed,
    Noop,
    Failed,
    RolledBack,
    FailedAfterCommit,
    Superseded,
    Interrupted,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Committed => "committed",
            Outcome::Noop => "noop",
            Outcome::Failed => "failed",
            Outcome::RolledBack => "rolled_back",
            Outcome::FailedAfterCommit => "failed_after_commit",
            Outcome::Superseded => "superseded",
            Outcome::Interrupted => "interrupted",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordError {
    pub code: ErrorCode,
    pub message: String,
    pub phase: String,
    pub retryable: bool,
    pub live_changed: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub seq: u64,
    pub ts: String,
    pub attempt_id: String,
    pub role: Role,
    pub request_id: String,
    pub phase: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired_digest: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub live_sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lkg_sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<RecordError>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// Free-form note (e.g. "fallback: stop-then-start", what recovery observed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl Record {
    pub fn new(attempt_id: &str, role: Role, request_id: &str, phase: &str) -> Record {
        Record {
            seq: 0,
            ts: crate::store::markers::now_rfc3339(),
            attempt_id: attempt_id.into(),
            role,
            request_id: request_id.into(),
            phase: phase.into(),
            desired_digest: None,
            live_sha256: None,
            lkg_sha256: None,
            outcome: None,
            error: None,
            duration_ms: None,
            detail: None,
        }
    }

    pub fn is_terminal(&self) -> bool {
        self.outcome.is_some()
    }
}

/// Rotate once the journal passes this size.
pub const ROTATE_BYTES: u64 = 8 * 1024 * 1024;

pub struct Journal {
    path: PathBuf,
    file: File,
    next_seq: u64,
}

/// Reads every well-formed record (a torn or garbled line is skipped).
pub fn read_all(path: &Path) -> io::Result<Vec<Record>> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for line in BufReader::new(file).split(b'\n') {
        let line = line?;
        if let Ok(r) = serde_json::from_slice::<Record>(&line) {
            out.push(r);
        }
    }
    Ok(out)
}

/// Drops a torn last line (no trailing newline, or not JSON). Returns whether it cut.
pub fn repair(path: &Path) -> io::Result<bool> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    if bytes.is_empty() {
        return Ok(false);
    }
    let body = bytes.strip_suffix(b"\n").unwrap_or(&bytes);
    let last_start = body.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    let last = &body[last_start..];
    let torn = !bytes.ends_with(b"\n") || serde_json::from_slice::<Record>(last).is_err();
    if !torn {
        return Ok(false);
    }
    let f = OpenOptions::new().write(true).open(path)?;
    f.set_len(last_start as u64)?;
    f.sync_all()?;
    Ok(true)
}

impl Journal {
    /// Opens (creating) the journal, continuing its sequence numbers.
    pub fn open(path: &Path) -> io::Result<Journal> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let next_seq = read_all(path)?.last().map_or(1, |r| r.seq + 1);
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(Journal {
            path: path.into(),
            file,
            next_seq,
        })
    }

    /// Appends a record (assigning `seq`) and fsyncs it. Returns the record written.
    pub fn append(&mut self, mut record: Record) -> io::Result<Record> {
        record.seq = self.next_seq;
        let mut line = serde_json::to_vec(&record).map_err(io::Error::other)?;
        line.push(b'\n');
        self.file.write_all(&line)?;
        self.file.sync_data()?;
        self.next_seq += 1;
        if self.file.metadata().map(|m| m.len()).unwrap_or(0) > ROTATE_BYTES {
            self.rotate()?;
        }
        Ok(record)
    }

    fn rotate(&mut self) -> io::Result<()> {
        let old = self.path.with_extension("jsonl.1");
        std::fs::rename(&self.path, &old)?;
        self.file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        if let Some(dir) = self.path.parent() {
            super::atomic::sync_dir(dir)?;
        }
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Attempts (by id) whose records have no terminal record, with their last record.
pub fn unfinished(records: &[Record]) -> Vec<Record> {
    let mut open: Vec<Record> = Vec::new();
    for r in records {
        open.retain(|o| o.attempt_id != r.attempt_id);
        if !r.is_terminal() {
            open.push(r.clone());
        }
    }
    open
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn append_repair_and_unfinished() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("journal.jsonl");
        let mut j = Journal::open(&p).unwrap();
        j.append(Record::new("a1", Role::Client, "r1", "received"))
            .unwrap();
        let mut done = Record::new("a1", Role::Client, "r1", "done");
        done.outcome = Some(Outcome::Committed);
        j.append(done).unwrap();
        j.append(Record::new("a2", Role::Client, "r2", "received"))
            .unwrap();
        drop(j);
        // torn write
        let mut f = OpenOptions::new().append(true).open(&p).unwrap();
        f.write_all(b"{\"seq\":4,\"ts\":").unwrap();
        assert!(repair(&p).unwrap());
        assert!(!repair(&p).unwrap());
        let recs = read_all(&p).unwrap();
        assert_eq!(recs.len(), 3);
        let open = unfinished(&recs);
        assert_eq!(open.len(), 1);
        assert_eq!(open[0].attempt_id, "a2");
        let mut j = Journal::open(&p).unwrap();
        assert_eq!(
            j.append(Record::new("a3", Role::Server, "r3", "received"))
                .unwrap()
                .seq,
            4
        );
    }
}
