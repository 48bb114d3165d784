//! The decoder step: embeddings for every row, one layer type run `layers` times (the cell —
//! cached self-attention or the SSRU —, cross-attention, FFN), the final norm, the logits.

use super::attention::Grid;
use super::layers::{
    attend, relu, Attention, Keep, Linear, PositionBias, RowPositions, Scratch, Wrap,
};
use super::seq2seq::Rows;
use super::spec::RelativeBias;
use super::state::{CopiedRows, State};
use super::weights::{Cell, DecoderLayer};
use super::Transformer;
use crate::error::{Error, Result};
use crate::kernels::{Kernels, Matrix, MatrixData, QuantScratch};
use crate::plan::Carver;

/// One decoder layer's view of the encoder outputs: `batch` sentences of `stride` floats
/// (max_src x d) each, of which the first `lens[s]` rows are sentence `s`'s.
pub(crate) struct Memory<'m> {
    pub keys: &'m [f32],
    pub values: &'m [f32],
    pub stride: usize,
    pub lens: &'m [u32],
}

/// One decoder layer's cache: `slots x max_tgt` rows of `d`, row `slot * max_tgt + pos`.
pub(crate) struct Cache<'c> {
    pub keys: &'c mut [f32],
    pub values: &'c mut [f32],
    pub max_tgt: usize,
}

/// The step's shape, shared by every layer: its rows, their number, the position, and the
/// decoder's attention heads and logit scale.
pub(crate) struct Step<'r> {
    pub rows: &'r Rows<'r>,
    pub nb: usize,
    pub pos: usize,
    pub heads: usize,
    pub scale: f32,
    /// The decoder's relative position bias table, where the spec has one.
    pub rel_bias: Option<(&'r [f32], RelativeBias)>,
}

impl Attention<'_> {
    /// Causal self-attention for the step's rows: each row's key and value at `pos` go into its
    /// cache slot, then it attends to its own history, read through the ancestry table.
    pub(crate) fn cached(
        &self,
        kern: &Kernels,
        (wrap, x): (&Wrap, &[f32]),
        step: &Step,
        cache: Cache,
        s: &mut Scratch<Carver<'_>>,
    ) {
        let (nb, pos, t_max) = (step.nb, step.pos, cache.max_tgt);
        // The attention's width: the cache's rows.
        let d = self.q.w.rows;
        let input = wrap.input(x, s.pre);
        self.q.forward(kern, input, nb, s.q, &mut s.qs);
        self.k.forward(kern, input, nb, s.k, &mut s.qs);
        self.v.forward(kern, input, nb, s.v, &mut s.qs);
        for (bi, &slot) in step.rows.slots.iter().enumerate() {
            let cell = (slot as usize * t_max + pos) * d;
            cache.keys[cell..cell + d].copy_from_slice(&s.k[bi * d..(bi + 1) * d]);
            cache.values[cell..cell + d].copy_from_slice(&s.v[bi * d..(bi + 1) * d]);
        }
        for (bi, &slot) in step.rows.slots.iter().enumerate() {
            let slot = slot as usize;
            let hist = &step.rows.anc[slot * t_max..(slot + 1) * t_max];
            let row_of = |p: usize| {
                let from = if p == pos { slot } else { hist[p] as usize };
                from * t_max + p
            };
            let row = bi * d..(bi + 1) * d;
            attend(
                kern,
                &s.q[row.clone()],
                cache.keys,
                cache.values,
                pos + 1,
                row_of,
                step.heads,
                step.scale,
                s.scores,
                s.offs,
                &mut s.ctx[row],
                None,
                step.rel_bias.map(|(table, rel)| PositionBias {
                    table,
                    rel,
                    query: pos,
                    bidirectional: false,
                    buckets: &mut s.buckets[..],
                }),
            );
        }
        self.o.forward(kern, s.ctx, nb, s.tmp, &mut s.qs);
    }

    /// Cross-attention for the step's rows: row `r` attends to the encoder output of its
    /// sentence in `mem`. Writes the output projection to `s.tmp`; with `keep`, the first
    /// row's attention weights go there.
    pub(crate) fn cross(
        &self,
        kern: &Kernels,
        (wrap, x): (&Wrap, &[f32]),
        step: &Step,
        mem: &Memory,
        s: &mut Scratch<Carver<'_>>,
        mut keep: Option<Keep>,
    ) {
        let nb = step.nb;
        let d = self.q.w.rows;
        let input = wrap.input(x, s.pre);
        self.q.forward(kern, input, nb, s.q, &mut s.qs);
        let sentences = &step.rows.sentences[..nb.min(step.rows.sentences.len())];
        for (bi, &sent) in sentences.iter().enumerate() {
            if let Some(&next) = sentences.get(bi + 1) {
                // The next row's keys and values, read next: in a large batch they come from L3.
                let (at, len) = (
                    next as usize * mem.stride,
                    mem.lens[next as usize] as usize * d,
                );
                crate::kernels::prefetch(mem.keys.get(at..at + len).unwrap_or(&[]));
                crate::kernels::prefetch(mem.values.get(at..at + len).unwrap_or(&[]));
            }
            let row = bi * d..(bi + 1) * d;
            let span = sent as usize * mem.stride..(sent as usize + 1) * mem.stride;
            attend(
                kern,
                &s.q[row.clone()],
                &mem.keys[span.clone()],
                &mem.values[span],
                mem.lens[sent as usize] as usize,
                |t| t,
                step.heads,
                step.scale,
                s.scores,
                s.offs,
                &mut s.ctx[row],
                keep.take(),
                None,
            );
        }
        self.o.forward(kern, s.ctx, nb, s.tmp, &mut s.qs);
    }
}

/// The SSRU cell for the step's rows: the forget gate `f = sigmoid(x Wf + bf)` mixes the row's
/// previous cell (its ancestor's at `pos - 1`) with the candidate `x W`; the output is relu(c).
/// Cell states live in `cells` (`cache.keys`). Writes the output to `s.ctx`.
fn ssru(
    kern: &Kernels,
    (w, wf): (&Linear, &Linear),
    (wrap, x): (&Wrap, &[f32]),
    step: &Step,
    cells: &mut [f32],
    t_max: usize,
    s: &mut Scratch<Carver<'_>>,
) {
    let (nb, pos) = (step.nb, step.pos);
    let d = x.len() / nb;
    let input = wrap.input(x, s.pre);
    w.forward(kern, input, nb, s.tmp, &mut s.qs);
    wf.forward(kern, input, nb, s.q, &mut s.qs);
    // exp(-gate) for the forget gates' sigmoid, all rows at once.
    let gate = &mut s.q[..nb * d];
    gate.iter_mut().for_each(|g| *g = -*g);
    (kern.exp)(gate);
    for (bi, &slot) in step.rows.slots.iter().enumerate() {
        let slot = slot as usize;
        let here = (slot * t_max + pos) * d;
        let prev = (pos > 0)
            .then(|| (step.rows.anc[slot * t_max + pos - 1] as usize * t_max + pos - 1) * d);
        for j in 0..d {
            let f = 1.0 / (1.0 + s.q[bi * d + j]);
            let c_prev = prev.map_or(0.0, |p| cells[p + j]);
            let c = f * c_prev + (1.0 - f) * s.tmp[bi * d + j];
            cells[here + j] = c;
            s.ctx[bi * d + j] = relu(c);
        }
    }
}

impl DecoderLayer<'_> {
    /// Runs the layer for the step's rows of `x`; with `keep`, the first row's cross-attention
    /// weights go there.
    pub(crate) fn forward(
        &self,
        kern: &Kernels,
        x: &mut [f32],
        step: &Step,
        (cache, mem): (Cache, &Memory),
        s: &mut Scratch<Carver<'_>>,
        keep: Option<Keep>,
    ) {
        match &self.cell {
            Cell::SelfAttention(attn) => {
                attn.cached(kern, (&self.cell_wrap, x), step, cache, s);
                self.cell_wrap.output(x, s.tmp);
            }
            Cell::Ssru { w, wf } => {
                let t_max = cache.max_tgt;
                ssru(
                    kern,
                    (w, wf),
                    (&self.cell_wrap, x),
                    step,
                    cache.keys,
                    t_max,
                    s,
                );
                self.cell_wrap.output(x, s.ctx);
            }
        }
        self.cross
            .cross(kern, (&self.cross_wrap, x), step, mem, s, keep);
        self.cross_wrap.output(x, s.tmp);
        self.ffn.forward(kern, &self.ffn_wrap, x, step.nb, s);
    }
}

impl Transformer<'_> {
    /// One decoder step (see [`super::Seq2Seq::step`]). With `keep`, the first row's
    /// cross-attention weights go to its position `pos` (see [`super::attention::Grid`]).
    pub(crate) fn step_into(
        &self,
        st: &mut State<Carver<'_>>,
        rows: &Rows,
        pos: usize,
        logits: &mut [f32],
        mut keep: Option<&mut Grid>,
    ) -> Result<()> {
        let (d, v, kern) = (self.spec.d_model, self.spec.vocab_size, &self.kernels);
        let limits = st.dims.limits;
        let nb = check_step(&limits, rows, pos, logits, v)?;
        let cap = st.dims.cands;
        for &s in rows.sentences {
            let s = s as usize;
            if st.src_len[s] == 0 || st.n_cands[s] as usize > cap {
                return Err(Error::BadLimit("step before encode"));
            }
        }
        let start = pos == 0 && self.spec.decoder_start == super::spec::DecoderStart::Zeros;
        for (&id, row) in rows.tokens.iter().zip(st.x.chunks_exact_mut(d)) {
            self.embed(true, (!start).then_some(id), row)?;
        }
        let x = &mut st.x[..nb * d];
        self.add_positions(true, x, RowPositions::All(pos));
        let ends = &self.weights.ends;
        if let Some(norm) = &ends.dec_embed_norm {
            norm.forward(x);
        }
        let step = Step {
            rows,
            nb,
            pos,
            heads: self.spec.decoder.heads,
            scale: self
                .spec
                .attention_factor(self.spec.head_width(&self.spec.decoder)),
            rel_bias: ends.dec_rel_bias.zip(self.spec.relative_bias),
        };
        let (cache_layer, cross_layer) = (st.dims.cache_layer, st.dims.cross_layer);
        let values_layer = if st.dims.cache_values { cache_layer } else { 0 };
        for (l, layer) in self.weights.decoder.iter().enumerate() {
            let cache = Cache {
                keys: &mut st.cache_k[l * cache_layer..(l + 1) * cache_layer],
                values: &mut st.cache_v[l * values_layer..(l + 1) * values_layer],
                max_tgt: limits.max_tgt,
            };
            let span = l * cross_layer..(l + 1) * cross_layer;
            let mem = Memory {
                keys: &st.cross_k[span.clone()],
                values: &st.cross_v[span],
                stride: limits.max_src * st.dims.attn,
                lens: st.src_len,
            };
            let keep = keep.as_deref_mut().and_then(|g| g.at(l, pos));
            layer.forward(kern, x, &step, (cache, &mem), &mut st.s, keep);
        }
        if let Some(norm) = &ends.dec_final_norm {
            norm.forward(x);
        }
        if self.spec.output_scale != 1.0 {
            let scale = self.spec.output_scale;
            x.iter_mut().for_each(|v| *v *= scale);
        }
        let logits = &mut logits[..nb * v];
        if ends.shortlist.is_some() {
            // Words outside the sentence's shortlist are impossible; only candidates are scored.
            // Sparse rows keep them in the shortlist's order (see `Rows::sparse`); full rows get
            // them at their ids, among impossible words.
            let (w, b) = (&ends.output, ends.output_bias);
            let g = st.dims.copied;
            for (bi, out) in logits.chunks_exact_mut(v).enumerate() {
                let sent = rows.sentences[bi] as usize;
                let cands = &st.cands[sent * cap..sent * cap + st.n_cands[sent] as usize];
                let copied = st.copied.of(sent, g, d);
                let x = &x[bi * d..(bi + 1) * d];
                if rows.sparse {
                    let scored = &mut out[..cands.len()];
                    score(kern, x, (w, b), cands, copied, scored, &mut st.s.qs);
                    continue;
                }
                out.fill(f32::NEG_INFINITY);
                let scored = &mut st.scored[..cands.len()];
                score(kern, x, (w, b), cands, copied, scored, &mut st.s.qs);
                cands
                    .iter()
                    .zip(scored.iter())
                    .for_each(|(&id, &s)| out[id as usize] = s);
            }
        } else {
            kern.linear(x, nb, &ends.output, ends.output_bias, logits, &mut st.s.qs);
        }
        Ok(())
    }
}

/// The output layer's scores of a sentence's candidates for one row `x`, in the shortlist's
/// order: those whose rows were copied side by side at encoding ([`copy_rows`]) as one dense
/// product, the rest (a list longer than the copy) read in place. Either way the same sums.
fn score(
    kern: &Kernels,
    x: &[f32],
    (w, b): (&Matrix, Option<&[f32]>),
    cands: &[u32],
    copied: CopiedRows<&[i8], &[f32]>,
    scored: &mut [f32],
    qs: &mut QuantScratch,
) {
    let d = w.cols;
    let g = match w.data {
        MatrixData::I8 { .. } => cands.len().min(copied.scales.len()),
        _ => 0,
    };
    if let (MatrixData::I8 { act_scale, .. }, true) = (w.data, g > 0) {
        let dense = Matrix {
            rows: g,
            cols: d,
            data: MatrixData::I8 {
                q: &copied.q[..g * d],
                scales: &copied.scales[..g],
                act_scale,
            },
        };
        let bias = b.map(|_| &copied.bias[..g]);
        kern.linear(x, 1, &dense, bias, &mut scored[..g], qs);
    }
    if g < cands.len() {
        kern.linear_rows(x, w, b, &cands[g..], &mut scored[g..], qs);
    }
}

/// Copies the int8 output rows of the first `copied.scales.len()` candidates `cands` (fewer if
/// the list is shorter), with their scales and biases, side by side into `copied`, asking for
/// rows ahead while copying (they are scattered over the matrix). Nothing for other weights.
pub(crate) fn copy_rows(
    (w, b): (&Matrix, Option<&[f32]>),
    cands: &[u32],
    copied: CopiedRows<&mut [i8], &mut [f32]>,
) -> Result<()> {
    let MatrixData::I8 { q, scales, .. } = w.data else {
        return Ok(());
    };
    let d = w.cols;
    let n = cands.len().min(copied.scales.len());
    let bad = || Error::BadShortlist("a candidate beyond the output layer");
    let row = |c: u32| q.get(c as usize * d..(c as usize + 1) * d);
    for (i, &c) in cands[..n].iter().enumerate() {
        if let Some(ahead) = cands.get(i + 8).and_then(|&a| row(a)) {
            crate::kernels::prefetch(ahead);
        }
        copied.q[i * d..(i + 1) * d].copy_from_slice(row(c).ok_or_else(bad)?);
        copied.scales[i] = *scales.get(c as usize).ok_or_else(bad)?;
        copied.bias[i] = b.map_or(Ok(0.0), |b| b.get(c as usize).copied().ok_or_else(bad))?;
    }
    Ok(())
}

/// Checks a decoder step's arguments against the plan: the rows' lengths, slots, sentences and
/// ancestry, `pos`, and room for `rows x vocab` logits. Returns the number of rows.
fn check_step(
    limits: &crate::plan::Limits,
    rows: &Rows,
    pos: usize,
    logits: &[f32],
    vocab: usize,
) -> Result<usize> {
    let nb = rows.tokens.len();
    let (slots, t) = (limits.rows(), limits.max_tgt);
    if nb == 0
        || nb > slots
        || rows.slots.len() != nb
        || rows.sentences.len() != nb
        || pos >= t
        || rows.anc.len() < slots * t
    {
        return Err(Error::BadLimit("step outside the planned rows or length"));
    }
    if rows.sentences.iter().any(|&s| s as usize >= limits.batch) {
        return Err(Error::BadLimit("sentence slot out of range"));
    }
    for &q in rows.slots {
        let q = q as usize;
        let hist = rows.anc.get(q * t..q * t + pos);
        if q >= slots || hist.is_none_or(|h| h.iter().any(|&a| a as usize >= slots)) {
            return Err(Error::BadLimit("ancestry slot out of range"));
        }
    }
    if logits.len() < nb * vocab {
        return Err(Error::OutputTooSmall {
            needed: nb * vocab * 4,
        });
    }
    Ok(nb)
}
