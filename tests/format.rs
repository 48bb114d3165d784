//! Files of earlier format revisions keep loading: each committed file in
//! `tests/fixtures/format-v<N>/` must translate exactly as a fresh conversion of the checkpoint it
//! was made from (format 1: `marian-tiny-en-de`, `convert --int8`, before the spec keys existed).

use tern_e2e::root;

#[test]
fn format_1_files_translate_as_a_fresh_conversion() {
    let old = root().join("tests/fixtures/format-v1/marian-tiny-en-de.int8.gguf");
    let old = tern::Translator::open(&old).expect("a format-1 file loads");
    let g = &old.engine().gguf;
    assert_eq!(g.str("general.architecture").unwrap(), "marian");
    assert!(g.get("tern.format_version").is_none());
    let dir = root().join("models/fixtures/marian-tiny-en-de");
    let new = tern::Translator::from_bytes(&tern_e2e::convert(&dir, tern_convert::Precision::Int8))
        .unwrap();
    assert_eq!(new.engine().gguf.u32("tern.format_version").unwrap(), 2);
    assert_eq!(old.engine().model.spec, new.engine().model.spec);
    let expected: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("expected.json")).unwrap()).unwrap();
    let lines: Vec<&str> = expected["sentences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["source"].as_str().unwrap())
        .collect();
    let (a, b) = (
        old.translate_batch(&lines, 1),
        new.translate_batch(&lines, 1),
    );
    for ((line, a), b) in lines.iter().zip(a).zip(b) {
        let (a, b) = (a.unwrap().text, b.unwrap().text);
        assert!(!a.is_empty(), "{line}: empty translation");
        assert_eq!(a, b, "{line}");
    }
}
