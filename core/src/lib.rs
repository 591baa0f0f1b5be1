//! xp2p-core: the domain shared by the binary, the service and the TUI.
//!
//! Nothing here owns a terminal or a daemon loop. It knows where files live
//! ([`layout`]), what the operator wrote ([`desired`], [`snippets`]), how that
//! becomes an xray config ([`compile`]), which core binary runs it ([`coreproc`]),
//! how durable state is written ([`store`]), how two configs differ ([`diff`]),
//! and how a client–server pair is deployed from one link ([`link`], [`deploy`]).

pub mod compile;
pub mod coreproc;
pub mod deploy;
pub mod desired;
pub mod diag;
pub mod diff;
pub mod digest;
pub mod error;
pub mod fsread;
pub mod ipc;
pub mod layout;
pub mod link;
pub mod pipeline;
pub mod procfs;
pub mod redact;
pub mod role;
pub mod secrets;
pub mod snippets;
pub mod sockdiag;
pub mod socks5;
pub mod status;
pub mod store;
pub mod text;
pub mod tunstate;

pub use error::{ConfigError, ErrorCode, Problems};
pub use layout::Layout;
pub use role::Role;

/// The version written into runtime.json and reported over IPC.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
