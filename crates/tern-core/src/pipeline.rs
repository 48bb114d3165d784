//! From a line of text to what the model translates, the same on every target (the firmware's
//! `Engine::translate` and the host's sessions and batches both go through here): the line's
//! sentences (models that ask for it translate each on its own, keeping the text between them,
//! as Bergamot does), each sentence's source ids (with the source-language token of multilingual
//! models), and what to do with a sentence longer than the plan: translate it in pieces (models
//! that split sentences, as Bergamot's `max-length-break`), cut it, or refuse it.
// Bytes from a file or a user: no index may panic (clippy enforces it; tests may index).
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

use crate::error::{Error, Result};
use crate::text::Sentences;
use core::ops::Range;

/// One part of a line: literal text kept as it is, or a sentence to translate (byte ranges of
/// the line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    Text(Range<usize>),
    Sentence(Range<usize>),
}

/// The parts of a line, in order: text, sentence, text, ..., text (the text parts may be empty).
pub struct Parts<'t> {
    len: usize,
    /// The line's sentences, when it is split; else the whole line, once.
    sentences: Option<Sentences<'t>>,
    whole: Option<Range<usize>>,
    /// The next sentence, once the text before it has been given.
    pending: Option<Range<usize>>,
    last: usize,
    done: bool,
}

impl<'t> Parts<'t> {
    /// `split`: one sentence at a time ([`crate::text::sentences`]); else the line is one sentence.
    pub fn new(line: &'t str, split: bool) -> Self {
        Parts {
            len: line.len(),
            sentences: split.then(|| crate::text::sentences(line)),
            whole: (!split).then_some(0..line.len()),
            pending: None,
            last: 0,
            done: false,
        }
    }
}

impl Iterator for Parts<'_> {
    type Item = Part;

    fn next(&mut self) -> Option<Part> {
        if let Some(s) = self.pending.take() {
            self.last = s.end;
            return Some(Part::Sentence(s));
        }
        if self.done {
            return None;
        }
        let next = match self.sentences.as_mut() {
            Some(s) => s.next(),
            None => self.whole.take(),
        };
        match next {
            Some(s) => {
                let text = self.last..s.start;
                self.pending = Some(s);
                Some(Part::Text(text))
            }
            None => {
                self.done = true;
                Some(Part::Text(self.last..self.len))
            }
        }
    }
}

/// What to do with a sentence longer than `limits.max_src` tokens in a model that does not
/// translate long sentences in pieces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OverLong {
    /// Translate its first `max_src - 1` tokens (and EOS).
    Cut,
    /// [`Error::InputTooLong`].
    Refuse,
}

/// How one sentence's ids (encoded into a caller's buffer) become the sources the model
/// translates: the whole, its beginning, or pieces of at most `max_src` tokens, each with the
/// language prefix and EOS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sources {
    /// Ids encoded: prefix, pieces, EOS.
    pub n: usize,
    /// Leading ids every source repeats (the source-language token).
    pub prefix: usize,
    /// Body tokens per source.
    pub chunk: usize,
    /// How many sources (0: blank text).
    pub count: usize,
    /// The sentence was cut.
    pub cut: bool,
    pub eos: u32,
}

impl Sources {
    /// The sources of a sentence whose `n` ids are encoded, for `max_src`-token sources.
    pub fn plan(
        n: usize,
        prefix: usize,
        eos: u32,
        max_src: usize,
        split: bool,
        over: OverLong,
    ) -> Result<Self> {
        let body = n.saturating_sub(prefix + 1);
        let whole = Sources {
            n,
            prefix,
            chunk: body,
            count: 1,
            cut: false,
            eos,
        };
        if n <= max_src {
            return Ok(whole);
        }
        let room = max_src.saturating_sub(prefix + 1);
        if room == 0 {
            return Err(Error::InputTooLong {
                tokens: n,
                max: max_src,
            });
        }
        if split {
            return Ok(Sources {
                chunk: room,
                count: body.div_ceil(room),
                ..whole
            });
        }
        match over {
            OverLong::Cut => Ok(Sources {
                chunk: room,
                cut: true,
                ..whole
            }),
            OverLong::Refuse => Err(Error::InputTooLong {
                tokens: n,
                max: max_src,
            }),
        }
    }

    /// No source: blank text.
    pub fn none(eos: u32) -> Self {
        Sources {
            n: 0,
            prefix: 0,
            chunk: 0,
            count: 0,
            cut: false,
            eos,
        }
    }

    /// Writes source `k` (prefix, its piece of the body, EOS) from the encoded `ids` into
    /// `out`, returning its length.
    pub fn write(&self, ids: &[u32], k: usize, out: &mut [u32]) -> Result<usize> {
        let body_end = self.n.saturating_sub(1);
        let start = (self.prefix + k * self.chunk).min(body_end);
        let end = (start + self.chunk).min(body_end);
        let (prefix, piece) = (ids.get(..self.prefix), ids.get(start..end));
        let (Some(prefix), Some(piece)) = (prefix, piece) else {
            return Err(Error::OutputTooSmall { needed: self.n * 4 });
        };
        let len = prefix.len() + piece.len() + 1;
        let dst = out
            .get_mut(..len)
            .ok_or(Error::OutputTooSmall { needed: len * 4 })?;
        let (head, rest) = dst.split_at_mut(prefix.len());
        head.copy_from_slice(prefix);
        let (mid, last) = rest.split_at_mut(piece.len());
        mid.copy_from_slice(piece);
        if let Some(e) = last.first_mut() {
            *e = self.eos;
        }
        Ok(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(line: &str, split: bool) -> heapless::Vec<Part, 16> {
        Parts::new(line, split).collect()
    }

    #[test]
    fn a_line_is_text_sentence_text() {
        let p = parts("One. Two.", false);
        assert_eq!(
            p.as_slice(),
            &[Part::Text(0..0), Part::Sentence(0..9), Part::Text(9..9)]
        );
        let p = parts("One. Two.", true);
        assert_eq!(
            p.as_slice(),
            &[
                Part::Text(0..0),
                Part::Sentence(0..4),
                Part::Text(4..5),
                Part::Sentence(5..9),
                Part::Text(9..9)
            ]
        );
        assert_eq!(
            parts("", false).as_slice(),
            &[Part::Text(0..0), Part::Sentence(0..0), Part::Text(0..0)]
        );
    }

    #[test]
    fn long_sentences_are_split_cut_or_refused() {
        // [lang, 1..=9, eos]: 11 ids; sources of at most 5 tokens hold 3 body tokens.
        let ids: heapless::Vec<u32, 11> = (0..11)
            .map(|i| if i == 10 { 99 } else { i + 100 })
            .collect();
        let s = Sources::plan(11, 1, 99, 5, true, OverLong::Refuse).unwrap();
        assert_eq!(s.count, 3);
        let mut out = [0u32; 5];
        let got: heapless::Vec<heapless::Vec<u32, 5>, 3> = (0..3)
            .map(|k| {
                let n = s.write(&ids, k, &mut out).unwrap();
                out[..n].iter().copied().collect()
            })
            .collect();
        assert_eq!(got[0].as_slice(), &[100, 101, 102, 103, 99]);
        assert_eq!(got[1].as_slice(), &[100, 104, 105, 106, 99]);
        assert_eq!(got[2].as_slice(), &[100, 107, 108, 109, 99]);
        let cut = Sources::plan(11, 1, 99, 5, false, OverLong::Cut).unwrap();
        assert!(cut.cut && cut.count == 1);
        assert_eq!(cut.write(&ids, 0, &mut out).unwrap(), 5);
        assert_eq!(out, [100, 101, 102, 103, 99]);
        assert!(matches!(
            Sources::plan(11, 1, 99, 5, false, OverLong::Refuse),
            Err(Error::InputTooLong { tokens: 11, max: 5 })
        ));
        let whole = Sources::plan(4, 0, 99, 5, true, OverLong::Refuse).unwrap();
        assert_eq!(whole.write(&[7, 8, 9, 99], 0, &mut out).unwrap(), 4);
        assert_eq!(&out[..4], &[7, 8, 9, 99]);
    }
}
