//! Cross-field validation of a parsed Desired model: credentials, host names,
//! unique tags, redirect and forward targets, server certificate files. Every
//! problem is collected (not just the first) with its key path and position.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use super::locate::position;
use super::model::*;
use super::names::{
    EMITTED_TAGS, is_domain_matcher, is_host, is_hostname, is_interface_name, is_uuid,
};
use crate::error::{ConfigError, ErrorCode};
use crate::layout::Layout;

mod reverse;

struct Checker<'a> {
    file: &'a Path,
    src: &'a str,
    errors: Vec<ConfigError>,
}

impl Checker<'_> {
    fn fail(&mut self, key: String, message: impl Into<String>) {
        self.fail_code(ErrorCode::InvalidToml, key, message);
    }

    fn fail_code(&mut self, code: ErrorCode, key: String, message: impl Into<String>) {
        let pos = position(self.src, &key);
        self.errors
            .push(ConfigError::new(code, self.file, key, message).at(pos));
    }
}

/// Outbound tags a redirect or forward may name, beyond the endpoints.
pub struct KnownOutbounds<'a> {
    /// Tags appended by `outbounds.append.json`.
    pub appended: &'a [String],
}

fn check_redirects(c: &mut Checker<'_>, section: &str, redirects: &[Redirect], targets: &Targets) {
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    for (i, r) in redirects.iter().enumerate() {
        let key = format!("{section}.redirects[{i}]");
        let value = match (&r.cidr, &r.domain) {
            (Some(_), Some(_)) | (None, None) => {
                c.fail(key.clone(), "exactly one of `cidr` or `domain` must be set");
                continue;
            }
            (Some(cidr), None) => cidr.0.trunc().to_string(),
            (None, Some(domain)) => {
                if !is_domain_matcher(domain) {
                    c.fail(
                        format!("{key}.domain"),
                        format!("`{domain}` is not a domain"),
                    );
                }
                let d = domain.to_ascii_lowercase();
                d.strip_prefix("domain:").map(str::to_string).unwrap_or(d)
            }
        };
        check_target(c, &format!("{key}.outbound_tag"), &r.outbound_tag, targets);
        if let Some(prev) = seen.insert(value.clone(), r.outbound_tag.clone()) {
            c.fail_code(
                ErrorCode::InvalidRule,
                key,
                format!("duplicate redirect for `{value}` (already sent to `{prev}`)"),
            );
        }
    }
}

/// What an `outbound_tag` may name, and whether it is usable.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    /// `direct`, an enabled endpoint, an appended outbound.
    Usable,
    /// An enabled reverse channel (server): usable too.
    Channel,
    DisabledEndpoint,
    /// A disabled reverse channel, by its key.
    DisabledChannel(String),
}

impl Target {
    fn usable(&self) -> bool {
        matches!(self, Target::Usable | Target::Channel)
    }
}

type Targets = BTreeMap<String, Target>;

fn check_target(c: &mut Checker<'_>, key: &str, tag: &str, targets: &Targets) {
    match targets.get(&tag.to_ascii_lowercase()) {
        Some(Target::Usable | Target::Channel) => {}
        Some(Target::DisabledEndpoint) => c.fail(
            key.to_string(),
            format!("`{tag}` names a disabled endpoint; enable it or point elsewhere"),
        ),
        Some(Target::DisabledChannel(k)) => c.fail(
            key.to_string(),
            format!(
                "`{tag}` names the disabled reverse channel `{k}`; enable it or point elsewhere"
            ),
        ),
        None => {
            let known: Vec<&str> = targets
                .iter()
                .filter(|(_, t)| t.usable())
                .map(|(t, _)| t.as_str())
                .collect();
            c.fail(
                key.to_string(),
                format!("`{tag}` names no outbound (known: {})", known.join(", ")),
            )
        }
    }
}

fn check_forwards(
    c: &mut Checker<'_>,
    section: &str,
    forwards: &[Forward],
    targets: &Targets,
    taken: &mut Vec<(std::net::IpAddr, u16, &'static str)>,
) {
    for (i, f) in forwards.iter().enumerate() {
        let key = format!("{section}.forwards[{i}]");
        if !is_host(&f.target_host) {
            c.fail(
                format!("{key}.target_host"),
                format!("`{}` is not a host name or IP", f.target_host),
            );
        }
        check_target(c, &format!("{key}.outbound_tag"), &f.outbound_tag, targets);
        let nets: &[&'static str] = match f.protocol {
            ForwardProtocol::Tcp => &["tcp"],
            ForwardProtocol::Udp => &["udp"],
            ForwardProtocol::Both => &["tcp", "udp"],
        };
        for net in nets {
            let clash = taken.iter().any(|(addr, port, n)| {
                *port == f.listen_port.0
                    && n == net
                    && (*addr == f.listen_address
                        || addr.is_unspecified()
                        || f.listen_address.is_unspecified())
            });
            if clash {
                c.fail(
                    format!("{key}.listen_port"),
                    format!(
                        "{}:{} ({net}) is already used by another inbound",
                        f.listen_address, f.listen_port
                    ),
                );
            } else {
                taken.push((f.listen_address, f.listen_port.0, net));
            }
        }
    }
}

fn check_managed_tag(c: &mut Checker<'_>, key: String, tag: &str) {
    let lower = tag.to_ascii_lowercase();
    if tag.is_empty() {
        c.fail(key, "tag must not be empty");
    } else if lower.starts_with("xp2p-")
        || lower.ends_with(".rev")
        || EMITTED_TAGS.contains(&lower.as_str())
    {
        c.fail_code(
            ErrorCode::ReservedTag,
            key,
            format!("`{tag}` is reserved for xp2p"),
        );
    }
}

/// Validates a client model. `file` is how the file is shown to the operator.
pub fn client(
    file: &Path,
    src: &str,
    m: &ClientDesired,
    known: &KnownOutbounds<'_>,
) -> Vec<ConfigError> {
    let mut c = Checker {
        file,
        src,
        errors: Vec::new(),
    };
    let s = &m.client;
    check_core(&mut c, &m.core);

    if !is_interface_name(&s.tun_name) {
        c.fail(
            "client.tun_name".into(),
            format!(
                "`{}` is not a valid interface name (1-15 chars, no / or :)",
                s.tun_name
            ),
        );
    }
    let mut dns_seen = HashSet::new();
    for (i, d) in s.dns_servers.iter().enumerate() {
        if !dns_seen.insert(d) {
            c.fail(
                format!("client.dns_servers[{i}]"),
                format!("duplicate DNS server {d}"),
            );
        }
    }

    // endpoints: tag -> enabled
    let mut targets = Targets::new();
    targets.insert("direct".into(), Target::Usable);
    for (i, e) in s.endpoints.iter().enumerate() {
        let key = format!("client.endpoints[{i}]");
        if !is_hostname(&e.hostname) {
            c.fail(
                format!("{key}.hostname"),
                format!("`{}` is not a host name", e.hostname),
            );
        }
        if !is_host(&e.address) {
            c.fail(
                format!("{key}.address"),
                format!("`{}` is not an IP or host name", e.address),
            );
        }
        if e.user.trim().is_empty() {
            c.fail(format!("{key}.user"), "user must not be empty");
        }
        if e.password.is_empty() {
            c.fail(format!("{key}.password"), "credential must not be empty");
        } else if e.protocol == Protocol::Vless && !is_uuid(&e.password) {
            c.fail(
                format!("{key}.password"),
                "a VLESS credential must be a UUID",
            );
        }
        if !e.flow.is_empty() {
            if e.protocol != Protocol::Vless {
                c.fail(
                    format!("{key}.flow"),
                    "flow is only valid with protocol = \"vless\"",
                );
            } else if e.flow != "xtls-rprx-vision" {
                c.fail(
                    format!("{key}.flow"),
                    format!("unknown flow `{}` (only xtls-rprx-vision)", e.flow),
                );
            }
        }
        if let Some(sni) = &e.server_name
            && !sni.is_empty()
            && !is_hostname(sni)
        {
            c.fail(
                format!("{key}.server_name"),
                format!("`{sni}` is not a host name"),
            );
        }
        let pin: String = e
            .pinned_peer_cert_sha256
            .chars()
            .filter(|ch| *ch != ':')
            .collect();
        if !pin.is_empty() && (pin.len() != 64 || !pin.chars().all(|ch| ch.is_ascii_hexdigit())) {
            c.fail(
                format!("{key}.pinned_peer_cert_sha256"),
                "must be 64 hex digits (colons allowed)",
            );
        }
        let tag = e.effective_tag();
        check_managed_tag(&mut c, format!("{key}.tag"), &tag);
        let state = if e.disabled {
            Target::DisabledEndpoint
        } else {
            Target::Usable
        };
        if targets.insert(tag.to_ascii_lowercase(), state).is_some() {
            c.fail_code(
                ErrorCode::MergeCollision,
                format!("{key}.tag"),
                format!("duplicate tag `{tag}`"),
            );
        }
    }
    // Appended outbounds are valid targets too. They are added after the
    // endpoints so that a snippet tag equal to an endpoint tag is reported by the
    // snippet merge check (file, index, tag), not as a duplicate endpoint tag.
    for t in known.appended {
        targets.insert(t.to_ascii_lowercase(), Target::Usable);
    }

    if !s.full_tunnel_tag.is_empty()
        && targets.get(&s.full_tunnel_tag.to_ascii_lowercase()) != Some(&Target::Usable)
    {
        c.fail(
            "client.full_tunnel_tag".into(),
            format!("`{}` names no enabled endpoint", s.full_tunnel_tag),
        );
    }
    if s.tun_enabled && s.tun_mode == TunMode::Full && s.enabled_endpoints().next().is_none() {
        c.fail(
            "client.tun_mode".into(),
            "full mode needs at least one enabled endpoint",
        );
    }

    reverse::check_bridges(&mut c, s, &targets);
    check_redirects(&mut c, "client", &s.redirects, &targets);
    let mut taken = vec![
        (s.socks_address.ip(), s.socks_address.port(), "tcp"),
        (s.socks_address.ip(), s.socks_address.port(), "udp"),
    ];
    reverse::check_client_diag_port(&mut c, s, &mut taken);
    check_api_port(&mut c, &m.core, &mut taken);
    check_forwards(&mut c, "client", &s.forwards, &targets, &mut taken);
    c.errors
}

/// Validates a server model; certificate and key must exist under CONFIG_ROOT.
pub fn server(
    file: &Path,
    src: &str,
    m: &ServerDesired,
    layout: &Layout,
    known: &KnownOutbounds<'_>,
) -> Vec<ConfigError> {
    let mut c = Checker {
        file,
        src,
        errors: Vec::new(),
    };
    let s = &m.server;
    check_core(&mut c, &m.core);
    if !s.host.is_empty() && !is_host(&s.host) {
        c.fail(
            "server.host".into(),
            format!("`{}` is not a host name or IP", s.host),
        );
    }
    if !is_interface_name(&s.tun_name) {
        c.fail(
            "server.tun_name".into(),
            format!("`{}` is not a valid interface name", s.tun_name),
        );
    }
    for (key, path) in [
        ("server.certificate", &s.certificate),
        ("server.key", &s.key),
    ] {
        if path.is_empty() {
            c.fail(key.into(), "must name a PEM file");
            continue;
        }
        let full = layout.resolve_asset(path);
        if !full.is_file() {
            c.fail(
                key.into(),
                format!("file {} does not exist", full.display()),
            );
        }
    }
    let vless = matches!(
        s.profile,
        ServerProfile::VlessTls | ServerProfile::VlessTlsVision
    );
    let mut labels = HashSet::new();
    for (i, u) in s.users.iter().enumerate() {
        let key = format!("server.users[{i}]");
        if u.user_label.trim().is_empty() {
            c.fail(format!("{key}.user_label"), "user_label must not be empty");
        } else if !labels.insert(u.user_label.to_ascii_lowercase()) {
            c.fail(
                format!("{key}.user_label"),
                format!("duplicate user `{}`", u.user_label),
            );
        }
        if u.credential.is_empty() {
            c.fail(format!("{key}.credential"), "credential must not be empty");
        } else if vless && !is_uuid(&u.credential) {
            c.fail(
                format!("{key}.credential"),
                "a VLESS credential must be a UUID",
            );
        }
        check_rotation(&mut c, &key, u, vless);
    }
    check_user_identities(&mut c, &s.users);
    let mut targets = Targets::new();
    targets.insert("direct".into(), Target::Usable);
    for t in known.appended {
        targets.insert(t.to_ascii_lowercase(), Target::Usable);
    }
    reverse::check_channels(&mut c, s, &mut targets);
    check_redirects(&mut c, "server", &s.redirects, &targets);
    let mut taken = vec![
        (s.listen, s.trojan_port.0, "tcp"),
        (std::net::IpAddr::from([127, 0, 0, 1]), s.diag_port.0, "tcp"),
    ];
    if s.tun_enabled {
        let loopback = std::net::IpAddr::from([127, 0, 0, 1]);
        if taken.iter().any(|(ip, port, _)| {
            *port == s.tun_socks_port.0 && (*ip == loopback || ip.is_unspecified())
        }) {
            c.fail(
                "server.tun_socks_port".into(),
                "tun_socks_port must differ from trojan_port and diag_port",
            );
        }
        taken.push((loopback, s.tun_socks_port.0, "tcp"));
    }
    if let Some(addr) = s.socks_address {
        if addr.port() == 0 {
            c.fail("server.socks_address".into(), "port must be 1-65535");
        } else if taken.iter().any(|(ip, port, _)| {
            *port == addr.port()
                && (*ip == addr.ip() || ip.is_unspecified() || addr.ip().is_unspecified())
        }) {
            c.fail(
                "server.socks_address".into(),
                format!("{addr} is already used by another listener of the server"),
            );
        }
        taken.push((addr.ip(), addr.port(), "tcp"));
    }
    reverse::check_server_probe_port(&mut c, s, &mut taken);
    check_api_port(&mut c, &m.core, &mut taken);
    if s.diag_port == s.trojan_port {
        c.fail(
            "server.diag_port".into(),
            "diag_port must differ from trojan_port",
        );
    }
    check_forwards(&mut c, "server", &s.forwards, &targets, &mut taken);
    c.errors
}

/// The rotation keys of one user: RFC 3339 times, a previous credential only
/// with its expiry, of the profile's kind and unlike the current one.
fn check_rotation(c: &mut Checker<'_>, key: &str, u: &User, vless: bool) {
    for (name, v) in [
        ("rotation_expires_at", &u.rotation_expires_at),
        ("created_at", &u.created_at),
        ("rotated_at", &u.rotated_at),
    ] {
        if let Some(t) = v
            && humantime::parse_rfc3339_weak(t).is_err()
        {
            c.fail(
                format!("{key}.{name}"),
                format!("`{t}` is not an RFC 3339 UTC time like 2026-01-01T00:00:00Z"),
            );
        }
    }
    let Some(prev) = &u.previous_credential else {
        return;
    };
    if prev.is_empty() {
        c.fail(
            format!("{key}.previous_credential"),
            "previous_credential must not be empty (remove the key instead)",
        );
    } else if u.rotation_expires_at.is_none() {
        c.fail(
            format!("{key}.previous_credential"),
            "previous_credential needs rotation_expires_at (when it stops working)",
        );
    } else if *prev == u.credential {
        c.fail(
            format!("{key}.previous_credential"),
            "previous_credential equals credential",
        );
    } else if vless && !is_uuid(prev) {
        c.fail(
            format!("{key}.previous_credential"),
            "a VLESS credential must be a UUID",
        );
    }
}

/// Cores refuse two clients of one inbound with the same credential or the same
/// email (a previous credential is compiled as `<label>~previous`).
fn check_user_identities(c: &mut Checker<'_>, users: &[User]) {
    let mut creds: BTreeMap<&str, &str> = BTreeMap::new();
    let labels: HashSet<String> = users
        .iter()
        .map(|u| u.user_label.to_ascii_lowercase())
        .collect();
    for (i, u) in users.iter().enumerate() {
        let key = format!("server.users[{i}]");
        let prev = u.previous_credential.as_deref().filter(|p| !p.is_empty());
        for (name, cred) in [
            ("credential", Some(u.credential.as_str())),
            ("previous_credential", prev),
        ] {
            let Some(cred) = cred.filter(|c| !c.is_empty()) else {
                continue;
            };
            if let Some(owner) = creds.insert(cred, &u.user_label)
                && owner != u.user_label
            {
                c.fail(
                    format!("{key}.{name}"),
                    format!("the same credential is already used by user `{owner}`"),
                );
            }
        }
        if prev.is_some() && labels.contains(&u.previous_email().to_ascii_lowercase()) {
            c.fail(
                format!("{key}.user_label"),
                format!(
                    "a user labelled `{}` exists, which is how `{}`'s previous credential is named",
                    u.previous_email(),
                    u.user_label
                ),
            );
        }
    }
}

/// The API listener must not share a port with a managed inbound.
fn check_api_port(
    c: &mut Checker<'_>,
    core: &CoreSection,
    taken: &mut Vec<(std::net::IpAddr, u16, &'static str)>,
) {
    let Ok(addr) = core.api_listen.parse::<std::net::SocketAddr>() else {
        return;
    };
    let clash = taken.iter().any(|(ip, port, net)| {
        *port == addr.port()
            && *net == "tcp"
            && (*ip == addr.ip() || ip.is_unspecified() || addr.ip().is_unspecified())
    });
    if clash {
        c.fail(
            "core.api_listen".into(),
            format!("{addr} is already used by another inbound"),
        );
    } else {
        taken.push((addr.ip(), addr.port(), "tcp"));
    }
}

fn check_core(c: &mut Checker<'_>, core: &CoreSection) {
    if !core.api_listen.is_empty() && core.api_listen.parse::<std::net::SocketAddr>().is_err() {
        c.fail(
            "core.api_listen".into(),
            format!(
                "`{}` is not an address like 127.0.0.1:52180",
                core.api_listen
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desired::load::parse_client;

    fn errors(src: &str) -> Vec<String> {
        let f = Path::new("c.toml");
        let m = parse_client(f, src).unwrap();
        client(f, src, &m, &KnownOutbounds { appended: &[] })
            .iter()
            .map(|e| e.to_string())
            .collect()
    }

    #[test]
    fn same_network_written_twice_is_a_duplicate() {
        let e = errors(
            "[client]\n[[client.redirects]]\ncidr = \"10.20.0.0/16\"\noutbound_tag = \"direct\"\n[[client.redirects]]\ncidr = \"10.20.0.1/16\"\noutbound_tag = \"direct\"\n",
        );
        assert!(
            e.iter()
                .any(|l| l.contains("duplicate redirect for `10.20.0.0/16`")),
            "{e:?}"
        );
        let e = errors(
            "[client]\n[[client.redirects]]\ndomain = \"x.com\"\noutbound_tag = \"direct\"\n[[client.redirects]]\ndomain = \"domain:x.com\"\noutbound_tag = \"direct\"\n",
        );
        assert!(
            e.iter()
                .any(|l| l.contains("duplicate redirect for `x.com`")),
            "{e:?}"
        );
    }

    fn server_errors(src: &str) -> Vec<String> {
        let f = Path::new("s.toml");
        let m = crate::desired::load::parse_server(f, src).unwrap();
        let layout = Layout::new("/nonexistent", "/nonexistent/log");
        server(f, src, &m, &layout, &KnownOutbounds { appended: &[] })
            .iter()
            .map(|e| e.to_string())
            .filter(|e| !e.contains("does not exist"))
            .collect()
    }

    #[test]
    fn rotation_keys_are_checked() {
        let user = |extra: &str| {
            format!("[server]\n[[server.users]]\nuser_label = \"a\"\ncredential = \"new\"\n{extra}")
        };
        let cases = [
            (
                "previous_credential = \"old\"\n",
                "server.users[0].previous_credential: previous_credential needs rotation_expires_at",
            ),
            (
                "previous_credential = \"new\"\nrotation_expires_at = \"2026-01-01T00:00:00Z\"\n",
                "previous_credential equals credential",
            ),
            (
                "previous_credential = \"\"\nrotation_expires_at = \"2026-01-01T00:00:00Z\"\n",
                "previous_credential must not be empty",
            ),
            (
                "rotation_expires_at = \"tomorrow\"\n",
                "server.users[0].rotation_expires_at: `tomorrow` is not an RFC 3339",
            ),
            (
                "created_at = \"2026-13-01T00:00:00Z\"\n",
                "server.users[0].created_at: `2026-13-01T00:00:00Z` is not an RFC 3339",
            ),
            (
                "rotated_at = \"x\"\n",
                "server.users[0].rotated_at: `x` is not",
            ),
        ];
        for (extra, want) in cases {
            let e = server_errors(&user(extra));
            assert!(e.iter().any(|l| l.contains(want)), "{extra}: {e:?}");
        }
        let fine = user(
            "previous_credential = \"old\"\nrotation_expires_at = \"2026-01-01T00:00:00Z\"\ncreated_at = \"2025-01-01T00:00:00Z\"\nrotated_at = \"2025-12-31T00:00:00Z\"\n",
        );
        assert_eq!(server_errors(&fine), Vec::<String>::new());
    }

    #[test]
    fn credentials_and_core_emails_are_unique() {
        let e = server_errors(
            "[server]\n[[server.users]]\nuser_label = \"a\"\ncredential = \"same\"\n[[server.users]]\nuser_label = \"b\"\ncredential = \"n\"\nprevious_credential = \"same\"\nrotation_expires_at = \"2026-01-01T00:00:00Z\"\n",
        );
        assert!(
            e.iter().any(|l| l.contains(
                "server.users[1].previous_credential: the same credential is already used by user `a`"
            )),
            "{e:?}"
        );
        let e = server_errors(
            "[server]\n[[server.users]]\nuser_label = \"a~previous\"\ncredential = \"x\"\n[[server.users]]\nuser_label = \"a\"\ncredential = \"n\"\nprevious_credential = \"o\"\nrotation_expires_at = \"2026-01-01T00:00:00Z\"\n",
        );
        assert!(
            e.iter()
                .any(|l| l
                    .contains("server.users[1].user_label: a user labelled `a~previous` exists")),
            "{e:?}"
        );
    }

    #[test]
    fn api_port_may_not_clash_with_socks() {
        let e = errors("[core]\napi_listen = \"127.0.0.1:51180\"\n[client]\n");
        assert!(
            e.iter()
                .any(|l| l.contains("core.api_listen: 127.0.0.1:51180 is already used")),
            "{e:?}"
        );
    }
}
