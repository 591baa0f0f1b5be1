//! Deploy messages and their line codec.
//!
//! After the two hello lines every line is one sealed message: the base64url
//! (no padding) of the ChaCha20-Poly1305 output whose plaintext is one JSON
//! object tagged by `type`. A line starting with `!` is an unsealed refusal
//! (`!unauthorized`, `!busy`, …): it carries no data, only why the server will not
//! talk, because a peer that cannot open our messages could not read a sealed one.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::channel::{Channel, ChannelError};

/// The longest line either side accepts (bytes, newline excluded).
pub const MAX_LINE: usize = 64 * 1024;

/// client -> server, first sealed message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// The name the client dials; the server's host and certificate name when it
    /// has none yet.
    pub host: String,
    /// Preferred trojan port for a new server (an existing server keeps its own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trojan_port: Option<u16>,
    /// The user label to create (must equal the link's `user`).
    pub user: String,
    /// Preferred profile for a new server (`trojan-tls`, `vless-tls`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// The client's mode (`proxy`, `tun:split`, `tun:full`); informational.
    pub mode: String,
    /// Add a reverse channel for the new user (`xp2p client deploy` without
    /// `--no-reverse`). Always sent; absent means `false`: a manifest without
    /// it comes from a client older than reverse channels, which would never
    /// add the matching bridge, so a channel for it would only dangle.
    #[serde(default)]
    pub reverse: bool,
}

/// The reverse channel the server added for the new user: the client's bridge
/// must name the same `tag` and `domain` (`<sanitize(user)><sanitize(host)>.rev`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReverseChannel {
    /// The channel's key in `[server.reverse_channels.<key>]` (the server's own name for it).
    pub key: String,
    /// The portal's tag.
    pub tag: String,
    /// The rendezvous domain both cores name.
    pub domain: String,
}

/// What the server set up, sent once its temporary core answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeployResult {
    pub ok: bool,
    /// The connection link (`trojan://…` or `vless://…`) with the new credential.
    pub link: String,
    /// TLS server name to present.
    pub server_name: String,
    /// SHA-256 (hex) of the server certificate (DER) to pin.
    pub cert_sha256: String,
    /// The temporary validation inbound's port.
    pub validate_port: u16,
    /// The echo target's port on the server's loopback.
    pub echo_port: u16,
    /// The reverse channel the server will write with the user (absent when the
    /// manifest asked for none, or from a server older than reverse channels).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reverse: Option<ReverseChannel>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMsg {
    Manifest(Manifest),
    /// `ok`, or `fail <reason>`.
    Complete {
        status: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMsg {
    Progress { step: String },
    Result(DeployResult),
    Error { code: String, message: String },
    Bye,
}

/// The unsealed refusals a server may send before (or instead of) a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The first sealed message did not open: wrong secret or altered link.
    Unauthorized,
    /// Another deploy session is in progress on this server.
    Busy,
    /// The first line was not a deploy hello.
    BadHello,
    /// Anything else (shown as received, sanitised).
    Other(String),
}

impl Refusal {
    pub fn as_str(&self) -> &str {
        match self {
            Refusal::Unauthorized => "unauthorized",
            Refusal::Busy => "busy",
            Refusal::BadHello => "bad_hello",
            Refusal::Other(s) => s,
        }
    }

    pub fn line(&self) -> String {
        format!("!{}", self.as_str())
    }

    fn parse(s: &str) -> Refusal {
        match s {
            "unauthorized" => Refusal::Unauthorized,
            "busy" => Refusal::Busy,
            "bad_hello" => Refusal::BadHello,
            other => Refusal::Other(
                other
                    .chars()
                    .filter(|c| !c.is_control())
                    .take(120)
                    .collect(),
            ),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    #[error("line longer than {MAX_LINE} bytes")]
    TooLong,
    #[error("not a sealed message line (not base64url)")]
    NotBase64,
    #[error("{0}")]
    Channel(#[from] ChannelError),
    #[error("the sealed message is not a valid {what}: {detail}")]
    BadMessage { what: &'static str, detail: String },
}

/// One decoded incoming line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming<M> {
    Message(M),
    Refused(Refusal),
}

/// Seals one message into a line (no newline).
pub fn seal_line<M: Serialize>(ch: &mut Channel, msg: &M) -> Result<String, CodecError> {
    let json = serde_json::to_vec(msg).map_err(|e| CodecError::BadMessage {
        what: "message",
        detail: e.to_string(),
    })?;
    let sealed = ch.seal(&json)?;
    let line = URL_SAFE_NO_PAD.encode(sealed);
    if line.len() > MAX_LINE {
        return Err(CodecError::TooLong);
    }
    Ok(line)
}

/// Decodes one line: a refusal, or a sealed message that must open and parse.
pub fn open_line<M: DeserializeOwned>(
    ch: &mut Channel,
    line: &str,
    what: &'static str,
) -> Result<Incoming<M>, CodecError> {
    let line = line.trim_end_matches(['\r', '\n']);
    if line.len() > MAX_LINE {
        return Err(CodecError::TooLong);
    }
    if let Some(reason) = line.strip_prefix('!') {
        return Ok(Incoming::Refused(Refusal::parse(reason)));
    }
    let sealed = URL_SAFE_NO_PAD
        .decode(line)
        .map_err(|_| CodecError::NotBase64)?;
    let plain = ch.open(&sealed)?;
    serde_json::from_slice(&plain)
        .map(Incoming::Message)
        .map_err(|e| CodecError::BadMessage {
            what,
            detail: e.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::link::channel::{SessionKeys, SessionNonce, Side};
    use crate::link::deploy_link::{DeployLink, Secret};

    fn channels() -> (Channel, Channel) {
        let l = DeployLink::new("h.example", 1, "u", 2, Secret::from_bytes([3; 32])).unwrap();
        let k = SessionKeys::derive(&l, &SessionNonce([1; 16]), &SessionNonce([2; 16]));
        (
            Channel::new(&k, Side::Client),
            Channel::new(&k, Side::Server),
        )
    }

    #[test]
    fn messages_round_trip_as_lines() {
        let (mut c, mut s) = channels();
        let m = ClientMsg::Manifest(Manifest {
            host: "vpn.example.com".into(),
            trojan_port: Some(58443),
            user: "alice".into(),
            profile: None,
            mode: "proxy".into(),
            reverse: true,
        });
        let line = seal_line(&mut c, &m).unwrap();
        assert!(!line.contains("alice"), "sealed on the wire");
        assert!(
            line.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_eq!(
            open_line::<ClientMsg>(&mut s, &line, "manifest").unwrap(),
            Incoming::Message(m)
        );
        let r = ServerMsg::Result(DeployResult {
            ok: true,
            link: "trojan://secret@h:1?security=tls#u".into(),
            server_name: "h".into(),
            cert_sha256: "00".repeat(32),
            validate_port: 5,
            echo_port: 6,
            reverse: Some(ReverseChannel {
                key: "alice".into(),
                tag: "aliceh-example.rev".into(),
                domain: "aliceh-example.rev".into(),
            }),
        });
        let line = seal_line(&mut s, &r).unwrap();
        assert!(!line.contains("secret"));
        assert_eq!(
            open_line::<ServerMsg>(&mut c, &line, "reply").unwrap(),
            Incoming::Message(r)
        );
        let bye = seal_line(&mut s, &ServerMsg::Bye).unwrap();
        assert_eq!(
            open_line::<ServerMsg>(&mut c, &bye, "reply").unwrap(),
            Incoming::Message(ServerMsg::Bye)
        );
    }

    #[test]
    fn the_reverse_fields_keep_older_peers_working() {
        // A manifest from a client older than reverse channels asks for none.
        let old: ClientMsg = serde_json::from_str(
            r#"{"type":"manifest","host":"h.example","user":"u","mode":"proxy"}"#,
        )
        .unwrap();
        assert!(matches!(
            old,
            ClientMsg::Manifest(Manifest { reverse: false, .. })
        ));
        // A new manifest always says which, so `false` is explicit on the wire.
        let off = serde_json::to_string(&ClientMsg::Manifest(Manifest {
            host: "h.example".into(),
            trojan_port: None,
            user: "u".into(),
            profile: None,
            mode: "proxy".into(),
            reverse: false,
        }))
        .unwrap();
        assert!(off.contains(r#""reverse":false"#), "{off}");
        // A result from an older server (no `reverse`) parses as no channel,
        // and a result without a channel says nothing of one.
        let r: ServerMsg = serde_json::from_str(
            r#"{"type":"result","ok":true,"link":"l","server_name":"h","cert_sha256":"00","validate_port":1,"echo_port":2}"#,
        )
        .unwrap();
        let ServerMsg::Result(r) = r else {
            panic!("not a result: {r:?}")
        };
        assert_eq!(r.reverse, None);
        assert!(!serde_json::to_string(&r).unwrap().contains("reverse"));
        // An older peer ignores the new fields (serde's default): they carry no
        // `deny_unknown_fields`, so adding them stays compatible both ways.
        #[derive(Deserialize)]
        struct OldManifest {
            host: String,
        }
        let new = serde_json::json!({"host": "h", "user": "u", "mode": "proxy", "reverse": true});
        assert_eq!(
            serde_json::from_value::<OldManifest>(new).unwrap().host,
            "h"
        );
    }

    #[test]
    fn refusals_and_garbage() {
        let (_, mut s) = channels();
        assert_eq!(
            open_line::<ClientMsg>(&mut s, "!unauthorized\n", "m").unwrap(),
            Incoming::Refused(Refusal::Unauthorized)
        );
        assert_eq!(
            open_line::<ClientMsg>(&mut s, "!busy", "m").unwrap(),
            Incoming::Refused(Refusal::Busy)
        );
        assert_eq!(
            open_line::<ClientMsg>(&mut s, "not base64!", "m"),
            Err(CodecError::NotBase64)
        );
        assert!(matches!(
            open_line::<ClientMsg>(&mut s, "AAAAAAAAAAAAAAAAAAAAAAAA", "m"),
            Err(CodecError::Channel(ChannelError::Open))
        ));
    }

    #[test]
    fn sealed_but_wrong_shape_is_a_bad_message() {
        let (mut c, mut s) = channels();
        let line = seal_line(&mut c, &serde_json::json!({"type": "nope"})).unwrap();
        assert!(matches!(
            open_line::<ClientMsg>(&mut s, &line, "manifest"),
            Err(CodecError::BadMessage {
                what: "manifest",
                ..
            })
        ));
    }
}
