//! Allocator tuning for the long-running service.
//!
//! glibc gives each thread that allocates its own arena; the blocking pool's
//! short-lived threads then leave memory fragmented across many arenas (the
//! soak measured ~85 KB of RSS per apply with the default, ~20 KB and slowing
//! with one arena). Everywhere else (musl, macOS, Windows) the allocator has no
//! such knob and [`limit_arenas`] does nothing.

/// Caps glibc's malloc arenas at `max`; call it first thing, before other
/// threads allocate (arenas made before stay). True when the allocator took
/// the cap; false where there is no such allocator (a no-op) or it refused.
pub fn limit_arenas(max: u16) -> bool {
    imp(max)
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn imp(max: u16) -> bool {
    // SAFETY: mallopt only sets a tunable under glibc's own lock; it reads no
    // memory of ours.
    unsafe { libc::mallopt(libc::M_ARENA_MAX, i32::from(max)) == 1 }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn imp(_max: u16) -> bool {
    false
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_cap_is_taken_exactly_where_glibc_is_the_allocator() {
        let glibc = cfg!(all(target_os = "linux", target_env = "gnu"));
        assert_eq!(super::limit_arenas(2), glibc);
    }
}
