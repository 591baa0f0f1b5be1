//! Durable state: atomic file writes, locks, apply markers, the journal and the
//! Live/LKG directories.

pub mod atomic;
pub mod instance_lock;
pub mod journal;
pub mod live;
pub mod lock;
pub mod markers;
pub mod session;
pub mod swap;
