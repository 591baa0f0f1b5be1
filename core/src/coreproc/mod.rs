//! The xray-core binary: discovery, flavour and capabilities, the core's own
//! config test. Used by the CLI, the service and deploy alike.

pub mod bounded;
pub mod discover;
pub mod flavour;
pub mod selftest;

pub use discover::{DiscoveryError, discover, probe};
pub use flavour::{Capabilities, CoreInfo, Flavour};
pub use selftest::{TestOutcome, test_config};
