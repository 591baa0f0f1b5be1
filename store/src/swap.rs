//! Live/LKG replacement as whole directories (formats.md):
//! copy current Live to LKG (temp + rename), then exchange the staged directory
//! and Live in one `renameat2(RENAME_EXCHANGE)`, then remove the old one. Live is
//! never missing, not even for an instant (the TUN owner and status read it while
//! applies run), and a crash at any instant leaves it wholly old or wholly new;
//! [`recover`] also finishes or undoes the older rename-aside layout.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::atomic::sync_dir;
use crate::layout::Layout;
use crate::role::Role;

/// Named steps inside the swap (crash points for fault injection and tests).
pub const SWAP_STEPS: [&str; 3] = ["swap_lkg_copied", "swap_live_exchanged", "swap_old_removed"];

/// Exchanges the names of two directories atomically.
fn exchange_paths(a: &Path, b: &Path) -> io::Result<()> {
    rustix::fs::renameat_with(
        rustix::fs::CWD,
        a,
        rustix::fs::CWD,
        b,
        rustix::fs::RenameFlags::EXCHANGE,
    )
    .map_err(io::Error::from)
}

fn aside(layout: &Layout, role: Role) -> PathBuf {
    layout.live_root().join(format!(".config-{role}.aside"))
}

fn lkg_tmp(layout: &Layout, role: Role) -> PathBuf {
    layout.lkg_root().join(format!(".config-{role}.tmp"))
}

fn lkg_old(layout: &Layout, role: Role) -> PathBuf {
    layout.lkg_root().join(format!(".config-{role}.old"))
}

fn remove_dir_if_exists(p: &Path) -> io::Result<()> {
    match fs::remove_dir_all(p) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Copies a flat directory of files, fsyncing each file and the new directory.
pub fn copy_dir_synced(from: &Path, to: &Path) -> io::Result<()> {
    remove_dir_if_exists(to)?;
    fs::create_dir_all(to)?;
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            let bytes = fs::read(entry.path())?;
            super::atomic::write_synced(&to.join(entry.file_name()), &bytes)?;
        }
    }
    sync_dir(to)
}

/// Hook called after each named step (fault injection); a no-op by default.
pub type StepHook<'a> = &'a dyn Fn(&str);

/// Replaces Live with `staged` (a directory on the same filesystem); the old Live
/// becomes LKG. Returns whether an old Live existed.
pub fn commit(layout: &Layout, role: Role, staged: &Path, hook: StepHook<'_>) -> io::Result<bool> {
    let live = layout.live_dir(role);
    let lkg = layout.lkg_dir(role);
    fs::create_dir_all(layout.live_root())?;
    fs::create_dir_all(layout.lkg_root())?;
    let had_live = live.is_dir();
    if had_live {
        let tmp = lkg_tmp(layout, role);
        copy_dir_synced(&live, &tmp)?;
        let old = lkg_old(layout, role);
        remove_dir_if_exists(&old)?;
        if lkg.is_dir() {
            fs::rename(&lkg, &old)?;
        }
        fs::rename(&tmp, &lkg)?;
        sync_dir(&layout.lkg_root())?;
        remove_dir_if_exists(&old)?;
        hook(SWAP_STEPS[0]);
        exchange_paths(staged, &live)?;
        sync_dir(&layout.live_root())?;
        if let Some(parent) = staged.parent() {
            sync_dir(parent)?;
        }
        hook(SWAP_STEPS[1]);
        // `staged` now holds the old Live (LKG has its copy).
        remove_dir_if_exists(staged)?;
    } else {
        fs::rename(staged, &live)?;
        sync_dir(&layout.live_root())?;
    }
    hook(SWAP_STEPS[2]);
    Ok(had_live)
}

/// Puts `source` (a copy of it) in place as Live, leaving LKG untouched.
/// With `source = None`, Live is removed (the role had no Live before).
pub fn restore(
    layout: &Layout,
    role: Role,
    source: Option<&Path>,
    scratch: &Path,
) -> io::Result<()> {
    let live = layout.live_dir(role);
    match source {
        Some(src) => {
            copy_dir_synced(src, scratch)?;
            if live.is_dir() {
                exchange_paths(scratch, &live)?;
                sync_dir(&layout.live_root())?;
                remove_dir_if_exists(scratch)
            } else {
                fs::rename(scratch, &live)?;
                sync_dir(&layout.live_root())
            }
        }
        None => {
            if live.is_dir() {
                fs::rename(&live, aside(layout, role))?;
                sync_dir(&layout.live_root())?;
            }
            remove_dir_if_exists(&aside(layout, role))
        }
    }
}

fn exchange_tmp(layout: &Layout, role: Role) -> PathBuf {
    layout.live_root().join(format!(".config-{role}.exchange"))
}

/// Swaps Live and LKG (rollback) in one atomic exchange, made durable. (An older
/// xp2p did it in three renames through X; [`recover`] still finishes those.)
pub fn exchange(layout: &Layout, role: Role, hook: StepHook<'_>) -> io::Result<()> {
    let live = layout.live_dir(role);
    let lkg = layout.lkg_dir(role);
    if !live.is_dir() || !lkg.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!(
                "rollback needs both {} and {}",
                live.display(),
                lkg.display()
            ),
        ));
    }
    exchange_paths(&live, &lkg)?;
    sync_dir(&layout.live_root())?;
    sync_dir(&layout.lkg_root())?;
    hook("exchange_done");
    Ok(())
}

/// What start-up recovery did to a role's Live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recovery {
    Clean,
    /// Live was missing but the aside copy existed: the old Live was put back.
    UndidSwap,
    /// Both existed: the new Live was in; the aside copy was removed.
    FinishedSwap,
}

pub fn recover(layout: &Layout, role: Role) -> io::Result<Recovery> {
    let live = layout.live_dir(role);
    let aside = aside(layout, role);
    let x = exchange_tmp(layout, role);
    if x.is_dir() {
        if !live.is_dir() {
            fs::rename(&x, &live)?;
            sync_dir(&layout.live_root())?;
            return Ok(Recovery::UndidSwap);
        }
        if !layout.lkg_dir(role).is_dir() {
            fs::rename(&x, layout.lkg_dir(role))?;
            sync_dir(&layout.lkg_root())?;
            return Ok(Recovery::FinishedSwap);
        }
        remove_dir_if_exists(&x)?;
    }
    remove_dir_if_exists(&lkg_tmp(layout, role))?;
    let old = lkg_old(layout, role);
    if old.is_dir() && !layout.lkg_dir(role).is_dir() {
        fs::rename(&old, layout.lkg_dir(role))?;
    }
    remove_dir_if_exists(&old)?;
    if !aside.is_dir() {
        return Ok(Recovery::Clean);
    }
    if live.is_dir() {
        remove_dir_if_exists(&aside)?;
        Ok(Recovery::FinishedSwap)
    } else {
        fs::rename(&aside, &live)?;
        sync_dir(&layout.live_root())?;
        Ok(Recovery::UndidSwap)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stage(dir: &Path, content: &str) -> PathBuf {
        let p = dir.join(format!("st-{content}"));
        fs::create_dir_all(&p).unwrap();
        fs::write(p.join("xray.json"), content).unwrap();
        p
    }

    #[test]
    fn commit_moves_live_to_lkg_and_restore_undoes() {
        let d = tempfile::tempdir().unwrap();
        let l = Layout::new(d.path(), d.path().join("logs"));
        fs::create_dir_all(l.staging_dir()).unwrap();
        assert!(!commit(&l, Role::Client, &stage(&l.staging_dir(), "one"), &|_| {}).unwrap());
        assert!(commit(&l, Role::Client, &stage(&l.staging_dir(), "two"), &|_| {}).unwrap());
        let read = |p: PathBuf| fs::read_to_string(p.join("xray.json")).unwrap();
        assert_eq!(read(l.live_dir(Role::Client)), "two");
        assert_eq!(read(l.lkg_dir(Role::Client)), "one");
        restore(
            &l,
            Role::Client,
            Some(&l.lkg_dir(Role::Client)),
            &l.staging_dir().join("r"),
        )
        .unwrap();
        assert_eq!(read(l.live_dir(Role::Client)), "one");
        assert_eq!(read(l.lkg_dir(Role::Client)), "one");
        restore(&l, Role::Client, None, &l.staging_dir().join("r")).unwrap();
        assert!(!l.live_dir(Role::Client).exists());
    }

    #[test]
    fn exchange_swaps_and_recovers_at_each_cut() {
        let d = tempfile::tempdir().unwrap();
        let l = Layout::new(d.path(), d.path().join("logs"));
        fs::create_dir_all(l.staging_dir()).unwrap();
        commit(&l, Role::Client, &stage(&l.staging_dir(), "one"), &|_| {}).unwrap();
        commit(&l, Role::Client, &stage(&l.staging_dir(), "two"), &|_| {}).unwrap();
        let read = |p: PathBuf| fs::read_to_string(p.join("xray.json")).unwrap();
        exchange(&l, Role::Client, &|_| {}).unwrap();
        assert_eq!(read(l.live_dir(Role::Client)), "one");
        assert_eq!(read(l.lkg_dir(Role::Client)), "two");
        // cut after the first rename: undone
        fs::rename(l.live_dir(Role::Client), exchange_tmp(&l, Role::Client)).unwrap();
        assert_eq!(recover(&l, Role::Client).unwrap(), Recovery::UndidSwap);
        assert_eq!(read(l.live_dir(Role::Client)), "one");
        // cut after the second rename: finished
        fs::rename(l.live_dir(Role::Client), exchange_tmp(&l, Role::Client)).unwrap();
        fs::rename(l.lkg_dir(Role::Client), l.live_dir(Role::Client)).unwrap();
        assert_eq!(recover(&l, Role::Client).unwrap(), Recovery::FinishedSwap);
        assert_eq!(read(l.live_dir(Role::Client)), "two");
        assert_eq!(read(l.lkg_dir(Role::Client)), "one");
    }

    #[test]
    fn live_is_present_at_every_step_of_a_commit_and_a_rollback() {
        let d = tempfile::tempdir().unwrap();
        let l = Layout::new(d.path(), d.path().join("logs"));
        fs::create_dir_all(l.staging_dir()).unwrap();
        commit(&l, Role::Client, &stage(&l.staging_dir(), "one"), &|_| {}).unwrap();
        let live = l.live_dir(Role::Client);
        let seen = std::cell::RefCell::new(Vec::new());
        let hook = |step: &str| {
            let text = fs::read_to_string(live.join("xray.json")).unwrap_or_default();
            seen.borrow_mut().push(format!("{step}:{text}"));
        };
        commit(&l, Role::Client, &stage(&l.staging_dir(), "two"), &hook).unwrap();
        exchange(&l, Role::Client, &hook).unwrap();
        assert_eq!(
            seen.into_inner(),
            vec![
                "swap_lkg_copied:one",
                "swap_live_exchanged:two",
                "swap_old_removed:two",
                "exchange_done:one"
            ]
        );
        assert!(
            !l.staging_dir().join("st-two").exists(),
            "the old Live is removed"
        );
        assert_eq!(
            fs::read_to_string(l.lkg_dir(Role::Client).join("xray.json")).unwrap(),
            "two"
        );
    }

    #[test]
    fn recover_undoes_a_swap_cut_after_live_aside() {
        let d = tempfile::tempdir().unwrap();
        let l = Layout::new(d.path(), d.path().join("logs"));
        fs::create_dir_all(l.staging_dir()).unwrap();
        commit(&l, Role::Server, &stage(&l.staging_dir(), "one"), &|_| {}).unwrap();
        // simulate: Live renamed aside, new not yet in
        fs::rename(l.live_dir(Role::Server), aside(&l, Role::Server)).unwrap();
        assert_eq!(recover(&l, Role::Server).unwrap(), Recovery::UndidSwap);
        assert_eq!(
            fs::read_to_string(l.live_dir(Role::Server).join("xray.json")).unwrap(),
            "one"
        );
        assert_eq!(recover(&l, Role::Server).unwrap(), Recovery::Clean);
    }
}
