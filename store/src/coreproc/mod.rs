//! The xray-core binary on this machine: discovery (`[core] path`, PATH, the
//! usual places) with a bounded `-version` probe, and the core's own config
//! test (`-test`), each with a deadline that covers reading its output, and the
//! one recipe to run it (`spawn`).

pub mod discover;
pub mod selftest;
pub mod spawn;

pub use discover::{DiscoveryError, discover, probe};
pub use selftest::{TestOutcome, test_config};
pub use spawn::{Lifetime, spawn_spec};
pub use xp2p_core::coreproc::*;
