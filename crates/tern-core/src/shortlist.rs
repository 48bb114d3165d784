//! Lexical shortlist: per sentence, the only target words the output layer scores. Marian's
//! `lex.*.s2t` shortlists list, for every source word, its most likely translations; a sentence's
//! candidates are the `first` most frequent target words (ids `0..first`, the vocabulary being
//! frequency-sorted) plus the lists of its source words (plus the source words themselves when
//! the vocabulary is shared), padded to a multiple of 8 with the smallest unused ids from
//! `first` on, sorted by id: Marian's `LexicalShortlistGenerator::generate`. Scoring a few hundred rows
//! instead of the whole vocabulary is most of a small model's per-token time.
//!
//! Stored in the GGUF file as `shortlist.offsets` (i32, source vocab + 1 entries: word `w`'s
//! list is `words[offsets[w]..offsets[w + 1]]`) and `shortlist.words` (i32 target ids), with
//! `shortlist.first` and `shortlist.best` metadata (see `docs/gguf-format.md`).
// Bytes from a file or a user: no index may panic (clippy enforces it; tests may index).
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

use crate::error::{Error, Result};
use crate::gguf::{Gguf, TensorType};

/// A shortlist borrowed from the model file.
#[derive(Debug, Clone, Copy)]
pub struct Shortlist<'a> {
    /// Always-included ids `0..first`.
    pub first: usize,
    /// Longest per-word list.
    pub best: usize,
    /// Source and target share one vocabulary: each source word is also a candidate.
    pub shared: bool,
    offsets: &'a [u32],
    words: &'a [u32],
    vocab: usize,
}

impl<'a> Shortlist<'a> {
    /// The file's shortlist, if it has one, checked against the source and target vocabularies.
    pub fn from_gguf(g: &Gguf<'a>, src_vocab: usize, tgt_vocab: usize) -> Result<Option<Self>> {
        let Some(offsets) = g.tensor("shortlist.offsets") else {
            return Ok(None);
        };
        let bad = |what| Error::BadShortlist(what);
        let words = g
            .tensor("shortlist.words")
            .ok_or(bad("shortlist.words is missing"))?;
        if offsets.ty != TensorType::I32 || words.ty != TensorType::I32 {
            return Err(bad("offsets and words must be i32"));
        }
        let offsets: &[u32] =
            bytemuck::try_cast_slice(offsets.data).map_err(|_| bad("misaligned offsets"))?;
        let words: &[u32] =
            bytemuck::try_cast_slice(words.data).map_err(|_| bad("misaligned words"))?;
        if offsets.len() != src_vocab + 1 {
            return Err(bad("offsets must have one entry per source word, plus one"));
        }
        let first = g.u32("shortlist.first")? as usize;
        if first > tgt_vocab {
            return Err(Error::BadHyperparameter("shortlist.first"));
        }
        let mut best = 0;
        let mut prev = 0u32;
        for &o in offsets {
            if o < prev || o as usize > words.len() {
                return Err(bad("offsets must rise and stay within the words"));
            }
            best = best.max((o - prev) as usize);
            prev = o;
        }
        if prev as usize != words.len() {
            return Err(bad("the last offset must end the words"));
        }
        // Word ids are checked where they are read (`build`): scanning all of them here would
        // page the whole list into memory for a few hundred used per sentence.
        let shared = g.bool_or("shortlist.shared", false)?;
        if shared && src_vocab != tgt_vocab {
            return Err(bad("a shared shortlist needs one vocabulary"));
        }
        Ok(Some(Shortlist {
            first,
            best,
            shared,
            offsets,
            words,
            vocab: tgt_vocab,
        }))
    }

    /// Most candidates a sentence of `src_len` tokens can have.
    pub fn capacity(&self, src_len: usize) -> usize {
        let per_word = self.best + usize::from(self.shared);
        (self
            .first
            .saturating_add(per_word.saturating_mul(src_len))
            .saturating_add(7)
            / 8
            * 8)
        .min(self.vocab)
    }

    /// `u32` words of the scratch bitset [`build`](Self::build) needs.
    pub fn seen_words(&self) -> usize {
        self.vocab.div_ceil(32)
    }

    /// Writes the sorted candidate ids for the source words `src` into `out` and returns how
    /// many. `seen` is scratch of [`seen_words`](Self::seen_words); `out` must hold
    /// [`capacity`](Self::capacity).
    pub fn build(&self, src: &[u32], seen: &mut [u32], out: &mut [u32]) -> Result<usize> {
        let seen = seen
            .get_mut(..self.seen_words())
            .ok_or(Error::WorkspaceTooSmall {
                needed: self.seen_words() * 4,
                given: 0,
            })?;
        seen.fill(0);
        // Word ids are checked below the vocabulary, whose bits `seen` holds.
        #[allow(clippy::indexing_slicing)]
        let mut mark = |w: u32| seen[w as usize / 32] |= 1 << (w % 32);
        (0..self.first as u32).for_each(&mut mark);
        for &s in src {
            let i = s as usize;
            let (Some(&a), Some(&b)) = (self.offsets.get(i), self.offsets.get(i + 1)) else {
                return Err(Error::BadTokenizer(
                    "token id beyond the shortlist's source vocabulary",
                ));
            };
            let words = self
                .words
                .get(a as usize..b as usize)
                .ok_or(Error::BadShortlist(
                    "a source word's list lies outside the word table",
                ))?;
            for &w in words {
                if w as usize >= self.vocab {
                    return Err(Error::BadShortlist("a word beyond the target vocabulary"));
                }
                mark(w);
            }
            if self.shared {
                mark(s);
            }
        }
        // Marian pads the list to a multiple of 8 (for its int8 kernels) with the smallest
        // unused ids from `first` on; the padding words are scored like any other.
        let count: usize = seen.iter().map(|b| b.count_ones() as usize).sum();
        let mut pad = (8 - count % 8) % 8;
        let mut w = self.first;
        while pad > 0 && w < self.vocab {
            // `seen` holds a bit per vocabulary word (checked above).
            #[allow(clippy::indexing_slicing)]
            if seen[w / 32] & (1 << (w % 32)) == 0 {
                seen[w / 32] |= 1 << (w % 32);
                pad -= 1;
            }
            w += 1;
        }
        let mut n = 0;
        for (i, &bits) in seen.iter().enumerate() {
            let mut b = bits;
            while b != 0 {
                let t = b.trailing_zeros();
                let slot = out.get_mut(n).ok_or(Error::OutputTooSmall {
                    needed: (n + 1) * 4,
                })?;
                *slot = i as u32 * 32 + t;
                n += 1;
                b &= b - 1;
            }
        }
        Ok(n)
    }
}

#[cfg(all(test, feature = "alloc"))]
mod tests {
    extern crate alloc;
    use super::*;
    use crate::gguf::write::{GgufWriter, MetaValue};
    use alloc::vec;

    fn file(offsets: &[i32], words: &[i32], first: u32) -> alloc::vec::Vec<u64> {
        let mut w = GgufWriter::new();
        w.meta("shortlist.first", MetaValue::U32(first));
        let b = |v: &[i32]| {
            v.iter()
                .flat_map(|x| x.to_le_bytes())
                .collect::<alloc::vec::Vec<u8>>()
        };
        w.tensor_bytes(
            "shortlist.offsets",
            &[offsets.len() as u64],
            TensorType::I32,
            &b(offsets),
        );
        w.tensor_bytes(
            "shortlist.words",
            &[words.len() as u64],
            TensorType::I32,
            &b(words),
        );
        crate::decode::tests::aligned(&w.to_bytes())
    }

    #[test]
    fn union_of_frequent_words_and_source_lists_sorted() {
        let store = file(&[0, 0, 2, 5], &[40, 7, 7, 60, 3], 4);
        let g = Gguf::parse(crate::plan::as_bytes(&store)).unwrap();
        let s = Shortlist::from_gguf(&g, 3, 64).unwrap().unwrap();
        assert_eq!((s.first, s.best, s.capacity(2)), (4, 3, 16));
        let (mut seen, mut out) = (vec![0u32; s.seen_words()], vec![0u32; s.capacity(3)]);
        let n = s.build(&[2, 1, 0], &mut seen, &mut out).unwrap();
        assert_eq!(&out[..n], &[0, 1, 2, 3, 4, 7, 40, 60], "padded with 4");
        assert!(matches!(
            s.build(&[3], &mut seen, &mut out),
            Err(Error::BadTokenizer(_))
        ));
        // A word id beyond the vocabulary is an error where it is read.
        let store = file(&[0, 0, 2, 4], &[1, 2, 3, 64], 4);
        let g = Gguf::parse(crate::plan::as_bytes(&store)).unwrap();
        let bad = Shortlist::from_gguf(&g, 3, 64).unwrap().unwrap();
        assert!(bad.build(&[1], &mut seen, &mut out).is_ok());
        assert!(matches!(
            bad.build(&[2], &mut seen, &mut out),
            Err(Error::BadShortlist(_))
        ));
        for (offsets, words) in [
            (&[0, 2, 1, 4][..], &[1, 2, 3, 4][..]),
            (&[0, 1, 2, 3], &[1, 2, 3, 4]),
        ] {
            let store = file(offsets, words, 4);
            let g = Gguf::parse(crate::plan::as_bytes(&store)).unwrap();
            assert!(
                matches!(Shortlist::from_gguf(&g, 3, 64), Err(Error::BadShortlist(_))),
                "{offsets:?} {words:?}"
            );
        }
    }
}
