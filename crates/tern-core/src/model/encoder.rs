//! The encoder: embeddings, one layer type run `layers` times, the final norm, then each decoder
//! layer's cross-attention keys and values, computed once per sentence.

use super::attention::Grid;
use super::decoder::copy_rows;
use super::layers::{add_positions, attend, attend_rows, PositionBias, RowPositions, Scratch};
use super::spec::{KvInput, Spec};
use super::state::State;
use super::weights::EncoderLayer;
use super::Transformer;
use crate::error::{Error, Result};
use crate::kernels::Kernels;
use crate::plan::Carver;

impl EncoderLayer<'_> {
    /// Runs the layer over `n` rows of `x` (every row attends to every row). With `keep`, its
    /// attention weights go to the grid as layer `keep.1`'s. `rel_bias` is the stack's relative
    /// position bias table, where the spec has one.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn forward(
        &self,
        kern: &Kernels,
        spec: &Spec,
        x: &mut [f32],
        n: usize,
        s: &mut Scratch<Carver<'_>>,
        mut keep: Option<(&mut Grid, usize)>,
        rel_bias: Option<&[f32]>,
    ) {
        let a = &self.attn;
        let heads = spec.encoder.heads;
        // The attention's width (`d` unless heads have their own width).
        let w = a.q.w.rows;
        let input = self.attn_wrap.input(x, s.pre);
        a.q.forward(kern, input, n, s.q, &mut s.qs);
        // The Marian toolkit normalizes only the query: its keys and values read the raw input.
        let kv_input = match spec.encoder_kv {
            KvInput::Normed => input,
            KvInput::Raw => &*x,
        };
        a.k.forward(kern, kv_input, n, s.k, &mut s.qs);
        a.v.forward(kern, kv_input, n, s.v, &mut s.qs);
        let scale = spec.attention_factor(w / heads);
        if keep.is_none() && rel_bias.is_none() {
            // Every row against the same keys: one fan-out for the layer's attention.
            let (q, ctx) = (&s.q[..n * w], &mut s.ctx[..]);
            let (scores, offs) = (&mut s.scores[..], &mut s.offs[..]);
            attend_rows(kern, (q, w), s.k, s.v, n, heads, scale, scores, offs, ctx);
        } else {
            for t in 0..n {
                let row = t * w..(t + 1) * w;
                let bias = rel_bias
                    .zip(spec.relative_bias)
                    .map(|(table, rel)| PositionBias {
                        table,
                        rel,
                        query: t,
                        bidirectional: true,
                        buckets: &mut s.buckets[..],
                    });
                attend(
                    kern,
                    &s.q[row.clone()],
                    s.k,
                    s.v,
                    n,
                    |r| r,
                    heads,
                    scale,
                    s.scores,
                    s.offs,
                    &mut s.ctx[row],
                    keep.as_mut().and_then(|(grid, l)| grid.at(*l, t)),
                    bias,
                );
            }
        }
        a.o.forward(kern, s.ctx, n, s.tmp, &mut s.qs);
        self.attn_wrap.output(x, s.tmp);
        self.ffn.forward(kern, &self.ffn_wrap, x, n, s);
    }
}

impl Transformer<'_> {
    /// Token embedding times the spec's scale into `row` (positions come after, for all rows
    /// at once: [`Self::add_positions`]); `None` is the decoder's all-zero start (the Marian
    /// toolkit).
    pub(crate) fn embed(&self, decoder: bool, id: Option<u32>, row: &mut [f32]) -> Result<()> {
        let ends = &self.weights.ends;
        let (table, rows) = match decoder {
            false => (&ends.enc_embed, self.spec.source_vocab_size),
            true => (&ends.dec_embed, self.spec.vocab_size),
        };
        match id {
            Some(id) if id as usize >= rows => {
                return Err(Error::BadTokenizer("token id beyond the vocabulary"))
            }
            Some(id) => {
                table.row_into(id as usize, row);
                let scale = self.spec.embedding_scale;
                if scale != 1.0 {
                    row.iter_mut().for_each(|v| *v *= scale);
                }
            }
            None => row.fill(0.0),
        }
        Ok(())
    }

    /// Adds the positions of the embedded rows `x` (before the spec's offset).
    pub(crate) fn add_positions(&self, decoder: bool, x: &mut [f32], at: RowPositions) {
        let ends = &self.weights.ends;
        let table = match decoder {
            false => ends.enc_positions.as_ref(),
            true => ends.dec_positions.as_ref(),
        };
        let (d, at) = (self.spec.d_model, at.shifted(self.spec.position_offset));
        add_positions(&self.kernels, (self.spec.positions, table), x, d, at);
    }

    /// Encodes sentence slot `sentence`: the stack over `src`, then the cross-attention keys
    /// and values of every decoder layer. With `keep` (sized for `src`), the self-attention
    /// weights go there.
    pub(crate) fn encode_into(
        &self,
        st: &mut State<Carver<'_>>,
        sentence: usize,
        src: &[u32],
        mut keep: Option<&mut Grid>,
    ) -> Result<()> {
        let limits = st.dims.limits;
        limits.check(self.spec.max_positions)?;
        let n = src.len();
        if n == 0 || n > limits.max_src {
            return Err(Error::InputTooLong {
                tokens: n,
                max: limits.max_src,
            });
        }
        if sentence >= limits.batch {
            return Err(Error::BadLimit("sentence slot out of range"));
        }
        let (d, kern) = (self.spec.d_model, &self.kernels);
        st.src_len[sentence] = 0;
        for (&id, row) in src.iter().zip(st.x.chunks_exact_mut(d)) {
            self.embed(false, Some(id), row)?;
        }
        self.add_positions(false, &mut st.x[..n * d], RowPositions::From(0));
        let ends = &self.weights.ends;
        if let Some(list) = &ends.shortlist {
            let cap = st.dims.cands;
            let cands = &mut st.cands[sentence * cap..(sentence + 1) * cap];
            let listed = list.build(src, st.seen, cands)?;
            st.n_cands[sentence] = listed as u32;
            let copied = st.copied.of_mut(sentence, st.dims.copied, d);
            copy_rows((&ends.output, ends.output_bias), &cands[..listed], copied)?;
        }
        let x = &mut st.x[..n * d];
        if let Some(norm) = &ends.enc_embed_norm {
            norm.forward(x);
        }
        for (l, layer) in self.weights.encoder.iter().enumerate() {
            let keep = keep.as_deref_mut().map(|grid| (grid, l));
            layer.forward(kern, &self.spec, x, n, &mut st.s, keep, ends.enc_rel_bias);
        }
        if let Some(norm) = &ends.enc_final_norm {
            norm.forward(x);
        }
        let w = st.dims.attn;
        let (layer_size, one) = (st.dims.cross_layer, limits.max_src * w);
        for (l, layer) in self.weights.decoder.iter().enumerate() {
            let span = l * layer_size + sentence * one..l * layer_size + sentence * one + n * w;
            layer.cross.project_kv(
                kern,
                x,
                n,
                &mut st.cross_k[span.clone()],
                &mut st.cross_v[span],
                &mut st.s.qs,
            );
        }
        st.src_len[sentence] = n as u32;
        Ok(())
    }
}
