//! A role's TUN mode in Desired (`xp2p client mode …`, `xp2p server mode …`,
//! IPC `mode`): the modes, and the edit of only the mode keys of the TOML
//! (comments and layout kept). Writing it under the role lock, validated, is
//! `xp2p_store::desired_edit::set_mode`.

use std::path::Path;

use super::edit::doc::set;
use super::edit::{Edit, edit_text};
use crate::role::Role;

/// The mode a command asks for.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum ModeChange {
    /// Client or server: no TUN.
    Proxy,
    /// Client: routes per CIDR redirect via the TUN.
    Split,
    /// Client: everything via the TUN; `tag` picks the endpoint (default: first).
    Full { tag: Option<String> },
    /// Server: TUN mode.
    Tun,
}

impl ModeChange {
    /// The TUN phase the role reaches once the service has applied this mode.
    pub fn settled_phase(&self) -> crate::tunstate::Phase {
        use crate::tunstate::Phase;
        match self {
            ModeChange::Proxy => Phase::Disabled,
            ModeChange::Split => Phase::Split,
            ModeChange::Full { .. } => Phase::FullApplied,
            ModeChange::Tun => Phase::Tun,
        }
    }

    /// Parses `proxy`, `split`, `full` (client) or `proxy`, `tun` (server).
    pub fn parse(role: Role, s: &str, tag: Option<String>) -> Result<ModeChange, String> {
        match (role, s) {
            (_, "proxy") => Ok(ModeChange::Proxy),
            (Role::Client, "split" | "tun-split" | "tun:split") => Ok(ModeChange::Split),
            (Role::Client, "full" | "tun-full" | "tun:full") => Ok(ModeChange::Full { tag }),
            (Role::Server, "tun") => Ok(ModeChange::Tun),
            (Role::Client, other) => Err(format!(
                "unknown client mode `{other}` (proxy, tun split or tun full)"
            )),
            (Role::Server, other) => Err(format!("unknown server mode `{other}` (proxy or tun)")),
        }
    }
}

/// The TOML text `src` with the mode keys of `change` written into the role's
/// table (comments and layout kept).
/// Goes through the one editor ([`super::edit`]) as an `Edit::SetMode`; the
/// caller validates the result.
pub fn edit(path: &Path, src: &str, role: Role, change: &ModeChange) -> Result<String, String> {
    let edits = [Edit::SetMode {
        role,
        change: change.clone(),
    }];
    // The mode keys carry no timestamps, so the edit's time is not needed.
    edit_text(role, path, src, &edits, "")
        .map(|e| e.text)
        .map_err(|e| e.to_string())
}

/// Sets the mode keys (`tun_enabled`, `tun_mode`, `full_tunnel_tag`) in a role's
/// table, keeping their comments; every writer of a mode (these commands, IPC
/// `mode`, deploy) uses it.
pub fn write_keys(section: &mut dyn toml_edit::TableLike, change: &ModeChange) {
    match change {
        ModeChange::Proxy => {
            set(section, "tun_enabled", false);
        }
        ModeChange::Split => {
            set(section, "tun_enabled", true);
            set(section, "tun_mode", "split");
        }
        ModeChange::Full { tag } => {
            set(section, "tun_enabled", true);
            set(section, "tun_mode", "full");
            if let Some(t) = tag {
                set(section, "full_tunnel_tag", t.as_str());
            }
        }
        ModeChange::Tun => {
            set(section, "tun_enabled", true);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLIENT: &str = "# my notes\n[client]\n# keep me\nsocks_address = \"127.0.0.1:51180\"\n";

    #[test]
    fn edits_only_the_mode_keys_and_keeps_comments() {
        let p = Path::new("xp2p-client.toml");
        let full = edit(
            p,
            CLIENT,
            Role::Client,
            &ModeChange::Full {
                tag: Some("proxy-a".into()),
            },
        )
        .unwrap();
        assert!(full.contains("# keep me") && full.contains("# my notes"));
        assert!(full.contains("tun_enabled = true"));
        assert!(full.contains("tun_mode = \"full\""));
        assert!(full.contains("full_tunnel_tag = \"proxy-a\""));
        let back = edit(p, &full, Role::Client, &ModeChange::Proxy).unwrap();
        assert!(back.contains("tun_enabled = false"));
        let e = edit(p, "[server]\n", Role::Client, &ModeChange::Split).unwrap_err();
        assert!(e.contains("no [client] table"), "{e}");
    }

    #[test]
    fn parse_names_the_modes_of_each_role() {
        assert_eq!(
            ModeChange::parse(Role::Client, "split", None),
            Ok(ModeChange::Split)
        );
        assert_eq!(
            ModeChange::parse(Role::Server, "tun", None),
            Ok(ModeChange::Tun)
        );
        assert!(ModeChange::parse(Role::Server, "full", None).is_err());
        assert!(ModeChange::parse(Role::Client, "tun", None).is_err());
    }
}
