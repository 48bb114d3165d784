//! Marian's binary lexical shortlist (`lex.*.s2t.bin`, written by `marian-conv --shortlist`):
//!
//! ```text
//! u64 magic, u64 checksum, u64 first, u64 best, u64 offsets count (source vocab + 1),
//! u64 words count; u64 offsets[]; u32 words[]
//! ```
//!
//! Source word `w`'s candidate translations are `words[offsets[w]..offsets[w + 1]]`. Written into
//! the GGUF file as i32 tensors `shortlist.offsets` / `shortlist.words` (read by
//! `tern_core::shortlist`).

use anyhow::{bail, ensure, Result};
use tern_core::gguf::write::{GgufWriter, MetaValue};
use tern_core::gguf::TensorType;

/// `BINARY_SHORTLIST_MAGIC` in Marian's `data/shortlist.h`.
pub const MAGIC: u64 = 0xF11A48D5013417F5;

/// A parsed shortlist.
pub struct Lex {
    pub first: u64,
    pub best: u64,
    pub offsets: Vec<u64>,
    pub words: Vec<u32>,
}

fn u64_at(b: &[u8], i: usize) -> u64 {
    u64::from_le_bytes(b[i * 8..i * 8 + 8].try_into().expect("8 bytes"))
}

pub fn parse(bytes: &[u8]) -> Result<Lex> {
    ensure!(
        bytes.len() >= 48,
        "{} bytes is shorter than the 48-byte header",
        bytes.len()
    );
    ensure!(
        u64_at(bytes, 0) == MAGIC,
        "bad magic {:#x} (expected {MAGIC:#x}); text shortlists are not read",
        u64_at(bytes, 0)
    );
    let (first, best, n_off, n_words) = (
        u64_at(bytes, 2),
        u64_at(bytes, 3),
        u64_at(bytes, 4),
        u64_at(bytes, 5),
    );
    let need = n_off
        .checked_mul(8)
        .and_then(|a| n_words.checked_mul(4).and_then(|b| a.checked_add(b)))
        .and_then(|n| n.checked_add(48));
    ensure!(
        need == Some(bytes.len() as u64),
        "header counts ({n_off} offsets, {n_words} words) do not match the file size {}",
        bytes.len()
    );
    let body = &bytes[48..];
    let offsets: Vec<u64> = (0..n_off as usize).map(|i| u64_at(body, i)).collect();
    let words: Vec<u32> = body[n_off as usize * 8..]
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    let expected = checksum(&bytes[16..]);
    let stored = u64_at(bytes, 1);
    ensure!(
        stored == expected,
        "checksum {stored:#x} does not match the contents ({expected:#x}): the file is corrupt"
    );
    Ok(Lex {
        first,
        best,
        offsets,
        words,
    })
}

/// Marian's `util::hashMem` over the bytes after the checksum field (u64 words, boost-style
/// `hash_combine`).
pub fn checksum(bytes: &[u8]) -> u64 {
    let mut seed = 0u64;
    for c in bytes.chunks_exact(8) {
        let v = u64::from_le_bytes(c.try_into().expect("8 bytes"));
        seed ^= v
            .wrapping_add(0x9e37_79b9)
            .wrapping_add(seed << 6)
            .wrapping_add(seed >> 2);
    }
    seed
}

/// Checks the shortlist against the vocabularies and writes it.
/// `shared`: source and target use one vocabulary (Marian then also lists each source word).
pub fn write(
    w: &mut GgufWriter,
    bytes: &[u8],
    src_vocab: usize,
    tgt_vocab: usize,
    shared: bool,
) -> Result<()> {
    let lex = parse(bytes)?;
    ensure!(
        lex.offsets.len() == src_vocab + 1,
        "{} offsets for a source vocabulary of {src_vocab}",
        lex.offsets.len()
    );
    ensure!(
        lex.first as usize <= tgt_vocab,
        "first {} exceeds the target vocabulary",
        lex.first
    );
    ensure!(lex.words.len() <= i32::MAX as usize, "too many words");
    let mut prev = 0;
    for (i, &o) in lex.offsets.iter().enumerate() {
        if o < prev || o > lex.words.len() as u64 {
            bail!(
                "offset {i} ({o}) is out of order or beyond the {} words",
                lex.words.len()
            );
        }
        prev = o;
    }
    ensure!(
        prev == lex.words.len() as u64,
        "the last offset does not end the words"
    );
    if let Some(v) = lex.words.iter().find(|&&v| v as usize >= tgt_vocab) {
        bail!("word id {v} is beyond the target vocabulary");
    }
    w.meta("shortlist.first", MetaValue::U32(lex.first as u32));
    w.meta("shortlist.best", MetaValue::U32(lex.best as u32));
    w.meta("shortlist.shared", MetaValue::Bool(shared));
    let off: Vec<u8> = lex
        .offsets
        .iter()
        .flat_map(|&o| (o as u32).to_le_bytes())
        .collect();
    let words: Vec<u8> = lex.words.iter().flat_map(|v| v.to_le_bytes()).collect();
    w.tensor_bytes(
        "shortlist.offsets",
        &[lex.offsets.len() as u64],
        TensorType::I32,
        &off,
    );
    w.tensor_bytes(
        "shortlist.words",
        &[lex.words.len() as u64],
        TensorType::I32,
        &words,
    );
    Ok(())
}
