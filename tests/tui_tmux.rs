//! The console driven for real: `xp2p tui` in a tmux pane against a running
//! service and v2ray. Keys go in with send-keys; the screen is read with
//! capture-pane.

mod service_support;
mod support;
mod tmux_support;

use std::process::Command;
use std::time::Duration;

use service_support::*;
use support::*;
use tmux_support::Tmux;

#[test]
fn console_shows_the_role_applies_diffs_and_quits_cleanly() {
    if !v2ray_available() || Command::new("tmux").arg("-V").output().is_err() {
        return eprintln!("skipped: needs v2ray and tmux");
    }
    let p = pair();
    let toml = p.root.path().join("xp2p-client.toml");
    let text = std::fs::read_to_string(&toml).unwrap_or_default();
    // The watcher stays out of the way: applies happen when the console asks.
    std::fs::write(&toml, format!("[service]\ndebounce_ms = 600000\n\n{text}")).unwrap_or_default();
    let svc = Service::start(&p.root);
    assert!(
        wait_until(LONG, || svc.log().contains("xp2p service ready")),
        "{}",
        svc.log()
    );
    p.wait_outcomes("client", 1);
    let pid = session_pid(&p.root, "client").unwrap_or_default();

    let exit_file = p.root.path().join("tui.exit");
    let cmd = format!(
        "env NO_COLOR=1 XP2P_LOG_ROOT={logs} {bin} --config-root {root} tui --role client; echo $? > {exit}; sleep 60",
        logs = p.root.path().join("logs").display(),
        bin = xp2p_bin().display(),
        root = p.root.path().display(),
        exit = exit_file.display(),
    );
    let tmux = Tmux {
        socket: format!("xp2p-test-{}", random_token()),
    };
    tmux.run(&[
        "new-session",
        "-d",
        "-s",
        "tui",
        "-x",
        "100",
        "-y",
        "30",
        &cmd,
    ]);

    // The dashboard names the role and its core pid.
    assert!(tmux.wait_for(&format!("pid {pid}")), "{}", tmux.screen());
    assert!(tmux.screen().contains(" client "), "{}", tmux.screen());
    assert!(tmux.screen().contains("online"), "{}", tmux.screen());

    // A Desired edit shows up in the Diff view (Desired ↔ Live) with the changed key.
    p.append_client("\n[[client.redirects]]\ncidr = \"10.77.0.0/16\"\noutbound_tag = \"direct\"\n");
    tmux.keys("2");
    assert!(tmux.wait_for("10.77.0.0/16"), "{}", tmux.screen());
    assert!(
        tmux.screen().contains("/routing/rules/"),
        "changed paths listed: {}",
        tmux.screen()
    );

    // `a` applies: the phases with their milliseconds, then committed.
    tmux.keys("1");
    tmux.keys("a");
    assert!(tmux.wait_for("client: committed in"), "{}", tmux.screen());
    let screen = tmux.screen();
    for phase in [
        "received",
        "compiled",
        "validated",
        "committed_live",
        "healthy",
        "done",
    ] {
        assert!(screen.contains(phase), "phase {phase} shown: {screen}");
    }
    assert!(
        String::from_utf8_lossy(&std::fs::read(p.live("client")).unwrap_or_default())
            .contains("10.77.0.0/16")
    );

    // `q` quits with 0 and gives the terminal back (no alternate screen).
    tmux.keys("q");
    assert!(wait_until(LONG, || exit_file.exists()), "{}", tmux.screen());
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(
        std::fs::read_to_string(&exit_file)
            .unwrap_or_default()
            .trim(),
        "0"
    );
    assert_eq!(
        tmux.run(&["display-message", "-p", "-t", "tui", "#{alternate_on}"])
            .trim(),
        "0",
        "alternate screen left"
    );
    assert!(
        !tmux.screen().contains("Dashboard"),
        "console gone from the screen: {}",
        tmux.screen()
    );
    drop(svc);
}
