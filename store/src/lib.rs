//! xp2p-store: durable state and every read or write of xp2p's files — atomic
//! writes, the apply markers, the journal, Live/LKG and their swap, session
//! records, the TUN state files, Desired as one consistent read (and xp2p's
//! own edits of it), the files → compiled pipeline, the core binary on this
//! machine, and status gathered from all of that and /proc.
//!
//! Synchronous by design (the service calls it through `spawn_blocking`); the
//! types it reads and writes are the domain's (`xp2p_core::records`).

// The domain's modules under their old names, so `crate::layout::Layout` and
// friends keep resolving in the modules that moved here from xp2p-core.
use xp2p_core::{compile, error, layout, role};

pub mod archive;
pub mod atomic;
pub mod bundle;
pub mod coreproc;
pub mod desired_edit;
pub mod digest;
pub mod dirs;
pub mod journal;
pub mod live;
pub mod markers;
pub mod pipeline;
pub mod secrets;
pub mod session;
pub mod sides;
pub mod status;
pub mod swap;
pub mod transfer;
pub mod tunstate;

pub use xp2p_platform::{instance_lock, lock};
