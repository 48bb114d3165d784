//! Byte-level BPE (GPT-2, RoBERTa, BART: `vocab.json` + `merges.txt`), with the semantics of
//! Hugging Face tokenizers' `ByteLevel` pre-tokenizer, `BPE` model and `ByteLevel` decoder:
//!
//! - added tokens (`<s>`, `<mask>`...: `tokenizer.bpe.added`) typed in the text are matched
//!   first, leftmost and longest, taking the whitespace before (`lstrip`) or after (`rstrip`)
//!   them where the token says so, as the `tokenizers` library's added vocabulary does;
//! - the text between them splits into words by GPT-2's pattern
//!   `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`, matched here
//!   by hand ([`word_end`]): no regex engine in the core;
//! - each word starts as one symbol per UTF-8 byte (the vocabulary spells byte `b` as the
//!   printable character [`byte_char`]`(b)`), then the adjacent pair of lowest merge rank merges,
//!   leftmost first, until no pair is a merge;
//! - decoding maps each piece's characters back to bytes and reads the whole byte string as
//!   UTF-8, each invalid sequence becoming U+FFFD (Rust's `String::from_utf8_lossy`, which the
//!   decoder uses).
//!
//! Merges are stored as `(left id, right id, merged id, rank)` rows sorted by `(left, right)`:
//! a pair's merge is one binary search.

use super::table::{blob, I32s, Strings};
use crate::error::{Error, Result};
use crate::gguf::{Gguf, TensorType};
use crate::plan::{Carver, Sizer};
use unicode_general_category::{get_general_category, GeneralCategory as G};

/// The printable character that stands for byte `b` in byte-level vocabularies (GPT-2's
/// `bytes_to_unicode`): printable Latin-1 bytes stand for themselves, the other 68 bytes (controls,
/// space, DEL, NBSP, soft hyphen) for U+0100 onwards, in byte order.
pub const fn byte_char(b: u8) -> char {
    let code = match b {
        33..=126 | 161..=172 | 174..=255 => b as u32,
        0..=32 => 256 + b as u32,
        127..=160 => 256 + 33 + (b as u32 - 127),
        173 => 256 + 67,
    };
    match char::from_u32(code) {
        Some(c) => c,
        None => '\0',
    }
}

/// The byte a byte-level character stands for ([`byte_char`]'s inverse).
pub fn char_byte(c: char) -> Option<u8> {
    let c = c as u32;
    match c {
        33..=126 | 161..=172 | 174..=255 => Some(c as u8),
        256..=288 => Some((c - 256) as u8),
        289..=322 => Some((c - 289 + 127) as u8),
        323 => Some(173),
        _ => None,
    }
}

/// The merge table and the byte symbols of one byte-level BPE model.
#[derive(Clone, Copy)]
pub(crate) struct ByteLevel<'a> {
    /// `(left, right, merged, rank)` rows, strictly increasing in `(left, right)`.
    merges: I32s<'a>,
    /// The vocabulary id of each byte's character.
    byte_ids: I32s<'a>,
    /// Added tokens matched in the text before the words: their ids, and per token
    /// [`LSTRIP`] | [`RSTRIP`].
    added: I32s<'a>,
    added_strip: &'a [u8],
}

/// The added token takes the whitespace before it.
pub const LSTRIP: u8 = 1;
/// The added token takes the whitespace after it.
pub const RSTRIP: u8 = 2;

const ROW: usize = 4;

impl<'a> ByteLevel<'a> {
    /// Reads `tokenizer.bpe.merges`, `.byte_ids` and the optional `.added` / `.added_strip`,
    /// checking every id against the `n` vocabulary entries and every rank against the merges.
    pub fn load(g: &Gguf<'a>, n: usize) -> Result<Self> {
        let merges = I32s::load(g, "tokenizer.bpe.merges")?;
        let byte_ids = I32s::load(g, "tokenizer.bpe.byte_ids")?;
        if byte_ids.len() != 256 || (0..256).any(|b| byte_ids.index(b, n).is_none()) {
            return Err(Error::BadTokenizer(
                "tokenizer.bpe.byte_ids must give the 256 byte pieces' ids",
            ));
        }
        if merges.len() % ROW != 0 {
            return Err(Error::BadTokenizer(
                "tokenizer.bpe.merges is not (left, right, merged, rank) rows",
            ));
        }
        let rows = merges.len() / ROW;
        let mut prev: Option<(usize, usize)> = None;
        for r in 0..rows {
            let at = |k: usize| merges.index(r * ROW + k, n);
            let (Some(l), Some(rt), Some(_), Some(_)) =
                (at(0), at(1), at(2), merges.index(r * ROW + 3, rows))
            else {
                return Err(Error::BadTokenizer(
                    "tokenizer.bpe.merges holds an id or rank out of range",
                ));
            };
            if prev.is_some_and(|p| p >= (l, rt)) {
                return Err(Error::BadTokenizer(
                    "tokenizer.bpe.merges is not sorted by (left, right)",
                ));
            }
            prev = Some((l, rt));
        }
        let (added, added_strip) = match g.tensor("tokenizer.bpe.added") {
            Some(_) => (
                I32s::load(g, "tokenizer.bpe.added")?,
                blob(g, "tokenizer.bpe.added_strip", TensorType::I8)?,
            ),
            None => (I32s::empty(), &[][..]),
        };
        if added_strip.len() != added.len()
            || (0..added.len()).any(|i| added.index(i, n).is_none())
            || added_strip.iter().any(|&f| f > (LSTRIP | RSTRIP))
        {
            return Err(Error::BadTokenizer(
                "tokenizer.bpe.added tables are malformed",
            ));
        }
        Ok(ByteLevel {
            merges,
            byte_ids,
            added,
            added_strip,
        })
    }

    /// The merge of the pair `(left, right)`: `(rank, merged id)`.
    fn merge(&self, left: u32, right: u32) -> Option<(u32, u32)> {
        let key = (left as i32, right as i32);
        let row = |i: usize| {
            let g = |k| self.merges.get(i * ROW + k).unwrap_or(-1);
            ((g(0), g(1)), g(2), g(3))
        };
        let (mut lo, mut hi) = (0, self.merges.len() / ROW);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let (k, merged, rank) = row(mid);
            match k.cmp(&key) {
                core::cmp::Ordering::Less => lo = mid + 1,
                core::cmp::Ordering::Greater => hi = mid,
                core::cmp::Ordering::Equal => return Some((rank as u32, merged as u32)),
            }
        }
        None
    }

    /// Scratch bytes [`encode`](Self::encode) needs for texts of at most `max_text_bytes`.
    pub fn scratch(s: &mut Sizer, max_text_bytes: usize) {
        Work::size(s, max_text_bytes);
    }

    /// The longest added token (id, bytes, strip flags) starting at byte `at` of `text`.
    fn added_at(&self, vocab: &Strings<'_>, text: &str, at: usize) -> Option<(u32, usize, u8)> {
        let rest = &text.as_bytes()[at..];
        (0..self.added.len())
            .filter_map(|i| {
                let id = self.added.get(i)? as u32;
                let t = vocab.bytes(id as usize);
                (!t.is_empty() && rest.starts_with(t)).then(|| (id, t.len(), self.added_strip[i]))
            })
            .max_by_key(|&(id, len, _)| (len, core::cmp::Reverse(id)))
    }

    /// Segments `text`, calling `emit` with each piece's vocabulary id in order; `vocab` spells
    /// the added tokens.
    pub fn encode(
        &self,
        vocab: &Strings<'_>,
        text: &str,
        c: &mut Carver<'_>,
        mut emit: impl FnMut(u32),
    ) -> Result<()> {
        let mut work = Work::take(c, text.len())?;
        let (mut start, mut at) = (0, 0);
        while at < text.len() {
            let Some((id, len, strip)) = self.added_at(vocab, text, at) else {
                at += text[at..].chars().next().map_or(1, char::len_utf8);
                continue;
            };
            let mut before = at;
            if strip & LSTRIP != 0 {
                before = text[start..at].trim_end_matches(char::is_whitespace).len() + start;
            }
            self.words(&text[start..before], &mut work, &mut emit);
            emit(id);
            at += len;
            if strip & RSTRIP != 0 {
                at = text.len() - text[at..].trim_start_matches(char::is_whitespace).len();
            }
            start = at;
        }
        self.words(&text[start..], &mut work, &mut emit);
        Ok(())
    }

    /// GPT-2's words of `text`, each merged.
    fn words(&self, text: &str, work: &mut Work<'_>, emit: &mut impl FnMut(u32)) {
        let mut at = 0;
        while at < text.len() {
            let end = word_end(text, at);
            self.merge_word(&text.as_bytes()[at..end], work);
            let mut i = 0;
            while i != NONE {
                emit(work.syms[i as usize]);
                i = work.next[i as usize];
            }
            at = end;
        }
    }

    /// BPE on one word, left in `work` as a list from symbol 0. Pairs wait in a min-heap keyed
    /// by (rank, position); a popped pair whose symbols changed since is stale and skipped (its
    /// current pair was pushed when it formed), so pairs merge in the order of repeatedly taking
    /// the lowest rank, leftmost first: `O(n log n)` for `n` bytes.
    fn merge_word(&self, word: &[u8], w: &mut Work<'_>) {
        let n = word.len();
        w.heap_len = 0;
        for (i, &b) in word.iter().enumerate() {
            w.syms[i] = self.byte_ids.get(b as usize).unwrap_or(0) as u32;
            w.prev[i] = if i == 0 { NONE } else { i as u32 - 1 };
            w.next[i] = if i + 1 == n { NONE } else { i as u32 + 1 };
        }
        for i in 0..n.saturating_sub(1) {
            self.propose(w, i as u32);
        }
        while let Some(top) = w.pop() {
            let (rank, i) = ((top >> 32) as u32, top as u32);
            let j = w.next[i as usize];
            if w.syms[i as usize] == NONE || j == NONE {
                continue;
            }
            let Some((r, merged)) = self.merge(w.syms[i as usize], w.syms[j as usize]) else {
                continue;
            };
            if r != rank {
                continue;
            }
            w.syms[i as usize] = merged;
            w.syms[j as usize] = NONE;
            let after = w.next[j as usize];
            w.next[i as usize] = after;
            if after != NONE {
                w.prev[after as usize] = i;
            }
            if w.prev[i as usize] != NONE {
                self.propose(w, w.prev[i as usize]);
            }
            self.propose(w, i);
        }
    }

    /// Pushes the pair starting at symbol `i`, if it is a merge.
    fn propose(&self, w: &mut Work<'_>, i: u32) {
        let j = w.next[i as usize];
        if j == NONE {
            return;
        }
        if let Some((rank, _)) = self.merge(w.syms[i as usize], w.syms[j as usize]) {
            w.push((u64::from(rank) << 32) | u64::from(i));
        }
    }
}

const NONE: u32 = u32::MAX;

/// Scratch of one word's merges, carved once per text: at most one symbol per byte, and at
/// most `3n` heap entries (`n - 1` first pairs, two per merge).
struct Work<'s> {
    syms: &'s mut [u32],
    prev: &'s mut [u32],
    next: &'s mut [u32],
    heap: &'s mut [u64],
    heap_len: usize,
}

impl<'s> Work<'s> {
    fn size(s: &mut Sizer, cap: usize) {
        s.add::<u32>(cap)
            .add::<u32>(cap)
            .add::<u32>(cap)
            .add::<u64>(cap.saturating_mul(3));
    }

    fn take(c: &mut Carver<'s>, cap: usize) -> Result<Self> {
        Ok(Work {
            syms: c.take::<u32>(cap)?,
            prev: c.take::<u32>(cap)?,
            next: c.take::<u32>(cap)?,
            heap: c.take::<u64>(cap.saturating_mul(3))?,
            heap_len: 0,
        })
    }

    fn push(&mut self, key: u64) {
        let Some(slot) = self.heap.get_mut(self.heap_len) else {
            return; // cannot happen: 3n entries bound the pushes
        };
        *slot = key;
        let mut i = self.heap_len;
        self.heap_len += 1;
        while i > 0 && self.heap[(i - 1) / 2] > self.heap[i] {
            self.heap.swap(i, (i - 1) / 2);
            i = (i - 1) / 2;
        }
    }

    fn pop(&mut self) -> Option<u64> {
        if self.heap_len == 0 {
            return None;
        }
        let top = self.heap[0];
        self.heap_len -= 1;
        self.heap[0] = self.heap[self.heap_len];
        let mut i = 0;
        loop {
            let (l, r) = (2 * i + 1, 2 * i + 2);
            let mut m = i;
            if l < self.heap_len && self.heap[l] < self.heap[m] {
                m = l;
            }
            if r < self.heap_len && self.heap[r] < self.heap[m] {
                m = r;
            }
            if m == i {
                return Some(top);
            }
            self.heap.swap(i, m);
            i = m;
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    Space,
    Letter,
    Number,
    Other,
}

/// `\s`, `\p{L}`, `\p{N}` or none of them, as the pattern's classes read them (Oniguruma's `\s`
/// is Unicode's White_Space, which `char::is_whitespace` is).
fn class(c: char) -> Class {
    if c.is_whitespace() {
        return Class::Space;
    }
    match get_general_category(c) {
        G::UppercaseLetter
        | G::LowercaseLetter
        | G::TitlecaseLetter
        | G::ModifierLetter
        | G::OtherLetter => Class::Letter,
        G::DecimalNumber | G::LetterNumber | G::OtherNumber => Class::Number,
        _ => Class::Other,
    }
}

/// Where the word starting at byte `at` of `text` ends: the end of GPT-2's pattern's match
/// there (its alternatives tried in order, as a backtracking engine does).
pub(crate) fn word_end(text: &str, at: usize) -> usize {
    let rest = &text[at..];
    let mut chars = rest.char_indices();
    let Some((_, c)) = chars.next() else {
        return at;
    };
    // 's 't 're 've 'm 'll 'd (case-sensitive)
    if c == '\'' {
        for suffix in ["s", "t", "re", "ve", "m", "ll", "d"] {
            if rest[1..].starts_with(suffix) {
                return at + 1 + suffix.len();
            }
        }
    }
    // ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`: an optional space, then a run of one class.
    let start = match c {
        ' ' => 1,
        _ => 0,
    };
    if let Some(d) = rest[start..].chars().next() {
        let k = class(d);
        if k != Class::Space {
            let run = rest[start..]
                .char_indices()
                .find(|&(_, x)| class(x) != k)
                .map_or(rest.len(), |(i, _)| start + i);
            return at + run;
        }
    }
    // `\s+(?!\S)` then `\s+`: a run of whitespace, less its last character when a non-space
    // follows (that one starts the next word), unless the run is that one character.
    let mut last = 0;
    for (i, x) in rest.char_indices() {
        if !x.is_whitespace() {
            return at + if last > 0 { last } else { i };
        }
        last = i;
    }
    text.len()
}

/// Writes bytes as UTF-8 text, each invalid sequence as U+FFFD, as `String::from_utf8_lossy`
/// does to the whole byte string, but a byte at a time: an incomplete sequence waits in `held`.
pub(crate) struct Lossy {
    held: [u8; 4],
    n: usize,
}

impl Lossy {
    pub fn new() -> Self {
        Lossy { held: [0; 4], n: 0 }
    }

    /// Adds one byte, writing what is complete through `out`.
    pub fn push(&mut self, b: u8, out: &mut impl FnMut(&[u8]) -> Result<()>) -> Result<()> {
        self.held[self.n] = b;
        self.n += 1;
        loop {
            match core::str::from_utf8(&self.held[..self.n]) {
                Ok(_) => {
                    out(&self.held[..self.n])?;
                    self.n = 0;
                    return Ok(());
                }
                Err(e) => {
                    let valid = e.valid_up_to();
                    out(&self.held[..valid])?;
                    let Some(bad) = e.error_len() else {
                        // Incomplete: keep it for the next byte.
                        self.held.copy_within(valid..self.n, 0);
                        self.n -= valid;
                        return Ok(());
                    };
                    out("\u{FFFD}".as_bytes())?;
                    self.held.copy_within(valid + bad..self.n, 0);
                    self.n -= valid + bad;
                    if self.n == 0 {
                        return Ok(());
                    }
                }
            }
        }
    }

    /// Ends the text: an incomplete sequence left over is one U+FFFD.
    pub fn finish(&mut self, out: &mut impl FnMut(&[u8]) -> Result<()>) -> Result<()> {
        if self.n > 0 {
            self.n = 0;
            out("\u{FFFD}".as_bytes())?;
        }
        Ok(())
    }
}

#[cfg(all(test, feature = "alloc"))]
mod tests {
    use super::*;
    use alloc::string::String;
    use alloc::vec::Vec;

    fn split(text: &str) -> Vec<&str> {
        let mut v = Vec::new();
        let mut at = 0;
        while at < text.len() {
            let end = word_end(text, at);
            assert!(end > at, "no progress at {at} in {text:?}");
            v.push(&text[at..end]);
            at = end;
        }
        v
    }

    #[test]
    fn bytes_and_characters_are_inverse() {
        let mut seen = Vec::new();
        for b in 0..=255u8 {
            let c = byte_char(b);
            assert!(!c.is_whitespace() && !c.is_control(), "{b}: {c:?}");
            assert_eq!(char_byte(c), Some(b));
            seen.push(c);
        }
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), 256);
        assert_eq!(byte_char(b' '), 'Ġ');
        assert_eq!(byte_char(b'\n'), 'Ċ');
        assert_eq!(char_byte('a'), Some(b'a'));
        assert_eq!(char_byte('\u{144}'), None);
    }

    #[test]
    fn words_follow_gpt2_pattern() {
        // Cases worked out from the pattern (the end-to-end test compares with HF on many more).
        assert_eq!(split("Hello world"), ["Hello", " world"]);
        assert_eq!(split("I'm don't 'S"), ["I", "'m", " don", "'t", " '", "S"]);
        assert_eq!(split("a  b"), ["a", " ", " b"]);
        assert_eq!(split("a   \n\tb "), ["a", "   \n", "\t", "b", " "]);
        assert_eq!(split("x 12,5!? ..."), ["x", " 12", ",", "5", "!?", " ..."]);
        assert_eq!(split("''s"), ["''", "s"]);
        assert_eq!(split("  "), ["  "]);
        assert_eq!(split("\u{3000}東京"), ["\u{3000}", "東京"]);
        assert_eq!(split("e\u{301}t"), ["e", "\u{301}", "t"]);
    }

    #[test]
    fn lossy_matches_from_utf8_lossy() {
        let cases: [&[u8]; 7] = [
            b"plain",
            "caf\u{e9} \u{1F600}".as_bytes(),
            b"\xe2\x82",
            b"\xe2\x82A",
            b"\xff\xfeA\xc3",
            b"\xf0\x9f\x98",
            b"\xed\xa0\x80x",
        ];
        for bytes in cases {
            let mut got = Vec::new();
            let mut l = Lossy::new();
            let mut out = |s: &[u8]| {
                got.extend_from_slice(s);
                Ok(())
            };
            for &b in bytes {
                l.push(b, &mut out).unwrap();
            }
            l.finish(&mut out).unwrap();
            assert_eq!(got, String::from_utf8_lossy(bytes).as_bytes(), "{bytes:?}");
        }
    }
}
