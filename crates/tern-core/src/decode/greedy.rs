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
        process_logits(logits, special, pos, opts.max_len);
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

/// Index of the largest value, the first one on ties (NaN never wins).
pub fn argmax(x: &[f32]) -> u32 {
    let mut best = 0;
    let mut best_v = f32::NEG_INFINITY;
    for (i, &v) in x.iter().enumerate() {
        if v > best_v {
            best = i;
            best_v = v;
        }
    }
    best as u32
}
