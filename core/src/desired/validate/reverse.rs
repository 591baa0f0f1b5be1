//! Validation of reverse channels: `[server.reverse_channels.<key>]` (portals)
//! and `[client.reverse.<key>]` (bridges) — keys, users, endpoints, and tags
//! and domains unique among channels and apart from every outbound tag.

use std::collections::BTreeMap;

use super::{Checker, Target, Targets};
use crate::desired::model::{ClientSection, ServerSection};
use crate::desired::names::{EMITTED_TAGS, is_channel_key, is_host};
use crate::error::ErrorCode;

/// A rendezvous domain: it never resolves, but both cores match it with
/// `full:`, so it is a dotted name of `[a-z0-9-]` labels (no length rule per
/// label: the derived `<user><host>.rev` may be long).
fn is_rev_domain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.')
            .all(|l| !l.is_empty() && l.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '-'))
}

/// The checks both sides share: key, host, tag, domain, uniqueness. Returns
/// the tag when it is usable (not clashing), lowercased.
fn check_common(
    c: &mut Checker<'_>,
    e: &Entry<'_>,
    seen: &mut Seen,
    targets: &Targets,
) -> Option<String> {
    let Entry {
        key,
        base,
        user,
        host,
        ..
    } = *e;
    let (tag, domain) = (&e.tag, &e.domain);
    if !is_channel_key(key) {
        c.fail(
            base.to_string(),
            format!("`{key}` is not a channel key (1-64 letters, digits, `-` or `_`)"),
        );
    }
    if user.trim().is_empty() {
        c.fail(format!("{base}.user_id"), "user_id must not be empty");
    }
    if !is_host(host) {
        c.fail(
            format!("{base}.host"),
            format!("`{host}` is not a host name or IP"),
        );
    }
    let lower = tag.to_ascii_lowercase();
    let mut usable = true;
    if tag.is_empty() {
        c.fail(format!("{base}.tag"), "tag must not be empty");
        usable = false;
    } else if lower.starts_with("xp2p-")
        || lower.starts_with("proxy-")
        || EMITTED_TAGS.contains(&lower.as_str())
    {
        c.fail_code(
            ErrorCode::ReservedTag,
            format!("{base}.tag"),
            format!("`{tag}` is reserved for xp2p"),
        );
        usable = false;
    } else if let Some(other) = seen.tags.get(&lower) {
        c.fail_code(
            ErrorCode::MergeCollision,
            format!("{base}.tag"),
            format!("tag `{tag}` is already used by reverse channel `{other}`"),
        );
        usable = false;
    } else if targets.contains_key(&lower) {
        c.fail_code(
            ErrorCode::MergeCollision,
            format!("{base}.tag"),
            format!("tag `{tag}` is already the tag of an outbound"),
        );
        usable = false;
    }
    if !is_rev_domain(domain) {
        c.fail(
            format!("{base}.domain"),
            format!("`{domain}` is not a domain name"),
        );
    } else if let Some(other) = seen.domains.get(&domain.to_ascii_lowercase()) {
        c.fail_code(
            ErrorCode::MergeCollision,
            format!("{base}.domain"),
            format!("domain `{domain}` is already used by reverse channel `{other}`"),
        );
    }
    seen.tags.insert(lower.clone(), key.to_string());
    seen.domains
        .insert(domain.to_ascii_lowercase(), key.to_string());
    usable.then_some(lower)
}

/// One channel or bridge as both sides see it.
struct Entry<'a> {
    key: &'a str,
    base: &'a str,
    user: &'a str,
    host: &'a str,
    tag: String,
    domain: String,
}

/// Tags and domains taken so far, with the key that took them.
#[derive(Default)]
struct Seen {
    tags: BTreeMap<String, String>,
    domains: BTreeMap<String, String>,
}

/// Server: every channel names an existing user (enabled while the channel
/// is); its tag becomes a target redirects and forwards may name.
pub(super) fn check_channels(c: &mut Checker<'_>, s: &ServerSection, targets: &mut Targets) {
    let mut seen = Seen::default();
    let mut channel_targets = Vec::new();
    for (key, ch) in &s.reverse_channels {
        let base = format!("server.reverse_channels.{key}");
        let entry = Entry {
            key,
            base: &base,
            user: &ch.user_id,
            host: &ch.host,
            tag: ch.effective_tag(),
            domain: ch.effective_domain(),
        };
        let tag = check_common(c, &entry, &mut seen, targets);
        let user = s
            .users
            .iter()
            .find(|u| u.user_label.eq_ignore_ascii_case(ch.user_id.trim()));
        match user {
            None if !ch.user_id.trim().is_empty() => c.fail(
                format!("{base}.user_id"),
                format!("`{}` names no user of server.users", ch.user_id),
            ),
            Some(u) if u.disabled && !ch.disabled => c.fail(
                format!("{base}.user_id"),
                format!(
                    "user `{}` is disabled; disable the channel too or enable the user",
                    u.user_label
                ),
            ),
            _ => {}
        }
        if let Some(tag) = tag {
            let state = if ch.disabled {
                Target::DisabledChannel(key.clone())
            } else {
                Target::Channel
            };
            channel_targets.push((tag, state));
        }
    }
    targets.extend(channel_targets);
}

/// Client: every bridge reaches its portal through an existing endpoint
/// (enabled while the bridge is).
pub(super) fn check_bridges(c: &mut Checker<'_>, s: &ClientSection, targets: &Targets) {
    let mut seen = Seen::default();
    for (key, b) in &s.reverse {
        let base = format!("client.reverse.{key}");
        let entry = Entry {
            key,
            base: &base,
            user: &b.user_id,
            host: &b.host,
            tag: b.effective_tag(),
            domain: b.effective_domain(),
        };
        check_common(c, &entry, &mut seen, targets);
        let endpoint = s.endpoints.iter().find(|e| {
            e.effective_tag()
                .eq_ignore_ascii_case(b.endpoint_tag.trim())
        });
        match endpoint {
            None => {
                let known: Vec<String> = s.endpoints.iter().map(|e| e.effective_tag()).collect();
                c.fail(
                    format!("{base}.endpoint_tag"),
                    format!(
                        "`{}` names no endpoint (known: {})",
                        b.endpoint_tag,
                        known.join(", ")
                    ),
                )
            }
            Some(e) if e.disabled && !b.disabled => c.fail(
                format!("{base}.endpoint_tag"),
                format!(
                    "`{}` names a disabled endpoint; enable it or disable the bridge",
                    b.endpoint_tag
                ),
            ),
            _ => {}
        }
    }
}

/// Ports of the service's own listeners, with the role's other TCP listeners.
type Taken = Vec<(std::net::IpAddr, u16, &'static str)>;

/// A loopback TCP port the service or the core binds for channel probes:
/// refused when 0 or when another listener of the role holds it.
fn check_probe_port(c: &mut Checker<'_>, key: &str, port: u16, taken: &mut Taken) {
    let loopback = std::net::IpAddr::from([127, 0, 0, 1]);
    if port == 0 {
        c.fail(key.into(), "port must be 1-65535");
    } else if taken
        .iter()
        .any(|(ip, p, net)| *p == port && *net == "tcp" && (*ip == loopback || ip.is_unspecified()))
    {
        c.fail(
            key.into(),
            format!("127.0.0.1:{port} is already used by another listener of this role"),
        );
    } else {
        taken.push((loopback, port, "tcp"));
    }
}

/// Client: with a bridge enabled, the responder's port (`client.diag_port`)
/// must be free of the role's other listeners; it joins `taken`.
pub(super) fn check_client_diag_port(c: &mut Checker<'_>, s: &ClientSection, taken: &mut Taken) {
    if s.reverse.values().any(|b| !b.disabled) {
        check_probe_port(c, "client.diag_port", s.diag_port.0, taken);
    }
}

/// Server: with a channel enabled, the probe inbound's port
/// (`server.diag_socks_port`) must be free; it joins `taken`.
pub(super) fn check_server_probe_port(c: &mut Checker<'_>, s: &ServerSection, taken: &mut Taken) {
    if s.reverse_channels.values().any(|ch| !ch.disabled) {
        check_probe_port(c, "server.diag_socks_port", s.diag_socks_port.0, taken);
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::desired::load::{parse_client, parse_server};
    use crate::desired::validate::{KnownOutbounds, client, server};
    use crate::layout::Layout;

    const USERS: &str = "[server]\nhost = \"vpn.example.com\"\n[[server.users]]\nuser_label = \"alice\"\ncredential = \"a\"\n[[server.users]]\nuser_label = \"bob\"\ncredential = \"b\"\ndisabled = true\n";

    fn server_errors(extra: &str, appended: &[String]) -> Vec<String> {
        let src = format!("{USERS}{extra}");
        let f = Path::new("s.toml");
        let m = parse_server(f, &src).unwrap();
        let layout = Layout::new("/nonexistent", "/nonexistent/log");
        server(f, &src, &m, &layout, &KnownOutbounds { appended })
            .iter()
            .map(|e| e.to_string())
            .filter(|e| !e.contains("does not exist"))
            .collect()
    }

    const ENDPOINTS: &str = "[client]\n[[client.endpoints]]\ntag = \"proxy-a\"\nhostname = \"vpn.example.com\"\naddress = \"203.0.113.1\"\nport = 443\nuser = \"alice\"\npassword = \"p\"\n[[client.endpoints]]\ntag = \"proxy-b\"\nhostname = \"b.example.com\"\naddress = \"203.0.113.2\"\nport = 443\nuser = \"alice\"\npassword = \"q\"\ndisabled = true\n";

    fn client_errors(extra: &str, appended: &[String]) -> Vec<String> {
        let src = format!("{ENDPOINTS}{extra}");
        let f = Path::new("c.toml");
        let m = parse_client(f, &src).unwrap();
        client(f, &src, &m, &KnownOutbounds { appended })
            .iter()
            .map(|e| e.to_string())
            .collect()
    }

    /// One finding, containing `want` (the position is part of the line).
    fn only(errors: Vec<String>, want: &str) {
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].contains(want), "{errors:?}\nwant: {want}");
    }

    #[test]
    fn valid_channels_and_bridges_pass() {
        let e = server_errors(
            "[server.reverse_channels.alice]\nuser_id = \"ALICE\"\nhost = \"vpn.example.com\"\n[server.reverse_channels.bob]\nuser_id = \"bob\"\nhost = \"vpn.example.com\"\ndisabled = true\n[[server.redirects]]\ncidr = \"10.77.0.0/16\"\noutbound_tag = \"ALICEvpn-example-com.rev\"\n",
            &[],
        );
        assert_eq!(e, Vec::<String>::new());
        let e = client_errors(
            "[client.reverse.vpn]\nuser_id = \"alice\"\nhost = \"vpn.example.com\"\nendpoint_tag = \"proxy-a\"\n[client.reverse.b]\nuser_id = \"alice\"\nhost = \"b.example.com\"\nendpoint_tag = \"proxy-b\"\ndisabled = true\n",
            &[],
        );
        assert_eq!(e, Vec::<String>::new());
    }

    #[test]
    fn server_channel_findings_name_the_key() {
        let ch = |key: &str, body: &str| {
            format!("[server.reverse_channels.{key}]\nhost = \"vpn.example.com\"\n{body}")
        };
        let cases: Vec<(String, Vec<String>, &str)> = vec![
            (
                ch("x", "user_id = \"carol\"\n"),
                vec![],
                "server.reverse_channels.x.user_id: `carol` names no user of server.users",
            ),
            (
                ch("x", "user_id = \"bob\"\n"),
                vec![],
                "server.reverse_channels.x.user_id: user `bob` is disabled; disable the channel too or enable the user",
            ),
            (
                ch("x", "user_id = \"alice\"\n") + &ch("y", "user_id = \"alice\"\ntag = \"other.rev\"\n"),
                vec![],
                "server.reverse_channels.y.domain: domain `alicevpn-example-com.rev` is already used by reverse channel `x`",
            ),
            (
                ch("x", "user_id = \"alice\"\n") + &ch("y", "user_id = \"alice\"\ndomain = \"other.rev\"\n"),
                vec![],
                "server.reverse_channels.y.tag: tag `alicevpn-example-com.rev` is already used by reverse channel `x`",
            ),
            (
                ch("x", "user_id = \"alice\"\ntag = \"my-out\"\n"),
                vec!["my-out".to_string()],
                "server.reverse_channels.x.tag: tag `my-out` is already the tag of an outbound",
            ),
            (
                ch("x", "user_id = \"alice\"\ntag = \"direct\"\n"),
                vec![],
                "server.reverse_channels.x.tag: `direct` is reserved for xp2p",
            ),
            (
                ch("x", "user_id = \"alice\"\ntag = \"xp2p-diag\"\n"),
                vec![],
                "server.reverse_channels.x.tag: `xp2p-diag` is reserved for xp2p",
            ),
            (
                ch("x", "user_id = \"alice\"\ndomain = \"bad domain\"\n"),
                vec![],
                "server.reverse_channels.x.domain: `bad domain` is not a domain name",
            ),
            (
                "[server.reverse_channels.\"a.b\"]\nuser_id = \"alice\"\nhost = \"vpn.example.com\"\n".into(),
                vec![],
                "server.reverse_channels.a.b: `a.b` is not a channel key",
            ),
            (
                ch("x", "user_id = \"alice\"\ndisabled = true\n")
                    + "[[server.forwards]]\nlisten_port = 2222\ntarget_host = \"10.77.0.5\"\ntarget_port = 22\noutbound_tag = \"alicevpn-example-com.rev\"\n",
                vec![],
                "server.forwards[0].outbound_tag: `alicevpn-example-com.rev` names the disabled reverse channel `x`; enable it or point elsewhere",
            ),
            (
                "[[server.redirects]]\ncidr = \"10.77.0.0/16\"\noutbound_tag = \"alicevpn-example-com.rev\"\n".into(),
                vec![],
                "server.redirects[0].outbound_tag: `alicevpn-example-com.rev` names no outbound (known: direct)",
            ),
        ];
        for (extra, appended, want) in cases {
            only(server_errors(&extra, &appended), want);
        }
    }

    #[test]
    fn client_bridge_findings_name_the_key() {
        let br = |key: &str, body: &str| {
            format!(
                "[client.reverse.{key}]\nuser_id = \"alice\"\nhost = \"vpn.example.com\"\n{body}"
            )
        };
        let cases: Vec<(String, Vec<String>, &str)> = vec![
            (
                br("x", "endpoint_tag = \"proxy-z\"\n"),
                vec![],
                "client.reverse.x.endpoint_tag: `proxy-z` names no endpoint (known: proxy-a, proxy-b)",
            ),
            (
                br("x", "endpoint_tag = \"proxy-b\"\n"),
                vec![],
                "client.reverse.x.endpoint_tag: `proxy-b` names a disabled endpoint; enable it or disable the bridge",
            ),
            (
                br("x", "endpoint_tag = \"proxy-a\"\n") + &br("y", "endpoint_tag = \"proxy-a\"\ntag = \"t.rev\"\n"),
                vec![],
                "client.reverse.y.domain: domain `alicevpn-example-com.rev` is already used by reverse channel `x`",
            ),
            (
                br("x", "endpoint_tag = \"proxy-a\"\ntag = \"proxy-a\"\n"),
                vec![],
                "client.reverse.x.tag: `proxy-a` is reserved for xp2p",
            ),
            (
                br("x", "endpoint_tag = \"proxy-a\"\ntag = \"blackhole-out\"\n"),
                vec!["blackhole-out".to_string()],
                "client.reverse.x.tag: tag `blackhole-out` is already the tag of an outbound",
            ),
            (
                "[client.reverse.x]\nuser_id = \"\"\nhost = \"vpn.example.com\"\nendpoint_tag = \"proxy-a\"\n".into(),
                vec![],
                "client.reverse.x.user_id: user_id must not be empty",
            ),
            (
                "[client.reverse.x]\nuser_id = \"alice\"\nhost = \"bad host\"\nendpoint_tag = \"proxy-a\"\n".into(),
                vec![],
                "client.reverse.x.host: `bad host` is not a host name or IP",
            ),
            // a redirect may not name a bridge: it is no outbound
            (
                br("x", "endpoint_tag = \"proxy-a\"\n")
                    + "[[client.redirects]]\ncidr = \"10.0.0.0/8\"\noutbound_tag = \"alicevpn-example-com.rev\"\n",
                vec![],
                "client.redirects[0].outbound_tag: `alicevpn-example-com.rev` names no outbound",
            ),
        ];
        for (extra, appended, want) in cases {
            only(client_errors(&extra, &appended), want);
        }
    }

    #[test]
    fn unknown_keys_stay_errors() {
        let src = format!(
            "{USERS}[server.reverse_channels.x]\nuser_id = \"alice\"\nhost = \"h\"\nendpoint_tag = \"p\"\n"
        );
        let e = parse_server(Path::new("s.toml"), &src)
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown field `endpoint_tag`"), "{e}");
    }

    #[test]
    fn probe_ports_must_not_clash_while_a_channel_is_enabled() {
        let bridge = "[client.reverse.vpn]\nuser_id = \"alice\"\nhost = \"vpn.example.com\"\nendpoint_tag = \"proxy-a\"\n";
        // the responder on the SOCKS port
        let src = ENDPOINTS.replace(
            "[client]\n",
            "[client]\nsocks_address = \"127.0.0.1:7000\"\ndiag_port = 7000\n",
        );
        let f = Path::new("c.toml");
        let m = parse_client(f, &format!("{src}{bridge}")).unwrap();
        let e: Vec<String> = client(f, &src, &m, &KnownOutbounds { appended: &[] })
            .iter()
            .map(|e| e.to_string())
            .collect();
        only(e, "client.diag_port: 127.0.0.1:7000 is already used");
        // with the bridge disabled nothing binds the port
        let m = parse_client(f, &format!("{src}{bridge}disabled = true\n")).unwrap();
        assert!(client(f, &src, &m, &KnownOutbounds { appended: &[] }).is_empty());

        let channel =
            "[server.reverse_channels.alice]\nuser_id = \"alice\"\nhost = \"vpn.example.com\"\n";
        let src = USERS.replace(
            "[server]\n",
            "[server]\ndiag_port = 7001\ndiag_socks_port = 7001\n",
        );
        let f = Path::new("s.toml");
        let layout = Layout::new("/nonexistent", "/nonexistent/log");
        let full = format!("{src}{channel}");
        let m = parse_server(f, &full).unwrap();
        let e: Vec<String> = server(f, &full, &m, &layout, &KnownOutbounds { appended: &[] })
            .iter()
            .map(|e| e.to_string())
            .filter(|e| !e.contains("does not exist"))
            .collect();
        only(e, "server.diag_socks_port: 127.0.0.1:7001 is already used");
    }
}
