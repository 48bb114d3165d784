//! Greedy search: the most probable token at every step (ties go to the lower id, as argmax).

use super::{ban_repeated_ngrams, check, process_logits, split, Hypothesis, Options, Special};
use crate::error::{Error, Result};
use crate::kernels::scalar::max;
use crate::model::{Rows, Seq2Seq};
use crate::plan::Limits;

/// Greedy decoding of `src` into `out` (at least `opts.max_len` long), handing the tokens chosen
/// so far to `on_token` after every step (streaming; a no-op closure for plain decoding).
#[allow(clippy::too_many_arguments)]
pub fn generate_observed<M: Seq2Seq>(
    model: &M,
    ws: &mut [u8],
    limits: &Limits,
    src: &[u32],
    special: &Special,
    opts: &Options,
    out: &mut [u32],
    on_token: &mut dyn FnMut(&[u32]) -> Result<()>,
) -> Result<Hypothesis> {
    let mut hyp = [Hypothesis { len: 0, score: 0.0 }];
    let mut each = |_: usize, tokens: &[u32]| on_token(tokens);
    run(
        model,
        ws,
        limits,
        &[src],
        special,
        (opts, &|_| opts.max_len),
        out,
        &mut hyp,
        &mut each,
    )?;
    Ok(hyp[0])
}

/// Greedy decoding of up to `limits.batch` sentences together: each step runs every unfinished
/// sentence as one row of the same decoder pass; a finished sentence leaves the rows (its
/// cache slot stays its own), so the batch shrinks as sentences end. Sentence `i` writes
/// `out[i * opts.max_len..]` and `hyps[i]`, and stops at `max_len_of(i)` tokens (at most
/// `opts.max_len`): its own cap, so each gets exactly what it gets decoded alone, whatever
/// its neighbours.
#[allow(clippy::too_many_arguments)]
pub fn generate_batch<M: Seq2Seq>(
    model: &M,
    ws: &mut [u8],
    limits: &Limits,
    srcs: &[&[u32]],
    special: &Special,
    (opts, max_len_of): (&Options, &dyn Fn(usize) -> usize),
    out: &mut [u32],
    hyps: &mut [Hypothesis],
) -> Result<()> {
    run(
        model,
        ws,
        limits,
        srcs,
        special,
        (opts, max_len_of),
        out,
        hyps,
        &mut |_, _| Ok(()),
    )
}

/// The greedy loop; `on_token(i, tokens)` sees sentence `i`'s tokens after each of its steps.
#[allow(clippy::too_many_arguments)]
fn run<M: Seq2Seq>(
    model: &M,
    ws: &mut [u8],
    limits: &Limits,
    srcs: &[&[u32]],
    special: &Special,
    (opts, max_len_of): (&Options, &dyn Fn(usize) -> usize),
    out: &mut [u32],
    hyps: &mut [Hypothesis],
    on_token: &mut dyn FnMut(usize, &[u32]) -> Result<()>,
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
    let (mut state, sb) = split(model, limits, ws)?;
    for (i, src) in srcs.iter().enumerate() {
        model.encode(&mut state, i, src)?;
    }
    let (v, t) = (model.vocab_size(), limits.max_tgt);
    // Row r is sentence sentences[r], whose cache slot is its own index for its whole life.
    for (i, h) in hyps.iter_mut().enumerate().take(n) {
        sb.tokens[i] = special.decoder_start;
        sb.sentences[i] = i as u32;
        *h = Hypothesis { len, score: 0.0 };
    }
    let mut live = n;
    // Banned n-grams are marked at their ids: those steps need the full layout.
    let sparse = opts.no_repeat_ngram == 0;
    for pos in 0..len {
        for &q in &sb.sentences[..live] {
            sb.anc[q as usize * t + pos] = q;
        }
        let rows = Rows {
            tokens: &sb.tokens[..live],
            slots: &sb.sentences[..live],
            sentences: &sb.sentences[..live],
            anc: sb.anc,
            sparse,
        };
        model.step(&mut state, &rows, pos, sb.logits)?;
        let mut kept = 0;
        for r in 0..live {
            let logits = &mut sb.logits[r * v..(r + 1) * v];
            let i = sb.sentences[r] as usize;
            let own = Options {
                max_len: max_len_of(i).clamp(1, len),
                ..*opts
            };
            if opts.no_repeat_ngram > 0 {
                let generated = &out[i * len..i * len + pos];
                ban_repeated_ngrams(
                    logits,
                    opts.no_repeat_ngram,
                    special.decoder_start,
                    generated,
                );
            }
            let token = match model.candidates(&state, i) {
                Some(cands) => {
                    let at = match sparse {
                        true => Scores::InOrder(&logits[..cands.len()]),
                        false => Scores::AtIds(logits),
                    };
                    argmax_among(at, cands, special, pos, &own)
                }
                None => {
                    process_logits(logits, special, pos, &own);
                    argmax(logits)
                }
            };
            out[i * len + pos] = token;
            on_token(i, &out[i * len..i * len + pos + 1])?;
            if token == special.eos || pos + 1 == own.max_len {
                hyps[i].len = pos + 1;
            } else {
                sb.tokens[kept] = token;
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

/// Where a step left the candidates' logits (see [`Rows::sparse`]).
#[derive(Clone, Copy)]
enum Scores<'a> {
    /// Candidate `j`'s at `j`.
    InOrder(&'a [f32]),
    /// Candidate `c`'s at `c` (a whole vocabulary's row).
    AtIds(&'a [f32]),
}

/// What [`process_logits`] then [`argmax`] choose when only `cands` (sorted) can be finite,
/// reading only those: the first best candidate, with the suppressed token and (before
/// `min_len`) EOS left out, and EOS when it is forced. With no finite candidate, EOS.
fn argmax_among(
    logits: Scores,
    cands: &[u32],
    special: &Special,
    pos: usize,
    opts: &Options,
) -> u32 {
    if let Some(first) = special.forced_first.filter(|_| pos == 0) {
        return first;
    }
    if pos >= opts.min_len && special.forced_eos && pos + 1 == opts.max_len {
        return special.eos;
    }
    let mut best = (f32::NEG_INFINITY, None);
    for (j, &c) in cands.iter().enumerate() {
        if Some(c) == special.suppress || (pos < opts.min_len && c == special.eos) {
            continue;
        }
        let v = match logits {
            Scores::InOrder(s) => s.get(j),
            Scores::AtIds(s) => s.get(c as usize),
        };
        if let Some(&v) = v {
            if v > best.0 {
                best = (v, Some(c));
            }
        }
    }
    best.1.unwrap_or(special.eos)
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
            *l = max(*l, v);
        }
    }
    let max = lanes
        .iter()
        .chain(rest)
        .fold(f32::NEG_INFINITY, |a, &b| max(a, b));
    x.iter().position(|&v| v == max).unwrap_or(0) as u32
}

#[cfg(test)]
mod tests {
    #[test]
    fn argmax_among_candidates_equals_the_full_argmax() {
        use super::super::{Options, Special};
        use super::{argmax, argmax_among, process_logits, Scores};
        let mut seed = 0x1234_5678u32;
        let mut rnd = move || {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            seed
        };
        // Under Miri 2000 cases took 75 s of CI; 100 still cover every branch.
        let cases = if cfg!(miri) { 100 } else { 2000 };
        for case in 0..cases {
            let special = Special {
                decoder_start: 0,
                eos: 0,
                suppress: Some(39),
                forced_eos: case % 2 == 0,
                forced_first: None,
            };
            let opts = Options {
                min_len: (rnd() % 4) as usize,
                ..Options::greedy(6)
            };
            let pos = (rnd() % 6) as usize;
            // A sorted candidate set (0 and often the suppressed 39 in it), ties made likely.
            let mut cands: heapless::Vec<u32, 40> =
                (0..40u32).filter(|c| *c == 0 || rnd() % 3 == 0).collect();
            cands.sort_unstable();
            let mut full = [f32::NEG_INFINITY; 40];
            for &c in &cands {
                full[c as usize] = (rnd() % 5) as f32;
            }
            // What a sparse step writes (the candidates' scores in order; after them,
            // anything) and a full one (at their ids; elsewhere -inf, but anything is read).
            let (mut in_order, mut at_ids) = ([f32::NAN; 40], [f32::NAN; 40]);
            for (j, &c) in cands.iter().enumerate() {
                in_order[j] = full[c as usize];
                at_ids[c as usize] = full[c as usize];
            }
            process_logits(&mut full, &special, pos, &opts);
            let want = argmax(&full);
            for at in [Scores::InOrder(&in_order), Scores::AtIds(&at_ids)] {
                let got = argmax_among(at, &cands, &special, pos, &opts);
                if full.iter().any(|v| v.is_finite()) {
                    assert_eq!(got, want, "case {case}: pos {pos}, {opts:?}, {cands:?}");
                }
            }
        }
    }
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
