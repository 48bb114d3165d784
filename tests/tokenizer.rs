//! tern's SentencePiece tokenizer against the `sentencepiece` library itself: the same ids and
//! the same decoded text, on FLORES devtest (en/pt/de, when `../shared` is present), the
//! fixtures' sentences, hard cases written here and deterministic random strings.

use tern_core::gguf::write::GgufWriter;
use tern_core::gguf::Gguf;
use tern_core::tokenizer::build::{write_tokenizer, SpmModel, TokenizerSpec};
use tern_core::tokenizer::Tokenizer;

/// Hard cases: whitespace runs, controls, accents (precomposed and combining), compatibility
/// characters NFKC rewrites, CJK, emoji (unknown to these models), empty input.
const HARD: &[&str] = &[
    "",
    " ",
    "   leading and trailing   ",
    "runs   of\t\tspaces\u{3000}and\u{a0}nbsp",
    "tab\tnew\nline\r\nreturn",
    "\u{0}nul \u{1}\u{7f} controls\u{85}\u{200b}zero\u{200d}width",
    "café naïve façade Ångström",
    "cafe\u{301} nai\u{308}ve A\u{30a}ngstro\u{308}m",
    "ﬁnance ① ㍿ ﷺ Ⅻ ｆｕｌｌｗｉｄｔｈ ＡＢＣ １２３",
    "東京は日本の首都です。中文测试，한국어 텍스트",
    "😀 emoji 👍🏽 family 👨‍👩‍👧 flags 🇵🇹🇩🇪",
    "😀😀😀",
    "mixed Ελληνικά кириллица עברית العربية हिन्दी",
    "«Quotes» “curly” ‘single’ — dashes – and … ellipsis",
    "numbers 3.14159, 1,000,000 and 2026-11-24 12:30",
    "URL https://example.com/a?b=c&d=e#f and e-mail a.b@c.de",
    "x",
    "▁already▁escaped▁",
    "a\u{fffd}b",
    "ÀÉÎÕÜ àéîõü ß ẞ ø œ æ",
];

fn tokenizer_file(spm: &SpmModel) -> Vec<u8> {
    let mut w = GgufWriter::new();
    let unk = spm.pieces.iter().position(|p| p.kind == 2).unwrap() as u32;
    let eos = spm.pieces.iter().position(|p| p.text == "</s>").unwrap() as u32;
    let spec = TokenizerSpec {
        source: spm,
        decode: spm,
        vocab: None,
        eos,
        unk,
        pad: None,
        hf_marian: false,
        clean_up_spaces: false,
    };
    write_tokenizer(&mut w, &spec).unwrap();
    w.to_bytes()
}

/// Deterministic random strings over ranges that exercise the normalizer and unknown runs.
fn random_texts(n: usize, seed: u64) -> Vec<String> {
    const RANGES: &[(u32, u32)] = &[
        (0x20, 0x7e),
        (0x20, 0x7e),
        (0x09, 0x0d),
        (0xa0, 0x17f),
        (0x300, 0x36f),
        (0x370, 0x3ff),
        (0x2000, 0x206f),
        (0x2150, 0x218f),
        (0x2460, 0x24ff),
        (0x3000, 0x303f),
        (0x3300, 0x33ff),
        (0x4e00, 0x4e80),
        (0xac00, 0xac40),
        (0xfb00, 0xfb4f),
        (0xfdf0, 0xfdff),
        (0xff00, 0xffef),
        (0x1f300, 0x1f64f),
        (0x1d400, 0x1d4ff),
    ];
    let mut s = seed;
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    (0..n)
        .map(|_| {
            let len = (next() % 40) as usize;
            (0..len)
                .filter_map(|_| {
                    let (a, b) = RANGES[(next() % RANGES.len() as u64) as usize];
                    char::from_u32(a + (next() % (b - a + 1) as u64) as u32)
                })
                .collect()
        })
        .collect()
}

fn fixture_sentences() -> Vec<String> {
    let mut v = Vec::new();
    let dirs = std::fs::read_dir(tern_e2e::root().join("models/fixtures")).unwrap();
    for dir in dirs
        .filter_map(|d| d.ok().map(|d| d.path()))
        .filter(|d| d.join("expected.json").exists())
    {
        let e: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join("expected.json")).unwrap()).unwrap();
        for s in e["sentences"].as_array().unwrap() {
            v.push(s["source"].as_str().unwrap().to_string());
        }
    }
    v
}

fn check(lang: &str, flores: &str) {
    check_model(
        &tern_e2e::root().join(format!("models/fixtures/spm/{lang}.spm")),
        lang,
        flores,
    );
}

fn check_model(path: &std::path::Path, lang: &str, flores: &str) {
    let path = path.to_path_buf();
    let spm = SpmModel::parse(&std::fs::read(&path).unwrap()).unwrap();
    let file = tokenizer_file(&spm);
    let g = Gguf::parse(&file).unwrap();
    let tok = Tokenizer::from_gguf(&g).unwrap();

    let mut texts: Vec<String> = HARD.iter().map(|s| s.to_string()).collect();
    texts.extend(fixture_sentences());
    texts.extend(random_texts(400, 0x9e3779b97f4a7c15 ^ lang.len() as u64));
    let n_flores = match tern_e2e::flores(flores) {
        Some(lines) => {
            let n = lines.len();
            texts.extend(lines);
            n
        }
        None => {
            eprintln!("note: ../shared/testsets not found; comparing on hard cases, fixtures and random text only");
            0
        }
    };
    let input = serde_json::to_vec(&texts).unwrap();
    let reference: Vec<serde_json::Value> = serde_json::from_slice(&tern_e2e::run_python(
        "spm_reference.py",
        &[path.as_os_str()],
        &input,
    ))
    .unwrap();
    assert_eq!(reference.len(), texts.len());

    let mut failures = Vec::new();
    let mut scratch = Vec::new();
    let mut ids = Vec::new();
    let mut out = Vec::new();
    for (text, r) in texts.iter().zip(&reference) {
        let want: Vec<u32> = r["ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as u32)
            .collect();
        scratch.resize(tok.encode_scratch_bytes(text.len()), 0);
        ids.resize(tok.max_tokens(text.len()), 0);
        let n = tok.encode(text, &mut scratch, &mut ids).unwrap();
        assert!(n <= ids.len());
        let got = &ids[..n];
        assert_eq!(got.last(), Some(&tok.eos_id()));
        if got[..n - 1] != want[..] {
            failures.push(format!(
                "encode {text:?}\n  tern: {:?}\n  spm:  {want:?} {}",
                &got[..n - 1],
                r["pieces"]
            ));
            continue;
        }
        out.resize(text.len() * 8 + 64, 0);
        let len = tok.decode(&want, &mut out).unwrap();
        let decoded = std::str::from_utf8(&out[..len]).unwrap();
        if decoded != r["decoded"].as_str().unwrap() {
            failures.push(format!(
                "decode {want:?}\n  tern: {decoded:?}\n  spm:  {}",
                r["decoded"]
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{lang}: {} of {} texts differ ({n_flores} FLORES lines):\n{}",
        failures.len(),
        texts.len(),
        failures.join("\n")
    );
    eprintln!(
        "{lang}: {} texts identical to sentencepiece ({n_flores} FLORES lines)",
        texts.len()
    );
}

#[test]
fn english_matches_sentencepiece() {
    check("en", "eng_Latn");
}

#[test]
fn portuguese_matches_sentencepiece() {
    check("pt", "por_Latn");
}

#[test]
fn german_matches_sentencepiece() {
    check("de", "deu_Latn");
}

/// The real 32k-piece vocabulary of Mozilla's en-pt model (`cargo xtask fetch-model enpt`,
/// which `cargo xtask test` runs first), on English and Portuguese.
#[test]
fn bergamot_vocabulary_matches_sentencepiece() {
    let path = tern_e2e::root().join("models/downloads/enpt/vocab.enpt.spm");
    assert!(
        path.exists(),
        "{} is missing: run `cargo xtask fetch-model enpt` (cargo xtask test does)",
        path.display()
    );
    check_model(&path, "en", "eng_Latn");
    check_model(&path, "pt", "por_Latn");
}

#[test]
fn truncated_outputs_count_all_tokens() {
    let path = tern_e2e::root().join("models/fixtures/spm/en.spm");
    let spm = SpmModel::parse(&std::fs::read(path).unwrap()).unwrap();
    let file = tokenizer_file(&spm);
    let g = Gguf::parse(&file).unwrap();
    let tok = Tokenizer::from_gguf(&g).unwrap();
    let text = "A sentence that has quite a few tokens in it.";
    let mut scratch = vec![0; tok.encode_scratch_bytes(text.len())];
    let mut full = vec![0; tok.max_tokens(text.len())];
    let n = tok.encode(text, &mut scratch, &mut full).unwrap();
    let mut short = [0u32; 3];
    assert_eq!(tok.encode(text, &mut scratch, &mut short).unwrap(), n);
    assert_eq!(short[..], full[..3]);
    let mut tiny = [0u8; 8];
    assert!(matches!(
        tok.encode(text, &mut tiny, &mut full),
        Err(tern_core::Error::WorkspaceTooSmall { .. })
    ));
}
