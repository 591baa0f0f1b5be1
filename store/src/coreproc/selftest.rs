//! The core's own config test (`xray run -test -c F` / `v2ray -test -config F`).

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use xp2p_core::coreproc::CoreInfo;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TestOutcome {
    Ok,
    /// The core refused the config: its exit code and its own message (one line).
    Refused {
        exit_code: Option<i32>,
        message: String,
    },
}

const TEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The most telling line of the core's output: the last one that mentions a failure,
/// else the last non-empty line.
fn core_message(out: &str) -> String {
    let lines: Vec<&str> = out
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let pick = lines
        .iter()
        .rev()
        .find(|l| {
            let l = l.to_ascii_lowercase();
            l.contains("failed")
                || l.contains("error")
                || l.contains("panic")
                || l.contains("invalid")
        })
        .or(lines.last())
        .copied()
        .unwrap_or("no output");
    pick.to_string()
}

/// Runs the test; `Err` only when the core could not be run at all.
pub fn test_config(core: &CoreInfo, config: &Path) -> std::io::Result<TestOutcome> {
    let mut cmd = Command::new(&core.path);
    cmd.args(core.test_args(config));
    // One deadline for the exit and the output: a child the core leaves holding
    // the pipes is killed with its process group.
    let done = xp2p_platform::bounded::run_bounded(cmd, TEST_TIMEOUT)?;
    if done.timed_out {
        return Ok(TestOutcome::Refused {
            exit_code: None,
            message: "config test did not finish within 30 s (its process group was killed)".into(),
        });
    }
    if done.status.success() {
        Ok(TestOutcome::Ok)
    } else {
        Ok(TestOutcome::Refused {
            exit_code: done.status.code(),
            message: core_message(&done.text()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_failure_line() {
        let out = "V2Ray 4.34.0\nA unified platform\nmain: failed to read config > invalid port\n";
        assert_eq!(
            core_message(out),
            "main: failed to read config > invalid port"
        );
        assert_eq!(core_message("a\nb\n"), "b");
    }
}
