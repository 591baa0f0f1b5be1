//! Fault injection: with the `fault-injection` feature, `XP2P_CRASH_AT=<point>`
//! aborts the service right after the named journal phase is appended (or at a
//! named step inside the Live swap), before the side effect that follows;
//! `XP2P_JOURNAL_FULL_AT=<phase>` makes the journal append of that phase's
//! (non-terminal) record fail as a full disk would.

use xp2p_store::journal::Phase;

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

#[cfg(feature = "fault-injection")]
pub fn journal_full_at(phase: Phase) -> Result<(), String> {
    if std::env::var("XP2P_JOURNAL_FULL_AT").is_ok_and(|p| phase == p.as_str()) {
        return Err(format!(
            "journal: {} (injected at {phase})",
            std::io::Error::from_raw_os_error(28)
        ));
    }
    Ok(())
}

#[cfg(not(feature = "fault-injection"))]
#[inline(always)]
pub fn journal_full_at(_phase: Phase) -> Result<(), String> {
    Ok(())
}
