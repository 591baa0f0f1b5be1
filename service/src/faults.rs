//! Fault injection: with the `fault-injection` feature, `XP2P_CRASH_AT=<point>`
//! aborts the service right after the named journal phase is appended (or at a
//! named step inside the Live swap), before the side effect that follows.

#[cfg(feature = "fault-injection")]
pub fn maybe_crash(point: &str) {
    if std::env::var("XP2P_CRASH_AT").is_ok_and(|p| p == point) {
        eprintln!("xp2p: fault injection: aborting at {point}");
        std::process::abort();
    }
}

#[cfg(not(feature = "fault-injection"))]
#[inline(always)]
pub fn maybe_crash(_point: &str) {}
