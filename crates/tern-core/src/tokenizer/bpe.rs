//! SentencePiece BPE segmentation, with the semantics of sentencepiece's `bpe::Model::Encode`:
//!
//! - the normalized text starts as one symbol per character, except that a user-defined piece
//!   (longest match) is one symbol that never merges ("frozen");
//! - repeatedly, of all adjacent symbol pairs whose concatenation is a matchable piece (normal,
//!   user-defined or unused), the one whose piece has the highest score merges; ties go to the
//!   leftmost pair;
//! - a final symbol that is an *unused* piece is split back into the two symbols whose merge was
//!   last proposed for that text (sentencepiece's `rev_merge` map: the last pair *pushed* on its
//!   agenda with that concatenation, whether or not it merged), recursively;
//! - a symbol that is no piece is `<unk>` (runs of them are merged, or spelled as byte pieces
//!   with byte fallback, by the caller: that part is sentencepiece's `PopulateSentencePieceText`).
//!
//! sentencepiece keeps stale entries in its priority queue and skips them when popped. Each
//! symbol has at most one live pair (with its right neighbour), and the queue order (score,
//! then position) is total, so an indexed heap that updates a symbol's pair in place pops the
//! same pairs in the same order, in `n` slots instead of `3n`. Cost: `O(n log n)` heap work plus
//! one binary search over the pieces per proposed pair (at most `3n` of them), for `n`
//! normalized characters. Resegmentation scans the log of proposed unused merges backwards,
//! which is only kept (and only costs scratch) when the model has unused pieces.

use super::normalizer::{char_len, Normalizer};
use super::unigram::{kind, Unigram};
use crate::error::{Error, Result};
use crate::plan::{Carver, Sizer};

const NONE: u32 = u32::MAX;
/// Set in `start` for a symbol that never merges (a user-defined piece).
const FROZEN: u32 = 1 << 31;

/// Scratch of one BPE segmentation, carved from the caller's buffer: `cap` symbols, at most
/// one per normalized byte.
pub(crate) struct Work<'s> {
    /// Byte offset of each symbol in the normalized text (| [`FROZEN`]).
    start: &'s mut [u32],
    prev: &'s mut [u32],
    next: &'s mut [u32],
    /// Score of the piece the symbol's pair with its right neighbour would make.
    score: &'s mut [f32],
    /// Position of the symbol's pair in `heap`, or [`NONE`].
    slot: &'s mut [u32],
    heap: &'s mut [u32],
    len: usize,
    /// `(start, split, end)` byte offsets of each proposed merge into an unused piece, in order.
    log: &'s mut [u32],
    logged: usize,
}

/// Pairs proposed in one segmentation: `n - 1` at first, then two per merge.
fn max_proposals(cap: usize) -> usize {
    cap.saturating_mul(3)
}

impl<'s> Work<'s> {
    /// Adds the scratch of [`take`](Self::take) to `s`.
    pub fn size(s: &mut Sizer, cap: usize, has_unused: bool) {
        s.add::<u32>(cap)
            .add::<u32>(cap)
            .add::<u32>(cap)
            .add::<f32>(cap)
            .add::<u32>(cap)
            .add::<u32>(cap);
        if has_unused {
            s.add::<u32>(3 * max_proposals(cap));
        }
    }

    pub fn take(c: &mut Carver<'s>, cap: usize, has_unused: bool) -> Result<Self> {
        Ok(Work {
            start: c.take::<u32>(cap)?,
            prev: c.take::<u32>(cap)?,
            next: c.take::<u32>(cap)?,
            score: c.take::<f32>(cap)?,
            slot: c.take::<u32>(cap)?,
            heap: c.take::<u32>(cap)?,
            len: 0,
            log: if has_unused {
                c.take::<u32>(3 * max_proposals(cap))?
            } else {
                &mut []
            },
            logged: 0,
        })
    }

    fn at(&self, i: u32) -> usize {
        (self.start[i as usize] & !FROZEN) as usize
    }
    fn frozen(&self, i: u32) -> bool {
        self.start[i as usize] & FROZEN != 0
    }
    /// End of live symbol `i`: where the next one starts.
    fn end(&self, i: u32, n: usize) -> usize {
        match self.next[i as usize] {
            NONE => n,
            j => self.at(j),
        }
    }

    /// Heap order: higher score first, then the leftmost pair.
    fn before(&self, a: u32, b: u32) -> bool {
        let (sa, sb) = (self.score[a as usize], self.score[b as usize]);
        sa > sb || (sa == sb && a < b)
    }
    fn place(&mut self, at: usize, sym: u32) {
        self.heap[at] = sym;
        self.slot[sym as usize] = at as u32;
    }
    fn sift_up(&mut self, mut at: usize) {
        let sym = self.heap[at];
        while at > 0 {
            let parent = (at - 1) / 2;
            let p = self.heap[parent];
            if !self.before(sym, p) {
                break;
            }
            self.place(at, p);
            at = parent;
        }
        self.place(at, sym);
    }
    fn sift_down(&mut self, mut at: usize) {
        let sym = self.heap[at];
        loop {
            let l = 2 * at + 1;
            if l >= self.len {
                break;
            }
            let r = l + 1;
            let c = if r < self.len && self.before(self.heap[r], self.heap[l]) {
                r
            } else {
                l
            };
            if !self.before(self.heap[c], sym) {
                break;
            }
            self.place(at, self.heap[c]);
            at = c;
        }
        self.place(at, sym);
    }
    /// Sets the pair starting at `sym` to `score`, inserting it if absent.
    fn set(&mut self, sym: u32, score: f32) {
        self.score[sym as usize] = score;
        let at = match self.slot[sym as usize] {
            NONE => {
                self.len += 1;
                self.place(self.len - 1, sym);
                self.len - 1
            }
            at => at as usize,
        };
        self.sift_up(at);
        self.sift_down(self.slot[sym as usize] as usize);
    }
    fn remove(&mut self, sym: u32) {
        let at = self.slot[sym as usize];
        if at == NONE {
            return;
        }
        self.slot[sym as usize] = NONE;
        self.len -= 1;
        let at = at as usize;
        if at == self.len {
            return;
        }
        let last = self.heap[self.len];
        self.place(at, last);
        self.sift_up(at);
        self.sift_down(self.slot[last as usize] as usize);
    }
    fn pop(&mut self) -> Option<u32> {
        let top = *self.heap.get(..self.len)?.first()?;
        self.remove(top);
        Some(top)
    }
}

/// The pieces of a BPE model (the same tables as a unigram model; scores are merge priorities).
pub(crate) struct Bpe<'a, 'p> {
    pub pieces: &'p Unigram<'a>,
}

impl Bpe<'_, '_> {
    /// The matchable piece whose text is exactly `text`.
    fn find(&self, text: &[u8]) -> Option<usize> {
        self.pieces.sorted.find(text)
    }
    fn kind(&self, id: usize) -> i8 {
        self.pieces.kinds.get(id).map_or(kind::UNUSED, |&k| k as i8)
    }

    /// sentencepiece's `MaybeAddNewSymbolPair` for the pair starting at live symbol `l` (none at
    /// the end): proposes it if its concatenation is a piece, else withdraws it.
    fn propose(&self, text: &[u8], w: &mut Work<'_>, l: u32) {
        if l == NONE {
            return;
        }
        let r = w.next[l as usize];
        let piece = if r == NONE || w.frozen(l) || w.frozen(r) {
            None
        } else {
            let (a, m, e) = (w.at(l), w.at(r), w.end(r, text.len()));
            text.get(a..e)
                .and_then(|t| self.find(t))
                .map(|id| (id, a, m, e))
        };
        match piece {
            Some((id, a, m, e)) => {
                w.set(l, self.pieces.scores.get(id));
                if self.kind(id) == kind::UNUSED && w.logged + 3 <= w.log.len() {
                    w.log[w.logged..w.logged + 3].copy_from_slice(&[a as u32, m as u32, e as u32]);
                    w.logged += 3;
                }
            }
            None => w.remove(l),
        }
    }

    /// Merges the normalized `text` into symbols; returns the first live symbol (or [`NONE`]).
    pub fn segment(&self, norm: &Normalizer<'_>, text: &[u8], w: &mut Work<'_>) -> Result<u32> {
        let n = text.len();
        let (mut pos, mut count) = (0usize, 0usize);
        while pos < n {
            let user = norm.user_defined_len(&text[pos..]);
            let len = if user > 0 {
                user
            } else {
                char_len(&text[pos..])
            };
            let i = count;
            let slot = w
                .start
                .get_mut(i)
                .ok_or(Error::BadTokenizer("BPE scratch smaller than the text"))?;
            *slot = pos as u32 | if user > 0 { FROZEN } else { 0 };
            w.prev[i] = if i == 0 { NONE } else { (i - 1) as u32 };
            w.next[i] = (i + 1) as u32;
            w.slot[i] = NONE;
            pos += len.max(1);
            count += 1;
        }
        if count == 0 {
            return Ok(NONE);
        }
        w.next[count - 1] = NONE;
        w.len = 0;
        w.logged = 0;
        for i in 1..count {
            self.propose(text, w, (i - 1) as u32);
        }
        while let Some(l) = w.pop() {
            let r = w.next[l as usize];
            if r == NONE {
                continue;
            }
            // `l` absorbs `r`; `r`'s own pair dies with it.
            w.remove(r);
            let after = w.next[r as usize];
            w.next[l as usize] = after;
            if after != NONE {
                w.prev[after as usize] = l;
            }
            self.propose(text, w, w.prev[l as usize]);
            self.propose(text, w, l);
        }
        Ok(0)
    }

    /// The last proposed merge into the unused piece `piece`: where it splits.
    fn rev_merge(&self, text: &[u8], w: &Work<'_>, piece: &[u8]) -> Option<usize> {
        w.log[..w.logged].chunks_exact(3).rev().find_map(|e| {
            let (a, m, z) = (e[0] as usize, e[1] as usize, e[2] as usize);
            (text.get(a..z) == Some(piece)).then(|| m - a)
        })
    }

    /// Calls `f(start, end, piece id)` for each final piece, front to back, after
    /// [`segment`](Self::segment) returned `first`; `unk` for symbols that are no piece.
    pub fn pieces(
        &self,
        text: &[u8],
        w: &Work<'_>,
        first: u32,
        mut f: impl FnMut(usize, usize, usize) -> Result<()>,
    ) -> Result<()> {
        let unk = self.pieces.unk;
        let mut sym = first;
        while sym != NONE {
            let (s, e) = (w.at(sym), w.end(sym, text.len()));
            // Resegmentation: descend from the whole symbol to the leaf that starts at `pos`.
            let mut pos = s;
            while pos < e {
                let (mut a, mut b) = (s, e);
                loop {
                    let piece = text.get(a..b).unwrap_or(&[]);
                    let id = self.find(piece).unwrap_or(unk);
                    let split = if self.kind(id) == kind::UNUSED && id != unk {
                        self.rev_merge(text, w, piece)
                            .filter(|&m| m > 0 && m < b - a)
                    } else {
                        None
                    };
                    match split {
                        Some(m) if pos < a + m => b = a + m,
                        Some(m) => a += m,
                        None => {
                            f(a, b, id)?;
                            pos = b;
                            break;
                        }
                    }
                }
            }
            sym = w.next[sym as usize];
        }
        Ok(())
    }
}

#[cfg(all(test, feature = "alloc"))]
mod tests {
    //! The merge rules on hand-built models: priorities, ties, frozen symbols, resegmentation of
    //! unused pieces and unknown characters. Real models are checked against the sentencepiece
    //! library in `tests/tokenizer.rs`.
    extern crate alloc;
    use super::super::build::{write_tokenizer, Piece, SpmModel, TokenizerSpec};
    use super::super::Tokenizer;
    use super::kind;
    use crate::gguf::write::GgufWriter;
    use crate::gguf::Gguf;
    use alloc::string::{String, ToString};
    use alloc::vec;
    use alloc::vec::Vec;

    fn bpe(pieces: &[(&str, f32, i8)]) -> SpmModel {
        let mut m = SpmModel::from_pieces(
            pieces
                .iter()
                .map(|&(t, s, k)| Piece {
                    text: t.to_string(),
                    score: s,
                    kind: k,
                })
                .collect(),
        );
        m.model_type = 2;
        m
    }

    fn file(m: &SpmModel) -> Vec<u64> {
        let mut w = GgufWriter::new();
        let spec = TokenizerSpec {
            source: m,
            decode: m,
            vocab: None,
            eos: 1,
            unk: 0,
            pad: None,
            hf_marian: false,
            clean_up_spaces: false,
        };
        write_tokenizer(&mut w, &spec).unwrap();
        let b = w.to_bytes();
        let mut v = vec![0u64; b.len().div_ceil(8)];
        crate::plan::as_bytes_mut(&mut v)[..b.len()].copy_from_slice(&b);
        v.push(b.len() as u64);
        v
    }

    /// Pieces (as text) and ids of `text`, without EOS.
    fn encode(m: &SpmModel, text: &str) -> Vec<String> {
        let f = file(m);
        let len = *f.last().unwrap() as usize;
        let bytes = &crate::plan::as_bytes(&f)[..len];
        let g = Gguf::parse(bytes).unwrap();
        let tok = Tokenizer::from_gguf(&g).unwrap();
        let mut scratch = vec![0u8; tok.encode_scratch_bytes(text.len())];
        let mut ids = vec![0u32; tok.max_tokens(text.len())];
        let n = tok.encode(text, &mut scratch, &mut ids).unwrap();
        assert_eq!(ids[n - 1], 1);
        ids[..n - 1]
            .iter()
            .map(|&i| tok.piece(i).unwrap().to_string())
            .collect()
    }

    const N: i8 = kind::NORMAL;

    fn base() -> Vec<(&'static str, f32, i8)> {
        vec![
            ("<unk>", 0.0, kind::UNKNOWN),
            ("</s>", 0.0, kind::CONTROL),
            ("\u{2581}", -1.0, N),
            ("a", -2.0, N),
            ("b", -3.0, N),
            ("c", -4.0, N),
        ]
    }

    #[test]
    fn highest_score_merges_first() {
        let mut p = base();
        p.extend([("ab", -6.0, N), ("bc", -5.0, N), ("\u{2581}a", -7.0, N)]);
        // "▁abc": bc (-5) beats ab (-6) and ▁a (-7); then ▁a.
        assert_eq!(encode(&bpe(&p), "abc"), ["\u{2581}a", "bc"]);
    }

    #[test]
    fn ties_go_to_the_leftmost_pair() {
        let mut p = base();
        p.extend([("aa", -5.0, N)]);
        // "▁aaa": both "aa" pairs score the same; the left one merges.
        assert_eq!(encode(&bpe(&p), "aaa"), ["\u{2581}", "aa", "a"]);
    }

    #[test]
    fn merged_symbols_merge_again() {
        let mut p = base();
        p.extend([
            ("ab", -5.0, N),
            ("abab", -6.0, N),
            ("\u{2581}abab", -7.0, N),
        ]);
        assert_eq!(encode(&bpe(&p), "abab"), ["\u{2581}abab"]);
    }

    #[test]
    fn unused_pieces_are_resegmented() {
        let mut p = base();
        p.extend([
            ("ab", -5.0, kind::UNUSED),
            ("abc", -6.0, N),
            ("\u{2581}ab", -8.0, N),
        ]);
        // "ab" still merges (it is on the path to "abc"), but a final "ab" splits back.
        assert_eq!(encode(&bpe(&p), "abc"), ["\u{2581}", "abc"]);
        assert_eq!(encode(&bpe(&p), "cab"), ["\u{2581}", "c", "a", "b"]);
    }

    #[test]
    fn resegmentation_uses_the_last_proposed_split() {
        let mut p = base();
        p.extend([
            ("bc", -5.0, N),
            ("ab", -5.5, N),
            ("abc", -9.0, kind::UNUSED),
        ]);
        // "▁abc": bc merges; then (a, bc) -> "abc" is proposed and merges. A final unused "abc"
        // splits as last proposed: a + bc.
        assert_eq!(encode(&bpe(&p), "abc"), ["\u{2581}", "a", "bc"]);
    }

    #[test]
    fn unknown_characters_form_one_unk_run() {
        let mut p = base();
        p.extend([("\u{2581}a", -5.0, N)]);
        assert_eq!(encode(&bpe(&p), "axyb"), ["\u{2581}a", "<unk>", "b"]);
        assert_eq!(
            encode(&bpe(&p), "xy zb"),
            ["\u{2581}", "<unk>", "\u{2581}", "<unk>", "b"]
        );
    }

    #[test]
    fn user_defined_symbols_never_merge() {
        let mut p = base();
        p.extend([
            ("<x>", 0.0, kind::USER_DEFINED),
            ("a<x>", -1.0, N),
            ("\u{2581}a", -5.0, N),
        ]);
        assert_eq!(encode(&bpe(&p), "a<x>b"), ["\u{2581}a", "<x>", "b"]);
    }

    #[test]
    fn empty_and_space_only_text() {
        assert!(encode(&bpe(&base()), "").is_empty());
        assert!(encode(&bpe(&base()), "   ").is_empty());
    }
}
