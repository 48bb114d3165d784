//! Arbitrary input lines through the whole pipeline of a tiny model (the fixture): one output
//! per input, never a panic, whatever the bytes (invalid UTF-8, NUL, very long lines).
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn model() -> &'static tern::Translator {
    static M: OnceLock<tern::Translator> = OnceLock::new();
    M.get_or_init(|| {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/fixtures/marian-tiny-en-de");
        let bytes = tern_convert::build(&dir, Some(tern_convert::Precision::Int8), true).expect("fixture converts");
        tern::Translator::from_bytes(&bytes).expect("fixture loads").with_settings(tern::Settings {
            beam: Some(2),
            max_len: Some(12),
            max_src_len: Some(24),
            truncate: true,
            ..Default::default()
        })
    })
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let lines: Vec<&str> = text.split('\n').collect();
    let out = model().translate_batch(&lines, 1);
    assert_eq!(out.len(), lines.len());
});
