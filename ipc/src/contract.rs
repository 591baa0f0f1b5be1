//! The one IPC contract shared by the service, the CLI and the console: every
//! request ([`Request`]), answer and push ([`Response`]) as a typed enum, the
//! permission of each request kind ([`RequestKind::access`]) and the protocol
//! version. Typed values cross the wire only through [`Frame`]
//! ([`to_frame`]/[`from_frame`]), so the JSON Lines stay byte-identical.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};
use xp2p_core::Role;
use xp2p_core::desired::edit::Edit;
use xp2p_core::records::journal::Record;
use xp2p_core::status::RoleView;
use xp2p_core::tunstate::TunView;

use crate::desired_view::DesiredView;
use crate::event::Event;
use crate::frame::Frame;
pub use crate::frame::PROTO;

/// The bound on one request's answer (the service answers most at once).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// `repair` waits for each role's TUN reconcile (up to 60 s each on the service).
pub const REPAIR_TIMEOUT: Duration = Duration::from_secs(150);

/// `msg` as a frame: its `type` becomes the frame's kind, every other key its
/// body (a sorted map, as the old builders made it).
pub fn to_frame<T: Serialize>(msg: &T, id: Option<u64>) -> Frame {
    let mut body = match serde_json::to_value(msg) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    };
    let kind = match body.remove("type") {
        Some(Value::String(s)) => s,
        _ => String::new(),
    };
    Frame {
        v: PROTO,
        id,
        kind,
        body,
    }
}

/// The typed message a frame carries (its kind is the `type` tag).
pub fn from_frame<T: DeserializeOwned>(f: &Frame) -> Result<T, serde_json::Error> {
    let mut body = f.body.clone();
    body.insert("type".into(), Value::String(f.kind.clone()));
    serde_json::from_value(Value::Object(body))
}

/// A request field as sent. It keeps today's leniency: a value of the wrong
/// JSON type counts as absent where the server reads the field leniently, and
/// is kept (not an error) so that it round-trips.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Field<T> {
    #[default]
    Absent,
    Invalid(Value),
    Valid(T),
}

impl<T> Field<T> {
    pub fn get(&self) -> Option<&T> {
        match self {
            Field::Valid(t) => Some(t),
            _ => None,
        }
    }

    pub fn is_absent(&self) -> bool {
        matches!(self, Field::Absent)
    }

    /// A string that did not parse as `T` (e.g. `"role":"nope"`).
    pub fn invalid_str(&self) -> Option<&str> {
        match self {
            Field::Invalid(Value::String(s)) => Some(s),
            _ => None,
        }
    }
}

impl Field<String> {
    pub fn as_deref(&self) -> Option<&str> {
        self.get().map(String::as_str)
    }
}

impl<T> From<T> for Field<T> {
    fn from(t: T) -> Self {
        Field::Valid(t)
    }
}

impl<T> From<Option<T>> for Field<T> {
    fn from(t: Option<T>) -> Self {
        t.map_or(Field::Absent, Field::Valid)
    }
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for Field<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        Ok(match serde_json::from_value::<T>(v.clone()) {
            Ok(t) => Field::Valid(t),
            Err(_) => Field::Invalid(v),
        })
    }
}

impl<T: Serialize> Serialize for Field<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Field::Valid(t) => t.serialize(s),
            Field::Invalid(v) => v.serialize(s),
            Field::Absent => s.serialize_none(),
        }
    }
}

/// What `apply` asks for: one role, or every role the service serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ApplyTarget {
    Client,
    Server,
    All,
}

impl From<Role> for ApplyTarget {
    fn from(r: Role) -> Self {
        match r {
            Role::Client => ApplyTarget::Client,
            Role::Server => ApplyTarget::Server,
        }
    }
}

/// Every request a client may send (the `type` of its frame).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum Request {
    #[serde(rename = "hello")]
    Hello {
        #[serde(default, skip_serializing_if = "Field::is_absent")]
        client: Field<String>,
        /// The client's protocol version (absent from old clients: `v` then says it).
        #[serde(default, skip_serializing_if = "Field::is_absent")]
        proto: Field<u32>,
    },
    #[serde(rename = "status")]
    Status {},
    #[serde(rename = "subscribe")]
    Subscribe {
        #[serde(default, skip_serializing_if = "Field::is_absent")]
        logs: Field<bool>,
    },
    #[serde(rename = "apply")]
    Apply {
        #[serde(default, skip_serializing_if = "Field::is_absent")]
        role: Field<ApplyTarget>,
        #[serde(default, skip_serializing_if = "Field::is_absent")]
        request_id: Field<String>,
    },
    #[serde(rename = "rollback")]
    Rollback {
        #[serde(default, skip_serializing_if = "Field::is_absent")]
        role: Field<Role>,
    },
    #[serde(rename = "restart")]
    Restart {
        #[serde(default, skip_serializing_if = "Field::is_absent")]
        role: Field<Role>,
    },
    #[serde(rename = "repair")]
    Repair {},
    #[serde(rename = "mode")]
    Mode {
        #[serde(default, skip_serializing_if = "Field::is_absent")]
        role: Field<Role>,
        #[serde(default, skip_serializing_if = "Field::is_absent")]
        mode: Field<String>,
        #[serde(default, skip_serializing_if = "Field::is_absent")]
        tun_enabled: Field<bool>,
        #[serde(default, skip_serializing_if = "Field::is_absent")]
        tun_mode: Field<String>,
        #[serde(default, skip_serializing_if = "Field::is_absent")]
        tag: Field<String>,
    },
    #[serde(rename = "journal")]
    Journal {
        #[serde(default, skip_serializing_if = "Field::is_absent")]
        role: Field<Role>,
        #[serde(default, skip_serializing_if = "Field::is_absent")]
        limit: Field<u64>,
    },
    #[serde(rename = "logs")]
    Logs {
        #[serde(default, skip_serializing_if = "Field::is_absent")]
        role: Field<Role>,
        #[serde(default, skip_serializing_if = "Field::is_absent")]
        bytes: Field<u64>,
    },
    #[serde(rename = "render")]
    Render {
        #[serde(default, skip_serializing_if = "Field::is_absent")]
        role: Field<Role>,
        /// `desired | live | lkg`, checked by the handler (its own error).
        #[serde(default, skip_serializing_if = "Field::is_absent")]
        which: Field<String>,
    },
    /// A deploy running beside the service reports a step (deploy.md).
    #[serde(rename = "deploy.progress")]
    DeployProgress {
        #[serde(default, skip_serializing_if = "Field::is_absent")]
        deploy_id: Field<String>,
        /// Free text from the deploy, not necessarily a role.
        #[serde(default, skip_serializing_if = "Field::is_absent")]
        role: Field<String>,
        #[serde(default, skip_serializing_if = "Field::is_absent")]
        step: Field<String>,
        #[serde(default, skip_serializing_if = "Field::is_absent")]
        state: Field<String>,
        #[serde(default, skip_serializing_if = "Field::is_absent")]
        detail: Field<String>,
    },
    /// Typed edits of one role's Desired, run by the service through the one
    /// writer under the role lock; unless `dry_run`, an apply is requested.
    /// The edits may carry credentials: never logged.
    #[serde(rename = "edit")]
    Edit {
        role: Role,
        edits: Vec<Edit>,
        #[serde(default)]
        dry_run: bool,
    },
    /// What a console lists of a role's Desired, without credentials.
    #[serde(rename = "desired")]
    Desired { role: Role },
    /// A server user's share link (it carries the credential: owner only).
    #[serde(rename = "user_link")]
    UserLink { label: String },
}

/// The kind of a [`Request`], without its fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RequestKind {
    Hello,
    Status,
    Subscribe,
    Apply,
    Rollback,
    Restart,
    Repair,
    Mode,
    Journal,
    Logs,
    Render,
    DeployProgress,
    Edit,
    Desired,
    UserLink,
}

/// Who may make a request: anyone admitted (`socket_group` members too), or
/// only the service owner and root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Full,
}

impl RequestKind {
    pub const ALL: [RequestKind; 15] = [
        RequestKind::Hello,
        RequestKind::Status,
        RequestKind::Subscribe,
        RequestKind::Apply,
        RequestKind::Rollback,
        RequestKind::Restart,
        RequestKind::Repair,
        RequestKind::Mode,
        RequestKind::Journal,
        RequestKind::Logs,
        RequestKind::Render,
        RequestKind::DeployProgress,
        RequestKind::Edit,
        RequestKind::Desired,
        RequestKind::UserLink,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RequestKind::Hello => "hello",
            RequestKind::Status => "status",
            RequestKind::Subscribe => "subscribe",
            RequestKind::Apply => "apply",
            RequestKind::Rollback => "rollback",
            RequestKind::Restart => "restart",
            RequestKind::Repair => "repair",
            RequestKind::Mode => "mode",
            RequestKind::Journal => "journal",
            RequestKind::Logs => "logs",
            RequestKind::Render => "render",
            RequestKind::DeployProgress => "deploy.progress",
            RequestKind::Edit => "edit",
            RequestKind::Desired => "desired",
            RequestKind::UserLink => "user_link",
        }
    }

    pub fn parse(s: &str) -> Option<RequestKind> {
        RequestKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Whether the request changes anything (Desired, markers, the core, OS
    /// state, what subscribers see): read-only `socket_group` members are
    /// refused these. Exhaustive on purpose: a new kind must decide.
    pub fn mutates(self) -> bool {
        match self {
            RequestKind::Hello
            | RequestKind::Status
            | RequestKind::Subscribe
            | RequestKind::Journal
            | RequestKind::Logs
            | RequestKind::Render
            | RequestKind::Desired
            | RequestKind::UserLink => false,
            RequestKind::Apply
            | RequestKind::Rollback
            | RequestKind::Restart
            | RequestKind::Repair
            | RequestKind::Mode
            | RequestKind::DeployProgress
            | RequestKind::Edit => true,
        }
    }

    /// Whether the answer reveals a credential (a user's link): read-only
    /// members are refused these too. Exhaustive on purpose.
    pub fn reveals_secret(self) -> bool {
        match self {
            RequestKind::UserLink => true,
            RequestKind::Hello
            | RequestKind::Status
            | RequestKind::Subscribe
            | RequestKind::Apply
            | RequestKind::Rollback
            | RequestKind::Restart
            | RequestKind::Repair
            | RequestKind::Mode
            | RequestKind::Journal
            | RequestKind::Logs
            | RequestKind::Render
            | RequestKind::DeployProgress
            | RequestKind::Edit
            | RequestKind::Desired => false,
        }
    }

    /// Who may make the request: [`Access::Full`] for a change or a secret.
    pub fn access(self) -> Access {
        if self.mutates() || self.reveals_secret() {
            Access::Full
        } else {
            Access::Read
        }
    }

    /// How long a client waits for the answer.
    pub fn timeout(self) -> Duration {
        match self {
            RequestKind::Repair => REPAIR_TIMEOUT,
            RequestKind::Hello
            | RequestKind::Status
            | RequestKind::Subscribe
            | RequestKind::Apply
            | RequestKind::Rollback
            | RequestKind::Restart
            | RequestKind::Mode
            | RequestKind::Journal
            | RequestKind::Logs
            | RequestKind::Render
            | RequestKind::DeployProgress
            | RequestKind::Edit
            | RequestKind::Desired
            | RequestKind::UserLink => REQUEST_TIMEOUT,
        }
    }
}

impl fmt::Display for RequestKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a frame is not a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("unknown request type `{0}`")]
    UnknownType(String),
    #[error("invalid `{kind}` request: {message}")]
    Invalid { kind: RequestKind, message: String },
}

impl Request {
    pub fn kind(&self) -> RequestKind {
        match self {
            Request::Hello { .. } => RequestKind::Hello,
            Request::Status {} => RequestKind::Status,
            Request::Subscribe { .. } => RequestKind::Subscribe,
            Request::Apply { .. } => RequestKind::Apply,
            Request::Rollback { .. } => RequestKind::Rollback,
            Request::Restart { .. } => RequestKind::Restart,
            Request::Repair {} => RequestKind::Repair,
            Request::Mode { .. } => RequestKind::Mode,
            Request::Journal { .. } => RequestKind::Journal,
            Request::Logs { .. } => RequestKind::Logs,
            Request::Render { .. } => RequestKind::Render,
            Request::DeployProgress { .. } => RequestKind::DeployProgress,
            Request::Edit { .. } => RequestKind::Edit,
            Request::Desired { .. } => RequestKind::Desired,
            Request::UserLink { .. } => RequestKind::UserLink,
        }
    }

    pub fn mutates(&self) -> bool {
        self.kind().mutates()
    }

    /// Who may make this request.
    pub fn access(&self) -> Access {
        self.kind().access()
    }

    pub fn to_frame(&self, id: Option<u64>) -> Frame {
        to_frame(self, id)
    }

    /// The request a frame carries: an unknown `type` is told apart from a
    /// known one with fields that cannot be read.
    pub fn from_frame(f: &Frame) -> Result<Request, RequestError> {
        let Some(kind) = RequestKind::parse(&f.kind) else {
            return Err(RequestError::UnknownType(f.kind.clone()));
        };
        from_frame(f).map_err(|e| RequestError::Invalid {
            kind,
            message: e.to_string(),
        })
    }

    /// `hello` with this build's protocol version.
    pub fn hello(client: &str) -> Request {
        Request::Hello {
            client: client.to_string().into(),
            proto: PROTO.into(),
        }
    }

    pub fn status() -> Request {
        Request::Status {}
    }

    /// `subscribe`; `logs` adds log lines (`logs:false` is sent as no field).
    pub fn subscribe(logs: bool) -> Request {
        Request::Subscribe {
            logs: if logs { true.into() } else { Field::Absent },
        }
    }

    pub fn apply(role: impl Into<ApplyTarget>, request_id: Option<&str>) -> Request {
        Request::Apply {
            role: role.into().into(),
            request_id: request_id.map(str::to_string).into(),
        }
    }

    pub fn rollback(role: Role) -> Request {
        Request::Rollback { role: role.into() }
    }

    pub fn restart(role: Role) -> Request {
        Request::Restart { role: role.into() }
    }

    pub fn repair() -> Request {
        Request::Repair {}
    }

    pub fn journal(role: Option<Role>, limit: u64) -> Request {
        Request::Journal {
            role: role.into(),
            limit: limit.into(),
        }
    }

    pub fn logs(role: Role, bytes: u64) -> Request {
        Request::Logs {
            role: role.into(),
            bytes: bytes.into(),
        }
    }

    pub fn render(role: Role, which: &str) -> Request {
        Request::Render {
            role: role.into(),
            which: which.to_string().into(),
        }
    }

    pub fn deploy_progress(
        deploy_id: &str,
        role: &str,
        step: &str,
        state: &str,
        detail: &str,
    ) -> Request {
        Request::DeployProgress {
            deploy_id: deploy_id.to_string().into(),
            role: role.to_string().into(),
            step: step.to_string().into(),
            state: state.to_string().into(),
            detail: detail.to_string().into(),
        }
    }

    pub fn edit(role: Role, edits: Vec<Edit>, dry_run: bool) -> Request {
        Request::Edit {
            role,
            edits,
            dry_run,
        }
    }

    pub fn desired(role: Role) -> Request {
        Request::Desired { role }
    }

    pub fn user_link(label: &str) -> Request {
        Request::UserLink {
            label: label.to_string(),
        }
    }
}

/// The role a request names: `` "`role` is required" `` when absent or not a
/// string, the role parser's message for a string that is not a role.
pub fn role_arg(f: &Field<Role>) -> Result<Role, String> {
    match f {
        Field::Valid(r) => Ok(*r),
        Field::Invalid(Value::String(s)) => s.parse::<Role>(),
        Field::Invalid(_) | Field::Absent => Err("`role` is required".into()),
    }
}

/// Every frame the service sends: answers (`<type>.ok`, `snapshot`, `error`)
/// and pushes (`event`, `resync`, connection-level `error`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum Response {
    #[serde(rename = "hello.ok")]
    HelloOk {
        #[serde(default)]
        instance_id: String,
        /// The service's protocol version (a service that omits it speaks 1).
        #[serde(default = "proto_one")]
        proto: u32,
        #[serde(default)]
        roles: Vec<Role>,
        #[serde(default)]
        service: String,
    },
    #[serde(rename = "status.ok")]
    StatusOk { state: State },
    #[serde(rename = "snapshot")]
    Snapshot { seq: u64, state: State },
    #[serde(rename = "apply.ok")]
    ApplyOk { request_ids: BTreeMap<Role, String> },
    #[serde(rename = "rollback.ok")]
    RollbackOk { request_id: String },
    #[serde(rename = "restart.ok")]
    RestartOk { request_id: String },
    #[serde(rename = "mode.ok")]
    ModeOk { request_id: String },
    #[serde(rename = "repair.ok")]
    RepairOk { tun: BTreeMap<Role, TunView> },
    #[serde(rename = "journal.ok")]
    JournalOk { records: Vec<Record> },
    #[serde(rename = "logs.ok")]
    LogsOk { text: String },
    #[serde(rename = "render.ok")]
    RenderOk { json: String },
    #[serde(rename = "deploy.progress.ok")]
    DeployProgressOk {},
    /// What an edit did (dry: would do). `toml_diff` may show credentials: it
    /// goes only to the full-access peer that asked, never to events or logs.
    #[serde(rename = "edit.ok")]
    EditOk {
        summary: Vec<String>,
        changed: bool,
        written: bool,
        /// The apply requested after the write (none for a dry run or no change).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        request_id: Option<String>,
        toml_diff: String,
        /// The compiled config's diff (empty when it cannot be shown: see
        /// `compiled_diff_unavailable`).
        compiled_diff: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        compiled_diff_unavailable: Option<String>,
    },
    #[serde(rename = "desired.ok")]
    DesiredOk { view: DesiredView },
    #[serde(rename = "user_link.ok")]
    UserLinkOk { label: String, link: String },
    #[serde(rename = "event")]
    Event { seq: u64, event: Box<Event> },
    #[serde(rename = "resync")]
    Resync { seq: u64 },
    #[serde(rename = "error")]
    Error { code: WireError, message: String },
}

fn proto_one() -> u32 {
    1
}

/// The kind of a [`Response`], without its fields (for the golden tests and
/// for matching a frame's kind without parsing its body).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResponseKind {
    HelloOk,
    StatusOk,
    Snapshot,
    ApplyOk,
    RollbackOk,
    RestartOk,
    ModeOk,
    RepairOk,
    JournalOk,
    LogsOk,
    RenderOk,
    DeployProgressOk,
    EditOk,
    DesiredOk,
    UserLinkOk,
    Event,
    Resync,
    Error,
}

impl ResponseKind {
    pub const ALL: [ResponseKind; 18] = [
        ResponseKind::HelloOk,
        ResponseKind::StatusOk,
        ResponseKind::Snapshot,
        ResponseKind::ApplyOk,
        ResponseKind::RollbackOk,
        ResponseKind::RestartOk,
        ResponseKind::ModeOk,
        ResponseKind::RepairOk,
        ResponseKind::JournalOk,
        ResponseKind::LogsOk,
        ResponseKind::RenderOk,
        ResponseKind::DeployProgressOk,
        ResponseKind::EditOk,
        ResponseKind::DesiredOk,
        ResponseKind::UserLinkOk,
        ResponseKind::Event,
        ResponseKind::Resync,
        ResponseKind::Error,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ResponseKind::HelloOk => "hello.ok",
            ResponseKind::StatusOk => "status.ok",
            ResponseKind::Snapshot => "snapshot",
            ResponseKind::ApplyOk => "apply.ok",
            ResponseKind::RollbackOk => "rollback.ok",
            ResponseKind::RestartOk => "restart.ok",
            ResponseKind::ModeOk => "mode.ok",
            ResponseKind::RepairOk => "repair.ok",
            ResponseKind::JournalOk => "journal.ok",
            ResponseKind::LogsOk => "logs.ok",
            ResponseKind::RenderOk => "render.ok",
            ResponseKind::DeployProgressOk => "deploy.progress.ok",
            ResponseKind::EditOk => "edit.ok",
            ResponseKind::DesiredOk => "desired.ok",
            ResponseKind::UserLinkOk => "user_link.ok",
            ResponseKind::Event => "event",
            ResponseKind::Resync => "resync",
            ResponseKind::Error => "error",
        }
    }

    pub fn parse(s: &str) -> Option<ResponseKind> {
        ResponseKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl Response {
    pub fn kind(&self) -> ResponseKind {
        match self {
            Response::HelloOk { .. } => ResponseKind::HelloOk,
            Response::StatusOk { .. } => ResponseKind::StatusOk,
            Response::Snapshot { .. } => ResponseKind::Snapshot,
            Response::ApplyOk { .. } => ResponseKind::ApplyOk,
            Response::RollbackOk { .. } => ResponseKind::RollbackOk,
            Response::RestartOk { .. } => ResponseKind::RestartOk,
            Response::ModeOk { .. } => ResponseKind::ModeOk,
            Response::RepairOk { .. } => ResponseKind::RepairOk,
            Response::JournalOk { .. } => ResponseKind::JournalOk,
            Response::LogsOk { .. } => ResponseKind::LogsOk,
            Response::RenderOk { .. } => ResponseKind::RenderOk,
            Response::DeployProgressOk {} => ResponseKind::DeployProgressOk,
            Response::EditOk { .. } => ResponseKind::EditOk,
            Response::DesiredOk { .. } => ResponseKind::DesiredOk,
            Response::UserLinkOk { .. } => ResponseKind::UserLinkOk,
            Response::Event { .. } => ResponseKind::Event,
            Response::Resync { .. } => ResponseKind::Resync,
            Response::Error { .. } => ResponseKind::Error,
        }
    }

    pub fn to_frame(&self, id: Option<u64>) -> Frame {
        to_frame(self, id)
    }

    pub fn from_frame(f: &Frame) -> Result<Response, serde_json::Error> {
        from_frame(f)
    }

    pub fn error(code: WireError, message: impl Into<String>) -> Response {
        Response::Error {
            code,
            message: message.into(),
        }
    }
}

/// The `code` of an `error` frame (a closed set).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WireError {
    Busy,
    FrameTimeout,
    MalformedFrame,
    FrameTooLong,
    PermissionDenied,
    InvalidRequest,
    Internal,
    Timeout,
    InvalidDesired,
    TooLarge,
    RenderFailed,
    UnknownType,
    ProtocolMismatch,
}

impl WireError {
    pub const ALL: [WireError; 13] = [
        WireError::Busy,
        WireError::FrameTimeout,
        WireError::MalformedFrame,
        WireError::FrameTooLong,
        WireError::PermissionDenied,
        WireError::InvalidRequest,
        WireError::Internal,
        WireError::Timeout,
        WireError::InvalidDesired,
        WireError::TooLarge,
        WireError::RenderFailed,
        WireError::UnknownType,
        WireError::ProtocolMismatch,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            WireError::Busy => "busy",
            WireError::FrameTimeout => "frame_timeout",
            WireError::MalformedFrame => "malformed_frame",
            WireError::FrameTooLong => "frame_too_long",
            WireError::PermissionDenied => "permission_denied",
            WireError::InvalidRequest => "invalid_request",
            WireError::Internal => "internal",
            WireError::Timeout => "timeout",
            WireError::InvalidDesired => "invalid_desired",
            WireError::TooLarge => "too_large",
            WireError::RenderFailed => "render_failed",
            WireError::UnknownType => "unknown_type",
            WireError::ProtocolMismatch => "protocol_mismatch",
        }
    }

    pub fn parse(s: &str) -> Option<WireError> {
        WireError::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What `status`, `snapshot` and `xp2p status` show: each role, and the service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct State {
    pub roles: Vec<RoleView>,
    pub service: ServiceInfo,
}

/// The service part of [`State`]: online it says who answers; offline (built
/// by `xp2p status` from the files) only whether it runs and why it is silent.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ServiceInfo {
    pub running: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answering: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uptime_s: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_parse_back_and_only_changes_mutate() {
        for k in RequestKind::ALL {
            assert_eq!(RequestKind::parse(k.as_str()), Some(k));
        }
        for k in ResponseKind::ALL {
            assert_eq!(ResponseKind::parse(k.as_str()), Some(k));
        }
        for c in WireError::ALL {
            assert_eq!(WireError::parse(c.as_str()), Some(c));
            assert_eq!(
                serde_json::to_value(c).unwrap(),
                Value::String(c.as_str().into())
            );
        }
        let mutating: Vec<&str> = RequestKind::ALL
            .into_iter()
            .filter(|k| k.mutates())
            .map(RequestKind::as_str)
            .collect();
        assert_eq!(
            mutating,
            [
                "apply",
                "rollback",
                "restart",
                "repair",
                "mode",
                "deploy.progress",
                "edit"
            ]
        );
        let owner_only: Vec<&str> = RequestKind::ALL
            .into_iter()
            .filter(|k| k.access() == Access::Full)
            .map(RequestKind::as_str)
            .collect();
        assert_eq!(
            owner_only,
            [
                "apply",
                "rollback",
                "restart",
                "repair",
                "mode",
                "deploy.progress",
                "edit",
                "user_link"
            ]
        );
        assert_eq!(RequestKind::Desired.access(), Access::Read);
        assert_eq!(RequestKind::parse("stop_core"), None);
        assert_eq!(RequestKind::Repair.timeout(), REPAIR_TIMEOUT);
        assert_eq!(RequestKind::Status.timeout(), REQUEST_TIMEOUT);
    }

    #[test]
    fn fields_of_the_wrong_type_are_kept_but_not_valid() {
        let f = Frame::new("journal", Some(1))
            .with("role", "nope")
            .with("limit", "many");
        let r = Request::from_frame(&f).unwrap();
        let Request::Journal { role, limit } = &r else {
            panic!("{r:?}")
        };
        assert_eq!(role.get(), None);
        assert_eq!(role.invalid_str(), Some("nope"));
        assert_eq!(limit.get(), None);
        assert_eq!(r.to_frame(Some(1)), f);
        assert_eq!(
            role_arg(role).unwrap_err(),
            "unknown role `nope` (expected client or server)"
        );
        assert_eq!(role_arg(&Field::Absent).unwrap_err(), "`role` is required");
        assert_eq!(
            role_arg(&Field::Invalid(Value::from(3))).unwrap_err(),
            "`role` is required"
        );
    }

    #[test]
    fn unknown_and_unreadable_requests_are_told_apart() {
        let e = Request::from_frame(&Frame::new("stop_core", Some(1))).unwrap_err();
        assert_eq!(e, RequestError::UnknownType("stop_core".into()));
        assert_eq!(e.to_string(), "unknown request type `stop_core`");
        // Extra keys are ignored, as the string handlers ignored them.
        let r = Request::from_frame(&Frame::new("status", Some(1)).with("pad", "x")).unwrap();
        assert_eq!(r, Request::Status {});
    }
}
