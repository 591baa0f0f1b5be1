//! Follows a role's core log file (written by the core itself, so a reattached
//! core keeps logging) into a bounded ring buffer and a broadcast of new lines.
//! Driven by notify events on the log directory, not by polling.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use notify::{RecursiveMode, Watcher};
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio::sync::{broadcast, mpsc};

/// Ring capacity in bytes (at least 64 KiB of tail).
pub const RING_BYTES: usize = 128 * 1024;
/// The most the follower reads from the log at once.
const READ_CHUNK: usize = 64 * 1024;

/// The largest read buffer the follower used (tests: it must not follow the backlog).
#[cfg(test)]
static READ_BUF_MAX: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// A line with the file offset just past it (to tell old lines from new).
#[derive(Debug, Clone)]
pub struct LogLine {
    pub end_offset: u64,
    pub text: String,
}

#[derive(Debug, Default)]
struct Ring {
    /// Lines with how many times each repeated in a row.
    lines: VecDeque<(String, u32)>,
    bytes: usize,
}

/// A log line without its leading `YYYY/MM/DD HH:MM:SS[.frac]` stamp.
fn body(line: &str) -> &str {
    let mut parts = line.splitn(3, ' ');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(d), Some(t), Some(rest))
            if d.len() == 10 && d.as_bytes()[4] == b'/' && t.contains(':') =>
        {
            rest
        }
        _ => line,
    }
}

impl Ring {
    fn push(&mut self, line: String) {
        if let Some((last, n)) = self.lines.back_mut()
            && body(last) == body(&line)
        {
            *n += 1;
            return;
        }
        self.bytes += line.len() + 1;
        self.lines.push_back((line, 1));
        while self.bytes > RING_BYTES {
            match self.lines.pop_front() {
                Some((l, _)) => self.bytes -= l.len() + 1,
                None => break,
            }
        }
    }
}

#[derive(Clone)]
pub struct LogTail {
    path: PathBuf,
    ring: Arc<Mutex<Ring>>,
    tx: broadcast::Sender<LogLine>,
    offset: Arc<Mutex<u64>>,
    wake: mpsc::UnboundedSender<()>,
    /// Rotate past this size (0: never).
    max_bytes: u64,
}

impl LogTail {
    /// Starts following `path` (which may not exist yet). The returned watcher must
    /// be kept alive as long as the tail is needed.
    pub fn start(
        path: &Path,
        max_bytes: u64,
    ) -> std::io::Result<(LogTail, notify::RecommendedWatcher)> {
        let dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
        std::os::unix::fs::DirBuilderExt::mode(
            std::fs::DirBuilder::new().recursive(true),
            xp2p_core::layout::LOG_DIR_MODE,
        )
        .create(&dir)?;
        let (wake_tx, mut wake_rx) = mpsc::unbounded_channel::<()>();
        let name = path.file_name().map(|n| n.to_os_string());
        let notify_tx = wake_tx.clone();
        let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
            // Only writes matter: our own reads (open/close) must not wake us again.
            if let Ok(ev) = res
                && !matches!(ev.kind, notify::EventKind::Access(_))
                && ev
                    .paths
                    .iter()
                    .any(|p| p.file_name().map(|n| n.to_os_string()) == name)
            {
                let _ = notify_tx.send(());
            }
        })
        .map_err(std::io::Error::other)?;
        watcher
            .watch(&dir, RecursiveMode::NonRecursive)
            .map_err(std::io::Error::other)?;
        let (tx, _) = broadcast::channel(1024);
        let start = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        let tail = LogTail {
            path: path.to_path_buf(),
            ring: Arc::new(Mutex::new(Ring::default())),
            tx,
            offset: Arc::new(Mutex::new(start.saturating_sub(RING_BYTES as u64))),
            wake: wake_tx,
            max_bytes,
        };
        let reader = tail.clone();
        tokio::spawn(async move {
            reader.read_new().await;
            while wake_rx.recv().await.is_some() {
                // A flood of writes queues a wake per write: one read serves them all.
                while wake_rx.try_recv().is_ok() {}
                reader.read_new().await;
            }
        });
        Ok((tail, watcher))
    }

    /// Current size of the log file: lines after this offset are new.
    pub fn current_len(&self) -> u64 {
        std::fs::metadata(&self.path).map(|m| m.len()).unwrap_or(0)
    }

    pub fn subscribe(&self) -> broadcast::Receiver<LogLine> {
        // Catch up with anything written but not yet read.
        let _ = self.wake.send(());
        self.tx.subscribe()
    }

    /// The last `max_bytes` of buffered log lines.
    pub fn tail(&self, max_bytes: usize) -> String {
        let ring = match self.ring.lock() {
            Ok(r) => r,
            Err(p) => p.into_inner(),
        };
        let mut out: Vec<String> = Vec::new();
        let mut used = 0;
        for (l, n) in ring.lines.iter().rev() {
            let shown = if *n > 1 {
                format!("{l} (repeated {n} times)")
            } else {
                l.clone()
            };
            if used + shown.len() + 1 > max_bytes {
                break;
            }
            used += shown.len() + 1;
            out.push(shown);
        }
        out.reverse();
        out.join("\n")
    }

    async fn read_new(&self) {
        let Ok(mut f) = tokio::fs::File::open(&self.path).await else {
            return;
        };
        let len = f.metadata().await.map(|m| m.len()).unwrap_or(0);
        let mut offset = self.offset.lock().map(|o| *o).unwrap_or(0);
        if len < offset {
            offset = 0; // truncated or rotated
        }
        if len == offset || f.seek(std::io::SeekFrom::Start(offset)).await.is_err() {
            return;
        }
        // What was there at open, in chunks: a backlog (the reader fell behind a
        // core that floods its log, e.g. Go cores spinning on `accept` errors while
        // drained) must not become one buffer of its size, whose high-water mark
        // the allocator keeps. Later writes wake the reader again.
        let mut rest = (&mut f).take(len - offset);
        let mut buf: Vec<u8> = Vec::with_capacity(READ_CHUNK);
        let mut pos = offset;
        loop {
            // The buffer stays one chunk unless a single line is longer.
            let filled = buf.len();
            let room = READ_CHUNK.checked_sub(filled).filter(|r| *r > 0);
            buf.resize(filled + room.unwrap_or(READ_CHUNK), 0);
            #[cfg(test)]
            READ_BUF_MAX.fetch_max(buf.capacity(), std::sync::atomic::Ordering::Relaxed);
            let n = rest.read(&mut buf[filled..]).await.unwrap_or(0);
            buf.truncate(filled + n);
            if n == 0 {
                break;
            }
            // A core writing faster than it is followed (a spin on `accept`
            // errors) must not fill the disk while we catch up: past twice the
            // cap, rotate now; the unread part is kept in `<name>.1`.
            if self.max_bytes > 0
                && tokio::fs::metadata(&self.path)
                    .await
                    .is_ok_and(|m| m.len() > self.max_bytes.saturating_mul(2))
            {
                self.rotate().await;
                let _ = self.wake.send(());
                return;
            }
            // Only whole lines; a partial last line waits for more.
            let Some(last_nl) = buf.iter().rposition(|b| *b == b'\n') else {
                continue;
            };
            for raw in buf[..=last_nl].split_inclusive(|b| *b == b'\n') {
                pos += raw.len() as u64;
                let text = String::from_utf8_lossy(raw).trim_end().to_string();
                if let Ok(mut ring) = self.ring.lock() {
                    ring.push(text.clone());
                }
                let _ = self.tx.send(LogLine {
                    end_offset: pos,
                    text,
                });
            }
            buf.drain(..=last_nl);
            if let Ok(mut o) = self.offset.lock() {
                *o = pos;
            }
        }
        if self.max_bytes > 0 && len > self.max_bytes {
            self.rotate().await;
        }
    }

    /// Copies the log's last `max_bytes` (all of it when uncapped) to `<name>.1`
    /// and truncates it in place: the core keeps its O_APPEND descriptor and
    /// writes on from the start (lines written during the copy may be lost).
    /// The copy is bounded by the cap, so rotation keeps pace with a flood.
    async fn rotate(&self) {
        let (path, max) = (self.path.clone(), self.max_bytes);
        let cut = tokio::task::spawn_blocking(move || rotate_file(&path, max)).await;
        if matches!(cut, Ok(Ok(())))
            && let Ok(mut o) = self.offset.lock()
        {
            *o = 0;
        }
    }
}

/// Keeps the last `max` bytes of `path` (all when 0) in `path.1` (same mode as
/// the log), then empties `path`.
fn rotate_file(path: &Path, max: u64) -> std::io::Result<()> {
    use std::io::{Seek, SeekFrom};
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut old = path.as_os_str().to_os_string();
    old.push(".1");
    let mut src = std::fs::File::open(path)?;
    let meta = src.metadata()?;
    let len = meta.len();
    let keep = if max == 0 { len } else { len.min(max) };
    src.seek(SeekFrom::Start(len - keep))?;
    let mode = meta.permissions().mode() & 0o777;
    let mut dst = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&old)?;
    dst.set_permissions(std::fs::Permissions::from_mode(mode))?;
    std::io::copy(&mut std::io::Read::take(&mut src, keep), &mut dst)?;
    std::fs::OpenOptions::new()
        .write(true)
        .open(path)?
        .set_len(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// A core flooding its log (far faster than lines are followed) never
    /// takes more disk than the cap allows: the log stays within twice the cap
    /// plus what one read step lets through, `.1` likewise, and once the flood
    /// stops the log is back under the cap.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_rotation_cap_bounds_a_flooding_log_on_disk() {
        const CAP: u64 = 256 * 1024;
        const FLOOD: usize = 64 * 1024 * 1024;
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("core-server.log");
        let old = d.path().join("core-server.log.1");
        let (tail, _w) = LogTail::start(&p, CAP).unwrap();
        let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let writer = {
            let (p, done) = (p.clone(), done.clone());
            std::thread::spawn(move || {
                // One O_APPEND descriptor, like the core's stdout.
                let mut f = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&p)
                    .unwrap();
                let line =
                    "2026/11/22 10:00:00 [Warning] accept tcp [::]:443: accept: invalid argument\n";
                let mut batch = String::new();
                while batch.len() < 64 * 1024 {
                    batch.push_str(line);
                }
                let mut written = 0;
                while written < FLOOD {
                    f.write_all(batch.as_bytes()).unwrap();
                    written += batch.len();
                    // ≈64 MiB/s: far above a real core's spin on `accept` errors.
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
                done.store(true, std::sync::atomic::Ordering::SeqCst);
            })
        };
        let mut peak = 0;
        while !done.load(std::sync::atomic::Ordering::SeqCst) {
            peak = peak.max(size(&p) + size(&old));
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
        writer.join().unwrap();
        eprintln!("peak on disk during the flood: {peak} bytes");
        // Generous slack for a loaded machine: a flood unbounded by the cap
        // would grow with the flood (64 MiB).
        assert!(
            peak < 8 * 1024 * 1024,
            "log took {peak} bytes on disk during the flood"
        );
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while size(&p) > CAP {
            assert!(
                std::time::Instant::now() < deadline,
                "never rotated back under the cap"
            );
            // Writes after the flood wake the follower like a core's would.
            let _ = tail.wake.send(());
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert!(size(&old) <= 16 * 1024 * 1024);
    }

    #[tokio::test]
    async fn follows_appended_lines() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("core-client.log");
        let (tail, _w) = LogTail::start(&p, 0).unwrap();
        let mut rx = tail.subscribe();
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&p)
            .unwrap();
        writeln!(f, "hello").unwrap();
        writeln!(f, "V2Ray 4.34.0 started").unwrap();
        f.flush().unwrap();
        let mut seen = Vec::new();
        while seen.len() < 2 {
            let l = tokio::time::timeout(std::time::Duration::from_secs(5), rx.recv())
                .await
                .unwrap()
                .unwrap();
            seen.push(l.text);
        }
        assert_eq!(seen, ["hello", "V2Ray 4.34.0 started"]);
        assert_eq!(tail.tail(1024), "hello\nV2Ray 4.34.0 started");
        assert_eq!(tail.tail(10), "");
        for _ in 0..3 {
            writeln!(f, "2026/11/22 10:00:00 [Warning] accept: invalid argument").unwrap();
        }
        f.flush().unwrap();
        for _ in 0..3 {
            tokio::time::timeout(std::time::Duration::from_secs(5), rx.recv())
                .await
                .unwrap()
                .unwrap();
        }
        assert!(
            tail.tail(1024)
                .ends_with("accept: invalid argument (repeated 3 times)"),
            "{}",
            tail.tail(1024)
        );
    }

    /// A backlog (the reader fell behind a core flooding its log) is read in
    /// bounded chunks, not as one buffer of its size; lines that straddle chunk
    /// boundaries come out whole and in order.
    #[tokio::test]
    async fn a_backlog_is_read_in_bounded_chunks() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("core-client.log");
        let line = |i: usize| {
            format!(
                "2026/11/22 10:00:00 [Warning] line {i} {}",
                "x".repeat(1 + i % 97)
            )
        };
        // Already there at start: the last RING_BYTES are read back at once.
        let mut f = std::fs::File::create(&p).unwrap();
        let mut n = 0;
        let mut text = String::new();
        while text.len() < 4 * RING_BYTES {
            text.push_str(&line(n));
            text.push('\n');
            n += 1;
        }
        f.write_all(text.as_bytes()).unwrap();
        f.flush().unwrap();
        let (tail, _w) = LogTail::start(&p, 0).unwrap();
        // Then a burst far larger than a chunk, in one write.
        let mut burst = String::new();
        while burst.len() < 16 * READ_CHUNK {
            burst.push_str(&line(n));
            burst.push('\n');
            n += 1;
        }
        f.write_all(burst.as_bytes()).unwrap();
        f.flush().unwrap();
        let last = line(n - 1);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !tail.tail(64 * 1024).ends_with(&last) {
            assert!(
                std::time::Instant::now() < deadline,
                "the burst was not read"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        let want: Vec<String> = (n - 200..n).map(line).collect();
        let got = tail.tail(64 * 1024);
        let got: Vec<&str> = got.lines().collect();
        assert_eq!(got[got.len() - 200..], want[..]);
        let used = READ_BUF_MAX.load(std::sync::atomic::Ordering::Relaxed);
        assert!(
            used <= READ_CHUNK,
            "read buffer of {used} bytes for a backlog"
        );
    }
}
