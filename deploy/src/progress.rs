//! Deploy steps and progress events, as the CLI prints them (and, later, as
//! `deploy.progress` events carry them), plus the client's mode argument.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

/// A deploy step. The client walks `link_generated … done`; the server walks
/// `waiting_for_client, connected, manifest_received, server_installing,
/// validating, waiting_for_client_validation, writing_desired, apply_requested, done`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    LinkGenerated,
    WaitingForServer,
    WaitingForClient,
    Connected,
    ManifestSent,
    ManifestReceived,
    ServerInstalling,
    Validating,
    WaitingForClientValidation,
    WritingDesired,
    ApplyRequested,
    Done,
}

impl Step {
    pub fn as_str(self) -> &'static str {
        match self {
            Step::LinkGenerated => "link_generated",
            Step::WaitingForServer => "waiting_for_server",
            Step::WaitingForClient => "waiting_for_client",
            Step::Connected => "connected",
            Step::ManifestSent => "manifest_sent",
            Step::ManifestReceived => "manifest_received",
            Step::ServerInstalling => "server_installing",
            Step::Validating => "validating",
            Step::WaitingForClientValidation => "waiting_for_client_validation",
            Step::WritingDesired => "writing_desired",
            Step::ApplyRequested => "apply_requested",
            Step::Done => "done",
        }
    }

    /// The server steps a client may be told about.
    pub fn from_peer(s: &str) -> Option<Step> {
        match s {
            "server_installing" => Some(Step::ServerInstalling),
            "validating" => Some(Step::Validating),
            "writing_desired" => Some(Step::WritingDesired),
            "apply_requested" => Some(Step::ApplyRequested),
            _ => None,
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a deploy reports while it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// One of our own steps, with a human detail (may be empty).
    Step { step: Step, detail: String },
    /// The link was made (client): the operator copies it to the server.
    Link { link: String, expires: u64 },
    /// A step the peer reported (the client shows the server's progress).
    Peer { step: Step },
    /// Something worth a line that is not a step (a refused connection…).
    Note(String),
}

impl Event {
    pub fn step(step: Step, detail: impl Into<String>) -> Event {
        Event::Step {
            step,
            detail: detail.into(),
        }
    }
}

/// The client's mode after deploy (`--mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Proxy,
    TunSplit,
    TunFull,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Proxy => "proxy",
            Mode::TunSplit => "tun:split",
            Mode::TunFull => "tun:full",
        }
    }
}

impl FromStr for Mode {
    type Err = String;

    fn from_str(s: &str) -> Result<Mode, String> {
        match s {
            "proxy" => Ok(Mode::Proxy),
            "tun" | "tun:split" => Ok(Mode::TunSplit),
            "tun:full" => Ok(Mode::TunFull),
            other => Err(format!(
                "`{other}` is not a mode (proxy, tun:split, tun:full)"
            )),
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
