//! One deploy per link, across server runs: the fingerprints (never the secrets)
//! of links that reached an authenticated session, in
//! `CONFIG_ROOT/.state/deploy-used-links` (`<fingerprint> <exp>` per line;
//! entries whose link has expired are dropped when the file is rewritten).

use std::io;
use std::path::PathBuf;

use crate::layout::Layout;
use crate::link::DeployLink;
use xp2p_store::atomic::write_atomic;

pub fn path(layout: &Layout) -> PathBuf {
    layout.state_dir().join("deploy-used-links")
}

fn entries(layout: &Layout) -> Vec<(String, u64)> {
    std::fs::read_to_string(path(layout))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let (fp, exp) = l.split_once(' ')?;
            Some((fp.to_string(), exp.trim().parse().ok()?))
        })
        .collect()
}

/// True when this link already served a deploy on this CONFIG_ROOT.
pub fn is_used(layout: &Layout, link: &DeployLink) -> bool {
    let fp = link.secret.fingerprint();
    entries(layout).iter().any(|(f, _)| *f == fp)
}

/// Records the link as used.
pub fn mark_used(layout: &Layout, link: &DeployLink, now: u64) -> io::Result<()> {
    let fp = link.secret.fingerprint();
    let mut text = String::new();
    for (f, exp) in entries(layout) {
        if exp > now && f != fp {
            text.push_str(&format!("{f} {exp}\n"));
        }
    }
    text.push_str(&format!("{fp} {}\n", link.exp));
    write_atomic(&path(layout), text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::link::Secret;

    #[test]
    fn marks_and_forgets_expired() {
        let d = tempfile::tempdir().unwrap();
        let l = Layout::new(d.path(), d.path().join("logs"));
        let a = DeployLink::new("h", 1, "u", 100, Secret::from_bytes([1; 32])).unwrap();
        let b = DeployLink::new("h", 1, "u", 300, Secret::from_bytes([2; 32])).unwrap();
        assert!(!is_used(&l, &a));
        mark_used(&l, &a, 50).unwrap();
        assert!(is_used(&l, &a));
        mark_used(&l, &b, 200).unwrap();
        assert!(!is_used(&l, &a), "expired entries are dropped");
        assert!(is_used(&l, &b));
        let text = std::fs::read_to_string(path(&l)).unwrap();
        assert!(!text.contains(&b.secret.to_b64()));
    }
}
