//! Completions for every shell and man pages for every command come from the
//! one CLI definition.

mod support;

use support::*;

#[test]
fn completions_and_man_pages_cover_every_command() {
    let root = TestRoot::new();
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let r = root.run(&["completions", shell]);
        assert_eq!(r.code, Some(0), "{shell}: {}", r.stderr);
        assert!(
            r.stdout.contains("xp2p")
                && r.stdout.contains("rollback")
                && r.stdout.contains("service"),
            "{shell} completions name the commands"
        );
    }
    let dir = root.path().join("man");
    let r = root.run(&["man", "--dir", dir.to_str().unwrap_or_default()]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    for page in [
        "xp2p.1",
        "xp2p-apply.1",
        "xp2p-service.1",
        "xp2p-tui.1",
        "xp2p-demo.1",
        "xp2p-status.1",
    ] {
        let text = std::fs::read_to_string(dir.join(page)).unwrap_or_default();
        assert!(text.contains(".TH"), "{page} is a man page");
    }
}
