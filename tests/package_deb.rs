//! The Debian package end to end: `scripts/package-deb.sh` packs the built
//! binary with plain `dpkg-deb`; the control fields (name, Cargo's version, this
//! machine's architecture, the core dependency), the file list and modes, the
//! packaged systemd unit (the golden unit of `service install --dry-run`, for
//! /usr/bin/xp2p) are checked, and the extracted binary runs. Skipped, saying
//! so, only when dpkg-deb is not installed.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn run(cmd: &mut Command) -> Output {
    let shown = format!("{cmd:?}");
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {shown}: {e}"))
}

fn stdout_of(cmd: &mut Command) -> String {
    let shown = format!("{cmd:?}");
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{shown} failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `Field: value` from `dpkg-deb --info` (the control file, indented by one space).
fn field<'a>(info: &'a str, name: &str) -> Option<&'a str> {
    let prefix = format!(" {name}: ");
    info.lines().find_map(|l| l.strip_prefix(prefix.as_str()))
}

/// The unit in tests/golden/service-install-dry-run.txt (what
/// `service install --dry-run --binary /usr/local/bin/xp2p` prints), from
/// `[Unit]` on, for /usr/bin/xp2p.
fn golden_unit_body() -> String {
    let golden =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/service-install-dry-run.txt");
    let text = std::fs::read_to_string(&golden)
        .unwrap_or_else(|e| panic!("read {}: {e}", golden.display()));
    let mut body = String::new();
    let mut inside = false;
    for line in text.lines() {
        if line.starts_with("would run: ") {
            break;
        }
        if line == "[Unit]" {
            inside = true;
        }
        if inside {
            body.push_str(line);
            body.push('\n');
        }
    }
    assert!(!body.is_empty(), "{}: no unit", golden.display());
    body.replace("/usr/local/bin/xp2p", "/usr/bin/xp2p")
}

#[test]
fn the_deb_has_cargo_s_version_the_unit_and_a_working_binary() {
    if Command::new("dpkg-deb").arg("--version").output().is_err() {
        eprintln!(
            "SKIPPED: dpkg-deb is not installed (apt-get install dpkg); the .deb recipe was not tested"
        );
        return;
    }
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let out = tempfile::tempdir().expect("temp dir");
    let script = repo.join("scripts/package-deb.sh");
    let printed = stdout_of(
        Command::new("bash")
            .arg(&script)
            .arg(env!("CARGO_BIN_EXE_xp2p"))
            .arg(out.path())
            // gzip: the test's debug binary is large and xz is slow on two cores.
            .env("XP2P_DEB_COMPRESS", "gzip")
            .env_remove("XP2P_DEB_ARCH")
            .env_remove("XP2P_CONFIG_ROOT")
            .env_remove("XP2P_LOG_ROOT"),
    );
    let version = env!("CARGO_PKG_VERSION");
    let arch = stdout_of(Command::new("dpkg").arg("--print-architecture"))
        .trim()
        .to_string();
    let deb = out.path().join(format!("xp2p_{version}_{arch}.deb"));
    assert_eq!(
        printed.lines().last(),
        Some(deb.to_str().expect("utf-8 temp path")),
        "the script prints the package's path last"
    );
    assert!(deb.is_file(), "{} was not built", deb.display());

    // Control fields.
    let info = stdout_of(Command::new("dpkg-deb").arg("--info").arg(&deb));
    assert_eq!(field(&info, "Package"), Some("xp2p"), "{info}");
    assert_eq!(field(&info, "Version"), Some(version), "{info}");
    assert_eq!(field(&info, "Architecture"), Some(arch.as_str()), "{info}");
    assert_eq!(field(&info, "Section"), Some("net"), "{info}");
    let depends = field(&info, "Depends").unwrap_or_default();
    assert!(depends.contains("v2ray | xray"), "Depends: {depends}");
    assert!(depends.contains("libc6"), "Depends: {depends}");
    assert!(
        field(&info, "Maintainer").is_some_and(|m| m.contains('@')),
        "{info}"
    );
    for script in ["postinst", "prerm", "postrm"] {
        // `     794 bytes,    27 lines   *  postinst   #!/bin/sh` (`*`: executable)
        let member = info
            .lines()
            .find(|l| l.split_whitespace().any(|w| w == script))
            .unwrap_or_else(|| panic!("no {script} in the control archive:\n{info}"));
        assert!(
            member.split_whitespace().any(|w| w == "*"),
            "{script} is not executable: {member}"
        );
    }

    // Files, modes and owners.
    let contents = stdout_of(Command::new("dpkg-deb").arg("--contents").arg(&deb));
    let entry = |path: &str| {
        contents
            .lines()
            .find(|l| l.split_whitespace().last() == Some(path))
            .unwrap_or_else(|| panic!("{path} missing from the package:\n{contents}"))
            .to_string()
    };
    assert!(entry("./usr/bin/xp2p").starts_with("-rwxr-xr-x root/root"));
    for file in [
        "./usr/lib/systemd/system/xp2p.service",
        "./usr/share/man/man1/xp2p.1.gz",
        "./usr/share/man/man1/xp2p-service.1.gz",
        "./usr/share/bash-completion/completions/xp2p",
        "./usr/share/zsh/vendor-completions/_xp2p",
        "./usr/share/fish/vendor_completions.d/xp2p.fish",
        "./usr/share/doc/xp2p/copyright",
        "./usr/share/doc/xp2p/examples/xp2p-client.toml",
    ] {
        assert!(
            entry(file).starts_with("-rw-r--r-- root/root"),
            "{}",
            entry(file)
        );
    }
    assert!(entry("./etc/xp2p/").starts_with("drwx------ root/root"));
    assert!(entry("./var/log/xp2p/").starts_with("drwxr-x--- root/root"));
    for line in contents.lines() {
        assert!(line.contains(" root/root "), "not owned by root: {line}");
    }

    // Unpacked: the unit is the golden one, the binary runs.
    let root = tempfile::tempdir().expect("temp dir");
    stdout_of(
        Command::new("dpkg-deb")
            .arg("-x")
            .arg(&deb)
            .arg(root.path()),
    );
    let unit_path = root.path().join("usr/lib/systemd/system/xp2p.service");
    let unit = std::fs::read_to_string(&unit_path)
        .unwrap_or_else(|e| panic!("read {}: {e}", unit_path.display()));
    let (first, body) = unit.split_once('\n').unwrap_or_default();
    assert!(
        first.starts_with("# Installed by the xp2p Debian package"),
        "{first}"
    );
    assert_eq!(
        body,
        golden_unit_body(),
        "the packaged unit is not the golden unit"
    );
    assert!(body.contains("ExecStart=/usr/bin/xp2p service run --config-root /etc/xp2p\n"));
    let bin = root.path().join("usr/bin/xp2p");
    let version_line = stdout_of(Command::new(&bin).arg("--version"));
    assert_eq!(version_line, format!("xp2p {version}\n"));
    let completions = std::fs::read_to_string(
        root.path()
            .join("usr/share/bash-completion/completions/xp2p"),
    )
    .unwrap_or_default();
    assert!(
        completions.contains("rollback"),
        "bash completions name the commands"
    );
    let man = std::fs::read(root.path().join("usr/share/man/man1/xp2p.1.gz")).unwrap_or_default();
    assert_eq!(
        man.get(..2),
        Some(&[0x1f, 0x8b][..]),
        "man pages are gzipped"
    );
}
