//! Randomness from the OS (getrandom): deploy secrets, session nonces, probes.

/// The OS refused to give random bytes (never expected on a working system).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the OS random source failed: {0}")]
pub struct RandomError(pub String);

/// Fills `buf` from the OS random source.
pub fn fill(buf: &mut [u8]) -> Result<(), RandomError> {
    getrandom::fill(buf).map_err(|e| RandomError(e.to_string()))
}

/// `N` fresh random bytes.
pub fn bytes<const N: usize>() -> Result<[u8; N], RandomError> {
    let mut b = [0u8; N];
    fill(&mut b)?;
    Ok(b)
}
