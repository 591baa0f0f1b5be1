//! The Windows transport of the local IPC (ipc.md): the pipe name derived from
//! CONFIG_ROOT, the access rights clients open the pipe with (and the most its
//! DACL grants a non-administrator), the well-known SIDs the service trusts, the
//! identity of a peer process, and — on Windows only — a client that connects to
//! `\\.\pipe\xp2p-<hash>` and speaks the same JSON Lines protocol as
//! [`super::IpcClient`] does over the Unix socket.
//!
//! Nothing Windows-specific here has been compiled or run: the project is built
//! and tested on Linux only (README "Windows"). The pure parts (name, rights,
//! SIDs) are unit-tested on every platform; the client is written against tokio's
//! `named_pipe` and windows-sys 0.61 and awaits a Windows build.

use std::path::Path;

/// Every xp2p pipe name starts with this; the rest is a hash of CONFIG_ROOT.
pub const PIPE_PREFIX: &str = r"\\.\pipe\xp2p-";

/// The rights a client opens the pipe with, and the most the pipe's DACL grants
/// anyone but SYSTEM, Administrators and the service's own account:
/// `FILE_GENERIC_READ | FILE_WRITE_DATA | FILE_WRITE_ATTRIBUTES` (0x120089 | 0x2 |
/// 0x100). Deliberately without `FILE_CREATE_PIPE_INSTANCE` (= `FILE_APPEND_DATA`,
/// part of `GENERIC_WRITE`): a client that could create instances of the pipe
/// could pose as the service to other clients.
pub const CLIENT_ACCESS: u32 = 0x0012_018B;

/// `NT AUTHORITY\SYSTEM`.
pub const SID_SYSTEM: &str = "S-1-5-18";
/// `BUILTIN\Administrators` (only counts when enabled in the token, i.e. elevated).
pub const SID_ADMINISTRATORS: &str = "S-1-5-32-544";

/// Who is at the other end of a pipe (or runs this process): SIDs as strings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerIdentity {
    pub pid: u32,
    pub user_sid: String,
    /// Groups enabled in the token (deny-only groups, such as Administrators in a
    /// non-elevated UAC token, are left out).
    pub group_sids: Vec<String>,
}

impl PeerIdentity {
    pub fn has_group(&self, sid: &str) -> bool {
        self.group_sids.iter().any(|g| g.eq_ignore_ascii_case(sid))
    }
}

/// `\\.\pipe\xp2p-<first 12 hex of sha256(CONFIG_ROOT)>`. The root is normalised
/// first as Windows compares paths (ASCII case folded, `/` as `\`, no trailing
/// separator), so `C:\ProgramData\xp2p` and `c:/programdata/xp2p/` name one pipe.
pub fn pipe_name(config_root: &Path) -> String {
    let text = config_root.to_string_lossy();
    let mut norm: String = text
        .chars()
        .map(|c| {
            if c == '/' {
                '\\'
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect();
    // Keep the separator of a drive root (`c:\`) and of `\`.
    while norm.ends_with('\\') && norm.len() > 1 && !norm.ends_with(":\\") {
        norm.pop();
    }
    let hex = xp2p_core::digest::sha256_hex(norm.as_bytes());
    let short: String = hex.chars().take(12).collect();
    format!("{PIPE_PREFIX}{short}")
}

/// True for a SID string of the form `S-1-<authority>(-<sub>)*` (digits only):
/// the only shape ever put into an SDDL string, so a configured name can never
/// add an ACE of its own.
pub fn is_sid_string(s: &str) -> bool {
    let Some(rest) = s.strip_prefix("S-1-") else {
        return false;
    };
    !rest.is_empty()
        && rest.split('-').all(|part| {
            !part.is_empty() && part.len() <= 10 && part.bytes().all(|b| b.is_ascii_digit())
        })
}

#[cfg(windows)]
pub use client::{connect, open};

#[cfg(windows)]
mod client {
    use std::path::PathBuf;
    use std::time::{Duration, Instant};

    use tokio::net::windows::named_pipe::NamedPipeClient;
    use windows_sys::Win32::Foundation::{
        ERROR_ACCESS_DENIED, ERROR_FILE_NOT_FOUND, ERROR_PATH_NOT_FOUND, ERROR_PIPE_BUSY,
    };
    use windows_sys::Win32::Storage::FileSystem::{
        FILE_FLAG_OVERLAPPED, FILE_GENERIC_READ, FILE_WRITE_ATTRIBUTES, FILE_WRITE_DATA,
        SECURITY_IDENTIFICATION,
    };

    use super::CLIENT_ACCESS;
    use crate::client::{ConnectError, IpcClient};

    // The literal in CLIENT_ACCESS (also written into the pipe's SDDL) is the
    // sum of the named rights.
    const _: () =
        assert!(CLIENT_ACCESS == FILE_GENERIC_READ | FILE_WRITE_DATA | FILE_WRITE_ATTRIBUTES);

    /// How long to retry while every pipe instance is busy.
    const BUSY_WAIT: Duration = Duration::from_secs(5);

    /// Opens the pipe with [`CLIENT_ACCESS`] (not `GENERIC_WRITE`, which the DACL
    /// does not grant), overlapped, at `SECURITY_IDENTIFICATION` so the service
    /// can identify but never impersonate the caller. Retries while all instances
    /// are busy.
    pub async fn open(pipe: &str) -> Result<NamedPipeClient, ConnectError> {
        use std::os::windows::fs::OpenOptionsExt;
        use std::os::windows::io::IntoRawHandle;
        let deadline = Instant::now() + BUSY_WAIT;
        loop {
            let opened = std::fs::OpenOptions::new()
                .access_mode(CLIENT_ACCESS)
                .custom_flags(FILE_FLAG_OVERLAPPED)
                .security_qos_flags(SECURITY_IDENTIFICATION)
                .open(pipe);
            let err = match opened {
                Ok(file) => {
                    // SAFETY: the handle was opened just now, in overlapped mode
                    // (FILE_FLAG_OVERLAPPED), and `into_raw_handle` gave up the
                    // only other owner; tokio takes ownership of it.
                    return unsafe { NamedPipeClient::from_raw_handle(file.into_raw_handle()) }
                        .map_err(|e| ConnectError::Io(format!("{pipe}: {e}")));
                }
                Err(e) => e,
            };
            match err.raw_os_error().map(|c| c as u32) {
                Some(ERROR_PIPE_BUSY) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Some(ERROR_PIPE_BUSY) => {
                    return Err(ConnectError::Io(format!(
                        "{pipe}: every pipe instance stayed busy for {} s",
                        BUSY_WAIT.as_secs()
                    )));
                }
                Some(ERROR_FILE_NOT_FOUND) | Some(ERROR_PATH_NOT_FOUND) => {
                    return Err(ConnectError::NotRunning(PathBuf::from(pipe)));
                }
                Some(ERROR_ACCESS_DENIED) => {
                    return Err(ConnectError::PermissionDenied(format!(
                        "{pipe}: only SYSTEM, elevated Administrators, the service's owner and [service] socket_group may open it"
                    )));
                }
                _ => return Err(ConnectError::Io(format!("{pipe}: {err}"))),
            }
        }
    }

    /// Connects to `pipe` (see [`super::pipe_name`]) and says hello: the same
    /// [`IpcClient`] as over the Unix socket.
    pub async fn connect(pipe: &str, client: &str) -> Result<IpcClient, ConnectError> {
        let stream = open(pipe).await?;
        let (r, w) = tokio::io::split(stream);
        IpcClient::over(r, w, client).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipe_name_hashes_the_normalised_root() {
        let a = pipe_name(Path::new(r"C:\ProgramData\xp2p"));
        assert!(a.starts_with(r"\\.\pipe\xp2p-"), "{a}");
        assert_eq!(a.len(), PIPE_PREFIX.len() + 12);
        let hex = &a[PIPE_PREFIX.len()..];
        assert!(
            hex.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        // The documented recipe: sha256 of the (normalised) root, 12 hex digits.
        let full = xp2p_core::digest::sha256_hex(br"c:\programdata\xp2p");
        assert_eq!(hex, &full[..12]);
        for same in [
            r"c:\programdata\xp2p",
            r"C:\PROGRAMDATA\XP2P\",
            "C:/ProgramData/xp2p/",
        ] {
            assert_eq!(pipe_name(Path::new(same)), a, "{same}");
        }
        assert_ne!(pipe_name(Path::new(r"C:\ProgramData\xp2p-two")), a);
        // A drive root keeps its separator.
        assert_eq!(
            pipe_name(Path::new(r"D:\")),
            format!(
                "{PIPE_PREFIX}{}",
                &xp2p_core::digest::sha256_hex(br"d:\")[..12]
            )
        );
    }

    #[test]
    fn client_access_is_read_plus_write_data_without_create_instance() {
        const FILE_GENERIC_READ: u32 = 0x0012_0089;
        const FILE_WRITE_DATA: u32 = 0x2;
        const FILE_WRITE_ATTRIBUTES: u32 = 0x100;
        const FILE_CREATE_PIPE_INSTANCE: u32 = 0x4;
        assert_eq!(
            CLIENT_ACCESS,
            FILE_GENERIC_READ | FILE_WRITE_DATA | FILE_WRITE_ATTRIBUTES
        );
        assert_eq!(CLIENT_ACCESS & FILE_CREATE_PIPE_INSTANCE, 0);
    }

    #[test]
    fn sid_strings_are_recognised_strictly() {
        for ok in [
            SID_SYSTEM,
            SID_ADMINISTRATORS,
            "S-1-5-21-1004336348-1177238915-682003330-512",
        ] {
            assert!(is_sid_string(ok), "{ok}");
        }
        for bad in [
            "",
            "S-1-",
            "S-1-5-",
            "S-1-5--18",
            "s-1-5-18",
            "S-2-5-18",
            "S-1-5-18)(A;;GA;;;WD",
            "Users",
            "S-1-5-18 ",
            "S-1-5-99999999999",
        ] {
            assert!(!is_sid_string(bad), "{bad}");
        }
    }

    #[test]
    fn group_membership_ignores_case() {
        let p = PeerIdentity {
            pid: 1,
            user_sid: "S-1-5-21-1-2-3-1001".into(),
            group_sids: vec!["S-1-5-32-544".into()],
        };
        assert!(p.has_group(SID_ADMINISTRATORS));
        assert!(!p.has_group(SID_SYSTEM));
    }
}
