//! One connection's outgoing frames: each encoded within the frame limit the
//! client enforces (over-long foreign strings truncated with a marker, or the
//! answer replaced by a `too_large` error), queued under a byte budget, and
//! written by one writer task. Answers wait for room; events never wait (a full
//! queue makes the subscriber resync).

use std::sync::Arc;

use serde_json::Value;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use xp2p_ipc::{Frame, MAX_FRAME, Response, ResponseKind, WireError};

/// Frames queued per client before it is declared slow.
const QUEUE_FRAMES: usize = 256;
/// Bytes queued per client: one frame at the limit plus room for events.
pub(crate) const QUEUE_BYTES: usize = MAX_FRAME + 256 * 1024;
/// A string longer than this in a frame over the limit is cut to
/// [`KEPT_PREFIX`] bytes and a marker.
pub(crate) const LONG_STRING: usize = 16 * 1024;
const KEPT_PREFIX: usize = 256;

/// A frame ready to write, holding its share of the byte budget until written.
pub(crate) struct Queued {
    line: Vec<u8>,
    _room: OwnedSemaphorePermit,
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum TrySend {
    Full,
    Closed,
}

#[derive(Clone)]
pub(crate) struct Outbox {
    tx: mpsc::Sender<Queued>,
    room: Arc<Semaphore>,
}

impl Outbox {
    pub fn new() -> (Outbox, mpsc::Receiver<Queued>) {
        let (tx, rx) = mpsc::channel(QUEUE_FRAMES);
        let room = Arc::new(Semaphore::new(QUEUE_BYTES));
        (Outbox { tx, room }, rx)
    }

    /// Queues `f`, waiting until the client has read enough to make room.
    /// `Err` once the connection is gone.
    pub async fn send(&self, f: Frame) -> Result<(), TrySend> {
        let line = encode(f);
        let room = self
            .room
            .clone()
            .acquire_many_owned(cost(&line))
            .await
            .map_err(|_| TrySend::Closed)?;
        self.tx
            .send(Queued { line, _room: room })
            .await
            .map_err(|_| TrySend::Closed)
    }

    /// Queues `f` only if there is room now.
    pub fn try_send(&self, f: Frame) -> Result<(), TrySend> {
        if self.tx.is_closed() {
            return Err(TrySend::Closed);
        }
        let line = encode(f);
        let room = self
            .room
            .clone()
            .try_acquire_many_owned(cost(&line))
            .map_err(|_| TrySend::Full)?;
        self.tx
            .try_send(Queued { line, _room: room })
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => TrySend::Full,
                mpsc::error::TrySendError::Closed(_) => TrySend::Closed,
            })
    }
}

fn cost(line: &[u8]) -> u32 {
    line.len().clamp(1, QUEUE_BYTES) as u32
}

/// Writes queued frames until the queue closes or a write fails.
pub(crate) async fn drain<W: AsyncWrite + Unpin>(mut rx: mpsc::Receiver<Queued>, mut w: W) {
    while let Some(q) = rx.recv().await {
        if w.write_all(&q.line).await.is_err() || w.flush().await.is_err() {
            break;
        }
    }
}

/// `f` as one line (with its `\n`) of at most [`MAX_FRAME`] bytes: as is when it
/// fits; else with every over-long string cut (a request id someone wrote into
/// `apply.request`, a runaway error text); else a `too_large` error in its place.
/// A `render` answer is never cut (a cut config would mislead): it becomes the error.
pub(crate) fn encode(f: Frame) -> Vec<u8> {
    let line = f.to_line();
    if line.len() <= MAX_FRAME {
        return with_newline(line);
    }
    let full = line.len();
    if ResponseKind::parse(&f.kind) != Some(ResponseKind::RenderOk) {
        let mut cut = f.clone();
        for v in cut.body.values_mut() {
            truncate_strings(v, LONG_STRING);
        }
        let line = cut.to_line();
        if line.len() <= MAX_FRAME {
            return with_newline(line);
        }
    }
    let e = Response::error(
        WireError::TooLarge,
        format!(
            "the `{}` frame would be {full} bytes; frames are limited to {MAX_FRAME} bytes",
            f.kind
        ),
    );
    with_newline(e.to_frame(f.id).to_line())
}

fn with_newline(mut line: String) -> Vec<u8> {
    line.push('\n');
    line.into_bytes()
}

/// Cuts every string longer than `limit` bytes in `v` to a prefix and a marker
/// saying how long it was.
pub(crate) fn truncate_strings(v: &mut Value, limit: usize) {
    match v {
        Value::String(s) if s.len() > limit => {
            let mut end = KEPT_PREFIX.min(s.len());
            while !s.is_char_boundary(end) {
                end -= 1;
            }
            let marker = format!("…[truncated: {} bytes]", s.len());
            s.truncate(end);
            s.push_str(&marker);
        }
        Value::Array(a) => a.iter_mut().for_each(|x| truncate_strings(x, limit)),
        Value::Object(o) => o.values_mut().for_each(|x| truncate_strings(x, limit)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn over_long_foreign_strings_are_cut_with_a_marker() {
        let id = "é".repeat(MAX_FRAME);
        let f = Frame::new("status.ok", Some(3)).with(
            "state",
            json!({"roles": [{"pending_request": {"id": id, "timestamp": "t"}}]}),
        );
        let line = encode(f);
        assert!(line.len() <= MAX_FRAME + 1);
        let back: Frame = serde_json::from_slice(&line).unwrap();
        assert_eq!(back.kind, "status.ok");
        let shown = back.body["state"]["roles"][0]["pending_request"]["id"]
            .as_str()
            .unwrap();
        assert!(shown.ends_with(&format!("…[truncated: {} bytes]", 2 * MAX_FRAME)));
        assert_eq!(
            back.body["state"]["roles"][0]["pending_request"]["timestamp"],
            "t"
        );
    }

    #[test]
    fn a_render_over_the_limit_is_a_too_large_error() {
        let f = Frame::new("render.ok", Some(9)).with("json", "x".repeat(2 * MAX_FRAME));
        let back: Frame = serde_json::from_slice(&encode(f)).unwrap();
        assert_eq!(back.kind, "error");
        assert_eq!(back.id, Some(9));
        assert_eq!(back.get_str("code"), Some("too_large"));
    }

    #[test]
    fn frames_that_fit_are_untouched() {
        let f = Frame::new("logs.ok", Some(1)).with("text", "a\u{1b}b");
        assert_eq!(encode(f.clone()), format!("{}\n", f.to_line()).into_bytes());
    }

    #[tokio::test]
    async fn events_find_the_queue_full_and_answers_wait_for_room() {
        let (out, mut rx) = Outbox::new();
        let big = || Frame::new("logs.ok", None).with("text", "x".repeat(MAX_FRAME - 100));
        out.send(big()).await.unwrap();
        assert_eq!(
            out.try_send(big()),
            Err(TrySend::Full),
            "the byte budget is spent"
        );
        let small = Frame::new("event", None).with("seq", 1);
        assert_eq!(out.try_send(small.clone()), Ok(()));
        let waiter = {
            let out = out.clone();
            tokio::spawn(async move { out.send(big()).await })
        };
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished(), "an answer waits for room");
        let first = rx.recv().await.unwrap();
        drop(first);
        assert_eq!(waiter.await.unwrap(), Ok(()));
        drop(rx);
        assert_eq!(out.try_send(small), Err(TrySend::Closed));
    }
}
