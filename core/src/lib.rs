//! xp2p-core: the domain shared by the binary, the service and the TUI.
//!
//! Pure: no I/O of its own, no processes, sockets, async runtime or OS calls
//! (its Cargo.toml shows it). It knows where files live ([`layout`]), what the
//! operator wrote ([`desired`], [`snippets`]), how that becomes an xray config
//! ([`compile`]), what a core binary is ([`coreproc`]), the records kept on disk
//! ([`records`]), how two configs differ ([`diff`]), what status shows from what
//! was observed ([`status`]) and the TUN plan ([`tunstate`]). Reading and writing
//! all of it is `xp2p-store`'s; OS facts are `xp2p-platform`'s.

/// A closed set of states with one wire name each: `as_str`, `ALL`, `FromStr`,
/// `Display`, serde by that name, and comparison with a `&str` (so status
/// text and JSON read as before).
macro_rules! named_enum {
    ($(#[$meta:meta])* pub enum $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<$name, String> {
                $name::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str() == s)
                    .ok_or_else(|| format!(concat!("unknown ", stringify!($name), " `{}`"), s))
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }
    };
}

pub mod compile;
pub mod coreproc;
pub mod desired;
pub mod diag;
pub mod diff;
pub mod digest;
pub mod error;
pub mod layout;
pub mod links;
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
