//! The per-request state: one struct of typed buffers, laid out by one function that both sizes
//! the memory plan (over a [`Sizer`](crate::plan::Sizer)) and carves the workspace (over a
//! [`Carver`](crate::plan::Carver)), so the two cannot drift apart. Carved once per request.

use super::layers::{Scratch, ScratchDims};
use super::spec::{DecoderCell, Spec};
use crate::error::Result;
use crate::plan::{Arena, Limits};
use crate::shortlist::Shortlist;

/// Buffer sizes for a model and limits.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Dims {
    pub limits: Limits,
    pub d: usize,
    /// The decoder's attention width (`d` unless heads have a width of their own): the rows
    /// of the cross-attention keys and values and of the self-attention cache.
    pub attn: usize,
    pub layers: usize,
    /// Rows processed at once: the source length in the encoder, beams x sentences in the
    /// decoder.
    pub rows: usize,
    /// Floats of one decoder layer's cross-attention keys (or values): batch x max_src x d.
    pub cross_layer: usize,
    /// Floats of one decoder layer's cache: slots x max_tgt x d.
    pub cache_layer: usize,
    /// Whether the cache has values (self-attention) or only cell states (SSRU).
    pub cache_values: bool,
    /// Shortlist candidates one sentence may have, and the shortlist's word marks.
    pub cands: usize,
    pub seen: usize,
    /// Candidates per sentence whose output rows are copied side by side.
    pub copied: usize,
    pub scratch: ScratchDims,
}

impl Dims {
    /// `copied`: candidates per sentence whose output rows are copied side by side (see
    /// [`Transformer::copy_candidate_rows`](super::Transformer::copy_candidate_rows)).
    pub fn new(spec: &Spec, shortlist: Option<&Shortlist>, limits: &Limits, copied: usize) -> Self {
        let cands = shortlist.map_or(0, |s| s.capacity(limits.max_src));
        let d = spec.d_model;
        let rows = limits.max_src.max(limits.rows());
        let cache_values = spec.decoder_cell == DecoderCell::SelfAttention;
        // The SSRU's cache holds cell states, `d` wide.
        let attn = match cache_values {
            true => spec.attention_width(&spec.decoder),
            false => d,
        };
        Dims {
            limits: *limits,
            d,
            attn,
            layers: spec.decoder.layers,
            rows,
            cross_layer: limits.batch * limits.max_src * attn,
            cache_layer: limits.rows() * limits.max_tgt * attn,
            cache_values,
            cands,
            seen: shortlist.map_or(0, |s| s.seen_words()),
            copied: cands.min(copied),
            scratch: ScratchDims {
                rows,
                d,
                attn: attn.max(spec.attention_width(&spec.encoder)),
                ffn: spec.encoder.ffn_dim.max(spec.decoder.ffn_dim),
                gated: spec.ffn_gated,
                keys: limits.max_src.max(limits.max_tgt),
                relative: spec.relative_bias.is_some(),
            },
        }
    }
}

/// The state of one request: `A` is a sizer while planning, a carver while running.
pub struct State<A: Arena> {
    pub(crate) dims: Dims,
    /// Source length of each sentence slot (0: not encoded).
    pub(crate) src_len: A::Slice<u32>,
    /// Cross-attention keys and values: layers x batch x max_src x attn.
    pub(crate) cross_k: A::Slice<f32>,
    pub(crate) cross_v: A::Slice<f32>,
    /// The decoder cache, layers x slots x max_tgt x attn, read through the ancestry table:
    /// self-attention keys and values, or SSRU cell states (`cache_k` only).
    pub(crate) cache_k: A::Slice<f32>,
    pub(crate) cache_v: A::Slice<f32>,
    /// Shortlist candidates per sentence (`batch x cands`), their count, their scores, and the
    /// shortlist's word marks.
    pub(crate) n_cands: A::Slice<u32>,
    pub(crate) cands: A::Slice<u32>,
    pub(crate) scored: A::Slice<f32>,
    pub(crate) seen: A::Slice<u32>,
    /// The first `dims.copied` candidates' output rows per sentence, side by side (`batch x
    /// copied x d` bytes), and their scales and biases (`batch x copied`).
    pub(crate) copied: CopiedRows<A::Slice<i8>, A::Slice<f32>>,
    /// The rows being computed, `rows x d`.
    pub(crate) x: A::Slice<f32>,
    pub(crate) s: Scratch<A>,
}

impl<A: Arena> State<A> {
    /// The layout: the plan and the carving both come from here.
    pub(crate) fn lay_out(a: &mut A, dims: Dims) -> Result<Self> {
        let (cross, cache) = (
            dims.layers * dims.cross_layer,
            dims.layers * dims.cache_layer,
        );
        let batch = dims.limits.batch;
        Ok(State {
            dims,
            src_len: a.take(batch)?,
            cross_k: a.take(cross)?,
            cross_v: a.take(cross)?,
            cache_k: a.take(cache)?,
            cache_v: a.take(if dims.cache_values { cache } else { 0 })?,
            n_cands: a.take(batch)?,
            cands: a.take(batch * dims.cands)?,
            scored: a.take(dims.cands)?,
            seen: a.take(dims.seen)?,
            copied: CopiedRows {
                q: a.take(batch * dims.copied * dims.d)?,
                scales: a.take(batch * dims.copied)?,
                bias: a.take(batch * dims.copied)?,
            },
            x: a.take(dims.rows * dims.d)?,
            s: Scratch::lay_out(a, dims.scratch)?,
        })
    }
}

/// A shortlist's output rows copied side by side (see [`State::copied`]): int8 rows `Q`,
/// their scales and biases `F`.
pub(crate) struct CopiedRows<Q, F> {
    pub q: Q,
    pub scales: F,
    pub bias: F,
}

impl CopiedRows<&mut [i8], &mut [f32]> {
    /// Sentence `s`'s copies, `rows` rows of `d` bytes a sentence, to read.
    pub fn of(&self, s: usize, rows: usize, d: usize) -> CopiedRows<&[i8], &[f32]> {
        let r = s * rows..(s + 1) * rows;
        CopiedRows {
            q: &self.q[r.start * d..r.end * d],
            scales: &self.scales[r.clone()],
            bias: &self.bias[r],
        }
    }

    /// Sentence `s`'s copies, as [`of`](Self::of), to write.
    pub fn of_mut(&mut self, s: usize, rows: usize, d: usize) -> CopiedRows<&mut [i8], &mut [f32]> {
        let r = s * rows..(s + 1) * rows;
        CopiedRows {
            q: &mut self.q[r.start * d..r.end * d],
            scales: &mut self.scales[r.clone()],
            bias: &mut self.bias[r],
        }
    }
}
