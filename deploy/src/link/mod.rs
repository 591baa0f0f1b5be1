//! Links and the deploy channel, all pure: the deploy link
//! (`xp2p+deploy://host:port?v=1&user=…&exp=…&role=client#secret`), the sealed
//! channel (HKDF-SHA256 session keys per direction, ChaCha20-Poly1305 with
//! counter nonces) and the deploy messages with their line codec. The
//! `trojan://` / `vless://` tunnel link the server hands back is
//! [`xp2p_core::links::TunnelLink`] (the one implementation, shared with the
//! user commands). No sockets and no files here; the only outside input is the
//! OS random source, for secrets and session nonces.

pub mod channel;
pub mod deploy_link;
pub mod message;
pub mod random;

pub use channel::{Channel, ChannelError, SessionKeys, SessionNonce, Side};
pub use deploy_link::{DeployLink, LinkError, Secret};
pub use message::{
    ClientMsg, DeployResult, Incoming, Manifest, Refusal, ReverseChannel, ServerMsg,
};
