//! A private tmux server for the console tests: keys in with send-keys, the
//! screen read back with capture-pane; the server is killed on drop.
#![allow(dead_code)]

use std::process::Command;
use std::time::Duration;

use crate::support::wait_until;

/// How long a screen may take to show what a test waits for.
pub const SCREEN_WAIT: Duration = Duration::from_secs(30);

pub struct Tmux {
    /// The `-L` socket name: one tmux server per test.
    pub socket: String,
}

impl Tmux {
    pub fn run(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .output()
            .expect("tmux");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", "tui"])
    }

    /// Keys by their tmux names (`a`, `Tab`, `Enter`).
    pub fn keys(&self, keys: &str) {
        self.run(&["send-keys", "-t", "tui", keys]);
    }

    /// Text typed as is.
    pub fn type_text(&self, text: &str) {
        self.run(&["send-keys", "-t", "tui", "-l", text]);
    }

    pub fn wait_for(&self, what: &str) -> bool {
        wait_until(SCREEN_WAIT, || self.screen().contains(what))
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        self.run(&["kill-server"]);
    }
}
