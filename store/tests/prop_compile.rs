//! Property tests of the compiler and the parsers fed by people.
//!
//! (a) Arbitrary *valid* client and server Desired sets (TOML text built from
//!     generated parts, plus snippets) compile, and compile to the same bytes
//!     twice; a few structural invariants hold.
//! (b) Arbitrary text and bytes fed to the TOML parsers, to the snippet parser
//!     and merge checks, and to the whole compiler never panic.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::Path;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use proptest::prelude::*;
use serde_json::{Value, json};
use xp2p_core::compile::{CompileContext, compile};
use xp2p_core::coreproc::{CoreInfo, Flavour};
use xp2p_core::desired::names::endpoint_tag_for;
use xp2p_core::{Layout, Role, snippets};
use xp2p_store::digest::read_desired;

/// Cases per property; `PROPTEST_CASES` overrides it for a deeper run.
fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64);
    ProptestConfig::with_cases(cases)
}

// --- helpers -------------------------------------------------------------------

fn q(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

fn ctx() -> CompileContext {
    CompileContext {
        request_id: Some("prop".into()),
        compiled_at: "2026-01-01T00:00:00Z".into(),
    }
}

fn cores() -> [CoreInfo; 3] {
    [
        CoreInfo {
            path: "/usr/bin/v2ray".into(),
            flavour: Flavour::V2ray,
            version: "4.34.0".into(),
        },
        CoreInfo {
            path: "/usr/local/bin/xray".into(),
            flavour: Flavour::Xray,
            version: "1.8.4".into(),
        },
        CoreInfo {
            path: "/usr/local/bin/xray".into(),
            flavour: Flavour::Xray,
            version: "26.1.13".into(),
        },
    ]
}

fn uuid_of(n: u128) -> String {
    uuid::Uuid::from_u128(n).hyphenated().to_string()
}

fn label() -> impl Strategy<Value = String> {
    "[a-z]([a-z0-9-]{0,8}[a-z0-9])?"
}

fn hostname() -> impl Strategy<Value = String> {
    prop::collection::vec(label(), 1..4).prop_map(|l| l.join("."))
}

fn host() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(|o| Ipv4Addr::from(o).to_string()),
        any::<[u16; 8]>().prop_map(|s| Ipv6Addr::from(s).to_string()),
        hostname(),
    ]
}

fn port() -> impl Strategy<Value = u16> {
    1u16..=65535
}

/// What a redirect matches.
#[derive(Debug, Clone)]
enum Match {
    Cidr(String),
    Domain(String),
}

impl Match {
    /// The key the validator uses to find duplicates.
    fn key(&self) -> String {
        match self {
            // the validator compares networks, not how they are written
            Match::Cidr(c) => c
                .parse::<IpNet>()
                .map(|n| n.trunc().to_string())
                .unwrap_or_else(|_| c.clone()),
            Match::Domain(d) => {
                let d = d.to_ascii_lowercase();
                d.strip_prefix("domain:").map(str::to_string).unwrap_or(d)
            }
        }
    }
}

fn matcher() -> impl Strategy<Value = Match> {
    prop_oneof![
        (any::<u32>(), 0u8..=32).prop_map(|(ip, p)| Match::Cidr(
            IpNet::V4(Ipv4Net::new(Ipv4Addr::from(ip), p).unwrap()).to_string()
        )),
        (any::<u128>(), 0u8..=128).prop_map(|(ip, p)| Match::Cidr(
            IpNet::V6(Ipv6Net::new(Ipv6Addr::from(ip), p).unwrap()).to_string()
        )),
        (0usize..4, hostname()).prop_map(|(k, h)| {
            let prefix = ["", "full:", "domain:", "keyword:"][k];
            Match::Domain(format!("{prefix}{h}"))
        }),
    ]
}

#[derive(Debug, Clone)]
struct GenForward {
    listen: usize,
    port: u16,
    target_host: String,
    target_port: u16,
    protocol: usize,
    target: usize,
}

fn forward() -> impl Strategy<Value = GenForward> {
    // a narrow port range now and then, so TCP and UDP forwards share a port
    let listen_port = prop_oneof![port(), 5350u16..5354];
    (
        0usize..4,
        listen_port,
        host(),
        port(),
        0usize..3,
        any::<usize>(),
    )
        .prop_map(
            |(listen, port, target_host, target_port, protocol, target)| GenForward {
                listen,
                port,
                target_host,
                target_port,
                protocol,
                target,
            },
        )
}

/// Snippets: appended outbounds and inbounds, rules in both slots. Rule targets
/// are indexes into whatever outbounds exist.
#[derive(Debug, Clone)]
struct GenSnippets {
    outbounds: usize,
    inbounds: Vec<u16>,
    after_system: Vec<(Match, usize)>,
    after_managed: Vec<(Option<Match>, usize)>,
    /// Write the files with whitespace-only content (ignored) instead.
    empty: bool,
}

fn snippet_set() -> impl Strategy<Value = GenSnippets> {
    (
        0usize..3,
        prop::collection::vec(port(), 0..3),
        prop::collection::vec((matcher(), any::<usize>()), 0..3),
        prop::collection::vec((prop::option::of(matcher()), any::<usize>()), 0..3),
        prop::bool::weighted(0.1),
    )
        .prop_map(
            |(outbounds, inbounds, after_system, after_managed, empty)| GenSnippets {
                outbounds,
                inbounds,
                after_system,
                after_managed,
                empty,
            },
        )
}

fn match_json(m: &Match) -> Value {
    match m {
        Match::Cidr(c) => json!({"ip": [c]}),
        Match::Domain(d) => json!({"domain": [d]}),
    }
}

/// Writes the snippet files; `targets` are managed outbound tags rules may use.
fn write_snippets(dir: &Path, s: &GenSnippets, targets: &[String]) -> Vec<String> {
    let snip_outs: Vec<String> = (0..s.outbounds).map(|i| format!("snip-out-{i}")).collect();
    let all: Vec<&String> = targets.iter().chain(&snip_outs).collect();
    let rule = |m: Option<&Match>, t: usize, i: usize, slot: &str| {
        let mut r = json!({"type": "field", "ruleTag": format!("{slot}-{i}"),
                           "outboundTag": all[t % all.len()]});
        if let (Some(m), Some(obj)) = (m, r.as_object_mut()) {
            obj.extend(match_json(m).as_object().unwrap().clone());
        }
        r
    };
    let files: [(&str, Value); 4] = [
        (
            snippets::OUTBOUNDS_APPEND,
            json!({"outbounds": snip_outs.iter().map(|t| json!({"tag": t, "protocol": "freedom"})).collect::<Vec<_>>()}),
        ),
        (
            snippets::INBOUNDS_APPEND,
            json!({"inbounds": s.inbounds.iter().enumerate().map(|(i, p)| json!({"tag": format!("snip-in-{i}"), "protocol": "socks", "listen": "127.0.0.1", "port": p})).collect::<Vec<_>>()}),
        ),
        (
            snippets::RULES_AFTER_SYSTEM,
            json!({"rules": s.after_system.iter().enumerate().map(|(i, (m, t))| rule(Some(m), *t, i, "sys")).collect::<Vec<_>>()}),
        ),
        (
            snippets::RULES_AFTER_MANAGED,
            json!({"rules": s.after_managed.iter().enumerate().map(|(i, (m, t))| rule(m.as_ref(), *t, i, "man")).collect::<Vec<_>>()}),
        ),
    ];
    std::fs::create_dir_all(dir).unwrap();
    for (name, v) in files {
        let text = if s.empty {
            " \n".to_string()
        } else {
            serde_json::to_string_pretty(&v).unwrap()
        };
        std::fs::write(dir.join(name), text).unwrap();
    }
    if s.empty { Vec::new() } else { snip_outs }
}

// --- client ----------------------------------------------------------------------

#[derive(Debug, Clone)]
struct GenEndpoint {
    hostname: String,
    explicit_tag: bool,
    address: String,
    port: u16,
    vless: bool,
    password: String,
    uuid: u128,
    server_name: Option<String>,
    allow_insecure: bool,
    pin: Option<([u8; 32], bool)>,
    flow: bool,
    disabled: bool,
}

fn endpoint() -> impl Strategy<Value = GenEndpoint> {
    (
        (hostname(), any::<bool>(), host(), port(), any::<bool>()),
        ("\\PC{1,24}", any::<u128>(), prop::option::of(hostname())),
        (
            any::<bool>(),
            prop::option::of((any::<[u8; 32]>(), any::<bool>())),
            any::<bool>(),
            prop::bool::weighted(0.2),
        ),
    )
        .prop_map(
            |(
                (hostname, explicit_tag, address, port, vless),
                (password, uuid, server_name),
                (allow_insecure, pin, flow, disabled),
            )| GenEndpoint {
                hostname,
                explicit_tag,
                address,
                port,
                vless,
                password,
                uuid,
                server_name,
                allow_insecure,
                pin,
                flow,
                disabled,
            },
        )
}

#[derive(Debug, Clone)]
struct GenClient {
    core: usize,
    level: usize,
    socks_port: u16,
    api_port: Option<u16>,
    tun: (bool, bool, usize, u16, String),
    dns: Vec<[u8; 4]>,
    full_tag: Option<usize>,
    endpoints: Vec<GenEndpoint>,
    redirects: Vec<(Match, usize)>,
    forwards: Vec<GenForward>,
    snippets: GenSnippets,
}

fn client() -> impl Strategy<Value = GenClient> {
    (
        (
            0usize..3,
            0usize..4,
            port(),
            prop::option::of(port()),
            (
                any::<bool>(),
                any::<bool>(),
                0usize..3,
                576u16..=9000,
                "[a-z][a-z0-9]{0,14}",
            ),
            prop::collection::vec(any::<[u8; 4]>(), 0..3),
            prop::option::of(any::<usize>()),
        ),
        prop::collection::vec(endpoint(), 0..5),
        prop::collection::vec((matcher(), any::<usize>()), 0..24),
        prop::collection::vec(forward(), 0..4),
        snippet_set(),
    )
        .prop_map(
            |(
                (core, level, socks_port, api_port, tun, dns, full_tag),
                endpoints,
                redirects,
                forwards,
                snippets,
            )| {
                GenClient {
                    core,
                    level,
                    socks_port,
                    api_port,
                    tun,
                    dns,
                    full_tag,
                    endpoints,
                    redirects,
                    forwards,
                    snippets,
                }
            },
        )
}

const LEVELS: [&str; 4] = ["debug", "info", "warn", "error"];
const LISTENS: [&str; 4] = ["127.0.0.1", "0.0.0.0", "127.0.0.5", "::1"];
const FWD_PROTOCOLS: [&str; 3] = ["tcp", "udp", "both"];

/// Writes a valid client set under `root`; returns the expected outbound tags
/// (enabled endpoints in order, then `direct`) and the number of redirects.
fn write_client(root: &Path, g: &GenClient) -> (Vec<String>, usize) {
    let core = &cores()[g.core];
    let caps = core.capabilities();
    let mut t = String::new();
    writeln!(t, "[logging]\nlevel = {}\n", q(LEVELS[g.level])).unwrap();
    writeln!(t, "[core]\npath = {}", q(&core.path.display().to_string())).unwrap();
    let mut used_ports: BTreeSet<u16> = BTreeSet::from([g.socks_port]);
    if let Some(p) = g.api_port.filter(|p| used_ports.insert(*p)) {
        writeln!(t, "api_listen = \"127.0.0.1:{p}\"").unwrap();
    }

    // endpoints: unique tags by construction (index in the first label / tag)
    let mut tags = Vec::new();
    let mut enabled = Vec::new();
    let mut eps = String::new();
    for (i, e) in g.endpoints.iter().enumerate() {
        let hostname = format!("e{i}x{}", e.hostname);
        let tag = if e.explicit_tag {
            format!("ep{i}")
        } else {
            endpoint_tag_for(&hostname)
        };
        writeln!(eps, "\n[[client.endpoints]]").unwrap();
        if e.explicit_tag {
            writeln!(eps, "tag = {}", q(&tag)).unwrap();
        }
        writeln!(eps, "hostname = {}", q(&hostname)).unwrap();
        writeln!(eps, "address = {}\nport = {}", q(&e.address), e.port).unwrap();
        if e.vless {
            writeln!(
                eps,
                "protocol = \"vless\"\npassword = {}",
                q(&uuid_of(e.uuid))
            )
            .unwrap();
            if e.flow && caps.vision {
                writeln!(eps, "flow = \"xtls-rprx-vision\"").unwrap();
            }
        } else {
            writeln!(eps, "protocol = \"trojan\"\npassword = {}", q(&e.password)).unwrap();
        }
        writeln!(eps, "user = \"user{i}@xp2p.local\"").unwrap();
        if let Some(sni) = &e.server_name {
            writeln!(eps, "server_name = {}", q(sni)).unwrap();
        }
        writeln!(eps, "allow_insecure = {}", e.allow_insecure).unwrap();
        if let Some((pin, colons)) = &e.pin {
            let hex: Vec<String> = pin.iter().map(|b| format!("{b:02X}")).collect();
            let sep = if *colons { ":" } else { "" };
            writeln!(eps, "pinned_peer_cert_sha256 = {}", q(&hex.join(sep))).unwrap();
        }
        writeln!(eps, "disabled = {}", e.disabled).unwrap();
        tags.push(tag.clone());
        if !e.disabled {
            enabled.push(tag);
        }
    }

    let (tun_enabled, full, engine, mtu, tun_name) = &g.tun;
    let full = *full && !enabled.is_empty();
    let engine = match engine {
        1 if caps.tun_inbound => "core",
        2 => "builtin",
        _ => "auto",
    };
    writeln!(t, "\n[client]").unwrap();
    writeln!(t, "socks_address = \"127.0.0.1:{}\"", g.socks_port).unwrap();
    writeln!(t, "tun_enabled = {tun_enabled}").unwrap();
    writeln!(t, "tun_mode = \"{}\"", if full { "full" } else { "split" }).unwrap();
    writeln!(
        t,
        "tun_engine = \"{engine}\"\ntun_mtu = {mtu}\ntun_name = {}",
        q(tun_name)
    )
    .unwrap();
    let dns: BTreeSet<Ipv4Addr> = g.dns.iter().map(|o| Ipv4Addr::from(*o)).collect();
    let dns: Vec<String> = dns.iter().map(|d| q(&d.to_string())).collect();
    writeln!(t, "dns_servers = [{}]", dns.join(", ")).unwrap();
    if let Some(i) = g.full_tag.filter(|_| !enabled.is_empty()) {
        writeln!(t, "full_tunnel_tag = {}", q(&enabled[i % enabled.len()])).unwrap();
    }
    t.push_str(&eps);

    let managed: Vec<String> = enabled
        .iter()
        .cloned()
        .chain(std::iter::once("direct".to_string()))
        .collect();
    let snip_outs = write_snippets(&root.join("config-client"), &g.snippets, &managed);
    let targets: Vec<&String> = managed.iter().chain(&snip_outs).collect();

    let mut seen = BTreeSet::new();
    let mut redirects = 0;
    for (m, target) in &g.redirects {
        if !seen.insert(m.key()) {
            continue;
        }
        redirects += 1;
        writeln!(t, "\n[[client.redirects]]").unwrap();
        match m {
            Match::Cidr(c) => writeln!(t, "cidr = {}", q(c)).unwrap(),
            Match::Domain(d) => writeln!(t, "domain = {}", q(d)).unwrap(),
        }
        writeln!(t, "outbound_tag = {}", q(targets[target % targets.len()])).unwrap();
    }
    write_forwards(&mut t, "client", &g.forwards, &used_ports, &targets);
    std::fs::write(root.join("xp2p-client.toml"), t).unwrap();
    (managed, redirects)
}

/// Writes the forwards that fit: a port already taken for one of a forward's
/// networks (on any address) is skipped; `used_ports` are taken for both.
fn write_forwards(
    t: &mut String,
    section: &str,
    forwards: &[GenForward],
    used_ports: &BTreeSet<u16>,
    targets: &[&String],
) {
    let mut taken: BTreeSet<(u16, &str)> = used_ports
        .iter()
        .flat_map(|p| [(*p, "tcp"), (*p, "udp")])
        .collect();
    for f in forwards {
        let nets: &[&str] = match FWD_PROTOCOLS[f.protocol] {
            "tcp" => &["tcp"],
            "udp" => &["udp"],
            _ => &["tcp", "udp"],
        };
        if nets.iter().any(|n| taken.contains(&(f.port, *n))) {
            continue;
        }
        taken.extend(nets.iter().map(|n| (f.port, *n)));
        writeln!(t, "\n[[{section}.forwards]]").unwrap();
        writeln!(t, "listen_address = {}", q(LISTENS[f.listen])).unwrap();
        writeln!(t, "listen_port = {}", f.port).unwrap();
        writeln!(
            t,
            "target_host = {}\ntarget_port = {}",
            q(&f.target_host),
            f.target_port
        )
        .unwrap();
        writeln!(t, "protocol = \"{}\"", FWD_PROTOCOLS[f.protocol]).unwrap();
        writeln!(t, "outbound_tag = {}", q(targets[f.target % targets.len()])).unwrap();
    }
}

// --- server ----------------------------------------------------------------------

#[derive(Debug, Clone)]
struct GenServer {
    core: usize,
    host: String,
    listen: usize,
    trojan_port: u16,
    diag_port: u16,
    profile: usize,
    tun_enabled: bool,
    users: Vec<(String, u128, bool)>,
    redirects: Vec<(Match, usize)>,
    forwards: Vec<GenForward>,
    snippets: GenSnippets,
}

fn server() -> impl Strategy<Value = GenServer> {
    (
        (
            0usize..3,
            host(),
            0usize..4,
            port(),
            port(),
            0usize..3,
            any::<bool>(),
        ),
        prop::collection::vec(
            ("\\PC{1,24}", any::<u128>(), prop::bool::weighted(0.2)),
            0..5,
        ),
        prop::collection::vec((matcher(), any::<usize>()), 0..16),
        prop::collection::vec(forward(), 0..4),
        snippet_set(),
    )
        .prop_map(
            |(
                (core, host, listen, trojan_port, diag_port, profile, tun_enabled),
                users,
                redirects,
                forwards,
                snippets,
            )| {
                GenServer {
                    core,
                    host,
                    listen,
                    trojan_port,
                    diag_port,
                    profile,
                    tun_enabled,
                    users,
                    redirects,
                    forwards,
                    snippets,
                }
            },
        )
}

fn write_server(root: &Path, g: &GenServer) -> usize {
    let core = &cores()[g.core];
    let profile = match g.profile {
        2 if core.capabilities().vision => "vless-tls-vision",
        1 | 2 => "vless-tls",
        _ => "trojan-tls",
    };
    let vless = profile != "trojan-tls";
    let diag = if g.diag_port == g.trojan_port {
        g.trojan_port % 65535 + 1
    } else {
        g.diag_port
    };
    let mut t = String::new();
    writeln!(
        t,
        "[core]\npath = {}\n",
        q(&core.path.display().to_string())
    )
    .unwrap();
    writeln!(t, "[server]\nhost = {}", q(&g.host)).unwrap();
    writeln!(t, "listen = {}", q(LISTENS[g.listen])).unwrap();
    writeln!(t, "trojan_port = {}\ndiag_port = {diag}", g.trojan_port).unwrap();
    writeln!(
        t,
        "profile = \"{profile}\"\ntun_enabled = {}",
        g.tun_enabled
    )
    .unwrap();
    for (i, (secret, uuid, disabled)) in g.users.iter().enumerate() {
        let credential = if vless {
            uuid_of(*uuid)
        } else {
            secret.clone()
        };
        writeln!(t, "\n[[server.users]]\nuser_label = \"user{i}@xp2p.local\"").unwrap();
        writeln!(t, "credential = {}\ndisabled = {disabled}", q(&credential)).unwrap();
    }
    let managed = vec!["direct".to_string()];
    let snip_outs = write_snippets(&root.join("config-server"), &g.snippets, &managed);
    let targets: Vec<&String> = managed.iter().chain(&snip_outs).collect();
    let mut seen = BTreeSet::new();
    let mut redirects = 0;
    for (m, target) in &g.redirects {
        if !seen.insert(m.key()) {
            continue;
        }
        redirects += 1;
        writeln!(t, "\n[[server.redirects]]").unwrap();
        match m {
            Match::Cidr(c) => writeln!(t, "cidr = {}", q(c)).unwrap(),
            Match::Domain(d) => writeln!(t, "domain = {}", q(d)).unwrap(),
        }
        writeln!(t, "outbound_tag = {}", q(targets[target % targets.len()])).unwrap();
    }
    let used_ports = BTreeSet::from([g.trojan_port, diag]);
    write_forwards(&mut t, "server", &g.forwards, &used_ports, &targets);
    std::fs::write(root.join("xp2p-server.toml"), t).unwrap();
    // only existence is checked at compile time
    let tls = root.join("tls/server");
    std::fs::create_dir_all(&tls).unwrap();
    std::fs::write(tls.join("cert.pem"), b"not a real certificate").unwrap();
    std::fs::write(tls.join("key.pem"), [0u8, 1, 2, 3]).unwrap();
    redirects
}

// --- (a) valid models compile, deterministically -----------------------------------

fn compile_twice(root: &Path, role: Role, core: &CoreInfo) -> Result<Value, TestCaseError> {
    let layout = Layout::new(root, root.join("logs"));
    let files = read_desired(&layout, role).unwrap();
    let toml = String::from_utf8_lossy(files.toml.as_deref().unwrap_or_default()).into_owned();
    let a = compile(&layout, &files, core, &ctx());
    let a = match a {
        Ok(a) => a,
        Err(p) => {
            return Err(TestCaseError::fail(format!(
                "valid {role} did not compile:\n{p}\n--- toml ---\n{toml}\n--- snippets ---\n{:?}",
                files
                    .snippets
                    .iter()
                    .map(|(k, v)| (k.clone(), String::from_utf8_lossy(v).into_owned()))
                    .collect::<BTreeMap<_, _>>()
            )));
        }
    };
    // a second, independent read and compile
    let files2 = read_desired(&layout, role).unwrap();
    let b =
        compile(&layout, &files2, core, &ctx()).map_err(|p| TestCaseError::fail(p.to_string()))?;
    prop_assert_eq!(&a.xray_json, &b.xray_json);
    prop_assert_eq!(&a.runtime_json, &b.runtime_json);
    prop_assert_eq!(a.runtime.desired_digest, files.digest());
    let x: Value = serde_json::from_slice(&a.xray_json).unwrap();
    // the core needs unique inbound and outbound tags
    for key in ["inbounds", "outbounds"] {
        let all = tags(&x[key]);
        let unique: BTreeSet<&String> = all.iter().collect();
        prop_assert_eq!(unique.len(), all.len(), "duplicate {} tag: {:?}", key, all);
    }
    // every rule either is a snippet rule (sys-/man-) or carries an xp2p- ruleTag
    for rule in x["routing"]["rules"].as_array().unwrap() {
        let tag = rule["ruleTag"].as_str().unwrap_or("");
        prop_assert!(
            tag.starts_with("xp2p-") || tag.starts_with("sys-") || tag.starts_with("man-"),
            "rule without a ruleTag: {}",
            rule
        );
    }
    Ok(x)
}

fn tags(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|i| i["tag"].as_str().unwrap().to_string())
        .collect()
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn valid_clients_compile_deterministically(g in client()) {
        let dir = tempfile::tempdir().unwrap();
        let (managed, redirects) = write_client(dir.path(), &g);
        let core = &cores()[g.core];
        let x = compile_twice(dir.path(), Role::Client, core)?;
        // endpoints in order, then direct, then appended outbounds
        let outs = tags(&x["outbounds"]);
        prop_assert_eq!(&outs[..managed.len()], &managed[..]);
        // one rule per redirect, sorted: every domain rule before every ip rule
        let rules = x["routing"]["rules"].as_array().unwrap();
        let redirect_kinds: Vec<bool> = rules
            .iter()
            .filter(|r| r["ruleTag"].as_str().is_some_and(|t| t.starts_with("xp2p-")))
            .filter(|r| r.get("port").is_none() && r.get("inboundTag").is_none())
            .filter(|r| r["ip"] != json!(["0.0.0.0/0", "::/0"]))
            .map(|r| r.get("domain").is_some())
            .collect();
        prop_assert_eq!(redirect_kinds.len(), redirects);
        prop_assert!(redirect_kinds.windows(2).all(|w| w[0] >= w[1]), "domain after CIDR");
    }

    #[test]
    fn valid_servers_compile_deterministically(g in server()) {
        let dir = tempfile::tempdir().unwrap();
        let redirects = write_server(dir.path(), &g);
        let core = &cores()[g.core];
        let x = compile_twice(dir.path(), Role::Server, core)?;
        prop_assert_eq!(&tags(&x["outbounds"])[0], "direct");
        let clients = x["inbounds"][0]["settings"]["clients"].as_array().unwrap();
        prop_assert_eq!(clients.len(), g.users.iter().filter(|u| !u.2).count());
        let rules = x["routing"]["rules"].as_array().unwrap();
        let managed = rules
            .iter()
            .filter(|r| r["ruleTag"].as_str().is_some_and(|t| t.starts_with("xp2p-")))
            .filter(|r| r.get("inboundTag").is_none())
            // the system slot's diagnostics rule is not a redirect
            .filter(|r| r["outboundTag"] != "xp2p-diag")
            .count();
        prop_assert_eq!(managed, redirects);
    }
}

// --- (b) no input makes a parser panic ----------------------------------------------

/// Near-valid TOML: a generated valid client, then cut, spliced or corrupted.
#[derive(Debug, Clone)]
enum Mutation {
    Truncate(usize),
    Insert(usize, char),
    Delete(usize, usize),
    Replace(usize, String),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), any::<char>()).prop_map(|(i, c)| Mutation::Insert(i, c)),
        (any::<usize>(), 0usize..40).prop_map(|(i, n)| Mutation::Delete(i, n)),
        (
            any::<usize>(),
            prop_oneof![
                Just("[[client.endpoints]]\n".to_string()),
                Just("= ".to_string()),
                Just("\"".to_string()),
                Just("[client]\n".to_string()),
                Just("port = 0\n".to_string()),
                Just("tag = \"direct\"\n".to_string()),
                Just("outbound_tag = \"x\"\n".to_string()),
                "\\PC{0,12}",
            ]
        )
            .prop_map(|(i, s)| Mutation::Replace(i, s)),
    ]
}

fn mutate(text: &str, m: &Mutation) -> String {
    let chars: Vec<char> = text.chars().collect();
    let at = |i: usize| {
        if chars.is_empty() {
            0
        } else {
            i % (chars.len() + 1)
        }
    };
    match m {
        Mutation::Truncate(i) => chars[..at(*i)].iter().collect(),
        Mutation::Insert(i, c) => {
            let mut v = chars.clone();
            v.insert(at(*i), *c);
            v.into_iter().collect()
        }
        Mutation::Delete(i, n) => {
            let start = at(*i);
            let end = (start + n).min(chars.len());
            chars[..start].iter().chain(&chars[end..]).collect()
        }
        Mutation::Replace(i, s) => {
            let start = at(*i);
            let end = (start + s.chars().count()).min(chars.len());
            let mut out: String = chars[..start].iter().collect();
            out.push_str(s);
            out.extend(&chars[end..]);
            out
        }
    }
}

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        prop_oneof![
            Just("direct".to_string()),
            Just("proxy-a".to_string()),
            Just("xp2p-x".to_string()),
            Just("socks-in".to_string()),
            "[a-zA-Z.-]{0,8}",
        ]
        .prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("tag".to_string()),
                    Just("ruleTag".to_string()),
                    Just("outboundTag".to_string()),
                    Just("balancerTag".to_string()),
                    Just("ip".to_string()),
                    Just("domain".to_string()),
                    Just("rules".to_string()),
                    Just("inbounds".to_string()),
                    Just("outbounds".to_string()),
                    "[a-z]{1,6}",
                ],
                inner,
                0..5,
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn snippet_name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(snippets::RULES_AFTER_SYSTEM.to_string()),
        Just(snippets::RULES_AFTER_MANAGED.to_string()),
        Just(snippets::INBOUNDS_APPEND.to_string()),
        Just(snippets::OUTBOUNDS_APPEND.to_string()),
        "[a-z][a-z.]{0,11}",
    ]
}

fn snippet_content() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        any::<Vec<u8>>(),
        "\\PC{0,64}".prop_map(String::into_bytes),
        any_json().prop_map(|v| v.to_string().into_bytes()),
        // the right outer key around arbitrary content
        (0usize..3, any_json()).prop_map(|(k, v)| {
            let key = ["rules", "inbounds", "outbounds"][k];
            json!({key: v}).to_string().into_bytes()
        }),
        (0usize..3, prop::collection::vec(any_json(), 0..5)).prop_map(|(k, v)| {
            let key = ["rules", "inbounds", "outbounds"][k];
            json!({key: v}).to_string().into_bytes()
        }),
    ]
}

const MINIMAL_CLIENT: &str = "[client]\n\n[[client.endpoints]]\nhostname = \"a.example\"\naddress = \"192.0.2.1\"\nport = 443\nuser = \"u\"\npassword = \"p\"\n";

proptest! {
    #![proptest_config(config())]

    #[test]
    fn toml_parsers_never_panic(text in "\\PC{0,256}") {
        let f = Path::new("xp2p-client.toml");
        let _ = xp2p_core::desired::parse_client(f, &text);
        let _ = xp2p_core::desired::parse_server(f, &text);
    }

    #[test]
    fn toml_parsers_never_panic_on_tomlish_text(
        parts in prop::collection::vec(prop_oneof![
            Just("[client]\n"), Just("[server]\n"), Just("[[client.endpoints]]\n"),
            Just("[[server.users]]\n"), Just("[[client.redirects]]\n"), Just("port = "),
            Just("socks_address = "), Just("tun_mtu = "), Just("cidr = "), Just("\"10.0.0.0/8\""),
            Just("\"x\""), Just("99999"), Just("-1"), Just("\n"), Just("="), Just("["), Just("]"),
            Just("{"), Just("}"), Just(","), Just("a.b.c = 1\n"), Just("'''"), Just("\u{fffd}"),
        ], 0..40)
    ) {
        let text: String = parts.concat();
        let f = Path::new("xp2p-server.toml");
        let _ = xp2p_core::desired::parse_client(f, &text);
        let _ = xp2p_core::desired::parse_server(f, &text);
    }

    #[test]
    fn compiler_never_panics_on_mutated_desired(g in client(), m in mutation()) {
        let dir = tempfile::tempdir().unwrap();
        write_client(dir.path(), &g);
        let path = dir.path().join("xp2p-client.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, mutate(&text, &m)).unwrap();
        let layout = Layout::new(dir.path(), dir.path().join("logs"));
        let files = read_desired(&layout, Role::Client).unwrap();
        if let Err(p) = compile(&layout, &files, &cores()[g.core], &ctx()) {
            // every problem is one line ending in its code
            for e in &p.0 {
                let line = e.to_string();
                prop_assert!(!line.contains('\n'), "{}", line);
                prop_assert!(line.ends_with(&format!("[{}]", e.code)), "{}", line);
            }
        }
    }

    #[test]
    fn snippet_parser_never_panics(
        files in prop::collection::btree_map(snippet_name(), snippet_content(), 0..6),
        managed_in in prop::collection::vec("[a-zA-Z-]{0,8}", 0..3),
        managed_out in prop::collection::vec("[a-zA-Z-]{0,8}", 0..3),
    ) {
        let dir = Path::new("config-client");
        let (s, _errors) = snippets::parse(dir, &files);
        let _ = s.outbound_tags();
        let _ = s.check_merge(dir, &managed_in, &managed_out);
    }

    #[test]
    fn compiler_never_panics_on_arbitrary_snippets(
        files in prop::collection::btree_map(snippet_name(), snippet_content(), 0..6),
    ) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("xp2p-client.toml"), MINIMAL_CLIENT).unwrap();
        let snip = dir.path().join("config-client");
        std::fs::create_dir_all(&snip).unwrap();
        for (name, bytes) in &files {
            std::fs::write(snip.join(name), bytes).unwrap();
        }
        let layout = Layout::new(dir.path(), dir.path().join("logs"));
        let files = read_desired(&layout, Role::Client).unwrap();
        for core in cores() {
            let _ = compile(&layout, &files, &core, &ctx());
        }
    }
}
