//! The apply journal (`.state/journal.jsonl`): one JSON object per line, appended
//! and fsynced before the side effect it announces. Repair drops a torn last line;
//! rotation keeps one previous file (`journal.jsonl.1`) once the size limit passes.
//! The record types are the domain's (`xp2p_core::records::journal`).

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::Deserialize;
pub use xp2p_core::records::journal::*;
use xp2p_core::role::Role;

/// Rotate once the journal passes this size.
pub const ROTATE_BYTES: u64 = 8 * 1024 * 1024;

/// Where records go: the journal file (a test injects one that fails mid-write).
trait Sink: Send {
    fn put(&mut self, bytes: &[u8]) -> io::Result<()>;
    fn sync(&mut self) -> io::Result<()>;
    /// Cuts the file back to `len` bytes (drops a partial append).
    fn truncate(&mut self, len: u64) -> io::Result<()>;
}

impl Sink for File {
    fn put(&mut self, bytes: &[u8]) -> io::Result<()> {
        Write::write_all(self, bytes)
    }

    fn sync(&mut self) -> io::Result<()> {
        self.sync_data()
    }

    fn truncate(&mut self, len: u64) -> io::Result<()> {
        self.set_len(len)?;
        self.sync_data()
    }
}

pub struct Journal {
    path: PathBuf,
    file: Box<dyn Sink>,
    /// The file's length after the last whole record: a failed append is cut
    /// back to it, so a torn record never merges with the next one.
    len: u64,
    /// The file may not end with a newline (a partial append could not be cut
    /// back, or a torn line was there at open): the next record starts on a
    /// fresh line.
    needs_newline: bool,
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

/// Bytes read per step when walking the journal backwards.
const REV_CHUNK: u64 = 64 * 1024;
/// A line longer than this is not a record: it is skipped, not buffered.
const MAX_LINE: usize = 1024 * 1024;

/// Hands the journal's lines to `visit`, newest first, reading the file backwards
/// in chunks, until `visit` returns false. Memory stays bounded by a chunk and a
/// line (plus whatever the caller keeps), whatever the journal's size.
fn visit_lines_rev(path: &Path, mut visit: impl FnMut(&[u8]) -> bool) -> io::Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let mut pos = file.metadata()?.len();
    // The start of a line whose beginning lies before `pos` (not yet complete).
    let mut partial: Vec<u8> = Vec::new();
    let mut too_long = false;
    while pos > 0 {
        let start = pos.saturating_sub(REV_CHUNK);
        let mut chunk = vec![0u8; (pos - start) as usize];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(&mut chunk)?;
        if !too_long {
            chunk.extend_from_slice(&partial);
        }
        let mut end = chunk.len();
        while let Some(nl) = chunk[..end].iter().rposition(|b| *b == b'\n') {
            let line = &chunk[nl + 1..end];
            if !too_long && !line.is_empty() && !visit(line) {
                return Ok(());
            }
            too_long = false;
            end = nl;
        }
        partial.clear();
        if !too_long {
            partial.extend_from_slice(&chunk[..end]);
        }
        if partial.len() > MAX_LINE {
            partial = Vec::new();
            too_long = true;
        }
        pos = start;
    }
    if !too_long && !partial.is_empty() {
        visit(&partial);
    }
    Ok(())
}

/// The last `limit` records that `keep` accepts, in file order, without reading
/// the whole journal into memory.
pub fn read_last(
    path: &Path,
    limit: usize,
    keep: impl Fn(&Record) -> bool,
) -> io::Result<Vec<Record>> {
    let mut out = Vec::new();
    if limit == 0 {
        return Ok(out);
    }
    visit_lines_rev(path, |line| {
        if let Ok(r) = serde_json::from_slice::<Record>(line)
            && keep(&r)
        {
            out.push(r);
        }
        out.len() < limit
    })?;
    out.reverse();
    Ok(out)
}

/// Every record of each role's last attempt, in file order: exactly what
/// `status::last_attempt` looks at, found by reading the journal backwards and
/// keeping only those records. Status snapshots (every `status`, every
/// `subscribe`, so every `apply --wait`) must not hold the whole journal in memory:
/// that transient grows with the journal (up to its 8 MiB rotation), and the
/// allocator keeps its high-water mark resident.
///
/// An attempt's first record is its `received` phase (`PHASES[0]`), so a role is
/// complete once that record of its last attempt is seen; a role without one is
/// searched to the start of the file.
pub fn last_attempts(path: &Path, roles: &[Role]) -> io::Result<Vec<Record>> {
    /// The fields needed to decide whether a line is worth a full parse.
    #[derive(Deserialize)]
    struct Head<'a> {
        role: Role,
        #[serde(borrow)]
        attempt_id: std::borrow::Cow<'a, str>,
        #[serde(borrow)]
        phase: std::borrow::Cow<'a, str>,
    }
    // Per wanted role: the attempt id of its last record once seen, and whether its
    // first record has been reached.
    let mut wanted: Vec<(Role, Option<String>, bool)> =
        roles.iter().map(|r| (*r, None, false)).collect();
    let mut out = Vec::new();
    visit_lines_rev(path, |line| {
        let Ok(head) = serde_json::from_slice::<Head>(line) else {
            return true;
        };
        let slot = wanted.iter_mut().find(|(role, attempt, done)| {
            !*done
                && match attempt {
                    None => *role == head.role,
                    Some(id) => *id == head.attempt_id,
                }
        });
        if let Some((_, attempt, done)) = slot
            && let Ok(r) = serde_json::from_slice::<Record>(line)
        {
            *attempt = Some(r.attempt_id.clone());
            *done = head.phase == PHASES[0];
            out.push(r);
        }
        !wanted.iter().all(|(_, _, done)| *done)
    })?;
    out.reverse();
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
        let (len, needs_newline) = tail_state(path)?;
        Ok(Journal {
            path: path.into(),
            file: Box::new(file),
            len,
            needs_newline,
            next_seq,
        })
    }

    /// Appends a record (assigning `seq`) and fsyncs it. Returns the record written.
    ///
    /// On any failure (ENOSPC mid-write, a failed fsync) the file is cut back to
    /// its length before this record and the error returned: the caller must not
    /// perform the side effect the record announces. If even the cut fails, the
    /// next record starts on a fresh line, so the torn bytes stay one skipped line.
    pub fn append(&mut self, mut record: Record) -> io::Result<Record> {
        record.seq = self.next_seq;
        let mut line = Vec::with_capacity(512);
        if self.needs_newline {
            line.push(b'\n');
        }
        serde_json::to_writer(&mut line, &record).map_err(io::Error::other)?;
        line.push(b'\n');
        let written = self.file.put(&line).and_then(|()| self.file.sync());
        if let Err(e) = written {
            self.needs_newline = self.file.truncate(self.len).is_err();
            return Err(io::Error::new(
                e.kind(),
                format!("journal {}: {e}", self.path.display()),
            ));
        }
        self.len += line.len() as u64;
        self.needs_newline = false;
        self.next_seq += 1;
        if self.len > ROTATE_BYTES {
            self.rotate()?;
        }
        Ok(record)
    }

    fn rotate(&mut self) -> io::Result<()> {
        let old = self.path.with_extension("jsonl.1");
        std::fs::rename(&self.path, &old)?;
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        (self.len, self.needs_newline) = tail_state(&self.path)?;
        self.file = Box::new(file);
        if let Some(dir) = self.path.parent() {
            super::atomic::sync_dir(dir)?;
        }
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The file's length and whether it ends without a newline (a torn line).
fn tail_state(path: &Path) -> io::Result<(u64, bool)> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = File::open(path)?;
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok((0, false));
    }
    let mut last = [0u8; 1];
    file.seek(SeekFrom::Start(len - 1))?;
    file.read_exact(&mut last)?;
    Ok((len, last[0] != b'\n'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn append_repair_and_unfinished() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("journal.jsonl");
        let mut j = Journal::open(&p).unwrap();
        j.append(Record::new("a1", Role::Client, "r1", Phase::Received))
            .unwrap();
        let mut done = Record::new("a1", Role::Client, "r1", Phase::Done);
        done.outcome = Some(Outcome::Committed);
        j.append(done).unwrap();
        j.append(Record::new("a2", Role::Client, "r2", Phase::Received))
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
            j.append(Record::new("a3", Role::Server, "r3", Phase::Received))
                .unwrap()
                .seq,
            4
        );
    }

    /// A journal file that accepts `budget` more bytes, then fails with ENOSPC
    /// (having written the part that fitted, as a real full disk does).
    struct FullDisk {
        file: File,
        budget: std::sync::Arc<std::sync::atomic::AtomicUsize>,
        truncate_fails: bool,
    }

    impl Sink for FullDisk {
        fn put(&mut self, bytes: &[u8]) -> io::Result<()> {
            use std::sync::atomic::Ordering;
            let room = self.budget.load(Ordering::SeqCst);
            let n = room.min(bytes.len());
            Write::write_all(&mut self.file, &bytes[..n])?;
            self.budget.fetch_sub(n, Ordering::SeqCst);
            if n < bytes.len() {
                return Err(io::Error::from_raw_os_error(libc::ENOSPC));
            }
            Ok(())
        }

        fn sync(&mut self) -> io::Result<()> {
            self.file.sync_data()
        }

        fn truncate(&mut self, len: u64) -> io::Result<()> {
            if self.truncate_fails {
                return Err(io::Error::other("injected: truncate fails"));
            }
            Sink::truncate(&mut self.file, len)
        }
    }

    fn full_disk_journal(
        p: &Path,
        truncate_fails: bool,
    ) -> (Journal, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
        let mut j = Journal::open(p).unwrap();
        let budget = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(usize::MAX));
        let file = OpenOptions::new().append(true).open(p).unwrap();
        j.file = Box::new(FullDisk {
            file,
            budget: budget.clone(),
            truncate_fails,
        });
        (j, budget)
    }

    fn committed(a: &str) -> Record {
        let mut r = Record::new(a, Role::Server, "r1", Phase::CommittedLive);
        r.live_sha256 = Some("a".repeat(64));
        r
    }

    fn terminal(a: &str) -> Record {
        let mut r = Record::new(a, Role::Server, "r1", Phase::CommittedLive);
        r.outcome = Some(Outcome::Failed);
        r
    }

    /// ENOSPC in the middle of a record: the append fails naming the journal,
    /// the torn bytes are cut off, and the next record (once there is room) is a
    /// whole line of its own; nothing merges.
    #[test]
    fn a_record_torn_by_a_full_disk_is_cut_back_and_reported() {
        use std::sync::atomic::Ordering;
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("journal.jsonl");
        let (mut j, budget) = full_disk_journal(&p, false);
        j.append(Record::new("a1", Role::Server, "r1", Phase::Received))
            .unwrap();
        let before = std::fs::read(&p).unwrap();
        budget.store(40, Ordering::SeqCst);
        let e = j.append(committed("a1")).unwrap_err();
        assert_eq!(
            e.raw_os_error(),
            None,
            "the error is rewrapped with the path"
        );
        assert_eq!(e.kind(), io::ErrorKind::StorageFull);
        assert!(e.to_string().contains(&p.display().to_string()), "{e}");
        assert_eq!(std::fs::read(&p).unwrap(), before, "torn bytes left behind");
        budget.store(usize::MAX, Ordering::SeqCst);
        let t = j.append(terminal("a1")).unwrap();
        assert_eq!(t.seq, 2, "a failed record does not use up a seq");
        let recs = read_all(&p).unwrap();
        assert_eq!(recs.len(), 2);
        assert!(recs[1].is_terminal());
        assert!(!repair(&p).unwrap());
    }

    /// If the torn bytes cannot even be cut off, the next record starts on a
    /// fresh line: the torn line is skipped, the record after it is intact.
    #[test]
    fn a_torn_record_that_cannot_be_cut_never_merges_with_the_next() {
        use std::sync::atomic::Ordering;
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("journal.jsonl");
        let (mut j, budget) = full_disk_journal(&p, true);
        j.append(Record::new("a1", Role::Server, "r1", Phase::Received))
            .unwrap();
        budget.store(40, Ordering::SeqCst);
        assert!(j.append(committed("a1")).is_err());
        budget.store(usize::MAX, Ordering::SeqCst);
        j.append(terminal("a1")).unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        assert_eq!(text.lines().count(), 3, "{text}");
        let recs = read_all(&p).unwrap();
        assert_eq!(recs.len(), 2, "{text}");
        assert!(recs[1].is_terminal());
        // A journal that ends in a torn line when opened: the same.
        drop(j);
        OpenOptions::new()
            .append(true)
            .open(&p)
            .unwrap()
            .write_all(b"{\"seq\":9,\"ts")
            .unwrap();
        let mut j = Journal::open(&p).unwrap();
        j.append(terminal("a2")).unwrap();
        let recs = read_all(&p).unwrap();
        assert_eq!(recs.len(), 3);
        assert_eq!(recs[2].attempt_id, "a2");
    }

    /// A real full disk: a 64 KiB tmpfs mounted for the test (root only; skipped
    /// without root unless `XP2P_REQUIRE_NETNS=1` demands it).
    #[test]
    fn a_real_full_disk_leaves_the_journal_whole() {
        let Some(mnt) = SmallTmpfs::mount() else {
            return;
        };
        let p = mnt.dir.path().join("journal.jsonl");
        let mut j = Journal::open(&p).unwrap();
        j.append(Record::new("a1", Role::Server, "r1", Phase::Received))
            .unwrap();
        // Fill the filesystem to the last byte.
        let filler = mnt.dir.path().join("filler");
        {
            let mut f = File::create(&filler).unwrap();
            let block = vec![b'x'; 4096];
            while f.write_all(&block).is_ok() {}
            while f.write_all(b"x").is_ok() {}
        }
        let before = std::fs::read(&p).unwrap();
        let mut big = committed("a1");
        big.detail = Some("d".repeat(8192));
        let e = j.append(big).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::StorageFull, "{e}");
        assert_eq!(std::fs::read(&p).unwrap(), before);
        std::fs::remove_file(&filler).unwrap();
        j.append(terminal("a1")).unwrap();
        let recs = read_all(&p).unwrap();
        assert_eq!(recs.len(), 2);
        assert!(recs[1].is_terminal());
    }

    /// A tmpfs of 64 KiB on a fresh temp dir, unmounted on drop.
    struct SmallTmpfs {
        dir: tempfile::TempDir,
    }

    impl SmallTmpfs {
        fn mount() -> Option<SmallTmpfs> {
            let required = std::env::var("XP2P_REQUIRE_NETNS").is_ok_and(|v| v == "1");
            // SAFETY: geteuid has no preconditions.
            if unsafe { libc::geteuid() } != 0 {
                assert!(
                    !required,
                    "XP2P_REQUIRE_NETNS=1 but not root: cannot mount a tmpfs"
                );
                eprintln!("skipped: mounting a small tmpfs needs root");
                return None;
            }
            let dir = tempfile::tempdir().unwrap();
            let ok = std::process::Command::new("mount")
                .args(["-t", "tmpfs", "-o", "size=64k,mode=0700", "xp2p-enospc"])
                .arg(dir.path())
                .status()
                .is_ok_and(|s| s.success());
            assert!(ok, "mount -t tmpfs failed");
            Some(SmallTmpfs { dir })
        }
    }

    impl Drop for SmallTmpfs {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount")
                .arg(self.dir.path())
                .status();
        }
    }

    /// Appends records without an fsync each (thousands of them per test).
    struct Fast(io::BufWriter<File>, u64);

    impl Fast {
        fn open(p: &Path) -> Fast {
            let f = OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .unwrap();
            let next = read_all(p).unwrap().last().map_or(1, |r| r.seq + 1);
            Fast(io::BufWriter::new(f), next)
        }

        fn append(&mut self, mut r: Record) {
            r.seq = self.1;
            self.1 += 1;
            serde_json::to_writer(&mut self.0, &r).unwrap();
            self.0.write_all(b"\n").unwrap();
        }
    }

    /// One attempt: `received`, `compiled`, then a terminal `done`.
    fn attempt(j: &mut Fast, role: Role, n: usize) {
        let (a, q) = (format!("{role}-a{n}"), format!("{role}-r{n}"));
        j.append(Record::new(&a, role, &q, Phase::Received));
        let mut c = Record::new(&a, role, &q, Phase::Compiled);
        c.desired_digest = Some("d".repeat(64));
        j.append(c);
        let mut done = Record::new(&a, role, &q, Phase::Done);
        done.outcome = Some(Outcome::Committed);
        done.duration_ms = Some(n as u64);
        j.append(done);
    }

    /// The soak's shape: one server attempt, then thousands of client attempts (far
    /// more than one 64 KiB chunk), with the client's last attempt still open.
    /// Status needs the two last attempts: exactly their records come back, and the
    /// views built from them equal the views built from the whole journal.
    #[test]
    fn last_attempts_keep_only_what_status_shows() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("journal.jsonl");
        let mut j = Fast::open(&p);
        attempt(&mut j, Role::Server, 0);
        for n in 0..3000 {
            attempt(&mut j, Role::Client, n);
        }
        j.append(Record::new("open", Role::Client, "r-open", Phase::Received));
        j.append(Record::new("open", Role::Client, "r-open", Phase::Compiled));
        drop(j);
        assert!(std::fs::metadata(&p).unwrap().len() > 8 * REV_CHUNK);

        let all = read_all(&p).unwrap();
        let kept = last_attempts(&p, &[Role::Client, Role::Server]).unwrap();
        assert_eq!(kept.len(), 5, "{kept:#?}");
        assert!(kept.windows(2).all(|w| w[0].seq < w[1].seq));
        for role in [Role::Client, Role::Server] {
            assert_eq!(
                crate::status::last_attempt(&kept, role),
                crate::status::last_attempt(&all, role),
            );
        }
        assert_eq!(
            crate::status::last_attempt(&kept, Role::Client).map(|a| a.attempt_id),
            Some("open".to_string())
        );
        // A role without records: the whole file is searched, nothing is kept.
        assert!(last_attempts(&p, &[]).unwrap().is_empty());
        let only_client = last_attempts(&p, &[Role::Client]).unwrap();
        assert_eq!(only_client.len(), 2);
    }

    #[test]
    fn read_last_matches_the_tail_of_read_all() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("journal.jsonl");
        assert!(read_last(&p, 10, |_| true).unwrap().is_empty());
        let mut j = Fast::open(&p);
        for n in 0..2000 {
            attempt(
                &mut j,
                if n % 3 == 0 {
                    Role::Server
                } else {
                    Role::Client
                },
                n,
            );
        }
        drop(j);
        let all = read_all(&p).unwrap();
        let servers: Vec<Record> = all
            .iter()
            .filter(|r| r.role == Role::Server)
            .cloned()
            .collect();
        assert_eq!(
            read_last(&p, 50, |r| r.role == Role::Server).unwrap(),
            servers[servers.len() - 50..]
        );
        assert_eq!(read_last(&p, usize::MAX, |_| true).unwrap(), all);
        assert!(read_last(&p, 0, |_| true).unwrap().is_empty());
    }

    /// Garbage between records, an oversized line and a torn last line are skipped,
    /// as `read_all` skips them.
    #[test]
    fn reading_backwards_skips_what_read_all_skips() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("journal.jsonl");
        let mut j = Fast::open(&p);
        attempt(&mut j, Role::Client, 1);
        drop(j);
        let mut f = OpenOptions::new().append(true).open(&p).unwrap();
        f.write_all(b"not json\n").unwrap();
        f.write_all(&vec![b'x'; MAX_LINE + 3 * REV_CHUNK as usize])
            .unwrap();
        f.write_all(b"\n").unwrap();
        drop(f);
        let mut j = Fast::open(&p);
        attempt(&mut j, Role::Client, 2);
        drop(j);
        let mut f = OpenOptions::new().append(true).open(&p).unwrap();
        f.write_all(b"{\"seq\":99,\"ts\":").unwrap();
        drop(f);
        let all = read_all(&p).unwrap();
        assert_eq!(all.len(), 6);
        assert_eq!(read_last(&p, usize::MAX, |_| true).unwrap(), all);
        let kept = last_attempts(&p, &[Role::Client]).unwrap();
        assert_eq!(kept, all[3..]);
    }
}
