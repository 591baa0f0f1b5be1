//! Durable state: atomic file writes, Live/LKG config directories.

pub mod atomic;
pub mod live;
