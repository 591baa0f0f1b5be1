//! IPC frames: any byte stream through the JSONL reader yields frames,
//! malformed/too-long outcomes or EOF — never a panic, never a hang.
#![no_main]

use libfuzzer_sys::fuzz_target;
use xp2p_ipc::frame::{ReadOutcome, read_frame};

fuzz_target!(|data: &[u8]| {
    let Ok(rt) = tokio::runtime::Builder::new_current_thread().build() else { return };
    rt.block_on(async {
        let mut r = tokio::io::BufReader::new(data);
        let mut buf = Vec::new();
        for _ in 0..=data.len() {
            match read_frame(&mut r, &mut buf).await {
                Ok(ReadOutcome::Eof) | Err(_) => break,
                Ok(ReadOutcome::Frame(f)) => {
                    let _ = serde_json::from_str::<serde_json::Value>(&f.to_line());
                }
                Ok(_) => {}
            }
        }
    });
});
