//! The reverse channel a deploy sets up by default: the server's
//! `[server.reverse_channels.<key>]` and the client's `[client.reverse.<key>]`
//! for the new user. Both sides derive the same tag and domain,
//! `<sanitize(user)><sanitize(host)>.rev`, from the user label and the host the
//! client dialed (the client's endpoint `user` and `hostname`). Here: that name,
//! the keys (free in each file), the refusals of a name already in use, and the
//! client's check of the server's answer.

use super::error::DeployError;
use super::progress::Step;
use crate::desired::names::{is_channel_key, reverse_name, sanitize};
use crate::desired::{ClientDesired, ServerDesired};
use crate::link::ReverseChannel;

/// Room kept in a key for a `-<n>` suffix (keys are at most 64 characters).
const KEY_STEM: usize = 54;

/// The tag and domain of the channel for `user` reached at `host`.
pub fn name(user: &str, host: &str) -> String {
    reverse_name(user, host)
}

/// A key for a new channel or bridge: `from` sanitized (`fallback` when that
/// leaves nothing), then `-2`, `-3`, … until `taken` says no.
pub fn free_key(from: &str, fallback: &str, taken: &dyn Fn(&str) -> bool) -> String {
    let mut stem = sanitize(from);
    stem.truncate(KEY_STEM);
    let stem = match stem.trim_end_matches('-') {
        "" => fallback.to_string(),
        s => s.to_string(),
    };
    if !taken(&stem) {
        return stem;
    }
    let mut n = 2u64;
    loop {
        let key = format!("{stem}-{n}");
        if !taken(&key) {
            debug_assert!(is_channel_key(&key));
            return key;
        }
        n += 1;
    }
}

/// The server's channel for the new user `label`, as the client dialed `host`:
/// refused when a channel already names that tag or domain.
pub fn plan_channel(
    model: Option<&ServerDesired>,
    label: &str,
    host: &str,
    step: Step,
) -> Result<ReverseChannel, DeployError> {
    let name = name(label, host);
    let channels = model.map(|m| &m.server.reverse_channels);
    if let Some((key, c)) = channels.into_iter().flatten().find(|(_, c)| {
        c.effective_tag().eq_ignore_ascii_case(&name)
            || c.effective_domain().eq_ignore_ascii_case(&name)
    }) {
        return Err(DeployError::new(
            step,
            "reverse_exists",
            format!(
                "server.reverse_channels.{key} (user {}) already uses `{name}`; remove it first, or deploy with --no-reverse",
                c.user_id
            ),
        ));
    }
    let key = free_key(label, "channel", &|k| {
        channels.is_some_and(|cs| cs.keys().any(|x| x.eq_ignore_ascii_case(k)))
    });
    Ok(ReverseChannel {
        key,
        tag: name.clone(),
        domain: name,
    })
}

/// The client's bridge for the endpoint's `user` at `host`: its key, refused
/// when a bridge already names that tag or domain (checked before the link is
/// made and again at commit).
pub fn plan_bridge(
    model: Option<&ClientDesired>,
    user: &str,
    host: &str,
    step: Step,
) -> Result<String, DeployError> {
    let name = name(user, host);
    let bridges = model.map(|m| &m.client.reverse);
    if let Some((key, _)) = bridges.into_iter().flatten().find(|(_, b)| {
        b.effective_tag().eq_ignore_ascii_case(&name)
            || b.effective_domain().eq_ignore_ascii_case(&name)
    }) {
        return Err(DeployError::new(
            step,
            "reverse_exists",
            format!(
                "client.reverse.{key} already uses `{name}`; remove it first, or deploy with --no-reverse"
            ),
        ));
    }
    Ok(free_key(host, "bridge", &|k| {
        bridges.is_some_and(|bs| bs.keys().any(|x| x.eq_ignore_ascii_case(k)))
    }))
}

/// The client's check of the server's answer: the channel must name what the
/// bridge for `user` at `host` will name, or the two would never meet.
pub fn check_answer(user: &str, host: &str, ch: &ReverseChannel) -> Result<(), String> {
    let want = name(user, host);
    if ch.tag == want && ch.domain == want {
        return Ok(());
    }
    Err(format!(
        "the server's reverse channel {} names tag `{}` and domain `{}`, but this client's bridge (user {user}, host {host}) names `{want}`",
        ch.key, ch.tag, ch.domain
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desired::load;
    use std::path::Path;

    #[test]
    fn keys_are_sanitized_and_made_free() {
        let none = |_: &str| false;
        assert_eq!(
            free_key("Alice@xp2p.local", "channel", &none),
            "alice-xp2p-local"
        );
        assert_eq!(free_key("@@", "channel", &none), "channel");
        let taken = |k: &str| matches!(k, "a-b" | "a-b-2");
        assert_eq!(free_key("a.b", "channel", &taken), "a-b-3");
        let long = "x".repeat(64);
        let k = free_key(&long, "channel", &|k: &str| k.len() == KEY_STEM);
        assert!(is_channel_key(&k) && k.ends_with("-2"), "{k}");
    }

    #[test]
    fn the_server_refuses_a_second_channel_with_the_name_and_keys_around_others() {
        let src = "[server]\nhost = \"h.example\"\n\n[[server.users]]\nuser_label = \"a.b\"\ncredential = \"c\"\n\n[server.reverse_channels.a-b]\nuser_id = \"a.b\"\nhost = \"vpn.example.com\"\n";
        let m = load::parse_server(Path::new("f"), src).unwrap();
        // `a-b` sanitizes like `a.b`: the same domain, refused by key.
        let e =
            plan_channel(Some(&m), "a-b", "vpn.example.com", Step::ServerInstalling).unwrap_err();
        assert_eq!(e.code, "reverse_exists");
        assert!(e.message.contains("server.reverse_channels.a-b"), "{e:?}");
        // Another host is another domain; the key `a-b` is taken.
        let c = plan_channel(Some(&m), "a-b", "10.0.0.1", Step::ServerInstalling).unwrap();
        assert_eq!(c.key, "a-b-2");
        assert_eq!(
            (c.tag.as_str(), c.domain.as_str()),
            ("a-b10-0-0-1.rev", "a-b10-0-0-1.rev")
        );
    }

    #[test]
    fn the_client_refuses_a_bridge_with_the_name() {
        let src = "[client]\n\n[client.reverse.vpn]\nuser_id = \"alice\"\nhost = \"vpn.example.com\"\nendpoint_tag = \"proxy-vpn-example-com\"\n";
        let m = load::parse_client(Path::new("f"), src).unwrap();
        let e = plan_bridge(Some(&m), "Alice", "VPN.example.com", Step::LinkGenerated).unwrap_err();
        assert_eq!(e.code, "reverse_exists");
        assert_eq!(
            plan_bridge(Some(&m), "bob", "vpn.example.com", Step::LinkGenerated).unwrap(),
            "vpn-example-com"
        );
        assert_eq!(
            plan_bridge(None, "bob", "vpn.example.com", Step::LinkGenerated).unwrap(),
            "vpn-example-com"
        );
    }

    #[test]
    fn the_answer_must_name_what_the_bridge_names() {
        let good = ReverseChannel {
            key: "alice".into(),
            tag: name("alice@x", "10.0.0.1"),
            domain: name("alice@x", "10.0.0.1"),
        };
        assert_eq!(good.tag, "alice-x10-0-0-1.rev");
        assert!(check_answer("alice@x", "10.0.0.1", &good).is_ok());
        let other_host = ReverseChannel {
            tag: name("alice@x", "vpn.example.com"),
            ..good.clone()
        };
        let e = check_answer("alice@x", "10.0.0.1", &other_host).unwrap_err();
        assert!(e.contains("alice-x10-0-0-1.rev"), "{e}");
        let other_domain = ReverseChannel {
            domain: "x.rev".into(),
            ..good
        };
        assert!(check_answer("alice@x", "10.0.0.1", &other_domain).is_err());
    }
}
