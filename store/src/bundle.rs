//! `xp2p debug bundle`: what a person needs to help with a root, and no
//! credential. Desired TOMLs and snippets, compiled Live and LKG, markers,
//! session records and TUN state are redacted by structure
//! (`xp2p_core::redact`: secret keys keep their place, their values become
//! `<redacted>`); then every member — logs and the journal included — is
//! scrubbed by value: every secret found on this root (credentials, passwords,
//! ids, the private key's PEM lines) and any `PRIVATE KEY` PEM block is
//! replaced, wherever it appears.

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};
use xp2p_core::layout::Layout;
use xp2p_core::redact::{REDACTED, redact_config_json, redact_json_value, redact_toml};
use xp2p_core::role::Role;

use crate::archive::Member;

/// Journal records in the bundle (the newest).
pub const JOURNAL_RECORDS: usize = 500;
/// Tail of each log (service, core) in the bundle.
pub const LOG_TAIL: u64 = 256 << 10;
/// Largest state file read whole (JSON markers, sessions, configs).
const MAX_STATE: u64 = 16 << 20;
/// How much of the journal's end is read to find its last records.
const JOURNAL_TAIL: u64 = 8 << 20;

/// Collects the bundle's members; `manifest.json` (what is in it, what was
/// missing and why) comes first.
pub fn collect(layout: &Layout) -> Vec<Member> {
    let mut c = Collector::default();
    for role in Role::ALL {
        c.learn_secrets(layout, role);
    }
    c.learn_key_files(layout);
    for role in Role::ALL {
        c.desired(layout, role);
        for (slot, dir) in [
            ("live", layout.live_dir(role)),
            ("lkg", layout.lkg_dir(role)),
        ] {
            for f in ["xray.json", "runtime.json"] {
                c.json_file(
                    &format!("{slot}/config-{role}/{f}"),
                    &dir.join(f),
                    Redact::Keys,
                );
            }
        }
        c.json_file(
            &format!("state/sessions/{role}.json"),
            &layout.session(role),
            Redact::Values,
        );
        let tun = xp2p_core::tunstate::state_path(layout, role);
        let name = tun
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        c.json_file(&format!("state/{name}"), &tun, Redact::Values);
        c.log(&format!("logs/core-{role}.log"), &layout.core_log(role));
    }
    c.json_file(
        "state/apply.request",
        &layout.apply_request(),
        Redact::Values,
    );
    c.json_file("state/apply.error", &layout.apply_error(), Redact::Values);
    c.json_file(
        "state/tunnel-health.json",
        &layout.tunnel_health(),
        Redact::Values,
    );
    c.json_file(
        "state/channel-health.json",
        &layout.channel_health(),
        Redact::Values,
    );
    c.journal(layout);
    if let Some(p) = newest_service_log(layout.log_root()) {
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        c.log(&format!("logs/{name}"), &p);
    } else {
        c.notes
            .push(format!("no service log in {}", layout.log_root().display()));
    }
    c.text("versions.txt", versions(layout));
    c.text("os.txt", os_facts());
    c.finish(layout)
}

/// How a JSON file is redacted before the by-value scrub.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Redact {
    /// A core config or snippet: every secret key's value (`password`, `id`,
    /// `key`, …) becomes `<redacted>`, the structure stays.
    Keys,
    /// xp2p's own state (markers, sessions, TUN state): it holds no
    /// credential by design, and its ids (`request_id`, `id`) are what a
    /// helper needs; only the by-value scrub runs.
    Values,
}

#[derive(Default)]
struct Collector {
    secrets: Vec<String>,
    members: Vec<Member>,
    notes: Vec<String>,
}

impl Collector {
    fn add_secret(&mut self, s: &str) {
        let s = s.trim();
        // Paths (`key = "tls/server/key.pem"`) are not secrets; their contents are.
        if s.len() >= 4 && s != REDACTED && !s.ends_with(".pem") {
            self.secrets.push(s.to_string());
        }
    }

    /// Secret values of the role's TOML, snippets, Live and LKG.
    fn learn_secrets(&mut self, layout: &Layout, role: Role) {
        if let Some(text) = read_text(&layout.desired_toml(role), MAX_STATE) {
            for s in toml_secrets(&text) {
                self.add_secret(&s);
            }
        }
        let mut jsons: Vec<PathBuf> = list_files(&layout.snippets_dir(role));
        for slot in [layout.live_dir(role), layout.lkg_dir(role)] {
            jsons.push(slot.join("xray.json"));
            jsons.push(slot.join("runtime.json"));
        }
        for p in jsons {
            if let Some(v) = read_text(&p, MAX_STATE).and_then(|t| serde_json::from_str(&t).ok()) {
                for s in json_secrets(&v) {
                    self.add_secret(&s);
                }
            }
        }
    }

    /// The base64 lines of every private key under `tls/` and the one the
    /// server names (a key's body never reaches the bundle, even cut up).
    fn learn_key_files(&mut self, layout: &Layout) {
        let mut keys = list_files(&layout.tls_server_dir());
        keys.extend(list_files(&layout.root().join("tls")));
        if let Some(t) = read_text(&layout.desired_toml(Role::Server), MAX_STATE) {
            for p in xp2p_core::digest::server_asset_paths(t.as_bytes()) {
                keys.push(layout.resolve_asset(&p));
            }
        }
        for p in keys {
            let Some(pem) = read_text(&p, 1 << 20) else {
                continue;
            };
            if !pem.contains("PRIVATE KEY") {
                continue;
            }
            for line in pem.lines().map(str::trim) {
                if line.len() >= 16 && !line.starts_with("-----") {
                    self.add_secret(line);
                }
            }
        }
    }

    fn desired(&mut self, layout: &Layout, role: Role) {
        let path = layout.desired_toml(role);
        match read_text(&path, MAX_STATE) {
            Some(t) => self.text(&format!("desired/xp2p-{role}.toml"), redact_toml(&t)),
            None => self.notes.push(format!("no {}", path.display())),
        }
        for p in list_files(&layout.snippets_dir(role)) {
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if xp2p_core::snippets::is_ignored_name(&name) {
                continue;
            }
            self.json_file(&format!("desired/config-{role}/{name}"), &p, Redact::Keys);
        }
    }

    /// A JSON file, redacted as `how` says (every member is also scrubbed by
    /// value at the end; a config that is not JSON is withheld).
    fn json_file(&mut self, member: &str, path: &Path, how: Redact) {
        let Some(text) = read_text(path, MAX_STATE) else {
            return;
        };
        let out = match how {
            Redact::Keys => redact_config_json(&text),
            Redact::Values => text,
        };
        self.text(member, out);
    }

    /// The last [`JOURNAL_RECORDS`] records (scrubbed by value like the logs:
    /// their `request_id`s and `id`s are what a helper follows).
    fn journal(&mut self, layout: &Layout) {
        let Some(bytes) = tail(&layout.journal(), JOURNAL_TAIL) else {
            return;
        };
        let text = String::from_utf8_lossy(&bytes);
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        let start = lines.len().saturating_sub(JOURNAL_RECORDS);
        let mut out = String::new();
        for l in &lines[start..] {
            out.push_str(l);
            out.push('\n');
        }
        self.text("state/journal.jsonl", out);
    }

    fn log(&mut self, member: &str, path: &Path) {
        if let Some(bytes) = tail(path, LOG_TAIL) {
            self.text(member, String::from_utf8_lossy(&bytes).into_owned());
        }
    }

    fn text(&mut self, member: &str, text: String) {
        self.members.push(Member::new(member, text.into_bytes()));
    }

    /// Scrubs every member by value and puts the manifest first.
    fn finish(mut self, layout: &Layout) -> Vec<Member> {
        self.secrets
            .sort_by(|a, b| b.len().cmp(&a.len()).then(a.cmp(b)));
        self.secrets.dedup();
        for m in &mut self.members {
            let text = String::from_utf8_lossy(&m.bytes).into_owned();
            m.bytes = scrub(&text, &self.secrets).into_bytes();
        }
        let listed: Vec<Value> = self
            .members
            .iter()
            .map(|m| json!({"path": m.path, "size": m.bytes.len()}))
            .collect();
        let manifest = json!({
            "format": "xp2p-debug-bundle",
            "format_version": 1,
            "xp2p_version": xp2p_core::VERSION,
            "created": humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
            "config_root": layout.root().display().to_string(),
            "log_root": layout.log_root().display().to_string(),
            "journal_records": JOURNAL_RECORDS,
            "log_tail_bytes": LOG_TAIL,
            "members": listed,
            "notes": self.notes,
        });
        let text = serde_json::to_string_pretty(&manifest).unwrap_or_default();
        let mut out = vec![Member::new("manifest.json", scrub(&text, &self.secrets))];
        out.extend(self.members);
        out
    }
}

/// Replaces every `PRIVATE KEY` PEM block, then every known secret value.
pub fn scrub(text: &str, secrets: &[String]) -> String {
    let mut out = strip_private_keys(text);
    for s in secrets {
        if out.contains(s.as_str()) {
            out = out.replace(s.as_str(), REDACTED);
        }
    }
    out
}

fn strip_private_keys(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("-----BEGIN ") {
        let head = &rest[start..];
        let header_end = head[11..].find("-----").map(|i| i + 11 + 5);
        let is_private = header_end.is_some_and(|e| head[..e].contains("PRIVATE KEY"));
        if !is_private {
            out.push_str(&rest[..start + 11]);
            rest = &rest[start + 11..];
            continue;
        }
        out.push_str(&rest[..start]);
        out.push_str(REDACTED);
        // Up to the end line's closing dashes, or to the end of the text.
        match head
            .find("-----END ")
            .and_then(|e| head[e + 9..].find("-----").map(|c| e + 9 + c + 5))
        {
            Some(end) => rest = &head[end..],
            None => return out,
        }
    }
    out.push_str(rest);
    out
}

/// Values a redaction replaces in a TOML text.
fn toml_secrets(text: &str) -> Vec<String> {
    let (Ok(orig), Ok(red)) = (
        toml::from_str::<toml::Value>(text),
        toml::from_str::<toml::Value>(&redact_toml(text)),
    ) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    walk_toml(&orig, &red, &mut out);
    out
}

fn walk_toml(orig: &toml::Value, red: &toml::Value, out: &mut Vec<String>) {
    use toml::Value as T;
    match (orig, red) {
        (T::Table(a), T::Table(b)) => {
            for (k, v) in a {
                if let Some(w) = b.get(k) {
                    walk_toml(v, w, out);
                }
            }
        }
        (T::Array(a), T::Array(b)) => a.iter().zip(b).for_each(|(v, w)| walk_toml(v, w, out)),
        (v, T::String(r)) if r == REDACTED => match v {
            T::String(s) => out.push(s.clone()),
            other => out.push(other.to_string()),
        },
        _ => {}
    }
}

/// Values a redaction replaces in a JSON document.
fn json_secrets(orig: &Value) -> Vec<String> {
    let mut red = orig.clone();
    redact_json_value(&mut red);
    let mut out = Vec::new();
    walk_json(orig, &red, &mut out);
    out
}

fn walk_json(orig: &Value, red: &Value, out: &mut Vec<String>) {
    match (orig, red) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in a {
                if let Some(w) = b.get(k) {
                    walk_json(v, w, out);
                }
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            a.iter().zip(b).for_each(|(v, w)| walk_json(v, w, out))
        }
        (v, Value::String(r)) if r == REDACTED && v.as_str() != Some(REDACTED) => match v {
            Value::String(s) => out.push(s.clone()),
            other => out.push(other.to_string()),
        },
        _ => {}
    }
}

/// A whole regular file as text (bounded, never blocking on a FIFO).
fn read_text(path: &Path, max: u64) -> Option<String> {
    let bytes = xp2p_platform::fsread::read_operator_file(path, max).ok()?;
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

/// Regular files directly in `dir`, sorted.
fn list_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = rd
        .flatten()
        .map(|e| e.path())
        .filter(|p| std::fs::metadata(p).is_ok_and(|m| m.is_file()))
        .collect();
    out.sort();
    out
}

/// The last `max` bytes of a regular file, starting at a line (never blocks
/// on a FIFO; `None` when missing or not a regular file).
fn tail(path: &Path, max: u64) -> Option<Vec<u8>> {
    if !std::fs::metadata(path).ok()?.is_file() {
        return None;
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY);
    }
    let mut f = opts.open(path).ok()?;
    let meta = f.metadata().ok()?;
    if !meta.is_file() {
        return None;
    }
    let start = meta.len().saturating_sub(max);
    f.seek(SeekFrom::Start(start)).ok()?;
    let mut buf = Vec::new();
    f.take(max).read_to_end(&mut buf).ok()?;
    if start > 0
        && let Some(nl) = buf.iter().position(|b| *b == b'\n')
    {
        buf.drain(..=nl);
    }
    Some(buf)
}

/// `service.YYYY-MM-DD.log` with the latest name in the log folder.
fn newest_service_log(dir: &Path) -> Option<PathBuf> {
    list_files(dir)
        .into_iter()
        .filter(|p| {
            p.file_name()
                .map(|n| n.to_string_lossy())
                .is_some_and(|n| n.starts_with("service.") && n.ends_with(".log"))
        })
        .max()
}

/// xp2p's version and each role's core answering `-version`.
fn versions(layout: &Layout) -> String {
    let mut out = format!("xp2p {}\n", xp2p_core::VERSION);
    let mut seen: BTreeMap<PathBuf, ()> = BTreeMap::new();
    for role in Role::ALL {
        let configured = crate::pipeline::read(layout, role)
            .ok()
            .and_then(|f| xp2p_core::compile::check(layout, &f).ok())
            .map(|(d, _)| d.core().path.clone())
            .unwrap_or_default();
        let core = match crate::coreproc::discover(layout, &configured) {
            Ok(c) => c.path,
            Err(e) => {
                out.push_str(&format!("{role} core: {e}\n"));
                continue;
            }
        };
        if seen.insert(core.clone(), ()).is_some() {
            out.push_str(&format!("{role} core: {} (as above)\n", core.display()));
            continue;
        }
        let mut cmd = std::process::Command::new(&core);
        cmd.arg("-version");
        let answer = match xp2p_platform::bounded::run_bounded(cmd, Duration::from_secs(5)) {
            Ok(f) if f.timed_out => format!("(no answer within 5 s) {}", f.text()),
            Ok(f) => f.text(),
            Err(e) => format!("cannot run: {e}"),
        };
        out.push_str(&format!(
            "{role} core: {} -version:\n{}\n",
            core.display(),
            answer.trim_end()
        ));
    }
    out
}

/// `uname -a` and `/etc/os-release`.
fn os_facts() -> String {
    let mut cmd = std::process::Command::new("uname");
    cmd.arg("-a");
    let uname = match xp2p_platform::bounded::run_bounded(cmd, Duration::from_secs(5)) {
        Ok(f) => f.text(),
        Err(_) => read_text(Path::new("/proc/version"), 64 << 10).unwrap_or_default(),
    };
    let release = read_text(Path::new("/etc/os-release"), 64 << 10)
        .unwrap_or_else(|| "(no /etc/os-release)\n".into());
    format!(
        "uname: {}\narch: {}\n\n/etc/os-release:\n{release}",
        uname.trim_end(),
        std::env::consts::ARCH
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_key_blocks_and_known_values_are_scrubbed() {
        let text = "a\n-----BEGIN PRIVATE KEY-----\nMIIEvQIBADAN\n-----END PRIVATE KEY-----\nb \
                    -----BEGIN CERTIFICATE-----\nMIIC\n-----END CERTIFICATE-----\npw-secret-1 end";
        let out = scrub(text, &["pw-secret-1".to_string()]);
        assert!(
            !out.contains("MIIEvQIBADAN") && !out.contains("pw-secret-1"),
            "{out}"
        );
        assert!(
            out.contains("BEGIN CERTIFICATE") && out.contains("MIIC"),
            "{out}"
        );
        let cut = scrub("x -----BEGIN EC PRIVATE KEY-----\nABCD", &[]);
        assert_eq!(cut, format!("x {REDACTED}"));
    }

    #[test]
    fn secret_values_are_found_by_structure() {
        let t = "[server]\nkey = \"k.pem\"\n[[server.users]]\nuser_label = \"a\"\ncredential = \"cred-1234\"\nprevious_credential = \"old-5678\"\n";
        let mut s = toml_secrets(t);
        s.sort();
        assert_eq!(s, ["cred-1234", "k.pem", "old-5678"]);
        let mut c = Collector::default();
        s.iter().for_each(|v| c.add_secret(v));
        assert_eq!(c.secrets, ["cred-1234", "old-5678"]);
        let v: Value =
            serde_json::from_str(r#"{"a":[{"password":"p-1234","email":"e"}],"id":"u-1"}"#)
                .unwrap();
        let mut s = json_secrets(&v);
        s.sort();
        assert_eq!(s, ["p-1234", "u-1"]);
    }

    #[test]
    fn a_tail_starts_at_a_line() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("l.log");
        std::fs::write(&p, "first line\nsecond\nthird\n").unwrap();
        assert_eq!(tail(&p, 12).unwrap(), b"third\n");
        assert_eq!(tail(&p, 1000).unwrap(), b"first line\nsecond\nthird\n");
        assert!(tail(&d.path().join("none"), 10).is_none());
    }
}
