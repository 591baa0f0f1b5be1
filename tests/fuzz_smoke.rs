//! A time-boxed smoke run of every `cargo fuzz` target (10 s each) over a copy of
//! its committed seed corpus. Needs `cargo-fuzz` (CI installs it); libFuzzer's
//! instrumentation flags are unstable, so the build runs with RUSTC_BOOTSTRAP=1
//! on the stable toolchain. Every crash found becomes a regression test.

mod support;

use std::path::Path;
use std::process::Command;

use support::*;

const TARGETS: [&str; 5] = [
    "desired_toml",
    "snippets",
    "ipc_frame",
    "links",
    "deploy_message",
];

#[test]
fn every_fuzz_target_survives_a_short_run() {
    let fuzz_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let has_cargo_fuzz = Command::new("cargo")
        .args(["fuzz", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_cargo_fuzz {
        return eprintln!("skipped: cargo-fuzz is not installed (cargo install cargo-fuzz)");
    }
    let secs = std::env::var("XP2P_FUZZ_SECONDS").unwrap_or_else(|_| "10".into());
    for target in TARGETS {
        let corpus = TestRoot::new();
        copy_dir(&fuzz_dir.join("corpus").join(target), corpus.path());
        let out = Command::new("cargo")
            .current_dir(&fuzz_dir)
            .env("RUSTC_BOOTSTRAP", "1")
            .env_remove("CARGO_TARGET_DIR")
            .args(["fuzz", "run", target])
            .arg(corpus.path())
            .args([
                "--",
                &format!("-max_total_time={secs}"),
                "-rss_limit_mb=2048",
            ])
            .output()
            .expect("run cargo fuzz");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "fuzz target {target} failed:\n{}",
            &stderr[stderr.len().saturating_sub(4000)..]
        );
    }
}
