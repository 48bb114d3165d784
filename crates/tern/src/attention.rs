//! What a translation attended to: the decoder's cross-attention (every layer and head) and, on
//! request, the encoder's self-attention, for each source sentence of a line; and hard word
//! alignments read from them. The numbers are tern-core's
//! ([`Transformer::attention`](tern_core::model::Transformer::attention)): the weights the model
//! computed for the output it returned.

use tern_core::engine::Engine;

/// Attention weights `[layer][head][row][col]`: row `r` is one query's distribution over the
/// columns.
#[derive(Debug, Clone, PartialEq)]
pub struct Weights {
    pub layers: usize,
    pub heads: usize,
    pub rows: usize,
    pub cols: usize,
    pub values: Vec<f32>,
}

impl Weights {
    /// One layer's head, `rows x cols`.
    pub fn head(&self, layer: usize, head: usize) -> &[f32] {
        let n = self.rows * self.cols;
        let at = (layer * self.heads + head) * n;
        &self.values[at..at + n]
    }

    /// The mean over every layer and head, `rows x cols`.
    pub fn average(&self) -> Vec<f32> {
        let n = self.rows * self.cols;
        let mut mean = vec![0f32; n];
        for grid in self.values.chunks_exact(n.max(1)) {
            mean.iter_mut().zip(grid).for_each(|(m, v)| *m += v);
        }
        let count = (self.layers * self.heads).max(1) as f32;
        mean.iter_mut().for_each(|m| *m /= count);
        mean
    }

    /// `[layer][head][row][col]` as nested lists (what the JSON output holds).
    pub fn nested(&self) -> Vec<Vec<Vec<Vec<f32>>>> {
        (0..self.layers)
            .map(|l| {
                (0..self.heads)
                    .map(|h| {
                        self.head(l, h)
                            .chunks_exact(self.cols.max(1))
                            .map(<[f32]>::to_vec)
                            .collect()
                    })
                    .collect()
            })
            .collect()
    }
}

/// One source sentence (or piece of an over-long one) and what its translation attended to.
#[derive(Debug, Clone, PartialEq)]
pub struct Attention {
    /// Source pieces, the source-language token first where the model has one, EOS last.
    pub source: Vec<String>,
    /// Generated pieces, EOS included when generated (no decoder-start token).
    pub target: Vec<String>,
    /// The word each source piece belongs to; `None` for special tokens (EOS, language).
    pub source_words: Vec<Option<usize>>,
    /// The word each target piece belongs to; `None` for special tokens.
    pub target_words: Vec<Option<usize>>,
    /// This source's translation.
    pub text: String,
    /// Cross-attention, rows = target pieces, columns = source pieces.
    pub cross: Weights,
    /// Encoder self-attention (when asked for), rows and columns = source pieces.
    pub encoder: Option<Weights>,
    /// The layer and head trained to align (the Marian toolkit's guided alignment), if the
    /// model has one.
    pub aligned_head: Option<(usize, usize)>,
}

impl Attention {
    /// The soft alignment, rows = target pieces, columns = source pieces: the trained layer and
    /// head where the model has one ([`Attention::aligned_head`]), else the average of every
    /// layer and head.
    pub fn soft_alignment(&self) -> Vec<f32> {
        match self.aligned_head {
            Some((l, h)) if l < self.cross.layers && h < self.cross.heads => {
                self.cross.head(l, h).to_vec()
            }
            _ => self.cross.average(),
        }
    }

    /// Hard alignment of each target piece to a source piece, as Bergamot computes it from the
    /// soft alignment (bergamot-translator's `HTML::hardAlignments`, without markup): each piece
    /// takes the source piece it attends to most (the first on ties, EOS included; a
    /// multilingual model's language token is no candidate), then the
    /// pieces of one word all take the choice of the word's last piece (pieces continue a word
    /// unless one of them has a delimiter, `\n ,.(){}[]`, at the edge between them). Special
    /// pieces (EOS, language tokens) get `None`.
    pub fn piece_alignment(&self) -> Vec<Option<usize>> {
        self.piece_alignment_by(|_, _| true)
    }

    /// [`piece_alignment`](Self::piece_alignment) where a piece continuing a word makes the
    /// word so far take its choice only if `extends(its source, the previous piece's source)`
    /// or it attends to its choice at least as much as the previous piece to the previous
    /// choice; otherwise it takes the previous piece's choice (Bergamot's rule with markup,
    /// `extends` saying whether the first source piece's elements extend the second's).
    pub fn piece_alignment_by(&self, extends: impl Fn(usize, usize) -> bool) -> Vec<Option<usize>> {
        let soft = self.soft_alignment();
        let cols = self.cross.cols.max(1);
        // Candidates: the source's words and its EOS (as Bergamot), not a language token.
        let candidate =
            |c: usize| c + 1 == cols || self.source_words.get(c).is_some_and(Option::is_some);
        let mut hard: Vec<Option<usize>> = soft
            .chunks_exact(cols)
            .zip(&self.target_words)
            .map(|(row, word)| word.map(|_| first_argmax(row, candidate)))
            .collect();
        for t in 1..hard.len() {
            let (Some(cur), Some(prev)) = (hard[t], hard[t - 1]) else {
                continue;
            };
            if !continues(&self.target[t - 1], &self.target[t]) {
                continue;
            }
            if extends(cur, prev) || soft[t * cols + cur] >= soft[(t - 1) * cols + prev] {
                let mut i = t;
                while i > 0
                    && hard[i - 1].is_some()
                    && continues(&self.target[i - 1], &self.target[i])
                {
                    hard[i - 1] = Some(cur);
                    i -= 1;
                }
            } else {
                hard[t] = Some(prev);
            }
        }
        hard
    }

    /// Hard word alignments (source word, target word), sorted and without repeats: the
    /// [`piece_alignment`](Self::piece_alignment)s, pieces standing for their words (pairs
    /// with a special piece, such as a target piece drawn to the source EOS, are left out).
    pub fn word_alignment(&self) -> Vec<(usize, usize)> {
        let mut pairs: Vec<(usize, usize)> = self
            .piece_alignment()
            .iter()
            .zip(&self.target_words)
            .filter_map(|(s, t)| Some((self.source_words.get((*s)?).copied().flatten()?, (*t)?)))
            .collect();
        pairs.sort_unstable();
        pairs.dedup();
        pairs
    }
}

/// Index of the largest value among the `candidate` indices, the first on ties (NaN never
/// wins; the last index when there is no candidate).
fn first_argmax(row: &[f32], candidate: impl Fn(usize) -> bool) -> usize {
    let mut best: Option<usize> = None;
    for (i, &v) in row.iter().enumerate() {
        if candidate(i) && best.is_none_or(|b| v > row[b]) {
            best = Some(i);
        }
    }
    best.unwrap_or(row.len().saturating_sub(1))
}

/// Whether piece `cur` continues the word of piece `prev` (Bergamot's `isContinuation`): no
/// delimiter where they meet. `▁` stands for a space.
fn continues(prev: &str, cur: &str) -> bool {
    if prev.is_empty() || cur.is_empty() {
        return false;
    }
    const DELIMITERS: &[char] = &[
        '\n', ' ', ',', '.', '(', ')', '{', '}', '[', ']', '\u{2581}',
    ];
    !prev.ends_with(DELIMITERS) && !cur.starts_with(DELIMITERS)
}

/// The word alignment of a line translated sentence by sentence: each sentence's pairs, their
/// words numbered after those of the sentences before it (a line's words are its sentences'
/// words in order).
pub fn line_word_alignment(sentences: &[Attention]) -> Vec<(usize, usize)> {
    let (mut src_base, mut tgt_base) = (0, 0);
    let mut pairs = Vec::new();
    for a in sentences {
        pairs.extend(
            a.word_alignment()
                .into_iter()
                .map(|(s, t)| (s + src_base, t + tgt_base)),
        );
        let count = |w: &[Option<usize>]| w.iter().flatten().max().map_or(0, |m| m + 1);
        src_base += count(&a.source_words);
        tgt_base += count(&a.target_words);
    }
    pairs
}

/// Pharaoh format: `s-t` pairs separated by spaces.
pub fn pharaoh(pairs: &[(usize, usize)]) -> String {
    let parts: Vec<String> = pairs.iter().map(|(s, t)| format!("{s}-{t}")).collect();
    parts.join(" ")
}

/// The word of each piece: a piece starting with `▁` (SentencePiece's word start) begins a
/// new word, others continue the current one; `special` pieces belong to none.
pub fn words(pieces: &[String], special: impl Fn(usize) -> bool) -> Vec<Option<usize>> {
    let mut word: Option<usize> = None;
    pieces
        .iter()
        .enumerate()
        .map(|(i, p)| {
            if special(i) {
                return None;
            }
            word = match word {
                Some(w) if !p.starts_with('\u{2581}') => Some(w),
                Some(w) => Some(w + 1),
                None => Some(0),
            };
            word
        })
        .collect()
}

/// The layer and head a model was trained to align with, from the file
/// (`transformer.alignment.layer`, `transformer.alignment.head`).
pub fn aligned_head(e: &Engine) -> Option<(usize, usize)> {
    let layer = e.gguf.u32("transformer.alignment.layer").ok()?;
    let head = e.gguf.u32("transformer.alignment.head").unwrap_or(0);
    Some((layer as usize, head as usize))
}

/// The pieces of `ids` as text (`source`: in the source vocabulary).
pub(crate) fn pieces(e: &Engine, ids: &[u32], source: bool) -> Vec<String> {
    ids.iter()
        .map(|&id| {
            let piece = match source {
                true => e.tokenizer.source_piece(id),
                false => e.tokenizer.piece(id),
            };
            piece.map_or_else(|| format!("<{id}>"), str::to_owned)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn pieces_group_into_words_and_specials_into_none() {
        let p = strings(&[
            "eng_Latn",
            "\u{2581}Hel",
            "lo",
            "\u{2581}world",
            ".",
            "</s>",
        ]);
        let w = words(&p, |i| i == 0 || i == 5);
        assert_eq!(w, [None, Some(0), Some(0), Some(1), Some(1), None]);
        // A first piece without the word mark still starts word 0.
        assert_eq!(
            words(&strings(&["ab", "\u{2581}c"]), |_| false),
            [Some(0), Some(1)]
        );
    }

    #[test]
    fn hard_alignment_follows_bergamots_rule() {
        // Source: ▁a ▁b </s>; target: ▁x y ▁z . </s>. Argmax: x->b, y->a, z->b, "."->EOS.
        // x and y are one word, so both take y's a; "." starts with a delimiter (no smoothing)
        // and its EOS is no word; the target EOS row is special.
        let soft = vec![
            0.1, 0.8, 0.1, //
            0.6, 0.3, 0.1, //
            0.3, 0.6, 0.1, //
            0.1, 0.2, 0.7, //
            0.2, 0.2, 0.6,
        ];
        let a = Attention {
            source: strings(&["\u{2581}a", "\u{2581}b", "</s>"]),
            target: strings(&["\u{2581}x", "y", "\u{2581}z", ".", "</s>"]),
            source_words: vec![Some(0), Some(1), None],
            target_words: vec![Some(0), Some(0), Some(1), Some(1), None],
            text: "xy z.".into(),
            cross: Weights {
                layers: 1,
                heads: 1,
                rows: 5,
                cols: 3,
                values: soft,
            },
            encoder: None,
            aligned_head: None,
        };
        assert_eq!(
            a.piece_alignment(),
            [Some(0), Some(0), Some(1), Some(2), None]
        );
        assert_eq!(a.word_alignment(), [(0, 0), (1, 1)]);
        assert_eq!(pharaoh(&a.word_alignment()), "0-0 1-1");
        // The trained head, where the model has one, instead of the average.
        let mut two = a.clone();
        two.cross.heads = 2;
        two.cross.values = [vec![0.0; 15], a.cross.values.clone()].concat();
        two.aligned_head = Some((0, 1));
        assert_eq!(two.piece_alignment(), a.piece_alignment());
        two.aligned_head = None;
        assert_ne!(two.soft_alignment(), a.soft_alignment());
    }

    #[test]
    fn average_and_heads() {
        let w = Weights {
            layers: 2,
            heads: 1,
            rows: 1,
            cols: 2,
            values: vec![1.0, 0.0, 0.0, 1.0],
        };
        assert_eq!(w.average(), [0.5, 0.5]);
        assert_eq!(w.head(1, 0), [0.0, 1.0]);
        assert_eq!(
            w.nested(),
            vec![vec![vec![vec![1.0, 0.0]]], vec![vec![vec![0.0, 1.0]]]]
        );
    }

    /// A sentence of `src` source and `tgt` target words, one piece each (EOS last), each
    /// target word attending to source word `to[t]`.
    fn sentence(src: usize, to: &[usize]) -> Attention {
        let (rows, cols) = (to.len() + 1, src + 1);
        let mut values = vec![0f32; rows * cols];
        for (t, &s) in to.iter().enumerate() {
            values[t * cols + s] = 1.0;
        }
        values[rows * cols - 1] = 1.0;
        let pieces = |n: usize| -> Vec<String> {
            (0..n)
                .map(|i| format!("\u{2581}w{i}"))
                .chain([String::from("</s>")])
                .collect()
        };
        let words = |n: usize| (0..n).map(Some).chain([None]).collect();
        Attention {
            source: pieces(src),
            target: pieces(to.len()),
            source_words: words(src),
            target_words: words(to.len()),
            text: "x".to_string(),
            cross: Weights {
                layers: 1,
                heads: 1,
                rows,
                cols,
                values,
            },
            encoder: None,
            aligned_head: None,
        }
    }

    #[test]
    fn a_line_s_words_follow_its_sentences() {
        let maps = [sentence(3, &[0, 2]), sentence(2, &[1, 0, 1])];
        assert_eq!(pharaoh(&line_word_alignment(&maps[..1])), "0-0 2-1");
        // The second sentence's words come after the first's 3 source and 2 target words.
        assert_eq!(pharaoh(&line_word_alignment(&maps)), "0-0 2-1 3-3 4-2 4-4");
        assert_eq!(pharaoh(&line_word_alignment(&[])), "");
    }
}
