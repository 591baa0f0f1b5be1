//! Reverse channels for real, in three network namespaces: `lan` (an HTTP
//! origin at 10.77.0.5) behind `router` (the client role; its LAN on a veth;
//! nftables drops every connection `pub` tries to open to it, as a NAT would)
//! and `pub` (the server role). No route leads from `pub` to the LAN: the only
//! way in is the reverse channel the router's core opens through its tunnel.
//! Everything is removed on drop; the host's network is never touched.

mod netns_support;
mod support;

use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use netns_support::{V2RAY, sh, unavailable};
use support::*;

const UP: Duration = Duration::from_secs(120);
const LAN_ORIGIN: &str = "10.77.0.5";
const PUB_IP: &str = "192.168.77.1";
const ROUTER_IP: &str = "192.168.77.2";
const SERVER_SOCKS: &str = "127.0.0.1:1080";

fn must(program: &str, args: &[&str]) {
    let o = sh(program, args);
    assert!(
        o.status.success(),
        "{program} {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&o.stderr)
    );
}

struct RevLab {
    lan: String,
    router: String,
    public: String,
    server: TestRoot,
    client: TestRoot,
    token: String,
    children: Vec<Child>,
    services: Vec<(&'static str, Child)>,
}

impl RevLab {
    fn new() -> RevLab {
        let id = random_token()[..6].to_string();
        let lab = RevLab {
            lan: format!("xp2prl-{id}"),
            router: format!("xp2prr-{id}"),
            public: format!("xp2prp-{id}"),
            server: TestRoot::new(),
            client: TestRoot::new(),
            token: format!("xp2p-reverse-origin-{}", random_token()),
            children: Vec::new(),
            services: Vec::new(),
        };
        for ns in [&lab.lan, &lab.router, &lab.public] {
            must("ip", &["netns", "add", ns]);
            must("ip", &["-n", ns, "link", "set", "lo", "up"]);
        }
        let (vr, vp) = (format!("vr{id}"), format!("vp{id}"));
        let (vl, vlr) = (format!("vl{id}"), format!("vlr{id}"));
        must(
            "ip",
            &[
                "link",
                "add",
                &vr,
                "netns",
                &lab.router,
                "type",
                "veth",
                "peer",
                "name",
                &vp,
                "netns",
                &lab.public,
            ],
        );
        must(
            "ip",
            &[
                "link",
                "add",
                &vlr,
                "netns",
                &lab.router,
                "type",
                "veth",
                "peer",
                "name",
                &vl,
                "netns",
                &lab.lan,
            ],
        );
        for (ns, dev, addr) in [
            (&lab.router, &vr, format!("{ROUTER_IP}/24")),
            (&lab.public, &vp, format!("{PUB_IP}/24")),
            (&lab.router, &vlr, "10.77.0.1/24".to_string()),
            (&lab.lan, &vl, format!("{LAN_ORIGIN}/24")),
        ] {
            must("ip", &["-n", ns, "addr", "add", &addr, "dev", dev]);
            must("ip", &["-n", ns, "link", "set", dev, "up"]);
        }
        must(
            "ip",
            &[
                "-n",
                &lab.lan,
                "route",
                "add",
                "default",
                "via",
                "10.77.0.1",
            ],
        );
        // NAT-like: nothing on `pub` may open a connection to the router.
        let rules = format!(
            "table inet xp2p_natlike {{\n chain input {{ type filter hook input priority 0; policy accept; iifname \"{vr}\" ct state new drop; }}\n chain forward {{ type filter hook forward priority 0; policy accept; iifname \"{vr}\" drop; }}\n}}\n"
        );
        let nft = lab.client.write("natlike.nft", rules);
        must(
            "ip",
            &[
                "netns",
                "exec",
                &lab.router,
                "nft",
                "-f",
                &nft.display().to_string(),
            ],
        );
        lab
    }

    fn start_origin(&mut self) {
        let www = self.client.path().join("www");
        std::fs::create_dir_all(&www).unwrap();
        std::fs::write(www.join("token.txt"), &self.token).unwrap();
        let child = Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.lan,
                "python3",
                "-m",
                "http.server",
                "80",
                "--bind",
                LAN_ORIGIN,
                "--directory",
            ])
            .arg(&www)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the LAN origin");
        self.children.push(child);
        let url = format!("http://{LAN_ORIGIN}/token.txt");
        assert!(
            wait_until(Duration::from_secs(30), || self
                .curl(&self.lan.clone(), &["--max-time", "2", &url])
                .stdout
                .starts_with(self.token.as_bytes())),
            "the LAN origin did not start"
        );
    }

    fn ns_xp2p(&self, ns: &str, root: &TestRoot) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", ns])
            .arg(xp2p_bin())
            .arg("--config-root")
            .arg(root.path())
            .env("XP2P_LOG_ROOT", root.path().join("logs"))
            .env("NO_COLOR", "1")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null());
        c
    }

    fn server_run(&self, args: &[&str]) -> Run {
        Run::from_output(
            self.ns_xp2p(&self.public, &self.server)
                .args(args)
                .output()
                .expect("xp2p"),
        )
    }

    fn client_run(&self, args: &[&str]) -> Run {
        Run::from_output(
            self.ns_xp2p(&self.router, &self.client)
                .args(args)
                .output()
                .expect("xp2p"),
        )
    }

    fn start(&mut self, which: &'static str) {
        let (ns, root) = if which == "client" {
            (self.router.clone(), &self.client)
        } else {
            (self.public.clone(), &self.server)
        };
        let log = root.path().join(format!("service-{}.log", random_token()));
        let out = std::fs::File::create(&log).expect("service log");
        let err = out.try_clone().expect("clone");
        let child = self
            .ns_xp2p(&ns, root)
            .args(["service", "run"])
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("spawn service");
        self.services.push((which, child));
    }

    fn stop(&mut self, which: &str) {
        if let Some(i) = self.services.iter().position(|(w, _)| *w == which) {
            let (_, mut c) = self.services.remove(i);
            unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
            let done = wait_until(Duration::from_secs(60), || {
                matches!(c.try_wait(), Ok(Some(_)))
            });
            if !done {
                let _ = c.kill();
            }
            let _ = c.wait();
        }
    }

    fn curl(&self, ns: &str, args: &[&str]) -> Output {
        let mut a = vec!["netns", "exec", ns, "curl", "-s"];
        a.extend_from_slice(args);
        sh("ip", &a)
    }

    /// The three ways in from `pub`: via the server's SOCKS, via a server
    /// forward, and (server TUN mode) a plain curl.
    fn via_socks(&self, max: &str) -> Output {
        let url = format!("http://{LAN_ORIGIN}/token.txt");
        self.curl(
            &self.public,
            &["--max-time", max, "--socks5-hostname", SERVER_SOCKS, &url],
        )
    }

    fn via_forward(&self, max: &str) -> Output {
        self.curl(
            &self.public,
            &["--max-time", max, "http://127.0.0.1:2222/token.txt"],
        )
    }

    fn plain(&self, max: &str) -> Output {
        let url = format!("http://{LAN_ORIGIN}/token.txt");
        self.curl(&self.public, &["--max-time", max, &url])
    }

    fn reached(&self, o: &Output) -> bool {
        o.stdout.starts_with(self.token.as_bytes())
    }

    fn logs(&self) -> String {
        let mut out = String::new();
        for root in [&self.server, &self.client] {
            for e in std::fs::read_dir(root.path())
                .into_iter()
                .flatten()
                .flatten()
            {
                let name = e.file_name().to_string_lossy().into_owned();
                if name.starts_with("service-") {
                    out.push_str(&std::fs::read_to_string(e.path()).unwrap_or_default());
                }
            }
            for e in std::fs::read_dir(root.path().join("logs"))
                .into_iter()
                .flatten()
                .flatten()
            {
                out.push_str(&format!("--- {}\n", e.path().display()));
                let text = std::fs::read_to_string(e.path()).unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(30).collect();
                out.push_str(&tail.into_iter().rev().collect::<Vec<_>>().join("\n"));
                out.push('\n');
            }
        }
        out
    }
}

impl Drop for RevLab {
    fn drop(&mut self) {
        self.stop("client");
        self.stop("server");
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        for root in [&self.client, &self.server] {
            let live = root.path().join(".state");
            let _ = sh("pkill", &["-9", "-f", &live.display().to_string()]);
        }
        for ns in [&self.lan, &self.router, &self.public] {
            let _ = sh("ip", &["netns", "del", ns]);
        }
    }
}

fn ok(r: &Run, what: &str) {
    assert_eq!(r.code, Some(0), "{what}: {r:?}");
}

/// Whether `status --json` says the service answered.
fn running(run: &Run) -> bool {
    serde_json::from_str::<serde_json::Value>(&run.stdout)
        .is_ok_and(|v| v["state"]["service"]["running"] == true)
}

/// curl's exit code 28 is its own timeout: a hang, not a fast failure.
fn failed_fast(o: &Output) -> bool {
    !o.status.success() && o.status.code() != Some(28)
}

#[test]
fn the_server_reaches_the_lan_behind_a_client_through_its_reverse_channel() {
    if unavailable().is_some() {
        eprintln!("skipped: {}", unavailable().unwrap_or_default());
        return;
    }
    if sh("nft", &["--version"]).status.code().is_none() {
        assert!(
            std::env::var_os("XP2P_REQUIRE_NETNS").is_none(),
            "nft is missing"
        );
        eprintln!("skipped: no nft");
        return;
    }
    let mut lab = RevLab::new();
    lab.start_origin();
    // pub: the server, with a SOCKS inbound for programs on the host
    write_self_signed_cert(lab.server.path(), "vpn.test");
    lab.server.write(
        "xp2p-server.toml",
        format!(
            "# the public server\n[core]\npath = \"{V2RAY}\"\n[service]\ntunnel_probe_s = 0\n[server]\nhost = \"vpn.test\"\nlisten = \"0.0.0.0\"\ntrojan_port = 58443\nsocks_address = \"{SERVER_SOCKS}\"\n"
        ),
    );
    // router: the client, nothing but SOCKS yet
    lab.client.write(
        "xp2p-client.toml",
        format!("# the router\n[core]\npath = \"{V2RAY}\"\n[service]\ntunnel_probe_s = 0\n[client]\nsocks_address = \"127.0.0.1:51180\"\n"),
    );
    // the NAT-like wall holds: pub cannot open a connection to the router
    let probe = lab.curl(
        &lab.public.clone(),
        &["--max-time", "3", &format!("http://{ROUTER_IP}:51180/")],
    );
    assert!(!probe.status.success(), "pub reached the router directly");

    lab.start("server");
    lab.start("client");
    assert!(
        wait_until(UP, || running(&lab.server_run(&["status", "--json"]))
            && running(&lab.client_run(&["status", "--json"]))),
        "the services did not answer: {}",
        lab.logs()
    );
    ok(
        &lab.server_run(&["server", "user", "add", "branch", "--reverse", "--wait"]),
        "user add --reverse",
    );
    let link = lab.server_run(&["server", "user", "show", "branch", "--link"]);
    ok(&link, "user show");
    let link = link.stdout.trim().to_string();
    ok(
        &lab.client_run(&["client", "endpoint", "add", "--link", &link, "--tag", "pub"]),
        "endpoint add",
    );
    // vpn.test is the TLS name; the router dials pub's address
    ok(
        &lab.client_run(&["client", "endpoint", "update", "pub", "--host", PUB_IP]),
        "endpoint update",
    );
    ok(
        &lab.client_run(&["client", "reverse", "add", "--endpoint", "pub", "--wait"]),
        "reverse add",
    );
    ok(
        &lab.server_run(&[
            "server",
            "redirect",
            "add",
            "--cidr",
            "10.77.0.0/16",
            "--via",
            "branch",
            "--wait",
        ]),
        "redirect via the channel",
    );
    ok(
        &lab.server_run(&[
            "server",
            "forward",
            "add",
            "--listen",
            "0.0.0.0:2222",
            "--target",
            "10.77.0.5:80",
            "--via",
            "branch",
            "--wait",
        ]),
        "forward via the channel",
    );
    assert!(
        wait_until(UP, || lab.reached(&lab.via_socks("5"))),
        "SOCKS via the channel: {:?}\n{}",
        lab.via_socks("5"),
        lab.logs()
    );
    assert!(
        wait_until(UP, || lab.reached(&lab.via_forward("5"))),
        "forward: {}",
        lab.logs()
    );
    ok(
        &lab.server_run(&["server", "mode", "tun", "--wait"]),
        "server mode tun",
    );
    assert!(
        wait_until(UP, || lab.reached(&lab.plain("5"))),
        "plain curl in TUN mode: {}",
        lab.logs()
    );

    // Staged restarts on either side during a fetch loop through the channel.
    // v2ray 4.34's reverse proxy does not carry over a replacement: the portal
    // keeps choosing the bridge connection of a core that is gone (until its
    // own clean-up, every 30 s), and a new server core has no bridge
    // connection until the bridge reconnects. Measured and printed here (see
    // README "Reverse channels"); what is asserted is that the channel
    // recovers by itself after each side's restart.
    for side in ["server", "client"] {
        let stop = AtomicBool::new(false);
        let (tries, failures) = (AtomicUsize::new(0), AtomicUsize::new(0));
        let t0 = std::time::Instant::now();
        let (first_fail, last_fail) = (AtomicU64::new(u64::MAX), AtomicU64::new(0));
        std::thread::scope(|s| {
            s.spawn(|| {
                while !stop.load(Ordering::Relaxed) {
                    tries.fetch_add(1, Ordering::Relaxed);
                    if !lab.reached(&lab.via_socks("10")) {
                        failures.fetch_add(1, Ordering::Relaxed);
                        let ms = t0.elapsed().as_millis() as u64;
                        first_fail.fetch_min(ms, Ordering::Relaxed);
                        last_fail.fetch_max(ms, Ordering::Relaxed);
                        // a failed fetch is fast: pace the loop so the count means something
                        std::thread::sleep(Duration::from_millis(100));
                    }
                }
            });
            let r = if side == "server" {
                lab.server_run(&["restart", "--role", "server", "--wait"])
            } else {
                lab.client_run(&["restart", "--role", "client", "--wait"])
            };
            ok(&r, "staged restart");
            let recovered = wait_until(UP, || lab.reached(&lab.via_socks("5")));
            stop.store(true, Ordering::Relaxed);
            assert!(
                recovered,
                "the channel did not recover after a {side} restart: {}",
                lab.logs()
            );
        });
        let (first, last) = (first_fail.into_inner(), last_fail.into_inner());
        let outage = if first == u64::MAX { 0 } else { last - first };
        eprintln!(
            "reverse channel, staged {side} restart: {} fetches, {} failed, failures spanned {} ms",
            tries.into_inner(),
            failures.into_inner(),
            outage
        );
    }

    // The client goes away: all three fail fast; it comes back: they recover.
    lab.stop("client");
    for (name, o) in [
        ("socks", lab.via_socks("20")),
        ("forward", lab.via_forward("20")),
        ("plain", lab.plain("20")),
    ] {
        assert!(
            failed_fast(&o),
            "{name} did not fail fast with the client down: {o:?}"
        );
    }
    lab.start("client");
    assert!(
        wait_until(UP, || lab.reached(&lab.via_socks("5"))),
        "socks after the client came back: {}",
        lab.logs()
    );
    assert!(
        wait_until(UP, || lab.reached(&lab.via_forward("5"))),
        "forward after"
    );
    assert!(
        wait_until(UP, || lab.reached(&lab.plain("5"))),
        "plain after"
    );
}
