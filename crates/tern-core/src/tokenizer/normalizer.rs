//! SentencePiece's normalizer: the precompiled character map (a Darts-clone double-array trie
//! of input prefixes plus a blob of NUL-terminated replacements), whitespace handling and the
//! `▁` escape, exactly as `sentencepiece::normalizer::Normalizer::Normalize` does it.
//!
//! Blob layout (from the `.spm` file, unchanged): `u32` LE trie size in bytes, the trie units
//! (`u32` LE each), then the replacement strings.

use super::table::{I32s, Strings};
use crate::error::{Error, Result};

/// `▁` (U+2581), which stands for a space in pieces.
pub const SPACE: &[u8] = "\u{2581}".as_bytes();
const REPLACEMENT: &[u8] = "\u{FFFD}".as_bytes();
/// sentencepiece keeps at most this many trie matches per position.
const MAX_TRIE_RESULTS: usize = 32;

/// Normalization settings and data of one SentencePiece model.
#[derive(Clone, Copy)]
pub(crate) struct Normalizer<'a> {
    trie: &'a [u8],
    strings: &'a [u8],
    pub add_dummy_prefix: bool,
    pub remove_extra_whitespaces: bool,
    pub escape_whitespaces: bool,
    /// User-defined pieces pass through unnormalized (sentencepiece's prefix matcher).
    pub user_defined: I32s<'a>,
    pub pieces: Option<Strings<'a>>,
}

impl<'a> Normalizer<'a> {
    /// Splits a precompiled charsmap blob (empty: no character mapping).
    pub fn new(charsmap: &'a [u8]) -> Result<Self> {
        let (trie, strings) = if charsmap.is_empty() {
            (&[][..], &[][..])
        } else {
            let bad = Error::BadTokenizer("precompiled charsmap is malformed");
            let size = charsmap.get(..4).ok_or(bad)?;
            let size = u32::from_le_bytes([size[0], size[1], size[2], size[3]]) as usize;
            let rest = &charsmap[4..];
            if size >= rest.len() || !size.is_multiple_of(4) {
                return Err(bad);
            }
            rest.split_at(size)
        };
        Ok(Normalizer {
            trie,
            strings,
            add_dummy_prefix: true,
            remove_extra_whitespaces: true,
            escape_whitespaces: true,
            user_defined: I32s::empty(),
            pieces: None,
        })
    }

    fn unit(&self, i: usize) -> Option<u32> {
        let b = self.trie.get(i.checked_mul(4)?..i.checked_mul(4)? + 4)?;
        Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// The longest charsmap rule matching a prefix of `input`: (prefix length, replacement).
    fn longest_rule(&self, input: &[u8]) -> Result<Option<(usize, &'a [u8])>> {
        let Some(root) = self.unit(0) else {
            return Ok(None);
        };
        let mut pos = offset(root) as usize;
        let mut best = None;
        let mut found = 0;
        for (i, &c) in input.iter().enumerate() {
            pos ^= c as usize;
            let Some(u) = self.unit(pos) else { break };
            if label(u) != c as u32 {
                break;
            }
            pos ^= offset(u) as usize;
            if has_leaf(u) {
                if found < MAX_TRIE_RESULTS {
                    let v = self
                        .unit(pos)
                        .map(value)
                        .ok_or(Error::BadTokenizer("charsmap trie leaf out of range"))?;
                    best = Some((i + 1, v as usize));
                }
                found += 1;
            }
        }
        let Some((len, at)) = best else {
            return Ok(None);
        };
        let s = self
            .strings
            .get(at..)
            .ok_or(Error::BadTokenizer("charsmap replacement out of range"))?;
        let end = s
            .iter()
            .position(|&b| b == 0)
            .ok_or(Error::BadTokenizer("charsmap replacement not terminated"))?;
        Ok(Some((len, &s[..end])))
    }

    /// Length of the longest user-defined piece `input` starts with (0: none). sentencepiece's
    /// `PrefixMatcher`, used by the normalizer and by BPE's initial split.
    pub fn user_defined_len(&self, input: &[u8]) -> usize {
        let Some(pieces) = self.pieces else { return 0 };
        let mut longest = 0;
        for i in 0..self.user_defined.len() {
            let p = pieces.bytes(self.user_defined.get(i).unwrap_or(0) as usize);
            if !p.is_empty() && p.len() > longest && input.starts_with(p) {
                longest = p.len();
            }
        }
        longest
    }

    /// sentencepiece's `NormalizePrefix`: (replacement, input bytes consumed).
    fn prefix<'i>(&self, input: &'i [u8]) -> Result<(&'i [u8], usize)>
    where
        'a: 'i,
    {
        let longest = self.user_defined_len(input);
        if longest > 0 {
            return Ok((&input[..longest], longest));
        }
        if let Some((len, rep)) = self.longest_rule(input)? {
            return Ok((rep, len));
        }
        let n = char_len(input);
        match input.get(..n).map(core::str::from_utf8) {
            Some(Ok(_)) => Ok((&input[..n], n)),
            _ => Ok((REPLACEMENT, 1)),
        }
    }

    /// Normalizes `input` into `out`, returning the bytes written. Errors with
    /// [`Error::OutputTooSmall`] when `out` cannot hold the result.
    pub fn normalize(&self, input: &[u8], out: &mut [u8]) -> Result<usize> {
        let mut input = input;
        if self.remove_extra_whitespaces {
            while !input.is_empty() {
                let (rep, n) = self.prefix(input)?;
                if rep != b" " {
                    break;
                }
                input = &input[n..];
            }
        }
        let mut w = Out { buf: out, len: 0 };
        if input.is_empty() {
            return Ok(0);
        }
        let space: &[u8] = if self.escape_whitespaces { SPACE } else { b" " };
        if self.add_dummy_prefix {
            w.push(space)?;
        }
        let mut prev_space = self.remove_extra_whitespaces;
        while !input.is_empty() {
            let (mut sp, n) = self.prefix(input)?;
            while prev_space && sp.first() == Some(&b' ') {
                sp = &sp[1..];
            }
            if !sp.is_empty() {
                for &b in sp {
                    if b == b' ' {
                        w.push(space)?;
                    } else {
                        w.push(&[b])?;
                    }
                }
                prev_space = sp.last() == Some(&b' ');
            }
            input = &input[n..];
            if !self.remove_extra_whitespaces {
                prev_space = false;
            }
        }
        if self.remove_extra_whitespaces {
            while w.buf[..w.len].ends_with(space) {
                w.len -= space.len();
            }
        }
        Ok(w.len)
    }
}

/// A byte buffer filled front to back, erroring instead of overflowing.
pub(crate) struct Out<'o> {
    pub buf: &'o mut [u8],
    pub len: usize,
}

impl Out<'_> {
    pub fn push(&mut self, b: &[u8]) -> Result<()> {
        let end = self.len + b.len();
        let dst = self
            .buf
            .get_mut(self.len..end)
            .ok_or(Error::OutputTooSmall { needed: end })?;
        dst.copy_from_slice(b);
        self.len = end;
        Ok(())
    }
}

/// Length of the UTF-8 sequence starting at `s[0]` by its lead byte (sentencepiece's
/// `OneCharLen`), at most `s.len()`.
pub(crate) fn char_len(s: &[u8]) -> usize {
    const LEN: [u8; 16] = [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4];
    s.first()
        .map_or(0, |&b| (LEN[(b >> 4) as usize] as usize).min(s.len()))
}

// Darts-clone double-array unit fields.
fn has_leaf(u: u32) -> bool {
    (u >> 8) & 1 == 1
}
fn value(u: u32) -> u32 {
    u & ((1 << 31) - 1)
}
fn label(u: u32) -> u32 {
    u & ((1 << 31) | 0xFF)
}
fn offset(u: u32) -> u32 {
    (u >> 10) << ((u & (1 << 9)) >> 6)
}

/// Every (key length, replacement) rule of a charsmap trie, for the converter's expansion bound.
#[cfg(feature = "alloc")]
pub(crate) fn rules(n: &Normalizer<'_>) -> Result<alloc::vec::Vec<(usize, alloc::vec::Vec<u8>)>> {
    use alloc::vec::Vec;
    let mut out = Vec::new();
    let Some(root) = n.unit(0) else {
        return Ok(out);
    };
    // (node base, depth, key so far)
    let mut stack: Vec<(usize, Vec<u8>)> = alloc::vec![(offset(root) as usize, Vec::new())];
    let mut visited = 0usize;
    while let Some((base, key)) = stack.pop() {
        visited += 1;
        // Darts-clone shares suffix subtrees, so nodes repeat; the cap only stops hostile tries.
        if key.len() > 64 || visited > 1 << 24 {
            return Err(Error::BadTokenizer("charsmap trie is cyclic or too deep"));
        }
        for c in 1..=255u8 {
            let pos = base ^ c as usize;
            let Some(u) = n.unit(pos) else { continue };
            if label(u) != c as u32 {
                continue;
            }
            let mut k = key.clone();
            k.push(c);
            let child = pos ^ offset(u) as usize;
            if has_leaf(u) {
                if let Some((len, rep)) = n.longest_rule(&k)? {
                    if len == k.len() {
                        out.push((len, rep.to_vec()));
                    }
                }
            }
            stack.push((child, k));
        }
    }
    Ok(out)
}
