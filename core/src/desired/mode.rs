//! Switching a role's TUN mode in Desired (`xp2p client mode …`, `xp2p server
//! mode …`, IPC `mode`): under the role lock, edit only the mode keys of the
//! TOML (comments and layout kept), refuse a result that does not validate,
//! write it atomically. Applying it is the caller's next step.

use std::path::Path;

use toml_edit::{DocumentMut, value};

use crate::compile;
use crate::layout::Layout;
use crate::pipeline;
use crate::role::Role;
use crate::secrets::SecretAccess;
use crate::store::atomic::write_secret;

/// The mode a command asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
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

/// Writes the mode into `xp2p-<role>.toml`. Returns whether the file changed.
pub fn set_mode(layout: &Layout, role: Role, change: &ModeChange) -> Result<bool, String> {
    let _lock = crate::deploy::desired_io::lock_role(layout, role).map_err(|e| e.to_string())?;
    let path = layout.desired_toml(role);
    let src = match crate::fsread::read_operator_file(&path, crate::fsread::MAX_TOML) {
        Ok(bytes) => String::from_utf8(bytes)
            .map_err(|_| format!("{}: file is not valid UTF-8", path.display()))?,
        Err(crate::fsread::ReadError::NotFound(_)) => {
            return Err(format!(
                "{} does not exist (create it: xp2p init --role {role})",
                path.display()
            ));
        }
        Err(e) => return Err(e.to_string()),
    };
    let edited = edit(&path, &src, role, change)?;
    if edited == src {
        return Ok(false);
    }
    let mut files = pipeline::read(layout, role).map_err(|p| p.to_string())?;
    files.toml = Some(edited.clone().into_bytes());
    compile::check(layout, &files).map_err(|p| format!("the new mode would not validate: {p}"))?;
    // An existing file keeps the mode and owner the operator gave it.
    write_secret(&path, edited.as_bytes(), SecretAccess::for_layout(layout))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(true)
}

fn edit(path: &Path, src: &str, role: Role, change: &ModeChange) -> Result<String, String> {
    let mut doc: DocumentMut = src
        .parse()
        .map_err(|e| format!("cannot edit {}: {e}", path.display()))?;
    let section = doc
        .get_mut(role.as_str())
        .and_then(|i| i.as_table_like_mut())
        .ok_or_else(|| format!("{}: no [{role}] table", path.display()))?;
    write_keys(section, change);
    Ok(doc.to_string())
}

/// Sets the mode keys (`tun_enabled`, `tun_mode`, `full_tunnel_tag`) in a role's
/// table; every writer of a mode (these commands, IPC `mode`, deploy) uses it.
pub fn write_keys(section: &mut dyn toml_edit::TableLike, change: &ModeChange) {
    match change {
        ModeChange::Proxy => {
            section.insert("tun_enabled", value(false));
        }
        ModeChange::Split => {
            section.insert("tun_enabled", value(true));
            section.insert("tun_mode", value("split"));
        }
        ModeChange::Full { tag } => {
            section.insert("tun_enabled", value(true));
            section.insert("tun_mode", value("full"));
            if let Some(t) = tag {
                section.insert("full_tunnel_tag", value(t.as_str()));
            }
        }
        ModeChange::Tun => {
            section.insert("tun_enabled", value(true));
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
