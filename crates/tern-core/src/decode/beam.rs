//! Beam search as Hugging Face transformers 5.x `generate(num_beams=B)` runs it for one
//! sentence: log-softmax, logits processors, then the beams' running sums; the best `2B`
//! continuations over all beams; those that end (EOS, or any token at the last allowed step)
//! and rank within the first `B` become finished hypotheses scored
//! `sum_logprobs / generated_len^length_penalty` (the final token counted), the best `B` of which
//! are kept; the rest fill the next `B` beams. Search stops at the length limit, or when all `B`
//! finished slots are full and the best running beam, divided by its length so far, cannot beat
//! the worst of them (HF's `early_stopping=False` heuristic; `True` stops once the slots are
//! full).
//!
//! Beams never copy their key/value caches: each beam keeps an ancestry row saying which cache
//! slot holds each of its earlier positions, and only those rows (a few integers) are reordered.

use super::{
    ban_repeated_ngrams, check, process_logits, split, Hypothesis, Options, SearchBuffers, Special,
};
use crate::error::{Error, Result};
use crate::kernels::Exp;
use crate::model::{Rows, Seq2Seq};
use crate::plan::Limits;

/// Score given to beams that do not exist yet (all beams but the first at the first step).
const INACTIVE: f32 = -1e9;

/// Beam search of `src`, writing the best finished hypothesis into `out`.
pub fn generate<M: Seq2Seq>(
    model: &M,
    ws: &mut [u8],
    limits: &Limits,
    src: &[u32],
    special: &Special,
    opts: &Options,
    out: &mut [u32],
) -> Result<Hypothesis> {
    let mut best = Hypothesis {
        len: 0,
        score: f32::NEG_INFINITY,
    };
    search(model, ws, limits, src, special, opts, |tokens, score| {
        if score > best.score {
            best = Hypothesis {
                len: tokens.len(),
                score,
            };
            out.get_mut(..tokens.len())
                .ok_or(Error::OutputTooSmall {
                    needed: tokens.len() * 4,
                })?
                .copy_from_slice(tokens);
        }
        Ok(())
    })?;
    Ok(best)
}

/// Runs the search and hands every final hypothesis (up to `opts.beam`, unordered) to `emit`
/// with its score. Tokens include EOS when the hypothesis ended with it.
pub fn search<M: Seq2Seq>(
    model: &M,
    ws: &mut [u8],
    limits: &Limits,
    src: &[u32],
    special: &Special,
    opts: &Options,
    mut emit: impl FnMut(&[u32], f32) -> Result<()>,
) -> Result<()> {
    check(limits, opts, model.max_positions())?;
    let (mut state, sb) = split(model, limits, ws)?;
    let SearchBuffers {
        logits,
        mut anc,
        mut anc_next,
        mut hist,
        mut hist_next,
        tokens,
        scores,
        sentences: _,
        cand_idx,
        cand_score,
        done_tokens,
        done_len,
        done_score,
    } = sb;
    model.encode(&mut state, 0, src)?;
    let (nb, t_max, v) = (opts.beam, limits.max_tgt, model.vocab_size());
    tokens[..nb].fill(special.decoder_start);
    scores[..nb].fill(INACTIVE);
    scores[0] = 0.0;
    let mut done = Finished {
        tokens: done_tokens,
        lens: done_len,
        scores: done_score,
        n: 0,
        cap: nb,
        t_max,
    };
    for pos in 0..opts.max_len {
        for b in 0..nb {
            anc[b * t_max + pos] = b as u32;
        }
        model.step(&mut state, &Rows::beams(&tokens[..nb], anc), pos, logits)?;
        for b in 0..nb {
            let row = &mut logits[b * v..(b + 1) * v];
            log_softmax(model.kernels().exp, row);
            if opts.no_repeat_ngram > 0 {
                let generated = &hist[b * t_max..b * t_max + pos];
                ban_repeated_ngrams(row, opts.no_repeat_ngram, special.decoder_start, generated);
            }
            process_logits(row, special, pos, opts);
            let s = scores[b];
            row.iter_mut().for_each(|x| *x += s);
        }
        let k = 2 * nb;
        top_k(&logits[..nb * v], &mut cand_idx[..k], &mut cand_score[..k]);
        // Best first. A candidate that ends (EOS, or any token at the length limit) finishes a
        // hypothesis if it ranks among the first `nb`; the others become the next beams.
        let last = pos + 1 == opts.max_len;
        let mut next = 0;
        for r in 0..k {
            let (idx, score) = (cand_idx[r] as usize, cand_score[r]);
            let (parent, tok) = (idx / v, (idx % v) as u32);
            let (from, to) = (parent * t_max, next * t_max);
            if tok == special.eos || last {
                if r < nb {
                    // HF 5.x divides by the generated length, the final token included.
                    done.add(
                        &hist[from..from + pos],
                        tok,
                        score,
                        pos + 1,
                        opts.length_penalty,
                    );
                }
                continue;
            }
            if next == nb {
                continue;
            }
            tokens[next] = tok;
            scores[next] = score;
            anc_next[to..to + pos].copy_from_slice(&anc[from..from + pos]);
            anc_next[to + pos] = parent as u32;
            hist_next[to..to + pos].copy_from_slice(&hist[from..from + pos]);
            hist_next[to + pos] = tok;
            next += 1;
        }
        if last {
            break;
        }
        if next < nb {
            return Err(Error::BadLimit("beam search ran out of candidates"));
        }
        core::mem::swap(&mut anc, &mut anc_next);
        core::mem::swap(&mut hist, &mut hist_next);
        let best_running = scores[..nb]
            .iter()
            .fold(f32::NEG_INFINITY, |a, &b| a.max(b));
        if done.is_done(best_running, pos + 1, opts) {
            break;
        }
    }
    for i in 0..done.n {
        let len = done.lens[i] as usize;
        emit(&done.tokens[i * t_max..i * t_max + len], done.scores[i])?;
    }
    Ok(())
}

/// The finished hypotheses: at most `cap`; when full, a better one
/// replaces the worst.
struct Finished<'w> {
    tokens: &'w mut [u32],
    lens: &'w mut [u32],
    scores: &'w mut [f32],
    n: usize,
    cap: usize,
    t_max: usize,
}

impl Finished<'_> {
    fn worst(&self) -> (usize, f32) {
        let mut w = (0, f32::INFINITY);
        for (i, &s) in self.scores[..self.n].iter().enumerate() {
            if s < w.1 {
                w = (i, s);
            }
        }
        w
    }

    /// Adds `prefix` + `last` whose log-probs sum to `sum`; `gen_len` is what HF divides by.
    fn add(&mut self, prefix: &[u32], last: u32, sum: f32, gen_len: usize, lp: f32) {
        let score = sum / libm::powf(gen_len.max(1) as f32, lp);
        let slot = if self.n < self.cap {
            self.n += 1;
            self.n - 1
        } else {
            let (w, ws) = self.worst();
            if score <= ws {
                return;
            }
            w
        };
        let row = &mut self.tokens[slot * self.t_max..(slot + 1) * self.t_max];
        row[..prefix.len()].copy_from_slice(prefix);
        row[prefix.len()] = last;
        self.lens[slot] = prefix.len() as u32 + 1;
        self.scores[slot] = score;
    }

    /// HF's `_check_early_stop_heuristic` / `_beam_search_has_unfinished_sequences`.
    fn is_done(&self, best_running: f32, cur_len: usize, opts: &Options) -> bool {
        if self.n < self.cap {
            return false;
        }
        if opts.early_stopping {
            return true;
        }
        let highest = best_running / libm::powf(cur_len as f32, opts.length_penalty);
        self.worst().1 >= highest
    }
}

/// `x = x - logsumexp(x)`. The exponentials go through the table's `exp` (libm's bits, in
/// SIMD where the table has it) a block at a time in a stack buffer, and are summed in order.
fn log_softmax(exp: Exp, x: &mut [f32]) {
    let max = x.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
    let mut block = [0f32; 64];
    let mut sum = 0f32;
    for chunk in x.chunks(block.len()) {
        let e = &mut block[..chunk.len()];
        e.iter_mut().zip(chunk).for_each(|(e, &v)| *e = v - max);
        exp(e);
        sum = e.iter().fold(sum, |s, &v| s + v);
    }
    let lse = max + libm::logf(sum);
    x.iter_mut().for_each(|v| *v -= lse);
}

/// The `k` largest values of `x` with their indices, best first (lower index first on ties).
fn top_k(x: &[f32], idx: &mut [u32], val: &mut [f32]) {
    let k = idx.len();
    let mut n = 0;
    for (i, &v) in x.iter().enumerate() {
        if n == k && v.partial_cmp(&val[k - 1]) != Some(core::cmp::Ordering::Greater) {
            continue;
        }
        let mut j = if n < k { n } else { k - 1 };
        while j > 0 && v > val[j - 1] {
            if j < k {
                val[j] = val[j - 1];
                idx[j] = idx[j - 1];
            }
            j -= 1;
        }
        val[j] = v;
        idx[j] = i as u32;
        if n < k {
            n += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_k_orders_and_breaks_ties_low_first() {
        let x = [0.5, 3.0, -1.0, 3.0, 2.0, 7.0];
        let (mut i, mut v) = ([0u32; 3], [0f32; 3]);
        top_k(&x, &mut i, &mut v);
        assert_eq!(i, [5, 1, 3]);
        assert_eq!(v, [7.0, 3.0, 3.0]);
    }

    #[test]
    fn log_softmax_sums_to_one() {
        let mut x = [1.0f32, 2.0, 3.0];
        log_softmax(crate::kernels::scalar::exp, &mut x);
        let s: f32 = x.iter().map(|v| libm::expf(*v)).sum();
        assert!((s - 1.0).abs() < 1e-6);
    }
}
