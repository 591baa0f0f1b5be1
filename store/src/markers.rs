//! `apply.request` and `apply.error` (formats.md): versioned documents keyed by
//! role, read-modify-written under `.state/locks/apply-request.lock`.

use std::io;

use serde::Serialize;

use crate::atomic::write_atomic;
use xp2p_core::layout::Layout;
pub use xp2p_core::records::markers::*;
use xp2p_core::role::Role;
use xp2p_platform::lock::{FileLock, LockError};

#[derive(Debug, thiserror::Error)]
pub enum MarkerError {
    #[error("{0}")]
    Lock(#[from] LockError),
    #[error("{file}: {source}")]
    Io { file: String, source: io::Error },
}

impl MarkerError {
    /// The caller lacks permission (a non-owner user): exit 7, not a failure.
    pub fn is_permission(&self) -> bool {
        match self {
            MarkerError::Lock(LockError::Io { source, .. }) | MarkerError::Io { source, .. } => {
                source.kind() == io::ErrorKind::PermissionDenied
            }
            MarkerError::Lock(LockError::Held { .. }) => false,
        }
    }
}

fn io_err(file: &std::path::Path) -> impl FnOnce(io::Error) -> MarkerError + '_ {
    move |source| MarkerError::Io {
        file: file.display().to_string(),
        source,
    }
}

/// Reads apply.request; a missing file is empty; the legacy single object is accepted;
/// an unreadable document is treated as empty (it is only a wake-up note).
pub fn read_requests(layout: &Layout) -> RequestDoc {
    let Ok(bytes) = std::fs::read(layout.apply_request()) else {
        return RequestDoc::default();
    };
    let mut doc = if let Ok(doc) = serde_json::from_slice::<RequestDoc>(&bytes) {
        doc
    } else {
        match serde_json::from_slice::<RequestEntry>(&bytes) {
            Ok(legacy) => {
                let mut doc = RequestDoc::default();
                doc.requests.insert(legacy.role, legacy);
                doc
            }
            Err(_) => RequestDoc::default(),
        }
    };
    for entry in doc.requests.values_mut() {
        entry.id = bounded_id(&entry.id);
    }
    doc
}

/// The longest request id taken as written (xp2p writes UUIDs, 36 bytes).
pub const MAX_REQUEST_ID: usize = 128;

/// A request id as the service uses it: as written when it is at most
/// [`MAX_REQUEST_ID`] bytes, else a short stable stand-in derived from it, so
/// a hand-written megabyte id can neither bloat the journal and IPC frames
/// nor change between two reads of the same file.
pub fn bounded_id(id: &str) -> String {
    if id.len() <= MAX_REQUEST_ID {
        return id.to_string();
    }
    let digest = crate::digest::sha256_hex(id.as_bytes());
    format!("oversized-{}", &digest[..32])
}

pub fn read_errors(layout: &Layout) -> ErrorDoc {
    std::fs::read(layout.apply_error())
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

fn write_doc<T: Serialize>(path: &std::path::Path, doc: &T) -> Result<(), MarkerError> {
    let mut bytes = serde_json::to_vec_pretty(doc).map_err(|e| MarkerError::Io {
        file: path.display().to_string(),
        source: io::Error::other(e),
    })?;
    bytes.push(b'\n');
    write_atomic(path, &bytes).map_err(io_err(path))
}

/// How long a marker write waits for another writer (the service holds the
/// lock for a read-modify-write of a few milliseconds).
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

fn lock(layout: &Layout) -> Result<FileLock, LockError> {
    FileLock::acquire_within(&layout.apply_request_lock(), LOCK_WAIT)
}

/// Writes a fresh request for `role` (replacing only that role's entry); returns its id.
pub fn write_request(layout: &Layout, role: Role) -> Result<String, MarkerError> {
    let id = uuid::Uuid::new_v4().to_string();
    write_request_id(layout, role, &id)?;
    Ok(id)
}

/// Writes a request with a given id (the CLI picks the id it will wait for).
pub fn write_request_id(layout: &Layout, role: Role, id: &str) -> Result<(), MarkerError> {
    let _lock = lock(layout)?;
    let mut doc = read_requests(layout);
    doc.version = 2;
    doc.requests.insert(
        role,
        RequestEntry {
            id: id.to_string(),
            role,
            timestamp: now_rfc3339(),
        },
    );
    write_doc(&layout.apply_request(), &doc)
}

/// Removes `role`'s request only if it is still `id` (a newer one stays).
pub fn remove_request_if(layout: &Layout, role: Role, id: &str) -> Result<bool, MarkerError> {
    let _lock = lock(layout)?;
    let mut doc = read_requests(layout);
    if doc.requests.get(&role).is_some_and(|e| e.id == id) {
        doc.requests.remove(&role);
        write_doc(&layout.apply_request(), &doc)?;
        return Ok(true);
    }
    Ok(false)
}

pub fn set_error(layout: &Layout, role: Role, entry: ErrorEntry) -> Result<(), MarkerError> {
    let _lock = lock(layout)?;
    let mut doc = read_errors(layout);
    doc.errors.insert(role, entry);
    write_doc(&layout.apply_error(), &doc)
}

pub fn clear_error(layout: &Layout, role: Role) -> Result<(), MarkerError> {
    let _lock = lock(layout)?;
    let mut doc = read_errors(layout);
    if doc.errors.remove(&role).is_some() {
        write_doc(&layout.apply_error(), &doc)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use xp2p_core::error::ErrorCode;

    fn layout() -> (tempfile::TempDir, Layout) {
        let d = tempfile::tempdir().unwrap();
        let l = Layout::new(d.path(), d.path().join("logs"));
        (d, l)
    }

    #[test]
    fn older_attempt_never_removes_newer_request() {
        let (_d, l) = layout();
        let a = write_request(&l, Role::Client).unwrap();
        let b = write_request(&l, Role::Client).unwrap();
        let s = write_request(&l, Role::Server).unwrap();
        assert!(!remove_request_if(&l, Role::Client, &a).unwrap());
        assert_eq!(read_requests(&l).requests[&Role::Client].id, b);
        assert!(remove_request_if(&l, Role::Client, &b).unwrap());
        assert_eq!(read_requests(&l).requests[&Role::Server].id, s);
        assert!(!read_requests(&l).requests.contains_key(&Role::Client));
    }

    #[test]
    fn legacy_request_is_accepted() {
        let (_d, l) = layout();
        std::fs::create_dir_all(l.state_dir()).unwrap();
        std::fs::write(
            l.apply_request(),
            r#"{"id":"x","role":"server","timestamp":"t"}"#,
        )
        .unwrap();
        assert_eq!(read_requests(&l).requests[&Role::Server].id, "x");
    }

    #[test]
    fn errors_set_and_clear_per_role() {
        let (_d, l) = layout();
        let e = ErrorEntry {
            request_id: "r".into(),
            attempt_id: "a".into(),
            code: ErrorCode::InvalidToml,
            phase: xp2p_core::records::journal::Phase::Compiled,
            reason: "bad".into(),
            timestamp: now_rfc3339(),
        };
        set_error(&l, Role::Client, e.clone()).unwrap();
        set_error(&l, Role::Server, e).unwrap();
        clear_error(&l, Role::Client).unwrap();
        let doc = read_errors(&l);
        assert!(!doc.errors.contains_key(&Role::Client));
        assert_eq!(doc.errors[&Role::Server].code, ErrorCode::InvalidToml);
    }

    #[test]
    fn an_oversized_request_id_becomes_a_short_stable_stand_in() {
        let (_d, layout) = layout();
        let huge = "x".repeat(2 << 20);
        write_request_id(&layout, Role::Client, &huge).unwrap();
        let a = read_requests(&layout).requests[&Role::Client].id.clone();
        let b = read_requests(&layout).requests[&Role::Client].id.clone();
        assert_eq!(a, b, "stable across reads");
        assert!(
            a.starts_with("oversized-") && a.len() <= MAX_REQUEST_ID,
            "{a}"
        );
        write_request_id(&layout, Role::Client, "short-id").unwrap();
        assert_eq!(
            read_requests(&layout).requests[&Role::Client].id,
            "short-id"
        );
    }
}
