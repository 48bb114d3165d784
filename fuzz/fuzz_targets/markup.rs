//! Arbitrary HTML fragments through `translate_html` (and the attention and alignments it reads)
//! on a tiny model (the fixture): an error naming the bad markup, or a well-formed output that
//! keeps every element of the input; never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn model() -> &'static tern::Translator {
    static M: OnceLock<tern::Translator> = OnceLock::new();
    M.get_or_init(|| {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/fixtures/marian-tiny-en-de");
        let bytes = tern_convert::build(&dir, Some(tern_convert::Precision::Int8), true).expect("fixture converts");
        tern::Translator::from_bytes(&bytes).expect("fixture loads").with_settings(tern::Settings {
            max_len: Some(12),
            max_src_len: Some(24),
            truncate: true,
            ..Default::default()
        })
    })
}

fuzz_target!(|data: &[u8]| {
    let html = String::from_utf8_lossy(data);
    let mut session = model().session();
    match session.translate_html(&html) {
        Ok(out) => {
            let source = tern::markup::parse(&html).expect("what translates, parses");
            tern::markup::parse(&out.text).expect("the output is well-formed");
            for el in &source.elements {
                assert!(out.text.contains(&el.open), "{:?} lost {}", out.text, el.open);
            }
        }
        Err(tern::Error::Markup(_)) => assert!(tern::markup::parse(&html).is_err()),
        Err(_) => {}
    }
    if let Ok((_, maps)) = session.translate_attended(&html, true) {
        for a in &maps {
            let _ = a.word_alignment();
        }
    }
});
