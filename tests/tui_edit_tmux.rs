//! The console edits for real: `xp2p tui` in a tmux pane against a running
//! service and v2ray adds a redirect through the Routes form, confirms it on
//! the compiled diff, and the service writes Desired and applies it.

mod service_support;
mod support;
mod tmux_support;

use std::process::Command;

use service_support::*;
use support::*;
use tmux_support::Tmux;

#[test]
fn console_adds_a_redirect_through_the_form_and_the_service_applies_it() {
    if !v2ray_available() || Command::new("tmux").arg("-V").output().is_err() {
        return eprintln!("skipped: needs v2ray and tmux");
    }
    let p = pair();
    let toml = p.root.path().join("xp2p-client.toml");
    let text = std::fs::read_to_string(&toml).unwrap_or_default();
    // The watcher stays out of the way: the only apply is the one the edit asks for.
    let original = format!("# kept by the editor\n[service]\ndebounce_ms = 600000\n\n{text}");
    std::fs::write(&toml, &original).expect("client toml");
    let svc = Service::start(&p.root);
    assert!(
        wait_until(LONG, || svc.log().contains("xp2p service ready")),
        "{}",
        svc.log()
    );
    let before = p.wait_outcomes("client", 1).len();

    let cmd = format!(
        "env NO_COLOR=1 XP2P_LOG_ROOT={logs} {bin} --config-root {root} tui --role client; sleep 60",
        logs = p.root.path().join("logs").display(),
        bin = xp2p_bin().display(),
        root = p.root.path().display(),
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
        "110",
        "-y",
        "34",
        &cmd,
    ]);
    assert!(tmux.wait_for("online"), "{}", tmux.screen());

    // 7: Routes, listing the role's Desired through the service (empty yet).
    tmux.keys("7");
    assert!(
        tmux.wait_for("no redirects or forwards yet"),
        "{}",
        tmux.screen()
    );
    assert!(tmux.screen().contains("a add"), "{}", tmux.screen());

    // A bad CIDR is refused in the form, one line naming the field.
    tmux.keys("a");
    assert!(tmux.wait_for("add a client route"), "{}", tmux.screen());
    assert!(
        tmux.screen().contains("proxy-localhost"),
        "via starts as the endpoint: {}",
        tmux.screen()
    );
    tmux.type_text("10.77.0.0/99");
    tmux.keys("Enter");
    assert!(tmux.wait_for("match: "), "{}", tmux.screen());
    for _ in 0.."10.77.0.0/99".len() {
        tmux.keys("BSpace");
    }
    tmux.type_text("10.77.0.0/16");
    tmux.keys("Enter");

    // The confirm step: the summary and the compiled diff, nothing written yet.
    assert!(tmux.wait_for("confirm client edit"), "{}", tmux.screen());
    let screen = tmux.screen();
    assert!(
        screen.contains("added redirect 10.77.0.0/16 via proxy-localhost"),
        "{screen}"
    );
    assert!(screen.contains("compiled config"), "{screen}");
    assert!(screen.contains("10.77.0.0/16"), "{screen}");
    assert_eq!(
        std::fs::read_to_string(&toml).unwrap_or_default(),
        original,
        "the dry run wrote nothing"
    );

    // y: the service writes Desired and requests the apply; it commits.
    tmux.keys("y");
    assert!(tmux.wait_for("apply requested"), "{}", tmux.screen());
    assert!(
        tmux.wait_for("client: committed in"),
        "the apply's result: {}",
        tmux.screen()
    );
    assert!(
        tmux.wait_for("via proxy-localhost"),
        "the list shows the new redirect: {}",
        tmux.screen()
    );
    assert_eq!(p.wait_outcomes("client", before + 1).len(), before + 1);

    // The dashboard shows the apply committed with its phases.
    tmux.keys("1");
    assert!(tmux.wait_for("done"), "{}", tmux.screen());
    let screen = tmux.screen();
    assert!(screen.contains("committed"), "{screen}");

    // Live has the redirect; the TOML has it and kept the operator's text.
    let live = String::from_utf8_lossy(&read_bytes(&p.live("client"))).into_owned();
    assert!(live.contains("10.77.0.0/16"), "{live}");
    let now = std::fs::read_to_string(&toml).unwrap_or_default();
    assert!(now.starts_with("# kept by the editor\n"), "{now}");
    for line in original.lines() {
        assert!(now.contains(line), "`{line}` kept: {now}");
    }
    assert!(now.contains("cidr = \"10.77.0.0/16\""), "{now}");
    assert!(now.contains("outbound_tag = \"proxy-localhost\""), "{now}");
    tmux.keys("q");
    drop(svc);
}
