//! The core's own config test (`xray run -test -c F` / `v2ray -test -config F`).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use wait_timeout::ChildExt;

use super::flavour::CoreInfo;

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
    let mut child = Command::new(&core.path)
        .args(core.test_args(config))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    // Drain pipes on threads so a chatty core never blocks on a full pipe.
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    let out_t = std::thread::spawn(move || read_all(stdout.as_mut()));
    let err_t = std::thread::spawn(move || read_all(stderr.as_mut()));
    let status = match child.wait_timeout(TEST_TIMEOUT)? {
        Some(s) => s,
        None => {
            let _ = child.kill();
            let _ = child.wait();
            return Ok(TestOutcome::Refused {
                exit_code: None,
                message: "config test did not finish within 30 s".into(),
            });
        }
    };
    let out = format!(
        "{}\n{}",
        out_t.join().unwrap_or_default(),
        err_t.join().unwrap_or_default()
    );
    if status.success() {
        Ok(TestOutcome::Ok)
    } else {
        Ok(TestOutcome::Refused {
            exit_code: status.code(),
            message: core_message(&out),
        })
    }
}

fn read_all<R: std::io::Read>(r: Option<&mut R>) -> String {
    let mut s = String::new();
    if let Some(r) = r {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        s = String::from_utf8_lossy(&buf).into_owned();
    }
    s
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
