//! Unit tests on hand-built models; the comparison with the `sentencepiece` library on real
//! models and text lives in `tests/tokenizer.rs`, with Hugging Face in `tests/conformance.rs`.

extern crate alloc;
use super::build::{write_tokenizer, Piece, SpmModel, TokenizerSpec};
use super::*;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;

/// File bytes on an 8-byte boundary, as a mapped file is (a `Vec<u8>` need not be; Miri
/// checks).
#[derive(Clone)]
struct Aligned(Vec<u64>, usize);

impl From<Vec<u8>> for Aligned {
    fn from(b: Vec<u8>) -> Self {
        let mut v = vec![0u64; b.len().div_ceil(8)];
        crate::plan::as_bytes_mut(&mut v)[..b.len()].copy_from_slice(&b);
        Aligned(v, b.len())
    }
}

impl core::ops::Deref for Aligned {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &crate::plan::as_bytes(&self.0)[..self.1]
    }
}

impl core::ops::DerefMut for Aligned {
    fn deref_mut(&mut self) -> &mut [u8] {
        &mut crate::plan::as_bytes_mut(&mut self.0)[..self.1]
    }
}

fn model(pieces: &[(&str, f32, i8)]) -> SpmModel {
    SpmModel::from_pieces(
        pieces
            .iter()
            .map(|&(t, s, k)| Piece {
                text: t.to_string(),
                score: s,
                kind: k,
            })
            .collect(),
    )
}

fn toy() -> SpmModel {
    model(&[
        ("<unk>", 0.0, kind::UNKNOWN),
        ("</s>", 0.0, kind::CONTROL),
        ("\u{2581}", -2.0, kind::NORMAL),
        ("\u{2581}a", -1.0, kind::NORMAL),
        ("\u{2581}ab", -1.5, kind::NORMAL),
        ("a", -2.0, kind::NORMAL),
        ("b", -2.0, kind::NORMAL),
        ("c", -3.0, kind::NORMAL),
        ("<sep>", 0.0, kind::USER_DEFINED),
        ("zz", -0.1, kind::UNUSED),
        ("z", -4.0, kind::NORMAL),
    ])
}

fn file(spm: &SpmModel, vocab: Option<&[String]>, hf: bool) -> Aligned {
    let mut w = GgufWriter::new();
    let spec = TokenizerSpec {
        source: spm,
        decode: spm,
        vocab,
        eos: 1,
        unk: 0,
        pad: None,
        hf_marian: hf,
        clean_up_spaces: hf,
    };
    write_tokenizer(&mut w, &spec).unwrap();
    w.to_bytes().into()
}

fn encode(t: &Tokenizer<'_>, text: &str) -> Vec<u32> {
    let mut scratch = vec![0u8; t.encode_scratch_bytes(text.len())];
    let mut ids = vec![0u32; t.max_tokens(text.len())];
    let n = t.encode(text, &mut scratch, &mut ids).unwrap();
    ids.truncate(n);
    ids
}

fn decode(t: &Tokenizer<'_>, ids: &[u32]) -> String {
    let mut out = vec![0u8; 256];
    let n = t.decode(ids, &mut out).unwrap();
    String::from_utf8(out[..n].to_vec()).unwrap()
}

use crate::gguf::write::GgufWriter;

#[test]
fn viterbi_unknown_runs_user_defined_and_unused() {
    let bytes = file(&toy(), None, false);
    let g = Gguf::parse(&bytes).unwrap();
    let t = Tokenizer::from_gguf(&g).unwrap();
    // "▁ab" (-1.5) beats "▁a"+"b" (-3.0).
    assert_eq!(encode(&t, "ab"), [4, 1]);
    // Unknown characters in a row are one <unk>; spaces collapse and trim.
    assert_eq!(encode(&t, "  a  xyq c "), [3, 2, 0, 2, 7, 1]);
    // A user-defined piece is never normalized or split.
    assert_eq!(encode(&t, "a<sep>b"), [3, 8, 6, 1]);
    // An unused piece never matches: "zz" is two "z".
    assert_eq!(encode(&t, "zz"), [2, 10, 10, 1]);
    assert_eq!(encode(&t, ""), [1]);
    assert_eq!(decode(&t, &[3, 2, 0, 2, 7, 1]), "a  \u{2047}  c");
}

#[test]
fn hf_mapping_language_codes_strip_and_clean_up() {
    let spm = toy();
    // The model vocabulary orders pieces differently and also holds a code and a target piece.
    let vocab: Vec<String> = [
        "</s>",
        "<unk>",
        "\u{2581}a",
        "b",
        ">>pt<<",
        "xy",
        "\u{2581}",
        "c",
        "<pad>",
        ".",
        "\u{2581}.",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut w = GgufWriter::new();
    let spec = TokenizerSpec {
        source: &spm,
        decode: &spm,
        vocab: Some(&vocab),
        eos: 0,
        unk: 1,
        pad: Some(8),
        hf_marian: true,
        clean_up_spaces: true,
    };
    write_tokenizer(&mut w, &spec).unwrap();
    let bytes = Aligned::from(w.to_bytes());
    let g = Gguf::parse(&bytes).unwrap();
    let t = Tokenizer::from_gguf(&g).unwrap();
    // ">>pt<<" is one token; "▁ab" is not in the vocabulary: <unk>; the unknown run "xy" is.
    assert_eq!(encode(&t, ">>pt<< ab xy"), [4, 1, 6, 5, 0]);
    // Specials are skipped, the text is stripped, " ." cleaned up.
    assert_eq!(decode(&t, &[8, 2, 3, 10, 1, 0]), "ab.");
}

#[test]
fn byte_pieces_decode_as_utf8_or_replacement() {
    let mut spm = toy();
    for b in [0xC3u8, 0xA9, 0x41] {
        spm.pieces.push(Piece {
            text: alloc::format!("<0x{b:02X}>"),
            score: 0.0,
            kind: kind::BYTE,
        });
    }
    let bytes = file(&spm, None, false);
    let g = Gguf::parse(&bytes).unwrap();
    let t = Tokenizer::from_gguf(&g).unwrap();
    let (c3, a9, x41) = (11, 12, 13);
    assert_eq!(decode(&t, &[c3, a9, x41]), "\u{e9}A");
    assert_eq!(decode(&t, &[a9, c3, x41]), "\u{fffd}\u{fffd}A");
}

#[test]
fn corrupt_tables_are_typed_errors() {
    let good = file(&toy(), None, false);
    let g = Gguf::parse(&good).unwrap();
    let sorted = g.tensor("tokenizer.src.sorted").unwrap();
    let offsets = g.tensor("tokenizer.src.offsets").unwrap();
    let base = good.as_ptr() as usize;
    for (at, what) in [
        (sorted.data.as_ptr() as usize - base, "sorted"),
        (offsets.data.as_ptr() as usize - base + 8, "offsets"),
    ] {
        let mut bad = good.clone();
        bad[at] ^= 0x05;
        let g = Gguf::parse(&bad).unwrap();
        assert!(
            matches!(Tokenizer::from_gguf(&g), Err(Error::BadTokenizer(_))),
            "{what}"
        );
    }
    // Every single-byte flip anywhere either loads or fails with an error, never panics.
    // Under Miri every 131st byte (a prime stride: every 37th took 41 s of CI); natively every
    // byte.
    for i in (0..good.len()).step_by(if cfg!(miri) { 131 } else { 1 }) {
        let mut bad = good.clone();
        bad[i] ^= 0x41;
        if let Ok(g) = Gguf::parse(&bad) {
            if let Ok(t) = Tokenizer::from_gguf(&g) {
                let mut scratch = vec![0u8; t.encode_scratch_bytes(16)];
                let mut ids = [0u32; 8];
                let _ = t.encode("ab cab <sep>", &mut scratch, &mut ids);
                let mut out = [0u8; 64];
                let _ = t.decode(&[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10], &mut out);
            }
        }
    }
}

#[test]
fn python_whitespace_and_clean_up() {
    let mut b = *b"\xe3\x80\x80 a . b \x1f";
    let len = b.len();
    let n = strip_py(&mut b, len).unwrap();
    assert_eq!(&b[..n], b"a . b");
    let mut c = *b"it 's a test . ok ' s";
    let len = c.len();
    let n = clean_up(&mut c, len);
    assert_eq!(&c[..n], b"it's a test. ok's");
}

/// A byte-level BPE over the 256 byte pieces, `<s> </s> <unk>`, and the merges `t h`, `th e`,
/// `Ġ th`, with `<mask>` matched in the text taking the space before it.
fn byte_level_file() -> Aligned {
    use super::build::{write_byte_level, ByteLevelSpec};
    let mut vocab: Vec<String> = (0..=255u8).map(|b| byte_char(b).to_string()).collect();
    for p in ["th", "the", "Ġth", "<s>", "</s>", "<unk>", "<mask>"] {
        vocab.push(p.to_string());
    }
    let merges: Vec<(String, String)> = [("t", "h"), ("th", "e"), ("Ġ", "th")]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    let mut w = crate::gguf::write::GgufWriter::new();
    write_byte_level(
        &mut w,
        &ByteLevelSpec {
            vocab: &vocab,
            merges: &merges,
            bos: Some(259),
            eos: 260,
            unk: 261,
            pad: None,
            skip: &[262],
            padding: &[],
            added: &[(259, 0), (260, 0), (262, LSTRIP)],
            clean_up_spaces: false,
        },
    )
    .unwrap();
    w.to_bytes().into()
}

#[test]
fn byte_level_encodes_merges_added_tokens_and_bytes() {
    let file = byte_level_file();
    let g = Gguf::parse(&file).unwrap();
    let tok = Tokenizer::from_gguf(&g).unwrap();
    let encode = |text: &str| {
        let mut scratch = vec![0u8; tok.encode_scratch_bytes(text.len())];
        let mut ids = vec![0u32; tok.max_tokens(text.len())];
        let n = tok.encode(text, &mut scratch, &mut ids).unwrap();
        ids.truncate(n);
        ids
    };
    // <s>, "the" (t h, then th e), <mask> with both spaces before it, "th" + é's two bytes, </s>.
    let ids = encode("the  <mask>thé");
    assert_eq!(ids, [259, 257, 262, 256, 0xc3, 0xa9, 260]);
    let mut out = [0u8; 32];
    let len = tok.decode(&ids, &mut out).unwrap();
    assert_eq!(core::str::from_utf8(&out[..len]).unwrap(), "thethé");
    // The space joins the next word: Ġ th merges last (rank 2), after t h.
    assert_eq!(encode("the thé"), [259, 257, 258, 0xc3, 0xa9, 260]);
    // A byte split from its character: U+FFFD, and nothing after the end is lost.
    let len = tok.decode(&[0xc3, 104], &mut out).unwrap();
    assert_eq!(core::str::from_utf8(&out[..len]).unwrap(), "\u{fffd}h");
}

#[test]
fn damaged_byte_level_tables_are_typed_errors() {
    let file = byte_level_file();
    let g = Gguf::parse(&file).unwrap();
    let at = |name: &str| {
        let t = g.tensor(name).unwrap();
        t.data.as_ptr() as usize - file.as_ptr() as usize
    };
    let (merges, bytes, strip) = (
        at("tokenizer.bpe.merges"),
        at("tokenizer.bpe.byte_ids"),
        at("tokenizer.bpe.added_strip"),
    );
    let cases: [(usize, &[u8], &str); 5] = [
        // row 0's rank beyond the merges
        (merges + 12, &9u32.to_le_bytes(), "out of range"),
        // row 0's left id beyond the vocabulary
        (merges, &9999u32.to_le_bytes(), "out of range"),
        // row 1's (left, right) before row 0's
        (merges + 16, &0u32.to_le_bytes(), "not sorted"),
        (bytes + 4 * 7, &(-1i32).to_le_bytes(), "byte_ids"),
        (strip + 2, &[7], "added tables"),
    ];
    for (offset, bytes, want) in cases {
        let mut bad = file.clone();
        bad[offset..offset + bytes.len()].copy_from_slice(bytes);
        let g = Gguf::parse(&bad).unwrap();
        match Tokenizer::from_gguf(&g) {
            Err(Error::BadTokenizer(m)) => assert!(m.contains(want), "{m}"),
            Err(e) => panic!("{want}: {e:?}"),
            Ok(_) => panic!("{want}: loaded"),
        }
    }
}
