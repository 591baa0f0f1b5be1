//! The edit flow end to end, against the built binary and the real core:
//! `server user add` prints a link that `client endpoint add --link` turns into
//! a working tunnel on a second root; rotation with a grace, disable and
//! remove; refusals leave TOML, Live and LKG byte for byte; `--dry-run` writes
//! nothing; racing edits both land; the `--json` shapes are fixed by goldens.

mod service_support;
mod support;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use service_support::*;
use support::*;

const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
const GRACE_WAIT: Duration = Duration::from_secs(240);

/// A GET to a local forward port; Ok(body) only when the origin answered.
fn get_via(port: u16, origin: &HttpOrigin) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let Ok(mut s) = TcpStream::connect_timeout(&addr, FETCH_TIMEOUT) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(FETCH_TIMEOUT));
    if s.write_all(b"GET / HTTP/1.0\r\n\r\n").is_err() {
        return false;
    }
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out.contains(origin.body())
}

/// Whether `status --json` says the service answered.
fn service_running(run: &Run) -> bool {
    serde_json::from_str::<Value>(&run.stdout)
        .is_ok_and(|v| v["state"]["service"]["running"] == true)
}

fn ok(run: &Run, what: &str) {
    assert_eq!(run.code, Some(0), "{what}: {run:?}");
}

/// A server root with a commented Desired, a self-signed cert for localhost.
fn server_root(trojan: u16) -> TestRoot {
    let root = TestRoot::new();
    root.write_self_signed_cert("localhost");
    root.write("xp2p-server.toml", server_toml(V2RAY, trojan, "pw-1"));
    root
}

/// A client root with SOCKS and no endpoint yet.
fn client_root(socks: u16) -> TestRoot {
    let root = TestRoot::new();
    root.write(
        "xp2p-client.toml",
        format!(
            "# client of the edit test\n[core]\npath = \"{V2RAY}\"\n\n[client]\nsocks_address = \"127.0.0.1:{socks}\"\n"
        ),
    );
    root
}

fn link_of(root: &TestRoot, label: &str) -> String {
    let run = root.run(&["server", "user", "show", label, "--link"]);
    ok(&run, "user show --link");
    let link = run.stdout.trim().to_string();
    assert!(link.starts_with("trojan://"), "{link}");
    link
}

/// `client forward add --listen-port auto … --via TAG --wait`: the port.
fn forward_to(client: &TestRoot, origin: &HttpOrigin, via: &str) -> u16 {
    let target = origin.addr().to_string();
    let run = client.run(&[
        "client",
        "forward",
        "add",
        "--listen-port",
        "auto",
        "--target",
        &target,
        "--via",
        via,
        "--wait",
    ]);
    ok(&run, "forward add");
    let listen: SocketAddr = run
        .stdout
        .lines()
        .find_map(|l| l.trim().parse().ok())
        .unwrap_or_else(|| panic!("no listen address printed: {run:?}"));
    listen.port()
}

#[test]
fn a_users_link_carries_a_tunnel_through_rotate_disable_and_remove() {
    if !v2ray_available() {
        eprintln!("skipped: no v2ray");
        return;
    }
    let origin = HttpOrigin::start(ORIGIN_IP);
    let trojan = free_port();
    let server = server_root(trojan);
    let _sreaper = CoreReaper(server.path().to_path_buf());
    let _s = Service::start(&server);
    assert!(
        wait_until(LONG, || outcomes(&server, "server")
            .iter()
            .any(|o| o == "committed")),
        "server never applied: {:?}",
        journal(&server)
    );

    // add: the printed link is the one `show` gives
    let run = server.run(&["server", "user", "add", "bob", "--wait"]);
    ok(&run, "user add");
    let printed = run.stdout.lines().next().unwrap_or_default().to_string();
    let bob_link = link_of(&server, "bob");
    assert_eq!(printed, bob_link);
    assert!(bob_link.ends_with("#bob"), "{bob_link}");
    let alice_link = link_of(&server, "alice@xp2p.local");

    // a second root imports the links and reaches the origin through each
    let client = client_root(free_port());
    let _creaper = CoreReaper(client.path().to_path_buf());
    let _c = Service::start(&client);
    // `--wait` needs the service to answer (it has no Live yet: no endpoint).
    assert!(
        wait_until(LONG, || service_running(&client.run(&["status", "--json"]))),
        "the client service never answered"
    );
    for (link, tag) in [(&alice_link, "alice"), (&bob_link, "bob")] {
        let run = client.run(&[
            "client", "endpoint", "add", "--link", link, "--tag", tag, "--wait",
        ]);
        ok(&run, "endpoint add --link");
    }
    let via_alice = forward_to(&client, &origin, "alice");
    let via_bob = forward_to(&client, &origin, "bob");
    assert!(
        wait_until(LONG, || get_via(via_alice, &origin)),
        "alice's tunnel"
    );
    assert!(
        wait_until(LONG, || get_via(via_bob, &origin)),
        "bob's tunnel"
    );

    // rotate with a grace: the old credential keeps working, the new one too
    let run = server.run(&[
        "server", "user", "rotate", "bob", "--grace", "45s", "--wait",
    ]);
    ok(&run, "rotate");
    let new_link = link_of(&server, "bob");
    assert_ne!(new_link, bob_link);
    assert!(
        get_via(via_bob, &origin),
        "the old credential stopped inside its grace"
    );
    let run = client.run(&[
        "client", "endpoint", "add", "--link", &new_link, "--tag", "bob2", "--wait",
    ]);
    ok(&run, "endpoint add (new link)");
    let via_bob2 = forward_to(&client, &origin, "bob2");
    assert!(
        wait_until(LONG, || get_via(via_bob2, &origin)),
        "the new credential"
    );
    // the grace ends: the service applies without the old credential
    assert!(
        wait_until(GRACE_WAIT, || !get_via(via_bob, &origin)),
        "the old credential still works after its grace: {:?}",
        journal(&server)
    );
    assert!(
        get_via(via_bob2, &origin),
        "the new credential after the grace"
    );

    // disable: that user's fetch fails, another's works
    ok(
        &server.run(&["server", "user", "disable", "alice@xp2p.local", "--wait"]),
        "disable",
    );
    assert!(
        wait_until(LONG, || !get_via(via_alice, &origin)),
        "alice still passes"
    );
    assert!(
        get_via(via_bob2, &origin),
        "bob's fetch after alice was disabled"
    );
    ok(
        &server.run(&["server", "user", "enable", "alice@xp2p.local", "--wait"]),
        "enable",
    );
    assert!(
        wait_until(LONG, || get_via(via_alice, &origin)),
        "alice after enable"
    );

    // remove: bob is gone from Desired and from the core
    ok(
        &server.run(&["server", "user", "remove", "bob", "--wait"]),
        "remove",
    );
    assert!(
        wait_until(LONG, || !get_via(via_bob2, &origin)),
        "bob still passes"
    );
    let list = server.run(&["server", "user", "list", "--json"]);
    ok(&list, "list");
    let v: Value = serde_json::from_str(&list.stdout).unwrap();
    let labels: Vec<&str> = v["result"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|u| u["label"].as_str())
        .collect();
    assert_eq!(labels, ["alice@xp2p.local"]);
}

const COMMENTED_SERVER: &str = r#"# Server of the edit tests: every comment must survive an edit.
[core]
path = "/usr/bin/v2ray" # the Debian core

[server]
host = "localhost"   # used in links
listen = "127.0.0.1"
trojan_port = 58443
diag_port = 62022

# --- users ---
# the first user
[[server.users]]
user_label = "u1"
credential = "cred-1"

# the second user: removed by the test
[[server.users]]
user_label = "u2"
credential = "cred-2" # trailing note

# the third user
[[server.users]]
user_label = "u3"
credential = "cred-3"

# end of file
"#;

fn commented_root() -> TestRoot {
    let root = TestRoot::new();
    root.write_self_signed_cert("localhost");
    root.write("xp2p-server.toml", COMMENTED_SERVER);
    root
}

#[test]
fn remove_takes_only_its_block_and_add_then_remove_restores_the_file() {
    let root = commented_root();
    let run = root.run(&["server", "user", "remove", "u2"]);
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(run.stderr.contains("not running"), "{run:?}");
    let expected = std::fs::read_to_string(tests_dir().join("golden/edit/server_remove_u2.toml"))
        .expect("golden file");
    assert_eq!(root.read("xp2p-server.toml"), expected);

    let root = commented_root();
    ok(
        &root.run(&["server", "user", "add", "u4", "--credential", "cred-4"]),
        "add",
    );
    assert!(
        root.read("xp2p-server.toml")
            .contains("user_label = \"u4\"")
    );
    ok(&root.run(&["server", "user", "remove", "u4"]), "remove");
    assert_eq!(root.read("xp2p-server.toml"), COMMENTED_SERVER);
}

/// Every file under the root with its bytes (for "nothing changed").
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(b) = std::fs::read(&p) {
                out.insert(p, b);
            }
        }
    }
    out
}

#[test]
fn dry_run_writes_nothing_and_shows_both_diffs() {
    let root = commented_root();
    root.write(
        "xp2p-client.toml",
        format!("[core]\npath = \"{V2RAY}\"\n\n[client]\nsocks_address = \"127.0.0.1:51180\"\n\n[[client.endpoints]]\ntag = \"a\"\nhostname = \"localhost\"\naddress = \"127.0.0.1\"\nport = 58443\nuser = \"u1\"\npassword = \"cred-1\"\n"),
    );
    let before = snapshot(root.path());
    let cases: &[&[&str]] = &[
        &[
            "server",
            "user",
            "add",
            "u9",
            "--credential",
            "c9",
            "--dry-run",
        ],
        &[
            "server",
            "user",
            "rotate",
            "u1",
            "--grace",
            "1h",
            "--dry-run",
        ],
        &["server", "user", "disable", "u1", "--dry-run"],
        &["server", "user", "remove", "u3", "--dry-run"],
        &[
            "server",
            "redirect",
            "add",
            "--cidr",
            "10.9.0.0/16",
            "--via",
            "direct",
            "--dry-run",
        ],
        &[
            "client",
            "endpoint",
            "add",
            "--host",
            "h.example",
            "--password",
            "p",
            "--tag",
            "b",
            "--dry-run",
        ],
        &["client", "endpoint", "disable", "a", "--dry-run"],
        &[
            "client",
            "redirect",
            "add",
            "--cidr",
            "10.20.0.0/16",
            "--via",
            "a",
            "--dry-run",
        ],
        &[
            "client",
            "forward",
            "add",
            "--listen",
            "127.0.0.1:2222",
            "--target",
            "10.20.0.5:22",
            "--via",
            "a",
            "--dry-run",
        ],
    ];
    for args in cases {
        let run = root.run(args);
        assert_eq!(run.code, Some(0), "{args:?}: {run:?}");
        assert!(
            run.stdout.contains("@@"),
            "{args:?}: no diff: {}",
            run.stdout
        );
        assert!(
            run.stdout.contains("nothing written"),
            "{args:?}: {}",
            run.stdout
        );
        assert_eq!(snapshot(root.path()), before, "{args:?} wrote something");
        let mut json_args = args.to_vec();
        json_args.push("--json");
        let run = root.run(&json_args);
        assert_eq!(run.code, Some(0), "{json_args:?}: {run:?}");
        let v: Value = serde_json::from_str(&run.stdout).unwrap();
        assert_eq!(v["result"]["status"], "dry_run");
        assert_eq!(v["edit"]["written"], false);
        assert_eq!(
            snapshot(root.path()),
            before,
            "{json_args:?} wrote something"
        );
    }
    // the compiled diff is there when the core changes
    let run = root.run(&[
        "server",
        "user",
        "add",
        "u9",
        "--credential",
        "c9",
        "--dry-run",
    ]);
    assert!(run.stdout.contains("compiled (edited)"), "{}", run.stdout);
}

/// Hashes of the TOMLs, Live and LKG of both roles.
fn guarded(root: &TestRoot) -> BTreeMap<String, Option<Vec<u8>>> {
    let mut m = BTreeMap::new();
    for rel in [
        "xp2p-server.toml",
        "xp2p-client.toml",
        ".state/live/config-server/xray.json",
        ".state/live/config-client/xray.json",
        ".state/lkg/config-server/xray.json",
        ".state/lkg/config-client/xray.json",
    ] {
        m.insert(rel.to_string(), std::fs::read(root.path().join(rel)).ok());
    }
    m
}

#[test]
fn bad_edits_are_refused_with_one_line_and_change_nothing() {
    if !v2ray_available() {
        eprintln!("skipped: no v2ray");
        return;
    }
    let pair = pair();
    let root = &pair.root;
    let _svc = Service::start(root);
    assert!(
        wait_until(LONG, || outcomes(root, "client")
            .iter()
            .any(|o| o == "committed")
            && outcomes(root, "server").iter().any(|o| o == "committed")),
        "never applied: {:?}",
        journal(root)
    );
    // a disabled endpoint and a forward to clash with
    ok(
        &root.run(&[
            "client",
            "endpoint",
            "add",
            "--host",
            "other.example",
            "--password",
            "p",
            "--tag",
            "off",
            "--wait",
        ]),
        "add off",
    );
    ok(
        &root.run(&["client", "endpoint", "disable", "off", "--wait"]),
        "disable off",
    );
    ok(
        &root.run(&[
            "client",
            "forward",
            "add",
            "--listen",
            "127.0.0.1:2222",
            "--target",
            "10.0.0.5:22",
            "--via",
            "proxy-localhost",
            "--wait",
        ]),
        "forward",
    );
    let other = tempfile::tempdir().unwrap();
    write_self_signed_cert(other.path(), "localhost");
    let other_key = other.path().join("tls/server/key.pem");
    let own_cert = root.path().join("tls/server/cert.pem");

    let cases: Vec<(Vec<String>, i32, &str)> = vec![
        (
            sv(&["server", "user", "add", "alice@xp2p.local"]),
            1,
            "server.users",
        ),
        (
            sv(&[
                "client",
                "endpoint",
                "add",
                "--host",
                "x.example",
                "--password",
                "p",
                "--tag",
                "proxy-localhost",
            ]),
            1,
            "client.endpoints",
        ),
        (
            sv(&[
                "client",
                "redirect",
                "add",
                "--cidr",
                "10.1.0.0/16",
                "--via",
                "nope",
            ]),
            1,
            "outbound_tag",
        ),
        (
            sv(&[
                "client",
                "redirect",
                "add",
                "--cidr",
                "10.1.0.0/16",
                "--via",
                "off",
            ]),
            1,
            "disabled",
        ),
        (
            sv(&[
                "client",
                "forward",
                "add",
                "--listen",
                "127.0.0.1:2222",
                "--target",
                "10.0.0.6:22",
                "--via",
                "proxy-localhost",
            ]),
            1,
            "2222",
        ),
        (
            sv(&["client", "endpoint", "add", "--link", "trojan://nohost"]),
            2,
            "endpoint link",
        ),
        (
            sv(&[
                "client",
                "redirect",
                "add",
                "--cidr",
                "10.0/33",
                "--via",
                "proxy-localhost",
            ]),
            2,
            "--cidr",
        ),
        (
            vec![
                "server".into(),
                "cert".into(),
                "set".into(),
                "--cert".into(),
                own_cert.display().to_string(),
                "--key".into(),
                other_key.display().to_string(),
            ],
            2,
            "--key",
        ),
        (
            sv(&["client", "endpoint", "remove", "proxy-localhost"]),
            1,
            "forward",
        ),
        (sv(&["server", "user", "remove", "nobody"]), 1, "nobody"),
    ];
    for (args, code, names) in cases {
        let before = guarded(root);
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let run = root.run(&refs);
        assert_eq!(run.code, Some(code), "{args:?}: {run:?}");
        let lines: Vec<&str> = run
            .stderr
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect();
        assert_eq!(lines.len(), 1, "{args:?}: not one line: {}", run.stderr);
        assert!(lines[0].starts_with("error: "), "{args:?}: {}", run.stderr);
        assert!(
            lines[0].contains(names),
            "{args:?}: {} does not name {names}",
            lines[0]
        );
        assert_eq!(guarded(root), before, "{args:?} changed TOML, Live or LKG");
        // --json: the same refusal as one object on stderr, nothing on stdout
        let mut j = refs.clone();
        j.push("--json");
        let run = root.run(&j);
        assert_eq!(run.code, Some(code), "{j:?}: {run:?}");
        assert!(run.stdout.is_empty(), "{j:?}: {}", run.stdout);
        let v: Value = serde_json::from_str(run.stderr.trim()).unwrap();
        assert!(v["error"]["message"].as_str().unwrap().contains(names));
    }
}

fn sv(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

#[test]
fn racing_edits_both_land_and_a_stopped_service_is_exit_6_with_wait() {
    let root = commented_root();
    let spawn = |label: &str| {
        root.cmd()
            .args(["server", "user", "add", label])
            .output()
            .expect("run xp2p")
    };
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| spawn("racer-a"));
        let b = s.spawn(|| spawn("racer-b"));
        (a.join().unwrap(), b.join().unwrap())
    });
    assert!(a.status.success() && b.status.success(), "{a:?} {b:?}");
    let text = root.read("xp2p-server.toml");
    assert!(
        text.contains("\"racer-a\"") && text.contains("\"racer-b\""),
        "{text}"
    );
    assert!(
        text.contains("# the second user"),
        "a comment was lost: {text}"
    );

    let run = root.run(&[
        "server",
        "user",
        "disable",
        "racer-a",
        "--wait",
        "--timeout",
        "5s",
    ]);
    assert_eq!(run.code, Some(6), "{run:?}");
    assert!(run.stderr.contains("xp2p service run"), "{run:?}");
    assert!(root.read("xp2p-server.toml").contains("disabled = true"));
    let req: Value = serde_json::from_str(&root.read(".state/apply.request")).unwrap();
    assert!(
        req["requests"]["server"].is_object() || req["requests"]["server"].is_string(),
        "{req}"
    );
}

/// Values that differ per run, replaced before comparing with the golden.
fn normalise(v: &mut Value, root: &Path) {
    match v {
        Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                let varying = matches!(
                    k.as_str(),
                    "created_at"
                        | "rotated_at"
                        | "rotation_expires_at"
                        | "not_before"
                        | "not_after"
                        | "sha256"
                        | "request_id"
                        | "size"
                );
                if varying && !x.is_null() {
                    *x = Value::String(format!("<{k}>"));
                } else {
                    normalise(x, root);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| normalise(x, root)),
        Value::String(s) => {
            let r = root.display().to_string();
            *s = mask_times(&s.replace(&r, "<root>"));
        }
        _ => {}
    }
}

/// `2026-01-01T00:00:00Z` anywhere in `s` becomes `<time>`.
fn mask_times(s: &str) -> String {
    const SHAPE: &[u8] = b"dddd-dd-ddTdd:dd:ddZ";
    let b = s.as_bytes();
    let mut out = String::new();
    let mut i = 0;
    while i < b.len() {
        let fits = b.len() - i >= SHAPE.len()
            && SHAPE.iter().zip(&b[i..]).all(|(p, c)| match p {
                b'd' => c.is_ascii_digit(),
                other => other == c,
            });
        if fits {
            out.push_str("<time>");
            i += SHAPE.len();
        } else {
            let ch = s[i..].chars().next().unwrap_or(' ');
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
}

#[test]
fn every_commands_json_shape_is_fixed_by_a_golden_file() {
    let root = commented_root();
    root.write(
        "xp2p-client.toml",
        format!("[core]\npath = \"{V2RAY}\"\n\n[client]\nsocks_address = \"127.0.0.1:51180\"\n\n[[client.endpoints]]\ntag = \"a\"\nhostname = \"localhost\"\naddress = \"127.0.0.1\"\nport = 58443\nuser = \"u1\"\npassword = \"cred-1\"\n"),
    );
    let cases: &[(&str, &[&str])] = &[
        (
            "server_user_add",
            &["server", "user", "add", "u9", "--credential", "c9"],
        ),
        (
            "server_user_rotate",
            &[
                "server",
                "user",
                "rotate",
                "u9",
                "--credential",
                "c10",
                "--grace",
                "1h",
            ],
        ),
        ("server_user_disable", &["server", "user", "disable", "u9"]),
        ("server_user_enable", &["server", "user", "enable", "u9"]),
        ("server_user_list", &["server", "user", "list"]),
        ("server_user_remove", &["server", "user", "remove", "u9"]),
        (
            "server_redirect_add",
            &[
                "server",
                "redirect",
                "add",
                "--domain",
                "example.com",
                "--via",
                "direct",
            ],
        ),
        ("server_redirect_list", &["server", "redirect", "list"]),
        (
            "server_redirect_remove",
            &["server", "redirect", "remove", "--domain", "example.com"],
        ),
        ("server_cert_show", &["server", "cert", "show"]),
        (
            "client_endpoint_add",
            &[
                "client",
                "endpoint",
                "add",
                "--host",
                "h.example",
                "--password",
                "p",
                "--tag",
                "b",
            ],
        ),
        (
            "client_endpoint_update",
            &["client", "endpoint", "update", "b", "--port", "443"],
        ),
        (
            "client_endpoint_disable",
            &["client", "endpoint", "disable", "b"],
        ),
        ("client_endpoint_list", &["client", "endpoint", "list"]),
        (
            "client_redirect_add",
            &[
                "client",
                "redirect",
                "add",
                "--cidr",
                "10.20.0.0/16",
                "--via",
                "a",
            ],
        ),
        ("client_redirect_list", &["client", "redirect", "list"]),
        (
            "client_forward_add",
            &[
                "client",
                "forward",
                "add",
                "--listen",
                "127.0.0.1:2222",
                "--target",
                "10.20.0.5:22",
                "--via",
                "a",
            ],
        ),
        ("client_forward_list", &["client", "forward", "list"]),
        (
            "client_forward_remove",
            &["client", "forward", "remove", "--listen", "127.0.0.1:2222"],
        ),
        (
            "client_endpoint_remove",
            &["client", "endpoint", "remove", "b"],
        ),
        (
            "client_redirect_remove_refused",
            &["client", "redirect", "remove", "--cidr", "10.99.0.0/16"],
        ),
    ];
    let archive = root.path().join("backup.tgz").display().to_string();
    let bundle = root.path().join("bundle.tgz").display().to_string();
    let mut cases: Vec<(String, Vec<String>)> = cases
        .iter()
        .map(|(n, a)| (n.to_string(), a.iter().map(|s| s.to_string()).collect()))
        .collect();
    cases.push(("export".into(), sv(&["export", "--output", &archive])));
    cases.push((
        "import_dry_run".into(),
        sv(&["import", &archive, "--dry-run"]),
    ));
    cases.push((
        "debug_bundle".into(),
        sv(&["debug", "bundle", "--output", &bundle]),
    ));
    let bless = std::env::var_os("XP2P_BLESS").is_some();
    let mut mismatches = Vec::new();
    for (name, args) in &cases {
        let mut a: Vec<&str> = args.iter().map(String::as_str).collect();
        a.push("--json");
        let run = root.run(&a);
        // success: one document on stdout; failure: one on stderr, stdout empty
        let text = if run.code == Some(0) {
            assert!(!run.stdout.trim().is_empty(), "{name}: {run:?}");
            run.stdout.clone()
        } else {
            assert!(run.stdout.is_empty(), "{name}: {run:?}");
            run.stderr.clone()
        };
        let mut v: Value = serde_json::from_str(text.trim())
            .unwrap_or_else(|e| panic!("{name}: not one JSON document ({e}): {text}"));
        assert!(
            !text.contains("cred-") && !text.contains("\"c9\"") && !text.contains("\"c10\""),
            "{name}: a credential in --json: {text}"
        );
        normalise(&mut v, root.path());
        let got = format!(
            "{}\n",
            serde_json::to_string_pretty(&json_with_code(v, run.code)).unwrap()
        );
        let path = tests_dir().join(format!("golden/cli_json/{name}.json"));
        if bless {
            std::fs::write(&path, &got).unwrap();
            continue;
        }
        match std::fs::read_to_string(&path) {
            Ok(want) if want == got => {}
            Ok(want) => mismatches.push(format!("{name}:\n--- want\n{want}--- got\n{got}")),
            Err(_) => mismatches.push(format!(
                "{name}: no golden {} (XP2P_BLESS=1 writes it)\n{got}",
                path.display()
            )),
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

fn json_with_code(v: Value, code: Option<i32>) -> Value {
    serde_json::json!({"exit_code": code, "document": v})
}
