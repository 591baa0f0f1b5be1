//! Cleanup when a one-shot deploy is interrupted (SIGINT, SIGTERM, SIGHUP).
//!
//! Guards ([`super::tempcore`]) register the temporary core's pid and the temp
//! directory here and unregister on drop. A command that calls [`install`] (before
//! it starts any thread) gets a signal thread that, on one of those signals, kills
//! what is registered, removes the directories and exits with 128 + signal — so
//! even Ctrl-C leaves no core and no temp directory behind. Children start with
//! no blocked signal (`xp2p_platform::process`), and die with their parent
//! (`PR_SET_PDEATHSIG`) should the whole process be killed with SIGKILL.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;

enum Item {
    Pid(i32),
    Dir(PathBuf),
}

struct Registry {
    next: u64,
    items: BTreeMap<u64, Item>,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    next: 0,
    items: BTreeMap::new(),
});

fn with<T>(f: impl FnOnce(&mut Registry) -> T) -> T {
    let mut guard = REGISTRY.lock().unwrap_or_else(|p| p.into_inner());
    f(&mut guard)
}

/// Keeps an entry registered until passed to [`unregister`].
#[derive(Debug)]
pub struct Token(u64);

fn register(item: Item) -> Token {
    with(|r| {
        r.next += 1;
        let id = r.next;
        r.items.insert(id, item);
        Token(id)
    })
}

pub fn register_pid(pid: i32) -> Token {
    register(Item::Pid(pid))
}

pub fn register_dir(dir: PathBuf) -> Token {
    register(Item::Dir(dir))
}

pub fn unregister(token: Token) {
    with(|r| r.items.remove(&token.0));
}

/// Kills every registered process and removes every registered directory;
/// false when there was nothing to clean.
fn cleanup_all() -> bool {
    let items: Vec<Item> = with(|r| std::mem::take(&mut r.items).into_values().collect());
    for item in &items {
        if let Item::Pid(pid) = item {
            // SAFETY: plain kill(2) on a pid we spawned and have not reaped.
            unsafe {
                libc::kill(*pid, libc::SIGKILL);
            }
        }
    }
    for item in &items {
        match item {
            Item::Pid(pid) => {
                let mut status = 0;
                // SAFETY: reaping our own child; WNOHANG-free wait is fine after SIGKILL.
                unsafe {
                    libc::waitpid(*pid, &mut status, 0);
                }
            }
            Item::Dir(dir) => {
                let _ = std::fs::remove_dir_all(dir);
            }
        }
    }
    !items.is_empty()
}

fn signal_set() -> libc::sigset_t {
    // SAFETY: sigset manipulation on a local, zero-initialised set.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGHUP);
        set
    }
}

/// Blocks SIGINT/SIGTERM/SIGHUP in the calling thread (threads started later
/// inherit the mask) and starts the thread that cleans up and exits on them.
/// Call it first, before any other thread exists.
pub fn install() -> std::io::Result<()> {
    let set = signal_set();
    // SAFETY: changing this thread's signal mask with a valid set.
    let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    if rc != 0 {
        return Err(std::io::Error::from_raw_os_error(rc));
    }
    std::thread::Builder::new()
        .name("deploy-signals".into())
        .spawn(move || {
            let mut sig: libc::c_int = 0;
            // SAFETY: sigwait on a valid set that every thread has blocked.
            let rc = unsafe { libc::sigwait(&set, &mut sig) };
            if rc == 0 {
                if cleanup_all() {
                    eprintln!("interrupted: the temporary core was stopped and its files removed");
                } else {
                    eprintln!("interrupted");
                }
                std::process::exit(128 + sig);
            }
        })?;
    Ok(())
}
