use super::*;

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

#[test]
fn exit_code_is_reported_and_cached() {
    let d = tmp();
    let p = CoreProcess::spawn(&sh("exit 7", &d.path().join("log"))).unwrap();
    let e = p.wait_timeout(Duration::from_secs(60)).unwrap();
    assert_eq!(e.code, Some(7));
    // Reaped once; asked again, the same answer.
    assert_eq!(p.try_exit(), Some(e));
}

#[test]
fn output_goes_to_the_log_with_its_mode() {
    use std::os::unix::fs::PermissionsExt;
    let d = tmp();
    let log = d.path().join("sub/log");
    let p = CoreProcess::spawn(&sh("echo hello; echo err >&2", &log)).unwrap();
    p.wait_timeout(Duration::from_secs(60)).unwrap();
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("hello") && text.contains("err"), "{text}");
    let mode = std::fs::metadata(&log).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
}

#[test]
fn stop_escalates_to_kill_when_term_is_ignored() {
    let d = tmp();
    let log = d.path().join("log");
    let p = CoreProcess::spawn(&sh(
        "trap '' TERM; echo up; while :; do sleep 1; done",
        &log,
    ))
    .unwrap();
    // Wait until the trap is installed (the script says so).
    let deadline = Instant::now() + Duration::from_secs(60);
    while !std::fs::read_to_string(&log)
        .unwrap_or_default()
        .contains("up")
    {
        assert!(Instant::now() < deadline, "script never started");
        p.wait_timeout(Duration::from_millis(20));
    }
    let e = p.stop_blocking(Duration::from_millis(200));
    assert_eq!(e.signal, Some(libc::SIGKILL), "{e:?}");
}

#[test]
fn wait_listening_fails_at_once_when_the_process_exits() {
    let d = tmp();
    let p = CoreProcess::spawn(&sh("exit 3", &d.path().join("log"))).unwrap();
    match p.wait_listening(&[1], Duration::from_secs(60)) {
        Err(NotReady::Exited(e)) => assert_eq!(e.code, Some(3)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn wait_listening_sees_the_processes_own_socket() {
    let d = tmp();
    // python3 is a test dependency of the project (.ci installs it).
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    let script = format!(
        "exec python3 -c 'import socket,time; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind((\"127.0.0.1\",{port})); s.listen(); time.sleep(120)'"
    );
    let p = CoreProcess::spawn(&sh(&script, &d.path().join("log"))).unwrap();
    let r = p.wait_listening(&[port], Duration::from_secs(60));
    let _ = p.stop_blocking(Duration::from_secs(5));
    assert_eq!(r, Ok(()));
}

#[test]
fn adopted_process_exit_is_observed_without_status() {
    let d = tmp();
    let spawned = CoreProcess::spawn(&sh("sleep 120", &d.path().join("log"))).unwrap();
    let adopted = CoreProcess::adopt(spawned.pid()).unwrap();
    assert_eq!(adopted.try_exit(), None);
    spawned.kill().unwrap();
    assert_eq!(
        adopted.wait_timeout(Duration::from_secs(60)),
        Some(ExitInfo::UNKNOWN)
    );
    assert_eq!(
        spawned
            .wait_timeout(Duration::from_secs(60))
            .map(|e| e.signal),
        Some(Some(libc::SIGKILL))
    );
}

#[tokio::test]
async fn async_exit_wakes_every_waiter() {
    let d = tmp();
    let p =
        std::sync::Arc::new(CoreProcess::spawn(&sh("sleep 120", &d.path().join("log"))).unwrap());
    let a = tokio::spawn({
        let p = p.clone();
        async move { p.exited().await }
    });
    let b = tokio::spawn({
        let p = p.clone();
        async move { p.exited().await }
    });
    let e = p.stop(Duration::from_secs(30)).await;
    assert_eq!(e.signal, Some(libc::SIGTERM));
    assert_eq!(a.await.unwrap(), e);
    assert_eq!(b.await.unwrap(), e);
}
