//! Table tests of the reverse-channel edits: exact before/after text on
//! commented fixtures, and every refusal's one line with nothing returned.

use std::path::Path;

use crate::desired::edit::{
    Context, Edit, EditError, EditErrorKind, Edited, RedirectTarget, apply,
};
use crate::desired::model::{Forward, ForwardProtocol, Port};
use crate::layout::Layout;
use crate::role::Role;

const NOW: &str = "2026-01-01T00:00:00Z";

const SERVER: &str = r#"# Server of the branch office.
[server]
host = "vpn.example.com" # public name

# Alice's router.
[[server.users]]
user_label = "alice"
credential = "alice-secret"

[[server.users]]
user_label = "bob"
credential = "bob-secret"

# Office LAN.
[[server.redirects]]
cidr = "10.20.0.0/16"
outbound_tag = "direct"
"#;

/// SERVER with a channel for alice and a redirect and a forward through it.
const WITH_CHANNEL: &str = r#"[server]
host = "vpn.example.com"

[[server.users]]
user_label = "alice"
credential = "alice-secret"

[[server.users]]
user_label = "bob"
credential = "bob-secret"

# Alice's LAN.
[server.reverse_channels.alice]
user_id = "alice"
host = "vpn.example.com"
tag = "alicevpn-example-com.rev"
domain = "alicevpn-example-com.rev"

[[server.redirects]]
cidr = "10.20.0.0/16"
outbound_tag = "direct"

# Alice's NAS network.
[[server.redirects]]
cidr = "10.77.0.0/16"
outbound_tag = "alicevpn-example-com.rev"

[[server.forwards]]
listen_port = 2222
target_host = "10.77.0.5"
target_port = 22
outbound_tag = "alicevpn-example-com.rev"
"#;

const CLIENT: &str = r#"# Home router.
[client]

# Primary.
[[client.endpoints]]
tag = "proxy-a"
hostname = "vpn.example.com"
address = "203.0.113.10"
port = 443
user = "alice"
password = "pw-a"

[[client.redirects]]
cidr = "10.20.0.0/16"
outbound_tag = "proxy-a"
"#;

fn root() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(d.path().join("tls/server")).unwrap();
    std::fs::write(d.path().join("tls/server/cert.pem"), "c").unwrap();
    std::fs::write(d.path().join("tls/server/key.pem"), "k").unwrap();
    d
}

fn run(role: Role, src: &str, edits: &[Edit]) -> Result<Edited, EditError> {
    let d = root();
    let layout = Layout::new(d.path(), d.path().join("log"));
    let ctx = Context::new(&layout, NOW);
    let path = Path::new(match role {
        Role::Client => "xp2p-client.toml",
        Role::Server => "xp2p-server.toml",
    });
    apply(role, path, src, edits, &ctx)
}

fn ok(role: Role, src: &str, edits: &[Edit]) -> Edited {
    match run(role, src, edits) {
        Ok(e) => e,
        Err(e) => panic!("refused: {e}"),
    }
}

fn refused(role: Role, src: &str, edits: &[Edit]) -> EditError {
    let e = run(role, src, edits).expect_err("the edit should be refused");
    assert!(!e.to_string().contains('\n'), "more than one line: {e}");
    e
}

fn with(src: &str, old: &str, new: &str) -> String {
    assert_eq!(src.matches(old).count(), 1, "fixture: {old}");
    src.replacen(old, new, 1)
}

fn channel_add(user: &str) -> Edit {
    Edit::ChannelAdd {
        key: None,
        user: user.into(),
        host: None,
    }
}

const ALICE_CHANNEL: &str = "\n[server.reverse_channels.alice]\nuser_id = \"alice\"\nhost = \"vpn.example.com\"\ntag = \"alicevpn-example-com.rev\"\ndomain = \"alicevpn-example-com.rev\"\n";

#[test]
fn channel_add_writes_its_table_after_the_last_one() {
    let e = ok(Role::Server, SERVER, &[channel_add("ALICE")]);
    assert_eq!(e.text, format!("{SERVER}{ALICE_CHANNEL}"));
    assert_eq!(
        e.summary,
        ["added reverse channel alice (alicevpn-example-com.rev) for user alice"]
    );
    // a second one goes right after the first, before the redirects
    let e = ok(Role::Server, WITH_CHANNEL, &[channel_add("bob")]);
    assert_eq!(
        e.text,
        with(
            WITH_CHANNEL,
            "domain = \"alicevpn-example-com.rev\"\n",
            "domain = \"alicevpn-example-com.rev\"\n\n[server.reverse_channels.bob]\nuser_id = \"bob\"\nhost = \"vpn.example.com\"\ntag = \"bobvpn-example-com.rev\"\ndomain = \"bobvpn-example-com.rev\"\n"
        )
    );
}

#[test]
fn a_key_and_host_can_be_given() {
    let e = ok(
        Role::Server,
        SERVER,
        &[Edit::ChannelAdd {
            key: Some("nas".into()),
            user: "bob".into(),
            host: Some("edge.example.net".into()),
        }],
    );
    assert_eq!(
        e.text,
        format!(
            "{SERVER}\n[server.reverse_channels.nas]\nuser_id = \"bob\"\nhost = \"edge.example.net\"\ntag = \"bobedge-example-net.rev\"\ndomain = \"bobedge-example-net.rev\"\n"
        )
    );
}

#[test]
fn user_add_with_its_channel_in_one_batch() {
    let e = ok(
        Role::Server,
        SERVER,
        &[
            Edit::UserAdd {
                label: "carol@xp2p.local".into(),
                credential: "carol-secret".into(),
            },
            channel_add("carol@xp2p.local"),
        ],
    );
    assert!(
        e.text.ends_with(
            "\n[server.reverse_channels.carol-xp2p-local]\nuser_id = \"carol@xp2p.local\"\nhost = \"vpn.example.com\"\ntag = \"carol-xp2p-localvpn-example-com.rev\"\ndomain = \"carol-xp2p-localvpn-example-com.rev\"\n"
        ),
        "{}",
        e.text
    );
    assert_eq!(e.summary.len(), 2);
}

/// WITH_CHANNEL without what routes through the channel.
fn lone_channel() -> String {
    let s = with(
        WITH_CHANNEL,
        "\n# Alice's NAS network.\n[[server.redirects]]\ncidr = \"10.77.0.0/16\"\noutbound_tag = \"alicevpn-example-com.rev\"\n",
        "",
    );
    with(
        &s,
        "\n[[server.forwards]]\nlisten_port = 2222\ntarget_host = \"10.77.0.5\"\ntarget_port = 22\noutbound_tag = \"alicevpn-example-com.rev\"\n",
        "",
    )
}

fn set_disabled(role: Role, key: &str, disabled: bool) -> Edit {
    Edit::ChannelSetDisabled {
        role,
        key: key.into(),
        disabled,
    }
}

fn remove(role: Role, key: &str, cascade: bool) -> Edit {
    Edit::ChannelRemove {
        role,
        key: key.into(),
        cascade,
    }
}

#[test]
fn channel_disable_and_enable_by_key_or_tag() {
    let src = lone_channel();
    let disabled = with(
        &src,
        "domain = \"alicevpn-example-com.rev\"\n",
        "domain = \"alicevpn-example-com.rev\"\ndisabled = true\n",
    );
    for name in ["alice", "ALICE", "alicevpn-example-com.rev"] {
        let e = ok(
            Role::Server,
            &src,
            &[set_disabled(Role::Server, name, true)],
        );
        assert_eq!(e.text, disabled, "{name}");
        assert_eq!(e.summary, ["disabled reverse channel alice"]);
    }
    let e = ok(
        Role::Server,
        &disabled,
        &[set_disabled(Role::Server, "alice", false)],
    );
    assert_eq!(
        e.text,
        with(
            &src,
            "domain = \"alicevpn-example-com.rev\"\n",
            "domain = \"alicevpn-example-com.rev\"\ndisabled = false\n"
        )
    );
    // enabling one without the key changes nothing
    let e = ok(
        Role::Server,
        &src,
        &[set_disabled(Role::Server, "alice", false)],
    );
    assert!(!e.changed);
}

#[test]
fn channel_remove_takes_its_comments_and_cascades_on_request() {
    let e = ok(
        Role::Server,
        &lone_channel(),
        &[remove(Role::Server, "alice", false)],
    );
    assert_eq!(
        e.text,
        with(
            &lone_channel(),
            &format!("\n# Alice's LAN.{ALICE_CHANNEL}"),
            ""
        )
    );
    assert_eq!(e.summary, ["removed reverse channel alice"]);

    let err = refused(
        Role::Server,
        WITH_CHANNEL,
        &[remove(Role::Server, "alice", false)],
    );
    assert_eq!(err.kind, EditErrorKind::Conflict);
    assert_eq!(
        err.to_string(),
        "server.reverse_channels: reverse channel \"alice\" is still used by redirect 10.77.0.0/16 via alicevpn-example-com.rev, forward 127.0.0.1:2222; remove those first or use --cascade"
    );
    let e = ok(
        Role::Server,
        WITH_CHANNEL,
        &[remove(Role::Server, "alice", true)],
    );
    assert_eq!(
        e.text,
        with(
            &lone_channel(),
            &format!("\n# Alice's LAN.{ALICE_CHANNEL}"),
            ""
        )
    );
    assert_eq!(
        e.summary,
        [
            "removed reverse channel alice and its redirect 10.77.0.0/16 via alicevpn-example-com.rev, forward 127.0.0.1:2222"
        ]
    );
}

#[test]
fn redirects_and_forwards_via_a_channel_key_store_its_tag() {
    let src = lone_channel();
    let e = ok(
        Role::Server,
        &src,
        &[
            Edit::RedirectAdd {
                role: Role::Server,
                target: RedirectTarget::cidr("10.77.0.0/16").unwrap(),
                via: "alice".into(),
            },
            Edit::ForwardAdd {
                role: Role::Server,
                forward: Forward {
                    listen_address: "0.0.0.0".parse().unwrap(),
                    listen_port: Port(2222),
                    target_host: "10.77.0.5".into(),
                    target_port: Port(22),
                    protocol: ForwardProtocol::Tcp,
                    outbound_tag: "ALICE".into(),
                },
            },
        ],
    );
    assert_eq!(
        e.text,
        format!(
            "{src}\n[[server.redirects]]\ncidr = \"10.77.0.0/16\"\noutbound_tag = \"alicevpn-example-com.rev\"\n\n[[server.forwards]]\nlisten_address = \"0.0.0.0\"\nlisten_port = 2222\ntarget_host = \"10.77.0.5\"\ntarget_port = 22\nprotocol = \"tcp\"\noutbound_tag = \"alicevpn-example-com.rev\"\n"
        )
    );
    assert_eq!(
        e.summary,
        [
            "added redirect 10.77.0.0/16 via alicevpn-example-com.rev",
            "added forward 0.0.0.0:2222 -> 10.77.0.5:22 (tcp) via alicevpn-example-com.rev"
        ]
    );
    // the tag itself is kept as given
    let e = ok(
        Role::Server,
        &src,
        &[Edit::RedirectAdd {
            role: Role::Server,
            target: RedirectTarget::domain("nas.lan").unwrap(),
            via: "alicevpn-example-com.rev".into(),
        }],
    );
    assert!(
        e.text
            .ends_with("domain = \"nas.lan\"\noutbound_tag = \"alicevpn-example-com.rev\"\n"),
        "{}",
        e.text
    );
}

#[test]
fn a_user_with_a_channel_is_removed_only_with_it() {
    let src = lone_channel();
    let err = refused(
        Role::Server,
        &src,
        &[Edit::UserRemove {
            label: "alice".into(),
        }],
    );
    assert_eq!(
        err.to_string(),
        "server.users: user \"alice\" still has reverse channel alice; remove it first or remove the user with its channels"
    );
    let without = with(
        &with(
            &src,
            "\n[[server.users]]\nuser_label = \"alice\"\ncredential = \"alice-secret\"\n",
            "",
        ),
        &format!("\n# Alice's LAN.{ALICE_CHANNEL}"),
        "",
    );
    // the channel first, then the user, in one batch
    let e = ok(
        Role::Server,
        &src,
        &[
            remove(Role::Server, "alice", false),
            Edit::UserRemove {
                label: "alice".into(),
            },
        ],
    );
    assert_eq!(e.text, without);
    // or all at once, with what routes through the channel
    let e = ok(
        Role::Server,
        WITH_CHANNEL,
        &[Edit::UserRemoveWithChannels {
            label: "Alice".into(),
        }],
    );
    assert_eq!(e.text, without);
    assert_eq!(
        e.summary,
        [
            "removed reverse channel alice and its redirect 10.77.0.0/16 via alicevpn-example-com.rev, forward 127.0.0.1:2222",
            "removed user alice"
        ]
    );
}

fn bridge_add(endpoint: &str) -> Edit {
    Edit::BridgeAdd {
        key: None,
        endpoint_tag: endpoint.into(),
        user: None,
        host: None,
    }
}

const BRIDGE: &str = "\n[client.reverse.vpn-example-com]\nuser_id = \"alice\"\nhost = \"vpn.example.com\"\ntag = \"alicevpn-example-com.rev\"\ndomain = \"alicevpn-example-com.rev\"\nendpoint_tag = \"proxy-a\"\n";

#[test]
fn bridge_add_takes_user_and_host_from_the_endpoint() {
    // by tag or by the endpoint's host name; the names match the server's channel
    for name in ["proxy-a", "VPN.example.com"] {
        let e = ok(Role::Client, CLIENT, &[bridge_add(name)]);
        assert_eq!(e.text, format!("{CLIENT}{BRIDGE}"), "{name}");
        assert_eq!(
            e.summary,
            ["added reverse bridge vpn-example-com (alicevpn-example-com.rev) via proxy-a"]
        );
    }
    let e = ok(
        Role::Client,
        CLIENT,
        &[Edit::BridgeAdd {
            key: Some("home".into()),
            endpoint_tag: "proxy-a".into(),
            user: Some("router@xp2p.local".into()),
            host: Some("vpn2.example.com".into()),
        }],
    );
    assert!(
        e.text.ends_with("\n[client.reverse.home]\nuser_id = \"router@xp2p.local\"\nhost = \"vpn2.example.com\"\ntag = \"router-xp2p-localvpn2-example-com.rev\"\ndomain = \"router-xp2p-localvpn2-example-com.rev\"\nendpoint_tag = \"proxy-a\"\n"),
        "{}",
        e.text
    );
}

#[test]
fn bridge_disable_and_remove() {
    let src = format!("{CLIENT}{BRIDGE}");
    let e = ok(
        Role::Client,
        &src,
        &[set_disabled(Role::Client, "vpn-example-com", true)],
    );
    assert_eq!(e.text, format!("{src}disabled = true\n"));
    let e = ok(
        Role::Client,
        &src,
        &[remove(Role::Client, "alicevpn-example-com.rev", false)],
    );
    assert_eq!(e.text, CLIENT);
    assert_eq!(e.summary, ["removed reverse channel vpn-example-com"]);
}

#[test]
fn inline_channel_tables_stay_inline() {
    let src = "[server]\nhost = \"h.example\"\nusers = [{ user_label = \"a\", credential = \"s\" }, { user_label = \"b\", credential = \"t\" }]\nreverse_channels = { a = { user_id = \"a\", host = \"h.example\" } }\n";
    let e = ok(Role::Server, src, &[channel_add("b")]);
    let m = crate::desired::load::parse_server(Path::new("f"), &e.text).unwrap();
    assert_eq!(
        m.server.reverse_channels.keys().collect::<Vec<_>>(),
        ["a", "b"]
    );
    assert!(!e.text.contains("[server.reverse_channels"), "{}", e.text);
}

#[test]
fn refusals() {
    let src = lone_channel();
    let disabled_bob = with(
        &src,
        "credential = \"bob-secret\"\n",
        "credential = \"bob-secret\"\ndisabled = true\n",
    );
    let no_host = with(
        &src,
        "host = \"vpn.example.com\"\n\n[[server.users]]",
        "\n[[server.users]]",
    );
    let cases: Vec<(Role, &str, Vec<Edit>, EditErrorKind, &str)> = vec![
        (
            Role::Server,
            &src,
            vec![channel_add("carol")],
            EditErrorKind::NotFound,
            "server.users: no user labelled \"carol\"",
        ),
        (
            Role::Server,
            &src,
            vec![channel_add(" ")],
            EditErrorKind::Usage,
            "USER: a user label is required",
        ),
        (
            Role::Server,
            &src,
            vec![Edit::ChannelAdd {
                key: Some("Alice".into()),
                user: "bob".into(),
                host: None,
            }],
            EditErrorKind::Conflict,
            "server.reverse_channels: a reverse channel keyed \"alice\" already exists",
        ),
        (
            Role::Server,
            &src,
            vec![Edit::ChannelAdd {
                key: Some("a.b".into()),
                user: "bob".into(),
                host: None,
            }],
            EditErrorKind::Usage,
            "--key: \"a.b\" is not a channel key (1-64 letters, digits, `-` or `_`)",
        ),
        (
            Role::Server,
            &no_host,
            vec![channel_add("bob")],
            EditErrorKind::Usage,
            "--host: server.host is not set; give the host name clients connect to",
        ),
        // a second channel for the same user and host: one domain twice
        (
            Role::Server,
            &src,
            vec![Edit::ChannelAdd {
                key: Some("again".into()),
                user: "alice".into(),
                host: None,
            }],
            EditErrorKind::Conflict,
            "server.reverse_channels.alice.tag: tag `alicevpn-example-com.rev` is already used by reverse channel `again`",
        ),
        (
            Role::Server,
            &disabled_bob,
            vec![channel_add("bob")],
            EditErrorKind::Conflict,
            "server.reverse_channels.bob.user_id: user `bob` is disabled; disable the channel too or enable the user",
        ),
        (
            Role::Server,
            &src,
            vec![Edit::UserSetDisabled {
                label: "alice".into(),
                disabled: true,
            }],
            EditErrorKind::Conflict,
            "server.reverse_channels.alice.user_id: user `alice` is disabled; disable the channel too or enable the user",
        ),
        (
            Role::Server,
            WITH_CHANNEL,
            vec![set_disabled(Role::Server, "alice", true)],
            EditErrorKind::Conflict,
            "server.redirects[1].outbound_tag: `alicevpn-example-com.rev` names the disabled reverse channel `alice`; enable it or point elsewhere",
        ),
        (
            Role::Server,
            &src,
            vec![Edit::RedirectAdd {
                role: Role::Server,
                target: RedirectTarget::cidr("10.9.0.0/16").unwrap(),
                via: "nosuch".into(),
            }],
            EditErrorKind::Conflict,
            "server.redirects[1].outbound_tag: `nosuch` names no outbound (known: alicevpn-example-com.rev, direct)",
        ),
        (
            Role::Server,
            &src,
            vec![remove(Role::Server, "nosuch", false)],
            EditErrorKind::NotFound,
            "server.reverse_channels: no reverse channel keyed \"nosuch\"",
        ),
        (
            Role::Client,
            CLIENT,
            vec![bridge_add("proxy-z")],
            EditErrorKind::NotFound,
            "client.endpoints: no endpoint tagged \"proxy-z\"",
        ),
        (
            Role::Client,
            CLIENT,
            vec![
                Edit::EndpointSetDisabled {
                    tag: "proxy-a".into(),
                    disabled: true,
                },
                bridge_add("proxy-a"),
            ],
            EditErrorKind::Conflict,
            "client.reverse.vpn-example-com.endpoint_tag: `proxy-a` names a disabled endpoint; enable it or disable the bridge",
        ),
        (
            Role::Client,
            CLIENT,
            vec![channel_add("alice")],
            EditErrorKind::Usage,
            "client: a server edit cannot change the client file",
        ),
    ];
    for (role, src, edits, kind, want) in cases {
        let e = refused(role, src, &edits);
        assert_eq!(e.to_string(), want, "{edits:?}");
        assert_eq!(e.kind, kind, "{want}");
    }
}
