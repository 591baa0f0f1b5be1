//! Core flavours (`xray`, `v2ray` v4), their command lines and capabilities.

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Flavour {
    Xray,
    V2ray,
}

impl fmt::Display for Flavour {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Flavour::Xray => "xray",
            Flavour::V2ray => "v2ray",
        })
    }
}

/// A discovered core binary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CoreInfo {
    pub path: PathBuf,
    pub flavour: Flavour,
    pub version: String,
}

/// What a core can run; the compiler refuses the rest with `unsupported_by_core`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// `api.listen` (xray); otherwise the API needs a dokodemo inbound + rule.
    pub api_listen: bool,
    /// A `tun` inbound (xray >= 26).
    pub tun_inbound: bool,
    /// VLESS `xtls-rprx-vision` flow.
    pub vision: bool,
}

impl CoreInfo {
    pub fn major(&self) -> u32 {
        self.version
            .split('.')
            .next()
            .and_then(|m| m.parse().ok())
            .unwrap_or(0)
    }

    pub fn capabilities(&self) -> Capabilities {
        match self.flavour {
            Flavour::Xray => Capabilities {
                api_listen: true,
                tun_inbound: self.major() >= 26,
                vision: true,
            },
            Flavour::V2ray => Capabilities {
                api_listen: false,
                tun_inbound: false,
                vision: false,
            },
        }
    }

    /// One line naming the core, for messages: `v2ray 4.34.0 (/usr/bin/v2ray)`.
    pub fn describe(&self) -> String {
        format!(
            "{} {} ({})",
            self.flavour,
            self.version,
            self.path.display()
        )
    }

    /// Arguments that run `config`.
    pub fn run_args(&self, config: &Path) -> Vec<OsString> {
        match self.flavour {
            Flavour::Xray => vec!["run".into(), "-c".into(), config.into()],
            Flavour::V2ray => vec!["-config".into(), config.into()],
        }
    }

    /// Arguments that only test `config`.
    pub fn test_args(&self, config: &Path) -> Vec<OsString> {
        match self.flavour {
            Flavour::Xray => vec!["run".into(), "-test".into(), "-c".into(), config.into()],
            Flavour::V2ray => vec!["-test".into(), "-config".into(), config.into()],
        }
    }
}

/// Parses the first line of `<core> -version`: `Xray 1.8.4 (...)`, `V2Ray 4.34.0 (...)`.
pub fn parse_version_output(out: &str) -> Option<(Flavour, String)> {
    for line in out.lines() {
        let mut words = line.split_whitespace();
        let name = words.next()?;
        let version = words
            .next()
            .unwrap_or("")
            .trim_start_matches('v')
            .to_string();
        let flavour = match name.to_ascii_lowercase().as_str() {
            "xray" => Flavour::Xray,
            "v2ray" => Flavour::V2ray,
            _ => continue,
        };
        if version.chars().next().is_some_and(|c| c.is_ascii_digit()) {
            return Some((flavour, version));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_flavours() {
        assert_eq!(
            parse_version_output(
                "V2Ray 4.34.0 (user) 20230518 (go1.19.8 linux/amd64)\nA unified platform"
            ),
            Some((Flavour::V2ray, "4.34.0".into()))
        );
        assert_eq!(
            parse_version_output(
                "Xray 26.1.13 (Xray, Penetrates Everything.) abc (go1.25 linux/amd64)"
            ),
            Some((Flavour::Xray, "26.1.13".into()))
        );
        assert_eq!(parse_version_output("hello"), None);
    }

    #[test]
    fn capabilities_by_flavour_and_version() {
        let x = |v: &str| CoreInfo {
            path: "/x".into(),
            flavour: Flavour::Xray,
            version: v.into(),
        };
        assert!(x("26.1.0").capabilities().tun_inbound);
        assert!(!x("25.12.8").capabilities().tun_inbound);
        assert!(x("1.8.4").capabilities().vision);
        let v = CoreInfo {
            path: "/v".into(),
            flavour: Flavour::V2ray,
            version: "4.34.0".into(),
        };
        assert_eq!(
            v.capabilities(),
            Capabilities {
                api_listen: false,
                tun_inbound: false,
                vision: false
            }
        );
        assert_eq!(
            v.run_args(Path::new("/c.json")),
            vec![OsString::from("-config"), "/c.json".into()]
        );
        assert_eq!(
            x("1.8.4").test_args(Path::new("/c.json")),
            vec![
                OsString::from("run"),
                "-test".into(),
                "-c".into(),
                "/c.json".into()
            ]
        );
    }
}
