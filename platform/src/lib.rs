//! xp2p-platform: the facts and primitives xp2p takes from the operating
//! system, behind one API — core processes (`process`: spawn, adopt, exit,
//! readiness, stop), process facts (`procfs`) and listening sockets
//! (`sockdiag`, netlink), file locks (`lock` for roles, `instance_lock` for the
//! one service per root), child processes with a deadline (`bounded`), and
//! reads of operator files that can neither block nor exhaust (`fsread`).
//! File modes, owners and private files and folders, per OS (`fsperm`); the
//! allocator's arena cap for the service (`memory`, glibc only).
//!
//! It depends on nothing of xp2p's own; everything above it may use it.

pub mod bounded;
pub mod fsperm;
pub mod fsread;
pub mod instance_lock;
pub mod lock;
pub mod memory;
pub mod process;
pub mod procfs;
pub mod sockdiag;
