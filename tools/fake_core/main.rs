//! `xp2p-fake-core`: a stand-in for xray/v2ray used by fault-injection tests.
//!
//! Answers `-version` like either flavour (`FAKE_CORE_FLAVOUR=xray|v2ray`), accepts
//! both command lines (`run [-test] -c F`, `[-test] -config F`), listens on the
//! TCP ports of the config's inbounds (SO_REUSEPORT, like the real cores) and prints
//! a "started" line. Behaviour on command, from environment variables:
//! `FAKE_CORE_TEST_EXIT=N` (exit code of -test), `FAKE_CORE_START_DELAY_MS`,
//! `FAKE_CORE_CRASH_AT_START=N` (exit N before listening),
//! `FAKE_CORE_IGNORE_TERM=1` (hang on SIGTERM until SIGKILL),
//! `FAKE_CORE_VERSION_HOLD_S=N` (`-version` answers, then exits leaving a child
//! that holds stdout and stderr open for N seconds).

use std::net::TcpListener;
use std::time::Duration;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flavour = std::env::var("FAKE_CORE_FLAVOUR").unwrap_or_else(|_| "xray".into());
    if args.iter().any(|a| a == "-version" || a == "version") {
        match flavour.as_str() {
            "v2ray" => println!("V2Ray 4.34.0 (fake) 20230518 (go1.19.8 linux/amd64)"),
            _ => println!("Xray 26.1.13 (Xray, Penetrates Everything.) fake (go1.25 linux/amd64)"),
        }
        if let Some(secs) = env_num::<u64>("FAKE_CORE_VERSION_HOLD_S") {
            // The child inherits our stdout/stderr: the pipe stays open after we exit.
            let _ = std::process::Command::new("sleep")
                .arg(secs.to_string())
                .spawn();
        }
        return;
    }
    let config = args
        .iter()
        .position(|a| a == "-c" || a == "-config")
        .and_then(|i| args.get(i + 1))
        .cloned();
    let Some(config) = config else {
        eprintln!("fake core: no config given");
        std::process::exit(23);
    };
    let text = match std::fs::read_to_string(&config) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("Failed to start: cannot read {config}: {e}");
            std::process::exit(23);
        }
    };
    let json: serde_json::Value = match serde_json::from_str(&text) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("Failed to start: invalid JSON: {e}");
            std::process::exit(23);
        }
    };
    if args.iter().any(|a| a == "-test") {
        let code: i32 = env_num("FAKE_CORE_TEST_EXIT").unwrap_or(0);
        if code == 0 {
            println!("Configuration OK.");
        } else {
            eprintln!("Failed to start: fake core refuses this config");
        }
        std::process::exit(code);
    }
    if let Some(ms) = env_num::<u64>("FAKE_CORE_START_DELAY_MS") {
        std::thread::sleep(Duration::from_millis(ms));
    }
    if let Some(code) = env_num::<i32>("FAKE_CORE_CRASH_AT_START") {
        eprintln!("Failed to start: fake crash at start");
        std::process::exit(code);
    }
    let mut listeners = Vec::new();
    for inbound in json["inbounds"].as_array().into_iter().flatten() {
        let (Some(listen), Some(port)) = (inbound["listen"].as_str(), inbound["port"].as_u64())
        else {
            continue;
        };
        match bind_reuseport(listen, port as u16) {
            Ok(l) => listeners.push(l),
            Err(e) => {
                eprintln!("Failed to start: listen {listen}:{port}: {e}");
                std::process::exit(255);
            }
        }
    }
    if std::env::var("FAKE_CORE_IGNORE_TERM").is_ok_and(|v| v == "1") {
        // SAFETY: ignoring SIGTERM for this process only.
        unsafe {
            libc::signal(libc::SIGTERM, libc::SIG_IGN);
        }
    }
    println!("[Warning] core: Xray 26.1.13 started");
    // Accept and drop connections until killed.
    let handles: Vec<_> = listeners
        .into_iter()
        .map(|l| {
            std::thread::spawn(move || {
                for c in l.incoming() {
                    drop(c)
                }
            })
        })
        .collect();
    for h in handles {
        let _ = h.join();
    }
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

fn env_num<T: std::str::FromStr>(name: &str) -> Option<T> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

fn bind_reuseport(ip: &str, port: u16) -> std::io::Result<TcpListener> {
    use std::os::fd::FromRawFd;
    let addr: std::net::Ipv4Addr = ip.parse().map_err(std::io::Error::other)?;
    // SAFETY: plain socket syscalls on a fresh fd we own.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let one: libc::c_int = 1;
        let size = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_REUSEPORT,
            (&one as *const libc::c_int).cast(),
            size,
        );
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_REUSEADDR,
            (&one as *const libc::c_int).cast(),
            size,
        );
        let sa = libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: port.to_be(),
            sin_addr: libc::in_addr {
                s_addr: u32::from(addr).to_be(),
            },
            sin_zero: [0; 8],
        };
        if libc::bind(
            fd,
            (&sa as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        ) != 0
            || libc::listen(fd, 128) != 0
        {
            let e = std::io::Error::last_os_error();
            libc::close(fd);
            return Err(e);
        }
        Ok(TcpListener::from_raw_fd(fd))
    }
}
