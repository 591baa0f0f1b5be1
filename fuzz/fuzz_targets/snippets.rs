//! Snippet files: any bytes under any of the four names parse or fail cleanly,
//! and the merge checks never panic.
#![no_main]

use std::collections::BTreeMap;
use std::path::Path;

use libfuzzer_sys::fuzz_target;
use xp2p_core::layout::SNIPPET_FILES;
use xp2p_core::snippets;

fuzz_target!(|data: &[u8]| {
    let Some((&which, body)) = data.split_first() else { return };
    let name = SNIPPET_FILES[usize::from(which) % SNIPPET_FILES.len()];
    let files: BTreeMap<String, Vec<u8>> = [(name.to_string(), body.to_vec())].into();
    let dir = Path::new("config-client");
    let (s, _) = snippets::parse(dir, &files);
    let _ = s.check_merge(dir, &["socks-in".into()], &["proxy-a".into(), "direct".into()]);
});
