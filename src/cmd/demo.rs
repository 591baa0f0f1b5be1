//! `xp2p demo`: a throwaway CONFIG_ROOT with a server and a client on loopback
//! (self-signed certificate), one `xp2p service run` serving both, a local HTTP
//! origin to fetch through the tunnel, then the console — or, headless, the SOCKS
//! address until Ctrl-C. Everything (service, cores, temp dir) goes on exit.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use xp2p_core::{Layout, Role};

use crate::args::DemoArgs;
use crate::exit;

/// Stops the service (which stops its cores) and removes the temp dir on drop.
struct Demo {
    dir: Option<tempfile::TempDir>,
    service: Option<Child>,
}

impl Drop for Demo {
    fn drop(&mut self) {
        if let Some(mut child) = self.service.take() {
            // SAFETY: signalling our own child by pid.
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
            let _ = child.wait();
        }
        if let Some(dir) = self.dir.take() {
            let path = dir.path().display().to_string();
            if dir.close().is_ok() {
                println!("demo: removed {path}");
            }
        }
    }
}

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Every demo file holds the demo's password or key: owner only (0600).
fn write(path: &Path, text: &str) -> Result<(), String> {
    xp2p_store::atomic::write_secret(
        path,
        text.as_bytes(),
        xp2p_store::secrets::SecretAccess::OWNER_ONLY,
    )
    .map_err(|e| format!("{}: {e}", path.display()))
}

/// A one-page HTTP origin on 127.0.0.2 (a thread; gone with the process).
fn origin() -> Result<SocketAddr, String> {
    let l = TcpListener::bind("127.0.0.2:0").map_err(|e| format!("origin: {e}"))?;
    let addr = l.local_addr().map_err(|e| e.to_string())?;
    std::thread::spawn(move || {
        for mut s in l.incoming().flatten() {
            let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
            let mut buf = [0u8; 2048];
            let _ = s.read(&mut buf);
            let body = "hello through the xp2p tunnel\n";
            let _ = write!(
                s,
                "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
        }
    });
    Ok(addr)
}

fn setup(root: &Path) -> Result<(u16, String), String> {
    let cert = rcgen::generate_simple_self_signed(vec!["demo.xp2p.local".to_string()])
        .map_err(|e| format!("certificate: {e}"))?;
    write(&root.join("tls/server/cert.pem"), &cert.cert.pem())?;
    write(
        &root.join("tls/server/key.pem"),
        &cert.key_pair.serialize_pem(),
    )?;
    let password = uuid::Uuid::new_v4().to_string();
    let trojan = free_port().map_err(|e| e.to_string())?;
    let socks = free_port().map_err(|e| e.to_string())?;
    write(
        &root.join("xp2p-server.toml"),
        &format!(
            "[server]\nhost = \"demo.xp2p.local\"\nlisten = \"127.0.0.1\"\ntrojan_port = {trojan}\n\n[[server.users]]\nuser_label = \"demo@xp2p.local\"\ncredential = \"{password}\"\n"
        ),
    )?;
    write(
        &root.join("xp2p-client.toml"),
        &format!(
            "[client]\nsocks_address = \"127.0.0.1:{socks}\"\n\n[[client.endpoints]]\nhostname = \"demo.xp2p.local\"\naddress = \"127.0.0.1\"\nport = {trojan}\nuser = \"demo@xp2p.local\"\npassword = \"{password}\"\nallow_insecure = true\n"
        ),
    )?;
    Ok((socks, root.display().to_string()))
}

fn start_service(root: &Path, notify: &Path) -> Result<Child, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let log = std::os::unix::fs::OpenOptionsExt::mode(
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true),
        xp2p_core::layout::LOG_FILE_MODE,
    )
    .open(root.join("service.out"))
    .map_err(|e| e.to_string())?;
    let err = log.try_clone().map_err(|e| e.to_string())?;
    Command::new(exe)
        .arg("--config-root")
        .arg(root)
        .args(["service", "run"])
        .env("XP2P_LOG_ROOT", root.join("logs"))
        .env("NOTIFY_SOCKET", notify)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(err)
        .spawn()
        .map_err(|e| format!("cannot start the service: {e}"))
}

/// SIGINT and SIGTERM, registered when this is made (before the demo says it
/// runs, so a Ctrl-C that follows at once still cleans up) and awaited by
/// [`StopSignal::wait`].
struct StopSignal {
    rt: tokio::runtime::Runtime,
    int: Option<tokio::signal::unix::Signal>,
    term: Option<tokio::signal::unix::Signal>,
}

impl StopSignal {
    fn register() -> Option<StopSignal> {
        use tokio::signal::unix::{SignalKind, signal};
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .ok()?;
        let (int, term) = rt.block_on(async {
            (
                signal(SignalKind::interrupt()).ok(),
                signal(SignalKind::terminate()).ok(),
            )
        });
        Some(StopSignal { rt, int, term })
    }

    fn wait(mut self) {
        let (int, term) = (self.int.as_mut(), self.term.as_mut());
        self.rt.block_on(async move {
            match (int, term) {
                (Some(int), Some(term)) => {
                    tokio::select! {
                        _ = int.recv() => {}
                        _ = term.recv() => {}
                    }
                }
                (Some(int), None) => {
                    int.recv().await;
                }
                (None, Some(term)) => {
                    term.recv().await;
                }
                (None, None) => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        });
    }
}

pub fn run(a: &DemoArgs) -> i32 {
    match demo(a) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: demo: {e}");
            exit::FAILED
        }
    }
}

fn demo(a: &DemoArgs) -> Result<i32, String> {
    let dir = tempfile::Builder::new()
        .prefix("xp2p-demo-")
        .tempdir()
        .map_err(|e| e.to_string())?;
    let root: PathBuf = dir.path().join("root");
    let mut guard = Demo {
        dir: Some(dir),
        service: None,
    };
    let (socks, root_text) = setup(&root)?;
    let notify_path = root.join("notify.sock");
    let notify = UnixDatagram::bind(&notify_path).map_err(|e| format!("notify socket: {e}"))?;
    notify
        .set_read_timeout(Some(Duration::from_secs(60)))
        .map_err(|e| e.to_string())?;
    guard.service = Some(start_service(&root, &notify_path)?);
    let mut buf = [0u8; 256];
    match notify.recv(&mut buf) {
        Ok(n) if buf[..n].starts_with(b"READY=1") => {}
        Ok(_) | Err(_) => {
            let log = std::fs::read_to_string(root.join("service.out")).unwrap_or_default();
            return Err(format!("the service did not become ready:\n{log}"));
        }
    }
    let origin = origin()?;
    let stop = if a.headless {
        StopSignal::register()
    } else {
        None
    };
    println!("demo: CONFIG_ROOT {root_text}");
    println!("demo: socks 127.0.0.1:{socks}");
    println!("demo: origin http://{origin}/");
    println!("demo: try   curl --socks5 127.0.0.1:{socks} http://{origin}/");
    let layout = Layout::new(&root, root.join("logs"));
    let code = if a.headless {
        println!("demo: running; Ctrl-C stops and removes everything");
        if let Some(stop) = stop {
            stop.wait();
        }
        exit::OK
    } else {
        xp2p_ui::run(layout.clone(), layout.socket(), Some(Role::Client))
    };
    drop(guard);
    Ok(code)
}
