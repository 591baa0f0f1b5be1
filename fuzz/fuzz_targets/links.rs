//! Tunnel links (`trojan://`, `vless://`) and deploy links: any text parses or is
//! refused; whatever parses prints back to a link that parses to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use xp2p_core::links::TunnelLink;
use xp2p_deploy::link::DeployLink;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(link) = DeployLink::parse(text) {
        let again = DeployLink::parse(&link.to_link_string()).expect("a printed deploy link parses");
        assert_eq!(again.to_link_string(), link.to_link_string());
    }
    if let Ok(link) = TunnelLink::parse(text) {
        let again = TunnelLink::parse(&link.render()).expect("a printed tunnel link parses");
        assert_eq!(again.render(), link.render());
    }
});
