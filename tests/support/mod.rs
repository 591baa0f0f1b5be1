//! Shared support for the end-to-end tests of the built `xp2p` binary: temporary
//! CONFIG_ROOTs, a fake and a real core, a tiny HTTP origin, a SOCKS5 client and
//! fixture builders for a loopback client/server pair.
//!
//! Every test file that needs it says `mod support;`; not every file uses every
//! item, hence the module-wide `dead_code` allowance.
#![allow(dead_code)]

use std::fs::{self, File};
use std::hash::{BuildHasher, Hasher};
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The real core the tests run (Debian's v2ray 4.34).
pub const V2RAY: &str = "/usr/bin/v2ray";

/// The loopback address the HTTP origin binds: distinct from every endpoint
/// address (127.0.0.1), so no endpoint-bypass rule can match it.
pub const ORIGIN_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

/// The built `xp2p` binary.
pub fn xp2p_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_xp2p"))
}

/// True when the real core is installed.
pub fn v2ray_available() -> bool {
    Path::new(V2RAY).is_file()
}

/// The repository's `tests/` folder (golden files, fixture inputs).
pub fn tests_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests")
}

/// A TCP port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr").port()
}

/// Sleeps in small steps until `f` is true or `timeout` passes; returns the last
/// answer of `f`. For tests only: production code waits on events, not clocks.
pub fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= deadline {
            return f();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// True when something accepts TCP connections at `addr`.
pub fn port_accepts(addr: SocketAddr) -> bool {
    TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
}

/// A random hex token (no `rand` dependency: the std hasher is randomly keyed).
pub fn random_token() -> String {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.write_u32(std::process::id());
    let a = h.finish();
    h.write_u64(a);
    format!("{a:016x}{:016x}", h.finish())
}

/// Copies a directory tree (regular files and folders).
pub fn copy_dir(src: &Path, dst: &Path) {
    fs::create_dir_all(dst).expect("create destination");
    for entry in fs::read_dir(src).expect("read source dir") {
        let entry = entry.expect("dir entry");
        let to = dst.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &to);
        } else {
            fs::copy(entry.path(), &to).expect("copy file");
        }
    }
}

// --- the binary under a temporary CONFIG_ROOT --------------------------------

/// The result of one run of the binary.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn from_output(o: Output) -> Run {
        Run {
            code: o.status.code(),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }

    /// The stderr lines that start with `error: `, without that prefix.
    pub fn errors(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter_map(|l| l.strip_prefix("error: "))
            .collect()
    }
}

/// A temporary CONFIG_ROOT, removed on drop.
pub struct TestRoot {
    dir: tempfile::TempDir,
}

impl Default for TestRoot {
    fn default() -> Self {
        Self::new()
    }
}

impl TestRoot {
    pub fn new() -> TestRoot {
        let dir = tempfile::Builder::new()
            .prefix("xp2p-test-")
            .tempdir()
            .expect("create temporary CONFIG_ROOT");
        TestRoot { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `contents` at `rel` (parents created) and returns the full path.
    pub fn write(&self, rel: impl AsRef<Path>, contents: impl AsRef<[u8]>) -> PathBuf {
        let p = self.path().join(rel);
        if let Some(parent) = p.parent() {
            fs::create_dir_all(parent).expect("create parent");
        }
        fs::write(&p, contents).expect("write file");
        p
    }

    pub fn read(&self, rel: impl AsRef<Path>) -> String {
        fs::read_to_string(self.path().join(rel)).expect("read file")
    }

    /// `xp2p --config-root <dir>` with `XP2P_LOG_ROOT=<dir>/logs`, no colour.
    pub fn cmd(&self) -> Command {
        let mut c = Command::new(xp2p_bin());
        c.arg("--config-root")
            .arg(self.path())
            .env("XP2P_LOG_ROOT", self.path().join("logs"))
            .env_remove("XP2P_CONFIG_ROOT")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null());
        c
    }

    /// Runs `xp2p <args>` under this root and collects its output.
    pub fn run(&self, args: &[&str]) -> Run {
        Run::from_output(self.cmd().args(args).output().expect("run xp2p"))
    }

    /// Installs a fake core at `CONFIG_ROOT/bin/xray` (second in discovery, after
    /// `[core] path`): a shell script that answers `-version` as `version_line`
    /// and accepts every config. For tests that fail before the core is asked.
    pub fn install_fake_core(&self, version_line: &str) -> PathBuf {
        let script = format!(
            "#!/bin/sh\ncase \"$1\" in\n  -version|version) echo '{version_line}'; exit 0 ;;\nesac\nexit 0\n"
        );
        let p = self.write("bin/xray", script);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).expect("chmod fake core");
        }
        p
    }

    /// A self-signed certificate for `host` at the server's default paths.
    pub fn write_self_signed_cert(&self, host: &str) {
        write_self_signed_cert(self.path(), host);
    }
}

/// Writes `tls/server/cert.pem` and `tls/server/key.pem` under `dir`.
pub fn write_self_signed_cert(dir: &Path, host: &str) {
    let ck = rcgen::generate_simple_self_signed(vec![host.to_string()])
        .expect("generate self-signed certificate");
    let tls = dir.join("tls").join("server");
    fs::create_dir_all(&tls).expect("create tls/server");
    fs::write(tls.join("cert.pem"), ck.cert.pem()).expect("write cert.pem");
    fs::write(tls.join("key.pem"), ck.key_pair.serialize_pem()).expect("write key.pem");
}

// --- a tiny HTTP origin ------------------------------------------------------

/// An HTTP/1.0 server on a loopback address answering every request with the
/// same body, which holds a random token. Stopped on drop.
pub struct HttpOrigin {
    addr: SocketAddr,
    body: String,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl HttpOrigin {
    /// Binds `ip:0` and serves on a background thread.
    pub fn start(ip: IpAddr) -> HttpOrigin {
        let listener = TcpListener::bind(SocketAddr::new(ip, 0)).expect("bind HTTP origin");
        let addr = listener.local_addr().expect("origin addr");
        let body = format!("xp2p test origin {}\n", random_token());
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let body = body.clone();
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                for conn in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    if let Ok(stream) = conn {
                        let _ = serve_one(stream, &body);
                    }
                }
            })
        };
        HttpOrigin {
            addr,
            body,
            stop,
            thread: Some(thread),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn body(&self) -> &str {
        &self.body
    }
}

fn serve_one(mut s: TcpStream, body: &str) -> io::Result<()> {
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.set_write_timeout(Some(Duration::from_secs(5)))?;
    let mut req = Vec::new();
    let mut buf = [0u8; 1024];
    while !req.windows(4).any(|w| w == b"\r\n\r\n") && req.len() < 64 * 1024 {
        let n = s.read(&mut buf)?;
        if n == 0 {
            break;
        }
        req.extend_from_slice(&buf[..n]);
    }
    let resp = format!(
        "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(resp.as_bytes())?;
    s.flush()?;
    s.shutdown(Shutdown::Write)
}

impl Drop for HttpOrigin {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(500));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

// --- a SOCKS5 client ---------------------------------------------------------

/// `GET / HTTP/1.0` to `target` through the SOCKS5 proxy at `socks` (no auth,
/// CONNECT to an IPv4 address); returns the whole response as text.
pub fn socks5_get(socks: SocketAddr, target: SocketAddr, timeout: Duration) -> io::Result<String> {
    // The handshake is the product's own (xp2p_deploy::socks5).
    let mut s = xp2p_deploy::socks5::connect(socks, target, timeout)?;
    s.write_all(format!("GET / HTTP/1.0\r\nHost: {target}\r\n\r\n").as_bytes())?;
    let mut resp = Vec::new();
    s.read_to_end(&mut resp)?;
    Ok(String::from_utf8_lossy(&resp).into_owned())
}

// --- a core process ----------------------------------------------------------

/// A running core (`v2ray -config <file>`), output to a log file, killed on drop.
pub struct CoreProcess {
    child: Option<Child>,
    log: PathBuf,
}

impl CoreProcess {
    /// Runs the real v2ray on `config`, stdout and stderr to `log`.
    pub fn v2ray(config: &Path, log: &Path) -> CoreProcess {
        Self::spawn(
            Path::new(V2RAY),
            &["-config".as_ref(), config.as_os_str()],
            log,
        )
    }

    /// Runs `bin args…`, stdout and stderr to `log`.
    pub fn spawn(bin: &Path, args: &[&std::ffi::OsStr], log: &Path) -> CoreProcess {
        if let Some(parent) = log.parent() {
            fs::create_dir_all(parent).expect("create log dir");
        }
        let out = File::create(log).expect("create core log");
        let err = out.try_clone().expect("clone log handle");
        let child = Command::new(bin)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", bin.display()));
        CoreProcess {
            child: Some(child),
            log: log.to_path_buf(),
        }
    }

    /// True while the process has not exited.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Kills the process and reaps it (idempotent).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for CoreProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

// --- fixtures ----------------------------------------------------------------

/// The trojan password of the loopback fixtures.
pub const FIXTURE_PASSWORD: &str = "xp2p-e2e-secret";

fn core_block(core_path: &str) -> String {
    if core_path.is_empty() {
        String::new()
    } else {
        format!("[core]\npath = \"{core_path}\"\n\n")
    }
}

/// A minimal server Desired: trojan-tls on `127.0.0.1:trojan_port`, one user with
/// `password`, certificate at the default paths (see [`write_self_signed_cert`]).
/// `core_path` empty leaves `[core]` out (discovery).
pub fn server_toml(core_path: &str, trojan_port: u16, password: &str) -> String {
    let diag = if trojan_port == 62022 { 62023 } else { 62022 };
    format!(
        "{core}[server]\nhost = \"localhost\"\nlisten = \"127.0.0.1\"\ntrojan_port = {trojan_port}\ndiag_port = {diag}\nprofile = \"trojan-tls\"\n\n[[server.users]]\nuser_label = \"alice@xp2p.local\"\ncredential = \"{password}\"\n",
        core = core_block(core_path)
    )
}

/// A minimal client Desired: SOCKS on `127.0.0.1:socks_port`, one trojan endpoint
/// at `127.0.0.1:trojan_port` (`proxy-localhost`, `allow_insecure = true`).
pub fn client_toml(core_path: &str, socks_port: u16, trojan_port: u16, password: &str) -> String {
    format!(
        "{core}[client]\nsocks_address = \"127.0.0.1:{socks_port}\"\n\n[[client.endpoints]]\nhostname = \"localhost\"\naddress = \"127.0.0.1\"\nport = {trojan_port}\nprotocol = \"trojan\"\nuser = \"alice@xp2p.local\"\npassword = \"{password}\"\nallow_insecure = true\n",
        core = core_block(core_path)
    )
}
