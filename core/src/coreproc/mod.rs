//! The xray-core binary as the domain knows it: flavour, capabilities and the
//! command lines it is run and tested with. Finding it and running it
//! (`discover`, `probe`, `test_config`) are `xp2p-store`'s.

pub mod flavour;

pub use flavour::{Capabilities, CoreInfo, Flavour, parse_version_output};
