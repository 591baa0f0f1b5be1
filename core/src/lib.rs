//! xp2p-core: the domain shared by the binary, the service and the TUI.
//!
//! Pure: no I/O of its own, no processes, sockets, async runtime or OS calls
//! (its Cargo.toml shows it). It knows where files live ([`layout`]), what the
//! operator wrote ([`desired`], [`snippets`]), how that becomes an xray config
//! ([`compile`]), what a core binary is ([`coreproc`]), the records kept on disk
//! ([`records`]), how two configs differ ([`diff`]), what status shows from what
//! was observed ([`status`]) and the TUN plan ([`tunstate`]). Reading and writing
//! all of it is `xp2p-store`'s; OS facts are `xp2p-platform`'s.

pub mod compile;
pub mod coreproc;
pub mod desired;
pub mod diag;
pub mod diff;
pub mod digest;
pub mod error;
pub mod layout;
pub mod records;
pub mod redact;
pub mod role;
pub mod secrets;
pub mod snippets;
pub mod status;
pub mod text;
pub mod tunstate;

pub use error::{ConfigError, ErrorCode, Problems};
pub use layout::Layout;
pub use role::Role;

/// The version written into runtime.json and reported over IPC.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
