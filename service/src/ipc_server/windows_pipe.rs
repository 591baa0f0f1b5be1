//! The Windows IPC server: the named pipe `\\.\pipe\xp2p-<hash of CONFIG_ROOT>`
//! (ipc.md) in place of the Unix socket. Owns the pipe's access policy — its DACL
//! (SDDL) and the per-connection decision owner/admin = all, `socket_group` =
//! read-only, anyone else = `permission_denied` — and the accept loop, which
//! always has the next pipe instance listening before it hands a connected one to
//! the same JSON Lines conversation the Unix server runs.
//!
//! Not compiled or run on Windows here (README "Windows"). The policy (SDDL text
//! and access decisions) is plain code, unit-tested on Linux; the server is
//! `cfg(windows)`, written against tokio's `named_pipe`, and awaits a Windows
//! build. Wiring it into `serve()` in lib.rs is part of the Windows port.

use xp2p_ipc::windows_pipe::{
    CLIENT_ACCESS, PeerIdentity, SID_ADMINISTRATORS, SID_SYSTEM, is_sid_string,
};

use super::Access;

/// Who may use the pipe, as SID strings (`S-1-…`, checked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipePolicy {
    /// The account the service runs as (creates the pipe's instances).
    service_sid: String,
    /// A further account with full access (e.g. the user who installed the
    /// service, when it runs as SYSTEM).
    owner_sid: Option<String>,
    /// `[service] socket_group`: may open the pipe, may only read.
    read_only_sid: Option<String>,
}

impl PipePolicy {
    /// Checks every SID; the error names the offending one.
    pub fn new(
        service_sid: &str,
        owner_sid: Option<&str>,
        read_only_sid: Option<&str>,
    ) -> Result<PipePolicy, String> {
        let check = |what: &str, sid: &str| {
            if is_sid_string(sid) {
                Ok(sid.to_string())
            } else {
                Err(format!(
                    "IPC pipe policy: {what} {sid:?} is not a SID (S-1-…)"
                ))
            }
        };
        Ok(PipePolicy {
            service_sid: check("the service account", service_sid)?,
            owner_sid: owner_sid.map(|s| check("the owner", s)).transpose()?,
            read_only_sid: read_only_sid
                .map(|s| check("[service] socket_group", s))
                .transpose()?,
        })
    }

    /// The pipe's DACL, protected from inheritance: SYSTEM, Administrators and
    /// the service's own account get GENERIC_ALL (the service must be able to
    /// create further instances); the owner and the read-only group get
    /// [`CLIENT_ACCESS`] only — read and write data, never
    /// `FILE_CREATE_PIPE_INSTANCE`. Nobody else is listed, so nobody else may
    /// open the pipe; remote clients are refused by the pipe mode as well.
    pub fn sddl(&self) -> String {
        let mut full: Vec<&str> = Vec::new();
        if !self.service_sid.eq_ignore_ascii_case(SID_SYSTEM) {
            full.push(&self.service_sid);
        }
        let mut clients: Vec<&str> = Vec::new();
        for sid in [self.owner_sid.as_deref(), self.read_only_sid.as_deref()]
            .into_iter()
            .flatten()
        {
            let listed = sid.eq_ignore_ascii_case(SID_SYSTEM)
                || sid.eq_ignore_ascii_case(SID_ADMINISTRATORS)
                || full
                    .iter()
                    .chain(&clients)
                    .any(|s| s.eq_ignore_ascii_case(sid));
            if !listed {
                clients.push(sid);
            }
        }
        let mut sddl = String::from("D:P(A;;GA;;;SY)(A;;GA;;;BA)");
        for sid in full {
            sddl.push_str(&format!("(A;;GA;;;{sid})"));
        }
        for sid in clients {
            sddl.push_str(&format!("(A;;0x{CLIENT_ACCESS:x};;;{sid})"));
        }
        sddl
    }

    /// What a connected peer may do: SYSTEM, an elevated Administrator, the
    /// service's account and the owner — everything; a member of the read-only
    /// group — read; anyone else (who got past the DACL somehow) — nothing.
    fn access(&self, peer: &PeerIdentity) -> Access {
        let user = peer.user_sid.as_str();
        let is = |sid: &str| user.eq_ignore_ascii_case(sid);
        if is(SID_SYSTEM)
            || is(&self.service_sid)
            || self.owner_sid.as_deref().is_some_and(is)
            || peer.has_group(SID_ADMINISTRATORS)
        {
            return Access::Full;
        }
        if let Some(group) = self.read_only_sid.as_deref()
            && (is(group) || peer.has_group(group))
        {
            return Access::ReadOnly;
        }
        Access::None
    }
}

#[cfg(windows)]
pub use server::{PipeListener, bind, policy_for, serve};

#[cfg(windows)]
mod server {
    use std::os::windows::io::AsRawHandle;
    use std::sync::Arc;
    use std::time::Duration;

    use tokio::net::windows::named_pipe::{NamedPipeServer, PipeMode, ServerOptions};
    use xp2p_ipc::windows_identity::{
        SecurityDescriptor, account_sid, current_identity, pipe_client_identity,
    };

    use super::super::{Access, Denials, IpcContext, conversation};
    use super::PipePolicy;

    /// `ERROR_ACCESS_DENIED`: what CreateNamedPipeW answers for a
    /// `FILE_FLAG_FIRST_PIPE_INSTANCE` when the pipe already exists.
    const ERROR_ACCESS_DENIED: i32 = 5;

    /// The pipe's name and DACL, and the instance waiting for the next client.
    pub struct PipeListener {
        name: String,
        sddl: String,
        next: NamedPipeServer,
    }

    /// The policy for this service: its own account, an optional further owner
    /// (account name or SID), and `[service] socket_group` (empty: none).
    pub fn policy_for(owner: Option<&str>, socket_group: &str) -> Result<PipePolicy, String> {
        let me = current_identity()?;
        let owner = owner
            .map(|o| account_sid(o).map_err(|e| format!("IPC pipe owner: {e}")))
            .transpose()?;
        let group = if socket_group.is_empty() {
            None
        } else {
            Some(account_sid(socket_group).map_err(|e| format!("[service] socket_group: {e}"))?)
        };
        PipePolicy::new(&me.user_sid, owner.as_deref(), group.as_deref())
    }

    /// One pipe instance with the policy's DACL, byte mode, local clients only.
    fn create(name: &str, sddl: &str, first: bool) -> std::io::Result<NamedPipeServer> {
        let sd = SecurityDescriptor::from_sddl(sddl).map_err(std::io::Error::other)?;
        let mut options = ServerOptions::new();
        options
            .first_pipe_instance(first)
            .reject_remote_clients(true)
            .access_inbound(true)
            .access_outbound(true)
            .pipe_mode(PipeMode::Byte);
        sd.with_attributes(|attrs| {
            // SAFETY: `attrs` points at a SECURITY_ATTRIBUTES whose descriptor
            // (`sd`) stays alive until `with_attributes` returns, i.e. for the
            // whole CreateNamedPipeW call.
            unsafe { options.create_with_security_attributes_raw(name, attrs) }
        })
    }

    /// Creates the first instance. Fails, naming the pipe, when it already exists
    /// (another service on this CONFIG_ROOT, or another program holding the name).
    pub fn bind(name: &str, policy: &PipePolicy) -> Result<PipeListener, String> {
        let sddl = policy.sddl();
        match create(name, &sddl, true) {
            Ok(next) => Ok(PipeListener {
                name: name.to_string(),
                sddl,
                next,
            }),
            Err(e) if e.raw_os_error() == Some(ERROR_ACCESS_DENIED) => Err(format!(
                "{name}: the pipe already exists (another xp2p service on this CONFIG_ROOT, or another program holding the name)"
            )),
            Err(e) => Err(format!("{name}: cannot create the pipe: {e}")),
        }
    }

    /// Accepts clients until the task is aborted. A fresh instance is always in
    /// place before a connected one is handed out, so clients never find the pipe
    /// missing between two connections.
    pub async fn serve(mut listener: PipeListener, policy: Arc<PipePolicy>, ctx: Arc<IpcContext>) {
        loop {
            let connected = listener.next.connect().await;
            let fresh = loop {
                match create(&listener.name, &listener.sddl, false) {
                    Ok(s) => break s,
                    Err(e) => {
                        tracing::warn!(
                            "IPC pipe {}: cannot create the next instance: {e}",
                            listener.name
                        );
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            };
            let server = std::mem::replace(&mut listener.next, fresh);
            match connected {
                Ok(()) => {
                    let access = match pipe_client_identity(server.as_raw_handle()) {
                        Ok(peer) => policy.access(&peer),
                        Err(e) => {
                            tracing::warn!("IPC pipe {}: client identity: {e}", listener.name);
                            Access::None
                        }
                    };
                    let ctx = ctx.clone();
                    tokio::spawn(async move { connection(server, access, ctx).await });
                }
                Err(e) => {
                    tracing::warn!("IPC pipe {}: accept: {e}", listener.name);
                    drop(server);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }

    const PIPE_DENIALS: Denials = Denials {
        none: "this user may not use the xp2p service (SYSTEM, Administrators, the service's owner or socket_group only)",
        read_only: "needs the service owner or an Administrator; socket_group members are read-only",
    };

    /// The shared conversation (`ipc_server::conversation`) over a pipe instance.
    async fn connection(stream: NamedPipeServer, access: Access, ctx: Arc<IpcContext>) {
        let (r, w) = tokio::io::split(stream);
        conversation(r, w, access, &PIPE_DENIALS, ctx).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ME: &str = "S-1-5-21-111-222-333-1001";
    const OWNER: &str = "S-1-5-21-111-222-333-1002";
    const GROUP: &str = "S-1-5-21-111-222-333-1500";

    fn peer(user: &str, groups: &[&str]) -> PeerIdentity {
        PeerIdentity {
            pid: 42,
            user_sid: user.into(),
            group_sids: groups.iter().map(|g| g.to_string()).collect(),
        }
    }

    #[test]
    fn sddl_lists_exactly_the_trusted_accounts() {
        let p = PipePolicy::new(ME, Some(OWNER), Some(GROUP)).unwrap();
        assert_eq!(
            p.sddl(),
            format!(
                "D:P(A;;GA;;;SY)(A;;GA;;;BA)(A;;GA;;;{ME})(A;;0x12018b;;;{OWNER})(A;;0x12018b;;;{GROUP})"
            )
        );
        // Running as SYSTEM, no owner or group: only SYSTEM and Administrators.
        let p = PipePolicy::new(SID_SYSTEM, None, None).unwrap();
        assert_eq!(p.sddl(), "D:P(A;;GA;;;SY)(A;;GA;;;BA)");
        // No account is listed twice, and none is downgraded.
        let p = PipePolicy::new(ME, Some(ME), Some(SID_ADMINISTRATORS)).unwrap();
        assert_eq!(
            p.sddl(),
            format!("D:P(A;;GA;;;SY)(A;;GA;;;BA)(A;;GA;;;{ME})")
        );
        let p = PipePolicy::new(SID_SYSTEM, Some(OWNER), Some(OWNER)).unwrap();
        assert_eq!(
            p.sddl(),
            format!("D:P(A;;GA;;;SY)(A;;GA;;;BA)(A;;0x12018b;;;{OWNER})")
        );
    }

    #[test]
    fn a_name_that_is_not_a_sid_never_reaches_the_sddl() {
        let e = PipePolicy::new(ME, None, Some("S-1-5-18)(A;;GA;;;WD")).unwrap_err();
        assert!(e.contains("socket_group"), "{e}");
        assert!(PipePolicy::new("Users", None, None).is_err());
        assert!(PipePolicy::new(ME, Some(""), None).is_err());
    }

    #[test]
    fn access_follows_the_unix_rules() {
        let p = PipePolicy::new(SID_SYSTEM, Some(OWNER), Some(GROUP)).unwrap();
        assert_eq!(p.access(&peer(SID_SYSTEM, &[])), Access::Full);
        assert_eq!(p.access(&peer(OWNER, &[])), Access::Full);
        assert_eq!(p.access(&peer(ME, &[SID_ADMINISTRATORS])), Access::Full);
        assert_eq!(p.access(&peer(ME, &[GROUP])), Access::ReadOnly);
        assert_eq!(p.access(&peer(ME, &["S-1-5-32-545"])), Access::None);
        // A non-elevated admin's token has Administrators deny-only, which the
        // identity reader leaves out of `group_sids`.
        assert_eq!(p.access(&peer(ME, &[])), Access::None);
        let p = PipePolicy::new(ME, None, None).unwrap();
        assert_eq!(p.access(&peer(ME, &[])), Access::Full);
        assert_eq!(p.access(&peer(OWNER, &[GROUP])), Access::None);
    }
}
