//! The sealed deploy channel.
//!
//! The first two lines carry each side's 16-byte random session nonce in clear
//! (`xp2p-deploy/1 <base64url>`: client first, then server). Both sides then derive
//! two 32-byte keys with HKDF-SHA256: salt = client nonce ‖ server nonce, input
//! key material = the link secret, info = direction label + the link's canonical
//! parameters ([`DeployLink::binding`]). Every later message is sealed with
//! ChaCha20-Poly1305 under its direction's key, with a 96-bit nonce made of a
//! per-direction message counter (4 zero bytes ‖ u64 big-endian), and the protocol
//! version as associated data.
//!
//! Consequences: without the secret nothing opens; a link with altered
//! parameters derives other keys; fresh nonces from both sides make every
//! session's keys unique, so a recorded session replayed against a new one fails
//! at its first sealed message; within a session a counter never repeats under a
//! key, and a dropped, reordered, replayed or altered message fails to open.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use hkdf::Hkdf;
use sha2::Sha256;

use super::deploy_link::DeployLink;
use super::random::{self, RandomError};

/// Bytes of each side's session nonce.
pub const NONCE_LEN: usize = 16;
/// The first word of both hello lines.
pub const HELLO_PREFIX: &str = "xp2p-deploy/1";
/// Associated data of every sealed message: the protocol version.
pub const AAD: &[u8] = b"xp2p-deploy v=1";
const INFO_C2S: &str = "xp2p-deploy/1 client->server\n";
const INFO_S2C: &str = "xp2p-deploy/1 server->client\n";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChannelError {
    #[error("not a deploy hello: {0}")]
    BadHello(String),
    #[error(
        "a sealed message did not open (wrong secret, altered link, or a replayed or tampered message)"
    )]
    Open,
    #[error("message counter exhausted")]
    Exhausted,
    #[error("{0}")]
    Random(#[from] RandomError),
}

/// One side's fresh per-session nonce (the HKDF salt half).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionNonce(pub [u8; NONCE_LEN]);

impl SessionNonce {
    pub fn generate() -> Result<SessionNonce, RandomError> {
        random::bytes().map(SessionNonce)
    }

    /// The hello line that carries this nonce (without the newline).
    pub fn hello_line(&self) -> String {
        format!("{HELLO_PREFIX} {}", URL_SAFE_NO_PAD.encode(self.0))
    }

    /// Parses a hello line.
    pub fn parse_hello(line: &str) -> Result<SessionNonce, ChannelError> {
        let line = line.trim_end_matches(['\r', '\n']);
        let Some((word, b64)) = line.split_once(' ') else {
            return Err(ChannelError::BadHello(
                "expected `xp2p-deploy/1 <nonce>`".into(),
            ));
        };
        if word != HELLO_PREFIX {
            let shown: String = word.chars().take(32).collect();
            return Err(ChannelError::BadHello(format!(
                "expected `{HELLO_PREFIX}`, got `{}`",
                shown.escape_debug()
            )));
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(b64)
            .map_err(|_| ChannelError::BadHello("the nonce is not base64url".into()))?;
        let arr: [u8; NONCE_LEN] = bytes
            .try_into()
            .map_err(|_| ChannelError::BadHello("the nonce must be 16 bytes".into()))?;
        Ok(SessionNonce(arr))
    }
}

/// The two directional keys of one session.
#[derive(Clone)]
pub struct SessionKeys {
    c2s: [u8; 32],
    s2c: [u8; 32],
}

impl std::fmt::Debug for SessionKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionKeys(..)")
    }
}

impl SessionKeys {
    /// HKDF-SHA256 over the link secret, salted with both nonces, bound to the link.
    pub fn derive(link: &DeployLink, client: &SessionNonce, server: &SessionNonce) -> SessionKeys {
        let mut salt = [0u8; 2 * NONCE_LEN];
        salt[..NONCE_LEN].copy_from_slice(&client.0);
        salt[NONCE_LEN..].copy_from_slice(&server.0);
        let hk = Hkdf::<Sha256>::new(Some(&salt), link.secret.as_bytes());
        let binding = link.binding();
        let expand = |label: &str| {
            let mut okm = [0u8; 32];
            let info = format!("{label}{binding}");
            // 32 bytes is far below HKDF-SHA256's limit (255 * 32): this cannot fail.
            let _ = hk.expand(info.as_bytes(), &mut okm);
            okm
        };
        SessionKeys {
            c2s: expand(INFO_C2S),
            s2c: expand(INFO_S2C),
        }
    }
}

/// Which end of the channel this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Client,
    Server,
}

struct Direction {
    cipher: ChaCha20Poly1305,
    counter: u64,
}

impl Direction {
    fn new(key: &[u8; 32]) -> Direction {
        Direction {
            cipher: ChaCha20Poly1305::new(Key::from_slice(key)),
            counter: 0,
        }
    }

    fn nonce(&self) -> [u8; 12] {
        let mut n = [0u8; 12];
        n[4..].copy_from_slice(&self.counter.to_be_bytes());
        n
    }
}

/// One side's sealing and opening state for a session.
pub struct Channel {
    send: Direction,
    recv: Direction,
}

impl std::fmt::Debug for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Channel")
            .field("sent", &self.send.counter)
            .field("received", &self.recv.counter)
            .finish()
    }
}

impl Channel {
    pub fn new(keys: &SessionKeys, side: Side) -> Channel {
        let (send, recv) = match side {
            Side::Client => (&keys.c2s, &keys.s2c),
            Side::Server => (&keys.s2c, &keys.c2s),
        };
        Channel {
            send: Direction::new(send),
            recv: Direction::new(recv),
        }
    }

    /// Seals the next outgoing message (the counter moves on).
    pub fn seal(&mut self, plaintext: &[u8]) -> Result<Vec<u8>, ChannelError> {
        if self.send.counter == u64::MAX {
            return Err(ChannelError::Exhausted);
        }
        let nonce = self.send.nonce();
        let sealed = self
            .send
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: AAD,
                },
            )
            .map_err(|_| ChannelError::Exhausted)?;
        self.send.counter += 1;
        Ok(sealed)
    }

    /// Opens the next incoming message; on failure the counter stays (the
    /// session is over anyway).
    pub fn open(&mut self, sealed: &[u8]) -> Result<Vec<u8>, ChannelError> {
        if self.recv.counter == u64::MAX {
            return Err(ChannelError::Exhausted);
        }
        let nonce = self.recv.nonce();
        let plain = self
            .recv
            .cipher
            .decrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: sealed,
                    aad: AAD,
                },
            )
            .map_err(|_| ChannelError::Open)?;
        self.recv.counter += 1;
        Ok(plain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::link::deploy_link::Secret;

    fn link(secret: u8) -> DeployLink {
        DeployLink::new(
            "vpn.example.com",
            62025,
            "alice",
            1_900_000_000,
            Secret::from_bytes([secret; 32]),
        )
        .unwrap()
    }

    fn pair(c: &DeployLink, s: &DeployLink, nc: [u8; 16], ns: [u8; 16]) -> (Channel, Channel) {
        let (nc, ns) = (SessionNonce(nc), SessionNonce(ns));
        (
            Channel::new(&SessionKeys::derive(c, &nc, &ns), Side::Client),
            Channel::new(&SessionKeys::derive(s, &nc, &ns), Side::Server),
        )
    }

    #[test]
    fn both_directions_round_trip_in_order() {
        let l = link(1);
        let (mut c, mut s) = pair(&l, &l, [1; 16], [2; 16]);
        for i in 0..3u8 {
            let m = c.seal(&[i; 10]).unwrap();
            assert_eq!(s.open(&m).unwrap(), vec![i; 10]);
            let r = s.seal(b"reply").unwrap();
            assert_eq!(c.open(&r).unwrap(), b"reply");
        }
    }

    #[test]
    fn directions_use_different_keys() {
        let l = link(1);
        let (mut c, mut s) = pair(&l, &l, [1; 16], [2; 16]);
        let m = c.seal(b"x").unwrap();
        let r = s.seal(b"x").unwrap();
        assert_ne!(m, r, "same counter and plaintext, different keys");
        // A message reflected back to its sender does not open.
        assert_eq!(c.open(&m), Err(ChannelError::Open));
    }

    #[test]
    fn a_flipped_byte_anywhere_fails_to_open() {
        let l = link(1);
        let (mut c, _) = pair(&l, &l, [1; 16], [2; 16]);
        let m = c.seal(b"{\"type\":\"manifest\"}").unwrap();
        for i in 0..m.len() {
            let (_, mut s) = pair(&l, &l, [1; 16], [2; 16]);
            let mut bad = m.clone();
            bad[i] ^= 0x01;
            assert_eq!(s.open(&bad), Err(ChannelError::Open), "byte {i}");
        }
        let (_, mut s) = pair(&l, &l, [1; 16], [2; 16]);
        assert!(s.open(&m).is_ok(), "the untouched message opens");
    }

    #[test]
    fn wrong_secret_or_altered_link_fails() {
        let (mut c, mut s) = pair(&link(1), &link(2), [1; 16], [2; 16]);
        assert_eq!(s.open(&c.seal(b"m").unwrap()), Err(ChannelError::Open));
        let mut other = link(1);
        other.exp += 3600;
        let (mut c, mut s) = pair(&link(1), &other, [1; 16], [2; 16]);
        assert_eq!(s.open(&c.seal(b"m").unwrap()), Err(ChannelError::Open));
    }

    #[test]
    fn a_replayed_session_fails_against_a_fresh_server_nonce() {
        let l = link(1);
        // Session 1 is recorded: the client's hello and its first sealed message.
        let (mut c1, mut s1) = pair(&l, &l, [1; 16], [2; 16]);
        let recorded = c1.seal(b"manifest").unwrap();
        assert!(s1.open(&recorded).is_ok());
        // Replayed to a new session: same client nonce, fresh server nonce.
        let (_, mut s2) = pair(&l, &l, [1; 16], [3; 16]);
        assert_eq!(s2.open(&recorded), Err(ChannelError::Open));
    }

    #[test]
    fn replay_or_reorder_within_a_session_fails() {
        let l = link(1);
        let (mut c, mut s) = pair(&l, &l, [1; 16], [2; 16]);
        let m0 = c.seal(b"zero").unwrap();
        let m1 = c.seal(b"one").unwrap();
        assert_eq!(s.open(&m1), Err(ChannelError::Open), "out of order");
        assert!(s.open(&m0).is_ok());
        assert_eq!(s.open(&m0), Err(ChannelError::Open), "replayed");
        assert!(s.open(&m1).is_ok());
    }

    #[test]
    fn hello_round_trip_and_refusals() {
        let n = SessionNonce([9; 16]);
        assert_eq!(SessionNonce::parse_hello(&n.hello_line()).unwrap(), n);
        assert_eq!(
            SessionNonce::parse_hello(&format!("{}\r\n", n.hello_line())).unwrap(),
            n
        );
        for bad in [
            "",
            "xp2p-deploy/1",
            "GET / HTTP/1.1",
            "xp2p-deploy/2 CQkJCQkJCQkJCQkJCQkJCQ",
            "xp2p-deploy/1 AAAA",
        ] {
            assert!(SessionNonce::parse_hello(bad).is_err(), "{bad}");
        }
    }
}
