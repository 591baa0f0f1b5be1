//! Frames: one JSON object per line (`\n`), at most 1 MiB, each with `v` (protocol
//! major), `type`, and `id` when it answers or belongs to a request.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWrite, AsyncWriteExt};

pub const PROTO: u32 = 1;
pub const MAX_FRAME: usize = 1024 * 1024;
/// What a reader's line buffer keeps between frames: one big frame must not
/// pin a megabyte per connection for the connection's lifetime.
const KEEP_CAPACITY: usize = 16 * 1024;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Frame {
    pub v: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(flatten)]
    pub body: Map<String, Value>,
}

impl Frame {
    pub fn new(kind: &str, id: Option<u64>) -> Frame {
        Frame {
            v: PROTO,
            id,
            kind: kind.into(),
            body: Map::new(),
        }
    }

    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Frame {
        self.body.insert(key.into(), value.into());
        self
    }

    pub fn error(id: Option<u64>, code: &str, message: impl Into<String>) -> Frame {
        Frame::new("error", id)
            .with("code", code)
            .with("message", message.into())
    }

    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.body.get(key).and_then(Value::as_str)
    }

    /// One line, without the trailing newline.
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".into())
    }
}

/// What reading a line produced.
#[derive(Debug)]
pub enum ReadOutcome {
    Frame(Frame),
    /// Not a frame (bad JSON or no `type`): answer `malformed_frame`, keep going.
    Malformed(String),
    /// Longer than [`MAX_FRAME`]: answer with an error, then close.
    TooLong,
    Eof,
}

/// Reads one line (bounded by [`MAX_FRAME`]) and parses it.
///
/// Cancel-safe: a partly read line stays in `buf` (which the caller keeps) and
/// the next call continues it; `buf` is emptied only once a line is complete
/// (and shrunk back to a small capacity).
pub async fn read_frame<R: AsyncBufRead + Unpin>(
    r: &mut R,
    buf: &mut Vec<u8>,
) -> std::io::Result<ReadOutcome> {
    let out = read_line(r, buf).await;
    if buf.is_empty() && buf.capacity() > KEEP_CAPACITY {
        buf.shrink_to(KEEP_CAPACITY);
    }
    out
}

async fn read_line<R: AsyncBufRead + Unpin>(
    r: &mut R,
    buf: &mut Vec<u8>,
) -> std::io::Result<ReadOutcome> {
    loop {
        let available = r.fill_buf().await?;
        if available.is_empty() {
            let out = if buf.is_empty() {
                ReadOutcome::Eof
            } else {
                parse(buf)
            };
            buf.clear();
            return Ok(out);
        }
        if let Some(pos) = available.iter().position(|b| *b == b'\n') {
            buf.extend_from_slice(&available[..pos]);
            r.consume(pos + 1);
            let out = if buf.len() > MAX_FRAME {
                ReadOutcome::TooLong
            } else {
                parse(buf)
            };
            buf.clear();
            return Ok(out);
        }
        let n = available.len();
        buf.extend_from_slice(available);
        r.consume(n);
        if buf.len() > MAX_FRAME {
            buf.clear();
            return Ok(ReadOutcome::TooLong);
        }
    }
}

fn parse(line: &[u8]) -> ReadOutcome {
    let trimmed = line.strip_suffix(b"\r").unwrap_or(line);
    match serde_json::from_slice::<Frame>(trimmed) {
        Ok(f) => ReadOutcome::Frame(f),
        Err(e) => ReadOutcome::Malformed(e.to_string()),
    }
}

pub async fn write_frame<W: AsyncWrite + Unpin>(w: &mut W, f: &Frame) -> std::io::Result<()> {
    let mut line = f.to_line();
    line.push('\n');
    w.write_all(line.as_bytes()).await?;
    w.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn round_trip_and_limits() {
        let f = Frame::new("hello", Some(1)).with("client", "test");
        let mut text = f.to_line().into_bytes();
        text.extend_from_slice(b"\nnot json\n{\"v\":1}\n");
        text.extend(std::iter::repeat_n(b'x', MAX_FRAME + 10));
        text.push(b'\n');
        let mut r = tokio::io::BufReader::new(&text[..]);
        let mut buf = Vec::new();
        match read_frame(&mut r, &mut buf).await.unwrap() {
            ReadOutcome::Frame(g) => assert_eq!(g, f),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            read_frame(&mut r, &mut buf).await.unwrap(),
            ReadOutcome::Malformed(_)
        ));
        assert!(matches!(
            read_frame(&mut r, &mut buf).await.unwrap(),
            ReadOutcome::Malformed(_)
        ));
        assert!(matches!(
            read_frame(&mut r, &mut buf).await.unwrap(),
            ReadOutcome::TooLong
        ));
        assert!(
            buf.capacity() <= KEEP_CAPACITY,
            "a big frame does not pin its buffer: {}",
            buf.capacity()
        );
        assert!(matches!(
            read_frame(&mut r, &mut buf).await.unwrap(),
            ReadOutcome::Eof
        ));
    }
}
