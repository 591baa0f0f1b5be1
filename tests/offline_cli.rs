//! The one-shot commands of the built binary, without a service: `init`,
//! `validate` (one test per error class), `render` and `diff`.
//!
//! Error-class tests use a fake core (a shell script at `CONFIG_ROOT/bin/xray`
//! answering `-version` like v2ray 4.34): every one of those problems is found
//! before the core is asked to test anything. Tests that need the real core to
//! accept a config skip when `/usr/bin/v2ray` is absent.

mod support;

use std::collections::BTreeSet;

use serde_json::Value;
use support::{Run, TestRoot, V2RAY, v2ray_available};

const FAKE_V2RAY: &str = "V2Ray 4.34.0 (xp2p test fake) 20230518 (go1.19.8 linux/amd64)";

const ENDPOINT: &str = r#"
[[client.endpoints]]
hostname = "vpn.example.com"
address = "203.0.113.10"
port = 58443
user = "alice@xp2p.local"
password = "trojan-secret"
"#;

/// A valid client Desired: SOCKS plus one trojan endpoint; `extra` is appended.
fn client(extra: &str) -> String {
    format!("[client]\nsocks_address = \"127.0.0.1:51180\"\n{ENDPOINT}{extra}")
}

/// A root with the client Desired `toml` and the fake core.
fn client_root(toml: &str) -> TestRoot {
    let root = TestRoot::new();
    root.install_fake_core(FAKE_V2RAY);
    root.write("xp2p-client.toml", toml);
    root
}

fn validate(root: &TestRoot, role: &str) -> Run {
    root.run(&["validate", "--role", role])
}

/// Runs `validate --role <role>`, expects exit 1 and returns the error line that
/// contains `needle`, after checking it names `file` (relative to the root, shown
/// as an absolute path), carries `[code]` and nothing after it.
fn expect_error(root: &TestRoot, role: &str, file: &str, needle: &str, code: &str) -> String {
    let run = validate(root, role);
    assert_eq!(run.code, Some(1), "validate must exit 1: {run:?}");
    let file = root.path().join(file).display().to_string();
    let line = run
        .errors()
        .into_iter()
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no error line containing {needle:?}: {run:?}"))
        .to_string();
    assert!(
        line.starts_with(&file),
        "error line does not start with the file {file}: {line}"
    );
    assert!(
        line.ends_with(&format!("[{code}]")),
        "error line does not end with [{code}]: {line}"
    );
    assert!(
        run.stdout.is_empty(),
        "nothing on stdout when validation fails: {run:?}"
    );
    line
}

/// The `file:LINE:COL` position right after the file name, if any.
fn position(line: &str, root: &TestRoot, file: &str) -> Option<(usize, usize)> {
    let file = root.path().join(file).display().to_string();
    let rest = line.strip_prefix(&file)?.strip_prefix(':')?;
    let mut parts = rest.splitn(3, ':');
    let l = parts.next()?.parse().ok()?;
    let c = parts.next()?.parse().ok()?;
    Some((l, c))
}

// --- init --------------------------------------------------------------------

#[test]
fn init_writes_once_and_refuses_without_force() {
    let root = TestRoot::new();
    let run = root.run(&["init", "--role", "client"]);
    assert_eq!(run.code, Some(0), "{run:?}");
    let path = root.path().join("xp2p-client.toml");
    assert!(run.stdout.contains(&path.display().to_string()), "{run:?}");
    let template =
        std::fs::read_to_string(support::tests_dir().join("../assets/xp2p-client.toml")).unwrap();
    assert_eq!(root.read("xp2p-client.toml"), template);

    // an operator's edits survive a second init
    root.write("xp2p-client.toml", "# mine\n[client]\n");
    let run = root.run(&["init", "--role", "client"]);
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(
        run.stderr.contains("already exists") && run.stderr.contains("--force"),
        "{run:?}"
    );
    assert!(run.stderr.contains(&path.display().to_string()), "{run:?}");
    assert_eq!(root.read("xp2p-client.toml"), "# mine\n[client]\n");

    let run = root.run(&["init", "--role", "client", "--force"]);
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(root.read("xp2p-client.toml"), template);

    // the server role has its own file
    let run = root.run(&["init", "--role", "server"]);
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(root.path().join("xp2p-server.toml").is_file());
}

#[test]
fn init_client_template_compiles() {
    let root = TestRoot::new();
    root.install_fake_core(FAKE_V2RAY);
    assert_eq!(root.run(&["init", "--role", "client"]).code, Some(0));
    let run = root.run(&["render", "--role", "client"]);
    assert_eq!(run.code, Some(0), "{run:?}");
    let x: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(x["inbounds"][0]["tag"], "socks-in");
}

// --- validate: one test per error class --------------------------------------

#[test]
fn unknown_key_names_line_col_and_key() {
    let root = client_root("[client]\nsocks_adress = \"127.0.0.1:1\"\n");
    let line = expect_error(
        &root,
        "client",
        "xp2p-client.toml",
        "client.socks_adress",
        "invalid_toml",
    );
    assert!(
        line.contains(":2:1: client.socks_adress: unknown field"),
        "{line}"
    );
}

#[test]
fn bad_port() {
    let toml = client("").replace("port = 58443", "port = 70000");
    let root = client_root(&toml);
    let line = expect_error(
        &root,
        "client",
        "xp2p-client.toml",
        "client.endpoints[0].port",
        "invalid_toml",
    );
    assert!(line.contains("port must be 1-65535, got 70000"), "{line}");
    assert_eq!(
        position(&line, &root, "xp2p-client.toml"),
        Some((7, 8)),
        "{line}"
    );
}

#[test]
fn bad_cidr() {
    let root = client_root(&client(
        "\n[[client.redirects]]\ncidr = \"10.20.0.0\"\noutbound_tag = \"direct\"\n",
    ));
    let line = expect_error(
        &root,
        "client",
        "xp2p-client.toml",
        "client.redirects[0].cidr",
        "invalid_toml",
    );
    assert!(line.contains("`10.20.0.0` is not a CIDR"), "{line}");
    assert!(
        position(&line, &root, "xp2p-client.toml").is_some(),
        "{line}"
    );
}

#[test]
fn duplicate_endpoint_tag() {
    // same hostname: both derive proxy-vpn-example-com
    let root = client_root(&client(&ENDPOINT.replace("203.0.113.10", "203.0.113.11")));
    let line = expect_error(
        &root,
        "client",
        "xp2p-client.toml",
        "client.endpoints[1].tag",
        "merge_collision",
    );
    assert!(
        line.contains("duplicate tag `proxy-vpn-example-com`"),
        "{line}"
    );
    // no `tag` key: the position falls back to the endpoint's table
    assert_eq!(
        position(&line, &root, "xp2p-client.toml").map(|p| p.0),
        Some(11),
        "{line}"
    );
}

#[test]
fn redirect_with_both_cidr_and_domain() {
    let root = client_root(&client(
        "\n[[client.redirects]]\ncidr = \"10.20.0.0/16\"\ndomain = \"intranet.example.com\"\noutbound_tag = \"direct\"\n",
    ));
    let line = expect_error(
        &root,
        "client",
        "xp2p-client.toml",
        "client.redirects[0]",
        "invalid_toml",
    );
    assert!(line.contains("exactly one of `cidr` or `domain`"), "{line}");
}

#[test]
fn outbound_tag_naming_nothing() {
    let root = client_root(&client(
        "\n[[client.redirects]]\ncidr = \"10.20.0.0/16\"\noutbound_tag = \"proxy-nowhere\"\n",
    ));
    let line = expect_error(
        &root,
        "client",
        "xp2p-client.toml",
        "client.redirects[0].outbound_tag",
        "invalid_toml",
    );
    assert!(line.contains("`proxy-nowhere` names no outbound"), "{line}");
    assert!(
        line.contains("known: direct, proxy-vpn-example-com"),
        "{line}"
    );
    // a forward naming nothing too
    let root = client_root(&client(
        "\n[[client.forwards]]\nlisten_port = 2222\ntarget_host = \"10.0.0.5\"\ntarget_port = 22\noutbound_tag = \"nope\"\n",
    ));
    expect_error(
        &root,
        "client",
        "xp2p-client.toml",
        "client.forwards[0].outbound_tag: `nope` names no outbound",
        "invalid_toml",
    );
}

#[test]
fn missing_credential() {
    // empty
    let root = client_root(&client("").replace("\"trojan-secret\"", "\"\""));
    expect_error(
        &root,
        "client",
        "xp2p-client.toml",
        "client.endpoints[0].password: credential must not be empty",
        "invalid_toml",
    );
    // absent
    let root = client_root(&client("").replace("password = \"trojan-secret\"\n", ""));
    let line = expect_error(
        &root,
        "client",
        "xp2p-client.toml",
        "missing field `password`",
        "invalid_toml",
    );
    assert!(line.contains("client.endpoints[0]"), "{line}");
    // a server user without one
    let root = TestRoot::new();
    root.install_fake_core(FAKE_V2RAY);
    root.write_self_signed_cert("vpn.example.com");
    root.write(
        "xp2p-server.toml",
        "[server]\n\n[[server.users]]\nuser_label = \"alice\"\ncredential = \"\"\n",
    );
    let line = expect_error(
        &root,
        "server",
        "xp2p-server.toml",
        "server.users[0].credential: credential must not be empty",
        "invalid_toml",
    );
    assert_eq!(
        position(&line, &root, "xp2p-server.toml"),
        Some((5, 14)),
        "{line}"
    );
}

#[test]
fn vless_credential_must_be_a_uuid() {
    let toml = client("").replace(
        "password = \"trojan-secret\"",
        "protocol = \"vless\"\npassword = \"not-a-uuid\"",
    );
    let root = client_root(&toml);
    expect_error(
        &root,
        "client",
        "xp2p-client.toml",
        "client.endpoints[0].password: a VLESS credential must be a UUID",
        "invalid_toml",
    );
    // and on a vless server
    let root = TestRoot::new();
    root.install_fake_core(FAKE_V2RAY);
    root.write_self_signed_cert("vpn.example.com");
    root.write(
        "xp2p-server.toml",
        "[server]\nprofile = \"vless-tls\"\n\n[[server.users]]\nuser_label = \"alice\"\ncredential = \"trojan-secret\"\n",
    );
    expect_error(
        &root,
        "server",
        "xp2p-server.toml",
        "server.users[0].credential: a VLESS credential must be a UUID",
        "invalid_toml",
    );
}

#[test]
fn mtu_out_of_range() {
    let root = client_root("[client]\ntun_mtu = 100\n");
    let line = expect_error(
        &root,
        "client",
        "xp2p-client.toml",
        "client.tun_mtu",
        "invalid_toml",
    );
    assert!(
        line.contains(":2:11: client.tun_mtu: MTU must be 576-9000, got 100"),
        "{line}"
    );
}

#[test]
fn server_certificate_file_missing() {
    let root = TestRoot::new();
    root.install_fake_core(FAKE_V2RAY);
    root.write(
        "xp2p-server.toml",
        "[server]\n\n[[server.users]]\nuser_label = \"alice\"\ncredential = \"s\"\n",
    );
    let cert = root.path().join("tls/server/cert.pem");
    let line = expect_error(
        &root,
        "server",
        "xp2p-server.toml",
        "server.certificate",
        "invalid_toml",
    );
    assert!(
        line.contains(&format!("file {} does not exist", cert.display())),
        "{line}"
    );
    expect_error(
        &root,
        "server",
        "xp2p-server.toml",
        "server.key",
        "invalid_toml",
    );
    // with the files it validates
    root.write_self_signed_cert("vpn.example.com");
    let run = validate(&root, "server");
    assert_eq!(run.code, Some(0), "{run:?}");
}

// --- validate: snippets ------------------------------------------------------

#[test]
fn snippet_reserved_tag() {
    let root = client_root(&client(""));
    root.write(
        "config-client/outbounds.append.json",
        r#"{"outbounds":[{"tag":"mine","protocol":"freedom"},{"tag":"proxy-mine","protocol":"freedom"}]}"#,
    );
    expect_error(
        &root,
        "client",
        "config-client/outbounds.append.json",
        "config-client/outbounds.append.json: outbounds[1] (tag \"proxy-mine\"): tag is reserved",
        "reserved_tag",
    );
    // an inbound named like one xp2p emits
    let root = client_root(&client(""));
    root.write(
        "config-client/inbounds.append.json",
        r#"{"inbounds":[{"tag":"Socks-In","protocol":"socks","port":1081}]}"#,
    );
    expect_error(
        &root,
        "client",
        "config-client/inbounds.append.json",
        "inbounds[0] (tag \"Socks-In\"): tag is reserved",
        "reserved_tag",
    );
    // a ruleTag in xp2p's namespace
    let root = client_root(&client(""));
    root.write(
        "config-client/routing.rules.after-xp2p-managed.json",
        r#"{"rules":[{"ruleTag":"xp2p-mine","ip":["10.0.0.0/8"],"outboundTag":"direct"}]}"#,
    );
    expect_error(
        &root,
        "client",
        "config-client/routing.rules.after-xp2p-managed.json",
        "rules[0] (ruleTag \"xp2p-mine\"): ruleTag prefix xp2p- is reserved",
        "reserved_tag",
    );
}

#[test]
fn snippet_tag_collision() {
    // with a managed tag (a custom endpoint tag, which is not reserved)
    let root = client_root(&client("").replace(
        "hostname = \"vpn.example.com\"",
        "tag = \"edge\"\nhostname = \"vpn.example.com\"",
    ));
    root.write(
        "config-client/outbounds.append.json",
        r#"{"outbounds":[{"tag":"EDGE","protocol":"freedom"}]}"#,
    );
    expect_error(
        &root,
        "client",
        "config-client/outbounds.append.json",
        "outbounds[0] (tag \"EDGE\"): tag collides with a tag xp2p manages",
        "merge_collision",
    );
    // with an earlier appended tag, case-insensitively
    let root = client_root(&client(""));
    root.write(
        "config-client/outbounds.append.json",
        r#"{"outbounds":[{"tag":"mine","protocol":"freedom"},{"tag":"Mine","protocol":"blackhole"}]}"#,
    );
    expect_error(
        &root,
        "client",
        "config-client/outbounds.append.json",
        "outbounds[1] (tag \"Mine\"): tag collides with an earlier tag",
        "merge_collision",
    );
}

#[test]
fn snippet_dangling_outbound_tag() {
    let root = client_root(&client(""));
    root.write(
        "config-client/routing.rules.after-xp2p-managed.json",
        r#"{"rules":[{"ruleTag":"mine","domain":["ads.example"],"outboundTag":"nowhere"}]}"#,
    );
    expect_error(
        &root,
        "client",
        "config-client/routing.rules.after-xp2p-managed.json",
        "rules[0] (ruleTag \"mine\"): outboundTag `nowhere` names no outbound",
        "invalid_rule",
    );
    // a balancer: xp2p configs define none
    let root = client_root(&client(""));
    root.write(
        "config-client/routing.rules.after-xp2p-system.json",
        r#"{"rules":[{"ip":["10.0.0.0/8"],"balancerTag":"lb"}]}"#,
    );
    expect_error(
        &root,
        "client",
        "config-client/routing.rules.after-xp2p-system.json",
        "rules[0]: balancerTag `lb` names no balancer",
        "invalid_rule",
    );
}

#[test]
fn snippet_catch_all_after_system_is_a_rule_order_error() {
    let root = client_root(&client(""));
    root.write(
        "config-client/routing.rules.after-xp2p-system.json",
        r#"{"rules":[{"ruleTag":"everything","outboundTag":"direct"}]}"#,
    );
    expect_error(
        &root,
        "client",
        "config-client/routing.rules.after-xp2p-system.json",
        "rules[0] (ruleTag \"everything\"): catch-all rule",
        "rule_order",
    );
    // the same rule after the managed ones is accepted
    let root = client_root(&client(""));
    root.write(
        "config-client/routing.rules.after-xp2p-managed.json",
        r#"{"rules":[{"ruleTag":"everything","outboundTag":"direct"}]}"#,
    );
    let run = validate(&root, "client");
    assert_eq!(run.code, Some(0), "{run:?}");
}

#[test]
fn snippet_unknown_file_name() {
    let root = client_root(&client(""));
    root.write("config-client/routes.json", "{}");
    // editor droppings are ignored, not reported
    root.write("config-client/.outbounds.append.json.swp", "junk");
    root.write("config-client/outbounds.append.json~", "junk");
    let line = expect_error(
        &root,
        "client",
        "config-client/routes.json",
        "config-client/routes.json: unknown snippet file",
        "invalid_snippet",
    );
    assert!(line.contains("outbounds.append.json"), "{line}");
    let run = validate(&root, "client");
    assert_eq!(run.errors().len(), 1, "{run:?}");
}

#[test]
fn snippet_malformed_json() {
    let root = client_root(&client(""));
    root.write(
        "config-client/inbounds.append.json",
        "{\n  \"inbounds\": [,]\n}\n",
    );
    let line = expect_error(
        &root,
        "client",
        "config-client/inbounds.append.json",
        "malformed JSON",
        "invalid_snippet",
    );
    let pos = position(&line, &root, "config-client/inbounds.append.json");
    assert_eq!(pos.map(|p| p.0), Some(2), "{line}");
    // a well-formed file of the wrong shape
    let root = client_root(&client(""));
    root.write(
        "config-client/outbounds.append.json",
        r#"{"outbounds":{"tag":"x"}}"#,
    );
    expect_error(
        &root,
        "client",
        "config-client/outbounds.append.json",
        "outbounds: must be an array",
        "invalid_snippet",
    );
}

#[test]
fn every_problem_is_reported_in_one_pass() {
    let toml = client(
        "\n[[client.redirects]]\ncidr = \"10.20.0.0/16\"\noutbound_tag = \"nowhere\"\n\n[[client.redirects]]\ndomain = \"bad domain\"\noutbound_tag = \"direct\"\n",
    )
    .replace("user = \"alice@xp2p.local\"", "user = \" \"");
    let root = client_root(&toml);
    root.write("config-client/routes.json", "{}");
    let run = validate(&root, "client");
    assert_eq!(run.code, Some(1));
    let errors = run.errors();
    for needle in [
        "client.endpoints[0].user",
        "client.redirects[0].outbound_tag",
        "client.redirects[1].domain",
        "routes.json",
    ] {
        assert!(
            errors.iter().any(|l| l.contains(needle)),
            "{needle} missing: {run:?}"
        );
    }
}

// --- the core's verdict ------------------------------------------------------

#[test]
fn unsupported_by_core_names_the_key_and_the_core() {
    let toml = client("").replace(
        "[client]\n",
        "[client]\ntun_enabled = true\ntun_engine = \"core\"\n",
    );
    // the fake v2ray
    let root = client_root(&toml);
    let fake = root.path().join("bin/xray");
    let line = expect_error(
        &root,
        "client",
        "xp2p-client.toml",
        "client.tun_engine",
        "unsupported_by_core",
    );
    assert!(
        line.contains(&format!("v2ray 4.34.0 ({})", fake.display())),
        "{line}"
    );
    // the real one
    if !v2ray_available() {
        eprintln!("skipping the real-core half: {V2RAY} is not installed");
        return;
    }
    let root = TestRoot::new();
    root.write(
        "xp2p-client.toml",
        format!("[core]\npath = \"{V2RAY}\"\n\n{toml}"),
    );
    let line = expect_error(
        &root,
        "client",
        "xp2p-client.toml",
        "client.tun_engine",
        "unsupported_by_core",
    );
    assert!(line.contains("a TUN inbound"), "{line}");
    assert!(line.contains(&format!("v2ray 4.34.0 ({V2RAY})")), "{line}");
    // `auto` falls back to the builtin engine instead of failing
    root.write(
        "xp2p-client.toml",
        format!(
            "[core]\npath = \"{V2RAY}\"\n\n{}",
            toml.replace("tun_engine = \"core\"", "tun_engine = \"auto\"")
        ),
    );
    let run = validate(&root, "client");
    assert_eq!(run.code, Some(0), "{run:?}");
}

/// The representative Desired of the golden test, in a fresh root.
fn representative_root() -> TestRoot {
    let root = TestRoot::new();
    support::copy_dir(&support::tests_dir().join("golden/input"), root.path());
    root.write_self_signed_cert("vpn.example.com");
    root
}

#[test]
fn representative_client_and_server_pass_the_real_core() {
    if !v2ray_available() {
        eprintln!("skipping: {V2RAY} is not installed");
        return;
    }
    let root = representative_root();
    let run = root.run(&["validate"]);
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(run.stdout.contains("client: ok (v2ray 4.34.0"), "{run:?}");
    assert!(run.stdout.contains("server: ok (v2ray 4.34.0"), "{run:?}");
    for role in ["client", "server"] {
        let run = validate(&root, role);
        assert_eq!(run.code, Some(0), "{role}: {run:?}");
    }
}

#[test]
fn a_config_the_core_refuses_is_config_test_failed() {
    if !v2ray_available() {
        eprintln!("skipping: {V2RAY} is not installed");
        return;
    }
    let root = TestRoot::new();
    root.write(
        "xp2p-client.toml",
        format!("[core]\npath = \"{V2RAY}\"\n\n{}", client("")),
    );
    // xp2p cannot know every protocol; the core's own test catches this one
    root.write(
        "config-client/outbounds.append.json",
        r#"{"outbounds":[{"tag":"weird","protocol":"no-such-protocol"}]}"#,
    );
    let line = expect_error(
        &root,
        "client",
        "xp2p-client.toml",
        "the core refused",
        "config_test_failed",
    );
    assert!(line.contains("exit 23"), "{line}");
}

#[test]
fn validate_without_desired_files() {
    let root = TestRoot::new();
    let run = root.run(&["validate"]);
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(run.stderr.contains("xp2p init"), "{run:?}");
    let run = validate(&root, "server");
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(
        run.stderr.contains("no Desired file for the server role"),
        "{run:?}"
    );
}

// --- render and diff ---------------------------------------------------------

#[test]
fn render_live_without_live_fails_clearly() {
    let root = client_root(&client(""));
    for (flag, slot) in [("--live", "live"), ("--lkg", "lkg")] {
        let run = root.run(&["render", "--role", "client", flag]);
        assert_eq!(run.code, Some(1), "{run:?}");
        assert!(run.stdout.is_empty(), "{run:?}");
        let expected = format!(
            "error: no {slot} config for the client role ({} does not exist)",
            root.path()
                .join(format!(".state/{slot}/config-client/xray.json"))
                .display()
        );
        assert_eq!(run.stderr.trim_end(), expected, "{run:?}");
    }
    // Desired renders
    let run = root.run(&["render", "--role", "client"]);
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(serde_json::from_str::<Value>(&run.stdout).is_ok());
}

#[test]
fn diff_json_lists_pointer_changes() {
    let root = client_root(&client(""));
    let run = root.run(&["render", "--role", "client"]);
    assert_eq!(run.code, Some(0), "{run:?}");
    let mut live: Value = serde_json::from_str(&run.stdout).unwrap();
    live["inbounds"][0]["port"] = 1080.into();
    live.as_object_mut().unwrap().remove("log");
    live["extra/key"] = true.into();
    root.write(
        ".state/live/config-client/xray.json",
        serde_json::to_string(&live).unwrap(),
    );

    let run = root.run(&["diff", "--role", "client", "--json"]);
    assert_eq!(run.code, Some(0), "{run:?}");
    let changes: Value = serde_json::from_str(&run.stdout).unwrap();
    let changes = changes.as_array().unwrap();
    assert_eq!(changes.len(), 3, "{changes:?}");
    for c in changes {
        let keys: BTreeSet<&str> = c.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            BTreeSet::from(["path", "change", "old", "new"]),
            "{c}"
        );
    }
    let find = |path: &str| {
        changes
            .iter()
            .find(|c| c["path"] == path)
            .unwrap_or_else(|| panic!("no change at {path}: {changes:?}"))
    };
    // left = desired, right = live
    let port = find("/inbounds/0/port");
    assert_eq!(port["change"], "changed");
    assert_eq!(port["old"], 51180);
    assert_eq!(port["new"], 1080);
    let log = find("/log");
    assert_eq!(log["change"], "removed", "desired has it, live does not");
    assert_eq!(log["new"], Value::Null);
    assert_eq!(log["old"]["loglevel"], "info");
    // RFC 6901 escaping of `/`
    let extra = find("/extra~1key");
    assert_eq!(extra["change"], "added");
    assert_eq!(extra["old"], Value::Null);
    assert_eq!(extra["new"], true);

    // identical sides: an empty list, and a plain sentence without --json
    let run = root.run(&["diff", "--role", "client", "--json", "desired", "desired"]);
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(
        serde_json::from_str::<Value>(&run.stdout).unwrap(),
        Value::Array(vec![])
    );
    let run = root.run(&["diff", "--role", "client", "desired", "desired"]);
    assert_eq!(
        run.stdout.trim_end(),
        "client: desired and desired are identical"
    );

    // the text diff has headers and the changed line
    let run = root.run(&["diff", "--role", "client"]);
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(
        run.stdout.contains("--- desired") && run.stdout.contains("+++ live"),
        "{run:?}"
    );
    assert!(run.stdout.contains("+      \"port\": 1080"), "{run:?}");
    assert!(!run.stdout.contains("\x1b["), "no colour off a terminal");

    // a missing side
    let run = root.run(&["diff", "--role", "client", "--json", "desired", "lkg"]);
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(
        run.stderr.contains("no lkg config for the client role"),
        "{run:?}"
    );
}

#[test]
fn tcp_and_udp_forwards_on_one_port_keep_their_own_routes() {
    // Validation allows a TCP and a UDP forward on the same address and port;
    // each must get its own inbound tag, or the first rule captures both.
    let root = client_root(&client(
        "\n[[client.forwards]]\nlisten_port = 5353\ntarget_host = \"10.0.0.53\"\ntarget_port = 53\nprotocol = \"udp\"\noutbound_tag = \"proxy-vpn-example-com\"\n\n[[client.forwards]]\nlisten_port = 5353\ntarget_host = \"10.9.9.9\"\ntarget_port = 80\nprotocol = \"tcp\"\noutbound_tag = \"direct\"\n",
    ));
    let run = root.run(&["render", "--role", "client"]);
    assert_eq!(run.code, Some(0), "{run:?}");
    let x: Value = serde_json::from_str(&run.stdout).unwrap();
    let inbound_tags: Vec<&str> = x["inbounds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["tag"].as_str().unwrap())
        .collect();
    let unique: BTreeSet<&str> = inbound_tags.iter().copied().collect();
    assert_eq!(unique.len(), inbound_tags.len(), "{inbound_tags:?}");
    for (inbound, target, outbound) in [
        (1, "10.0.0.53", "proxy-vpn-example-com"),
        (2, "10.9.9.9", "direct"),
    ] {
        let inb = &x["inbounds"][inbound];
        assert_eq!(inb["settings"]["address"], target);
        let tag = inb["tag"].as_str().unwrap();
        let rules: Vec<&Value> = x["routing"]["rules"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["inboundTag"][0] == tag)
            .collect();
        assert_eq!(rules.len(), 1, "{tag}: {rules:?}");
        assert_eq!(rules[0]["outboundTag"], outbound, "{tag}");
    }
    // the same two on one protocol clash
    let root = client_root(&client(
        "\n[[client.forwards]]\nlisten_port = 5353\ntarget_host = \"10.0.0.53\"\ntarget_port = 53\nprotocol = \"both\"\noutbound_tag = \"direct\"\n\n[[client.forwards]]\nlisten_port = 5353\ntarget_host = \"10.9.9.9\"\ntarget_port = 80\nprotocol = \"tcp\"\noutbound_tag = \"direct\"\n",
    ));
    expect_error(
        &root,
        "client",
        "xp2p-client.toml",
        "client.forwards[1].listen_port: 127.0.0.1:5353 (tcp) is already used",
        "invalid_toml",
    );
}
