//! The sides of a role's config — Desired compiled now, Live or LKG as
//! published — rendered to their xray.json bytes, once for every consumer
//! (the service's `render` request, `xp2p render`/`diff` offline, the
//! console's offline diff). Each consumer words the errors its own way.

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use xp2p_core::compile::CompileContext;
use xp2p_core::records::live::{Slot, XRAY_JSON};
use xp2p_core::{Layout, Problems, Role};

use crate::{live, pipeline};

/// Which config of a role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// Desired, compiled now.
    Desired,
    /// What the service runs.
    Live,
    /// The previous Live (last known good).
    Lkg,
}

impl Side {
    pub const ALL: [Side; 3] = [Side::Desired, Side::Live, Side::Lkg];

    /// The side's name on the wire and in messages.
    pub fn name(self) -> &'static str {
        match self {
            Side::Desired => "desired",
            Side::Live => "live",
            Side::Lkg => "lkg",
        }
    }

    /// The published slot holding this side (`None` for Desired).
    pub fn slot(self) -> Option<Slot> {
        match self {
            Side::Desired => None,
            Side::Live => Some(Slot::Live),
            Side::Lkg => Some(Slot::Lkg),
        }
    }
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A side name that is none of desired, live, lkg.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownSide(pub String);

impl fmt::Display for UnknownSide {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown side `{}` (desired, live, lkg)", self.0)
    }
}

impl std::error::Error for UnknownSide {}

impl FromStr for Side {
    type Err = UnknownSide;

    fn from_str(s: &str) -> Result<Side, UnknownSide> {
        Side::ALL
            .into_iter()
            .find(|side| side.name() == s)
            .ok_or_else(|| UnknownSide(s.to_string()))
    }
}

/// Why a side could not be rendered.
#[derive(Debug)]
pub enum SideError {
    /// Desired does not compile.
    Problems(Problems),
    /// The slot has no xray.json (`path`).
    Missing { slot: Slot, path: PathBuf },
    /// The slot's xray.json exists but cannot be read.
    Io { path: PathBuf, error: io::Error },
}

/// The path of a published side's xray.json (`None` for Desired).
pub fn stored_path(layout: &Layout, role: Role, side: Side) -> Option<PathBuf> {
    side.slot()
        .map(|slot| slot.dir(layout, role).join(XRAY_JSON))
}

/// The xray.json bytes of one side: Desired compiled now, or the slot's file.
pub fn render(layout: &Layout, role: Role, side: Side) -> Result<Vec<u8>, SideError> {
    let Some(slot) = side.slot() else {
        return pipeline::compile_role(layout, role, &CompileContext::default())
            .map(|(_, _, compiled)| compiled.xray_json)
            .map_err(SideError::Problems);
    };
    let path = slot.dir(layout, role).join(XRAY_JSON);
    match live::read_xray(layout, role, slot) {
        Ok(Some(bytes)) => Ok(bytes),
        Ok(None) => Err(SideError::Missing { slot, path }),
        Err(error) => Err(SideError::Io { path, error }),
    }
}

/// The size of a published side's xray.json, read without reading the file
/// (`None` for Desired, or when there is no file).
pub fn stored_size(layout: &Layout, role: Role, side: Side) -> Option<u64> {
    let path = stored_path(layout, role, side)?;
    std::fs::metadata(path).ok().map(|m| m.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A throwaway root and its layout.
    struct Root {
        layout: Layout,
        _dir: tempfile::TempDir,
    }

    impl Root {
        fn new() -> Root {
            let dir = tempfile::tempdir().unwrap();
            let layout = Layout::new(dir.path(), dir.path().join("logs"));
            Root { layout, _dir: dir }
        }

        /// Writes the client's xray.json into `slot`.
        fn publish(&self, slot: Slot, bytes: &[u8]) {
            let dir = slot.dir(&self.layout, Role::Client);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join(XRAY_JSON), bytes).unwrap();
        }
    }

    #[test]
    fn side_names_round_trip_and_unknown_names_are_refused() {
        for side in Side::ALL {
            assert_eq!(side.name().parse::<Side>(), Ok(side));
            let json = serde_json::to_string(&side).unwrap();
            assert_eq!(json, format!("\"{}\"", side.name()));
            assert_eq!(serde_json::from_str::<Side>(&json).unwrap(), side);
        }
        let err = "LIVE".parse::<Side>().unwrap_err();
        assert_eq!(err.to_string(), "unknown side `LIVE` (desired, live, lkg)");
    }

    #[test]
    fn a_published_side_renders_its_stored_bytes() {
        let root = Root::new();
        let l = &root.layout;
        root.publish(Slot::Live, b"{\"live\":1}");
        root.publish(Slot::Lkg, b"{\"lkg\":1}");
        assert_eq!(
            render(l, Role::Client, Side::Live).unwrap(),
            b"{\"live\":1}"
        );
        assert_eq!(render(l, Role::Client, Side::Lkg).unwrap(), b"{\"lkg\":1}");
        assert_eq!(stored_size(l, Role::Client, Side::Live), Some(10));
    }

    #[test]
    fn each_failure_is_its_own_variant_naming_what_is_at_fault() {
        let root = Root::new();
        let l = &root.layout;
        root.publish(Slot::Live, b"{}");

        // No LKG yet: the slot and the file it lacks.
        let lkg = l.lkg_dir(Role::Client).join(XRAY_JSON);
        assert!(matches!(
            render(l, Role::Client, Side::Lkg),
            Err(SideError::Missing { slot: Slot::Lkg, path }) if path == lkg
        ));
        assert_eq!(stored_size(l, Role::Client, Side::Lkg), None);
        // The other role's slots are its own.
        assert!(matches!(
            render(l, Role::Server, Side::Live),
            Err(SideError::Missing {
                slot: Slot::Live,
                ..
            })
        ));

        // A Live file does not stand in for Desired, which does not compile.
        let Err(SideError::Problems(p)) = render(l, Role::Client, Side::Desired) else {
            panic!("Desired without files must be Problems");
        };
        assert!(!p.0.is_empty());
        assert_eq!(stored_size(l, Role::Client, Side::Desired), None);
        assert_eq!(stored_path(l, Role::Client, Side::Desired), None);

        // A directory where the file should be: it exists, but cannot be read.
        let server_live = l.live_dir(Role::Server).join(XRAY_JSON);
        std::fs::create_dir_all(&server_live).unwrap();
        assert!(matches!(
            render(l, Role::Server, Side::Live),
            Err(SideError::Io { path, .. }) if path == server_live
        ));
    }
}
