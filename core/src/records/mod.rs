//! The records xp2p keeps on disk, as types: journal records, apply markers,
//! session records and the Live/LKG slots. Their I/O is `xp2p-store`'s.

pub mod journal;
pub mod live;
pub mod markers;
pub mod session;
