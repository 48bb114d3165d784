//! The wrapper against the host library it wraps, on the committed format-v1 fixtures.

use super::*;
use std::path::PathBuf;

fn fixture(name: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/format-v1")
        .join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

const SENTENCES: [&str; 4] = [
    "Hello world.",
    "The cat sat on the mat. It was warm.",
    "",
    "How are you?",
];

#[test]
fn same_text_as_the_host_library() {
    for name in ["marian-tiny-en-de.int8.gguf", "marian-nmt-tiny.int8.gguf"] {
        let bytes = fixture(name);
        let host = Translator::from_bytes(&bytes).unwrap();
        let mut model = Model::from_bytes(&bytes, Settings::default(), None).unwrap();
        let mut scalar = Model::from_bytes(&bytes, Settings::default(), Some("scalar")).unwrap();
        assert_eq!(scalar.kernels(), "scalar");
        let want: Vec<String> = SENTENCES
            .iter()
            .map(|s| host.translate(s).unwrap())
            .collect();
        assert!(want.iter().any(|t| !t.is_empty()), "{name}: {want:?}");
        for (s, w) in SENTENCES.iter().zip(&want) {
            assert_eq!(&model.translate(s).unwrap(), w, "{name}: {s}");
            assert_eq!(&scalar.translate(s).unwrap(), w, "{name} (scalar): {s}");
        }
        // Several lines at once: line by line, breaks kept; batched: the same per line.
        assert_eq!(
            model.translate(&SENTENCES.join("\n")).unwrap(),
            want.join("\n")
        );
        assert_eq!(model.translate_batch(&SENTENCES).unwrap(), want);
        let greedy = |batch| Settings {
            beam: Some(1),
            batch: Some(batch),
            ..Settings::default()
        };
        let want_greedy: Vec<String> = {
            let host = Translator::from_bytes(&bytes)
                .unwrap()
                .with_settings(greedy(1));
            SENTENCES
                .iter()
                .map(|s| host.translate(s).unwrap())
                .collect()
        };
        // Batched: each sentence stops at its own length limit, so even marian-nmt-tiny's
        // random weights, which never end a sentence, give every line's own text.
        let mut batched = Model::from_bytes(&bytes, greedy(3), None).unwrap();
        assert_eq!(
            batched.translate_batch(&SENTENCES).unwrap(),
            want_greedy,
            "{name}"
        );
        // Windows line ends are line ends.
        assert_eq!(
            model.translate("Hello world.\r\nHow are you?").unwrap(),
            format!("{}\n{}", want[0], want[3])
        );
        assert!(model.languages().is_empty());
        assert_eq!(model.model_bytes(), bytes.len());
    }
}

#[test]
fn bad_input_is_a_typed_failure() {
    let bytes = fixture("marian-tiny-en-de.int8.gguf");
    let kind = |r: Result<Model, Failure>| r.err().map(|f| f.kind);
    assert_eq!(
        kind(Model::from_bytes(b"not a model", Settings::default(), None)),
        Some("model")
    );
    assert_eq!(
        kind(Model::from_bytes(&bytes[..1000], Settings::default(), None)),
        Some("model")
    );
    assert_eq!(
        kind(Model::from_bytes(&[], Settings::default(), None)),
        Some("model")
    );
    let beam = Settings {
        beam: Some(0),
        ..Settings::default()
    };
    let f = Model::from_bytes(&bytes, beam, None).err().unwrap();
    assert_eq!(
        (f.kind, f.message.as_str()),
        ("setting", "beam must be between 1 and 64, not 0")
    );
    let f = Model::from_bytes(&bytes, Settings::default(), Some("avx9"))
        .err()
        .unwrap();
    assert_eq!(f.kind, "setting");
    assert!(f.message.contains("avx9"), "{}", f.message);
    // A words buffer shorter than the length given.
    let f = Model::load(vec![0; 2], 17, Settings::default(), None)
        .err()
        .unwrap();
    assert_eq!(f.kind, "model");

    let mut model = Model::from_bytes(&bytes, Settings::default(), None).unwrap();
    let f = model.translate_batch(&["one", "two\nthree"]).unwrap_err();
    assert_eq!(f.kind, "setting");
    assert!(f.message.starts_with("line 2"), "{}", f.message);
    // Over-long input is cut or refused, never a panic.
    let long = "word ".repeat(5000);
    let _ = model.translate(&long);
    let strict = Settings {
        max_src_len: Some(8),
        ..Settings::default()
    };
    let mut strict = Model::from_bytes(&bytes, strict, None).unwrap();
    let f = strict.translate(&long).unwrap_err();
    assert_eq!(f.kind, "translation");
}

#[test]
fn a_language_the_model_lacks_fails_at_load() {
    let bytes = fixture("marian-tiny-en-de.int8.gguf");
    let s = Settings {
        target_lang: Some("por_Latn".into()),
        ..Settings::default()
    };
    let f = Model::from_bytes(&bytes, s, None).err().unwrap();
    assert_eq!(f.kind, "language", "{}", f.message);
}
