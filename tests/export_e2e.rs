//! `xp2p export` / `xp2p import` / `xp2p debug bundle` against the built
//! binary: an export imported into a fresh root compiles to the same config
//! (real v2ray); hostile archives are refused with one line naming the member
//! and write nothing; the debug bundle, unpacked member by member, holds no
//! secret of its fixture; no `--json` output holds one either.

mod support;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde_json::Value;
use support::*;

const CRED: &str = "cred-alice-7f3a9c1e5b";
const PREV_CRED: &str = "cred-alice-old-2d8e4b6a";
const BOB_CRED: &str = "cred-bob-91c4e7d2aa";
const ENDPOINT_PW: &str = "endpoint-pw-4c1d9e8f7a";
const SOCKS_PASS: &str = "snippet-pass-6b2f0c9d1e";

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).expect("stat").permissions().mode() & 0o777
}

/// Every member of a tar.gz, decompressed.
fn unpack(archive: &Path) -> BTreeMap<String, Vec<u8>> {
    let f = std::fs::File::open(archive).expect("open archive");
    let mut a = tar::Archive::new(flate2::read::GzDecoder::new(f));
    let mut out = BTreeMap::new();
    for e in a.entries().expect("entries") {
        let mut e = e.expect("entry");
        let name = e.path().expect("path").display().to_string();
        let mut b = Vec::new();
        e.read_to_end(&mut b).expect("read member");
        out.insert(name, b);
    }
    out
}

/// Writes a tar.gz of `(name, kind, body)` with raw headers (names and kinds
/// the tar crate's builder would refuse to write).
fn raw_archive(path: &Path, entries: &[(&str, tar::EntryType, &[u8])]) {
    let mut raw = Vec::new();
    for (name, kind, body) in entries {
        let mut h = tar::Header::new_old();
        h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        h.set_entry_type(*kind);
        h.set_size(body.len() as u64);
        h.set_mode(0o644);
        if *kind == tar::EntryType::Symlink {
            h.set_link_name("/etc/passwd").expect("link name");
        }
        h.set_cksum();
        raw.extend_from_slice(h.as_bytes());
        raw.extend_from_slice(body);
        raw.resize(raw.len().div_ceil(512) * 512, 0);
    }
    raw.resize(raw.len() + 1024, 0);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&raw).expect("gzip");
    std::fs::write(path, gz.finish().expect("gzip finish")).expect("write archive");
}

/// A well-formed archive of `members` with a manifest listing them (sha256
/// from `sha256sum`), so only the content is at fault.
fn archive_with_manifest(path: &Path, members: &[(&str, &str, &str, &[u8])]) {
    let mut files = Vec::new();
    for (name, role, kind, body) in members {
        let tmp = tempfile::NamedTempFile::new().expect("temp");
        std::fs::write(tmp.path(), body).expect("write temp");
        let out = std::process::Command::new("sha256sum")
            .arg(tmp.path())
            .output()
            .expect("sha256sum");
        let sum = String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .next()
            .expect("sum")
            .to_string();
        files.push(serde_json::json!({"path": name, "role": role, "kind": kind, "size": body.len(), "sha256": sum}));
    }
    let roles: Vec<&str> = {
        let mut r: Vec<&str> = members.iter().map(|m| m.1).collect();
        r.sort();
        r.dedup();
        r
    };
    let manifest = serde_json::json!({
        "format": "xp2p-export", "format_version": 1, "xp2p_version": "0.1.0",
        "created": "2026-01-01T00:00:00Z", "roles": roles, "files": files,
    })
    .to_string();
    let mut entries: Vec<(&str, tar::EntryType, &[u8])> = vec![(
        "manifest.json",
        tar::EntryType::Regular,
        manifest.as_bytes(),
    )];
    for (name, _, _, body) in members {
        entries.push((name, tar::EntryType::Regular, body));
    }
    raw_archive(path, &entries);
}

/// Every file under `dir` with its bytes and mode (for "nothing written").
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, (Vec<u8>, u32)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read dir") {
            let p = e.expect("entry").path();
            let m = std::fs::symlink_metadata(&p).expect("lstat");
            if m.is_dir() {
                out.insert(p.clone(), (Vec::new(), m.permissions().mode()));
                stack.push(p);
            } else {
                let bytes = std::fs::read(&p).unwrap_or_default();
                out.insert(p, (bytes, m.permissions().mode()));
            }
        }
    }
    out
}

/// A server root (self-signed cert, two users, one rotated with a grace) and
/// a client (one endpoint, a snippet with a socks outbound password).
fn fixture(root: &TestRoot, trojan: u16, socks: u16) {
    root.write_self_signed_cert("localhost");
    std::fs::set_permissions(
        root.path().join("tls/server/key.pem"),
        std::fs::Permissions::from_mode(0o600),
    )
    .expect("chmod key");
    root.write(
        "xp2p-server.toml",
        format!(
            "# the export fixture's server\n{}\n[[server.users]]\nuser_label = \"bob@xp2p.local\" # bob\ncredential = \"{BOB_CRED}\"\nprevious_credential = \"{PREV_CRED}\"\nrotation_expires_at = \"2999-01-01T00:00:00Z\"\n",
            server_toml(V2RAY, trojan, CRED)
        ),
    );
    root.write(
        "xp2p-client.toml",
        format!(
            "# the export fixture's client\n{}",
            client_toml(V2RAY, socks, trojan, ENDPOINT_PW)
        ),
    );
    root.write(
        "config-client/outbounds.append.json",
        format!(
            r#"{{"outbounds":[{{"tag":"my-socks","protocol":"socks","settings":{{"servers":[{{"address":"127.0.0.1","port":1,"users":[{{"user":"u","pass":"{SOCKS_PASS}"}}]}}]}}}}]}}"#
        ),
    );
}

/// The fixture's secrets: credentials, passwords and every line of the
/// private key's PEM body.
fn secrets(root: &TestRoot) -> Vec<String> {
    let mut s: Vec<String> = [CRED, PREV_CRED, BOB_CRED, ENDPOINT_PW, SOCKS_PASS]
        .iter()
        .map(|v| v.to_string())
        .collect();
    let key = root.read("tls/server/key.pem");
    s.extend(
        key.lines()
            .filter(|l| !l.starts_with("-----") && l.len() >= 16)
            .map(str::to_string),
    );
    s
}

fn assert_no_secret(what: &str, text: &[u8], secrets: &[String]) {
    let text = String::from_utf8_lossy(text);
    for s in secrets {
        assert!(
            !text.contains(s.as_str()),
            "{what} holds the secret {s:?}:\n{text}"
        );
    }
}

/// The compiled config with the root's path taken out.
fn rendered(root: &TestRoot, role: &str) -> String {
    let run = root.run(&["render", "--role", role]);
    assert_eq!(run.code, Some(0), "render {role}: {run:?}");
    run.stdout
        .replace(&root.path().display().to_string(), "ROOT")
}

#[test]
fn export_import_round_trips_into_a_fresh_root() {
    if !v2ray_available() {
        eprintln!("skipped: {V2RAY} is not installed");
        return;
    }
    let src = TestRoot::new();
    fixture(&src, free_port(), free_port());
    let secrets = secrets(&src);
    let out = src.path().join("backup.tar.gz");
    let out_s = out.display().to_string();
    let run = src.run(&["export", "--output", &out_s, "--json"]);
    assert_eq!(run.code, Some(0), "export: {run:?}");
    assert_no_secret("export --json", run.stdout.as_bytes(), &secrets);
    let v: Value = serde_json::from_str(&run.stdout).expect("export json");
    assert_eq!(v["command"], "xp2p export");
    assert_eq!(
        v["result"]["manifest"]["roles"],
        serde_json::json!(["client", "server"])
    );
    let paths: Vec<&str> = v["result"]["manifest"]["files"]
        .as_array()
        .expect("files")
        .iter()
        .filter_map(|f| f["path"].as_str())
        .collect();
    assert_eq!(
        paths,
        [
            "xp2p-client.toml",
            "config-client/outbounds.append.json",
            "xp2p-server.toml",
            "tls/server/cert.pem",
            "tls/server/key.pem"
        ]
    );
    assert_eq!(mode(&out), 0o600, "the archive holds keys");
    let members = unpack(&out);
    assert!(members["tls/server/key.pem"].starts_with(b"-----BEGIN"));

    // Never over an existing file without --force, never through a symlink.
    let again = src.run(&["export", "--output", &out_s]);
    assert_eq!(again.code, Some(1), "{again:?}");
    assert_eq!(
        again.errors(),
        [format!("{out_s} exists (use --force to replace it)")]
    );
    let victim = src.write("victim.txt", "keep");
    let link = src.path().join("link.tar.gz");
    std::os::unix::fs::symlink(&victim, &link).expect("symlink");
    let run = src.run(&["export", "--force", "--output", &link.display().to_string()]);
    assert_eq!(run.code, Some(1), "{run:?}");
    assert_eq!(src.read("victim.txt"), "keep");

    let dst = TestRoot::new();
    let run = dst.run(&["import", &out_s, "--json"]);
    // No service: the files are written and the request waits for it.
    assert_eq!(run.code, Some(0), "import: {run:?}");
    assert_no_secret("import --json", run.stdout.as_bytes(), &secrets);
    assert_no_secret("import stderr", run.stderr.as_bytes(), &secrets);
    let v: Value = serde_json::from_str(&run.stdout).expect("import json");
    assert_eq!(v["command"], "xp2p import");
    assert_eq!(v["edit"]["roles"], serde_json::json!(["client", "server"]));
    assert_eq!(v["result"]["status"], "queued");
    for role in ["client", "server"] {
        assert_eq!(
            rendered(&src, role),
            rendered(&dst, role),
            "{role} compiles the same"
        );
    }
    assert_eq!(mode(&dst.path().join("tls/server/key.pem")), 0o600);
    assert_eq!(mode(&dst.path().join("xp2p-server.toml")), 0o600);
    assert!(
        dst.read("xp2p-server.toml")
            .contains("# the export fixture's server")
    );
    assert!(dst.path().join(".state/apply.request").is_file());

    // Importing again over the same root changes nothing that compiles.
    let run = dst.run(&["import", &out_s, "--dry-run"]);
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(run.stdout.contains("dry run; nothing written"), "{run:?}");
    for role in ["client", "server"] {
        let line = format!("xp2p-{role}.toml would not change");
        assert!(run.stdout.contains(&line), "{role}: {run:?}");
    }
}

/// Writes one hostile archive at the path it is given.
type Builder<'a> = Box<dyn Fn(&Path) + 'a>;

#[test]
fn hostile_archives_are_refused_with_one_line_and_write_nothing() {
    let src = TestRoot::new();
    fixture(&src, 40443, 41080);
    let dst = TestRoot::new();
    dst.write(
        "xp2p-client.toml",
        "# the target's own client\n[client]\nsocks_address = \"127.0.0.1:1080\"\n",
    );
    let before = snapshot(dst.path());
    let dir = tempfile::tempdir().expect("tempdir");
    let cert = src.read("tls/server/cert.pem");
    let other = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("cert");
    let other_key = other.key_pair.serialize_pem();
    let bad_client = "[client]\nsocks_address = \"127.0.0.1:1080\"\n\n[[client.redirects]]\ncidr = \"10.0.0.0/8\"\noutbound_tag = \"proxy-missing\"\n";
    let server_toml = src.read("xp2p-server.toml");
    let big = vec![b'a'; (1 << 20) + 1];
    let cases: Vec<(&str, Builder<'_>, &str)> = vec![
        (
            "dotdot",
            Box::new(|p| raw_archive(p, &[("../x", tar::EntryType::Regular, b"x")])),
            "member `../x`: a path with `..`",
        ),
        (
            "absolute",
            Box::new(|p| raw_archive(p, &[("/tmp/xp2p-abs", tar::EntryType::Regular, b"x")])),
            "member `/tmp/xp2p-abs`: an absolute path",
        ),
        (
            "symlink",
            Box::new(|p| raw_archive(p, &[("xp2p-client.toml", tar::EntryType::Symlink, b"")])),
            "member `xp2p-client.toml`: a symlink; only regular files are accepted",
        ),
        (
            "oversized",
            Box::new(|p| raw_archive(p, &[("tls/server/cert.pem", tar::EntryType::Regular, &big)])),
            "member `tls/server/cert.pem`: 1048577 bytes, over its limit of 1048576",
        ),
        (
            "invalid desired",
            Box::new(|p| {
                archive_with_manifest(
                    p,
                    &[(
                        "xp2p-client.toml",
                        "client",
                        "desired",
                        bad_client.as_bytes(),
                    )],
                )
            }),
            "member xp2p-client.toml:6:16: client.redirects[0].outbound_tag:",
        ),
        (
            "key of another certificate",
            Box::new(|p| {
                archive_with_manifest(
                    p,
                    &[
                        (
                            "xp2p-server.toml",
                            "server",
                            "desired",
                            server_toml.as_bytes(),
                        ),
                        (
                            "tls/server/cert.pem",
                            "server",
                            "certificate",
                            cert.as_bytes(),
                        ),
                        ("tls/server/key.pem", "server", "key", other_key.as_bytes()),
                    ],
                )
            }),
            "member `tls/server/key.pem`: is not the key of the certificate `tls/server/cert.pem`",
        ),
    ];
    for (what, build, want) in cases {
        let p = dir
            .path()
            .join(format!("{}.tar.gz", what.replace(' ', "-")));
        build(&p);
        let run = dst.run(&["import", &p.display().to_string(), "--wait"]);
        assert_eq!(run.code, Some(1), "{what}: {run:?}");
        let lines: Vec<&str> = run.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{what}: one line: {run:?}");
        let prefix = format!("error: {}: {want}", p.display());
        assert!(
            lines[0].starts_with(&prefix),
            "{what}: {:?} does not start with {prefix:?}",
            lines[0]
        );
        assert!(
            lines[0].ends_with("; nothing was written"),
            "{what}: {}",
            lines[0]
        );
        assert_eq!(snapshot(dst.path()), before, "{what}: the root changed");
        let run = dst.run(&["import", &p.display().to_string(), "--json"]);
        assert_eq!(run.code, Some(1), "{what}: {run:?}");
        let v: Value = serde_json::from_str(run.stderr.trim()).expect("json error");
        assert_eq!(v["error"]["code"], "invalid_archive", "{what}");
        assert!(run.stdout.is_empty());
    }
    assert!(!Path::new("/tmp/xp2p-abs").exists());
}

#[test]
fn the_debug_bundle_holds_no_secret() {
    let root = TestRoot::new();
    fixture(&root, 40443, 41080);
    let secrets = secrets(&root);
    // Compiled configs as the service would keep them (credentials inside).
    let live = format!(
        r#"{{"inbounds":[{{"tag":"trojan-in","protocol":"trojan","settings":{{"clients":[{{"password":"{CRED}","email":"alice@xp2p.local"}},{{"password":"{PREV_CRED}","email":"bob"}}]}},"streamSettings":{{"tlsSettings":{{"certificates":[{{"certificateFile":"{r}/tls/server/cert.pem","keyFile":"{r}/tls/server/key.pem"}}]}}}}}}],"outbounds":[{{"protocol":"vless","settings":{{"vnext":[{{"users":[{{"id":"{BOB_CRED}"}}]}}]}}}}]}}"#,
        r = root.path().display()
    );
    for slot in ["live", "lkg"] {
        root.write(format!(".state/{slot}/config-server/xray.json"), &live);
        root.write(
            format!(".state/{slot}/config-server/runtime.json"),
            r#"{"role":"server","config_sha256":"abc"}"#,
        );
    }
    root.write(
        ".state/apply.request",
        r#"{"version":2,"requests":{"server":{"id":"r-1"}}}"#,
    );
    root.write(
        ".state/sessions/server.json",
        r#"{"status":"running","pid":1}"#,
    );
    let mut journal = String::new();
    for i in 0..600 {
        journal.push_str(&format!(
            "{{\"attempt_id\":\"a-{i}\",\"role\":\"server\",\"phase\":\"done\",\"detail\":\"{}\"}}\n",
            if i == 599 { ENDPOINT_PW } else { "ok" }
        ));
    }
    root.write(".state/journal.jsonl", journal);
    // Logs that, against every rule, carry a credential and a key.
    let key = root.read("tls/server/key.pem");
    root.write(
        "logs/core-server.log",
        format!(
            "{}\nrejected user password {CRED} from 127.0.0.1\nlast line\n",
            "x".repeat(300 << 10)
        ),
    );
    root.write("logs/service.2026-01-01.log", "old day\n");
    root.write(
        "logs/service.2026-01-02.log",
        format!("pasted:\n{key}\nand {SOCKS_PASS}\n"),
    );

    let out = root.path().join("bundle.tar.gz");
    let run = root.run(&[
        "debug",
        "bundle",
        "--output",
        &out.display().to_string(),
        "--json",
    ]);
    assert_eq!(run.code, Some(0), "bundle: {run:?}");
    assert_no_secret("bundle --json", run.stdout.as_bytes(), &secrets);
    assert_eq!(mode(&out), 0o600);
    let members = unpack(&out);
    for (name, bytes) in &members {
        assert_no_secret(name, bytes, &secrets);
        assert!(
            !String::from_utf8_lossy(bytes).contains("PRIVATE KEY"),
            "{name} holds a key"
        );
    }
    let text = |name: &str| {
        String::from_utf8_lossy(
            members
                .get(name)
                .unwrap_or_else(|| panic!("no {name} in {:?}", members.keys())),
        )
        .into_owned()
    };
    let server = text("desired/xp2p-server.toml");
    assert!(
        server.contains("# the export fixture's server") && server.contains("<redacted>"),
        "{server}"
    );
    assert!(
        server.contains("bob@xp2p.local"),
        "structure kept: {server}"
    );
    assert!(text("desired/config-client/outbounds.append.json").contains("my-socks"));
    assert!(text("live/config-server/xray.json").contains("alice@xp2p.local"));
    assert!(text("lkg/config-server/xray.json").contains("keyFile"));
    assert!(text("state/apply.request").contains("r-1"));
    assert!(text("state/sessions/server.json").contains("running"));
    let journal = text("state/journal.jsonl");
    assert_eq!(journal.lines().count(), 500, "the last 500 records");
    assert!(
        journal.lines().next().is_some_and(|l| l.contains("a-100")),
        "from record 100"
    );
    let core_log = text("logs/core-server.log");
    assert!(
        core_log.len() <= 256 << 10 && core_log.ends_with("last line\n"),
        "a 256 KiB tail"
    );
    assert!(
        members.contains_key("logs/service.2026-01-02.log"),
        "{:?}",
        members.keys()
    );
    let versions = text("versions.txt");
    assert!(versions.starts_with("xp2p "), "{versions}");
    if v2ray_available() {
        assert!(versions.contains("V2Ray"), "{versions}");
    }
    assert!(text("os.txt").contains("uname: "));
    let manifest: Value = serde_json::from_str(&text("manifest.json")).expect("manifest");
    assert_eq!(manifest["format"], "xp2p-debug-bundle");

    // A second bundle to the same file needs --force.
    let again = root.run(&["debug", "bundle", "--output", &out.display().to_string()]);
    assert_eq!(again.code, Some(1), "{again:?}");
}
