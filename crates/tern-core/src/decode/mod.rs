//! Decoding loops over any [`Seq2Seq`] model: greedy and beam search, in fixed-capacity buffers
//! carved from the caller's workspace. Logits processing follows Hugging Face `generate`: the
//! pad token is never produced (`bad_words_ids`), no n-gram repeats (`no_repeat_ngram_size`),
//! EOS waits for `min_length`, and the last allowed step forces EOS (`forced_eos_token_id`).

pub mod beam;
pub mod greedy;
#[cfg(all(test, feature = "alloc"))]
pub(crate) mod tests;

use crate::error::{Error, Result};
use crate::model::{Rows, Seq2Seq};
use crate::plan::{Carver, Limits, Sizer};

/// Token ids the search needs to know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Special {
    /// First decoder input (Marian: the pad id).
    pub decoder_start: u32,
    /// End of sentence.
    pub eos: u32,
    /// A token never to generate (Marian: pad), if any.
    pub suppress: Option<u32>,
    /// Force EOS at the last allowed step (HF `forced_eos_token_id`).
    pub forced_eos: bool,
    /// A token forced as the first generated one (HF `forced_bos_token_id`: NLLB's and
    /// M2M100's target language).
    pub forced_first: Option<u32>,
}

/// How to search.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Options {
    /// Beam size; 1 is greedy.
    pub beam: usize,
    /// Most tokens to generate, EOS included (HF `max_new_tokens`); at most `Limits::max_tgt`.
    pub max_len: usize,
    /// Beam hypotheses are ranked by `sum_logprobs / len^length_penalty`.
    pub length_penalty: f32,
    /// Stop as soon as `beam` hypotheses are finished (HF `early_stopping=True`).
    pub early_stopping: bool,
    /// Fewest tokens to generate before EOS may be chosen (HF `min_new_tokens`; 0: no minimum).
    /// Benchmarks use `min_len == max_len` to generate an exact number of tokens; it then
    /// takes precedence over a forced EOS at the last step.
    pub min_len: usize,
    /// No n-gram of this size occurs twice among the decoder inputs, the start token included
    /// (HF `no_repeat_ngram_size`); 0: off.
    pub no_repeat_ngram: usize,
}

impl Options {
    /// Greedy search up to `max_len` tokens.
    pub fn greedy(max_len: usize) -> Self {
        Options {
            beam: 1,
            max_len,
            length_penalty: 1.0,
            early_stopping: false,
            min_len: 0,
            no_repeat_ngram: 0,
        }
    }
}

/// HF's `NoRepeatNGramLogitsProcessor` for one row: the decoder inputs so far are `start` then
/// `generated`; every token that would complete an `n`-gram already among them (its first
/// `n - 1` tokens equal to the last `n - 1` inputs) becomes impossible.
pub(crate) fn ban_repeated_ngrams(logits: &mut [f32], n: usize, start: u32, generated: &[u32]) {
    let len = generated.len() + 1;
    if n == 0 || len < n {
        return;
    }
    let at = |k: usize| match k {
        0 => start,
        k => generated[k - 1],
    };
    // The last n - 1 inputs start here.
    let tail = len + 1 - n;
    for i in 0..=len - n {
        if (0..n - 1).all(|j| at(i + j) == at(tail + j)) {
            if let Some(v) = logits.get_mut(at(i + n - 1) as usize) {
                *v = f32::NEG_INFINITY;
            }
        }
    }
}

/// Applies HF's logits processors for step `pos` (0-based index of the token being chosen).
pub(crate) fn process_logits(logits: &mut [f32], special: &Special, pos: usize, opts: &Options) {
    if let Some(first) = special.forced_first.filter(|_| pos == 0) {
        // HF's ForcedBOSTokenLogitsProcessor: every other token impossible, this one log-prob 0.
        logits.iter_mut().for_each(|v| *v = f32::NEG_INFINITY);
        if let Some(v) = logits.get_mut(first as usize) {
            *v = 0.0;
        }
        return;
    }
    if let Some(s) = special.suppress {
        if let Some(v) = logits.get_mut(s as usize) {
            *v = f32::NEG_INFINITY;
        }
    }
    if pos < opts.min_len {
        if let Some(v) = logits.get_mut(special.eos as usize) {
            *v = f32::NEG_INFINITY;
        }
    } else if special.forced_eos && pos + 1 == opts.max_len {
        logits.iter_mut().for_each(|v| *v = f32::NEG_INFINITY);
        if let Some(v) = logits.get_mut(special.eos as usize) {
            *v = 0.0;
        }
    }
}

/// Bytes of search buffers (beyond the model state) for these limits.
pub fn search_bytes(limits: &Limits, vocab: usize) -> usize {
    let (r, t) = (limits.rows(), limits.max_tgt);
    let mut s = Sizer::default();
    s.add::<f32>(r * vocab); // logits
    s.add::<u32>(r * t).add::<u32>(r * t); // ancestry, and its next version
    s.add::<u32>(r * t).add::<u32>(r * t); // token histories, and their next version
    s.add::<u32>(r).add::<f32>(r); // current tokens, beam scores
    s.add::<u32>(r); // rows' sentences (greedy batches: also their cache slots)
    s.add::<u32>(2 * r).add::<f32>(2 * r); // candidates: flat index, score
    s.add::<u32>(r * t).add::<u32>(r).add::<f32>(r); // finished hypotheses: tokens, lengths, scores
    s.bytes()
}

/// Total workspace for a model and limits: model state plus search buffers.
pub fn workspace_bytes<M: Seq2Seq>(model: &M, limits: &Limits) -> usize {
    model.state_bytes(limits) + search_bytes(limits, model.vocab_size())
}

/// Search buffers, carved.
pub(crate) struct SearchBuffers<'w> {
    pub logits: &'w mut [f32],
    pub anc: &'w mut [u32],
    pub anc_next: &'w mut [u32],
    pub hist: &'w mut [u32],
    pub hist_next: &'w mut [u32],
    pub tokens: &'w mut [u32],
    pub scores: &'w mut [f32],
    pub sentences: &'w mut [u32],
    pub cand_idx: &'w mut [u32],
    pub cand_score: &'w mut [f32],
    pub done_tokens: &'w mut [u32],
    pub done_len: &'w mut [u32],
    pub done_score: &'w mut [f32],
}

/// Splits the workspace into the model's state and the search buffers, carved once.
pub(crate) fn split<'w, M: Seq2Seq>(
    model: &M,
    limits: &Limits,
    ws: &'w mut [u8],
) -> Result<(M::State<'w>, SearchBuffers<'w>)> {
    let need = workspace_bytes(model, limits);
    if ws.len() < need {
        return Err(Error::WorkspaceTooSmall {
            needed: need,
            given: ws.len(),
        });
    }
    let (state, rest) = ws.split_at_mut(model.state_bytes(limits));
    let state = model.state(limits, state)?;
    let (r, t, v) = (limits.rows(), limits.max_tgt, model.vocab_size());
    let mut c = Carver::new(rest);
    let sb = SearchBuffers {
        logits: c.take(r * v)?,
        anc: c.take(r * t)?,
        anc_next: c.take(r * t)?,
        hist: c.take(r * t)?,
        hist_next: c.take(r * t)?,
        tokens: c.take(r)?,
        scores: c.take(r)?,
        sentences: c.take(r)?,
        cand_idx: c.take(2 * r)?,
        cand_score: c.take(2 * r)?,
        done_tokens: c.take(r * t)?,
        done_len: c.take(r)?,
        done_score: c.take(r)?,
    };
    Ok((state, sb))
}

/// Checks options against limits.
pub(crate) fn check(limits: &Limits, opts: &Options, max_positions: usize) -> Result<()> {
    limits.check(max_positions)?;
    if opts.beam == 0 || opts.beam > limits.beam {
        return Err(Error::BadLimit("beam larger than planned"));
    }
    if opts.max_len == 0 || opts.max_len > limits.max_tgt {
        return Err(Error::BadLimit("max_len must be 1..=max_tgt"));
    }
    Ok(())
}

/// One translation result written by a search: `len` tokens (EOS included when produced).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hypothesis {
    pub len: usize,
    /// Beam score (`sum_logprobs / len^length_penalty`); for greedy, the sum of log-probs is not
    /// computed and this is 0.
    pub score: f32,
}

/// Runs greedy or beam search as `opts.beam` says, writing the best hypothesis into `out`.
pub fn generate<M: Seq2Seq>(
    model: &M,
    ws: &mut [u8],
    limits: &Limits,
    src: &[u32],
    special: &Special,
    opts: &Options,
    out: &mut [u32],
) -> Result<Hypothesis> {
    generate_observed(model, ws, limits, src, special, opts, out, &mut |_| Ok(()))
}

/// [`generate`] that reports progress to `on_token`: greedy after every step, with the tokens
/// chosen so far; beam search once, with the best hypothesis, when the search ends (before that
/// no prefix is certain to be the best's).
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
    if opts.beam == 1 {
        greedy::generate_observed(model, ws, limits, src, special, opts, out, on_token)
    } else {
        let hyp = beam::generate(model, ws, limits, src, special, opts, out)?;
        on_token(out.get(..hyp.len).unwrap_or_default())?;
        Ok(hyp)
    }
}

/// Greedy decoding of a batch of sentences together (up to `limits.batch`): every step runs
/// all unfinished sentences as rows of one decoder pass, so each weight is read once per step
/// for the whole batch. Sentence `i`'s tokens go to `out[i * opts.max_len..]` and its result
/// to `hyps[i]`; each is exactly what [`generate`] gives for it alone (models with a shortlist
/// keep one per sentence: batching changes speed, not output).
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
    greedy::generate_batch(
        model,
        ws,
        limits,
        srcs,
        special,
        (opts, max_len_of),
        out,
        hyps,
    )
}

/// Runs the decoder over given inputs (teacher forcing), beam 1: `inputs[0]` is the decoder
/// start token and `on_step(pos, logits)` sees the raw logits after input `pos`. Used to score
/// fixed outputs and by the conformance tests; same workspace as [`generate`].
pub fn teacher_force<M: Seq2Seq>(
    model: &M,
    ws: &mut [u8],
    limits: &Limits,
    src: &[u32],
    inputs: &[u32],
    mut on_step: impl FnMut(usize, &[f32]) -> Result<()>,
) -> Result<()> {
    limits.check(model.max_positions())?;
    if inputs.len() > limits.max_tgt {
        return Err(Error::BadLimit("more decoder inputs than max_tgt"));
    }
    let (mut state, sb) = split(model, limits, ws)?;
    model.encode(&mut state, 0, src)?;
    let v = model.vocab_size();
    for (pos, &tok) in inputs.iter().enumerate() {
        sb.anc[pos] = 0;
        let rows = Rows::beams(core::slice::from_ref(&tok), sb.anc);
        model.step(&mut state, &rows, pos, &mut sb.logits[..v])?;
        on_step(pos, &sb.logits[..v])?;
    }
    Ok(())
}
