//! The IPC client: connect (telling "not running" from "permission denied"),
//! hello, requests with ids, and a subscription stream. Every call is bounded:
//! connect + hello by [`CONNECT_TIMEOUT`] (or the caller's bound), each request
//! by its kind's bound, so a stopped service never hangs a command.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, BufReader};
use tokio::net::UnixStream;

use crate::contract::{PROTO, Request, RequestKind, Response, WireError};
use crate::frame::{Frame, ReadOutcome, read_frame, write_frame};

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("the xp2p service is not running (no socket at {0})")]
    NotRunning(PathBuf),
    #[error("permission denied: {0}")]
    PermissionDenied(String),
    /// The socket accepts connections but nothing answers (a stopped or hung service).
    #[error("the xp2p service does not answer: {0}")]
    NotAnswering(String),
    /// The service answered with something this client cannot take (a frame over
    /// the limit, not JSON): a bug or a version mismatch, not "not running".
    #[error("IPC protocol error: {0}")]
    Protocol(String),
    #[error("IPC: {0}")]
    Io(String),
}

impl ConnectError {
    /// What an answer other than the one a request expects means: a refusal
    /// as [`refusal`] tells it, anything else a protocol error.
    pub fn unexpected(answer: &Response) -> ConnectError {
        match answer {
            Response::Error { code, message } => refusal(*code, message),
            other => ConnectError::Protocol(format!(
                "unexpected `{}` answer from the service",
                other.kind().as_str()
            )),
        }
    }
}

/// The bound on connect + hello.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
pub use crate::contract::{REPAIR_TIMEOUT, REQUEST_TIMEOUT};

/// How long a request of `kind` may take to be answered.
pub fn request_timeout(kind: &str) -> Duration {
    RequestKind::parse(kind).map_or(REQUEST_TIMEOUT, RequestKind::timeout)
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
    /// Connects and says hello, within [`CONNECT_TIMEOUT`].
    pub async fn connect(socket: &Path, client: &str) -> Result<IpcClient, ConnectError> {
        IpcClient::connect_within(socket, client, CONNECT_TIMEOUT).await
    }

    /// Connects and says hello within `bound` (a `--timeout` shorter than the default).
    pub async fn connect_within(
        socket: &Path,
        client: &str,
        bound: Duration,
    ) -> Result<IpcClient, ConnectError> {
        match tokio::time::timeout(bound, IpcClient::connect_unbounded(socket, client)).await {
            Ok(r) => r,
            Err(_) => Err(ConnectError::NotAnswering(format!(
                "no answer to hello on {} within {} (is the service stopped or hung?)",
                socket.display(),
                humantime::format_duration(bound)
            ))),
        }
    }

    async fn connect_unbounded(socket: &Path, client: &str) -> Result<IpcClient, ConnectError> {
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
        match c.call(&Request::hello(client)).await? {
            Response::HelloOk { proto, .. } if proto == PROTO => Ok(c),
            Response::HelloOk { proto, service, .. } => Err(ConnectError::Protocol(format!(
                "the service speaks IPC protocol {proto} ({service}); this client speaks protocol \
                 {PROTO} (xp2p {}): use one xp2p version for both",
                xp2p_core::VERSION
            ))),
            Response::Error { code, message } => Err(refusal(code, &message)),
            other => Err(ConnectError::Protocol(format!(
                "the service answered hello with `{}`",
                other.kind().as_str()
            ))),
        }
    }

    /// Sends a request and waits for its answer (an `error` answer included),
    /// at most its kind's bound. An answer this client cannot read is a
    /// protocol error.
    pub async fn call(&mut self, req: &Request) -> Result<Response, ConnectError> {
        let bound = req.kind().timeout();
        self.call_within(req, bound).await
    }

    /// [`IpcClient::call`] with an explicit bound.
    pub async fn call_within(
        &mut self,
        req: &Request,
        bound: Duration,
    ) -> Result<Response, ConnectError> {
        let f = self.request_within(req.to_frame(None), bound).await?;
        typed(&f)
    }

    /// [`IpcClient::call`], with an `error` answer as the `Err` it means.
    pub async fn ask(&mut self, req: &Request) -> Result<Response, ConnectError> {
        let bound = req.kind().timeout();
        self.ask_within(req, bound).await
    }

    /// [`IpcClient::ask`] with an explicit bound.
    pub async fn ask_within(
        &mut self,
        req: &Request,
        bound: Duration,
    ) -> Result<Response, ConnectError> {
        match self.call_within(req, bound).await? {
            Response::Error { code, message } => Err(refusal(code, &message)),
            ok => Ok(ok),
        }
    }

    /// The next message from the service (events after `subscribe`), typed.
    pub async fn next_response(&mut self) -> Result<Response, ConnectError> {
        let f = self.next_frame().await?;
        typed(&f)
    }

    /// Sends a request and waits for its answer (`<type>.ok`, `snapshot` or `error`),
    /// at most [`request_timeout`] of its kind.
    /// Events arriving meanwhile are kept for [`IpcClient::next_frame`].
    pub async fn request(&mut self, f: Frame) -> Result<Frame, ConnectError> {
        let bound = request_timeout(&f.kind);
        self.request_within(f, bound).await
    }

    /// [`IpcClient::request`] with an explicit bound.
    pub async fn request_within(
        &mut self,
        f: Frame,
        bound: Duration,
    ) -> Result<Frame, ConnectError> {
        let kind = f.kind.clone();
        match tokio::time::timeout(bound, self.request_unbounded(f)).await {
            Ok(r) => r,
            Err(_) => Err(ConnectError::NotAnswering(format!(
                "no answer to `{kind}` within {}",
                humantime::format_duration(bound)
            ))),
        }
    }

    async fn request_unbounded(&mut self, mut f: Frame) -> Result<Frame, ConnectError> {
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
            if frame.kind == "error" && frame.id.is_none() {
                // About the connection, not one request (refused, our frame
                // was malformed or too long): the service closes after it.
                return Err(answer_error(&frame));
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
            Ok(ReadOutcome::TooLong) => Err(ConnectError::Protocol(format!(
                "the service sent a frame over the {} KiB limit",
                crate::MAX_FRAME / 1024
            ))),
            Ok(ReadOutcome::Malformed(e)) => Err(ConnectError::Protocol(format!(
                "malformed frame from the service: {e}"
            ))),
            Err(e) => Err(ConnectError::Io(e.to_string())),
        }
    }
}

/// A frame from the service as a typed answer (unreadable: a protocol error).
fn typed(f: &Frame) -> Result<Response, ConnectError> {
    Response::from_frame(f).map_err(|e| {
        ConnectError::Protocol(format!(
            "unreadable `{}` frame from the service: {e}",
            f.kind
        ))
    })
}

/// Turns an `error` answer into a [`ConnectError`] (permission, protocol or other).
pub fn answer_error(f: &Frame) -> ConnectError {
    let code = f.get_str("code").unwrap_or("internal");
    let message = f.get_str("message").unwrap_or("");
    match WireError::parse(code) {
        Some(c) => refusal(c, message),
        None => ConnectError::Io(format!("{code}: {message}")),
    }
}

/// What a refusal with `code` means to a client (permission, protocol or other).
pub fn refusal(code: WireError, message: &str) -> ConnectError {
    match code {
        WireError::PermissionDenied => ConnectError::PermissionDenied(message.to_string()),
        WireError::FrameTooLong
        | WireError::MalformedFrame
        | WireError::TooLarge
        | WireError::FrameTimeout
        | WireError::ProtocolMismatch => ConnectError::Protocol(format!("{code}: {message}")),
        WireError::Busy
        | WireError::InvalidRequest
        | WireError::Internal
        | WireError::Timeout
        | WireError::InvalidDesired
        | WireError::RenderFailed
        | WireError::UnknownType => ConnectError::Io(format!("{code}: {message}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    use tokio::net::UnixListener;

    /// A socket whose listener accepts but never answers (a SIGSTOPped service).
    #[tokio::test]
    async fn a_silent_service_is_not_answering_not_a_hang() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sock");
        let listener = UnixListener::bind(&path).unwrap();
        let held = tokio::spawn(async move {
            let (s, _) = listener.accept().await.unwrap();
            std::future::pending::<()>().await;
            drop(s);
        });
        let e = IpcClient::connect_within(&path, "t", Duration::from_millis(300))
            .await
            .err()
            .unwrap();
        assert!(matches!(e, ConnectError::NotAnswering(_)), "{e}");
        held.abort();
    }

    /// Answers hello, leaves the first request unanswered, and answers the
    /// second with a line over the limit.
    #[tokio::test]
    async fn requests_are_bounded_and_an_oversized_answer_is_a_protocol_error() {
        let (client_side, server_side) = tokio::net::UnixStream::pair().unwrap();
        let server = tokio::spawn(async move {
            let (r, mut w) = server_side.into_split();
            let mut lines = tokio::io::BufReader::new(r).lines();
            let hello = lines.next_line().await.unwrap().unwrap();
            assert!(hello.contains("hello"));
            w.write_all(b"{\"v\":1,\"id\":1,\"type\":\"hello.ok\"}\n")
                .await
                .unwrap();
            let _ignored = lines.next_line().await.unwrap();
            let _second = lines.next_line().await.unwrap();
            let big = format!(
                "{{\"v\":1,\"id\":3,\"type\":\"status.ok\",\"x\":\"{}\"}}\n",
                "a".repeat(super::super::MAX_FRAME)
            );
            w.write_all(big.as_bytes()).await.unwrap();
            std::future::pending::<()>().await;
        });
        let (r, w) = client_side.into_split();
        let mut c = IpcClient::over(r, w, "t").await.unwrap();
        let e = c
            .request_within(Frame::new("status", None), Duration::from_millis(200))
            .await
            .err()
            .unwrap();
        assert!(matches!(e, ConnectError::NotAnswering(_)), "{e}");
        let e = c.request(Frame::new("status", None)).await.err().unwrap();
        assert!(matches!(e, ConnectError::Protocol(_)), "{e}");
        server.abort();
    }

    /// A service of another protocol version: the client refuses it, naming both.
    #[tokio::test]
    async fn a_service_of_another_protocol_is_refused_naming_both_versions() {
        let (client_side, server_side) = tokio::net::UnixStream::pair().unwrap();
        let server = tokio::spawn(async move {
            let (r, mut w) = server_side.into_split();
            let mut lines = tokio::io::BufReader::new(r).lines();
            let hello = lines.next_line().await.unwrap().unwrap();
            assert!(hello.contains(&format!("\"proto\":{PROTO}")), "{hello}");
            let answer = Response::HelloOk {
                instance_id: "i".into(),
                proto: PROTO + 1,
                roles: vec![],
                service: "xp2p 9.9.9".into(),
            };
            let mut line = answer.to_frame(Some(1)).to_line();
            line.push('\n');
            w.write_all(line.as_bytes()).await.unwrap();
            std::future::pending::<()>().await;
        });
        let (r, w) = client_side.into_split();
        let e = IpcClient::over(r, w, "t").await.err().unwrap();
        let text = e.to_string();
        assert!(matches!(e, ConnectError::Protocol(_)), "{text}");
        assert!(text.contains(&format!("protocol {}", PROTO + 1)), "{text}");
        assert!(text.contains(&format!("protocol {PROTO}")), "{text}");
        server.abort();
    }

    /// The service's refusal of our version is a protocol error carrying its words.
    #[test]
    fn a_protocol_mismatch_refusal_is_a_protocol_error() {
        let f = Frame::error(
            Some(1),
            "protocol_mismatch",
            "this service speaks IPC protocol 1; the client speaks protocol 2",
        );
        let e = answer_error(&f);
        assert!(matches!(e, ConnectError::Protocol(_)), "{e}");
        assert!(e.to_string().contains("protocol 2"), "{e}");
    }

    #[test]
    fn refusals_about_frames_are_protocol_errors() {
        let f = Frame::error(None, "frame_too_long", "frames are limited");
        assert!(matches!(answer_error(&f), ConnectError::Protocol(_)));
        let f = Frame::error(Some(1), "permission_denied", "no");
        assert!(matches!(
            answer_error(&f),
            ConnectError::PermissionDenied(_)
        ));
        assert_eq!(request_timeout("repair"), REPAIR_TIMEOUT);
        assert_eq!(request_timeout("status"), REQUEST_TIMEOUT);
    }
}
