//! Greedy search: the most probable token at every step (ties go to the lower id, as argmax).

use super::{check, process_logits, split, Hypothesis, Options, Special};
use crate::error::{Error, Result};
use crate::model::Seq2Seq;
use crate::plan::Limits;

/// Greedy decoding of `src` into `out` (at least `opts.max_len` long).
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
    check(limits, opts, model.max_positions())?;
    if out.len() < opts.max_len {
        return Err(Error::OutputTooSmall {
            needed: opts.max_len * 4,
        });
    }
    let (state, sb) = split(model, limits, ws)?;
    model.encode(state, limits, src)?;
    if let Some(words) = context {
        model.restrict_output(state, limits, words)?;
    }
    let v = model.vocab_size();
    let mut token = special.decoder_start;
    for pos in 0..opts.max_len {
        // Beam 0 always sits in cache slot 0.
        sb.anc[pos] = 0;
        model.step(
            state,
            limits,
            core::slice::from_ref(&token),
            pos,
            sb.anc,
            sb.logits,
        )?;
        let logits = &mut sb.logits[..v];
        process_logits(logits, special, pos, opts);
        token = argmax(logits);
        out[pos] = token;
        if token == special.eos {
            return Ok(Hypothesis {
                len: pos + 1,
                score: 0.0,
            });
        }
    }
    Ok(Hypothesis {
        len: opts.max_len,
        score: 0.0,
    })
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
