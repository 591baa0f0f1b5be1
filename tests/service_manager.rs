//! Running xp2p as a real service: the systemd unit (golden), `--dry-run`
//! output, readiness notification on NOTIFY_SOCKET, log files under LOG_ROOT and
//! no credential in logs, journal, runtime.json or status output.

mod service_support;
mod support;

use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::time::Duration;

use service_support::*;
use support::*;

fn xp2p(args: &[&str]) -> Run {
    Run::from_output(
        std::process::Command::new(xp2p_bin())
            .args(args)
            .env_remove("XP2P_LOG_ROOT")
            .env_remove("XP2P_CONFIG_ROOT")
            .output()
            .expect("run xp2p"),
    )
}

#[test]
fn install_dry_run_prints_the_golden_unit_and_commands() {
    let r = xp2p(&[
        "--config-root",
        "/etc/xp2p",
        "service",
        "install",
        "--dry-run",
        "--binary",
        "/usr/local/bin/xp2p",
    ]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let golden = tests_dir().join("golden/service-install-dry-run.txt");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&golden, &r.stdout).expect("write golden");
    }
    assert_eq!(
        r.stdout,
        std::fs::read_to_string(&golden).unwrap_or_default(),
        "unit or commands changed (UPDATE_GOLDEN=1 to accept)"
    );
    for line in [
        "Type=notify",
        "ExecStart=/usr/local/bin/xp2p service run --config-root /etc/xp2p",
        "Restart=on-failure",
        "RestartPreventExitStatus=78",
        "KillMode=process",
        "ProtectSystem=strict",
        "CAP_NET_ADMIN",
        "would run: systemctl daemon-reload",
        "would run: systemctl enable xp2p.service",
    ] {
        assert!(r.stdout.contains(line), "missing `{line}`");
    }
    let r = xp2p(&["service", "uninstall", "--dry-run"]);
    assert!(
        r.stdout
            .contains("would run: systemctl disable --now xp2p.service")
            && r.stdout
                .contains("would remove /etc/systemd/system/xp2p.service"),
        "{}",
        r.stdout
    );
    for verb in ["start", "stop", "restart"] {
        let r = xp2p(&["service", verb, "--dry-run"]);
        assert_eq!(
            r.stdout.trim(),
            format!("would run: systemctl {verb} xp2p.service")
        );
    }
}

#[test]
fn without_systemd_the_manager_commands_say_why() {
    if Path::new("/run/systemd/system").is_dir() {
        return eprintln!("skipped: systemd runs here");
    }
    let r = xp2p(&["service", "start"]);
    assert_eq!(r.code, Some(1));
    assert!(
        r.stderr.contains("systemd is not running on this machine"),
        "{}",
        r.stderr
    );
}

fn recv(sock: &UnixDatagram) -> String {
    let mut buf = [0u8; 512];
    match sock.recv(&mut buf) {
        Ok(n) => String::from_utf8_lossy(&buf[..n]).into_owned(),
        Err(_) => String::new(),
    }
}

#[test]
fn notify_socket_gets_ready_then_stopping_and_logs_hold_no_secret() {
    if !v2ray_available() {
        return eprintln!("skipped: no v2ray");
    }
    let p = pair();
    let notify_path = p.root.path().join("notify.sock");
    let sock = UnixDatagram::bind(&notify_path).expect("bind notify socket");
    sock.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap_or_default();
    let svc = Service::start_with(
        &p.root,
        &[("NOTIFY_SOCKET", &notify_path.display().to_string())],
    );
    let ready = recv(&sock);
    assert!(ready.starts_with("READY=1"), "got {ready:?}: {}", svc.log());
    assert!(ready.contains("STATUS=serving"), "{ready}");
    // When READY arrives the IPC socket serves and the cores are up.
    assert!(
        p.root.path().join(".state/xp2p.sock").exists(),
        "socket exists at READY"
    );
    assert!(
        port_accepts(std::net::SocketAddr::from(([127, 0, 0, 1], p.socks))),
        "client core is up at READY"
    );
    let status = p.root.run(&["status", "--json"]);
    assert_eq!(status.code, Some(0));

    assert_eq!(svc.stop(), Some(0));
    let mut stopping = recv(&sock);
    while !stopping.is_empty() && !stopping.starts_with("STOPPING=1") {
        stopping = recv(&sock);
    }
    assert!(stopping.starts_with("STOPPING=1"), "got {stopping:?}");

    // service.log (daily file) under LOG_ROOT, core logs beside it.
    let logs = p.root.path().join("logs");
    let names: Vec<String> = std::fs::read_dir(&logs)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    let service_log = names
        .iter()
        .find(|n| n.starts_with("service.") && n.ends_with(".log"));
    let service_log = service_log.unwrap_or_else(|| panic!("no service log in {names:?}"));
    assert!(
        std::fs::read_to_string(logs.join(service_log))
            .unwrap_or_default()
            .contains("xp2p service ready")
    );
    assert!(
        names.iter().any(|n| n == "core-client.log")
            && names.iter().any(|n| n == "core-server.log"),
        "{names:?}"
    );

    // The credential is in Desired and in Live's xray.json only.
    let secret = "pw-1";
    let mut places: Vec<(String, String)> = names
        .iter()
        .map(|n| {
            (
                n.clone(),
                std::fs::read_to_string(logs.join(n)).unwrap_or_default(),
            )
        })
        .collect();
    places.push((
        "journal".into(),
        std::fs::read_to_string(p.root.path().join(".state/journal.jsonl")).unwrap_or_default(),
    ));
    for role in ["client", "server"] {
        places.push((
            format!("{role} runtime.json"),
            std::fs::read_to_string(
                p.root
                    .path()
                    .join(format!(".state/live/config-{role}/runtime.json")),
            )
            .unwrap_or_default(),
        ));
        places.push((
            format!("{role} session"),
            std::fs::read_to_string(p.root.path().join(format!(".state/sessions/{role}.json")))
                .unwrap_or_default(),
        ));
    }
    places.push(("status --json".into(), status.stdout));
    places.push(("service stderr".into(), svc_log_text(&p)));
    for (name, text) in places {
        assert!(
            !text.is_empty() || name.ends_with("stderr"),
            "{name} is empty"
        );
        assert!(!text.contains(secret), "credential found in {name}");
    }
}

fn svc_log_text(p: &Pair) -> String {
    std::fs::read_dir(p.root.path())
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("service-"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .collect()
}
