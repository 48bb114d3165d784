//! Unigram segmentation: the best-scoring split of normalized text into pieces, computed as
//! sentencepiece's `EncodeOptimized` does (one best path per byte position; a character no
//! piece covers becomes `<unk>` scored `min_score - 10`; ties keep the earlier candidate).

use super::normalizer::char_len;
use super::table::{F32s, Sorted};

/// sentencepiece piece types (`ModelProto.SentencePiece.Type`).
pub mod kind {
    pub const NORMAL: i8 = 1;
    pub const UNKNOWN: i8 = 2;
    pub const CONTROL: i8 = 3;
    pub const USER_DEFINED: i8 = 4;
    pub const UNUSED: i8 = 5;
    pub const BYTE: i8 = 6;
}

const UNK_PENALTY: f32 = 10.0;

/// The scored pieces of one SentencePiece model.
#[derive(Clone, Copy)]
pub(crate) struct Unigram<'a> {
    /// Pieces that can match text (normal, user-defined, unused), sorted by bytes.
    pub sorted: Sorted<'a>,
    pub scores: F32s<'a>,
    pub kinds: &'a [u8],
    pub unk: usize,
    pub min_score: f32,
    pub max_score: f32,
}

/// Per-position best paths, carved from the caller's scratch (`len + 1` entries each).
pub(crate) struct Lattice<'s> {
    pub score: &'s mut [f32],
    pub id: &'s mut [u32],
    pub start: &'s mut [u32],
}

const NONE: u32 = u32::MAX;

impl<'a> Unigram<'a> {
    /// sentencepiece's min/max over normal pieces (max starts at `FLT_MIN`, as there).
    pub fn score_range(scores: F32s<'_>, kinds: &[u8]) -> (f32, f32) {
        let (mut lo, mut hi) = (f32::MAX, f32::MIN_POSITIVE);
        for (i, &k) in kinds.iter().enumerate() {
            if k as i8 == kind::NORMAL {
                lo = lo.min(scores.get(i));
                hi = hi.max(scores.get(i));
            }
        }
        (lo, hi)
    }

    /// Fills `lat` with the best path ending at each byte of `text` and returns the number of
    /// pieces on the best path. Then [`Lattice::path`] reads them back to front.
    pub fn segment(&self, text: &[u8], lat: &mut Lattice<'_>) -> usize {
        let n = text.len();
        for e in 0..=n {
            lat.score[e] = 0.0;
            lat.id[e] = NONE;
            lat.start[e] = NONE;
        }
        let unk_score = self.min_score - UNK_PENALTY;
        let mut s = 0;
        while s < n {
            let here = lat.score[s];
            let mblen = char_len(&text[s..]);
            let mut single = false;
            let mut range = (0, self.sorted.len());
            for (depth, &c) in text[s..].iter().enumerate() {
                range = self.sorted.narrow(range, depth, c);
                if range.0 >= range.1 {
                    break;
                }
                let (id, piece) = self.sorted.at(range.0);
                if piece.len() != depth + 1 {
                    continue;
                }
                let k = self.kinds.get(id).map_or(kind::UNUSED, |&k| k as i8);
                if k == kind::UNUSED {
                    continue;
                }
                let len = depth + 1;
                let cand = if k == kind::USER_DEFINED {
                    // As sentencepiece: `length * max_score - 0.1` in double, added to a float.
                    (len as f32 * self.max_score) as f64 - 0.1 + here as f64
                } else {
                    (self.scores.get(id) + here) as f64
                };
                let e = s + len;
                if lat.start[e] == NONE || cand > lat.score[e] as f64 {
                    lat.score[e] = cand as f32;
                    lat.start[e] = s as u32;
                    lat.id[e] = id as u32;
                }
                if len == mblen {
                    single = true;
                }
            }
            if !single {
                let e = s + mblen;
                let cand = unk_score + here;
                if lat.start[e] == NONE || cand > lat.score[e] {
                    lat.score[e] = cand;
                    lat.start[e] = s as u32;
                    lat.id[e] = self.unk as u32;
                }
            }
            s += mblen;
        }
        let mut count = 0;
        let mut e = n;
        while e > 0 && lat.start[e] != NONE {
            e = lat.start[e] as usize;
            count += 1;
        }
        count
    }
}

impl Lattice<'_> {
    /// The best path's pieces as `(start, end, id)`, front to back, reusing `score`'s storage
    /// to hold the path's boundaries.
    pub fn path(
        &mut self,
        n: usize,
        count: usize,
    ) -> impl Iterator<Item = (usize, usize, usize)> + '_ {
        // Write boundaries (as bits of f32 slots) back to front: ends[count - 1] = n, ...
        let mut e = n;
        let mut i = count;
        while i > 0 && e > 0 {
            i -= 1;
            self.score[i] = f32::from_bits(e as u32);
            e = self.start[e] as usize;
        }
        let (score, start, id) = (&*self.score, &*self.start, &*self.id);
        (0..count).map(move |i| {
            let end = score[i].to_bits() as usize;
            (start[end] as usize, end, id[end] as usize)
        })
    }
}
