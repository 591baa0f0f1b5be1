//! Table tests of the editor: exact before/after text on commented fixtures,
//! and every refusal's one line with nothing returned.

use std::net::SocketAddr;
use std::path::Path;

use super::*;
use crate::desired::model::{ForwardProtocol, Port, Protocol};

const NOW: &str = "2026-01-01T00:00:00Z";

const SERVER: &str = r#"# Server of the branch office.
[server]
host = "vpn.example.com" # public name
trojan_port = 58443

# Alice's laptop.
[[server.users]]
user_label = "alice"
credential = "alice-secret"

# Bob: the NAS.
[[server.users]]
user_label = "bob"
credential = "bob-secret"
disabled = false # re-enabled in May

# Office LAN.
[[server.redirects]]
cidr = "10.20.0.0/16"
outbound_tag = "direct"
"#;

const CLIENT: &str = r#"# Home router.
[client]
socks_address = "127.0.0.1:51180"
# the whole-tunnel exit
full_tunnel_tag = "proxy-a"

# Primary.
[[client.endpoints]]
tag = "proxy-a"
hostname = "a.example.com"
address = "a.example.com"
port = 443
user = "me"
password = "pw-a"

# Backup.
[[client.endpoints]]
tag = "proxy-b"
hostname = "b.example.com"
address = "b.example.com"
port = 443
user = "me"
password = "pw-b"

# Office LAN via A.
[[client.redirects]]
cidr = "10.20.0.0/16"
outbound_tag = "proxy-a"

# SSH to the office box.
[[client.forwards]]
listen_port = 2222
target_host = "10.20.0.5"
target_port = 22
outbound_tag = "proxy-a"
"#;

/// A CONFIG_ROOT with the server's default certificate and key present.
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

/// `src` with `old` replaced by `new` exactly once: what the edit may change.
fn with(src: &str, old: &str, new: &str) -> String {
    assert_eq!(src.matches(old).count(), 1, "fixture: {old}");
    src.replacen(old, new, 1)
}

fn cidr(s: &str) -> RedirectTarget {
    RedirectTarget::cidr(s).unwrap()
}

// --- users -------------------------------------------------------------------

#[test]
fn user_add_appends_after_the_last_user() {
    let e = ok(
        Role::Server,
        SERVER,
        &[Edit::UserAdd {
            label: "carol".into(),
            credential: "carol-secret".into(),
        }],
    );
    let want = with(
        SERVER,
        "disabled = false # re-enabled in May\n",
        "disabled = false # re-enabled in May\n\n[[server.users]]\nuser_label = \"carol\"\ncredential = \"carol-secret\"\ncreated_at = \"2026-01-01T00:00:00Z\"\n",
    );
    assert_eq!(e.text, want);
    assert!(e.changed);
    assert_eq!(e.summary, vec!["added user carol"]);
    assert_eq!(
        e.created,
        vec![Created::User {
            label: "carol".into(),
            credential: "carol-secret".into()
        }]
    );
}

#[test]
fn the_first_user_of_a_file_gets_a_users_table() {
    let src = "# mine\n[server]\nhost = \"h.example\"\n";
    let e = ok(
        Role::Server,
        src,
        &[Edit::UserAdd {
            label: "a".into(),
            credential: "s".into(),
        }],
    );
    assert_eq!(
        e.text,
        "# mine\n[server]\nhost = \"h.example\"\n\n[[server.users]]\nuser_label = \"a\"\ncredential = \"s\"\ncreated_at = \"2026-01-01T00:00:00Z\"\n"
    );
}

#[test]
fn inline_user_lists_stay_inline() {
    let src = "[server]\nusers = [{ user_label = \"a\", credential = \"s\" }]\n";
    let e = ok(
        Role::Server,
        src,
        &[Edit::UserAdd {
            label: "b".into(),
            credential: "t".into(),
        }],
    );
    let m = load::parse_server(Path::new("f"), &e.text).unwrap();
    assert_eq!(m.server.users.len(), 2);
    assert!(
        e.text
            .starts_with("[server]\nusers = [{ user_label = \"a\", credential = \"s\" }, {"),
        "{}",
        e.text
    );
    assert!(!e.text.contains("[[server.users]]"), "{}", e.text);
}

#[test]
fn user_remove_takes_only_its_block_and_comments() {
    let e = ok(
        Role::Server,
        SERVER,
        &[Edit::UserRemove {
            label: "alice".into(),
        }],
    );
    let want = with(
        SERVER,
        "\n# Alice's laptop.\n[[server.users]]\nuser_label = \"alice\"\ncredential = \"alice-secret\"\n",
        "",
    );
    assert_eq!(e.text, want);
    assert_eq!(e.summary, vec!["removed user alice"]);
}

#[test]
fn user_disable_and_enable_keep_the_line_comment() {
    let e = ok(
        Role::Server,
        SERVER,
        &[Edit::UserSetDisabled {
            label: "BOB".into(),
            disabled: true,
        }],
    );
    assert_eq!(
        e.text,
        with(
            SERVER,
            "disabled = false # re-enabled in May",
            "disabled = true # re-enabled in May"
        )
    );
    let e = ok(
        Role::Server,
        SERVER,
        &[Edit::UserSetDisabled {
            label: "alice".into(),
            disabled: true,
        }],
    );
    assert_eq!(
        e.text,
        with(
            SERVER,
            "credential = \"alice-secret\"\n",
            "credential = \"alice-secret\"\ndisabled = true\n"
        )
    );
    // Enabling a user that has no `disabled` key changes nothing.
    let e = ok(
        Role::Server,
        SERVER,
        &[Edit::UserSetDisabled {
            label: "alice".into(),
            disabled: false,
        }],
    );
    assert_eq!(e.text, SERVER);
    assert!(!e.changed);
}

#[test]
fn user_rotate_with_grace_keeps_the_old_credential_until_then() {
    let e = ok(
        Role::Server,
        SERVER,
        &[Edit::UserRotate {
            label: "alice".into(),
            new_credential: "alice-new".into(),
            grace_until: Some("2026-01-02T00:00:00Z".into()),
        }],
    );
    assert_eq!(
        e.text,
        with(
            SERVER,
            "credential = \"alice-secret\"\n",
            "credential = \"alice-new\"\nprevious_credential = \"alice-secret\"\nrotation_expires_at = \"2026-01-02T00:00:00Z\"\nrotated_at = \"2026-01-01T00:00:00Z\"\n"
        )
    );
    assert_eq!(
        e.created,
        vec![Created::User {
            label: "alice".into(),
            credential: "alice-new".into()
        }]
    );
    // A rotation without grace drops the previous credential.
    let again = ok(
        Role::Server,
        &e.text,
        &[Edit::UserRotate {
            label: "alice".into(),
            new_credential: "alice-third".into(),
            grace_until: None,
        }],
    );
    assert_eq!(
        again.text,
        with(
            SERVER,
            "credential = \"alice-secret\"\n",
            "credential = \"alice-third\"\nrotated_at = \"2026-01-01T00:00:00Z\"\n"
        )
    );
}

#[test]
fn generated_values_have_the_documented_shape() {
    assert_eq!(generated_label([0; 5]), "client-aaaaaaaa@xp2p.local");
    assert_eq!(generated_label([0xff; 5]), "client-77777777@xp2p.local");
    assert_eq!(
        generated_label([0x01, 0, 0, 0, 0x21]),
        "client-aeaaaabb@xp2p.local"
    );
    let id = generated_credential([7; 16]);
    let u = uuid::Uuid::parse_str(&id).unwrap();
    assert_eq!(u.get_version_num(), 4);
    assert!(crate::desired::names::is_uuid(&id));
}

#[test]
fn user_refusals() {
    let add = |label: &str, cred: &str| Edit::UserAdd {
        label: label.into(),
        credential: cred.into(),
    };
    let cases: Vec<(Vec<Edit>, EditErrorKind, &str)> = vec![
        (
            vec![add("Alice", "x")],
            EditErrorKind::Conflict,
            "server.users: a user labelled \"Alice\" already exists",
        ),
        (
            vec![add(" ", "x")],
            EditErrorKind::Usage,
            "LABEL: a user label must not be empty",
        ),
        (
            vec![add("carol", "alice-secret")],
            EditErrorKind::Conflict,
            "server.users[2].credential: the same credential is already used by user `alice`",
        ),
        (
            vec![Edit::UserRemove {
                label: "zed".into(),
            }],
            EditErrorKind::NotFound,
            "server.users: no user labelled \"zed\"",
        ),
        (
            vec![Edit::UserRotate {
                label: "bob".into(),
                new_credential: "bob-secret".into(),
                grace_until: None,
            }],
            EditErrorKind::Usage,
            "--credential: user \"bob\" already has this credential",
        ),
        (
            vec![Edit::UserRotate {
                label: "bob".into(),
                new_credential: "n".into(),
                grace_until: Some("tomorrow".into()),
            }],
            EditErrorKind::Usage,
            "--grace: `tomorrow` is not an RFC 3339 UTC time",
        ),
        (
            vec![Edit::SetProfile {
                profile: ServerProfile::VlessTls,
            }],
            EditErrorKind::Conflict,
            "server.users[0].credential: a VLESS credential must be a UUID",
        ),
        (
            vec![Edit::SetHost {
                host: "bad host".into(),
            }],
            EditErrorKind::Conflict,
            "server.host: `bad host` is not a host name or IP",
        ),
        (
            vec![Edit::SetCert {
                certificate: "tls/other.pem".into(),
                key: "tls/server/key.pem".into(),
            }],
            EditErrorKind::Conflict,
            "server.certificate: file ",
        ),
        (
            vec![Edit::EndpointRemove {
                tag: "x".into(),
                cascade: false,
            }],
            EditErrorKind::Usage,
            "server: a client edit cannot change the server file",
        ),
    ];
    for (edits, kind, want) in cases {
        let e = refused(Role::Server, SERVER, &edits);
        assert_eq!(e.kind, kind, "{e}");
        assert!(e.to_string().starts_with(want), "{e}\nwant: {want}");
    }
}

// --- endpoints -----------------------------------------------------------------

#[test]
fn endpoint_add_from_a_link_appends_after_the_last_endpoint() {
    let link = crate::links::TunnelLink::parse(
        "trojan://pw-c@203.0.113.10:58443?allowInsecure=1&pinnedPeerCertSha256=abababababababababababababababababababababababababababababababab&security=tls&sni=c.example.com&type=tcp#me@xp2p.local",
    )
    .unwrap();
    let ep = link.to_endpoint(None).unwrap();
    let e = ok(Role::Client, CLIENT, &[Edit::EndpointAdd(ep)]);
    let want = with(
        CLIENT,
        "password = \"pw-b\"\n",
        "password = \"pw-b\"\n\n[[client.endpoints]]\ntag = \"proxy-c-example-com\"\nhostname = \"c.example.com\"\naddress = \"203.0.113.10\"\nport = 58443\nprotocol = \"trojan\"\nuser = \"me@xp2p.local\"\npassword = \"pw-c\"\nallow_insecure = true\npinned_peer_cert_sha256 = \"abababababababababababababababababababababababababababababababab\"\n",
    );
    assert_eq!(e.text, want);
    assert_eq!(
        e.created,
        vec![Created::Endpoint {
            tag: "proxy-c-example-com".into()
        }]
    );
}

#[test]
fn endpoint_update_and_disable_touch_only_their_keys() {
    let e = ok(
        Role::Client,
        CLIENT,
        &[Edit::EndpointUpdate {
            tag: "proxy-b".into(),
            changes: EndpointChanges {
                port: Some(Port(8443)),
                password: Some("pw-b2".into()),
                ..Default::default()
            },
        }],
    );
    assert_eq!(
        e.text,
        with(
            CLIENT,
            "port = 443\nuser = \"me\"\npassword = \"pw-b\"",
            "port = 8443\nuser = \"me\"\npassword = \"pw-b2\""
        )
    );
    let e = ok(
        Role::Client,
        CLIENT,
        &[Edit::EndpointSetDisabled {
            tag: "proxy-b".into(),
            disabled: true,
        }],
    );
    assert_eq!(
        e.text,
        with(
            CLIENT,
            "password = \"pw-b\"\n",
            "password = \"pw-b\"\ndisabled = true\n"
        )
    );
}

#[test]
fn endpoint_remove_is_refused_while_in_use_naming_the_users() {
    let e = refused(
        Role::Client,
        CLIENT,
        &[Edit::EndpointRemove {
            tag: "proxy-a".into(),
            cascade: false,
        }],
    );
    assert_eq!(e.kind, EditErrorKind::Conflict);
    assert_eq!(
        e.to_string(),
        "client.endpoints: endpoint \"proxy-a\" is still used by redirect 10.20.0.0/16 via proxy-a, forward 127.0.0.1:2222, client.full_tunnel_tag; remove those first or use --cascade"
    );
    // An unused endpoint goes with its own comment only.
    let e = ok(
        Role::Client,
        CLIENT,
        &[Edit::EndpointRemove {
            tag: "proxy-b".into(),
            cascade: false,
        }],
    );
    assert_eq!(
        e.text,
        with(
            CLIENT,
            "\n# Backup.\n[[client.endpoints]]\ntag = \"proxy-b\"\nhostname = \"b.example.com\"\naddress = \"b.example.com\"\nport = 443\nuser = \"me\"\npassword = \"pw-b\"\n",
            ""
        )
    );
}

#[test]
fn endpoint_remove_cascade_removes_what_routes_through_it() {
    let e = ok(
        Role::Client,
        CLIENT,
        &[Edit::EndpointRemove {
            tag: "proxy-a".into(),
            cascade: true,
        }],
    );
    assert_eq!(
        e.text,
        r#"# Home router.
[client]
socks_address = "127.0.0.1:51180"

# Backup.
[[client.endpoints]]
tag = "proxy-b"
hostname = "b.example.com"
address = "b.example.com"
port = 443
user = "me"
password = "pw-b"
"#
    );
    assert_eq!(
        e.summary,
        vec![
            "removed endpoint proxy-a and its redirect 10.20.0.0/16 via proxy-a, forward 127.0.0.1:2222, client.full_tunnel_tag"
        ]
    );
}

#[test]
fn endpoint_refusals() {
    let dup = crate::links::TunnelLink::parse("trojan://x@d.example.com:1?security=tls")
        .unwrap()
        .to_endpoint(Some("Proxy-B"))
        .unwrap();
    let vless_bad = crate::desired::model::Endpoint {
        protocol: Protocol::Vless,
        ..crate::links::TunnelLink::parse("trojan://x@c.example.com:1?security=tls")
            .unwrap()
            .to_endpoint(None)
            .unwrap()
    };
    let cases: Vec<(Vec<Edit>, EditErrorKind, &str)> = vec![
        (
            vec![Edit::EndpointAdd(dup)],
            EditErrorKind::Conflict,
            "client.endpoints: an endpoint tagged \"Proxy-B\" already exists",
        ),
        (
            vec![Edit::EndpointAdd(vless_bad)],
            EditErrorKind::Conflict,
            "client.endpoints[2].password: a VLESS credential must be a UUID",
        ),
        (
            vec![Edit::EndpointSetDisabled {
                tag: "proxy-a".into(),
                disabled: true,
            }],
            EditErrorKind::Conflict,
            "client.full_tunnel_tag: `proxy-a` names no enabled endpoint",
        ),
        (
            vec![Edit::EndpointUpdate {
                tag: "nope".into(),
                changes: EndpointChanges {
                    port: Some(Port(1)),
                    ..Default::default()
                },
            }],
            EditErrorKind::NotFound,
            "client.endpoints: no endpoint tagged \"nope\"",
        ),
        (
            vec![Edit::EndpointUpdate {
                tag: "proxy-a".into(),
                changes: EndpointChanges::default(),
            }],
            EditErrorKind::Usage,
            "update: nothing to change",
        ),
        (
            vec![Edit::EndpointUpdate {
                tag: "proxy-a".into(),
                changes: EndpointChanges {
                    address: Some("not a host".into()),
                    ..Default::default()
                },
            }],
            EditErrorKind::Conflict,
            "client.endpoints[0].address: `not a host` is not an IP or host name",
        ),
    ];
    for (edits, kind, want) in cases {
        let e = refused(Role::Client, CLIENT, &edits);
        assert_eq!(e.kind, kind, "{e}");
        assert!(e.to_string().starts_with(want), "{e}\nwant: {want}");
    }
}

#[test]
fn a_derived_tag_is_written_before_the_hostname_changes() {
    let src = "[client]\n[[client.endpoints]]\nhostname = \"a.example.com\"\naddress = \"a.example.com\"\nport = 443\nuser = \"u\"\npassword = \"p\"\n";
    let e = ok(
        Role::Client,
        src,
        &[Edit::EndpointUpdate {
            tag: "proxy-a-example-com".into(),
            changes: EndpointChanges {
                hostname: Some("z.example.com".into()),
                ..Default::default()
            },
        }],
    );
    let m = load::parse_client(Path::new("f"), &e.text).unwrap();
    assert_eq!(m.client.endpoints[0].effective_tag(), "proxy-a-example-com");
    assert_eq!(m.client.endpoints[0].hostname, "z.example.com");
}

// --- redirects and forwards ------------------------------------------------------

#[test]
fn redirect_add_and_remove() {
    let e = ok(
        Role::Client,
        CLIENT,
        &[Edit::RedirectAdd {
            role: Role::Client,
            target: RedirectTarget::domain("example.org").unwrap(),
            via: "proxy-b".into(),
        }],
    );
    assert_eq!(
        e.text,
        with(
            CLIENT,
            "outbound_tag = \"proxy-a\"\n\n# SSH",
            "outbound_tag = \"proxy-a\"\n\n[[client.redirects]]\ndomain = \"example.org\"\noutbound_tag = \"proxy-b\"\n\n# SSH"
        )
    );
    let e = ok(
        Role::Client,
        CLIENT,
        &[Edit::RedirectRemove {
            role: Role::Client,
            target: cidr("10.20.0.1/16"),
        }],
    );
    assert_eq!(
        e.text,
        with(
            CLIENT,
            "\n# Office LAN via A.\n[[client.redirects]]\ncidr = \"10.20.0.0/16\"\noutbound_tag = \"proxy-a\"\n",
            ""
        )
    );
    assert_eq!(e.summary, vec!["removed redirect 10.20.0.0/16 via proxy-a"]);
    // Server redirects too.
    let e = ok(
        Role::Server,
        SERVER,
        &[Edit::RedirectAdd {
            role: Role::Server,
            target: cidr("192.168.0.0/24"),
            via: "direct".into(),
        }],
    );
    assert!(
        e.text.ends_with("outbound_tag = \"direct\"\n\n[[server.redirects]]\ncidr = \"192.168.0.0/24\"\noutbound_tag = \"direct\"\n"),
        "{}",
        e.text
    );
}

#[test]
fn redirect_refusals() {
    assert_eq!(
        RedirectTarget::cidr("10.0/33").unwrap_err().to_string(),
        "--cidr: \"10.0/33\" is not a CIDR (like 10.20.0.0/16)"
    );
    assert_eq!(
        RedirectTarget::cidr("10.0.0.1").unwrap_err().kind,
        EditErrorKind::Usage
    );
    assert_eq!(
        RedirectTarget::domain("not a domain")
            .unwrap_err()
            .to_string(),
        "--domain: \"not a domain\" is not a domain"
    );
    let add = |target: RedirectTarget, via: &str| Edit::RedirectAdd {
        role: Role::Client,
        target,
        via: via.into(),
    };
    let disabled_b = with(
        CLIENT,
        "password = \"pw-b\"\n",
        "password = \"pw-b\"\ndisabled = true\n",
    );
    let cases: Vec<(&str, Vec<Edit>, EditErrorKind, &str)> = vec![
        (
            CLIENT,
            vec![add(cidr("10.30.0.0/16"), "proxy-x")],
            EditErrorKind::Conflict,
            "client.redirects[1].outbound_tag: `proxy-x` names no outbound (known: direct, proxy-a, proxy-b)",
        ),
        (
            &disabled_b,
            vec![add(cidr("10.30.0.0/16"), "proxy-b")],
            EditErrorKind::Conflict,
            "client.redirects[1].outbound_tag: `proxy-b` names a disabled endpoint",
        ),
        (
            CLIENT,
            vec![add(cidr("10.20.9.0/16"), "proxy-b")],
            EditErrorKind::Conflict,
            "client.redirects: a redirect for \"10.20.0.0/16\" already exists (10.20.0.0/16 via proxy-a)",
        ),
        (
            CLIENT,
            vec![Edit::RedirectRemove {
                role: Role::Client,
                target: cidr("10.99.0.0/16"),
            }],
            EditErrorKind::NotFound,
            "client.redirects: no redirect for \"10.99.0.0/16\"",
        ),
    ];
    for (src, edits, kind, want) in cases {
        let e = refused(Role::Client, src, &edits);
        assert_eq!(e.kind, kind, "{e}");
        assert!(e.to_string().starts_with(want), "{e}\nwant: {want}");
    }
}

fn forward(listen: &str, target: &str, via: &str) -> Forward {
    let l: SocketAddr = listen.parse().unwrap();
    let (h, p) = target.rsplit_once(':').unwrap();
    Forward {
        listen_address: l.ip(),
        listen_port: Port(l.port()),
        target_host: h.into(),
        target_port: Port(p.parse().unwrap()),
        protocol: ForwardProtocol::Tcp,
        outbound_tag: via.into(),
    }
}

#[test]
fn forward_add_and_remove() {
    let e = ok(
        Role::Client,
        CLIENT,
        &[Edit::ForwardAdd {
            role: Role::Client,
            forward: forward("127.0.0.1:2223", "10.20.0.6:22", "proxy-b"),
        }],
    );
    assert_eq!(
        e.text,
        format!(
            "{CLIENT}\n[[client.forwards]]\nlisten_address = \"127.0.0.1\"\nlisten_port = 2223\ntarget_host = \"10.20.0.6\"\ntarget_port = 22\nprotocol = \"tcp\"\noutbound_tag = \"proxy-b\"\n"
        )
    );
    let e = ok(
        Role::Client,
        CLIENT,
        &[Edit::ForwardRemove {
            role: Role::Client,
            listen: "127.0.0.1:2222".parse().unwrap(),
        }],
    );
    assert_eq!(
        e.text,
        with(
            CLIENT,
            "\n# SSH to the office box.\n[[client.forwards]]\nlisten_port = 2222\ntarget_host = \"10.20.0.5\"\ntarget_port = 22\noutbound_tag = \"proxy-a\"\n",
            ""
        )
    );
}

#[test]
fn forward_refusals() {
    let add = |f: Forward| Edit::ForwardAdd {
        role: Role::Client,
        forward: f,
    };
    let cases: Vec<(Vec<Edit>, EditErrorKind, &str)> = vec![
        (
            vec![add(forward("127.0.0.1:2222", "10.20.0.6:22", "proxy-b"))],
            EditErrorKind::Conflict,
            "client.forwards[1].listen_port: 127.0.0.1:2222 (tcp) is already used by another inbound",
        ),
        (
            vec![add(forward("0.0.0.0:51180", "10.20.0.6:22", "proxy-b"))],
            EditErrorKind::Conflict,
            "client.forwards[1].listen_port: 0.0.0.0:51180 (tcp) is already used",
        ),
        (
            vec![add(forward("127.0.0.1:3000", "bad_host:22", "proxy-b"))],
            EditErrorKind::Conflict,
            "client.forwards[1].target_host: `bad_host` is not a host name or IP",
        ),
        (
            vec![add(forward("127.0.0.1:3000", "h.example:22", "proxy-x"))],
            EditErrorKind::Conflict,
            "client.forwards[1].outbound_tag: `proxy-x` names no outbound",
        ),
        (
            vec![Edit::ForwardRemove {
                role: Role::Client,
                listen: "127.0.0.1:9".parse().unwrap(),
            }],
            EditErrorKind::NotFound,
            "client.forwards: no forward listens on 127.0.0.1:9",
        ),
    ];
    for (edits, kind, want) in cases {
        let e = refused(Role::Client, CLIENT, &edits);
        assert_eq!(e.kind, kind, "{e}");
        assert!(e.to_string().starts_with(want), "{e}\nwant: {want}");
    }
}

#[test]
fn a_free_listen_port_skips_the_used_ones() {
    let m = load::parse_client(Path::new("f"), CLIENT).unwrap();
    let lo = "127.0.0.1".parse().unwrap();
    assert_eq!(
        forwards::free_listen_port(&m.client.forwards, lo, 2222),
        Some(2223)
    );
    assert_eq!(
        forwards::free_listen_port(&m.client.forwards, lo, 2000),
        Some(2000)
    );
}

// --- settings, batches, files ----------------------------------------------------

#[test]
fn settings_keep_the_line_comments() {
    let e = ok(
        Role::Server,
        SERVER,
        &[
            Edit::SetHost {
                host: "new.example.com".into(),
            },
            Edit::SetProfile {
                profile: ServerProfile::TrojanTls,
            },
            Edit::SetCorePath {
                role: Role::Server,
                path: "/usr/bin/xray".into(),
            },
        ],
    );
    let want = with(
        SERVER,
        "host = \"vpn.example.com\" # public name\ntrojan_port = 58443\n",
        "host = \"new.example.com\" # public name\ntrojan_port = 58443\nprofile = \"trojan-tls\"\n",
    ) + "\n[core]\npath = \"/usr/bin/xray\"\n";
    assert_eq!(e.text, want);
    assert_eq!(
        e.summary,
        vec![
            "set host new.example.com",
            "set profile trojan-tls",
            "set core path /usr/bin/xray"
        ]
    );
}

#[test]
fn mode_goes_through_the_editor() {
    let e = ok(
        Role::Client,
        CLIENT,
        &[Edit::SetMode {
            role: Role::Client,
            change: ModeChange::Full {
                tag: Some("proxy-b".into()),
            },
        }],
    );
    assert_eq!(
        e.text,
        with(
            CLIENT,
            "# the whole-tunnel exit\nfull_tunnel_tag = \"proxy-a\"\n",
            "# the whole-tunnel exit\nfull_tunnel_tag = \"proxy-b\"\ntun_enabled = true\ntun_mode = \"full\"\n"
        )
    );
}

#[test]
fn a_failed_batch_returns_nothing() {
    // The first edit is fine, the second is not: the caller gets only the error.
    let e = refused(
        Role::Server,
        SERVER,
        &[
            Edit::UserAdd {
                label: "carol".into(),
                credential: "c".into(),
            },
            Edit::UserAdd {
                label: "carol".into(),
                credential: "d".into(),
            },
        ],
    );
    assert_eq!(
        e.to_string(),
        "server.users: a user labelled \"carol\" already exists"
    );
}

#[test]
fn unreadable_files_are_named() {
    let e = refused(Role::Server, "[server\n", &[]);
    assert_eq!(e.kind, EditErrorKind::Unreadable);
    assert!(
        e.to_string()
            .starts_with("xp2p-server.toml: is not valid TOML at line 1, column 8: "),
        "{e}"
    );
    assert!(!e.to_string().contains(" | "), "{e}");
    let e = refused(
        Role::Server,
        "[client]\n",
        &[Edit::SetHost {
            host: "h.example".into(),
        }],
    );
    assert_eq!(e.to_string(), "xp2p-server.toml: no [server] table");
    let e = refused(
        Role::Server,
        "[server]\nbogus = 1\n",
        &[Edit::UserRemove { label: "a".into() }],
    );
    assert_eq!(e.kind, EditErrorKind::Unreadable);
    assert!(
        e.to_string()
            .starts_with("server.bogus: unknown field `bogus`"),
        "{e}"
    );
}

#[test]
fn an_already_invalid_file_is_named_as_such() {
    let src = with(
        SERVER,
        "outbound_tag = \"direct\"",
        "outbound_tag = \"gone\"",
    );
    let e = refused(
        Role::Server,
        &src,
        &[Edit::SetHost {
            host: "h.example".into(),
        }],
    );
    assert!(
        e.to_string()
            .ends_with("(the file was invalid before this edit)"),
        "{e}"
    );
}

#[test]
fn a_users_link_imported_on_a_client_is_a_valid_endpoint() {
    let server = ok(
        Role::Server,
        SERVER,
        &[Edit::UserAdd {
            label: generated_label([1, 2, 3, 4, 5]),
            credential: generated_credential([9; 16]),
        }],
    );
    let m = load::parse_server(Path::new("f"), &server.text).unwrap();
    let user = m.server.users.last().unwrap();
    let pin = "ab".repeat(32);
    let link = crate::links::user_link(
        &m.server,
        user,
        &crate::links::Trust::Pinned {
            sha256: pin.clone(),
        },
    )
    .unwrap()
    .render();
    let ep = crate::links::TunnelLink::parse(&link)
        .unwrap()
        .to_endpoint(None)
        .unwrap();
    let client = ok(Role::Client, CLIENT, &[Edit::EndpointAdd(ep)]);
    let c = load::parse_client(Path::new("f"), &client.text).unwrap();
    let added = c.client.endpoints.last().unwrap();
    assert_eq!(added.effective_tag(), "proxy-vpn-example-com");
    assert_eq!(
        (added.address.as_str(), added.port.0),
        ("vpn.example.com", 58443)
    );
    assert_eq!(added.password, user.credential);
    assert_eq!(added.user, user.user_label);
    assert!(added.allow_insecure);
    assert_eq!(added.pinned_peer_cert_sha256, pin);
}

#[test]
fn ports_and_the_socks_address_are_set_in_place() {
    let e = ok(
        Role::Server,
        SERVER,
        &[
            Edit::SetTrojanPort { port: Port(4443) },
            Edit::SetDiagPort { port: Port(4444) },
        ],
    );
    assert_eq!(
        e.text,
        with(
            SERVER,
            "trojan_port = 58443\n",
            "trojan_port = 4443\ndiag_port = 4444\n"
        )
    );
    assert_eq!(
        e.summary,
        vec!["set trojan_port 4443", "set diag_port 4444"]
    );
    let e = ok(
        Role::Client,
        CLIENT,
        &[Edit::SetSocksAddress {
            address: "127.0.0.1:1080".parse().unwrap(),
        }],
    );
    assert_eq!(
        e.text,
        with(
            CLIENT,
            "socks_address = \"127.0.0.1:51180\"",
            "socks_address = \"127.0.0.1:1080\""
        )
    );
    let e = refused(
        Role::Server,
        SERVER,
        &[Edit::SetTrojanPort { port: Port(0) }],
    );
    assert_eq!(e.kind, EditErrorKind::Usage);
    assert_eq!(e.to_string(), "server.trojan_port: must be 1-65535");
    // The validator still judges the result: the two ports must differ.
    let e = refused(
        Role::Server,
        SERVER,
        &[Edit::SetDiagPort { port: Port(58443) }],
    );
    assert_eq!(e.key, "server.diag_port");
    let e = refused(
        Role::Client,
        CLIENT,
        &[Edit::SetTrojanPort { port: Port(1) }],
    );
    assert_eq!(e.kind, EditErrorKind::Usage);
}
