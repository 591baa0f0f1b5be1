//! Who may read files that hold credentials or keys: the owner only (0600), or
//! also `[service] socket_group` (0640, that group) for the operator's files;
//! Live and LKG are always 0600. Which access a root gives, and the check behind
//! `validate`'s warning, are `xp2p-store`'s (`secrets::for_layout`).

/// How a new secret-holding file is created (an existing one keeps its own mode
/// and owner: `xp2p_store::atomic::write_secret`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SecretAccess {
    /// Group allowed to read (`[service] socket_group`), `None`: owner only.
    pub gid: Option<u32>,
}

impl SecretAccess {
    /// 0600: Live, LKG, staging and anything the group must never read.
    pub const OWNER_ONLY: SecretAccess = SecretAccess { gid: None };

    pub fn mode(&self) -> u32 {
        if self.gid.is_some() { 0o640 } else { 0o600 }
    }
}
