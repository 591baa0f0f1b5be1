//! A two-namespace lab for the TUN tests: a client namespace and a server
//! namespace joined by a veth pair, an HTTP origin and a DNS responder that live
//! only in the server namespace (on its loopback), and an xp2p service in each.
//! Everything — namespaces, `/etc/netns/<ns>`, processes — is removed on drop.
//! The host's routes, rules and resolv.conf are never touched.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use crate::support::*;

pub const V2RAY: &str = "/usr/bin/v2ray";
/// The server's trojan address (on its loopback: not on the veth subnet).
pub const ENDPOINT: &str = "10.77.0.1";
/// The origin and the DNS responder, reachable only inside the server namespace.
pub const ORIGIN: &str = "10.99.0.5";
pub const DNS: &str = "10.99.0.53";
pub const CLIENT_VETH_IP: &str = "10.231.9.1";
pub const SERVER_VETH_IP: &str = "10.231.9.2";
pub const ORIGINAL_RESOLV: &str =
    "# the namespace's own resolv.conf\nnameserver 192.0.2.1\noptions edns0\n";

/// Why these tests cannot run here, if they cannot. With `XP2P_REQUIRE_NETNS=1`
/// (set by `.ci/run`) a missing prerequisite fails the test instead of skipping it,
/// so CI can never pass by not running them.
pub fn unavailable() -> Option<&'static str> {
    let why = missing_prerequisite();
    if let Some(w) = why {
        assert!(
            std::env::var_os("XP2P_REQUIRE_NETNS").is_none(),
            "XP2P_REQUIRE_NETNS is set but the namespace tests cannot run: {w}"
        );
    }
    why
}

fn missing_prerequisite() -> Option<&'static str> {
    if unsafe { libc::geteuid() } != 0 {
        return Some("not root");
    }
    if !Path::new(V2RAY).exists() {
        return Some("no v2ray");
    }
    if !Path::new("/dev/net/tun").exists() {
        return Some("no /dev/net/tun");
    }
    let ok = |c: &str| {
        Command::new(c)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok()
    };
    if !ok("ip") || !ok("curl") || !ok("python3") {
        return Some("needs ip, curl and python3");
    }
    None
}

/// Runs a command and returns its output (panics only if it cannot start).
pub fn sh(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"))
}

fn must(program: &str, args: &[&str]) {
    let o = sh(program, args);
    assert!(
        o.status.success(),
        "{program} {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&o.stderr)
    );
}

pub struct Lab {
    pub client_ns: String,
    pub server_ns: String,
    pub client: TestRoot,
    pub server: TestRoot,
    pub token: String,
    pub origin_log: PathBuf,
    pub dns_log: PathBuf,
    pub origin_port: u16,
    children: Vec<Child>,
    services: Vec<(String, Child)>,
}

impl Lab {
    /// Builds the namespaces. `default_route`: the client namespace gets a
    /// default route via the server's veth address (full mode needs one);
    /// without it the client can reach only the server's trojan address.
    pub fn new(default_route: bool) -> Lab {
        let id = random_token()[..6].to_string();
        let (c, s) = (format!("xp2ptc-{id}"), format!("xp2pts-{id}"));
        let (vc, vs) = (format!("vc{id}"), format!("vs{id}"));
        must("ip", &["netns", "add", &c]);
        must("ip", &["netns", "add", &s]);
        let mut lab = Lab {
            client_ns: c.clone(),
            server_ns: s.clone(),
            client: TestRoot::new(),
            server: TestRoot::new(),
            token: format!("xp2p-tun-origin-{}", random_token()),
            origin_log: PathBuf::new(),
            dns_log: PathBuf::new(),
            origin_port: 8080,
            children: Vec::new(),
            services: Vec::new(),
        };
        // The namespace's own resolv.conf (bind-mounted by `ip netns exec`).
        std::fs::create_dir_all(format!("/etc/netns/{c}")).expect("mkdir /etc/netns");
        std::fs::write(lab.resolv_path(), ORIGINAL_RESOLV).expect("write ns resolv.conf");
        must(
            "ip",
            &[
                "link", "add", &vc, "netns", &c, "type", "veth", "peer", "name", &vs, "netns", &s,
            ],
        );
        for (ns, dev, ip) in [(&c, &vc, CLIENT_VETH_IP), (&s, &vs, SERVER_VETH_IP)] {
            must(
                "ip",
                &["-n", ns, "addr", "add", &format!("{ip}/24"), "dev", dev],
            );
            must("ip", &["-n", ns, "link", "set", dev, "up"]);
            must("ip", &["-n", ns, "link", "set", "lo", "up"]);
        }
        for ip in [ENDPOINT, ORIGIN, DNS] {
            must(
                "ip",
                &["-n", &s, "addr", "add", &format!("{ip}/32"), "dev", "lo"],
            );
        }
        if default_route {
            must(
                "ip",
                &["-n", &c, "route", "add", "default", "via", SERVER_VETH_IP],
            );
            // An IPv6 default too: full mode must keep IPv6 from leaving beside it.
            must(
                "ip",
                &["-n", &c, "-6", "route", "add", "default", "dev", &vc],
            );
        } else {
            must(
                "ip",
                &["-n", &c, "route", "add", ENDPOINT, "via", SERVER_VETH_IP],
            );
        }
        // Origin and DNS responder inside the server namespace.
        let www = lab.server.path().join("www");
        std::fs::create_dir_all(&www).expect("mkdir www");
        std::fs::write(www.join("token.txt"), &lab.token).expect("write token");
        lab.origin_log = lab.server.path().join("origin.log");
        let log = std::fs::File::create(&lab.origin_log).expect("origin log");
        let port = lab.origin_port.to_string();
        let www_s = www.display().to_string();
        let origin = Command::new("ip")
            .args([
                "netns",
                "exec",
                &s,
                "python3",
                "-m",
                "http.server",
                &port,
                "--bind",
                ORIGIN,
                "--directory",
                &www_s,
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start origin");
        lab.children.push(origin);
        lab.dns_log = lab.server.path().join("dns.log");
        let dnsd = tests_dir().join("netns_support").join("dnsd.py");
        let dns_log = lab.dns_log.display().to_string();
        let d = Command::new("ip")
            .args([
                "netns",
                "exec",
                &s,
                "python3",
                &dnsd.display().to_string(),
                DNS,
                ORIGIN,
                &dns_log,
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start dnsd");
        lab.children.push(d);
        // Server Desired: trojan on every address of its namespace.
        write_self_signed_cert(lab.server.path(), "vpn.test");
        lab.server.write(
            "xp2p-server.toml",
            format!(
                "[core]\npath = \"{V2RAY}\"\n[service]\ntunnel_probe_s = 0\n[server]\nhost = \"vpn.test\"\nlisten = \"0.0.0.0\"\ntrojan_port = 58443\nprofile = \"trojan-tls\"\n\n[[server.users]]\nuser_label = \"alice@xp2p.local\"\ncredential = \"pw-tun\"\n"
            ),
        );
        let origin_ready = wait_until(Duration::from_secs(10), || {
            sh(
                "ip",
                &[
                    "netns",
                    "exec",
                    &s,
                    "curl",
                    "-s",
                    "--max-time",
                    "1",
                    &format!("http://{ORIGIN}:{port}/token.txt"),
                ],
            )
            .stdout
            .starts_with(lab.token.as_bytes())
        });
        assert!(origin_ready, "the origin did not start in {s}");
        lab
    }

    pub fn resolv_path(&self) -> PathBuf {
        PathBuf::from(format!("/etc/netns/{}/resolv.conf", self.client_ns))
    }

    /// The client Desired with this `[client]` mode block.
    pub fn write_client(&self, mode: &str) {
        self.client.write(
            "xp2p-client.toml",
            format!(
                "[core]\npath = \"{V2RAY}\"\n[service]\ntunnel_probe_s = 0\n[client]\nsocks_address = \"127.0.0.1:51180\"\n{mode}\ndns_servers = [\"{DNS}\"]\n\n[[client.endpoints]]\ntag = \"proxy-a\"\nhostname = \"vpn.test\"\naddress = \"{ENDPOINT}\"\nport = 58443\nprotocol = \"trojan\"\nuser = \"alice@xp2p.local\"\npassword = \"pw-tun\"\nallow_insecure = true\n\n[[client.redirects]]\ncidr = \"10.99.0.0/16\"\noutbound_tag = \"proxy-a\"\n"
            ),
        );
    }

    fn ns_command(&self, ns: &str, root: &TestRoot) -> Command {
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

    /// `xp2p <args>` inside the client namespace.
    pub fn xp2p_client(&self, args: &[&str]) -> Run {
        Run::from_output(
            self.ns_command(&self.client_ns, &self.client)
                .args(args)
                .output()
                .expect("run xp2p in the client namespace"),
        )
    }

    /// Starts `xp2p service run` in the client (`"client"`) or server namespace.
    pub fn start_service(&mut self, which: &str) {
        let (ns, root) = if which == "client" {
            (self.client_ns.clone(), &self.client)
        } else {
            (self.server_ns.clone(), &self.server)
        };
        if which == "client" {
            // Never let a service near the host's resolv.conf: the bind mount
            // must be in place, or the test stops here.
            let seen = sh("ip", &["netns", "exec", &ns, "cat", "/etc/resolv.conf"]).stdout;
            assert_eq!(
                String::from_utf8_lossy(&seen),
                String::from_utf8_lossy(&std::fs::read(self.resolv_path()).unwrap_or_default()),
                "ip netns exec did not bind-mount the namespace's resolv.conf"
            );
        }
        let log = root.path().join(format!("service-{}.log", random_token()));
        let out = std::fs::File::create(&log).expect("service log");
        let err = out.try_clone().expect("clone log");
        let child = self
            .ns_command(&ns, root)
            .args(["service", "run"])
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("spawn service");
        self.services.push((which.to_string(), child));
    }

    fn service_index(&self, which: &str) -> Option<usize> {
        self.services.iter().position(|(w, _)| w == which)
    }

    /// SIGTERM and wait (an explicit stop).
    pub fn stop_service(&mut self, which: &str) -> Option<i32> {
        let i = self.service_index(which)?;
        let (_, mut c) = self.services.remove(i);
        unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
        let mut code = None;
        wait_until(Duration::from_secs(30), || match c.try_wait() {
            Ok(Some(s)) => {
                code = s.code();
                true
            }
            _ => false,
        });
        if code.is_none() {
            let _ = c.kill();
            let _ = c.wait();
        }
        code
    }

    /// SIGKILL (a crash): cores and OS state stay behind.
    pub fn kill9_service(&mut self, which: &str) {
        if let Some(i) = self.service_index(which) {
            let (_, mut c) = self.services.remove(i);
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// The client's TUN state file, parsed (Null when absent).
    pub fn tun_state(&self) -> serde_json::Value {
        std::fs::read(self.client.path().join("xp2p-client.tun-full.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or(serde_json::Value::Null)
    }

    /// Waits until the client's TUN phase is `phase`.
    pub fn wait_phase(&self, phase: &str, timeout: Duration) -> bool {
        wait_until(timeout, || self.tun_state()["phase"] == phase)
    }

    /// `ip -4 route show table all` of the client namespace, local table aside
    /// (its broadcast entries are the kernel's).
    pub fn routes(&self) -> String {
        let o = sh(
            "ip",
            &["-n", &self.client_ns, "-4", "route", "show", "table", "all"],
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    pub fn table(&self, table: &str) -> String {
        let o = sh(
            "ip",
            &["-n", &self.client_ns, "-4", "route", "show", "table", table],
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    pub fn rules(&self) -> String {
        let o = sh("ip", &["-n", &self.client_ns, "-4", "rule", "show"]);
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    pub fn links(&self) -> String {
        let o = sh("ip", &["-n", &self.client_ns, "-o", "link", "show"]);
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .map(|l| l.split(" mtu ").next().unwrap_or(l).to_string())
            .collect::<Vec<_>>()
            .join("\n")
    }

    pub fn resolv(&self) -> Vec<u8> {
        std::fs::read(self.resolv_path()).unwrap_or_default()
    }

    /// IPv6 rules and xp2p's IPv6 table (the kernel's own IPv6 entries come and
    /// go with duplicate address detection, so not every table is compared).
    pub fn ipv6(&self) -> String {
        let rules = sh("ip", &["-n", &self.client_ns, "-6", "rule", "show"]);
        let table = sh(
            "ip",
            &[
                "-n",
                &self.client_ns,
                "-6",
                "route",
                "show",
                "table",
                "20090",
            ],
        );
        format!(
            "{}{}",
            String::from_utf8_lossy(&rules.stdout),
            String::from_utf8_lossy(&table.stdout)
        )
    }

    /// Where the client namespace would send an IPv6 packet (`ip -6 route get`).
    pub fn ipv6_route_to(&self, ip: &str) -> String {
        let o = sh("ip", &["-n", &self.client_ns, "-6", "route", "get", ip]);
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    }

    /// Everything the service may change, as one comparable text.
    pub fn snapshot(&self) -> String {
        format!(
            "routes:\n{}\nrules:\n{}\nipv6:\n{}\nlinks:\n{}\nresolv.conf:\n{}",
            self.routes(),
            self.rules(),
            self.ipv6(),
            self.links(),
            String::from_utf8_lossy(&self.resolv())
        )
    }

    /// A plain curl (no proxy settings) from the client namespace to the origin.
    pub fn curl_origin(&self) -> Output {
        sh(
            "ip",
            &[
                "netns",
                "exec",
                &self.client_ns,
                "curl",
                "-s",
                "--max-time",
                "5",
                &format!("http://{ORIGIN}:{}/token.txt", self.origin_port),
            ],
        )
    }

    /// True when the origin's body came back.
    pub fn origin_reached(&self) -> bool {
        self.curl_origin().stdout.starts_with(self.token.as_bytes())
    }

    /// Peer addresses the origin logged (the server core's, through the tunnel).
    pub fn origin_peers(&self) -> Vec<String> {
        std::fs::read_to_string(&self.origin_log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("GET /token.txt"))
            .filter_map(|l| l.split_whitespace().next().map(str::to_string))
            .collect()
    }

    pub fn service_logs(&self) -> String {
        let mut out = String::new();
        for root in [&self.client, &self.server] {
            if let Ok(rd) = std::fs::read_dir(root.path()) {
                for e in rd.flatten() {
                    let name = e.file_name().to_string_lossy().into_owned();
                    if name.starts_with("service-") {
                        out.push_str(&std::fs::read_to_string(e.path()).unwrap_or_default());
                    }
                }
            }
        }
        out
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for which in ["client", "server"] {
            self.stop_service(which);
        }
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        // Cores a killed service left behind (matched by their Live path).
        for root in [&self.client, &self.server] {
            let live = root.path().join(".state");
            let _ = sh("pkill", &["-9", "-f", &live.display().to_string()]);
        }
        let _ = sh("ip", &["netns", "del", &self.client_ns]);
        let _ = sh("ip", &["netns", "del", &self.server_ns]);
        let _ = std::fs::remove_dir_all(format!("/etc/netns/{}", self.client_ns));
        let _ = std::fs::remove_dir_all(format!("/etc/netns/{}", self.server_ns));
    }
}
