//! Deploy: bring up a client–server pair from one link (design: deploy.md).
//!
//! The client ([`client::run`]) makes a link, dials the server until the link
//! expires, sends the sealed manifest, validates the returned credentials end to
//! end with a temporary core and only then writes its Desired file and
//! `apply.request`. The server ([`server::run`]) listens for exactly one
//! authenticated session, creates the user (and a self-signed certificate when it
//! has none), validates with a temporary core and an echo target, and writes its
//! Desired file and `apply.request` only after the client confirms. Unless the
//! client sent `--no-reverse`, the user's reverse channel and the client's
//! matching bridge are written with them ([`reverse`]).
//!
//! Deploy never writes Live and never touches the service or its core: the
//! temporary cores run from private temp directories on ports of their own and
//! are stopped (and the directories removed) by guards on every path.
//! The wire format and the crypto are in [`crate::link`]; the SOCKS5 handshake
//! in [`crate::socks5`]; the tunnel ping in [`crate::probe`].
//!
//! The domain (layout, roles, Desired, the compiler) is `xp2p_core`; files and
//! durable state are `xp2p_store`; OS primitives are `xp2p_platform`.

pub mod cert;
pub mod client;
pub mod client_desired;
pub mod client_probe;
pub mod conn;
pub mod desired_io;
pub mod echo;
pub mod error;
pub mod interrupt;
pub mod link;
pub mod probe;
pub mod progress;
pub mod reverse;
pub mod server;
pub mod server_desired;
pub mod server_session;
pub mod socks;
pub mod socks5;
pub mod tempcore;
pub mod used_links;
pub mod validation;

use std::time::Duration;

// The domain modules under their old sibling names, so the `crate::layout::…`,
// `crate::desired::…` paths of the moved files keep resolving.
use xp2p_core::{compile, desired, layout, role};

pub use error::DeployError;
pub use progress::{Event, Mode, Step};

/// Dialing the server, each attempt.
pub const DIAL_TIMEOUT: Duration = Duration::from_secs(10);
/// Waiting for any one line from the peer.
pub const READ_TIMEOUT: Duration = Duration::from_secs(60);
/// The server waiting for the client's `complete`.
pub const COMPLETE_TIMEOUT: Duration = Duration::from_secs(300);
/// Default lifetime of a link (`--ttl`) and of a listening server (`--timeout`).
pub const DEFAULT_TTL: Duration = Duration::from_secs(600);
/// The trojan port of a new server when the client names none.
pub const DEFAULT_TROJAN_PORT: u16 = 58443;

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A Unix time as RFC 3339 (for messages).
pub fn rfc3339(unix: u64) -> String {
    humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + Duration::from_secs(unix)).to_string()
}
