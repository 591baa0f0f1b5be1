//! Deploy wire lines: hello lines and sealed message lines from an attacker who
//! does not know the secret (or sends garbage) are refused, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use xp2p_deploy::link::message::open_line;
use xp2p_deploy::link::{Channel, ClientMsg, DeployLink, ServerMsg, SessionKeys, SessionNonce, Side};

const LINK: &str = "xp2p+deploy://127.0.0.1:62025?v=1&user=alice%40xp2p.local&exp=4102444800&role=client#AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = SessionNonce::parse_hello(text);
    let (Ok(link), Ok(c), Ok(s)) = (
        DeployLink::parse(LINK),
        SessionNonce::parse_hello("xp2p-deploy/1 AAAAAAAAAAAAAAAAAAAAAA"),
        SessionNonce::parse_hello("xp2p-deploy/1 AQEBAQEBAQEBAQEBAQEBAQ"),
    ) else {
        return;
    };
    let keys = SessionKeys::derive(&link, &c, &s);
    let mut server = Channel::new(&keys, Side::Server);
    let mut client = Channel::new(&keys, Side::Client);
    for line in text.lines() {
        let _ = open_line::<ClientMsg>(&mut server, line, "fuzz");
        let _ = open_line::<ServerMsg>(&mut client, line, "fuzz");
    }
});
