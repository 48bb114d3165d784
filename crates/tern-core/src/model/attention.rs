//! The attention weights behind a translation, kept to be looked at: heatmaps, word alignments,
//! markup carried onto the translated words. Decoding keeps nothing (so it costs nothing when
//! nobody looks); [`Transformer::attention`] runs the decoder again over the finished output
//! (teacher forcing), which computes exactly the weights the search computed for that output,
//! greedy or beam alike, for the price of one more decoder pass. Everything goes to the caller's
//! buffers, sized by [`Transformer::attention_sizes`]; nothing is allocated.

use super::layers::Keep;
use super::{Rows, Seq2Seq, Transformer};
use crate::decode;
use crate::error::{Error, Result};
use crate::plan::Limits;

/// Attention weights laid out `[layer][head][query][key]`, as HF's `output_attentions`: row
/// `(layer, head, query)` is that query's distribution over the keys.
pub struct Grid<'g> {
    pub out: &'g mut [f32],
    pub heads: usize,
    pub queries: usize,
    pub keys: usize,
}

impl Grid<'_> {
    /// Where layer `l`'s weights for query `q` go (`None` past the buffer's end).
    pub(crate) fn at(&mut self, l: usize, q: usize) -> Option<Keep<'_>> {
        let start = (l * self.heads * self.queries + q) * self.keys;
        Some(Keep {
            out: self.out.get_mut(start..)?,
            head_stride: self.queries * self.keys,
        })
    }
}

/// Floats of one capture: the decoder's cross-attention, `layers x heads x target x source`, and
/// the encoder's self-attention, `layers x heads x source x source`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttentionSizes {
    pub cross: usize,
    pub encoder: usize,
}

impl Transformer<'_> {
    /// Buffer sizes for a source of `source` ids and a target of `target` decoder steps.
    pub fn attention_sizes(&self, source: usize, target: usize) -> AttentionSizes {
        let (enc, dec) = (&self.spec.encoder, &self.spec.decoder);
        AttentionSizes {
            cross: dec.layers * dec.heads * target * source,
            encoder: enc.layers * enc.heads * source * source,
        }
    }

    /// Runs the encoder over `src` and the decoder over `output` (teacher forcing: the decoder
    /// starts from `start`, then reads every output token but the last), writing the decoder's
    /// cross-attention weights to `cross` (row `t`: the distribution over `src` when `output[t]`
    /// was predicted) and, when given, the
    /// encoder's self-attention to `encoder` (see [`Grid`] for the layout,
    /// [`attention_sizes`](Self::attention_sizes) for the sizes). `ws` is a decoding workspace
    /// for `limits` ([`decode::workspace_bytes`]).
    pub fn attention(
        &self,
        ws: &mut [u8],
        limits: &Limits,
        src: &[u32],
        (start, output): (u32, &[u32]),
        cross: &mut [f32],
        encoder: Option<&mut [f32]>,
    ) -> Result<()> {
        limits.check(self.spec.max_positions)?;
        if output.is_empty() || output.len() > limits.max_tgt {
            return Err(Error::BadLimit("output must be 1..=max_tgt tokens"));
        }
        // Checked before sizing: the sizes grow with the square of the source length.
        if src.is_empty() || src.len() > limits.max_src {
            return Err(Error::InputTooLong {
                tokens: src.len(),
                max: limits.max_src,
            });
        }
        let sizes = self.attention_sizes(src.len(), output.len());
        let encoder_floats = if encoder.is_some() { sizes.encoder } else { 0 };
        let short_encoder = encoder.as_ref().is_some_and(|e| e.len() < sizes.encoder);
        if cross.len() < sizes.cross || short_encoder {
            return Err(Error::OutputTooSmall {
                needed: (sizes.cross + encoder_floats) * 4,
            });
        }
        let (mut state, sb) = decode::split(self, limits, ws)?;
        let mut enc_grid = encoder.map(|out| Grid {
            out,
            heads: self.spec.encoder.heads,
            queries: src.len(),
            keys: src.len(),
        });
        self.encode_into(&mut state, 0, src, enc_grid.as_mut())?;
        let mut grid = Grid {
            out: cross,
            heads: self.spec.decoder.heads,
            queries: output.len(),
            keys: src.len(),
        };
        let v = self.vocab_size();
        let inputs = core::iter::once(&start).chain(&output[..output.len() - 1]);
        for (pos, &tok) in inputs.enumerate() {
            sb.anc[pos] = 0;
            let rows = Rows::beams(core::slice::from_ref(&tok), sb.anc);
            self.step_into(&mut state, &rows, pos, &mut sb.logits[..v], Some(&mut grid))?;
        }
        Ok(())
    }
}

#[cfg(all(test, feature = "alloc"))]
mod tests {
    #![allow(clippy::unwrap_used)]
    extern crate alloc;
    use super::*;
    use crate::decode::tests::{aligned, synthetic};
    use crate::gguf::{Gguf, TensorType};
    use crate::kernels::Kernels;
    use alloc::vec;
    use alloc::vec::Vec;

    /// The synthetic model's cross and encoder attention for `output`.
    fn capture(m: &Transformer, src: &[u32], output: &[u32]) -> (Vec<f32>, Vec<f32>) {
        let limits = Limits {
            max_src: 16,
            max_tgt: 12,
            beam: 1,
            batch: 1,
        };
        let mut ws = vec![0u8; decode::workspace_bytes(m, &limits)];
        let sizes = m.attention_sizes(src.len(), output.len());
        let (mut cross, mut enc) = (vec![-1f32; sizes.cross], vec![-1f32; sizes.encoder]);
        m.attention(
            &mut ws,
            &limits,
            src,
            (39, output),
            &mut cross,
            Some(&mut enc),
        )
        .unwrap();
        (cross, enc)
    }

    #[test]
    fn rows_are_distributions_and_later_tokens_change_no_earlier_row() {
        let bytes = synthetic(TensorType::F32);
        let store = aligned(&bytes);
        let g = Gguf::parse(&crate::plan::as_bytes(&store)[..bytes.len()]).unwrap();
        let m = Transformer::from_gguf(&g, Kernels::best()).unwrap();
        let (src, out) = ([5u32, 9, 13, 2, 0], [7u32, 3, 11, 0]);
        let (cross, enc) = capture(&m, &src, &out);
        for (grid, keys) in [(&cross, src.len()), (&enc, src.len())] {
            for row in grid.chunks_exact(keys) {
                let sum: f32 = row.iter().sum();
                assert!((sum - 1.0).abs() < 1e-5, "row sums to {sum}");
                assert!(row.iter().all(|&w| (0.0..=1.0).contains(&w)));
            }
        }
        // Decoder 2 layers x 2 heads; encoder 2 x 4 (the synthetic model's shape).
        assert_eq!(cross.len(), 2 * 2 * out.len() * src.len());
        assert_eq!(enc.len(), 2 * 4 * src.len() * src.len());
        // Teacher forcing is causal: the first two outputs' rows are the same alone.
        let (prefix, _) = capture(&m, &src, &out[..2]);
        let s = src.len();
        for lh in 0..4 {
            let whole = &cross[lh * out.len() * s..][..2 * s];
            assert_eq!(whole, &prefix[lh * 2 * s..][..2 * s]);
        }
        // A different source attends differently.
        let (other, _) = capture(&m, &[5, 9, 13, 6, 0], &out);
        assert_ne!(cross, other);
    }

    #[test]
    fn small_buffers_and_empty_outputs_are_refused() {
        let bytes = synthetic(TensorType::F32);
        let store = aligned(&bytes);
        let g = Gguf::parse(&crate::plan::as_bytes(&store)[..bytes.len()]).unwrap();
        let m = Transformer::from_gguf(&g, Kernels::best()).unwrap();
        let limits = Limits {
            max_src: 16,
            max_tgt: 12,
            beam: 1,
            batch: 1,
        };
        let mut ws = vec![0u8; decode::workspace_bytes(&m, &limits)];
        let src = [5u32, 0];
        let mut small = vec![0f32; m.attention_sizes(2, 3).cross - 1];
        let got = m.attention(&mut ws, &limits, &src, (39, &[1, 2, 0]), &mut small, None);
        assert!(matches!(got, Err(Error::OutputTooSmall { .. })));
        let got = m.attention(&mut ws, &limits, &src, (39, &[]), &mut small, None);
        assert!(matches!(got, Err(Error::BadLimit(_))));
        let long = [1u32; 13];
        let mut big = vec![0f32; m.attention_sizes(2, 13).cross];
        let got = m.attention(&mut ws, &limits, &src, (39, &long), &mut big, None);
        assert!(matches!(got, Err(Error::BadLimit(_))));
    }
}
