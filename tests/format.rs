//! Files of earlier format revisions keep loading: each committed file in
//! `tests/fixtures/format-v<N>/` must compute exactly what a fresh conversion of the checkpoint it
//! was made from computes: the same spec, bit-identical logits under teacher forcing, the same
//! translations. Format 1 (before the spec keys) was written by `convert` at commit 829f2e1:
//! `marian-tiny-en-de.int8.gguf` from `models/fixtures/marian-tiny-en-de` (`--int8`), and
//! `marian-nmt-tiny.int8.gguf` (a Marian-toolkit SSRU model) from the directory
//! `models/make_marian_nmt_tiny.py` cuts out of Firefox's en->pt model (`--int8`).

use std::path::Path;
use tern_core::decode;
use tern_core::plan::Limits;
use tern_e2e::root;

/// The format-1 file `name` and a fresh conversion of `checkpoint` agree on everything.
fn same_as_fresh(name: &str, arch: &str, checkpoint: &Path, lines: &[&str]) {
    let old = root().join("tests/fixtures/format-v1").join(name);
    let old = tern::Translator::open(&old).expect("a format-1 file loads");
    let g = &old.engine().gguf;
    assert_eq!(g.str("general.architecture").unwrap(), arch);
    assert!(g.get("tern.format_version").is_none());
    let new = tern::Translator::from_bytes(&tern_e2e::convert(
        checkpoint,
        tern_convert::Precision::Int8,
    ))
    .unwrap();
    assert_eq!(new.engine().gguf.u32("tern.format_version").unwrap(), 2);
    let (a, b) = (old.engine(), new.engine());
    assert_eq!(a.model.spec, b.model.spec, "{name}: spec");
    assert_eq!(a.special, b.special, "{name}: special tokens");
    let limits = Limits {
        max_src: 128,
        max_tgt: 16,
        beam: 1,
        batch: 1,
    };
    for line in lines {
        // Teacher forcing on fixed inputs: every logit, bit for bit.
        let src = encode(a, line);
        assert_eq!(src, encode(b, line), "{name}: source ids of {line:?}");
        let inputs: Vec<u32> = std::iter::once(a.special.decoder_start)
            .chain(src.iter().copied())
            .take(limits.max_tgt)
            .collect();
        let rows = |e: &tern_core::engine::Engine| {
            let mut ws = vec![0u8; decode::workspace_bytes(&e.model, &limits)];
            let mut all = Vec::new();
            decode::teacher_force(&e.model, &mut ws, &limits, &src, &inputs, |_, l| {
                all.extend(l.iter().map(|v| v.to_bits()));
                Ok(())
            })
            .unwrap();
            all
        };
        assert!(rows(a) == rows(b), "{name}: logits of {line:?} differ");
    }
    let (x, y) = (old.translate_batch(lines, 1), new.translate_batch(lines, 1));
    for ((line, x), y) in lines.iter().zip(x).zip(y) {
        assert_eq!(x.unwrap().text, y.unwrap().text, "{name}: {line}");
    }
}

fn encode(e: &tern_core::engine::Engine, text: &str) -> Vec<u32> {
    let mut scratch = vec![0; e.tokenizer.encode_scratch_bytes(text.len())];
    let mut ids = vec![0; e.tokenizer.max_tokens(text.len())];
    let n = e.tokenizer.encode(text, &mut scratch, &mut ids).unwrap();
    ids.truncate(n);
    ids
}

fn fixture_sources(dir: &Path) -> Vec<String> {
    let expected: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("expected.json")).unwrap()).unwrap();
    expected["sentences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["source"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn format_1_hf_marian_file_computes_as_a_fresh_conversion() {
    let dir = root().join("models/fixtures/marian-tiny-en-de");
    let lines = fixture_sources(&dir);
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    same_as_fresh("marian-tiny-en-de.int8.gguf", "marian", &dir, &lines);
}

#[test]
fn format_1_marian_toolkit_file_computes_as_a_fresh_conversion() {
    let enpt = tern_e2e::downloaded("enpt");
    let float = tern_e2e::scratch().join("format-v1-enpt-npz");
    let tiny = tern_e2e::scratch().join("format-v1-marian-nmt-tiny");
    tern_e2e::run_python(
        "marian_bin_to_npz.py",
        &[enpt.as_os_str(), float.as_os_str()],
        b"",
    );
    tern_e2e::run_python(
        "make_marian_nmt_tiny.py",
        &[float.as_os_str(), tiny.as_os_str()],
        b"",
    );
    let lines = fixture_sources(&root().join("models/fixtures/marian-tiny-en-de"));
    let lines: Vec<&str> = lines.iter().map(String::as_str).take(12).collect();
    same_as_fresh("marian-nmt-tiny.int8.gguf", "marian_nmt", &tiny, &lines);
}
