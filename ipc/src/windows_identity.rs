//! Windows security primitives for the IPC pipe, and the only place the pipe's
//! unsafe FFI lives (windows-sys 0.61): a security descriptor built from SDDL
//! (freed with `LocalFree`), the process id and token identity (user SID,
//! enabled group SIDs) of a pipe's client, this process's own identity, and
//! account-name → SID lookup for `[service] socket_group`.
//!
//! `cfg(windows)` only, never compiled on Windows here (README "Windows"). It
//! uses nothing but `std` and windows-sys, which also compiles on Linux, so its
//! calls were type-checked against windows-sys 0.61.2 there by including this
//! file in a scratch crate; it has never run.

use std::ffi::c_void;
use std::mem::size_of;
use std::ptr;

use windows_sys::Win32::Foundation::{
    CloseHandle, ERROR_INSUFFICIENT_BUFFER, HANDLE, HLOCAL, LocalFree,
};
use windows_sys::Win32::Security::Authorization::{
    ConvertSidToStringSidW, ConvertStringSecurityDescriptorToSecurityDescriptorW,
    ConvertStringSidToSidW, SDDL_REVISION_1,
};
use windows_sys::Win32::Security::{
    GetTokenInformation, LookupAccountNameW, PSECURITY_DESCRIPTOR, PSID, SECURITY_ATTRIBUTES,
    SID_AND_ATTRIBUTES, SID_NAME_USE, TOKEN_GROUPS, TOKEN_INFORMATION_CLASS, TOKEN_QUERY,
    TOKEN_USER, TokenGroups, TokenUser,
};
use windows_sys::Win32::System::Pipes::GetNamedPipeClientProcessId;
use windows_sys::Win32::System::Threading::{
    GetCurrentProcess, OpenProcess, OpenProcessToken, PROCESS_QUERY_LIMITED_INFORMATION,
};

use super::windows_pipe::{PeerIdentity, is_sid_string};

/// `SE_GROUP_ENABLED` / `SE_GROUP_USE_FOR_DENY_ONLY` (winnt.h; windows-sys puts
/// them in `System::SystemServices` as `i32`, a feature we do not otherwise need).
const SE_GROUP_ENABLED: u32 = 0x0000_0004;
const SE_GROUP_USE_FOR_DENY_ONLY: u32 = 0x0000_0010;

fn last_error(step: &str) -> String {
    format!("{step}: {}", std::io::Error::last_os_error())
}

/// NUL-terminated UTF-16; `None` if `s` holds a NUL of its own.
fn wide(s: &str) -> Option<Vec<u16>> {
    if s.contains('\0') {
        return None;
    }
    Some(s.encode_utf16().chain(std::iter::once(0)).collect())
}

/// Reads a NUL-terminated UTF-16 string.
///
/// # Safety
/// `p` is null or points at a NUL-terminated UTF-16 string.
unsafe fn from_wide(p: *const u16) -> String {
    if p.is_null() {
        return String::new();
    }
    let mut len = 0usize;
    // SAFETY: the caller promises a terminating NUL, so every read up to it is
    // inside the string.
    unsafe {
        while *p.add(len) != 0 {
            len += 1;
        }
        String::from_utf16_lossy(std::slice::from_raw_parts(p, len))
    }
}

/// A kernel handle closed on drop.
struct Handle(HANDLE);

impl Drop for Handle {
    fn drop(&mut self) {
        if !self.0.is_null() {
            // SAFETY: we own the handle and close it once.
            unsafe { CloseHandle(self.0) };
        }
    }
}

/// Memory the system allocated with `LocalAlloc`, freed on drop.
struct LocalMem(*mut c_void);

impl Drop for LocalMem {
    fn drop(&mut self) {
        if !self.0.is_null() {
            // SAFETY: the pointer came from an API documented to allocate with
            // LocalAlloc, and is freed once.
            unsafe { LocalFree(self.0 as HLOCAL) };
        }
    }
}

/// A self-relative security descriptor converted from SDDL.
pub struct SecurityDescriptor {
    mem: LocalMem,
}

impl SecurityDescriptor {
    /// Converts `sddl` (e.g. `D:P(A;;GA;;;SY)…`); the error names the SDDL.
    pub fn from_sddl(sddl: &str) -> Result<SecurityDescriptor, String> {
        let text = wide(sddl).ok_or_else(|| format!("SDDL {sddl:?} contains a NUL"))?;
        let mut sd: PSECURITY_DESCRIPTOR = ptr::null_mut();
        // SAFETY: `text` is NUL-terminated and outlives the call; `sd` receives a
        // LocalAlloc'ed descriptor that LocalMem frees; the size out-pointer may be null.
        let ok = unsafe {
            ConvertStringSecurityDescriptorToSecurityDescriptorW(
                text.as_ptr(),
                SDDL_REVISION_1,
                &mut sd,
                ptr::null_mut(),
            )
        };
        if ok == 0 || sd.is_null() {
            return Err(last_error(&format!(
                "cannot build the pipe's security descriptor from SDDL {sddl:?}"
            )));
        }
        Ok(SecurityDescriptor { mem: LocalMem(sd) })
    }

    /// Calls `f` with a pointer to `SECURITY_ATTRIBUTES` (not inheritable) that
    /// holds this descriptor and stays valid for the duration of the call — the
    /// form `ServerOptions::create_with_security_attributes_raw` takes.
    pub fn with_attributes<R>(&self, f: impl FnOnce(*mut c_void) -> R) -> R {
        let mut attrs = SECURITY_ATTRIBUTES {
            nLength: size_of::<SECURITY_ATTRIBUTES>() as u32,
            lpSecurityDescriptor: self.mem.0,
            bInheritHandle: 0,
        };
        f((&mut attrs as *mut SECURITY_ATTRIBUTES).cast())
    }
}

/// A SID as its `S-1-…` string.
///
/// # Safety
/// `sid` points at a valid SID.
unsafe fn sid_string(sid: PSID) -> Result<String, String> {
    let mut out: *mut u16 = ptr::null_mut();
    // SAFETY: `sid` is valid (caller); `out` receives a LocalAlloc'ed string.
    let ok = unsafe { ConvertSidToStringSidW(sid, &mut out) };
    if ok == 0 || out.is_null() {
        return Err(last_error("cannot convert a SID to text"));
    }
    let mem = LocalMem(out.cast());
    // SAFETY: ConvertSidToStringSidW returned a NUL-terminated string.
    let text = unsafe { from_wide(out) };
    drop(mem);
    Ok(text)
}

/// `GetTokenInformation` into a buffer aligned for the structures it returns.
fn token_information(
    token: HANDLE,
    class: TOKEN_INFORMATION_CLASS,
    what: &str,
) -> Result<Vec<u64>, String> {
    let mut needed: u32 = 0;
    // SAFETY: a size query: null buffer of length 0, `needed` receives the size.
    let ok = unsafe { GetTokenInformation(token, class, ptr::null_mut(), 0, &mut needed) };
    if ok == 0 {
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() != Some(ERROR_INSUFFICIENT_BUFFER as i32) || needed == 0 {
            return Err(format!("cannot read the token's {what}: {err}"));
        }
    }
    let mut buf = vec![0u64; (needed as usize).div_ceil(size_of::<u64>())];
    let len = (buf.len() * size_of::<u64>()) as u32;
    // SAFETY: `buf` is `len` bytes, 8-byte aligned (enough for TOKEN_USER and
    // TOKEN_GROUPS), and outlives the call.
    let ok =
        unsafe { GetTokenInformation(token, class, buf.as_mut_ptr().cast(), len, &mut needed) };
    if ok == 0 {
        return Err(last_error(&format!("cannot read the token's {what}")));
    }
    Ok(buf)
}

/// User and enabled groups of an access token.
fn token_identity(token: HANDLE, pid: u32) -> Result<PeerIdentity, String> {
    let user_buf = token_information(token, TokenUser, "user")?;
    // SAFETY: GetTokenInformation(TokenUser) filled `user_buf` with a TOKEN_USER
    // whose SID points inside the same buffer, which is still alive.
    let user_sid = unsafe {
        let user = &*(user_buf.as_ptr() as *const TOKEN_USER);
        sid_string(user.User.Sid)?
    };
    let groups_buf = token_information(token, TokenGroups, "groups")?;
    let bytes = groups_buf.len() * size_of::<u64>();
    let mut group_sids = Vec::new();
    // SAFETY: the buffer holds a TOKEN_GROUPS; its `Groups` array has GroupCount
    // entries inside the buffer (checked against the buffer's size before the
    // slice is made); each SID points inside the same live buffer.
    unsafe {
        let groups = groups_buf.as_ptr() as *const TOKEN_GROUPS;
        let count = (*groups).GroupCount as usize;
        let first = ptr::addr_of!((*groups).Groups) as *const SID_AND_ATTRIBUTES;
        let offset = (first as usize) - (groups as usize);
        if offset + count * size_of::<SID_AND_ATTRIBUTES>() > bytes {
            return Err(format!(
                "the token's group list claims {count} entries, more than its buffer holds"
            ));
        }
        for g in std::slice::from_raw_parts(first, count) {
            if g.Attributes & SE_GROUP_ENABLED != 0
                && g.Attributes & SE_GROUP_USE_FOR_DENY_ONLY == 0
            {
                group_sids.push(sid_string(g.Sid)?);
            }
        }
    }
    Ok(PeerIdentity {
        pid,
        user_sid,
        group_sids,
    })
}

/// The identity of process `pid` (its primary token).
pub fn process_identity(pid: u32) -> Result<PeerIdentity, String> {
    // SAFETY: plain call; a null result is an error.
    let process = unsafe { OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, 0, pid) };
    if process.is_null() {
        return Err(last_error(&format!("cannot open process {pid}")));
    }
    let process = Handle(process);
    let mut token: HANDLE = ptr::null_mut();
    // SAFETY: `process` is a live handle with query rights; `token` receives a handle we close.
    let ok = unsafe { OpenProcessToken(process.0, TOKEN_QUERY, &mut token) };
    if ok == 0 || token.is_null() {
        return Err(last_error(&format!(
            "cannot open the token of process {pid}"
        )));
    }
    let token = Handle(token);
    token_identity(token.0, pid)
}

/// The identity this process runs as.
pub fn current_identity() -> Result<PeerIdentity, String> {
    let mut token: HANDLE = ptr::null_mut();
    // SAFETY: GetCurrentProcess returns a pseudo handle that needs no closing;
    // `token` receives a real handle that we close.
    let ok = unsafe { OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &mut token) };
    if ok == 0 || token.is_null() {
        return Err(last_error("cannot open this process's token"));
    }
    let token = Handle(token);
    token_identity(token.0, std::process::id())
}

/// The process id of the client connected to the server end `pipe`.
pub fn pipe_client_pid(pipe: *mut c_void) -> Result<u32, String> {
    let mut pid: u32 = 0;
    // SAFETY: `pipe` is the caller's live server handle; `pid` is written.
    let ok = unsafe { GetNamedPipeClientProcessId(pipe as HANDLE, &mut pid) };
    if ok == 0 {
        return Err(last_error("cannot get the pipe client's process id"));
    }
    Ok(pid)
}

/// Who is connected to the server end `pipe` (the handle of a
/// `NamedPipeServer`, from `AsRawHandle`). Identifies the client *process*: a
/// client that handed its pipe handle to another process is still seen as itself.
pub fn pipe_client_identity(pipe: *mut c_void) -> Result<PeerIdentity, String> {
    process_identity(pipe_client_pid(pipe)?)
}

/// The SID of an account or group: `S-1-…` is checked and returned in canonical
/// form; anything else is looked up by name (`Users`, `DOMAIN\group`).
pub fn account_sid(name: &str) -> Result<String, String> {
    let text = wide(name).ok_or_else(|| format!("account name {name:?} contains a NUL"))?;
    if name.starts_with("S-1-") {
        let mut sid: PSID = ptr::null_mut();
        // SAFETY: `text` is NUL-terminated; `sid` receives a LocalAlloc'ed SID.
        let ok = unsafe { ConvertStringSidToSidW(text.as_ptr(), &mut sid) };
        if ok == 0 || sid.is_null() {
            return Err(last_error(&format!("{name:?} is not a valid SID")));
        }
        let mem = LocalMem(sid);
        // SAFETY: `sid` is the valid SID just converted, alive until `mem` drops.
        let canonical = unsafe { sid_string(sid) };
        drop(mem);
        return canonical;
    }
    let mut sid_len: u32 = 0;
    let mut domain_len: u32 = 0;
    let mut use_: SID_NAME_USE = 0;
    // SAFETY: a size query: null buffers with zero sizes; the sizes are written.
    let ok = unsafe {
        LookupAccountNameW(
            ptr::null(),
            text.as_ptr(),
            ptr::null_mut(),
            &mut sid_len,
            ptr::null_mut(),
            &mut domain_len,
            &mut use_,
        )
    };
    if ok == 0 {
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() != Some(ERROR_INSUFFICIENT_BUFFER as i32) || sid_len == 0 {
            return Err(format!("no account or group named {name:?}: {err}"));
        }
    }
    let mut sid_buf = vec![0u64; (sid_len as usize).div_ceil(size_of::<u64>())];
    let mut domain = vec![0u16; domain_len.max(1) as usize];
    let mut sid_len = (sid_buf.len() * size_of::<u64>()) as u32;
    let mut domain_len = domain.len() as u32;
    // SAFETY: both buffers are as large as the lengths passed and outlive the call.
    let ok = unsafe {
        LookupAccountNameW(
            ptr::null(),
            text.as_ptr(),
            sid_buf.as_mut_ptr().cast(),
            &mut sid_len,
            domain.as_mut_ptr(),
            &mut domain_len,
            &mut use_,
        )
    };
    if ok == 0 {
        return Err(last_error(&format!("cannot look up the account {name:?}")));
    }
    // SAFETY: LookupAccountNameW wrote a valid SID into `sid_buf`, still alive.
    let sid = unsafe { sid_string(sid_buf.as_mut_ptr().cast())? };
    if !is_sid_string(&sid) {
        return Err(format!(
            "the account {name:?} has an unexpected SID {sid:?}"
        ));
    }
    Ok(sid)
}
