//! Name rules: hostnames, domains, interface names, endpoint tag derivation and
//! the tags reserved for what the compiler emits.

/// `proxy-` + sanitized hostname: lowercase, keep `[a-z0-9]`, every other run -> `-`.
pub fn endpoint_tag_for(hostname: &str) -> String {
    format!("proxy-{}", sanitize(hostname))
}

/// The default tag and domain of a reverse channel, the same on both sides:
/// `<sanitize(user)><sanitize(host)>.rev` (xp2p-upstream §3.3).
pub fn reverse_name(user: &str, host: &str) -> String {
    format!("{}{}.rev", sanitize(user), sanitize(host))
}

/// A reverse-channel key: 1–64 of `[A-Za-z0-9_-]` (it is a TOML table name
/// and a command argument).
pub fn is_channel_key(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

pub fn sanitize(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut dash = false;
    for c in s.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            out.push(c);
            dash = false;
        } else if !dash && !out.is_empty() {
            out.push('-');
            dash = true;
        }
    }
    while out.ends_with('-') {
        out.pop();
    }
    out
}

/// An RFC 1123 host name (letters, digits, hyphens; dot-separated labels).
pub fn is_hostname(s: &str) -> bool {
    let s = s.strip_suffix('.').unwrap_or(s);
    if s.is_empty() || s.len() > 253 {
        return false;
    }
    s.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    })
}

/// A host name or an IP literal.
pub fn is_host(s: &str) -> bool {
    s.parse::<std::net::IpAddr>().is_ok() || is_hostname(s)
}

/// A redirect domain: a host name, optionally `full:`/`domain:` prefixed, or a
/// `keyword:`/`regexp:` matcher as xray understands them.
pub fn is_domain_matcher(s: &str) -> bool {
    if let Some(rest) = s
        .strip_prefix("full:")
        .or_else(|| s.strip_prefix("domain:"))
    {
        return is_hostname(rest);
    }
    if let Some(rest) = s
        .strip_prefix("keyword:")
        .or_else(|| s.strip_prefix("regexp:"))
    {
        return !rest.is_empty() && !rest.chars().any(char::is_whitespace);
    }
    is_hostname(s)
}

/// A Linux interface name: 1–15 bytes, no `/`, whitespace or `:`.
pub fn is_interface_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 15
        && s.chars()
            .all(|c| c.is_ascii_graphic() && c != '/' && c != ':')
}

/// Tags the compiler itself emits (besides the `xp2p-` and `proxy-` families).
pub const EMITTED_TAGS: [&str; 8] = [
    "socks-in",
    "direct",
    "api",
    "tun-in",
    "tun-socks-in",
    "trojan-in",
    "vless-in",
    "block",
];

/// Reserved for xp2p: snippets may not use these.
pub fn is_reserved_tag(tag: &str) -> bool {
    let t = tag.to_ascii_lowercase();
    t.starts_with("xp2p-")
        || t.starts_with("proxy-")
        || t.ends_with(".rev")
        || EMITTED_TAGS.contains(&t.as_str())
}

pub fn is_uuid(s: &str) -> bool {
    uuid::Uuid::parse_str(s).is_ok() && s.len() == 36
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_derivation_matches_upstream() {
        assert_eq!(endpoint_tag_for("vpn.example.com"), "proxy-vpn-example-com");
        assert_eq!(endpoint_tag_for("A--B..c"), "proxy-a-b-c");
    }

    #[test]
    fn reverse_names_match_upstream() {
        assert_eq!(
            reverse_name("branch@example.com", "edge.example.com"),
            "branch-example-comedge-example-com.rev"
        );
        assert!(is_hostname(&reverse_name("a@xp2p.local", "1.2.3.4")));
        assert!(is_channel_key("alice-xp2p_local1"));
        assert!(!is_channel_key("a.b"));
        assert!(!is_channel_key(""));
    }

    #[test]
    fn hostnames() {
        assert!(is_hostname("vpn.example.com"));
        assert!(is_hostname("localhost"));
        assert!(!is_hostname("bad host"));
        assert!(!is_hostname("-x.com"));
        assert!(!is_hostname(""));
        assert!(is_host("203.0.113.10"));
        assert!(is_domain_matcher("full:a.example"));
        assert!(!is_domain_matcher("full:"));
    }

    #[test]
    fn reserved() {
        assert!(is_reserved_tag("XP2P-thing"));
        assert!(is_reserved_tag("proxy-a"));
        assert!(is_reserved_tag("b.rev"));
        assert!(is_reserved_tag("direct"));
        assert!(!is_reserved_tag("my-out"));
    }
}
