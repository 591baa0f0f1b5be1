//! Golden files for the compiler: a representative client and server
//! (`tests/golden/input/`) compiled through the public library API with a fixed
//! context and a synthetic v2ray 4.34 core, so the output is stable.
//!
//! `UPDATE_GOLDEN=1 cargo test --test golden_compile` rewrites the files; read
//! the diff before committing it. Besides byte equality the tests assert the
//! properties formats.md promises (rule order, rule tags, outbound order, no
//! secrets in runtime.json, determinism), so a regenerated golden file cannot
//! silently bless a broken compiler.

mod support;

use std::path::{Path, PathBuf};

use serde_json::Value;
use xp2p_core::compile::{CompileContext, Compiled, compile};
use xp2p_core::{Layout, Role};
use xp2p_store::coreproc::{CoreInfo, Flavour};
use xp2p_store::digest::read_desired;

const ROOT_PLACEHOLDER: &str = "<ROOT>";

/// Fixed certificate/key bytes: only their existence matters to the compiler,
/// but their content goes into `desired_digest`, so it must not vary.
const FAKE_CERT: &str = "-----BEGIN CERTIFICATE-----\ngolden-fixture\n-----END CERTIFICATE-----\n";
const FAKE_KEY: &str = "-----BEGIN PRIVATE KEY-----\ngolden-fixture\n-----END PRIVATE KEY-----\n";

fn core() -> CoreInfo {
    CoreInfo {
        path: "/usr/bin/v2ray".into(),
        flavour: Flavour::V2ray,
        version: "4.34.0".into(),
    }
}

fn ctx() -> CompileContext {
    CompileContext {
        request_id: Some("fixed".into()),
        compiled_at: "2026-01-01T00:00:00Z".into(),
    }
}

fn golden_dir() -> PathBuf {
    support::tests_dir().join("golden")
}

/// A temporary CONFIG_ROOT holding the representative inputs.
fn fixture_root() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("xp2p-golden-")
        .tempdir()
        .unwrap();
    support::copy_dir(&golden_dir().join("input"), dir.path());
    let tls = dir.path().join("tls/server");
    std::fs::create_dir_all(&tls).unwrap();
    std::fs::write(tls.join("cert.pem"), FAKE_CERT).unwrap();
    std::fs::write(tls.join("key.pem"), FAKE_KEY).unwrap();
    dir
}

fn compile_in(root: &Path, role: Role) -> Compiled {
    let layout = Layout::new(root, root.join("logs"));
    let files = read_desired(&layout, role).unwrap();
    compile(&layout, &files, &core(), &ctx()).unwrap_or_else(|p| panic!("{role}: {p}"))
}

/// Replaces what depends on the machine or the release: the temporary root and
/// the xp2p version.
fn redact(bytes: &[u8], root: &Path) -> String {
    let text = std::str::from_utf8(bytes).unwrap();
    let version = format!("\"xp2p_version\": \"{}\"", xp2p_core::VERSION);
    text.replace(&root.display().to_string(), ROOT_PLACEHOLDER)
        .replace(&version, "\"xp2p_version\": \"<VERSION>\"")
}

/// runtime.json, redacted; its `config_sha256` hashes the unredacted xray.json
/// (which holds the root path on a server), so it becomes a placeholder after
/// checking that it is the hash of xray.json.
fn redact_runtime(c: &Compiled, root: &Path) -> String {
    let sha = &c.runtime.config_sha256;
    assert_eq!(sha, &xp2p_store::digest::sha256_hex(&c.xray_json));
    redact(&c.runtime_json, root).replace(sha.as_str(), "<SHA256 of xray.json>")
}

fn check_golden(name: &str, actual: &str) {
    let path = golden_dir().join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v == "1") {
        std::fs::write(&path, actual).unwrap();
        eprintln!("updated {}", path.display());
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run with UPDATE_GOLDEN=1 to create it)",
            path.display()
        )
    });
    if expected != actual {
        let first = expected
            .lines()
            .zip(actual.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| expected.lines().count().min(actual.lines().count()));
        panic!(
            "{} differs from the compiler output at line {}:\n  golden: {:?}\n  actual: {:?}\n(UPDATE_GOLDEN=1 rewrites it; review the diff)",
            path.display(),
            first + 1,
            expected.lines().nth(first),
            actual.lines().nth(first),
        );
    }
}

fn json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap()
}

fn tags(items: &Value) -> Vec<&str> {
    items
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["tag"].as_str().unwrap())
        .collect()
}

fn rule_tag(rule: &Value) -> &str {
    rule["ruleTag"].as_str().unwrap_or("")
}

/// A managed rule tag: `xp2p-` + 16 lowercase hex digits.
fn is_managed_rule_tag(t: &str) -> bool {
    t.strip_prefix("xp2p-").is_some_and(|h| {
        h.len() == 16
            && h.chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
    })
}

/// One word per routing rule saying which slot of formats.md it belongs to.
fn classify(rule: &Value) -> String {
    let out = rule["outboundTag"].as_str().unwrap_or("");
    match rule_tag(rule) {
        "lan-direct" => return "snippet-after-system".into(),
        "ads-block" => return "snippet-after-managed".into(),
        _ => {}
    }
    if let Some(inb) = rule["inboundTag"][0].as_str() {
        if inb == "api" {
            return "system-api".into();
        }
        if inb.starts_with("xp2p-fwd-") {
            return format!("forward->{out}");
        }
    }
    if rule.get("port").is_some() && out == "direct" {
        return "bypass".into();
    }
    if rule["ip"][0]
        .as_str()
        .is_some_and(|ip| ip.starts_with("127.255."))
    {
        return format!("system-marker->{out}");
    }
    if let Some(d) = rule["domain"][0].as_str() {
        return format!("redirect {d}->{out}");
    }
    if let Some(ip) = rule["ip"][0].as_str() {
        return format!("redirect {ip}->{out}");
    }
    format!("unknown {rule}")
}

fn assert_no_secrets(runtime: &str, secrets: &[&str]) {
    for s in secrets {
        assert!(!runtime.contains(s), "runtime.json leaks `{s}`:\n{runtime}");
    }
    let lower = runtime.to_ascii_lowercase();
    for word in ["password", "credential", "\"id\"", "secret"] {
        assert!(!lower.contains(word), "runtime.json mentions {word}");
    }
}

#[test]
fn client_golden() {
    let root = fixture_root();
    let c = compile_in(root.path(), Role::Client);
    check_golden("client.xray.json", &redact(&c.xray_json, root.path()));
    check_golden("client.runtime.json", &redact_runtime(&c, root.path()));
}

#[test]
fn server_golden() {
    let root = fixture_root();
    let c = compile_in(root.path(), Role::Server);
    check_golden("server.xray.json", &redact(&c.xray_json, root.path()));
    check_golden("server.runtime.json", &redact_runtime(&c, root.path()));
}

#[test]
fn compiling_twice_gives_identical_bytes() {
    for role in Role::ALL {
        let root = fixture_root();
        let a = compile_in(root.path(), role);
        let b = compile_in(root.path(), role);
        assert_eq!(a.xray_json, b.xray_json, "{role} xray.json");
        assert_eq!(a.runtime_json, b.runtime_json, "{role} runtime.json");
        // A different CONFIG_ROOT changes nothing but the absolute asset paths.
        let other = fixture_root();
        let c = compile_in(other.path(), role);
        assert_eq!(
            redact(&a.xray_json, root.path()),
            redact(&c.xray_json, other.path()),
            "{role}: output depends on more than the root path"
        );
        assert_eq!(a.runtime.desired_digest, c.runtime.desired_digest);
    }
}

#[test]
fn client_rule_order_follows_formats_md() {
    let root = fixture_root();
    let c = compile_in(root.path(), Role::Client);
    let x = json(&c.xray_json);
    let rules = x["routing"]["rules"].as_array().unwrap();
    let kinds: Vec<String> = rules.iter().map(classify).collect();
    assert_eq!(
        kinds,
        [
            // 1 endpoint bypass, in endpoint order
            "bypass",
            "bypass",
            // 2 system rules (v2ray API routing, one diagnostics marker per endpoint)
            "system-api",
            "system-marker->proxy-vpn-example-com",
            "system-marker->proxy-edge",
            // 3 after-xp2p-system snippet
            "snippet-after-system",
            // 4 managed: forwards, then redirects (domain first, longer prefix first)
            "forward->proxy-vpn-example-com",
            "redirect domain:intranet.example.com->proxy-vpn-example-com",
            "redirect 10.20.30.0/24->proxy-edge",
            "redirect 10.20.0.0/16->proxy-vpn-example-com",
            // 5 after-xp2p-managed snippet
            "snippet-after-managed",
        ],
        "{}",
        serde_json::to_string_pretty(rules).unwrap()
    );
    // the bypass rules name each endpoint's own address and port
    assert_eq!(rules[0]["ip"][0], "203.0.113.10");
    assert_eq!(rules[0]["port"], "58443");
    assert_eq!(rules[1]["domain"][0], "full:edge.example.net");
    assert_eq!(rules[1]["port"], "443");

    // every managed rule has a well-formed, unique ruleTag; snippet rules keep theirs
    let mut seen = std::collections::BTreeSet::new();
    for (rule, kind) in rules.iter().zip(&kinds) {
        let t = rule_tag(rule);
        if kind.starts_with("snippet") {
            assert!(!t.starts_with("xp2p-"), "{rule}");
        } else {
            assert!(
                is_managed_rule_tag(t),
                "managed rule without ruleTag: {rule}"
            );
        }
        assert!(seen.insert(t.to_string()), "duplicate ruleTag {t}");
        assert_eq!(rule["type"], "field", "{rule}");
    }
}

#[test]
fn client_inbounds_and_outbounds() {
    let root = fixture_root();
    let c = compile_in(root.path(), Role::Client);
    let x = json(&c.xray_json);
    // endpoints (declaration order, the first is the default route), then direct,
    // then appended outbounds
    assert_eq!(
        tags(&x["outbounds"]),
        [
            "proxy-vpn-example-com",
            "proxy-edge",
            "direct",
            "blackhole-out"
        ]
    );
    assert_eq!(
        tags(&x["inbounds"]),
        ["socks-in", "api", "xp2p-fwd-127-0-0-1-2222", "http-in"]
    );
    let trojan = &x["outbounds"][0];
    assert_eq!(trojan["protocol"], "trojan");
    assert_eq!(trojan["settings"]["servers"][0]["address"], "203.0.113.10");
    assert_eq!(
        trojan["streamSettings"]["tlsSettings"]["serverName"],
        "vpn.example.com"
    );
    let vless = &x["outbounds"][1];
    assert_eq!(vless["protocol"], "vless");
    let user = &vless["settings"]["vnext"][0]["users"][0];
    assert_eq!(user["id"], "5e3c0b8a-7f41-4d2c-9a6e-1b2c3d4e5f60");
    assert_eq!(user["encryption"], "none");
    let tls = &vless["streamSettings"]["tlsSettings"];
    assert_eq!(tls["serverName"], "cdn.example.net");
    // v2ray flavour: the pin is a base64 chain hash, not xray's hex field
    assert!(tls.get("pinnedPeerCertSha256").is_none());
    assert_eq!(
        tls["pinnedPeerCertificateChainSha256"][0],
        "q83vASNFZ4mrze8BI0VniavN7wEjRWeJq83vASNFZ4k="
    );
    // v2ray flavour: API through a dokodemo inbound, no api.listen
    assert!(x["api"].get("listen").is_none());
    assert_eq!(x["api"]["tag"], "api");
    // the runtime lists what probes may check
    let ports: Vec<u64> = c
        .runtime
        .inbounds
        .iter()
        .map(|i| u64::from(i.port))
        .collect();
    assert_eq!(ports, [51180, 52180, 2222]);
    assert_eq!(c.runtime.endpoints.len(), 2);
}

#[test]
fn client_runtime_holds_no_secret() {
    let root = fixture_root();
    let c = compile_in(root.path(), Role::Client);
    let runtime = String::from_utf8(c.runtime_json.clone()).unwrap();
    assert_no_secrets(
        &runtime,
        &[
            "trojan-secret-alice",
            "5e3c0b8a-7f41-4d2c-9a6e-1b2c3d4e5f60",
            "ab:cd:ef",
            "abcdef0123456789",
        ],
    );
    // and the xray.json does carry them (the test would be vacuous otherwise)
    let xray = String::from_utf8(c.xray_json.clone()).unwrap();
    assert!(xray.contains("trojan-secret-alice"));
    assert!(xray.contains("5e3c0b8a-7f41-4d2c-9a6e-1b2c3d4e5f60"));
    let rt = json(&c.runtime_json);
    assert_eq!(rt["request_id"], "fixed");
    assert_eq!(rt["compiled_at"], "2026-01-01T00:00:00Z");
    assert_eq!(
        rt["config_sha256"].as_str().unwrap(),
        xp2p_store::digest::sha256_hex(&c.xray_json)
    );
}

#[test]
fn server_structure() {
    let root = fixture_root();
    let c = compile_in(root.path(), Role::Server);
    let x = json(&c.xray_json);
    assert_eq!(tags(&x["inbounds"]), ["trojan-in"]);
    assert_eq!(tags(&x["outbounds"]), ["direct", "xp2p-diag"]);
    let inb = &x["inbounds"][0];
    assert_eq!(inb["port"], 58443);
    // the disabled user is not compiled
    let clients = inb["settings"]["clients"].as_array().unwrap();
    assert_eq!(clients.len(), 1);
    assert_eq!(clients[0]["email"], "alice@xp2p.local");
    assert!(!String::from_utf8_lossy(&c.xray_json).contains("trojan-secret-bob"));
    // certificate paths are resolved to absolute paths under CONFIG_ROOT
    let cert = &inb["streamSettings"]["tlsSettings"]["certificates"][0];
    let cert_file = cert["certificateFile"].as_str().unwrap();
    assert!(Path::new(cert_file).is_absolute());
    assert_eq!(
        Path::new(cert_file),
        root.path().join("tls/server/cert.pem")
    );
    assert_eq!(
        Path::new(cert["keyFile"].as_str().unwrap()),
        root.path().join("tls/server/key.pem")
    );
    let rules = x["routing"]["rules"].as_array().unwrap();
    assert_eq!(rules.len(), 2);
    // system slot: diagnostics markers to the loopback responder
    assert_eq!(rules[0]["ip"][0], "127.255.0.0/16");
    assert_eq!(rules[0]["outboundTag"], "xp2p-diag");
    // managed: the redirect
    assert_eq!(rules[1]["ip"][0], "10.30.0.0/16");
    assert_eq!(rules[1]["outboundTag"], "direct");
    assert!(rules.iter().all(|r| is_managed_rule_tag(rule_tag(r))));

    let runtime = String::from_utf8(c.runtime_json.clone()).unwrap();
    assert_no_secrets(&runtime, &["trojan-secret-alice", "trojan-secret-bob"]);
    assert!(
        !runtime.contains("golden-fixture"),
        "runtime.json copies the key"
    );
}

// --- reverse channels (tests/golden/reverse/) ------------------------------

/// A CONFIG_ROOT holding the reverse-channel inputs (two channels per role).
/// `real_cert`: a self-signed certificate the real core can load, instead of
/// the fixed fake bytes the golden digest needs.
fn reverse_root(real_cert: bool) -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("xp2p-golden-rev-")
        .tempdir()
        .unwrap();
    support::copy_dir(&golden_dir().join("reverse/input"), dir.path());
    if real_cert {
        support::write_self_signed_cert(dir.path(), "vpn.example.com");
    } else {
        let tls = dir.path().join("tls/server");
        std::fs::create_dir_all(&tls).unwrap();
        std::fs::write(tls.join("cert.pem"), FAKE_CERT).unwrap();
        std::fs::write(tls.join("key.pem"), FAKE_KEY).unwrap();
    }
    dir
}

/// One word per rule of a config with reverse channels.
fn classify_reverse(rule: &Value) -> String {
    let out = rule["outboundTag"].as_str().unwrap_or("");
    let inbound = rule["inboundTag"][0].as_str().unwrap_or("");
    if inbound.ends_with(".rev") {
        return match (rule["domain"][0].as_str(), rule["ip"][0].as_str()) {
            (Some(d), _) | (None, Some(d)) => format!("bridge {inbound} {d}->{out}"),
            (None, None) => format!("bridge {inbound}->{out}"),
        };
    }
    if inbound == "xp2p-diag-in" {
        return format!("probe-in->{out}");
    }
    if rule.get("user").is_some() {
        let users: Vec<&str> = rule["user"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u.as_str().unwrap())
            .collect();
        return format!(
            "portal {} [{}]->{out}",
            rule["domain"][0].as_str().unwrap(),
            users.join(",")
        );
    }
    if let Some(ip) = rule["ip"][0].as_str()
        && ip.starts_with("127.254.")
    {
        return format!(
            "channel-marker {ip}:{}->{out}",
            rule["port"].as_str().unwrap()
        );
    }
    classify(rule)
}

#[test]
fn reverse_goldens() {
    for (role, name) in [(Role::Client, "client"), (Role::Server, "server")] {
        let root = reverse_root(false);
        let c = compile_in(root.path(), role);
        check_golden(
            &format!("reverse/{name}.xray.json"),
            &redact(&c.xray_json, root.path()),
        );
        // deterministic
        let again = compile_in(root.path(), role);
        assert_eq!(c.xray_json, again.xray_json, "{role}");
    }
}

#[test]
fn reverse_client_bridges_and_rule_order() {
    let root = reverse_root(false);
    let c = compile_in(root.path(), Role::Client);
    let x = json(&c.xray_json);
    // bridges in key order (`edge`, `vpn`); the disabled `old` is left out
    assert_eq!(
        x["reverse"],
        serde_json::json!({"bridges": [
            {"tag": "alice-xp2p-localedge-example-net.rev", "domain": "alice-xp2p-localedge-example-net.rev"},
            {"tag": "alice-xp2p-localvpn-example-com.rev", "domain": "alice-xp2p-localvpn-example-com.rev"},
        ]})
    );
    assert!(x.get("reverse").unwrap().get("portals").is_none());
    // endpoints first (the default route), `direct`, then the Mux copy of
    // the Trojan endpoint a bridge uses, then the way to the responder that
    // answers channel probes
    assert_eq!(
        tags(&x["outbounds"]),
        [
            "proxy-vpn-example-com",
            "proxy-edge",
            "direct",
            "xp2p-rev-proxy-vpn-example-com",
            "xp2p-diag"
        ]
    );
    assert_eq!(
        x["outbounds"][4]["settings"]["redirect"], "127.0.0.1:62025",
        "client.diag_port's default"
    );
    assert_eq!(c.runtime.diag_port, Some(62025));
    let copy = &x["outbounds"][3];
    assert_eq!(
        copy["mux"],
        serde_json::json!({"enabled": true, "concurrency": 1})
    );
    assert_eq!(copy["settings"], x["outbounds"][0]["settings"]);
    assert_eq!(copy["streamSettings"], x["outbounds"][0]["streamSettings"]);
    assert!(x["outbounds"][1].get("mux").is_none());
    let rules = x["routing"]["rules"].as_array().unwrap();
    let kinds: Vec<String> = rules.iter().map(classify_reverse).collect();
    assert_eq!(
        kinds,
        [
            "bypass",
            "bypass",
            // system slot: the bridges' rules, then the diagnostics markers
            "bridge alice-xp2p-localedge-example-net.rev full:alice-xp2p-localedge-example-net.rev->proxy-edge",
            // channel probes (127.254.0.0/16) end at the responder
            "bridge alice-xp2p-localedge-example-net.rev 127.254.0.0/16->xp2p-diag",
            "bridge alice-xp2p-localedge-example-net.rev->direct",
            // over the Trojan endpoint through its Mux copy
            "bridge alice-xp2p-localvpn-example-com.rev full:alice-xp2p-localvpn-example-com.rev->xp2p-rev-proxy-vpn-example-com",
            "bridge alice-xp2p-localvpn-example-com.rev 127.254.0.0/16->xp2p-diag",
            "bridge alice-xp2p-localvpn-example-com.rev->direct",
            "system-marker->proxy-vpn-example-com",
            "system-marker->proxy-edge",
            "redirect 10.20.0.0/16->proxy-vpn-example-com",
        ],
        "{}",
        serde_json::to_string_pretty(rules).unwrap()
    );
    let mut seen = std::collections::BTreeSet::new();
    for rule in rules {
        let t = rule_tag(rule);
        assert!(is_managed_rule_tag(t), "{rule}");
        assert!(seen.insert(t.to_string()), "duplicate ruleTag {t}");
    }
}

#[test]
fn reverse_server_portals_and_rules() {
    let root = reverse_root(false);
    let c = compile_in(root.path(), Role::Server);
    let x = json(&c.xray_json);
    // portals in key order; the disabled `carol` is left out
    assert_eq!(
        x["reverse"],
        serde_json::json!({"portals": [
            {"tag": "alice-xp2p-localvpn-example-com.rev", "domain": "alice-xp2p-localvpn-example-com.rev"},
            {"tag": "bob-nas.rev", "domain": "bob-nas.rev"},
        ]})
    );
    // a portal is not an outbound of the list; channel probes enter through
    // a loopback SOCKS inbound whose other traffic is dropped
    assert_eq!(
        tags(&x["outbounds"]),
        ["direct", "xp2p-diag", "xp2p-diag-drop"]
    );
    assert_eq!(x["outbounds"][2]["protocol"], "blackhole");
    let probe_in = x["inbounds"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["tag"] == "xp2p-diag-in")
        .unwrap();
    assert_eq!(
        (
            &probe_in["listen"],
            &probe_in["port"],
            &probe_in["protocol"]
        ),
        (&"127.0.0.1".into(), &62024.into(), &"socks".into())
    );
    // runtime.json: where the service probes each enabled channel
    let channels: Vec<(&str, &str, &str)> = c
        .runtime
        .channels
        .iter()
        .map(|ch| (ch.key.as_str(), ch.tag.as_str(), ch.marker.as_str()))
        .collect();
    assert_eq!(
        channels,
        [
            (
                "alice",
                "alice-xp2p-localvpn-example-com.rev",
                "127.254.0.1:62023"
            ),
            ("bob", "bob-nas.rev", "127.254.0.2:62023"),
        ]
    );
    let rules = x["routing"]["rules"].as_array().unwrap();
    let kinds: Vec<String> = rules.iter().map(classify_reverse).collect();
    assert_eq!(
        kinds,
        [
            // system slot: per channel a marker and the bridge's connections
            // (the rotated user under both emails) into the portal
            "channel-marker 127.254.0.1/32:62023->alice-xp2p-localvpn-example-com.rev",
            "portal full:alice-xp2p-localvpn-example-com.rev [alice@xp2p.local,alice@xp2p.local~previous]->alice-xp2p-localvpn-example-com.rev",
            "channel-marker 127.254.0.2/32:62023->bob-nas.rev",
            "portal full:bob-nas.rev [bob@xp2p.local]->bob-nas.rev",
            // the probe inbound reaches the markers above and nothing else
            "probe-in->xp2p-diag-drop",
            "system-marker->xp2p-diag",
            // managed: the forward and the redirects via the channels
            "forward->alice-xp2p-localvpn-example-com.rev",
            "redirect domain:nas.bob.lan->bob-nas.rev",
            "redirect 10.77.0.0/16->alice-xp2p-localvpn-example-com.rev",
        ],
        "{}",
        serde_json::to_string_pretty(rules).unwrap()
    );
    let mut seen = std::collections::BTreeSet::new();
    for rule in rules {
        let t = rule_tag(rule);
        assert!(is_managed_rule_tag(t), "{rule}");
        assert!(seen.insert(t.to_string()), "duplicate ruleTag {t}");
    }
}

/// The real core accepts both configs (`v2ray -test`); skipped without it.
#[test]
fn reverse_configs_pass_the_real_core() {
    if !support::v2ray_available() {
        eprintln!("skipping: {} is not installed", support::V2RAY);
        return;
    }
    for role in Role::ALL {
        let root = reverse_root(true);
        let c = compile_in(root.path(), role);
        let config = root.path().join(format!("{role}.xray.json"));
        std::fs::write(&config, &c.xray_json).unwrap();
        let out = std::process::Command::new(support::V2RAY)
            .args(["-test", "-config"])
            .arg(&config)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{role}: v2ray -test refused the config:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
