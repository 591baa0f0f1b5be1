//! Property tests of the deploy wire: whatever arrives from the network — hello
//! lines, message lines, sealed bytes that open to arbitrary JSON, links and
//! tunnel links — is decoded without panicking; well-formed messages survive a
//! seal/open round trip; any single flipped bit of a sealed line is refused.

use proptest::prelude::*;
use xp2p_core::links::TunnelLink;
use xp2p_deploy::link::message::{Incoming, open_line, seal_line};
use xp2p_deploy::link::{
    Channel, ClientMsg, DeployLink, Manifest, Secret, ServerMsg, SessionKeys, SessionNonce, Side,
};

/// Cases per property; `PROPTEST_CASES` overrides it for a deeper run.
fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    ProptestConfig::with_cases(cases)
}

fn link() -> DeployLink {
    DeployLink::new(
        "vpn.example.com",
        62025,
        "alice",
        1_900_000_000,
        Secret::from_bytes([7; 32]),
    )
    .expect("link")
}

fn channels() -> (Channel, Channel) {
    let k = SessionKeys::derive(&link(), &SessionNonce([1; 16]), &SessionNonce([2; 16]));
    (
        Channel::new(&k, Side::Client),
        Channel::new(&k, Side::Server),
    )
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_lines_never_panic(line in ".{0,300}") {
        let (mut c, mut s) = channels();
        let _ = open_line::<ClientMsg>(&mut s, &line, "manifest");
        let _ = open_line::<ServerMsg>(&mut c, &line, "reply");
        let _ = SessionNonce::parse_hello(&line);
        let _ = DeployLink::parse(&line);
        let _ = TunnelLink::parse(&line);
    }

    #[test]
    fn arbitrary_bytes_as_lines_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let line = String::from_utf8_lossy(&bytes);
        let (mut c, mut s) = channels();
        let _ = open_line::<ClientMsg>(&mut s, &line, "manifest");
        let _ = open_line::<ServerMsg>(&mut c, &line, "reply");
        let _ = DeployLink::parse(&format!("xp2p+deploy://{line}"));
        let _ = TunnelLink::parse(&format!("trojan://{line}"));
    }

    #[test]
    fn sealed_arbitrary_json_never_panics(payload in proptest::collection::vec(any::<u8>(), 0..300)) {
        // Bytes that *do* open (the peer holds the secret) but are not a message.
        let (mut c, mut s) = channels();
        let sealed = c.seal(&payload).expect("seal");
        let line = base64_url(&sealed);
        let r = open_line::<ClientMsg>(&mut s, &line, "manifest");
        if serde_json::from_slice::<ClientMsg>(&payload).is_err() {
            prop_assert!(r.is_err());
        }
    }

    #[test]
    fn manifests_round_trip(host in "[a-z]{1,20}(\\.[a-z]{1,10}){0,3}", user in "[a-z0-9@._+-]{1,40}",
                            port in proptest::option::of(1u16..), mode in "proxy|tun:split|tun:full", reverse in proptest::bool::ANY) {
        let (mut c, mut s) = channels();
        let m = ClientMsg::Manifest(Manifest { host, trojan_port: port, user, profile: None, mode, reverse });
        let line = seal_line(&mut c, &m).expect("seal");
        prop_assert_eq!(open_line::<ClientMsg>(&mut s, &line, "manifest").expect("open"), Incoming::Message(m));
    }

    #[test]
    fn any_flipped_bit_is_refused(bit in 0usize..(8 * 60)) {
        let (mut c, mut s) = channels();
        let m = ClientMsg::Complete { status: "ok".into() };
        let line = seal_line(&mut c, &m).expect("seal");
        let mut raw = base64_decode(&line);
        let i = bit / 8 % raw.len();
        raw[i] ^= 1 << (bit % 8);
        prop_assert!(open_line::<ClientMsg>(&mut s, &base64_url(&raw), "complete").is_err());
    }
}

fn base64_url(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .expect("base64")
}
