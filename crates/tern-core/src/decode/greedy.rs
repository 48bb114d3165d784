//! Greedy search: the most probable token at every step (ties go to the lower id, as argmax).

use super::{check, process_logits, split, Hypothesis, Options, Special};
use crate::error::{Error, Result};
use crate::model::{Rows, Seq2Seq};
use crate::plan::Limits;

/// Greedy decoding of `src` into `out` (at least `opts.max_len` long).
#[allow(clippy::too_many_arguments)]
pub fn generate<M: Seq2Seq + ?Sized>(
    model: &M,
    ws: &mut [u8],
    limits: &Limits,
    src: &[u32],
    context: Option<&[u32]>,
    special: &Special,
    opts: &Options,
    out: &mut [u32],
) -> Result<Hypothesis> {
    let mut hyp = [Hypothesis { len: 0, score: 0.0 }];
    let context = context.map(|c| [c]);
    let context = context.as_ref().map(|c| &c[..]);
    generate_batch(
        model,
        ws,
        limits,
        &[src],
        context,
        special,
        opts,
        out,
        &mut hyp,
    )?;
    Ok(hyp[0])
}

/// Greedy decoding of up to `limits.batch` sentences together: each step runs every unfinished
/// sentence as one row of the same decoder pass; a finished sentence leaves the rows (its
/// cache slot stays its own), so the batch shrinks as sentences end. Sentence `i` writes
/// `out[i * opts.max_len..]` and `hyps[i]`; each gets exactly what it gets decoded alone.
/// `context[i]`, if given, chooses sentence `i`'s output candidates in models with a shortlist
/// ([`Seq2Seq::restrict_output`]).
#[allow(clippy::too_many_arguments)]
pub fn generate_batch<M: Seq2Seq + ?Sized>(
    model: &M,
    ws: &mut [u8],
    limits: &Limits,
    srcs: &[&[u32]],
    context: Option<&[&[u32]]>,
    special: &Special,
    opts: &Options,
    out: &mut [u32],
    hyps: &mut [Hypothesis],
) -> Result<()> {
    check(limits, opts, model.max_positions())?;
    let n = srcs.len();
    if n == 0 || n > limits.batch || opts.beam != 1 {
        return Err(Error::BadLimit("batch: 1..=limits.batch sentences, greedy"));
    }
    let len = opts.max_len;
    if out.len() < n * len || hyps.len() < n {
        return Err(Error::OutputTooSmall {
            needed: n * len * 4,
        });
    }
    let (state, sb) = split(model, limits, ws)?;
    for (i, src) in srcs.iter().enumerate() {
        model.encode(state, limits, i, src)?;
    }
    if let Some(context) = context {
        for (i, words) in context.iter().enumerate().take(n) {
            model.restrict_output(state, limits, i, words)?;
        }
    }
    let (v, t) = (model.vocab_size(), limits.max_tgt);
    // Row r is sentence sentences[r], which keeps cache slot r0 = its index for its whole life.
    for i in 0..n {
        sb.tokens[i] = special.decoder_start;
        sb.slots[i] = i as u32;
        sb.sentences[i] = i as u32;
        hyps[i] = Hypothesis { len, score: 0.0 };
    }
    let mut live = n;
    for pos in 0..len {
        for &q in &sb.slots[..live] {
            sb.anc[q as usize * t + pos] = q;
        }
        let rows = Rows {
            tokens: &sb.tokens[..live],
            slots: &sb.slots[..live],
            sentences: &sb.sentences[..live],
            anc: sb.anc,
        };
        model.step(state, limits, &rows, pos, sb.logits)?;
        let mut kept = 0;
        for r in 0..live {
            let logits = &mut sb.logits[r * v..(r + 1) * v];
            process_logits(logits, special, pos, opts);
            let token = argmax(logits);
            let i = sb.sentences[r] as usize;
            out[i * len + pos] = token;
            if token == special.eos {
                hyps[i].len = pos + 1;
            } else {
                sb.tokens[kept] = token;
                sb.slots[kept] = sb.slots[r];
                sb.sentences[kept] = sb.sentences[r];
                kept += 1;
            }
        }
        live = kept;
        if live == 0 {
            break;
        }
    }
    Ok(())
}

/// Index of the largest value, the first one on ties (NaN never wins). Two passes (the maximum
/// in eight independent lanes, then its first position) so that both vectorize: the greedy loop
/// scans the whole vocabulary every step.
pub fn argmax(x: &[f32]) -> u32 {
    let mut lanes = [f32::NEG_INFINITY; 8];
    let chunks = x.chunks_exact(8);
    let rest = chunks.remainder();
    for c in chunks {
        for (l, &v) in lanes.iter_mut().zip(c) {
            *l = l.max(v);
        }
    }
    let max = lanes
        .iter()
        .chain(rest)
        .fold(f32::NEG_INFINITY, |a, &b| a.max(b));
    x.iter().position(|&v| v == max).unwrap_or(0) as u32
}

#[cfg(test)]
mod tests {
    #[test]
    fn argmax_first_of_ties_and_ignores_nan() {
        use super::argmax;
        assert_eq!(argmax(&[]), 0);
        assert_eq!(argmax(&[f32::NEG_INFINITY; 3]), 0);
        let mut v = [0f32; 37];
        v[20] = 2.0;
        v[33] = 2.0;
        v[5] = f32::NAN;
        assert_eq!(argmax(&v), 20);
        v[36] = 3.0;
        assert_eq!(argmax(&v), 36);
    }
}
