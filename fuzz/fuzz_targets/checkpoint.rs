//! `convert` on a damaged Hugging Face checkpoint: the first byte picks the file the rest
//! replaces (0: model.safetensors, 1: config.json, 2: generation_config.json, 3: vocab.json) in
//! a copy of the tiny fixture. Conversion must end in an error or a model that loads; never a
//! panic, and never an allocation sized by an unchecked number from the files.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

const FILES: &[&str] = &["model.safetensors", "config.json", "generation_config.json", "vocab.json"];

fn fixture() -> &'static Path {
    static D: OnceLock<PathBuf> = OnceLock::new();
    D.get_or_init(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/fixtures/marian-tiny-en-de"))
}

/// A private copy of the fixture for this process.
fn work() -> &'static Path {
    static D: OnceLock<PathBuf> = OnceLock::new();
    D.get_or_init(|| {
        let d = std::env::temp_dir().join(format!("tern-fuzz-checkpoint-{}", std::process::id()));
        std::fs::create_dir_all(&d).expect("temp dir");
        for e in std::fs::read_dir(fixture()).expect("fixture").flatten() {
            std::fs::copy(e.path(), d.join(e.file_name())).expect("copy fixture");
        }
        d
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else { return };
    let name = FILES[usize::from(which) % FILES.len()];
    let dir = work();
    std::fs::write(dir.join(name), rest).expect("write");
    if let Ok(bytes) = tern_convert::build(dir, Some(tern_convert::Precision::Int8), true) {
        // What convert accepts, the engine loads.
        tern::Translator::from_bytes(&bytes).expect("a converted model loads");
    }
    std::fs::copy(fixture().join(name), dir.join(name)).expect("restore");
});
