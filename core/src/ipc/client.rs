//! The IPC client: connect (telling "not running" from "permission denied"),
//! hello, requests with ids, and a subscription stream.

use std::path::{Path, PathBuf};

use tokio::io::{AsyncRead, AsyncWrite, BufReader};
use tokio::net::UnixStream;

use super::frame::{Frame, ReadOutcome, read_frame, write_frame};

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("the xp2p service is not running (no socket at {0})")]
    NotRunning(PathBuf),
    #[error("permission denied: {0}")]
    PermissionDenied(String),
    #[error("IPC: {0}")]
    Io(String),
}

/// Either transport's halves (the Unix socket, or the Windows named pipe).
type Reader = BufReader<Box<dyn AsyncRead + Unpin + Send>>;
type Writer = Box<dyn AsyncWrite + Unpin + Send>;

pub struct IpcClient {
    reader: Reader,
    writer: Writer,
    next_id: u64,
    buf: Vec<u8>,
    /// Frames that arrived while waiting for an answer (events), in order.
    pending: std::collections::VecDeque<Frame>,
}

impl IpcClient {
    /// Connects and says hello.
    pub async fn connect(socket: &Path, client: &str) -> Result<IpcClient, ConnectError> {
        let stream = UnixStream::connect(socket)
            .await
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused => {
                    ConnectError::NotRunning(socket.into())
                }
                std::io::ErrorKind::PermissionDenied => {
                    ConnectError::PermissionDenied(format!("{}: {e}", socket.display()))
                }
                _ => ConnectError::Io(format!("{}: {e}", socket.display())),
            })?;
        let (r, w) = stream.into_split();
        IpcClient::over(r, w, client).await
    }

    /// Says hello over an already connected transport.
    pub async fn over<R, W>(r: R, w: W, client: &str) -> Result<IpcClient, ConnectError>
    where
        R: AsyncRead + Unpin + Send + 'static,
        W: AsyncWrite + Unpin + Send + 'static,
    {
        let mut c = IpcClient {
            reader: BufReader::new(Box::new(r)),
            writer: Box::new(w),
            next_id: 1,
            buf: Vec::new(),
            pending: Default::default(),
        };
        let hello = c
            .request(Frame::new("hello", None).with("client", client))
            .await?;
        if hello.kind == "error" {
            return Err(answer_error(&hello));
        }
        Ok(c)
    }

    /// Sends a request and waits for its answer (`<type>.ok`, `snapshot` or `error`).
    /// Events arriving meanwhile are kept for [`IpcClient::next_frame`].
    pub async fn request(&mut self, mut f: Frame) -> Result<Frame, ConnectError> {
        let id = self.next_id;
        self.next_id += 1;
        f.id = Some(id);
        write_frame(&mut self.writer, &f)
            .await
            .map_err(|e| ConnectError::Io(e.to_string()))?;
        loop {
            let frame = self.read().await?;
            if frame.id == Some(id) {
                return Ok(frame);
            }
            self.pending.push_back(frame);
        }
    }

    /// The next frame from the service (events after `subscribe`).
    pub async fn next_frame(&mut self) -> Result<Frame, ConnectError> {
        if let Some(f) = self.pending.pop_front() {
            return Ok(f);
        }
        self.read().await
    }

    async fn read(&mut self) -> Result<Frame, ConnectError> {
        match read_frame(&mut self.reader, &mut self.buf).await {
            Ok(ReadOutcome::Frame(f)) => Ok(f),
            Ok(ReadOutcome::Eof) => {
                Err(ConnectError::Io("the service closed the connection".into()))
            }
            Ok(ReadOutcome::TooLong) => Err(ConnectError::Io("frame too long".into())),
            Ok(ReadOutcome::Malformed(e)) => Err(ConnectError::Io(format!(
                "malformed frame from the service: {e}"
            ))),
            Err(e) => Err(ConnectError::Io(e.to_string())),
        }
    }
}

/// Turns an `error` answer into a [`ConnectError`] (permission or other).
pub fn answer_error(f: &Frame) -> ConnectError {
    let code = f.get_str("code").unwrap_or("internal");
    let message = f.get_str("message").unwrap_or("").to_string();
    if code == "permission_denied" {
        ConnectError::PermissionDenied(message)
    } else {
        ConnectError::Io(format!("{code}: {message}"))
    }
}
